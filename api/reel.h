/*
 * reel.h - fibers on io_uring: Python asyncio's model in C.
 *
 * A program is a set of fibers (stackful coroutines) on one event loop per
 * thread. A fiber calls ordinary-looking functions (reel_sleep, reel_join,
 * reel_nop, ...) that may *park* it: the call queues work on the loop's
 * io_uring or timer wheel and switches to the next ready fiber; the fiber runs
 * again when that work completes. Parking is asyncio's "await".
 *
 * Conventions (as in liburing): every function returns >= 0 on success or a
 * negative errno; there is no global error state. "Context: fiber only" means
 * the function returns -EPERM when called outside a fiber.
 *
 * Semantics are fixed by docs/design.md §1b; docs/core.md explains the
 * decisions taken where it is silent.
 *
 * The umbrella: this header declares the core (loop, tasks, time, gather,
 * groups) and, at its end, includes every layer header - reel_io.h,
 * reel_sync.h, reel_gen.h, reel_offload.h, reel_retry.h - so one include is
 * enough. Each layer header also stands alone (it includes this one).
 */
#ifndef REEL_H
#define REEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define REEL_API __attribute__((visibility("default")))
#else
#define REEL_API
#endif

#define REEL_VERSION_MAJOR 0
#define REEL_VERSION_MINOR 1

/* A fiber body: returns >= 0, or -errno. Its value is the task's status. */
typedef int (*reel_fn)(void *arg);

/*
 * A task handle: an id that packs a slot index and a generation, never a
 * pointer, so a stale handle (joined, detached, never issued) is detected
 * and answered with -ESRCH. Id 0 is never issued.
 */
typedef struct reel_task {
	uint64_t id;
} reel_task;

/* reel_run_opts.disable: optional ring and stack features to leave off even
 * where the kernel has them (tests of the fallbacks; also the REEL_DISABLE
 * environment variable, a comma list of the lower-case names). */
#define REEL_NO_SINGLE_ISSUER  (1u << 0)  /* "single_issuer" */
#define REEL_NO_DEFER_TASKRUN  (1u << 1)  /* "defer_taskrun" */
#define REEL_NO_COOP_TASKRUN   (1u << 2)  /* "coop_taskrun" */
#define REEL_NO_EXT_ARG        (1u << 3)  /* "ext_arg": timed waits use a TIMEOUT SQE */
#define REEL_NO_GUARD_INSTALL  (1u << 4)  /* "guard_install": guards by mprotect */
#define REEL_NO_BUF_RING       (1u << 5)  /* "buf_ring": receivers use plain recv */
#define REEL_NO_STACK_COMMIT   (1u << 6)  /* "stack_commit": stacks fault in page by page */
#define REEL_NO_MSG_RING       (1u << 7)  /* "msg_ring": peer loops are woken by eventfd */

/*
 * Options of reel_run. NULL, or any field left zero, means the default.
 * @ring_entries:    submission queue size (default 256, rounded up to a
 *                   power of two by the kernel; the CQ is twice as large).
 * @tick_shift:      timer wheel tick is 2^tick_shift ns; 10..30, default 16
 *                   (65.536 us). Sleeps round *up* to the tick.
 * @disable:         REEL_NO_* bits.
 * @errbuf:          when reel_run fails to start, a sentence explaining why
 *                   is written here (NUL-terminated, truncated to
 *                   @errbuf_len); when NULL, the sentence goes to stderr.
 * @error_hook:      called on the loop's thread, from the failing task's
 *                   fiber, when a background task (reel_spawn_background)
 *                   ends with a negative status other than the -ECANCELED
 *                   of a cancellation (asyncio's "Task exception was never
 *                   retrieved"); NULL: one line on stderr names the task.
 * @error_hook_arg:  passed to @error_hook. The hook is also called, from
 *                   main's fiber once every task has ended, for each task
 *                   that failed (a negative status other than -ECANCELED)
 *                   and was never joined; without a hook, a line on stderr
 *                   names each (id, name, status).
 * @debug:           REEL_DEBUG_* bits (also the REEL_DEBUG environment
 *                   variable, a comma list of the lower-case names).
 *
 * At the end of a run, a task still alive one second after main returned
 * and it was cancelled is named on stderr (and again every 5 s while it
 * lives): one that goes on making parking calls that return -ECANCELED
 * (it ignores its cancellation, and the process spins), or one parked
 * where its cancellation cannot reach it.
 */
/* "handles": at the end of reel_run, list on stderr every task handle that
 * was never joined or detached (reel_spawn's contract), with its status. */
#define REEL_DEBUG_HANDLES (1u << 0)

typedef void (*reel_error_hook)(reel_task task, const char *name, int status, void *arg);

struct reel_run_opts {
	unsigned ring_entries;
	unsigned tick_shift;
	unsigned disable;
	char *errbuf;
	size_t errbuf_len;
	reel_error_hook error_hook;
	void *error_hook_arg;
	unsigned debug;
};

/*
 * Options of reel_spawn. NULL, or any field left zero, means the default.
 * @stack_size: usable stack in bytes (default 64 KiB, minimum 16 KiB,
 *              maximum 64 MiB), rounded up to a power of two, committed
 *              lazily by the kernel, with a guard below it as large as
 *              the stack, up to 64 KiB: running into the guard kills the
 *              process with a message naming the fiber. Build fiber code with -fstack-clash-protection (as
 *              reel itself is): a function whose locals exceed the space
 *              left plus the guard then still faults in the guard instead
 *              of writing into a neighbouring fiber's stack.
 * @name:       shown in traces (REEL_TRACE, reel-trace), reel-top, gdb's
 *              `reel fibers`, the stall, stack-overflow and deadlock
 *              reports and the end-of-run reports. The string must outlive
 *              the task (a literal is ideal); the end-of-run report keeps a
 *              copy of its own.
 */
struct reel_spawn_opts {
	size_t stack_size;
	const char *name;
};

/*
 * reel_run - run @main as the first fiber of a new event loop on this thread
 * (asyncio.run). Returns when @main has returned and every task still alive
 * (detached ones too) has been cancelled and has ended; tasks that had not
 * started yet never run.
 * Returns 0 with main's return value in *@status (if @status is not NULL);
 * -EBUSY when this thread is already running a loop; -EINVAL for a NULL
 * @main or out-of-range options; another -errno when the loop cannot start
 * (the reason is explained in words, see reel_run_opts.errbuf). Should the
 * kernel refuse io_uring_enter for good once the loop runs (a seccomp
 * filter), the loop says so once on stderr, every pending and later I/O call
 * fails with that -errno, timers still work, and reel_run returns as usual
 * (docs/design.md §4).
 * Context: any thread, outside a fiber. The thread may call reel_run again
 * after it returns. The first reel_run of a process installs a SIGSEGV
 * handler (stack overflows name their fiber; other faults go to the previous
 * handler) and, when SIGPIPE still has its default action, ignores SIGPIPE,
 * so a vanished peer is -EPIPE for the writer instead of death.
 */
REEL_API int reel_run(reel_fn main, void *arg, const struct reel_run_opts *opts,
		      int *status);

/*
 * reel_spawn - create a task running @fn(@arg) (asyncio.create_task). It is
 * queued at the tail of the ready queue and first runs when the caller parks
 * or yields, never inside reel_spawn.
 * Returns 0 and the handle in *@task; -EINVAL for NULL @fn or @task or a
 * stack size that is too large; -ENOMEM when no stack or slot can be had.
 * Ownership: the caller owns the handle and must reel_join or reel_detach it
 * exactly once; the loop owns the task's stack.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_spawn(reel_task *task, reel_fn fn, void *arg,
			const struct reel_spawn_opts *opts);

/*
 * reel_join - wait for @task to end (await task), store its return value in
 * *@status (if not NULL) and free it; the handle is stale afterwards.
 * Returns 0; -ECANCELED when the caller is cancelled before or while it
 * waits (-ETIMEDOUT when an enclosing deadline passes): @task is then
 * cancelled too, and join still waits for it, stores its status and frees
 * it. -ESRCH for a stale handle; -EINVAL for main's handle or a task that
 * another fiber is already joining; -EDEADLK for the caller's own handle.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_join(reel_task task, int *status);

/*
 * reel_detach - give up the handle: the task runs on, its status is
 * discarded, and it is cancelled at the end of reel_run if still alive.
 * Returns 0; -ESRCH for a stale handle; -EINVAL for main's handle or a task
 * that another fiber is joining.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_detach(reel_task task);

/*
 * reel_cancel - ask @task to stop (task.cancel()). Idempotent and sticky:
 * from now on every parking call of the task returns -ECANCELED at once
 * (outside shield sections). A task that has not run yet never runs and
 * ends with status -ECANCELED. A fiber may cancel itself.
 * Returns 0 (also for a task that has ended but is not yet joined); -ESRCH
 * for a stale handle.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_cancel(reel_task task);

/*
 * reel_yield - let every other ready fiber run once (asyncio.sleep(0)).
 * Returns 0; -ECANCELED if the task is cancelled; -ETIMEDOUT if an
 * enclosing deadline has passed.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_yield(void);

/*
 * reel_sleep - park the calling fiber for at least @ns nanoseconds
 * (asyncio.sleep). The deadline is reel_now() + @ns rounded up to the wheel's
 * tick, so the wake-up is never early; reel_sleep(0) yields once.
 * Returns 0 once the time has passed; -ECANCELED if the task was cancelled;
 * -ETIMEDOUT if an enclosing deadline passed first.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_sleep(uint64_t ns);

/*
 * reel_wait_for - run @fn(@arg) on the calling fiber under a deadline of
 * @timeout_ns from now (asyncio.wait_for / asyncio.timeout). Once the nearest
 * deadline passes (this one or an enclosing one: inner deadlines never
 * extend outer ones), every parking call inside @fn returns -ETIMEDOUT.
 * reel_wait_for always waits for @fn to return and stores its return value in
 * *@status (if not NULL); partial results stay valid in @arg.
 * Returns 0 when @fn ended in time; -ETIMEDOUT when the deadline passed;
 * -ECANCELED when the caller was cancelled meanwhile. A caller already
 * cancelled, or @timeout_ns == 0, does not run @fn: the return value and
 * *@status are then -ECANCELED or -ETIMEDOUT. -EINVAL for NULL @fn.
 * The function form of a scope: reel_scope_enter, @fn, reel_scope_leave.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_wait_for(uint64_t timeout_ns, reel_fn fn, void *arg,
			   int *status);

/*
 * reel_shield - run cleanup code @fn(@arg) that may park although the task
 * is cancelled or its deadlines have passed (asyncio.shield for cleanup).
 * Inside, cancellation and enclosing deadlines are masked; @timeout_ns is
 * the section's own deadline, so cleanup can never hang a cancelled task:
 * once it passes, parking calls inside return -ETIMEDOUT. After the section
 * the masked cancellation or deadline applies again.
 * Returns 0 with fn's value in *@status (if not NULL); -ETIMEDOUT when the
 * section's own deadline passed; -EINVAL for NULL @fn or @timeout_ns == 0.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_shield(uint64_t timeout_ns, reel_fn fn, void *arg,
			 int *status);

/* ---- scopes: timeouts and cancellation around a block of code -------------- */

/* A timeout of "never": reel_scope_enter with it makes a cancel scope only. */
#define REEL_NO_DEADLINE UINT64_MAX

/*
 * struct reel_scope - a deadline and a cancel switch around a block of code
 * on one fiber (asyncio.timeout / timeout_at, Trio's move_on_after and
 * CancelScope). Between reel_scope_enter and reel_scope_leave, every parking
 * call of the fiber returns -ETIMEDOUT once the scope's deadline has passed
 * and -ECANCELED once reel_scope_cancel was called on it; both are sticky
 * until the scope is left, and neither outlives it: after reel_scope_leave
 * the fiber parks normally again (unless the task itself was cancelled, or
 * an enclosing scope's deadline passed too). Scopes nest: the innermost
 * deadline that passes wins, and an inner scope never extends an outer one.
 * Scopes are left in the reverse order of entering; a task that ends inside
 * a scope aborts the process with a message naming it (the scope's timer
 * points into memory that is gone). Caller-owned storage (usually a local
 * variable of the fiber); the fields are private.
 */
struct reel_scope {
	uint64_t private_[10];
};

/*
 * reel_scope_enter - enter @scope on the calling fiber with a deadline of
 * @timeout_ns from now (REEL_NO_DEADLINE: none, a cancel scope only;
 * 0: already expired, so the first parking call inside returns -ETIMEDOUT,
 * as asyncio.timeout(0)). reel_scope_enter_at takes an absolute deadline on
 * the reel_now() clock (asyncio.timeout_at). The block runs even when the
 * task is already cancelled: its first parking call says so.
 * Returns 0; -EINVAL for a NULL @scope; -EPERM outside a fiber. An error is
 * also stored in @scope (when not NULL), and reel_scope_leave returns it.
 * Context: fiber only. Costs one timer arm (O(1)) when there is a deadline.
 */
REEL_API int reel_scope_enter(struct reel_scope *scope, uint64_t timeout_ns);
REEL_API int reel_scope_enter_at(struct reel_scope *scope, uint64_t deadline_ns);

/*
 * reel_scope_leave - leave @scope, the calling fiber's innermost one.
 * Returns 0 when nothing interrupted the block; otherwise what the code after
 * the block must know, in this order: -ECANCELED when the task was cancelled
 * (that is still sticky); -ETIMEDOUT when an enclosing scope's deadline has
 * passed (still sticky too) or this scope's own (not any more: see
 * reel_scope_expired); -ECANCELED when reel_scope_cancel was called on it.
 * The value is kept: reel_scope_result reads it again. -EINVAL, changing
 * nothing, when @scope is not the calling fiber's innermost scope (an inner
 * one was not left) or was not entered; enter's error if enter failed.
 * Context: the fiber that entered it.
 */
REEL_API int reel_scope_leave(struct reel_scope *scope);

/*
 * reel_scope_cancel - cancel everything inside @scope (Trio's
 * CancelScope.cancel): its fiber's parking calls return -ECANCELED from now
 * until it leaves the scope; a parked fiber wakes at once. The task is not
 * cancelled: after the scope, its parking calls work again. Idempotent; a
 * scope already left is left alone.
 * Returns 0; -EINVAL for NULL or a scope entered on another loop's fiber.
 * Context: any fiber of the loop the scope's fiber runs on (the owner
 * itself too).
 */
REEL_API int reel_scope_cancel(struct reel_scope *scope);

/*
 * reel_scope_reschedule - move @scope's deadline to @deadline_ns (absolute,
 * reel_now() clock; REEL_NO_DEADLINE removes it), as asyncio's
 * Timeout.reschedule. Earlier or later both work; an enclosing deadline
 * still applies.
 * Returns 0; -EALREADY when the deadline has already passed (the scope
 * stays expired); -EINVAL for NULL or a scope not entered.
 * Context: any fiber of the scope's loop.
 */
REEL_API int reel_scope_reschedule(struct reel_scope *scope, uint64_t deadline_ns);

/* reel_scope_expired - 1 when @scope's own deadline passed while it was
 * entered (asyncio's Timeout.expired()), else 0. Valid after leave too. */
REEL_API int reel_scope_expired(const struct reel_scope *scope);

/* reel_scope_deadline - @scope's deadline (reel_now() clock), or
 * REEL_NO_DEADLINE. */
REEL_API uint64_t reel_scope_deadline(const struct reel_scope *scope);

/* reel_scope_result - what reel_scope_leave returned for @scope (0 before
 * it was left): how a REEL_TIMEOUT block ended. */
REEL_API int reel_scope_result(const struct reel_scope *scope);

/*
 * REEL_TIMEOUT(scope, timeout_ns) { ... } - the block form (async with
 * asyncio.timeout(t)): enters @scope, runs the block once, leaves @scope;
 * then reel_scope_result(scope) and reel_scope_expired(scope) say how it
 * went. REEL_TIMEOUT_AT takes an absolute deadline, REEL_CANCEL_SCOPE none.
 * The block is a loop of one pass: `break` and `continue` end the block
 * (not a loop around it). With gcc or clang, a `return` or `goto` out of
 * the block leaves the scope too (a cleanup attribute); with other
 * compilers, leave only through the end of the block.
 *
 *     struct reel_scope overall, token;
 *     REEL_TIMEOUT(&overall, 30 * REEL_SEC) {
 *         for (;;) {
 *             REEL_TIMEOUT(&token, 2 * REEL_SEC)
 *                 n = reel_chan_recv(&tokens, &tok);
 *             if (reel_scope_expired(&token) || n < 0)
 *                 break;
 *             ...
 *         }
 *     }
 *     if (reel_scope_expired(&overall)) ...
 */
#define REEL_MSEC 1000000ull
#define REEL_SEC 1000000000ull

#if defined(__GNUC__)
#define REEL__SCOPE_CLEANUP __attribute__((cleanup(reel__scope_block_exit)))
#else
#define REEL__SCOPE_CLEANUP
#endif
/* The block forms' exit on `return` or `goto` (gcc, clang). */
static inline void reel__scope_block_exit(struct reel_scope **scope)
{
	if (*scope)
		(void)reel_scope_leave(*scope);
}
#define REEL__SCOPE_CAT2(a, b) a##b
#define REEL__SCOPE_CAT(a, b) REEL__SCOPE_CAT2(a, b)
#define REEL__SCOPE_VAR REEL__SCOPE_CAT(reel__scope_block_, __LINE__)
#define REEL__SCOPE_BLOCK(scope, enter)                                          \
	for (struct reel_scope *REEL__SCOPE_VAR REEL__SCOPE_CLEANUP =            \
		     ((void)(enter), (scope));                                   \
	     REEL__SCOPE_VAR;                                                    \
	     (void)reel_scope_leave(REEL__SCOPE_VAR), REEL__SCOPE_VAR = NULL)
#define REEL_TIMEOUT(scope, timeout_ns) \
	REEL__SCOPE_BLOCK(scope, reel_scope_enter((scope), (timeout_ns)))
#define REEL_TIMEOUT_AT(scope, deadline_ns) \
	REEL__SCOPE_BLOCK(scope, reel_scope_enter_at((scope), (deadline_ns)))
#define REEL_CANCEL_SCOPE(scope) \
	REEL__SCOPE_BLOCK(scope, reel_scope_enter((scope), REEL_NO_DEADLINE))

/*
 * reel_nop - round-trip one IORING_OP_NOP through the loop's ring: the
 * smallest parking I/O, used to measure the ring path. Submission is batched
 * with every other fiber's SQEs of the same scheduler pass.
 * Returns 0; -ECANCELED or -ETIMEDOUT as reel_sleep, but only after the
 * NOP's completion has arrived.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_nop(void);

/* reel_now - CLOCK_MONOTONIC in nanoseconds, read afresh on each call.
 * Context: anywhere. */
REEL_API uint64_t reel_now(void);

/* reel_self - the calling task's handle; id 0 outside a fiber. */
REEL_API reel_task reel_self(void);

/*
 * reel_capabilities - probe the kernel and describe, in readable lines,
 * which io_uring features and stack guards reel would use on this machine,
 * which fallbacks it would take and why, RLIMIT_MEMLOCK, and whether io_uring
 * is blocked (sysctl kernel.io_uring_disabled, seccomp; one real
 * io_uring_enter is made, a NOP). @opts as reel_run's.
 * Writes at most @len bytes to @buf, NUL-terminated.
 * Returns the length of the full report (snprintf-style; may exceed @len),
 * or -EINVAL for a NULL @buf with nonzero @len.
 * Context: anywhere; sets up and tears down a ring of its own.
 */
REEL_API int reel_capabilities(char *buf, size_t len,
			       const struct reel_run_opts *opts);

/* reel_strerror - a short constant description of a -errno value returned by
 * reel, e.g. "operation canceled" for -ECANCELED; "not an error code" for a
 * positive value or one below -4095 (INT_MIN too). Never NULL. Context:
 * anywhere. */
REEL_API const char *reel_strerror(int err);

/* ---- waiting for many tasks ------------------------------------------- */

#define REEL_GATHER_ALL 1u   /* asyncio's return_exceptions=True */

/*
 * reel_gather - wait for @n spawned tasks and join every one of them
 * (asyncio.gather). On return all @n handles are stale, whatever happened,
 * and @statuses[i] holds task i's return value (-ECANCELED if it was
 * cancelled before it ran).
 * Fail-fast (@flags 0): the first task to end with a negative status makes
 * gather cancel the others, wait for them, and return that status.
 * REEL_GATHER_ALL: nothing is cancelled because of a failure; every status
 * tells its own story.
 * Returns 0 when all succeeded (fail-fast) or all ended (ALL); the first
 * failure (fail-fast); -ECANCELED / -ETIMEDOUT when the caller is cancelled
 * or its deadline passes while it waits: then every task is cancelled and
 * awaited first. @n == 0 → 0 at once; NULL @tasks or @statuses with n > 0,
 * unknown @flags, main's handle, a task listed twice or already being joined
 * → -EINVAL; the caller's own handle → -EDEADLK; a stale handle → -ESRCH,
 * before anything is waited for or cancelled.
 * Context: fiber only (-EPERM elsewhere). Costs O(1) per task ending.
 */
REEL_API int reel_gather(reel_task *tasks, size_t n, int *statuses, unsigned flags);

/*
 * reel_wait_any - park until the first of @n tasks ends (asyncio.wait with
 * FIRST_COMPLETED). That task is joined: its handle turns stale, its index
 * goes to *@index and its return value to *@status (either may be NULL). The
 * others keep running and stay the caller's to join, cancel or wait for
 * again. A task that had already ended is taken at once (the lowest index).
 * Returns 0; -ECANCELED / -ETIMEDOUT when the caller is interrupted first
 * (nothing is joined or cancelled, unlike reel_join); -EINVAL, -EDEADLK,
 * -ESRCH as reel_gather (NULL @tasks or @n == 0 → -EINVAL).
 * Context: fiber only (-EPERM). Costs O(n) per call: to take many tasks in
 * completion order, use a reel_taskset.
 */
REEL_API int reel_wait_any(reel_task *tasks, size_t n, size_t *index, int *status);

/*
 * struct reel_taskset - tasks taken in the order they end (asyncio's
 * as_completed). Caller-owned storage; the fields are private. A set must be
 * emptied (by reel_taskset_next until it returns 0, or reel_taskset_close)
 * before the fiber that initialised it returns; if it does not, the process
 * aborts with a message naming the fiber, because the set's tasks point into
 * that fiber's memory. Used by the fibers of one loop only.
 */
struct reel_taskset {
	uint64_t private_[8];
};

/* reel_taskset_init - an empty set, owned by the calling fiber.
 * Returns 0; -EINVAL for NULL. Context: fiber only (-EPERM). */
REEL_API int reel_taskset_init(struct reel_taskset *set);

/* reel_taskset_add - hand a spawned task to @set with a @key of the caller's
 * choosing (an index, a pointer): from now on only the set joins it (reel_join
 * and reel_detach on the handle → -EINVAL). Returns 0; -ESRCH for a stale
 * handle; -EINVAL for main's handle or a task already joined or watched;
 * -EDEADLK for the caller itself. Context: fiber only (-EPERM). */
REEL_API int reel_taskset_add(struct reel_taskset *set, reel_task task, uint64_t key);

/* reel_taskset_spawn - reel_spawn + reel_taskset_add in one call (no handle
 * to keep). Returns 0 or reel_spawn's error. Context: fiber only. */
REEL_API int reel_taskset_spawn(struct reel_taskset *set, reel_fn fn, void *arg,
				const struct reel_spawn_opts *opts, uint64_t key);

/*
 * reel_taskset_next - take the next task of @set to end, in the order they
 * end, parking until one does: it is joined, its key goes to *@key and its
 * return value to *@status (either may be NULL).
 * Returns 1 when a task was taken; 0 when the set is empty; -ECANCELED /
 * -ETIMEDOUT when the caller is interrupted first (the set and its tasks
 * are untouched: call again, or reel_taskset_close); -EBUSY when another
 * fiber is already waiting on @set. Context: fiber only (-EPERM).
 */
REEL_API int reel_taskset_next(struct reel_taskset *set, uint64_t *key, int *status);

/* reel_taskset_size - tasks in @set not yet taken (running or ended). */
REEL_API size_t reel_taskset_size(const struct reel_taskset *set);

/* reel_taskset_cancel - cancel every task of @set still running; they stay
 * in the set, to be taken with reel_taskset_next. Returns 0. Context: fiber. */
REEL_API int reel_taskset_cancel(struct reel_taskset *set);

/* reel_taskset_close - cancel what still runs, wait for every task of @set
 * (not interruptible: cancelled tasks end at their next parking call) and
 * drop their statuses; the set is then empty. Returns 0; -EBUSY when another
 * fiber waits on it. Context: fiber only (-EPERM). */
REEL_API int reel_taskset_close(struct reel_taskset *set);

/*
 * struct reel_group - a task group (asyncio.TaskGroup, a Trio nursery):
 * children spawned into it never outlive reel_group_wait, which must be
 * called before the fiber that initialised the group returns (else the
 * process aborts naming that fiber). The first child to fail (a negative
 * status other than -ECANCELED) cancels the others at once, not when the
 * parent next waits; every failure is reported by reel_group_wait, not only
 * the first. A child's -ECANCELED is never counted as a failure. The parent
 * itself is not cancelled by a failing child: it learns at reel_group_wait.
 * A child that ends without failing is joined and forgotten at once, so a
 * long-lived group (a server's connections) holds its running children only.
 * Caller-owned storage; the fields are private; any fiber of the loop may
 * spawn into a group (a child may spawn siblings).
 */
struct reel_group {
	uint64_t private_[8];
};

/* One failed child, as reel_group_wait reports it. */
struct reel_group_error {
	size_t index;           /* what reel_group_spawn returned for it */
	int status;             /* its negative return value */
};

/* reel_group_init - an empty group, owned by the calling fiber.
 * Returns 0; -EINVAL for NULL. Context: fiber only (-EPERM). */
REEL_API int reel_group_init(struct reel_group *group);

/*
 * reel_group_spawn - start a child in @group (it runs when the caller parks).
 * Returns the child's index in the group (0, 1, 2, ... in spawn order);
 * -ECANCELED when the group is already cancelling (a child failed, or
 * reel_group_cancel was called): nothing is spawned; reel_spawn's errors.
 * Context: fiber only (-EPERM).
 */
REEL_API int reel_group_spawn(struct reel_group *group, reel_fn fn, void *arg,
			      const struct reel_spawn_opts *opts);

/* reel_group_cancel - cancel every child of @group; spawning into it fails
 * until reel_group_wait returns. Returns 0. Context: fiber only (-EPERM). */
REEL_API int reel_group_cancel(struct reel_group *group);

/*
 * reel_group_wait - wait until every child of @group has ended and join
 * them all. Failed children are written to @errs in the order they ended,
 * up to @max_errs; *@nerrs (may be NULL) gets how many failed in all.
 * Returns 0 when no child failed; the first failure's status; -ECANCELED /
 * -ETIMEDOUT when the caller was cancelled or its deadline passed while it
 * waited: every child is then cancelled and still awaited before return
 * (failures are still reported). The group is empty and reusable after.
 * -EINVAL for NULL @group, or NULL @errs with @max_errs > 0; -EBUSY when
 * another fiber waits on it. Context: fiber only (-EPERM).
 */
REEL_API int reel_group_wait(struct reel_group *group, struct reel_group_error *errs,
			     size_t max_errs, size_t *nerrs);

/*
 * reel_spawn_background - fire and forget (asyncio.create_task without
 * keeping the task): spawn a detached task. Like every task, it is cancelled
 * and awaited when main returns. When it ends with a negative status that is
 * not the -ECANCELED of a cancellation, the failure is reported at once:
 * reel_run_opts.error_hook is called, or a line naming the task goes to
 * stderr. Returns 0 or reel_spawn's error. Context: fiber only (-EPERM).
 */
REEL_API int reel_spawn_background(reel_fn fn, void *arg, const struct reel_spawn_opts *opts);

#ifdef __cplusplus
}
#endif

/* The layers, after the core they build on (each includes reel.h, which is
 * already defined by then, so the order of a user's includes never matters). */
#include "reel_gen.h"
#include "reel_http.h"
#include "reel_io.h"
#include "reel_offload.h"
#include "reel_retry.h"
#include "reel_rt.h"
#include "reel_sync.h"
#include "reel_trace.h"

#endif /* REEL_H */
