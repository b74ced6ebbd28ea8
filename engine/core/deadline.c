/*
 * deadline.c - sleeping, deadline scopes and how interruptions reach a
 * parked fiber.
 *
 * Two things interrupt a parking call: cancellation (sticky, per task) and a
 * passed deadline (sticky, per scope). A fiber's scopes form a chain in its
 * own frames, innermost first; each wait_for scope arms one wheel timer.
 * A shield scope (reel_shield) stops the view: cancellation and every scope
 * outside the shield are invisible until it ends, while the shield's own
 * timeout still applies, so cleanup cannot hang.
 *
 * Interruptions are delivered only at parking points: when one arrives, a
 * fiber parked interruptibly is woken with the error; a running fiber sees
 * it at its next parking call. The parker undoes its own registration (a
 * timer, an SQE) before it returns, so a stale wake-up never finds it later.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"
#include "trace.h"

/* The slow path of reel__interrupt_pending: walk the scopes out to the
 * first shield. Cancellation wins over a deadline when both are visible. */
int reel__interrupt_pending_scoped(const struct reel__fiber *f)
{
	const struct reel__scope *s;
	bool expired = false;

	for (s = f->scope; s; s = s->outer) {
		expired |= s->expired;
		if (s->shield)
			return expired ? -ETIMEDOUT : 0;
	}
	if (f->cancelled)
		return -ECANCELED;
	return expired ? -ETIMEDOUT : 0;
}

uint64_t reel_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void reel__timer_start(struct reel__loop *l, struct reel__timer *t, uint64_t deadline_ns)
{
	reel__wheel_arm(&l->wheel, t, deadline_ns);
	reel__pass_work(l);
}

void reel__timer_stop(struct reel__loop *l, struct reel__timer *t)
{
	reel__wheel_cancel(&l->wheel, t);
}

/* Something changed that may interrupt @f: wake it if it is parked
 * interruptibly and the change is visible to it. */
void reel__interrupt(struct reel__fiber *f)
{
	int r;

	if (f->state != REEL__FIBER_PARKED || !f->interruptible)
		return;
	r = reel__interrupt_now(f);
	if (r)
		reel__wake(f, r);
}

static void sleep_fired(struct reel__timer *t)
{
	reel__wake(reel__container_of(t, struct reel__fiber, timer), 0);
}

static void scope_fired(struct reel__timer *t)
{
	struct reel__scope *s = reel__container_of(t, struct reel__scope, timer);

	s->expired = true;
	REEL_TRACE(deadline, DEADLINE, s->fiber->id, 0, 0, 0);
	reel__interrupt(s->fiber);
}

static uint64_t deadline_after(uint64_t ns)
{
	uint64_t now = reel_now();

	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* Park the current fiber interruptibly with its timer armed @ns ahead;
 * @fired says what the timer's wake-up returns. */
static int park_timed(struct reel__loop *l, enum reel__park_reason why, uint64_t ns,
		      void (*fired)(struct reel__timer *))
{
	struct reel__fiber *f = l->current;
	int r;

	f->timer.fn = fired;
	reel__wheel_arm(&l->wheel, &f->timer, deadline_after(ns));
	reel__pass_work(l);
	r = reel__park(l, why, true);
	reel__wheel_cancel(&l->wheel, &f->timer);
	return r;
}

int reel_sleep(uint64_t ns)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *f = l ? l->current : NULL;
	int r;

	if (!f)
		return -EPERM;
	if (ns == 0)
		return reel_yield();
	r = reel__interrupt_now(f);
	return r ? r : park_timed(l, REEL__PARK_SLEEP, ns, sleep_fired);
}

static void park_timeout_fired(struct reel__timer *t)
{
	reel__wake(reel__container_of(t, struct reel__fiber, timer), -ETIMEDOUT);
}

int reel__park_for(struct reel__loop *l, enum reel__park_reason why, uint64_t timeout_ns)
{
	if (timeout_ns == UINT64_MAX)
		return reel__park(l, why, true);
	return park_timed(l, why, timeout_ns, park_timeout_fired);
}

/* Run @fn inside scope @s; returns what the scope's call returns. */
static int run_scoped(struct reel__loop *l, struct reel__fiber *f, struct reel__scope *s,
		      uint64_t timeout_ns, reel_fn fn, void *arg, int *status)
{
	int rc, r;

	s->outer = f->scope;
	s->fiber = f;
	s->expired = false;
	reel__timer_init(&s->timer, scope_fired);
	reel__wheel_arm(&l->wheel, &s->timer, deadline_after(timeout_ns));
	reel__pass_work(l);
	f->scope = s;
	rc = fn(arg);
	f->scope = s->outer;
	reel__wheel_cancel(&l->wheel, &s->timer);
	if (status)
		*status = rc;
	if (s->shield)
		return s->expired ? -ETIMEDOUT : 0;
	/* Cancelled meanwhile, or this or an outer deadline passed. */
	r = reel__interrupt_now(f);
	if (r == 0 && s->expired)
		r = -ETIMEDOUT;
	return r;
}

int reel_wait_for(uint64_t timeout_ns, reel_fn fn, void *arg, int *status)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *f = l ? l->current : NULL;
	struct reel__scope s = { .shield = false };
	int r;

	if (!f)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = reel__interrupt_now(f);
	if (r == 0 && timeout_ns == 0)
		r = -ETIMEDOUT;
	if (r) {
		if (status)
			*status = r;
		return r;
	}
	return run_scoped(l, f, &s, timeout_ns, fn, arg, status);
}

int reel_shield(uint64_t timeout_ns, reel_fn fn, void *arg, int *status)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *f = l ? l->current : NULL;
	struct reel__scope s = { .shield = true };

	if (!f)
		return -EPERM;
	if (!fn || timeout_ns == 0)
		return -EINVAL;
	return run_scoped(l, f, &s, timeout_ns, fn, arg, status);
}
