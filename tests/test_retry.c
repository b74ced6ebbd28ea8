/*
 * Description: retry with back-off (api/reel_retry.h): success on the third
 * attempt, delays that grow and are never early, the per-attempt timeout
 * turning a hang into a retry, the overall deadline (also over a longer
 * per-attempt timeout), attempts running out, retryable() and the default
 * rule for -ECANCELED, the caller cancelled mid-sleep (no further attempt),
 * jitter bounds and repeatable seeding, invalid policies, -EPERM outside a
 * fiber.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "helpers.h"
#include "reel_retry.h"

#define MAX_TRACE 64

/* What an attempt does, and what the attempts looked like. */
struct flaky {
	int fail_first;            /* attempts that fail before one succeeds */
	int err;                   /* their status */
	uint64_t hang_ns;          /* failing attempts first sleep this long */
	int success;               /* the status of the successful attempt */
	int calls;
	uint64_t at[MAX_TRACE];    /* reel_now() at each attempt's start */
	int sleep_r[MAX_TRACE];    /* what each attempt's sleep returned */
};

static int flaky_fn(void *arg)
{
	struct flaky *f = arg;
	int i = f->calls++;

	if (i < MAX_TRACE)
		f->at[i] = reel_now();
	if (f->fail_first >= 0 && i >= f->fail_first)
		return f->success;
	if (f->hang_ns) {
		int r = reel_sleep(f->hang_ns);

		if (i < MAX_TRACE)
			f->sleep_r[i] = r;
		if (r < 0)
			return r;
	}
	return f->err;
}

/* ---- success on the third attempt; delays grow and are never early ------ */

static int third_main(void *arg)
{
	const struct reel_retry_policy p = {
		.max_attempts = 5, .first_delay_ns = 20 * MS, .multiplier = 2.0,
	};
	struct flaky f = { .fail_first = 2, .err = -EAGAIN, .success = 7 };
	uint64_t t0 = reel_now();
	unsigned n = 0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), 0);
	FCHECK_EQ(st, 7);
	FCHECK_EQ(n, 3);
	FCHECK_EQ(f.calls, 3);
	FCHECK(f.at[0] - t0 < LATE_OK_NS);   /* the first attempt is immediate */
	FCHECK(f.at[1] - f.at[0] >= 20 * MS);
	FCHECK(f.at[2] - f.at[1] >= 40 * MS);
	FCHECK(f.at[2] - t0 < 60 * MS + LATE_OK_NS);
	return 0;
}

static void test_retry_succeeds_on_third_attempt(void **state)
{
	(void)state;
	run_ok(third_main, NULL);
}

static int growth_main(void *arg)
{
	/* 10, 30, 90, 100 (capped), 100 ms; then the attempts run out. */
	const struct reel_retry_policy p = {
		.max_attempts = 6, .first_delay_ns = 10 * MS,
		.max_delay_ns = 100 * MS, .multiplier = 3.0,
	};
	static const uint64_t want[] = { 10 * MS, 30 * MS, 90 * MS, 100 * MS, 100 * MS };
	struct flaky f = { .fail_first = -1, .err = -EIO };
	uint64_t t0 = reel_now(), sum = 0;
	unsigned n = 0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), -EIO);
	FCHECK_EQ(st, -EIO);
	FCHECK_EQ(n, 6);
	FCHECK_EQ(f.calls, 6);
	for (int i = 0; i < 5; i++) {
		FCHECK(f.at[i + 1] - f.at[i] >= want[i]);
		FCHECK_EQ(reel_retry_delay_ns(&p, (unsigned)i + 1), want[i]);
		sum += want[i];
	}
	FCHECK(reel_now() - t0 >= sum);
	FCHECK(reel_now() - t0 < sum + LATE_OK_NS);
	return 0;
}

static void test_retry_delays_grow_never_early(void **state)
{
	(void)state;
	run_ok(growth_main, NULL);
}

/* ---- time limits ---------------------------------------------------------- */

static int attempt_timeout_main(void *arg)
{
	const struct reel_retry_policy p = {
		.max_attempts = 3, .first_delay_ns = 5 * MS, .attempt_timeout_ns = 50 * MS,
	};
	/* The first attempt hangs for 10 s; the second succeeds. */
	struct flaky f = { .fail_first = 1, .hang_ns = 10000 * MS, .success = 0 };
	uint64_t t0 = reel_now();
	unsigned n = 0;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(n, 2);
	FCHECK_EQ(f.sleep_r[0], -ETIMEDOUT);
	FCHECK(f.at[1] - f.at[0] >= 55 * MS);
	FCHECK(reel_now() - t0 < 55 * MS + LATE_OK_NS);
	/* No hidden scope is left behind: the caller's own sleeps work. */
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	return 0;
}

static void test_retry_attempt_timeout_turns_hang_into_retry(void **state)
{
	(void)state;
	run_ok(attempt_timeout_main, NULL);
}

static int deadline_main(void *arg)
{
	const struct reel_retry_policy p = {
		.first_delay_ns = 20 * MS, .max_delay_ns = 40 * MS, .deadline_ns = 150 * MS,
	};
	struct flaky f = { .fail_first = -1, .err = -EIO };
	uint64_t t0 = reel_now(), dt;
	unsigned n = 0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), -ETIMEDOUT);
	dt = reel_now() - t0;
	FCHECK(dt >= 150 * MS);
	FCHECK(dt < 150 * MS + LATE_OK_NS);
	FCHECK_EQ(st, -EIO);       /* the last attempt's own status */
	FCHECK_EQ((int)n, f.calls);
	/* 0, 20, 60, 100, 140 ms: five attempts fit, unless the VM is slow. */
	FCHECK(n >= 2 && n <= 5);
	FCHECK_EQ(reel_sleep(1 * MS), 0);   /* the scope is gone */
	return 0;
}

static void test_retry_overall_deadline_stops_with_etimedout(void **state)
{
	(void)state;
	run_ok(deadline_main, NULL);
}

/* The per-attempt timeout is longer than the overall deadline: the inner
 * scope never extends the outer one. */
static int nested_main(void *arg)
{
	const struct reel_retry_policy p = {
		.first_delay_ns = 1 * MS, .attempt_timeout_ns = 10000 * MS,
		.deadline_ns = 60 * MS,
	};
	struct flaky f = { .fail_first = -1, .err = -EIO, .hang_ns = 10000 * MS };
	uint64_t t0 = reel_now(), dt;
	unsigned n = 0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), -ETIMEDOUT);
	dt = reel_now() - t0;
	FCHECK(dt >= 60 * MS);
	FCHECK(dt < 60 * MS + LATE_OK_NS);
	FCHECK_EQ(n, 1);
	FCHECK_EQ(f.sleep_r[0], -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	return 0;
}

struct in_scope {
	const struct reel_retry_policy *p;
	struct flaky *f;
	int r;
	unsigned n;
};

static int retry_in_scope(void *arg)
{
	struct in_scope *s = arg;
	int st;

	s->r = reel_retry(s->p, flaky_fn, s->f, &st, &s->n);
	return s->r;
}

/* An enclosing deadline of the caller's, shorter than the policy's. */
static int enclosing_main(void *arg)
{
	const struct reel_retry_policy p = { .first_delay_ns = 10 * MS, .deadline_ns = 10000 * MS };
	struct flaky f = { .fail_first = -1, .err = -EIO };
	struct in_scope s = { .p = &p, .f = &f };
	uint64_t t0 = reel_now();
	int st;

	(void)arg;
	FCHECK_EQ(reel_wait_for(50 * MS, retry_in_scope, &s, &st), -ETIMEDOUT);
	FCHECK_EQ(s.r, -ETIMEDOUT);
	FCHECK(s.n >= 1);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	return 0;
}

static void test_retry_deadline_scopes_nest(void **state)
{
	(void)state;
	run_ok(nested_main, NULL);
	run_ok(enclosing_main, NULL);
}

/* ---- when to give up ------------------------------------------------------ */

static int not_retryable_calls;

static bool only_eagain(int err, void *arg)
{
	not_retryable_calls++;
	return err == -EAGAIN && arg != NULL;
}

static int retryable_main(void *arg)
{
	const struct reel_retry_policy p = {
		.max_attempts = 10, .first_delay_ns = 1000 * MS, .retryable = only_eagain,
	};
	const struct reel_retry_policy dflt = { .max_attempts = 10, .first_delay_ns = 1000 * MS };
	struct flaky f = { .fail_first = -1, .err = -ENOENT };
	uint64_t t0 = reel_now();
	unsigned n = 0;
	int st = 0;

	(void)arg;
	not_retryable_calls = 0;
	FCHECK_EQ(reel_retry(&p, flaky_fn, &f, &st, &n), -ENOENT);
	FCHECK_EQ(st, -ENOENT);
	FCHECK_EQ(n, 1);
	FCHECK_EQ(not_retryable_calls, 1);
	/* By default -ECANCELED from fn is final too. */
	f = (struct flaky){ .fail_first = -1, .err = -ECANCELED };
	FCHECK_EQ(reel_retry(&dflt, flaky_fn, &f, &st, &n), -ECANCELED);
	FCHECK_EQ(n, 1);
	FCHECK_EQ(st, -ECANCELED);
	/* Neither slept: both gave up at once. */
	FCHECK(reel_now() - t0 < 500 * MS);
	/* Statuses and attempts may be NULL; a first success is one attempt. */
	f = (struct flaky){ .fail_first = 0, .success = 3 };
	FCHECK_EQ(reel_retry(&dflt, flaky_fn, &f, NULL, NULL), 0);
	FCHECK_EQ(f.calls, 1);
	/* No delay at all: retries after a yield each. */
	const struct reel_retry_policy zero = { .max_attempts = 4 };
	f = (struct flaky){ .fail_first = -1, .err = -EAGAIN };
	FCHECK_EQ(reel_retry(&zero, flaky_fn, &f, &st, &n), -EAGAIN);
	FCHECK_EQ(n, 4);
	return 0;
}

static void test_retry_not_retryable_stops_at_once(void **state)
{
	(void)state;
	run_ok(retryable_main, NULL);
}

/* ---- the caller cancelled ------------------------------------------------- */

struct cancelled_caller {
	struct flaky f;
	int r, st;
	unsigned n;
};

static int retrying_task(void *arg)
{
	const struct reel_retry_policy p = { .first_delay_ns = 10000 * MS };
	struct cancelled_caller *c = arg;

	c->r = reel_retry(&p, flaky_fn, &c->f, &c->st, &c->n);
	return 0;
}

static int cancel_main(void *arg)
{
	struct cancelled_caller c = { .f = { .fail_first = -1, .err = -EIO }, .r = 1 };
	uint64_t t0 = reel_now();
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, retrying_task, &c, NULL), 0);
	FCHECK_EQ(reel_sleep(30 * MS), 0);
	FCHECK_EQ(c.f.calls, 1);          /* asleep after the first failure */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(c.r, -ECANCELED);
	FCHECK_EQ(c.st, -EIO);
	FCHECK_EQ(c.n, 1);
	FCHECK_EQ(c.f.calls, 1);          /* no further attempt */
	FCHECK(reel_now() - t0 < 30 * MS + LATE_OK_NS);
	return 0;
}

/* Already cancelled before the call: nothing runs at all. */
static int precancelled(void *arg)
{
	const struct reel_retry_policy p = { .first_delay_ns = 1 * MS, .deadline_ns = 1000 * MS };
	const struct reel_retry_policy q = { .first_delay_ns = 1 * MS };
	struct cancelled_caller *c = arg;

	FCHECK_EQ(reel_cancel(reel_self()), 0);
	c->r = reel_retry(&p, flaky_fn, &c->f, &c->st, &c->n);
	FCHECK_EQ(c->r, -ECANCELED);
	FCHECK_EQ(c->st, -ECANCELED);
	FCHECK_EQ(c->n, 0);
	c->r = reel_retry(&q, flaky_fn, &c->f, &c->st, &c->n);
	FCHECK_EQ(c->r, -ECANCELED);
	FCHECK_EQ(c->st, -ECANCELED);
	FCHECK_EQ(c->n, 0);
	return 0;
}

static int precancel_main(void *arg)
{
	struct cancelled_caller c = { .f = { .fail_first = -1, .err = -EIO } };
	reel_task t;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, precancelled, &c, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(c.f.calls, 0);
	return 0;
}

static void test_retry_caller_cancelled_mid_sleep(void **state)
{
	(void)state;
	run_ok(cancel_main, NULL);
	run_ok(precancel_main, NULL);
}

/* ---- jitter ----------------------------------------------------------------- */

static void test_retry_jitter_bounds_and_seed(void **state)
{
	const struct reel_retry_policy half = {
		.first_delay_ns = 1000 * MS, .multiplier = 1.5, .jitter = 0.5,
	};
	const struct reel_retry_policy full = { .first_delay_ns = 1000 * MS, .jitter = 1.0 };
	uint64_t a[32], lo = UINT64_MAX, hi = 0;

	(void)state;
	reel_retry_seed(12345);
	for (int i = 0; i < 32; i++) {
		uint64_t nominal = (uint64_t)(1000.0 * MS * pow(1.5, i % 4));

		a[i] = reel_retry_delay_ns(&half, (unsigned)(i % 4) + 1);
		assert_true(a[i] >= nominal / 2);
		assert_true(a[i] <= nominal);
	}
	/* The same seed gives the same delays. */
	reel_retry_seed(12345);
	for (int i = 0; i < 32; i++)
		assert_int_equal(reel_retry_delay_ns(&half, (unsigned)(i % 4) + 1), a[i]);
	/* Full jitter spreads over (0, d]: over 1000 draws both halves occur. */
	for (int i = 0; i < 1000; i++) {
		uint64_t d = reel_retry_delay_ns(&full, 1);

		assert_true(d <= 1000 * MS);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 250 * MS);
	assert_true(hi > 750 * MS);
	/* Huge attempt counts saturate at the cap, or at UINT64_MAX with none. */
	const struct reel_retry_policy capped = { .first_delay_ns = 1, .max_delay_ns = 5 * MS };
	const struct reel_retry_policy uncapped = { .first_delay_ns = 1 };
	assert_int_equal(reel_retry_delay_ns(&capped, UINT32_MAX), 5 * MS);
	assert_true(reel_retry_delay_ns(&uncapped, 70) == UINT64_MAX);
	assert_int_equal(reel_retry_delay_ns(&uncapped, 11), 1024);
	assert_int_equal(reel_retry_delay_ns(&uncapped, 0), 0);
	assert_int_equal(reel_retry_delay_ns(NULL, 1), 0);
}

/* ---- bad input -------------------------------------------------------------- */

static int invalid_main(void *arg)
{
	struct flaky f = { .fail_first = 0 };
	const struct reel_retry_policy ok = { .max_attempts = 1 };
	struct reel_retry_policy bad[] = {
		{ .jitter = -0.1 }, { .jitter = 1.5 }, { .jitter = NAN },
		{ .multiplier = 0.5 }, { .multiplier = -2.0 }, { .multiplier = NAN },
		{ .multiplier = INFINITY },
	};
	unsigned n = 99;
	int st = 99;

	(void)arg;
	FCHECK_EQ(reel_retry(NULL, flaky_fn, &f, &st, &n), -EINVAL);
	FCHECK_EQ(reel_retry(&ok, NULL, &f, &st, &n), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FCHECK_EQ(reel_retry(&bad[i], flaky_fn, &f, &st, &n), -EINVAL);
		FCHECK_EQ(reel_retry_delay_ns(&bad[i], 1), 0);
	}
	FCHECK_EQ(f.calls, 0);
	FCHECK_EQ(n, 99);   /* untouched on -EINVAL */
	/* The edges are valid: multiplier 1 (constant delay), jitter 0 and 1. */
	const struct reel_retry_policy edges = { .max_attempts = 1, .multiplier = 1.0, .jitter = 1.0 };
	FCHECK_EQ(reel_retry(&edges, flaky_fn, &f, &st, &n), 0);
	FCHECK_EQ(n, 1);
	return 0;
}

static void test_retry_invalid_policy_einval(void **state)
{
	const struct reel_retry_policy ok = { .max_attempts = 1 };
	struct flaky f = { .fail_first = 0 };

	(void)state;
	assert_int_equal(reel_retry(&ok, flaky_fn, &f, NULL, NULL), -EPERM);
	assert_int_equal(f.calls, 0);
	run_ok(invalid_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_succeeds_on_third_attempt),
		cmocka_unit_test(test_retry_delays_grow_never_early),
		cmocka_unit_test(test_retry_attempt_timeout_turns_hang_into_retry),
		cmocka_unit_test(test_retry_overall_deadline_stops_with_etimedout),
		cmocka_unit_test(test_retry_deadline_scopes_nest),
		cmocka_unit_test(test_retry_not_retryable_stops_at_once),
		cmocka_unit_test(test_retry_caller_cancelled_mid_sleep),
		cmocka_unit_test(test_retry_jitter_bounds_and_seed),
		cmocka_unit_test(test_retry_invalid_policy_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
