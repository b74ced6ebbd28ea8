/*
 * fuzz_wheel.c - libFuzzer target: the timer wheel (engine/core/wheel.c)
 * against a reference model, driven by the input as a list of operations.
 *
 * The input picks a tick shift (10..30) and a start time, then a sequence of
 * operations on a pool of timers: arm (at a deadline relative to now, in the
 * past too, at distances from a few ns to far beyond the wheel's last level,
 * and on tick and level boundaries), cancel, and advance time (by nothing, by
 * a nanosecond, across level boundaries, by huge jumps). After every
 * operation the wheel is checked against the model; docs/fuzz.md lists what.
 *
 * The model is what wheel.h and wheel.c document, written out plainly:
 * - arm: a deadline d becomes expiry tick E = ceil(d / 2^shift) ("the first
 *   tick boundary at or after it"), and a timer already due fires at the
 *   next tick processed: E = max(E, the wheel's next tick to process), which
 *   is the start tick, then (last advance's tick + 1);
 * - advance(now): exactly the armed timers with E <= now >> shift fire, each
 *   once, in expiry order, and the return value counts them;
 * - next_ns: UINT64_MAX when empty, else no later than the earliest expiry
 *   (E << shift); it may be earlier (a cascade point), but never inside a tick
 *   already processed (the loop would spin on it).
 * Checked beside the model: never early (a timer fires only when its
 * deadline <= now), the timer is disarmed when its callback runs, the count
 * of armed timers, and a clean term.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wheel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NTIMERS 48
#define NOW_LIMIT ((uint64_t)1 << 62)   /* CLOCK_MONOTONIC never gets near 2^64 */

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_wheel: %s:%d: check failed: %s\n",    \
				__FILE__, __LINE__, #cond);                         \
			abort();                                                    \
		}                                                                   \
	} while (0)

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;

	while (bytes-- && in->left) {
		v = (v << 8) | *in->p++;
		in->left--;
	}
	return v;
}

struct model_timer {
	struct reel__timer t;   /* the wheel's */
	bool armed;             /* the model's view */
	uint64_t deadline_ns;
	uint64_t expires;       /* expected expiry tick */
	unsigned fired;         /* times fired in the current advance */
};

static struct state {
	struct reel__wheel w;
	struct model_timer timers[NTIMERS];
	unsigned shift;
	uint64_t now_ns;        /* the last time given to the wheel */
	uint64_t next_tick;     /* model of w.now: the next tick to process */
	uint64_t advancing_to;  /* now_ns of the advance in progress */
	uint64_t last_fired_expires;
	unsigned fired_total;
} S;

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void on_fire(struct reel__timer *t)
{
	struct model_timer *m = reel__container_of(t, struct model_timer, t);

	CHECK(m->armed);                            /* armed, not cancelled */
	CHECK(!t->armed);                           /* disarmed before the call */
	CHECK(m->deadline_ns <= S.advancing_to);    /* never early */
	CHECK(m->expires <= (S.advancing_to >> S.shift));
	CHECK(m->expires >= S.last_fired_expires);  /* in expiry order */
	S.last_fired_expires = m->expires;
	m->fired++;
	CHECK(m->fired == 1);                       /* at most once */
	S.fired_total++;
}

/*
 * A distance in ns, in one of several shapes: a few ns to a few ticks, a
 * whole number of ticks give or take one ns, a level boundary (256^l ticks)
 * give or take one tick, or any number of bits up to past the last level.
 */
static uint64_t take_delta(struct input *in)
{
	uint8_t kind = (uint8_t)take(in, 1);
	uint64_t tick = (uint64_t)1 << S.shift;
	uint64_t v;

	switch (kind & 3) {
	case 0:
		return take(in, 1) % (4 * tick + 1);
	case 1:
		v = take(in, 2) * tick;
		return (kind & 4) ? v + 1 : (kind & 8) && v ? v - 1 : v;
	case 2: {
		unsigned level = (kind >> 2) % 7;   /* 6 is past the last level */
		unsigned bits = REEL__WHEEL_BITS * level + S.shift;

		v = bits >= 63 ? NOW_LIMIT : (uint64_t)1 << bits;
		return (kind & 32) ? v + tick : (kind & 64) ? v - tick : v;
	}
	default: {
		unsigned bits = (unsigned)(take(in, 1) % 64) + 1;
		uint64_t mask = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;

		return take(in, 8) & mask;
	}
	}
}

static void check_next_ns(void)
{
	uint64_t next = reel__wheel_next_ns(&S.w);
	uint64_t earliest = UINT64_MAX;
	unsigned armed = 0;

	for (unsigned i = 0; i < NTIMERS; i++) {
		struct model_timer *m = &S.timers[i];

		CHECK(m->t.armed == m->armed);
		if (!m->armed)
			continue;
		armed++;
		if (m->expires < earliest)
			earliest = m->expires;
	}
	CHECK(S.w.count == armed);
	CHECK(reel__wheel_empty(&S.w) == (armed == 0));
	if (armed == 0) {
		CHECK(next == UINT64_MAX);
		return;
	}
	/* E <= UINT64_MAX >> shift, so the shift does not overflow. */
	CHECK(next <= earliest << S.shift);          /* never later than the earliest expiry */
	CHECK(next >= S.next_tick << S.shift);       /* never a tick already processed */
}

static void op_arm(struct input *in, struct model_timer *m)
{
	uint8_t how = (uint8_t)take(in, 1);
	uint64_t delta = take_delta(in);
	uint64_t tick = (uint64_t)1 << S.shift;
	uint64_t d;

	if (how & 1)   /* in the past (or now) */
		d = delta > S.now_ns ? 0 : S.now_ns - delta;
	else if (how & 2)
		d = UINT64_MAX - (delta % (2 * tick));   /* "forever"-like deadlines */
	else
		d = sat_add(S.now_ns, delta);
	reel__wheel_arm(&S.w, &m->t, d);
	m->armed = true;
	m->deadline_ns = d;
	if (d > UINT64_MAX - tick)
		m->expires = UINT64_MAX >> S.shift;   /* wheel.c's clamp */
	else
		m->expires = (d + tick - 1) >> S.shift;
	if (m->expires < S.next_tick)
		m->expires = S.next_tick;
}

static void op_advance(struct input *in)
{
	uint64_t to = sat_add(S.now_ns, take_delta(in));
	uint64_t target, fired;
	unsigned expect = 0;

	if (to > NOW_LIMIT)
		to = NOW_LIMIT;
	target = to >> S.shift;
	for (unsigned i = 0; i < NTIMERS; i++) {
		S.timers[i].fired = 0;
		if (S.timers[i].armed && S.timers[i].expires <= target)
			expect++;
	}
	S.advancing_to = to;
	S.last_fired_expires = 0;
	S.fired_total = 0;
	fired = reel__wheel_advance(&S.w, to);
	CHECK(fired == S.fired_total);
	/* Same firing set: every timer due fired, none other did. */
	for (unsigned i = 0; i < NTIMERS; i++) {
		struct model_timer *m = &S.timers[i];
		bool due = m->armed && m->expires <= target;

		CHECK(m->fired == (due ? 1u : 0u));
		if (due)
			m->armed = false;
	}
	CHECK(fired == expect);
	S.now_ns = to;
	if (S.next_tick <= target)
		S.next_tick = target + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	S.shift = 10 + (unsigned)(take(&in, 1) % 21);
	S.now_ns = take(&in, 8) & (NOW_LIMIT / 2 - 1);
	if (take(&in, 1) & 1)   /* often start on a level-aligned time */
		S.now_ns &= ~(((uint64_t)1 << (S.shift + 16)) - 1);
	reel__wheel_init(&S.w, S.shift, S.now_ns);
	S.next_tick = S.now_ns >> S.shift;
	for (unsigned i = 0; i < NTIMERS; i++) {
		reel__timer_init(&S.timers[i].t, on_fire);
		S.timers[i].armed = false;
	}
	check_next_ns();
	while (in.left) {
		uint8_t op = (uint8_t)take(&in, 1);
		struct model_timer *m = &S.timers[(op >> 2) % NTIMERS];

		switch (op & 3) {
		case 0:
		case 1:
			op_arm(&in, m);
			break;
		case 2:
			reel__wheel_cancel(&S.w, &m->t);
			m->armed = false;
			break;
		default:
			op_advance(&in);
			break;
		}
		check_next_ns();
	}
	for (unsigned i = 0; i < NTIMERS; i++) {
		reel__wheel_cancel(&S.w, &S.timers[i].t);
		S.timers[i].armed = false;
	}
	check_next_ns();
	reel__wheel_term(&S.w);
	return 0;
}
