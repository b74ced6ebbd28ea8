/*
 * trace.h - the one internal trace macro (docs/design.md §8).
 *
 * Every event of the scheduler, ring and timers goes through REEL_TRACEn.
 * With systemtap-sdt-dev present (REEL_HAVE_SDT) each becomes a USDT probe
 * "reel:<event>" - a nop instruction until perf, bpftrace or systemtap
 * attach to it:
 *
 *   perf probe -x libreel.so sdt_reel:park    (after perf buildid-cache --add)
 *   bpftrace -e 'usdt:./libreel.so:reel:switch { @[arg1] = count(); }'
 *
 * Events and arguments:
 *   spawn(task_id, fn)         switch(from_id, to_id)    park(task_id, reason)
 *   wake(task_id, result)      cancel(task_id)           submit(n_sqes)
 *   complete(user_data, res)   timer_fire(timer)
 * The run-time ring buffer and timeline export build on the same macro later.
 */
#ifndef REEL_TRACE_H
#define REEL_TRACE_H

#if defined(REEL_HAVE_SDT) && REEL_HAVE_SDT
#include <sys/sdt.h>
#define REEL_TRACE1(ev, a)    DTRACE_PROBE1(reel, ev, a)
#define REEL_TRACE2(ev, a, b) DTRACE_PROBE2(reel, ev, a, b)
#else
#define REEL_TRACE1(ev, a)    do { (void)(a); } while (0)
#define REEL_TRACE2(ev, a, b) do { (void)(a); (void)(b); } while (0)
#endif

#endif /* REEL_TRACE_H */
