/*
 * Description: receivers over a shared buffer pool (engine/io/bufring.c:
 * provided buffer ring with multishot receive, and the plain-recv
 * fallback): every byte arrives once and in order, a receiver holding its
 * cap says -ENOBUFS and recovers without losing data, end of stream,
 * cancellation while waiting, many connections on one pool, bad arguments
 * and -EPERM outside a fiber. Regressions: never-reading peers do not
 * starve a well-behaved connection on the same pool, a dry pool parks the
 * caller (idle, cancellable, with a deadline) until a buffer comes back,
 * the per-receiver cap holds, and misuse (close twice, next or release after
 * close, double release, a foreign buffer) is -EINVAL, never a crash or a
 * buffer shared by two receives.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include "helpers.h"
#include "reel_io.h"

struct pair {
	int a, b;   /* connected stream sockets */
};

static int make_pair(struct pair *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	p->a = sv[0];
	p->b = sv[1];
	return 0;
}

struct sender {
	int fd;
	int pieces;
	size_t piece;
};

/* Send @pieces numbered bytes in pieces, yielding between them. */
static int send_pieces(void *arg)
{
	struct sender *s = arg;
	unsigned char buf[256];
	unsigned v = 0;

	for (int i = 0; i < s->pieces; i++) {
		for (size_t k = 0; k < s->piece; k++)
			buf[k] = (unsigned char)v++;
		FCHECK_EQ(reel_write_all(s->fd, buf, s->piece, NULL), (ssize_t)s->piece);
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	}
	FCHECK_EQ(reel_shutdown(s->fd, SHUT_WR), 0);
	return 0;
}

/* Receive until end of stream; every byte must be the next number. */
static int receive_all(struct reel_receiver *rx, size_t want)
{
	const void *data;
	unsigned v = 0;
	size_t got = 0;
	ssize_t n;

	while ((n = reel_receiver_next(rx, &data)) > 0) {
		for (ssize_t k = 0; k < n; k++)
			FCHECK_EQ(((const unsigned char *)data)[k], (unsigned char)v++);
		got += (size_t)n;
		reel_receiver_release(rx, data);
	}
	FCHECK_EQ(n, 0);
	FCHECK_EQ(got, want);
	FCHECK_EQ(reel_receiver_next(rx, &data), 0);   /* end stays end */
	return 0;
}

static int in_order_main(void *arg)
{
	bool want_kernel = *(bool *)arg;
	struct sender s = { .pieces = 200, .piece = 100 };
	struct reel_receiver rx;
	struct reel_bufpool *pool;
	struct pair p = { -1, -1 };
	reel_task t;
	int err;

	FCHECK_EQ(make_pair(&p), 0);
	pool = reel_bufpool_create(8, 64, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(pool), want_kernel);
	FCHECK_EQ(reel_receiver_init(&rx, p.b, pool), 0);
	s.fd = p.a;
	FCHECK_EQ(reel_spawn(&t, send_pieces, &s, NULL), 0);
	FCHECK_EQ(receive_all(&rx, 200 * 100), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), -EBUSY);   /* still in use */
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(reel_close(p.a), 0);
	FCHECK_EQ(reel_close(p.b), 0);
	return 0;
}

static void test_io_bufring_every_byte_once_in_order(void **state)
{
	bool kernel = true, fallback = false;
	struct reel_run_opts o = { .disable = REEL_NO_BUF_RING };

	(void)state;
	run_ok(in_order_main, &kernel);
	run_ok_opts(in_order_main, &fallback, &o);
}

/* Two buffers (the receiver's cap), held by the caller: the call says
 * -ENOBUFS, as waiting could never end; after a release it goes on, and
 * nothing was lost. */
static int dry_pool_main(void *arg)
{
	struct sender s = { .pieces = 6, .piece = 16 };
	const void *held[2];
	const void *data;
	struct reel_receiver rx;
	struct reel_bufpool *pool;
	struct pair p = { -1, -1 };
	reel_task t;
	unsigned v = 0;
	size_t got = 0;
	ssize_t n;
	int err;

	(void)arg;
	FCHECK_EQ(make_pair(&p), 0);
	pool = reel_bufpool_create(2, 16, &err);
	FCHECK(pool && reel_bufpool_kernel_ring(pool));
	FCHECK_EQ(reel_receiver_init(&rx, p.b, pool), 0);
	s.fd = p.a;
	FCHECK_EQ(reel_spawn(&t, send_pieces, &s, NULL), 0);
	for (int i = 0; i < 2; i++) {
		n = reel_receiver_next(&rx, &held[i]);
		FCHECK_EQ(n, 16);
		for (ssize_t k = 0; k < n; k++)
			FCHECK_EQ(((const unsigned char *)held[i])[k], (unsigned char)v++);
		got += (size_t)n;
	}
	FCHECK_EQ(reel_sleep(20 * MS), 0);   /* more data arrives: no buffer */
	FCHECK_EQ(reel_receiver_next(&rx, &data), -ENOBUFS);
	reel_receiver_release(&rx, held[0]);
	reel_receiver_release(&rx, held[1]);
	while ((n = reel_receiver_next(&rx, &data)) > 0) {
		for (ssize_t k = 0; k < n; k++)
			FCHECK_EQ(((const unsigned char *)data)[k], (unsigned char)v++);
		got += (size_t)n;
		reel_receiver_release(&rx, data);
	}
	FCHECK_EQ(n, 0);
	FCHECK_EQ(got, 6 * 16);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(reel_close(p.a), 0);
	FCHECK_EQ(reel_close(p.b), 0);
	return 0;
}

static void test_io_bufring_at_cap_enobufs_then_recovers(void **state)
{
	(void)state;
	run_ok(dry_pool_main, NULL);
}

struct waiting {
	struct reel_receiver rx;
	int result;
};

static int wait_next(void *arg)
{
	struct waiting *w = arg;
	const void *data;

	w->result = (int)reel_receiver_next(&w->rx, &data);
	return 0;
}

/* Cancelled while waiting: -ECANCELED; the data that comes later is still
 * received by the next call, and close lets everything go. */
static int cancel_main(void *arg)
{
	struct waiting w = { .result = 1 };
	struct reel_bufpool *pool;
	const void *data;
	struct pair p = { -1, -1 };
	reel_task t;
	int err;

	(void)arg;
	FCHECK_EQ(make_pair(&p), 0);
	pool = reel_bufpool_create(4, 32, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_receiver_init(&w.rx, p.b, pool), 0);
	FCHECK_EQ(reel_spawn(&t, wait_next, &w, NULL), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(w.result, -ECANCELED);
	FCHECK_EQ(reel_write_all(p.a, "late", 4, NULL), 4);
	FCHECK_EQ(reel_receiver_next(&w.rx, &data), 4);
	FCHECK(memcmp(data, "late", 4) == 0);
	reel_receiver_release(&w.rx, data);
	FCHECK_EQ(reel_receiver_close(&w.rx), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(reel_close(p.a), 0);
	FCHECK_EQ(reel_close(p.b), 0);
	return 0;
}

static void test_io_bufring_cancel_while_waiting(void **state)
{
	(void)state;
	run_ok(cancel_main, NULL);
}

/* 50 connections share one pool of 16 buffers. */
struct pool_conn {
	struct reel_bufpool *pool;
	struct pair p;
	struct sender s;
};

static int conn_receiver(void *arg)
{
	struct pool_conn *c = arg;
	struct reel_receiver rx;
	int r;

	FCHECK_EQ(reel_receiver_init(&rx, c->p.b, c->pool), 0);
	r = receive_all(&rx, c->s.pieces * c->s.piece);
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	return r;
}

static int shared_pool_main(void *arg)
{
	enum { N = 50 };
	struct pool_conn c[N];
	reel_task snd[N], rcv[N];
	struct reel_bufpool *pool;
	int err, st;

	(void)arg;
	pool = reel_bufpool_create(16, 128, &err);
	FCHECK(pool != NULL);
	for (int i = 0; i < N; i++) {
		c[i].pool = pool;
		FCHECK_EQ(make_pair(&c[i].p), 0);
		c[i].s = (struct sender){ .fd = c[i].p.a, .pieces = 20, .piece = 50 };
		FCHECK_EQ(reel_spawn(&rcv[i], conn_receiver, &c[i], NULL), 0);
		FCHECK_EQ(reel_spawn(&snd[i], send_pieces, &c[i].s, NULL), 0);
	}
	for (int i = 0; i < N; i++) {
		FCHECK_EQ(reel_join(snd[i], &st), 0);
		FCHECK_EQ(st, 0);
		FCHECK_EQ(reel_join(rcv[i], &st), 0);
		FCHECK_EQ(st, 0);
		FCHECK_EQ(reel_close(c[i].p.a), 0);
		FCHECK_EQ(reel_close(c[i].p.b), 0);
	}
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	return 0;
}

static void test_io_bufring_many_connections_one_pool(void **state)
{
	(void)state;
	run_ok(shared_pool_main, NULL);
}

static void test_io_bufring_bad_arguments(void **state)
{
	int err = 0;

	(void)state;
	assert_null(reel_bufpool_create(8, 64, &err));   /* outside a fiber */
	assert_int_equal(err, -EPERM);
}

static void test_io_bufring_eperm_outside_fiber(void **state)
{
	int err = 0;

	(void)state;
	assert_null(reel_bufpool_create(8, 4096, &err));
	assert_int_equal(err, -EPERM);
}

/* ---- regressions: hogs, a dry pool, the cap, misuse ------------------------- */

static const struct reel_run_opts fallback_opts = { .disable = REEL_NO_BUF_RING };

/* Run @fn under the kernel ring, then under the plain-recv fallback. */
static void run_both(reel_fn fn)
{
	bool kernel = true, fallback = false;

	run_ok(fn, &kernel);
	run_ok_opts(fn, &fallback, &fallback_opts);
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* A peer that sends for ever and never reads. */
static int hog_client(void *arg)
{
	int fd = *(int *)arg;
	char buf[256];

	memset(buf, 'h', sizeof(buf));
	while (reel_write(fd, buf, sizeof(buf)) > 0)
		;
	return 0;
}

/* An echo connection: receive, send back; its peer may never read. */
static int echo_conn(void *arg)
{
	struct pool_conn *c = arg;
	struct reel_receiver rx;
	const void *data;
	ssize_t n;

	FCHECK_EQ(reel_receiver_init(&rx, c->p.b, c->pool), 0);
	while ((n = reel_receiver_next(&rx, &data)) > 0) {
		n = reel_send(c->p.b, data, (size_t)n, 0);
		FCHECK_EQ(reel_receiver_release(&rx, data), 0);
		if (n < 0)
			break;
	}
	FCHECK(n == 0 || n == -ECANCELED);
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	return 0;
}

/* 8 peers send and never read, each served by an echo fiber that ends up
 * blocked in its send, and 64 more connections are idle (their receives
 * wait for data); a well-behaved connection on the same pool of 64 keeps
 * its round trips (each well under 1 s), and nothing spins. */
static int hogs_main(void *arg)
{
	enum { HOGS = 8, IDLE = 64, N = HOGS + IDLE + 1, TRIPS = 20 };
	bool want_kernel = *(bool *)arg;
	struct pool_conn *c = calloc(N, sizeof(*c));
	reel_task srv[N], cli[HOGS];
	int small = 4096, err, st;
	struct pool_conn *good;
	char out[32], in[32];

	FCHECK(c != NULL);
	good = &c[N - 1];
	c[0].pool = reel_bufpool_create(64, 256, &err);   /* default cap: 4 */
	FCHECK(c[0].pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(c[0].pool), want_kernel);
	for (int i = 0; i < N; i++) {
		c[i].pool = c[0].pool;
		FCHECK_EQ(make_pair(&c[i].p), 0);
		FCHECK_EQ(setsockopt(c[i].p.b, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
		FCHECK_EQ(reel_spawn(&srv[i], echo_conn, &c[i], NULL), 0);
		if (i < HOGS)
			FCHECK_EQ(reel_spawn(&cli[i], hog_client, &c[i].p.a, NULL), 0);
	}
	FCHECK_EQ(reel_sleep(100 * MS), 0);   /* the hogs' echo fibers are stuck */
	for (int t = 0; t < TRIPS; t++) {
		uint64_t t0 = reel_now();

		memset(out, 'a' + t, sizeof(out));
		FCHECK_EQ(reel_write_all(good->p.a, out, sizeof(out), NULL), sizeof(out));
		FCHECK_EQ(reel_read_exact(good->p.a, in, sizeof(in), NULL), sizeof(in));
		FCHECK(memcmp(in, out, sizeof(in)) == 0);
		FCHECK(reel_now() - t0 < 1000 * MS);
	}
	FCHECK_EQ(reel_shutdown(good->p.a, SHUT_WR), 0);
	FCHECK_EQ(reel_join(srv[N - 1], &st), 0);
	FCHECK_EQ(st, 0);
	for (int i = 0; i < N - 1; i++) {
		if (i < HOGS) {
			FCHECK_EQ(reel_cancel(cli[i]), 0);
			FCHECK_EQ(reel_join(cli[i], NULL), 0);
		}
		FCHECK_EQ(reel_cancel(srv[i]), 0);
		FCHECK_EQ(reel_join(srv[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	for (int i = 0; i < N; i++) {
		FCHECK_EQ(reel_close(c[i].p.a), 0);
		FCHECK_EQ(reel_close(c[i].p.b), 0);
	}
	FCHECK_EQ(reel_bufpool_destroy(c[0].pool), 0);
	free(c);
	return 0;
}

static void test_regress_bufring_never_reading_peers_do_not_starve_others(void **state)
{
	(void)state;
	run_both(hogs_main);
}

/* Write @len bytes of @c to @fd, then take one chunk from @rx (kept). */
static int feed_and_take(int fd, struct reel_receiver *rx, char c, const void **held)
{
	char buf[16];

	memset(buf, c, sizeof(buf));
	FCHECK_EQ(reel_write_all(fd, buf, sizeof(buf), NULL), sizeof(buf));
	FCHECK_EQ(reel_receiver_next(rx, held), sizeof(buf));
	FCHECK_EQ(*(const char *)*held, c);
	return 0;
}

struct next_call {
	struct reel_receiver *rx;
	const void *data;
	ssize_t n;
};

static int call_next(void *arg)
{
	struct next_call *nc = arg;

	nc->n = reel_receiver_next(nc->rx, &nc->data);
	return 0;
}

/* Four buffers of 16 bytes, cap 2: receivers A and B hold two each, the
 * pool is dry. C's next parks: idle (no CPU), a deadline ends it with
 * -ETIMEDOUT, a cancel with -ECANCELED, and a release wakes it with the
 * data. A at its cap with nothing queued says -ENOBUFS. */
static int dry_parks_main(void *arg)
{
	bool want_kernel = *(bool *)arg;
	struct reel_receiver rx[3];
	const void *held[3][2];
	struct next_call nc = { .rx = &rx[2] };
	struct reel_bufpool *pool;
	struct pair p[3];
	uint64_t cpu0, cpu;
	reel_task t;
	int err, st;

	pool = reel_bufpool_create(4, 16, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(pool), want_kernel);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(make_pair(&p[i]), 0);
		FCHECK_EQ(reel_receiver_init(&rx[i], p[i].b, pool), 0);
	}
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++)
			FCHECK_EQ(feed_and_take(p[i].a, &rx[i], (char)('A' + i), &held[i][k]), 0);
	FCHECK_EQ(reel_write_all(p[2].a, "CCCC", 4, NULL), 4);

	cpu0 = cpu_ns();
	FCHECK_EQ(reel_wait_for(200 * MS, call_next, &nc, &st), -ETIMEDOUT);
	cpu = cpu_ns() - cpu0;
	FCHECK(nc.n != -ENOBUFS);
	FCHECK_EQ(nc.n, -ETIMEDOUT);
	FCHECK(cpu < 50 * MS);   /* parked, not spinning */

	FCHECK_EQ(reel_spawn(&t, call_next, &nc, NULL), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(nc.n, -ECANCELED);

	FCHECK_EQ(reel_spawn(&t, call_next, &nc, NULL), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_receiver_release(&rx[0], held[0][0]), 0);   /* wakes C */
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(nc.n, 4);
	FCHECK(memcmp(nc.data, "CCCC", 4) == 0);
	held[2][0] = nc.data;

	FCHECK_EQ(reel_receiver_next(&rx[1], &held[1][0]), -ENOBUFS);   /* at its cap */
	FCHECK_EQ(reel_receiver_release(&rx[1], held[1][1]), 0);
	FCHECK_EQ(reel_receiver_release(&rx[0], held[0][1]), 0);
	FCHECK_EQ(reel_receiver_release(&rx[2], held[2][0]), 0);
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_receiver_close(&rx[i]), 0);   /* B's held[1][0] too */
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_close(p[i].a), 0);
		FCHECK_EQ(reel_close(p[i].b), 0);
	}
	return 0;
}

static void test_regress_bufring_dry_pool_parks_until_release(void **state)
{
	(void)state;
	run_both(dry_parks_main);
}

static int join_task(void *arg)
{
	return reel_join(*(reel_task *)arg, NULL);
}

/* The woken waiter may not take the buffer that woke it: it is cancelled
 * (or its deadline passes, or its peer resets) before it runs, so the
 * buffer stays in the pool. The next waiter must not sleep on beside a free
 * buffer (it did: connections of the HTTP server waited for their header
 * timeout after a burst of resets had emptied and refilled the pool). */
static int no_lost_wakeup_main(void *arg)
{
	bool want_kernel = *(bool *)arg;
	struct reel_receiver rx[3];
	struct next_call nc[2] = { { .rx = &rx[1] }, { .rx = &rx[2] } };
	const void *held[2];
	struct reel_bufpool *pool;
	struct pair p[3];
	reel_task t[2];
	int err, st;

	pool = reel_bufpool_create(2, 16, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(pool), want_kernel);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(make_pair(&p[i]), 0);
		FCHECK_EQ(reel_receiver_init(&rx[i], p[i].b, pool), 0);
	}
	for (int k = 0; k < 2; k++)   /* A holds the whole pool */
		FCHECK_EQ(feed_and_take(p[0].a, &rx[0], 'A', &held[k]), 0);
	for (int i = 0; i < 2; i++) {  /* C, then D, wait for a buffer */
		FCHECK_EQ(reel_write_all(p[i + 1].a, "data", 4, NULL), 4);
		FCHECK_EQ(reel_spawn(&t[i], call_next, &nc[i], NULL), 0);
		FCHECK_EQ(reel_sleep(5 * MS), 0);
	}
	/* The release wakes C; C is cancelled before it runs. */
	FCHECK_EQ(reel_receiver_release(&rx[0], held[0]), 0);
	FCHECK_EQ(reel_cancel(t[0]), 0);
	FCHECK_EQ(reel_join(t[0], NULL), 0);
	FCHECK_EQ(nc[0].n, -ECANCELED);
	/* D gets its data from the buffer C left, without another release. */
	FCHECK_EQ(reel_wait_for(1 * SEC, join_task, &t[1], &st), 0);
	FCHECK_EQ(nc[1].n, 4);
	FCHECK_EQ(reel_receiver_release(&rx[2], nc[1].data), 0);
	FCHECK_EQ(reel_receiver_release(&rx[0], held[1]), 0);
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_receiver_close(&rx[i]), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_close(p[i].a), 0);
		FCHECK_EQ(reel_close(p[i].b), 0);
	}
	return 0;
}

static void test_regress_bufring_woken_waiter_passes_the_buffer_on(void **state)
{
	(void)state;
	run_both(no_lost_wakeup_main);
}

/* A receiver whose owner stops calling next holds at most its cap (4 of
 * 64) while its peer keeps sending; afterwards every byte still arrives
 * once and in order. */
static int cap_main(void *arg)
{
	bool want_kernel = *(bool *)arg;
	struct sender s = { .pieces = 60, .piece = 32 };
	const void *held[64];
	struct reel_receiver rx;
	struct reel_bufpool *pool;
	struct pair p = { -1, -1 };
	unsigned v = 0, nheld = 0;
	size_t got = 0;
	reel_task t;
	ssize_t n;
	int err;

	pool = reel_bufpool_create(64, 32, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(pool), want_kernel);
	FCHECK_EQ(make_pair(&p), 0);
	FCHECK_EQ(reel_receiver_init(&rx, p.b, pool), 0);
	FCHECK_EQ(reel_receiver_set_cap(&rx, 65), -EINVAL);
	s.fd = p.a;
	FCHECK_EQ(reel_spawn(&t, send_pieces, &s, NULL), 0);
	while ((n = reel_receiver_next(&rx, &held[nheld])) > 0) {
		for (ssize_t k = 0; k < n; k++)
			FCHECK_EQ(((const unsigned char *)held[nheld])[k], (unsigned char)v++);
		got += (size_t)n;
		if (++nheld == 1)
			FCHECK_EQ(reel_sleep(100 * MS), 0);   /* the peer sends on */
		FCHECK(nheld <= 4);
	}
	FCHECK_EQ(n, -ENOBUFS);
	FCHECK_EQ(nheld, 4);
	for (unsigned i = 0; i < nheld; i++)
		FCHECK_EQ(reel_receiver_release(&rx, held[i]), 0);
	FCHECK_EQ(reel_receiver_set_cap(&rx, 1), 0);   /* one at a time: still all */
	while ((n = reel_receiver_next(&rx, &held[0])) > 0) {
		for (ssize_t k = 0; k < n; k++)
			FCHECK_EQ(((const unsigned char *)held[0])[k], (unsigned char)v++);
		got += (size_t)n;
		FCHECK_EQ(reel_receiver_release(&rx, held[0]), 0);
	}
	FCHECK_EQ(got, 60 * 32);
	FCHECK_EQ(reel_receiver_set_cap(&rx, 0), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(n, 0);
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(reel_close(p.a), 0);
	FCHECK_EQ(reel_close(p.b), 0);
	return 0;
}

static void test_regress_bufring_cap_holds(void **state)
{
	(void)state;
	run_both(cap_main);
}

static int receive_other(void *arg)
{
	return receive_all(arg, 100 * 64);
}

/* Misuse is -EINVAL: a buffer released twice (the pool then still gives
 * each buffer to one receive at a time: two streams at once arrive whole
 * and in order), a foreign pointer, another receiver's buffer; close
 * twice, next, release and set_cap after close. */
static int misuse_main(void *arg)
{
	bool want_kernel = *(bool *)arg;
	struct sender s = { .pieces = 100, .piece = 64 };
	struct sender s2 = { .pieces = 100, .piece = 64 };
	struct reel_receiver rx, other;
	struct reel_bufpool *pool;
	const void *data, *first;
	struct pair p = { -1, -1 }, q = { -1, -1 };
	reel_task t, t2, r2;
	char local[16];
	int err, st;

	pool = reel_bufpool_create(8, 64, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_bufpool_kernel_ring(pool), want_kernel);
	FCHECK_EQ(make_pair(&p), 0);
	FCHECK_EQ(make_pair(&q), 0);
	FCHECK_EQ(reel_receiver_init(&rx, p.b, pool), 0);
	FCHECK_EQ(reel_receiver_init(&other, q.b, pool), 0);

	FCHECK_EQ(reel_write_all(q.a, "x", 1, NULL), 1);
	FCHECK_EQ(reel_receiver_next(&other, &first), 1);
	FCHECK_EQ(reel_receiver_release(&rx, first), -EINVAL);      /* not its buffer */
	FCHECK_EQ(reel_receiver_release(&other, local), -EINVAL);   /* not in the pool */
	FCHECK_EQ(reel_receiver_release(&other, NULL), -EINVAL);
	FCHECK_EQ(reel_receiver_release(&other, first), 0);
	FCHECK_EQ(reel_receiver_release(&other, first), -EINVAL);   /* twice */

	s.fd = p.a;
	s2.fd = q.a;
	FCHECK_EQ(reel_spawn(&t, send_pieces, &s, NULL), 0);
	FCHECK_EQ(reel_spawn(&t2, send_pieces, &s2, NULL), 0);
	FCHECK_EQ(reel_spawn(&r2, receive_other, &other, NULL), 0);
	FCHECK_EQ(receive_all(&rx, 100 * 64), 0);
	FCHECK_EQ(reel_join(r2, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(t2, NULL), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);

	FCHECK_EQ(reel_receiver_close(&rx), 0);
	FCHECK_EQ(reel_receiver_close(&rx), -EINVAL);
	FCHECK_EQ(reel_receiver_next(&rx, &data), -EINVAL);
	FCHECK_EQ(reel_receiver_release(&rx, first), -EINVAL);
	FCHECK_EQ(reel_receiver_set_cap(&rx, 2), -EINVAL);
	FCHECK_EQ(reel_receiver_close(&other), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(reel_close(p.a), 0);
	FCHECK_EQ(reel_close(p.b), 0);
	FCHECK_EQ(reel_close(q.a), 0);
	FCHECK_EQ(reel_close(q.b), 0);
	return 0;
}

static void test_regress_bufring_misuse_is_einval(void **state)
{
	(void)state;
	run_both(misuse_main);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_bufring_every_byte_once_in_order),
		cmocka_unit_test(test_io_bufring_at_cap_enobufs_then_recovers),
		cmocka_unit_test(test_io_bufring_cancel_while_waiting),
		cmocka_unit_test(test_io_bufring_many_connections_one_pool),
		cmocka_unit_test(test_io_bufring_bad_arguments),
		cmocka_unit_test(test_io_bufring_eperm_outside_fiber),
		cmocka_unit_test(test_regress_bufring_never_reading_peers_do_not_starve_others),
		cmocka_unit_test(test_regress_bufring_dry_pool_parks_until_release),
		cmocka_unit_test(test_regress_bufring_cap_holds),
		cmocka_unit_test(test_regress_bufring_woken_waiter_passes_the_buffer_on),
		cmocka_unit_test(test_regress_bufring_misuse_is_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
