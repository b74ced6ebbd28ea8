/*
 * bufring.c - receiving into a shared pool of buffers.
 *
 * A provided buffer ring (5.19+) is an array of buffer descriptors shared
 * with the kernel: when data arrives for a multishot receive, the kernel
 * takes the next buffer, fills it and posts a CQE naming the buffer's id.
 * A server with 10k mostly idle connections then needs buffers for the data
 * in flight only, and one SQE per connection for its whole life instead of
 * one per receive.
 *
 * Ownership of a buffer moves: pool (in the kernel's ring) -> receiver's
 * queue (CQE arrived) -> caller (reel_receiver_next) -> pool
 * (reel_receiver_release appends it to the ring again). in_kernel counts the
 * first state; the buffer ring is single-producer (us, on the loop's thread)
 * and single-consumer (the kernel), with liburing's release store on the
 * tail as the only barrier.
 *
 * When the ring runs dry the kernel ends the multishot with -ENOBUFS; the
 * receiver re-arms at its next call if buffers came back, else that call
 * says -ENOBUFS. Kernels without buffer rings (or REEL_DISABLE=buf_ring) get
 * the same API over one plain recv per call into a free pool buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <reel_io.h>

#include "../reelimpl.h"

struct reel_bufpool {
	struct reel__loop *loop;
	struct io_uring_buf_ring *br;  /* NULL: the recv fallback */
	char *mem;                     /* count * size bytes of buffers */
	size_t size;
	unsigned count;
	unsigned in_kernel;            /* buffers the kernel may fill */
	unsigned users;                /* receivers using the pool */
	uint16_t bgid;
	uint16_t *free_ids;            /* fallback: free buffers (a stack) */
	unsigned nfree;
};

struct chunk {
	int32_t res;                   /* bytes (> 0), 0 = end of stream, -errno */
	uint16_t bid;
};

struct receiver {
	struct reel__op op;            /* the multishot receive while armed */
	struct reel_bufpool *pool;
	struct reel__fiber *waiter;    /* parked in reel_receiver_next */
	struct chunk *queue;           /* received, not yet handed out */
	unsigned head, count;          /* capacity: pool->count + 1 */
	int fd;
	bool armed;
	bool dry;                      /* the last multishot ended with -ENOBUFS */
	bool eof;
};

_Static_assert(sizeof(struct receiver) <= sizeof(struct reel_receiver),
	       "struct reel_receiver's opaque storage is too small");

static struct receiver *priv(struct reel_receiver *rx)
{
	return (struct receiver *)(void *)rx->private_;
}

static char *buffer(const struct reel_bufpool *p, unsigned bid)
{
	return p->mem + (size_t)bid * p->size;
}

static void give_to_kernel(struct reel_bufpool *p, unsigned bid)
{
	io_uring_buf_ring_add(p->br, buffer(p, bid), (unsigned)p->size, (unsigned short)bid,
			      io_uring_buf_ring_mask(p->count), 0);
	io_uring_buf_ring_advance(p->br, 1);
	p->in_kernel++;
}

/* Register a buffer ring of @p->count entries; false: use the fallback. */
static bool setup_kernel_ring(struct reel_bufpool *p, unsigned disable)
{
	size_t len = p->count * sizeof(struct io_uring_buf);
	struct io_uring_buf_reg reg = { 0 };

	if (disable & REEL_NO_BUF_RING)
		return false;
	p->br = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->br == MAP_FAILED) {
		p->br = NULL;
		return false;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)p->br;
	reg.ring_entries = p->count;
	reg.bgid = p->bgid;
	if (io_uring_register_buf_ring(reel__loop_uring(p->loop), &reg, 0) != 0) {
		munmap(p->br, len);
		p->br = NULL;
		return false;
	}
	io_uring_buf_ring_init(p->br);
	for (unsigned i = 0; i < p->count; i++)
		give_to_kernel(p, i);
	return true;
}

struct reel_bufpool *reel_bufpool_create(unsigned count, size_t size, int *err)
{
	struct reel__loop *l = reel__running_loop();
	struct reel_bufpool *p;
	int dummy;

	err = err ? err : &dummy;
	if (!l) {
		*err = -EPERM;
		return NULL;
	}
	if (count == 0 || count > 32768 || (count & (count - 1)) || size == 0 ||
	    size > ((size_t)1 << 30)) {
		*err = -EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	*p = (struct reel_bufpool){ .loop = l, .size = size, .count = count,
				    .bgid = reel__loop_new_bgid(l) };
	p->mem = mmap(NULL, count * size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->mem == MAP_FAILED)
		goto free_pool;
	if (!setup_kernel_ring(p, reel__loop_disabled(l))) {
		p->free_ids = malloc(count * sizeof(*p->free_ids));
		if (!p->free_ids)
			goto unmap_mem;
		for (unsigned i = 0; i < count; i++)
			p->free_ids[p->nfree++] = (uint16_t)(count - 1 - i);
	}
	*err = 0;
	return p;

unmap_mem:
	munmap(p->mem, count * size);
free_pool:
	free(p);
nomem:
	*err = -ENOMEM;
	return NULL;
}

int reel_bufpool_destroy(struct reel_bufpool *p)
{
	if (!reel__self_fiber())
		return -EPERM;
	if (!p)
		return -EINVAL;
	if (p->users)
		return -EBUSY;
	if (p->br) {
		io_uring_unregister_buf_ring(reel__loop_uring(p->loop), p->bgid);
		munmap(p->br, p->count * sizeof(struct io_uring_buf));
	}
	munmap(p->mem, p->count * p->size);
	free(p->free_ids);
	free(p);
	return 0;
}

int reel_bufpool_kernel_ring(const struct reel_bufpool *p)
{
	return p && p->br;
}

int reel_receiver_init(struct reel_receiver *rx, int fd, struct reel_bufpool *pool)
{
	struct receiver *r;

	if (!rx || !pool || fd < 0)
		return -EINVAL;
	r = priv(rx);
	*r = (struct receiver){ .pool = pool, .fd = fd };
	r->queue = malloc((pool->count + 1) * sizeof(*r->queue));
	if (!r->queue)
		return -ENOMEM;
	pool->users++;
	return 0;
}

static void push(struct receiver *r, int32_t res, uint16_t bid)
{
	unsigned cap = r->pool->count + 1;

	r->queue[(r->head + r->count++) % cap] = (struct chunk){ res, bid };
}

static struct chunk pop(struct receiver *r)
{
	struct chunk c = r->queue[r->head];

	r->head = (r->head + 1) % (r->pool->count + 1);
	r->count--;
	return c;
}

/* On the loop, for each CQE of the multishot receive. */
static void on_cqe(struct reel__op *op)
{
	struct receiver *r = reel__container_of(op, struct receiver, op);

	if (op->cqe_flags & IORING_CQE_F_BUFFER) {
		r->pool->in_kernel--;
		if (op->res > 0)
			reel__io_defined(buffer(r->pool, op->cqe_flags >> IORING_CQE_BUFFER_SHIFT),
					 (size_t)op->res);
		push(r, op->res, (uint16_t)(op->cqe_flags >> IORING_CQE_BUFFER_SHIFT));
	} else if (op->res == 0 || (op->res < 0 && op->res != -ENOBUFS &&
				    op->res != -ECANCELED)) {
		push(r, op->res, 0);   /* end of stream, or the socket's error */
	}
	if (op->done) {
		r->armed = false;
		r->dry = op->res == -ENOBUFS;
		reel__op_long_lived(-1);
	}
	if (r->waiter)
		reel__wake(r->waiter, 0);
}

static int arm(struct receiver *r)
{
	struct reel__loop *l = reel__running_loop();
	struct io_uring_sqe *sqe;
	int err;

	sqe = reel__op_sqe(l, &r->op, &err);
	if (!sqe)
		return err;
	io_uring_prep_recv_multishot(sqe, r->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = r->pool->bgid;
	io_uring_sqe_set_data64(sqe, r->op.user_data);
	r->op.opcode = IORING_OP_RECV;
	r->op.complete = on_cqe;
	r->op.waiter = reel__self_fiber();
	reel__op_long_lived(1);
	r->armed = true;
	r->dry = false;
	return 0;
}

/* Without a kernel ring: one recv into a free buffer of the pool. */
static ssize_t next_by_recv(struct receiver *r, const void **data)
{
	struct reel_bufpool *p = r->pool;
	uint16_t bid;
	ssize_t n;

	if (!p->nfree)
		return -ENOBUFS;
	bid = p->free_ids[--p->nfree];
	n = reel_recv(r->fd, buffer(p, bid), p->size, 0);
	if (n <= 0) {
		p->free_ids[p->nfree++] = bid;
		r->eof = n == 0;
		return n;
	}
	*data = buffer(p, bid);
	return n;
}

ssize_t reel_receiver_next(struct reel_receiver *rx, const void **data)
{
	struct reel__loop *l;
	struct receiver *r;
	int err = reel__enter(rx && data ? rx : NULL, &l);

	if (err)
		return err;
	r = priv(rx);
	for (;;) {
		if (r->count) {
			struct chunk c = pop(r);

			if (c.res > 0)
				*data = buffer(r->pool, c.bid);
			r->eof = c.res == 0;
			return c.res;
		}
		if (r->eof)
			return 0;
		if (!r->pool->br)
			return next_by_recv(r, data);
		err = reel__interrupt_pending(reel__self_fiber());
		if (err)
			return err;
		if (!r->armed) {
			if (r->dry && r->pool->in_kernel == 0)
				return -ENOBUFS;
			err = arm(r);
			if (err)
				return err;
		}
		r->waiter = reel__self_fiber();
		err = reel__park(l, REEL__PARK_IO, true);
		r->waiter = NULL;
		if (err)
			return err;   /* the receive stays armed; nothing is lost */
	}
}

void reel_receiver_release(struct reel_receiver *rx, const void *data)
{
	struct reel_bufpool *p = priv(rx)->pool;
	unsigned bid = (unsigned)(((const char *)data - p->mem) / (ptrdiff_t)p->size);

	if (p->br)
		give_to_kernel(p, bid);
	else
		p->free_ids[p->nfree++] = (uint16_t)bid;
}

int reel_receiver_close(struct reel_receiver *rx)
{
	struct reel__loop *l;
	struct receiver *r;
	int rc = reel__enter(rx, &l);

	if (rc)
		return rc;
	r = priv(rx);
	if (r->armed) {
		reel__op_cancel(l, &r->op);
		while (r->armed) {
			r->waiter = reel__self_fiber();
			reel__park(l, REEL__PARK_IO_CANCEL, false);
		}
		r->waiter = NULL;
	}
	while (r->count) {
		struct chunk c = pop(r);

		if (c.res > 0)
			give_to_kernel(r->pool, c.bid);
	}
	free(r->queue);
	r->pool->users--;
	*r = (struct receiver){ .fd = -1 };
	return 0;
}
