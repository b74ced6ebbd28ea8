/*
 * chan.c - a bounded, closable FIFO channel of fixed-size elements between
 * the fibers of one loop (asyncio.Queue with Queue.shutdown()).
 *
 * State: a ring of @cap elements (head, len), a queue of parked senders and
 * one of parked receivers (engine/core/waitq.c). Invariants, which direct
 * hand-off keeps:
 *  - receivers wait only while the ring is empty, senders only while it is
 *    full (for capacity 0, "empty" and "full" at once: a rendezvous), so
 *    parked senders and parked receivers never coexist;
 *  - a send that finds a parked receiver copies straight into the
 *    receiver's destination and wakes it with 0;
 *  - a receive that frees a slot moves the longest-waiting sender's element
 *    into the ring's tail (or, at capacity 0, straight into its own
 *    destination) and wakes that sender with 0.
 * So the element order is the order in which sends *completed or queued*,
 * waiters are served FIFO on both sides, and a woken waiter never retries.
 *
 * Cancellation never loses or duplicates an element: a waiter's copy is made
 * by the fiber that wakes it, in the same step, so "woken with 0" means "the
 * element moved", and an interruption that arrives later does not undo it
 * (the first wake wins: the receiver returns 0 with the element, the sender
 * 0 for a delivered element). An interrupted waiter is skipped by every
 * hand-off (waitq_take only picks PARKED fibers) and returns having moved
 * nothing. Rejected: putting a handed element back at the front when the
 * receiver turns out to be cancelled - it reorders the stream relative to
 * other receivers and makes "returned an error" ambiguous.
 *
 * Close wakes every waiter with -EPIPE: senders did not send, receivers
 * (which only wait on an empty ring) see the end of stream. The buffered
 * elements stay receivable; -EPIPE comes once they are gone.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <reel_sync.h>

#include "../reelimpl.h"

#define CHAN_MAGIC 0x6368616eu   /* "chan" */

struct chan_impl {
	struct reel__list senders;    /* reel__waiter.node; .data: the element to send */
	struct reel__list receivers;  /* reel__waiter.node; .data: where to copy to */
	unsigned char *buf;           /* cap * size bytes; NULL for capacity 0 */
	size_t size;                  /* bytes per element */
	size_t cap;
	size_t head;                  /* index of the oldest element */
	size_t len;                   /* elements buffered */
	bool closed;
	uint32_t magic;
};
_Static_assert(sizeof(struct chan_impl) <= sizeof(struct reel_chan), "reel_chan too small");
_Static_assert(_Alignof(struct chan_impl) <= _Alignof(struct reel_chan), "reel_chan align");

static struct chan_impl *chan_of(const struct reel_chan *c)
{
	const struct chan_impl *ci = (const struct chan_impl *)(const void *)c;

	return c && ci->magic == CHAN_MAGIC ? (struct chan_impl *)ci : NULL;
}

int reel_chan_init(struct reel_chan *c, size_t elem_size, size_t capacity)
{
	struct chan_impl *ci = (struct chan_impl *)(void *)c;
	unsigned char *buf = NULL;

	if (!c || elem_size == 0 || (capacity && elem_size > SIZE_MAX / capacity))
		return -EINVAL;
	if (capacity) {
		buf = malloc(elem_size * capacity);
		if (!buf)
			return -ENOMEM;
	}
	reel__waitq_init(&ci->senders);
	reel__waitq_init(&ci->receivers);
	ci->buf = buf;
	ci->size = elem_size;
	ci->cap = capacity;
	ci->head = 0;
	ci->len = 0;
	ci->closed = false;
	ci->magic = CHAN_MAGIC;
	return 0;
}

int reel_chan_destroy(struct reel_chan *c)
{
	struct chan_impl *ci = chan_of(c);

	if (!ci)
		return -EINVAL;
	/* Interrupted waiters are unlinked here, so they never touch @c again. */
	if (reel__waitq_busy(&ci->senders) || reel__waitq_busy(&ci->receivers))
		return -EBUSY;
	free(ci->buf);
	ci->buf = NULL;
	ci->magic = 0;
	return 0;
}

static void ring_push(struct chan_impl *ci, const void *elem)
{
	size_t tail = (ci->head + ci->len) % ci->cap;

	memcpy(ci->buf + tail * ci->size, elem, ci->size);
	ci->len++;
}

static void ring_pop(struct chan_impl *ci, void *elem)
{
	memcpy(elem, ci->buf + ci->head * ci->size, ci->size);
	ci->head = (ci->head + 1) % ci->cap;
	ci->len--;
}

/* Send without waiting: 0 sent, -EAGAIN no room, -EPIPE closed. */
static int send_now(struct chan_impl *ci, const void *elem)
{
	struct reel__waiter *w;

	if (ci->closed)
		return -EPIPE;
	w = reel__waitq_take(&ci->receivers);
	if (w) {
		memcpy(w->data, elem, ci->size);
		reel__wake(w->fiber, 0);
		return 0;
	}
	if (ci->len == ci->cap)
		return -EAGAIN;
	ring_push(ci, elem);
	return 0;
}

/* Receive without waiting: 0 received, -EAGAIN empty, -EPIPE end of stream. */
static int recv_now(struct chan_impl *ci, void *elem)
{
	struct reel__waiter *w;

	if (ci->len) {
		ring_pop(ci, elem);
		/* A slot is free: the longest-waiting sender fills it. */
		w = reel__waitq_take(&ci->senders);
		if (w) {
			ring_push(ci, w->data);
			reel__wake(w->fiber, 0);
		}
		return 0;
	}
	/* Empty ring, yet a sender waits: capacity 0, take it directly. */
	w = reel__waitq_take(&ci->senders);
	if (w) {
		memcpy(elem, w->data, ci->size);
		reel__wake(w->fiber, 0);
		return 0;
	}
	return ci->closed ? -EPIPE : -EAGAIN;
}

/* Park on @q with @data until a hand-off, close, interruption or timeout. */
static int chan_wait(struct reel__list *q, void *data, uint64_t timeout_ns)
{
	struct reel__loop *l = reel__running_loop();
	struct reel__waiter w = { .data = data };

	if (timeout_ns == 0)
		return -ETIMEDOUT;
	return reel__waitq_park(l, q, &w, REEL__PARK_CHAN, timeout_ns, true);
}

/* The entry check of send and recv: -EINVAL, -EPERM, or an interruption. */
static int chan_entry(struct chan_impl *ci, const void *elem)
{
	struct reel__fiber *f = reel__self_fiber();

	if (!ci || !elem)
		return -EINVAL;
	if (!f)
		return -EPERM;
	return reel__interrupt_pending(f);
}

static int chan_send(struct reel_chan *c, const void *elem, uint64_t timeout_ns)
{
	struct chan_impl *ci = chan_of(c);
	int r = chan_entry(ci, elem);

	if (r)
		return r;
	r = send_now(ci, elem);
	if (r != -EAGAIN)
		return r;
	return chan_wait(&ci->senders, (void *)(uintptr_t)elem, timeout_ns);
}

int reel_chan_send(struct reel_chan *c, const void *elem)
{
	return chan_send(c, elem, REEL__FOREVER);
}

int reel_chan_send_for(struct reel_chan *c, const void *elem, uint64_t timeout_ns)
{
	return chan_send(c, elem, timeout_ns);
}

int reel_chan_try_send(struct reel_chan *c, const void *elem)
{
	struct chan_impl *ci = chan_of(c);

	if (!ci || !elem)
		return -EINVAL;
	return send_now(ci, elem);
}

static int chan_recv(struct reel_chan *c, void *elem, uint64_t timeout_ns)
{
	struct chan_impl *ci = chan_of(c);
	int r = chan_entry(ci, elem);

	if (r)
		return r;
	r = recv_now(ci, elem);
	if (r != -EAGAIN)
		return r;
	return chan_wait(&ci->receivers, elem, timeout_ns);
}

int reel_chan_recv(struct reel_chan *c, void *elem)
{
	return chan_recv(c, elem, REEL__FOREVER);
}

int reel_chan_recv_for(struct reel_chan *c, void *elem, uint64_t timeout_ns)
{
	return chan_recv(c, elem, timeout_ns);
}

int reel_chan_try_recv(struct reel_chan *c, void *elem)
{
	struct chan_impl *ci = chan_of(c);

	if (!ci || !elem)
		return -EINVAL;
	return recv_now(ci, elem);
}

int reel_chan_close(struct reel_chan *c)
{
	struct chan_impl *ci = chan_of(c);

	if (!ci)
		return -EINVAL;
	ci->closed = true;
	reel__waitq_wake_all(&ci->senders, -EPIPE);
	reel__waitq_wake_all(&ci->receivers, -EPIPE);
	return 0;
}

size_t reel_chan_len(const struct reel_chan *c)
{
	struct chan_impl *ci = chan_of(c);

	return ci ? ci->len : 0;
}

size_t reel_chan_cap(const struct reel_chan *c)
{
	struct chan_impl *ci = chan_of(c);

	return ci ? ci->cap : 0;
}

int reel_chan_closed(const struct reel_chan *c)
{
	struct chan_impl *ci = chan_of(c);

	if (!ci)
		return -EINVAL;
	return ci->closed;
}
