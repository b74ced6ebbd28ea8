/*
 * waitq.c - a FIFO queue of parked fibers, shared by the lock, semaphore,
 * event, condition and channel (engine/sync/). Declared in reelimpl.h.
 *
 * A waiter lives in the parking fiber's frame and is linked into the
 * primitive's queue for as long as that fiber is parked there. Whoever
 * satisfies a waiter (an unlock, a release, a send) takes it off the queue
 * *and* completes the hand-off (ownership, a permit, an element) before it
 * wakes the fiber with 0: the waiter never has to retry, so nobody can barge
 * in between the wake and the run, and FIFO order is exact.
 *
 * Cancellation, deadlines and the waiter's own timeout wake a parked fiber
 * too; every wake (reel__wake) takes the fiber's node off the queue at once
 * (fiber->wait_node), so the primitive may be freed before the woken fiber
 * runs. Two rules keep the hand-off exact:
 *  - reel__waitq_take only hands to a fiber still PARKED. A fiber that was
 *    interrupted is READY with the error and owns nothing (and is already
 *    off the queue; take would skip it anyway).
 *  - A fiber woken by a hand-off is READY, so an interruption arriving later
 *    does not wake it again: the wake that came first wins, and the waiter
 *    returns 0 with what it was handed (reel__wake ignores non-PARKED fibers).
 * On its way out the waiter unlinks itself (a no-op if take already did),
 * and touches neither the primitive nor the queue otherwise.
 */
#include "internal.h"

struct reel__waiter *reel__waitq_take_parked(struct reel__list *q)
{
	while (!reel__list_empty(q)) {
		struct reel__waiter *w = reel__container_of(q->next, struct reel__waiter, node);

		reel__list_del_init(&w->node);
		if (w->fiber->state == REEL__FIBER_PARKED)
			return w;
	}
	return NULL;
}

unsigned reel__waitq_wake_all(struct reel__list *q, int result)
{
	struct reel__waiter *w;
	unsigned n = 0;

	while ((w = reel__waitq_take(q)) != NULL) {
		reel__wake(w->fiber, result);
		n++;
	}
	return n;
}

/* Interrupted waiters are dropped first: they no longer need the primitive. */
bool reel__waitq_busy(struct reel__list *q)
{
	struct reel__waiter *w;

	while (!reel__list_empty(q)) {
		w = reel__container_of(q->next, struct reel__waiter, node);
		if (w->fiber->state == REEL__FIBER_PARKED)
			return true;
		reel__list_del_init(&w->node);
	}
	return false;
}

int reel__waitq_park(struct reel__loop *l, struct reel__list *q, struct reel__waiter *w,
		     enum reel__park_reason why, uint64_t timeout_ns, bool interruptible)
{
	int r;

	w->fiber = l->current;
	reel__list_add_tail(&w->node, q);
	w->fiber->wait_node = &w->node;
	if (interruptible)
		r = reel__park_for(l, why, timeout_ns);
	else
		r = reel__park(l, why, false);
	w->fiber->wait_node = NULL;
	reel__list_del_init(&w->node);   /* a no-op: the wake unlinked it */
	return r;
}
