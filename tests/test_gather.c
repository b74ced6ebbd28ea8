/*
 * Description: waiting for many tasks (engine/tasks/gather.c): reel_gather,
 * fail-fast and REEL_GATHER_ALL exactly as docs/design.md §1c states them
 * (sibling cleanup observed, first error returned, statuses in argument
 * order, the caller cancelled or timed out, bad handles checked before
 * anything happens, 10 000 tasks); reel_wait_any (the first to end is
 * joined, the others stay plain tasks; a deadline cancels none). The timed
 * jobs (struct job) are in helpers.h.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- gather -------------------------------------------------------------- */

static int gather_all_ok(void *arg)
{
	struct job jobs[5];
	reel_task t[5];
	int st[5];
	uint64_t t0 = reel_now();

	(void)arg;
	for (int i = 0; i < 5; i++)
		jobs[i] = (struct job){ .ms = (uint64_t)(50 - 10 * i), .ret = 100 + i };
	FCHECK_EQ(spawn_jobs(t, jobs, 5), 0);
	FCHECK_EQ(reel_gather(t, 5, st, 0), 0);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(st[i], 100 + i);      /* argument order, not ending order */
	/* Concurrent: 50 ms in all, not 150. */
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_join(t[i], NULL), -ESRCH);  /* all joined */
	return 0;
}

static void test_gather_statuses_in_argument_order(void **state)
{
	(void)state;
	run_ok(gather_all_ok, NULL);
}

static int gather_fail_fast(void *arg)
{
	struct job jobs[4] = {
		{ .ms = 5000, .ret = 1 },
		{ .ms = 20, .ret = -EIO },      /* fails first */
		{ .ms = 40, .ret = -ENOENT },   /* cancelled before it fails */
		{ .ms = 5000, .ret = 2 },
	};
	reel_task t[4];
	int st[4];
	uint64_t t0 = reel_now();

	(void)arg;
	FCHECK_EQ(spawn_jobs(t, jobs, 4), 0);
	FCHECK_EQ(reel_gather(t, 4, st, 0), -EIO);
	FCHECK(reel_now() - t0 < 20 * MS + LATE_OK_NS);  /* did not wait 5 s */
	FCHECK_EQ(st[1], -EIO);
	FCHECK_EQ(st[0], -ECANCELED);
	FCHECK_EQ(st[2], -ECANCELED);
	FCHECK_EQ(st[3], -ECANCELED);
	/* The siblings' cleanup ran before gather returned. */
	FCHECK(jobs[0].cleaned && jobs[2].cleaned && jobs[3].cleaned);
	FCHECK(!jobs[1].cleaned);
	return 0;
}

static void test_gather_fail_fast_cancels_siblings(void **state)
{
	(void)state;
	run_ok(gather_fail_fast, NULL);
}

static int gather_all_flag(void *arg)
{
	struct job jobs[4] = {
		{ .ms = 60, .ret = 1 },
		{ .ms = 10, .ret = -EIO },
		{ .ms = 30, .ret = -ENOENT },
		{ .ms = 50, .ret = 4 },
	};
	reel_task t[4];
	int st[4];

	(void)arg;
	FCHECK_EQ(spawn_jobs(t, jobs, 4), 0);
	FCHECK_EQ(reel_gather(t, 4, st, REEL_GATHER_ALL), 0);
	FCHECK_EQ(st[0], 1);
	FCHECK_EQ(st[1], -EIO);
	FCHECK_EQ(st[2], -ENOENT);
	FCHECK_EQ(st[3], 4);
	for (int i = 0; i < 4; i++)
		FCHECK(!jobs[i].cleaned);       /* nobody was cancelled */
	return 0;
}

static void test_gather_all_returns_every_status(void **state)
{
	(void)state;
	run_ok(gather_all_flag, NULL);
}

/* A task cancelled before it ran reports -ECANCELED and never ran. */
static int gather_unstarted(void *arg)
{
	struct job jobs[2] = { { .ms = 1, .ret = 7 }, { .ms = 1, .ret = 8 } };
	reel_task t[2];
	int st[2];

	(void)arg;
	FCHECK_EQ(spawn_jobs(t, jobs, 2), 0);
	FCHECK_EQ(reel_cancel(t[1]), 0);
	FCHECK_EQ(reel_gather(t, 2, st, REEL_GATHER_ALL), 0);
	FCHECK_EQ(st[0], 7);
	FCHECK_EQ(st[1], -ECANCELED);
	FCHECK(!jobs[1].ran);
	/* Fail-fast: a cancelled task is a failure like any other. */
	FCHECK_EQ(spawn_jobs(t, jobs, 2), 0);
	FCHECK_EQ(reel_cancel(t[0]), 0);
	FCHECK_EQ(reel_gather(t, 2, st, 0), -ECANCELED);
	return 0;
}

static void test_gather_unstarted_task_is_cancelled(void **state)
{
	(void)state;
	run_ok(gather_unstarted, NULL);
}

/* The caller cancelled while it waits: every task cancelled and awaited. */
struct gatherer {
	struct job jobs[3];
	reel_task t[3];
	int st[3];
	int rc;
};

static int gatherer_run(void *arg)
{
	struct gatherer *g = arg;

	FCHECK_EQ(spawn_jobs(g->t, g->jobs, 3), 0);
	g->rc = reel_gather(g->t, 3, g->st, REEL_GATHER_ALL);
	return 0;
}

static int gather_caller_cancelled(void *arg)
{
	struct gatherer g = { .rc = 1 };
	reel_task t;

	(void)arg;
	for (int i = 0; i < 3; i++)
		g.jobs[i] = (struct job){ .ms = 5000, .ret = i };
	g.jobs[1].ms = 1;
	FCHECK_EQ(reel_spawn(&t, gatherer_run, &g, NULL), 0);
	FCHECK_EQ(reel_sleep(30 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(g.rc, -ECANCELED);
	FCHECK_EQ(g.st[1], 1);                  /* ended before the cancel */
	FCHECK_EQ(g.st[0], -ECANCELED);
	FCHECK_EQ(g.st[2], -ECANCELED);
	FCHECK(g.jobs[0].cleaned && g.jobs[2].cleaned);
	return 0;
}

static void test_gather_caller_cancelled_cancels_all(void **state)
{
	(void)state;
	run_ok(gather_caller_cancelled, NULL);
}

/* Inside a deadline scope: -ETIMEDOUT, everything awaited. */
static int gather_in_scope(void *arg)
{
	struct gatherer *g = arg;

	FCHECK_EQ(spawn_jobs(g->t, g->jobs, 3), 0);
	return reel_gather(g->t, 3, g->st, 0);
}

static int gather_timeout(void *arg)
{
	struct gatherer g;
	uint64_t t0 = reel_now();
	int st;

	(void)arg;
	for (int i = 0; i < 3; i++)
		g.jobs[i] = (struct job){ .ms = 5000, .ret = i };
	FCHECK_EQ(reel_wait_for(40 * MS, gather_in_scope, &g, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 40 * MS);
	FCHECK(reel_now() - t0 < 40 * MS + LATE_OK_NS);
	/* Gather cancelled them: their sleeps said -ECANCELED, their cleanup
	 * ran before gather returned, and that is the status they returned. */
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(g.jobs[i].sleep_rc, -ECANCELED);
		FCHECK(g.jobs[i].cleaned);
		FCHECK_EQ(g.st[i], -ECANCELED);
	}
	return 0;
}

static void test_gather_deadline_cancels_all(void **state)
{
	(void)state;
	run_ok(gather_timeout, NULL);
}

static int gather_bad_input(void *arg)
{
	struct job jobs[2] = { { .ms = 1, .ret = 1 }, { .ms = 1, .ret = 2 } };
	reel_task t[3], stale;
	int st[3];

	(void)arg;
	FCHECK_EQ(reel_gather(NULL, 0, NULL, 0), 0);
	FCHECK_EQ(spawn_jobs(t, jobs, 2), 0);
	FCHECK_EQ(reel_gather(NULL, 2, st, 0), -EINVAL);
	FCHECK_EQ(reel_gather(t, 2, NULL, 0), -EINVAL);
	FCHECK_EQ(reel_gather(t, 2, st, 0x80), -EINVAL);
	/* A stale handle: -ESRCH and nothing was cancelled or joined. */
	FCHECK_EQ(reel_spawn(&stale, job_run, &jobs[0], NULL), 0);
	FCHECK_EQ(reel_join(stale, NULL), 0);
	t[2] = stale;
	FCHECK_EQ(reel_gather(t, 3, st, 0), -ESRCH);
	/* The same task twice: -EINVAL, and the first copy is free again. */
	t[2] = t[0];
	FCHECK_EQ(reel_gather(t, 3, st, 0), -EINVAL);
	t[2] = reel_self();
	FCHECK_EQ(reel_gather(t, 3, st, 0), -EINVAL);  /* main's handle */
	FCHECK_EQ(reel_gather(t, 2, st, 0), 0);
	FCHECK_EQ(st[0], 1);
	FCHECK_EQ(st[1], 2);
	return 0;
}

static void test_gather_bad_input(void **state)
{
	(void)state;
	assert_int_equal(reel_gather(NULL, 0, NULL, 0), -EPERM);
	run_ok(gather_bad_input, NULL);
}

/* 10 000 tasks: linear, each status in place. */
static int gather_many(void *arg)
{
	size_t n = (size_t)scaled(10000);
	reel_task *t = calloc(n, sizeof(*t));
	int *st = calloc(n, sizeof(*st));

	(void)arg;
	FCHECK(t && st);
	for (size_t i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&t[i], return_arg, (void *)(intptr_t)(i % 1000), NULL), 0);
	FCHECK_EQ(reel_gather(t, n, st, 0), 0);
	for (size_t i = 0; i < n; i++)
		FCHECK_EQ(st[i], (int)(i % 1000));
	free(t);
	free(st);
	return 0;
}

static void test_gather_ten_thousand(void **state)
{
	(void)state;
	run_ok(gather_many, NULL);
}

/* ---- wait_any ------------------------------------------------------------ */

static int wait_any_first(void *arg)
{
	struct job jobs[3] = { { .ms = 80, .ret = 1 }, { .ms = 10, .ret = 2 },
			       { .ms = 40, .ret = 3 } };
	reel_task t[3];
	size_t idx = 99;
	int st = 0;

	(void)arg;
	FCHECK_EQ(spawn_jobs(t, jobs, 3), 0);
	FCHECK_EQ(reel_wait_any(t, 3, &idx, &st), 0);
	FCHECK_EQ(idx, 1);
	FCHECK_EQ(st, 2);
	FCHECK_EQ(reel_join(t[1], NULL), -ESRCH);       /* joined */
	FCHECK(!jobs[0].cleaned && !jobs[2].cleaned);   /* others untouched */
	/* The others are plain tasks again. */
	FCHECK_EQ(reel_join(t[2], &st), 0);
	FCHECK_EQ(st, 3);
	FCHECK_EQ(reel_cancel(t[0]), 0);
	FCHECK_EQ(reel_join(t[0], &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	return 0;
}

static int wait_any_scoped(void *arg)
{
	reel_task *t = arg;

	return reel_wait_any(t, 2, NULL, NULL);
}

static int wait_any_timeout(void *arg)
{
	struct job jobs[2] = { { .ms = 5000, .ret = 1 }, { .ms = 5000, .ret = 2 } };
	reel_task t[2];
	size_t idx;
	int st;

	(void)arg;
	FCHECK_EQ(spawn_jobs(t, jobs, 2), 0);
	FCHECK_EQ(reel_wait_for(20 * MS, wait_any_scoped, t, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(!jobs[0].cleaned && !jobs[1].cleaned);   /* not cancelled */
	FCHECK_EQ(reel_cancel(t[0]), 0);
	FCHECK_EQ(reel_wait_any(t, 2, &idx, &st), 0);
	FCHECK_EQ(idx, 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(reel_cancel(t[1]), 0);
	FCHECK_EQ(reel_join(t[1], NULL), 0);
	FCHECK_EQ(reel_wait_any(NULL, 1, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_wait_any(t, 0, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_wait_any(t, 1, NULL, NULL), -ESRCH);
	return 0;
}

static void test_gather_wait_any_takes_first_to_end(void **state)
{
	(void)state;
	run_ok(wait_any_first, NULL);
}

static void test_gather_wait_any_deadline_cancels_none(void **state)
{
	(void)state;
	run_ok(wait_any_timeout, NULL);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather_statuses_in_argument_order),
		cmocka_unit_test(test_gather_fail_fast_cancels_siblings),
		cmocka_unit_test(test_gather_all_returns_every_status),
		cmocka_unit_test(test_gather_unstarted_task_is_cancelled),
		cmocka_unit_test(test_gather_caller_cancelled_cancels_all),
		cmocka_unit_test(test_gather_deadline_cancels_all),
		cmocka_unit_test(test_gather_bad_input),
		cmocka_unit_test(test_gather_ten_thousand),
		cmocka_unit_test(test_gather_wait_any_takes_first_to_end),
		cmocka_unit_test(test_gather_wait_any_deadline_cancels_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
