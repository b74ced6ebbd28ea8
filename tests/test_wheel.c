/*
 * Description: the hierarchical timer wheel on its own, with a fake clock:
 * expiry order, cascades through every level, cancel, never early, late by
 * at most one tick, next_ns bounds, and a million timers.
 */
#include <stdlib.h>

#include "helpers.h"
#include "wheel.h"

static unsigned shift = 16;
#define TICK ((uint64_t)1 << shift)

struct probe_timer {
	struct reel__timer t;
	uint64_t deadline;     /* requested, ns */
	uint64_t fired_at;     /* the fake clock when it fired, 0 = not yet */
	unsigned order;        /* firing sequence number */
};

static uint64_t fake_now;
static unsigned fire_seq;

static void on_fire(struct reel__timer *t)
{
	struct probe_timer *p = reel__container_of(t, struct probe_timer, t);

	p->fired_at = fake_now;
	p->order = ++fire_seq;
}

static uint64_t rnd64(void)
{
	return ((uint64_t)(unsigned)rand() << 31) ^ (uint64_t)(unsigned)rand();
}

static struct reel__wheel *new_wheel(uint64_t start)
{
	struct reel__wheel *w = malloc(sizeof(*w));

	assert_non_null(w);
	fake_now = start;
	fire_seq = 0;
	reel__wheel_init(w, shift, start);
	return w;
}

static void arm(struct reel__wheel *w, struct probe_timer *p, uint64_t deadline)
{
	reel__timer_init(&p->t, on_fire);
	p->deadline = deadline;
	p->fired_at = 0;
	reel__wheel_arm(w, &p->t, deadline);
}

/* Advance the fake clock to @to in steps of @step, firing as we go. */
static void run_clock(struct reel__wheel *w, uint64_t to, uint64_t step)
{
	while (fake_now < to) {
		fake_now = fake_now + step > to ? to : fake_now + step;
		reel__wheel_advance(w, fake_now);
	}
}

static void test_wheel_never_fires_early_and_late_by_one_tick_at_most(void **state)
{
	enum { N = 20000 };
	struct probe_timer *p = calloc(N, sizeof(*p));
	struct reel__wheel *w = new_wheel(123456789);
	uint64_t step = TICK / 3;

	(void)state;
	srand(1);
	for (int i = 0; i < N; i++)
		arm(w, &p[i], fake_now + 1 + rnd64() % (20ull * 1000 * MS));
	run_clock(w, fake_now + 21ull * 1000 * MS, step);
	for (int i = 0; i < N; i++) {
		assert_true(p[i].fired_at != 0);
		assert_true(p[i].fired_at >= p[i].deadline);             /* never early */
		assert_true(p[i].fired_at < p[i].deadline + TICK + step); /* one tick + one step */
	}
	assert_true(reel__wheel_empty(w));
	reel__wheel_term(w);
	free(w);
	free(p);
}

static int by_deadline(const void *a, const void *b)
{
	const struct probe_timer *x = *(struct probe_timer *const *)a;
	const struct probe_timer *y = *(struct probe_timer *const *)b;

	return x->deadline < y->deadline ? -1 : x->deadline > y->deadline;
}

static void test_wheel_fires_in_deadline_order_across_big_jumps(void **state)
{
	enum { N = 5000 };
	struct probe_timer *p = calloc(N, sizeof(*p));
	struct probe_timer **sorted = calloc(N, sizeof(*sorted));
	struct reel__wheel *w = new_wheel(0);

	(void)state;
	srand(2);
	for (int i = 0; i < N; i++) {
		/* distinct ticks, so the order is fully determined */
		arm(w, &p[i], ((uint64_t)i * 7919 % N + 1) * 97 * TICK);
		sorted[i] = &p[i];
	}
	qsort(sorted, N, sizeof(*sorted), by_deadline);
	/* Jump the clock in uneven strides; one advance may fire many timers. */
	run_clock(w, (uint64_t)(N + 2) * 97 * TICK, 1234567 * TICK / 1000);
	for (int i = 0; i < N; i++)
		assert_int_equal(sorted[i]->order, i + 1);
	reel__wheel_term(w);
	free(w);
	free(sorted);
	free(p);
}

/* A timer at each level boundary and far beyond the last level: each must
 * cascade down level by level and fire at its own tick, neither before nor a
 * round late. */
static void test_wheel_cascades_through_every_level(void **state)
{
	struct probe_timer p[3 * REEL__WHEEL_LEVELS + 1];
	struct reel__wheel *w;
	uint64_t start;
	unsigned n = 0;

	(void)state;
	shift = 10;   /* so that even past the last level fits in 64-bit ns */
	w = new_wheel(5 * TICK + 17);
	start = fake_now;
	for (unsigned l = 1; l < REEL__WHEEL_LEVELS; l++) {
		uint64_t span = (uint64_t)1 << (REEL__WHEEL_BITS * l);

		arm(w, &p[n++], start + span * TICK);            /* first of level l */
		arm(w, &p[n++], start + (span + 1) * TICK + 1);  /* just after */
		arm(w, &p[n++], start + (span * REEL__WHEEL_SIZE - 1) * TICK); /* last of level l */
	}
	/* Past the last level: parked at the far end, re-filed later. */
	arm(w, &p[n++], start + ((uint64_t)1 << 50) * TICK);
	for (unsigned i = 0; i < n; i++) {
		uint64_t d = p[i].deadline;

		/* Jump to just before the deadline: must not fire... */
		fake_now = d - 1;
		reel__wheel_advance(w, fake_now);
		assert_int_equal(p[i].fired_at, 0);
		/* ...and fires once the deadline's tick has begun. */
		fake_now = ((d + TICK - 1) / TICK) * TICK;
		reel__wheel_advance(w, fake_now);
		assert_true(p[i].fired_at == fake_now);
	}
	assert_true(reel__wheel_empty(w));
	reel__wheel_term(w);
	free(w);
	shift = 16;
}

static void test_wheel_cancel_is_o1_and_idempotent(void **state)
{
	enum { N = 1000 };
	struct probe_timer p[N];
	struct reel__wheel *w = new_wheel(0);

	(void)state;
	for (int i = 0; i < N; i++)
		arm(w, &p[i], (uint64_t)(i + 1) * 3 * TICK);
	for (int i = 0; i < N; i += 2) {
		reel__wheel_cancel(w, &p[i].t);
		reel__wheel_cancel(w, &p[i].t);   /* second cancel: no-op */
	}
	assert_int_equal(w->count, N / 2);
	run_clock(w, (uint64_t)(N + 1) * 3 * TICK, TICK * 5);
	for (int i = 0; i < N; i++)
		assert_true((p[i].fired_at != 0) == (i % 2 == 1));
	reel__wheel_cancel(w, &p[1].t);           /* cancel after firing: no-op */
	assert_true(reel__wheel_empty(w));
	reel__wheel_term(w);
	free(w);
}

static void test_wheel_rearm_moves_the_timer(void **state)
{
	struct probe_timer p;
	struct reel__wheel *w = new_wheel(0);

	(void)state;
	arm(w, &p, 100 * TICK);
	reel__wheel_arm(w, &p.t, 10 * TICK);
	p.deadline = 10 * TICK;
	assert_int_equal(w->count, 1);
	run_clock(w, 11 * TICK, TICK);
	assert_int_equal(p.fired_at, 10 * TICK);
	run_clock(w, 200 * TICK, TICK);
	assert_int_equal(fire_seq, 1);
	reel__wheel_term(w);
	free(w);
}

static void test_wheel_past_deadline_fires_at_next_advance(void **state)
{
	struct probe_timer p;
	struct reel__wheel *w = new_wheel(1000 * TICK);

	(void)state;
	arm(w, &p, 3 * TICK);   /* long gone */
	reel__wheel_advance(w, fake_now);
	assert_int_equal(p.fired_at, fake_now);
	reel__wheel_term(w);
	free(w);
}

/* next_ns must never lie past the earliest expiry (the loop would oversleep)
 * and is a real bound: advancing to it makes progress. */
static void test_wheel_next_ns_never_after_earliest(void **state)
{
	enum { N = 3000 };
	struct probe_timer *p = calloc(N, sizeof(*p));
	struct reel__wheel *w = new_wheel(77 * TICK);
	uint64_t earliest = UINT64_MAX;

	(void)state;
	assert_true(reel__wheel_next_ns(w) == UINT64_MAX);
	srand(3);
	for (int i = 0; i < N; i++) {
		arm(w, &p[i], fake_now + TICK + rnd64() % (100ull * 1000 * MS));
		if (p[i].deadline < earliest)
			earliest = p[i].deadline;
	}
	while (!reel__wheel_empty(w)) {
		uint64_t next = reel__wheel_next_ns(w);
		uint64_t min_left = UINT64_MAX;

		for (int i = 0; i < N; i++)
			if (!p[i].fired_at && p[i].deadline < min_left)
				min_left = p[i].deadline;
		assert_true(next <= ((min_left + TICK - 1) / TICK) * TICK);
		fake_now = next;
		reel__wheel_advance(w, fake_now);
	}
	for (int i = 0; i < N; i++)
		assert_true(p[i].fired_at >= p[i].deadline);
	(void)earliest;
	reel__wheel_term(w);
	free(w);
	free(p);
}

static void test_wheel_one_million_timers(void **state)
{
	enum { N = 1000000 };
	struct probe_timer *p = calloc(N, sizeof(*p));
	struct reel__wheel *w = new_wheel(0);
	unsigned early = 0, missed = 0;

	(void)state;
	srand(4);
	for (int i = 0; i < N; i++)
		arm(w, &p[i], 1 + rnd64() % (1000 * MS));
	assert_int_equal(w->count, N);
	for (int i = 0; i < N; i += 3)
		reel__wheel_cancel(w, &p[i].t);
	run_clock(w, 1100 * MS, MS);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			missed += p[i].fired_at != 0;   /* cancelled: must not fire */
			continue;
		}
		missed += p[i].fired_at == 0;
		early += p[i].fired_at && p[i].fired_at < p[i].deadline;
	}
	assert_int_equal(early, 0);
	assert_int_equal(missed, 0);
	assert_true(reel__wheel_empty(w));
	reel__wheel_term(w);
	free(w);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wheel_never_fires_early_and_late_by_one_tick_at_most),
		cmocka_unit_test(test_wheel_fires_in_deadline_order_across_big_jumps),
		cmocka_unit_test(test_wheel_cascades_through_every_level),
		cmocka_unit_test(test_wheel_cancel_is_o1_and_idempotent),
		cmocka_unit_test(test_wheel_rearm_moves_the_timer),
		cmocka_unit_test(test_wheel_past_deadline_fires_at_next_advance),
		cmocka_unit_test(test_wheel_next_ns_never_after_earliest),
		cmocka_unit_test(test_wheel_one_million_timers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
