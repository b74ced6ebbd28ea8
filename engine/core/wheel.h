/*
 * wheel.h - hierarchical timer wheel (design notes at the top of wheel.c).
 *
 * Timers are embedded in their owner (a fiber, a deadline scope) and never
 * allocated by the wheel. Arm and cancel are O(1).
 */
#ifndef REEL_WHEEL_H
#define REEL_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

#define REEL__WHEEL_BITS   8
#define REEL__WHEEL_SIZE   (1u << REEL__WHEEL_BITS)    /* buckets per level */
#define REEL__WHEEL_LEVELS 6
#define REEL__WHEEL_WORDS  (REEL__WHEEL_SIZE / 64)     /* bitmap words per level */

struct reel__timer;
typedef void (*reel__timer_fn)(struct reel__timer *t);

struct reel__timer {
	struct reel__list node;  /* on a wheel bucket while armed */
	uint64_t expires;        /* expiry in ticks (deadline rounded up) */
	reel__timer_fn fn;       /* called once when it fires, on the loop */
	uint16_t bucket;         /* level * WHEEL_SIZE + index while armed */
	bool armed;
};

struct reel__wheel {
	uint64_t now;            /* next tick to process: every tick < now is done */
	unsigned shift;          /* tick = 2^shift ns */
	uint64_t count;          /* timers armed */
	uint64_t armed, fired;   /* counted since the wheel began (reel_loop_stats) */
	uint64_t bitmap[REEL__WHEEL_LEVELS][REEL__WHEEL_WORDS];  /* non-empty buckets */
	struct reel__list buckets[REEL__WHEEL_LEVELS * REEL__WHEEL_SIZE];
};

void reel__wheel_init(struct reel__wheel *w, unsigned tick_shift, uint64_t now_ns);
void reel__wheel_term(struct reel__wheel *w);

static inline void reel__timer_init(struct reel__timer *t, reel__timer_fn fn)
{
	reel__list_init(&t->node);
	t->fn = fn;
	t->armed = false;
	t->expires = 0;
	t->bucket = 0;
}

/* Arm @t to fire at the first tick boundary at or after @deadline_ns
 * (absolute CLOCK_MONOTONIC ns): never early. Re-arming an armed timer
 * moves it. */
void reel__wheel_arm(struct reel__wheel *w, struct reel__timer *t, uint64_t deadline_ns);

/* Disarm @t; a no-op when it is not armed (already fired or never armed). */
void reel__wheel_cancel(struct reel__wheel *w, struct reel__timer *t);

/* Fire, in expiry order, every timer due at @now_ns. Returns how many fired. */
uint64_t reel__wheel_advance(struct reel__wheel *w, uint64_t now_ns);

/* The absolute time in ns by which the loop must look at the wheel again:
 * the earliest expiry, or an earlier cascade point; UINT64_MAX when empty. */
uint64_t reel__wheel_next_ns(const struct reel__wheel *w);

static inline bool reel__wheel_empty(const struct reel__wheel *w)
{
	return w->count == 0;
}

#endif /* REEL_WHEEL_H */
