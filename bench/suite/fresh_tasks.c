/*
 * fresh_tasks.c - reel's side (and the threads') of "many tasks from a
 * fresh process" (fresh.c): a program of its own, exec'd by reel-bench for
 * every repetition. A forked child of reel-bench would not be fresh: it
 * would inherit reel-bench's heap, and, had reel-bench run a loop before
 * forking, its allocator's and stack pool's state. Exec'd, nothing has run
 * here: no loop, no stack mapped or touched, so spawning pays what it pays
 * in a program that starts many tasks at once (a new server, a batch job).
 *
 * Usage: fresh_tasks MODE MODEL TASKS SEED
 *   MODE   wait10ms  each task waits 10 ms
 *          due1s     each task sleeps until t0 + d, d uniform in [0, 1 s):
 *                    splitmix64 from SEED (bench_rand), d = value mod 1 s,
 *                    as the Go and Python twins draw them
 *   MODEL  fibers    a reel fiber per task (default options: 64 KiB
 *                    lazily committed stack), joined with reel_gather
 *          threads   a pthread per task (default attributes),
 *                    clock_nanosleep, joined in order
 * t0 is main's start: the loop's start-up and the spawning are part of the
 * time, which ends when every task is joined. Prints "ok WALL_NS", or
 * "err REASON" and exits 1.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000u
#define WAIT_NS 10000000u

struct fresh {
	bool due;               /* due1s; else wait10ms */
	unsigned n;
	uint64_t seed;
	uint64_t t0, t1;        /* main's start; every task joined */
	char why[96];
};

/* Task @i's due time, absolute (CLOCK_MONOTONIC ns), drawn in order. */
static uint64_t next_due(struct fresh *f)
{
	return f->t0 + bench_rand(&f->seed) % NS_PER_S;
}

/* ---- fibers ---- */

static int fiber_task(void *arg)
{
	uint64_t due = (uint64_t)(uintptr_t)arg, now;

	if (!due)
		return reel_sleep(WAIT_NS);
	now = reel_now();
	return due > now ? reel_sleep(due - now) : 0;
}

static int fibers_main(void *arg)
{
	struct fresh *f = arg;
	reel_task *tasks = malloc(f->n * sizeof(*tasks) + 1);
	int *statuses = malloc(f->n * sizeof(*statuses) + 1);
	unsigned spawned = 0;
	int err = 0;

	if (!tasks || !statuses) {
		snprintf(f->why, sizeof(f->why), "out of memory for %u handles", f->n);
		err = -ENOMEM;
	}
	for (; !err && spawned < f->n; spawned++) {
		void *due = f->due ? (void *)(uintptr_t)next_due(f) : NULL;

		if ((err = reel_spawn(&tasks[spawned], fiber_task, due, NULL)) < 0)
			snprintf(f->why, sizeof(f->why), "%s at %u fibers",
				 reel_strerror(err), spawned);
	}
	if (spawned) {
		int g = reel_gather(tasks, spawned, statuses, err ? REEL_GATHER_ALL : 0);

		if (!err && g < 0) {
			err = g;
			snprintf(f->why, sizeof(f->why), "a task: %s", reel_strerror(g));
		}
	}
	f->t1 = bench_now_ns();
	free(tasks);
	free(statuses);
	return err;
}

static int run_fibers(struct fresh *f)
{
	char buf[256] = "";
	struct reel_run_opts opts = { .errbuf = buf, .errbuf_len = sizeof(buf) };
	int status = 0, err = reel_run(fibers_main, f, &opts, &status);

	if (err < 0)
		snprintf(f->why, sizeof(f->why), "reel_run: %.80s", buf[0] ? buf :
			 reel_strerror(err));
	return err < 0 ? err : status;
}

/* ---- threads ---- */

static void *thread_task(void *arg)
{
	uint64_t due = (uint64_t)(uintptr_t)arg;
	struct timespec ts = { 0, WAIT_NS };
	int flags = 0;

	if (due) {
		ts.tv_sec = (time_t)(due / NS_PER_S);
		ts.tv_nsec = (long)(due % NS_PER_S);
		flags = TIMER_ABSTIME;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, flags, &ts, flags ? NULL : &ts) == EINTR)
		;
	return NULL;
}

static int run_threads(struct fresh *f)
{
	pthread_t *tids = malloc(f->n * sizeof(*tids) + 1);
	unsigned started = 0;
	int err = 0;

	if (!tids) {
		snprintf(f->why, sizeof(f->why), "out of memory for %u threads", f->n);
		return -ENOMEM;
	}
	for (; started < f->n; started++) {
		void *due = f->due ? (void *)(uintptr_t)next_due(f) : NULL;
		int e = pthread_create(&tids[started], NULL, thread_task, due);

		if (e) {
			err = -e;
			snprintf(f->why, sizeof(f->why), "%s at %u threads",
				 e == EAGAIN ? "EAGAIN" : strerror(e), started);
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	f->t1 = bench_now_ns();
	free(tids);
	return err;
}

int main(int argc, char **argv)
{
	struct fresh f = { .t0 = bench_now_ns() };
	char *end;
	int err;

	if (argc != 5 || (strcmp(argv[1], "wait10ms") && strcmp(argv[1], "due1s")) ||
	    (strcmp(argv[2], "fibers") && strcmp(argv[2], "threads"))) {
		fprintf(stderr, "usage: fresh_tasks wait10ms|due1s fibers|threads TASKS SEED\n");
		return 2;
	}
	f.due = !strcmp(argv[1], "due1s");
	f.n = (unsigned)strtoul(argv[3], &end, 10);
	f.seed = strtoull(argv[4], NULL, 10);
	err = !strcmp(argv[2], "fibers") ? run_fibers(&f) : run_threads(&f);
	if (err < 0) {
		printf("err %s\n", f.why[0] ? f.why : reel_strerror(err));
		return 1;
	}
	printf("ok %llu\n", (unsigned long long)(f.t1 - f.t0));
	return 0;
}
