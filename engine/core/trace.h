/*
 * trace.h - the one internal trace path (docs/design.md §8, docs/profiling.md).
 *
 * Every event of the scheduler, ring and timers goes through REEL_TRACE().
 * It feeds two consumers:
 *
 *  - USDT: with systemtap-sdt-dev present (REEL_HAVE_SDT) each event is a
 *    probe "reel:<event>" - a nop instruction until perf, bpftrace or
 *    systemtap attach to it (the probes and their arguments are listed in
 *    docs/profiling.md);
 *  - the run-time trace (tracebuf.c): when tracing is on, a 32-byte record
 *    goes into this thread's trace buffer. Off, the cost is one TLS load and
 *    a branch that is not taken.
 *
 * Each event has four arguments: the task it is about, two 64-bit values and
 * a small one, as the table below says. The record format is the file
 * format reel-trace reads (tools/reel-trace, docs/profiling.md).
 */
#ifndef REEL_TRACE_H_INTERNAL
#define REEL_TRACE_H_INTERNAL

#include <stdint.h>
#include <time.h>

#include "compiler.h"

/* CLOCK_MONOTONIC in ns, as reel_now(), inline: the ring's timing of its
 * waits and operations stays a leaf (no call into deadline.c). */
static inline uint64_t reel__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*                        task        a                 b           c */
enum reel__ev {
	REEL__EV_LOOP = 1,    /* -           thread id         -           - : a loop joins */
	REEL__EV_SPAWN,       /* new task    parent task       -           - */
	REEL__EV_NAME,        /* task        -                 -           length; text follows */
	REEL__EV_SWITCH,      /* to          from              -           - : run start of to */
	REEL__EV_PARK,        /* task        object            -           reason */
	REEL__EV_WAKE,        /* task        waker task (0: the loop) result cause (opcode+1, 0) */
	REEL__EV_END,         /* task        -                 status      - */
	REEL__EV_CANCEL,      /* task        -                 -           - */
	REEL__EV_DEADLINE,    /* task        -                 -           - : a deadline passed */
	REEL__EV_SUBMIT,      /* -           -                 SQEs        - */
	REEL__EV_COMPLETE,    /* waiter      latency ns        result      opcode (| 0x8000: multishot) */
	REEL__EV_TIMER,       /* -           timer             -           - : a wheel timer fired */
	REEL__EV_WAIT,        /* -           timeout ns        -           - : into the kernel wait */
	REEL__EV_WAKEUP,      /* -           -                 CQEs        - : back from it */
	REEL__EV_DROPPED,     /* -           events lost       -           - */
	REEL__EV_TYPES
};

/* One event as recorded and as written to the trace file. */
struct reel__trace_rec {
	uint64_t t;           /* CLOCK_MONOTONIC ns */
	uint64_t task;
	uint64_t a;
	uint32_t b;
	uint16_t type;        /* enum reel__ev */
	uint16_t c;
};
_Static_assert(sizeof(struct reel__trace_rec) == 32, "trace record size");

struct reel__tracebuf;

/* This thread's trace buffer while tracing, else NULL (tracebuf.c). */
extern __thread struct reel__tracebuf *reel__trace_cur
	__attribute__((tls_model("initial-exec")));

/* The records' clock: CLOCK_MONOTONIC ns, from the TSC where it is
 * invariant (tracebuf.c). For work done only while tracing. */
uint64_t reel__trace_now(void);

void reel__trace_put(struct reel__tracebuf *tb, unsigned type, uint64_t task, uint64_t a,
		     uint32_t b, unsigned c);

#if defined(REEL_NO_TRACE) && REEL_NO_TRACE
/* The benchmark's bare build (bench/trace): no trace point at all. */
#define REEL__USDT(ev, task, a, b, c) do { } while (0)
#define REEL__USDT_SPAWN(task, parent, name) do { } while (0)
#elif defined(REEL_HAVE_SDT) && REEL_HAVE_SDT
#include <sys/sdt.h>
#define REEL__USDT(ev, task, a, b, c) DTRACE_PROBE4(reel, ev, task, a, b, c)
#define REEL__USDT_SPAWN(task, parent, name) DTRACE_PROBE3(reel, spawn, task, parent, name)
#else
#define REEL__USDT(ev, task, a, b, c) do { } while (0)
#define REEL__USDT_SPAWN(task, parent, name) do { } while (0)
#endif

/* A task's name, once, when it is spawned (tracing only). */
void reel__trace_name(uint64_t task, const char *name);

/* The trace point: the USDT probe "reel:@ev" and, when tracing, a record of
 * type REEL__EV_@EV. Arguments are evaluated once each. */
#if defined(REEL_NO_TRACE) && REEL_NO_TRACE
#define REEL_TRACING() false
#define REEL_TRACE_CAUSE(op) do { } while (0)
#define reel__trace_sync() do { } while (0)
#define REEL_TRACE(ev, EV, task, a, b, c)                                          \
	do { (void)(task); (void)(a); (void)(b); (void)(c); } while (0)
#define REEL_TRACE_TO(buf, ev, EV, task, a, b, c) REEL_TRACE(ev, EV, task, a, b, c)
#define REEL_TRACE_SPAWN(task, parent, name)                                     \
	do { (void)(task); (void)(parent); (void)(name); } while (0)
#else
/* Is this thread's loop tracing? (for work only a trace needs) */
#define REEL_TRACING() reel_unlikely(reel__trace_cur != NULL)
/* The completion being dispatched: what a wake in its handler is blamed on. */
#define REEL_TRACE_CAUSE(v) (reel__trace_cause = (uint16_t)(v))
#define REEL_TRACE(ev, EV, task, a, b, c) \
	REEL_TRACE_TO(reel__trace_cur, ev, EV, task, a, b, c)
/* The same, with the trace buffer at hand (the switch path keeps it in the
 * loop's first cache line: one load instead of a TLS address and a load). */
#define REEL_TRACE_TO(buf, ev, EV, task, a, b, c)                                  \
	do {                                                                       \
		uint64_t t_task_ = (uint64_t)(task), t_a_ = (uint64_t)(a);         \
		uint32_t t_b_ = (uint32_t)(b);                                     \
		unsigned t_c_ = (unsigned)(c);                                     \
		struct reel__tracebuf *t_tb_ = (buf);                              \
		REEL__USDT(ev, t_task_, t_a_, t_b_, t_c_);                         \
		if (reel_unlikely(t_tb_ != NULL))                                  \
			reel__trace_put(t_tb_, REEL__EV_##EV, t_task_, t_a_, t_b_, \
					t_c_);                                     \
	} while (0)

/* Spawn is the one event with a string: the USDT probe reel:spawn carries
 * (task, parent, name); the trace gets a SPAWN record and a NAME. */
#define REEL_TRACE_SPAWN(task, parent, name)                                     \
	do {                                                                     \
		uint64_t s_task_ = (uint64_t)(task), s_parent_ = (uint64_t)(parent); \
		const char *s_name_ = (name);                                    \
		REEL__USDT_SPAWN(s_task_, s_parent_, s_name_);                   \
		if (reel_unlikely(reel__trace_cur != NULL)) {                    \
			reel__trace_put(reel__trace_cur, REEL__EV_SPAWN, s_task_,  \
					s_parent_, 0, 0);                        \
			reel__trace_name(s_task_, s_name_);                      \
		}                                                                \
	} while (0)
#endif

/* The loop's side (tracebuf.c): at its start (REEL_TRACE=FILE, a trace
 * already running), at the start of each pass (a trace started or stopped
 * on another thread: one relaxed load), and at its end (its last events go
 * to the writer). */
void reel__trace_loop_begin(struct reel__tracebuf **loop_copy);
#if !(defined(REEL_NO_TRACE) && REEL_NO_TRACE)
void reel__trace_sync(void);
#endif
void reel__trace_sync_slow(void);
void reel__trace_loop_end(void);
void reel__trace_from_env(void);

/* The opcode (+1) of the completion being dispatched, 0 outside: a wake
 * records what woke the fiber. */
extern __thread uint16_t reel__trace_cause
	__attribute__((tls_model("initial-exec")));

#endif /* REEL_TRACE_H_INTERNAL */
