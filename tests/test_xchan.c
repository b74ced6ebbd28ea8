/*
 * Description: channels between loops (api/reel_rt.h, reel_xchan_*). On one
 * loop: FIFO order, capacity and try_ codes, back-pressure, batches through
 * a wrapping ring and straight from a parked sender, close (waiting senders
 * -EPIPE or their partial count, waiting receivers the end of stream,
 * buffered elements still drain), destroy refusing with -EBUSY while a
 * fiber waits or has not yet returned, deadlines and cancellation of a full
 * send and an empty receive moving nothing, and an element handed to a
 * receiver that is then cancelled still returned. Across loops (plain
 * threads each running reel_run, and runtimes): a ping-pong of round trips
 * with values checked; 1M messages from senders on two loops to a receiver
 * on a third, under random cancellation and short deadlines of senders and
 * receivers, delivered exactly once and in order per sender (threads, and
 * a runtime of 3 loops); a shutdown in mid-stream losing nothing a send
 * acknowledged (both sides stopping first, and reel_rt_stop); close and
 * destroy from another thread racing with the cancellation of parked
 * receivers (the channel freed as soon as destroy says 0); a plain thread
 * feeding a fiber with try_send. And one-way throughput and round-trip
 * figures (printed, not asserted; REEL_XCHAN_FIGURES=1 for every mode).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"
#include "reel_rt.h"

/* ---- loops on plain threads ----------------------------------------------------- */

/* The counts of the cross-thread runs: scaled() (ASan), a fiftieth under
 * ThreadSanitizer, which makes every lock, switch and copy here some 50 to
 * 100 times slower, and a hundredth under valgrind, which runs one thread
 * at a time and lets a sleeping loop look for posts only every millisecond
 * (engine/core/inbox.c). */
#if defined(__SANITIZE_THREAD__)
#define XCHAN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XCHAN_TSAN 1
#endif
#endif
#ifndef XCHAN_TSAN
#define XCHAN_TSAN 0
#endif

static long xscaled(long n)
{
	if (RUNNING_ON_VALGRIND)
		return n / 100;
	return XCHAN_TSAN ? n / 50 : scaled(n);
}

/* A thread running reel_run(@fn, @arg) on a loop of its own. */
struct loop_thread {
	pthread_t thread;
	reel_fn fn;
	void *arg;
	int rc, status;
};

static void *loop_thread_main(void *p)
{
	struct loop_thread *lt = p;

	lt->rc = reel_run(lt->fn, lt->arg, NULL, &lt->status);
	return NULL;
}

static void loop_start(struct loop_thread *lt, reel_fn fn, void *arg)
{
	lt->fn = fn;
	lt->arg = arg;
	lt->rc = lt->status = -12345;
	assert_int_equal(pthread_create(&lt->thread, NULL, loop_thread_main, lt), 0);
}

/* Join @lt: its reel_run returned 0 and its main 0. */
static void loop_join(struct loop_thread *lt)
{
	assert_int_equal(pthread_join(lt->thread, NULL), 0);
	assert_no_fiber_failure();
	assert_int_equal(lt->rc, 0);
	assert_int_equal(lt->status, 0);
}

/*
 * Let every other fiber of the loop run until it parks or ends. A wake from
 * the channel goes through the loop's inbox even on the waiter's own loop,
 * and the inbox is read at a pass end; a fiber that only yields may run up
 * to a whole pass (1024 switches) before that. A short sleep ends the pass.
 */
static void settle(void)
{
	(void)reel_sleep(MS);
}

/* An element that says who sent it and which it was. */
struct item {
	uint32_t sender;
	uint32_t seq;
};

/* ---- misuse ----------------------------------------------------------------- */

static void test_xchan_bad_arguments_and_outside_fiber(void **state)
{
	struct reel_xchan zero = { { 0 } };
	struct reel_xchan c;
	int v = 7, out = 0;

	(void)state;
	assert_int_equal(reel_xchan_init(NULL, 4, 4), -EINVAL);
	assert_int_equal(reel_xchan_init(&c, 0, 4), -EINVAL);
	assert_int_equal(reel_xchan_init(&c, 4, 0), -EINVAL);
	assert_int_equal(reel_xchan_init(&c, SIZE_MAX / 2, 4), -EINVAL);
	assert_int_equal(reel_xchan_send(&zero, &v), -EINVAL);
	assert_int_equal(reel_xchan_recv(NULL, &out), -EINVAL);
	assert_int_equal(reel_xchan_try_send(&zero, &v), -EINVAL);
	assert_int_equal(reel_xchan_try_recv(&zero, &out), -EINVAL);
	assert_int_equal(reel_xchan_close(&zero), -EINVAL);
	assert_int_equal(reel_xchan_destroy(&zero), -EINVAL);
	assert_int_equal(reel_xchan_len(NULL), 0);
	assert_int_equal(reel_xchan_len(&zero), 0);

	assert_int_equal(reel_xchan_init(&c, sizeof(int), 2), 0);
	assert_int_equal(reel_xchan_send(&c, NULL), -EINVAL);
	assert_int_equal(reel_xchan_recv_many(&c, NULL, 4), -EINVAL);
	assert_int_equal(reel_xchan_try_send(&c, NULL), -EINVAL);
	assert_int_equal(reel_xchan_try_recv(&c, NULL), -EINVAL);
	/* Parking calls need a fiber, even when they would not park. */
	assert_int_equal(reel_xchan_send(&c, &v), -EPERM);
	assert_int_equal(reel_xchan_send_many(&c, &v, 1), -EPERM);
	assert_int_equal(reel_xchan_recv(&c, &out), -EPERM);
	assert_int_equal(reel_xchan_recv_many(&c, &out, 1), -EPERM);
	/* The others work on any thread. */
	assert_int_equal(reel_xchan_try_send(&c, &v), 0);
	assert_int_equal(reel_xchan_len(&c), 1);
	assert_int_equal(reel_xchan_try_recv(&c, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(reel_xchan_close(&c), 0);
	assert_int_equal(reel_xchan_close(&c), 0);
	assert_int_equal(reel_xchan_try_send(&c, &v), -EPIPE);
	assert_int_equal(reel_xchan_try_recv(&c, &out), -EPIPE);
	assert_int_equal(reel_xchan_destroy(&c), 0);
	/* Destroyed: no longer a channel. */
	assert_int_equal(reel_xchan_try_send(&c, &v), -EINVAL);
	assert_int_equal(reel_xchan_destroy(&c), -EINVAL);
}

/* ---- one loop: order, capacity, try_ codes, batches ------------------------------ */

static int fifo_main(void *arg)
{
	struct reel_xchan c;
	int v, out[16];

	(void)arg;
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 4), 0);
	for (v = 0; v < 4; v++)
		FCHECK_EQ(reel_xchan_try_send(&c, &v), 0);
	FCHECK_EQ(reel_xchan_try_send(&c, &v), -EAGAIN);
	FCHECK_EQ(reel_xchan_len(&c), 4);
	for (v = 0; v < 4; v++) {
		FCHECK_EQ(reel_xchan_recv(&c, &out[0]), 0);
		FCHECK_EQ(out[0], v);
	}
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), -EAGAIN);
	FCHECK_EQ(reel_xchan_len(&c), 0);

	/* Batches around the ring's end: head moves to 1, then 3 + 4 wrap. */
	int in[8] = { 10, 11, 12, 13, 14, 15, 16, 17 };

	FCHECK_EQ(reel_xchan_send(&c, &in[0]), 0);
	FCHECK_EQ(reel_xchan_recv(&c, &out[0]), 0);
	FCHECK_EQ(reel_xchan_send_many(&c, &in[1], 3), 3);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 2), 2);
	FCHECK_EQ(out[0], 11);
	FCHECK_EQ(out[1], 12);
	FCHECK_EQ(reel_xchan_send_many(&c, &in[4], 3), 3);
	FCHECK_EQ(reel_xchan_len(&c), 4);
	/* recv_many takes what is there, up to max. */
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 16), 4);
	for (int i = 0; i < 4; i++)
		FCHECK_EQ(out[i], 13 + i);
	FCHECK_EQ(reel_xchan_send_many(&c, in, 0), 0);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 0), -EINVAL);

	/* Close: sends refused, buffered elements drain, then end of stream. */
	FCHECK_EQ(reel_xchan_send_many(&c, in, 2), 2);
	FCHECK_EQ(reel_xchan_close(&c), 0);
	FCHECK_EQ(reel_xchan_send(&c, &in[0]), -EPIPE);
	FCHECK_EQ(reel_xchan_send_many(&c, in, 2), -EPIPE);
	FCHECK_EQ(reel_xchan_try_send(&c, &in[0]), -EPIPE);
	FCHECK_EQ(reel_xchan_recv(&c, &out[0]), 0);
	FCHECK_EQ(out[0], 10);
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), 0);
	FCHECK_EQ(out[0], 11);
	FCHECK_EQ(reel_xchan_recv(&c, &out[0]), -EPIPE);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 4), -EPIPE);
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), -EPIPE);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);
	return 0;
}

static void test_xchan_fifo_capacity_try(void **state)
{
	(void)state;
	run_ok(fifo_main, NULL);
}

/* ---- one loop: back-pressure ----------------------------------------------------- */

struct sender {
	struct reel_xchan *c;
	int first, n;        /* sends first .. first + n - 1 */
	bool batch;          /* all in one send_many */
	int sent;            /* acknowledged so far */
	long result;
};

static int sender_run(void *arg)
{
	struct sender *s = arg;
	int v[64];

	if (s->batch) {
		for (int i = 0; i < s->n; i++)
			v[i] = s->first + i;
		s->result = reel_xchan_send_many(s->c, v, (size_t)s->n);
		if (s->result > 0)
			s->sent = (int)s->result;
		return 0;
	}
	for (int i = 0; i < s->n; i++) {
		v[0] = s->first + i;
		s->result = reel_xchan_send(s->c, &v[0]);
		if (s->result < 0)
			return 0;
		s->sent++;
	}
	return 0;
}

static int back_pressure_main(void *arg)
{
	struct reel_xchan c;
	struct sender a = { .first = 0, .n = 6 }, b = { .first = 100, .n = 3 };
	reel_task ta, tb;
	int out[16], st;

	(void)arg;
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 2), 0);
	a.c = b.c = &c;
	FCHECK_EQ(reel_spawn(&ta, sender_run, &a, NULL), 0);
	settle();
	/* Two went in, the third parks. */
	FCHECK_EQ(a.sent, 2);
	FCHECK_EQ(reel_xchan_len(&c), 2);
	/* A second sender queues behind it (FIFO among senders). */
	FCHECK_EQ(reel_spawn(&tb, sender_run, &b, NULL), 0);
	settle();
	FCHECK_EQ(b.sent, 0);
	/* Each receive lets exactly one parked element in. */
	FCHECK_EQ(reel_xchan_recv(&c, &out[0]), 0);
	FCHECK_EQ(out[0], 0);
	settle();
	FCHECK_EQ(a.sent, 3);
	FCHECK_EQ(reel_xchan_len(&c), 2);
	/* The rest interleaves as the two senders requeue; each one's own
	 * elements come in order. */
	int next_a = 1, next_b = 100;

	for (int i = 0; i < 8; i++) {
		FCHECK_EQ(reel_xchan_recv(&c, &out[0]), 0);
		if (out[0] >= 100)
			FCHECK_EQ(out[0], next_b++);
		else
			FCHECK_EQ(out[0], next_a++);
	}
	FCHECK_EQ(next_a, 6);
	FCHECK_EQ(next_b, 103);
	FCHECK_EQ(reel_join(ta, &st), 0);
	FCHECK_EQ(reel_join(tb, &st), 0);
	FCHECK_EQ(a.sent, 6);
	FCHECK_EQ(b.sent, 3);
	FCHECK_EQ(reel_xchan_len(&c), 0);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);

	/* A parked batch: 4 in the ring, 6 waiting; one recv_many takes the
	 * ring and 4 straight from the sender, the last 2 fill the ring and
	 * the sender is done after one wake. */
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 4), 0);
	a = (struct sender){ .c = &c, .first = 0, .n = 10, .batch = true };
	FCHECK_EQ(reel_spawn(&ta, sender_run, &a, NULL), 0);
	settle();
	FCHECK_EQ(reel_xchan_len(&c), 4);
	FCHECK_EQ(a.result, 0);   /* still parked */
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 8), 8);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(out[i], i);
	FCHECK_EQ(reel_xchan_len(&c), 2);
	FCHECK_EQ(reel_join(ta, &st), 0);
	FCHECK_EQ(a.result, 10);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 8), 2);
	FCHECK_EQ(out[0], 8);
	FCHECK_EQ(out[1], 9);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);
	return 0;
}

static void test_xchan_back_pressure(void **state)
{
	(void)state;
	run_ok(back_pressure_main, NULL);
}

/* ---- one loop: close, destroy ------------------------------------------------------ */

struct receiver {
	struct reel_xchan *c;
	size_t max;
	int buf[16];
	long result;
	bool returned;
};

static int receiver_run(void *arg)
{
	struct receiver *r = arg;

	r->result = reel_xchan_recv_many(r->c, r->buf, r->max);
	r->returned = true;
	return 0;
}

static int close_main(void *arg)
{
	struct reel_xchan c;
	struct receiver r1 = { .max = 1 }, r2 = { .max = 4 };
	struct sender a = { .first = 0, .n = 5, .batch = true }, b = { .first = 50, .n = 1 };
	reel_task t1, t2, ta, tb;
	int out, st;

	(void)arg;
	/* Parked receivers see the end of stream; destroy refuses while they
	 * wait, and still after close took them, until they have returned. */
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 2), 0);
	r1.c = r2.c = &c;
	FCHECK_EQ(reel_spawn(&t1, receiver_run, &r1, NULL), 0);
	FCHECK_EQ(reel_spawn(&t2, receiver_run, &r2, NULL), 0);
	settle();
	FCHECK(!r1.returned && !r2.returned);
	FCHECK_EQ(reel_xchan_destroy(&c), -EBUSY);
	FCHECK_EQ(reel_xchan_close(&c), 0);
	FCHECK_EQ(reel_xchan_destroy(&c), -EBUSY);
	FCHECK_EQ(reel_join(t1, &st), 0);
	FCHECK_EQ(reel_join(t2, &st), 0);
	FCHECK_EQ(r1.result, -EPIPE);
	FCHECK_EQ(r2.result, -EPIPE);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);

	/* Parked senders: a batch that got 2 of 5 in says 2, a single -EPIPE;
	 * the buffered two still drain. */
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 2), 0);
	a.c = b.c = &c;
	FCHECK_EQ(reel_spawn(&ta, sender_run, &a, NULL), 0);
	FCHECK_EQ(reel_spawn(&tb, sender_run, &b, NULL), 0);
	settle();
	FCHECK_EQ(reel_xchan_destroy(&c), -EBUSY);
	FCHECK_EQ(reel_xchan_close(&c), 0);
	FCHECK_EQ(reel_join(ta, &st), 0);
	FCHECK_EQ(reel_join(tb, &st), 0);
	FCHECK_EQ(a.result, 2);
	FCHECK_EQ(b.result, -EPIPE);
	FCHECK_EQ(b.sent, 0);
	FCHECK_EQ(reel_xchan_recv(&c, &out), 0);
	FCHECK_EQ(out, 0);
	FCHECK_EQ(reel_xchan_recv(&c, &out), 0);
	FCHECK_EQ(out, 1);
	FCHECK_EQ(reel_xchan_recv(&c, &out), -EPIPE);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);
	return 0;
}

static void test_xchan_close_and_destroy(void **state)
{
	(void)state;
	run_ok(close_main, NULL);
}

/* ---- one loop: deadlines and cancellation move nothing ----------------------------- */

static int deadline_main(void *arg)
{
	struct reel_xchan c;
	struct reel_scope sc;
	struct receiver r = { .max = 4 };
	int in[6] = { 1, 2, 3, 4, 5, 6 }, out[8], st;
	uint64_t t0;
	long n = 0;
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 2), 0);
	r.c = &c;

	/* An empty receive under a deadline: -ETIMEDOUT, never early. */
	t0 = reel_now();
	REEL_TIMEOUT(&sc, 50 * MS)
		n = reel_xchan_recv(&c, &out[0]);
	FCHECK_EQ(n, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	FCHECK_EQ(reel_xchan_try_send(&c, &in[0]), 0);
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), 0);   /* nobody took it */
	FCHECK_EQ(out[0], 1);

	/* A full send under a deadline: -ETIMEDOUT, the ring unchanged. */
	FCHECK_EQ(reel_xchan_send_many(&c, in, 2), 2);
	t0 = reel_now();
	REEL_TIMEOUT(&sc, 30 * MS)
		n = reel_xchan_send(&c, &in[2]);
	FCHECK_EQ(n, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK_EQ(reel_xchan_len(&c), 2);
	/* A batch that got some in before the deadline returns the count. */
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), 0);
	REEL_TIMEOUT(&sc, 30 * MS)
		n = reel_xchan_send_many(&c, &in[2], 4);
	FCHECK_EQ(n, 1);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 8), 2);
	FCHECK_EQ(out[0], 2);
	FCHECK_EQ(out[1], 3);

	/* A receiver cancelled while parked: -ECANCELED, nothing taken. */
	FCHECK_EQ(reel_spawn(&t, receiver_run, &r, NULL), 0);
	settle();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(r.result, -ECANCELED);
	FCHECK_EQ(reel_xchan_try_send(&c, &in[4]), 0);
	FCHECK_EQ(reel_xchan_len(&c), 1);
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), 0);
	FCHECK_EQ(out[0], 5);

	/* Handed an element, then cancelled before it ran: it returns the
	 * element (the hand-off wins; nothing is dropped). */
	r.returned = false;
	FCHECK_EQ(reel_spawn(&t, receiver_run, &r, NULL), 0);
	settle();
	FCHECK_EQ(reel_xchan_try_send(&c, &in[5]), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	/* It may yet take the channel's lock (to learn it was served). */
	FCHECK_EQ(reel_xchan_destroy(&c), -EBUSY);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(r.result, 1);
	FCHECK_EQ(r.buf[0], 6);
	FCHECK_EQ(reel_xchan_len(&c), 0);

	/* A sender cancelled while parked on a full ring: not sent. */
	struct sender s = { .c = &c, .first = 70, .n = 3 };

	FCHECK_EQ(reel_spawn(&t, sender_run, &s, NULL), 0);
	settle();
	FCHECK_EQ(s.sent, 2);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(s.result, -ECANCELED);
	FCHECK_EQ(reel_xchan_recv_many(&c, out, 8), 2);
	FCHECK_EQ(out[0], 70);
	FCHECK_EQ(out[1], 71);
	FCHECK_EQ(reel_xchan_try_recv(&c, &out[0]), -EAGAIN);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);
	return 0;
}

static void test_xchan_deadline_and_cancel(void **state)
{
	(void)state;
	run_ok(deadline_main, NULL);
}

/* A cancelled task's parking calls fail even with room or elements there. */
static int precancelled_run(void *arg)
{
	struct reel_xchan *c = arg;
	int v = 9;

	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_xchan_send(c, &v), -ECANCELED);
	FCHECK_EQ(reel_xchan_recv(c, &v), -ECANCELED);
	FCHECK_EQ(reel_xchan_len(c), 1);
	return 0;
}

static int precancelled_main(void *arg)
{
	struct reel_xchan c;
	reel_task t;
	int v = 1, st = -1;

	(void)arg;
	FCHECK_EQ(reel_xchan_init(&c, sizeof(int), 4), 0);
	FCHECK_EQ(reel_xchan_try_send(&c, &v), 0);
	FCHECK_EQ(reel_spawn(&t, precancelled_run, &c, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_xchan_destroy(&c), 0);
	return 0;
}

static void test_xchan_cancelled_before_the_call(void **state)
{
	(void)state;
	run_ok(precancelled_main, NULL);
}

/* ---- two loops: ping-pong ---------------------------------------------------------- */

static struct {
	struct reel_xchan ping, pong;
	long rounds;
} pp;

static int ping_main(void *arg)
{
	(void)arg;
	for (long i = 0; i < pp.rounds; i++) {
		long v = i, back = -1;

		FCHECK_EQ(reel_xchan_send(&pp.ping, &v), 0);
		FCHECK_EQ(reel_xchan_recv(&pp.pong, &back), 0);
		FCHECK_EQ(back, 2 * i + 1);
	}
	FCHECK_EQ(reel_xchan_close(&pp.ping), 0);
	return 0;
}

static int pong_main(void *arg)
{
	long v, n = 0;
	int r;

	(void)arg;
	while ((r = reel_xchan_recv(&pp.ping, &v)) == 0) {
		FCHECK_EQ(v, n);
		v = 2 * v + 1;
		FCHECK_EQ(reel_xchan_send(&pp.pong, &v), 0);
		n++;
	}
	FCHECK_EQ(r, -EPIPE);
	FCHECK_EQ(n, pp.rounds);
	return 0;
}

static void test_xchan_ping_pong_two_loops(void **state)
{
	struct loop_thread a, b;
	uint64_t t0;

	(void)state;
	pp.rounds = xscaled(100000);
	assert_int_equal(reel_xchan_init(&pp.ping, sizeof(long), 1), 0);
	assert_int_equal(reel_xchan_init(&pp.pong, sizeof(long), 1), 0);
	t0 = reel_now();
	loop_start(&b, pong_main, NULL);
	loop_start(&a, ping_main, NULL);
	loop_join(&a);
	loop_join(&b);
	printf("# ping-pong: %ld round trips between two loops, %.2f us each\n", pp.rounds,
	       (double)(reel_now() - t0) / 1e3 / (double)pp.rounds);
	assert_int_equal(reel_xchan_destroy(&pp.ping), 0);
	assert_int_equal(reel_xchan_destroy(&pp.pong), 0);
}

/* ---- three loops: 1M messages under random cancellation ---------------------------- */

#define CX_SENDERS 4          /* two on each sender loop */
/* Supervisors' pauses between cancellations, longer under TSan, where a
 * restart (a new fiber for TSan) costs milliseconds. */
#define CX_PAUSE (XCHAN_TSAN ? 4 : 1)
#define CX_BATCH 16

struct cx_sender {
	uint32_t id;
	uint32_t next;         /* the next sequence number to send (its loop only) */
	bool batch;            /* send_many in batches, else single sends */
	bool running, ended;   /* its task (its loop only) */
	reel_task task;
	uint64_t rng;
	long cancels, timeouts, restarts;
};

static struct {
	struct reel_xchan c;
	uint32_t per_sender;
	struct cx_sender s[CX_SENDERS];
	/* the receiving loop's */
	uint32_t expected[CX_SENDERS];
	uint64_t received, total;
	bool recv_running, recv_ended;
	reel_task recv_task;
	long recv_cancels, recv_timeouts;
	uint64_t recv_rng;
} cx;

/* A deadline scope of 0..40 us around some calls: they may end -ETIMEDOUT. */
static bool cx_short_deadline(uint64_t *rng, uint64_t *ns)
{
	uint64_t roll = rng_next(rng);

	*ns = (roll >> 16) % (40 * 1000);
	return roll % 8 == 0;
}

static int cx_sender_run(void *arg)
{
	struct cx_sender *s = arg;
	struct item batch[CX_BATCH];

	while (s->next < cx.per_sender) {
		size_t n = s->batch ? CX_BATCH : 1;
		struct reel_scope sc;
		uint64_t ns;
		long r = -1;

		if (n > cx.per_sender - s->next)
			n = cx.per_sender - s->next;
		for (size_t i = 0; i < n; i++)
			batch[i] = (struct item){ s->id, s->next + (uint32_t)i };
		if (cx_short_deadline(&s->rng, &ns)) {
			REEL_TIMEOUT(&sc, ns)
				r = reel_xchan_send_many(&cx.c, batch, n);
		} else {
			r = s->batch ? reel_xchan_send_many(&cx.c, batch, n) : 0;
			if (!s->batch) {
				int e = reel_xchan_send(&cx.c, batch);

				r = e == 0 ? 1 : e;
			}
		}
		if (r > 0) {
			FCHECK(r <= (long)n);
			s->next += (uint32_t)r;   /* the rest is retried */
			/* Let the loop's other fibers in (a send with room
			 * never parks). */
			if (reel_yield() < 0)
				break;
		} else if (r == -ETIMEDOUT) {
			s->timeouts++;
		} else {
			FCHECK_EQ(r, -ECANCELED);
			break;
		}
	}
	s->ended = true;
	return 0;
}

/* Cancel and join a running task: it ends 0 (it had run) or -ECANCELED (it
 * never ran: a task cancelled before its first run never runs). */
static int cancel_and_join(reel_task t)
{
	int st = -1;

	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK(st == 0 || st == -ECANCELED);
	return 0;
}

/* Main of each sender loop: runs senders @first and @first + 1, cancels
 * one at random now and then and restarts it where it stopped. */
static int cx_sender_loop(void *arg)
{
	struct cx_sender *mine = &cx.s[(uintptr_t)arg];
	uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	unsigned done = 0;

	while (done < 2) {
		if (fiber_failure[0])
			return -EFAULT;
		done = 0;
		for (int i = 0; i < 2; i++) {
			struct cx_sender *s = &mine[i];
			int st;

			if (s->running && s->ended) {
				FCHECK_EQ(reel_join(s->task, &st), 0);
				FCHECK_EQ(st, 0);
				s->running = false;
			}
			if (!s->running && s->next < cx.per_sender) {
				s->ended = false;
				FCHECK_EQ(reel_spawn(&s->task, cx_sender_run, s, NULL), 0);
				s->running = true;
				s->restarts++;
			}
			if (!s->running)
				done++;
		}
		uint64_t roll = rng_next(&rng);

		FCHECK_EQ(reel_sleep((roll >> 20) % (300 * 1000) * CX_PAUSE), 0);
		struct cx_sender *victim = &mine[roll % 2];

		if (victim->running && !victim->ended) {
			FCHECK_EQ(cancel_and_join(victim->task), 0);
			victim->running = false;
			victim->cancels++;
		}
	}
	return 0;
}

static int cx_receiver_run(void *arg)
{
	struct item got[64];

	(void)arg;
	while (cx.received < cx.total) {
		struct reel_scope sc;
		uint64_t ns;
		long r = -1;

		if (cx_short_deadline(&cx.recv_rng, &ns)) {
			REEL_TIMEOUT(&sc, ns)
				r = reel_xchan_recv_many(&cx.c, got, 64);
		} else if (cx.recv_rng & 1) {
			r = reel_xchan_recv_many(&cx.c, got, 64);
		} else {
			int e = reel_xchan_recv(&cx.c, got);

			r = e == 0 ? 1 : e;
		}
		if (r == -ETIMEDOUT) {
			cx.recv_timeouts++;
			continue;
		}
		if (r < 0) {
			FCHECK_EQ(r, -ECANCELED);
			break;
		}
		for (long i = 0; i < r; i++) {
			FCHECK(got[i].sender < CX_SENDERS);
			FCHECK_EQ(got[i].seq, cx.expected[got[i].sender]);
			cx.expected[got[i].sender]++;
			cx.received++;
		}
		if (reel_yield() < 0)
			break;
	}
	cx.recv_ended = true;
	return 0;
}

/* Main of the receiving loop: the receiver, cancelled and restarted. */
static int cx_receiver_loop(void *arg)
{
	int st;

	(void)arg;
	while (cx.received < cx.total || cx.recv_running) {
		if (fiber_failure[0])
			return -EFAULT;
		if (cx.recv_running && cx.recv_ended) {
			FCHECK_EQ(reel_join(cx.recv_task, &st), 0);
			FCHECK_EQ(st, 0);
			cx.recv_running = false;
		}
		if (!cx.recv_running && cx.received < cx.total) {
			cx.recv_ended = false;
			FCHECK_EQ(reel_spawn(&cx.recv_task, cx_receiver_run, NULL, NULL), 0);
			cx.recv_running = true;
		}
		uint64_t roll = rng_next(&cx.recv_rng);

		FCHECK_EQ(reel_sleep((roll >> 20) % (500 * 1000) * CX_PAUSE), 0);
		if (cx.recv_running && !cx.recv_ended && roll % 3 == 0) {
			FCHECK_EQ(cancel_and_join(cx.recv_task), 0);
			cx.recv_running = false;
			cx.recv_cancels++;
		}
	}
	/* Everything sent has been received: nothing more is there. */
	struct item extra;

	FCHECK_EQ(reel_xchan_try_recv(&cx.c, &extra), -EAGAIN);
	return 0;
}

static void cx_setup(void)
{
	memset(&cx, 0, sizeof(cx));
	cx.per_sender = (uint32_t)(xscaled(1000000) / CX_SENDERS);
	cx.total = (uint64_t)cx.per_sender * CX_SENDERS;
	cx.recv_rng = 0x2545f4914f6cdd1dull;
	for (uint32_t i = 0; i < CX_SENDERS; i++) {
		cx.s[i].id = i;
		cx.s[i].batch = i % 2 == 1;
		cx.s[i].rng = 0x1234567ull * (i + 1);
	}
	assert_int_equal(reel_xchan_init(&cx.c, sizeof(struct item), 64), 0);
}

/* Every sender's count exact, every message seen once and in order. */
static void cx_check(const char *how, uint64_t t0)
{
	long cancels = 0, timeouts = 0;

	for (int i = 0; i < CX_SENDERS; i++) {
		assert_int_equal(cx.s[i].next, cx.per_sender);
		assert_int_equal(cx.expected[i], cx.per_sender);
		cancels += cx.s[i].cancels;
		timeouts += cx.s[i].timeouts;
	}
	assert_int_equal(cx.received, cx.total);
	printf("# %s: %llu messages in %.2f s; senders cancelled %ld times, timed out %ld; "
	       "receiver cancelled %ld, timed out %ld\n", how,
	       (unsigned long long)cx.total, (double)(reel_now() - t0) / 1e9, cancels, timeouts,
	       cx.recv_cancels, cx.recv_timeouts);
	/* The run must have exercised what it claims to. */
	assert_true(cancels > 0 && cx.recv_cancels > 0 && timeouts + cx.recv_timeouts > 0);
	assert_int_equal(reel_xchan_destroy(&cx.c), 0);
}

/* Plain threads, each running reel_run: wakes by eventfd. */
static void test_xchan_million_under_cancellation(void **state)
{
	struct loop_thread a, b, r;
	uint64_t t0;

	(void)state;
	cx_setup();
	t0 = reel_now();
	loop_start(&r, cx_receiver_loop, NULL);
	loop_start(&a, cx_sender_loop, (void *)(uintptr_t)0);
	loop_start(&b, cx_sender_loop, (void *)(uintptr_t)2);
	loop_join(&a);
	loop_join(&b);
	loop_join(&r);
	cx_check("3 threads", t0);
}

/* Loop 0 receives, loops 1 and 2 send. */
static int cx_runtime_main(void *arg)
{
	(void)arg;
	if (reel_rt_index() == 0)
		return cx_receiver_loop(NULL);
	return cx_sender_loop((void *)(uintptr_t)(2 * (reel_rt_index() - 1)));
}

/* The same in a runtime of 3 loops: wakes by MSG_RING where the kernel has
 * it (loops wrap around the CPUs there are). */
static void test_xchan_million_under_cancellation_runtime(void **state)
{
	struct reel_rt_opts o = { .loops = 3, .flags = REEL_RT_NO_SIGNALS };
	int st[3] = { -1, -1, -1 };
	uint64_t t0;

	(void)state;
	cx_setup();
	t0 = reel_now();
	assert_int_equal(reel_rt_run(cx_runtime_main, NULL, &o, st, 3), 0);
	assert_no_fiber_failure();
	for (int i = 0; i < 3; i++)
		assert_int_equal(st[i], 0);
	cx_check("runtime of 3 loops", t0);
}

/* ---- shutdown in mid-stream loses nothing acknowledged ----------------------------- */

#define SD_SENDERS 3

static struct {
	struct reel_xchan c;
	uint32_t acked[SD_SENDERS];      /* the sending loop's */
	uint32_t expected[SD_SENDERS];   /* the receiving loop's */
	uint64_t drained;
	unsigned ended;                  /* senders that ended (the sending loop's) */
	uint64_t stop_send_ns, stop_recv_ns;
	bool slow_receiver;              /* a pause after each batch: the ring stays full */
	atomic_uint flowing;             /* senders that have had a send acknowledged */
} sd;

static int sd_sender_run(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct item batch[8];

	for (;;) {
		size_t n = id == 0 ? 1 : id == 1 ? 3 : 8;
		long r;

		for (size_t i = 0; i < n; i++)
			batch[i] = (struct item){ id, sd.acked[id] + (uint32_t)i };
		r = reel_xchan_send_many(&sd.c, batch, n);
		if (r < 0) {
			FCHECK(r == -EPIPE || r == -ECANCELED);
			sd.ended++;
			return 0;
		}
		if (sd.acked[id] == 0)
			atomic_fetch_add(&sd.flowing, 1);
		sd.acked[id] += (uint32_t)r;
		if (reel_yield() < 0) {
			sd.ended++;
			return 0;
		}
	}
}

/* The sending loop: senders until they see the close, or until the loop
 * is stopped (a deadline; then every sender is cancelled). */
static int sd_sending_loop(void *arg)
{
	reel_task t[SD_SENDERS];
	struct reel_scope sc;

	(void)arg;
	for (uintptr_t i = 0; i < SD_SENDERS; i++)
		FCHECK_EQ(reel_spawn(&t[i], sd_sender_run, (void *)i, NULL), 0);
	/* The stop's clock starts once every sender has sent something (a
	 * late start of this thread must not leave a sender with nothing). */
	while (atomic_load(&sd.flowing) < SD_SENDERS && sd.ended < SD_SENDERS)
		FCHECK_EQ(reel_sleep(MS), 0);
	REEL_TIMEOUT(&sc, sd.stop_send_ns)
		while (sd.ended < SD_SENDERS && reel_sleep(MS) == 0)
			;
	for (int i = 0; i < SD_SENDERS; i++)
		FCHECK_EQ(cancel_and_join(t[i]), 0);
	return 0;
}

static int sd_check(const struct item *it)
{
	FCHECK(it->sender < SD_SENDERS);
	FCHECK_EQ(it->seq, sd.expected[it->sender]);
	sd.expected[it->sender]++;
	return 0;
}

/* The receiving loop: receives until stopped, then closes and drains. */
static int sd_receiving_loop(void *arg)
{
	struct item got[32];
	struct reel_scope sc;
	long r = 0;

	(void)arg;
	/* The stop's clock starts at the first element. */
	r = reel_xchan_recv_many(&sd.c, got, 32);
	FCHECK(r > 0);
	for (long i = 0; i < r; i++)
		FCHECK_EQ(sd_check(&got[i]), 0);
	REEL_TIMEOUT(&sc, sd.stop_recv_ns) {
		while ((r = reel_xchan_recv_many(&sd.c, got, 32)) > 0) {
			for (long i = 0; i < r; i++)
				FCHECK_EQ(sd_check(&got[i]), 0);
			/* a receive with elements there never parks */
			if ((r = sd.slow_receiver ? reel_sleep(100 * 1000) : reel_yield()) < 0)
				break;
		}
	}
	FCHECK_EQ(r, -ETIMEDOUT);
	FCHECK_EQ(reel_xchan_close(&sd.c), 0);
	while (reel_xchan_try_recv(&sd.c, got) == 0) {
		FCHECK_EQ(sd_check(&got[0]), 0);
		sd.drained++;
	}
	FCHECK_EQ(reel_xchan_try_recv(&sd.c, got), -EPIPE);
	return 0;
}

static void test_xchan_shutdown_in_flight(void **state)
{
	struct loop_thread s, r;

	(void)state;
	/* Both orders: the receiving side stops first (senders then see the
	 * close, parked or not), and the sending side first, its senders
	 * cancelled while parked on a full ring (the receiver is slow), which
	 * leaves elements buffered for the drain. */
	for (int round = 0; round < 2; round++) {
		memset(&sd, 0, sizeof(sd));
		sd.stop_send_ns = round == 0 ? 10 * SEC : 60 * MS;
		sd.stop_recv_ns = round == 0 ? 80 * MS : 61 * MS;
		sd.slow_receiver = round == 1;
		assert_int_equal(reel_xchan_init(&sd.c, sizeof(struct item), 128), 0);
		loop_start(&r, sd_receiving_loop, NULL);
		loop_start(&s, sd_sending_loop, NULL);
		loop_join(&r);
		loop_join(&s);
		for (int i = 0; i < SD_SENDERS; i++) {
			assert_int_equal(sd.expected[i], sd.acked[i]);
			assert_true(sd.acked[i] > 0);
		}
		printf("# shutdown round %d: acked %u %u %u, %llu drained after close\n", round,
		       sd.acked[0], sd.acked[1], sd.acked[2], (unsigned long long)sd.drained);
		assert_int_equal(reel_xchan_destroy(&sd.c), 0);
	}
}

/* The same with a runtime stopped in mid-stream (reel_rt_stop from the
 * test's thread): loop 0 sends until its main is cancelled (its joins then
 * cancel and await the senders); loop 1 receives until then, closes and
 * drains. */
static int sd_runtime_main(void *arg)
{
	(void)arg;
	if (reel_rt_index() == 0) {
		reel_task t[SD_SENDERS];

		for (uintptr_t i = 0; i < SD_SENDERS; i++)
			FCHECK_EQ(reel_spawn(&t[i], sd_sender_run, (void *)i, NULL), 0);
		for (int i = 0; i < SD_SENDERS; i++) {
			int r = reel_join(t[i], NULL);

			FCHECK(r == 0 || r == -ECANCELED);
		}
		return 0;
	}
	struct item got[32];
	long r;

	while ((r = reel_xchan_recv_many(&sd.c, got, 32)) > 0) {
		for (long i = 0; i < r; i++)
			FCHECK_EQ(sd_check(&got[i]), 0);
		if (sd.slow_receiver && reel_sleep(100 * 1000) < 0)
			break;
	}
	FCHECK(r == -ECANCELED || r > 0);
	FCHECK_EQ(reel_xchan_close(&sd.c), 0);
	while (reel_xchan_try_recv(&sd.c, got) == 0) {
		FCHECK_EQ(sd_check(&got[0]), 0);
		sd.drained++;
	}
	return 0;
}

static void test_xchan_shutdown_in_flight_runtime(void **state)
{
	struct reel_rt_opts o = { .loops = 2, .flags = REEL_RT_NO_SIGNALS };

	(void)state;
	/* A fast receiver (the ring mostly empty: parked receivers, senders
	 * running) and a slow one (the ring full: parked senders). */
	for (int round = 0; round < 2; round++) {
		struct reel_rt *rt;
		int st[2] = { -1, -1 };

		memset(&sd, 0, sizeof(sd));
		sd.slow_receiver = round == 1;
		assert_int_equal(reel_xchan_init(&sd.c, sizeof(struct item), 128), 0);
		assert_int_equal(reel_rt_start(&rt, sd_runtime_main, NULL, &o), 0);
		/* Stop in mid-stream: once every sender is under way. */
		for (int i = 0; i < 10000 && atomic_load(&sd.flowing) < SD_SENDERS; i++)
			nap(MS);
		assert_int_equal(atomic_load(&sd.flowing), SD_SENDERS);
		nap(30 * MS);
		assert_int_equal(reel_rt_stop(rt), 0);
		assert_int_equal(reel_rt_wait(rt, st, 2), 0);
		assert_no_fiber_failure();
		assert_int_equal(st[0], 0);
		assert_int_equal(st[1], 0);
		for (int i = 0; i < SD_SENDERS; i++) {
			assert_int_equal(sd.expected[i], sd.acked[i]);
			assert_true(sd.acked[i] > 0);
		}
		printf("# runtime stopped, round %d: acked %u %u %u, %llu drained after close\n",
		       round, sd.acked[0], sd.acked[1], sd.acked[2],
		       (unsigned long long)sd.drained);
		assert_int_equal(reel_xchan_destroy(&sd.c), 0);
	}
}

/* ---- close and destroy from another thread, racing with cancellation ------------- */

#define CD_RECEIVERS 4

static struct {
	struct reel_xchan *c;      /* malloc'ed: freed as soon as destroy says 0 */
	atomic_int parked;         /* the receivers are parked: the closer may go */
	uint64_t rng;
} cd;

static int cd_receiver(void *arg)
{
	int v;
	int r = reel_xchan_recv(cd.c, &v);

	(void)arg;
	FCHECK(r == -EPIPE || r == -ECANCELED);
	return 0;
}

/* Parks receivers on the channel, then cancels them at a random moment,
 * while another thread closes and destroys it. */
static int cd_loop(void *arg)
{
	reel_task t[CD_RECEIVERS];
	uint64_t wait_ns = (rng_next(&cd.rng) >> 20) % (200 * 1000);
	uint64_t t0;

	(void)arg;
	for (int i = 0; i < CD_RECEIVERS; i++)
		FCHECK_EQ(reel_spawn(&t[i], cd_receiver, NULL, NULL), 0);
	settle();
	atomic_store(&cd.parked, 1);
	t0 = reel_now();
	while (reel_now() - t0 < wait_ns)
		;   /* spin: the loop stays busy, so a wake waits in the inbox */
	for (int i = 0; i < CD_RECEIVERS; i++)
		FCHECK_EQ(reel_cancel(t[i]), 0);
	for (int i = 0; i < CD_RECEIVERS; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	return 0;
}

static void test_xchan_close_destroy_race(void **state)
{
	long rounds = xscaled(200) > 20 ? xscaled(200) : 20;
	long busy = 0;

	(void)state;
	cd.rng = 0x5851f42d4c957f2dull;
	for (long i = 0; i < rounds; i++) {
		struct loop_thread lt;
		int r;

		cd.c = malloc(sizeof(*cd.c));
		assert_non_null(cd.c);
		assert_int_equal(reel_xchan_init(cd.c, sizeof(int), 4), 0);
		atomic_store(&cd.parked, 0);
		loop_start(&lt, cd_loop, NULL);
		while (!atomic_load(&cd.parked))
			sched_yield();
		nap((rng_next(&cd.rng) >> 20) % (200 * 1000));
		assert_int_equal(reel_xchan_close(cd.c), 0);
		/* Refused until every receiver has left its call; once it
		 * says 0, nobody touches the channel again (ASan checks). */
		while ((r = reel_xchan_destroy(cd.c)) == -EBUSY) {
			busy++;
			sched_yield();
		}
		assert_int_equal(r, 0);
		free(cd.c);
		loop_join(&lt);
	}
	printf("# close/destroy race: %ld rounds, destroy refused %ld times\n", rounds, busy);
}

/* ---- a plain thread feeding a fiber ----------------------------------------------- */

static struct {
	struct reel_xchan c;
	long n;
	long eagain;
} pt;

static void *pt_producer(void *arg)
{
	(void)arg;
	for (long i = 0; i < pt.n; i++) {
		int r;

		while ((r = reel_xchan_try_send(&pt.c, &i)) == -EAGAIN) {
			pt.eagain++;
			sched_yield();
		}
		if (r != 0)
			return (void *)(intptr_t)r;
		/* Now and then pause, so the receiver parks and must be woken. */
		if (i % 1024 == 0)
			nap(50 * 1000);
	}
	return (void *)(intptr_t)reel_xchan_close(&pt.c);
}

static int pt_receiver(void *arg)
{
	long v, n = 0;
	int r;

	(void)arg;
	while ((r = reel_xchan_recv(&pt.c, &v)) == 0) {
		FCHECK_EQ(v, n);
		n++;
	}
	FCHECK_EQ(r, -EPIPE);
	FCHECK_EQ(n, pt.n);
	return 0;
}

static void test_xchan_plain_thread_producer(void **state)
{
	struct loop_thread r;
	pthread_t p;
	void *ret;

	(void)state;
	pt.n = xscaled(200000);
	assert_int_equal(reel_xchan_init(&pt.c, sizeof(long), 16), 0);
	loop_start(&r, pt_receiver, NULL);
	assert_int_equal(pthread_create(&p, NULL, pt_producer, NULL), 0);
	assert_int_equal(pthread_join(p, &ret), 0);
	assert_int_equal((intptr_t)ret, 0);
	loop_join(&r);
	assert_int_equal(reel_xchan_destroy(&pt.c), 0);
}

/* ---- throughput figures (printed) ---------------------------------------------------- */

static struct {
	struct reel_xchan c;
	long n;
	size_t batch;
} tp;

static int tp_sender(void *arg)
{
	uint64_t v[64];

	(void)arg;
	for (long i = 0; i < tp.n;) {
		size_t k = tp.batch;
		long r;

		if ((long)k > tp.n - i)
			k = (size_t)(tp.n - i);
		for (size_t j = 0; j < k; j++)
			v[j] = (uint64_t)i + j;
		r = tp.batch == 1 ? (reel_xchan_send(&tp.c, v) == 0 ? 1 : -1)
				  : reel_xchan_send_many(&tp.c, v, k);
		FCHECK_EQ(r, (long)k);
		i += r;
	}
	FCHECK_EQ(reel_xchan_close(&tp.c), 0);
	return 0;
}

static int tp_receiver(void *arg)
{
	uint64_t v[64], next = 0;
	long r;

	(void)arg;
	while ((r = reel_xchan_recv_many(&tp.c, v, tp.batch)) > 0) {
		FCHECK_EQ(v[0], next);
		FCHECK_EQ(v[r - 1], next + (uint64_t)r - 1);
		next += (uint64_t)r;
	}
	FCHECK_EQ(r, -EPIPE);
	FCHECK_EQ(next, (uint64_t)tp.n);
	return 0;
}

/* In a runtime: loop 0 sends, loop 1 receives. */
static int tp_runtime_main(void *arg)
{
	(void)arg;
	return reel_rt_index() == 0 ? tp_sender(NULL) : tp_receiver(NULL);
}

static int pp_runtime_main(void *arg)
{
	(void)arg;
	return reel_rt_index() == 0 ? ping_main(NULL) : pong_main(NULL);
}

/* Run @main on 2 loops: plain threads (@flags < 0) or a runtime. */
static void run_two(reel_fn a_main, reel_fn b_main, reel_fn rt_main, int flags,
		    uint64_t poll_ns)
{
	if (flags < 0) {
		struct loop_thread a, b;

		loop_start(&b, b_main, NULL);
		loop_start(&a, a_main, NULL);
		loop_join(&a);
		loop_join(&b);
	} else {
		struct reel_rt_opts o = { .loops = 2, .flags = (unsigned)flags,
					  .poll_ns = poll_ns };
		int st[2] = { -1, -1 };

		assert_int_equal(reel_rt_run(rt_main, NULL, &o, st, 2), 0);
		assert_no_fiber_failure();
		assert_int_equal(st[0], 0);
		assert_int_equal(st[1], 0);
	}
}

static void test_xchan_throughput_figures(void **state)
{
	static const struct {
		const char *name;
		int flags;           /* -1: plain threads */
		uint64_t poll_ns;
	} modes[] = {
		{ "2 plain threads (eventfd)", -1, 0 },
		{ "runtime, not pinned (MSG_RING)", REEL_RT_NO_SIGNALS | REEL_RT_NO_PIN, 0 },
		{ "runtime, pinned (MSG_RING)", REEL_RT_NO_SIGNALS, 0 },
		{ "runtime, pinned (eventfd)", REEL_RT_NO_SIGNALS | REEL_RT_NO_MSG_RING, 0 },
		{ "runtime, pinned, poll 20 us", REEL_RT_NO_SIGNALS, 20000 },
	};
	static const size_t batches[] = { 64, 1 };
	bool all = getenv("REEL_XCHAN_FIGURES") != NULL;

	(void)state;
	/* Figures only: meaningless under a sanitizer, and by default two
	 * modes (REEL_XCHAN_FIGURES=1: all five). */
	if (XCHAN_TSAN || REEL_TEST_SCALE_DOWN || RUNNING_ON_VALGRIND)
		skip();
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		if (!all && m != 0 && m != 2)
			continue;
		for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			uint64_t t0;

			tp.batch = batches[b];
			tp.n = xscaled(tp.batch == 1 ? 500000 : 2000000);
			assert_int_equal(reel_xchan_init(&tp.c, sizeof(uint64_t), 1024), 0);
			t0 = reel_now();
			run_two(tp_sender, tp_receiver, tp_runtime_main, modes[m].flags,
				modes[m].poll_ns);
			printf("# one-way, %s, batches of %zu, 8-byte elements, capacity 1024: "
			       "%.2f M msg/s\n", modes[m].name, tp.batch,
			       (double)tp.n / ((double)(reel_now() - t0) / 1e9) / 1e6);
			assert_int_equal(reel_xchan_destroy(&tp.c), 0);
		}
		/* Round trips: each one wakes a parked loop twice. */
		uint64_t t0;

		pp.rounds = xscaled(5000);
		assert_int_equal(reel_xchan_init(&pp.ping, sizeof(long), 1), 0);
		assert_int_equal(reel_xchan_init(&pp.pong, sizeof(long), 1), 0);
		t0 = reel_now();
		run_two(ping_main, pong_main, pp_runtime_main, modes[m].flags, modes[m].poll_ns);
		printf("# ping-pong, %s: %.2f us per round trip\n", modes[m].name,
		       (double)(reel_now() - t0) / 1e3 / (double)pp.rounds);
		assert_int_equal(reel_xchan_destroy(&pp.ping), 0);
		assert_int_equal(reel_xchan_destroy(&pp.pong), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xchan_bad_arguments_and_outside_fiber),
		cmocka_unit_test(test_xchan_fifo_capacity_try),
		cmocka_unit_test(test_xchan_back_pressure),
		cmocka_unit_test(test_xchan_close_and_destroy),
		cmocka_unit_test(test_xchan_deadline_and_cancel),
		cmocka_unit_test(test_xchan_cancelled_before_the_call),
		cmocka_unit_test(test_xchan_ping_pong_two_loops),
		cmocka_unit_test(test_xchan_million_under_cancellation),
		cmocka_unit_test(test_xchan_million_under_cancellation_runtime),
		cmocka_unit_test(test_xchan_shutdown_in_flight),
		cmocka_unit_test(test_xchan_shutdown_in_flight_runtime),
		cmocka_unit_test(test_xchan_close_destroy_race),
		cmocka_unit_test(test_xchan_plain_thread_producer),
		cmocka_unit_test(test_xchan_throughput_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
