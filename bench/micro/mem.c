/*
 * mem.c - memory per idle fiber, at 100k and at 1M.
 *
 * A server holds one parked fiber per idle connection, so what a fiber
 * costs at rest decides how many connections fit. N fibers with 16 KiB
 * stacks each park in a long reel_sleep; once all are parked, the growth of
 * the resident set since just before the spawns, divided by N, is the cost
 * per fiber: the stack pages it touched plus the engine's task state. Then
 * they are cancelled and joined, which also checks that a million parked
 * fibers cancel cleanly. Goal: at most 4.5 KiB per fiber at 1M.
 *
 * Stacks are guarded, so the number of VMAs matters too: a kernel refuses
 * mappings past vm.max_map_count (65530 by default), and guard pages made
 * with mprotect cost two VMAs per stack. /proc/self/maps is counted at the
 * peak and must stay below the limit.
 *
 * The baseline is an idle thread: 10k pthreads with 16 KiB stacks blocked
 * on a condition variable, RSS per thread measured the same way. (1M threads
 * would need 2M VMAs and a raised threads-max; 10k is the honest comparison
 * a machine can run.)
 *
 * Each measurement runs in a child process of its own, so no measurement
 * inherits pages that an earlier one freed into malloc or glibc's stack
 * cache, which would hide part of the cost; and a crash shows up as a
 * message naming the signal.
 */
#include "bench.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME "mem"
#define STACK_SIZE (16 * 1024)
#define NTHREADS 10000u
#define IDLE_NS (3600 * 1000000000ull)

/* What a child sends back through its pipe. */
struct mem_result {
	int err;
	double kib_per_unit;
	long maps_lines;
};

/* The resident set right now, after giving freed heap pages back, so only
 * what the measured code adds is counted. */
static uint64_t settled_rss(void)
{
	malloc_trim(0);
	return bench_rss_bytes();
}

/* ---- reel: N parked fibers ---- */

static struct {
	uint32_t n;
	uint32_t parked;
	uint32_t woke_early;    /* reel_sleep returned 0: it should not have */
	reel_task *tasks;
	struct mem_result *res;
} mf;

static int idle_fiber(void *arg)
{
	int err;

	(void)arg;
	mf.parked++;
	err = reel_sleep(IDLE_NS);
	if (err == 0)
		mf.woke_early++;
	return err;
}

/* Yield until every fiber has run up to its sleep; one reel_yield should
 * do, the bound only turns a lost fiber into an error instead of a hang. */
static int wait_parked(void)
{
	int err;

	for (unsigned pass = 0; mf.parked < mf.n; pass++) {
		if (pass == 1000)
			return bench_fail(NAME, 0, "only %u of %u fibers "
					  "parked after 1000 yields", mf.parked, mf.n);
		if ((err = reel_yield()) < 0)
			return bench_fail(NAME, err, "reel_yield");
	}
	return 0;
}

static int cancel_all(void)
{
	int err, status;

	for (uint32_t i = 0; i < mf.n; i++)
		if ((err = reel_cancel(mf.tasks[i])) < 0)
			return bench_fail(NAME, err, "reel_cancel of fiber %u", i);
	for (uint32_t i = 0; i < mf.n; i++)
		if ((err = reel_join(mf.tasks[i], &status)) < 0)
			return bench_fail(NAME, err, "reel_join of fiber %u", i);
	if (mf.woke_early)
		return bench_fail(NAME, 0, "%u fibers woke from a 1-hour "
				  "sleep", mf.woke_early);
	return 0;
}

static int mem_main(void *arg)
{
	static const struct reel_spawn_opts opts = {
		.stack_size = STACK_SIZE, .name = "idle",
	};
	uint64_t rss0, rss1;
	int err;

	(void)arg;
	rss0 = settled_rss();
	for (uint32_t i = 0; i < mf.n; i++)
		if ((err = reel_spawn(&mf.tasks[i], idle_fiber, NULL, &opts)) < 0)
			return bench_fail(NAME, err, "reel_spawn of fiber %u", i);
	if ((err = wait_parked()) < 0)
		return err;
	rss1 = bench_rss_bytes();
	mf.res->maps_lines = bench_maps_lines();
	mf.res->kib_per_unit = ((double)rss1 - (double)rss0) / 1024 / mf.n;
	return cancel_all();
}

static void measure_fibers(void *arg, struct mem_result *res)
{
	mf.n = (uint32_t)(uintptr_t)arg;
	mf.res = res;
	/* The handles are the caller's memory, not the engine's: touch them
	 * before the baseline RSS is taken. */
	mf.tasks = calloc(mf.n, sizeof(*mf.tasks));
	if (!mf.tasks) {
		res->err = bench_fail(NAME, -ENOMEM, "allocating handles");
		return;
	}
	memset(mf.tasks, 0xff, mf.n * sizeof(*mf.tasks));
	res->err = bench_reel_run(NAME, mem_main, NULL);
}

/* ---- the baseline: idle pthreads ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t parked_cv, go_cv;
	unsigned parked;
	bool go;
} pt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.parked_cv = PTHREAD_COND_INITIALIZER,
	.go_cv = PTHREAD_COND_INITIALIZER,
};

static void *idle_thread(void *arg)
{
	pthread_mutex_lock(&pt.lock);
	pt.parked++;
	pthread_cond_signal(&pt.parked_cv);
	while (!pt.go)
		pthread_cond_wait(&pt.go_cv, &pt.lock);
	pthread_mutex_unlock(&pt.lock);
	return arg;
}

static int start_threads(pthread_t *t, unsigned n)
{
	long min = sysconf(_SC_THREAD_STACK_MIN);
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	err = pthread_attr_setstacksize(&attr, min > STACK_SIZE ? (size_t)min : STACK_SIZE);
	if (err)
		return bench_fail(NAME, -err, "pthread_attr_setstacksize");
	for (unsigned i = 0; i < n; i++)
		if ((err = pthread_create(&t[i], &attr, idle_thread, NULL)))
			return bench_fail(NAME, -err, "pthread_create of thread %u", i);
	pthread_attr_destroy(&attr);
	return 0;
}

static void measure_threads(void *arg, struct mem_result *res)
{
	pthread_t *t = calloc(NTHREADS, sizeof(*t));
	uint64_t rss0, rss1;

	(void)arg;
	if (!t) {
		res->err = bench_fail(NAME, -ENOMEM, "allocating thread ids");
		return;
	}
	rss0 = settled_rss();
	/* On failure the child exits with threads still blocked: no cleanup. */
	if ((res->err = start_threads(t, NTHREADS)) < 0)
		return;
	pthread_mutex_lock(&pt.lock);
	while (pt.parked < NTHREADS)
		pthread_cond_wait(&pt.parked_cv, &pt.lock);
	pthread_mutex_unlock(&pt.lock);
	rss1 = bench_rss_bytes();
	res->maps_lines = bench_maps_lines();
	res->kib_per_unit = ((double)rss1 - (double)rss0) / 1024 / NTHREADS;

	pthread_mutex_lock(&pt.lock);
	pt.go = true;
	pthread_cond_broadcast(&pt.go_cv);
	pthread_mutex_unlock(&pt.lock);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* ---- one measurement per child process ---- */

static int in_child(void (*fn)(void *, struct mem_result *), void *arg,
		    const char *what, struct mem_result *res)
{
	int fds[2], wstatus;
	ssize_t got;
	pid_t pid;

	if (pipe(fds) < 0)
		return bench_fail(NAME, -errno, "pipe");
	fflush(NULL);   /* the child must not print the parent's buffers again */
	pid = fork();
	if (pid < 0)
		return bench_fail(NAME, -errno, "fork");
	if (pid == 0) {
		struct mem_result r = { .err = 0 };

		close(fds[0]);
		fn(arg, &r);
		_exit(write(fds[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	bench_child = pid;
	close(fds[1]);
	got = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	if (waitpid(pid, &wstatus, 0) < 0)
		return bench_fail(NAME, -errno, "waitpid");
	bench_child = 0;
	if (WIFSIGNALED(wstatus))
		return bench_fail(NAME, 0, "%s: the child was killed by "
				  "signal %d (%s)", what, WTERMSIG(wstatus),
				  strsignal(WTERMSIG(wstatus)));
	if (got != sizeof(*res))
		return bench_fail(NAME, 0, "%s: the child sent no result", what);
	/* The child has already said why when res->err is set. */
	return res->err;
}

int bench_mem(const struct bench_cfg *cfg)
{
	struct bench_series f100k = { 0 }, f1m = { 0 }, thr = { 0 };
	struct bench_series maps = { 0 }, limit = { 0 };
	struct mem_result r;
	long max_maps = bench_read_long("/proc/sys/vm/max_map_count");
	long thr_maps = 0;
	uint64_t start = bench_now_ns();
	unsigned rep;
	int err;

	if (max_maps < 0)
		return bench_fail(NAME, (int)max_maps, "reading vm.max_map_count");
	for (rep = 0; bench_more_reps(cfg, rep, start); rep++) {
		err = in_child(measure_fibers, (void *)(uintptr_t)100000, "100k fibers", &r);
		if (err < 0)
			return err;
		bench_series_add(&f100k, r.kib_per_unit);
		err = in_child(measure_fibers, (void *)(uintptr_t)1000000, "1M fibers", &r);
		if (err < 0)
			return err;
		bench_series_add(&f1m, r.kib_per_unit);
		bench_series_add(&maps, (double)r.maps_lines);
		bench_series_add(&limit, (double)max_maps);
		if ((err = in_child(measure_threads, NULL, "10k pthreads", &r)) < 0)
			return err;
		bench_series_add(&thr, r.kib_per_unit);
		thr_maps = r.maps_lines;
	}
	bench_report(NAME, &(struct bench_row){
		.name = "mem: RSS per idle fiber, 100k", .unit = "KiB",
		.reel = &f100k, .base_name = "RSS per idle pthread (10k)",
		.base = &thr, .goal = BENCH_INFO });
	bench_report(NAME, &(struct bench_row){
		.name = "mem: RSS per idle fiber, 1M", .unit = "KiB",
		.reel = &f1m, .base_name = "RSS per idle pthread (10k)",
		.base = &thr, .goal = BENCH_ABS_LE, .goal_value = 4.5 });
	bench_report(NAME, &(struct bench_row){
		.name = "mem: /proc/self/maps lines at 1M fibers", .unit = "lines",
		.reel = &maps, .base_name = "vm.max_map_count",
		.base = &limit, .goal = BENCH_BELOW_BASE });
	bench_note_reps(NAME, cfg, rep, start);
	bench_note("mem: fibers and threads have 16 KiB stacks; 10k idle "
		   "pthreads had %ld lines in /proc/self/maps", thr_maps);
	return 0;
}
