/*
 * Description: the inbox (engine/core/inbox.c) and the wait another thread
 * ends (engine/core/xwait.c): a plain thread wakes a parked fiber (never
 * early); a wake before the park; a timeout and a cancel (never early),
 * and settle after an interruption; a burst of posts from a thread runs
 * once each, in order, for far fewer wake-ups than posts; a ping-pong
 * between two loops on two threads by MSG_RING, by eventfd (asked for by
 * flag and by REEL_DISABLE=msg_ring), and with the brief poll; a post to a loop that has ended is refused (-ESHUTDOWN);
 * the capability report names the wake-up path.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "inbox.h"

/* ---- a plain thread wakes a fiber --------------------------------------------- */

struct waker {
	struct reel__xwait *w;
	uint64_t delay_ns;
};

static void *waker_thread(void *arg)
{
	struct waker *k = arg;

	nap(k->delay_ns);
	reel__xwait_wake(k->w);
	return NULL;
}

static int wake_from_thread_main(void *arg)
{
	struct reel__xwait w;
	struct waker k = { &w, 30 * MS };
	pthread_t t;
	uint64_t t0;

	(void)arg;
	reel__xwait_init(&w);
	t0 = reel_now();
	FCHECK_EQ(pthread_create(&t, NULL, waker_thread, &k), 0);
	FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, REEL__FOREVER), 0);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK(reel__xwait_woken(&w));
	pthread_join(t, NULL);
	return 0;
}

static void test_wake_from_thread(void **state)
{
	(void)state;
	run_ok(wake_from_thread_main, NULL);
}

/* ---- a wake before the park ------------------------------------------------------ */

static int wake_first_main(void *arg)
{
	struct reel__xwait w;
	uint64_t t0;

	(void)arg;
	/* Woken and delivered before the park: the park returns at once. */
	reel__xwait_init(&w);
	reel__xwait_wake(&w);
	FCHECK_EQ(reel_sleep(MS), 0);   /* a pass end runs the message */
	FCHECK(reel__xwait_woken(&w));
	t0 = reel_now();
	FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, 10 * SEC), 0);
	FCHECK(reel_now() - t0 < 100 * MS);
	/* Woken but not yet delivered: the park waits for the message. */
	reel__xwait_init(&w);
	reel__xwait_wake(&w);
	FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, 10 * SEC), 0);
	return 0;
}

static void test_wake_before_park(void **state)
{
	(void)state;
	run_ok(wake_first_main, NULL);
}

/* ---- interruptions ------------------------------------------------------------------ */

static int timeout_main(void *arg)
{
	struct reel__xwait w;
	struct reel_scope sc;
	uint64_t t0;
	int r;

	(void)arg;
	reel__xwait_init(&w);
	t0 = reel_now();
	r = reel__xwait_park(&w, REEL__PARK_XCHAN, 50 * MS);
	FCHECK_EQ(r, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	FCHECK(!reel__xwait_woken(&w));
	/* Inside a deadline scope. */
	t0 = reel_now();   /* before the scope: its deadline counts from entry */
	REEL_TIMEOUT(&sc, 40 * MS) {
		FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, REEL__FOREVER), -ETIMEDOUT);
		FCHECK(reel_now() - t0 >= 40 * MS);
	}
	return 0;
}

static void test_timeout(void **state)
{
	(void)state;
	run_ok(timeout_main, NULL);
}

/* Cancelled while parked; the waker "had already taken it", so the fiber
 * settles: it returns only after the wake, 60 ms later. */
struct settle_case {
	struct reel__xwait w;
	int park_rc;
	uint64_t settled_ns;
};

static int settle_child(void *arg)
{
	struct settle_case *c = arg;

	reel__xwait_init(&c->w);
	c->park_rc = reel__xwait_park(&c->w, REEL__PARK_XCHAN, REEL__FOREVER);
	if (c->park_rc < 0)
		reel__xwait_settle(&c->w);
	c->settled_ns = reel_now();
	return 7;
}

static int settle_main(void *arg)
{
	struct settle_case c = { .park_rc = 1 };
	struct waker k = { &c.w, 60 * MS };
	reel_task t;
	pthread_t th;
	uint64_t t0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, settle_child, &c, NULL), 0);
	FCHECK_EQ(reel_sleep(MS), 0);   /* the child parks */
	t0 = reel_now();
	FCHECK_EQ(pthread_create(&th, NULL, waker_thread, &k), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 7);
	FCHECK_EQ(c.park_rc, -ECANCELED);
	FCHECK(c.settled_ns - t0 >= 60 * MS);
	pthread_join(th, NULL);
	return 0;
}

static void test_cancel_then_settle(void **state)
{
	(void)state;
	run_ok(settle_main, NULL);
}

/* ---- a burst of posts from a thread ------------------------------------------------- */

struct counted {
	struct reel__xmsg msg;
	unsigned seq;
	struct burst *b;
};

struct burst {
	struct reel__inbox *ib;
	struct counted *msgs;
	unsigned n, ran, out_of_order, refused;
	struct reel__xwait done;
};

static void counted_run(struct reel__xmsg *m)
{
	struct counted *c = reel__container_of(m, struct counted, msg);
	struct burst *b = c->b;

	if (c->seq != b->ran)
		b->out_of_order++;
	if (++b->ran == b->n)
		reel__xwait_wake(&b->done);   /* to our own inbox: runs next */
}

static void *burst_thread(void *arg)
{
	struct burst *b = arg;

	nap(10 * MS);
	for (unsigned i = 0; i < b->n; i++)
		if (reel__xmsg_post(b->ib, &b->msgs[i].msg) != 0)
			b->refused++;
	return NULL;
}

static int burst_main(void *arg)
{
	struct burst *b = arg;
	pthread_t t;

	b->ib = reel__loop_inbox(reel__loop_cur);
	reel__xwait_init(&b->done);
	FCHECK_EQ(pthread_create(&t, NULL, burst_thread, b), 0);
	FCHECK_EQ(reel__xwait_park(&b->done, REEL__PARK_XCHAN, REEL__FOREVER), 0);
	pthread_join(t, NULL);
	return 0;
}

static void test_burst(void **state)
{
	struct burst b = { .n = (unsigned)scaled(200000) };
	const struct reel__loop_stats *s;

	(void)state;
	b.msgs = calloc(b.n, sizeof(*b.msgs));
	assert_non_null(b.msgs);
	for (unsigned i = 0; i < b.n; i++)
		b.msgs[i] = (struct counted){ .msg.run = counted_run, .seq = i, .b = &b };
	run_ok(burst_main, &b);
	s = reel__last_run_stats();
	assert_int_equal(b.ran, b.n);
	assert_int_equal(b.out_of_order, 0);
	assert_int_equal(b.refused, 0);
	/* Batching: a wake-up per batch, not per post. */
	assert_true(s->waits < b.n / 4);
	free(b.msgs);
}

/* ---- ping-pong between two loops ---------------------------------------------------- */

struct pingpong {
	struct reel__xwait *_Atomic slot[2];   /* each side's current wait */
	unsigned rounds;
	bool no_msg_ring;
	uint64_t poll_ns;
	int status[2];
	uint64_t elapsed_ns;
};

struct side {
	struct pingpong *pp;
	int me;
};

static struct reel__xwait *take_peer(struct pingpong *pp, int peer)
{
	return atomic_exchange(&pp->slot[peer], NULL);
}

static int serve_side(void *arg)
{
	struct side *sd = arg;
	struct pingpong *pp = sd->pp;
	struct reel__xwait w;

	reel__xwait_init(&w);
	atomic_store(&pp->slot[1], &w);
	for (unsigned k = 0; k < pp->rounds; k++) {
		struct reel__xwait *p;

		FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, 10 * SEC), 0);
		if (k + 1 < pp->rounds) {
			reel__xwait_init(&w);
			atomic_store(&pp->slot[1], &w);
		}
		p = take_peer(pp, 0);
		FCHECK(p != NULL);
		reel__xwait_wake(p);
	}
	return 0;
}

static int ask_side(void *arg)
{
	struct side *sd = arg;
	struct pingpong *pp = sd->pp;
	struct reel__xwait w;
	uint64_t t0;

	while (atomic_load(&pp->slot[1]) == NULL)
		FCHECK_EQ(reel_sleep(MS), 0);
	t0 = reel_now();
	for (unsigned k = 0; k < pp->rounds; k++) {
		struct reel__xwait *p;

		reel__xwait_init(&w);
		atomic_store(&pp->slot[0], &w);
		p = take_peer(pp, 1);
		FCHECK(p != NULL);
		reel__xwait_wake(p);
		FCHECK_EQ(reel__xwait_park(&w, REEL__PARK_XCHAN, 10 * SEC), 0);
	}
	pp->elapsed_ns = reel_now() - t0;
	return 0;
}

struct pp_thread {
	struct side sd;
	struct reel__inbox *ib;
	int rc;
};

static void *pp_thread_fn(void *arg)
{
	struct pp_thread *t = arg;

	reel__inbox_adopt_next(t->ib, t->sd.pp);
	t->rc = reel_run(t->sd.me ? serve_side : ask_side, &t->sd, NULL, &t->sd.pp->status[t->sd.me]);
	return NULL;
}

static void run_pingpong(bool no_msg_ring, uint64_t poll_ns, const char *what)
{
	struct pingpong pp = { .rounds = (unsigned)scaled(5000), .no_msg_ring = no_msg_ring };
	struct pp_thread t[2];
	pthread_t th[2];
	int err;

	for (int i = 0; i < 2; i++) {
		t[i] = (struct pp_thread){ .sd = { &pp, i } };
		t[i].ib = reel__inbox_new(poll_ns, no_msg_ring, &err);
		assert_non_null(t[i].ib);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pp_thread_fn, &t[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
		assert_int_equal(pp.status[i], 0);
	}
	assert_no_fiber_failure();
	/* Both loops have ended: a post is refused, the message stays ours. */
	{
		struct counted c = { .msg.run = counted_run };

		assert_int_equal(reel__xmsg_post(t[1].ib, &c.msg), -ESHUTDOWN);
	}
	/* Each wake-up went the way asked for (a loop may post to itself,
	 * by neither way: it is awake). */
	for (int i = 0; i < 2; i++) {
		if (no_msg_ring || getenv("REEL_DISABLE"))
			assert_int_equal(t[i].ib->wakes_msg_ring, 0);
		else
			assert_true(t[i].ib->wakes_msg_ring >= t[i].ib->wakes_eventfd);
		printf("  loop %d: woken %llu times by MSG_RING, %llu by eventfd\n", i,
		       (unsigned long long)t[i].ib->wakes_msg_ring,
		       (unsigned long long)t[i].ib->wakes_eventfd);
	}
	for (int i = 0; i < 2; i++)
		reel__inbox_free(t[i].ib);
	printf("  ping-pong by %s: %u round trips, %.1f us each\n", what, pp.rounds,
	       (double)pp.elapsed_ns / pp.rounds / 1e3);
}

static void test_pingpong_msg_ring(void **state)
{
	(void)state;
	run_pingpong(false, 0, "MSG_RING");
}

static void test_pingpong_eventfd(void **state)
{
	(void)state;
	run_pingpong(true, 0, "eventfd");
}

/* REEL_DISABLE=msg_ring: the loops' own choice, no flag needed. */
static void test_pingpong_env(void **state)
{
	(void)state;
	setenv("REEL_DISABLE", "msg_ring", 1);
	run_pingpong(false, 0, "eventfd (REEL_DISABLE=msg_ring)");
	unsetenv("REEL_DISABLE");
}

static void test_pingpong_poll(void **state)
{
	(void)state;
	run_pingpong(false, 50000, "MSG_RING, 50 us poll");
}

/* reel-caps says which way peers wake a loop. */
static void test_caps_report(void **state)
{
	struct reel_run_opts o = { .disable = REEL_NO_MSG_RING };
	static char rep[8192];

	(void)state;
	assert_true(reel_capabilities(rep, sizeof(rep), NULL) > 0);
	assert_non_null(strstr(rep, "loop wake-ups:  MSG_RING"));
	assert_true(reel_capabilities(rep, sizeof(rep), &o) > 0);
	assert_non_null(strstr(rep, "loop wake-ups:  eventfd (MSG_RING disabled"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wake_from_thread),
		cmocka_unit_test(test_wake_before_park),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel_then_settle),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_pingpong_msg_ring),
		cmocka_unit_test(test_pingpong_eventfd),
		cmocka_unit_test(test_pingpong_env),
		cmocka_unit_test(test_pingpong_poll),
		cmocka_unit_test(test_caps_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
