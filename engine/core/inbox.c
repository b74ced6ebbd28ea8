/*
 * inbox.c - the one way in from other threads (docs/design.md §2).
 *
 * A loop's structures belong to its thread. Another thread that has work
 * for it (a peer loop spawning a task there, a channel handing over an
 * element, the runtime stopping) posts a message to its inbox: a mutex and
 * an intrusive FIFO of caller-owned messages. The loop takes the whole list
 * at once and runs each message's @run on its own thread, between fibers.
 *
 * What it costs
 *   - A loop that is awake looks at its inbox at every pass end with one
 *     relaxed load of @pending: no lock, no system call, no wake-up. A busy
 *     peer never pays for a kernel round trip.
 *   - A post takes the mutex, links the message and sets @pending. It sends
 *     a wake-up only when the loop is (or may be about to be) blocked in the
 *     kernel and no wake-up is on its way yet (@wake_sent, cleared when the
 *     loop takes the list): a burst of posts to a sleeping loop costs one.
 *   - The wake-up, from a loop of the same runtime whose kernel has it, is
 *     IORING_OP_MSG_RING: an SQE on the poster's own ring that posts a CQE
 *     (user_data REEL__UD_INBOX) into the target's ring; it goes out with
 *     the poster's next submit, so a fiber that posts and parks pays one
 *     io_uring_enter for both. Success posts no CQE back
 *     (IOSQE_CQE_SKIP_SUCCESS); a failure does, tagged with bit 63 and the
 *     inbox's address, and the wake-up is made again by eventfd.
 *     Everyone else (plain threads, signal handlers through kick, peers
 *     with REEL_NO_MSG_RING, loops outside a runtime) writes the loop's
 *     eventfd, whose read the loop arms before it blocks while it listens
 *     (a fiber waits for another thread, or the loop is in a runtime).
 *
 * No lost wake-up: a Dekker pair of two words, both seq_cst.
 *     poster:  pending = 1;  if (asleep) wake        (under @lock)
 *     loop:    asleep = 1;   if (pending) don't block, take the list
 *   In the single total order of seq_cst operations one of the two stores
 *   comes first, so at least one side sees the other's: either the poster
 *   sees asleep == 1 and wakes the loop, or the loop sees pending == 1 and
 *   does not block. Both may see each other: then a wake-up arrives at a
 *   loop that is awake, which costs one spurious return from the kernel,
 *   never a missed message. @pending is cleared only under @lock together
 *   with taking the list and clearing @wake_sent, so "pending and no
 *   wake-up on its way" can only mean "the loop will look before it
 *   blocks". The brief poll (poll_ns) spins on @pending before that store.
 *
 * Lifetimes
 *   - A message belongs to the inbox from its post until its @run is
 *     called; @run may free it (a woken fiber's frame). The poster never
 *     touches it after the unlock.
 *   - A loop's own inbox dies with the loop. So that a poster cannot write
 *     the eventfd of an inbox freed under it, the eventfd write is made
 *     under @lock, which the loop takes to close the inbox before freeing.
 *   - A runtime's inbox (owned) outlives its loop: the runtime frees it
 *     after joining every thread. Its MSG_RING target is a dup of the
 *     loop's ring fd that the inbox keeps open, so a MSG_RING prepared
 *     under @lock and submitted later never reaches a reused descriptor,
 *     and the failure CQE's inbox address stays valid (MSG_RING is used
 *     between loops of one runtime only: @group).
 *   - Closing (the loop's end): under @lock the inbox is marked closed and
 *     emptied; later posts get -ESHUTDOWN and keep their message. What was
 *     taken runs once more on the closing loop, where reel__loop_closed
 *     tells it that no task can start any more.
 *
 * Rejected: a lock-free (Vyukov) queue. The mutex is held for a few stores
 * and never contended for long; what costs is the wake-up, not the lock,
 * and the lock makes closing, FIFO order and the eventfd's lifetime easy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "inbox.h"
#include "internal.h"
#include "trace.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* The runtime's inbox for the next loop this thread starts. */
static __thread struct reel__inbox *adopt_next;

/* Set after a MSG_RING failed for good (not a full CQ): eventfd from then. */
static int msg_ring_off;

enum wake { WAKE_NONE, WAKE_EVENTFD, WAKE_MSG_RING };

enum { SPIN_BATCH = 64 };

struct reel__inbox *reel__loop_inbox(struct reel__loop *l)
{
	return l->inbox;
}

struct reel__inbox *reel__inbox_new(uint64_t poll_ns, bool no_msg_ring, int *err)
{
	size_t size = (sizeof(struct reel__inbox) + 63) & ~(size_t)63;
	struct reel__inbox *ib = aligned_alloc(64, size);

	if (!ib) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(ib, 0, size);
	ib->efd = eventfd(0, EFD_CLOEXEC);
	if (ib->efd < 0) {
		*err = -errno;
		free(ib);
		return NULL;
	}
	pthread_mutex_init(&ib->lock, NULL);
	reel__list_init(&ib->msgs);
	ib->ring_fd = -1;
	ib->poll_ns = poll_ns;
	ib->no_msg_ring = no_msg_ring;
	*err = 0;
	return ib;
}

void reel__inbox_free(struct reel__inbox *ib)
{
	if (!ib)
		return;
	/* A poster still inside its critical section finishes first. */
	pthread_mutex_lock(&ib->lock);
	pthread_mutex_unlock(&ib->lock);
	pthread_mutex_destroy(&ib->lock);
	close(ib->efd);
	if (ib->ring_fd >= 0)
		close(ib->ring_fd);
	free(ib);
}

void reel__inbox_adopt_next(struct reel__inbox *ib, const void *group)
{
	ib->owned = true;
	ib->group = group;
	adopt_next = ib;
}

void reel__inbox_on_kick(struct reel__inbox *ib, void (*fn)(void *arg), void *arg)
{
	ib->kick_fn = fn;
	ib->kick_arg = arg;
}

/* ---- posting ------------------------------------------------------------------- */

static void msg_ring_failed(uint64_t user_data, int res)
{
	struct reel__inbox *ib = (struct reel__inbox *)(uintptr_t)(user_data &
								~REEL__UD_MSG_RING_SENT);

	if (res >= 0)
		return;   /* a kernel without CQE_SKIP reports success too */
	if (res != -EOVERFLOW)
		__atomic_store_n(&msg_ring_off, 1, __ATOMIC_RELAXED);
	eventfd_write(ib->efd, 1);   /* owned: its eventfd outlives the loop */
}

/* May loop @me wake @ib's loop by MSG_RING? (@ib->lock held) */
static bool can_msg_ring(const struct reel__loop *me, const struct reel__inbox *ib)
{
	return me && me->current && me != ib->loop && ib->ring_fd >= 0 &&
	       ib->group && me->inbox && me->inbox->group == ib->group &&
	       !(me->disable & REEL_NO_MSG_RING) && !me->ring.broken &&
	       (me->ring.caps.ops & (1ull << IORING_OP_MSG_RING)) &&
	       !__atomic_load_n(&msg_ring_off, __ATOMIC_RELAXED);
}

/* Queue the MSG_RING on @me's ring: it goes out with @me's next submit,
 * at the latest one round of the ready queue from now. */
static void send_msg_ring(struct reel__loop *me, struct reel__inbox *ib, int ring_fd)
{
	struct io_uring_sqe *sqe = reel__ring_sqe(&me->ring);

	if (!sqe) {
		eventfd_write(ib->efd, 1);   /* broken ring */
		return;
	}
	io_uring_prep_msg_ring(sqe, ring_fd, 0, REEL__UD_INBOX, 0);
	if (me->ring.caps.features & IORING_FEAT_CQE_SKIP)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, REEL__UD_MSG_RING_SENT | (uint64_t)(uintptr_t)ib);
	me->ring.msg_ring_failed = msg_ring_failed;
	if (!me->in_pass)
		reel__pass_work(me);   /* out at this pass's end */
	else
		me->inbox->flush = true;   /* a message's run: out before the next pass */
}

int reel__xmsg_post(struct reel__inbox *ib, struct reel__xmsg *m)
{
	struct reel__loop *me = reel__loop_cur;
	enum wake how = WAKE_NONE;
	int ring_fd = -1;

	pthread_mutex_lock(&ib->lock);
	if (reel_unlikely(ib->closed)) {
		pthread_mutex_unlock(&ib->lock);
		return -ESHUTDOWN;
	}
	reel__list_add_tail(&m->node, &ib->msgs);
	/* Dekker, the poster's half: publish, then look (the file's top). */
	__atomic_store_n(&ib->pending, 1, __ATOMIC_SEQ_CST);
	if (!ib->wake_sent && __atomic_load_n(&ib->asleep, __ATOMIC_SEQ_CST)) {
		ib->wake_sent = true;
		if (can_msg_ring(me, ib)) {
			how = WAKE_MSG_RING;
			ring_fd = ib->ring_fd;
			ib->wakes_msg_ring++;
		} else {
			ib->wakes_eventfd++;
			/* Under the lock: the loop may free its own inbox
			 * as soon as we let go of it. */
			eventfd_write(ib->efd, 1);
			how = WAKE_EVENTFD;
		}
	}
	pthread_mutex_unlock(&ib->lock);
	if (how == WAKE_MSG_RING)
		send_msg_ring(me, ib, ring_fd);   /* owned: @ib and the fd outlive the loop */
	return 0;
}

void reel__inbox_kick(struct reel__inbox *ib)
{
	/* @kicked before @pending: a drain that clears @pending after this
	 * store of it sees @kicked (both seq_cst: reel__inbox_drain). */
	__atomic_store_n(&ib->kicked, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&ib->pending, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ib->asleep, __ATOMIC_SEQ_CST))
		eventfd_write(ib->efd, 1);
}

/* ---- the loop's side ---------------------------------------------------------------- */

/* Take everything posted, under the lock; with it, @pending and @wake_sent
 * go back to zero (the next post to a sleeping loop wakes it again). */
static void take_all(struct reel__inbox *ib, struct reel__list *got)
{
	pthread_mutex_lock(&ib->lock);
	__atomic_store_n(&ib->pending, 0, __ATOMIC_SEQ_CST);
	reel__list_splice_tail_init(&ib->msgs, got);
	ib->wake_sent = false;
	pthread_mutex_unlock(&ib->lock);
}

static void run_all(struct reel__list *got)
{
	struct reel__list *n;

	while ((n = reel__list_pop(got)) != NULL) {
		struct reel__xmsg *m = reel__container_of(n, struct reel__xmsg, node);

		m->run(m);   /* may free @m */
	}
}

void reel__inbox_drain(struct reel__inbox *ib)
{
	struct reel__list got;

	reel__list_init(&got);
	take_all(ib, &got);
	if (__atomic_exchange_n(&ib->kicked, 0, __ATOMIC_SEQ_CST) && ib->kick_fn)
		ib->kick_fn(ib->kick_arg);
	run_all(&got);
}

/* The eventfd read completed (inside a reap): re-armed before the next
 * block, never here (arming may submit, which may reap). */
static void on_read(struct reel__op *op)
{
	struct reel__inbox *ib = reel__container_of(op, struct reel__inbox, read);

	if (op->done) {
		ib->armed = false;
		ib->loop->ring.idle_ops--;
	}
}

/* Keep a read of the eventfd in the kernel while the loop blocks. It is an
 * idle op: it makes no pass end enter the kernel (ring.h). */
static int arm_read(struct reel__loop *l, struct reel__inbox *ib)
{
	struct io_uring_sqe *sqe;
	int err;

	sqe = reel__ring_op_sqe(&l->ring, &ib->read, &err);
	if (!sqe)
		return err;
	io_uring_prep_read(sqe, ib->efd, &ib->count, sizeof(ib->count), 0);
	io_uring_sqe_set_data64(sqe, ib->read.user_data);
	ib->read.opcode = IORING_OP_READ;
	ib->read.complete = on_read;
	ib->read.waiter = NULL;
	ib->armed = true;
	l->ring.idle_ops++;
	return 0;
}

/* The brief poll: spin on @pending for up to @ib->poll_ns. */
static bool poll_inbox(const struct reel__inbox *ib)
{
	uint64_t end = reel__mono_ns() + ib->poll_ns;

	do {
		for (int i = 0; i < SPIN_BATCH; i++) {
			if (reel__inbox_pending(ib))
				return true;
			__builtin_ia32_pause();
		}
	} while (reel__mono_ns() < end);
	return false;
}

bool reel__inbox_before_block(struct reel__loop *l)
{
	struct reel__inbox *ib = l->inbox;

	if (reel__inbox_listening(ib) && !ib->armed && arm_read(l, ib) != 0) {
		/* No op slot for the read (out of memory): look again in a
		 * millisecond rather than sleep through a post. */
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
		return true;
	}
	if (ib->poll_ns) {
		/* What we queued goes out first: a wake-up of the peer we
		 * now poll for the answer of, above all. */
		if (io_uring_sq_ready(&l->ring.ring) && reel__ring_poll(&l->ring) &&
		    !reel__list_empty(&l->ready))
			return true;
		if (poll_inbox(ib)) {
			reel__inbox_drain(ib);
			return true;
		}
	}
	/* Dekker, the loop's half: announce, then look (the file's top). */
	__atomic_store_n(&ib->asleep, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ib->pending, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&ib->asleep, 0, __ATOMIC_SEQ_CST);
		reel__inbox_drain(ib);
		return true;
	}
	return false;
}

void reel__inbox_after_wait(struct reel__inbox *ib)
{
	__atomic_store_n(&ib->asleep, 0, __ATOMIC_SEQ_CST);
	if (reel__inbox_pending(ib))
		reel__inbox_drain(ib);
}

/* ---- the loop's life ------------------------------------------------------------------ */

int reel__inbox_loop_init(struct reel__loop *l)
{
	struct reel__inbox *ib = adopt_next;
	int err = 0;

	adopt_next = NULL;
	if (!ib) {
		ib = reel__inbox_new(0, false, &err);
		if (!ib)
			return err;
	}
	ib->loop = l;
	ib->valgrind = RUNNING_ON_VALGRIND != 0;
	l->inbox = ib;
	if (ib->owned && !ib->no_msg_ring && !(l->disable & REEL_NO_MSG_RING) &&
	    (l->ring.caps.ops & (1ull << IORING_OP_MSG_RING))) {
		/* Close-on-exec: a child must not keep the ring alive. */
		int fd = fcntl(l->ring.ring.ring_fd, F_DUPFD_CLOEXEC, 0);

		pthread_mutex_lock(&ib->lock);
		ib->ring_fd = fd < 0 ? -1 : fd;   /* none: eventfd wake-ups */
		pthread_mutex_unlock(&ib->lock);
	}
	return 0;
}

void reel__inbox_loop_term(struct reel__loop *l)
{
	struct reel__inbox *ib = l->inbox;
	struct reel__list got;

	/* Wake-ups the last fibers queued (MSG_RING to peers) go out now. */
	reel__ring_poll(&l->ring);
	reel__list_init(&got);
	pthread_mutex_lock(&ib->lock);
	ib->closed = true;
	pthread_mutex_unlock(&ib->lock);
	take_all(ib, &got);
	run_all(&got);   /* reel__loop_closed(l): they refuse, and answer */
	if (ib->armed) {
		eventfd_write(ib->efd, 1);
		while (ib->armed)
			reel__ring_wait(&l->ring, UINT64_MAX);
	}
	reel__ring_poll(&l->ring);
	ib->loop = NULL;
	if (!ib->owned)
		reel__inbox_free(ib);
}
