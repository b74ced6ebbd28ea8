/*
 * Description: the thread pool (engine/offload/threadpool.c;
 * api/reel_offload.h): reel_to_thread and reel_threadpool_size - a
 * CPU-bound job leaves a ticking fiber on schedule, 200 concurrent jobs all
 * get their own result, errors and bad input, a queued job cancelled at once
 * (it never runs), a loop whose only job is withdrawn still closes clean, a
 * running job cancelled only once it has finished, deadlines around
 * reel_to_thread, two loops on two threads at once.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"
#include "reel_offload.h"

/* Busy work on the CPU for @ns: the kind of job a loop must never run. */
static void spin_for(uint64_t ns)
{
	uint64_t end = reel_now() + ns;
	uint64_t x = 0;

	while (reel_now() < end) {
		for (int i = 0; i < 1000; i++)
			x += (uint64_t)i;
		/* valgrind runs one thread at a time and hands over rarely; a
		 * real machine runs the loop beside this thread. */
		if (RUNNING_ON_VALGRIND)
			sched_yield();
	}
	__asm__ volatile("" : : "r"(x));   /* keep the work */
}

/* The pool is process-wide: every test leaves it at this size. */
#define POOL_SIZE 4u

/* ---- thread pool: the loop keeps running ------------------------------------ */

struct ticks {
	bool stop;
	unsigned count;
	uint64_t max_gap;
};

static int ticker(void *arg)
{
	struct ticks *t = arg;
	uint64_t last = reel_now();

	while (!t->stop) {
		uint64_t now;

		FCHECK_EQ(reel_sleep(10 * MS), 0);
		now = reel_now();
		if (now - last > t->max_gap)
			t->max_gap = now - last;
		last = now;
		t->count++;
	}
	return 0;
}

static int spin_300ms(void *arg)
{
	spin_for(300 * MS);
	return (int)(intptr_t)arg;
}

static int spin_1s(void *arg)
{
	spin_for(1 * SEC);
	return (int)(intptr_t)arg;
}

static int ticks_main(void *arg)
{
	struct ticks t = { 0 };
	reel_task tk;
	int st = -1, r;

	(void)arg;
	FCHECK_EQ(reel_spawn(&tk, ticker, &t, NULL), 0);
	FCHECK_EQ(reel_to_thread(spin_1s, (void *)(intptr_t)42, &st), 0);
	FCHECK_EQ(st, 42);
	t.stop = true;
	FCHECK_EQ(reel_join(tk, &r), 0);
	FCHECK_EQ(r, 0);
	/* 1 s of 10 ms ticks is 100. A loop blocked by the job would show
	 * one gap of the whole second; the bound leaves room for this VM's
	 * occasional 0.1-0.5 s late wake-up (valgrind: see spin_for). */
	FCHECK(t.count >= 20u);
	FCHECK(t.max_gap < LATE_OK_NS + (RUNNING_ON_VALGRIND ? 200 * MS : 0));
	return 0;
}

static void test_threadpool_keeps_ticker_on_schedule(void **state)
{
	(void)state;
	run_ok(ticks_main, NULL);
}

/* ---- thread pool: many jobs, results, errors ------------------------------- */

static int square(void *arg)
{
	long v = (long)(intptr_t)arg;

	if (v % 7 == 0)
		nap(1 * MS);   /* mix quick and slower jobs */
	return (int)(v * v);
}

static int offload_square(void *arg)
{
	int st = -1;

	FCHECK_EQ(reel_to_thread(square, arg, &st), 0);
	return st;
}

static int many_main(void *arg)
{
	long n = scaled(200);
	reel_task *t = calloc((size_t)n, sizeof(*t));
	int r;

	(void)arg;
	FCHECK(t != NULL);
	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&t[i], offload_square, (void *)(intptr_t)i, NULL), 0);
	for (long i = 0; i < n; i++) {
		FCHECK_EQ(reel_join(t[i], &r), 0);
		FCHECK_EQ(r, i * i);
	}
	free(t);
	return 0;
}

static void test_threadpool_many_concurrent_results(void **state)
{
	(void)state;
	run_ok(many_main, NULL);
}

static int fail_eio(void *arg)
{
	(void)arg;
	return -EIO;
}

static int errors_main(void *arg)
{
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_to_thread(fail_eio, NULL, &st), 0);   /* the call worked */
	FCHECK_EQ(st, -EIO);                                 /* fn's own error */
	FCHECK_EQ(reel_to_thread(fail_eio, NULL, NULL), 0);
	FCHECK_EQ(reel_to_thread(NULL, NULL, &st), -EINVAL);
	return 0;
}

static void test_threadpool_errors_and_bad_input(void **state)
{
	int st = 5;

	(void)state;
	assert_int_equal(reel_to_thread(fail_eio, NULL, &st), -EPERM);
	assert_int_equal(st, 5);
	assert_int_equal(reel_threadpool_size(0), -EINVAL);
	assert_int_equal(reel_threadpool_size(100000), -EINVAL);
	assert_int_equal(reel_threadpool_size(POOL_SIZE), 0);
	run_ok(errors_main, NULL);
}

/* ---- thread pool: cancellation ------------------------------------------------ */

static atomic_bool gate_open, gate_entered, job_ran;

/* Holds its thread until the test opens the gate. */
static int wait_at_gate(void *arg)
{
	atomic_store(&gate_entered, true);
	while (!atomic_load(&gate_open))
		nap(1 * MS);
	return (int)(intptr_t)arg;
}

static int mark_ran(void *arg)
{
	(void)arg;
	atomic_store(&job_ran, true);
	return 1;
}

struct outcome {
	reel_fn fn;
	void *arg;
	int ret, status;
	uint64_t took;
	bool fn_done_at_return;   /* wait_at_gate's gate was open at the return */
};

static int offload_record(void *arg)
{
	struct outcome *o = arg;
	uint64_t t0 = reel_now();

	o->status = -12345;
	o->ret = reel_to_thread(o->fn, o->arg, &o->status);
	o->took = reel_now() - t0;
	o->fn_done_at_return = atomic_load(&gate_open);
	return 0;
}

/* Wait (parking) until a pool thread is inside wait_at_gate. */
static int until_gate_entered(void)
{
	for (int i = 0; i < 5000 && !atomic_load(&gate_entered); i++)
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK(atomic_load(&gate_entered));
	return 0;
}

static int cancel_queued_main(void *arg)
{
	struct outcome a = { .fn = wait_at_gate, .arg = (void *)(intptr_t)3 };
	struct outcome b = { .fn = mark_ran };
	reel_task ta, tb;
	int r;

	(void)arg;
	FCHECK_EQ(reel_spawn(&ta, offload_record, &a, NULL), 0);
	FCHECK_EQ(until_gate_entered(), 0);   /* the only thread is busy */
	FCHECK_EQ(reel_spawn(&tb, offload_record, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);    /* b's job is queued */
	FCHECK_EQ(reel_cancel(tb), 0);
	FCHECK_EQ(reel_join(tb, &r), 0);
	FCHECK_EQ(b.ret, -ECANCELED);
	FCHECK_EQ(b.status, -ECANCELED);
	FCHECK(b.took < 20 * MS + LATE_OK_NS);
	FCHECK(!atomic_load(&job_ran));
	atomic_store(&gate_open, true);
	FCHECK_EQ(reel_join(ta, &r), 0);
	FCHECK_EQ(a.ret, 0);
	FCHECK_EQ(a.status, 3);
	/* The withdrawn job stays withdrawn: the thread is free and idle. */
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(!atomic_load(&job_ran));
	return 0;
}

static void test_threadpool_cancel_queued_job(void **state)
{
	(void)state;
	atomic_store(&gate_open, false);
	atomic_store(&gate_entered, false);
	atomic_store(&job_ran, false);
	assert_int_equal(reel_threadpool_size(1), 0);
	run_ok(cancel_queued_main, NULL);
	assert_int_equal(reel_threadpool_size(POOL_SIZE), 0);
}

/* The loop's only job is withdrawn while its wake-up read is armed: the
 * read must be ended and reaped, so the loop still closes clean. The one
 * pool thread is held by another loop's job meanwhile. */
static int hold_gate_main(void *arg)
{
	int st = -1;

	FCHECK_EQ(reel_to_thread(wait_at_gate, (void *)(intptr_t)5, &st), 0);
	FCHECK_EQ(st, 5);
	*(bool *)arg = true;
	return 0;
}

static void *hold_gate_thread(void *arg)
{
	int st = -1;

	if (reel_run(hold_gate_main, arg, NULL, &st) != 0 || st != 0)
		*(bool *)arg = false;
	return NULL;
}

static int cancel_only_main(void *arg)
{
	struct outcome b = { .fn = mark_ran };
	reel_task tb;
	int r;

	(void)arg;
	FCHECK_EQ(reel_spawn(&tb, offload_record, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_cancel(tb), 0);
	FCHECK_EQ(reel_join(tb, &r), 0);
	FCHECK_EQ(b.ret, -ECANCELED);
	FCHECK(!atomic_load(&job_ran));
	return 0;
}

static void test_threadpool_cancel_only_job_closes_clean(void **state)
{
	bool other_ok = false;
	pthread_t th;

	(void)state;
	atomic_store(&gate_open, false);
	atomic_store(&gate_entered, false);
	atomic_store(&job_ran, false);
	assert_int_equal(reel_threadpool_size(1), 0);
	assert_int_equal(pthread_create(&th, NULL, hold_gate_thread, &other_ok), 0);
	for (int i = 0; i < 5000 && !atomic_load(&gate_entered); i++)
		nap(1 * MS);
	assert_true(atomic_load(&gate_entered));
	run_ok(cancel_only_main, NULL);
	atomic_store(&gate_open, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(other_ok);
	assert_false(atomic_load(&job_ran));
	assert_int_equal(reel_threadpool_size(POOL_SIZE), 0);
}

/* Opens the gate from a fiber after @arg ms, while the job runs. */
static int open_gate_later(void *arg)
{
	FCHECK_EQ(reel_sleep((uint64_t)(intptr_t)arg * MS), 0);
	atomic_store(&gate_open, true);
	return 0;
}

static int cancel_running_main(void *arg)
{
	struct outcome a = { .fn = wait_at_gate, .arg = (void *)(intptr_t)7 };
	reel_task ta, opener;
	int r;

	(void)arg;
	FCHECK_EQ(reel_spawn(&ta, offload_record, &a, NULL), 0);
	FCHECK_EQ(until_gate_entered(), 0);
	FCHECK_EQ(reel_cancel(ta), 0);
	/* The loop keeps running while the cancelled fiber waits. */
	FCHECK_EQ(reel_spawn(&opener, open_gate_later, (void *)(intptr_t)100, NULL), 0);
	FCHECK_EQ(reel_join(ta, &r), 0);
	FCHECK_EQ(a.ret, -ECANCELED);
	FCHECK_EQ(a.status, 7);               /* fn's status is still stored */
	FCHECK(a.fn_done_at_return);          /* never before fn has finished */
	FCHECK(a.took >= 100 * MS);
	FCHECK_EQ(reel_join(opener, &r), 0);
	return 0;
}

static void test_threadpool_cancel_running_job_waits_for_it(void **state)
{
	(void)state;
	atomic_store(&gate_open, false);
	atomic_store(&gate_entered, false);
	run_ok(cancel_running_main, NULL);
}

/* reel_wait_for around reel_to_thread: running, queued and in time. */
static int offload_gate(void *arg)
{
	struct outcome *o = arg;

	return offload_record(o) ? -EFAULT : o->ret;
}

static int deadline_main(void *arg)
{
	struct outcome a = { .fn = wait_at_gate, .arg = (void *)(intptr_t)9 };
	struct outcome b = { .fn = mark_ran };
	struct outcome c = { .fn = spin_300ms, .arg = (void *)(intptr_t)11 };
	reel_task opener;
	int st, r;

	(void)arg;
	/* Running when the deadline passes: waits for fn, then -ETIMEDOUT. The
	 * deadline leaves a worker 300 ms to take the job (valgrind on a loaded
	 * machine starts threads slowly); the gate opens well after it. */
	FCHECK_EQ(reel_spawn(&opener, open_gate_later, (void *)(intptr_t)700, NULL), 0);
	FCHECK_EQ(reel_wait_for(300 * MS, offload_gate, &a, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK_EQ(a.status, 9);
	FCHECK(a.fn_done_at_return);
	FCHECK_EQ(reel_join(opener, &r), 0);

	/* Queued when it passes (the one thread is held): out at once. */
	atomic_store(&gate_open, false);
	atomic_store(&gate_entered, false);
	a.status = 0;
	FCHECK_EQ(reel_spawn(&opener, offload_record, &a, NULL), 0);
	FCHECK_EQ(until_gate_entered(), 0);
	FCHECK_EQ(reel_wait_for(30 * MS, offload_gate, &b, &st), -ETIMEDOUT);
	FCHECK_EQ(b.status, -ETIMEDOUT);
	FCHECK(b.took < 30 * MS + LATE_OK_NS);
	FCHECK(!atomic_load(&job_ran));
	atomic_store(&gate_open, true);
	FCHECK_EQ(reel_join(opener, &r), 0);
	FCHECK_EQ(a.status, 9);

	/* In time: the result. */
	FCHECK_EQ(reel_wait_for(30 * SEC, offload_gate, &c, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(c.status, 11);
	return 0;
}

static void test_threadpool_wait_for_deadlines(void **state)
{
	(void)state;
	atomic_store(&gate_open, false);
	atomic_store(&job_ran, false);
	assert_int_equal(reel_threadpool_size(1), 0);
	run_ok(deadline_main, NULL);
	assert_int_equal(reel_threadpool_size(POOL_SIZE), 0);
}

/* ---- thread pool: two loops on two threads ----------------------------------- */

struct loop_thread {
	long base;
	int run_ret, status;
	bool clean;
};

static int add_base(void *arg)
{
	long *v = arg;

	if (*v % 5 == 0)
		nap(1 * MS);
	return (int)(*v + 1);
}

static int loop_thread_fiber(void *arg)
{
	long v = (long)(intptr_t)arg;
	int st = -1;

	FCHECK_EQ(reel_to_thread(add_base, &v, &st), 0);
	FCHECK_EQ(st, v + 1);
	return 0;
}

static int loop_thread_main(void *arg)
{
	struct loop_thread *lt = arg;
	long n = scaled(100);
	reel_task t[100];
	int r;

	for (long round = 0; round < 3; round++) {
		for (long i = 0; i < n; i++)
			FCHECK_EQ(reel_spawn(&t[i], loop_thread_fiber,
					     (void *)(intptr_t)(lt->base + round * 1000 + i), NULL), 0);
		for (long i = 0; i < n; i++) {
			FCHECK_EQ(reel_join(t[i], &r), 0);
			FCHECK_EQ(r, 0);
		}
	}
	return 0;
}

static void *loop_thread(void *arg)
{
	struct loop_thread *lt = arg;
	const struct reel__loop_stats *s;

	lt->run_ret = reel_run(loop_thread_main, lt, NULL, &lt->status);
	s = reel__last_run_stats();
	lt->clean = s->live_at_close == 0 && s->inflight_at_close == 0 &&
		    s->timers_at_close == 0 && s->stale_cqes == 0;
	return NULL;
}

static void test_threadpool_two_loops_at_once(void **state)
{
	struct loop_thread lt[2] = { { .base = 100000 }, { .base = 200000 } };
	pthread_t th[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, loop_thread, &lt[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_no_fiber_failure();
		assert_int_equal(lt[i].run_ret, 0);
		assert_int_equal(lt[i].status, 0);
		assert_true(lt[i].clean);
	}
	assert_loop_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threadpool_errors_and_bad_input),
		cmocka_unit_test(test_threadpool_keeps_ticker_on_schedule),
		cmocka_unit_test(test_threadpool_many_concurrent_results),
		cmocka_unit_test(test_threadpool_cancel_queued_job),
		cmocka_unit_test(test_threadpool_cancel_only_job_closes_clean),
		cmocka_unit_test(test_threadpool_cancel_running_job_waits_for_it),
		cmocka_unit_test(test_threadpool_wait_for_deadlines),
		cmocka_unit_test(test_threadpool_two_loops_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
