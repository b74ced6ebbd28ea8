/*
 * timer.c - arming and cancelling timers when a million are armed.
 *
 * A loop with many connections arms a timeout per operation and cancels
 * nearly all of them, so both must stay cheap however many are pending.
 * reel's timer wheel (engine/core/wheel.c) is driven directly, without a loop:
 * arm 1M timers with random deadlines 1 s..100 s ahead (levels 2 and 3 of
 * the wheel, the common case of I/O timeouts), then cancel them all, in the
 * order they were armed, which is random with respect to their deadlines.
 *
 * The baseline is what most event loops use: a binary min-heap (libuv's
 * timers are one), with the same deadlines in the same order; cancel is the
 * removal of an arbitrary node by its index. Goals are absolute: arm and
 * cancel each within 50 ns. Absolute numbers on a shared machine are only
 * reported, never asserted (docs/design.md §9).
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

#include "core/wheel.h"

#define NAME "timer"
#define NTIMERS 1000000u
#define TICK_SHIFT 16           /* reel_run's default tick: 65.536 us */
#define NS_PER_S 1000000000ull

/* ---- the baseline: an array-backed binary min-heap ---- */

/* A heap timer: like reel__timer it is embedded by its owner; @idx is where
 * it sits in the heap array while armed, which makes removal O(log n). */
struct heap_timer {
	uint64_t deadline_ns;
	uint32_t idx;
};

struct min_heap {
	struct heap_timer **a;
	uint32_t n;
};

static void heap_place(struct min_heap *h, uint32_t i, struct heap_timer *t)
{
	h->a[i] = t;
	t->idx = i;
}

static void sift_up(struct min_heap *h, uint32_t i)
{
	struct heap_timer *t = h->a[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->a[parent]->deadline_ns <= t->deadline_ns)
			break;
		heap_place(h, i, h->a[parent]);
		i = parent;
	}
	heap_place(h, i, t);
}

static void sift_down(struct min_heap *h, uint32_t i)
{
	struct heap_timer *t = h->a[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
		    h->a[child + 1]->deadline_ns < h->a[child]->deadline_ns)
			child++;
		if (t->deadline_ns <= h->a[child]->deadline_ns)
			break;
		heap_place(h, i, h->a[child]);
		i = child;
	}
	heap_place(h, i, t);
}

static void heap_insert(struct min_heap *h, struct heap_timer *t)
{
	heap_place(h, h->n, t);
	sift_up(h, h->n++);
}

/* Move the last node into @t's hole; it may belong above or below it. */
static void heap_remove(struct min_heap *h, struct heap_timer *t)
{
	uint32_t i = t->idx;
	struct heap_timer *last = h->a[--h->n];

	if (last == t)
		return;
	heap_place(h, i, last);
	if (i > 0 && h->a[(i - 1) / 2]->deadline_ns > last->deadline_ns)
		sift_up(h, i);
	else
		sift_down(h, i);
}

/* ---- the measurement ---- */

struct timer_bench {
	uint64_t *deadline_ns;          /* NTIMERS, absolute */
	uint64_t start_ns;              /* "now" for both structures */
	struct reel__timer *timers;
	struct reel__wheel *wheel;
	struct heap_timer *htimers;
	struct min_heap heap;
};

/* Never called: nothing advances the wheel. */
static void timer_fired(struct reel__timer *t)
{
	(void)t;
	abort();
}

/* Arm all, then cancel all; store ns per operation of each. */
static void run_wheel(struct timer_bench *b, double *arm, double *cancel)
{
	uint64_t t0, t1, t2;

	reel__wheel_init(b->wheel, TICK_SHIFT, b->start_ns);
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < NTIMERS; i++)
		reel__wheel_arm(b->wheel, &b->timers[i], b->deadline_ns[i]);
	t1 = bench_now_ns();
	for (uint32_t i = 0; i < NTIMERS; i++)
		reel__wheel_cancel(b->wheel, &b->timers[i]);
	t2 = bench_now_ns();
	reel__wheel_term(b->wheel);
	*arm = (double)(t1 - t0) / NTIMERS;
	*cancel = (double)(t2 - t1) / NTIMERS;
}

static void run_heap(struct timer_bench *b, double *arm, double *cancel)
{
	uint64_t t0, t1, t2;

	b->heap.n = 0;
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < NTIMERS; i++) {
		b->htimers[i].deadline_ns = b->deadline_ns[i];
		heap_insert(&b->heap, &b->htimers[i]);
	}
	t1 = bench_now_ns();
	for (uint32_t i = 0; i < NTIMERS; i++)
		heap_remove(&b->heap, &b->htimers[i]);
	t2 = bench_now_ns();
	*arm = (double)(t1 - t0) / NTIMERS;
	*cancel = (double)(t2 - t1) / NTIMERS;
}

static void timer_bench_free(struct timer_bench *b)
{
	free(b->deadline_ns);
	free(b->timers);
	free(b->wheel);
	free(b->htimers);
	free(b->heap.a);
}

/* Same deadlines for both, uniform over [1 s, 100 s) from a fixed seed. */
static int timer_bench_init(struct timer_bench *b)
{
	uint64_t seed = 42;

	*b = (struct timer_bench){ 0 };
	b->deadline_ns = malloc(NTIMERS * sizeof(*b->deadline_ns));
	b->timers = malloc(NTIMERS * sizeof(*b->timers));
	b->wheel = malloc(sizeof(*b->wheel));
	b->htimers = malloc(NTIMERS * sizeof(*b->htimers));
	b->heap.a = malloc(NTIMERS * sizeof(*b->heap.a));
	if (!b->deadline_ns || !b->timers || !b->wheel || !b->htimers || !b->heap.a) {
		timer_bench_free(b);
		return -ENOMEM;
	}
	b->start_ns = bench_now_ns();
	for (uint32_t i = 0; i < NTIMERS; i++) {
		b->deadline_ns[i] = b->start_ns + NS_PER_S +
				    bench_rand(&seed) % (99 * NS_PER_S);
		reel__timer_init(&b->timers[i], timer_fired);
	}
	return 0;
}

int bench_timer(const struct bench_cfg *cfg)
{
	struct bench_series arm[2] = { 0 }, cancel[2] = { 0 };
	struct timer_bench b;
	double a, c;
	int err = timer_bench_init(&b);

	if (err < 0)
		return bench_fail(NAME, err, "allocating 1M timers");
	/* Warm-up: fault in every array and the allocator's pages once. */
	run_wheel(&b, &a, &c);
	run_heap(&b, &a, &c);
	for (unsigned r = 0; r < cfg->reps; r++) {
		run_wheel(&b, &a, &c);
		bench_series_add(&arm[0], a);
		bench_series_add(&cancel[0], c);
		run_heap(&b, &a, &c);
		bench_series_add(&arm[1], a);
		bench_series_add(&cancel[1], c);
	}
	timer_bench_free(&b);

	bench_report(NAME, &(struct bench_row){
		.name = "timer: arm, 1M armed (1..100 s)", .unit = "ns",
		.reel = &arm[0], .base_name = "binary heap insert",
		.base = &arm[1], .goal = BENCH_ABS_LE, .goal_value = 50 });
	bench_report(NAME, &(struct bench_row){
		.name = "timer: cancel, 1M armed", .unit = "ns",
		.reel = &cancel[0], .base_name = "binary heap remove(idx)",
		.base = &cancel[1], .goal = BENCH_ABS_LE, .goal_value = 50 });
	return 0;
}
