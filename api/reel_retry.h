/*
 * reel_retry.h - call a function again after failures, sleeping a growing,
 * randomised delay between attempts (exponential back-off with jitter, as
 * tenacity, backoff and gRPC's retry policy do).
 *
 *	static const struct reel_retry_policy p = {
 *		.max_attempts = 5, .first_delay_ns = 100 * 1000000ull,
 *		.max_delay_ns = 2000 * 1000000ull, .multiplier = 2.0,
 *		.jitter = 0.5, .attempt_timeout_ns = 1000 * 1000000ull,
 *	};
 *	int status;
 *	unsigned n;
 *	int r = reel_retry(&p, connect_once, &ctx, &status, &n);
 *
 * docs/gen.md records the decisions behind these semantics.
 */
#ifndef REEL_RETRY_H
#define REEL_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct reel_retry_policy - how reel_retry tries. Zero fields take the
 * defaults noted; the caller owns it and it is only read.
 * @max_attempts:       attempts in all; 0 = no limit (until the deadline,
 *                      a non-retryable error or the caller's interruption).
 * @first_delay_ns:     delay after the first failure (0: retry at once,
 *                      after one reel_yield).
 * @max_delay_ns:       cap on a single delay; 0 = no cap.
 * @multiplier:         each delay is the previous one times this, >= 1;
 *                      0 = 2.0.
 * @jitter:             0..1, the fraction of each delay that is randomised:
 *                      the delay d is drawn uniformly from
 *                      [d * (1 - jitter), d]; 1 is "full jitter".
 * @attempt_timeout_ns: each attempt runs under reel_wait_for with this
 *                      timeout; 0 = none. A timed-out attempt is a failure
 *                      like any other (its status is fn's, usually
 *                      -ETIMEDOUT).
 * @deadline_ns:        a deadline over every attempt and delay, from the
 *                      call; 0 = none. It never extends an enclosing one.
 * @retryable:          decides whether a failure is worth another attempt,
 *                      called with fn's negative status and reel_retry's
 *                      @arg; NULL = every negative status but -ECANCELED.
 */
struct reel_retry_policy {
	unsigned max_attempts;
	uint64_t first_delay_ns;
	uint64_t max_delay_ns;
	double multiplier;
	double jitter;
	uint64_t attempt_timeout_ns;
	uint64_t deadline_ns;
	bool (*retryable)(int err, void *arg);
};

/*
 * reel_retry - call @fn(@arg) on the calling fiber until it returns >= 0 or
 * the policy gives up, sleeping (reel_sleep) between attempts.
 * Returns 0 with fn's successful status in *@status; otherwise the reason
 * it stopped: fn's last error when the attempts ran out or retryable()
 * said no; -ETIMEDOUT when the overall deadline (or an enclosing one)
 * passed; -ECANCELED when the caller was cancelled: no further attempt
 * starts. *@status (may be NULL) then holds fn's last status, or the
 * interruption when no attempt ran; *@attempts (may be NULL) the number of
 * attempts started. An attempt that succeeds is a success even when an
 * interruption arrived while it ran.
 * -EINVAL for NULL @p or @fn, @jitter outside 0..1, or @multiplier below 1
 * and not 0 (nothing runs).
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_retry(const struct reel_retry_policy *p, reel_fn fn, void *arg,
			int *status, unsigned *attempts);

/*
 * reel_retry_delay_ns - the delay reel_retry sleeps after failure number
 * @failures (1 = after the first attempt) under @p: first_delay_ns *
 * multiplier^(failures - 1), capped at max_delay_ns, then jittered with
 * this thread's generator (so each call draws a new value).
 * Returns the delay; 0 for NULL @p, @failures == 0 or an invalid policy.
 * Context: anywhere.
 */
REEL_API uint64_t reel_retry_delay_ns(const struct reel_retry_policy *p, unsigned failures);

/*
 * reel_retry_seed - seed this thread's jitter generator, for repeatable
 * delays (tests, simulations). Without it, the generator is seeded from the
 * clock, the process id and the thread on first use.
 * Context: anywhere; affects the calling thread only.
 */
REEL_API void reel_retry_seed(uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* REEL_RETRY_H */
