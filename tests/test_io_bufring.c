/*
 * Description: receivers over a shared buffer pool (engine/io/bufring.c:
 * provided buffer ring with multishot receive, and the plain-recv
 * fallback): every byte arrives once and in order, a dry pool says -ENOBUFS
 * and recovers without losing data, end of stream, cancellation while
 * waiting, many connections on one pool, bad arguments and -EPERM outside a
 * fiber.
 */
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

/* Two buffers, held by the caller: the pool runs dry, the call says
 * -ENOBUFS; after a release it goes on, and nothing was lost. */
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

static void test_io_bufring_dry_pool_enobufs_then_recovers(void **state)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_bufring_every_byte_once_in_order),
		cmocka_unit_test(test_io_bufring_dry_pool_enobufs_then_recovers),
		cmocka_unit_test(test_io_bufring_cancel_while_waiting),
		cmocka_unit_test(test_io_bufring_many_connections_one_pool),
		cmocka_unit_test(test_io_bufring_bad_arguments),
		cmocka_unit_test(test_io_bufring_eperm_outside_fiber),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
