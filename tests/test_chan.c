/*
 * Description: the bounded channel (api/reel_sync.h, reel_chan_*): every
 * element received exactly once and in per-producer order with several
 * producers and consumers at capacities 0, 1, 7 and 64; back-pressure (a
 * sender parks while full); FIFO service of waiting receivers and senders;
 * close waking every waiter with -EPIPE while buffered elements still drain;
 * try variants (-EAGAIN, -EPIPE); timeouts and deadline scopes (never
 * early, nothing taken); cancellation of blocked senders and receivers,
 * deterministic and at random, losing or duplicating nothing; destroy
 * refusing while fibers wait; bad arguments and calls outside a fiber.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"
#include "reel_sync.h"

/* ---- misuse ----------------------------------------------------------------- */

static void test_chan_bad_arguments_and_outside_fiber(void **state)
{
	struct reel_chan zero = { { 0 } };
	struct reel_chan c;
	int v = 7, out = 0;

	(void)state;
	assert_int_equal(reel_chan_init(NULL, 4, 4), -EINVAL);
	assert_int_equal(reel_chan_init(&c, 0, 4), -EINVAL);
	assert_int_equal(reel_chan_init(&c, SIZE_MAX / 2, 4), -EINVAL);
	assert_int_equal(reel_chan_send(&zero, &v), -EINVAL);
	assert_int_equal(reel_chan_recv(NULL, &out), -EINVAL);
	assert_int_equal(reel_chan_try_send(&zero, &v), -EINVAL);
	assert_int_equal(reel_chan_try_recv(&zero, &out), -EINVAL);
	assert_int_equal(reel_chan_close(&zero), -EINVAL);
	assert_int_equal(reel_chan_destroy(&zero), -EINVAL);
	assert_int_equal(reel_chan_closed(NULL), -EINVAL);
	assert_int_equal(reel_chan_len(NULL), 0);
	assert_int_equal(reel_chan_cap(&zero), 0);

	assert_int_equal(reel_chan_init(&c, sizeof(int), 2), 0);
	assert_int_equal(reel_chan_cap(&c), 2);
	assert_int_equal(reel_chan_send(&c, NULL), -EINVAL);
	assert_int_equal(reel_chan_recv(&c, NULL), -EINVAL);
	assert_int_equal(reel_chan_try_send(&c, NULL), -EINVAL);
	/* Blocking calls need a fiber, even when they would not block. */
	assert_int_equal(reel_chan_send(&c, &v), -EPERM);
	assert_int_equal(reel_chan_send_for(&c, &v, 0), -EPERM);
	assert_int_equal(reel_chan_recv(&c, &out), -EPERM);
	assert_int_equal(reel_chan_recv_for(&c, &out, MS), -EPERM);
	/* The others work anywhere on the thread. */
	assert_int_equal(reel_chan_try_send(&c, &v), 0);
	assert_int_equal(reel_chan_len(&c), 1);
	assert_int_equal(reel_chan_try_recv(&c, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(reel_chan_close(&c), 0);
	assert_int_equal(reel_chan_closed(&c), 1);
	assert_int_equal(reel_chan_destroy(&c), 0);
	/* Destroyed: no longer a channel. */
	assert_int_equal(reel_chan_try_send(&c, &v), -EINVAL);
	assert_int_equal(reel_chan_destroy(&c), -EINVAL);
}

/* ---- several producers and consumers: exactly once, in order --------------- */

#define MP_PRODUCERS 4
#define MP_CONSUMERS 3

struct item {
	uint32_t producer;
	uint32_t seq;
};

static struct {
	struct reel_chan c;
	int per_producer;
	unsigned char *seen;       /* [producer * per_producer + seq] */
	long received;
	uint64_t sum;
} mp;

static int mp_producer(void *arg)
{
	uint32_t p = (uint32_t)(intptr_t)arg;

	for (int i = 0; i < mp.per_producer; i++) {
		struct item it = { p, (uint32_t)i };

		FCHECK_EQ(reel_chan_send(&mp.c, &it), 0);
		if (rng() % 4 == 0)
			yield_n(1);
	}
	return 0;
}

static int mp_consumer(void *arg)
{
	int64_t last[MP_PRODUCERS];
	struct item it;
	int r;

	(void)arg;
	for (int p = 0; p < MP_PRODUCERS; p++)
		last[p] = -1;
	while ((r = reel_chan_recv(&mp.c, &it)) == 0) {
		FCHECK(it.producer < MP_PRODUCERS);
		FCHECK(it.seq < (uint32_t)mp.per_producer);
		/* What one consumer sees of a producer is in send order. */
		FCHECK((int64_t)it.seq > last[it.producer]);
		last[it.producer] = it.seq;
		FCHECK_EQ(mp.seen[it.producer * (uint32_t)mp.per_producer + it.seq]++, 0);
		mp.received++;
		mp.sum += (uint64_t)it.producer * 1000003u + it.seq;
		if (rng() % 3 == 0)
			yield_n(1);
	}
	FCHECK_EQ(r, -EPIPE);   /* closed and drained */
	return 0;
}

static int mp_main(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg;
	reel_task prod[MP_PRODUCERS], cons[MP_CONSUMERS];
	uint64_t want = 0;
	int st;

	FCHECK_EQ(reel_chan_init(&mp.c, sizeof(struct item), cap), 0);
	mp.seen = calloc((size_t)MP_PRODUCERS * (size_t)mp.per_producer, 1);
	FCHECK(mp.seen != NULL);
	mp.received = 0;
	mp.sum = 0;
	for (int i = 0; i < MP_CONSUMERS; i++)
		FCHECK_EQ(reel_spawn(&cons[i], mp_consumer, NULL, NULL), 0);
	for (int i = 0; i < MP_PRODUCERS; i++)
		FCHECK_EQ(reel_spawn(&prod[i], mp_producer, (void *)(intptr_t)i, NULL), 0);
	for (int i = 0; i < MP_PRODUCERS; i++) {
		FCHECK_EQ(reel_join(prod[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(reel_chan_close(&mp.c), 0);
	for (int i = 0; i < MP_CONSUMERS; i++) {
		FCHECK_EQ(reel_join(cons[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(mp.received, (long)MP_PRODUCERS * mp.per_producer);
	for (uint32_t p = 0; p < MP_PRODUCERS; p++)
		for (uint32_t s = 0; s < (uint32_t)mp.per_producer; s++)
			want += (uint64_t)p * 1000003u + s;
	FCHECK_EQ(mp.sum, want);
	FCHECK_EQ(reel_chan_len(&mp.c), 0);
	FCHECK_EQ(reel_chan_destroy(&mp.c), 0);
	free(mp.seen);
	return 0;
}

static void test_chan_many_producers_consumers_exactly_once(void **state)
{
	static const size_t caps[] = { 0, 1, 7, 64 };

	(void)state;
	mp.per_producer = (int)scaled(5000);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		run_ok(mp_main, (void *)(uintptr_t)caps[i]);
}

/* ---- back-pressure and FIFO service of waiters ---------------------------- */

static struct reel_chan bp_c;
static int bp_sent;

static int bp_sender(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_chan_send(&bp_c, &i), 0);
		bp_sent++;
	}
	return 0;
}

static int bp_main(void *arg)
{
	reel_task t;
	int v;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&bp_c, sizeof(int), 2), 0);
	FCHECK_EQ(reel_spawn(&t, bp_sender, NULL, NULL), 0);
	yield_n(5);
	FCHECK_EQ(bp_sent, 2);                  /* the third send parked */
	FCHECK_EQ(reel_chan_len(&bp_c), 2);
	FCHECK_EQ(reel_chan_recv(&bp_c, &v), 0);
	FCHECK_EQ(v, 0);
	/* The parked element moved in at once: still full, sender ready. */
	FCHECK_EQ(reel_chan_len(&bp_c), 2);
	FCHECK_EQ(reel_chan_try_send(&bp_c, &v), -EAGAIN);
	yield_n(3);
	FCHECK_EQ(bp_sent, 3);
	for (int i = 1; i < 5; i++) {
		FCHECK_EQ(reel_chan_recv(&bp_c, &v), 0);
		FCHECK_EQ(v, i);
	}
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(bp_sent, 5);
	FCHECK_EQ(reel_chan_try_recv(&bp_c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_destroy(&bp_c), 0);
	return 0;
}

static void test_chan_backpressure_sender_parks_while_full(void **state)
{
	(void)state;
	run_ok(bp_main, NULL);
}

static struct reel_chan fq_c;
static int fq_got[5];

static int fq_receiver(void *arg)
{
	int me = (int)(intptr_t)arg;

	FCHECK_EQ(reel_chan_recv(&fq_c, &fq_got[me]), 0);
	return 0;
}

static int fq_sender(void *arg)
{
	int v = (int)(intptr_t)arg;

	FCHECK_EQ(reel_chan_send(&fq_c, &v), 0);
	return 0;
}

static int fq_main(void *arg)
{
	reel_task t[5];
	int v;

	(void)arg;
	/* Receivers parked in order get the elements in order. */
	FCHECK_EQ(reel_chan_init(&fq_c, sizeof(int), 1), 0);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_spawn(&t[i], fq_receiver, (void *)(intptr_t)i, NULL), 0);
	yield_n(2);
	for (int i = 0; i < 5; i++) {
		v = 100 + i;
		FCHECK_EQ(reel_chan_send(&fq_c, &v), 0);   /* straight to a receiver */
	}
	FCHECK_EQ(reel_chan_len(&fq_c), 0);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_join(t[i], NULL), 0);
		FCHECK_EQ(fq_got[i], 100 + i);
	}
	/* Senders parked in order deliver in order. */
	v = 99;
	FCHECK_EQ(reel_chan_send(&fq_c, &v), 0);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_spawn(&t[i], fq_sender, (void *)(intptr_t)i, NULL), 0);
	yield_n(2);
	FCHECK_EQ(reel_chan_recv(&fq_c, &v), 0);
	FCHECK_EQ(v, 99);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_chan_recv(&fq_c, &v), 0);
		FCHECK_EQ(v, i);
	}
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	FCHECK_EQ(reel_chan_destroy(&fq_c), 0);
	return 0;
}

static void test_chan_waiting_senders_and_receivers_served_fifo(void **state)
{
	(void)state;
	run_ok(fq_main, NULL);
}

/* ---- close ---------------------------------------------------------------- */

static struct reel_chan cl_empty, cl_full;

static int cl_receiver(void *arg)
{
	int v;

	(void)arg;
	FCHECK_EQ(reel_chan_recv(&cl_empty, &v), -EPIPE);
	return 0;
}

static int cl_sender(void *arg)
{
	int v = (int)(intptr_t)arg;

	FCHECK_EQ(reel_chan_send(&cl_full, &v), -EPIPE);
	return 0;
}

static int cl_main(void *arg)
{
	reel_task r[5], s[5];
	int v = 42, st;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&cl_empty, sizeof(int), 3), 0);
	FCHECK_EQ(reel_chan_init(&cl_full, sizeof(int), 1), 0);
	FCHECK_EQ(reel_chan_send(&cl_full, &v), 0);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_spawn(&r[i], cl_receiver, NULL, NULL), 0);
		FCHECK_EQ(reel_spawn(&s[i], cl_sender, (void *)(intptr_t)(i + 1), NULL), 0);
	}
	yield_n(2);
	FCHECK_EQ(reel_chan_destroy(&cl_empty), -EBUSY);
	FCHECK_EQ(reel_chan_destroy(&cl_full), -EBUSY);
	FCHECK_EQ(reel_chan_close(&cl_empty), 0);
	FCHECK_EQ(reel_chan_close(&cl_full), 0);
	FCHECK_EQ(reel_chan_close(&cl_full), 0);     /* idempotent */
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_join(r[i], &st), 0);
		FCHECK_EQ(st, 0);
		FCHECK_EQ(reel_join(s[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	/* The buffered element still comes out; then the end of stream.
	 * None of the refused senders' elements got in. */
	FCHECK_EQ(reel_chan_len(&cl_full), 1);
	FCHECK_EQ(reel_chan_send(&cl_full, &v), -EPIPE);
	FCHECK_EQ(reel_chan_try_send(&cl_empty, &v), -EPIPE);
	FCHECK_EQ(reel_chan_send_for(&cl_empty, &v, 0), -EPIPE);
	v = 0;
	FCHECK_EQ(reel_chan_recv(&cl_full, &v), 0);
	FCHECK_EQ(v, 42);
	FCHECK_EQ(reel_chan_recv(&cl_full, &v), -EPIPE);
	FCHECK_EQ(reel_chan_try_recv(&cl_full, &v), -EPIPE);
	FCHECK_EQ(reel_chan_recv_for(&cl_empty, &v, 10 * MS), -EPIPE);
	FCHECK_EQ(reel_chan_closed(&cl_full), 1);
	FCHECK_EQ(reel_chan_destroy(&cl_empty), 0);
	FCHECK_EQ(reel_chan_destroy(&cl_full), 0);
	return 0;
}

static void test_chan_close_wakes_all_waiters_with_epipe(void **state)
{
	(void)state;
	run_ok(cl_main, NULL);
}

static int dr_main(void *arg)
{
	struct reel_chan c;
	int v;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&c, sizeof(int), 8), 0);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_chan_try_send(&c, &i), 0);
	FCHECK_EQ(reel_chan_close(&c), 0);
	FCHECK_EQ(reel_chan_len(&c), 5);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(i % 2 ? reel_chan_try_recv(&c, &v) : reel_chan_recv(&c, &v), 0);
		FCHECK_EQ(v, i);
	}
	FCHECK_EQ(reel_chan_recv(&c, &v), -EPIPE);
	FCHECK_EQ(reel_chan_recv(&c, &v), -EPIPE);   /* sticky */
	FCHECK_EQ(reel_chan_try_recv(&c, &v), -EPIPE);
	FCHECK_EQ(reel_chan_destroy(&c), 0);
	return 0;
}

static void test_chan_receivers_drain_buffered_after_close(void **state)
{
	(void)state;
	run_ok(dr_main, NULL);
}

/* ---- try variants and the rendezvous (capacity 0) ----------------------------- */

static struct reel_chan rv_c;
static int rv_got;
static bool rv_sent;

static int rv_receiver(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_chan_recv(&rv_c, &rv_got), 0);
	return 0;
}

static int rv_sender(void *arg)
{
	int v = (int)(intptr_t)arg;

	FCHECK_EQ(reel_chan_send(&rv_c, &v), 0);
	rv_sent = true;
	return 0;
}

static int rv_main(void *arg)
{
	reel_task t;
	int v = 5;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&rv_c, sizeof(int), 0), 0);
	FCHECK_EQ(reel_chan_cap(&rv_c), 0);
	/* Nobody on the other side: would wait. */
	FCHECK_EQ(reel_chan_try_send(&rv_c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_try_recv(&rv_c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_send_for(&rv_c, &v, 0), -ETIMEDOUT);
	FCHECK_EQ(reel_chan_recv_for(&rv_c, &v, 0), -ETIMEDOUT);
	/* A parked receiver takes a try_send. */
	FCHECK_EQ(reel_spawn(&t, rv_receiver, NULL, NULL), 0);
	yield_n(1);
	FCHECK_EQ(reel_chan_try_send(&rv_c, &v), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(rv_got, 5);
	/* A send completes only when a receiver takes it. */
	FCHECK_EQ(reel_spawn(&t, rv_sender, (void *)(intptr_t)6, NULL), 0);
	yield_n(3);
	FCHECK(!rv_sent);
	FCHECK_EQ(reel_chan_len(&rv_c), 0);
	FCHECK_EQ(reel_chan_try_recv(&rv_c, &v), 0);
	FCHECK_EQ(v, 6);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK(rv_sent);
	FCHECK_EQ(reel_chan_destroy(&rv_c), 0);
	return 0;
}

static void test_chan_try_variants_and_rendezvous(void **state)
{
	(void)state;
	run_ok(rv_main, NULL);
}

static int try_main(void *arg)
{
	struct reel_chan c;
	int v = 1;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&c, sizeof(int), 2), 0);
	FCHECK_EQ(reel_chan_try_recv(&c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_try_send(&c, &v), 0);
	v = 2;
	FCHECK_EQ(reel_chan_try_send(&c, &v), 0);
	v = 3;
	FCHECK_EQ(reel_chan_try_send(&c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_len(&c), 2);
	FCHECK_EQ(reel_chan_try_recv(&c, &v), 0);
	FCHECK_EQ(v, 1);
	FCHECK_EQ(reel_chan_try_recv(&c, &v), 0);
	FCHECK_EQ(v, 2);
	FCHECK_EQ(reel_chan_try_recv(&c, &v), -EAGAIN);
	/* try never fails because of cancellation; blocking calls do. */
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_chan_try_send(&c, &v), 0);
	FCHECK_EQ(reel_chan_send(&c, &v), -ECANCELED);
	FCHECK_EQ(reel_chan_recv(&c, &v), -ECANCELED);
	FCHECK_EQ(reel_chan_len(&c), 1);
	FCHECK_EQ(reel_chan_try_recv(&c, &v), 0);
	FCHECK_EQ(reel_chan_destroy(&c), 0);
	return 0;
}

static void test_chan_try_variants_eagain(void **state)
{
	(void)state;
	run_ok(try_main, NULL);
}

/* ---- timeouts ------------------------------------------------------------- */

static struct reel_chan to_c;

static int to_recv_in_scope(void *arg)
{
	return reel_chan_recv(&to_c, arg);
}

static int to_main(void *arg)
{
	uint64_t t0;
	int v = 9, st;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&to_c, sizeof(int), 1), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_chan_recv_for(&to_c, &v, 50 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(30 * MS, to_recv_in_scope, &v, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	/* The timed-out receivers left: a send is buffered, not handed to them. */
	v = 10;
	FCHECK_EQ(reel_chan_try_send(&to_c, &v), 0);
	FCHECK_EQ(reel_chan_len(&to_c), 1);
	v = 11;
	t0 = reel_now();
	FCHECK_EQ(reel_chan_send_for(&to_c, &v, 40 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 40 * MS);
	FCHECK_EQ(reel_chan_send_for(&to_c, &v, 0), -ETIMEDOUT);
	/* The timed-out sends delivered nothing. */
	FCHECK_EQ(reel_chan_recv_for(&to_c, &v, 0), 0);
	FCHECK_EQ(v, 10);
	FCHECK_EQ(reel_chan_try_recv(&to_c, &v), -EAGAIN);
	FCHECK_EQ(reel_chan_destroy(&to_c), 0);
	return 0;
}

static void test_chan_timeouts_never_early_take_nothing(void **state)
{
	(void)state;
	run_ok(to_main, NULL);
}

/* ---- cancellation loses nothing ---------------------------------------------- */

static struct reel_chan cx_c;
static int cx_result, cx_value;

static int cx_receiver(void *arg)
{
	(void)arg;
	cx_value = -1;
	cx_result = reel_chan_recv(&cx_c, &cx_value);
	return 0;
}

static int cx_sender(void *arg)
{
	int v = (int)(intptr_t)arg;

	cx_result = reel_chan_send(&cx_c, &v);
	return 0;
}

static int cx_main(void *arg)
{
	reel_task t;
	int v;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&cx_c, sizeof(int), 1), 0);

	/* A receiver cancelled while waiting takes nothing; the next element
	 * stays in the channel. */
	FCHECK_EQ(reel_spawn(&t, cx_receiver, NULL, NULL), 0);
	yield_n(1);
	FCHECK_EQ(reel_cancel(t), 0);
	v = 1;
	FCHECK_EQ(reel_chan_send(&cx_c, &v), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(cx_result, -ECANCELED);
	FCHECK_EQ(cx_value, -1);
	FCHECK_EQ(reel_chan_try_recv(&cx_c, &v), 0);
	FCHECK_EQ(v, 1);

	/* Handed an element, then cancelled before it ran: it keeps it. */
	FCHECK_EQ(reel_spawn(&t, cx_receiver, NULL, NULL), 0);
	yield_n(1);
	v = 2;
	FCHECK_EQ(reel_chan_send(&cx_c, &v), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(cx_result, 0);
	FCHECK_EQ(cx_value, 2);
	FCHECK_EQ(reel_chan_len(&cx_c), 0);

	/* A sender cancelled while waiting delivers nothing. */
	v = 3;
	FCHECK_EQ(reel_chan_send(&cx_c, &v), 0);
	FCHECK_EQ(reel_spawn(&t, cx_sender, (void *)(intptr_t)4, NULL), 0);
	yield_n(1);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(cx_result, -ECANCELED);
	FCHECK_EQ(reel_chan_try_recv(&cx_c, &v), 0);
	FCHECK_EQ(v, 3);
	FCHECK_EQ(reel_chan_try_recv(&cx_c, &v), -EAGAIN);

	/* A sender whose element was taken in, then cancelled: delivered. */
	v = 5;
	FCHECK_EQ(reel_chan_send(&cx_c, &v), 0);
	FCHECK_EQ(reel_spawn(&t, cx_sender, (void *)(intptr_t)6, NULL), 0);
	yield_n(1);
	FCHECK_EQ(reel_chan_recv(&cx_c, &v), 0);
	FCHECK_EQ(v, 5);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(cx_result, 0);
	FCHECK_EQ(reel_chan_try_recv(&cx_c, &v), 0);
	FCHECK_EQ(v, 6);
	FCHECK_EQ(reel_chan_destroy(&cx_c), 0);
	return 0;
}

static void test_chan_cancel_blocked_sender_receiver_loses_nothing(void **state)
{
	(void)state;
	run_ok(cx_main, NULL);
}

/* At random: producers and consumers cancelled by a chaos fiber; one last
 * consumer is never cancelled, so everything sent gets received. */
#define RC_PRODUCERS 6
#define RC_CONSUMERS 6

static struct {
	struct reel_chan c;
	int per_producer;
	unsigned char *sent, *received;
	reel_task victims[RC_PRODUCERS + RC_CONSUMERS];
	int producers_left;
	long cancelled_sends, cancelled_recvs;
} rc;

static int rc_producer(void *arg)
{
	int p = (int)(intptr_t)arg;

	for (int i = 0; i < rc.per_producer; i++) {
		int v = p * rc.per_producer + i;
		int r = reel_chan_send(&rc.c, &v);

		if (r) {
			FCHECK_EQ(r, -ECANCELED);
			rc.cancelled_sends++;
			break;
		}
		rc.sent[v] = 1;
		if (rng() % 4 == 0)
			yield_n(1);
	}
	rc.producers_left--;
	return 0;
}

static int rc_consumer(void *arg)
{
	int v, r;

	(void)arg;
	while ((r = reel_chan_recv(&rc.c, &v)) == 0) {
		FCHECK(v >= 0 && v < RC_PRODUCERS * rc.per_producer);
		FCHECK_EQ(rc.received[v]++, 0);
		if (rng() % 3 == 0)
			yield_n(1);
	}
	if (r == -ECANCELED)
		rc.cancelled_recvs++;
	else
		FCHECK_EQ(r, -EPIPE);
	return 0;
}

static int rc_chaos(void *arg)
{
	(void)arg;
	while (rc.producers_left > 0) {
		if (rng() % 8 == 0)
			FCHECK_EQ(reel_cancel(rc.victims[rng() % (RC_PRODUCERS + RC_CONSUMERS)]), 0);
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

static int rc_main(void *arg)
{
	reel_task last, chaos;
	int n, st;

	(void)arg;
	rc.per_producer = (int)scaled(3000);
	n = RC_PRODUCERS * rc.per_producer;
	rc.sent = calloc((size_t)n, 1);
	rc.received = calloc((size_t)n, 1);
	FCHECK(rc.sent && rc.received);
	FCHECK_EQ(reel_chan_init(&rc.c, sizeof(int), 4), 0);
	rc.producers_left = RC_PRODUCERS;
	for (int i = 0; i < RC_PRODUCERS; i++)
		FCHECK_EQ(reel_spawn(&rc.victims[i], rc_producer, (void *)(intptr_t)i, NULL), 0);
	for (int i = 0; i < RC_CONSUMERS; i++)
		FCHECK_EQ(reel_spawn(&rc.victims[RC_PRODUCERS + i], rc_consumer, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&last, rc_consumer, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&chaos, rc_chaos, NULL, NULL), 0);
	FCHECK_EQ(reel_join(chaos, &st), 0);
	FCHECK_EQ(st, 0);
	for (int i = 0; i < RC_PRODUCERS; i++) {
		FCHECK_EQ(reel_join(rc.victims[i], &st), 0);
		FCHECK(st == 0 || st == -ECANCELED);   /* -ECANCELED: never ran */
	}
	FCHECK_EQ(reel_chan_close(&rc.c), 0);
	for (int i = 0; i < RC_CONSUMERS; i++) {
		FCHECK_EQ(reel_join(rc.victims[RC_PRODUCERS + i], &st), 0);
		FCHECK(st == 0 || st == -ECANCELED);
	}
	FCHECK_EQ(reel_join(last, &st), 0);
	FCHECK_EQ(st, 0);
	/* Exactly what was sent was received, once. */
	for (int v = 0; v < n; v++)
		FCHECK_EQ(rc.received[v], rc.sent[v]);
	FCHECK(rc.cancelled_sends + rc.cancelled_recvs > 0);
	FCHECK_EQ(reel_chan_len(&rc.c), 0);
	FCHECK_EQ(reel_chan_destroy(&rc.c), 0);
	free(rc.sent);
	free(rc.received);
	return 0;
}

static void test_chan_random_cancellation_loses_or_duplicates_nothing(void **state)
{
	(void)state;
	memset(&rc, 0, sizeof(rc));
	run_ok(rc_main, NULL);
}

/* ---- destroy ------------------------------------------------------------------ */

static struct reel_chan ds_c;

static int ds_receiver(void *arg)
{
	int v;

	(void)arg;
	FCHECK_EQ(reel_chan_recv(&ds_c, &v), -EPIPE);
	return 0;
}

static int ds_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_chan_init(&ds_c, 16, 3), 0);
	FCHECK_EQ(reel_spawn(&t, ds_receiver, NULL, NULL), 0);
	yield_n(1);
	FCHECK_EQ(reel_chan_destroy(&ds_c), -EBUSY);
	FCHECK_EQ(reel_chan_close(&ds_c), 0);
	/* The woken receiver no longer needs the channel: it may go now,
	 * before that receiver has run, and even be reused. */
	FCHECK_EQ(reel_chan_destroy(&ds_c), 0);
	memset(&ds_c, 0xa5, sizeof(ds_c));
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_chan_init(&ds_c, 16, 3), 0);
	FCHECK_EQ(reel_chan_destroy(&ds_c), 0);
	return 0;
}

static void test_chan_destroy_busy_while_fibers_wait(void **state)
{
	(void)state;
	run_ok(ds_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_bad_arguments_and_outside_fiber),
		cmocka_unit_test(test_chan_many_producers_consumers_exactly_once),
		cmocka_unit_test(test_chan_backpressure_sender_parks_while_full),
		cmocka_unit_test(test_chan_waiting_senders_and_receivers_served_fifo),
		cmocka_unit_test(test_chan_close_wakes_all_waiters_with_epipe),
		cmocka_unit_test(test_chan_receivers_drain_buffered_after_close),
		cmocka_unit_test(test_chan_try_variants_and_rendezvous),
		cmocka_unit_test(test_chan_try_variants_eagain),
		cmocka_unit_test(test_chan_timeouts_never_early_take_nothing),
		cmocka_unit_test(test_chan_cancel_blocked_sender_receiver_loses_nothing),
		cmocka_unit_test(test_chan_random_cancellation_loses_or_duplicates_nothing),
		cmocka_unit_test(test_chan_destroy_busy_while_fibers_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
