/*
 * Description: the HTTP server's request framing (engine/http/parser.c:
 * heads split anywhere, pipelining, chunked bodies with extensions and
 * trailers, and the status each malformed or oversized request gets) and
 * its answers on the wire (engine/http/respond.c: the exact bytes of a
 * fixed answer, a chunked stream, a generator's stream, an HTTP/1.0 stream,
 * HEAD, Server-Sent Events, pipelined answers in order, 404/405), through a
 * server on a loopback port and raw sockets. tests/http/hostile.py covers
 * the same server from outside, with timeouts and hostile clients.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "http/http.h"

/* ---- framing ----------------------------------------------------------------------------- */

static const struct reel_http__limits limits = {
	.max_request_line = 64, .max_header_bytes = 256, .max_body = 100,
	.max_chunk_ext = 32, .max_headers = 8,
};

/* Parse @req as a whole, given to the parser @step bytes at a time. */
static int parse_in_steps(struct reel_http__parser *ps, char *buf, size_t len, size_t step)
{
	size_t pos = 0, avail = 0;
	int r = 0;

	reel_http__parser_init(ps, &limits);
	reel_http__parser_next(ps, 0);
	while (r == 0 && avail < len) {
		avail = avail + step < len ? avail + step : len;
		r = reel_http__parse_head(ps, buf, &pos, avail);
	}
	return r;
}

static const char *field(const struct reel_http__parser *ps, const char *buf, unsigned i,
			 bool value)
{
	return reel_http__str(buf, value ? ps->fields[i].value : ps->fields[i].name);
}

static void test_head_any_split(void **state)
{
	static const char req[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
				  "X-Long-Name:   padded value  \r\nEmpty:\r\n\r\n";
	(void)state;
	for (size_t step = 1; step <= sizeof(req); step++) {
		struct reel_http__parser ps;
		char buf[sizeof(req)];

		memcpy(buf, req, sizeof(req));
		assert_int_equal(parse_in_steps(&ps, buf, sizeof(req) - 1, step), 1);
		assert_string_equal(reel_http__str(buf, ps.method), "GET");
		assert_string_equal(reel_http__str(buf, ps.url), "/a/b?x=1");
		assert_int_equal(ps.nfields, 3);
		assert_string_equal(field(&ps, buf, 0, false), "Host");
		assert_string_equal(field(&ps, buf, 0, true), "example.com");
		assert_string_equal(field(&ps, buf, 1, false), "X-Long-Name");
		assert_string_equal(field(&ps, buf, 1, true), "padded value");
		assert_string_equal(field(&ps, buf, 2, true), "");
		reel_http__parser_free(&ps);
	}
}

/* Two pipelined requests, the first with a body: the body ends exactly at
 * the second request, which stays unparsed until asked for. */
static void test_pipelined_bodies(void **state)
{
	char buf[] = "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		     "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t len = strlen(buf), pos = 0;
	struct reel_http__parser ps;
	char out[16];
	ssize_t n;

	(void)state;
	reel_http__parser_init(&ps, &limits);
	reel_http__parser_next(&ps, 0);
	assert_int_equal(reel_http__parse_head(&ps, buf, &pos, len), 1);
	n = reel_http__parse_body(&ps, buf, &pos, len, out, sizeof(out));
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	if (!ps.msg_done)
		assert_int_equal(reel_http__parse_body(&ps, buf, &pos, len, out, sizeof(out)), 0);
	assert_true(ps.msg_done);
	assert_memory_equal(buf + pos, "GET /2", 6);
	reel_http__parser_next(&ps, pos);
	assert_int_equal(reel_http__parse_head(&ps, buf, &pos, len), 1);
	assert_string_equal(reel_http__str(buf, ps.url), "/2");
	assert_int_equal(pos, len);
	reel_http__parser_free(&ps);
}

static void test_chunked_trailers(void **state)
{
	char buf[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nT: trailer value\r\n"
		     "Other: x\r\n\r\n";
	size_t len = strlen(buf), pos = 0;
	struct reel_http__parser ps;
	char out[64];
	size_t got = 0;

	(void)state;
	reel_http__parser_init(&ps, &limits);
	reel_http__parser_next(&ps, 0);
	assert_int_equal(reel_http__parse_head(&ps, buf, &pos, len), 1);
	assert_true(ps.chunked);
	while (!ps.msg_done) {
		ssize_t n = reel_http__parse_body(&ps, buf, &pos, len, out + got, 3);

		assert_true(n >= 0);
		got += (size_t)n;
	}
	assert_int_equal(got, 11);
	assert_memory_equal(out, "hello world", 11);
	assert_string_equal(reel_http__trailer(&ps, "t"), "trailer value");
	assert_string_equal(reel_http__trailer(&ps, "OTHER"), "x");
	assert_null(reel_http__trailer(&ps, "missing"));
	reel_http__parser_free(&ps);
}

struct bad {
	const char *req;
	size_t len;   /* the bytes, NULs included */
	int status;
};
#define BAD(text, status) { text, sizeof(text) - 1, status }

static const struct bad bad_heads[] = {
	BAD("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
	BAD("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	BAD("GET /\r\n\r\n", 400),
	BAD("GET /\r\n", 400),
	BAD("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
	BAD("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400),
	BAD("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
	BAD("GET / RTSP/1.0\r\nHost: h\r\n\r\n", 400),
	BAD("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", 414),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n"
	  "H: 1\r\n\r\n", 431),
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 431),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
	BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
	BAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
	BAD("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
};

static void test_bad_heads(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		const struct bad *b = &bad_heads[i];
		struct reel_http__parser ps;
		char buf[1024];
		int r;

		memcpy(buf, b->req, b->len);
		r = parse_in_steps(&ps, buf, b->len, b->len);
		if (r != -b->status)
			fail_msg("case %zu (%.40s...): got %d, want %d", i, b->req, r, -b->status);
		reel_http__parser_free(&ps);
	}
}

static void test_bad_bodies(void **state)
{
	static const char *bodies[] = {
		"zz\r\nhello\r\n0\r\n\r\n",                                   /* chunk size */
		"5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1\r\nhello\r\n0\r\n\r\n", /* extension */
		"5\r\nhelloXX0\r\n\r\n",                                       /* no CRLF */
		("40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
		 "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n"),
	};
	static const int status[] = { 400, 400, 400, 413 };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		char buf[1024];
		size_t pos = 0, len;
		struct reel_http__parser ps;
		char out[256];
		ssize_t n = 0;

		len = (size_t)snprintf(buf, sizeof(buf),
				       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%s",
				       bodies[i]);
		reel_http__parser_init(&ps, &limits);
		reel_http__parser_next(&ps, 0);
		assert_int_equal(reel_http__parse_head(&ps, buf, &pos, len), 1);
		while (n >= 0 && !ps.msg_done && pos < len)
			n = reel_http__parse_body(&ps, buf, &pos, len, out, sizeof(out));
		if (n != -status[i])
			fail_msg("body %zu: got %zd, want %d", i, n, -status[i]);
		reel_http__parser_free(&ps);
	}
}

/* ---- answers on the wire ------------------------------------------------------------------- */

struct server {
	struct reel_http_server *srv;
	int fd, port;
	reel_task task;
};

static int hello(struct reel_http_req *req, void *arg)
{
	(void)arg;
	return reel_http_respond(req, 200, "text/plain", "hello\n", 6);
}

static int stream(struct reel_http_req *req, void *arg)
{
	int r = reel_http_stream_begin(req, 200, "text/plain", 0);

	(void)arg;
	if (!r)
		r = reel_http_stream_write(req, "ab", 2);
	if (!r)
		r = reel_http_stream_write(req, "", 0);
	if (!r)
		r = reel_http_stream_write(req, "0123456789abcdefg", 17);
	return r ? r : reel_http_stream_end(req);
}

static struct reel_http_chunk gen_chunks[] = { { "one", 3 }, { "two", 3 } };

static int produce(struct reel_gen *g, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 2; i++) {
		int r = reel_gen_yield(g, &gen_chunks[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int from_gen(struct reel_http_req *req, void *arg)
{
	struct reel_gen g;
	int r = reel_gen_start(&g, produce, NULL, NULL);

	(void)arg;
	return r ? r : reel_http_stream_gen(req, 200, NULL, &g);
}

static int events(struct reel_http_req *req, void *arg)
{
	struct reel_http_event ev = { .event = "tick", .id = "7", .data = "a\nb", .retry_ms = 1500 };
	int r = reel_http_sse_begin(req);

	(void)arg;
	if (!r)
		r = reel_http_sse_send(req, &ev);
	if (!r)
		r = reel_http_sse_comment(req, "still here");
	return r;
}

static int params(struct reel_http_req *req, void *arg)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s|%s|%s|%s", reel_http_param(req, "id"),
			 reel_http_param(req, "rest"), reel_http_query_param(req, "q") ?: "-",
			 reel_http_header(req, "x-test") ?: "-");

	(void)arg;
	return reel_http_respond(req, 200, NULL, body, (size_t)n);
}

static int failing(struct reel_http_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return -EIO;
}

static int serve_fiber(void *arg)
{
	struct server *s = arg;

	return reel_http_serve(s->srv, s->fd);
}

static int start_server(struct server *s)
{
	int r = reel_http_server_create(&s->srv, NULL);

	if (r)
		return r;
	reel_http_route(s->srv, "GET", "/hello", hello, NULL);
	reel_http_route(s->srv, "GET", "/stream", stream, NULL);
	reel_http_route(s->srv, "GET", "/gen", from_gen, NULL);
	reel_http_route(s->srv, "GET", "/events", events, NULL);
	reel_http_route(s->srv, "GET", "/u/{id}/f/{rest...}", params, NULL);
	reel_http_route(s->srv, "GET", "/u/me/f/{rest...}", hello, NULL);
	reel_http_route(s->srv, "GET", "/fail", failing, NULL);
	s->fd = reel_listen_tcp("127.0.0.1", 0, 64);
	if (s->fd < 0)
		return s->fd;
	s->port = reel_local_port(s->fd);
	return reel_spawn(&s->task, serve_fiber, s, NULL);
}

static int stop_server(struct server *s)
{
	int st = -1;

	FCHECK_EQ(reel_http_shutdown(s->srv), 0);
	FCHECK_EQ(reel_join(s->task, &st), 0);
	FCHECK_EQ(st, 0);
	close(s->fd);
	return reel_http_server_destroy(s->srv);
}

/* Send @req on a new connection and read until the server closes. */
static int exchange(int port, const char *req, char *out, size_t cap)
{
	int fd = reel_connect_tcp("127.0.0.1", (uint16_t)port);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	FCHECK(reel_write_all(fd, req, strlen(req), NULL) == (ssize_t)strlen(req));
	while ((n = reel_recv(fd, out + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
	return (int)got;
}

/* The answer without its Date line (which changes every second). */
static void strip_date(char *s)
{
	char *d = strstr(s, "Date: ");

	if (d) {
		char *e = strstr(d, "\r\n");

		memmove(d, e + 2, strlen(e + 2) + 1);
	}
}

#define CLOSE "Connection: close\r\n\r\n"

static const struct {
	const char *req, *want;
} wire[] = {
	{ "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\n"
	  "Content-Length: 6\r\n" CLOSE "hello\n" },
	{ "HEAD /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\n"
	  "Content-Length: 6\r\n" CLOSE },
	{ "GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\n"
	  "Transfer-Encoding: chunked\r\n" CLOSE "2\r\nab\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n" },
	{ "GET /stream HTTP/1.0\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\n" CLOSE
	  "ab0123456789abcdefg" },
	{ "GET /gen HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nTransfer-Encoding: chunked\r\n" CLOSE
	  "3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n" },
	{ "GET /events HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/event-stream\r\n"
	  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n"
	  CLOSE "2f\r\nevent: tick\nid: 7\nretry: 1500\ndata: a\ndata: b\n\n\r\n"
	  "e\r\n: still here\n\n\r\n0\r\n\r\n" },
	{ "GET /u/42/f/a/b%20c?q=x+y&z HTTP/1.1\r\nHost: h\r\nX-Test:  t \r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Length: 14\r\n" CLOSE "42|a/b c|x y|t" },
	{ "GET /u/me/f/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\n"
	  "Content-Length: 6\r\n" CLOSE "hello\n" },
	{ "GET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 404 Not Found\r\nServer: reel\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Length: 14\r\n" CLOSE "404 Not Found\n" },
	{ "POST /hello HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 405 Method Not Allowed\r\nServer: reel\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\nAllow: GET, HEAD\r\n"
	  "Content-Length: 23\r\n" CLOSE "405 Method Not Allowed\n" },
	{ "GET /fail HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 500 Internal Server Error\r\nServer: reel\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n" CLOSE
	  "500 Internal Server Error\n" },
	/* Pipelined: three answers, in order, the last one closing. */
	{ "GET /hello HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\n"
	  "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nServer: reel\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n"
	  "hello\nHTTP/1.1 404 Not Found\r\nServer: reel\r\nContent-Type: text/plain; charset=utf-8"
	  "\r\nContent-Length: 14\r\n\r\n404 Not Found\nHTTP/1.1 200 OK\r\nServer: reel\r\n"
	  "Content-Type: text/plain\r\nContent-Length: 6\r\n" CLOSE "hello\n" },
};

static int wire_main(void *arg)
{
	struct server s;
	char out[4096];

	(void)arg;
	FCHECK_EQ(start_server(&s), 0);
	for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
		char *p;

		FCHECK(exchange(s.port, wire[i].req, out, sizeof(out)) > 0);
		/* Every answer carries one Date line of the fixed format. */
		p = strstr(out, "\r\nDate: ");
		FCHECK(p && p[11] == ',' && strstr(p, " GMT\r\n") == p + 33);
		while ((p = strstr(out, "\r\nDate: ")))
			strip_date(p + 2);
		if (strcmp(out, wire[i].want) != 0) {
			fprintf(stderr, "case %zu: got\n%s\nwant\n%s\n", i, out, wire[i].want);
			FCHECK(false);
		}
	}
	return stop_server(&s);
}

static void test_answers_on_the_wire(void **state)
{
	(void)state;
	run_ok(wire_main, NULL);
}

/* ---- reel's client against reel's server ---------------------------------------------------- */

static int client_main(void *arg)
{
	struct reel_http_client *cl;
	struct reel_http_server_stats st;
	struct reel_http_resp *resp;
	struct reel_http_sse_msg msg;
	struct server s;
	char url[128], body[256];
	size_t len;
	const void *data;

	(void)arg;
	FCHECK_EQ(start_server(&s), 0);
	FCHECK_EQ(reel_http_client_create(&cl, NULL), 0);
	/* Three requests, one connection: the pool keeps it alive. */
	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", s.port);
		FCHECK_EQ(reel_http_get(cl, url, 5 * SEC, body, sizeof(body), &len), 200);
		FCHECK(len == 6 && memcmp(body, "hello\n", 6) == 0);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stream", s.port);
	FCHECK_EQ(reel_http_get(cl, url, 5 * SEC, body, sizeof(body), &len), 200);
	FCHECK(len == 19 && memcmp(body, "ab0123456789abcdefg", 19) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/events", s.port);
	FCHECK_EQ(reel_http_fetch(cl, &(struct reel_http_request){ .method = "GET", .url = url,
								 .timeout_ns = 5 * SEC },
				  &resp), 0);
	FCHECK_EQ(reel_http_resp_status(resp), 200);
	FCHECK_EQ(reel_http_sse_next(resp, &msg), 1);
	FCHECK(strcmp(msg.event, "tick") == 0 && strcmp(msg.id, "7") == 0);
	FCHECK(strcmp(msg.data, "a\nb") == 0 && msg.retry_ms == 1500);
	FCHECK_EQ(reel_http_sse_next(resp, &msg), 0);   /* the comment is no event */
	FCHECK_EQ(reel_http_resp_close(resp), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", s.port);
	FCHECK_EQ(reel_http_fetch(cl, &(struct reel_http_request){ .method = "GET", .url = url },
				  &resp), 0);
	FCHECK_EQ(reel_http_resp_status(resp), 404);
	FCHECK(reel_http_resp_body(resp, &data, 0) == 14);
	FCHECK_EQ(reel_http_resp_close(resp), 0);
	FCHECK_EQ(reel_http_server_stats(s.srv, &st), 0);
	FCHECK(st.connections == 1);
	FCHECK(st.requests == 5);   /* the 404 ran no handler */
	FCHECK_EQ(reel_http_client_destroy(cl), 0);
	return stop_server(&s);
}

static void test_client_meets_server(void **state)
{
	(void)state;
	run_ok(client_main, NULL);
}

/* ---- reel_http_metrics ------------------------------------------------------------------- */

/* The value of metric @name in Prometheus text @text, or -1. */
static long long metric(const char *text, const char *name)
{
	char key[96];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(text, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static int metrics_main(void *arg)
{
	struct server s;
	char out[8192];

	(void)arg;
	FCHECK_EQ(reel_http_server_create(&s.srv, NULL), 0);
	FCHECK_EQ(reel_http_route(s.srv, "GET", "/hello", hello, NULL), 0);
	FCHECK_EQ(reel_http_metrics(s.srv, "/internal/metrics"), 0);
	FCHECK_EQ(reel_http_metrics(s.srv, "/internal/metrics"), -EEXIST);
	FCHECK_EQ(reel_http_metrics(NULL, "/m"), -EINVAL);
	FCHECK_EQ(reel_http_metrics(s.srv, NULL), -EINVAL);
	s.fd = reel_listen_tcp("127.0.0.1", 0, 64);
	FCHECK(s.fd >= 0);
	s.port = reel_local_port(s.fd);
	FCHECK_EQ(reel_spawn(&s.task, serve_fiber, &s, NULL), 0);
	FCHECK(exchange(s.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			out, sizeof(out)) > 0);
	FCHECK(exchange(s.port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			out, sizeof(out)) > 0);
	FCHECK(exchange(s.port, "GET /internal/metrics HTTP/1.1\r\nHost: x\r\n"
			"Connection: close\r\n\r\n", out, sizeof(out)) > 0);
	FCHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	FCHECK(strstr(out, "\r\nContent-Type: text/plain; version=0.0.4") != NULL);
	FCHECK(strstr(out, "\n# TYPE reel_loop_switches_total counter\n") != NULL);
	FCHECK(metric(out, "reel_loop_switches_total") > 0);
	FCHECK(metric(out, "reel_loop_tasks") >= 3);   /* main, the server, this connection */
	FCHECK(metric(out, "reel_http_connections_total") == 3);
	FCHECK(metric(out, "reel_http_open_connections") == 1);   /* the scrape's own */
	FCHECK(metric(out, "reel_http_requests_total") == 2);     /* /hello and the scrape */
	FCHECK(metric(out, "reel_http_rejected_total") == 0);     /* a 404 is the fallback's */
	FCHECK(metric(out, "reel_http_peer_gone_total") == 0);
	return stop_server(&s);
}

static void test_http_metrics_prometheus_text(void **state)
{
	(void)state;
	run_ok(metrics_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_any_split),
		cmocka_unit_test(test_pipelined_bodies),
		cmocka_unit_test(test_chunked_trailers),
		cmocka_unit_test(test_bad_heads),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_answers_on_the_wire),
		cmocka_unit_test(test_client_meets_server),
		cmocka_unit_test(test_http_metrics_prometheus_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
