/*
 * internal.h - the core's private state: the per-thread loop, fibers, task
 * slots, deadline scopes. Included by engine/core files (and white-box
 * tests) only; the layers above see the core through engine/reelimpl.h,
 * which this header includes and implements.
 *
 * Per-thread state is one struct of per-module parts (ring, wheel, stacks,
 * fibers, tasks, and the layers' parts), each with its own _init/_term;
 * reel__loop_cur points at it while reel_run runs on this thread.
 */
#ifndef REEL_INTERNAL_H
#define REEL_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../reelimpl.h"
#include "list.h"
#include "ring.h"
#include "stack.h"
#include "wheel.h"

#define REEL__DEFAULT_STACK (64u * 1024)
#define REEL__DEFAULT_TICK_SHIFT 16

enum reel__fiber_state {
	REEL__FIBER_READY,      /* on loop->ready */
	REEL__FIBER_RUNNING,    /* loop->current */
	REEL__FIBER_PARKED,     /* waiting for a wake-up */
};

/*
 * A scope (reel_scope_enter, reel_wait_for, reel_shield): lives in the
 * caller's memory (a struct reel_scope, or the frame of the call that opened
 * it), linked innermost first from fiber->scope while entered. A shield
 * scope hides cancellation and every scope outside it.
 */
struct reel__scope {
	struct reel__scope *outer;
	struct reel__fiber *fiber;  /* the fiber it is entered on; NULL once left */
	struct reel__timer timer;   /* fires at the deadline (armed if any) */
	uint64_t deadline_ns;       /* REEL_NO_DEADLINE: a cancel scope only */
	int result;                 /* what reel_scope_leave returned, or enter's error */
	int enter_error;            /* enter failed (-EPERM): leave returns it */
	bool expired;               /* its deadline passed (sticky) */
	bool cancelled;             /* reel_scope_cancel (sticky) */
	bool shield;
};

/*
 * A fiber. It lives in the loop's fiber cache (fiber.c explains why not at
 * the top of its stack). Owned by the loop; freed, with its stack, right
 * after its last switch-out.
 */
struct reel__fiber {
	/* Hot: touched on every park and switch. The first four members, in
	 * this order, are what the layers read (struct reel__fiber_head). */
	void *sp;                     /* saved stack pointer while switched out */
	uint64_t id;                  /* the task handle's id */
	struct reel__scope *scope;    /* innermost deadline scope, or NULL */
	bool cancelled;               /* sticky */
	uint8_t state;                /* enum reel__fiber_state */
	uint8_t park_reason;          /* enum reel__park_reason while PARKED */
	bool interruptible;           /* while PARKED: cancel/deadline may wake */
	bool started;
	int wake_result;              /* what reel__park returns */
	int saved_errno;              /* errno is per thread; keep it per fiber */
	struct reel__list ready_node; /* on loop->ready while READY */
	struct reel__loop *loop;
	uint32_t inflight;            /* this fiber's SQEs still in the kernel */
	uint32_t watching;            /* groups/sets it owns that hold tasks */
	struct reel__list *wait_node; /* its node on a wait queue while parked
				       * there (waitq.c); unlinked by any wake */
	/* Cold. */
	reel_fn fn;
	void *arg;
	struct reel__timer timer;     /* reel_sleep's */
	struct reel__stack stack;
	const char *name;
	uint32_t slot;                /* index in loop->tasks */
	void *asan_fake_stack;
	/* Kept only while the loop's console is on (console.c): time on the
	 * CPU, ready and parked, and when the current state began (ns). */
	uint64_t run_ns, ready_ns, wait_ns, since_ns;
#ifdef REEL_TSAN
	void *tsan_fiber;             /* its ThreadSanitizer context (sched.c) */
#endif
	struct reel__fiber *next_free; /* on the fiber cache's free list */
};

/* The layers' inline view of a fiber and of the loop (reelimpl.h) is a
 * prefix of the real thing: keep it so. */
_Static_assert(offsetof(struct reel__fiber, id) == offsetof(struct reel__fiber_head, id) &&
	       offsetof(struct reel__fiber, scope) == offsetof(struct reel__fiber_head, scope) &&
	       offsetof(struct reel__fiber, cancelled) ==
	       offsetof(struct reel__fiber_head, cancelled), "fiber head out of step");

/* Fiber structs, packed in huge-page chunks (fiber.c). */
struct reel__fiber_cache {
	struct reel__fiber *free;     /* freed ones, most recent first */
	struct reel__fiber *carve, *carve_end;  /* the newest chunk's never used */
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
	char *ended_name;             /* a copy of its name, kept when it ended
				       * with nobody to take its status and
				       * failed (or REEL_DEBUG_HANDLES), for
				       * the report at the run's end */
};

/* Counters for tests and tools: "did the loop close clean?" */
struct reel__loop_stats {
	uint64_t started_ns;          /* reel_now() when the loop began */
	uint64_t switches;
	uint64_t stalls;              /* reported by the stall detector */
	uint64_t passes;
	uint64_t waits;               /* blocking kernel waits */
	uint64_t spawned;
	uint64_t live_at_close;       /* fibers alive when the loop closed */
	uint64_t timers_at_close;
	uint64_t inflight_at_close;
	uint64_t stale_cqes;
	uint64_t cq_overflows;        /* times the kernel's CQ overflow list was used */
	uint64_t stacks_at_close;     /* stacks not returned to the cache */
	uint64_t fibers_at_close;     /* fiber structs not returned to the cache */
	uint64_t background_failures; /* background tasks that ended with an error */
	uint64_t unjoined_failures;   /* failed tasks never joined, reported at the end */
	uint64_t unjoined;            /* handles never joined or detached */
};

struct reel__loop {
	/* Hot: every switch touches these; keep them in one cache line. */
	struct reel__fiber *current;  /* the running fiber */
	struct reel__list ready;      /* READY fibers, FIFO */
	unsigned nready;
	unsigned budget;              /* switches left in this pass */
	struct reel__fiber *zombie;   /* ended; its stack is freed after the switch */
	int *errno_ptr;               /* this thread's errno, saved per fiber */
	struct reel__tracebuf *trace; /* = reel__trace_cur, for the switch path (tracebuf.c) */
	bool timing;                  /* time fibers at switch and wake (console.c) */
	/* Cold. */
	struct reel__fiber *main;
	void *thread_sp;              /* reel_run's own stack while fibers run */
	bool shutting_down;           /* main has returned */
	bool in_pass;                 /* between fibers: timers, reaping, waiting */
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
	unsigned debug;               /* REEL_DEBUG_* (options | environment) */
	uint64_t exit_cancel_ns;      /* when main returned and the rest was cancelled */
	uint64_t exit_report_ns;      /* when lingering tasks are next reported */
	uint64_t exit_spins;          /* -ECANCELED returns since (shutdown.c) */
	struct reel__ring ring;
	struct reel__wheel wheel;
	struct reel__stack_cache stacks;
	struct reel__fiber_cache fibers;
	struct reel__loop_part *parts[REEL__PARTS];  /* the layers' (reelimpl.h) */
	struct reel__loop_stats stats;
	struct reel__list loops_node; /* on reel__loops while reel_run runs (loop.c) */
	int tid;                      /* the thread running it (gettid), for debuggers */
	struct reel__console_loop *console;  /* its snapshot buffer while the
					      * console is on (console.c) */
	const void *thread_stack_bottom;  /* for ASan's fiber switches */
	size_t thread_stack_size;
	void *thread_fake_stack;
	struct reel__inbox *inbox;    /* the way in from other threads (inbox.c) */
	bool closed;                  /* main has handed the thread back */
#ifdef REEL_TSAN
	void *thread_tsan_fiber;      /* reel_run's own TSan context, to return to */
#endif
};
_Static_assert(offsetof(struct reel__loop, current) == offsetof(struct reel__loop_head, current),
	       "loop head out of step");

/* The core's own reel__running_loop: it reads the loop as what it is, not
 * through the layers' head (reelimpl.h), so the compiler's alias analysis
 * sees every access to l->current as one kind of access. */
static inline struct reel__loop *reel__loop_here(void)
{
	struct reel__loop *l = reel__loop_cur;

	return l && l->current ? l : NULL;
}

/* stall.c: the stall detector, armed from REEL_STALL_MS at loop start */
void reel__stall_loop_begin(void);
void reel__stall_loop_end(void);

/* loop.c */
/* Every loop reel_run is running in this process, for debuggers and the
 * console (tools/gdb/reel-gdb.py reads it from a live process or a core
 * file, where thread-locals are awkward): struct reel__loop by loops_node,
 * linked and unlinked under reel__loops_lock by reel_run alone. */
extern struct reel__list reel__loops;
extern pthread_mutex_t reel__loops_lock;
/* Test hook: the counters of the last reel_run on this thread. */
REEL_API const struct reel__loop_stats *reel__last_run_stats(void);

/* fiber.c: a fiber's whole life. New: struct, stack and a context that
 * starts in the task's function; ready to be queued. Destroy: both back to
 * their caches, never while running on @f's stack. */
int reel__fiber_new(struct reel__loop *l, reel_fn fn, void *arg,
		    const struct reel_spawn_opts *opts, struct reel__fiber **out);
void reel__fiber_destroy(struct reel__loop *l, struct reel__fiber *f);
void reel__fiber_cache_term(struct reel__fiber_cache *p);

/* sched.c */
/* A fiber just gave the loop work (an SQE, a timer): the current pass ends
 * after one more round of the ready queue at most, so the work is seen. */
static inline void reel__pass_work(struct reel__loop *l)
{
	if (l->budget > l->nready + 1)
		l->budget = l->nready + 1;
}
void reel__ready(struct reel__loop *l, struct reel__fiber *f);
void reel__switch_to_next(struct reel__loop *l, struct reel__fiber *self);
/* A new fiber's first act (finish the switch that brought it here), and a
 * dead one's last (hand the CPU on, never to come back). */
void reel__sched_enter(struct reel__loop *l, struct reel__fiber *f);
void reel__sched_exit(struct reel__loop *l, struct reel__fiber *f) __attribute__((noreturn));
/* reel_run's switch into main and back, from the thread's own stack. */
void reel__sched_run_main(struct reel__loop *l);
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
void reel__task_report_parked(struct reel__loop *l);

/* shutdown.c: main's end (cancel and await the leftovers, saying so when
 * they take long; report failed tasks nobody joined). */
void reel__shutdown(struct reel__loop *l);
/* A report of tasks lingering at exit is due at @now: move the next one on
 * (every 5 s). Shared by main's wait and reel__cancel_seen. */
static inline bool reel__exit_report_due(struct reel__loop *l, uint64_t now)
{
	if (now < l->exit_report_ns)
		return false;
	l->exit_report_ns = now + 5000000000ull;
	return true;
}
unsigned reel__debug_from_env(void);

/* watch.c: a member of a watch has ended (its slot is DONE). */
void reel__watch_ended(struct reel__loop *l, struct reel__task_slot *s, uint32_t idx);

/* deadline.c */

/* reel__interrupt_pending, inline for the core's hot paths: every park and
 * yield asks, and most fibers have no scope. */
static inline int reel__interrupt_now(const struct reel__fiber *f)
{
	if (reel_likely(!f->scope))
		return reel_unlikely(f->cancelled) ? reel__cancel_seen(f) : 0;
	return reel__interrupt_pending_scoped(f);
}
/* @f's cancel flag or a scope's deadline changed: wake it if it is parked
 * interruptibly and the change is visible to it. */
void reel__interrupt(struct reel__fiber *f);

/* overflow.c */
int reel__overflow_thread_init(void **altstack);
void reel__overflow_thread_term(void *altstack);

/* probe.c */
void reel__explain_setup_error(int err, unsigned entries, char *why, size_t len);
const char *reel__enter_error_hint(int err);
unsigned reel__env_disable(void);

/* fault.c: REEL_FAULTS, parsed once per process (debug builds only;
 * docs/core.md, "Fault injection"). */
#if defined(REEL_FAULT_INJECTION) && REEL_FAULT_INJECTION
/* At a loop's start: parse REEL_FAULTS if not yet done and restart this
 * thread's generator from the seed, so each run's schedule is reproducible.
 * 0, or -EINVAL for a malformed value (explained in @why). */
int reel__fault_loop_init(char *why, size_t why_len);
/* Is @p on at all? (set-up choices: cq_overflow makes the ring small) */
bool reel__fault_enabled(enum reel__fault_point p);
/* Test hooks: replace the schedule with @spec (NULL: read REEL_FAULTS
 * again), restarting this thread's generator; 0 or -EINVAL. And how many
 * faults this thread has injected at @p since. */
REEL_API int reel__faults_set(const char *spec);
REEL_API unsigned long reel__faults_injected(enum reel__fault_point p);
#else
static inline int reel__fault_loop_init(char *why, size_t why_len)
{
	(void)why;
	(void)why_len;
	return 0;
}
static inline bool reel__fault_enabled(enum reel__fault_point p)
{
	(void)p;
	return false;
}
#endif

#endif /* REEL_INTERNAL_H */
