/*
 * retry.c - retry with exponential back-off and jitter.
 *
 * The whole call is one loop on the caller's fiber: attempt, decide, sleep.
 * Time limits are deadline scopes, nested the way reel_wait_for nests them:
 * the overall deadline is a scope around the loop, the per-attempt timeout a
 * scope around each call of fn, so an attempt's scope never outlives the
 * overall one and neither extends an enclosing scope of the caller's.
 * Between attempts the fiber sleeps with reel_sleep, which the overall
 * deadline and cancellation interrupt like any other parking call.
 *
 * Why no early give-up: when the next delay would end past the deadline,
 * tenacity and gRPC differ; here the sleep simply runs into the deadline and
 * reel_retry returns -ETIMEDOUT at the deadline, never before it, so the
 * caller's view of time is the one it asked for.
 *
 * Jitter uses a per-thread xorshift64* generator: no lock, no shared state
 * between loops, seeded from the clock, the pid and the thread (the address
 * of its state) on first use, or by reel_retry_seed for repeatable runs.
 * It is not for cryptography; it only keeps many retrying clients from
 * waking in step (the "thundering herd" that full jitter was made against).
 */
#include <errno.h>
#include <float.h>
#include <unistd.h>

#include <reel_retry.h>

#include "../reelimpl.h"

/* ---- the jitter generator ---- */

static __thread uint64_t rng_state;

/* splitmix64: spreads any seed (0 included) over the whole state space. */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void reel_retry_seed(uint64_t seed)
{
	uint64_t s = splitmix64(seed);

	rng_state = s ? s : 1;   /* xorshift's one forbidden state is 0 */
}

/* A uniform double in [0, 1). */
static double rng_unit(void)
{
	uint64_t x = rng_state;

	if (reel_unlikely(x == 0))
		reel_retry_seed(reel_now() ^ ((uint64_t)getpid() << 32) ^
				(uint64_t)(uintptr_t)&rng_state);
	x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (double)((x * 0x2545f4914f6cdd1dull) >> 11) * 0x1.0p-53;
}

/* ---- delays ---- */

static bool policy_valid(const struct reel_retry_policy *p)
{
	if (!(p->jitter >= 0.0 && p->jitter <= 1.0))
		return false;   /* NaN fails here too */
	return p->multiplier == 0.0 || (p->multiplier >= 1.0 && p->multiplier <= DBL_MAX);
}

static uint64_t delay_cap(const struct reel_retry_policy *p)
{
	return p->max_delay_ns ? p->max_delay_ns : UINT64_MAX;
}

/* @d nanoseconds as an integer, saturating at @cap. */
static uint64_t clamp_ns(double d, uint64_t cap)
{
	if (!(d < (double)cap))   /* (double)UINT64_MAX is 2^64: also saturates */
		return cap;
	return (uint64_t)d;
}

/* The nominal delay after @d: d * multiplier, capped. */
static uint64_t grow(const struct reel_retry_policy *p, uint64_t d)
{
	double m = p->multiplier == 0.0 ? 2.0 : p->multiplier;

	return clamp_ns((double)d * m, delay_cap(p));
}

/* @d with its random part: uniform in [d * (1 - jitter), d]. */
static uint64_t jittered(const struct reel_retry_policy *p, uint64_t d)
{
	if (p->jitter == 0.0 || d == 0)
		return d;
	return d - clamp_ns((double)d * p->jitter * rng_unit(), d);
}

uint64_t reel_retry_delay_ns(const struct reel_retry_policy *p, unsigned failures)
{
	uint64_t d, cap;
	double m, f;

	if (!p || failures == 0 || !policy_valid(p))
		return 0;
	cap = delay_cap(p);
	d = p->first_delay_ns < cap ? p->first_delay_ns : cap;
	m = p->multiplier == 0.0 ? 2.0 : p->multiplier;
	/* d * m^(failures - 1) by squaring: O(log n) even for huge counts. */
	f = (double)d;
	for (unsigned e = failures - 1; e && f > 0.0 && f < (double)cap; e >>= 1, m *= m) {
		if (e & 1)
			f *= m;
	}
	return jittered(p, clamp_ns(f, cap));
}

/* ---- the loop ---- */

struct retry_run {
	const struct reel_retry_policy *p;
	reel_fn fn;
	void *arg;
	int status;                /* fn's last status */
	unsigned attempts;
	bool ran;                  /* the loop was entered */
};

/* One attempt, under the per-attempt timeout if there is one; fn's status. */
static int attempt(struct retry_run *rr)
{
	int st;

	if (!rr->p->attempt_timeout_ns)
		return rr->fn(rr->arg);
	/* Its return only says whether a deadline passed: the caller's
	 * interruptions are read afresh after the attempt, and a timed-out
	 * attempt is judged by fn's own status like any other. */
	(void)reel_wait_for(rr->p->attempt_timeout_ns, rr->fn, rr->arg, &st);
	return st;
}

static bool worth_retrying(const struct retry_run *rr, int err)
{
	if (rr->p->retryable)
		return rr->p->retryable(err, rr->arg);
	return err != -ECANCELED;
}

/* The loop itself, as a reel_fn so the overall deadline can wrap it.
 * Returns reel_retry's result; fn's last status stays in rr->status. */
static int retry_loop(void *arg)
{
	struct retry_run *rr = arg;
	const struct reel_retry_policy *p = rr->p;
	struct reel__fiber *self = reel__self_fiber();
	uint64_t delay = p->first_delay_ns < delay_cap(p) ? p->first_delay_ns : delay_cap(p);
	int r;

	rr->ran = true;
	for (;;) {
		r = reel__interrupt_pending(self);
		if (r) {
			if (!rr->attempts)
				rr->status = r;
			return r;   /* no further attempt starts */
		}
		rr->attempts++;
		rr->status = attempt(rr);
		if (rr->status >= 0)
			return 0;
		r = reel__interrupt_pending(self);
		if (r)
			return r;
		if (!worth_retrying(rr, rr->status))
			return rr->status;
		if (p->max_attempts && rr->attempts >= p->max_attempts)
			return rr->status;
		r = reel_sleep(jittered(p, delay));
		if (r)
			return r;
		delay = grow(p, delay);
	}
}

int reel_retry(const struct reel_retry_policy *p, reel_fn fn, void *arg, int *status,
	       unsigned *attempts)
{
	struct retry_run rr = { .p = p, .fn = fn, .arg = arg };
	int r;

	if (!reel__self_fiber())
		return -EPERM;
	if (!p || !fn || !policy_valid(p))
		return -EINVAL;
	if (p->deadline_ns) {
		int inner = 0;

		r = reel_wait_for(p->deadline_ns, retry_loop, &rr, &inner);
		/* The loop's own verdict wins (a success that ran past the
		 * deadline is a success); wait_for's only when it never ran. */
		if (rr.ran)
			r = inner;
		else
			rr.status = r;
	} else {
		r = retry_loop(&rr);
	}
	if (status)
		*status = rr.status;
	if (attempts)
		*attempts = rr.attempts;
	return r;
}
