/*
 * Description: the capability report and set-up errors in words: the report
 * names the set-up flags, features and fallbacks actually taken (also when
 * forced through REEL_DISABLE), and a ring that cannot be created makes
 * reel_run fail with a sentence that says why; reel_strerror names reel's
 * errors and takes any int (INT_MIN too, without undefined behaviour).
 */
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static char report[8192];

static void test_probe_report_names_flags_and_limits(void **state)
{
	int n;

	(void)state;
	n = reel_capabilities(report, sizeof(report), NULL);
	assert_true(n > 0 && (size_t)n < sizeof(report));
	assert_int_equal(strlen(report), (size_t)n);
	assert_non_null(strstr(report, "io_uring:       ok"));
	assert_non_null(strstr(report, "setup flags:"));
	assert_non_null(strstr(report, "NODROP"));
	assert_non_null(strstr(report, "RLIMIT_MEMLOCK"));
	assert_non_null(strstr(report, "kernel.io_uring_disabled"));
	assert_non_null(strstr(report, "seccomp"));
	assert_non_null(strstr(report, "stack guards:"));
}

static void test_probe_report_truncates_like_snprintf(void **state)
{
	char small[16];
	int full, n;

	(void)state;
	full = reel_capabilities(NULL, 0, NULL);
	assert_true(full > 100);
	n = reel_capabilities(small, sizeof(small), NULL);
	assert_int_equal(n, full);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(reel_capabilities(NULL, 10, NULL), -EINVAL);
}

static void test_probe_forced_fallbacks_are_reported(void **state)
{
	struct reel_run_opts o = { .disable = REEL_NO_DEFER_TASKRUN | REEL_NO_EXT_ARG |
					      REEL_NO_GUARD_INSTALL };

	(void)state;
	reel_capabilities(report, sizeof(report), &o);
	assert_null(strstr(report, "DEFER_TASKRUN"));
	assert_non_null(strstr(report, "COOP_TASKRUN"));
	assert_non_null(strstr(report, "defer_taskrun off (disabled by request)"));
	assert_non_null(strstr(report, "a TIMEOUT SQE per wait"));
	assert_non_null(strstr(report, "stack guards:   mprotect (disabled by request"));
}

static void test_probe_env_override(void **state)
{
	(void)state;
	setenv("REEL_DISABLE", "coop_taskrun,defer_taskrun", 1);
	reel_capabilities(report, sizeof(report), NULL);
	unsetenv("REEL_DISABLE");
	assert_null(strstr(report, "DEFER_TASKRUN"));
	assert_null(strstr(report, "COOP_TASKRUN"));
	assert_non_null(strstr(report, "SINGLE_ISSUER"));
	/* a name must match whole: "ext_argX" is no request */
	setenv("REEL_DISABLE", "ext_argX", 1);
	reel_capabilities(report, sizeof(report), NULL);
	unsetenv("REEL_DISABLE");
	assert_non_null(strstr(report, "EXT_ARG (timeout passed"));
}

static int never_runs(void *arg)
{
	*(int *)arg = 1;
	return 0;
}

static void test_probe_bad_options_are_einval(void **state)
{
	struct reel_run_opts big = { .ring_entries = 100000 };
	struct reel_run_opts tick = { .tick_shift = 5 };
	int ran = 0;

	(void)state;
	assert_int_equal(reel_run(never_runs, &ran, &big, NULL), -EINVAL);
	assert_int_equal(reel_run(never_runs, &ran, &tick, NULL), -EINVAL);
	assert_int_equal(ran, 0);
}

/* No file descriptor left: io_uring_setup fails with EMFILE, and reel_run
 * says so in words in errbuf. Done in a child, whose limits we may wreck. */
static void test_probe_setup_failure_is_explained(void **state)
{
	int pipefd[2], wstatus;
	char msg[512] = "";
	ssize_t n;
	pid_t pid;

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind keeps descriptors of its own past the limit */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char why[400] = "";
		struct reel_run_opts o = { .errbuf = why, .errbuf_len = sizeof(why) };
		struct rlimit rl = { 0, 0 };
		int ran = 0, err;

		close(pipefd[0]);
		/* keep the pipe's write end: lower the limit below every fd we hold */
		setrlimit(RLIMIT_NOFILE, &rl);
		err = reel_run(never_runs, &ran, &o, NULL);
		dprintf(pipefd[1], "%d|%d|%s", err, ran, why);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	assert_true(n > 0);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_non_null(strstr(msg, "-24|0|"));                  /* -EMFILE, main never ran */
	assert_non_null(strstr(msg, "no file descriptor left"));
}

static void test_probe_strerror_names_reel_errors(void **state)
{
	(void)state;
	assert_non_null(strstr(reel_strerror(-ECANCELED), "cancel"));
	assert_non_null(strstr(reel_strerror(-ETIMEDOUT), "timed out"));
	assert_non_null(strstr(reel_strerror(-ESRCH), "stale"));
	assert_non_null(reel_strerror(-EIO));
	assert_non_null(reel_strerror(5));
}

/* -INT_MIN does not exist: reel_strerror must not compute it (UBSan). */
static void test_regress_strerror_int_min_and_int_max(void **state)
{
	(void)state;
	assert_string_equal(reel_strerror(INT_MIN), "not an error code");
	assert_string_equal(reel_strerror(INT_MAX), "not an error code");
	assert_non_null(reel_strerror(-INT_MAX));
	assert_non_null(reel_strerror(INT_MIN + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_report_names_flags_and_limits),
		cmocka_unit_test(test_probe_report_truncates_like_snprintf),
		cmocka_unit_test(test_probe_forced_fallbacks_are_reported),
		cmocka_unit_test(test_probe_env_override),
		cmocka_unit_test(test_probe_bad_options_are_einval),
		cmocka_unit_test(test_probe_setup_failure_is_explained),
		cmocka_unit_test(test_probe_strerror_names_reel_errors),
		cmocka_unit_test(test_regress_strerror_int_min_and_int_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
