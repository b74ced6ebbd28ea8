/*
 * deadline.c - sleeping, scopes (timeouts and cancel scopes) and how
 * interruptions reach a parked fiber.
 *
 * Two things interrupt a parking call: cancellation (sticky, per task, or
 * per scope by reel_scope_cancel) and a passed deadline (sticky, per scope).
 * A fiber's scopes form a chain in its own memory, innermost first; a scope
 * with a deadline arms one wheel timer. reel_wait_for is a scope around a
 * call. A shield scope (reel_shield) stops the view: cancellation and every
 * scope outside the shield are invisible until it ends, while the shield's
 * own timeout still applies, so cleanup cannot hang.
 *
 * Interruptions are delivered only at parking points: when one arrives, a
 * fiber parked interruptibly is woken with the error; a running fiber sees
 * it at its next parking call. The parker undoes its own registration (a
 * timer, an SQE) before it returns, so a stale wake-up never finds it later.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"
#include "trace.h"

/* The slow path of reel__interrupt_pending: walk the scopes out to the
 * first shield. Cancellation wins over a deadline when both are visible. */
int reel__interrupt_pending_scoped(const struct reel__fiber *f)
{
	const struct reel__scope *s;
	bool expired = false, cancelled = false;

	for (s = f->scope; s; s = s->outer) {
		expired |= s->expired;
		cancelled |= s->cancelled;
		if (s->shield)
			break;
	}
	if (!s && f->cancelled)
		return reel__cancel_seen(f);
	if (cancelled)
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

/* A cancelled task's parking call returns -ECANCELED through here. At the
 * run's end (shutdown.c) a task that goes on making such calls instead of
 * returning spins the process: name it after the grace second. */
int reel__cancel_seen(const struct reel__fiber *f)
{
	struct reel__loop *l = f->loop;
	uint64_t now;

	/* Reading the clock every 256th call keeps a spinning task's report
	 * within microseconds of due, and normal cleanup's few calls free. */
	if (reel_likely(!l->shutting_down) || f == l->main || (++l->exit_spins & 255))
		return -ECANCELED;
	now = reel_now();
	if (reel__exit_report_due(l, now))
		fprintf(stderr, "reel: at exit, task %#llx (%s) still runs %.1f s after it "
			"was cancelled: its parking calls return -ECANCELED and it goes on "
			"making them; a task must return once they do (the loop waits for "
			"it, and this process spins meanwhile)\n",
			(unsigned long long)f->id, f->name ? f->name : "unnamed",
			(double)(now - l->exit_cancel_ns) / 1e9);
	return -ECANCELED;
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

/* ---- scopes ----------------------------------------------------------------- */

_Static_assert(sizeof(struct reel__scope) <= sizeof(struct reel_scope),
	       "struct reel_scope too small");
_Static_assert(_Alignof(struct reel__scope) <= _Alignof(struct reel_scope),
	       "struct reel_scope misaligned");

static struct reel__scope *scope_of(struct reel_scope *scope)
{
	return (struct reel__scope *)(void *)scope;
}

static const struct reel__scope *scope_of_const(const struct reel_scope *scope)
{
	return (const struct reel__scope *)(const void *)scope;
}

/* Arm @s's timer for its deadline; one already passed expires it now. */
static void scope_arm(struct reel__loop *l, struct reel__scope *s)
{
	if (s->deadline_ns == REEL_NO_DEADLINE)
		return;
	if (s->deadline_ns <= reel_now()) {
		s->expired = true;
		return;
	}
	reel__wheel_arm(&l->wheel, &s->timer, s->deadline_ns);
	reel__pass_work(l);
}

/* Push @s on the current fiber's chain; the shield flag is the caller's. */
static void scope_push(struct reel__loop *l, struct reel__fiber *f, struct reel__scope *s,
		       uint64_t deadline_ns)
{
	s->outer = f->scope;
	s->fiber = f;
	s->deadline_ns = deadline_ns;
	s->result = 0;
	s->expired = false;
	s->cancelled = false;
	reel__timer_init(&s->timer, scope_fired);
	scope_arm(l, s);
	f->scope = s;
}

/* Pop @s (the innermost) and say what the code after it must know. */
static int scope_pop(struct reel__loop *l, struct reel__fiber *f, struct reel__scope *s)
{
	int r;

	f->scope = s->outer;
	s->fiber = NULL;
	reel__wheel_cancel(&l->wheel, &s->timer);
	if (s->shield)
		return s->expired ? -ETIMEDOUT : 0;
	/* Cancelled meanwhile, or an outer deadline passed: still sticky. */
	r = reel__interrupt_now(f);
	if (r == 0 && s->expired)
		r = -ETIMEDOUT;
	if (r == 0 && s->cancelled)
		r = -ECANCELED;
	return r;
}

static int scope_enter(struct reel_scope *scope, uint64_t deadline_ns)
{
	struct reel__loop *l = reel__loop_here();
	struct reel__scope *s = scope_of(scope);

	if (!scope)
		return -EINVAL;
	if (!l) {
		*s = (struct reel__scope){ .result = -EPERM, .enter_error = -EPERM };
		return -EPERM;
	}
	s->shield = false;
	s->enter_error = 0;
	scope_push(l, l->current, s, deadline_ns);
	return 0;
}

int reel_scope_enter(struct reel_scope *scope, uint64_t timeout_ns)
{
	return scope_enter(scope, timeout_ns == REEL_NO_DEADLINE ? REEL_NO_DEADLINE
				  : deadline_after(timeout_ns));
}

int reel_scope_enter_at(struct reel_scope *scope, uint64_t deadline_ns)
{
	return scope_enter(scope, deadline_ns);
}

int reel_scope_leave(struct reel_scope *scope)
{
	struct reel__loop *l = reel__loop_here();
	struct reel__scope *s = scope_of(scope);

	if (!scope)
		return -EINVAL;
	if (!s->fiber)                 /* enter failed (its error), or not entered */
		return s->enter_error ? s->enter_error : -EINVAL;
	if (!l || s->fiber != l->current || l->current->scope != s)
		return -EINVAL;
	s->result = scope_pop(l, l->current, s);
	return s->result;
}

/* @scope entered on a fiber of the calling thread's loop, or NULL. */
static struct reel__scope *scope_live(struct reel_scope *scope)
{
	struct reel__scope *s = scope_of(scope);

	if (!scope || !s->fiber || s->fiber->loop != reel__loop_cur)
		return NULL;
	return s;
}

int reel_scope_cancel(struct reel_scope *scope)
{
	struct reel__scope *s = scope_of(scope);

	if (!scope || (s->fiber && s->fiber->loop != reel__loop_cur))
		return -EINVAL;
	if (!s->fiber || s->cancelled)
		return 0;               /* left already, or cancelled */
	s->cancelled = true;
	REEL_TRACE(cancel, CANCEL, s->fiber->id, 1, 0, 0);
	reel__interrupt(s->fiber);
	return 0;
}

int reel_scope_reschedule(struct reel_scope *scope, uint64_t deadline_ns)
{
	struct reel__scope *s = scope_live(scope);

	if (!s)
		return -EINVAL;
	if (s->expired)
		return -EALREADY;
	reel__wheel_cancel(&s->fiber->loop->wheel, &s->timer);
	s->deadline_ns = deadline_ns;
	scope_arm(s->fiber->loop, s);
	if (s->expired)
		reel__interrupt(s->fiber);
	return 0;
}

int reel_scope_expired(const struct reel_scope *scope)
{
	return scope && scope_of_const(scope)->expired;
}

uint64_t reel_scope_deadline(const struct reel_scope *scope)
{
	return scope ? scope_of_const(scope)->deadline_ns : REEL_NO_DEADLINE;
}

int reel_scope_result(const struct reel_scope *scope)
{
	return scope ? scope_of_const(scope)->result : -EINVAL;
}

/* ---- the function forms ------------------------------------------------------ */

int reel_wait_for(uint64_t timeout_ns, reel_fn fn, void *arg, int *status)
{
	struct reel__loop *l = reel__loop_here();
	struct reel_scope scope;
	int r, rc;

	if (!l)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = reel__interrupt_now(l->current);
	if (r == 0 && timeout_ns == 0)
		r = -ETIMEDOUT;
	if (r) {
		if (status)
			*status = r;
		return r;
	}
	reel_scope_enter(&scope, timeout_ns);
	rc = fn(arg);
	if (status)
		*status = rc;
	return reel_scope_leave(&scope);
}

int reel_shield(uint64_t timeout_ns, reel_fn fn, void *arg, int *status)
{
	struct reel__loop *l = reel__loop_here();
	struct reel__scope s = { .shield = true };
	int rc;

	if (!l)
		return -EPERM;
	if (!fn || timeout_ns == 0)
		return -EINVAL;
	scope_push(l, l->current, &s, deadline_after(timeout_ns));
	rc = fn(arg);
	if (status)
		*status = rc;
	return scope_pop(l, l->current, &s);
}
