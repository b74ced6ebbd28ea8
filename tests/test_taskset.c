/*
 * Description: task sets (engine/tasks/taskset.c):
 * reel_taskset_init, _spawn, _add, _next, _size and _close - results in
 * completion order with their keys; a task added to a set is the set's (no
 * join, detach or second add); a reel_taskset_next interrupted by a
 * deadline leaves the set and its tasks alone; close cancels and collects
 * what is left. The timed jobs (struct job) are in helpers.h.
 */
#include <stdbool.h>

#include "helpers.h"

/* ---- task sets ----------------------------------------------------------- */

static int taskset_order(void *arg)
{
	static const uint64_t ms[6] = { 60, 10, 50, 20, 40, 30 };
	struct job jobs[6];
	struct reel_taskset set;
	uint64_t key, expect[6] = { 1, 3, 5, 4, 2, 0 };
	int st, n = 0, r;

	(void)arg;
	FCHECK_EQ(reel_taskset_init(&set), 0);
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct job){ .ms = ms[i], .ret = 10 * i };
		FCHECK_EQ(reel_taskset_spawn(&set, job_run, &jobs[i], NULL, (uint64_t)i), 0);
	}
	FCHECK_EQ(reel_taskset_size(&set), 6);
	while ((r = reel_taskset_next(&set, &key, &st)) == 1) {
		FCHECK_EQ(key, expect[n]);      /* completion order */
		FCHECK_EQ(st, 10 * (int)key);
		n++;
	}
	FCHECK_EQ(r, 0);
	FCHECK_EQ(n, 6);
	FCHECK_EQ(reel_taskset_size(&set), 0);
	return 0;
}

static int next_scoped(void *arg)
{
	return reel_taskset_next(arg, NULL, NULL);
}

static int taskset_interrupt_and_close(void *arg)
{
	struct job jobs[3];
	struct reel_taskset set;
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_taskset_init(&set), 0);
	for (int i = 0; i < 3; i++) {
		jobs[i] = (struct job){ .ms = 5000, .ret = i };
		FCHECK_EQ(reel_spawn(&t, job_run, &jobs[i], NULL), 0);
		FCHECK_EQ(reel_taskset_add(&set, t, (uint64_t)i), 0);
		FCHECK_EQ(reel_join(t, NULL), -EINVAL);  /* the set's now */
		FCHECK_EQ(reel_detach(t), -EINVAL);
		FCHECK_EQ(reel_taskset_add(&set, t, 9), -EINVAL);
	}
	/* Interrupted while waiting: the set and its tasks are untouched. */
	FCHECK_EQ(reel_wait_for(20 * MS, next_scoped, &set, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK_EQ(reel_taskset_size(&set), 3);
	for (int i = 0; i < 3; i++)
		FCHECK(!jobs[i].cleaned);
	FCHECK_EQ(reel_taskset_close(&set), 0);
	FCHECK_EQ(reel_taskset_size(&set), 0);
	for (int i = 0; i < 3; i++)
		FCHECK(jobs[i].cleaned);
	FCHECK_EQ(reel_taskset_next(&set, NULL, NULL), 0);
	FCHECK_EQ(reel_taskset_add(&set, reel_self(), 0), -EINVAL);
	FCHECK_EQ(reel_taskset_init(NULL), -EINVAL);
	return 0;
}

static void test_taskset_completion_order(void **state)
{
	(void)state;
	run_ok(taskset_order, NULL);
}

static void test_taskset_interrupted_next_then_close(void **state)
{
	(void)state;
	run_ok(taskset_interrupt_and_close, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taskset_completion_order),
		cmocka_unit_test(test_taskset_interrupted_next_then_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
