/*
 * Description: task groups (engine/tasks/group.c):
 * reel_group_init, _spawn, _wait and _cancel - every child awaited and the
 * group reusable; fail-fast at once, while the parent is busy elsewhere, and
 * every failure reported (also with fewer slots than failures); a long-lived
 * group forgets children that succeed; a child spawning into its own group
 * and the parent cancelled; reel_group_cancel; a cancelled wait refuses new
 * children; the abort when a fiber leaves a group behind. The timed jobs
 * (struct job) are in helpers.h.
 */
#include <stdbool.h>

#include "helpers.h"

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

static void test_group_wait_all_succeed_and_reuse(void **state)
{
	(void)state;
	run_ok(group_ok, NULL);
}

static void test_group_fail_fast_reports_every_error(void **state)
{
	(void)state;
	run_ok(group_fail_fast, NULL);
}

static void test_group_fewer_error_slots_than_failures(void **state)
{
	(void)state;
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

static void test_group_forgets_children_that_succeed(void **state)
{
	(void)state;
	run_ok(group_forgets, NULL);
}

static void test_group_parent_cancelled_with_nested_spawn(void **state)
{
	(void)state;
	run_ok(group_cancelled, NULL);
}

static void test_group_cancel_call(void **state)
{
	(void)state;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_wait_all_succeed_and_reuse),
		cmocka_unit_test(test_group_fail_fast_reports_every_error),
		cmocka_unit_test(test_group_fewer_error_slots_than_failures),
		cmocka_unit_test(test_group_forgets_children_that_succeed),
		cmocka_unit_test(test_group_parent_cancelled_with_nested_spawn),
		cmocka_unit_test(test_group_cancel_call),
		cmocka_unit_test(test_group_cancelled_wait_refuses_spawn),
		cmocka_unit_test(test_group_left_behind_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
