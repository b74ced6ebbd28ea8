/*
 * reelimpl.h - the core as the layers see it: the one internal header that
 * engine/tasks, engine/sync, engine/io and engine/offload (and the layers to
 * come: http, trace, runtime) include. libdill's libdillimpl.h is the model.
 *
 * Why a narrow door. The loop's own state (struct reel__loop: ready queue,
 * task table, ring, wheel, stack cache) is private to engine/core; a layer
 * that could read it would, sooner or later, and every change of the core
 * would then ripple through every layer. So the loop and the fiber are
 * opaque here, and a layer gets exactly what it needs to be a good citizen
 * of the loop:
 *
 *   who am I          reel__running_loop, reel__self_fiber, reel__fiber_id
 *   park and wake     reel__park, reel__park_for, reel__wake,
 *                     reel__interrupt_pending; timers on the loop's wheel
 *   wait queues       struct reel__waiter, reel__waitq_* (FIFO hand-off)
 *   watches           struct reel__watch, reel__watch_* (join many tasks)
 *   I/O               struct reel__io, reel__io_begin/end; struct reel__op
 *                     for long-lived operations (multishot, eventfd reads)
 *   per-loop parts    reel__loop_part, for a layer's state on each loop
 *   other threads     the inbox: reel__xmsg_post, reel__xwait_* (a wait
 *                     another thread ends)
 *   lists             list.h, intrusive and allocation-free
 *
 * Everything here runs on the loop's own thread, from a fiber unless a
 * comment says otherwise. Nothing here is exported from the library.
 */
#ifndef REEL_IMPL_H
#define REEL_IMPL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>
#include <reel.h>

#include "core/compiler.h"
#include "core/list.h"
#include "core/wheel.h"

struct reel__loop;    /* one per thread running reel_run (core/internal.h) */
struct reel__fiber;   /* a task's running body (core/internal.h) */

/* ---- who am I ---------------------------------------------------------------- */

/*
 * The little the layers read of the loop and of a fiber on their fast paths
 * (a lock taken and given back, a channel's hand-off), without a call: the
 * first members of struct reel__loop and struct reel__fiber, which
 * core/internal.h keeps in this order and checks. Read-only here.
 * may_alias: the core writes these fields as members of its own structs;
 * without it, a compiler that sees both sides at once (LTO) could assume a
 * read through a head never sees such a write.
 */
struct __attribute__((may_alias)) reel__loop_head {
	struct reel__fiber *current;  /* the running fiber, NULL between fibers */
};
struct __attribute__((may_alias)) reel__fiber_head {
	void *sp_;                    /* the core's */
	uint64_t id;                  /* the task's id, as reel_self() gives it */
	const void *scope;            /* innermost deadline scope, or NULL */
	bool cancelled;               /* sticky */
};

/* This thread's loop while reel_run runs here, else NULL. initial-exec: one
 * %fs-relative load, no __tls_get_addr call (the library is linked at
 * start-up, not dlopen'ed). Defined in core/here.c; set and cleared by
 * core/loop.c, cleared in a forked child by reel__fork_child_continue.
 * Layers only read it. */
extern __thread struct reel__loop *reel__loop_cur
	__attribute__((tls_model("initial-exec")));

/* The calling fiber, NULL outside one. */
static inline struct reel__fiber *reel__self_fiber(void)
{
	struct reel__loop *l = reel__loop_cur;

	return l ? ((const struct reel__loop_head *)(const void *)l)->current : NULL;
}

/* The loop of the calling fiber (asyncio.get_running_loop), NULL when not
 * called from a fiber: a layer's calls then answer -EPERM. */
static inline struct reel__loop *reel__running_loop(void)
{
	return reel__self_fiber() ? reel__loop_cur : NULL;
}

/* The preamble of a layer's call on an object: from a fiber (-EPERM
 * otherwise), with an object (-EINVAL for NULL; pass a non-NULL dummy when
 * there is none). 0 with the caller's loop in *@l. */
int reel__enter(const void *obj, struct reel__loop **l);

/* @f's task id, as reel_self() gives it: unique among live tasks. */
static inline uint64_t reel__fiber_id(const struct reel__fiber *f)
{
	return ((const struct reel__fiber_head *)(const void *)f)->id;
}

/* ---- park and wake ----------------------------------------------------------- */

/* Why a fiber is parked (gopark's reason): traces, debugger, deadlock report. */
enum reel__park_reason {
	REEL__PARK_YIELD,
	REEL__PARK_SLEEP,
	REEL__PARK_JOIN,
	REEL__PARK_IO,
	REEL__PARK_IO_CANCEL,   /* cancelled or timed out, waiting for the CQE */
	REEL__PARK_SHUTDOWN,    /* main, waiting for the leftovers to end */
	REEL__PARK_GATHER,      /* gather, a task group or task set */
	REEL__PARK_SYNC,        /* lock, semaphore, event, condition */
	REEL__PARK_CHAN,        /* channel send or receive */
	REEL__PARK_GEN,         /* generator hand-off */
	REEL__PARK_OFFLOAD,     /* waiting for the thread or process pool */
	REEL__PARK_REMOTE,      /* a task on another loop (runtime/remote.c) */
	REEL__PARK_XCHAN,       /* a channel between loops (sync/xchan.c) */
	REEL__PARK_REASONS
};

/* No timeout: park until woken or interrupted. */
#define REEL__FOREVER UINT64_MAX

int reel__interrupt_pending_scoped(const struct reel__fiber *f);
/* A parking call of cancelled @f is about to return -ECANCELED: returns it.
 * Out of line, off the fast path: at the loop's exit it notices a task that
 * goes on calling them instead of returning, and says so (deadline.c). */
int reel__cancel_seen(const struct reel__fiber *f);

/* -ECANCELED, -ETIMEDOUT or 0: what a parking call of @f must return now
 * (cancellation is sticky; so is a passed deadline inside its scope).
 * Inline: every blocking call asks, and most fibers have no scope. */
static inline int reel__interrupt_pending(const struct reel__fiber *f)
{
	const struct reel__fiber_head *h = (const struct reel__fiber_head *)(const void *)f;

	if (reel_likely(!h->scope))
		return reel_unlikely(h->cancelled) ? reel__cancel_seen(f) : 0;
	return reel__interrupt_pending_scoped(f);
}

/*
 * Park the calling fiber of @l until reel__wake. @interruptible: a cancel
 * or a passed deadline wakes it too. Returns the waker's result, or the
 * interruption (then at once, without parking, if one is pending).
 */
int reel__park(struct reel__loop *l, enum reel__park_reason why, bool interruptible);

/* Park interruptibly for at most @timeout_ns (REEL__FOREVER: no limit).
 * Returns the waker's result, the interruption, or -ETIMEDOUT once the
 * timeout passes (never early). */
int reel__park_for(struct reel__loop *l, enum reel__park_reason why, uint64_t timeout_ns);

/* Make parked @f ready with @result for its reel__park. A fiber already
 * woken is left alone: the first wake wins. Loop thread only. */
void reel__wake(struct reel__fiber *f, int result);

/* Cancel @f's task as reel_cancel does (sticky; a parked @f wakes with
 * -ECANCELED). Unlike reel_cancel it may be called from a completion
 * handler on the loop's thread: a server cancels a handler whose client
 * left. @f must be a started, live fiber of the calling thread's loop. */
void reel__cancel_fiber(struct reel__fiber *f);

/* Arm @t (reel__timer_init'ed) to fire at @deadline_ns (reel_now() clock,
 * never early) on @l's wheel; @t stays in the caller's memory until it has
 * fired or been stopped. */
void reel__timer_start(struct reel__loop *l, struct reel__timer *t, uint64_t deadline_ns);
void reel__timer_stop(struct reel__loop *l, struct reel__timer *t);

/* ---- wait queues: a FIFO of parked fibers (core/waitq.c) ----------------------- */

/* A parked fiber's place on a primitive's queue; lives in its frame. */
struct reel__waiter {
	struct reel__list node;     /* on the primitive's queue while queued */
	struct reel__fiber *fiber;  /* the parked fiber */
	void *data;                 /* the channel's element, to copy from or to */
};

static inline void reel__waitq_init(struct reel__list *q)
{
	reel__list_init(q);
}

struct reel__waiter *reel__waitq_take_parked(struct reel__list *q);

/* Take the longest-waiting fiber that can still be handed something, or
 * NULL; the caller completes the hand-off, then reel__wake(w->fiber, 0). */
static inline struct reel__waiter *reel__waitq_take(struct reel__list *q)
{
	return reel__list_empty(q) ? NULL : reel__waitq_take_parked(q);
}

/* Wake every waiter of @q with @result; returns how many were woken. */
unsigned reel__waitq_wake_all(struct reel__list *q, int result);

/* Does some fiber still wait on @q? */
bool reel__waitq_busy(struct reel__list *q);

/* Queue the calling fiber of @l at the tail of @q and park it, for at most
 * @timeout_ns (REEL__FOREVER). Returns the waker's result (0 for a
 * completed hand-off), the interruption or -ETIMEDOUT; @w is off @q on
 * return in every case. */
int reel__waitq_park(struct reel__loop *l, struct reel__list *q, struct reel__waiter *w,
		     enum reel__park_reason why, uint64_t timeout_ns, bool interruptible);

/* ---- watches: joining many tasks at O(1) per ending (core/watch.c) --------------- */

#define REEL__NO_SLOT UINT32_MAX

/*
 * A set of tasks that the watch alone will join (reel_join and reel_detach
 * refuse them), and the list, in order of ending, of those that have ended
 * and wait to be collected. It lives in its owner's frame or caller-owned
 * storage; the owner fiber must empty it before it ends (the core aborts
 * with a message otherwise). Fields are the core's; layers read @members
 * and @waiter and set @ended.
 */
struct reel__watch {
	uint64_t owner;               /* task id of the fiber that set it up */
	struct reel__fiber *waiter;   /* parked for the next ending, or NULL */
	uint32_t head, tail;          /* ended members, oldest first, by slot */
	size_t members;               /* attached and not yet collected */
	/* Called as a member ends (optional): a group's fail-fast; returns
	 * true to drop the member there and then instead of queueing it. */
	bool (*ended)(struct reel__watch *w, struct reel__loop *l, int status);
};

/* Set up @w, owned by the calling fiber of @l. */
void reel__watch_init(struct reel__loop *l, struct reel__watch *w);

/* Hand @task to @w under @key. -ESRCH for a stale handle; -EINVAL for main,
 * or a task joined or watched already; -EDEADLK for the caller itself. */
int reel__watch_add(struct reel__loop *l, struct reel__watch *w, reel_task task, uint64_t key);

/* Hand tasks[0..n) with keys 0..n-1, or none: -ESRCH for any stale handle,
 * checked before anything else; -EINVAL / -EDEADLK as above, -EINVAL for a
 * task listed twice. */
int reel__watch_add_all(struct reel__loop *l, struct reel__watch *w, const reel_task *tasks,
			size_t n);

/* Has a member ended that is not collected yet? */
static inline bool reel__watch_has_ended(const struct reel__watch *w)
{
	return w->head != REEL__NO_SLOT;
}

/* Take the oldest ended member: its key and status; its task is freed
 * (its handle turns stale). false when none has ended. */
bool reel__watch_collect(struct reel__loop *l, struct reel__watch *w, uint64_t *key,
			 int *status);

/* Park until a member ends (or the last is dropped by @ended). 0, or the
 * interruption (only if @interruptible). */
int reel__watch_wait(struct reel__loop *l, struct reel__watch *w, bool interruptible);

/* Cancel every live member. */
void reel__watch_cancel(struct reel__loop *l, struct reel__watch *w);

/* Hand every member back: plain, joinable tasks again. */
void reel__watch_release(struct reel__loop *l, struct reel__watch *w);

/* Collect every member, uninterruptibly, discarding statuses. */
void reel__watch_drain(struct reel__loop *l, struct reel__watch *w);

/* A frame-bound object of @f's (a generator) that must be closed before
 * @f ends: +1 when opened, -1 when closed. */
void reel__watching_add(struct reel__fiber *f, int delta);

/* Has @task ended? 1 with its status in *@status (it stays joinable), 0
 * while it runs, -ESRCH for a stale handle. */
int reel__task_peek(struct reel__loop *l, reel_task task, int *status);

/* ---- operations on the ring (core/op.c) ------------------------------------------ */

struct reel__op;
/* Called on the loop for each CQE of @op (op->res and op->cqe_flags set);
 * op->done tells whether it was the last. */
typedef void (*reel__op_complete_fn)(struct reel__op *op);

/*
 * An operation record: one in-flight SQE and the fiber waiting for it. It
 * lives in the waiter's frame (or its owner's object); the ring refers to it
 * only through a slot of its op table, by index and generation, so a CQE
 * for an old activation can never reach a record that has been reused.
 */
struct reel__op {
	reel__op_complete_fn complete;
	void *waiter;         /* the parked fiber, for @complete */
	int32_t res;          /* the CQE's res once it has arrived */
	uint32_t cqe_flags;
	uint64_t user_data;   /* slot | generation << 32 while in flight */
	uint8_t opcode;       /* for reports: what the kernel is doing */
	bool done;            /* final CQE arrived: the kernel is done with it */
};

/*
 * The shape of every parking I/O call:
 *	struct reel__io io;
 *	struct io_uring_sqe *sqe = reel__io_begin(&io);
 *	if (!sqe)
 *		return io.err;          (-EPERM, -ECANCELED, -ETIMEDOUT, -ENOMEM)
 *	io_uring_prep_xxx(sqe, ...);
 *	return reel__io_end(&io, sqe);
 * @io lives in the caller's frame until reel__io_end returns, which is
 * never while the kernel may still touch the operation's memory (design §5).
 */
struct reel__io {
	struct reel__op op;
	struct reel__loop *loop;
	int err;
};
struct io_uring_sqe *reel__io_begin(struct reel__io *io);
int reel__io_end(struct reel__io *io, struct io_uring_sqe *sqe);

/* Park the caller until @op's final CQE; the SQE came from reel__op_sqe.
 * Returns op->res, or -ECANCELED/-ETIMEDOUT when interrupted and the kernel
 * cancelled the operation. */
int reel__op_wait(struct reel__loop *l, struct reel__op *op);

/* A free SQE tied to @op, submitted at the end of this scheduler pass:
 * prepare it, then io_uring_sqe_set_data64(sqe, op->user_data). @op must
 * stay put until op->done. NULL with *@err = -ENOMEM when the op table
 * cannot grow. */
struct io_uring_sqe *reel__op_sqe(struct reel__loop *l, struct reel__op *op, int *err);

/* Ask the kernel to cancel @op (still in flight); its final CQE follows. */
void reel__op_cancel(struct reel__loop *l, struct reel__op *op);

/* A multishot operation owned by an object, not a park, goes in (+1) or
 * ends (-1) on this thread's loop (a completion handler may call it): a
 * fiber may end while one is in flight, if its record is not on that
 * fiber's stack (checked at every fiber's end while any exists). */
void reel__op_long_lived(int delta);

/* Submit and block until at least one completion is dispatched. For a
 * layer's tear-down, on the loop's thread with no fiber running. */
void reel__loop_reap(struct reel__loop *l);

/* The kernel wrote @len bytes at @p behind valgrind's back (a completed read
 * through the ring): tell memcheck they are defined. A no-op elsewhere. */
void reel__io_defined(const void *p, size_t len);
void reel__iov_defined(const struct iovec *iov, int iovcnt, size_t len);

/* Does @l's kernel support io_uring opcode @op? (probed at loop start) */
bool reel__has_op(const struct reel__loop *l, unsigned op);

/* On a fiber whose kernel has no io_uring opcode @op: use the system call.
 * Outside a fiber false, so that reel__io_begin answers -EPERM. */
bool reel__lacks_op(unsigned op);

/* A system call's result in the -errno convention. */
static inline int reel__sys_result(long r)
{
	return r < 0 ? -errno : (int)r;
}

/* @l's io_uring, for registrations (provided buffer rings). */
struct io_uring *reel__loop_uring(struct reel__loop *l);

/* The REEL_NO_* fallbacks in force on @l (options | REEL_DISABLE). */
unsigned reel__loop_disabled(const struct reel__loop *l);

/* A provided-buffer group id not yet used on @l. */
uint16_t reel__loop_new_bgid(struct reel__loop *l);

/* ---- fault injection (core/fault.c; debug builds, docs/core.md) ---------------- */

/* The points where REEL_FAULTS may inject a fault; names in fault.c. */
enum reel__fault_point {
	REEL__FAULT_SUBMIT_EAGAIN,   /* io_uring_enter (submit) says -EAGAIN */
	REEL__FAULT_SUBMIT_EBUSY,    /* ... -EBUSY */
	REEL__FAULT_SUBMIT_EINTR,    /* ... -EINTR */
	REEL__FAULT_SHORT_RW,        /* read/write/recv/send asks for fewer bytes */
	REEL__FAULT_ENOBUFS,         /* a multishot receive finds the pool dry */
	REEL__FAULT_CQ_OVERFLOW,     /* a reap takes one CQE only (small ring) */
	REEL__FAULT_STACK_ENOMEM,    /* a stack cannot be mapped */
	REEL__FAULT_FIBER_ENOMEM,    /* the fiber cache cannot grow */
	REEL__FAULT_BUFPOOL_ENOMEM,  /* reel_bufpool_create is out of memory */
	REEL__FAULT_POINTS
};

#if defined(REEL_FAULT_INJECTION) && REEL_FAULT_INJECTION
/* Does the schedule inject a fault at @p now? (one draw of this thread's
 * generator; false at once when @p is off). Context: anywhere. */
bool reel__fault(enum reel__fault_point p);
/* The length a plain read/write/recv/send of @len bytes on @fd asks the
 * kernel for: @len, or (short_rw) a smaller positive count when @fd is a
 * byte stream (regular file, pipe, stream socket), where a short transfer
 * is a normal outcome the caller handles. Context: anywhere. */
size_t reel__fault_short_len(int fd, size_t len);
#else
/* Release builds: no injection code at all. */
static inline bool reel__fault(enum reel__fault_point p)
{
	(void)p;
	return false;
}
static inline size_t reel__fault_short_len(int fd, size_t len)
{
	(void)fd;
	return len;
}
#endif

/* ---- per-loop parts of the layers ---------------------------------------------- */

/*
 * A layer's state on one loop (libdill's per-module parts of its context):
 * made by the layer on first use, found again with reel__loop_part, and
 * handed back by the core at the loop's close - after main's shutdown, with
 * no fiber left, before the ring closes, so @term may still reap (with
 * reel__loop_reap) what it has in the kernel. @term owns @p from then on.
 * Ids: the thread pool's mailbox (offload/threadpool.c), the loop's
 * signalfd and the signals it blocked (io/proc.c).
 */
enum reel__part_id { REEL__PART_OFFLOAD, REEL__PART_SIGNAL, REEL__PARTS };

struct reel__loop_part {
	void (*term)(struct reel__loop *l, struct reel__loop_part *p);
};

struct reel__loop_part *reel__loop_part(struct reel__loop *l, enum reel__part_id id);
void reel__loop_set_part(struct reel__loop *l, enum reel__part_id id, struct reel__loop_part *p);

/* ---- the inbox: the one way in from other threads (core/inbox.c, xwait.c) ------- */

/*
 * Every loop has an inbox: a list of messages that any thread may post and
 * that the loop runs, on its own thread, in loop context (between fibers:
 * a message's @run must not park; it may reel__wake fibers, reel__xmsg_post,
 * reel__loop_spawn). A burst of posts costs the loop one wake-up, and a loop
 * that is awake costs none (core/inbox.c explains). A runtime makes its
 * loops' inboxes itself and keeps them until every loop thread has been
 * joined, so a post to a loop that has ended is safe and refused.
 */
struct reel__inbox;

/* A message: lives in its poster's memory; from the post until its @run is
 * called it belongs to the inbox, and the poster must not touch it. */
struct reel__xmsg {
	struct reel__list node;            /* on the inbox's list while posted */
	void (*run)(struct reel__xmsg *m); /* on the target loop, loop context */
};

/* Post @m to @ib from any thread (a signal handler excepted: see
 * reel__inbox_kick), from a fiber, a message's @run or a plain thread - not
 * from an op's completion handler (a MSG_RING wake-up takes an SQE, and
 * taking one from a full SQ submits, which may reap). FIFO per inbox.
 * Returns 0; -ESHUTDOWN when @ib's loop has ended (then @m is the poster's
 * again and will never run). */
int reel__xmsg_post(struct reel__inbox *ib, struct reel__xmsg *m);

/* The inbox of @l (every loop has one from its start). */
struct reel__inbox *reel__loop_inbox(struct reel__loop *l);

/*
 * Inboxes a runtime owns: made before their loop starts, handed to the
 * loop that the next reel_run on the calling thread starts (adopt_next),
 * freed by the runtime once that thread has been joined. While the loop
 * runs, its inbox counts as listening (peers may post at any time: never a
 * deadlock report). @poll_ns: before blocking in the kernel the loop polls
 * its inbox this long. @no_msg_ring: peers wake it by eventfd only.
 * @group (the runtime): loops of one group wake each other by MSG_RING.
 * reel__inbox_new: NULL with *@err (-ENOMEM, -EMFILE...).
 */
struct reel__inbox *reel__inbox_new(uint64_t poll_ns, bool no_msg_ring, int *err);
void reel__inbox_free(struct reel__inbox *ib);
void reel__inbox_adopt_next(struct reel__inbox *ib, const void *group);

/*
 * Kick @ib's loop: async-signal-safe, no lock, no message; the loop calls
 * @ib's kick handler (reel__inbox_on_kick, set by the owner before the loop
 * starts) in loop context at its next look at the inbox. For inboxes a
 * runtime owns only (their eventfd outlives the loop).
 */
void reel__inbox_kick(struct reel__inbox *ib);
void reel__inbox_on_kick(struct reel__inbox *ib, void (*fn)(void *arg), void *arg);

/* Has @l stopped running fibers for good (its main has handed the thread
 * back)? A message's @run then cannot start a task. */
bool reel__loop_closed(const struct reel__loop *l);

/*
 * reel__loop_spawn - start @fn(@arg) as a detached task of @l, the calling
 * thread's loop, from loop context (a message's @run). Unlike reel_spawn's,
 * the task always runs, even when it is cancelled before its first run (by
 * the loop's shutdown, say): its body sees the cancellation
 * (reel__interrupt_pending) and can still answer whoever waits for it.
 * Returns 0; -ESHUTDOWN when @l is closed (its fibers have all ended); the
 * errors of reel_spawn.
 */
int reel__loop_spawn(struct reel__loop *l, reel_fn fn, void *arg,
		     const struct reel_spawn_opts *opts);

/*
 * A wait another thread ends: a fiber parks on its own loop until some
 * thread calls reel__xwait_wake, which posts @msg to that loop's inbox; its
 * run wakes the fiber. Lives in the waiting fiber's frame (or an object it
 * owns); fields are the core's. A woken wait is settled: it can be
 * reel__xwait_init'ed again for another round.
 */
struct reel__xwait {
	struct reel__xmsg msg;        /* posted by the waker */
	struct reel__fiber *fiber;    /* the waiting fiber */
	struct reel__loop *loop;      /* its loop */
	int state;                    /* the loop's thread only (xwait.c) */
};

/* Set up @w for the calling fiber, on its loop. Context: fiber only. */
void reel__xwait_init(struct reel__xwait *w);

/*
 * Park until @w is woken, for at most @timeout_ns (REEL__FOREVER: no
 * limit), interruptibly. Returns 0 once woken (also when the wake came
 * before the park: then at once); -ECANCELED / -ETIMEDOUT when interrupted
 * before the wake: the caller then withdraws @w from wherever wakers find
 * it, under its own lock; if a waker already took @w (it will call
 * reel__xwait_wake), the caller calls reel__xwait_settle instead, before
 * @w's memory goes.
 */
int reel__xwait_park(struct reel__xwait *w, enum reel__park_reason why, uint64_t timeout_ns);

/* Wait, not interruptibly, for the wake a waker has promised. */
void reel__xwait_settle(struct reel__xwait *w);

/* Has @w been woken? (the loop's thread only) */
bool reel__xwait_woken(const struct reel__xwait *w);

/* Wake @w: any thread, exactly once per reel__xwait_init. The waker must
 * not touch @w afterwards (its fiber may be gone at once). */
void reel__xwait_wake(struct reel__xwait *w);

/* ---- processes --------------------------------------------------------------------- */

/*
 * In a child just forked from a fiber: forget the parent's loop (this
 * thread runs none now) and go on with @fn(@arg) on a fresh stack of
 * @stack_size bytes, leaving the fiber's stack behind. Never returns;
 * @fn must end the process.
 */
void reel__fork_child_continue(void (*fn)(void *), void *arg, size_t stack_size)
	__attribute__((noreturn));

#endif /* REEL_IMPL_H */
