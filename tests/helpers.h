/*
 * helpers.h - what every reel test shares.
 *
 * cmocka's assert_* longjmp to the test's start, which must never happen from
 * a fiber's stack. Fiber code checks with FCHECK, which records the first
 * failure and makes the fiber return -EFAULT; the test asserts afterwards,
 * on the thread's own stack, with run_ok() / assert_no_fiber_failure().
 * Every test ends with assert_loop_clean(): no live fiber, timer, in-flight
 * SQE or unreturned stack when the loop closed (MAKE_VALGRIND_HAPPY's role).
 */
#ifndef REEL_TEST_HELPERS_H
#define REEL_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "reel.h"
#include "internal.h"

#if defined(REEL_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Under valgrind (50x slower) the big counts shrink tenfold; the full
 * counts run in the plain and sanitizer builds. */
static inline long scaled(long n)
{
	return RUNNING_ON_VALGRIND ? n / 10 : n;
}

static char fiber_failure[512];

#define FCHECK(cond)                                                        \
	do {                                                                \
		if (!(cond)) {                                              \
			if (!fiber_failure[0])                              \
				snprintf(fiber_failure, sizeof(fiber_failure), \
					 "%s:%d: %s", __FILE__, __LINE__, #cond); \
			fprintf(stderr, "FCHECK failed: %s\n", fiber_failure); \
			return -EFAULT;                                     \
		}                                                           \
	} while (0)

/* FCHECK for two integers, printing both values on failure. */
#define FCHECK_EQ(a, b)                                                     \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ != b_) {                                             \
			if (!fiber_failure[0])                              \
				snprintf(fiber_failure, sizeof(fiber_failure), \
					 "%s:%d: %s == %lld, expected %s == %lld", \
					 __FILE__, __LINE__, #a, a_, #b, b_); \
			fprintf(stderr, "FCHECK failed: %s\n", fiber_failure); \
			return -EFAULT;                                     \
		}                                                           \
	} while (0)

static inline void assert_no_fiber_failure(void)
{
	if (fiber_failure[0]) {
		char copy[sizeof(fiber_failure)];

		memcpy(copy, fiber_failure, sizeof(copy));
		fiber_failure[0] = '\0';
		fail_msg("in a fiber: %s", copy);
	}
}

static inline void assert_loop_clean(void)
{
	const struct reel__loop_stats *s = reel__last_run_stats();

	assert_int_equal(s->live_at_close, 0);
	assert_int_equal(s->timers_at_close, 0);
	assert_int_equal(s->inflight_at_close, 0);
	assert_int_equal(s->stale_cqes, 0);
	assert_int_equal(s->stacks_at_close, 0);
	assert_int_equal(s->fibers_at_close, 0);
}

/* Run @fn as main with @opts; main must return 0; the loop must close clean. */
static inline void run_ok_opts(reel_fn fn, void *arg, const struct reel_run_opts *opts)
{
	int status = -12345;

	assert_int_equal(reel_run(fn, arg, opts, &status), 0);
	assert_no_fiber_failure();
	assert_int_equal(status, 0);
	assert_loop_clean();
}

static inline void run_ok(reel_fn fn, void *arg)
{
	run_ok_opts(fn, arg, NULL);
}

#define MS (1000000ull)

/*
 * Run reel_run(@fn, @arg, @opts) in a child process whose stderr is captured
 * into @out (NUL-terminated, at most @len - 1 bytes): for behaviour that
 * ends the process (stack overflow, abort). The child gets 20 s before
 * SIGALRM ends a hang. Returns the child's wait status.
 */
static inline int run_in_child(reel_fn fn, void *arg, const struct reel_run_opts *opts,
			       char *out, size_t len)
{
	size_t got = 0;
	int fds[2], wstatus;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		alarm(20);
		reel_run(fn, arg, opts, NULL);
		_exit(0);
	}
	close(fds[1]);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	return wstatus;
}

/* Every parking call fails at once with @err, three times over: the
 * interruption is sticky and no call parks (each would take a second). */
static inline int check_parking_calls_fail(int err)
{
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = reel_now();

		FCHECK_EQ(reel_yield(), err);
		FCHECK_EQ(reel_sleep(0), err);
		FCHECK_EQ(reel_sleep(1000 * MS), err);
		/* Interrupted before the call: nothing is queued, so no
		 * completed result can win over the interruption. */
		FCHECK_EQ(reel_nop(), err);
		FCHECK(reel_now() - t0 < 1000 * MS);
	}
	return 0;
}

/* xorshift64: reproducible randomness for stress tests. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The file's own stream; a test may reseed it. */
static uint64_t rng_state __attribute__((unused)) = 0x2545f4914f6cdd1dull;

static inline uint64_t rng(void)
{
	return rng_next(&rng_state);
}

/* Yield @n times, ignoring interruptions (the caller checks them itself). */
static inline void yield_n(unsigned n)
{
	while (n--)
		(void)reel_yield();
}

/* Generous lateness: this VM sometimes wakes 0.1-0.5 s late. */
#define LATE_OK_NS (600 * MS)

#endif /* REEL_TEST_HELPERS_H */
