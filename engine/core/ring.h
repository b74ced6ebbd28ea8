/*
 * ring.h - the loop's io_uring: set-up with fallbacks, operation records,
 * batched submission, batched reaping (design notes at the top of ring.c).
 */
#ifndef REEL_RING_H
#define REEL_RING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "../reelimpl.h"   /* struct reel__op */

struct reel__op_slot {
	struct reel__op *op;  /* NULL while free */
	uint32_t gen;         /* bumped on every release */
	uint32_t next_free;   /* free-list link while free */
	uint64_t t_submit;    /* when prepared, while tracing (else 0) */
};

/* What set-up found and chose; also the capability report's source. */
struct reel__ring_caps {
	unsigned setup_flags;      /* flags the ring was created with */
	unsigned features;         /* IORING_FEAT_* the kernel returned */
	unsigned sq_entries, cq_entries;
	bool ext_arg;              /* waits take a timeout argument */
	bool registered_fd;        /* io_uring_enter uses the registered ring fd */
	uint64_t ops;              /* bit n: opcode n supported (probe) */
	char fallback[768];        /* which fallbacks were taken and why */
};

struct reel__ring {
	struct io_uring ring;
	struct reel__ring_caps caps;
	struct reel__op_slot *slots;
	uint32_t nslots, free_head;
	uint64_t inflight;         /* ops whose final CQE has not arrived */
	uint64_t stale_cqes;       /* CQEs whose slot generation did not match */
	uint64_t sqes;             /* SQEs submitted */
	uint64_t enters;           /* io_uring_enter calls (submits and waits) */
	uint64_t completions;      /* CQEs dispatched */
	uint64_t idle_ns;          /* time in the blocking wait */
	uint64_t overflows_seen;   /* reaps that found the kernel's CQ overflow flag */
	uint32_t long_lived;       /* multishot ops owned by objects, not a park */
	uint32_t idle_ops;         /* ops in flight that are no reason to enter
				    * at a pass end (the inbox's eventfd read) */
	bool wait_timeout_armed;   /* !ext_arg: our TIMEOUT SQE is in flight */
	/* A MSG_RING this ring sent failed (its CQE; success posts none):
	 * the inbox's hook (inbox.c), called with the SQE's user_data. */
	void (*msg_ring_failed)(uint64_t user_data, int res);
	int broken;                /* 0, or the -errno io_uring_enter failed with
				    * for good: the ring is out of use */
	struct __kernel_timespec wait_ts;  /* the bound of the current wait */
};

/* Internal user_data values below 2^32 (real ops have generation >= 1). */
#define REEL__UD_IGNORE        0ull   /* cancel requests: CQE dropped */
#define REEL__UD_WAIT_TIMEOUT  1ull   /* the !ext_arg wait bound */
#define REEL__UD_INBOX         2ull   /* a peer's MSG_RING: look at the inbox */
/* A MSG_RING sent from this ring: bit 63, the target inbox's address in the
 * rest (op generations stay below 2^31, so no op's user_data has it). */
#define REEL__UD_MSG_RING_SENT (1ull << 63)

/* Create the ring. @entries 0 = default. @disable = REEL_NO_* bits.
 * ENOMEM (RLIMIT_MEMLOCK, charged per user and uncharged late) is retried
 * with back-off, then with smaller rings down to REEL__RING_MIN_ENTRIES.
 * On failure returns -errno and explains in @why. */
int reel__ring_init(struct reel__ring *r, unsigned entries, unsigned disable,
		    char *why, size_t why_len);
void reel__ring_term(struct reel__ring *r);

enum { REEL__RING_DEFAULT_ENTRIES = 256, REEL__RING_MIN_ENTRIES = 16 };

/* One real io_uring_enter (a NOP, submitted and waited for) on a fresh ring:
 * 0, or the -errno the enter failed with (a seccomp filter that refuses
 * io_uring_enter but not io_uring_setup). For the capability report. */
int reel__ring_check_enter(struct reel__ring *r);

/* A free SQE: a full SQ is submitted (reaping first when the kernel says
 * busy) and the get retried. NULL only when the ring is broken (r->broken).
 * The SQE is sent at the next reel__ring_poll or reel__ring_wait (once per
 * scheduler pass). */
struct io_uring_sqe *reel__ring_sqe(struct reel__ring *r);

/* A free SQE tied to @op: @op takes an op-table slot and op->user_data is
 * set; prepare the SQE, then io_uring_sqe_set_data64(sqe, op->user_data).
 * @op must stay put until op->done. NULL with *@err = -ENOMEM when the op
 * table cannot grow, or with *@err = r->broken when the ring is broken. */
struct io_uring_sqe *reel__ring_op_sqe(struct reel__ring *r, struct reel__op *op,
				       int *err);

/* Every op in flight whose waiter is @waiter, for a report. */
void reel__ring_report_ops(const struct reel__ring *r, const void *waiter);

/* How many ops in flight have their record in [@lo, @hi) (a fiber's stack);
 * each is reported on stderr. */
unsigned reel__ring_ops_within(const struct reel__ring *r, const void *lo, const void *hi);

/* Queue an ASYNC_CANCEL for @op (still in flight); its CQE is dropped.
 * Nothing on a broken ring (every op there has already completed). */
void reel__ring_cancel(struct reel__ring *r, struct reel__op *op);

/* Submit what is queued and dispatch every completion there is, without
 * blocking. Returns how many CQEs were dispatched. */
unsigned reel__ring_poll(struct reel__ring *r);

/* Submit, then block until at least one CQE arrives or @timeout_ns passes
 * (UINT64_MAX = no bound); dispatch completions. Returns how many. On a
 * broken ring: a plain sleep of @timeout_ns (none when unbounded), 0. */
unsigned reel__ring_wait(struct reel__ring *r, uint64_t timeout_ns);

/* Is there a reason to enter the kernel at the end of a pass? */
static inline bool reel__ring_busy(const struct reel__ring *r)
{
	/* sqe_tail - sqe_head: SQEs we queued and have not flushed to the
	 * kernel yet; a local count, no load from the shared ring. */
	return r->inflight > r->idle_ops || r->ring.sq.sqe_tail != r->ring.sq.sqe_head;
}

#endif /* REEL_RING_H */
