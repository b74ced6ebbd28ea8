/*
 * micro_sleep.c - a million timers spread over one second, end to end.
 *
 * The timer micro-benchmark prices arm and cancel alone; this one runs the
 * whole path a sleeping fiber takes: spawn, park on the wheel, the loop's
 * timed wait, expiry, wake-up, switch back. The main fiber takes t0, spawns
 * 1,000,000 fibers with 16 KiB stacks, each with a deadline t0 + d, d uniform
 * in [0, 1 s); each sleeps until its deadline (if still ahead) and notes
 * when it woke. The result is how long after t0 the last one woke: the
 * ideal is 1 s; the goal is 1.5 s, which leaves half a second for spawning a
 * million fibers and for expiring them while they keep coming due.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

#define NAME "sleep1m"
#define NFIBERS 1000000u
#define STACK_SIZE (16 * 1024)
#define NS_PER_S 1000000000ull

struct sleep_bench {
	uint64_t t0;
	uint64_t *deadline_ns;  /* NFIBERS, absolute; each fiber's arg */
	reel_task *tasks;
	uint64_t last_wake_ns;  /* latest reel_now() seen after a sleep */
	uint64_t early;         /* fibers woken before their deadline */
	int err;                /* the first reel_sleep failure */
};

static struct sleep_bench sb;

static int sleeper(void *arg)
{
	uint64_t deadline = *(const uint64_t *)arg;
	uint64_t now = reel_now();
	int err;

	if (deadline > now && (err = reel_sleep(deadline - now)) < 0) {
		if (!sb.err)
			sb.err = err;
		return err;
	}
	/* One thread runs every fiber: plain reads and writes suffice. */
	now = reel_now();
	if (now < deadline)
		sb.early++;
	if (now > sb.last_wake_ns)
		sb.last_wake_ns = now;
	return 0;
}

static int sleep_main(void *arg)
{
	static const struct reel_spawn_opts opts = {
		.stack_size = STACK_SIZE, .name = "sleeper",
	};
	uint64_t seed = 7;
	int err, status;

	(void)arg;
	sb.last_wake_ns = 0;
	sb.early = 0;
	sb.err = 0;
	sb.t0 = reel_now();
	for (uint32_t i = 0; i < NFIBERS; i++) {
		sb.deadline_ns[i] = sb.t0 + bench_rand(&seed) % NS_PER_S;
		err = reel_spawn(&sb.tasks[i], sleeper, &sb.deadline_ns[i], &opts);
		if (err < 0)
			return bench_fail(NAME, err, "reel_spawn of fiber %u", i);
	}
	for (uint32_t i = 0; i < NFIBERS; i++) {
		if ((err = reel_join(sb.tasks[i], &status)) < 0)
			return bench_fail(NAME, err, "reel_join of fiber %u", i);
	}
	if (sb.err)
		return bench_fail(NAME, sb.err, "reel_sleep");
	if (sb.early)
		return bench_fail(NAME, 0, "%llu fibers woke before their "
				  "deadline", (unsigned long long)sb.early);
	return 0;
}

int bench_sleep(const struct bench_cfg *cfg)
{
	struct bench_series last = { 0 }, ideal = { 0 };
	int err = 0;

	sb.deadline_ns = malloc(NFIBERS * sizeof(*sb.deadline_ns));
	sb.tasks = malloc(NFIBERS * sizeof(*sb.tasks));
	if (!sb.deadline_ns || !sb.tasks) {
		err = bench_fail(NAME, -ENOMEM, "allocating 1M deadlines");
		goto out_free;
	}
	for (unsigned r = 0; r < cfg->reps; r++) {
		if ((err = bench_reel_run(NAME, sleep_main, NULL)) < 0)
			goto out_free;
		bench_series_add(&last, (double)(sb.last_wake_ns - sb.t0) / NS_PER_S);
		bench_series_add(&ideal, 1.0);
	}
	bench_report(NAME, &(struct bench_row){
		.name = "sleep: 1M fibers over 1 s, last wake", .unit = "s",
		.reel = &last, .base_name = "ideal (1 s)",
		.base = &ideal, .goal = BENCH_ABS_LE, .goal_value = 1.5 });
out_free:
	free(sb.deadline_ns);
	free(sb.tasks);
	return err;
}
