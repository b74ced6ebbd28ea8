/*
 * Description: the end of a run says what would otherwise vanish
 * (engine/core/shutdown.c): a task that failed and was never joined is
 * reported by id, name and status through the error hook or on stderr
 * (joined, cancelled and detached tasks are not); a task that ignores its
 * cancellation at exit, spinning on parking calls that return -ECANCELED,
 * is named after the grace second; a task parked past it is listed with
 * where it waits; REEL_DEBUG_HANDLES (and REEL_DEBUG=handles) lists every
 * handle never joined or detached.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "helpers.h"

static int fail_eio(void *arg)
{
	(void)arg;
	return reel_yield() ? -EFAULT : -EIO;
}

static int fail_after_cancel(void *arg)
{
	(void)arg;
	reel_sleep(10 * SEC);
	return -ENOTCONN;   /* cleanup failed: a failure, not a cancellation */
}

static int succeed(void *arg)
{
	(void)arg;
	return 0;
}

static int sleep_forever(void *arg)
{
	(void)arg;
	return reel_sleep(100 * SEC);
}

/* ---- failed and never joined ------------------------------------------------------ */

struct hooked {
	int calls;
	uint64_t id[4];
	int status[4];
	char name[4][32];
};

static void record(reel_task t, const char *name, int status, void *arg)
{
	struct hooked *h = arg;

	if (h->calls < 4) {
		h->id[h->calls] = t.id;
		h->status[h->calls] = status;
		snprintf(h->name[h->calls], sizeof(h->name[0]), "%s", name ? name : "?");
	}
	h->calls++;
}

static reel_task doomed, cleanup_fails;

static int unjoined_main(void *arg)
{
	reel_task joined, cancelled, quiet;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&doomed, fail_eio, NULL, &(struct reel_spawn_opts){ .name = "doomed" }), 0);
	FCHECK_EQ(reel_spawn(&cleanup_fails, fail_after_cancel, NULL,
			     &(struct reel_spawn_opts){ .name = "cleanup" }), 0);
	FCHECK_EQ(reel_spawn(&joined, fail_eio, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&cancelled, sleep_forever, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&quiet, fail_eio, NULL, NULL), 0);
	FCHECK_EQ(reel_detach(quiet), 0);        /* its status given up on purpose */
	FCHECK_EQ(reel_join(joined, &st), 0);    /* taken: not reported */
	FCHECK_EQ(st, -EIO);
	FCHECK_EQ(reel_cancel(cancelled), 0);    /* ends -ECANCELED: not a failure */
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	return 0;                                /* doomed is never joined */
}

static void test_shutdown_unjoined_failure_goes_to_error_hook(void **state)
{
	struct hooked h = { 0 };
	struct reel_run_opts o = { .error_hook = record, .error_hook_arg = &h };

	(void)state;
	run_ok_opts(unjoined_main, NULL, &o);
	assert_int_equal(h.calls, 2);
	/* slot order: doomed first, then the task whose cleanup failed at exit */
	assert_int_equal(h.id[0], doomed.id);
	assert_string_equal(h.name[0], "doomed");
	assert_int_equal(h.status[0], -EIO);
	assert_int_equal(h.id[1], cleanup_fails.id);
	assert_string_equal(h.name[1], "cleanup");
	assert_int_equal(h.status[1], -ENOTCONN);
	assert_int_equal(reel__last_run_stats()->unjoined_failures, 2);
}

static void test_shutdown_unjoined_failure_on_stderr(void **state)
{
	char err[4096];
	const char *line;
	int ws;

	(void)state;
	ws = run_in_child(unjoined_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	line = strstr(err, "reel: task 0x");
	assert_non_null(line);
	line = strstr(line, " (doomed) failed and was never joined: ");
	assert_non_null(line);
	assert_non_null(strstr(line, "(-5)\n"));
	assert_non_null(strstr(err, "(cleanup) failed and was never joined"));
	/* exactly two such lines */
	assert_null(strstr(strstr(strstr(err, "never joined") + 1, "never joined") + 1,
			   "never joined"));
}

/* ---- a task that ignores its cancellation ---------------------------------------- */

static int stubborn(void *arg)
{
	uint64_t until;

	(void)arg;
	while (reel_sleep(10 * SEC) == 0)
		;
	/* cancelled: it goes on anyway, 1.4 s of parking calls that fail */
	until = reel_now() + 1400 * MS;
	while (reel_now() < until)
		(void)reel_sleep(MS);
	return 0;
}

static int stubborn_main(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_spawn_background(stubborn, NULL, &(struct reel_spawn_opts){ .name = "stubborn" }), 0);
	return reel_yield();   /* it starts, and parks */
}

static void test_shutdown_spinning_task_named_after_grace(void **state)
{
	char err[4096];
	uint64_t t0 = reel_now();
	int ws;

	(void)state;
	ws = run_in_child(stubborn_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	assert_true(reel_now() - t0 >= 1400 * MS);
	assert_non_null(strstr(err, "at exit, task "));
	assert_non_null(strstr(err, "(stubborn) still runs 1."));
	assert_non_null(strstr(err, "return -ECANCELED"));
	/* once in 1.4 s: the next report is 5 s later */
	assert_null(strstr(strstr(err, "still runs") + 1, "still runs"));
}

/* ---- a task parked past the grace second ------------------------------------------- */

static int slow_cleanup(void *arg)
{
	(void)arg;
	return reel_sleep(1300 * MS);
}

static int lingering(void *arg)
{
	int st;

	(void)arg;
	while (reel_sleep(10 * SEC) == 0)
		;
	return reel_shield(5 * SEC, slow_cleanup, NULL, &st);
}

static int lingering_main(void *arg)
{
	reel_task t;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, lingering, NULL, &(struct reel_spawn_opts){ .name = "lingerer" }), 0);
	FCHECK_EQ(reel_detach(t), 0);
	return reel_yield();   /* it starts, and parks */
}

static void test_shutdown_parked_task_listed_after_grace(void **state)
{
	char err[4096];
	int ws;

	(void)state;
	ws = run_in_child(lingering_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	assert_non_null(strstr(err, "at exit, 1 task(s) still alive 1."));
	assert_non_null(strstr(err, "lingerer"));
	assert_non_null(strstr(err, "sleep"));
}

static void test_shutdown_quiet_when_tasks_end_in_time(void **state)
{
	char err[4096];
	int ws;

	(void)state;
	ws = run_in_child(unjoined_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	assert_null(strstr(err, "at exit"));
}

/* ---- handles never joined or detached (debug) -------------------------------------- */

static int handles_main(void *arg)
{
	reel_task lost, taken, running;

	(void)arg;
	FCHECK_EQ(reel_spawn(&lost, succeed, NULL, &(struct reel_spawn_opts){ .name = "lost" }), 0);
	FCHECK_EQ(reel_spawn(&taken, succeed, NULL, &(struct reel_spawn_opts){ .name = "taken" }), 0);
	FCHECK_EQ(reel_spawn(&running, sleep_forever, NULL,
			     &(struct reel_spawn_opts){ .name = "running" }), 0);
	FCHECK_EQ(reel_join(taken, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void check_handles_report(const char *err)
{
	assert_non_null(strstr(err, "(lost) was never joined or detached (its status: 0)"));
	assert_non_null(strstr(err, "(running) was never joined or detached (its status: -125, "
				    "cancelled)"));
	assert_null(strstr(err, "(taken)"));
}

static void test_shutdown_debug_handles_option(void **state)
{
	struct reel_run_opts o = { .debug = REEL_DEBUG_HANDLES };
	char err[4096];
	int ws;

	(void)state;
	ws = run_in_child(handles_main, NULL, &o, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	check_handles_report(err);
	/* off by default: nothing said about successful tasks */
	ws = run_in_child(handles_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFEXITED(ws));
	assert_null(strstr(err, "never joined"));
}

static void test_shutdown_debug_handles_environment(void **state)
{
	char err[4096];
	int ws;

	(void)state;
	setenv("REEL_DEBUG", "handles", 1);
	ws = run_in_child(handles_main, NULL, NULL, err, sizeof(err));
	unsetenv("REEL_DEBUG");
	assert_true(WIFEXITED(ws));
	check_handles_report(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shutdown_unjoined_failure_goes_to_error_hook),
		cmocka_unit_test(test_shutdown_unjoined_failure_on_stderr),
		cmocka_unit_test(test_shutdown_spinning_task_named_after_grace),
		cmocka_unit_test(test_shutdown_parked_task_listed_after_grace),
		cmocka_unit_test(test_shutdown_quiet_when_tasks_end_in_time),
		cmocka_unit_test(test_shutdown_debug_handles_option),
		cmocka_unit_test(test_shutdown_debug_handles_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
