/*
 * Description: the loop (core/loop.c; docs/design.md §1b) through reel_run: calls
 * outside any fiber (-EPERM, before, during - from another thread - and
 * after a loop), the leftovers cancelled when main returns, a task spawned
 * during shutdown that never runs, reel_run inside a fiber (-EBUSY), two
 * runs in a row, bad options (-EINVAL), and main's status coming back.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"

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

static void test_loop_calls_outside_fiber_eperm(void **state)
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

static void test_loop_leftovers_cancelled_when_main_returns(void **state)
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

static void test_loop_spawn_during_shutdown_never_runs(void **state)
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

static void test_loop_run_inside_fiber_ebusy(void **state)
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

static void test_loop_run_twice_in_a_row(void **state)
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

static void test_loop_run_bad_arguments_einval(void **state)
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

static void test_loop_main_status_comes_back(void **state)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_calls_outside_fiber_eperm),
		cmocka_unit_test(test_loop_leftovers_cancelled_when_main_returns),
		cmocka_unit_test(test_loop_spawn_during_shutdown_never_runs),
		cmocka_unit_test(test_loop_run_inside_fiber_ebusy),
		cmocka_unit_test(test_loop_run_twice_in_a_row),
		cmocka_unit_test(test_loop_run_bad_arguments_einval),
		cmocka_unit_test(test_loop_main_status_comes_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
