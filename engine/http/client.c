/*
 * client.c - the HTTP/1.1 client: one request at a time per connection,
 * responses parsed by llhttp (strict build), and a keep-alive pool per
 * origin (HTTP-NOTES §6).
 *
 * The pool. Each origin (numeric host, port) keeps its idle connections on
 * a list, most recently used first: a request takes the head (the warmest
 * connection, the one least likely to have been closed by the server), a
 * connection handed back goes to the head, and the tail is closed when the
 * list is over max_idle_per_origin. An idle connection is retired once it
 * has been idle for idle_timeout_ns, or for the server's Keep-Alive
 * timeout less a second (undici's keepAliveTimeoutThreshold): the server
 * would close it about then and a request sent into that close is lost.
 * Retirement is lazy - checked when the origin's list is touched - so the
 * pool needs no timer and no fiber. Before reuse, a non-blocking MSG_PEEK
 * asks whether the server closed it meanwhile (a FIN that already arrived).
 *
 * The reuse race. The server may still close an idle connection just as
 * a request goes out (RFC 9112 §9.5): the request then fails with EPIPE on
 * the write, or EOF / ECONNRESET before any response byte. Only then, on a
 * connection that came from the pool, and only for an idempotent method
 * (RFC 9110 §9.2.2), is the request sent again on a fresh connection,
 * under reel_retry (no delay: the new connection is the remedy). A POST is
 * never replayed: the server may have acted on it.
 *
 * Parsing. llhttp delivers a response in callbacks; the head's names and
 * values are copied into an arena of the response (offsets, not pointers,
 * while it grows), so the receive buffer can be reused at once. Parsing
 * pauses in on_headers_complete when a body follows (so that no body byte
 * is consumed before the caller has a buffer for it) and in
 * on_message_complete (so that nothing after the response is parsed). A
 * response that has no body whatever its headers say (HEAD, 1xx, 204, 304:
 * RFC 9112 §6.3) is told so by returning 1 from on_headers_complete:
 * llhttp would otherwise wait for Content-Length bytes that never come.
 * Interim 1xx responses are skipped. A body read never feeds llhttp more
 * bytes than the caller's buffer holds, so the body bytes of one execute
 * always fit.
 *
 * Time. timeout_ns is a deadline over the whole exchange; each parking
 * call (connect, send, receive) runs under reel_wait_for with what remains,
 * so a read long after the fetch still meets the same deadline.
 *
 * A body read as Server-Sent Events is sse.c's: it reads through
 * reel_http__resp_read and keeps its state in the response.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"

#define NS_PER_SEC 1000000000ull

/* Defaults of struct reel_http_client_opts (api/reel_http.h). */
#define DEF_MAX_IDLE     8
#define DEF_IDLE_NS      (30 * NS_PER_SEC)
#define DEF_CONNECT_NS   (10 * NS_PER_SEC)
#define DEF_HEADER_BYTES (16 * 1024)
#define DEF_HEADERS      100
#define DEF_BODY         ((size_t)64 << 20)
#define DEF_RETRIES      1

#define RBUF_LEN 8192
#define HOST_MAX 256             /* a DNS name is at most 253 bytes */

/* ---- the client and its pool -------------------------------------------------- */

struct origin {
	struct reel__list node;   /* on client->origins */
	struct reel__list idle;   /* struct conn, most recently used first */
	unsigned nidle;
	uint16_t port;
	char host[HOST_MAX];      /* a name, or a numeric IPv4/IPv6 address */
};

struct conn {
	struct reel__list idle_node;  /* on origin->idle while pooled */
	int fd;
	unsigned uses;                /* responses completed on it: > 0 = reused */
	uint64_t retire_ns;           /* pooled: closed from this time on */
};

struct reel_http_client {
	struct reel_http_client_opts o;   /* defaults filled in */
	struct reel__list origins;        /* struct origin */
	unsigned open;                    /* responses not yet closed */
};

/* A header field: offsets of its NUL-terminated name and value in the arena. */
struct field {
	uint32_t name, value;
};

enum part { PART_NONE, PART_NAME, PART_VALUE };

struct reel_http_resp {
	struct reel_http_client *c;
	struct origin *origin;
	struct conn *conn;        /* NULL once closed or handed back */
	llhttp_t p;
	uint64_t deadline_ns;     /* the exchange's end; 0: none */
	int status;
	int err;                  /* sticky: the stream is unusable */
	bool head_req;            /* no body, whatever the head says */
	bool head_done;           /* the final (non-1xx) head is parsed */
	bool done;                /* the whole message is parsed */
	bool keep_alive;          /* llhttp_should_keep_alive at its end */
	bool eof;                 /* the server closed its side */
	bool got_byte;            /* a response byte arrived: no replay */
	bool body_kept;           /* body holds the whole body */
	enum part part;           /* which part of a field is being copied */
	size_t head_bytes;        /* of the heads read, interim ones too */
	size_t extra_bytes;       /* chunk extensions and trailers */
	uint64_t body_bytes;
	struct reel_http__buf head;   /* names and values of the final head */
	struct field *fields;
	unsigned nfields, fields_cap;
	char *out;                /* on_body copies here... */
	size_t out_got;           /* ...this much so far */
	struct reel_http__buf body;   /* reel_http_resp_body's copy */
	struct reel_http__sse *sse;   /* reel_http_sse_next's state (sse.c) */
	size_t rpos, rlen;        /* unparsed bytes: rbuf[rpos .. rlen) */
	char rbuf[RBUF_LEN];
};

static void opts_fill(struct reel_http_client_opts *o, const struct reel_http_client_opts *in)
{
	if (in)
		*o = *in;
	if (!o->max_idle_per_origin)
		o->max_idle_per_origin = DEF_MAX_IDLE;
	if (!o->idle_timeout_ns)
		o->idle_timeout_ns = DEF_IDLE_NS;
	if (!o->connect_timeout_ns)
		o->connect_timeout_ns = DEF_CONNECT_NS;
	if (!o->max_header_bytes)
		o->max_header_bytes = DEF_HEADER_BYTES;
	if (!o->max_headers)
		o->max_headers = DEF_HEADERS;
	if (!o->max_body)
		o->max_body = DEF_BODY;
	if (!o->retries)
		o->retries = DEF_RETRIES;
}

int reel_http_client_create(struct reel_http_client **c, const struct reel_http_client_opts *opts)
{
	struct reel_http_client *cl;

	if (!c)
		return -EINVAL;
	/* Field offsets in the arena are 32-bit. */
	if (opts && opts->max_header_bytes > (1u << 30))
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	opts_fill(&cl->o, opts);
	reel__list_init(&cl->origins);
	*c = cl;
	return 0;
}

static void conn_close(struct conn *cn)
{
	(void)reel_close(cn->fd);
	free(cn);
}

static void origin_unpool(struct origin *o, struct conn *cn)
{
	reel__list_del(&cn->idle_node);
	o->nidle--;
}

int reel_http_client_destroy(struct reel_http_client *c)
{
	struct reel__list *pos, *tmp;

	if (!c)
		return 0;
	if (c->open)
		return -EBUSY;
	reel__list_for_each_safe(pos, tmp, &c->origins) {
		struct origin *o = reel__container_of(pos, struct origin, node);
		struct reel__list *p2, *t2;

		reel__list_for_each_safe(p2, t2, &o->idle) {
			struct conn *cn = reel__container_of(p2, struct conn, idle_node);

			origin_unpool(o, cn);
			conn_close(cn);
		}
		free(o);
	}
	free(c);
	return 0;
}

static struct origin *origin_get(struct reel_http_client *c, const char *host, uint16_t port)
{
	struct reel__list *pos;
	struct origin *o;

	reel__list_for_each(pos, &c->origins) {
		o = reel__container_of(pos, struct origin, node);
		if (o->port == port && strcmp(o->host, host) == 0)
			return o;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	reel__list_init(&o->idle);
	o->port = port;
	strcpy(o->host, host);   /* checked to fit by parse_url */
	reel__list_add(&o->node, &c->origins);
	return o;
}

/* Close the idle connections of @o whose time is up. */
static void origin_retire(struct origin *o, uint64_t now)
{
	struct reel__list *pos, *tmp;

	reel__list_for_each_safe(pos, tmp, &o->idle) {
		struct conn *cn = reel__container_of(pos, struct conn, idle_node);

		if (now >= cn->retire_ns) {
			origin_unpool(o, cn);
			conn_close(cn);
		}
	}
}

/* Is the idle connection still open for requests? A FIN (read gives 0),
 * an error, or bytes nobody asked for all mean no. */
static bool conn_alive(const struct conn *cn)
{
	char b;
	ssize_t n = recv(cn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The most recently used live idle connection of @o, or NULL. */
static struct conn *pool_take(struct origin *o)
{
	struct reel__list *n;

	origin_retire(o, reel_now());
	while ((n = o->idle.next) != &o->idle) {
		struct conn *cn = reel__container_of(n, struct conn, idle_node);

		origin_unpool(o, cn);
		if (conn_alive(cn))
			return cn;
		conn_close(cn);
	}
	return NULL;
}

static void pool_put(struct reel_http_client *c, struct origin *o, struct conn *cn,
		     uint64_t idle_ns)
{
	uint64_t now = reel_now();

	cn->uses++;
	cn->retire_ns = now + idle_ns < now ? UINT64_MAX : now + idle_ns;
	reel__list_add(&cn->idle_node, &o->idle);
	o->nidle++;
	origin_retire(o, now);
	while (o->nidle > c->o.max_idle_per_origin) {   /* drop the coldest */
		struct conn *old = reel__container_of(o->idle.prev, struct conn, idle_node);

		origin_unpool(o, old);
		conn_close(old);
	}
}

/* ---- parking calls under the exchange's deadline ------------------------------ */

struct call {
	int (*fn)(struct call *k);
	int fd;
	void *buf;
	size_t len;
	const struct msghdr *msg;
	const char *host;
	uint16_t port;
};

static int call_run(void *arg)
{
	struct call *k = arg;

	return k->fn(k);
}

/* Run @k within @limit_ns (UINT64_MAX: no limit of its own) and before
 * @deadline_ns (0: none). Its own result, which wins over the deadline
 * when the operation completed anyway (bytes moved are reported). */
static int timed(uint64_t deadline_ns, uint64_t limit_ns, struct call *k)
{
	uint64_t left = limit_ns;
	int st;

	if (deadline_ns) {
		uint64_t now = reel_now();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		if (deadline_ns - now < left)
			left = deadline_ns - now;
	}
	if (left == UINT64_MAX)
		return k->fn(k);
	(void)reel_wait_for(left, call_run, k, &st);
	return st;
}

static int do_recv(struct call *k)
{
	return (int)reel_recv(k->fd, k->buf, k->len, 0);
}

static int do_sendmsg(struct call *k)
{
	return (int)reel_sendmsg(k->fd, k->msg, 0);
}

static int do_connect(struct call *k)
{
	return reel_connect_tcp(k->host, k->port);
}

/* A fresh connection to @o. */
static int dial(struct reel_http_client *c, struct origin *o, uint64_t deadline_ns,
		struct conn **out)
{
	struct call k = { .fn = do_connect, .host = o->host, .port = o->port };
	struct conn *cn = calloc(1, sizeof(*cn));
	int fd;

	if (!cn)
		return -ENOMEM;
	fd = timed(deadline_ns, c->o.connect_timeout_ns, &k);
	if (fd < 0) {
		free(cn);
		return fd;
	}
	cn->fd = fd;
	reel__list_init(&cn->idle_node);
	*out = cn;
	return 0;
}

/* Send all of @iov; short sends go on where they stopped. */
static int send_all(int fd, uint64_t deadline_ns, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	struct call k = { .fn = do_sendmsg, .fd = fd, .msg = &msg };

	while (msg.msg_iovlen) {
		int n = timed(deadline_ns, UINT64_MAX, &k);
		size_t left;

		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		left = (size_t)n;
		while (msg.msg_iovlen && left >= msg.msg_iov->iov_len) {
			left -= msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (left) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + left;
			msg.msg_iov->iov_len -= left;
		}
	}
	return 0;
}

/* ---- llhttp callbacks ------------------------------------------------------------ */

static struct reel_http_resp *resp_of(llhttp_t *p)
{
	return p->data;
}

/* A callback's failure: remembered, then llhttp stops with HPE_USER. */
static int cb_fail(struct reel_http_resp *r, int err)
{
	r->err = err;
	return -1;
}

/* Arena room: the head limit, plus a NUL per name and value. */
static size_t arena_limit(const struct reel_http_resp *r)
{
	return r->c->o.max_header_bytes + 2 * (size_t)r->c->o.max_headers;
}

/* Chunk extensions and trailers are not kept but counted: a server must
 * not stream them forever (HTTP-NOTES §7, pitfall 3). */
static int count_extra(struct reel_http_resp *r, size_t n)
{
	r->extra_bytes += n;
	if (r->extra_bytes > r->c->o.max_header_bytes)
		return cb_fail(r, -EMSGSIZE);
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct reel_http_resp *r = resp_of(p);

	r->head.len = 0;
	r->nfields = 0;
	r->part = PART_NONE;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct reel_http_resp *r = resp_of(p);
	int err;

	if (r->head_done)
		return count_extra(r, n);
	if (r->part != PART_NAME) {   /* a new field begins */
		if (r->nfields == r->c->o.max_headers)
			return cb_fail(r, -EMSGSIZE);
		if (r->nfields == r->fields_cap) {
			unsigned cap = r->fields_cap ? 2 * r->fields_cap : 16;

			if (cap > r->c->o.max_headers)
				cap = r->c->o.max_headers;
			struct field *f = realloc(r->fields, cap * sizeof(*f));

			if (!f)
				return cb_fail(r, -ENOMEM);
			r->fields = f;
			r->fields_cap = cap;
		}
		r->fields[r->nfields++].name = (uint32_t)r->head.len;
		r->part = PART_NAME;
	}
	err = reel_http__buf_put_max(&r->head, at, n, arena_limit(r));
	return err ? cb_fail(r, err) : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct reel_http_resp *r = resp_of(p);
	int err;

	if (r->head_done)
		return count_extra(r, n);
	if (r->part != PART_VALUE) {
		r->fields[r->nfields - 1].value = (uint32_t)r->head.len;
		r->part = PART_VALUE;
	}
	err = reel_http__buf_put_max(&r->head, at, n, arena_limit(r));
	return err ? cb_fail(r, err) : 0;
}

/* End the name or value being copied with a NUL (a separate string). */
static int end_string(struct reel_http_resp *r)
{
	int err = reel_http__buf_put_max(&r->head, "", 1, arena_limit(r));

	return err ? cb_fail(r, err) : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct reel_http_resp *r = resp_of(p);

	return r->head_done ? 0 : end_string(r);
}

static int on_header_value_complete(llhttp_t *p)
{
	struct reel_http_resp *r = resp_of(p);
	struct field *f;

	if (r->head_done)
		return 0;
	f = &r->fields[r->nfields - 1];
	if (r->part != PART_VALUE)   /* an empty value: no data callback */
		f->value = (uint32_t)r->head.len;
	/* llhttp leaves trailing whitespace in the value (HTTP-NOTES §2). */
	while (r->head.len > f->value &&
	       (r->head.data[r->head.len - 1] == ' ' || r->head.data[r->head.len - 1] == '\t'))
		r->head.len--;
	r->part = PART_NONE;
	return end_string(r);
}

static int on_chunk_extension(llhttp_t *p, const char *at, size_t n)
{
	(void)at;
	return count_extra(resp_of(p), n);
}

/* Does a body follow this head? Never for HEAD, 1xx, 204, 304 (RFC 9112
 * §6.3), nor for an explicit Content-Length: 0. */
static bool has_body(const struct reel_http_resp *r, const llhttp_t *p)
{
	int st = p->status_code;

	if (r->head_req || st / 100 == 1 || st == 204 || st == 304)
		return false;
	return (p->flags & F_CHUNKED) || p->content_length > 0 || llhttp_message_needs_eof(p);
}

static int on_headers_complete(llhttp_t *p)
{
	struct reel_http_resp *r = resp_of(p);
	int st = p->status_code;

	/* 101: an upgrade nobody asked for; < 100: not a status code. */
	if (st < 100 || st == 101)
		return cb_fail(r, -EBADMSG);
	if (st / 100 == 1)
		return 1;   /* interim: skipped at its message_complete */
	r->status = st;
	r->head_done = true;
	/* 1: no body (llhttp would wait for CL bytes); pause: the body waits
	 * for a reader's buffer. */
	return has_body(r, p) ? HPE_PAUSED : 1;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct reel_http_resp *r = resp_of(p);

	r->body_bytes += n;
	/* An event stream's max_body bounds each event instead (sse.c). */
	if (!r->sse && r->body_bytes > r->c->o.max_body)
		return cb_fail(r, -EMSGSIZE);
	/* feed() gave llhttp no more input than the reader's buffer holds. */
	memcpy(r->out + r->out_got, at, n);
	r->out_got += n;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct reel_http_resp *r = resp_of(p);

	if (r->head_done) {
		r->done = true;
		r->keep_alive = llhttp_should_keep_alive(p);
	}
	return HPE_PAUSED;   /* parse nothing after it; a 1xx resumes */
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value_complete = on_header_value_complete,
	.on_chunk_extension_name = on_chunk_extension,
	.on_chunk_extension_value = on_chunk_extension,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- reading a response ------------------------------------------------------------ */

/* Receive into the (empty) buffer. Bytes, 0 at the server's close, -errno. */
static int fill(struct reel_http_resp *r)
{
	struct call k = { .fn = do_recv, .fd = r->conn->fd, .buf = r->rbuf, .len = RBUF_LEN };
	int n;

	r->rpos = r->rlen = 0;
	n = timed(r->deadline_ns, UINT64_MAX, &k);
	if (n > 0) {
		r->rlen = (size_t)n;
		r->got_byte = true;
	}
	return n;
}

/* Parse at most @max buffered bytes. 0, or the parse error. */
static int feed(struct reel_http_resp *r, size_t max)
{
	const char *at = r->rbuf + r->rpos;
	size_t n = r->rlen - r->rpos, used;
	bool in_head = !r->head_done;
	llhttp_errno_t e;

	if (n > max)
		n = max;
	e = llhttp_execute(&r->p, at, n);
	if (e == HPE_OK) {
		used = n;
	} else if (e == HPE_PAUSED) {
		used = (size_t)(llhttp_get_error_pos(&r->p) - at);
		llhttp_resume(&r->p);
	} else {
		return r->err ? r->err : -EBADMSG;
	}
	r->rpos += used;
	if (in_head) {
		r->head_bytes += used;
		if (r->head_bytes > r->c->o.max_header_bytes)
			return -EMSGSIZE;
	}
	return 0;
}

/* Parse up to the end of the final head. An EOF before any byte is the
 * reuse race's signature (-ECONNRESET, maybe replayed); later, a cut. */
static int read_head(struct reel_http_resp *r)
{
	while (!r->head_done) {
		size_t room = r->c->o.max_header_bytes - r->head_bytes + 1;
		int err;

		if (r->rpos == r->rlen) {
			int n = fill(r);

			if (n < 0)
				return n;
			if (n == 0)
				return r->got_byte ? -EBADMSG : -ECONNRESET;
		}
		err = feed(r, room);
		if (err)
			return err;
	}
	return 0;
}

/* The server closed: the end of a close-delimited body, else a cut. */
static int at_eof(struct reel_http_resp *r)
{
	llhttp_errno_t e = llhttp_finish(&r->p);

	r->eof = true;
	if (e != HPE_OK && e != HPE_PAUSED)
		return -EBADMSG;   /* HPE_INVALID_EOF_STATE: CL or chunked cut short */
	r->done = true;
	return 0;
}

ssize_t reel_http__resp_read(struct reel_http_resp *r, void *buf, size_t len)
{
	int err = 0;

	if (r->err)
		return r->err;
	r->out = buf;
	r->out_got = 0;
	while (!r->out_got && !r->done && !err) {
		if (r->rpos == r->rlen) {
			int n = fill(r);

			if (n < 0)
				err = n;
			else if (n == 0)
				err = at_eof(r);
			continue;
		}
		err = feed(r, len);
	}
	r->out = NULL;
	if (err)
		return r->err = err;
	return (ssize_t)r->out_got;
}

/* ---- the request ------------------------------------------------------------------ */

struct url {
	char host[HOST_MAX];       /* what to connect to: a name or an address */
	uint16_t port;
	const char *authority;     /* for Host, as written */
	size_t authority_len;
	const char *target;        /* path and query; "" means "/" */
	size_t target_len;
};

static int parse_port(const char *s, const char *end, uint16_t *port)
{
	unsigned v = 0;

	if (s == end || end - s > 5)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* A host name's bytes (RFC 1123 labels; '_' too, as resolvers allow). */
static bool name_ok(const char *h, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
			return false;
	return len > 0 && h[0] != '-' && h[0] != '.';
}

/* The host part of an authority: "name", "1.2.3.4" or "[v6]"; where the
 * port's colon may follow goes to *@rest. */
static int parse_host(const char *h, const char *end, struct url *u, const char **rest)
{
	struct in6_addr a6;
	const char *close;
	size_t hl;

	if (*h == '[') {                        /* an IPv6 literal */
		close = memchr(h, ']', (size_t)(end - h));
		if (!close)
			return -EINVAL;
		hl = (size_t)(close - h - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			return -EINVAL;
		memcpy(u->host, h + 1, hl);
		u->host[hl] = '\0';
		*rest = close + 1;
		return inet_pton(AF_INET6, u->host, &a6) == 1 ? 0 : -EINVAL;
	}
	*rest = memchr(h, ':', (size_t)(end - h));
	if (!*rest)
		*rest = end;
	hl = (size_t)(*rest - h);
	if (hl >= sizeof(u->host) || !name_ok(h, hl))
		return -EINVAL;
	memcpy(u->host, h, hl);
	u->host[hl] = '\0';
	if (reel_http__name_eq(u->host, "localhost"))   /* no lookup for the usual case */
		strcpy(u->host, "127.0.0.1");
	return 0;
}

/* "http://host[:port][/path][?query][#fragment]"; the fragment is not sent. */
static int parse_url(const char *s, struct url *u)
{
	const char *h, *end, *colon, *t;

	if (strncasecmp(s, "http://", 7) != 0)
		return -EINVAL;
	h = s + 7;
	end = h + strcspn(h, "/?#");
	if (parse_host(h, end, u, &colon))
		return -EINVAL;
	if (colon != end && *colon != ':')
		return -EINVAL;
	if (colon == end)
		colon = NULL;
	u->port = 80;
	if (colon && parse_port(colon + 1, end, &u->port))
		return -EINVAL;
	u->authority = h;
	u->authority_len = (size_t)(end - h);
	u->target = end;
	u->target_len = strcspn(end, "#");
	for (t = end; t < end + u->target_len; t++)   /* no SP, CTL or non-ASCII */
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return -EINVAL;
	return 0;
}

/* Framing and Host are the client's own: a caller's copy could contradict
 * the bytes actually sent. */
static bool header_allowed(const char *name, const char *value)
{
	if (!value || !reel_http__token(name) || strpbrk(value, "\r\n"))
		return false;
	return !reel_http__name_eq(name, "Host") && !reel_http__name_eq(name, "Content-Length") &&
	       !reel_http__name_eq(name, "Transfer-Encoding");
}

static bool is_idempotent(const char *m)
{
	static const char *const safe[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE" };

	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strcmp(m, safe[i]) == 0)
			return true;
	return false;
}

/* The request head into @b. */
static int build_head(struct reel_http__buf *b, const struct reel_http_request *rq,
		      const struct url *u)
{
	int err = 0;

	err |= reel_http__buf_puts(b, rq->method);
	err |= reel_http__buf_puts(b, u->target_len && *u->target == '/' ? " " : " /");
	err |= reel_http__buf_put(b, u->target, u->target_len);
	err |= reel_http__buf_puts(b, " HTTP/1.1\r\nHost: ");
	err |= reel_http__buf_put(b, u->authority, u->authority_len);
	err |= reel_http__buf_puts(b, "\r\n");
	for (const char *const *h = rq->headers; h && *h; h += 2) {
		if (!header_allowed(h[0], h[1]))
			return -EINVAL;
		err |= reel_http__buf_puts(b, h[0]);
		err |= reel_http__buf_puts(b, ": ");
		err |= reel_http__buf_puts(b, h[1]);
		err |= reel_http__buf_puts(b, "\r\n");
	}
	/* A body's length; also an empty one for the methods that carry one
	 * (RFC 9110 §8.6: a POST without it may wait for a body). */
	if (rq->body_len || rq->body || !strcmp(rq->method, "POST") ||
	    !strcmp(rq->method, "PUT") || !strcmp(rq->method, "PATCH")) {
		err |= reel_http__buf_puts(b, "Content-Length: ");
		err |= reel_http__buf_putu(b, rq->body_len);
		err |= reel_http__buf_puts(b, "\r\n");
	}
	err |= reel_http__buf_puts(b, "\r\n");
	return err ? -ENOMEM : 0;   /* the buffer fails only for want of memory */
}

/* ---- one exchange, with replays -------------------------------------------------- */

struct exchange {
	struct reel_http_client *c;
	struct reel_http_resp *r;
	struct iovec iov[2];
	int iovcnt;
	bool idempotent;
	bool may_retry;     /* the last attempt hit the reuse race */
	unsigned attempts;
};

static void drop_conn(struct reel_http_resp *r)
{
	if (r->conn) {
		conn_close(r->conn);
		r->conn = NULL;
	}
}

/* A fresh parse over connection @cn. */
static void resp_reset(struct reel_http_resp *r, struct conn *cn)
{
	llhttp_init(&r->p, HTTP_RESPONSE, &settings);
	r->p.data = r;
	r->conn = cn;
	r->status = r->err = 0;
	r->head_done = r->done = r->keep_alive = r->eof = r->got_byte = false;
	r->part = PART_NONE;
	r->head_bytes = r->extra_bytes = 0;
	r->body_bytes = 0;
	r->head.len = 0;
	r->nfields = 0;
	r->rpos = r->rlen = 0;
}

static bool conn_lost(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ECONNABORTED;
}

/* One attempt: a connection (pooled on the first), the request, the head. */
static int attempt(void *arg)
{
	struct exchange *x = arg;
	struct reel_http_resp *r = x->r;
	struct conn *cn = NULL;
	struct iovec iov[2];
	bool reused;
	int err;

	x->may_retry = false;
	if (x->attempts++ == 0)
		cn = pool_take(r->origin);   /* a replay always dials afresh */
	if (!cn) {
		err = dial(x->c, r->origin, r->deadline_ns, &cn);
		if (err)
			return err;
	}
	reused = cn->uses > 0;
	resp_reset(r, cn);
	memcpy(iov, x->iov, sizeof(iov));   /* send_all advances its copy */
	err = send_all(cn->fd, r->deadline_ns, iov, x->iovcnt);
	if (!err)
		err = read_head(r);
	if (err) {
		x->may_retry = reused && x->idempotent && !r->got_byte && conn_lost(err);
		drop_conn(r);
	}
	return err;
}

static bool retryable(int err, void *arg)
{
	(void)err;
	return ((struct exchange *)arg)->may_retry;
}

static int exchange_run(struct exchange *x)
{
	const struct reel_retry_policy pol = {
		.max_attempts = x->c->o.retries + 1,
		.retryable = retryable,
	};
	int st = 0;

	return reel_retry(&pol, attempt, x, &st, NULL);
}

static int check_request(const struct reel_http_client *c, const struct reel_http_request *rq,
			 struct reel_http_resp **resp)
{
	if (!c || !rq || !resp || !rq->method || !rq->url || !reel_http__token(rq->method))
		return -EINVAL;
	if (!rq->body && rq->body_len)
		return -EINVAL;
	return 0;
}

int reel_http_fetch(struct reel_http_client *c, const struct reel_http_request *rq,
		    struct reel_http_resp **resp)
{
	struct exchange x = { .c = c };
	struct reel_http__buf head = { 0 };
	struct reel_http_resp *r;
	struct url u;
	int err;

	if (!reel__self_fiber())
		return -EPERM;
	err = check_request(c, rq, resp);
	if (!err)
		err = parse_url(rq->url, &u);
	if (!err)
		err = build_head(&head, rq, &u);
	if (err)
		goto out_head;
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		goto out_head;
	}
	r->c = c;
	r->origin = origin_get(c, u.host, u.port);
	if (!r->origin) {
		err = -ENOMEM;
		goto out_resp;
	}
	r->head_req = strcmp(rq->method, "HEAD") == 0;
	if (rq->timeout_ns)
		r->deadline_ns = reel_now() + rq->timeout_ns;
	x.r = r;
	x.idempotent = is_idempotent(rq->method);
	x.iov[0] = (struct iovec){ head.data, head.len };
	x.iov[1] = (struct iovec){ (void *)rq->body, rq->body_len };
	x.iovcnt = rq->body_len ? 2 : 1;
	err = exchange_run(&x);
	if (err)
		goto out_resp;
	reel_http__buf_free(&head);
	c->open++;
	*resp = r;
	return 0;
out_resp:
	reel_http__buf_free(&r->head);
	free(r->fields);
	free(r);
out_head:
	reel_http__buf_free(&head);
	return err;
}

/* ---- the response ----------------------------------------------------------------- */

int reel_http_resp_status(const struct reel_http_resp *resp)
{
	return resp ? resp->status : -EINVAL;
}

const char *reel_http_resp_header(const struct reel_http_resp *resp, const char *name)
{
	if (!resp || !name)
		return NULL;
	for (unsigned i = 0; i < resp->nfields; i++)
		if (reel_http__name_eq(resp->head.data + resp->fields[i].name, name))
			return resp->head.data + resp->fields[i].value;
	return NULL;
}

ssize_t reel_http_resp_read(struct reel_http_resp *resp, void *buf, size_t len)
{
	if (!resp || !buf || !len)
		return -EINVAL;
	if (!reel__self_fiber())
		return -EPERM;
	return reel_http__resp_read(resp, buf, len);
}

ssize_t reel_http_resp_body(struct reel_http_resp *resp, const void **data, size_t limit)
{
	struct reel_http__buf *b;

	if (!resp || !data)
		return -EINVAL;
	if (!reel__self_fiber())
		return -EPERM;
	b = &resp->body;
	if (!limit)
		limit = resp->c->o.max_body;
	if (limit > SIZE_MAX / 4)
		limit = SIZE_MAX / 4;
	while (!resp->body_kept) {
		size_t want;
		ssize_t n;

		/* Room for a NUL after the body; all the room the buffer has. */
		if (reel_http__buf_reserve(b, 4096 + 1))
			return -ENOMEM;
		want = b->cap - b->len - 1;
		/* room for one byte past the limit: it tells "too long" */
		if (want > limit + 1 - b->len)
			want = limit + 1 - b->len;
		n = reel_http__resp_read(resp, b->data + b->len, want);
		if (n < 0)
			return n;
		b->len += (size_t)n;
		if (b->len > limit)
			return resp->err = -EMSGSIZE;
		resp->body_kept = n == 0;
	}
	b->data[b->len] = '\0';
	*data = b->data;
	return (ssize_t)b->len;
}

/* ---- for the event-stream reader (sse.c) ------------------------------------------ */

int reel_http__resp_fail(struct reel_http_resp *r, int err)
{
	return r->err = err;
}

size_t reel_http__resp_max_body(const struct reel_http_resp *r)
{
	return r->c->o.max_body;
}

struct reel_http__sse **reel_http__resp_sse(struct reel_http_resp *r)
{
	return &r->sse;
}

/* ---- closing: back to the pool or not ---------------------------------------------- */

/* The time an idle connection may stay pooled: the client's limit, or the
 * server's Keep-Alive timeout less a second, whichever is shorter. */
static uint64_t pool_ns(const struct reel_http_resp *r)
{
	const char *ka = reel_http_resp_header(r, "Keep-Alive");
	uint64_t ns = r->c->o.idle_timeout_ns, secs = 0;
	const char *t;

	if (!ka)
		return ns;
	for (t = ka; *t; t += strcspn(t, ",")) {
		t += strspn(t, ", \t");
		if (strncasecmp(t, "timeout=", 8) == 0)
			break;
	}
	if (!*t)
		return ns;
	for (t += 8; *t >= '0' && *t <= '9' && secs < 1000000000; t++)
		secs = secs * 10 + (uint64_t)(*t - '0');
	if (secs <= 1)
		return 0;
	return (secs - 1) * NS_PER_SEC < ns ? (secs - 1) * NS_PER_SEC : ns;
}

/* Read to its end, nothing extra, the server willing: worth keeping. */
static bool reusable(const struct reel_http_resp *r)
{
	return r->done && r->keep_alive && !r->err && !r->eof && r->rpos == r->rlen;
}

int reel_http_resp_close(struct reel_http_resp *resp)
{
	uint64_t ns;

	if (!resp)
		return 0;
	if (resp->conn && reusable(resp) && (ns = pool_ns(resp)) > 0) {
		pool_put(resp->c, resp->origin, resp->conn, ns);
		resp->conn = NULL;
	}
	drop_conn(resp);
	resp->c->open--;
	reel_http__sse_free(resp->sse);
	reel_http__buf_free(&resp->head);
	reel_http__buf_free(&resp->body);
	free(resp->fields);
	free(resp);
	return 0;
}

/* ---- the convenience ------------------------------------------------------------- */

/* The body into @buf (@cap - 1 bytes at most). Its length, or -errno. */
static ssize_t read_into(struct reel_http_resp *r, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	char extra;

	for (;;) {
		if (got < cap - 1)
			n = reel_http__resp_read(r, buf + got, cap - 1 - got);
		else
			n = reel_http__resp_read(r, &extra, 1);   /* is there more? */
		if (n <= 0)
			break;
		if (got == cap - 1)
			return -EMSGSIZE;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return n < 0 ? n : (ssize_t)got;
}

int reel_http_get(struct reel_http_client *c, const char *url, uint64_t timeout_ns, char *buf,
		  size_t cap, size_t *len)
{
	const struct reel_http_request rq = { .method = "GET", .url = url, .timeout_ns = timeout_ns };
	struct reel_http_resp *resp;
	ssize_t n;
	int err;

	if (!buf || !cap)
		return -EINVAL;
	err = reel_http_fetch(c, &rq, &resp);
	if (err)
		return err;
	n = read_into(resp, buf, cap);
	if (n >= 0 && len)
		*len = (size_t)n;
	err = n < 0 ? (int)n : resp->status;
	reel_http_resp_close(resp);
	return err;
}
