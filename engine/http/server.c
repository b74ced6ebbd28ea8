/*
 * server.c - the HTTP server: a listener, and one fiber per connection.
 *
 * The serving fiber takes connections from a multishot acceptor and spawns
 * each into the server's task group. A connection's fiber loops: read a
 * request head, run the route's handler on this same fiber, finish the
 * answer, and go on with the next request (keep-alive and pipelining; the
 * answers leave in request order because the requests are handled one by
 * one). Receives go through a reel_receiver on a buffer pool the server
 * shares among its connections, so an idle connection holds no buffer: each
 * piece received is copied into the connection's own input buffer and the
 * pool's buffer goes back in the same turn (docs/http.md, "Buffers").
 *
 * Time, as nginx and Node count it (docs/http.md, "Timeouts"):
 *  - header_timeout runs from the first byte of a request head (from accept
 *    for the first request) and is not renewed by later bytes: a slowloris
 *    client gets 408 when it passes;
 *  - idle_timeout bounds the wait for the next request on a kept-alive
 *    connection;
 *  - body_timeout bounds each read of a body, write_timeout each write's
 *    progress (respond.c); handler_timeout runs the handler under
 *    reel_wait_for.
 *
 * Resources: at max_connections the oldest idle keep-alive connection is
 * closed to make room (nginx's ngx_drain_connections), else the serving
 * fiber stops accepting - parked, not polling - until a connection ends,
 * and new connections wait in the kernel's backlog.
 *
 * Shutdown: reel_http_shutdown (or SIGTERM/SIGINT with REEL_HTTP_SIGNALS)
 * stops accepting, cancels the connections that wait for a request, lets
 * the others finish their request within shutdown_timeout (they answer it
 * with Connection: close), then cancels what is left and waits for all.
 */
#define _GNU_SOURCE   /* POLLRDHUP, strncasecmp */
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

#define SEC 1000000000ull
#define RECV_BUF_SIZE 4096
#define RECV_BUF_COUNT 1024
#define LINGER_NS (2 * SEC)         /* lingering close: read and drop, at most */
#define LINGER_BYTES (256 * 1024)

/* ---- options --------------------------------------------------------------------------- */

static uint64_t pick(uint64_t v, uint64_t dflt)
{
	return v ? v : dflt;
}

static int fill_options(struct reel_http_server *s, const struct reel_http_server_opts *in)
{
	struct reel_http_server_opts o = in ? *in : (struct reel_http_server_opts){ 0 };

	o.max_request_line = pick(o.max_request_line, 8 * 1024);
	o.max_header_bytes = pick(o.max_header_bytes, 16 * 1024);
	o.max_headers = (unsigned)pick(o.max_headers, 100);
	o.max_body = pick(o.max_body, 1024 * 1024);
	o.max_connections = (unsigned)pick(o.max_connections, 4096);
	o.header_timeout_ns = pick(o.header_timeout_ns, 10 * SEC);
	o.idle_timeout_ns = pick(o.idle_timeout_ns, 60 * SEC);
	o.body_timeout_ns = pick(o.body_timeout_ns, 30 * SEC);
	o.write_timeout_ns = pick(o.write_timeout_ns, 30 * SEC);
	o.handler_timeout_ns = pick(o.handler_timeout_ns, UINT64_MAX);
	o.shutdown_timeout_ns = pick(o.shutdown_timeout_ns, 10 * SEC);
	o.sse_keepalive_ns = pick(o.sse_keepalive_ns, 15 * SEC);
	if (!o.server_name)
		o.server_name = "reel";
	if (o.max_request_line > o.max_header_bytes || o.max_header_bytes > (1u << 30) ||
	    o.max_headers > 10000 || strlen(o.server_name) > 64 ||
	    strpbrk(o.server_name, "\r\n"))
		return -EINVAL;
	s->o = o;
	s->lim = (struct reel_http__limits){
		.max_request_line = o.max_request_line,
		.max_header_bytes = o.max_header_bytes,
		.max_body = o.max_body,
		.max_chunk_ext = 16 * 1024,
		.max_headers = o.max_headers,
	};
	s->server_line_len = (size_t)snprintf(s->server_line, sizeof(s->server_line),
					      "Server: %s\r\n", o.server_name);
	return 0;
}

int reel_http_server_create(struct reel_http_server **srv, const struct reel_http_server_opts *opts)
{
	struct reel_http_server *s;
	int err;

	if (!srv)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = fill_options(s, opts);
	if (err) {
		free(s);
		return err;
	}
	s->port = -ENOTCONN;
	reel__list_init(&s->conns);
	reel__list_init(&s->idle);
	*srv = s;
	return 0;
}

int reel_http_route(struct reel_http_server *srv, const char *method, const char *pattern,
		    reel_http_handler fn, void *arg)
{
	if (!srv)
		return -EINVAL;
	if (srv->serving)
		return -EBUSY;
	return reel_http__route_add(&srv->routes, method, pattern, fn, arg);
}

int reel_http_fallback(struct reel_http_server *srv, reel_http_handler fn, void *arg)
{
	if (!srv || !fn)
		return -EINVAL;
	srv->fallback = fn;
	srv->fallback_arg = arg;
	return 0;
}

int reel_http_server_destroy(struct reel_http_server *srv)
{
	if (!srv)
		return 0;
	if (srv->serving)
		return -EBUSY;
	reel_http__routes_free(&srv->routes);
	free(srv);
	return 0;
}

int reel_http_port(const struct reel_http_server *srv)
{
	return srv ? srv->port : -EINVAL;
}

int reel_http_server_stats(const struct reel_http_server *srv, struct reel_http_server_stats *st)
{
	if (!srv || !st)
		return -EINVAL;
	*st = srv->st;
	st->open = srv->open;
	return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

struct recv_call {
	struct reel_http__conn *c;
	const void *data;
	ssize_t n;
};

static int recv_once(void *arg)
{
	struct recv_call *rc = arg;

	rc->n = reel_receiver_next(&rc->c->rx, &rc->data);
	return rc->n < 0 ? (int)rc->n : 0;
}

static int reserve_input(struct reel_http__conn *c, size_t more)
{
	size_t cap = c->in_cap ? c->in_cap : RECV_BUF_SIZE * 2;
	char *in;

	if (c->in_cap - c->in_len >= more)
		return 0;
	while (cap - c->in_len < more)
		cap *= 2;
	in = realloc(c->in, cap);
	if (!in)
		return -ENOMEM;
	c->in = in;
	c->in_cap = cap;
	return 0;
}

ssize_t reel_http__recv_more(struct reel_http__conn *c, uint64_t timeout_ns)
{
	struct recv_call rc = { .c = c };
	int r;

	if (c->eof)
		return 0;
	r = reserve_input(c, RECV_BUF_SIZE);
	if (r)
		return r;
	if (timeout_ns == UINT64_MAX)
		r = recv_once(&rc);
	else
		r = reel_wait_for(timeout_ns, recv_once, &rc, NULL);
	if (rc.n > 0) {
		/* Copy and give the pool's buffer back at once: never hold one
		 * across a park (a dry pool would stall every connection). */
		memcpy(c->in + c->in_len, rc.data, (size_t)rc.n);
		c->in_len += (size_t)rc.n;
		reel_receiver_release(&c->rx, rc.data);
		return rc.n;
	}
	if (rc.n == 0 && r == 0) {
		c->eof = true;
		return 0;
	}
	return r < 0 ? r : rc.n;
}

/* ---- idle connections -------------------------------------------------------------------- */

static void set_idle(struct reel_http__conn *c, bool idle)
{
	struct reel_http_server *s = c->srv;

	if (idle == c->idle)
		return;
	c->idle = idle;
	if (!idle) {
		reel__list_del(&c->idle_node);
		return;
	}
	reel__list_add_tail(&c->idle_node, &s->idle);
	if (s->accept_parked)
		reel__wake(s->accept_fiber, 0);   /* a waiting client may have it */
}

/* Make room for one more connection: close the oldest idle one. */
static bool reap_idle(struct reel_http_server *s)
{
	struct reel_http__conn *c;

	if (reel__list_empty(&s->idle))
		return false;
	c = reel__container_of(s->idle.next, struct reel_http__conn, idle_node);
	set_idle(c, false);
	c->reaped = true;
	s->closing++;
	reel__cancel_fiber(c->fiber);
	s->st.idle_reaped++;
	return true;
}

/* ---- answers the server gives by itself ---------------------------------------------------- */

/* Drop the rest of the input after an error answer, so that the client
 * reads the answer before it sees our close (a close with unread input
 * would send a reset that may destroy the answer: RFC 9112 §9.6). */
static void linger_close(struct reel_http__conn *c)
{
	uint64_t until = reel_now() + LINGER_NS;
	size_t dropped = 0;

	if (c->write_err || c->peer_gone)
		return;
	shutdown(c->fd, SHUT_WR);
	while (dropped < LINGER_BYTES) {
		uint64_t now = reel_now();
		ssize_t n;

		if (now >= until)
			return;
		c->in_len = c->in_pos = 0;
		n = reel_http__recv_more(c, until - now);
		if (n <= 0)
			return;
		dropped += (size_t)n;
	}
}

static void reject(struct reel_http__conn *c, int status)
{
	struct reel_http_req *req = &c->req;

	c->srv->st.rejected++;
	c->close_after = true;
	if (req->answer == REEL_HTTP__ANS_NONE && !c->write_err) {
		req->version = 11;
		req->head = false;
		reel_http__answer_simple(req, status, NULL);
		reel_http__flush(c);
	}
	linger_close(c);
}

/* ---- one request ----------------------------------------------------------------------------- */

/* Move the unparsed rest (a pipelined request) to the front. */
static void compact(struct reel_http__conn *c)
{
	if (c->in_pos && c->in_pos < c->in_len)
		memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
	c->in_len -= c->in_pos;
	c->in_pos = 0;
	if (!c->in_len && c->in_cap > 4 * RECV_BUF_SIZE) {
		/* A large head or body is gone: give its memory back. */
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* How long to wait for more of the head: until header_timeout after its
 * first byte; before any byte, the keep-alive idle time. */
static uint64_t head_wait(struct reel_http__conn *c, uint64_t first_byte)
{
	const struct reel_http_server_opts *o = &c->srv->o;
	uint64_t now = reel_now();

	if (!first_byte)
		return c->requests ? o->idle_timeout_ns : o->header_timeout_ns;
	if (o->header_timeout_ns == UINT64_MAX)
		return UINT64_MAX;
	return first_byte + o->header_timeout_ns > now ? first_byte + o->header_timeout_ns - now : 0;
}

/* Read until a whole head is parsed. 0, or -1 when the connection ends. */
static int read_head(struct reel_http__conn *c)
{
	uint64_t first_byte = c->requests ? 0 : reel_now();
	ssize_t n;
	int r;

	if (c->in_len)
		first_byte = reel_now();
	for (;;) {
		if (c->in_pos < c->in_len) {
			r = reel_http__parse_head(&c->ps, c->in, &c->in_pos, c->in_len);
			if (r == 1)
				return 0;
			if (r < 0) {
				reject(c, -r);
				return -1;
			}
		}
		if (c->out.len && reel_http__flush(c) < 0)
			return -1;   /* deferred pipelined answers go before we wait */
		if (c->srv->draining && c->in_len == 0)
			return -1;
		set_idle(c, c->in_len == 0);
		n = reel_http__recv_more(c, head_wait(c, first_byte));
		set_idle(c, false);
		if (n == -ETIMEDOUT && c->in_len) {
			c->srv->st.timeouts++;
			reject(c, 408);
			return -1;
		}
		if (n <= 0) {
			if (n == -ETIMEDOUT)
				c->srv->st.timeouts++;
			return -1;   /* EOF, idle timeout, cancelled, reset */
		}
		if (!first_byte)
			first_byte = reel_now();
	}
}

/* Where the path starts: origin-form "/p", absolute-form "http://h/p",
 * asterisk-form "*". NULL for anything else. */
static const char *path_start(const char *target)
{
	const char *p;

	if (target[0] == '/' || strcmp(target, "*") == 0)
		return target;
	if (strncasecmp(target, "http://", 7) == 0)
		p = target + 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		p = target + 8;
	else
		return NULL;
	p = strchr(p, '/');
	return p ? p : "/";
}

static int set_up_request(struct reel_http__conn *c)
{
	struct reel_http_req *req = &c->req;
	struct reel_http__parser *ps = &c->ps;
	const char *p, *q, *expect;
	ssize_t n;
	char *path;

	req->method = reel_http__str(c->in, ps->method);
	req->target = reel_http__str(c->in, ps->url);
	req->version = ps->ll.http_minor == 0 ? 10 : 11;
	req->head = strcmp(req->method, "HEAD") == 0;
	req->content_length = ps->chunked ? -1 : (int64_t)ps->ll.content_length;
	req->keep_alive = llhttp_should_keep_alive(&ps->ll);
	p = path_start(req->target);
	if (!p)
		return 400;
	q = strchr(p, '?');
	req->query = q ? q + 1 : "";
	n = q ? q - p : (ssize_t)strlen(p);
	path = reel_http__arena_alloc(&c->arena, (size_t)n + 1);
	if (!path)
		return 500;
	if (reel_http__decode(p, (size_t)n, path, false) < 0)
		return 400;
	req->path = path;
	expect = reel_http_header(req, "expect");
	if (expect && req->version == 11) {
		if (!reel_http__name_eq(expect, "100-continue"))
			return 417;
		req->expect_continue = req->content_length != 0;
	}
	return 0;
}

static int call_handler(void *arg)
{
	struct reel_http_req *req = arg;

	return req->match.fn(req, req->match.arg);
}

static int run_handler(struct reel_http__conn *c)
{
	struct reel_http_req *req = &c->req;
	struct reel_http_server *s = c->srv;
	char *copy = reel_http__arena_strndup(&c->arena, req->path, strlen(req->path));
	int rc = 0, st;

	if (!copy)
		return -ENOMEM;
	if (!reel_http__route_match(&s->routes, req->method, copy, &req->match)) {
		if (req->match.path_matched)
			return reel_http__answer_simple(req, 405, req->match.allow);
		if (!s->fallback)
			return reel_http__answer_simple(req, 404, NULL);
		req->match.fn = s->fallback;
		req->match.arg = s->fallback_arg;
	}
	s->st.requests++;
	c->in_handler = true;
	if (s->o.handler_timeout_ns == UINT64_MAX) {
		rc = call_handler(req);
	} else {
		st = reel_wait_for(s->o.handler_timeout_ns, call_handler, req, &rc);
		if (st == -ETIMEDOUT && req->answer == REEL_HTTP__ANS_NONE)
			rc = -ETIMEDOUT;
	}
	c->in_handler = false;
	return rc;
}

static void reset_request(struct reel_http__conn *c)
{
	struct reel_http_req *req = &c->req;
	struct reel_http__buf headers = req->headers;

	free(req->body);
	headers.len = 0;
	*req = (struct reel_http_req){ .c = c, .headers = headers };
	reel_http__arena_reset(&c->arena);
}

/* Read and drop what the handler left of the body, so that the next
 * request can be read (Go drains up to 256 KiB, then gives up: so do we). */
static bool drain_body(struct reel_http__conn *c)
{
	char sink[4096];
	size_t total = 0;

	if (c->req.expect_continue && !c->req.continued)
		return false;   /* the client may never send it */
	while (!c->req.body_done && total < LINGER_BYTES) {
		ssize_t n = reel_http_read_body(&c->req, sink, sizeof(sink));

		if (n < 0)
			return false;
		total += (size_t)n;
	}
	return c->req.body_done;
}

/* Serve one request. 0: go on with the next; -1: close. */
static int serve_one(struct reel_http__conn *c)
{
	struct reel_http_req *req = &c->req;
	int st, rc;

	reset_request(c);
	compact(c);
	reel_http__parser_next(&c->ps, 0);
	if (read_head(c) < 0)
		return -1;
	c->head_end = c->in_pos;
	c->requests++;
	st = set_up_request(c);
	if (st) {
		reject(c, st);
		return -1;
	}
	rc = run_handler(c);
	reel_http__finish_answer(req, rc);
	if (c->peer_gone || c->write_err)
		return -1;
	if (!c->close_after && !drain_body(c))
		c->close_after = true;   /* too late for the head: just close */
	if (c->out.len && (c->close_after || c->in_pos == c->in_len))
		reel_http__flush(c);
	if (c->close_after || c->write_err) {
		if (!c->req.body_done)
			linger_close(c);
		return -1;
	}
	return 0;
}

/* ---- a connection's fiber ------------------------------------------------------------------- */

static void conn_free(struct reel_http__conn *c)
{
	reel__list_del(&c->node);
	reel_http__parser_free(&c->ps);
	reel_http__buf_free(&c->out);
	reel_http__buf_free(&c->req.headers);
	reel_http__arena_free(&c->arena);
	free(c->req.body);
	free(c->in);
	free(c);
}

static int conn_main(void *arg)
{
	struct reel_http__conn *c = arg;
	struct reel_http_server *s = c->srv;
	int one = 1;

	c->fiber = reel__self_fiber();
	c->loop = reel__running_loop();
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	reel_receiver_init(&c->rx, c->fd, s->pool);
	reel_http__parser_init(&c->ps, &s->lim);
	while (serve_one(c) == 0)
		;
	set_idle(c, false);
	reel_http__stream_quiet(c);
	reel_receiver_close(&c->rx);
	close(c->fd);
	s->open--;
	if (c->reaped)
		s->closing--;
	if (s->accept_parked && s->open < s->o.max_connections)
		reel__wake(s->accept_fiber, 0);
	conn_free(c);
	return 0;   /* a connection's trouble is never the group's failure */
}

static int start_conn(struct reel_http_server *s, int fd)
{
	struct reel_http__conn *c = calloc(1, sizeof(*c));
	struct reel_spawn_opts so = { .stack_size = s->o.stack_size, .name = "http-conn" };
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	c->req.c = c;
	reel__list_init(&c->idle_node);
	reel__list_add_tail(&c->node, &s->conns);
	r = reel_group_spawn(&s->group, conn_main, c, &so);
	if (r < 0) {
		reel__list_del(&c->node);
		free(c);
		close(fd);
		return r;
	}
	s->open++;
	s->st.connections++;
	return 0;
}

/* ---- serving ---------------------------------------------------------------------------------- */

/* Make room for the connection in hand (a client is waiting): at the
 * limit, close the oldest idle connection - one per slot needed, since a
 * reaped one takes a moment to close - else park until a connection ends
 * or goes idle. Reaping only for a waiting client means a server at its
 * limit never drops a connection for nothing. 0, or the interruption. */
static int wait_for_slot(struct reel_http_server *s)
{
	while (s->open >= s->o.max_connections) {
		int r;

		if (s->open - s->closing >= s->o.max_connections && reap_idle(s))
			continue;
		s->accept_parked = true;
		r = reel__park(reel__running_loop(), REEL__PARK_IO, true);
		s->accept_parked = false;
		if (r < 0)
			return r;
	}
	return 0;
}

/* The accepting task: it alone parks on the acceptor, so that shutdown can
 * stop it with a plain reel_cancel wherever it waits. */
struct accept_call {
	struct reel_http_server *s;
	struct reel_acceptor *acc;
};

static int accept_loop(void *arg)
{
	struct accept_call *ac = arg;
	struct reel_http_server *s = ac->s;

	s->accept_fiber = reel__self_fiber();
	for (;;) {
		int fd = reel_acceptor_accept(ac->acc), r;

		if (fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0)
			return fd;
		r = wait_for_slot(s);
		if (r < 0 || s->draining) {
			close(fd);
			return r;
		}
		start_conn(s, fd);
	}
}

/* Close every connection that waits for a request; the others answer
 * their request with Connection: close (they see s->draining). */
static void close_idle(struct reel_http_server *s)
{
	while (reap_idle(s))
		;
}

static int wait_group(void *arg)
{
	return reel_group_wait(arg, NULL, 0, NULL);
}

static int signal_fiber(void *arg)
{
	struct reel_http_server *s = arg;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	r = reel_signal_wait(&set, NULL);
	if (r >= 0)
		reel_http_shutdown(s);
	return 0;
}

static int grace_then_cancel(struct reel_http_server *s, int why)
{
	int r;

	close_idle(s);
	if (!why) {
		r = reel_shield(s->o.shutdown_timeout_ns, wait_group, &s->group, NULL);
		if (r == 0)
			return 0;
	}
	reel_group_cancel(&s->group);
	return reel_group_wait(&s->group, NULL, 0, NULL);
}

/* Accept until shutdown or an accept error. 0 after a shutdown; the
 * caller's interruption; an accept error. */
static int accept_until_shutdown(struct reel_http_server *s, struct reel_acceptor *acc)
{
	struct accept_call ac = { s, acc };
	int r, status = 0;

	r = reel_spawn(&s->accept_task, accept_loop, &ac,
		       &(struct reel_spawn_opts){ .name = "http-accept" });
	if (r)
		return r;
	r = reel_join(s->accept_task, &status);
	s->accept_task.id = 0;
	s->accept_fiber = NULL;
	if (r)
		return r;   /* we were cancelled: so was the accepting task */
	return status == -ECANCELED && s->draining ? 0 : status;
}

int reel_http_serve(struct reel_http_server *s, int fd)
{
	struct reel_acceptor acc;
	reel_task sig = { 0 };
	int err, r;

	if (!s || fd < 0)
		return -EINVAL;
	if (!reel__running_loop())
		return -EPERM;
	if (s->serving)
		return -EBUSY;
	s->pool = reel_bufpool_create(RECV_BUF_COUNT, RECV_BUF_SIZE, &err);
	if (!s->pool)
		return err;
	s->serving = true;
	s->draining = false;
	reel_group_init(&s->group);
	reel_acceptor_init(&acc, fd);
	if (s->o.flags & REEL_HTTP_SIGNALS)
		reel_spawn(&sig, signal_fiber, s, &(struct reel_spawn_opts){ .name = "http-signals" });
	r = accept_until_shutdown(s, &acc);
	s->draining = true;
	reel_acceptor_close(&acc);
	grace_then_cancel(s, r);
	if (sig.id) {
		reel_cancel(sig);
		reel_join(sig, NULL);
	}
	reel_bufpool_destroy(s->pool);
	s->pool = NULL;
	s->serving = false;
	return r;
}

int reel_http_serve_tcp(struct reel_http_server *s, const char *host, uint16_t port)
{
	int fd, r;

	if (!s || !host)
		return -EINVAL;
	fd = reel_listen_tcp(host, port, 4096);
	if (fd < 0)
		return fd;
	s->port = reel_local_port(fd);
	r = reel_http_serve(s, fd);
	close(fd);
	s->port = -ENOTCONN;
	return r;
}

int reel_http_shutdown(struct reel_http_server *s)
{
	if (!s)
		return -EINVAL;
	if (!s->serving || s->draining)
		return 0;
	s->draining = true;
	if (s->accept_task.id)
		reel_cancel(s->accept_task);
	return 0;
}
