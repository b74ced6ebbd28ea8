/*
 * reel_sync.h - fiber-aware synchronisation: lock, semaphore, event,
 * condition (asyncio.Lock, BoundedSemaphore, Event, Condition) and the
 * bounded, closable channel (asyncio.Queue). docs/sync.md explains the
 * decisions.
 *
 * Common rules:
 *  - Every object is caller-owned storage (embed it anywhere); its fields
 *    are private. It must be initialised with its _init before use (an
 *    object that was not is answered with -EINVAL, not a crash) and used by
 *    the fibers of one loop (one thread) only. Only the channel allocates:
 *    its element buffer, freed by reel_chan_destroy.
 *  - Waiters are served in FIFO order and hand-offs are direct: an unlock,
 *    release, signal or send completes the waiter's operation before waking
 *    it, so a later arrival can never barge in ahead of it.
 *  - Blocking calls (lock, acquire, wait, send, recv) are parking calls: in
 *    a cancelled task, or once an enclosing deadline scope has passed, they
 *    return -ECANCELED / -ETIMEDOUT at once, even when they could succeed
 *    without waiting (use the try variants, or reel_shield, for cleanup).
 *    Interrupted, they return having taken nothing and given nothing. The
 *    first wake-up wins: a waiter that was handed the lock, a permit or an
 *    element before its interruption arrived returns 0 with it.
 *  - The *_for variants also give up after @timeout_ns (-ETIMEDOUT, never
 *    early); @timeout_ns == 0 means "only if it can be done without waiting".
 *  - Blocking calls: fiber only (-EPERM elsewhere). Non-blocking ones work
 *    anywhere on the loop's thread, except that the lock's owner is a task
 *    (reel_mutex_try_lock and reel_mutex_unlock need a fiber). NULL → -EINVAL.
 */
#ifndef REEL_SYNC_H
#define REEL_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- lock (asyncio.Lock) ------------------------------------------------- */

/*
 * struct reel_mutex - a lock owned by one task at a time, not recursive.
 * Caller-owned; private fields; no destroy (it holds no resources). A task
 * that ends holding it leaves it locked.
 */
struct reel_mutex {
	uint64_t private_[4];
};

/* reel_mutex_init - an unlocked lock. Returns 0; -EINVAL for NULL.
 * Context: anywhere. Must not be called while fibers wait on @m. */
REEL_API int reel_mutex_init(struct reel_mutex *m);

/*
 * reel_mutex_lock - take @m, parking while another task holds it. Waiters
 * get it in arrival order, handed over directly by reel_mutex_unlock.
 * Returns 0 (the caller owns @m); -ECANCELED / -ETIMEDOUT when interrupted
 * (the caller then owns nothing); -EDEADLK when the caller already owns it;
 * -EINVAL for NULL or an uninitialised lock.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_mutex_lock(struct reel_mutex *m);

/* reel_mutex_lock_for - reel_mutex_lock giving up after @timeout_ns
 * (-ETIMEDOUT; 0 = only if free now). Context: fiber only (-EPERM). */
REEL_API int reel_mutex_lock_for(struct reel_mutex *m, uint64_t timeout_ns);

/* reel_mutex_try_lock - take @m if nobody holds it. Returns 0; -EBUSY when
 * it is held (by the caller too); -EINVAL. Never fails because of
 * cancellation. Context: fiber only (-EPERM elsewhere: the owner is a task).
 * Named like reel_sem_try_acquire and reel_chan_try_send. */
REEL_API int reel_mutex_try_lock(struct reel_mutex *m);

/* reel_mutex_trylock - the same as reel_mutex_try_lock: its first name,
 * kept so that programs written against it build and link unchanged. */
REEL_API int reel_mutex_trylock(struct reel_mutex *m);

/*
 * reel_mutex_unlock - release @m; if tasks wait, the longest waiter owns it
 * from now on and is made ready. Returns 0; -EPERM when the caller is not the
 * owner (or not a fiber); -EINVAL. Never parks.
 */
REEL_API int reel_mutex_unlock(struct reel_mutex *m);

/* reel_mutex_locked - 1 if some task holds @m, 0 if not, -EINVAL. */
REEL_API int reel_mutex_locked(const struct reel_mutex *m);

/* ---- semaphore (asyncio.BoundedSemaphore) -------------------------------- */

/* struct reel_sem - a counter of permits, bounded by a maximum. Caller-owned;
 * private fields; no destroy. */
struct reel_sem {
	uint64_t private_[4];
};

/* reel_sem_init - @value free permits out of at most @max. Returns 0;
 * -EINVAL for NULL, @max == 0 or @value > @max. Context: anywhere. */
REEL_API int reel_sem_init(struct reel_sem *s, unsigned value, unsigned max);

/*
 * reel_sem_acquire - take a permit, parking while none is free; waiters are
 * served in arrival order. Returns 0 (one permit taken); -ECANCELED /
 * -ETIMEDOUT when interrupted (no permit taken, none lost); -EINVAL.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_sem_acquire(struct reel_sem *s);

/* reel_sem_acquire_for - reel_sem_acquire giving up after @timeout_ns
 * (-ETIMEDOUT; 0 = only if a permit is free now). Context: fiber only. */
REEL_API int reel_sem_acquire_for(struct reel_sem *s, uint64_t timeout_ns);

/* reel_sem_try_acquire - take a permit if one is free. Returns 0; -EAGAIN
 * when none is; -EINVAL. Context: anywhere on the loop's thread. */
REEL_API int reel_sem_try_acquire(struct reel_sem *s);

/* reel_sem_release - give a permit back: to the longest waiter if any, else
 * to the pool. Returns 0; -EOVERFLOW when that would exceed the maximum (a
 * release without an acquire); -EINVAL. Context: anywhere on the loop's
 * thread; never parks. */
REEL_API int reel_sem_release(struct reel_sem *s);

/* reel_sem_value - free permits now (>= 0), or -EINVAL. */
REEL_API int reel_sem_value(const struct reel_sem *s);

/* ---- event (asyncio.Event) ----------------------------------------------- */

/* struct reel_event - a flag fibers can wait for. Caller-owned; private
 * fields; no destroy. */
struct reel_event {
	uint64_t private_[4];
};

/* reel_event_init - a clear event. Returns 0; -EINVAL. Context: anywhere. */
REEL_API int reel_event_init(struct reel_event *e);

/* reel_event_set - set the flag and wake every waiter (each returns 0, even
 * if the flag is cleared again before it runs). Returns 0; -EINVAL.
 * Context: anywhere on the loop's thread; never parks. */
REEL_API int reel_event_set(struct reel_event *e);

/* reel_event_clear - clear the flag. Returns 0; -EINVAL. */
REEL_API int reel_event_clear(struct reel_event *e);

/* reel_event_is_set - 1 when set, 0 when clear, -EINVAL. */
REEL_API int reel_event_is_set(const struct reel_event *e);

/*
 * reel_event_wait - return once the flag is set (at once if it is already).
 * Returns 0; -ECANCELED / -ETIMEDOUT when interrupted; -EINVAL.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_event_wait(struct reel_event *e);

/* reel_event_wait_for - reel_event_wait giving up after @timeout_ns
 * (-ETIMEDOUT; 0 = only if set now). Context: fiber only (-EPERM). */
REEL_API int reel_event_wait_for(struct reel_event *e, uint64_t timeout_ns);

/* ---- condition (asyncio.Condition) --------------------------------------- */

/* struct reel_cond - a condition variable, used with a reel_mutex (one mutex
 * for all its concurrent waiters). Caller-owned; private fields; no destroy. */
struct reel_cond {
	uint64_t private_[4];
};

/* reel_cond_init - a condition nobody waits on. Returns 0; -EINVAL. */
REEL_API int reel_cond_init(struct reel_cond *c);

/*
 * reel_cond_wait - release @m, park until signalled, take @m again. @m is
 * re-acquired before the call returns whatever happened, interruptions
 * included (that re-acquisition parks uninterruptibly, as pthreads and
 * asyncio do), so the caller always holds @m on return.
 * Returns 0 when signalled (no spurious wake-ups; still re-check the
 * predicate: another task may have run first); -ECANCELED / -ETIMEDOUT when
 * interrupted (also when already interrupted on entry: then @m was never
 * released); -EPERM when the caller does not hold @m or is not a fiber;
 * -EINVAL.
 */
REEL_API int reel_cond_wait(struct reel_cond *c, struct reel_mutex *m);

/* reel_cond_wait_for - reel_cond_wait giving up after @timeout_ns
 * (-ETIMEDOUT, @m held again; 0 = return -ETIMEDOUT at once without
 * releasing @m). Context: fiber only (-EPERM). */
REEL_API int reel_cond_wait_for(struct reel_cond *c, struct reel_mutex *m,
				uint64_t timeout_ns);

/* reel_cond_signal - wake the longest waiter of @c, if any. Returns 0;
 * -EINVAL. Holding the mutex is not required. Never parks. */
REEL_API int reel_cond_signal(struct reel_cond *c);

/* reel_cond_broadcast - wake every waiter of @c, in arrival order.
 * Returns 0; -EINVAL. Never parks. */
REEL_API int reel_cond_broadcast(struct reel_cond *c);

/* ---- channel (asyncio.Queue) --------------------------------------------- */

/*
 * struct reel_chan - a bounded FIFO of fixed-size elements between any
 * number of sending and receiving fibers. Elements are copied in and out
 * (memcpy of the element size). Capacity 0 is a rendezvous: a send completes
 * only when a receiver takes the element. Closing (asyncio's
 * Queue.shutdown()) refuses new elements while receivers drain those
 * already buffered; then every receive returns -EPIPE, the end of stream.
 * Caller-owned; private fields.
 */
struct reel_chan {
	uint64_t private_[12];
};

/*
 * reel_chan_init - an open, empty channel of @capacity elements of
 * @elem_size bytes each. Allocates the element buffer (none for capacity 0).
 * Returns 0; -EINVAL for NULL, @elem_size 0 or a size that overflows;
 * -ENOMEM. Ownership: the buffer is the channel's until reel_chan_destroy.
 * Context: anywhere.
 */
REEL_API int reel_chan_init(struct reel_chan *c, size_t elem_size, size_t capacity);

/*
 * reel_chan_destroy - free the buffer; elements still in it are dropped.
 * @c may be reused (after reel_chan_init) or freed once this returns 0.
 * Returns 0; -EBUSY while fibers wait on @c (close it first: that wakes
 * them); -EINVAL. Context: anywhere on the loop's thread.
 */
REEL_API int reel_chan_destroy(struct reel_chan *c);

/*
 * reel_chan_send - copy the element at @elem into @c, parking while it is
 * full. Waiting senders go in arrival order; a waiting receiver gets the
 * element directly. @elem must stay valid until the call returns.
 * Returns 0 once the element is in the channel (or taken by a receiver);
 * -EPIPE when @c is closed, before or while waiting (the element was not
 * sent); -ECANCELED / -ETIMEDOUT when interrupted (not sent: a send that
 * returns an error never delivers its element); -EINVAL.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_chan_send(struct reel_chan *c, const void *elem);

/* reel_chan_send_for - reel_chan_send giving up after @timeout_ns
 * (-ETIMEDOUT, not sent; 0 = only if there is room now). Context: fiber. */
REEL_API int reel_chan_send_for(struct reel_chan *c, const void *elem, uint64_t timeout_ns);

/* reel_chan_try_send - send if that needs no waiting. Returns 0; -EAGAIN
 * when full (with no receiver waiting); -EPIPE when closed; -EINVAL.
 * Context: anywhere on the loop's thread; never parks. */
REEL_API int reel_chan_try_send(struct reel_chan *c, const void *elem);

/*
 * reel_chan_recv - take the oldest element of @c into @elem, parking while
 * it is empty. Waiting receivers go in arrival order.
 * Returns 0 with an element in @elem; -EPIPE at the end of stream (closed
 * and drained); -ECANCELED / -ETIMEDOUT when interrupted (nothing taken:
 * the element stays for others; an element handed over before the
 * interruption is returned with 0, never dropped); -EINVAL.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_chan_recv(struct reel_chan *c, void *elem);

/* reel_chan_recv_for - reel_chan_recv giving up after @timeout_ns
 * (-ETIMEDOUT, nothing taken; 0 = only if an element is there now). */
REEL_API int reel_chan_recv_for(struct reel_chan *c, void *elem, uint64_t timeout_ns);

/* reel_chan_try_recv - receive if that needs no waiting. Returns 0; -EAGAIN
 * when empty; -EPIPE at the end of stream; -EINVAL.
 * Context: anywhere on the loop's thread; never parks. */
REEL_API int reel_chan_try_recv(struct reel_chan *c, void *elem);

/*
 * reel_chan_close - refuse further sends (asyncio's Queue.shutdown()):
 * waiting senders return -EPIPE (their elements not sent), waiting
 * receivers return -EPIPE (nothing can arrive: they only wait when the
 * channel is empty); buffered elements can still be received. Idempotent.
 * Returns 0; -EINVAL. Context: anywhere on the loop's thread; never parks.
 */
REEL_API int reel_chan_close(struct reel_chan *c);

/* reel_chan_len - elements buffered now (0 for NULL or uninitialised). */
REEL_API size_t reel_chan_len(const struct reel_chan *c);

/* reel_chan_cap - the capacity given to reel_chan_init (0 for NULL). */
REEL_API size_t reel_chan_cap(const struct reel_chan *c);

/* reel_chan_closed - 1 when closed, 0 when open, -EINVAL. */
REEL_API int reel_chan_closed(const struct reel_chan *c);

#ifdef __cplusplus
}
#endif

#endif /* REEL_SYNC_H */
