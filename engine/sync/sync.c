/*
 * sync.c - lock, semaphore, event and condition for the fibers of one loop.
 *
 * All four are a state word plus a FIFO of parked fibers (engine/core/waitq.c).
 * No atomics: a loop's fibers never run at the same time, so a primitive's
 * state changes only between parking points.
 *
 * Policy: direct hand-off. Unlock and release give the lock or permit to
 * the longest waiter there and then (owner/value updated before the wake),
 * rather than waking it to compete again. Rejected: "wake and retry"
 * (asyncio's way), which lets a running fiber barge ahead of a woken one,
 * so FIFO order holds only loosely and a waiter can starve under load. The
 * cost of hand-off is the lock convoy (the lock is owned by a fiber that is
 * not running yet); with cooperative scheduling the gap is one trip through
 * the ready queue, which is the price of exact fairness.
 *
 * Cancellation: the wake that comes first wins (core/waitq.c). A waiter handed
 * the lock or a permit returns 0 with it even if it is cancelled before it
 * runs (its next parking call reports the cancellation); a waiter
 * interrupted while queued is skipped by the hand-off and unlinks itself, so
 * it holds nothing and no permit is lost.
 *
 * Objects carry a magic word so that one used without _init (or a pointer to
 * something else) is answered with -EINVAL instead of chasing a garbage
 * list. It is a debugging aid, not a guarantee.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <reel_sync.h>

#include "../reelimpl.h"

#define MUTEX_MAGIC 0x6d757478u   /* "mutx" */
#define SEM_MAGIC   0x73656d61u   /* "sema" */
#define EVENT_MAGIC 0x65766e74u   /* "evnt" */
#define COND_MAGIC  0x636f6e64u   /* "cond" */

struct mutex_impl {
	struct reel__list waiters;  /* reel__waiter.node of tasks parked in lock */
	uint64_t owner;             /* the owning task's id; 0 when unlocked */
	uint32_t magic;
};
_Static_assert(sizeof(struct mutex_impl) <= sizeof(struct reel_mutex), "reel_mutex too small");
_Static_assert(_Alignof(struct mutex_impl) <= _Alignof(struct reel_mutex), "reel_mutex align");

struct sem_impl {
	struct reel__list waiters;  /* parked in acquire; non-empty only when value == 0 */
	unsigned value;             /* free permits */
	unsigned max;
	uint32_t magic;
};
_Static_assert(sizeof(struct sem_impl) <= sizeof(struct reel_sem), "reel_sem too small");
_Static_assert(_Alignof(struct sem_impl) <= _Alignof(struct reel_sem), "reel_sem align");

struct event_impl {
	struct reel__list waiters;  /* parked in wait; non-empty only while clear */
	bool set;
	uint32_t magic;
};
_Static_assert(sizeof(struct event_impl) <= sizeof(struct reel_event), "reel_event too small");
_Static_assert(_Alignof(struct event_impl) <= _Alignof(struct reel_event), "reel_event align");

struct cond_impl {
	struct reel__list waiters;  /* parked in wait, mutex released */
	uint32_t magic;
};
_Static_assert(sizeof(struct cond_impl) <= sizeof(struct reel_cond), "reel_cond too small");
_Static_assert(_Alignof(struct cond_impl) <= _Alignof(struct reel_cond), "reel_cond align");

/* The impl behind a public object, or NULL when @p is NULL or not one. */
#define IMPL_OF(type, p, MAGIC) \
	((p) && ((const struct type *)(const void *)(p))->magic == (MAGIC) \
	 ? (struct type *)(void *)(p) : NULL)

static struct mutex_impl *mutex_of(const struct reel_mutex *m)
{
	return IMPL_OF(mutex_impl, m, MUTEX_MAGIC);
}

static struct sem_impl *sem_of(const struct reel_sem *s)
{
	return IMPL_OF(sem_impl, s, SEM_MAGIC);
}

static struct event_impl *event_of(const struct reel_event *e)
{
	return IMPL_OF(event_impl, e, EVENT_MAGIC);
}

static struct cond_impl *cond_of(const struct reel_cond *c)
{
	return IMPL_OF(cond_impl, c, COND_MAGIC);
}

/*
 * The entry check of every blocking call: the caller's fiber in *@fp, or
 * -EPERM outside a fiber, or the pending interruption (blocking calls are
 * parking calls, docs/design.md §1b, even when they would not have to wait).
 */
static int blocking_entry(struct reel__loop **lp, struct reel__fiber **fp)
{
	struct reel__fiber *f = reel__self_fiber();

	if (!f)
		return -EPERM;
	*lp = reel__loop_cur;
	*fp = f;
	return reel__interrupt_pending(f);
}

/* ---- lock ------------------------------------------------------------------ */

int reel_mutex_init(struct reel_mutex *m)
{
	struct mutex_impl *mi = (struct mutex_impl *)(void *)m;

	if (!m)
		return -EINVAL;
	reel__waitq_init(&mi->waiters);
	mi->owner = 0;
	mi->magic = MUTEX_MAGIC;
	return 0;
}

/* Park @f in @mi's queue until unlock hands it the lock. Interruptible or
 * not: reel_cond_wait's re-acquisition must not fail. */
static int mutex_wait(struct reel__loop *l, struct mutex_impl *mi, uint64_t timeout_ns,
		      bool interruptible)
{
	struct reel__waiter w = { .data = NULL };

	return reel__waitq_park(l, &mi->waiters, &w, REEL__PARK_SYNC, timeout_ns,
				interruptible);
}

static int mutex_lock(struct reel_mutex *m, uint64_t timeout_ns)
{
	struct mutex_impl *mi = mutex_of(m);
	struct reel__loop *l;
	struct reel__fiber *f;
	int r;

	if (!mi)
		return -EINVAL;
	r = blocking_entry(&l, &f);
	if (r)
		return r;
	if (mi->owner == reel__fiber_id(f))
		return -EDEADLK;
	/* Free means nobody waits for it either: unlock hands it over. */
	if (mi->owner == 0) {
		mi->owner = reel__fiber_id(f);
		return 0;
	}
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	return mutex_wait(l, mi, timeout_ns, true);
}

int reel_mutex_lock(struct reel_mutex *m)
{
	return mutex_lock(m, REEL__FOREVER);
}

int reel_mutex_lock_for(struct reel_mutex *m, uint64_t timeout_ns)
{
	return mutex_lock(m, timeout_ns);
}

int reel_mutex_try_lock(struct reel_mutex *m)
{
	struct mutex_impl *mi = mutex_of(m);
	struct reel__fiber *f = reel__self_fiber();

	if (!mi)
		return -EINVAL;
	if (!f)
		return -EPERM;
	if (mi->owner != 0)
		return -EBUSY;
	mi->owner = reel__fiber_id(f);
	return 0;
}

int reel_mutex_trylock(struct reel_mutex *m)
{
	return reel_mutex_try_lock(m);
}

/* Hand @mi to its longest waiter still parked, or leave it free. Out of
 * line: the uncontended unlock then needs no stack frame. */
static __attribute__((noinline)) void mutex_hand_over(struct mutex_impl *mi)
{
	struct reel__waiter *w = reel__waitq_take(&mi->waiters);

	if (!w) {
		mi->owner = 0;
		return;
	}
	mi->owner = reel__fiber_id(w->fiber);
	reel__wake(w->fiber, 0);
}

/* Give @mi to its longest waiter, or leave it free. The caller owned it. */
static void mutex_release(struct mutex_impl *mi)
{
	if (reel_likely(reel__list_empty(&mi->waiters)))
		mi->owner = 0;
	else
		mutex_hand_over(mi);
}

int reel_mutex_unlock(struct reel_mutex *m)
{
	struct mutex_impl *mi = mutex_of(m);
	struct reel__fiber *f = reel__self_fiber();

	if (!mi)
		return -EINVAL;
	if (!f || mi->owner != reel__fiber_id(f))
		return -EPERM;
	mutex_release(mi);
	return 0;
}

int reel_mutex_locked(const struct reel_mutex *m)
{
	struct mutex_impl *mi = mutex_of(m);

	if (!mi)
		return -EINVAL;
	return mi->owner != 0;
}

/* ---- semaphore ------------------------------------------------------------- */

int reel_sem_init(struct reel_sem *s, unsigned value, unsigned max)
{
	struct sem_impl *si = (struct sem_impl *)(void *)s;

	if (!s || max == 0 || value > max)
		return -EINVAL;
	reel__waitq_init(&si->waiters);
	si->value = value;
	si->max = max;
	si->magic = SEM_MAGIC;
	return 0;
}

static int sem_acquire(struct reel_sem *s, uint64_t timeout_ns)
{
	struct sem_impl *si = sem_of(s);
	struct reel__waiter w = { .data = NULL };
	struct reel__loop *l;
	struct reel__fiber *f;
	int r;

	if (!si)
		return -EINVAL;
	r = blocking_entry(&l, &f);
	if (r)
		return r;
	/* A free permit means nobody waits: release hands permits over. */
	if (si->value > 0) {
		si->value--;
		return 0;
	}
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	return reel__waitq_park(l, &si->waiters, &w, REEL__PARK_SYNC, timeout_ns, true);
}

int reel_sem_acquire(struct reel_sem *s)
{
	return sem_acquire(s, REEL__FOREVER);
}

int reel_sem_acquire_for(struct reel_sem *s, uint64_t timeout_ns)
{
	return sem_acquire(s, timeout_ns);
}

int reel_sem_try_acquire(struct reel_sem *s)
{
	struct sem_impl *si = sem_of(s);

	if (!si)
		return -EINVAL;
	if (si->value == 0)
		return -EAGAIN;
	si->value--;
	return 0;
}

int reel_sem_release(struct reel_sem *s)
{
	struct sem_impl *si = sem_of(s);
	struct reel__waiter *w;

	if (!si)
		return -EINVAL;
	w = reel__waitq_take(&si->waiters);
	if (w) {
		/* The permit goes straight to the waiter: value stays 0. */
		reel__wake(w->fiber, 0);
		return 0;
	}
	if (si->value >= si->max)
		return -EOVERFLOW;
	si->value++;
	return 0;
}

int reel_sem_value(const struct reel_sem *s)
{
	struct sem_impl *si = sem_of(s);

	if (!si)
		return -EINVAL;
	return si->value > INT32_MAX ? INT32_MAX : (int)si->value;
}

/* ---- event ----------------------------------------------------------------- */

int reel_event_init(struct reel_event *e)
{
	struct event_impl *ei = (struct event_impl *)(void *)e;

	if (!e)
		return -EINVAL;
	reel__waitq_init(&ei->waiters);
	ei->set = false;
	ei->magic = EVENT_MAGIC;
	return 0;
}

int reel_event_set(struct reel_event *e)
{
	struct event_impl *ei = event_of(e);

	if (!ei)
		return -EINVAL;
	ei->set = true;
	reel__waitq_wake_all(&ei->waiters, 0);
	return 0;
}

int reel_event_clear(struct reel_event *e)
{
	struct event_impl *ei = event_of(e);

	if (!ei)
		return -EINVAL;
	ei->set = false;
	return 0;
}

int reel_event_is_set(const struct reel_event *e)
{
	struct event_impl *ei = event_of(e);

	if (!ei)
		return -EINVAL;
	return ei->set;
}

static int event_wait(struct reel_event *e, uint64_t timeout_ns)
{
	struct event_impl *ei = event_of(e);
	struct reel__waiter w = { .data = NULL };
	struct reel__loop *l;
	struct reel__fiber *f;
	int r;

	if (!ei)
		return -EINVAL;
	r = blocking_entry(&l, &f);
	if (r)
		return r;
	if (ei->set)
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	return reel__waitq_park(l, &ei->waiters, &w, REEL__PARK_SYNC, timeout_ns, true);
}

int reel_event_wait(struct reel_event *e)
{
	return event_wait(e, REEL__FOREVER);
}

int reel_event_wait_for(struct reel_event *e, uint64_t timeout_ns)
{
	return event_wait(e, timeout_ns);
}

/* ---- condition ------------------------------------------------------------- */

int reel_cond_init(struct reel_cond *c)
{
	struct cond_impl *ci = (struct cond_impl *)(void *)c;

	if (!c)
		return -EINVAL;
	reel__waitq_init(&ci->waiters);
	ci->magic = COND_MAGIC;
	return 0;
}

/*
 * Queue on @ci, hand @mi on, park; then take @mi back whatever woke us.
 * The re-acquisition is uninterruptible (the caller must hold the mutex on
 * return, as with pthreads); it cannot hang on a cancelled task for longer
 * than the mutex's owner keeps it.
 */
static int cond_wait(struct reel_cond *c, struct reel_mutex *m, uint64_t timeout_ns)
{
	struct cond_impl *ci = cond_of(c);
	struct mutex_impl *mi = mutex_of(m);
	struct reel__waiter w = { .data = NULL };
	struct reel__loop *l;
	struct reel__fiber *f;
	int r;

	if (!ci || !mi)
		return -EINVAL;
	f = reel__self_fiber();
	if (!f || mi->owner != reel__fiber_id(f))
		return -EPERM;
	r = blocking_entry(&l, &f);
	if (r)
		return r;               /* never released: still held */
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	w.fiber = f;
	reel__list_add_tail(&w.node, &ci->waiters);
	mutex_release(mi);
	r = reel__park_for(l, REEL__PARK_SYNC, timeout_ns);
	reel__list_del_init(&w.node);
	/* Free means nobody waits for it (unlock hands it over). */
	if (mi->owner == 0)
		mi->owner = reel__fiber_id(f);
	else
		mutex_wait(l, mi, REEL__FOREVER, false);
	return r;
}

int reel_cond_wait(struct reel_cond *c, struct reel_mutex *m)
{
	return cond_wait(c, m, REEL__FOREVER);
}

int reel_cond_wait_for(struct reel_cond *c, struct reel_mutex *m, uint64_t timeout_ns)
{
	return cond_wait(c, m, timeout_ns);
}

int reel_cond_signal(struct reel_cond *c)
{
	struct cond_impl *ci = cond_of(c);
	struct reel__waiter *w;

	if (!ci)
		return -EINVAL;
	w = reel__waitq_take(&ci->waiters);
	if (w)
		reel__wake(w->fiber, 0);
	return 0;
}

int reel_cond_broadcast(struct reel_cond *c)
{
	struct cond_impl *ci = cond_of(c);

	if (!ci)
		return -EINVAL;
	reel__waitq_wake_all(&ci->waiters, 0);
	return 0;
}
