/*
 * spawn.c - what a task costs to create and reap.
 *
 * One operation is spawn an empty task, join it; the next one starts only
 * after the join, so this is the latency of a short task's whole life, not a
 * throughput of overlapping ones. reel spawns with the default options (a
 * 64 KiB stack from the loop's pool), as a user would.
 *
 * The baseline is the same with an OS thread: pthread_create then
 * pthread_join, default attributes (glibc caches the stacks of joined
 * threads, so no mmap is measured either). The process is pinned to one CPU
 * for both: otherwise the kernel may start the thread on the other vCPU and
 * the measurement becomes one of cross-CPU wake-ups. Goal: reel at least 40
 * times faster.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>

#define NAME "spawn"
#define WARMUP 1000

static int empty_fiber(void *arg)
{
	(void)arg;
	return 0;
}

struct spawn_ctx {
	uint64_t iters;
	uint64_t elapsed_ns;
};

static int spawn_join(void)
{
	reel_task t;
	int err, status;

	if ((err = reel_spawn(&t, empty_fiber, NULL, NULL)) < 0)
		return bench_fail(NAME, err, "reel_spawn");
	if ((err = reel_join(t, &status)) < 0)
		return bench_fail(NAME, err, "reel_join");
	if (status != 0)
		return bench_fail(NAME, 0, "joined status %d, not 0", status);
	return 0;
}

static int spawn_main(void *arg)
{
	struct spawn_ctx *s = arg;
	uint64_t t0;
	int err;

	for (unsigned i = 0; i < WARMUP; i++)
		if ((err = spawn_join()) < 0)
			return err;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < s->iters; i++)
		if ((err = spawn_join()) < 0)
			return err;
	s->elapsed_ns = bench_now_ns() - t0;
	return 0;
}

static int run_reel(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	struct spawn_ctx s = { .iters = iters };
	int err = bench_reel_run(NAME, spawn_main, &s);

	(void)ctx;
	*elapsed_ns = s.elapsed_ns;
	return err;
}

static void *empty_thread(void *arg)
{
	return arg;
}

static int thread_join(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, empty_thread, NULL);

	if (err)
		return bench_fail(NAME, -err, "pthread_create");
	if ((err = pthread_join(t, NULL)))
		return bench_fail(NAME, -err, "pthread_join");
	return 0;
}

static int run_pthread(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	uint64_t t0;
	int err;

	(void)ctx;
	for (unsigned i = 0; i < WARMUP / 10; i++)
		if ((err = thread_join()) < 0)
			return err;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		if ((err = thread_join()) < 0)
			return err;
	*elapsed_ns = bench_now_ns() - t0;
	return 0;
}

int bench_spawn(const struct bench_cfg *cfg)
{
	struct bench_case cases[] = {
		{ .name = "reel", .fn = run_reel },
		{ .name = "pthread", .fn = run_pthread },
	};
	struct bench_series s[2];
	cpu_set_t saved;
	int err = bench_pin(&saved);

	if (err < 0)
		return bench_fail(NAME, err, "sched_setaffinity");
	err = bench_measure(cfg, cases, 2, s);
	bench_unpin(&saved);
	if (err < 0)
		return err;

	bench_report(NAME, &(struct bench_row){
		.name = "spawn+join, empty fiber", .unit = "ns",
		.reel = &s[0], .base_name = "pthread_create+join",
		.base = &s[1], .goal = BENCH_SPEEDUP_GE, .goal_value = 40 });
	return 0;
}
