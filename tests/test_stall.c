/*
 * Description: the stall detector (engine/core/stall.c; reel_stall_detect,
 * REEL_STALL_MS): a fiber that spins 200 ms without parking is reported
 * once, by name, with at least the threshold and a backtrace; a fiber that
 * parks every millisecond for as long, and a loop idle in the kernel, are
 * never reported; bad thresholds are refused.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* stderr goes to a file while @fn runs; its text comes back in @out. */
static void capture_stderr(reel_fn fn, void *arg, char *out, size_t cap)
{
	char path[] = "/tmp/reel-stall-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	run_ok(fn, arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
}

static int spin(void *arg)
{
	uint64_t until = reel_now() + *(uint64_t *)arg;

	while (reel_now() < until)
		;   /* holds the loop: never parks */
	return 0;
}

static int nap_often(void *arg)
{
	uint64_t until = reel_now() + *(uint64_t *)arg;

	while (reel_now() < until)
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	return 0;
}

struct stall_case {
	reel_fn body;
	uint64_t ns;
	uint64_t stalls;
};

static int run_case(void *arg)
{
	struct stall_case *c = arg;
	struct reel_loop_stats st;
	reel_task t;

	FCHECK_EQ(reel_stall_detect(50 * MS), 0);
	FCHECK_EQ(reel_spawn(&t, c->body, &c->ns,
			     &(struct reel_spawn_opts){ .name = "the-hog" }), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(reel_sleep(200 * MS), 0);   /* idle in the kernel: no stall */
	FCHECK_EQ(reel_loop_stats(&st), 0);
	c->stalls = st.stalls;
	FCHECK_EQ(reel_stall_detect(0), 0);
	return 0;
}

static void test_stall_spinning_fiber_is_reported_once(void **state)
{
	struct stall_case c = { spin, 200 * MS, 0 };
	char out[8192];

	(void)state;
	capture_stderr(run_case, &c, out, sizeof(out));
	assert_int_equal(c.stalls, 1);
	assert_non_null(strstr(out, "reel: stall: task"));
	assert_non_null(strstr(out, "(the-hog) has held its loop for at least"));
	assert_non_null(strstr(out, "threshold 50 ms"));
	assert_non_null(strstr(out, "  #0 "));          /* a backtrace follows */
	assert_null(strstr(strstr(out, "reel: stall") + 1, "reel: stall"));   /* once */
}

static void test_stall_fiber_parking_every_ms_is_silent(void **state)
{
	struct stall_case c = { nap_often, 300 * MS, 0 };
	char out[8192];

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind runs one thread at a time: a 1 ms nap can take 50 */
	capture_stderr(run_case, &c, out, sizeof(out));
	assert_int_equal(c.stalls, 0);
	assert_null(strstr(out, "stall"));
}

static int bad_thresholds(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_stall_detect(1 * MS), -EINVAL);
	FCHECK_EQ(reel_stall_detect(0), 0);
	return 0;
}

static void test_stall_bad_threshold_and_outside_loop(void **state)
{
	(void)state;
	assert_int_equal(reel_stall_detect(50 * MS), -EPERM);
	run_ok(bad_thresholds, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_spinning_fiber_is_reported_once),
		cmocka_unit_test(test_stall_fiber_parking_every_ms_is_silent),
		cmocka_unit_test(test_stall_bad_threshold_and_outside_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
