/*
 * console.h - the loop's side of the live console (console.c, reel-top).
 *
 * While the console is on, each loop times its fibers (run, ready and
 * parked time, kept at switch and wake) and, at the start of a scheduler
 * pass at most once a second, writes a text snapshot of them into a buffer
 * of its own. The console thread only ever reads those buffers. Off, the
 * cost per pass is one relaxed load and a branch not taken, and per switch
 * or wake one test of l->timing.
 */
#ifndef REEL_CONSOLE_H_INTERNAL
#define REEL_CONSOLE_H_INTERNAL

#include <stdatomic.h>
#include <stdint.h>

#include "compiler.h"

struct reel__loop;
struct reel__fiber;

/* Nonzero while a console runs (console.c). */
extern _Atomic unsigned reel__console_on;

/* A loop's pass begins: join or leave the console, snapshot when due. */
void reel__console_pass_slow(struct reel__loop *l);

static inline void reel__console_pass(struct reel__loop *l, const void *attached)
{
	if (reel_unlikely(atomic_load_explicit(&reel__console_on, memory_order_relaxed) ||
			  attached))
		reel__console_pass_slow(l);
}

/* The pass's work is done: the time it took is not the current fiber's
 * run time. Only while attached. */
void reel__console_pass_end(struct reel__loop *l);

/* The loop is about to wait in the kernel for up to @timeout_ns
 * (UINT64_MAX: no bound): snapshot when due, and return the bound that
 * wakes it for the next one. Only while attached. */
uint64_t reel__console_idle(struct reel__loop *l, uint64_t timeout_ns);

/* While l->timing: @from leaves the CPU for @to; @f becomes ready. */
void reel__console_switch(struct reel__loop *l, struct reel__fiber *from,
			  struct reel__fiber *to);
void reel__console_ready(struct reel__loop *l, struct reel__fiber *f);

/* REEL_CONSOLE=1 at a loop's start (once per process); a loop's end (its
 * buffer leaves the console). */
void reel__console_from_env(void);
void reel__console_loop_end(struct reel__loop *l);

#endif /* REEL_CONSOLE_H_INTERNAL */
