/*
 * remote.c - tasks on another loop: reel_loop_spawn, reel_remote_join,
 * reel_remote_cancel, reel_loop_call(_for) (api/reel_rt.h).
 *
 * The record is the caller's struct reel_remote. Three messages travel, one
 * at a time, so two nodes suffice: @req carries the spawn and later, maybe,
 * the cancel to the target loop's inbox; @done (a reel__xwait) carries the
 * completion back to the caller's loop and wakes the caller. On the target
 * the spawn message starts remote_body as a detached task of that loop
 * (reel__loop_spawn: it runs even if cancelled before its start, so it can
 * always answer); remote_body runs fn and ends the record.
 *
 * Who may touch the record when (docs/design.md §5): the caller frees it
 * once join returns; join returns only after the completion was delivered
 * (or, see REFUSED, when the caller knows the target is done with it). So
 * the target must post the completion last, and only when no message of
 * the caller's for it is still on its way - a cancel arriving after the
 * completion would read freed memory. One atomic word of bits decides:
 *
 *   SPAWNED  target: the spawn message ran (set first thing in it)
 *   EARLY    target: CANCEL was set before SPAWNED - no cancel message
 *            will come (the task sees CANCEL when it starts and skips fn)
 *   CANCEL   caller: cancel asked (once; later asks do nothing)
 *   REFUSED  caller: its cancel message was refused (the target's loop
 *            has closed, so its task has ended)
 *   HANDLED  target: the cancel message ran
 *   ENDED    target: the status is final
 *   LOCAL    caller: completed without a completion message (REFUSED
 *            after ENDED: nobody will send one)
 *
 *   caller, cancel:  old = fetch_or(CANCEL)
 *                    ENDED in old      -> nothing: the completion comes
 *                    no SPAWNED in old -> nothing: the spawn sees CANCEL
 *                    else post the cancel message (req); refused ->
 *                      old = fetch_or(REFUSED); ENDED in old -> LOCAL
 *   target, end:     status = s; old = fetch_or(ENDED)
 *                    a cancel message is due (CANCEL, not EARLY, not
 *                    REFUSED) and not HANDLED -> leave the completion to it
 *                    else post the completion (the last touch)
 *   target, cancel:  old = fetch_or(HANDLED)
 *                    ENDED in old -> post the completion (end left it)
 *                    else cancel the task's fiber if it runs (if it has
 *                    not started, it sees CANCEL at its start)
 *
 * Exactly one side finishes: the caller's fetch_or(CANCEL) and the target's
 * fetch_or(ENDED) are ordered, so either the caller saw ENDED (no cancel
 * message) or the target saw CANCEL (and waits for the cancel message, or
 * for REFUSED). The cancel and end run on the target's thread, one after
 * the other, so whichever runs second posts. The inbox keeps each poster's
 * messages in order: the cancel never overtakes the spawn.
 */
#include <errno.h>
#include <string.h>

#include <reel_rt.h>

#include "../reelimpl.h"
#include "rt.h"

enum {
	SPAWNED = 1u << 0,
	EARLY = 1u << 1,
	CANCEL = 1u << 2,
	REFUSED = 1u << 3,
	HANDLED = 1u << 4,
	ENDED = 1u << 5,
	LOCAL = 1u << 6,
	MAGIC_SHIFT = 16,
	MAGIC = 0x7e16,
};

struct remote {
	struct reel__xwait done;      /* the caller's: the completion wakes it */
	struct reel__xmsg req;        /* to the target: spawn, then maybe cancel */
	reel_fn fn;
	void *arg;
	struct reel__inbox *target;
	struct reel__fiber *fiber;    /* target's thread: the task, while fn runs */
	size_t stack_size;            /* the spawn options, copied */
	const char *name;
	int status;                   /* fn's value; written by the target */
	uint32_t bits;                /* the state word above, and MAGIC */
};

_Static_assert(sizeof(struct remote) <= sizeof(struct reel_remote),
	       "struct reel_remote too small");
_Static_assert(_Alignof(struct remote) <= _Alignof(struct reel_remote),
	       "struct reel_remote misaligned");

static struct remote *remote_of(struct reel_remote *r)
{
	return (struct remote *)(void *)r;
}

static uint32_t set_bits(struct remote *r, uint32_t b)
{
	return __atomic_fetch_or(&r->bits, b, __ATOMIC_ACQ_REL);
}

/* ---- the target's side ------------------------------------------------------------------ */

/* The status is final: post the completion unless a cancel message is on
 * its way (then it posts). Nothing of @r is touched after the post. */
static void end(struct remote *r, int status)
{
	uint32_t old;

	r->status = status;
	old = set_bits(r, ENDED);
	if ((old & CANCEL) && !(old & (EARLY | REFUSED | HANDLED)))
		return;
	reel__xwait_wake(&r->done);
}

/* The task on the target loop. */
static int remote_body(void *arg)
{
	struct remote *r = arg;
	struct reel__fiber *self = reel__self_fiber();
	int st;

	/* Cancelled already (by the caller, or by this loop's shutdown
	 * before the task's first run): fn never runs, as with reel_cancel. */
	if ((__atomic_load_n(&r->bits, __ATOMIC_ACQUIRE) & CANCEL) ||
	    reel__interrupt_pending(self) == -ECANCELED) {
		st = -ECANCELED;
	} else {
		r->fiber = self;
		st = r->fn(r->arg);
		r->fiber = NULL;
	}
	end(r, st);
	return st;
}

static void spawn_run(struct reel__xmsg *m)
{
	struct remote *r = reel__container_of(m, struct remote, req);
	struct reel_spawn_opts o = { r->stack_size, r->name };
	uint32_t old = set_bits(r, SPAWNED);
	int err;

	/* From here @req is the caller's again (for a cancel). */
	if (old & CANCEL)
		set_bits(r, EARLY);
	err = reel__loop_spawn(reel__loop_cur, remote_body, r, &o);
	if (err)
		end(r, err);   /* the loop has closed (-ESHUTDOWN), or no memory */
}

static void cancel_run(struct reel__xmsg *m)
{
	struct remote *r = reel__container_of(m, struct remote, req);
	uint32_t old = set_bits(r, HANDLED);

	if (old & ENDED)
		reel__xwait_wake(&r->done);   /* end left the completion to us */
	else if (r->fiber)
		reel__cancel_fiber(r->fiber);
}

/* ---- the caller's side ------------------------------------------------------------------ */

/* Ask the target to cancel (once). True when the caller is now done with
 * @r without a completion message (LOCAL). */
static bool request_cancel(struct remote *r)
{
	uint32_t old = set_bits(r, CANCEL);

	if (old & CANCEL)
		return (old & LOCAL) != 0;
	if ((old & ENDED) || !(old & SPAWNED))
		return false;
	r->req.run = cancel_run;
	if (reel__xmsg_post(r->target, &r->req) == 0)
		return false;
	old = set_bits(r, REFUSED);
	if (!(old & ENDED))
		return false;   /* end will see REFUSED and post */
	set_bits(r, LOCAL);
	return true;
}

/* The checks of join and cancel: a fiber (-EPERM), a live record spawned
 * by this fiber (-EINVAL). */
static int owned(struct reel_remote *pub, struct remote **out)
{
	struct reel__fiber *self = reel__self_fiber();
	struct remote *r;

	if (!self)
		return -EPERM;
	if (!pub)
		return -EINVAL;
	r = remote_of(pub);
	if ((__atomic_load_n(&r->bits, __ATOMIC_ACQUIRE) >> MAGIC_SHIFT) != MAGIC ||
	    r->done.fiber != self)
		return -EINVAL;
	*out = r;
	return 0;
}

int reel_loop_spawn(struct reel_remote *pub, int loop, reel_fn fn, void *arg,
		    const struct reel_spawn_opts *opts)
{
	struct reel__fiber *self = reel__self_fiber();
	struct reel__inbox *ib;
	struct remote *r;
	int err;

	if (!self)
		return -EPERM;
	if (!pub || !fn)
		return -EINVAL;
	err = reel_rt__target(loop, &ib);
	if (err)
		return err;
	r = remote_of(pub);
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	r->target = ib;
	if (opts) {
		r->stack_size = opts->stack_size;
		r->name = opts->name;
	}
	reel__xwait_init(&r->done);
	r->req.run = spawn_run;
	__atomic_store_n(&r->bits, (uint32_t)MAGIC << MAGIC_SHIFT, __ATOMIC_RELEASE);
	err = reel__xmsg_post(ib, &r->req);
	if (err) {
		__atomic_store_n(&r->bits, 0, __ATOMIC_RELAXED);
		return err;   /* -ESHUTDOWN: that loop has ended */
	}
	reel__watching_add(self, +1);   /* it must be joined before we end */
	return 0;
}

/* reel_remote_join with a timeout of its own. */
static int join_for(struct reel_remote *pub, int *status, uint64_t timeout_ns)
{
	struct remote *r;
	int rc = owned(pub, &r);

	if (rc)
		return rc;
	if (!(__atomic_load_n(&r->bits, __ATOMIC_ACQUIRE) & LOCAL)) {
		rc = reel__xwait_park(&r->done, REEL__PARK_REMOTE, timeout_ns);
		/* Interrupted: cancel it, and wait for it to end all the same. */
		if (rc < 0 && !request_cancel(r))
			reel__xwait_settle(&r->done);
	}
	if (status)
		*status = r->status;
	__atomic_store_n(&r->bits, 0, __ATOMIC_RELAXED);   /* joined */
	reel__watching_add(r->done.fiber, -1);
	return rc;
}

int reel_remote_join(struct reel_remote *r, int *status)
{
	return join_for(r, status, REEL__FOREVER);
}

int reel_remote_cancel(struct reel_remote *pub)
{
	struct remote *r;
	int rc = owned(pub, &r);

	if (rc)
		return rc;
	request_cancel(r);
	return 0;
}

static int call_for(int loop, reel_fn fn, void *arg, int *status, uint64_t timeout_ns)
{
	struct reel_remote r;
	int err = reel_loop_spawn(&r, loop, fn, arg, NULL);

	if (err) {
		if (status)
			*status = err;
		return err;
	}
	return join_for(&r, status, timeout_ns);
}

int reel_loop_call(int loop, reel_fn fn, void *arg, int *status)
{
	return call_for(loop, fn, arg, status, REEL__FOREVER);
}

int reel_loop_call_for(int loop, reel_fn fn, void *arg, int *status, uint64_t timeout_ns)
{
	return call_for(loop, fn, arg, status, timeout_ns);
}
