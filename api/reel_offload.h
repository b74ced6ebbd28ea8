/*
 * reel_offload.h - run work off the loop: on a thread pool
 * (asyncio.to_thread, loop.run_in_executor) or in a pool of forked worker
 * processes (ProcessPoolExecutor). The calling fiber parks; its loop keeps
 * running every other fiber meanwhile. docs/offload.md has the decisions.
 */
#ifndef REEL_OFFLOAD_H
#define REEL_OFFLOAD_H

#include <stddef.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- thread pool ------------------------------------------------------------ */

/*
 * reel_to_thread - run @fn(@arg) on a thread of the process-wide pool and
 * park until it returns.
 * Returns 0 with fn's return value in *@status (when @status is not NULL);
 * -EINVAL for a NULL @fn; -EAGAIN when not a single pool thread can be
 * started; -ECANCELED / -ETIMEDOUT when the task is cancelled or an
 * enclosing deadline passes:
 *   - before a thread has taken the job: it is withdrawn at once, @fn never
 *     runs, and *@status is the same error;
 *   - while @fn runs: a thread cannot be interrupted, so the call waits for
 *     @fn to return (ignoring further interruptions), stores its return
 *     value in *@status, then returns the error;
 *   - a job that finished before the interruption was noticed wins: 0.
 * @fn runs on another thread: it must not call reel_ functions (they answer
 * -EPERM there) nor touch data its loop's fibers change meanwhile without
 * locking. @arg stays the caller's; reel keeps no pointer after the return.
 * Context: fiber only (-EPERM elsewhere). Several loops on several threads
 * may offload at once; each gets its own results back.
 */
REEL_API int reel_to_thread(reel_fn fn, void *arg, int *status);

/*
 * reel_threadpool_size - the most threads the pool may run (default
 * min(32, online CPUs + 4)). Threads start on demand, when more jobs are
 * queued than threads are idle; the size may change at any time: more
 * room is used at once, and threads above a smaller size leave once they
 * finish their current job.
 * Returns 0, or -EINVAL for 0 or more than 1024. Context: anywhere.
 */
REEL_API int reel_threadpool_size(unsigned threads);

/* ---- process pool ----------------------------------------------------------- */

/*
 * A pool of worker processes, fork()ed from the caller (no exec: a function
 * pointer of this program is valid in them). A worker runs one function at a
 * time on a copy of the input bytes and sends back a status and output
 * bytes. Opaque; created and freed by the functions below.
 */
struct reel_procpool;

/*
 * reel_proc_fn - the work a worker process runs: read @in_len bytes at @in,
 * write at most @out_cap bytes at @out and their count in *@out_len (0
 * before the call), return a status (>= 0, or -errno). It runs in the
 * child, on a fresh 8 MiB stack, with the memory of the parent as it was at
 * the worker's fork (copy-on-write); it must not call reel_ functions
 * (-EPERM there). Claiming *@out_len > @out_cap fails the call (-EMSGSIZE).
 */
typedef int (*reel_proc_fn)(const void *in, size_t in_len, void *out, size_t out_cap,
			    size_t *out_len);

/*
 * reel_procpool_create - fork @workers (1..256) worker processes, each able
 * to take messages of up to @max_msg (1 byte .. 256 MiB) bytes each way.
 * Stores the pool, owned by the caller until reel_procpool_destroy, in
 * *@pool. Returns 0, -EINVAL, -ENOMEM, or fork's error (every worker forked
 * so far is then reaped). A worker keeps only its socket (close-on-exec: a
 * program a job execs does not inherit it) and stdin, stdout, stderr open;
 * it exits when its socket closes.
 * Context: anywhere (it does not park).
 */
REEL_API int reel_procpool_create(struct reel_procpool **pool, unsigned workers,
				  size_t max_msg);

/*
 * reel_procpool_call - run @fn(@in, @in_len, out, min(@out_cap, max_msg),
 * &len) in an idle worker of @pool, parking (FIFO) while none is idle, then
 * while it runs. The output is copied to @out and its length stored in
 * *@out_len (when not NULL).
 * Returns 0 with fn's return value in *@status (when not NULL), or:
 *   -EINVAL       NULL @pool or @fn, NULL @in with @in_len > 0, NULL @out
 *                 with @out_cap > 0;
 *   -EMSGSIZE     @in_len > max_msg (nothing sent), or fn claimed more
 *                 output than it had room for;
 *   -ECHILD       the worker died during the call (a crash, SIGKILL,
 *                 _exit): seen on its pidfd, so at once even while a
 *                 program or child the job started still lives (within
 *                 about 100 ms where pidfd_open is missing); it is reaped
 *                 and replaced by a fresh fork, and the pool goes on (what
 *                 the job started is left alone); a worker found dead
 *                 before a call is replaced silently;
 *   -ECANCELED / -ETIMEDOUT  interrupted. While waiting for a worker:
 *                 at once, nothing sent. Once the request went out: the
 *                 worker is killed (SIGKILL), reaped and replaced, so the
 *                 work stops - fn's side effects up to then stay;
 *   -EXDEV        calls of a loop outside the caller's runtime are in
 *                 progress (a pool serves one loop at a time; a call from
 *                 another loop of the same runtime (api/reel_rt.h) is run
 *                 on the loop that has the pool, through reel_loop_call,
 *                 so all the loops of a runtime share a pool);
 *   -EPERM        outside a fiber; other -errno from fork (no worker could
 *                 be replaced).
 * After an error, *@status holds the same error. @in and @out belong to the
 * caller: nothing refers to them once the call returns.
 */
REEL_API int reel_procpool_call(struct reel_procpool *pool, reel_proc_fn fn,
				const void *in, size_t in_len, void *out, size_t out_cap,
				size_t *out_len, int *status);

/*
 * reel_procpool_destroy - close every worker's socket (workers exit), wait
 * for them up to 1 s, SIGKILL those still there, reap them all, free @pool.
 * Returns 0; -EBUSY (nothing done) while calls are in progress; -EINVAL for
 * NULL. Context: anywhere; on a fiber the grace period parks instead of
 * blocking the loop.
 */
REEL_API int reel_procpool_destroy(struct reel_procpool *pool);

#ifdef __cplusplus
}
#endif

#endif /* REEL_OFFLOAD_H */
