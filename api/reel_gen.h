/*
 * reel_gen.h - generators: a producer fiber hands values one at a time to a
 * consumer, with back-pressure (Python's async generator driven by
 * `async for`).
 *
 * The producer is a task of its own, running fn(g, arg). It is lazy, as a
 * Python async generator is: its body first runs when the consumer asks for
 * the first value, and after each reel_gen_yield it stays parked until the
 * consumer asks for the next one, so it never runs ahead of the consumer.
 *
 * Usage, the C spelling of `async for v in gen(): ...`:
 *
 *	static int count(struct reel_gen *g, void *arg)
 *	{
 *		for (intptr_t i = 0; i < (intptr_t)arg; i++) {
 *			int r = reel_gen_yield(g, (void *)i);
 *			if (r < 0)
 *				return r;       (closed early: clean up, leave)
 *		}
 *		return 0;
 *	}
 *
 *	struct reel_gen g;
 *	void *v;
 *	int r, status;
 *
 *	if ((r = reel_gen_start(&g, count, (void *)10, NULL)) < 0)
 *		return r;
 *	while ((r = reel_gen_next(&g, &v)) == 1) {
 *		use(v);                 (valid until the next call on &g)
 *		if (enough)
 *			break;
 *	}
 *	reel_gen_close(&g, &status);    (always, also after an error)
 *	r < 0: the producer failed (r is its status) or we were interrupted
 *
 * REEL_GEN_FOREACH below writes the while loop for you.
 *
 * docs/gen.md records the decisions behind these semantics.
 */
#ifndef REEL_GEN_H
#define REEL_GEN_H

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct reel_gen - one generator. Caller-owned and embeddable (a frame, a
 * connection struct); the fields are private. It must stay in place from
 * reel_gen_start until reel_gen_close returns, because the producer task
 * points at it; the fiber that started it must close it before returning
 * (else the process aborts naming that fiber). Used by the fibers of one
 * loop only.
 */
struct reel_gen {
	uint64_t private_[12];
};

/* The producer's body: returns >= 0 at the end of the stream, or -errno. */
typedef int (*reel_gen_fn)(struct reel_gen *g, void *arg);

/*
 * reel_gen_start - start a producer task running @fn(@g, @arg), spawned
 * with @opts (reel_spawn's). The body does not run before the consumer's
 * first reel_gen_next.
 * Returns 0; -EINVAL for NULL @g or @fn; reel_spawn's errors (@g is then
 * not started and needs no close).
 * Ownership: @g stays the caller's; reel_gen_close must be called exactly
 * once for every started generator.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_gen_start(struct reel_gen *g, reel_gen_fn fn, void *arg,
			    const struct reel_spawn_opts *opts);

/*
 * reel_gen_yield - producer: hand @value to the consumer and park until it
 * asks for the next one (at most one value in flight). Whatever @value
 * points to must stay valid while the producer is parked here, which is
 * until the consumer's next call on @g.
 * Returns 0 when the consumer took @value and asked for more (or took it,
 * and then a deadline of the producer's own passed: the next parking call
 * reports that). -ECANCELED: the generator is being closed (the consumer
 * takes nothing more): clean up and return; the return value becomes
 * reel_gen_close's *status. -ETIMEDOUT: a deadline of the producer's own
 * passed before the consumer took @value: it is withdrawn, the consumer
 * never sees it. Either way, what @value points to may be reused as soon
 * as the call returns; values arrive in order, none is overwritten.
 * -EINVAL for NULL @g or a caller that is not @g's producer.
 * Context: @g's producer fiber only.
 */
REEL_API int reel_gen_yield(struct reel_gen *g, void *value);

/*
 * reel_gen_next - consumer: resume the producer and park until its next
 * value. The value stays valid until the caller's next reel_gen_next or
 * reel_gen_close on @g.
 * Returns 1 with the value in *@value; 0 at the end of the stream (the
 * producer returned >= 0), again on every later call; the producer's
 * negative status once when it failed (0 on later calls, like Python's
 * StopAsyncIteration after an exception); -ECANCELED / -ETIMEDOUT when the
 * caller is interrupted before or while it waits: the generator stays
 * usable, and a value produced meanwhile is kept for the next call.
 * -EINVAL for NULL arguments or a generator not started or already closed;
 * -EBUSY when another fiber is waiting in reel_gen_next on @g; -EDEADLK
 * when called by @g's own producer.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_gen_next(struct reel_gen *g, void **value);

/*
 * reel_gen_close - consumer: finish with @g, early or after the end. A
 * producer still running is cancelled (its reel_gen_yield, or whatever it
 * is parked in, returns -ECANCELED, and its cleanup runs); close waits for
 * it to return, without a time limit and even when the caller itself is
 * cancelled or its deadline has passed, so it is safe on a cleanup path.
 * A producer that never ran (no reel_gen_next yet) never runs.
 * Returns 0 and the producer's return value in *@status (if not NULL;
 * -ECANCELED for a producer that never ran). -EINVAL for NULL @g or a
 * generator not started or already closed; -EBUSY when a fiber is waiting
 * in reel_gen_next on @g; -EDEADLK when called by @g's producer.
 * Ownership: once it returns 0, @g's storage is the caller's to reuse.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_gen_close(struct reel_gen *g, int *status);

/*
 * REEL_GEN_FOREACH - `async for`: run the statement that follows once for
 * each value of @g, with the value in @v (a void *); afterwards @rc (an int)
 * holds what ended the loop: 0 (end of stream), a negative status, or 1 if
 * the body left with break. reel_gen_close is still the caller's to call.
 *
 *	void *v;
 *	int rc;
 *	REEL_GEN_FOREACH(&g, v, rc)
 *		total += (intptr_t)v;
 *	reel_gen_close(&g, NULL);
 */
#define REEL_GEN_FOREACH(g, v, rc) while (((rc) = reel_gen_next((g), &(v))) == 1)

#ifdef __cplusplus
}
#endif

#endif /* REEL_GEN_H */
