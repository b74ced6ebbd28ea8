/*
 * http_hello - a small HTTP app, the C spelling of a FastAPI one:
 *
 *	@app.get("/hello")          -> 200 text/plain
 *	@app.get("/users/{id}")     -> 200 application/json (422 if id is not
 *	                               a number, as FastAPI's `id: int`)
 *	@app.get("/stream")         -> StreamingResponse: 10 chunks, 20 ms apart
 *	/metrics                    -> Prometheus text: the loop's and the
 *	                               server's counters (reel_http_metrics)
 *	anything else               -> 404 {"detail":"Not Found"}
 *
 * Usage: http_hello PORT [--loops N]     (PORT 0: a free port; it is printed)
 *
 * Every connection is a fiber of the server; a handler is plain sequential
 * code that may park (the /stream generator sleeps between chunks) without
 * holding up the other connections. The streamed answer comes from a
 * reel_gen generator handed to reel_http_stream_gen: the producer runs only
 * when the server asks for the next chunk, so it never gets ahead of a slow
 * client, and a client that leaves closes it (its reel_gen_yield returns
 * -ECANCELED).
 *
 * SIGTERM or SIGINT stops it gracefully (REEL_HTTP_SIGNALS): no new
 * connections, requests in flight finish, then exit 0.
 *
 * --loops N (default: one per CPU this process may run on) serves on N
 * loops, a thread each (reel_rt_run): every loop has its own server and
 * its own listening socket on the same port (reel_rt_listen_tcp, so the
 * kernel spreads connections over them), and nothing else is shared. The
 * graceful shutdown then goes through loop 0: its signal fiber hears
 * SIGTERM and asks every loop, with reel_loop_call, to shut its own server
 * down (a server is touched only from its loop). --loops 1 is one loop on
 * the calling thread, as before.
 *
 * Try it:  ./http_hello 8080 &  curl localhost:8080/users/42
 *          curl -N localhost:8080/stream
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "reel_http.h"
#include "reel_io.h"
#include "reel_rt.h"
#include "server_args.h"

#define STREAM_CHUNKS 10
#define STREAM_GAP_MS 20

static int hello(struct reel_http_req *req, void *arg)
{
	static const char body[] = "hello from reel\n";

	(void)arg;
	return reel_http_respond(req, 200, "text/plain; charset=utf-8", body, sizeof(body) - 1);
}

/* GET /users/{id}: the path parameter, checked as FastAPI checks `id: int`. */
static int user(struct reel_http_req *req, void *arg)
{
	const char *id = reel_http_param(req, "id");
	char body[160];
	char *end;
	long long n;
	int len;

	(void)arg;
	errno = 0;
	n = id ? strtoll(id, &end, 10) : -1;
	if (n < 0 || !*id || *end || errno) {
		static const char bad[] =
			"{\"detail\":\"user id must be a non-negative integer\"}";
		return reel_http_respond(req, 422, "application/json", bad, sizeof(bad) - 1);
	}
	len = snprintf(body, sizeof(body), "{\"id\":%lld,\"name\":\"user %lld\",\"fibers\":true}",
		       n, n);
	return reel_http_respond(req, 200, "application/json", body, (size_t)len);
}

/* The producer of GET /stream: one chunk every STREAM_GAP_MS. The chunk
 * and its text live in this frame, which stays put while the generator is
 * parked in reel_gen_yield, which is as long as the server needs them. */
static int ticker(struct reel_gen *g, void *arg)
{
	uint64_t t0 = reel_now();
	struct reel_http_chunk chunk;
	char line[64];
	int err;

	(void)arg;
	for (int i = 1; i <= STREAM_CHUNKS; i++) {
		if (i > 1 && (err = reel_sleep(MSEC(STREAM_GAP_MS))) < 0)
			return err;     /* the client left: nothing to clean up */
		chunk.data = line;
		chunk.len = (size_t)snprintf(line, sizeof(line), "chunk %d of %d at %.0f ms\n",
					     i, STREAM_CHUNKS, ms_since(t0));
		if ((err = reel_gen_yield(g, &chunk)) < 0)
			return err;
	}
	return 0;
}

/* GET /stream: StreamingResponse(ticker()). */
static int stream(struct reel_http_req *req, void *arg)
{
	struct reel_gen g;
	int err;

	(void)arg;
	if ((err = reel_gen_start(&g, ticker, NULL, NULL)) < 0)
		return err;     /* nothing answered yet: the server says 500 */
	return reel_http_stream_gen(req, 200, "text/plain; charset=utf-8", &g);
}

static int not_found(struct reel_http_req *req, void *arg)
{
	static const char body[] = "{\"detail\":\"Not Found\"}";

	(void)arg;
	return reel_http_respond(req, 404, "application/json", body, sizeof(body) - 1);
}

/* Each loop's server, touched only by fibers of that loop (a thread each). */
static _Thread_local struct {
	struct reel_http_server *srv;
	bool serving;           /* reel_http_serve has begun */
	bool stopping;          /* shut down before it began: do not serve */
} loop_srv;

/* Run on each loop by loop 0's signal fiber: shut this loop's server down
 * gracefully, or make sure it never starts serving. */
static int shutdown_here(void *arg)
{
	(void)arg;
	loop_srv.stopping = true;
	return loop_srv.serving ? reel_http_shutdown(loop_srv.srv) : 0;
}

/* Loop 0, several loops: wait for SIGINT / SIGTERM (blocked in every
 * thread before the runtime started), then shut every loop's server down:
 * the others first, each call awaited, and this loop's last, without
 * parking after it - loop 0's main cancels this fiber once its own server
 * is down, and a cancel in mid-loop would leave a loop serving. */
static int signals(void *arg)
{
	sigset_t *set = arg;
	int signo = reel_signal_wait(set, NULL), st;

	if (signo < 0)
		return signo == -ECANCELED ? 0 : signo;
	for (int i = 1; i < reel_rt_loops(); i++)
		reel_loop_call(i, shutdown_here, NULL, &st);
	return shutdown_here(NULL);
}

/* Serve on @fd until shut down; a loop asked to stop before it got here
 * does not begin (nothing parks between the check and serving). */
static int serve(struct reel_http_server *srv, int fd)
{
	if (loop_srv.stopping)
		return 0;
	loop_srv.serving = true;
	return reel_http_serve(srv, fd);
}

static int main_fiber(void *arg)
{
	struct reel_http_server_opts opts = {
		.flags = reel_rt_loops() == 1 ? REEL_HTTP_SIGNALS : 0,
		.shutdown_timeout_ns = MSEC(3000),
	};
	int port = (int)(intptr_t)arg;
	struct reel_http_server *srv;
	int fd, err;

	if ((err = reel_http_server_create(&srv, &opts)) < 0) {
		fprintf(stderr, "http_hello: server: %s\n", reel_strerror(err));
		return err;
	}
	if ((err = reel_http_route(srv, "GET", "/hello", hello, NULL)) < 0 ||
	    (err = reel_http_route(srv, "GET", "/users/{id}", user, NULL)) < 0 ||
	    (err = reel_http_route(srv, "GET", "/stream", stream, NULL)) < 0 ||
	    (err = reel_http_metrics(srv, "/metrics")) < 0 ||
	    (err = reel_http_fallback(srv, not_found, NULL)) < 0) {
		fprintf(stderr, "http_hello: routes: %s\n", reel_strerror(err));
		goto destroy;
	}
	loop_srv.srv = srv;
	fd = reel_rt_listen_tcp("127.0.0.1", (uint16_t)port, 0);
	if (fd < 0) {
		err = fd;
		fprintf(stderr, "http_hello: cannot listen on 127.0.0.1:%d: %s\n", port,
			reel_strerror(err));
		goto destroy;
	}
	if (reel_rt_index() == 0) {
		printf("listening on 127.0.0.1:%d\n", reel_local_port(fd));
		fflush(stdout);
	}

	err = serve(srv, fd);                   /* until SIGTERM / SIGINT */
	close(fd);
	if (err < 0)
		fprintf(stderr, "http_hello: serve: %s\n", reel_strerror(err));
	else
		fprintf(stderr, "http_hello: shut down cleanly\n");
destroy:
	reel_http_server_destroy(srv);
	return err;
}

/* Several loops: loop 0 also runs the signal fiber (the runtime's own
 * signal handling would cancel the servers, without grace). */
static int loops_main(void *arg)
{
	static const struct reel_spawn_opts sig_opts = { .name = "signals" };
	static sigset_t stop;
	reel_task t;
	int err, st = 0;

	if (reel_rt_index() != 0) {
		err = main_fiber(arg);
		if (err < 0)
			reel_rt_stop(reel_rt_self());   /* not serving: stop the others too */
		return err;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if ((err = reel_spawn(&t, signals, &stop, &sig_opts)) < 0)
		return err;
	err = main_fiber(arg);
	if (err < 0)
		reel_rt_stop(reel_rt_self());
	reel_cancel(t);
	reel_join(t, &st);
	return err < 0 ? err : st;
}

static int run_loops(long loops, long port)
{
	struct reel_rt_opts opts = { .loops = (unsigned)loops, .flags = REEL_RT_NO_SIGNALS };
	int *status = calloc((size_t)loops, sizeof(*status));
	int err, failed = 0;

	if (!status)
		return 1;
	err = reel_rt_run(loops_main, (void *)(intptr_t)port, &opts, status, (unsigned)loops);
	if (err < 0)
		fprintf(stderr, "http_hello: reel_rt_run: %s\n", reel_strerror(err));
	for (long i = 0; i < loops && err >= 0; i++)
		failed |= status[i] < 0;
	free(status);
	return err < 0 || failed;
}

int main(int argc, char **argv)
{
	long port, loops;
	sigset_t stop;

	if (parse_server_args(argc, argv, &port, &loops))
		return 2;
	/* Blocked from the start (and so in every loop's thread): a SIGTERM
	 * that comes before the server listens for it waits instead of
	 * killing the process. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	if (loops > 1)
		return run_loops(loops, port);
	return example_run(main_fiber, (void *)(intptr_t)port);
}
