/*
 * xchan.c - a bounded, closable FIFO of fixed-size elements between fibers
 * of any loops, and plain threads with the try_ calls (api/reel_rt.h,
 * reel_xchan_*): reel_chan's semantics across threads.
 *
 * Shape. Go's channels: one mutex per channel guards a ring of @cap
 * elements and two FIFO queues of parked waiters, senders and receivers,
 * which may sit on any loops. A waiter is a struct xwaiter in the parked
 * fiber's frame; its struct reel__xwait (engine/core/xwait.c) is the one
 * way another thread can make it runnable: reel__xwait_wake posts to the
 * waiter's loop. A plain mutex, not a lock-free ring: the critical sections
 * are a few memcpys, batches amortise the lock (send_many / recv_many move
 * up to a whole batch under one acquisition), and ThreadSanitizer
 * understands it. Rejected: a lock-free MPMC ring (Vyukov's) - cheaper per
 * element without contention, but parking needs a lock (or a Dekker pair
 * per side) anyway, and close, batches and FIFO waiters get much harder.
 *
 * Direct hand-off, as chan.c. The waker completes the waiter's operation
 * under the lock - copies the elements into a parked receiver's buffer, or
 * out of a parked sender's - takes it off its queue, and only after
 * unlocking calls reel__xwait_wake (never under the lock: the wake may
 * post to an inbox, and the lock is held only to move elements). So
 * "woken" means "done": a woken waiter never retries, and a burst of
 * elements handed to one parked party costs it one wake. The woken waiter
 * reads its result without the channel's lock: the post and the loop's
 * taking of it pass through the inbox's mutex, which orders the waker's
 * writes before that read. Invariants:
 *  - receivers wait only while the ring is empty, senders only while it is
 *    full, so the two queues are never both non-empty;
 *  - a send serves waiting receivers first (oldest first, each up to its
 *    @max), then fills the ring, then queues with what is left;
 *  - a receive takes from the ring, then straight from waiting senders
 *    (the ring was full, so their elements come after it), then refills
 *    the ring from the senders. A sender whose batch has moved entirely is
 *    taken off the queue and woken; one partly moved stays at the head with
 *    its count (w->done) of elements already in.
 * Order is thus FIFO per sender, and waiters are served in arrival order.
 *
 * Cancellation (design §5: a call never returns while another party may
 * still touch its memory). A parked waiter is interrupted (cancel, a
 * deadline scope) on its own loop; reel__xwait_park then returns the error
 * and the waiter takes the lock:
 *  - still queued: no waker has it; it unlinks itself and returns what had
 *    moved (w->done elements of a batch: k > 0 as a count, else the error:
 *    "an error means nothing moved");
 *  - off the queue: a waker took it and has completed it (or close has
 *    failed it), and its wake is on the way: the waiter waits for it,
 *    uninterruptibly (reel__xwait_settle), so the waker's post never lands
 *    in a dead frame, and returns the completed result - the receiver
 *    returns its elements even though it was interrupted (never dropped).
 * Because the waker completes the operation before waking, an interrupted
 * waiter always uses the wake it got: there is nothing to pass on, and no
 * other waiter starves. Rejected: wake-and-retry (the waiter competes again
 * after the wake, as asyncio's Queue does): cheaper in the lock, but an
 * interrupted waiter must then pass its wake on, a burst may wake several
 * receivers for one element, and service order is only loose.
 *
 * Close fails every queued sender (-EPIPE, or the count it had moved) and
 * every queued receiver (they wait only on an empty ring: end of stream);
 * buffered elements still drain.
 *
 * Destroy refuses (-EBUSY) while any fiber is inside a parking call on the
 * channel (@inside): queued, and also taken but not yet returned. Unlike
 * the one-loop channel, a taken waiter may still touch the channel: if it
 * is interrupted before its wake arrives, it takes the lock to learn that
 * it was taken. So a fiber counts itself in when it queues, and out, with a
 * release, after its last touch of the channel; destroy reads the count
 * with an acquire. Rejected: a "taken" flag in the waiter read without the
 * lock - a waiter that sees it unset must still take the lock to withdraw,
 * and between the two a close could take it and a destroy free the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <reel_rt.h>

#include "../reelimpl.h"

#define XCHAN_MAGIC 0x7863686eu   /* "xchn" */

struct xchan_impl {
	pthread_mutex_t lock;         /* guards every field below but inside and magic */
	struct reel__list senders;    /* struct xwaiter.node: parked senders, oldest first */
	struct reel__list receivers;  /* struct xwaiter.node: parked receivers, oldest first */
	unsigned char *buf;           /* cap * size bytes */
	size_t size;                  /* bytes per element (fixed at init) */
	size_t cap;                   /* elements (>= 1, fixed at init) */
	size_t head;                  /* index of the oldest element */
	size_t len;                   /* elements buffered */
	size_t inside;                /* fibers in a parking call past the fast path (atomic) */
	bool closed;
	uint32_t magic;               /* XCHAN_MAGIC from init to destroy */
};
_Static_assert(sizeof(struct xchan_impl) <= sizeof(struct reel_xchan), "reel_xchan too small");
_Static_assert(_Alignof(struct xchan_impl) <= _Alignof(struct reel_xchan), "reel_xchan align");

/*
 * A parked sender or receiver, in its fiber's frame. Queued: on a queue of
 * the channel, every field under the channel's lock. Taken: a waker
 * unlinked it, set @result and @done, and will call reel__xwait_wake once;
 * from then on only the waiter touches it (the waker keeps it on a list of
 * its own stack until that wake).
 */
struct xwaiter {
	struct reel__xwait wait;   /* how another thread wakes the fiber */
	struct reel__list node;    /* on c->senders / c->receivers, then a waker's list */
	unsigned char *data;       /* sender: its elements; receiver: its buffer */
	size_t want;               /* sender: elements in the batch; receiver: max */
	size_t done;               /* elements moved so far */
	int result;                /* once taken: 0 done, -EPIPE closed */
	bool queued;               /* on a queue of the channel */
};

static struct xchan_impl *xchan_of(const struct reel_xchan *c)
{
	const struct xchan_impl *xi = (const struct xchan_impl *)(const void *)c;

	return c && xi->magic == XCHAN_MAGIC ? (struct xchan_impl *)xi : NULL;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

int reel_xchan_init(struct reel_xchan *c, size_t elem_size, size_t capacity)
{
	struct xchan_impl *xi = (struct xchan_impl *)(void *)c;
	int r;

	if (!c || elem_size == 0 || capacity == 0 || elem_size > SIZE_MAX / capacity)
		return -EINVAL;
	xi->buf = malloc(elem_size * capacity);
	if (!xi->buf)
		return -ENOMEM;
	r = pthread_mutex_init(&xi->lock, NULL);
	if (r) {
		free(xi->buf);
		return -r;
	}
	reel__list_init(&xi->senders);
	reel__list_init(&xi->receivers);
	xi->size = elem_size;
	xi->cap = capacity;
	xi->head = 0;
	xi->len = 0;
	xi->inside = 0;
	xi->closed = false;
	xi->magic = XCHAN_MAGIC;
	return 0;
}

int reel_xchan_destroy(struct reel_xchan *c)
{
	struct xchan_impl *xi = xchan_of(c);
	bool busy;

	if (!xi)
		return -EINVAL;
	pthread_mutex_lock(&xi->lock);
	/* Pairs with the release in park_waiter: a waiter that has counted
	 * itself out is done with the channel. */
	busy = !reel__list_empty(&xi->senders) || !reel__list_empty(&xi->receivers) ||
	       __atomic_load_n(&xi->inside, __ATOMIC_ACQUIRE) != 0;
	pthread_mutex_unlock(&xi->lock);
	if (busy)
		return -EBUSY;
	xi->magic = 0;
	pthread_mutex_destroy(&xi->lock);
	free(xi->buf);
	xi->buf = NULL;
	return 0;
}

/* ---- the ring (under the lock) ---------------------------------------------- */

/* Append up to @n elements from @src, as many as there is room for. */
static size_t ring_put(struct xchan_impl *xi, const unsigned char *src, size_t n)
{
	size_t k = min_size(n, xi->cap - xi->len);
	size_t tail = xi->head + xi->len;
	size_t first;

	if (tail >= xi->cap)
		tail -= xi->cap;
	first = min_size(k, xi->cap - tail);
	memcpy(xi->buf + tail * xi->size, src, first * xi->size);
	memcpy(xi->buf, src + first * xi->size, (k - first) * xi->size);
	xi->len += k;
	return k;
}

/* Take up to @n of the oldest elements into @dst. */
static size_t ring_take(struct xchan_impl *xi, unsigned char *dst, size_t n)
{
	size_t k = min_size(n, xi->len);
	size_t first = min_size(k, xi->cap - xi->head);

	memcpy(dst, xi->buf + xi->head * xi->size, first * xi->size);
	memcpy(dst + first * xi->size, xi->buf, (k - first) * xi->size);
	xi->head += k;
	if (xi->head >= xi->cap)
		xi->head -= xi->cap;
	xi->len -= k;
	return k;
}

/* ---- hand-off (under the lock) -------------------------------------------- */

static struct xwaiter *first_waiter(struct reel__list *q)
{
	return reel__list_empty(q) ? NULL : reel__container_of(q->next, struct xwaiter, node);
}

/* @w is complete (or failed) with @result: off its queue, onto @woken. */
static void take_waiter(struct xwaiter *w, int result, struct reel__list *woken)
{
	w->result = result;
	w->queued = false;
	reel__list_del(&w->node);
	reel__list_add_tail(&w->node, woken);
}

/*
 * Move up to @n elements from @src in: waiting receivers first, then the
 * ring. Returns how many moved; the receivers served are on @woken.
 */
static size_t put_locked(struct xchan_impl *xi, const unsigned char *src, size_t n,
			 struct reel__list *woken)
{
	size_t moved = 0;
	struct xwaiter *w;

	while (moved < n && (w = first_waiter(&xi->receivers)) != NULL) {
		size_t k = min_size(n - moved, w->want);

		memcpy(w->data, src + moved * xi->size, k * xi->size);
		w->done = k;
		moved += k;
		take_waiter(w, 0, woken);
	}
	return moved + ring_put(xi, src + moved * xi->size, n - moved);
}

/*
 * Take up to @max elements into @dst: the ring, then straight from waiting
 * senders; then refill the ring from them. Returns how many were taken;
 * the senders whose batches are all in are on @woken.
 */
static size_t take_locked(struct xchan_impl *xi, unsigned char *dst, size_t max,
			  struct reel__list *woken)
{
	size_t got = ring_take(xi, dst, max);
	struct xwaiter *w;

	while (got < max && (w = first_waiter(&xi->senders)) != NULL) {
		size_t k = min_size(max - got, w->want - w->done);

		memcpy(dst + got * xi->size, w->data + w->done * xi->size, k * xi->size);
		w->done += k;
		got += k;
		if (w->done == w->want)
			take_waiter(w, 0, woken);
	}
	while (xi->len < xi->cap && (w = first_waiter(&xi->senders)) != NULL) {
		w->done += ring_put(xi, w->data + w->done * xi->size, w->want - w->done);
		if (w->done == w->want)
			take_waiter(w, 0, woken);
	}
	return got;
}

/* After unlocking: wake each taken waiter once. Its node is read before
 * the wake - after it, the waiter may return and its frame go. */
static void wake_taken(struct reel__list *woken)
{
	struct reel__list *pos = woken->next;

	while (pos != woken) {
		struct reel__list *next = pos->next;

		reel__xwait_wake(&reel__container_of(pos, struct xwaiter, node)->wait);
		pos = next;
	}
}

/* ---- parking ---------------------------------------------------------------- */

/* Queue @w (its first @w->done elements already moved) at the tail of @q;
 * called under the lock by the fiber that will park. */
static void queue_waiter(struct xchan_impl *xi, struct xwaiter *w, struct reel__list *q,
			 void *data, size_t want, size_t done)
{
	__atomic_fetch_add(&xi->inside, 1, __ATOMIC_RELAXED);
	reel__xwait_init(&w->wait);
	w->data = data;
	w->want = want;
	w->done = done;
	w->result = 0;
	w->queued = true;
	reel__list_add_tail(&w->node, q);
}

/*
 * Park queued @w until a waker completes it, or until interrupted; see the
 * top of the file. Returns the elements moved, or an error when none did.
 */
static long park_waiter(struct xchan_impl *xi, struct xwaiter *w)
{
	int r = reel__xwait_park(&w->wait, REEL__PARK_XCHAN, REEL__FOREVER);
	bool still_queued = false;

	if (r < 0) {
		pthread_mutex_lock(&xi->lock);
		still_queued = w->queued;
		if (still_queued)
			reel__list_del(&w->node);
		pthread_mutex_unlock(&xi->lock);
	}
	/* The last touch of the channel (destroy may free it from now on). */
	__atomic_fetch_sub(&xi->inside, 1, __ATOMIC_RELEASE);
	if (still_queued)
		return w->done ? (long)w->done : r;
	if (r < 0)   /* taken and completed: its wake is posted or about to be */
		reel__xwait_settle(&w->wait);
	return w->done ? (long)w->done : w->result;
}

/* The entry check of the parking calls: -EINVAL, -EPERM, an interruption. */
static int xchan_entry(struct xchan_impl *xi, const void *elems)
{
	struct reel__fiber *f = reel__self_fiber();

	if (!xi || !elems)
		return -EINVAL;
	if (!f)
		return -EPERM;
	return reel__interrupt_pending(f);
}

/* ---- sending ---------------------------------------------------------------- */

long reel_xchan_send_many(struct reel_xchan *c, const void *elems, size_t n)
{
	struct xchan_impl *xi = xchan_of(c);
	int r = xchan_entry(xi, elems);
	struct reel__list woken;
	struct xwaiter w;
	size_t moved;

	if (r)
		return r;
	if (n == 0)
		return 0;
	reel__list_init(&woken);
	pthread_mutex_lock(&xi->lock);
	if (xi->closed) {
		pthread_mutex_unlock(&xi->lock);
		return -EPIPE;
	}
	/* Senders queue only on a full ring: then this moves nothing and the
	 * call queues behind them. */
	moved = put_locked(xi, elems, n, &woken);
	if (moved < n)
		queue_waiter(xi, &w, &xi->senders, (void *)(uintptr_t)elems, n, moved);
	pthread_mutex_unlock(&xi->lock);
	wake_taken(&woken);
	if (moved == n)
		return (long)n;
	return park_waiter(xi, &w);
}

int reel_xchan_send(struct reel_xchan *c, const void *elem)
{
	long r = reel_xchan_send_many(c, elem, 1);

	return r == 1 ? 0 : (int)r;
}

int reel_xchan_try_send(struct reel_xchan *c, const void *elem)
{
	struct xchan_impl *xi = xchan_of(c);
	struct reel__list woken;
	int r;

	if (!xi || !elem)
		return -EINVAL;
	reel__list_init(&woken);
	pthread_mutex_lock(&xi->lock);
	if (xi->closed)
		r = -EPIPE;
	else
		r = put_locked(xi, elem, 1, &woken) ? 0 : -EAGAIN;
	pthread_mutex_unlock(&xi->lock);
	wake_taken(&woken);
	return r;
}

/* ---- receiving -------------------------------------------------------------- */

long reel_xchan_recv_many(struct reel_xchan *c, void *elems, size_t max)
{
	struct xchan_impl *xi = xchan_of(c);
	int r = xchan_entry(xi, elems);
	struct reel__list woken;
	struct xwaiter w;
	size_t got;

	if (r)
		return r;
	if (max == 0)
		return -EINVAL;
	reel__list_init(&woken);
	pthread_mutex_lock(&xi->lock);
	got = take_locked(xi, elems, max, &woken);
	if (got == 0 && xi->closed) {
		pthread_mutex_unlock(&xi->lock);
		return -EPIPE;
	}
	if (got == 0)
		queue_waiter(xi, &w, &xi->receivers, elems, max, 0);
	pthread_mutex_unlock(&xi->lock);
	wake_taken(&woken);
	if (got)
		return (long)got;
	return park_waiter(xi, &w);
}

int reel_xchan_recv(struct reel_xchan *c, void *elem)
{
	long r = reel_xchan_recv_many(c, elem, 1);

	return r == 1 ? 0 : (int)r;
}

int reel_xchan_try_recv(struct reel_xchan *c, void *elem)
{
	struct xchan_impl *xi = xchan_of(c);
	struct reel__list woken;
	int r;

	if (!xi || !elem)
		return -EINVAL;
	reel__list_init(&woken);
	pthread_mutex_lock(&xi->lock);
	if (take_locked(xi, elem, 1, &woken))
		r = 0;
	else
		r = xi->closed ? -EPIPE : -EAGAIN;
	pthread_mutex_unlock(&xi->lock);
	wake_taken(&woken);
	return r;
}

/* ---- close and len ---------------------------------------------------------- */

int reel_xchan_close(struct reel_xchan *c)
{
	struct xchan_impl *xi = xchan_of(c);
	struct reel__list woken;
	struct xwaiter *w;

	if (!xi)
		return -EINVAL;
	reel__list_init(&woken);
	pthread_mutex_lock(&xi->lock);
	xi->closed = true;
	while ((w = first_waiter(&xi->senders)) != NULL)
		take_waiter(w, -EPIPE, &woken);
	while ((w = first_waiter(&xi->receivers)) != NULL)
		take_waiter(w, -EPIPE, &woken);
	pthread_mutex_unlock(&xi->lock);
	wake_taken(&woken);
	return 0;
}

size_t reel_xchan_len(struct reel_xchan *c)
{
	struct xchan_impl *xi = xchan_of(c);
	size_t n;

	if (!xi)
		return 0;
	pthread_mutex_lock(&xi->lock);
	n = xi->len;
	pthread_mutex_unlock(&xi->lock);
	return n;
}
