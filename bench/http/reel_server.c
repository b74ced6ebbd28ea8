/*
 * reel_server - reel's HTTP server under test in the HTTP benchmark
 * (bench/http/http.c), written to api/reel_http.h as an application would:
 * one loop, a fiber per connection, the routes and bodies of
 * bench/http/http_common.h.
 *
 * Usage: reel_http_server [--write-timeout-ms MS] [--loops N] PORT
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
 * --loops N serves on N loops (default: one per CPU this process may run
 * on; the benchmarks pin it to one CPU, so one loop), each with its own
 * server and its own SO_REUSEPORT socket on the port (reel_rt_listen_tcp);
 * SIGTERM then stops the runtime, which cancels every loop's server
 * (connections closed without the grace period), and the exit line sums
 * the loops' stats. One loop runs on the calling thread (reel_run).
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

#include <pthread.h>
#include <sched.h>

#include "reel.h"
#include "reel_http.h"
#include "reel_io.h"
#include "reel_rt.h"

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

/* The command line, shared by every loop (read only once they run). */
struct app {
	uint16_t port;
	uint64_t write_timeout_ns;
	long loops;
};

/* Every loop's stats, summed as each loop ends (under @lock). */
static struct {
	pthread_mutex_t lock;
	struct reel_http_server_stats st;
	bool stopped;           /* some loop's server ended on an error */
} sums = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void add_stats(struct reel_http_server *srv, bool stopped)
{
	struct reel_http_server_stats st;

	if (reel_http_server_stats(srv, &st) != 0)
		return;
	pthread_mutex_lock(&sums.lock);
	sums.st.connections += st.connections;
	sums.st.timeouts += st.timeouts;
	sums.st.open += st.open;
	sums.st.requests += st.requests;
	sums.st.rejected += st.rejected;
	sums.st.peer_gone += st.peer_gone;
	sums.stopped |= stopped;
	pthread_mutex_unlock(&sums.lock);
}

static void print_stats(void)
{
	const struct reel_http_server_stats *st = &sums.st;

	fprintf(stderr, PROG ": %s: %llu connections served, %llu dropped for not "
		"reading, %llu open; %llu requests, %llu rejected, %llu handlers "
		"cancelled (client gone)\n", sums.stopped ? "stopped" : "shut down",
		(unsigned long long)st->connections, (unsigned long long)st->timeouts,
		(unsigned long long)st->open, (unsigned long long)st->requests,
		(unsigned long long)st->rejected, (unsigned long long)st->peer_gone);
}

/* Listen (this loop's socket of the port's group), say where once (loop
 * 0), serve until SIGTERM. Several loops: the runtime's stop cancels us,
 * which is how they shut down. */
static int listen_and_serve(struct reel_http_server *srv, uint16_t port)
{
	int fd = reel_rt_listen_tcp("127.0.0.1", port, 0), err;

	if (fd < 0) {
		fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%u: %s\n", port,
			reel_strerror(fd));
		return fd;
	}
	if (reel_rt_index() == 0)
		echo_announce(PROG, reel_local_port(fd));
	err = reel_http_serve(srv, fd);
	reel_close(fd);
	if (err == -ECANCELED && reel_rt_loops() > 1)
		err = 0;
	if (err < 0)
		fprintf(stderr, PROG ": reel_http_serve: %s\n", reel_strerror(err));
	return err;
}

static int app(void *arg)
{
	const struct app *a = arg;
	struct reel_http_server_opts opts = {
		.max_connections = 20000,
		.write_timeout_ns = a->write_timeout_ns,
		.flags = reel_rt_loops() == 1 ? REEL_HTTP_SIGNALS : 0,
	};
	struct reel_http_server *srv;
	int err = reel_http_server_create(&srv, &opts);

	if (err < 0) {
		fprintf(stderr, PROG ": reel_http_server_create: %s\n", reel_strerror(err));
		return err;
	}
	if ((err = reel_http_route(srv, "GET", "/hello", hello, NULL)) < 0 ||
	    (err = reel_http_route(srv, "GET", "/stream", stream, NULL)) < 0 ||
	    (err = reel_http_route(srv, "GET", "/sse", sse, NULL)) < 0 ||
	    (err = reel_http_route(srv, "GET", "/big", big, NULL)) < 0)
		fprintf(stderr, PROG ": reel_http_route: %s\n", reel_strerror(err));
	else
		err = listen_and_serve(srv, a->port);
	add_stats(srv, err < 0);
	reel_http_server_destroy(srv);
	if (err < 0 && reel_rt_self())
		reel_rt_stop(reel_rt_self());   /* a loop that cannot serve stops them all */
	return err;
}

static long cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 1)
		return 1;
	return CPU_COUNT(&set);
}

/* Take "--write-timeout-ms MS" and "--loops N" off the front of argv. */
static void parse_options(int *argc, char ***argv, struct app *a)
{
	while (*argc >= 3 && (!strcmp((*argv)[1], "--write-timeout-ms") ||
			      !strcmp((*argv)[1], "--loops"))) {
		bool loops = !strcmp((*argv)[1], "--loops");
		long v = echo_parse_num((*argv)[2], 1, loops ? 1024 : 3600000);

		if (v < 0) {
			fprintf(stderr, PROG ": %s wants 1..%d\n", (*argv)[1],
				loops ? 1024 : 3600000);
			exit(2);
		}
		if (loops)
			a->loops = v;
		else
			a->write_timeout_ns = (uint64_t)v * 1000000u;
		(*argv)[2] = (*argv)[0];
		*argv += 2;
		*argc -= 2;
	}
}

int main(int argc, char **argv)
{
	/* Timers of 1 ms resolution, as nginx's and asyncio's (epoll_wait
	 * counts milliseconds): streams' sleeps that end within the same
	 * millisecond wake together and share one pass of the loop. */
	static const struct reel_run_opts run = { .tick_shift = 20 };
	struct app a = { .loops = cpu_count() };
	unsigned seconds;
	int port, status = 0, err;

	parse_options(&argc, &argv, &a);
	echo_server_args(argc, argv, "reel's HTTP server (bench/http)", &port, &seconds);
	(void)seconds;          /* stopped by SIGTERM, not a time limit */
	a.port = (uint16_t)port;
	echo_raise_nofile();
	if (a.loops > 1) {
		struct reel_rt_opts o = { .loops = (unsigned)a.loops, .run = &run };
		int st[1024] = { 0 };

		err = reel_rt_run(app, &a, &o, st, (unsigned)a.loops);
		for (long i = 0; i < a.loops; i++)
			status = st[i] < 0 ? st[i] : status;
	} else {
		err = reel_run(app, &a, &run, &status);
	}
	if (err < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a.loops > 1 ? "reel_rt_run" : "reel_run",
			reel_strerror(err));
		return 1;
	}
	print_stats();
	return status < 0 ? 1 : 0;
}
