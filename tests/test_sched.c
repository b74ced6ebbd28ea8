/*
 * Description: the scheduler's contract (DESIGN §1b) through the public API:
 * reel_run, reel_spawn, reel_join, reel_detach, reel_cancel, reel_yield and
 * reel_self - FIFO order, join statuses, stale handles, misuse errors,
 * sticky cancellation, cancel propagated through join, shutdown of the
 * leftovers, -EPERM outside a fiber, errno per fiber, fairness between a
 * yielder and a sleeper, a million sleeping fibers, and the deadlock report.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define SEC (1000 * MS)

/* ---- small fiber bodies shared by several tests -------------------------- */

static int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

/* Sets *(bool *)arg: proves that a task ran. */
static int set_flag(void *arg)
{
	*(bool *)arg = true;
	return 1;
}

/* Sleeps 10 s (far longer than any test) and records what the sleep returned. */
static int sleep_long_record(void *arg)
{
	*(int *)arg = reel_sleep(10 * SEC);
	return 0;
}

/* ---- FIFO order; spawn never runs the child ------------------------------ */

static int fifo_seq[32];
static int fifo_n;
static reel_task fifo_grandchild;

static int fifo_record(void *arg)
{
	fifo_seq[fifo_n++] = (int)(intptr_t)arg;
	return 0;
}

/* Records 10, then spawns 11, which must queue behind every ready fiber. */
static int fifo_parent(void *arg)
{
	int before;

	(void)arg;
	fifo_seq[fifo_n++] = 10;
	before = fifo_n;
	FCHECK_EQ(reel_spawn(&fifo_grandchild, fifo_record, (void *)(intptr_t)11, NULL), 0);
	FCHECK_EQ(fifo_n, before);
	return 0;
}

static int fifo_main(void *arg)
{
	static const int want[] = { 0, 1, 2, 3, 4, 10, 100, 11 };
	reel_task t[5], p;
	int st;

	(void)arg;
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_spawn(&t[i], fifo_record, (void *)(intptr_t)i, NULL), 0);
		FCHECK_EQ(fifo_n, 0);   /* never inside reel_spawn */
	}
	FCHECK_EQ(reel_spawn(&p, fifo_parent, NULL, NULL), 0);
	FCHECK_EQ(fifo_n, 0);
	/* One yield: everything queued before main runs once, in spawn order;
	 * the grandchild, queued behind main, has not run yet. */
	FCHECK_EQ(reel_yield(), 0);
	fifo_seq[fifo_n++] = 100;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(fifo_n, 8);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(fifo_seq[i], want[i]);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(reel_join(p, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(fifo_grandchild, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_sched_spawn_fifo_order_never_inside_spawn(void **state)
{
	(void)state;
	fifo_n = 0;
	run_ok(fifo_main, NULL);
}

/* ---- join returns the child's status ------------------------------------- */

static int yield_then_return(void *arg)
{
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_yield(), 0);
	return (int)(intptr_t)arg;
}

/* Like yield_then_return, for tasks that shutdown may cancel meanwhile. */
static int yield_ignoring_cancel(void *arg)
{
	for (int i = 0; i < 3; i++)
		(void)reel_yield();
	return (int)(intptr_t)arg;
}

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

static void test_sched_join_returns_child_status(void **state)
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

static void test_sched_join_task_that_already_ended(void **state)
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

static void test_sched_stale_handles_esrch(void **state)
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

static void test_sched_stale_handle_from_previous_run(void **state)
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

static void test_sched_main_handle_join_detach_einval(void **state)
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

static void test_sched_second_joiner_einval(void **state)
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

static void test_sched_join_self_edeadlk(void **state)
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

static void test_sched_join_self_while_joined_edeadlk(void **state)
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

static void test_sched_cancel_is_sticky(void **state)
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

static void test_sched_cancel_before_first_run_never_runs(void **state)
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

static void test_sched_cancel_idempotent_and_ok_on_ended_task(void **state)
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

static void test_sched_cancel_self(void **state)
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

static void test_sched_join_cancelled_joiner_cancels_joined(void **state)
{
	(void)state;
	jp_b_sleep = jp_a_join = jp_a_status = jp_a_after = 1;
	run_ok(join_propagate_main, NULL);
}

/* ---- leftovers at the end of reel_run ------------------------------------ */

static int lo_join_sleep, lo_det_sleep;
static bool lo_unstarted_ran;
static int lo_after[2];

static int lo_sleeper(void *arg)
{
	int which = (int)(intptr_t)arg;

	if (which == 0)
		lo_join_sleep = reel_sleep(10 * SEC);
	else
		lo_det_sleep = reel_sleep(10 * SEC);
	lo_after[which] = reel_yield();
	return 0;
}

static int leftovers_main(void *arg)
{
	reel_task j, d, u, e;

	(void)arg;
	FCHECK_EQ(reel_spawn(&j, lo_sleeper, (void *)0, NULL), 0);
	FCHECK_EQ(reel_spawn(&d, lo_sleeper, (void *)1, NULL), 0);
	FCHECK_EQ(reel_detach(d), 0);
	FCHECK_EQ(reel_spawn(&e, return_arg, (void *)0, NULL), 0);   /* ends, never joined */
	FCHECK_EQ(reel_yield(), 0);   /* the sleepers park, e ends */
	FCHECK_EQ(reel_spawn(&u, set_flag, &lo_unstarted_ran, NULL), 0);
	return 0;
}

static void test_sched_leftovers_cancelled_when_main_returns(void **state)
{
	uint64_t t0 = reel_now();

	(void)state;
	lo_join_sleep = lo_det_sleep = 1;
	lo_after[0] = lo_after[1] = 1;
	lo_unstarted_ran = false;
	run_ok(leftovers_main, NULL);
	assert_true(reel_now() - t0 < 5 * SEC);   /* not the sleepers' 10 s */
	assert_int_equal(lo_join_sleep, -ECANCELED);
	assert_int_equal(lo_det_sleep, -ECANCELED);
	assert_int_equal(lo_after[0], -ECANCELED);
	assert_int_equal(lo_after[1], -ECANCELED);
	assert_false(lo_unstarted_ran);
}

/* ---- a task spawned during shutdown never runs --------------------------- */

static bool sd_ran;
static int sd_spawn_rc[3], sd_join_rc, sd_join_status, sd_detach_rc[2], sd_shield_rc;

static int sd_cleanup(void *arg)
{
	reel_task t;

	(void)arg;
	sd_spawn_rc[1] = reel_spawn(&t, set_flag, &sd_ran, NULL);
	if (sd_spawn_rc[1] == 0)
		sd_join_rc = reel_join(t, &sd_join_status);
	sd_spawn_rc[2] = reel_spawn(&t, set_flag, &sd_ran, NULL);
	if (sd_spawn_rc[2] == 0)
		sd_detach_rc[1] = reel_detach(t);
	FCHECK_EQ(reel_sleep(5 * MS), 0);   /* give them every chance to run */
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static int sd_body(void *arg)
{
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_sleep(10 * SEC), -ECANCELED);
	/* Spawned by a cancelled task after main returned, outside a shield... */
	sd_spawn_rc[0] = reel_spawn(&t, set_flag, &sd_ran, NULL);
	if (sd_spawn_rc[0] == 0)
		sd_detach_rc[0] = reel_detach(t);
	/* ... and inside one, where the spawner can still park. */
	sd_shield_rc = reel_shield(1 * SEC, sd_cleanup, NULL, NULL);
	return 0;
}

static int shutdown_spawn_main(void *arg)
{
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, sd_body, NULL, NULL), 0);
	FCHECK_EQ(reel_detach(t), 0);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_sched_spawn_during_shutdown_never_runs(void **state)
{
	(void)state;
	sd_ran = false;
	sd_join_rc = sd_join_status = sd_shield_rc = 1;
	for (int i = 0; i < 3; i++)
		sd_spawn_rc[i] = 1;
	sd_detach_rc[0] = sd_detach_rc[1] = 1;
	run_ok(shutdown_spawn_main, NULL);
	assert_false(sd_ran);
	assert_int_equal(sd_shield_rc, 0);
	/* Refusing the spawn (a negative errno) would keep the contract too;
	 * accepting it means the handle works and the task is cancelled unrun. */
	for (int i = 0; i < 3; i++)
		assert_true(sd_spawn_rc[i] <= 0);
	if (sd_spawn_rc[0] == 0)
		assert_int_equal(sd_detach_rc[0], 0);
	if (sd_spawn_rc[1] == 0) {
		assert_int_equal(sd_join_rc, 0);
		assert_int_equal(sd_join_status, -ECANCELED);
	}
	if (sd_spawn_rc[2] == 0)
		assert_int_equal(sd_detach_rc[1], 0);
}

/* ---- -EPERM outside a fiber ---------------------------------------------- */

struct eperm_results {
	int spawn, join, detach, cancel, yield, sleep0, sleep1, wait_for, shield, nop;
	uint64_t self_id;
	bool ran;
};

static int eperm_fn(void *arg)
{
	*(bool *)arg = true;
	return 0;
}

static void eperm_collect(struct eperm_results *r)
{
	reel_task t = { 0 };
	reel_task some = { (1ull << 32) | 1 };
	int st = 0;

	r->ran = false;
	r->spawn = reel_spawn(&t, eperm_fn, &r->ran, NULL);
	r->join = reel_join(some, &st);
	r->detach = reel_detach(some);
	r->cancel = reel_cancel(some);
	r->yield = reel_yield();
	r->sleep0 = reel_sleep(0);
	r->sleep1 = reel_sleep(1 * MS);
	r->wait_for = reel_wait_for(1 * MS, eperm_fn, &r->ran, &st);
	r->shield = reel_shield(1 * MS, eperm_fn, &r->ran, &st);
	r->nop = reel_nop();
	r->self_id = reel_self().id;
}

static void *eperm_thread(void *arg)
{
	eperm_collect(arg);
	return NULL;
}

static void assert_all_eperm(const struct eperm_results *r)
{
	assert_int_equal(r->spawn, -EPERM);
	assert_int_equal(r->join, -EPERM);
	assert_int_equal(r->detach, -EPERM);
	assert_int_equal(r->cancel, -EPERM);
	assert_int_equal(r->yield, -EPERM);
	assert_int_equal(r->sleep0, -EPERM);
	assert_int_equal(r->sleep1, -EPERM);
	assert_int_equal(r->wait_for, -EPERM);
	assert_int_equal(r->shield, -EPERM);
	assert_int_equal(r->nop, -EPERM);
	assert_int_equal(r->self_id, 0);
	assert_false(r->ran);
}

static struct eperm_results eperm_from_thread;

/* Another thread, while this thread runs a loop, is outside any fiber. */
static int eperm_main(void *arg)
{
	pthread_t th;

	(void)arg;
	FCHECK_EQ(pthread_create(&th, NULL, eperm_thread, &eperm_from_thread), 0);
	FCHECK_EQ(pthread_join(th, NULL), 0);
	return 0;
}

static void test_sched_outside_fiber_eperm(void **state)
{
	struct eperm_results r;

	(void)state;
	eperm_collect(&r);        /* before any loop */
	assert_all_eperm(&r);
	run_ok(eperm_main, NULL);
	assert_all_eperm(&eperm_from_thread);
	eperm_collect(&r);        /* after a loop has come and gone */
	assert_all_eperm(&r);
}

/* ---- reel_run misuse and its status -------------------------------------- */

static bool nested_ran;

static int nested_run_body(void *arg)
{
	int st = 99;

	(void)arg;
	FCHECK_EQ(reel_run(set_flag, &nested_ran, NULL, &st), -EBUSY);
	FCHECK_EQ(st, 99);
	return 0;
}

static int nested_run_main(void *arg)
{
	reel_task t;
	int st;

	FCHECK_EQ(nested_run_body(arg), 0);
	FCHECK_EQ(reel_spawn(&t, nested_run_body, NULL, NULL), 0);   /* from a child too */
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(!nested_ran);
	return 0;
}

static void test_sched_run_inside_fiber_ebusy(void **state)
{
	(void)state;
	nested_ran = false;
	run_ok(nested_run_main, NULL);
	assert_false(nested_ran);
}

static int spawn_three_main(void *arg)
{
	reel_task t[3];
	int st;

	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_spawn(&t[i], yield_then_return, (void *)(intptr_t)i, NULL), 0);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, i);
	}
	return (int)(intptr_t)arg;
}

static void test_sched_run_twice_in_a_row(void **state)
{
	int st = -1;

	(void)state;
	run_ok(spawn_three_main, NULL);
	run_ok(spawn_three_main, NULL);
	assert_int_equal(reel_run(spawn_three_main, (void *)9, NULL, NULL), 0);   /* NULL status */
	assert_no_fiber_failure();
	assert_loop_clean();
	assert_int_equal(reel_run(spawn_three_main, (void *)8, NULL, &st), 0);
	assert_no_fiber_failure();
	assert_int_equal(st, 8);
	assert_loop_clean();
}

static void test_sched_run_bad_arguments_einval(void **state)
{
	struct reel_run_opts o;
	int st = 555;

	(void)state;
	assert_int_equal(reel_run(NULL, NULL, NULL, &st), -EINVAL);
	assert_int_equal(st, 555);
	o = (struct reel_run_opts){ .tick_shift = 9 };
	assert_int_equal(reel_run(spawn_three_main, NULL, &o, &st), -EINVAL);
	o = (struct reel_run_opts){ .tick_shift = 31 };
	assert_int_equal(reel_run(spawn_three_main, NULL, &o, &st), -EINVAL);
	o = (struct reel_run_opts){ .ring_entries = 1u << 30 };
	assert_int_equal(reel_run(spawn_three_main, NULL, &o, &st), -EINVAL);
	/* The thread is not left half set up. */
	run_ok(spawn_three_main, NULL);
}

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

static void test_sched_spawn_bad_arguments_einval(void **state)
{
	(void)state;
	run_ok(bad_spawn_main, NULL);
}

static void test_sched_main_status_comes_back(void **state)
{
	static const int values[] = { 0, 42, 1, -EIO };
	int st;

	(void)state;
	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		st = 12345;
		assert_int_equal(reel_run(return_arg, (void *)(intptr_t)values[i], NULL, &st), 0);
		assert_int_equal(st, values[i]);
		assert_loop_clean();
	}
}

/* ---- errno is per fiber -------------------------------------------------- */

static int errno_a(void *arg)
{
	(void)arg;
	errno = 1234;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 1234);
	FCHECK_EQ(reel_sleep(5 * MS), 0);   /* the loop waits in the kernel meanwhile */
	FCHECK_EQ(errno, 1234);
	return 0;
}

static int errno_b(void *arg)
{
	(void)arg;
	errno = 99;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 99);
	FCHECK_EQ(reel_nop(), 0);
	FCHECK_EQ(errno, 99);
	return 0;
}

static int errno_main(void *arg)
{
	reel_task a, b;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&a, errno_a, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&b, errno_b, NULL, NULL), 0);
	errno = 7;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 7);
	FCHECK_EQ(reel_join(a, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(errno, 7);
	FCHECK_EQ(reel_join(b, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(errno, 7);
	return 0;
}

static void test_sched_errno_preserved_per_fiber(void **state)
{
	(void)state;
	run_ok(errno_main, NULL);
}

/* ---- a yielder does not starve a sleeper --------------------------------- */

static volatile bool ns_done;
static uint64_t ns_slept;
static long ns_yields;

static int ns_sleeper(void *arg)
{
	uint64_t t0 = reel_now();
	int r;

	(void)arg;
	r = reel_sleep(20 * MS);
	ns_slept = reel_now() - t0;
	ns_done = true;
	return r;
}

static int ns_yielder(void *arg)
{
	uint64_t t0 = reel_now();

	(void)arg;
	while (!ns_done && reel_now() - t0 < 1 * SEC) {
		FCHECK_EQ(reel_yield(), 0);
		ns_yields++;
	}
	FCHECK(ns_done);   /* stopped by the sleeper's signal, not by the 1 s bound */
	return 0;
}

static int no_starve_main(void *arg)
{
	reel_task s, y;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&s, ns_sleeper, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&y, ns_yielder, NULL, NULL), 0);
	FCHECK_EQ(reel_join(s, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(y, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(ns_yields > 0);
	FCHECK(ns_slept >= 20 * MS);
	FCHECK(ns_slept <= 20 * MS + LATE_OK_NS);
	return 0;
}

static void test_sched_yielder_does_not_starve_sleeper(void **state)
{
	(void)state;
	ns_done = false;
	ns_slept = 0;
	ns_yields = 0;
	run_ok(no_starve_main, NULL);
}

/* ---- a million concurrent sleeping fibers -------------------------------- */

#define MILLION 1000000

static reel_task *m_tasks;
static long m_parked, m_peak;

static int m_sleeper(void *arg)
{
	int r;

	(void)arg;
	if (++m_parked > m_peak)
		m_peak = m_parked;
	r = reel_sleep(200 * MS);
	m_parked--;
	return r;
}

static int million_main(void *arg)
{
	const struct reel_spawn_opts o = { .stack_size = 16384, .name = "sleeper" };
	long bad = 0, n = scaled(MILLION);
	int st;

	(void)arg;
	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&m_tasks[i], m_sleeper, NULL, &o), 0);
	for (long i = 0; i < n; i++) {
		st = 1;
		FCHECK_EQ(reel_join(m_tasks[i], &st), 0);
		bad += st != 0;
	}
	FCHECK_EQ(bad, 0);
	FCHECK_EQ(m_parked, 0);
	return 0;
}

static void test_sched_one_million_sleeping_fibers(void **state)
{
	uint64_t t0 = reel_now();

	(void)state;
	m_tasks = calloc(MILLION, sizeof(*m_tasks));
	assert_non_null(m_tasks);
	m_parked = m_peak = 0;
	run_ok(million_main, NULL);
	free(m_tasks);
	m_tasks = NULL;
	/* They slept at the same time: a large share was parked at once (the
	 * first sleeps end 200 ms after they begin), and the whole run is far
	 * from 1M x 200 ms. */
	assert_true(m_peak >= scaled(MILLION) / 10);
	assert_true(reel_now() - t0 < 60 * SEC);
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

static void test_sched_ten_thousand_joined_in_random_order(void **state)
{
	(void)state;
	rng_state = 0x2545f4914f6cdd1dull;
	run_ok(random_join_main, NULL);
}

/* ---- deadlock: reported, not a hang -------------------------------------- */

/*
 * A real deadlock built from the public API: A joins B and B joins A. Each
 * joiner has its own target, so neither call is refused. When main returns,
 * shutdown cancels both; each join then cancels its target and keeps waiting
 * for it (join never leaks a task) - with nothing in flight and no timer
 * armed, no fiber can ever wake again.
 */
static reel_task dl_a, dl_b;

static int dl_a_body(void *arg)
{
	(void)arg;
	return reel_join(dl_b, NULL);
}

static int dl_b_body(void *arg)
{
	(void)arg;
	return reel_join(dl_a, NULL);
}

static int deadlock_main(void *arg)
{
	(void)arg;
	if (reel_spawn(&dl_a, dl_a_body, NULL, NULL) || reel_spawn(&dl_b, dl_b_body, NULL, NULL))
		return -1;
	reel_yield();   /* both park, each in its join */
	return 0;
}

static void test_sched_deadlock_reported_with_sigabrt(void **state)
{
	char buf[4096];
	int wstatus;

	(void)state;
	/* a hang dies by SIGALRM in run_in_child, which the check below reports */
	wstatus = run_in_child(deadlock_main, NULL, NULL, buf, sizeof(buf));
	if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGABRT)
		fail_msg("child did not die by SIGABRT (wait status %#x); stderr: %s", wstatus, buf);
	if (!strstr(buf, "deadlock"))
		fail_msg("no \"deadlock\" in the child's stderr: %s", buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_outside_fiber_eperm),
		cmocka_unit_test(test_sched_spawn_fifo_order_never_inside_spawn),
		cmocka_unit_test(test_sched_join_returns_child_status),
		cmocka_unit_test(test_sched_join_task_that_already_ended),
		cmocka_unit_test(test_sched_stale_handles_esrch),
		cmocka_unit_test(test_sched_stale_handle_from_previous_run),
		cmocka_unit_test(test_sched_main_handle_join_detach_einval),
		cmocka_unit_test(test_sched_second_joiner_einval),
		cmocka_unit_test(test_sched_join_self_edeadlk),
		cmocka_unit_test(test_sched_join_self_while_joined_edeadlk),
		cmocka_unit_test(test_sched_cancel_is_sticky),
		cmocka_unit_test(test_sched_cancel_before_first_run_never_runs),
		cmocka_unit_test(test_sched_cancel_idempotent_and_ok_on_ended_task),
		cmocka_unit_test(test_sched_cancel_self),
		cmocka_unit_test(test_sched_join_cancelled_joiner_cancels_joined),
		cmocka_unit_test(test_sched_leftovers_cancelled_when_main_returns),
		cmocka_unit_test(test_sched_spawn_during_shutdown_never_runs),
		cmocka_unit_test(test_sched_run_inside_fiber_ebusy),
		cmocka_unit_test(test_sched_run_twice_in_a_row),
		cmocka_unit_test(test_sched_run_bad_arguments_einval),
		cmocka_unit_test(test_sched_spawn_bad_arguments_einval),
		cmocka_unit_test(test_sched_main_status_comes_back),
		cmocka_unit_test(test_sched_errno_preserved_per_fiber),
		cmocka_unit_test(test_sched_yielder_does_not_starve_sleeper),
		cmocka_unit_test(test_sched_ten_thousand_joined_in_random_order),
		cmocka_unit_test(test_sched_one_million_sleeping_fibers),
		cmocka_unit_test(test_sched_deadlock_reported_with_sigabrt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
