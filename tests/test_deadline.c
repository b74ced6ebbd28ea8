/*
 * Description: time (engine/core/deadline.c) through the
 * public API (docs/design.md §1b): reel_sleep is never
 * early and late by a bounded amount at several tick sizes, reel_sleep(0)
 * yields once, reel_wait_for (success, timeout with partial results, sticky
 * inside its scope, timeout 0, cancelled callers, nesting, join under a
 * deadline) and reel_shield (cleanup that parks despite cancellation or an
 * expired deadline, bounded by its own timeout).
 */
#include <stdbool.h>

#include "helpers.h"

/* ---- reel_sleep is never early ------------------------------------------- */

static int never_early_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		/* 0.1 ms to 30 ms */
		uint64_t want = 100000 + rng() % (30 * MS - 100000 + 1);
		uint64_t t0 = reel_now(), got;

		FCHECK_EQ(reel_sleep(want), 0);
		got = reel_now() - t0;
		FCHECK(got >= want);                 /* strictly: no tolerance */
		FCHECK(got - want <= LATE_OK_NS);
	}
	return 0;
}

static void run_never_early(unsigned tick_shift)
{
	struct reel_run_opts o = { .tick_shift = tick_shift };

	rng_state = 0x9e3779b97f4a7c15ull ^ tick_shift;
	run_ok_opts(never_early_main, NULL, &o);
}

static void test_deadline_sleep_never_early(void **state)
{
	(void)state;
	run_never_early(0);   /* the default tick, 2^16 ns */
}

static void test_deadline_sleep_never_early_tick_shift_10(void **state)
{
	(void)state;
	run_never_early(10);
}

static void test_deadline_sleep_never_early_tick_shift_20(void **state)
{
	(void)state;
	run_never_early(20);
}

/* ---- reel_sleep(0) yields once ------------------------------------------- */

static int z_count;
static bool z_stop;

static int z_ticker(void *arg)
{
	(void)arg;
	while (!z_stop) {
		z_count++;
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

static int sleep_zero_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, z_ticker, NULL, NULL), 0);
	FCHECK_EQ(z_count, 0);
	FCHECK_EQ(reel_sleep(0), 0);
	FCHECK_EQ(z_count, 1);   /* the other ready fiber ran, once */
	FCHECK_EQ(reel_sleep(0), 0);
	FCHECK_EQ(z_count, 2);
	z_stop = true;
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_deadline_sleep_zero_yields_once(void **state)
{
	(void)state;
	z_count = 0;
	z_stop = false;
	run_ok(sleep_zero_main, NULL);
}

/* ---- reel_wait_for succeeds ---------------------------------------------- */

static int sleep_then_return(void *arg)
{
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_yield(), 0);
	return (int)(intptr_t)arg;
}

static int wf_ok_main(void *arg)
{
	int st;

	(void)arg;
	st = 0;
	FCHECK_EQ(reel_wait_for(1 * SEC, sleep_then_return, (void *)17, &st), 0);
	FCHECK_EQ(st, 17);
	st = 0;
	FCHECK_EQ(reel_wait_for(1 * SEC, sleep_then_return, (void *)(intptr_t)-EIO, &st), 0);
	FCHECK_EQ(st, -EIO);   /* fn's own failure is its status, not wait_for's */
	st = 0;
	FCHECK_EQ(reel_wait_for(UINT64_MAX, sleep_then_return, (void *)3, &st), 0);
	FCHECK_EQ(st, 3);
	FCHECK_EQ(reel_wait_for(1 * SEC, sleep_then_return, (void *)4, NULL), 0);
	/* The scope is gone: nothing later is interrupted. */
	FCHECK_EQ(reel_sleep(2 * MS), 0);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_deadline_wait_for_success_returns_status(void **state)
{
	(void)state;
	run_ok(wf_ok_main, NULL);
}

/* ---- reel_wait_for times out; partial results stay valid ----------------- */

struct counter {
	int count;
	int last;
};

static int count_sleeps(void *arg)
{
	struct counter *c = arg;
	int r;

	while ((r = reel_sleep(10 * MS)) == 0)
		c->count++;
	c->last = r;
	return c->count;
}

static int wf_timeout_main(void *arg)
{
	struct counter c = { 0, 0 };
	uint64_t t0 = reel_now(), el;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_wait_for(95 * MS, count_sleeps, &c, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK_EQ(c.last, -ETIMEDOUT);
	FCHECK_EQ(st, c.count);
	FCHECK(c.count >= 5 && c.count <= 9);
	FCHECK(el >= 95 * MS);
	FCHECK(el <= 95 * MS + LATE_OK_NS);
	return 0;
}

static void test_deadline_wait_for_timeout_keeps_partial_result(void **state)
{
	(void)state;
	run_ok(wf_timeout_main, NULL);
}

/* ---- the timeout is sticky inside the scope and gone after it ------------ */

static bool sticky_spawned_ran;

static int sticky_scope_fn(void *arg)
{
	reel_task x;
	int st;

	(void)arg;
	FCHECK_EQ(reel_sleep(10 * SEC), -ETIMEDOUT);
	FCHECK_EQ(check_parking_calls_fail(-ETIMEDOUT), 0);
	/* A join in the expired scope: -ETIMEDOUT, the task is cancelled
	 * (before its first run, so it never runs) and collected. */
	FCHECK_EQ(reel_spawn(&x, set_flag, &sticky_spawned_ran, NULL), 0);
	FCHECK_EQ(reel_join(x, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(!sticky_spawned_ran);
	FCHECK_EQ(reel_join(x, &st), -ESRCH);
	FCHECK_EQ(reel_yield(), -ETIMEDOUT);
	return 123;
}

static int sticky_scope_main(void *arg)
{
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_wait_for(20 * MS, sticky_scope_fn, NULL, &st), -ETIMEDOUT);
	FCHECK_EQ(st, 123);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_sleep(0), 0);
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK_EQ(reel_nop(), 0);
	return 0;
}

static void test_deadline_timeout_sticky_inside_scope_only(void **state)
{
	(void)state;
	sticky_spawned_ran = false;
	run_ok(sticky_scope_main, NULL);
	assert_false(sticky_spawned_ran);
}

/* ---- timeout 0 and an already-cancelled caller do not run fn ------------- */

static int wf_zero_main(void *arg)
{
	bool ran = false;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_wait_for(0, set_flag, &ran, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(!ran);
	FCHECK_EQ(reel_wait_for(0, set_flag, &ran, NULL), -ETIMEDOUT);
	FCHECK(!ran);
	FCHECK_EQ(reel_yield(), 0);   /* no scope left behind */
	return 0;
}

static void test_deadline_wait_for_zero_timeout_does_not_run_fn(void **state)
{
	(void)state;
	run_ok(wf_zero_main, NULL);
}

static bool cc_ran;

static int cc_self_cancelled(void *arg)
{
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_wait_for(1 * SEC, set_flag, &cc_ran, &st), -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	return 0;
}

static int cc_cancelled_by_other(void *arg)
{
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_sleep(10 * SEC), -ECANCELED);
	FCHECK_EQ(reel_wait_for(1 * SEC, set_flag, &cc_ran, &st), -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	return 0;
}

static int wf_cancelled_caller_main(void *arg)
{
	reel_task a, b;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&a, cc_self_cancelled, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&b, cc_cancelled_by_other, NULL, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_cancel(b), 0);
	FCHECK_EQ(reel_join(a, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(b, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(!cc_ran);
	return 0;
}

static void test_deadline_wait_for_cancelled_caller_does_not_run_fn(void **state)
{
	(void)state;
	cc_ran = false;
	run_ok(wf_cancelled_caller_main, NULL);
	assert_false(cc_ran);
}

/* ---- the caller cancelled while inside wait_for -------------------------- */

static int ci_sleep = 1, ci_wait = 1, ci_status;

static int ci_fn(void *arg)
{
	(void)arg;
	ci_sleep = reel_sleep(10 * SEC);
	return 31;
}

static int ci_task(void *arg)
{
	(void)arg;
	ci_wait = reel_wait_for(10 * SEC, ci_fn, NULL, &ci_status);
	FCHECK_EQ(reel_yield(), -ECANCELED);   /* still cancelled after the scope */
	return 0;
}

static int wf_cancel_inside_main(void *arg)
{
	uint64_t t0 = reel_now();
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, ci_task, NULL, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(ci_sleep, -ECANCELED);
	FCHECK_EQ(ci_wait, -ECANCELED);
	FCHECK_EQ(ci_status, 31);
	FCHECK(reel_now() - t0 < 5 * SEC);
	return 0;
}

static void test_deadline_wait_for_caller_cancelled_inside(void **state)
{
	(void)state;
	ci_sleep = ci_wait = 1;
	ci_status = 0;
	run_ok(wf_cancel_inside_main, NULL);
}

/* ---- nesting: inner deadlines never extend outer ones -------------------- */

struct nest {
	uint64_t inner_timeout;
	uint64_t t0;
	int inner_sleep;       /* what the 10 s sleep in the inner fn returned */
	uint64_t inner_slept;  /* and when */
	int inner_wait;        /* the inner wait_for's return */
	int inner_status;
	int after_sleep;       /* the outer fn's parking calls after the inner scope */
	int after_yield;
};

static int nest_inner(void *arg)
{
	struct nest *n = arg;

	n->inner_sleep = reel_sleep(10 * SEC);
	n->inner_slept = reel_now() - n->t0;
	return 1;
}

static int nest_outer(void *arg)
{
	struct nest *n = arg;

	n->inner_wait = reel_wait_for(n->inner_timeout, nest_inner, n, &n->inner_status);
	n->after_sleep = reel_sleep(5 * MS);
	n->after_yield = reel_yield();
	return 2;
}

static int nest_outer_shorter_main(void *arg)
{
	struct nest n = { .inner_timeout = 10 * SEC };
	int st = 0;

	(void)arg;
	n.t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, nest_outer, &n, &st), -ETIMEDOUT);
	FCHECK_EQ(st, 2);
	FCHECK_EQ(n.inner_sleep, -ETIMEDOUT);
	FCHECK(n.inner_slept >= 50 * MS);
	FCHECK(n.inner_slept <= 50 * MS + LATE_OK_NS);
	FCHECK_EQ(n.inner_wait, -ETIMEDOUT);
	FCHECK_EQ(n.inner_status, 1);
	FCHECK_EQ(n.after_sleep, -ETIMEDOUT);   /* the outer scope is expired too */
	FCHECK_EQ(n.after_yield, -ETIMEDOUT);
	return 0;
}

static void test_deadline_nested_outer_shorter_wins(void **state)
{
	(void)state;
	run_ok(nest_outer_shorter_main, NULL);
}

static int nest_inner_shorter_main(void *arg)
{
	struct nest n = { .inner_timeout = 30 * MS };
	uint64_t el;
	int st = 0;

	(void)arg;
	n.t0 = reel_now();
	FCHECK_EQ(reel_wait_for(10 * SEC, nest_outer, &n, &st), 0);
	el = reel_now() - n.t0;
	FCHECK_EQ(st, 2);
	FCHECK_EQ(n.inner_sleep, -ETIMEDOUT);
	FCHECK(n.inner_slept >= 30 * MS);
	FCHECK(n.inner_slept <= 30 * MS + LATE_OK_NS);
	FCHECK_EQ(n.inner_wait, -ETIMEDOUT);
	FCHECK_EQ(n.inner_status, 1);
	FCHECK_EQ(n.after_sleep, 0);   /* the outer fn goes on undisturbed */
	FCHECK_EQ(n.after_yield, 0);
	FCHECK(el >= 35 * MS);
	FCHECK(el < 5 * SEC);
	return 0;
}

static void test_deadline_nested_inner_shorter_only_inner_times_out(void **state)
{
	(void)state;
	run_ok(nest_inner_shorter_main, NULL);
}

/* ---- reel_join under a deadline ------------------------------------------ */

static int jt_sleep = 1;

static int jt_sleeper(void *arg)
{
	(void)arg;
	jt_sleep = reel_sleep(10 * SEC);
	return 9;
}

struct jt_args {
	reel_task t;
	int join;
	int status;
};

static int jt_fn(void *arg)
{
	struct jt_args *a = arg;

	a->join = reel_join(a->t, &a->status);
	return 4;
}

static int join_timeout_main(void *arg)
{
	struct jt_args a = { .join = 1, .status = 1 };
	uint64_t t0 = reel_now(), el;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_spawn(&a.t, jt_sleeper, NULL, NULL), 0);
	FCHECK_EQ(reel_wait_for(30 * MS, jt_fn, &a, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK_EQ(st, 4);
	FCHECK_EQ(a.join, -ETIMEDOUT);
	FCHECK_EQ(jt_sleep, -ECANCELED);   /* the joined task was cancelled */
	FCHECK_EQ(a.status, 9);             /* and collected */
	FCHECK_EQ(reel_join(a.t, &st), -ESRCH);
	FCHECK_EQ(reel_cancel(a.t), -ESRCH);
	FCHECK_EQ(reel_detach(a.t), -ESRCH);
	FCHECK(el >= 30 * MS);
	FCHECK(el <= 30 * MS + LATE_OK_NS);
	return 0;
}

static void test_deadline_join_timeout_cancels_and_collects_task(void **state)
{
	(void)state;
	jt_sleep = 1;
	run_ok(join_timeout_main, NULL);
}

/* ---- reel_shield --------------------------------------------------------- */

struct cleanup {
	uint64_t sleep_ns;
	int sleep_r;
	uint64_t slept;
};

static int cleanup_sleep(void *arg)
{
	struct cleanup *c = arg;
	uint64_t t0 = reel_now();

	c->sleep_r = reel_sleep(c->sleep_ns);
	c->slept = reel_now() - t0;
	return 3;
}

static int shield_cancelled_task(void *arg)
{
	struct cleanup c = { .sleep_ns = 20 * MS, .sleep_r = 1 };
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_sleep(10 * SEC), -ECANCELED);
	FCHECK_EQ(reel_yield(), -ECANCELED);
	FCHECK_EQ(reel_shield(1 * SEC, cleanup_sleep, &c, &st), 0);
	FCHECK_EQ(st, 3);
	FCHECK_EQ(c.sleep_r, 0);
	FCHECK(c.slept >= 20 * MS);
	FCHECK(c.slept <= 20 * MS + LATE_OK_NS);
	/* The cancellation applies again after the section. */
	FCHECK_EQ(reel_yield(), -ECANCELED);
	FCHECK_EQ(reel_sleep(1 * MS), -ECANCELED);
	return 0;
}

static int shield_cancel_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, shield_cancelled_task, NULL, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_deadline_shield_lets_cancelled_task_park(void **state)
{
	(void)state;
	run_ok(shield_cancel_main, NULL);
}

static int shield_bounded_task(void *arg)
{
	struct cleanup c = { .sleep_ns = 10 * SEC, .sleep_r = 1 };
	uint64_t t0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_shield(30 * MS, cleanup_sleep, &c, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK(reel_now() - t0 <= 30 * MS + LATE_OK_NS);
	FCHECK_EQ(st, 3);
	FCHECK_EQ(c.sleep_r, -ETIMEDOUT);
	FCHECK_EQ(reel_yield(), -ECANCELED);   /* cancelled again after it */
	return 0;
}

static int shield_bounded_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, shield_bounded_task, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_deadline_shield_timeout_bounds_cleanup(void **state)
{
	(void)state;
	run_ok(shield_bounded_main, NULL);
}

struct expired_scope {
	int first_sleep;
	int shield;
	int shield_status;
	struct cleanup c;
	int after;
};

static int expired_scope_fn(void *arg)
{
	struct expired_scope *e = arg;

	e->first_sleep = reel_sleep(10 * SEC);
	e->shield = reel_shield(1 * SEC, cleanup_sleep, &e->c, &e->shield_status);
	e->after = reel_yield();
	return 6;
}

static int shield_in_wait_for_main(void *arg)
{
	struct expired_scope e = { .c = { .sleep_ns = 10 * MS, .sleep_r = 1 },
				   .first_sleep = 1, .shield = 1, .after = 1 };
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_wait_for(20 * MS, expired_scope_fn, &e, &st), -ETIMEDOUT);
	FCHECK_EQ(st, 6);
	FCHECK_EQ(e.first_sleep, -ETIMEDOUT);
	FCHECK_EQ(e.shield, 0);
	FCHECK_EQ(e.shield_status, 3);
	FCHECK_EQ(e.c.sleep_r, 0);             /* the cleanup could park */
	FCHECK(e.c.slept >= 10 * MS);
	FCHECK_EQ(e.after, -ETIMEDOUT);        /* the expired deadline applies again */
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_deadline_shield_inside_expired_wait_for(void **state)
{
	(void)state;
	run_ok(shield_in_wait_for_main, NULL);
}

static int shield_plain_main(void *arg)
{
	struct cleanup c = { .sleep_ns = 2 * MS, .sleep_r = 1 };
	bool ran = false;
	int st = 0;

	(void)arg;
	/* Not cancelled, no deadline: just runs fn. */
	FCHECK_EQ(reel_shield(1 * SEC, cleanup_sleep, &c, &st), 0);
	FCHECK_EQ(st, 3);
	FCHECK_EQ(c.sleep_r, 0);
	FCHECK_EQ(reel_shield(1 * SEC, cleanup_sleep, &c, NULL), 0);
	/* Bad arguments. */
	FCHECK_EQ(reel_shield(0, set_flag, &ran, &st), -EINVAL);
	FCHECK_EQ(reel_shield(1 * SEC, NULL, NULL, &st), -EINVAL);
	FCHECK_EQ(reel_wait_for(1 * SEC, NULL, NULL, &st), -EINVAL);
	FCHECK(!ran);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_deadline_shield_runs_fn_and_rejects_bad_arguments(void **state)
{
	(void)state;
	run_ok(shield_plain_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_sleep_never_early),
		cmocka_unit_test(test_deadline_sleep_never_early_tick_shift_10),
		cmocka_unit_test(test_deadline_sleep_never_early_tick_shift_20),
		cmocka_unit_test(test_deadline_sleep_zero_yields_once),
		cmocka_unit_test(test_deadline_wait_for_success_returns_status),
		cmocka_unit_test(test_deadline_wait_for_timeout_keeps_partial_result),
		cmocka_unit_test(test_deadline_timeout_sticky_inside_scope_only),
		cmocka_unit_test(test_deadline_wait_for_zero_timeout_does_not_run_fn),
		cmocka_unit_test(test_deadline_wait_for_cancelled_caller_does_not_run_fn),
		cmocka_unit_test(test_deadline_wait_for_caller_cancelled_inside),
		cmocka_unit_test(test_deadline_nested_outer_shorter_wins),
		cmocka_unit_test(test_deadline_nested_inner_shorter_only_inner_times_out),
		cmocka_unit_test(test_deadline_join_timeout_cancels_and_collects_task),
		cmocka_unit_test(test_deadline_shield_lets_cancelled_task_park),
		cmocka_unit_test(test_deadline_shield_timeout_bounds_cleanup),
		cmocka_unit_test(test_deadline_shield_inside_expired_wait_for),
		cmocka_unit_test(test_deadline_shield_runs_fn_and_rejects_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
