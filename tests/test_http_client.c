/*
 * Description: the HTTP/1.1 client (engine/http/client.c; api/reel_http.h,
 * client section) against a scripted server fiber on a loopback socket
 * that answers canned bytes: Content-Length, chunked (extensions,
 * trailers) and close-delimited bodies, a body cut short, HEAD / 204 / 304
 * with a Content-Length, interim 1xx, keep-alive reuse and idle
 * retirement, the reuse race (a GET replayed on a fresh connection, a POST
 * not), the exchange's deadline and cancellation, limits against a hostile
 * server, malformed heads, Server-Sent Events, reel_http_get and bad
 * arguments. It does not use reel's HTTP server.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_http.h"

/* ---- the scripted server ----------------------------------------------------------- */

#define ST_CLOSE 1u   /* close the connection after the answer */
#define ST_RST   2u   /* ... with a reset (SO_LINGER 0) */
#define SPLIT    '\x01'   /* in an answer: send what came before, pause 20 ms */

/* The answer to one request: @bytes (NULL: none; the server then waits
 * for the client's next request or its close, i.e. it hangs). */
struct step {
	const char *bytes;
	unsigned flags;
};

#define NREQ 8

struct srv {
	int lfd;
	uint16_t port;
	const struct step *steps;
	unsigned nsteps;
	unsigned conns, reqs;
	char req[NREQ][2048];       /* requests as received, head and body */
	size_t first_read[NREQ];    /* bytes of the request's first read */
	reel_task task;
};

/* The end of a request in @b[0..len): its length, 0 if incomplete. */
static size_t request_len(const char *b, size_t len)
{
	const char *end = memmem(b, len, "\r\n\r\n", 4);
	const char *cl;
	size_t head, body = 0;

	if (!end)
		return 0;
	head = (size_t)(end - b) + 4;
	cl = memmem(b, head, "\r\nContent-Length: ", 18);
	if (cl)
		body = strtoul(cl + 18, NULL, 10);
	return len >= head + body ? head + body : 0;
}

/* Read one request into s->req; its length, 0 at EOF, -errno. */
static ssize_t srv_read_request(struct srv *s, int fd, char *buf, size_t *have)
{
	size_t n, slot = s->reqs % NREQ;
	bool first = true;

	while (!(n = request_len(buf, *have))) {
		ssize_t r = reel_recv(fd, buf + *have, 4096 - *have, 0);

		if (r <= 0)
			return r;
		if (first)
			s->first_read[slot] = (size_t)r;
		first = false;
		*have += (size_t)r;
	}
	memcpy(s->req[slot], buf, n < 2047 ? n : 2047);
	s->req[slot][n < 2047 ? n : 2047] = '\0';
	memmove(buf, buf + n, *have - n);
	*have -= n;
	return (ssize_t)n;
}

/* Send @a in its SPLIT pieces. */
static int srv_send(int fd, const char *a)
{
	while (*a) {
		size_t n = strcspn(a, "\x01");

		if (n && reel_write_all(fd, a, n, NULL) != (ssize_t)n)
			return -EIO;
		a += n;
		if (*a == SPLIT) {
			a++;
			if (reel_sleep(20 * MS))
				return -ECANCELED;
		}
	}
	return 0;
}

static int srv_conn(struct srv *s, int fd)
{
	char buf[4096];
	size_t have = 0;

	for (;;) {
		ssize_t n = srv_read_request(s, fd, buf, &have);
		const struct step *st;

		if (n <= 0)
			return (int)n;
		if (s->reqs >= s->nsteps)
			return -EPROTO;
		st = &s->steps[s->reqs++];
		if (st->bytes && srv_send(fd, st->bytes))
			return -EIO;
		if (st->flags & ST_RST) {
			struct linger lg = { 1, 0 };

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		if (st->flags & (ST_CLOSE | ST_RST))
			return 0;
	}
}

/* One connection at a time: the client under test is sequential. */
static int srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		int fd = reel_accept(s->lfd, NULL, NULL, 0);
		int r;

		if (fd < 0)
			return fd == -ECANCELED ? 0 : fd;
		s->conns++;
		r = srv_conn(s, fd);
		reel_close(fd);
		if (r == -ECANCELED)
			return 0;
	}
}

static int srv_start(struct srv *s, const struct step *steps, unsigned n)
{
	memset(s, 0, sizeof(*s));
	s->steps = steps;
	s->nsteps = n;
	s->lfd = reel_listen_tcp("127.0.0.1", 0, 16);
	FCHECK(s->lfd >= 0);
	s->port = (uint16_t)reel_local_port(s->lfd);
	FCHECK_EQ(reel_spawn(&s->task, srv_main, s, NULL), 0);
	return 0;
}

static int srv_stop(struct srv *s)
{
	int st;

	FCHECK_EQ(reel_cancel(s->task), 0);
	FCHECK_EQ(reel_join(s->task, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_close(s->lfd), 0);
	return 0;
}

#define NSTEPS(a) ((unsigned)(sizeof(a) / sizeof((a)[0])))

/* ---- client helpers ------------------------------------------------------------------ */

static const char *url_of(const struct srv *s, const char *path)
{
	static char url[8][128];
	static unsigned next;
	char *u = url[next++ % 8];

	snprintf(u, sizeof(url[0]), "http://127.0.0.1:%u%s", s->port, path);
	return u;
}

/* Fetch @method @path with a generous deadline (a bug fails, never hangs). */
static int fetch(struct reel_http_client *c, const struct srv *s, const char *method,
		 const char *path, struct reel_http_resp **resp)
{
	struct reel_http_request rq = {
		.method = method, .url = url_of(s, path), .timeout_ns = 10 * SEC,
	};

	return reel_http_fetch(c, &rq, resp);
}

/* Fetch, read the whole body, close: the body's length or -errno; the
 * status in *@status. */
static ssize_t fetch_body(struct reel_http_client *c, const struct srv *s, const char *method,
			  char *out, size_t cap, int *status)
{
	struct reel_http_resp *resp;
	const void *data;
	ssize_t n;
	int r = fetch(c, s, method, "/", &resp);

	if (r)
		return r;
	*status = reel_http_resp_status(resp);
	n = reel_http_resp_body(resp, &data, 0);
	if (n >= 0)
		snprintf(out, cap, "%s", (const char *)data);
	reel_http_resp_close(resp);
	return n;
}

static struct reel_http_client *client_new(const struct reel_http_client_opts *o)
{
	struct reel_http_client *c = NULL;

	return reel_http_client_create(&c, o) == 0 ? c : NULL;
}

/* ---- bodies ------------------------------------------------------------------------- */

static int cl_content_length(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing:  spaced  \r\n"
		  "Empty:\r\n\r\nhello", 0 },
		{ "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	const char *hdrs[] = { "X-Req", "1", "Accept", "*/*", NULL };
	struct reel_http_request rq = { .method = "POST", .headers = hdrs, .body = "abcdef",
					.body_len = 6, .timeout_ns = 10 * SEC };
	struct reel_http_resp *resp;
	char body[64], host[64];
	const void *data;
	struct srv s;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/a/b?q=1#frag", &resp), 0);
	FCHECK_EQ(reel_http_resp_status(resp), 200);
	FCHECK(!strcmp(reel_http_resp_header(resp, "x-thing"), "spaced"));
	FCHECK(!strcmp(reel_http_resp_header(resp, "EMPTY"), ""));
	FCHECK(reel_http_resp_header(resp, "missing") == NULL);
	FCHECK_EQ(reel_http_resp_body(resp, &data, 0), 5);
	FCHECK(!strcmp(data, "hello"));
	FCHECK_EQ(reel_http_resp_body(resp, &data, 0), 5);   /* the same again */
	FCHECK_EQ(reel_http_client_destroy(c), -EBUSY);
	FCHECK_EQ(reel_http_resp_close(resp), 0);
	snprintf(host, sizeof(host), "GET /a/b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", s.port);
	FCHECK(!strcmp(s.req[0], host));

	/* A body goes with Content-Length, head and body in one send. */
	rq.url = url_of(&s, "/post");
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), 0);
	FCHECK_EQ(reel_http_resp_status(resp), 201);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 2);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 0);
	reel_http_resp_close(resp);
	FCHECK(strstr(s.req[1], "POST /post HTTP/1.1\r\n") == s.req[1]);
	FCHECK(strstr(s.req[1], "\r\nX-Req: 1\r\nAccept: */*\r\n"));
	FCHECK(strstr(s.req[1], "\r\nContent-Length: 6\r\n\r\nabcdef"));
	FCHECK_EQ(s.first_read[1], strlen(s.req[1]));
	FCHECK_EQ(s.conns, 1);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_content_length(void **state)
{
	(void)state;
	run_ok(cl_content_length, NULL);
}

static int cl_chunked(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5;name=value\r\nhello\r\n\x01" "6;a;b=\"q\"\r\n wor\x01ld\r\n"
		  "0\r\nX-Trailer: t\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_resp *resp;
	char body[64] = { 0 };
	size_t got = 0;
	ssize_t n;
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), 0);
	while ((n = reel_http_resp_read(resp, body + got, 3)) > 0)   /* small reads */
		got += (size_t)n;
	FCHECK_EQ(n, 0);
	FCHECK(!strcmp(body, "hello world"));
	FCHECK(reel_http_resp_header(resp, "X-Trailer") == NULL);   /* trailers dropped */
	reel_http_resp_close(resp);
	/* the connection survived the chunked body */
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 2);
	FCHECK(!strcmp(body, "hi"));
	FCHECK_EQ(s.conns, 1);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_chunked(void **state)
{
	(void)state;
	run_ok(cl_chunked, NULL);
}

static int cl_close_delimited(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil\x01 the end", ST_CLOSE },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	char body[64];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 13);
	FCHECK(!strcmp(body, "until the end"));
	/* HTTP/1.0 without keep-alive: not reused (the server keeps it open,
	 * the client closes it) */
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 3);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 3);
	FCHECK(!strcmp(body, "new"));
	FCHECK_EQ(s.conns, 3);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_close_delimited(void **state)
{
	(void)state;
	run_ok(cl_close_delimited, NULL);
}

static int cl_cut_short(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ST_CLOSE },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", ST_CLOSE },
		{ "HTTP/1.1 200 OK\r\nContent-Len", ST_CLOSE },
		{ NULL, ST_CLOSE },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_resp *resp;
	const void *data;
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), 0);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 3);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), -EBADMSG);
	FCHECK_EQ(reel_http_resp_body(resp, &data, 0), -EBADMSG);   /* sticky */
	reel_http_resp_close(resp);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EBADMSG);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), -EBADMSG);   /* head cut */
	/* closed without a byte, on a fresh connection: nothing to replay */
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), -ECONNRESET);
	FCHECK_EQ(s.conns, 4);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_cut_short(void **state)
{
	(void)state;
	run_ok(cl_cut_short, NULL);
}

/* HEAD, 204 and 304 carry a Content-Length but no body: no wait for it,
 * and the connection goes on (so no byte of the next answer was eaten). */
static int cl_no_body(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0 },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0 },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast", 0 },
	};
	static const char *const methods[] = { "HEAD", "GET", "GET", "GET" };
	static const int statuses[] = { 200, 204, 304, 200 };
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_resp *resp;
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	for (int i = 0; i < 4; i++) {
		uint64_t t0 = reel_now();

		FCHECK_EQ(fetch(c, &s, methods[i], "/", &resp), 0);
		FCHECK_EQ(reel_http_resp_status(resp), statuses[i]);
		FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 0);
		FCHECK(reel_now() - t0 < 2 * SEC);
		reel_http_resp_close(resp);
	}
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 4);
	FCHECK(!strcmp(body, "last"));
	FCHECK_EQ(s.conns, 1);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_no_body(void **state)
{
	(void)state;
	run_ok(cl_no_body, NULL);
}

static int cl_interim(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 100 Continue\r\n\r\n\x01"
		  "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok", 0 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_resp *resp;
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), 0);
	FCHECK_EQ(reel_http_resp_status(resp), 200);
	FCHECK(reel_http_resp_header(resp, "Link") == NULL);
	FCHECK(!strcmp(reel_http_resp_header(resp, "X-Final"), "yes"));
	reel_http_resp_close(resp);   /* body unread: the connection is closed */
	/* an upgrade nobody asked for */
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EBADMSG);
	FCHECK_EQ(s.conns, 2);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_interim_1xx(void **state)
{
	(void)state;
	run_ok(cl_interim, NULL);
}

/* ---- the pool ------------------------------------------------------------------------- */

#define OK_A "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"

static int cl_keepalive(void *arg)
{
	static const struct step steps[] = {
		{ OK_A, 0 }, { OK_A, 0 },
		{ "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 1\r\n\r\nb", 0 },
		{ OK_A, 0 }, { OK_A, 0 }, { OK_A, 0 },
	};
	struct reel_http_client_opts o = { .idle_timeout_ns = 200 * MS };
	struct reel_http_client *c = client_new(&o);
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 1);   /* two requests, one connection */
	/* Keep-Alive: timeout=1 leaves no time to reuse it (1 s less 1 s) */
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 2);
	/* idle past idle_timeout_ns: retired, a new connection */
	FCHECK_EQ(reel_sleep(300 * MS), 0);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 3);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 3);
	FCHECK_EQ(s.reqs, 6);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_keepalive_reuse(void **state)
{
	(void)state;
	run_ok(cl_keepalive, NULL);
}

/* The reuse race: the server closes the pooled connection as the next
 * request arrives (read, then closed unanswered, or reset). */
static int cl_retry(void *arg)
{
	static const struct step steps[] = {
		{ OK_A, 0 }, { NULL, ST_CLOSE }, { OK_A, 0 },   /* GET replayed */
		{ NULL, ST_RST }, { OK_A, 0 },                  /* GET replayed after RST */
		{ NULL, ST_CLOSE },                             /* POST: not replayed */
		{ OK_A, 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_request rq = { .method = "POST", .body = "x", .body_len = 1,
					.timeout_ns = 10 * SEC };
	struct reel_http_resp *resp;
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(st, 200);
	FCHECK_EQ(s.conns, 2);
	FCHECK_EQ(s.reqs, 3);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 3);
	FCHECK_EQ(s.reqs, 5);
	rq.url = url_of(&s, "/");
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -ECONNRESET);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(s.conns, 3);   /* no new connection: not replayed */
	FCHECK_EQ(s.reqs, 6);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), 1);
	FCHECK_EQ(s.conns, 4);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_retry_idempotent_only(void **state)
{
	(void)state;
	run_ok(cl_retry, NULL);
}

/* ---- time and cancellation ----------------------------------------------------------- */

static int cl_deadline(void *arg)
{
	static const struct step steps[] = {
		{ NULL, 0 },   /* never answers */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0 },   /* stalls */
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_request rq = { .method = "GET", .timeout_ns = 300 * MS };
	struct reel_http_resp *resp;
	char body[16];
	uint64_t t0, dt;
	struct srv s;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	rq.url = url_of(&s, "/");
	t0 = reel_now();
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -ETIMEDOUT);
	dt = reel_now() - t0;
	FCHECK(dt >= 300 * MS);
	FCHECK(dt < 300 * MS + LATE_OK_NS);

	/* the deadline covers the body too */
	t0 = reel_now();
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), 0);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 3);
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), -ETIMEDOUT);
	dt = reel_now() - t0;
	FCHECK(dt >= 300 * MS);
	FCHECK(dt < 300 * MS + LATE_OK_NS);
	reel_http_resp_close(resp);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_deadline(void **state)
{
	(void)state;
	run_ok(cl_deadline, NULL);
}

struct cancel_job {
	struct reel_http_client *c;
	const struct srv *s;
	bool read_body;      /* cancel during the body, not the head */
	int read_rc;
};

static int cancel_victim(void *arg)
{
	struct cancel_job *j = arg;
	struct reel_http_request rq = { .method = "GET", .url = url_of(j->s, "/") };
	struct reel_http_resp *resp;
	char body[16];
	int r = reel_http_fetch(j->c, &rq, &resp);

	if (r || !j->read_body)
		return r;
	FCHECK_EQ(reel_http_resp_read(resp, body, sizeof(body)), 2);
	j->read_rc = (int)reel_http_resp_read(resp, body, sizeof(body));
	reel_http_resp_close(resp);
	return j->read_rc;
}

static int cl_cancel(void *arg)
{
	static const struct step steps[] = {
		{ NULL, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	struct cancel_job j = { .c = c };
	struct srv s;
	reel_task t;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	j.s = &s;
	for (int i = 0; i < 2; i++) {
		j.read_body = i == 1;
		FCHECK_EQ(reel_spawn(&t, cancel_victim, &j, NULL), 0);
		FCHECK_EQ(reel_sleep(50 * MS), 0);
		FCHECK_EQ(reel_cancel(t), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, -ECANCELED);
	}
	FCHECK_EQ(j.read_rc, -ECANCELED);
	FCHECK_EQ(reel_http_client_destroy(c), 0);   /* nothing left open */
	FCHECK_EQ(srv_stop(&s), 0);
	return 0;
}

static void test_http_client_cancel(void **state)
{
	(void)state;
	run_ok(cl_cancel, NULL);
}

/* ---- a hostile server ---------------------------------------------------------------- */

#define BIG_VALUE \
	"0123456789012345678901234567890123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789012345678901234567890123456789"

static int cl_limits(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nX-Big: " BIG_VALUE "\r\nContent-Length: 0\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
		  "0123456789012345678901234567890123456789", 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "1;" BIG_VALUE "\r\nx\r\n0\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "1\r\nx\r\n0\r\nX-Trailer: " BIG_VALUE "\r\n\r\n", 0 },
	};
	struct reel_http_client_opts o = { .max_header_bytes = 200, .max_headers = 4,
					   .max_body = 20 };
	struct reel_http_client *c = client_new(&o);
	struct reel_http_resp *resp;
	const void *data;
	char body[64];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), -EMSGSIZE);   /* head bytes */
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), -EMSGSIZE);   /* header count */
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EMSGSIZE);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EMSGSIZE);
	FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), 0);
	FCHECK_EQ(reel_http_resp_body(resp, &data, 4), -EMSGSIZE);   /* caller's limit */
	reel_http_resp_close(resp);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EMSGSIZE);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EMSGSIZE);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_limits(void **state)
{
	(void)state;
	run_ok(cl_limits, NULL);
}

static int cl_malformed(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 abc OK\r\n\r\n", 0 },
		{ "HTTX/1.1 200 OK\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0 },
		{ "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_resp *resp;
	char body[8];
	struct srv s;
	int st;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	for (int i = 0; i < 4; i++)
		FCHECK_EQ(fetch(c, &s, "GET", "/", &resp), -EBADMSG);
	FCHECK_EQ(fetch_body(c, &s, "GET", body, sizeof(body), &st), -EBADMSG);
	FCHECK_EQ(s.conns, 5);   /* never reused after an error */
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_malformed(void **state)
{
	(void)state;
	run_ok(cl_malformed, NULL);
}

/* ---- server-sent events --------------------------------------------------------------- */

static int cl_sse(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
		  "\xEF\xBB\xBF: a comment\r\nevent: greet\r\ndata: line1\r\ndata:line2\r\n"
		  "id: 7\r\nretry: 1500\r\nunknown: field\r\n\r\n"
		  "data: second\r\x01\n\r\x01\n"
		  "data: third\r\r"
		  "data\n\n"
		  "retry: x12\nevent: dropped\n\n"
		  "id\ndata:  two spaces\n\n"
		  "data: cut off at the end", ST_CLOSE },
	};
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_sse_msg m;
	struct reel_http_resp *resp;
	struct srv s;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/events", &resp), 0);
	FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK(!strcmp(m.event, "greet"));
	FCHECK(!strcmp(m.data, "line1\nline2"));
	FCHECK(!strcmp(m.id, "7"));
	FCHECK_EQ(m.retry_ms, 1500);
	FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK(!strcmp(m.event, "message"));
	FCHECK(!strcmp(m.data, "second"));
	FCHECK(!strcmp(m.id, "7"));   /* the last id stays */
	FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK(!strcmp(m.data, "third"));
	FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK(!strcmp(m.data, ""));   /* "data" alone: an empty line of data */
	FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK(!strcmp(m.event, "message"));   /* "dropped" had no data */
	FCHECK(!strcmp(m.data, " two spaces"));
	FCHECK(!strcmp(m.id, ""));    /* "id" alone resets it */
	FCHECK_EQ(m.retry_ms, 1500);  /* "x12" is not a number */
	FCHECK_EQ(reel_http_sse_next(resp, &m), 0);   /* unfinished event dropped */
	FCHECK_EQ(reel_http_sse_next(resp, &m), 0);
	reel_http_resp_close(resp);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_sse(void **state)
{
	(void)state;
	run_ok(cl_sse, NULL);
}

/* max_body bounds each event of a stream, not the stream. */
static int cl_sse_limit(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
		  "data: 0123456789\n\ndata: 0123456789\n\ndata: 0123456789\n\n"
		  "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", ST_CLOSE },
	};
	struct reel_http_client_opts o = { .max_body = 24 };
	struct reel_http_client *c = client_new(&o);
	struct reel_http_sse_msg m;
	struct reel_http_resp *resp;
	struct srv s;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	FCHECK_EQ(fetch(c, &s, "GET", "/events", &resp), 0);
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_http_sse_next(resp, &m), 1);
	FCHECK_EQ(reel_http_sse_next(resp, &m), -EMSGSIZE);
	reel_http_resp_close(resp);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_sse_limit(void **state)
{
	(void)state;
	run_ok(cl_sse_limit, NULL);
}

/* ---- reel_http_get, bad arguments, refused connections ---------------------------------- */

static int cl_get(void *arg)
{
	static const struct step steps[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0 },
		{ "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0 },
	};
	struct reel_http_client *c = client_new(NULL);
	char buf[16], url[64];
	size_t len = 0;
	struct srv s;

	(void)arg;
	FCHECK(c);
	FCHECK_EQ(srv_start(&s, steps, NSTEPS(steps)), 0);
	snprintf(url, sizeof(url), "http://localhost:%u/x", s.port);
	FCHECK_EQ(reel_http_get(c, url, 10 * SEC, buf, sizeof(buf), &len), 200);
	FCHECK_EQ(len, 5);
	FCHECK(!strcmp(buf, "hello"));
	FCHECK(strstr(s.req[0], "\r\nHost: localhost:"));
	FCHECK_EQ(reel_http_get(c, url, 10 * SEC, buf, sizeof(buf), &len), 404);
	FCHECK(!strcmp(buf, "nope"));
	FCHECK_EQ(reel_http_get(c, url, 10 * SEC, buf, 6, &len), 200);   /* just fits */
	FCHECK_EQ(reel_http_get(c, url, 10 * SEC, buf, 5, &len), -EMSGSIZE);
	FCHECK_EQ(srv_stop(&s), 0);
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_get(void **state)
{
	(void)state;
	run_ok(cl_get, NULL);
}

static int cl_bad_args(void *arg)
{
	static const char *const bad_urls[] = {
		"https://127.0.0.1/", "http://127.0.0.1:0/",
		"http://127.0.0.1:65536/", "http://127.0.0.1:/", "http:///x",
		"http://127.0.0.1/a b", "http://user@127.0.0.1/", "127.0.0.1/",
		"http://[::1/", "http://[zz]/", "http://[]/", "http://[::1]x/", "http://-a/",
		"http://a%62/", "http://.a/",
	};
	const char *crlf[] = { "X-A", "a\r\nX-B: b", NULL };
	const char *host[] = { "Host", "evil", NULL };
	const char *badname[] = { "X A", "1", NULL };
	struct reel_http_client *c = client_new(NULL);
	struct reel_http_request rq = { .method = "GET", .url = "http://127.0.0.1:1/" };
	struct reel_http_resp *resp;
	char buf[8];
	int lfd, port;

	(void)arg;
	FCHECK(c);
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		rq.url = bad_urls[i];
		FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	}
	rq.url = "http://127.0.0.1:1/";
	rq.headers = crlf;
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	rq.headers = host;
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	rq.headers = badname;
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	rq.headers = NULL;
	rq.method = "GE T";
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	rq.method = "POST";
	rq.body_len = 3;   /* with no body */
	FCHECK_EQ(reel_http_fetch(c, &rq, &resp), -EINVAL);
	FCHECK_EQ(reel_http_fetch(NULL, &rq, &resp), -EINVAL);
	FCHECK_EQ(reel_http_get(c, "http://127.0.0.1:1/", 0, buf, 0, NULL), -EINVAL);

	/* a port nobody listens on */
	lfd = reel_listen_tcp("127.0.0.1", 0, 1);
	FCHECK(lfd >= 0);
	port = reel_local_port(lfd);
	FCHECK_EQ(reel_close(lfd), 0);
	snprintf(buf, sizeof(buf), "x");
	{
		char url[64];

		int r;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
		FCHECK_EQ(reel_http_get(c, url, SEC, buf, sizeof(buf), NULL), -ECONNREFUSED);
		/* an IPv6 literal is parsed and dialled (refused, or no IPv6 here) */
		snprintf(url, sizeof(url), "http://[::1]:%d/", port);
		r = reel_http_get(c, url, SEC, buf, sizeof(buf), NULL);
		FCHECK(r == -ECONNREFUSED || r == -EADDRNOTAVAIL || r == -ENETUNREACH ||
		       r == -EAFNOSUPPORT);
		/* a name is resolved: one that never resolves (RFC 6761) */
		FCHECK_EQ(reel_http_get(c, "http://no-such-host.invalid:80/", SEC, buf,
					sizeof(buf), NULL), -ENOENT);
	}
	FCHECK_EQ(reel_http_client_destroy(c), 0);
	return 0;
}

static void test_http_client_bad_args(void **state)
{
	struct reel_http_client *c = NULL;
	struct reel_http_request rq = { .method = "GET", .url = "http://127.0.0.1:1/" };
	struct reel_http_resp *resp;

	(void)state;
	run_ok(cl_bad_args, NULL);
	/* outside a fiber */
	assert_int_equal(reel_http_client_create(&c, NULL), 0);
	assert_int_equal(reel_http_fetch(c, &rq, &resp), -EPERM);
	assert_int_equal(reel_http_client_destroy(c), 0);
	assert_int_equal(reel_http_client_create(NULL, NULL), -EINVAL);
	assert_int_equal(reel_http_client_destroy(NULL), 0);
	assert_int_equal(reel_http_resp_close(NULL), 0);
	assert_int_equal(reel_http_resp_status(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_client_content_length),
		cmocka_unit_test(test_http_client_chunked),
		cmocka_unit_test(test_http_client_close_delimited),
		cmocka_unit_test(test_http_client_cut_short),
		cmocka_unit_test(test_http_client_no_body),
		cmocka_unit_test(test_http_client_interim_1xx),
		cmocka_unit_test(test_http_client_keepalive_reuse),
		cmocka_unit_test(test_http_client_retry_idempotent_only),
		cmocka_unit_test(test_http_client_deadline),
		cmocka_unit_test(test_http_client_cancel),
		cmocka_unit_test(test_http_client_limits),
		cmocka_unit_test(test_http_client_malformed),
		cmocka_unit_test(test_http_client_sse),
		cmocka_unit_test(test_http_client_sse_limit),
		cmocka_unit_test(test_http_client_get),
		cmocka_unit_test(test_http_client_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
