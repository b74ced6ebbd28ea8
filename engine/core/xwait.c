/*
 * xwait.c - a wait another thread ends (reelimpl.h: struct reel__xwait).
 *
 * A fiber parks on its own loop; a waker on any thread posts the wait's
 * message to that loop's inbox (inbox.c), and the message, run on the
 * loop's thread, wakes the fiber. So the only state two threads share is
 * the inbox's; @state belongs to the loop's thread alone:
 *
 *   IDLE ---park---> PARKED ---message runs---> WOKEN
 *     ^                 |                         ^
 *     +--interrupted----+    IDLE --message runs--+  (the wake came first)
 *
 * A wake that comes before the park leaves the wait WOKEN and the park
 * returns 0 at once. An interruption (cancel, deadline, timeout) that comes
 * first returns the wait to IDLE with the error; whoever holds @w for
 * waking (a channel's queue, a remote task's record) must then either
 * withdraw it under its own lock - and nobody will wake it - or, when a
 * waker has already taken it, reel__xwait_settle waits for that wake
 * uninterruptibly: the message is in flight and refers to @w's memory
 * (docs/design.md §5). A wake that came after the interruption but before
 * the fiber ran again wins: the park returns 0.
 *
 * Parked waits count on the inbox (@parked): while one waits, the loop
 * keeps its eventfd read armed and is never reported as deadlocked - a
 * thread may still wake it.
 */
#include <assert.h>

#include "inbox.h"
#include "internal.h"

enum { XW_IDLE, XW_PARKED, XW_WOKEN, XW_STATE = 0xff, XW_WHY_SHIFT = 8 };

static int state_of(const struct reel__xwait *w)
{
	return w->state & XW_STATE;
}

static void set_state(struct reel__xwait *w, int st)
{
	w->state = (w->state & ~XW_STATE) | st;
}

/* @w's message, on its loop's thread. */
static void xwait_run(struct reel__xmsg *m)
{
	struct reel__xwait *w = reel__container_of(m, struct reel__xwait, msg);
	int was = state_of(w);

	set_state(w, XW_WOKEN);
	if (was == XW_PARKED)
		reel__wake(w->fiber, 0);
}

void reel__xwait_init(struct reel__xwait *w)
{
	struct reel__loop *l = reel__loop_here();

	assert(l != NULL);
	w->fiber = l->current;
	w->loop = l;
	w->state = XW_IDLE;
	w->msg.run = xwait_run;
}

bool reel__xwait_woken(const struct reel__xwait *w)
{
	return state_of(w) == XW_WOKEN;
}

int reel__xwait_park(struct reel__xwait *w, enum reel__park_reason why, uint64_t timeout_ns)
{
	struct reel__inbox *ib = w->loop->inbox;
	int r;

	while (state_of(w) != XW_WOKEN) {
		w->state = XW_PARKED | (int)why << XW_WHY_SHIFT;
		ib->parked++;
		r = reel__park_for(w->loop, why, timeout_ns);
		ib->parked--;
		if (state_of(w) == XW_WOKEN)
			break;
		set_state(w, XW_IDLE);
		if (r < 0)
			return r;
	}
	return 0;
}

void reel__xwait_settle(struct reel__xwait *w)
{
	struct reel__inbox *ib = w->loop->inbox;
	enum reel__park_reason why = (enum reel__park_reason)(w->state >> XW_WHY_SHIFT);

	while (state_of(w) != XW_WOKEN) {
		set_state(w, XW_PARKED);
		ib->parked++;
		reel__park(w->loop, why, false);
		ib->parked--;
	}
}

void reel__xwait_wake(struct reel__xwait *w)
{
	int r;

	/* On the waiter's own thread there is nobody to tell: wake it now
	 * rather than through the inbox, whose look at the next pass end may
	 * be up to a whole free pass (PASS_MAX switches) away. */
	if (reel__loop_cur == w->loop) {
		xwait_run(&w->msg);
		return;
	}
	r = reel__xmsg_post(w->loop->inbox, &w->msg);

	/* A loop ends only after its fibers: one waits for this wake. */
	assert(r == 0);
	(void)r;
}
