/*
 * op.c - parking I/O: the one path every ring operation of a fiber takes.
 *
 * The caller prepares an SQE tied to an operation record in its own frame;
 * reel__op_wait parks until the record's final CQE. When the fiber is
 * cancelled or its deadline passes first, it asks the kernel to cancel the
 * operation (IORING_OP_ASYNC_CANCEL) and keeps waiting, uninterruptibly, for
 * the original CQE (docs/design.md §5): the kernel may be writing into the caller's
 * buffer until then. If the operation completed anyway, its result wins -
 * bytes read, an accepted fd are returned, never dropped.
 */
#include <assert.h>
#include <errno.h>

#include "internal.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, len) ((void)(p), (void)(len))
#endif

void reel__io_defined(const void *p, size_t len)
{
	if (p && len)
		VALGRIND_MAKE_MEM_DEFINED(p, len);
}

void reel__iov_defined(const struct iovec *iov, int iovcnt, size_t len)
{
	for (int i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		reel__io_defined(iov[i].iov_base, n);
		len -= n;
	}
}

static void op_complete(struct reel__op *op)
{
	struct reel__fiber *f = op->waiter;

	if (op->done) {
		f->inflight--;
		reel__wake(f, 0);
	}
}

int reel__op_wait(struct reel__loop *l, struct reel__op *op)
{
	struct reel__fiber *f = l->current;
	int r;

	op->complete = op_complete;
	op->waiter = f;
	f->inflight++;
	reel__pass_work(l);
	r = reel__park(l, REEL__PARK_IO, true);
	if (!op->done) {
		/* Only an interruption wakes us before the CQE: cancel the
		 * operation and wait, uninterruptibly, for the kernel to let go. */
		assert(r < 0);
		reel__ring_cancel(&l->ring, op);   /* may reap: the CQE can be in */
		while (!op->done)
			reel__park(l, REEL__PARK_IO_CANCEL, false);
	}
	/* Our cancel won: report why we cancelled. A request the kernel had
	 * already handed to an io-wq worker (a blocking read) is interrupted
	 * there and reports -EINTR rather than -ECANCELED. */
	if (r < 0 && (op->res == -ECANCELED || op->res == -EINTR))
		return r;
	if (op->res == -ECANCELED || op->res == -EINTR)
		return -EBADF;   /* cancelled by reel_close of its descriptor */
	return op->res;
}

struct io_uring_sqe *reel__io_begin(struct reel__io *io)
{
	struct reel__loop *l = reel__loop_cur;

	io->loop = l;
	if (!l || !l->current) {
		io->err = -EPERM;
		return NULL;
	}
	io->err = reel__interrupt_now(l->current);
	if (io->err)
		return NULL;
	return reel__ring_op_sqe(&l->ring, &io->op, &io->err);
}

int reel__io_end(struct reel__io *io, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, io->op.user_data);
	io->op.opcode = sqe->opcode;
	return reel__op_wait(io->loop, &io->op);
}

int reel_nop(void)
{
	struct reel__io io;
	struct io_uring_sqe *sqe = reel__io_begin(&io);

	if (!sqe)
		return io.err;
	io_uring_prep_nop(sqe);
	return reel__io_end(&io, sqe);
}

struct io_uring_sqe *reel__op_sqe(struct reel__loop *l, struct reel__op *op, int *err)
{
	struct io_uring_sqe *sqe = reel__ring_op_sqe(&l->ring, op, err);

	if (sqe)
		reel__pass_work(l);
	return sqe;
}

void reel__op_cancel(struct reel__loop *l, struct reel__op *op)
{
	reel__ring_cancel(&l->ring, op);
	reel__pass_work(l);
}

void reel__op_long_lived(int delta)
{
	reel__loop_cur->ring.long_lived += (uint32_t)delta;
}

void reel__loop_reap(struct reel__loop *l)
{
	reel__ring_wait(&l->ring, UINT64_MAX);
}

bool reel__has_op(const struct reel__loop *l, unsigned op)
{
	return op < 64 && (l->ring.caps.ops & ((uint64_t)1 << op));
}

bool reel__lacks_op(unsigned op)
{
	struct reel__loop *l = reel__loop_cur;

	return l && l->current && !reel__has_op(l, op);
}
