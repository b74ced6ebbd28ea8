/*
 * reel_trace.h - seeing inside: a run-time trace of the scheduler (for
 * reel-trace and Perfetto), the loop's always-on counters, and the names of
 * what the USDT probes and the trace report.
 *
 * The trace: with REEL_TRACE=FILE in the environment when reel_run starts,
 * or between reel_trace_start and reel_trace_stop, every loop of the
 * process writes compact binary events - spawn, run, park (reason and
 * object), wake (and who woke it), submit, completion (opcode, result,
 * latency), timer, cancel, deadline, the kernel wait - into a buffer of
 * its own; a background thread writes full buffers to FILE, so a loop never
 * waits for the disk. When the writer falls behind, events are dropped and
 * counted (reel_trace_stats), never waited for. `reel-trace FILE` prints a
 * summary and converts the file to Chrome trace JSON (docs/profiling.md).
 *
 * The counters (reel_loop_stats) are always on: plain increments on the
 * loop's own thread.
 *
 * The console: with REEL_CONSOLE=1 in the environment when the first
 * reel_run starts, or after reel_console_start, `reel-top PID` shows every
 * loop's fibers live, like top: state, park reason, run and wait time, name
 * (docs/profiling.md, "reel-top").
 */
#ifndef REEL_TRACE_H
#define REEL_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Why a fiber is parked: the `reason` of the park USDT probe and of trace
 * events, shown by reel-trace, reel-top and gdb's `reel fibers`.
 */
enum reel_park_reason {
	REEL_PARK_YIELD,        /* reel_yield: ready again at once */
	REEL_PARK_SLEEP,        /* reel_sleep */
	REEL_PARK_JOIN,         /* reel_join */
	REEL_PARK_IO,           /* an I/O operation in the kernel */
	REEL_PARK_IO_CANCEL,    /* interrupted, waiting for the kernel to let go */
	REEL_PARK_SHUTDOWN,     /* main, waiting for the other tasks to end */
	REEL_PARK_GATHER,       /* gather, a task group or a task set */
	REEL_PARK_SYNC,         /* lock, semaphore, event, condition */
	REEL_PARK_CHAN,         /* channel send or receive */
	REEL_PARK_GEN,          /* generator hand-off */
	REEL_PARK_OFFLOAD,      /* thread or process pool */
	REEL_PARK_REMOTE,       /* a task on another loop (reel_remote_join) */
	REEL_PARK_XCHAN,        /* a channel between loops (reel_xchan) */
	REEL_PARK_REASONS
};

/* "yield", "sleep", "join", "io", "io-cancel", "shutdown", "gather", "sync",
 * "chan", "gen", "offload", "remote", "xchan"; "?" out of range. Context: anywhere. */
REEL_API const char *reel_park_reason_name(int reason);

/* ---- the trace ----------------------------------------------------------------- */

/*
 * reel_trace_start - begin tracing every loop of the process into @path
 * (created or truncated, mode 0644). Loops that start later trace too,
 * until reel_trace_stop. Returns 0; -EALREADY when a trace is running;
 * -EINVAL for NULL; the -errno of opening the file or starting the writer
 * thread. Context: anywhere (from a fiber, its own loop starts at once;
 * other loops at their next pass).
 */
REEL_API int reel_trace_start(const char *path);

/*
 * reel_trace_stop - stop tracing, write what is buffered and close the
 * file. Returns 0; -ENOENT when no trace runs; a write error the writer met
 * (the file is then incomplete). Context: anywhere.
 */
REEL_API int reel_trace_stop(void);

/* The trace's counters so far (zeros when none ran). */
struct reel_trace_stats {
	uint64_t events;    /* recorded */
	uint64_t dropped;   /* lost: the writer was behind */
	uint64_t bytes;     /* written to the file */
};
REEL_API int reel_trace_stats(struct reel_trace_stats *st);

/* ---- the stall detector -------------------------------------------------------- */

/*
 * reel_stall_detect - report any fiber of the calling thread's loop that
 * holds the loop for @threshold_ns or more without parking (asyncio's
 * slow-callback warning, Seastar's blocked-reactor report): one report per
 * stall on stderr, with the task's name and id, how long at least, and
 * its backtrace as module+offset lines for `addr2line -f -e`. It is written
 * from a signal handler on the loop's own thread (a real-time signal,
 * SIGRTMAX-7, every @threshold_ns / 2), so a stalled loop still reports.
 * Also REEL_STALL_MS=N in the environment when reel_run starts. 0 turns it
 * off. Returns 0; -EINVAL below 2 ms; -EPERM outside a loop; the -errno of
 * creating the timer. Context: the loop's thread.
 */
REEL_API int reel_stall_detect(uint64_t threshold_ns);

/* ---- the console (reel-top) --------------------------------------------------- */

/*
 * reel_console_start - open the console: a Unix socket at
 * $XDG_RUNTIME_DIR/reel-PID.sock, or /tmp/reel-UID/reel-PID.sock (the
 * directory is made mode 0700), mode 0600, answered by a background thread;
 * a connection from another user is closed unanswered. While it is open
 * every loop, at the start of a scheduler pass at most once a second,
 * writes a snapshot of its fibers (id, name, state, park reason, time on the
 * CPU, ready and parked) and counters into a buffer of its own, which each
 * connection receives as text. While it is open, each fiber switch and wake
 * also reads the clock; closed, they do not.
 * Returns 0; -EALREADY when it is open; -EPERM when the directory is not
 * ours alone; -ENAMETOOLONG; the -errno of making the socket or the thread.
 * Context: anywhere (loops join at their next pass).
 */
REEL_API int reel_console_start(void);

/*
 * reel_console_stop - close the console: the thread ends, the socket file
 * is removed, loops stop timing at their next pass. Returns 0; -ENOENT when
 * it is not open. Context: anywhere. (REEL_CONSOLE=1 closes it at exit.)
 */
REEL_API int reel_console_stop(void);

/* ---- counters ------------------------------------------------------------------ */

/* The calling thread's loop, counted since it started. */
struct reel_loop_stats {
	uint64_t switches;        /* fiber switches */
	uint64_t spawns;          /* tasks spawned */
	uint64_t tasks;           /* tasks alive now, main included */
	uint64_t ready;           /* fibers ready to run now */
	uint64_t sqes;            /* submission queue entries submitted */
	uint64_t enters;          /* io_uring_enter calls */
	uint64_t completions;     /* completions handled */
	uint64_t cq_overflows;    /* times the kernel's completion queue overflowed */
	uint64_t timers_armed;
	uint64_t timers_fired;
	uint64_t busy_ns;         /* time outside the kernel wait */
	uint64_t idle_ns;         /* time waiting in the kernel */
	uint64_t stalls;          /* stalls the stall detector reported */
};

/*
 * reel_loop_stats - the counters of the calling thread's loop. Returns 0;
 * -EINVAL for NULL; -EPERM outside a loop. Context: a fiber, or a hook
 * running on the loop's thread.
 */
REEL_API int reel_loop_stats(struct reel_loop_stats *st);

/*
 * reel_loop_stats_prometheus - the same counters as Prometheus text
 * exposition lines ("reel_loop_switches_total 123\n" ...) into @buf.
 * Returns the length of the full text (snprintf-style); -EPERM outside a
 * loop. Context: as reel_loop_stats. (reel_http_metrics serves it.)
 */
REEL_API int reel_loop_stats_prometheus(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* REEL_TRACE_H */
