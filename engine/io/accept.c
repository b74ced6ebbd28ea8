/*
 * accept.c - struct reel_acceptor: a multishot accept with a queue.
 *
 * One IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT posts a CQE per
 * connection until it fails. The completions arrive whether or not a fiber
 * is waiting, so each accepted descriptor goes into the acceptor's queue and
 * is handed out by reel_acceptor_accept; the queue grows as needed, and a
 * descriptor that finds no memory to be queued in is closed (the peer sees
 * a reset) rather than leaked.
 *
 * The queue is bounded (REEL_ACCEPTOR_QUEUE): a server that stops taking
 * connections (it is at its limit) must not keep collecting descriptors.
 * Reaching the bound cancels the multishot; the next reel_acceptor_accept
 * on an empty queue arms it again, and meanwhile new connections wait in
 * the listen backlog, where the kernel applies its own back-pressure. The
 * kernel's multishot accept drains the backlog in one go, so the bound is
 * passed by at most one backlog's worth before the cancel lands.
 *
 * EMFILE and ENFILE end the multishot. The acceptor then sleeps - 1 ms,
 * doubling to 128 ms while the shortage lasts - and re-arms; the kernel keeps
 * the waiting connections in the listen backlog meanwhile. A busy loop
 * retrying at once would burn a core until descriptors free up.
 *
 * The op belongs to the acceptor, not to the fiber that armed it: any fiber
 * may accept. A fiber that ends while the acceptor's record is on its own
 * stack and still armed trips the docs/design.md §5 check (engine/core/task.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1U << 0)
#endif

struct acceptor {
	struct reel__op op;         /* the multishot accept while armed */
	struct reel__fiber *waiter; /* parked in reel_acceptor_accept */
	int *queue;                 /* accepted, not yet handed out (FIFO) */
	unsigned head, count, cap;
	int fd;
	int error;                  /* the error that ended the multishot */
	unsigned shortage;          /* EMFILE/ENFILE in a row */
	bool armed;
	bool capped;                /* cancelled because the queue is full */
	bool single;                /* no multishot accept in this kernel */
	uint64_t backoffs;
};

_Static_assert(sizeof(struct acceptor) <= sizeof(struct reel_acceptor),
	       "struct reel_acceptor's opaque storage is too small");

static struct acceptor *priv(struct reel_acceptor *acc)
{
	return (struct acceptor *)(void *)acc->private_;
}

int reel_acceptor_init(struct reel_acceptor *acc, int fd)
{
	struct acceptor *a;

	if (!acc || fd < 0)
		return -EINVAL;
	a = priv(acc);
	*a = (struct acceptor){ .fd = fd };
	return 0;
}

uint64_t reel_acceptor_backoffs(const struct reel_acceptor *acc)
{
	return ((const struct acceptor *)(const void *)acc->private_)->backoffs;
}

static bool enqueue(struct acceptor *a, int fd)
{
	if (a->count == a->cap) {
		unsigned cap = a->cap ? a->cap * 2 : 16;
		int *q = malloc(cap * sizeof(*q));

		if (!q)
			return false;
		for (unsigned i = 0; i < a->count; i++)
			q[i] = a->queue[(a->head + i) % a->cap];
		free(a->queue);
		a->queue = q;
		a->cap = cap;
		a->head = 0;
	}
	a->queue[(a->head + a->count++) % a->cap] = fd;
	return true;
}

static int dequeue(struct acceptor *a)
{
	int fd = a->queue[a->head];

	a->head = (a->head + 1) % a->cap;
	a->count--;
	return fd;
}

/* On the loop, for each CQE of the multishot accept. */
static void on_cqe(struct reel__op *op)
{
	struct acceptor *a = reel__container_of(op, struct acceptor, op);

	if (op->res >= 0 && !enqueue(a, op->res))
		close(op->res);   /* no memory to queue it: refuse, never leak */
	if (op->done) {
		a->armed = false;
		reel__op_long_lived(-1);
		if (op->res < 0 && !(a->capped && op->res == -ECANCELED))
			a->error = op->res;
		a->capped = false;
	} else if (a->count >= REEL_ACCEPTOR_QUEUE && !a->capped) {
		a->capped = true;
		reel__op_cancel(reel__loop_cur, op);
	}
	if (a->waiter)
		reel__wake(a->waiter, 0);
}

static int arm(struct acceptor *a)
{
	struct reel__loop *l = reel__running_loop();
	struct io_uring_sqe *sqe;
	int err;

	sqe = reel__op_sqe(l, &a->op, &err);
	if (!sqe)
		return err;
	io_uring_prep_accept(sqe, a->fd, NULL, NULL, SOCK_CLOEXEC);
	sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
	io_uring_sqe_set_data64(sqe, a->op.user_data);
	a->op.opcode = IORING_OP_ACCEPT;
	a->op.complete = on_cqe;
	a->op.waiter = reel__self_fiber();
	reel__op_long_lived(1);
	a->armed = true;
	return 0;
}

/* The multishot ended with @err: back off, give up on multishot, or fail. */
static int handle_error(struct acceptor *a, int err)
{
	unsigned shift;

	if (err == -EMFILE || err == -ENFILE) {
		shift = a->shortage < 7 ? a->shortage : 7;
		a->shortage++;
		a->backoffs++;
		return reel_sleep((1000000ull) << shift);   /* 1 ms .. 128 ms */
	}
	if (err == -EINVAL && !a->single) {
		a->single = true;   /* an old kernel without IORING_ACCEPT_MULTISHOT */
		return 0;
	}
	return err;
}

int reel_acceptor_accept(struct reel_acceptor *acc)
{
	struct reel__loop *l;
	struct acceptor *a;
	int r;
	int rc = reel__enter(acc, &l);

	if (rc)
		return rc;
	a = priv(acc);
	for (;;) {
		if (a->count) {
			a->shortage = 0;
			return dequeue(a);
		}
		if (a->error) {
			int err = a->error;

			a->error = 0;
			r = handle_error(a, err);
			if (r < 0)
				return r;
			continue;
		}
		if (a->single) {
			r = reel_accept(a->fd, NULL, NULL, 0);
			if (r >= 0 || (r != -EMFILE && r != -ENFILE))
				return r;
			a->error = r;
			continue;
		}
		r = reel__interrupt_pending(reel__self_fiber());
		if (r)
			return r;
		if (!a->armed && (r = arm(a)) < 0)   /* (count is 0 here) */
			return r;
		a->waiter = reel__self_fiber();
		r = reel__park(l, REEL__PARK_IO, true);
		a->waiter = NULL;
		if (r < 0)
			return r;   /* the multishot stays armed; nothing is lost */
	}
}

int reel_acceptor_close(struct reel_acceptor *acc)
{
	struct reel__loop *l;
	struct acceptor *a;
	int rc = reel__enter(acc, &l);

	if (rc)
		return rc;
	a = priv(acc);
	if (a->armed) {
		reel__op_cancel(l, &a->op);
		while (a->armed) {
			a->waiter = reel__self_fiber();
			reel__park(l, REEL__PARK_IO_CANCEL, false);
		}
		a->waiter = NULL;
	}
	while (a->count)
		close(dequeue(a));
	free(a->queue);
	*a = (struct acceptor){ .fd = -1 };
	return 0;
}
