/*
 * Description: the capability report and set-up errors in words: the report
 * names the set-up flags, features and fallbacks actually taken (also when
 * forced through REEL_DISABLE), and a ring that cannot be created makes
 * reel_run fail with a sentence that says why: the real size asked for and
 * RLIMIT_MEMLOCK's value; a refused io_uring_enter or io_uring_register is
 * named as a refusal, not an old kernel; under a small RLIMIT_MEMLOCK, rings
 * closed a moment ago (uncharged late by the kernel) do not make the next
 * set-up fail; reel_strerror names reel's errors and takes any int (INT_MIN
 * too, without undefined behaviour).
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

/* Runs @fn in a child (its limits and filters die with it) and returns
 * what it wrote to the pipe given to it. */
static void in_child(void (*fn)(int fd, void *arg), void *arg, char *out, size_t len)
{
	size_t got = 0;
	int fds[2], ws;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		alarm(20);
		fn(fds[1], arg);
		_exit(0);
	}
	close(fds[1]);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void caps_refusing(int fd, void *arg)
{
	static char rep[8192];

	if (refuse_syscall((long)(intptr_t)arg, EPERM) != 0) {
		dprintf(fd, "no seccomp");
		return;
	}
	reel_capabilities(rep, sizeof(rep), NULL);
	dprintf(fd, "%s", rep);
}

static void test_probe_report_names_a_refused_enter(void **state)
{
	static char out[8192];

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind does not run client seccomp filters */
	in_child(caps_refusing, (void *)(intptr_t)SYS_io_uring_enter, out, sizeof(out));
	print_message("%s", out);
	assert_non_null(strstr(out, "io_uring:       UNAVAILABLE - reel: io_uring_setup "
			       "works but io_uring_enter is refused: Operation not permitted "
			       "(a seccomp filter refuses io_uring_enter)"));
}

static void test_probe_report_names_a_refused_register(void **state)
{
	static char out[8192];

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();
	in_child(caps_refusing, (void *)(intptr_t)SYS_io_uring_register, out, sizeof(out));
	print_message("%s", out);
	assert_non_null(strstr(out, "io_uring:       ok"));
	assert_non_null(strstr(out, "ring fd not registered: io_uring_register refused: "
			       "Operation not permitted"));
	assert_non_null(strstr(out, "opcode probe failed: file operations fall back to "
			       "system calls: io_uring_register refused: Operation not permitted"));
	assert_non_null(strstr(out, "buffer rings:   no (io_uring_register refused: "
			       "Operation not permitted"));
	assert_null(strstr(out, "needs 5.18"));
	assert_null(strstr(out, "before 5.6"));
	assert_null(strstr(out, "needs 5.19"));
}

static int nop_main(void *arg)
{
	(void)arg;
	return reel_nop();
}

/* RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK: no ring of any size fits, on a
 * kernel that charges rings against it. */
static void run_without_memlock(int fd, void *arg)
{
	char why[1024] = "";
	struct reel_run_opts o = { .ring_entries = (unsigned)(uintptr_t)arg,
				   .errbuf = why, .errbuf_len = sizeof(why) };
	struct rlimit rl = { 0, 0 };
	int err, st = -1;

	drop_ipc_lock();
	setrlimit(RLIMIT_MEMLOCK, &rl);
	err = reel_run(nop_main, NULL, &o, &st);
	dprintf(fd, "%d|%s", err, why);
}

static void test_probe_memlock_failure_names_the_size_and_the_limit(void **state)
{
	static char out[2048];

	(void)state;
	in_child(run_without_memlock, (void *)(uintptr_t)0, out, sizeof(out));
	print_message("%s\n", out);
	if (strncmp(out, "0|", 2) == 0)
		skip();   /* this kernel does not charge rings to RLIMIT_MEMLOCK */
	assert_non_null(strstr(out, "-12|"));
	assert_non_null(strstr(out, "could not allocate a ring of 256 entries"));
	assert_non_null(strstr(out, "RLIMIT_MEMLOCK is 0 KiB now: raise it"));
	assert_non_null(strstr(out, "CAP_IPC_LOCK"));
	in_child(run_without_memlock, (void *)(uintptr_t)1024, out, sizeof(out));
	assert_non_null(strstr(out, "could not allocate a ring of 1024 entries"));
}

/* 64 KiB of RLIMIT_MEMLOCK holds one ring of 256 entries, not two: each
 * set-up comes right after the previous ring was closed, which the kernel
 * uncharges a moment later. */
static void runs_under_small_memlock(int fd, void *arg)
{
	static char rep[8192];
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	int fails = 0, st;

	(void)arg;
	drop_ipc_lock();
	setrlimit(RLIMIT_MEMLOCK, &rl);
	for (int i = 0; i < 20; i++)
		if (reel_run(nop_main, NULL, NULL, &st) != 0 || st != 0)
			fails++;
	for (int i = 0; i < 5; i++) {
		reel_capabilities(rep, sizeof(rep), NULL);
		if (!strstr(rep, "io_uring:       ok"))
			fails++;
		if (reel_run(nop_main, NULL, NULL, &st) != 0 || st != 0)
			fails++;
	}
	dprintf(fd, "fails=%d", fails);
}

static void test_probe_small_memlock_rings_back_to_back(void **state)
{
	char out[64];

	(void)state;
	in_child(runs_under_small_memlock, NULL, out, sizeof(out));
	assert_string_equal(out, "fails=0");
}

static void test_probe_strerror_names_reel_errors(void **state)
{
	(void)state;
	assert_non_null(strstr(reel_strerror(-ECANCELED), "cancel"));
	assert_non_null(strstr(reel_strerror(-ETIMEDOUT), "timed out"));
	assert_non_null(strstr(reel_strerror(-ESRCH), "stale"));
	/* neutral: io_uring refused by the system is -EPERM too */
	assert_string_equal(reel_strerror(-EPERM),
			    "operation not permitted (outside a fiber, or refused by the system)");
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
		cmocka_unit_test(test_probe_report_names_a_refused_enter),
		cmocka_unit_test(test_probe_report_names_a_refused_register),
		cmocka_unit_test(test_probe_memlock_failure_names_the_size_and_the_limit),
		cmocka_unit_test(test_probe_small_memlock_rings_back_to_back),
		cmocka_unit_test(test_probe_strerror_names_reel_errors),
		cmocka_unit_test(test_regress_strerror_int_min_and_int_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
