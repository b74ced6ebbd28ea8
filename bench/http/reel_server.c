/*
 * reel_server - reel's HTTP server under test in the HTTP benchmark
 * (bench/http/http.c), written to api/reel_http.h as an application would:
 * one loop, a fiber per connection, the routes and bodies of
 * bench/http/http_common.h.
 *
 * Usage: reel_http_server [--write-timeout-ms MS] PORT
 *
 *   GET /hello   reel_http_respond 200 text/plain "hello, world\n"
 *   GET /stream  reel_http_stream_begin, then "chunk 0\n" .. "chunk 9\n",
 *                each a reel_http_stream_write, reel_sleep(20 ms) between
 *                them, then reel_http_stream_end
 *   GET /sse     reel_http_sse_begin, then "data: tick N" every second
 *                (reel_sleep) until the client leaves
 *   GET /big     for the soak's slow readers (bench/soak): 16 KiB chunks
 *                back to back, HTTP_BIG_CHUNKS of them (1 GiB, far more
 *                than any reader takes), so that a reader that stops
 *                reading fills the socket and meets the write timeout
 *
 * --write-timeout-ms sets reel_http_server_opts.write_timeout_ns (default:
 * the library's 30 s); the soak gives 5 s, as its echo server gives a peer
 * that does not read.
 *
 * Prints "reel_http_server: listening on 127.0.0.1:PORT" once it listens;
 * SIGTERM or SIGINT start the server's graceful shutdown (REEL_HTTP_SIGNALS)
 * and it exits 0 after one line on stderr from reel_http_server_stats:
 * "N connections served, N dropped for not reading, N open; ..." (the line
 * bench/soak/soak.c reads, as it reads examples/echo_server's; "dropped for
 * not reading" is the stats' timeouts, which also count header and idle
 * timeouts, none of which the soak's clients provoke). The loop's timer tick is 2^20 ns (about 1 ms), the
 * resolution nginx's and asyncio's timers have. max_connections is raised to 20,000 for the benchmark's
 * 10,000 event streams, and the descriptor limit to its hard limit.
 */
#include "http_common.h"

#include "reel.h"
#include "reel_http.h"

#define PROG "reel_http_server"

static int hello(struct reel_http_req *req, void *arg)
{
	(void)arg;
	return reel_http_respond(req, 200, "text/plain", HTTP_HELLO_BODY,
				 sizeof(HTTP_HELLO_BODY) - 1);
}

static int stream(struct reel_http_req *req, void *arg)
{
	char chunk[32];
	int err = reel_http_stream_begin(req, 200, "text/plain", 0);

	(void)arg;
	for (unsigned i = 0; err == 0 && i < HTTP_STREAM_CHUNKS; i++) {
		int n = http_stream_chunk(chunk, sizeof(chunk), i);

		if (i)
			err = reel_sleep(HTTP_STREAM_GAP_MS * 1000000ull);
		if (err == 0)
			err = reel_http_stream_write(req, chunk, (size_t)n);
	}
	return err ? err : reel_http_stream_end(req);
}

#define HTTP_BIG_CHUNK (16 * 1024)
#define HTTP_BIG_CHUNKS (64 * 1024)

static int big(struct reel_http_req *req, void *arg)
{
	static char chunk[HTTP_BIG_CHUNK];
	int err = reel_http_stream_begin(req, 200, "application/octet-stream", 0);

	(void)arg;
	if (!chunk[0])
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = (char)('a' + i % 26);
	for (unsigned i = 0; err == 0 && i < HTTP_BIG_CHUNKS; i++)
		err = reel_http_stream_write(req, chunk, sizeof(chunk));
	return err ? err : reel_http_stream_end(req);
}

static int sse(struct reel_http_req *req, void *arg)
{
	char data[32];
	int err = reel_http_sse_begin(req);
	uint64_t next = reel_now();

	(void)arg;
	for (unsigned i = 0; err == 0; i++) {
		struct reel_http_event ev = { .data = data };
		uint64_t now;

		snprintf(data, sizeof(data), "tick %u", i);
		err = reel_http_sse_send(req, &ev);
		/* One a second on the clock, not a second after each send. */
		next += HTTP_SSE_PERIOD_MS * 1000000ull;
		now = reel_now();
		if (err == 0)
			err = reel_sleep(next > now ? next - now : 0);
	}
	return err == -ECANCELED || err == -EPIPE || err == -ECONNRESET ? 0 : err;
}

struct app {
	uint16_t port;
	uint64_t write_timeout_ns;
	struct reel_http_server *srv;
};

/* Say where the server listens once it does. */
static int announce(void *arg)
{
	struct app *a = arg;
	int port;

	while ((port = reel_http_port(a->srv)) == -ENOTCONN)
		if (reel_sleep(1000000) < 0)
			return 0;
	if (port > 0)
		echo_announce(PROG, port);
	return 0;
}

static int app(void *arg)
{
	struct app *a = arg;
	struct reel_http_server_opts opts = {
		.max_connections = 20000,
		.write_timeout_ns = a->write_timeout_ns,
		.flags = REEL_HTTP_SIGNALS,
	};
	struct reel_http_server_stats st;
	reel_task t;
	int err = reel_http_server_create(&a->srv, &opts);

	if (err < 0) {
		fprintf(stderr, PROG ": reel_http_server_create: %s\n", reel_strerror(err));
		return err;
	}
	if ((err = reel_http_route(a->srv, "GET", "/hello", hello, NULL)) < 0 ||
	    (err = reel_http_route(a->srv, "GET", "/stream", stream, NULL)) < 0 ||
	    (err = reel_http_route(a->srv, "GET", "/sse", sse, NULL)) < 0 ||
	    (err = reel_http_route(a->srv, "GET", "/big", big, NULL)) < 0) {
		fprintf(stderr, PROG ": reel_http_route: %s\n", reel_strerror(err));
		reel_http_server_destroy(a->srv);
		return err;
	}
	if ((err = reel_spawn(&t, announce, a, NULL)) < 0) {
		fprintf(stderr, PROG ": reel_spawn: %s\n", reel_strerror(err));
		reel_http_server_destroy(a->srv);
		return err;
	}
	err = reel_http_serve_tcp(a->srv, "127.0.0.1", a->port);
	if (err < 0)
		fprintf(stderr, PROG ": reel_http_serve_tcp: %s\n", reel_strerror(err));
	reel_cancel(t);
	reel_join(t, NULL);
	if (reel_http_server_stats(a->srv, &st) == 0)
		fprintf(stderr, PROG ": %s: %llu connections served, %llu dropped for not "
			"reading, %llu open; %llu requests, %llu rejected, %llu handlers "
			"cancelled (client gone)\n", err < 0 ? "stopped" : "shut down",
			(unsigned long long)st.connections, (unsigned long long)st.timeouts,
			(unsigned long long)st.open, (unsigned long long)st.requests,
			(unsigned long long)st.rejected, (unsigned long long)st.peer_gone);
	reel_http_server_destroy(a->srv);
	return err;
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	unsigned seconds;
	int port, status = 0, err;

	if (argc >= 3 && strcmp(argv[1], "--write-timeout-ms") == 0) {
		long ms = echo_parse_num(argv[2], 1, 3600000);

		if (ms < 0) {
			fprintf(stderr, PROG ": --write-timeout-ms wants 1..3600000\n");
			return 2;
		}
		a.write_timeout_ns = (uint64_t)ms * 1000000u;
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	echo_server_args(argc, argv, "reel's HTTP server (bench/http)", &port, &seconds);
	(void)seconds;          /* stopped by SIGTERM, not a time limit */
	a.port = (uint16_t)port;
	echo_raise_nofile();
	/* Timers of 1 ms resolution, as nginx's and asyncio's (epoll_wait
	 * counts milliseconds): streams' sleeps that end within the same
	 * millisecond wake together and share one pass of the loop. */
	err = reel_run(app, &a, &(struct reel_run_opts){ .tick_shift = 20 }, &status);
	if (err < 0) {
		fprintf(stderr, PROG ": reel_run: %s\n", reel_strerror(err));
		return 1;
	}
	return status < 0 ? 1 : 0;
}
