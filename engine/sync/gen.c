/*
 * gen.c - generators: a producer task and its consumer pass values hand to
 * hand.
 *
 * The producer is an ordinary task (reel_spawn) whose body is wrapped by
 * producer_main. The two sides meet in the generator's own storage, with at
 * most one of them running at a time:
 *
 *	consumer, reel_gen_next            producer, reel_gen_yield
 *	  want = true; wake producer  --->   (resumes, computes a value)
 *	  park until ready or done    <---   value, ready = true; wake consumer
 *	  take value, ready = false          park until want (or cancelled)
 *
 * The producer runs only while the consumer waits for it, so it is never a
 * value ahead (back-pressure with a buffer of zero, Python's async
 * generator). Each side records itself (consumer, producer_parked) before
 * it parks and clears that when it resumes, so the other side wakes exactly
 * the fiber that waits; a wake-up that finds nobody parked is not needed,
 * because the flags (want, ready, done) are read again after every resume.
 *
 * Interruptions: a consumer woken by cancellation or a deadline leaves
 * `want` set, so the producer may go on and park with its value ready; the
 * next reel_gen_next takes it without resuming the producer. Close cancels
 * the producer task and joins it; reel_join never leaks a task and waits
 * uninterruptibly once the caller is interrupted, which is what a consumer's
 * cleanup path needs.
 *
 * Rejected: a one-slot channel between two tasks (the producer would run a
 * value ahead, and a channel is another engineer's file); running the
 * producer's body on the consumer's fiber as Python does (a C body has no
 * frames to suspend without a stack of its own).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <reel_gen.h>

#include "../reelimpl.h"

#define GEN_MAGIC 0x67656e31u   /* "gen1": started and not yet closed */

struct gen_impl {
	uint32_t magic;
	bool want;                    /* the consumer asked; no value handed yet */
	bool ready;                   /* @value holds a value not yet taken */
	bool done;                    /* the producer's body has returned */
	bool reported;                /* a failure status went out through next */
	bool producer_parked;         /* producer waits in yield or at its start */
	int status;                   /* the producer's return value once done */
	reel_task task;               /* the producer; joined by close */
	struct reel__fiber *producer; /* its fiber while the body runs, else NULL */
	struct reel__fiber *consumer; /* parked in reel_gen_next, or NULL */
	struct reel__fiber *owner;    /* started it: must close before it ends */
	reel_gen_fn fn;
	void *arg;
	void *value;
};
_Static_assert(sizeof(struct gen_impl) <= sizeof(struct reel_gen), "reel_gen too small");
_Static_assert(_Alignof(struct gen_impl) <= _Alignof(struct reel_gen), "reel_gen align");

static struct gen_impl *impl_of(struct reel_gen *g)
{
	return (struct gen_impl *)(void *)g;
}

/* The started, not yet closed generator behind @g, or NULL. */
static struct gen_impl *live_impl(struct reel_gen *g)
{
	struct gen_impl *gi = g ? impl_of(g) : NULL;

	return gi && gi->magic == GEN_MAGIC ? gi : NULL;
}

/* Producer: park until the consumer asks for a value. Returns 0, or the
 * interruption (close's cancel, the producer's own deadline). */
static int wait_for_request(struct reel__loop *l, struct gen_impl *gi)
{
	int r = 0;

	while (!gi->want && r == 0) {
		gi->producer_parked = true;
		r = reel__park(l, REEL__PARK_GEN, true);
		gi->producer_parked = false;
	}
	return r;
}

/* Wake the consumer if it waits in reel_gen_next. */
static void wake_consumer(struct gen_impl *gi)
{
	if (gi->consumer)
		reel__wake(gi->consumer, 0);
}

/* The producer task's body: wait for the first request (laziness), run the
 * user's body, publish the end. */
static int producer_main(void *arg)
{
	struct gen_impl *gi = arg;
	struct reel__loop *l = reel__running_loop();
	int status;

	gi->producer = reel__self_fiber();
	status = wait_for_request(l, gi);
	if (status == 0)
		status = gi->fn((struct reel_gen *)(void *)gi, gi->arg);
	gi->producer = NULL;
	/* A value not taken may point into this stack, which is going away. */
	gi->ready = false;
	gi->done = true;
	gi->status = status;
	wake_consumer(gi);
	return status;
}

int reel_gen_start(struct reel_gen *g, reel_gen_fn fn, void *arg,
		   const struct reel_spawn_opts *opts)
{
	struct reel__fiber *self = reel__self_fiber();
	struct gen_impl *gi;
	int err;

	if (!self)
		return -EPERM;
	if (!g || !fn)
		return -EINVAL;
	gi = impl_of(g);
	*gi = (struct gen_impl){ .fn = fn, .arg = arg, .owner = self };
	err = reel_spawn(&gi->task, producer_main, gi, opts);
	if (err)
		return err;
	gi->magic = GEN_MAGIC;
	/* Like a task group in its frame: returning without closing would
	 * leave the producer pointing into a dead frame (core/task.c aborts). */
	reel__watching_add(self, 1);
	return 0;
}

int reel_gen_yield(struct reel_gen *g, void *value)
{
	struct reel__loop *l = reel__running_loop();
	struct gen_impl *gi = live_impl(g);
	int r;

	if (!gi || !l || gi->producer != reel__self_fiber())
		return -EINVAL;
	r = reel__interrupt_pending(reel__self_fiber());
	if (r)
		return r;
	gi->value = value;
	gi->ready = true;
	gi->want = false;
	wake_consumer(gi);
	r = wait_for_request(l, gi);
	if (r == 0)
		return 0;
	if (gi->ready) {
		/* Interrupted before the consumer took it: withdraw it, so the
		 * producer may reuse what it points to and nothing half-sent
		 * reaches the consumer later. */
		gi->ready = false;
		return r;
	}
	/* Taken. Closing (-ECANCELED): stop now, as Python's aclose() does
	 * at the yield. The producer's own deadline: the value did get
	 * through; the next parking call reports the deadline. */
	return r == -ETIMEDOUT ? 0 : r;
}

/* Consumer: the answer when the producer has ended. */
static int end_of_stream(struct gen_impl *gi)
{
	if (gi->status < 0 && !gi->reported) {
		gi->reported = true;
		return gi->status;
	}
	return 0;
}

/* A producer cancelled before its first run (a shutdown, a generator
 * started while the loop shuts down) never ran producer_main to say it is
 * done: its task slot says so. */
static void notice_unstarted_end(struct reel__loop *l, struct gen_impl *gi)
{
	int status;

	if (reel__task_peek(l, gi->task, &status) == 1) {
		gi->done = true;
		gi->status = status;
	}
}

/* Consumer: take the value waiting in @gi. */
static int take(struct gen_impl *gi, void **value)
{
	*value = gi->value;
	gi->ready = false;
	return 1;
}

int reel_gen_next(struct reel_gen *g, void **value)
{
	struct reel__loop *l = reel__running_loop();
	struct reel__fiber *self = reel__self_fiber();
	struct gen_impl *gi;
	int r;

	if (!self)
		return -EPERM;
	gi = live_impl(g);
	if (!gi || !value)
		return -EINVAL;
	if (gi->producer == self)
		return -EDEADLK;
	if (gi->consumer)
		return -EBUSY;
	r = reel__interrupt_pending(self);
	if (r)
		return r;
	for (;;) {
		if (gi->ready)
			return take(gi, value);
		if (!gi->done)
			notice_unstarted_end(l, gi);
		if (gi->done)
			return end_of_stream(gi);
		gi->want = true;
		if (gi->producer_parked)
			reel__wake(gi->producer, 0);
		gi->consumer = self;
		r = reel__park(l, REEL__PARK_GEN, true);
		gi->consumer = NULL;
		/* Interrupted: `want` stays set, so the producer may finish
		 * this value; the next call finds it ready. */
		if (r)
			return r;
	}
}

int reel_gen_close(struct reel_gen *g, int *status)
{
	struct reel__fiber *self = reel__self_fiber();
	struct gen_impl *gi;
	int st;

	if (!self)
		return -EPERM;
	gi = live_impl(g);
	if (!gi)
		return -EINVAL;
	if (gi->producer == self)
		return -EDEADLK;
	if (gi->consumer)
		return -EBUSY;
	if (!gi->done)
		(void)reel_cancel(gi->task);
	/* -ECANCELED/-ETIMEDOUT here only say the caller was interrupted:
	 * join has waited for the producer and freed it all the same. */
	(void)reel_join(gi->task, &st);
	gi->magic = 0;
	reel__watching_add(gi->owner, -1);
	if (status)
		*status = st;
	return 0;
}
