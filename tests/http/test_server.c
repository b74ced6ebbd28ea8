/*
 * Description: the HTTP server tests/http/hostile.py drives end to end: a
 * few routes covering every way of answering (fixed body, body echo,
 * chunked stream, generator stream, SSE, slow handler), served on
 * 127.0.0.1 until SIGTERM/SIGINT (a graceful shutdown), then exit 0.
 *
 * Usage: http_test_server PORT [--header-timeout-ms N] [--idle-timeout-ms N]
 *        [--body-timeout-ms N] [--write-timeout-ms N] [--handler-timeout-ms N]
 *        [--shutdown-timeout-ms N] [--sse-keepalive-ms N]
 *        [--max-connections N] [--max-body N]
 * PORT 0 picks a free port; line 1 of stdout is then "port N". Options map
 * to struct reel_http_server_opts (0 or absent: the default).
 *
 * Routes:
 *   GET  /hello          200 "hello\n"
 *   POST /echo           the body (reel_http_read_body in a loop), and
 *                        X-Trailer-T: the trailer T of a chunked body
 *   POST /echo-all       the body (reel_http_body; ?limit=N, 413 above it)
 *   GET  /users/{id}     {"id":"<id>"}
 *   GET  /files/{rest...} the rest of the path
 *   GET  /query          the query parameter q ("(none)" if absent)
 *   GET  /header         the header X-Test ("(none)" if absent)
 *   GET  /stream         10 chunks "chunk i\n", 20 ms apart
 *   GET  /big-stream     64 KiB chunks until a write fails
 *   GET  /sse?n=N&ms=M   N events (5) M ms apart (100): id i, event tick,
 *                        data "count i"
 *   GET  /slow?ms=N      sleeps N ms, then 200 "slept\n"
 *   GET  /gen?n=N        a reel_gen generator streams N chunks (0: without
 *                        end) 10 ms apart; one closed early counts in
 *                        gen_cancelled
 *   GET  /stats          reel_http_server_stats and gen_cancelled, JSON
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "reel.h"
#include "reel_gen.h"
#include "reel_http.h"

#define MS 1000000ull

static struct reel_http_server *srv;
static uint64_t gen_cancelled;  /* generators closed early (-ECANCELED) */
static int want_port;

static long query_num(struct reel_http_req *req, const char *name, long dflt)
{
	const char *v = reel_http_query_param(req, name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static int text(struct reel_http_req *req, int status, const char *s)
{
	return reel_http_respond(req, status, "text/plain", s, strlen(s));
}

static int hello(struct reel_http_req *req, void *arg)
{
	(void)arg;
	return text(req, 200, "hello\n");
}

static int echo(struct reel_http_req *req, void *arg)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	const char *t;
	ssize_t n;
	int r;

	(void)arg;
	if (!buf)
		return -ENOMEM;
	while ((n = reel_http_read_body(req, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *p = realloc(buf, cap *= 2);

			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
	}
	if (n < 0) {
		free(buf);
		return (int)n;  /* the server answers 413 / 408 / 400 */
	}
	t = reel_http_trailer(req, "T");
	r = t ? reel_http_set_header(req, "X-Trailer-T", t) : 0;
	if (r == 0)
		r = reel_http_respond(req, 200, "application/octet-stream", buf, len);
	free(buf);
	return r;
}

static int echo_all(struct reel_http_req *req, void *arg)
{
	const void *data;
	ssize_t n = reel_http_body(req, &data, (size_t)query_num(req, "limit", 0));

	(void)arg;
	if (n == -EMSGSIZE)
		return text(req, 413, "too large\n");
	if (n < 0)
		return (int)n;
	return reel_http_respond(req, 200, "application/octet-stream", data, (size_t)n);
}

static int user(struct reel_http_req *req, void *arg)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"id\":\"%s\"}", reel_http_param(req, "id"));

	(void)arg;
	return reel_http_respond(req, 200, "application/json", body, (size_t)n);
}

static int files(struct reel_http_req *req, void *arg)
{
	(void)arg;
	return text(req, 200, reel_http_param(req, "rest"));
}

static int query(struct reel_http_req *req, void *arg)
{
	const char *q = reel_http_query_param(req, "q");

	(void)arg;
	return text(req, 200, q ? q : "(none)");
}

static int header(struct reel_http_req *req, void *arg)
{
	const char *h = reel_http_header(req, "X-Test");

	(void)arg;
	return text(req, 200, h ? h : "(none)");
}

static int stream(struct reel_http_req *req, void *arg)
{
	char chunk[32];
	int r = reel_http_stream_begin(req, 200, "text/plain", 1);

	(void)arg;
	for (int i = 0; r == 0 && i < 10; i++) {
		if (i > 0 && (r = reel_sleep(20 * MS)) < 0)
			break;
		r = reel_http_stream_write(req, chunk, (size_t)snprintf(chunk, sizeof(chunk), "chunk %d\n", i));
	}
	return r < 0 ? r : reel_http_stream_end(req);
}

static int big_stream(struct reel_http_req *req, void *arg)
{
	static char chunk[64 * 1024];
	int r = reel_http_stream_begin(req, 200, "application/octet-stream", 1);

	(void)arg;
	memset(chunk, 'b', sizeof(chunk));
	while (r == 0)
		r = reel_http_stream_write(req, chunk, sizeof(chunk));
	return r;  /* a write error: the client stopped reading or left */
}

static int sse(struct reel_http_req *req, void *arg)
{
	long n = query_num(req, "n", 5), ms = query_num(req, "ms", 100);
	char id[24], data[32];
	struct reel_http_event ev = { .event = "tick", .id = id, .data = data };
	int r = reel_http_sse_begin(req);

	(void)arg;
	for (long i = 0; r == 0 && i < n; i++) {
		if (i > 0 && (r = reel_sleep((uint64_t)ms * MS)) < 0)
			break;
		snprintf(id, sizeof(id), "%ld", i);
		snprintf(data, sizeof(data), "count %ld", i);
		r = reel_http_sse_send(req, &ev);
	}
	return r < 0 ? r : reel_http_stream_end(req);
}

static int slow(struct reel_http_req *req, void *arg)
{
	int r = reel_sleep((uint64_t)query_num(req, "ms", 100) * MS);

	(void)arg;
	return r < 0 ? r : text(req, 200, "slept\n");
}

static int produce(struct reel_gen *g, void *arg)
{
	long n = (long)(intptr_t)arg;
	char line[32];
	struct reel_http_chunk c = { .data = line };
	int r = 0;

	for (long i = 0; n == 0 || i < n; i++) {
		if ((r = reel_sleep(10 * MS)) < 0)
			break;
		c.len = (size_t)snprintf(line, sizeof(line), "gen %ld\n", i);
		if ((r = reel_gen_yield(g, &c)) < 0)
			break;
	}
	if (r == -ECANCELED)
		gen_cancelled++;
	return r;
}

static int gen(struct reel_http_req *req, void *arg)
{
	struct reel_gen g;
	int r = reel_gen_start(&g, produce, (void *)(intptr_t)query_num(req, "n", 0), NULL);

	(void)arg;
	return r < 0 ? r : reel_http_stream_gen(req, 200, "text/plain", &g);
}

static int stats(struct reel_http_req *req, void *arg)
{
	struct reel_http_server_stats st;
	char body[512];
	int n;

	(void)arg;
	reel_http_server_stats(srv, &st);
	n = snprintf(body, sizeof(body),
		     "{\"connections\":%" PRIu64 ",\"open\":%" PRIu64 ",\"requests\":%" PRIu64
		     ",\"rejected\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"idle_reaped\":%" PRIu64
		     ",\"peer_gone\":%" PRIu64 ",\"gen_cancelled\":%" PRIu64 "}\n",
		     st.connections, st.open, st.requests, st.rejected, st.timeouts,
		     st.idle_reaped, st.peer_gone, gen_cancelled);
	return reel_http_respond(req, 200, "application/json", body, (size_t)n);
}

/* Prints "port N" once the server listens (PORT 0 only). */
static int announce(void *arg)
{
	int port;

	(void)arg;
	while ((port = reel_http_port(srv)) < 0) {
		int r = reel_sleep(1 * MS);

		if (r < 0)
			return r;
	}
	printf("port %d\n", port);
	fflush(stdout);
	return 0;
}

static const struct {
	const char *method, *pattern;
	reel_http_handler fn;
} routes[] = {
	{ "GET", "/hello", hello },         { "POST", "/echo", echo },
	{ "POST", "/echo-all", echo_all },  { "GET", "/users/{id}", user },
	{ "GET", "/files/{rest...}", files }, { "GET", "/query", query },
	{ "GET", "/header", header },       { "GET", "/stream", stream },
	{ "GET", "/big-stream", big_stream }, { "GET", "/sse", sse },
	{ "GET", "/slow", slow },           { "GET", "/gen", gen },
	{ "GET", "/stats", stats },
};

static int app(void *arg)
{
	const struct reel_http_server_opts *opts = arg;
	reel_task t = { 0 };
	int r = reel_http_server_create(&srv, opts);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < sizeof(routes) / sizeof(routes[0]); i++)
		r = reel_http_route(srv, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
	if (r == 0 && (r = reel_spawn(&t, announce, NULL, NULL)) == 0) {
		r = reel_http_serve_tcp(srv, "127.0.0.1", (uint16_t)want_port);
		reel_cancel(t);
		reel_join(t, NULL);
	}
	reel_http_server_destroy(srv);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "header-timeout-ms", required_argument, NULL, 'h' },
		{ "idle-timeout-ms", required_argument, NULL, 'i' },
		{ "body-timeout-ms", required_argument, NULL, 'b' },
		{ "write-timeout-ms", required_argument, NULL, 'w' },
		{ "handler-timeout-ms", required_argument, NULL, 'H' },
		{ "shutdown-timeout-ms", required_argument, NULL, 's' },
		{ "sse-keepalive-ms", required_argument, NULL, 'k' },
		{ "max-connections", required_argument, NULL, 'c' },
		{ "max-body", required_argument, NULL, 'm' },
		{ 0 }
	};
	struct reel_http_server_opts opts = { .flags = REEL_HTTP_SIGNALS };
	struct rlimit rl;
	sigset_t stop;
	int c, status = 0, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		unsigned long long v;

		if (c == '?')
			return 2;
		v = strtoull(optarg, NULL, 10);
		switch (c) {
		case 'h': opts.header_timeout_ns = v * MS; break;
		case 'i': opts.idle_timeout_ns = v * MS; break;
		case 'b': opts.body_timeout_ns = v * MS; break;
		case 'w': opts.write_timeout_ns = v * MS; break;
		case 'H': opts.handler_timeout_ns = v * MS; break;
		case 's': opts.shutdown_timeout_ns = v * MS; break;
		case 'k': opts.sse_keepalive_ns = v * MS; break;
		case 'c': opts.max_connections = (unsigned)v; break;
		case 'm': opts.max_body = (size_t)v; break;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s PORT [options]\n", argv[0]);
		return 2;
	}
	want_port = atoi(argv[optind]);

	/* Thousands of connections: the soft descriptor limit up to the hard. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Blocked from the start, so a SIGTERM that comes early still goes to
	 * the server's reel_signal_wait instead of killing the process. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	r = reel_run(app, &opts, NULL, &status);
	if (r < 0 || status < 0) {
		fprintf(stderr, "http_test_server: %s\n", reel_strerror(r < 0 ? r : status));
		return 1;
	}
	return 0;
}
