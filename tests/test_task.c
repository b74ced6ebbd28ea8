/*
 * Description: tasks (engine/core/task.c; docs/design.md §1b) through
 * the public API: reel_spawn, reel_join, reel_detach, reel_cancel, reel_self
 * and reel_spawn_background - join statuses, a task that already ended,
 * stale handles (-ESRCH, also from a previous reel_run), main's handle and a
 * second joiner (-EINVAL), joining oneself (-EDEADLK), sticky cancellation,
 * a task cancelled before its first run, cancel idempotent and on itself,
 * cancel propagated through join, bad spawn arguments, 10k tasks joined in
 * random order, and background tasks whose failures are reported.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- small fiber bodies (more in helpers.h) ------------------------------ */

/* Sleeps 10 s (far longer than any test) and records what the sleep returned. */
static int sleep_long_record(void *arg)
{
	*(int *)arg = reel_sleep(10 * SEC);
	return 0;
}

/* Like yield_then_return, for tasks that shutdown may cancel meanwhile. */
static int yield_ignoring_cancel(void *arg)
{
	for (int i = 0; i < 3; i++)
		(void)reel_yield();
	return (int)(intptr_t)arg;
}

/* ---- join returns the child's status ------------------------------------- */

static const int join_values[] = { 0, 1, 42, INT_MAX, -EIO, -ENOENT, -4095 };
#define NJOIN_VALUES ((int)(sizeof(join_values) / sizeof(join_values[0])))

static int join_status_main(void *arg)
{
	reel_task t[NJOIN_VALUES];
	int st;

	(void)arg;
	for (int i = 0; i < NJOIN_VALUES; i++)
		FCHECK_EQ(reel_spawn(&t[i], yield_then_return,
				     (void *)(intptr_t)join_values[i], NULL), 0);
	for (int i = 0; i < NJOIN_VALUES; i++) {
		st = 12345;
		FCHECK_EQ(reel_join(t[i], &st), 0);   /* parks: the task is alive */
		FCHECK_EQ(st, join_values[i]);
	}
	/* A NULL status pointer is allowed. */
	FCHECK_EQ(reel_spawn(&t[0], return_arg, (void *)7, NULL), 0);
	FCHECK_EQ(reel_join(t[0], NULL), 0);
	return 0;
}

static void test_task_join_returns_child_status(void **state)
{
	(void)state;
	run_ok(join_status_main, NULL);
}

/* ---- join of a task that already ended ----------------------------------- */

static bool ended_flag;

static int end_now(void *arg)
{
	ended_flag = true;
	return (int)(intptr_t)arg;
}

static int join_ended_main(void *arg)
{
	reel_task t;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, end_now, (void *)42, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK(ended_flag);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 42);
	/* Same with a negative status, after a sleep instead of a yield. */
	ended_flag = false;
	FCHECK_EQ(reel_spawn(&t, end_now, (void *)(intptr_t)-EPIPE, NULL), 0);
	FCHECK_EQ(reel_sleep(2 * MS), 0);
	FCHECK(ended_flag);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -EPIPE);
	return 0;
}

static void test_task_join_task_that_already_ended(void **state)
{
	(void)state;
	ended_flag = false;
	run_ok(join_ended_main, NULL);
}

/* ---- -ESRCH for stale handles -------------------------------------------- */

static bool detached_done;

static int detached_body(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_sleep(3 * MS), 0);
	detached_done = true;
	return 0;
}

/* Every handle-taking call answers -ESRCH for @t. */
static int expect_stale(reel_task t)
{
	int st = 777;

	FCHECK_EQ(reel_join(t, &st), -ESRCH);
	FCHECK_EQ(reel_detach(t), -ESRCH);
	FCHECK_EQ(reel_cancel(t), -ESRCH);
	return 0;
}

static int stale_main(void *arg)
{
	reel_task t, d, e, x, y, live;
	int st;

	(void)arg;
	/* Double join. */
	FCHECK_EQ(reel_spawn(&t, return_arg, (void *)7, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 7);
	FCHECK_EQ(expect_stale(t), 0);

	/* join/detach/cancel after detach; the detached task runs on. */
	FCHECK_EQ(reel_spawn(&d, detached_body, NULL, NULL), 0);
	FCHECK_EQ(reel_detach(d), 0);
	FCHECK_EQ(expect_stale(d), 0);
	for (int i = 0; i < 1000 && !detached_done; i++)
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK(detached_done);
	FCHECK_EQ(expect_stale(d), 0);

	/* Detach of a task that already ended frees it at once. */
	FCHECK_EQ(reel_spawn(&e, return_arg, (void *)3, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_detach(e), 0);
	FCHECK_EQ(expect_stale(e), 0);

	/* A freed slot is reused: the old handle must not reach the new task. */
	FCHECK_EQ(reel_spawn(&x, return_arg, (void *)1, NULL), 0);
	FCHECK_EQ(reel_join(x, &st), 0);
	FCHECK_EQ(reel_spawn(&y, return_arg, (void *)2, NULL), 0);
	FCHECK(x.id != y.id);
	FCHECK_EQ(expect_stale(x), 0);
	FCHECK_EQ(reel_join(y, &st), 0);
	FCHECK_EQ(st, 2);

	/* Never issued: id 0, ids with no generation, a live slot with the
	 * wrong generation, a free slot, a slot beyond the table. */
	FCHECK_EQ(reel_spawn(&live, yield_then_return, (void *)5, NULL), 0);
	FCHECK_EQ(expect_stale((reel_task){ 0 }), 0);
	FCHECK_EQ(expect_stale((reel_task){ 1 }), 0);
	FCHECK_EQ(expect_stale((reel_task){ (uint32_t)live.id }), 0);
	FCHECK_EQ(expect_stale((reel_task){ live.id + (1ull << 32) }), 0);
	FCHECK_EQ(expect_stale((reel_task){ live.id ^ (0x5aull << 40) }), 0);
	FCHECK_EQ(expect_stale((reel_task){ (1ull << 32) | 40 }), 0);
	FCHECK_EQ(expect_stale((reel_task){ (1ull << 32) | 0x7fffffffu }), 0);
	FCHECK_EQ(expect_stale((reel_task){ UINT64_MAX }), 0);
	FCHECK_EQ(reel_join(live, &st), 0);   /* the real one was not disturbed */
	FCHECK_EQ(st, 5);
	return 0;
}

static void test_task_stale_handles_esrch(void **state)
{
	(void)state;
	detached_done = false;
	run_ok(stale_main, NULL);
}

/* ---- a handle from a previous reel_run is stale -------------------------- */

static reel_task prev_joined, prev_detached, prev_leftover, prev_main;
static int prev_leftover_sleep;

static int prev_run1_main(void *arg)
{
	int st;

	(void)arg;
	prev_main = reel_self();
	FCHECK_EQ(reel_spawn(&prev_joined, return_arg, (void *)1, NULL), 0);
	FCHECK_EQ(reel_join(prev_joined, &st), 0);
	FCHECK_EQ(reel_spawn(&prev_detached, yield_ignoring_cancel, (void *)2, NULL), 0);
	FCHECK_EQ(reel_detach(prev_detached), 0);
	/* Left alive: cancelled at the end of this run. */
	FCHECK_EQ(reel_spawn(&prev_leftover, sleep_long_record, &prev_leftover_sleep, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static int prev_run2_main(void *arg)
{
	reel_task t[4];
	int st;

	(void)arg;
	/* Nothing spawned yet in this run. */
	FCHECK_EQ(expect_stale(prev_joined), 0);
	FCHECK_EQ(expect_stale(prev_detached), 0);
	FCHECK_EQ(expect_stale(prev_leftover), 0);
	/* Now tasks of this run occupy the same slots: the old handles must
	 * still be stale, not aliases of this run's tasks. */
	for (int i = 0; i < 4; i++)
		FCHECK_EQ(reel_spawn(&t[i], yield_then_return, (void *)(intptr_t)(10 + i), NULL), 0);
	FCHECK_EQ(reel_cancel(prev_leftover), -ESRCH);
	FCHECK_EQ(reel_cancel(prev_detached), -ESRCH);
	FCHECK_EQ(reel_cancel(prev_joined), -ESRCH);
	FCHECK_EQ(expect_stale(prev_joined), 0);
	FCHECK_EQ(expect_stale(prev_detached), 0);
	FCHECK_EQ(expect_stale(prev_leftover), 0);
	for (int i = 0; i < 4; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 10 + i);
	}
	/* The previous run's main handle is not this run's main. */
	FCHECK_EQ(reel_join(prev_main, &st), -ESRCH);
	return 0;
}

static void test_task_stale_handle_from_previous_run(void **state)
{
	(void)state;
	prev_leftover_sleep = 1;
	run_ok(prev_run1_main, NULL);
	assert_int_equal(prev_leftover_sleep, -ECANCELED);
	run_ok(prev_run2_main, NULL);
}

/* ---- -EINVAL: main's handle; a second joiner ----------------------------- */

static int join_main_handle(void *arg)
{
	reel_task m = *(reel_task *)arg;
	int st;

	FCHECK(m.id != 0);
	FCHECK_EQ(reel_join(m, &st), -EINVAL);
	FCHECK_EQ(reel_detach(m), -EINVAL);
	return 0;
}

static int main_handle_main(void *arg)
{
	reel_task self = reel_self(), t;
	int st;

	(void)arg;
	FCHECK(self.id != 0);
	FCHECK_EQ(reel_join(self, &st), -EINVAL);
	FCHECK_EQ(reel_detach(self), -EINVAL);
	FCHECK_EQ(reel_spawn(&t, join_main_handle, &self, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	/* Still main's handle, still refused after all that. */
	FCHECK_EQ(reel_join(self, &st), -EINVAL);
	FCHECK_EQ(reel_self().id, self.id);
	return 0;
}

static void test_task_main_handle_join_detach_einval(void **state)
{
	(void)state;
	run_ok(main_handle_main, NULL);
}

static reel_task sj_target;
static bool sj_release;
static int sj_first_join = 1, sj_first_status;

static int sj_target_body(void *arg)
{
	(void)arg;
	while (!sj_release)
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	return 5;
}

static int sj_first(void *arg)
{
	(void)arg;
	sj_first_join = reel_join(sj_target, &sj_first_status);
	return 0;
}

static int sj_second(void *arg)
{
	int st;

	(void)arg;
	FCHECK_EQ(reel_join(sj_target, &st), -EINVAL);
	FCHECK_EQ(reel_detach(sj_target), -EINVAL);
	FCHECK_EQ(reel_join(sj_target, &st), -EINVAL);
	sj_release = true;
	return 0;
}

static int second_joiner_main(void *arg)
{
	reel_task a, b;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&sj_target, sj_target_body, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&a, sj_first, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&b, sj_second, NULL, NULL), 0);
	FCHECK_EQ(reel_join(b, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(a, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(sj_first_join, 0);
	FCHECK_EQ(sj_first_status, 5);
	FCHECK_EQ(expect_stale(sj_target), 0);   /* the first join consumed it */
	return 0;
}

static void test_task_second_joiner_einval(void **state)
{
	(void)state;
	sj_release = false;
	sj_first_join = 1;
	sj_first_status = 0;
	run_ok(second_joiner_main, NULL);
}

/* ---- -EDEADLK for joining oneself; reel_self ----------------------------- */

static int join_self_body(void *arg)
{
	reel_task mine = *(reel_task *)arg;   /* written by reel_spawn before we ran */
	int st;

	FCHECK(reel_self().id != 0);
	FCHECK_EQ(reel_self().id, mine.id);
	FCHECK_EQ(reel_join(reel_self(), &st), -EDEADLK);
	FCHECK_EQ(reel_join(reel_self(), NULL), -EDEADLK);
	return 3;
}

static int join_self_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, join_self_body, &t, NULL), 0);
	FCHECK(t.id != reel_self().id);
	FCHECK_EQ(reel_yield(), 0);   /* it runs while nobody joins it */
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 3);
	return 0;
}

static void test_task_join_self_edeadlk(void **state)
{
	(void)state;
	run_ok(join_self_main, NULL);
}

/*
 * Joining oneself is -EDEADLK even while another fiber is joining us: the
 * caller's own handle is the error, not a second join (pthread_join checks
 * "thread is the caller" before "someone already joins it" the same way).
 */
static int join_self_while_joined_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, join_self_body, &t, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);   /* parks: t runs while main joins it */
	FCHECK_EQ(st, 3);
	return 0;
}

static void test_task_join_self_while_joined_edeadlk(void **state)
{
	(void)state;
	run_ok(join_self_while_joined_main, NULL);
}

/* ---- sticky cancellation ------------------------------------------------- */

static bool sticky_inner_ran;

static int sticky_body(void *arg)
{
	reel_task x;
	int st;

	(void)arg;
	FCHECK_EQ(reel_sleep(10 * SEC), -ECANCELED);
	FCHECK_EQ(check_parking_calls_fail(-ECANCELED), 0);
	/* A join from a cancelled task: -ECANCELED, and the joined task is
	 * cancelled too (here before its first run: it never runs). */
	FCHECK_EQ(reel_spawn(&x, set_flag, &sticky_inner_ran, NULL), 0);
	st = 0;
	FCHECK_EQ(reel_join(x, &st), -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(!sticky_inner_ran);
	FCHECK_EQ(expect_stale(x), 0);
	/* A wait_for from a cancelled task does not run its function. */
	st = 0;
	FCHECK_EQ(reel_wait_for(1 * SEC, set_flag, &sticky_inner_ran, &st), -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(!sticky_inner_ran);
	FCHECK_EQ(reel_yield(), -ECANCELED);   /* still sticky */
	return 11;
}

static int sticky_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, sticky_body, NULL, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);   /* it parks in its 10 s sleep */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 11);
	return 0;
}

static void test_task_cancel_is_sticky(void **state)
{
	uint64_t t0 = reel_now();

	(void)state;
	sticky_inner_ran = false;
	run_ok(sticky_main, NULL);
	assert_true(reel_now() - t0 < 5 * SEC);
}

/* ---- a task cancelled before its first run never runs -------------------- */

static bool unstarted_ran;

static int cancel_unstarted_main(void *arg)
{
	reel_task t, d;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, set_flag, &unstarted_ran, NULL), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_sleep(2 * MS), 0);
	FCHECK(!unstarted_ran);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(!unstarted_ran);
	/* Detached after the cancel: never runs either. */
	FCHECK_EQ(reel_spawn(&d, set_flag, &unstarted_ran, NULL), 0);
	FCHECK_EQ(reel_cancel(d), 0);
	FCHECK_EQ(reel_detach(d), 0);
	FCHECK_EQ(reel_sleep(2 * MS), 0);
	FCHECK(!unstarted_ran);
	return 0;
}

static void test_task_cancel_before_first_run_never_runs(void **state)
{
	(void)state;
	unstarted_ran = false;
	run_ok(cancel_unstarted_main, NULL);
	assert_false(unstarted_ran);
}

/* ---- cancel is idempotent; 0 for an ended, unjoined task ----------------- */

static int count_cancels(void *arg)
{
	int n = 0;

	(void)arg;
	if (reel_sleep(10 * SEC) == -ECANCELED)
		n++;
	if (reel_yield() == -ECANCELED)
		n++;
	return n;
}

static int cancel_idem_main(void *arg)
{
	reel_task t, e;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, count_cancels, NULL, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 2);

	/* Ended, not yet joined: cancel is a no-op returning 0, and the task's
	 * own status survives. */
	FCHECK_EQ(reel_spawn(&e, return_arg, (void *)42, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_cancel(e), 0);
	FCHECK_EQ(reel_cancel(e), 0);
	FCHECK_EQ(reel_join(e, &st), 0);
	FCHECK_EQ(st, 42);
	FCHECK_EQ(reel_cancel(e), -ESRCH);
	return 0;
}

static void test_task_cancel_idempotent_and_ok_on_ended_task(void **state)
{
	(void)state;
	run_ok(cancel_idem_main, NULL);
}

/* ---- a fiber may cancel itself ------------------------------------------- */

static int cancel_self_body(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	/* Not a parking point: still running. */
	FCHECK_EQ(reel_yield(), -ECANCELED);
	FCHECK_EQ(reel_sleep(1 * MS), -ECANCELED);
	return 5;
}

static int cancel_self_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, cancel_self_body, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 5);
	return 0;
}

static int main_cancels_itself(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_yield(), -ECANCELED);
	FCHECK_EQ(reel_sleep(1 * MS), -ECANCELED);
	return 0;
}

static void test_task_cancel_self(void **state)
{
	(void)state;
	run_ok(cancel_self_main, NULL);
	run_ok(main_cancels_itself, NULL);
}

/* ---- cancelling a joiner cancels the joined task; join still collects it --- */

static reel_task jp_a, jp_b;
static int jp_b_sleep, jp_a_join, jp_a_status, jp_a_after;

static int jp_b_body(void *arg)
{
	(void)arg;
	jp_b_sleep = reel_sleep(10 * SEC);
	return 77;
}

static int jp_a_body(void *arg)
{
	(void)arg;
	jp_a_join = reel_join(jp_b, &jp_a_status);
	jp_a_after = reel_yield();
	return 0;
}

static int jp_c_body(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_sleep(10 * MS), 0);   /* A is parked in its join by now */
	FCHECK_EQ(reel_cancel(jp_a), 0);
	return 0;
}

static int join_propagate_main(void *arg)
{
	uint64_t t0 = reel_now();
	reel_task c;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&jp_b, jp_b_body, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&jp_a, jp_a_body, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&c, jp_c_body, NULL, NULL), 0);
	FCHECK_EQ(reel_join(jp_a, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(c, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(jp_a_join, -ECANCELED);
	FCHECK_EQ(jp_a_after, -ECANCELED);
	FCHECK_EQ(jp_b_sleep, -ECANCELED);
	FCHECK_EQ(jp_a_status, 77);          /* join collected B's status */
	FCHECK_EQ(expect_stale(jp_b), 0);    /* and freed B */
	FCHECK(reel_now() - t0 < 5 * SEC);
	return 0;
}

static void test_task_cancelled_joiner_cancels_joined(void **state)
{
	(void)state;
	jp_b_sleep = jp_a_join = jp_a_status = jp_a_after = 1;
	run_ok(join_propagate_main, NULL);
}

/* ---- spawn: bad arguments ----------------------------------------------- */

static int bad_spawn_main(void *arg)
{
	struct reel_spawn_opts huge = { .stack_size = ((size_t)64 << 20) + 1 };
	struct reel_spawn_opts absurd = { .stack_size = SIZE_MAX };
	bool ran = false;
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, NULL, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_spawn(NULL, set_flag, &ran, NULL), -EINVAL);
	FCHECK_EQ(reel_spawn(&t, set_flag, &ran, &huge), -EINVAL);
	FCHECK_EQ(reel_spawn(&t, set_flag, &ran, &absurd), -EINVAL);
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK(!ran);   /* nothing was half spawned */
	return 0;
}

static void test_task_spawn_bad_arguments_einval(void **state)
{
	(void)state;
	run_ok(bad_spawn_main, NULL);
}

/* ---- 10k tasks joined in random order ------------------------------------ */

#define RJ_N 10000

static int rj_body(void *arg)
{
	intptr_t i = (intptr_t)arg;

	switch (i % 3) {
	case 0:
		FCHECK_EQ(reel_sleep((uint64_t)(i % 7) * MS), 0);
		break;
	case 1:
		for (intptr_t k = 0; k < i % 5; k++)
			FCHECK_EQ(reel_yield(), 0);
		break;
	default:
		break;
	}
	return (int)i;
}

static int random_join_main(void *arg)
{
	int n = (int)scaled(RJ_N);
	reel_task *t = calloc((size_t)n, sizeof(*t));
	int *order = calloc((size_t)n, sizeof(*order));
	int st, r = 0;

	(void)arg;
	FCHECK(t && order);
	for (int i = 0; i < n; i++) {
		order[i] = i;
		if (reel_spawn(&t[i], rj_body, (void *)(intptr_t)i, NULL) != 0)
			r = -1;
	}
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rng() % (uint64_t)(i + 1)), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < n && r == 0; i++) {
		int k = order[i];

		st = -1;
		if (reel_join(t[k], &st) != 0 || st != k)
			r = -2 - k;
		if (i % 1000 == 0 && reel_yield() != 0)
			r = -3;
	}
	for (int i = 0; i < n && r == 0; i += 97)
		if (reel_join(t[i], &st) != -ESRCH)
			r = -4;
	free(t);
	free(order);
	FCHECK_EQ(r, 0);
	return 0;
}

static void test_task_ten_thousand_joined_in_random_order(void **state)
{
	(void)state;
	rng_state = 0x2545f4914f6cdd1dull;
	run_ok(random_join_main, NULL);
}

/* ---- background tasks ---------------------------------------------------- */

struct hook_log {
	int calls;
	int status;
	char name[32];
};

static int quick_ok(void *arg)
{
	(void)arg;
	return 0;
}

static void hook(reel_task task, const char *name, int status, void *arg)
{
	struct hook_log *h = arg;

	(void)task;
	/* A supervisor restarts work from the hook: enough spawns to move
	 * the task table under the failing task's feet (regression). */
	for (int i = 0; i < 200; i++)
		reel_spawn_background(quick_ok, NULL, NULL);
	h->calls++;
	h->status = status;
	snprintf(h->name, sizeof(h->name), "%s", name ? name : "");
}

static int bg_main(void *arg)
{
	static struct job fail = { .ms = 5, .ret = -EIO };
	static struct job ok = { .ms = 5, .ret = 3 };
	static struct job forever = { .ms = 50000, .ret = 0 };
	struct reel_spawn_opts named = { .name = "uploader" };

	(void)arg;
	fail.cleaned = ok.cleaned = forever.cleaned = false;
	FCHECK_EQ(reel_spawn_background(job_run, &fail, &named), 0);
	FCHECK_EQ(reel_spawn_background(job_run, &ok, NULL), 0);
	FCHECK_EQ(reel_spawn_background(job_run, &forever, NULL), 0);
	FCHECK_EQ(reel_spawn_background(NULL, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	return 0;   /* forever is cancelled at shutdown: not a failure */
}

static void test_task_background_failures_reported(void **state)
{
	struct hook_log h = { 0 };
	struct reel_run_opts o = { .error_hook = hook, .error_hook_arg = &h };
	char out[1024];
	int ws;

	(void)state;
	run_ok_opts(bg_main, NULL, &o);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.status, -EIO);
	assert_string_equal(h.name, "uploader");
	assert_int_equal(reel__last_run_stats()->background_failures, 1);
	/* Without a hook: one line on stderr names it. */
	ws = run_in_child(bg_main, NULL, NULL, out, sizeof(out));
	assert_true(WIFEXITED(ws));
	assert_non_null(strstr(out, "background task"));
	assert_non_null(strstr(out, "uploader"));
	assert_null(strstr(out + 1 + (strstr(out, "uploader") - out), "background task"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_join_returns_child_status),
		cmocka_unit_test(test_task_join_task_that_already_ended),
		cmocka_unit_test(test_task_stale_handles_esrch),
		cmocka_unit_test(test_task_stale_handle_from_previous_run),
		cmocka_unit_test(test_task_main_handle_join_detach_einval),
		cmocka_unit_test(test_task_second_joiner_einval),
		cmocka_unit_test(test_task_join_self_edeadlk),
		cmocka_unit_test(test_task_join_self_while_joined_edeadlk),
		cmocka_unit_test(test_task_cancel_is_sticky),
		cmocka_unit_test(test_task_cancel_before_first_run_never_runs),
		cmocka_unit_test(test_task_cancel_idempotent_and_ok_on_ended_task),
		cmocka_unit_test(test_task_cancel_self),
		cmocka_unit_test(test_task_cancelled_joiner_cancels_joined),
		cmocka_unit_test(test_task_spawn_bad_arguments_einval),
		cmocka_unit_test(test_task_ten_thousand_joined_in_random_order),
		cmocka_unit_test(test_task_background_failures_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
