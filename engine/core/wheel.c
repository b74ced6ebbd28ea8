/*
 * wheel.c - hierarchical timer wheel with cascading (Varghese & Lauck, and
 * the kernel's kernel/time/timer.c before 4.8).
 *
 * Time is counted in ticks of 2^shift ns (default shift 16: 65.536 us). A
 * deadline in ns becomes the first tick boundary at or after it, so a timer
 * never fires early when the loop's clock says tick T has begun.
 *
 * There are LEVELS (6) levels of SIZE (256) buckets. Level l holds timers
 * whose distance from "now" is in [256^l, 256^(l+1)) ticks; a bucket of
 * level l spans 256^l ticks:
 *
 *   level  tick span      range (tick = 65.536 us)
 *   0      1 tick         16.8 ms
 *   1      256 ticks      4.3 s
 *   2      2^16 ticks     18.3 min
 *   3      2^24 ticks     3.3 days
 *   4      2^32 ticks     2.3 years
 *   5      2^40 ticks     580 years
 *
 * 256 rather than 64 buckets a level: a timer up to 4 s away cascades once,
 * not twice, and each cascade step touches the timer's memory - with a
 * million timers that is a cache miss each, the dominant cost of a 1M-timer
 * run. The price is 24 KiB of bucket heads per loop and 4-word bitmaps.
 *
 * Past the last level, a timer is parked in the last level's farthest
 * bucket and re-filed (with its true expiry) each time that bucket cascades.
 *
 * A bucket of level l >= 1 is "cascaded" when time reaches its start: its
 * timers are re-filed into lower levels, where the finer buckets tell them
 * apart. Each timer cascades at most LEVELS-1 times, so arming and expiring
 * are O(1) amortised; cancelling is an O(1) unlink. We trade exactness of
 * "which timer is earliest" inside a coarse bucket for that O(1): the loop's
 * kernel wait is bounded by the next cascade point when that comes first
 * (reel__wheel_next_ns), which costs at most one extra wake-up per level for a
 * far timer. The kernel's 4.8 wheel drops cascading and lets far timers fire
 * up to 12% late instead; reel promises "late only by the tick", so it keeps
 * cascading.
 *
 * Per-level bitmaps of non-empty buckets let advance and next_ns jump over
 * empty stretches of time instead of walking tick by tick.
 */
#include <assert.h>
#include <stddef.h>

#include "trace.h"
#include "wheel.h"

#define SIZE   REEL__WHEEL_SIZE
#define BITS   REEL__WHEEL_BITS
#define LEVELS REEL__WHEEL_LEVELS
#define WORDS  REEL__WHEEL_WORDS
#define MASK   (SIZE - 1)

/* Ticks one bucket of @level spans: 256^level. */
static inline uint64_t level_span(unsigned level)
{
	return (uint64_t)1 << (BITS * level);
}

/* The farthest distance the wheel files directly, in ticks. */
#define MAX_DELTA (((uint64_t)1 << (BITS * LEVELS)) - 1)

void reel__wheel_init(struct reel__wheel *w, unsigned tick_shift, uint64_t now_ns)
{
	w->shift = tick_shift;
	w->now = now_ns >> tick_shift;
	w->count = 0;
	for (unsigned l = 0; l < LEVELS; l++)
		for (unsigned i = 0; i < WORDS; i++)
			w->bitmap[l][i] = 0;
	for (unsigned i = 0; i < LEVELS * SIZE; i++)
		reel__list_init(&w->buckets[i]);
}

void reel__wheel_term(struct reel__wheel *w)
{
	/* Timers belong to their owners; a term with timers armed is a bug. */
	assert(w->count == 0);
	(void)w;
}

/*
 * calc_bucket - the bucket for expiry tick @expires, seen from tick @now.
 * Level l is the one whose range holds the distance; the index comes from the
 * expiry's own bits, so the bucket is cascaded exactly when time enters the
 * 256^l-tick block that contains @expires: never early, never a round late.
 * (The bucket with the current index was cascaded when this block began; a
 * distance that maps onto it is a full round away, which is right. Should
 * "now" sit on a block start not yet processed, that bucket cascades once
 * early: a cascade only re-files by true expiry, it never fires, so early
 * cascading costs work, never correctness.)
 */
static unsigned calc_bucket(uint64_t expires, uint64_t now)
{
	uint64_t delta = expires - now;
	unsigned level;

	if (delta > MAX_DELTA) {
		delta = MAX_DELTA;
		expires = now + MAX_DELTA;
	}
	level = delta < SIZE ? 0 : (unsigned)(63 - __builtin_clzll(delta)) / BITS;
	return level * SIZE + (unsigned)((expires >> (BITS * level)) & MASK);
}

/* Bucket b = level * SIZE + index; its bit in the level's bitmap. */
static inline void set_bit(struct reel__wheel *w, unsigned b)
{
	unsigned i = b % SIZE;

	w->bitmap[b / SIZE][i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void clear_bit(struct reel__wheel *w, unsigned b)
{
	unsigned i = b % SIZE;

	w->bitmap[b / SIZE][i / 64] &= ~((uint64_t)1 << (i % 64));
}

static inline bool test_bit(const struct reel__wheel *w, unsigned level, unsigned i)
{
	return w->bitmap[level][i / 64] & ((uint64_t)1 << (i % 64));
}

static void file_timer(struct reel__wheel *w, struct reel__timer *t)
{
	unsigned b = calc_bucket(t->expires, w->now);

	t->bucket = (uint16_t)b;
	reel__list_add_tail(&t->node, &w->buckets[b]);
	set_bit(w, b);
}

static void unfile_timer(struct reel__wheel *w, struct reel__timer *t)
{
	unsigned b = t->bucket;

	reel__list_del(&t->node);
	if (reel__list_empty(&w->buckets[b]))
		clear_bit(w, b);
}

void reel__wheel_arm(struct reel__wheel *w, struct reel__timer *t, uint64_t deadline_ns)
{
	/* Round up: the tick that begins at or after the deadline. */
	uint64_t expires = (deadline_ns + ((uint64_t)1 << w->shift) - 1) >> w->shift;

	if (deadline_ns > UINT64_MAX - ((uint64_t)1 << w->shift))
		expires = UINT64_MAX >> w->shift;
	if (t->armed)
		unfile_timer(w, t);
	else
		w->count++;
	w->armed++;
	/* Already due: fire at the next tick processed, which is "now". */
	t->expires = expires < w->now ? w->now : expires;
	t->armed = true;
	file_timer(w, t);
}

void reel__wheel_cancel(struct reel__wheel *w, struct reel__timer *t)
{
	if (!t->armed)
		return;
	unfile_timer(w, t);
	reel__list_init(&t->node);
	t->armed = false;
	w->count--;
}

/* Distance from index @start, going up and wrapping, to the first
 * non-empty bucket of @level; -1 when the level is empty. */
static int next_set(const struct reel__wheel *w, unsigned level, unsigned start)
{
	const uint64_t *bm = w->bitmap[level];

	for (unsigned i = 0; i <= WORDS; i++) {
		unsigned word = (start / 64 + i) % WORDS;
		uint64_t bits = bm[word];

		if (i == 0)
			bits &= ~(uint64_t)0 << (start % 64);         /* from start on */
		else if (i == WORDS)
			bits &= ((uint64_t)1 << (start % 64)) - 1;    /* wrapped: below start */
		if (bits) {
			unsigned pos = word * 64 + (unsigned)__builtin_ctzll(bits);

			return (int)((pos - start) & MASK);
		}
	}
	return -1;
}

/*
 * next_event_tick - the first tick >= now at which the wheel has work: an
 * expiry in level 0, or a cascade of a non-empty bucket of a higher level.
 * Level 0 buckets hold single ticks within the next SIZE. Bucket j of level
 * l >= 1 cascades at the start of the first block with index j that has not
 * been processed: blocks start at multiples of SIZE^l, and "now" may sit
 * exactly on one not processed yet (advance jumps there), so the search
 * starts at the first block start >= now.
 */
static uint64_t next_event_tick(const struct reel__wheel *w)
{
	uint64_t best = UINT64_MAX;
	int k = next_set(w, 0, (unsigned)(w->now & MASK));

	if (k >= 0)
		best = w->now + (unsigned)k;
	for (unsigned l = 1; l < LEVELS; l++) {
		unsigned shift = BITS * l;
		uint64_t first = (w->now + level_span(l) - 1) >> shift;
		uint64_t tick;

		k = next_set(w, l, (unsigned)(first & MASK));
		if (k < 0)
			continue;
		tick = (first + (unsigned)k) << shift;
		if (tick < best)
			best = tick;
	}
	return best;
}

uint64_t reel__wheel_next_ns(const struct reel__wheel *w)
{
	uint64_t tick;

	if (w->count == 0)
		return UINT64_MAX;
	tick = next_event_tick(w);
	if (tick > (UINT64_MAX >> w->shift))
		return UINT64_MAX;
	return tick << w->shift;
}

/* Re-file every timer of bucket @b: time has reached the bucket's start. */
static void cascade(struct reel__wheel *w, unsigned b)
{
	struct reel__list batch, *pos;

	reel__list_init(&batch);
	reel__list_splice_tail_init(&w->buckets[b], &batch);
	clear_bit(w, b);
	while ((pos = reel__list_pop(&batch)) != NULL)
		file_timer(w, reel__container_of(pos, struct reel__timer, node));
}

/* Process tick @tick: cascades (highest level first, so their timers can
 * fall into the buckets cascaded next), then expire level 0's bucket. */
static uint64_t run_tick(struct reel__wheel *w, uint64_t tick)
{
	struct reel__list due, *pos;
	uint64_t fired = 0;
	unsigned b0 = (unsigned)(tick & MASK);

	w->now = tick;
	for (unsigned l = LEVELS - 1; l >= 1; l--) {
		if ((tick & (level_span(l) - 1)) != 0)
			continue;
		unsigned idx = (unsigned)((tick >> (BITS * l)) & MASK);
		if (test_bit(w, l, idx))
			cascade(w, l * SIZE + idx);
	}
	reel__list_init(&due);
	reel__list_splice_tail_init(&w->buckets[b0], &due);
	clear_bit(w, b0);
	/* From here on "now" is the next tick: a callback arming a timer that is
	 * already due files it for the next tick, never into @due. */
	w->now = tick + 1;
	while ((pos = reel__list_pop(&due)) != NULL) {
		struct reel__timer *t = reel__container_of(pos, struct reel__timer, node);

		reel__list_init(&t->node);
		t->armed = false;
		w->count--;
		fired++;
		w->fired++;
		REEL_TRACE(timer_fire, TIMER, 0, t, 0, 0);
		t->fn(t);
	}
	return fired;
}

uint64_t reel__wheel_advance(struct reel__wheel *w, uint64_t now_ns)
{
	uint64_t target = now_ns >> w->shift;
	uint64_t fired = 0;

	while (w->count) {
		uint64_t tick = next_event_tick(w);

		if (tick > target)
			break;
		fired += run_tick(w, tick);
	}
	if (w->now <= target)
		w->now = target + 1;
	return fired;
}
