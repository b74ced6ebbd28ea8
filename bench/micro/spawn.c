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
 *
 * Spawning from a fresh process: a program that starts N tasks at once
 * pays for what a warm loop has already - stack pages, fiber structs, the
 * task table - and on a virtual machine a first-touch page fault costs
 * tens of microseconds. A child process (fork: nothing inherited but the
 * pinning) spawns N fibers with default options that each run once and
 * park (a long reel_sleep), timed per fiber from the first spawn until all
 * have parked - in the thread's CPU time, which the faults and exits count
 * in but other tenants of a shared CPU do not, since a 300 ms round and a
 * 5 ms one would otherwise be slowed unequally; then cancels and joins them
 * and does the same again twice, now from the warm pools. The warm rounds are the baseline (the better
 * of the two), measured in the same process moments later. Goal: the
 * fresh round within 2x of the warm one, at 10k fibers (and 100k outside
 * --quick).
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- spawning from a fresh process ---- */

#define FRESH_ROUNDS 3          /* the first is fresh, the others warm */
#define PARK_NS (3600 * 1000000000ull)

static struct {
	uint32_t n;
	uint32_t parked;
	reel_task *tasks;
	double ns_per_fiber[FRESH_ROUNDS];
} fr;

static int park_once(void *arg)
{
	(void)arg;
	fr.parked++;
	return reel_sleep(PARK_NS);   /* until cancelled */
}

/* CPU time of this thread: a page fault, and a hypervisor's exit on a
 * page's first touch, count in it; other tenants of the CPU do not. */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spawn fr.n fibers and let each run up to its park: CPU ns per fiber. */
static int spawn_round(double *ns_per_fiber)
{
	uint64_t t0 = cpu_now_ns();
	int err, status;

	fr.parked = 0;
	for (uint32_t i = 0; i < fr.n; i++)
		if ((err = reel_spawn(&fr.tasks[i], park_once, NULL, NULL)) < 0)
			return bench_fail(NAME, err, "reel_spawn of fiber %u", i);
	for (unsigned pass = 0; fr.parked < fr.n; pass++) {
		if (pass == 1000)
			return bench_fail(NAME, 0, "%u of %u fibers parked", fr.parked, fr.n);
		if ((err = reel_yield()) < 0)
			return bench_fail(NAME, err, "reel_yield");
	}
	*ns_per_fiber = (double)(cpu_now_ns() - t0) / fr.n;
	for (uint32_t i = 0; i < fr.n; i++)
		if ((err = reel_cancel(fr.tasks[i])) < 0)
			return bench_fail(NAME, err, "reel_cancel of fiber %u", i);
	for (uint32_t i = 0; i < fr.n; i++)
		if ((err = reel_join(fr.tasks[i], &status)) < 0)
			return bench_fail(NAME, err, "reel_join of fiber %u", i);
	return 0;
}

static int fresh_main(void *arg)
{
	int err;

	(void)arg;
	for (unsigned r = 0; r < FRESH_ROUNDS; r++)
		if ((err = spawn_round(&fr.ns_per_fiber[r])) < 0)
			return err;
	return 0;
}

/* In a child process, so that the first round finds nothing warm: its
 * ns per fiber of each round into @out. */
static int fresh_child(uint32_t n, double out[FRESH_ROUNDS])
{
	int fds[2], wstatus, err;
	ssize_t got;
	pid_t pid;

	if (pipe(fds) < 0)
		return bench_fail(NAME, -errno, "pipe");
	fflush(NULL);   /* the child must not print the parent's buffers again */
	pid = fork();
	if (pid < 0)
		return bench_fail(NAME, -errno, "fork");
	if (pid == 0) {
		close(fds[0]);
		fr.n = n;
		/* The handles are the caller's memory: touched before timing. */
		fr.tasks = calloc(n, sizeof(*fr.tasks));
		err = fr.tasks ? bench_reel_run(NAME, fresh_main, NULL) : -ENOMEM;
		if (err == 0)
			err = write(fds[1], fr.ns_per_fiber, sizeof(fr.ns_per_fiber)) ==
			      sizeof(fr.ns_per_fiber) ? 0 : -EIO;
		_exit(err == 0 ? 0 : 1);
	}
	bench_child = pid;
	close(fds[1]);
	got = read(fds[0], out, sizeof(double) * FRESH_ROUNDS);
	close(fds[0]);
	if (waitpid(pid, &wstatus, 0) < 0)
		return bench_fail(NAME, -errno, "waitpid");
	bench_child = 0;
	if (got != (ssize_t)(sizeof(double) * FRESH_ROUNDS) || !WIFEXITED(wstatus) ||
	    WEXITSTATUS(wstatus) != 0)
		return bench_fail(NAME, 0, "the child spawning %u fibers failed "
				  "(status 0x%x)", n, wstatus);
	return 0;
}

/* The fresh and the warm rows for @n fibers, one child per repetition. */
static int measure_fresh(const struct bench_cfg *cfg, uint32_t n, const char *name)
{
	struct bench_series fresh = { 0 }, warm = { 0 };
	uint64_t start = bench_now_ns();
	double r[FRESH_ROUNDS];
	unsigned rep;
	int err;

	for (rep = 0; bench_more_reps(cfg, rep, start); rep++) {
		if ((err = fresh_child(n, r)) < 0)
			return err;
		bench_series_add(&fresh, r[0]);
		bench_series_add(&warm, r[1] < r[2] ? r[1] : r[2]);
	}
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "ns",
		.reel = &fresh, .base_name = "the same from a warm pool",
		.base = &warm, .goal = BENCH_RATIO_LE, .goal_value = 2 });
	bench_note_reps(NAME, cfg, rep, start);
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
	if (err < 0)
		goto out_unpin;
	bench_report(NAME, &(struct bench_row){
		.name = "spawn+join, empty fiber", .unit = "ns",
		.reel = &s[0], .base_name = "pthread_create+join",
		.base = &s[1], .goal = BENCH_SPEEDUP_GE, .goal_value = 40 });
	err = measure_fresh(cfg, 10000, "spawn from a fresh process, 10k parking");
	if (err == 0 && !cfg->quick)
		err = measure_fresh(cfg, 100000, "spawn from a fresh process, 100k parking");
out_unpin:
	bench_unpin(&saved);
	return err < 0 ? err : 0;
}
