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
 * Ownership of a buffer moves: pool (in the kernel's ring, or the free
 * stack) -> receiver's queue (CQE arrived) -> caller (reel_receiver_next)
 * -> pool (reel_receiver_release appends it to the ring again). Each buffer
 * records its state and owning receiver (pool->state, pool->owner), so a
 * release of a buffer that is not handed out to that receiver (twice, or
 * another receiver's) is refused with -EINVAL instead of putting one buffer
 * in the ring twice, where two receives would then share it. in_kernel
 * counts the first state; the buffer ring is single-producer (us, on the
 * loop's thread) and single-consumer (the kernel), with liburing's release
 * store on the tail as the only barrier.
 *
 * Fairness (docs/io.md, "Shared buffer pools"): a multishot receive keeps
 * taking buffers for as long as its peer sends, whether its owner reads
 * them or not, so one receiver may hold at most r->cap buffers (queued +
 * handed out; default count / 16 within 2..8). Reaching it cancels the
 * multishot; the next reel_receiver_next below the cap arms it again, and
 * meanwhile the peer's data waits in the socket (TCP flow control). The
 * kernel may have filled a few more in the pass before the cancel reached
 * it: those are kept, in order, never dropped. A receiver at its cap with
 * nothing queued answers -ENOBUFS: only its own caller can release, so
 * waiting could never end.
 *
 * When the pool runs dry (the kernel ended the multishot with -ENOBUFS, or
 * the fallback has no free buffer), the caller parks on the pool's wait
 * queue; a buffer that comes back wakes every waiter, which then re-arm
 * (see put_back for why not just one). Rejected: answering -ENOBUFS at once (the old behaviour), which
 * left callers nothing to wait on but a yield loop spinning at 100% CPU.
 *
 * The kernel's ring holds only part of a large pool: the ring is FIFO, so a
 * buffer given back waits behind every other one there, and a pool of 2048
 * buffers all in the ring cycles every message through 2048 different pages
 * - 8 MiB of cache and TLB misses for the kernel's copy and the caller's
 * read (an echo server at 500 connections spent ~5% more CPU per message
 * with them). So the ring is kept at kernel_target() buffers (twice the
 * receivers, plus slack) and the rest wait on a stack of free buffers, most
 * recently used on top; each buffer the kernel takes is replaced from that
 * stack at once (take_buffer), so the ring refills between two enters. A
 * burst that empties the ring within one enter ends some multishots with
 * -ENOBUFS; they re-arm on the refilled ring as any dry receiver does.
 *
 * Kernels without buffer rings (or REEL_DISABLE=buf_ring) get the same API
 * over plain receives: a non-blocking recv into a free pool buffer, and a
 * poll for input when there is nothing to read, so an idle connection never
 * sits on a buffer that a busy one needs.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <reel_io.h>

#include "../reelimpl.h"

#define RECEIVER_MAGIC 0x72637672u   /* "rcvr" */

enum buf_state {
	BUF_FREE,                      /* in the kernel's ring or the free stack */
	BUF_QUEUED,                    /* in its owner's queue */
	BUF_OUT,                       /* handed out by reel_receiver_next */
};

struct receiver;

struct reel_bufpool {
	struct reel__loop *loop;
	struct io_uring_buf_ring *br;  /* NULL: the recv fallback */
	char *mem;                     /* count * size bytes of buffers */
	size_t size;
	unsigned count;
	unsigned in_kernel;            /* buffers the kernel may fill */
	unsigned users;                /* receivers using the pool */
	uint16_t bgid;
	uint16_t *free_ids;            /* free buffers outside the kernel's ring (a stack) */
	unsigned nfree;
	uint8_t *state;                /* enum buf_state, per buffer */
	struct receiver **owner;       /* per buffer: its receiver unless FREE */
	struct reel__list waiters;     /* reel__waiter: parked for a buffer */
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
	unsigned held;                 /* buffers queued + handed out */
	unsigned cap;                  /* most buffers @held may reach */
	uint32_t magic;                /* RECEIVER_MAGIC between init and close */
	int fd;
	bool armed;
	bool capped;                   /* cancel sent: @held reached @cap */
	bool dry;                      /* the last multishot ended with -ENOBUFS */
	bool eof;
};

_Static_assert(sizeof(struct receiver) <= sizeof(struct reel_receiver),
	       "struct reel_receiver's opaque storage is too small");

/* The receiver behind @rx, or NULL when @rx is NULL or not initialised
 * (never, or closed). */
static struct receiver *priv(struct reel_receiver *rx)
{
	struct receiver *r = (struct receiver *)(void *)rx;

	return rx && r->magic == RECEIVER_MAGIC ? r : NULL;
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

/* How many buffers the kernel's ring should hold: enough for two receives
 * per receiver between two enters, and never more than the pool. */
static unsigned kernel_target(const struct reel_bufpool *p)
{
	unsigned want = 2 * p->users + 32;

	return want < p->count ? want : p->count;
}

/* Fill the kernel's ring up to its target from the free stack, hottest
 * first. */
static void top_up(struct reel_bufpool *p)
{
	unsigned target = kernel_target(p);

	while (p->in_kernel < target && p->nfree)
		give_to_kernel(p, p->free_ids[--p->nfree]);
}

/* @bid goes back to the pool: the kernel's ring or the free stack; every
 * waiter for a buffer is woken to try again. Not just one: the one woken
 * may never take this buffer (it is cancelled or times out before it runs;
 * with a kernel ring its re-armed receive takes a buffer only when data
 * arrives, and may end with its peer's reset instead), and the others
 * would then sleep on beside a free buffer. Those that find none park
 * again; the herd is only as large as the pool was short. */
static void put_back(struct reel_bufpool *p, unsigned bid)
{
	p->state[bid] = BUF_FREE;
	p->owner[bid] = NULL;
	if (p->br && p->in_kernel < kernel_target(p))
		give_to_kernel(p, bid);
	else
		p->free_ids[p->nfree++] = (uint16_t)bid;
	reel__waitq_wake_all(&p->waiters, 0);
}

/* Park the caller until a buffer comes back to @p (or an interruption). */
static int wait_for_buffer(struct reel__loop *l, struct reel_bufpool *p)
{
	struct reel__waiter w = { 0 };

	return reel__waitq_park(l, &p->waiters, &w, REEL__PARK_IO, REEL__FOREVER, true);
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
	top_up(p);
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
	if (reel__fault(REEL__FAULT_BUFPOOL_ENOMEM))
		goto nomem;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	*p = (struct reel_bufpool){ .loop = l, .size = size, .count = count,
				    .bgid = reel__loop_new_bgid(l) };
	reel__waitq_init(&p->waiters);
	p->state = calloc(count, sizeof(*p->state));
	p->owner = calloc(count, sizeof(*p->owner));
	if (!p->state || !p->owner)
		goto free_pool;
	p->mem = mmap(NULL, count * size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->mem == MAP_FAILED)
		goto free_pool;
	p->free_ids = malloc(count * sizeof(*p->free_ids));
	if (!p->free_ids)
		goto unmap_mem;
	for (unsigned i = 0; i < count; i++)
		p->free_ids[p->nfree++] = (uint16_t)(count - 1 - i);
	setup_kernel_ring(p, reel__loop_disabled(l));   /* false: the recv fallback */
	*err = 0;
	return p;

unmap_mem:
	munmap(p->mem, count * size);
free_pool:
	free(p->state);
	free(p->owner);
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
	free(p->state);
	free(p->owner);
	free(p);
	return 0;
}

int reel_bufpool_kernel_ring(const struct reel_bufpool *p)
{
	return p && p->br;
}

static unsigned default_cap(const struct reel_bufpool *p)
{
	unsigned cap = p->count / 16;

	cap = cap < 2 ? 2 : cap > 8 ? 8 : cap;

	return cap < p->count ? cap : p->count;
}

int reel_receiver_init(struct reel_receiver *rx, int fd, struct reel_bufpool *pool)
{
	struct receiver *r;

	if (!rx || !pool || fd < 0)
		return -EINVAL;
	r = (struct receiver *)(void *)rx;
	*r = (struct receiver){ .pool = pool, .fd = fd, .cap = default_cap(pool) };
	r->queue = malloc((pool->count + 1) * sizeof(*r->queue));
	if (!r->queue)
		return -ENOMEM;
	r->magic = RECEIVER_MAGIC;
	pool->users++;
	if (pool->br)
		top_up(pool);
	return 0;
}

int reel_receiver_set_cap(struct reel_receiver *rx, unsigned cap)
{
	struct receiver *r = priv(rx);

	if (!r || cap > r->pool->count)
		return -EINVAL;
	r->cap = cap ? cap : default_cap(r->pool);
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

/* A CQE filled buffer @bid: it joins @r's queue. At the cap, the multishot
 * is cancelled (once); what it still posts is kept. */
static void take_buffer(struct receiver *r, struct reel__op *op, unsigned bid)
{
	struct reel_bufpool *p = r->pool;

	p->in_kernel--;
	top_up(p);   /* the ring refills before the next enter */
	p->state[bid] = BUF_QUEUED;
	p->owner[bid] = r;
	r->held++;
	reel__io_defined(buffer(p, bid), (size_t)op->res);
	push(r, op->res, (uint16_t)bid);
	if (r->held >= r->cap && !op->done && !r->capped) {
		r->capped = true;
		reel__op_cancel(p->loop, op);
	}
}

/* On the loop, for each CQE of the multishot receive. */
static void on_cqe(struct reel__op *op)
{
	struct receiver *r = reel__container_of(op, struct receiver, op);

	unsigned bid = op->cqe_flags >> IORING_CQE_BUFFER_SHIFT;

	if ((op->cqe_flags & IORING_CQE_F_BUFFER) && op->res > 0) {
		take_buffer(r, op, bid);
	} else {
		if (op->cqe_flags & IORING_CQE_F_BUFFER) {   /* nothing in it */
			r->pool->in_kernel--;
			put_back(r->pool, bid);
		}
		if (op->res == 0 || (op->res < 0 && op->res != -ENOBUFS &&
				     op->res != -ECANCELED))
			push(r, op->res, 0);   /* end of stream, or the socket's error */
	}
	if (op->done) {
		r->armed = false;
		r->capped = false;
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
	r->capped = false;
	r->dry = false;
	return 0;
}

/* Without a kernel ring: a non-blocking recv into a free buffer of the
 * pool; with nothing to read, the buffer goes back and we poll for input,
 * so an idle connection never holds a buffer. */
static ssize_t next_by_recv(struct reel__loop *l, struct receiver *r, const void **data)
{
	struct reel_bufpool *p = r->pool;
	ssize_t n;
	int err;

	for (;;) {
		uint16_t bid;

		if (r->held >= r->cap)
			return -ENOBUFS;
		if (!p->nfree) {
			err = wait_for_buffer(l, p);
			if (err)
				return err;
			continue;
		}
		bid = p->free_ids[--p->nfree];
		p->state[bid] = BUF_OUT;
		p->owner[bid] = r;
		n = reel_recv(r->fd, buffer(p, bid), p->size, MSG_DONTWAIT);
		if (n > 0) {
			r->held++;
			*data = buffer(p, bid);
			return n;
		}
		put_back(p, bid);
		if (n != -EAGAIN) {
			r->eof = n == 0;
			return n;
		}
		n = reel_poll(r->fd, POLLIN);
		if (n < 0)
			return n;
	}
}

/* The next queued chunk: its buffer goes to the caller. */
static ssize_t hand_out(struct receiver *r, const void **data)
{
	struct chunk c = pop(r);

	if (c.res > 0) {
		r->pool->state[c.bid] = BUF_OUT;
		*data = buffer(r->pool, c.bid);
	}
	r->eof = c.res == 0;
	return c.res;
}

ssize_t reel_receiver_next(struct reel_receiver *rx, const void **data)
{
	struct reel__loop *l;
	struct receiver *r = priv(rx);
	int err = reel__enter(rx && data ? rx : NULL, &l);

	if (err)
		return err;
	if (!r)
		return -EINVAL;
	for (;;) {
		if (r->count)
			return hand_out(r, data);
		if (r->eof)
			return 0;
		if (!r->pool->br)
			return next_by_recv(l, r, data);
		err = reel__interrupt_pending(reel__self_fiber());
		if (err)
			return err;
		if (!r->armed) {
			if (r->held >= r->cap)
				return -ENOBUFS;   /* all handed out: only a release helps */
			if (r->dry && r->pool->in_kernel == 0) {
				err = wait_for_buffer(l, r->pool);
				if (err)
					return err;
				continue;
			}
			if (!r->dry && reel__fault(REEL__FAULT_ENOBUFS)) {
				/* As if the last multishot had ended with
				 * -ENOBUFS (on_cqe): the dry path decides. */
				r->dry = true;
				continue;
			}
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

int reel_receiver_release(struct reel_receiver *rx, const void *data)
{
	struct receiver *r = priv(rx);
	struct reel_bufpool *p;
	ptrdiff_t off;
	unsigned bid;

	if (!r || !data)
		return -EINVAL;
	p = r->pool;
	off = (const char *)data - p->mem;
	if (off < 0 || (size_t)off >= p->count * p->size)
		return -EINVAL;
	bid = (unsigned)((size_t)off / p->size);
	if (p->state[bid] != BUF_OUT || p->owner[bid] != r)
		return -EINVAL;   /* released already, or not this receiver's */
	r->held--;
	put_back(p, bid);
	return 0;
}

int reel_receiver_close(struct reel_receiver *rx)
{
	struct reel__loop *l;
	struct receiver *r = priv(rx);
	struct reel_bufpool *p;
	int rc = reel__enter(rx, &l);

	if (rc)
		return rc;
	if (!r)
		return -EINVAL;
	p = r->pool;
	if (r->armed) {
		if (!r->capped)
			reel__op_cancel(l, &r->op);
		while (r->armed) {
			r->waiter = reel__self_fiber();
			reel__park(l, REEL__PARK_IO_CANCEL, false);
		}
		r->waiter = NULL;
	}
	while (r->count) {
		struct chunk c = pop(r);

		if (c.res > 0) {
			r->held--;
			put_back(p, c.bid);
		}
	}
	for (unsigned bid = 0; r->held && bid < p->count; bid++) {
		if (p->owner[bid] == r) {   /* handed out, never released */
			r->held--;
			put_back(p, bid);
		}
	}
	free(r->queue);
	p->users--;
	*r = (struct receiver){ .fd = -1 };
	return 0;
}
