/*
 * Description: the runtime of N loops and cross-loop tasks
 * (engine/runtime/rt.c, remote.c; api/reel_rt.h): 2 and 4 loops, each main
 * sees its index and the count, pinned loops run on their CPU; statuses
 * returned, a failed main named on stderr; a loop that cannot start stops
 * the others before any main runs; stop from a fiber, from another thread
 * and by SIGTERM ends mains parked forever, and a stop with remote calls
 * in flight both ways ends every call; remote calls return values,
 * 100k of them between two loops; a remote task cancelled by
 * reel_remote_cancel and by cancelling its caller (the remote sees
 * -ECANCELED, the caller gets its status, the remote has ended); a call_for
 * deadline (never early, the remote ended); a loop whose main returned
 * still serves; spawn after stop is refused; an unjoined remote aborts
 * naming its fiber; plain reel_run is a runtime of one loop. The remote
 * tests run again with eventfd wake-ups (REEL_RT_NO_MSG_RING) and with the
 * brief poll.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "helpers.h"
#include "reel_rt.h"

/* ThreadSanitizer makes a fiber's context cost ~1 MB of memset: the big
 * counts shrink a hundredfold there. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_SCALE 100
#else
#define TSAN_SCALE 1
#endif

/* The options every remote test runs with (the wake-up variants). */
static struct reel_rt_opts variant;

static void rt_ok(reel_fn main, void *arg, unsigned loops, int *statuses)
{
	struct reel_rt_opts o = variant;
	int st[8];

	o.loops = loops;
	assert_int_equal(reel_rt_run(main, arg, &o, statuses ? statuses : st, loops), 0);
	assert_no_fiber_failure();
	if (!statuses)
		for (unsigned i = 0; i < loops; i++)
			assert_int_equal(st[i], 0);
}

/* ---- start and wait ---------------------------------------------------------------- */

struct who {
	atomic_int seen[8];
	int cpu[8];
	int loops[8];
};

static int who_main(void *arg)
{
	struct who *w = arg;
	int i = reel_rt_index();

	FCHECK(i >= 0 && i < 8);
	FCHECK(reel_rt_self() != NULL);
	w->loops[i] = reel_rt_loops();
	w->cpu[i] = sched_getcpu();
	atomic_fetch_add(&w->seen[i], 1);
	FCHECK_EQ(reel_sleep(MS), 0);
	return 10 * i + 1;
}

static void check_start(unsigned loops, unsigned flags)
{
	struct reel_rt_opts o = { .loops = loops, .flags = flags };
	struct who w = { 0 };
	int st[8] = { 0 }, allowed[64], ncpus = 0;
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < 64; c++)
		if (CPU_ISSET(c, &set))
			allowed[ncpus++] = c;
	assert_int_equal(reel_rt_run(who_main, &w, &o, st, loops), 0);
	assert_no_fiber_failure();
	for (unsigned i = 0; i < loops; i++) {
		assert_int_equal(atomic_load(&w.seen[i]), 1);
		assert_int_equal(w.loops[i], (int)loops);
		assert_int_equal(st[i], 10 * (int)i + 1);
		if (!(flags & REEL_RT_NO_PIN))
			assert_int_equal(w.cpu[i], allowed[i % (unsigned)ncpus]);
	}
}

static void test_start_wait(void **state)
{
	(void)state;
	check_start(2, 0);
	check_start(4, 0);
	check_start(3, REEL_RT_NO_PIN | REEL_RT_NO_SIGNALS);
}

static int plain_main(void *arg)
{
	int st = 0;

	(void)arg;
	FCHECK(reel_rt_self() == NULL);
	FCHECK_EQ(reel_rt_loops(), 1);
	FCHECK_EQ(reel_rt_index(), 0);
	FCHECK_EQ(reel_loop_call(0, return_arg, (void *)(intptr_t)42, &st), 0);
	FCHECK_EQ(st, 42);
	FCHECK_EQ(reel_loop_call(1, return_arg, NULL, &st), -EINVAL);
	FCHECK_EQ(reel_rt_run(return_arg, NULL, NULL, NULL, 0), -EPERM);
	return 0;
}

/* A loop started by plain reel_run: a runtime of one, calls to itself. */
static void test_plain_loop(void **state)
{
	(void)state;
	assert_int_equal(reel_rt_loops(), -EPERM);
	assert_int_equal(reel_rt_index(), -EPERM);
	assert_null(reel_rt_self());
	run_ok(plain_main, NULL);
}

static int never_runs(void *arg)
{
	atomic_store((atomic_int *)arg, 1);
	return 0;
}

static void test_bad_start(void **state)
{
	struct reel_run_opts bad_run = { .ring_entries = 1u << 20 };
	struct reel_rt_opts o = { .loops = 2, .run = &bad_run };
	int cpus[2] = { 0, CPU_SETSIZE - 1 };
	struct reel_rt *rt;
	char why[256] = "";
	atomic_int ran = 0;

	(void)state;
	assert_int_equal(reel_rt_start(NULL, never_runs, &ran, NULL), -EINVAL);
	assert_int_equal(reel_rt_start(&rt, NULL, &ran, NULL), -EINVAL);
	o.loops = 2000;
	assert_int_equal(reel_rt_start(&rt, never_runs, &ran, &o), -EINVAL);
	/* Every loop fails (reel_run refuses the ring size). */
	o.loops = 2;
	assert_int_equal(reel_rt_start(&rt, never_runs, &ran, &o), -EINVAL);
	/* One loop cannot be pinned: the other is stopped before its main. */
	bad_run.ring_entries = 0;
	bad_run.errbuf = why;
	bad_run.errbuf_len = sizeof(why);
	o.cpus = cpus;
	assert_int_equal(reel_rt_start(&rt, never_runs, &ran, &o), -EINVAL);
	assert_non_null(strstr(why, "cannot be pinned"));
	assert_int_equal(atomic_load(&ran), 0);
	assert_int_equal(reel_rt_stop(NULL), -EINVAL);
	assert_int_equal(reel_rt_wait(NULL, NULL, 0), -EINVAL);
}

/* ---- statuses and failures ----------------------------------------------------------- */

static int fail_on_1(void *arg)
{
	(void)arg;
	return reel_rt_index() == 1 ? -EIO : 0;
}

static void run_fail_on_1(void *arg)
{
	struct reel_rt_opts o = { .loops = 2 };

	(void)arg;
	_exit(reel_rt_run(fail_on_1, NULL, &o, NULL, 0) == 0 ? 0 : 1);
}

static void test_statuses(void **state)
{
	char out[2048];
	int st[2] = { 1, 1 }, ws;

	(void)state;
	rt_ok(fail_on_1, NULL, 2, st);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], -EIO);
	/* Not received: named on stderr. */
	ws = call_in_child(run_fail_on_1, NULL, out, sizeof(out));
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	assert_non_null(strstr(out, "loop 1: main failed"));
	assert_null(strstr(out, "loop 0"));
}

/* ---- stop ---------------------------------------------------------------------------- */

struct stopper {
	atomic_int parked;
	int how;               /* 0: loop 0's main stops it */
	uint64_t t0;
};

static int park_forever(void *arg)
{
	struct stopper *s = arg;
	int r;

	atomic_fetch_add(&s->parked, 1);
	if (s->how == 0 && reel_rt_index() == 0) {
		while (atomic_load(&s->parked) < reel_rt_loops())
			FCHECK_EQ(reel_sleep(MS), 0);
		FCHECK_EQ(reel_rt_stop(reel_rt_self()), 0);
		FCHECK_EQ(reel_rt_stop(reel_rt_self()), 0);   /* idempotent */
	}
	r = reel_sleep(100 * SEC);
	FCHECK_EQ(r, -ECANCELED);
	return r;
}

static void *stop_later(void *arg)
{
	struct reel_rt *rt = arg;

	nap(50 * MS);
	reel_rt_stop(rt);
	return NULL;
}

static void check_stopped(const int *st, unsigned n, uint64_t t0)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(st[i], -ECANCELED);
	assert_true(reel_now() - t0 < 10 * SEC);
}

static void test_stop(void **state)
{
	struct reel_rt_opts o = { .loops = 3 };
	struct stopper s = { 0 };
	struct sigaction now;
	struct reel_rt *rt;
	pthread_t th;
	int st[3];
	uint64_t t0 = reel_now();

	(void)state;
	/* From a fiber. */
	assert_int_equal(reel_rt_run(park_forever, &s, &o, st, 3), 0);
	assert_no_fiber_failure();
	check_stopped(st, 3, t0);
	/* From another thread. */
	s = (struct stopper){ .how = 1 };
	assert_int_equal(reel_rt_start(&rt, park_forever, &s, &o), 0);
	assert_int_equal(pthread_create(&th, NULL, stop_later, rt), 0);
	assert_int_equal(reel_rt_wait(rt, st, 3), 0);
	pthread_join(th, NULL);
	assert_no_fiber_failure();
	check_stopped(st, 3, t0);
	/* By SIGTERM, which the runtime handles until reel_rt_wait returns. */
	s = (struct stopper){ .how = 2 };
	assert_int_equal(reel_rt_start(&rt, park_forever, &s, &o), 0);
	while (atomic_load(&s.parked) < 3)
		nap(MS);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(reel_rt_wait(rt, st, 3), 0);
	assert_no_fiber_failure();
	check_stopped(st, 3, t0);
	assert_int_equal(sigaction(SIGTERM, NULL, &now), 0);
	assert_true(now.sa_handler == SIG_DFL);
}

/* Stop while remote calls are in flight both ways: every call ends (the
 * remote cancelled and awaited), every loop ends, nothing hangs. */
struct inflight {
	atomic_int calls_started, calls_cancelled, remote_cancelled;
};

static int slow_remote(void *arg)
{
	struct inflight *f = arg;
	int r = reel_sleep(10 * SEC);

	if (r == -ECANCELED)
		atomic_fetch_add(&f->remote_cancelled, 1);
	return r;
}

static int inflight_caller(void *arg)
{
	struct inflight *f = arg;
	int st = 1, r;

	atomic_fetch_add(&f->calls_started, 1);
	r = reel_loop_call(1 - reel_rt_index(), slow_remote, f, &st);
	/* The caller is cancelled by its loop's end, or the remote by its
	 * loop's end first (then the call itself succeeds). */
	FCHECK(r == -ECANCELED || r == 0);
	FCHECK_EQ(st, -ECANCELED);
	atomic_fetch_add(&f->calls_cancelled, 1);
	return 0;
}

static int inflight_main(void *arg)
{
	struct inflight *f = arg;
	reel_task t[10];

	for (int i = 0; i < 10; i++)
		FCHECK_EQ(reel_spawn(&t[i], inflight_caller, f, NULL), 0);
	return reel_sleep(100 * SEC) == -ECANCELED ? 0 : -EFAULT;   /* tasks: cancelled at exit */
}

static void test_stop_in_flight(void **state)
{
	struct reel_rt_opts o = { .loops = 2 };
	struct inflight f = { 0 };
	struct reel_rt *rt;
	int st[2];

	(void)state;
	assert_int_equal(reel_rt_start(&rt, inflight_main, &f, &o), 0);
	while (atomic_load(&f.calls_started) < 20)
		nap(MS);
	nap(20 * MS);
	assert_int_equal(reel_rt_stop(rt), 0);
	assert_int_equal(reel_rt_wait(rt, st, 2), 0);
	assert_no_fiber_failure();
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], 0);
	assert_int_equal(atomic_load(&f.calls_cancelled), 20);
	assert_int_equal(atomic_load(&f.remote_cancelled), 20);
}

/* ---- remote calls ---------------------------------------------------------------------- */

static int times_100_plus_index(void *arg)
{
	return (int)(intptr_t)arg * 100 + reel_rt_index();
}

static int calls_main(void *arg)
{
	int me = reel_rt_index(), n = reel_rt_loops(), st = -1;
	struct reel_remote r;

	(void)arg;
	for (int peer = 0; peer < n; peer++) {
		FCHECK_EQ(reel_loop_call(peer, times_100_plus_index, (void *)(intptr_t)(me + 1),
					 &st), 0);
		FCHECK_EQ(st, (me + 1) * 100 + peer);
	}
	FCHECK_EQ(reel_loop_spawn(&r, n, return_arg, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_loop_spawn(&r, -1, return_arg, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_loop_spawn(NULL, 0, return_arg, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_loop_spawn(&r, 0, NULL, NULL, NULL), -EINVAL);
	/* Spawn and join apart, with options; join twice is refused. */
	FCHECK_EQ(reel_loop_spawn(&r, n - 1 - me, times_100_plus_index, (void *)7,
				  &(struct reel_spawn_opts){ .stack_size = 128 * 1024,
							     .name = "remote" }), 0);
	FCHECK_EQ(reel_remote_join(&r, &st), 0);
	FCHECK_EQ(st, 700 + n - 1 - me);
	FCHECK_EQ(reel_remote_join(&r, &st), -EINVAL);
	FCHECK_EQ(reel_remote_cancel(&r), -EINVAL);
	return 0;
}

static void test_remote_calls(void **state)
{
	(void)state;
	rt_ok(calls_main, NULL, 3, NULL);
	assert_int_equal(reel_loop_call(0, return_arg, NULL, NULL), -EPERM);
}

/* Many calls from many fibers of loop 0 to loop 1 (and back). */
struct many {
	unsigned per_fiber, fibers;
	atomic_uint done;
};

static int add_one(void *arg)
{
	return (int)(intptr_t)arg + 1;
}

static int caller_fiber(void *arg)
{
	struct many *m = arg;
	int peer = 1 - reel_rt_index();

	for (unsigned i = 0; i < m->per_fiber; i++) {
		int st = -1;

		FCHECK_EQ(reel_loop_call(peer, add_one, (void *)(intptr_t)i, &st), 0);
		FCHECK_EQ(st, (int)i + 1);
		atomic_fetch_add(&m->done, 1);
	}
	return 0;
}

static int many_main(void *arg)
{
	struct many *m = arg;
	reel_task t[64];
	uint64_t t0 = reel_now();
	int st;

	if (reel_rt_index() != 0)
		return 0;   /* loop 1 serves, its main returned */
	for (unsigned i = 0; i < m->fibers; i++)
		FCHECK_EQ(reel_spawn(&t[i], caller_fiber, m, NULL), 0);
	for (unsigned i = 0; i < m->fibers; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	printf("  %u remote calls in %.0f ms (%u fibers)\n", m->per_fiber * m->fibers,
	       (double)(reel_now() - t0) / 1e6, m->fibers);
	return 0;
}

/* One call at a time, loop 1 idle between them: the round trip. */
static int latency_main(void *arg)
{
	unsigned n = (unsigned)scaled(2000 / TSAN_SCALE);
	uint64_t t0;
	int st;

	(void)arg;
	if (reel_rt_index() != 0)
		return 0;
	t0 = reel_now();
	for (unsigned i = 0; i < n; i++) {
		FCHECK_EQ(reel_loop_call(1, add_one, (void *)(intptr_t)i, &st), 0);
		FCHECK_EQ(st, (int)i + 1);
	}
	printf("  one call at a time: %.1f us per round trip\n",
	       (double)(reel_now() - t0) / n / 1e3);
	return 0;
}

static void test_call_latency(void **state)
{
	(void)state;
	rt_ok(latency_main, NULL, 2, NULL);
}

/* Both loops busy (a fiber yielding in a loop on each): posts are seen at
 * pass ends, no wake-up through the kernel. */
static int spin_yielding(void *arg)
{
	(void)arg;
	while (reel_yield() == 0)
		;
	return 0;
}

static int busy_latency_main(void *arg)
{
	/* valgrind runs one thread at a time: a spinning loop's peer gets
	 * the CPU only every few hundred ms there. */
	unsigned n = RUNNING_ON_VALGRIND ? 5 : (unsigned)scaled(2000 / TSAN_SCALE);
	struct reel_remote far;
	reel_task near;
	uint64_t t0;
	int st;

	(void)arg;
	if (reel_rt_index() != 0)
		return 0;
	FCHECK_EQ(reel_spawn(&near, spin_yielding, NULL, NULL), 0);
	FCHECK_EQ(reel_loop_spawn(&far, 1, spin_yielding, NULL, NULL), 0);
	t0 = reel_now();
	for (unsigned i = 0; i < n; i++) {
		FCHECK_EQ(reel_loop_call(1, add_one, (void *)(intptr_t)i, &st), 0);
		FCHECK_EQ(st, (int)i + 1);
	}
	printf("  one call at a time, both loops busy: %.1f us per round trip\n",
	       (double)(reel_now() - t0) / n / 1e3);
	FCHECK_EQ(reel_remote_cancel(&far), 0);
	FCHECK_EQ(reel_remote_join(&far, &st), 0);
	FCHECK_EQ(reel_cancel(near), 0);
	FCHECK_EQ(reel_join(near, &st), 0);
	return 0;
}

static void test_call_latency_busy(void **state)
{
	(void)state;
	rt_ok(busy_latency_main, NULL, 2, NULL);
}

static void test_many_calls(void **state)
{
	struct many m = { .fibers = 50 };

	(void)state;
	/* valgrind runs one thread at a time, each hop a bounded 1 ms wait. */
	m.per_fiber = RUNNING_ON_VALGRIND ? 10 : (unsigned)scaled(100000 / TSAN_SCALE) / m.fibers;
	rt_ok(many_main, &m, 2, NULL);
	assert_int_equal(atomic_load(&m.done), m.per_fiber * m.fibers);
}

/* ---- cancellation and deadlines ---------------------------------------------------------- */

struct sleeper {
	atomic_int started, ended;
	int sleep_rc;
};

static int sleep_10s(void *arg)
{
	struct sleeper *s = arg;

	atomic_store(&s->started, 1);
	s->sleep_rc = reel_sleep(10 * SEC);
	atomic_store(&s->ended, 1);
	return s->sleep_rc == -ECANCELED ? -ECANCELED : 5;
}

static int wait_started(struct sleeper *s)
{
	while (!atomic_load(&s->started))
		FCHECK_EQ(reel_sleep(MS), 0);
	return 0;
}

static int calling_task(void *arg)
{
	struct sleeper *s = arg;
	int st = 1, r;

	r = reel_loop_call(1, sleep_10s, s, &st);
	FCHECK_EQ(r, -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);          /* the remote's own status */
	FCHECK(atomic_load(&s->ended));     /* it never outlives the call */
	return 9;
}

static int cancel_main(void *arg)
{
	struct sleeper s = { 0 }, s2 = { 0 }, s3 = { 0 };
	struct reel_remote r;
	reel_task t;
	int st = 1;

	(void)arg;
	if (reel_rt_index() != 0)
		return 0;
	/* reel_remote_cancel: the remote sees -ECANCELED, join its status. */
	FCHECK_EQ(reel_loop_spawn(&r, 1, sleep_10s, &s, NULL), 0);
	FCHECK_EQ(wait_started(&s), 0);
	FCHECK_EQ(reel_remote_cancel(&r), 0);
	FCHECK_EQ(reel_remote_cancel(&r), 0);   /* idempotent */
	FCHECK_EQ(reel_remote_join(&r, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(s.sleep_rc, -ECANCELED);
	FCHECK(atomic_load(&s.ended));
	/* Cancelled before it started: it never runs. */
	FCHECK_EQ(reel_loop_spawn(&r, 1, sleep_10s, &s3, NULL), 0);
	FCHECK_EQ(reel_remote_cancel(&r), 0);
	FCHECK_EQ(reel_remote_join(&r, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	/* Cancel after it ended: its value stands. */
	FCHECK_EQ(reel_loop_spawn(&r, 1, return_arg, (void *)3, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_remote_cancel(&r), 0);
	FCHECK_EQ(reel_remote_join(&r, &st), 0);
	FCHECK_EQ(st, 3);
	/* Cancelling the caller cancels the remote; the call waits for it. */
	FCHECK_EQ(reel_spawn(&t, calling_task, &s2, NULL), 0);
	FCHECK_EQ(wait_started(&s2), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 9);
	(void)s3.started;
	return 0;
}

static void test_remote_cancel(void **state)
{
	(void)state;
	rt_ok(cancel_main, NULL, 2, NULL);
}

static int deadline_main(void *arg)
{
	struct sleeper s = { 0 }, s2 = { 0 };
	struct reel_scope sc;
	uint64_t t0;
	int st = 1;

	(void)arg;
	if (reel_rt_index() != 0)
		return 0;
	t0 = reel_now();
	FCHECK_EQ(reel_loop_call_for(1, sleep_10s, &s, &st, 100 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 100 * MS);
	FCHECK(reel_now() - t0 < 100 * MS + LATE_OK_NS);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(atomic_load(&s.ended));
	/* An enclosing deadline does the same to a plain call. */
	t0 = reel_now();
	REEL_TIMEOUT(&sc, 80 * MS) {
		FCHECK_EQ(reel_loop_call(1, sleep_10s, &s2, &st), -ETIMEDOUT);
	}
	FCHECK(reel_now() - t0 >= 80 * MS);
	FCHECK(atomic_load(&s2.ended));
	/* In time: the value. */
	FCHECK_EQ(reel_loop_call_for(1, return_arg, (void *)4, &st, SEC), 0);
	FCHECK_EQ(st, 4);
	return 0;
}

static void test_call_for(void **state)
{
	(void)state;
	rt_ok(deadline_main, NULL, 2, NULL);
}

/* ---- lifetimes ---------------------------------------------------------------------------- */

static int late_main(void *arg)
{
	int st = 0;

	(void)arg;
	if (reel_rt_index() == 1)
		return 0;   /* returns at once; loop 0 calls it later */
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(reel_loop_call(1, times_100_plus_index, (void *)2, &st), 0);
	FCHECK_EQ(st, 201);
	return 0;
}

static void test_served_after_main(void **state)
{
	(void)state;
	rt_ok(late_main, NULL, 2, NULL);
}

static int stop_then_spawn(void *arg)
{
	struct reel_remote r;
	int st = 0;

	(void)arg;
	if (reel_rt_index() == 0) {
		FCHECK_EQ(reel_rt_stop(reel_rt_self()), 0);
		FCHECK_EQ(reel_loop_spawn(&r, 1, return_arg, NULL, NULL), -ESHUTDOWN);
		FCHECK_EQ(reel_loop_call(0, return_arg, NULL, &st), -ESHUTDOWN);
		FCHECK_EQ(st, -ESHUTDOWN);
	}
	return 0;
}

static void test_spawn_after_stop(void **state)
{
	(void)state;
	rt_ok(stop_then_spawn, NULL, 2, NULL);
}

static int leaves_unjoined(void *arg)
{
	struct reel_remote r;

	/* To its own loop: the spawn message runs at a pass end, after the
	 * abort - a peer loop could read @r's dead frame first. */
	(void)arg;
	if (reel_rt_index() == 0)
		reel_loop_spawn(&r, 0, return_arg, NULL, &(struct reel_spawn_opts){ .name = "x" });
	return 0;
}

static int unjoined_main(void *arg)
{
	reel_task t;

	(void)arg;
	if (reel_spawn(&t, leaves_unjoined, NULL, &(struct reel_spawn_opts){ .name = "forgetful" }))
		return -1;
	return reel_join(t, NULL);
}

static void run_unjoined(void *arg)
{
	struct reel_rt_opts o = { .loops = 2 };

	(void)arg;
	reel_rt_run(unjoined_main, NULL, &o, NULL, 0);
}

static void test_unjoined_aborts(void **state)
{
	char out[2048];
	int ws;

	(void)state;
	ws = call_in_child(run_unjoined, NULL, out, sizeof(out));
	if (!(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT))
		fprintf(stderr, "child: status %#x, said:\n%s\n", ws, out);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT);
	assert_non_null(strstr(out, "forgetful"));
	assert_non_null(strstr(out, "remote"));
}

/* ---- the same over eventfd, and with the brief poll ------------------------------------------ */

static int use_eventfd(void **state)
{
	(void)state;
	variant = (struct reel_rt_opts){ .flags = REEL_RT_NO_MSG_RING };
	return 0;
}

static int use_poll(void **state)
{
	(void)state;
	variant = (struct reel_rt_opts){ .poll_ns = 20000 };
	return 0;
}

static int use_default(void **state)
{
	(void)state;
	variant = (struct reel_rt_opts){ 0 };
	return 0;
}

#define REMOTE_TESTS(setup)                                                          \
	cmocka_unit_test_setup_teardown(test_remote_calls, setup, use_default),      \
	cmocka_unit_test_setup_teardown(test_call_latency, setup, use_default),      \
	cmocka_unit_test_setup_teardown(test_call_latency_busy, setup, use_default), \
	cmocka_unit_test_setup_teardown(test_many_calls, setup, use_default),        \
	cmocka_unit_test_setup_teardown(test_remote_cancel, setup, use_default),     \
	cmocka_unit_test_setup_teardown(test_call_for, setup, use_default)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_wait),
		cmocka_unit_test(test_plain_loop),
		cmocka_unit_test(test_bad_start),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_stop_in_flight),
		REMOTE_TESTS(use_default),
		cmocka_unit_test(test_served_after_main),
		cmocka_unit_test(test_spawn_after_stop),
		cmocka_unit_test(test_unjoined_aborts),
		REMOTE_TESTS(use_eventfd),
		REMOTE_TESTS(use_poll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
