/*
 * Description: waiting for many tasks (engine/group.c): reel_gather, fail-fast
 * and REEL_GATHER_ALL exactly as DESIGN §1c states them (sibling cleanup
 * observed, first error returned, statuses in argument order, the caller
 * cancelled or timed out, bad handles checked before anything happens);
 * reel_wait_any; task sets in completion order; task groups (fail-fast at
 * once, every failure reported, cancellation, nesting, reuse); background
 * tasks whose failures are reported; the abort when a fiber leaves a group
 * behind.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"

/* A job: sleep @ms, then return @ret; @cleaned is set when it leaves after
 * an interruption (its "cleanup" ran), @sleep_rc is what the sleep said. */
struct job {
	uint64_t ms;
	int ret;
	bool ran, cleaned;
	int sleep_rc;
	int *order;             /* where to record the order of endings */
	int *norder;
	int id;
};

static int job_run(void *arg)
{
	struct job *j = arg;
	int r;

	j->ran = true;
	r = reel_sleep(j->ms * MS);
	j->sleep_rc = r;
	if (j->order)
		j->order[(*j->norder)++] = j->id;
	if (r < 0) {
		j->cleaned = true;
		return r;
	}
	return j->ret;
}

static int spawn_jobs(reel_task *t, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&t[i], job_run, &jobs[i], NULL), 0);
	return 0;
}

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

static int quick(void *arg)
{
	return (int)(intptr_t)arg;
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
		FCHECK_EQ(reel_spawn(&t[i], quick, (void *)(intptr_t)(i % 1000), NULL), 0);
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

static void test_wait_any_takes_first_to_end(void **state)
{
	(void)state;
	run_ok(wait_any_first, NULL);
	run_ok(wait_any_timeout, NULL);
}

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
	run_ok(taskset_interrupt_and_close, NULL);
}

/* ---- task groups --------------------------------------------------------- */

static int group_ok(void *arg)
{
	struct job jobs[4];
	struct reel_group g;
	struct reel_group_error errs[4];
	size_t nerrs = 99;

	(void)arg;
	FCHECK_EQ(reel_group_init(&g), 0);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct job){ .ms = 10 * (uint64_t)(i + 1), .ret = i };
		FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[i], NULL), i);
	}
	FCHECK_EQ(reel_group_wait(&g, errs, 4, &nerrs), 0);
	FCHECK_EQ(nerrs, 0);
	for (int i = 0; i < 4; i++)
		FCHECK(jobs[i].ran && !jobs[i].cleaned);
	/* Reusable: indexes start again at 0. */
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[0], NULL), 0);
	FCHECK_EQ(reel_group_wait(&g, NULL, 0, NULL), 0);
	return 0;
}

/* A child that fails after its siblings were cancelled: its cleanup fails
 * too, so the group sees two failures and must report both. */
static int failing_cleanup(void *arg)
{
	struct job *j = arg;
	int r = reel_sleep(j->ms * MS);

	j->sleep_rc = r;
	j->cleaned = r < 0;
	return r < 0 ? -EPIPE : 0;
}

static int group_fail_fast(void *arg)
{
	struct job jobs[4] = {
		{ .ms = 5000, .ret = 0 },
		{ .ms = 20, .ret = -EIO },
		{ .ms = 5000, .ret = 0 },
		{ .ms = 5000, .ret = 0 },
	};
	struct reel_group g;
	struct reel_group_error errs[4];
	size_t nerrs = 0;
	uint64_t t0 = reel_now();

	(void)arg;
	FCHECK_EQ(reel_group_init(&g), 0);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[0], NULL), 0);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[1], NULL), 1);
	FCHECK_EQ(reel_group_spawn(&g, failing_cleanup, &jobs[2], NULL), 2);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[3], NULL), 3);
	/* The parent is busy elsewhere: the failure cancels the siblings at
	 * once, without waiting for reel_group_wait. */
	FCHECK_EQ(reel_sleep(200 * MS), 0);
	FCHECK(jobs[0].cleaned && jobs[2].cleaned && jobs[3].cleaned);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[0], NULL), -ECANCELED);
	FCHECK_EQ(reel_group_wait(&g, errs, 4, &nerrs), -EIO);
	FCHECK(reel_now() - t0 < 200 * MS + LATE_OK_NS);
	FCHECK_EQ(nerrs, 2);                    /* -ECANCELED never counts */
	FCHECK_EQ(errs[0].index, 1);
	FCHECK_EQ(errs[0].status, -EIO);
	FCHECK_EQ(errs[1].index, 2);
	FCHECK_EQ(errs[1].status, -EPIPE);
	/* Fewer slots than failures: the count is still complete. */
	return 0;
}

static int group_truncated_errors(void *arg)
{
	struct job jobs[3] = { { .ms = 10, .ret = -EIO }, { .ms = 10, .ret = -ENOENT },
			       { .ms = 10, .ret = -EACCES } };
	struct reel_group g;
	struct reel_group_error err;
	size_t nerrs = 0;

	(void)arg;
	FCHECK_EQ(reel_group_init(&g), 0);
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[i], NULL), i);
	/* All three end in the same tick; the first failure cancels the
	 * others, which may already have ended: at least one failure. */
	FCHECK_EQ(reel_group_wait(&g, &err, 1, &nerrs), err.status);
	FCHECK(nerrs >= 1 && nerrs <= 3);
	FCHECK_EQ(reel_group_wait(&g, NULL, 1, NULL), -EINVAL);
	return 0;
}

static void test_group_fail_fast_reports_every_error(void **state)
{
	(void)state;
	run_ok(group_ok, NULL);
	run_ok(group_fail_fast, NULL);
	run_ok(group_truncated_errors, NULL);
}

/* A long-lived group forgets children that succeed: 20 000 children, at
 * most 8 alive at once, and the task table never grows past its start. */
static int group_forgets(void *arg)
{
	struct job j = { .ms = 0, .ret = 1 };
	struct reel_group g;
	long n = scaled(20000);
	size_t nerrs = 9;

	(void)arg;
	FCHECK_EQ(reel_group_init(&g), 0);
	for (long i = 0; i < n; i++) {
		FCHECK_EQ(reel_group_spawn(&g, job_run, &j, NULL), (int)i);
		if (i % 8 == 7)
			FCHECK_EQ(reel_sleep(0), 0);
	}
	FCHECK(reel__loop_cur->ntasks <= 64);
	FCHECK_EQ(reel_group_wait(&g, NULL, 0, &nerrs), 0);
	FCHECK_EQ(nerrs, 0);
	return 0;
}

/* A child spawns a sibling into its own group; the parent is cancelled. */
struct nest {
	struct reel_group g;
	struct job jobs[2];
	int rc;
};

static int spawner_child(void *arg)
{
	struct nest *n = arg;

	if (reel_group_spawn(&n->g, job_run, &n->jobs[1], NULL) != 1)
		return -EFAULT;
	return reel_sleep(5000 * MS);
}

static int group_parent(void *arg)
{
	struct nest *n = arg;

	FCHECK_EQ(reel_group_init(&n->g), 0);
	FCHECK_EQ(reel_group_spawn(&n->g, spawner_child, n, NULL), 0);
	n->rc = reel_group_wait(&n->g, NULL, 0, NULL);
	return 0;
}

static int group_cancelled(void *arg)
{
	struct nest n = { .jobs = { { .ms = 0 }, { .ms = 5000, .ret = 5 } }, .rc = 1 };
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, group_parent, &n, NULL), 0);
	FCHECK_EQ(reel_sleep(30 * MS), 0);
	FCHECK(n.jobs[1].ran);                  /* the nested spawn ran */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(n.rc, -ECANCELED);
	FCHECK(n.jobs[1].cleaned);
	return 0;
}

static int group_cancel_call(void *arg)
{
	struct job jobs[2] = { { .ms = 5000 }, { .ms = 5000 } };
	struct reel_group g;
	size_t nerrs = 9;

	(void)arg;
	FCHECK_EQ(reel_group_init(&g), 0);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[0], NULL), 0);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[1], NULL), 1);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_group_cancel(&g), 0);
	FCHECK_EQ(reel_group_spawn(&g, job_run, &jobs[0], NULL), -ECANCELED);
	FCHECK_EQ(reel_group_wait(&g, NULL, 0, &nerrs), 0);
	FCHECK_EQ(nerrs, 0);
	FCHECK(jobs[0].cleaned && jobs[1].cleaned);
	return 0;
}

static void test_group_cancellation(void **state)
{
	(void)state;
	run_ok(group_forgets, NULL);
	run_ok(group_cancelled, NULL);
	run_ok(group_cancel_call, NULL);
}

/* Regression: a cancelled reel_group_wait refuses new children, so a
 * child's cleanup cannot keep the cancelled parent waiting. */
struct respawner {
	struct reel_group *g;
	struct job late;
	int spawn_rc;
};

static int respawn_on_cancel(void *arg)
{
	struct respawner *r = arg;
	int err = reel_sleep(5000 * MS);

	r->spawn_rc = reel_group_spawn(r->g, job_run, &r->late, NULL);
	return err;
}

struct respawn_parent {
	struct reel_group g;
	struct respawner r;
	int rc;
};

static int respawn_parent(void *arg)
{
	struct respawn_parent *p = arg;

	FCHECK_EQ(reel_group_init(&p->g), 0);
	p->r.g = &p->g;
	FCHECK_EQ(reel_group_spawn(&p->g, respawn_on_cancel, &p->r, NULL), 0);
	p->rc = reel_group_wait(&p->g, NULL, 0, NULL);
	return 0;
}

static int group_cancelled_refuses_spawn(void *arg)
{
	struct respawn_parent p = { .r = { .late = { .ms = 5000 }, .spawn_rc = 1 } };
	uint64_t t0;
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, respawn_parent, &p, NULL), 0);
	FCHECK_EQ(reel_sleep(10 * MS), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK(reel_now() - t0 < LATE_OK_NS);
	FCHECK_EQ(p.rc, -ECANCELED);
	FCHECK_EQ(p.r.spawn_rc, -ECANCELED);
	FCHECK(!p.r.late.ran);
	return 0;
}

static void test_group_cancelled_wait_refuses_spawn(void **state)
{
	(void)state;
	run_ok(group_cancelled_refuses_spawn, NULL);
}

/* Leaving a group with live children behind is a bug reported loudly. */
static int leaves_group(void *arg)
{
	struct job *j = arg;
	struct reel_group g;

	reel_group_init(&g);
	reel_group_spawn(&g, job_run, j, NULL);
	return 0;
}

static int leaver_main(void *arg)
{
	struct job j = { .ms = 5000 };
	reel_task t;

	(void)arg;
	reel_spawn(&t, leaves_group, &j, NULL);
	return reel_join(t, NULL);
}

static void test_group_left_behind_aborts(void **state)
{
	char out[1024];
	int ws;

	(void)state;
	ws = run_in_child(leaver_main, NULL, NULL, out, sizeof(out));
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT);
	assert_non_null(strstr(out, "task group"));
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

static void test_background_failures_reported(void **state)
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
		cmocka_unit_test(test_gather_statuses_in_argument_order),
		cmocka_unit_test(test_gather_fail_fast_cancels_siblings),
		cmocka_unit_test(test_gather_all_returns_every_status),
		cmocka_unit_test(test_gather_unstarted_task_is_cancelled),
		cmocka_unit_test(test_gather_caller_cancelled_cancels_all),
		cmocka_unit_test(test_gather_deadline_cancels_all),
		cmocka_unit_test(test_gather_bad_input),
		cmocka_unit_test(test_gather_ten_thousand),
		cmocka_unit_test(test_wait_any_takes_first_to_end),
		cmocka_unit_test(test_taskset_completion_order),
		cmocka_unit_test(test_group_fail_fast_reports_every_error),
		cmocka_unit_test(test_group_cancellation),
		cmocka_unit_test(test_group_cancelled_wait_refuses_spawn),
		cmocka_unit_test(test_group_left_behind_aborts),
		cmocka_unit_test(test_background_failures_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
