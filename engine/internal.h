/*
 * internal.h - what the engine's files share: the per-thread loop, fibers,
 * task slots, deadline scopes. Never included by public headers.
 *
 * Per-thread state is one struct of per-module parts (ring, wheel, stacks),
 * each with its own _init/_term; reel__loop_cur points at it while reel_run
 * runs on this thread.
 */
#ifndef REEL_INTERNAL_H
#define REEL_INTERNAL_H

#include <errno.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/reel.h"
#include "list.h"
#include "pool.h"
#include "ring.h"
#include "stack.h"
#include "wheel.h"

#define reel_likely(x)   __builtin_expect(!!(x), 1)
#define reel_unlikely(x) __builtin_expect(!!(x), 0)

#if defined(__SANITIZE_ADDRESS__)
#define REEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REEL_ASAN 1
#endif
#endif

#define REEL__DEFAULT_STACK (64u * 1024)
#define REEL__DEFAULT_TICK_SHIFT 16

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
	REEL__PARK_REASONS
};

enum reel__fiber_state {
	REEL__FIBER_READY,      /* on loop->ready */
	REEL__FIBER_RUNNING,    /* loop->current */
	REEL__FIBER_PARKED,     /* waiting for a wake-up */
};

/*
 * A deadline scope (reel_wait_for, reel_shield): lives in the frame of the
 * call that opened it, linked innermost first from fiber->scope. A shield
 * scope hides cancellation and every scope outside it.
 */
struct reel__scope {
	struct reel__scope *outer;
	struct reel__fiber *fiber;
	struct reel__timer timer;   /* fires at the deadline */
	bool expired;
	bool shield;
};

/*
 * A fiber. It lives in the loop's fiber pool (fiber.c explains why not at
 * the top of its stack). Owned by the loop; freed, with its stack, right
 * after its last switch-out.
 */
struct reel__fiber {
	/* Hot: touched on every park and switch. */
	void *sp;                     /* saved stack pointer while switched out */
	struct reel__list ready_node; /* on loop->ready while READY */
	struct reel__loop *loop;
	struct reel__scope *scope;    /* innermost deadline scope, or NULL */
	int wake_result;              /* what reel__park returns */
	int saved_errno;              /* errno is per thread; keep it per fiber */
	uint8_t state;                /* enum reel__fiber_state */
	uint8_t park_reason;          /* enum reel__park_reason while PARKED */
	bool interruptible;           /* while PARKED: cancel/deadline may wake */
	bool cancelled;               /* sticky */
	bool started;
	uint32_t inflight;            /* this fiber's SQEs still in the kernel */
	uint32_t watching;            /* groups/sets it owns that hold tasks */
	struct reel__list *wait_node; /* its node on a wait queue while parked
				       * there (waitq.h); unlinked by any wake */
	uint64_t id;                  /* the task handle's id */
	/* Cold. */
	reel_fn fn;
	void *arg;
	struct reel__timer timer;     /* reel_sleep's */
	struct reel__stack stack;
	const char *name;
	uint32_t slot;                /* index in loop->tasks */
	void *asan_fake_stack;
	struct reel__fiber *next_free; /* on the fiber pool's free list */
};

/* Fiber structs, packed in huge-page chunks (fiber.c). */
struct reel__fiber_pool {
	struct reel__fiber *free;
	void **chunks;
	size_t nchunks;
	size_t live;
};

enum reel__task_state { REEL__TASK_FREE, REEL__TASK_ALIVE, REEL__TASK_DONE };

/* A task slot: outlives the fiber until the handle is joined or detached. */
struct reel__task_slot {
	uint32_t gen;                 /* bumped when the slot is freed */
	uint8_t state;                /* enum reel__task_state */
	bool detached;
	bool is_main;
	int status;                   /* the fiber's return value once DONE */
	struct reel__fiber *fiber;    /* while ALIVE */
	struct reel__fiber *joiner;   /* the fiber parked in reel_join, or NULL */
	struct reel__watch *watch;    /* the gather, group or set that will join it */
	uint64_t key;                 /* its index or key there */
	uint32_t next_done;           /* on watch's list of ended tasks */
	uint32_t next_free;
	bool background;              /* reel_spawn_background: report failure */
};

#define REEL__NO_SLOT UINT32_MAX

/*
 * What gather, task groups and task sets share (group.c): a set of tasks
 * that it alone will join, and the list, in order of ending, of those that
 * have ended and wait to be collected. A task's slot points at its watch;
 * the watch knows only counts, so cancelling "every member" walks the task
 * table (once per failure or cancellation, never per task).
 */
struct reel__watch {
	uint64_t owner;               /* task id of the fiber that set it up:
				       * its frame must outlive the members */
	struct reel__fiber *waiter;   /* parked for the next ending, or NULL */
	uint32_t head, tail;          /* ended members, oldest first, by slot */
	size_t members;               /* attached and not yet collected */
	/* Called as a member ends (optional): a group's fail-fast; returns
	 * true to drop the member there and then instead of queueing it. */
	bool (*ended)(struct reel__watch *w, struct reel__loop *l, int status);
};

/* Counters for tests and tools: "did the loop close clean?" */
struct reel__loop_stats {
	uint64_t passes;
	uint64_t waits;               /* blocking kernel waits */
	uint64_t spawned;
	uint64_t live_at_close;       /* fibers alive when the loop closed */
	uint64_t timers_at_close;
	uint64_t inflight_at_close;
	uint64_t stale_cqes;
	uint64_t cq_overflows;        /* times the kernel's CQ overflow list was used */
	uint64_t stacks_at_close;     /* stacks not returned to the pool */
	uint64_t fibers_at_close;     /* fiber structs not returned to the pool */
	uint64_t background_failures; /* background tasks that ended with an error */
};

struct reel__loop {
	/* Hot: every switch touches these; keep them in one cache line. */
	struct reel__fiber *current;  /* the running fiber */
	struct reel__list ready;      /* READY fibers, FIFO */
	unsigned nready;
	unsigned budget;              /* switches left in this pass */
	struct reel__fiber *zombie;   /* ended; its stack is freed after the switch */
	int *errno_ptr;               /* this thread's errno, saved per fiber */
	/* Cold. */
	struct reel__fiber *main;
	void *thread_sp;              /* reel_run's own stack while fibers run */
	bool shutting_down;           /* main has returned */
	bool main_waiting;            /* main parked until live == 1 */
	int main_status;
	uint64_t live;                /* fibers that have not ended, main included */
	struct reel__task_slot *tasks;
	uint32_t ntasks, task_free;
	uint32_t first_gen;           /* this run's epoch, see task.c */
	unsigned disable;             /* REEL_NO_* in force (options | environment) */
	uint16_t next_bgid;           /* the next provided-buffer group id */
	reel_error_hook error_hook;   /* a background task failed (reel_run_opts) */
	void *error_hook_arg;
	struct reel__ring ring;
	struct reel__wheel wheel;
	struct reel__stack_pool stacks;
	struct reel__fiber_pool fibers;
	struct reel__offload offload;  /* pool.c: finished thread-pool jobs come back here */
	struct reel__loop_stats stats;
	const void *thread_stack_bottom;  /* for ASan's fiber switches */
	size_t thread_stack_size;
	void *thread_fake_stack;
};

/* initial-exec: one %fs-relative load, no __tls_get_addr call per access.
 * The library is linked at start-up, not dlopen'ed, in every supported use. */
extern __thread struct reel__loop *reel__loop_cur
	__attribute__((tls_model("initial-exec")));

/* The running fiber, or NULL outside a fiber. */
static inline struct reel__fiber *reel__self_fiber(void)
{
	struct reel__loop *l = reel__loop_cur;

	return l ? l->current : NULL;
}

/* fiber.c */
struct reel__fiber *reel__fiber_alloc(struct reel__fiber_pool *p);
void reel__fiber_free(struct reel__fiber_pool *p, struct reel__fiber *f);
void reel__fiber_pool_term(struct reel__fiber_pool *p);

/* sched.c */
/* A fiber just gave the loop work (an SQE, a timer): the current pass ends
 * after one more round of the ready queue at most, so the work is seen. */
static inline void reel__pass_work(struct reel__loop *l)
{
	if (l->budget > l->nready + 1)
		l->budget = l->nready + 1;
}
void reel__ready(struct reel__loop *l, struct reel__fiber *f);
void reel__wake(struct reel__fiber *f, int result);
int reel__park(struct reel__loop *l, enum reel__park_reason why, bool interruptible);
void reel__switch_to_next(struct reel__loop *l, struct reel__fiber *self);
void reel__fiber_exit(struct reel__loop *l, struct reel__fiber *f) __attribute__((noreturn));
void reel__fiber_started(struct reel__loop *l, struct reel__fiber *f);
const char *reel__park_reason_name(unsigned why);

/* task.c */
int reel__task_create(struct reel__loop *l, reel_task *task, reel_fn fn, void *arg,
		      const struct reel_spawn_opts *opts, bool is_main);
void reel__task_finish(struct reel__loop *l, struct reel__fiber *f, int status);
void reel__task_cancel_all(struct reel__loop *l);
void reel__task_table_term(struct reel__loop *l);
int reel__task_table_init(struct reel__loop *l);
struct reel__task_slot *reel__task_lookup(struct reel__loop *l, reel_task t, uint32_t *idx);
void reel__task_free_slot(struct reel__loop *l, uint32_t idx);
void reel__task_cancel_fiber(struct reel__loop *l, struct reel__fiber *f);

/* group.c */
void reel__watch_ended(struct reel__loop *l, struct reel__task_slot *s, uint32_t idx);

/* deadline.c */
int reel__interrupt_pending_scoped(const struct reel__fiber *f);
/* Park the current fiber interruptibly, for at most @timeout_ns (UINT64_MAX:
 * no limit): returns the waker's result, -ECANCELED / -ETIMEDOUT when
 * interrupted, or -ETIMEDOUT when the timeout passes (never early). Uses the
 * fiber's sleep timer, which is free since a fiber parks in one place. */
int reel__park_for(struct reel__loop *l, enum reel__park_reason why, uint64_t timeout_ns);

/* -ECANCELED, -ETIMEDOUT or 0: what a parking call of @f must return now.
 * Inline: every park and yield asks, and most fibers have no scope. */
static inline int reel__interrupt_pending(const struct reel__fiber *f)
{
	if (reel_likely(!f->scope))
		return reel_unlikely(f->cancelled) ? -ECANCELED : 0;
	return reel__interrupt_pending_scoped(f);
}
void reel__interrupt(struct reel__fiber *f);

/* op.c: park the caller until @op's final CQE; the SQE was prepared by the
 * caller with reel__ring_op_sqe. Returns op->res, or -ECANCELED/-ETIMEDOUT
 * when interrupted and the kernel cancelled the operation; never returns
 * while the kernel may still touch the operation's memory. */
int reel__op_wait(struct reel__loop *l, struct reel__op *op);

/*
 * The shape of every parking I/O call:
 *	struct reel__io io;
 *	struct io_uring_sqe *sqe = reel__io_begin(&io);
 *	if (!sqe)
 *		return io.err;          (-EPERM, -ECANCELED, -ETIMEDOUT, -ENOMEM)
 *	io_uring_prep_xxx(sqe, ...);
 *	return reel__io_end(&io, sqe);
 * @io lives in the caller's frame until reel__io_end returns.
 */
struct reel__io {
	struct reel__op op;
	struct reel__loop *loop;
	int err;
};
struct io_uring_sqe *reel__io_begin(struct reel__io *io);

/* The kernel wrote @len bytes at @p behind valgrind's back (a completed read
 * through the ring): tell memcheck they are defined. A no-op elsewhere. */
void reel__io_defined(const void *p, size_t len);
void reel__iov_defined(const struct iovec *iov, int iovcnt, size_t len);
int reel__io_end(struct reel__io *io, struct io_uring_sqe *sqe);

/* On a fiber whose kernel has no io_uring opcode @op: use the system call.
 * Outside a fiber false, so that reel__io_begin answers -EPERM. */
static inline bool reel__lacks_op(unsigned op);

/* A system call's result in the -errno convention. */
static inline int reel__sys_result(long r)
{
	return r < 0 ? -errno : (int)r;
}

/* Does this loop's kernel support io_uring opcode @op? (probed at start) */
static inline bool reel__has_op(const struct reel__loop *l, unsigned op)
{
	return op < 64 && (l->ring.caps.ops & ((uint64_t)1 << op));
}

static inline bool reel__lacks_op(unsigned op)
{
	struct reel__loop *l = reel__loop_cur;

	return l && l->current && !reel__has_op(l, op);
}

/* overflow.c */
int reel__overflow_thread_init(void **altstack);
void reel__overflow_thread_term(void *altstack);

/* probe.c */
void reel__explain_setup_error(int err, unsigned entries, char *why, size_t len);
unsigned reel__env_disable(void);

/* Test hook: the counters of the last reel_run on this thread. */
REEL_API const struct reel__loop_stats *reel__last_run_stats(void);

#endif /* REEL_INTERNAL_H */
