/*
 * echo_server - a TCP echo server with one fiber per connection.
 *
 * Usage: echo_server PORT [--loops N]   (0: a free port; the port is printed)
 *
 * Listens on 127.0.0.1:PORT with N loops, one per CPU by default (the CPUs
 * this process may run on): a runtime of N threads (reel_rt_run), each
 * running the same main on a loop of its own, with a listening socket of
 * its own (reel_rt_listen_tcp: SO_REUSEPORT, the kernel spreads the
 * connections), so nothing is shared between loops but the totals printed
 * at the end. --loops 1 runs one loop on the calling thread (reel_run).
 *
 * On each loop, the main fiber is the accept loop: every
 * connection gets a fiber of its own, a child of one task group, that
 * receives (one multishot receive into a buffer pool shared by all
 * connections, reel_receiver) and writes back what it got with reel_send,
 * in plain sequential code, until the peer ends the stream, an error
 * occurs, or the peer has not read its echo for 5 s (reel_wait_for around
 * the send: such a peer is dropped); then it closes the socket with
 * reel_close. Each fiber parks only
 * itself, so 500 or 10 000 connections cost one parked fiber each, not one
 * thread each, and buffer memory follows the data in flight, not the
 * number of connections.
 *
 * SIGINT and SIGTERM stop it cleanly. With several loops the runtime
 * does it: it cancels every loop's main, which cancels its connections as
 * below. With one loop, a small fiber waits for them with
 * reel_signal_wait and cancels the accept loop, which then cancels the
 * group and waits for it: each connection's receive returns -ECANCELED, it
 * closes its socket, and once all are gone the pool is freed and the
 * process exits 0. The signal fiber runs (and reel_signal_wait makes the
 * loop's signalfd) before the server listens, while descriptors are still
 * free: a server that filled its descriptor table first could not make it
 * and would never hear SIGTERM. If it fails anyway, the server says so and
 * stops with a non-zero exit status instead of serving deaf.
 *
 * Try it:  ./echo_server 7000 &  then  ./echo_load -c 500 127.0.0.1 7000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "reel.h"
#include "reel_io.h"
#include "reel_rt.h"
#include "server_args.h"

#define BUF_SIZE 4096         /* one pool buffer */
#define BUF_COUNT 2048        /* pool buffers: 8 MiB */
#define SEND_TIMEOUT_NS (5ull * 1000000000)   /* a peer that reads nothing for 5 s goes */

struct server_args {
	int port;
	long loops;
	sigset_t stop;          /* SIGINT, SIGTERM: blocked before reel_run */
};

/* Each loop's own state: a loop is one thread, so thread-local plain
 * counters are enough; each loop adds its counts to @totals as it ends. */
static _Thread_local struct {
	reel_task main;         /* the accept loop, cancelled on a signal */
	struct reel_bufpool *pool;  /* receive buffers, shared by connections */
	uint64_t accepted;
	uint64_t open;
	uint64_t dropped;       /* peers that did not read for SEND_TIMEOUT_NS */
	int signo;              /* the signal that stopped us, or 0 */
	int signal_err;         /* why the signal fiber could not wait, or 0 */
} srv;

/* The sums over loops, for the last line (written under @lock). */
static struct {
	pthread_mutex_t lock;
	uint64_t accepted, open, dropped;
	int signo;
} totals = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void add_totals(void)
{
	pthread_mutex_lock(&totals.lock);
	totals.accepted += srv.accepted;
	totals.open += srv.open;
	totals.dropped += srv.dropped;
	if (srv.signo)
		totals.signo = srv.signo;
	pthread_mutex_unlock(&totals.lock);
}

/* Send all of @len bytes. reel_send adds MSG_NOSIGNAL, so a peer that went
 * away is -EPIPE here, not a SIGPIPE. (reel_write_all loops the same way but
 * writes like write(2): on a socket whose peer has gone it raises SIGPIPE,
 * which kills a server that does not ignore it.) */
static ssize_t send_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = reel_send(fd, buf + done, len - done, 0);

		if (n < 0)
			return n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

struct send_job {
	int fd;
	const void *buf;
	size_t len;
};

static int send_job(void *arg)
{
	struct send_job *j = arg;
	ssize_t n = send_all(j->fd, j->buf, j->len);

	return n < 0 ? (int)n : 0;
}

/* Echo @len bytes back, or give up after SEND_TIMEOUT_NS: a peer that sends
 * but does not read would otherwise keep this fiber, and the pool buffer
 * it holds, for ever. Returns 0 or -errno (-ETIMEDOUT: drop the peer). */
static int echo_back(int fd, const void *buf, size_t len)
{
	struct send_job j = { fd, buf, len };
	int st, err = reel_wait_for(SEND_TIMEOUT_NS, send_job, &j, &st);

	return err < 0 ? err : st;
}

/* One connection: echo until end of stream, an error, a peer that stops
 * reading, or cancellation. Receiving is one multishot receive for the
 * connection's whole life (reel_receiver): the kernel fills buffers of the
 * server's shared pool as data arrives, so a message costs one completion,
 * not a new receive request each time. A receiver holds at most its cap of
 * the pool (reel_receiver_set_cap; default 1/16 of it), and when the pool is
 * dry reel_receiver_next waits for a buffer to come back, so a few peers
 * that never read cannot starve the others; the send deadline then drops
 * them, which gives their buffers back. */
static int connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct reel_receiver rx;
	const void *data;
	ssize_t n;

	n = reel_receiver_init(&rx, fd, srv.pool);
	while (n == 0) {
		n = reel_receiver_next(&rx, &data);
		if (n <= 0)
			break;   /* 0: the peer is done; < 0: reset, or cancelled */
		n = echo_back(fd, data, (size_t)n);
		reel_receiver_release(&rx, data);
	}
	if (n == -ETIMEDOUT)
		srv.dropped++;
	reel_receiver_close(&rx);
	reel_close(fd);   /* closes even when we are being cancelled */
	srv.open--;
	return n < 0 && n != -ECANCELED && n != -ECONNRESET && n != -EPIPE &&
	       n != -ETIMEDOUT ? (int)n : 0;
}

/* Wait for SIGINT or SIGTERM, then stop the accept loop. A wait that
 * fails (not cancelled: no signalfd) stops it too, with the error. */
static int signals(void *arg)
{
	sigset_t *set = arg;
	int signo = reel_signal_wait(set, NULL);

	if (signo == -ECANCELED)
		return 0;   /* the server is ending anyway */
	if (signo < 0) {
		fprintf(stderr, "echo_server: cannot wait for signals: %s\n",
			reel_strerror(signo));
		srv.signal_err = signo;
	} else {
		srv.signo = signo;
	}
	return reel_cancel(srv.main);
}

/* Accept until cancelled. Connections are children of @conns: when the
 * accept loop ends, they are cancelled and awaited before we return, so
 * nothing outlives the buffer pool they receive into. */
static int serve(int lfd, struct reel_group *conns)
{
	static const struct reel_spawn_opts conn_opts = { .name = "connection" };
	struct reel_acceptor acc;
	int fd, err, one = 1;

	reel_acceptor_init(&acc, lfd);
	for (;;) {
		fd = reel_acceptor_accept(&acc);   /* multishot accept, EMFILE back-off */
		if (fd < 0)
			break;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		err = reel_group_spawn(conns, connection, (void *)(intptr_t)fd, &conn_opts);
		if (err < 0) {
			fprintf(stderr, "echo_server: spawn: %s\n", reel_strerror(err));
			reel_close(fd);
			continue;
		}
		srv.accepted++;
		srv.open++;
	}
	reel_acceptor_close(&acc);
	reel_group_cancel(conns);
	reel_group_wait(conns, NULL, 0, NULL);  /* not interruptible once cancelled */
	return fd == -ECANCELED ? 0 : fd;
}

static int main_fiber(void *arg)
{
	static const struct reel_spawn_opts sig_opts = { .name = "signals" };
	struct server_args *args = arg;
	struct reel_group conns;
	int port = args->port;
	int lfd, err;
	reel_task t;

	/* One loop: the signal fiber first, and let it run once: it blocks
	 * the signals and makes the loop's signalfd while descriptors are
	 * still free. Several: the runtime stops us on a signal. */
	srv.main = reel_self();
	if (reel_rt_loops() == 1) {
		err = reel_spawn(&t, signals, &args->stop, &sig_opts);
		if (err < 0) {
			fprintf(stderr, "echo_server: spawn: %s\n", reel_strerror(err));
			return err;
		}
		reel_detach(t);
		reel_yield();
		if (srv.signal_err)
			return srv.signal_err;
	}
	lfd = reel_rt_listen_tcp("127.0.0.1", (uint16_t)port, 0);
	if (lfd < 0) {
		fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%d: %s\n", port,
			reel_strerror(lfd));
		return lfd;
	}
	srv.pool = reel_bufpool_create(BUF_COUNT, BUF_SIZE, &err);
	if (!srv.pool) {
		fprintf(stderr, "echo_server: buffer pool: %s\n", reel_strerror(err));
		close(lfd);
		return err;
	}
	if (reel_rt_index() == 0) {
		printf("echo_server: listening on 127.0.0.1:%d (%d loop%s)\n",
		       reel_local_port(lfd), reel_rt_loops(), reel_rt_loops() > 1 ? "s" : "");
		fflush(stdout);
	}

	reel_group_init(&conns);
	err = serve(lfd, &conns);
	close(lfd);   /* the acceptor has let go of it: nothing is in flight */
	reel_bufpool_destroy(srv.pool);
	if (err < 0)
		fprintf(stderr, "echo_server: accept: %s\n", reel_strerror(err));
	else if (srv.signal_err)
		err = srv.signal_err;   /* stopped because it could not hear signals */
	add_totals();
	return err;
}

/* The last line, over every loop (bench/soak and tests read it). */
static void print_totals(void)
{
	fprintf(stderr, "echo_server: %s%s: %llu connections served, %llu dropped for not "
		"reading, %llu open; exiting\n",
		totals.signo ? "signal " : "stopped", totals.signo ? strsignal(totals.signo) : "",
		(unsigned long long)totals.accepted, (unsigned long long)totals.dropped,
		(unsigned long long)totals.open);
}

/* PORT [--loops N] into @args; 0, or 2 after the usage line. */
static int parse_args(int argc, char **argv, struct server_args *args)
{
	long port;
	int r = parse_server_args(argc, argv, &port, &args->loops);

	args->port = (int)port;
	return r;
}

/* A loop's main: a loop that cannot serve stops the others too, rather
 * than leave a server that serves on some loops only. */
static int loop_main(void *arg)
{
	int err = main_fiber(arg);

	if (err < 0)
		reel_rt_stop(reel_rt_self());
	return err;
}

/* Several loops: a runtime, which stops every loop on SIGINT / SIGTERM. */
static int run_loops(struct server_args *args)
{
	struct reel_rt_opts opts = { .loops = (unsigned)args->loops };
	int *status = calloc((size_t)args->loops, sizeof(*status));
	int err, failed = 0;

	if (!status)
		return 1;
	err = reel_rt_run(loop_main, args, &opts, status, (unsigned)args->loops);
	if (err < 0)
		fprintf(stderr, "echo_server: reel_rt_run: %s\n", reel_strerror(err));
	for (long i = 0; i < args->loops && err >= 0; i++)
		failed |= status[i] < 0;
	free(status);
	print_totals();
	return err < 0 || failed;
}

int main(int argc, char **argv)
{
	struct server_args args;
	struct rlimit rl;
	int status, err;

	if (parse_args(argc, argv, &args))
		return 2;
	/* A server with hundreds of connections needs more than ulimit -n 1024. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (args.loops > 1)
		return run_loops(&args);
	/* Blocked from the start, so a signal that comes before the signal
	 * fiber first runs waits for it instead of killing the process. */
	sigemptyset(&args.stop);
	sigaddset(&args.stop, SIGINT);
	sigaddset(&args.stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &args.stop, NULL);

	err = reel_run(main_fiber, &args, NULL, &status);
	if (err < 0) {
		fprintf(stderr, "echo_server: reel_run: %s\n", reel_strerror(err));
		return 1;
	}
	print_totals();
	return status < 0 ? 1 : 0;
}
