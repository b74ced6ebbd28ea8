/*
 * fresh.c - many tasks from a fresh process: what a program pays that
 * starts with many tasks at once (a new server taking its first burst, a
 * batch job), measured the way a user would try it, beside the runtimes
 * that user would pick instead.
 *
 * Each repetition of each cell is a new process, exec'd (suite_exec.c), in
 * which nothing has run before: no loop, no stack pool, no heap - which a
 * forked child of reel-bench could not promise. It starts N tasks and waits
 * for all of them; its wall time runs from the start of its main (the
 * spawning included) to the last join, measured inside; CPU time and peak
 * RSS come from wait4. RSS per task is the peak above the same program
 * started with no task (the N = 0 rows), divided by N.
 *
 *   fresh-10ms   10,000 tasks each waiting 10 ms
 *   fresh-1s     N = 10k, 100k and 1M tasks (full mode only), each
 *                sleeping until t0 + d, d uniform in [0, 1 s) from a
 *                seeded splitmix64: the same due times in every runtime
 *
 * Runtimes, one core each but threads:
 *   reel fibers     fresh_tasks (fresh_tasks.c, its own executable)
 *   Go goroutines   suite_go fresh (bench/go/suite.go), GOMAXPROCS=1
 *   asyncio tasks   bench/python/suite.py --fresh
 *   threads         fresh_tasks ... threads: a pthread per task, up to
 *                   10,000 (beyond, the kernel's limits on tasks and
 *                   mappings are what is measured, not a runtime); full
 *                   mode only, as creating 10,000 threads takes seconds on
 *                   a virtual machine
 * Quick mode (the README's first command, under 3 minutes in all) keeps
 * the 10 ms row for reel, Go and asyncio, and the idle rows.
 * The schedulers differ in one way that shows: Go preempts the spawning
 * goroutine (sysmon, every 10 ms), so tasks run while the rest are still
 * being spawned; once spawning takes longer than 1 s (1M here) most tasks
 * start past their due time and end at once, their stacks reused (a probe
 * counted ~15k started and alive at most, of 1M). reel fibers and asyncio
 * tasks first run when the spawner parks, after the last spawn: all N are
 * alive at once. That is what the same program costs in each runtime.
 *
 * reel and Go are measured at every N; asyncio where its time predicted
 * from the N before (times the ratio of N) fits the budget. Repetitions
 * are interleaved runtime by runtime, as in the headline comparison.
 * Rows go to OUT/fresh.csv in suite.csv's format; the report's "Many tasks
 * from a fresh process" section and its goal rows (issue 15) read it.
 */
#include "suite.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef REEL_BENCH_PYTHON_DIR
#define REEL_BENCH_PYTHON_DIR "bench/python"
#endif

#define SEED 42
#define MAX_THREADS 10000u

enum runtime { RT_FIBERS, RT_GO, RT_ASYNCIO, RT_THREADS, RT_N };

static const struct {
	const char *lang, *model;
} rt_names[RT_N] = {
	[RT_FIBERS] = { "c", "fibers" }, [RT_GO] = { "go", "goroutines" },
	[RT_ASYNCIO] = { "python", "asyncio" }, [RT_THREADS] = { "c", "threads" },
};

/* One row of the plan: a mode, a task count, repetitions. */
struct fresh_count {
	const char *mode;       /* the programs' argument: wait10ms, due1s */
	const char *workload;   /* the CSV's: fresh-10ms, fresh-1s */
	unsigned n;
	unsigned reps_full;     /* quick mode: 3, or not run when 0 */
	bool quick;
};

static const struct fresh_count counts[] = {
	{ "due1s", "fresh-1s", 0, 3, true },    /* the programs idle: RSS base */
	{ "wait10ms", "fresh-10ms", 10000, 5, true },
	{ "due1s", "fresh-1s", 10000, 5, false },
	{ "due1s", "fresh-1s", 100000, 3, false },
	{ "due1s", "fresh-1s", 1000000, 3, false },
};
#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))

struct fresh_plan {
	const struct bench_cfg *cfg;
	FILE *csv;
	char tasks_bin[PATH_MAX];       /* fresh_tasks */
	char go_bin[PATH_MAX];          /* suite_go */
	char python[PATH_MAX];
	char why[RT_N][160];            /* a runtime left out, and why */
	double budget_s;                /* asyncio's predicted wall, at most */
	double prev_wall[RT_N];         /* median at the last N of fresh-1s */
	unsigned prev_n;
};

/* ---- finding the programs ---- */

static void find_programs(struct fresh_plan *p, const struct suite_opts *o)
{
	char dir[PATH_MAX - 16];

	if (bench_exe_dir(dir, sizeof(dir)) == 0)
		snprintf(p->tasks_bin, sizeof(p->tasks_bin), "%s/fresh_tasks", dir);
	if (!p->tasks_bin[0] || access(p->tasks_bin, X_OK) != 0) {
		snprintf(p->why[RT_FIBERS], sizeof(p->why[0]), "fresh_tasks not built");
		snprintf(p->why[RT_THREADS], sizeof(p->why[0]), "fresh_tasks not built");
	}
	if (suite_go_locate(p->go_bin, sizeof(p->go_bin), p->why[RT_GO],
			    sizeof(p->why[0])) < 0)
		bench_note("fresh: Go: %s", p->why[RT_GO]);
	if (!o->python)
		snprintf(p->why[RT_ASYNCIO], sizeof(p->why[0]), "not run: --no-python");
	else if (suite_which("python3", p->python, sizeof(p->python)) < 0)
		snprintf(p->why[RT_ASYNCIO], sizeof(p->why[0]), "python3 not found");
}

/* ---- one cell ---- */

/* Why runtime @rt does not run at @c, or "" when it does. */
static void skip_reason(const struct fresh_plan *p, enum runtime rt,
			const struct fresh_count *c, char *why, size_t len)
{
	double pred;

	snprintf(why, len, "%s", p->why[rt]);
	if (why[0] || !c->n)
		return;
	if (rt == RT_THREADS && p->cfg->quick) {
		/* Creating 10,000 threads takes seconds on a virtual machine. */
		snprintf(why, len, "skipped: full mode only");
		return;
	}
	if (rt == RT_THREADS && c->n > MAX_THREADS) {
		snprintf(why, len, "skipped: a thread per task is measured up to %u; %u "
			 "would take %u kernel tasks (threads-max %ld) and %u mappings "
			 "(vm.max_map_count %ld)", MAX_THREADS, c->n, c->n,
			 bench_read_long("/proc/sys/kernel/threads-max"), 2 * c->n,
			 bench_read_long("/proc/sys/vm/max_map_count"));
		return;
	}
	if (rt != RT_ASYNCIO || strcmp(c->mode, "due1s") || !p->prev_n)
		return;
	if (isnan(p->prev_wall[rt])) {
		snprintf(why, len, "skipped: not measured at %u tasks", p->prev_n);
		return;
	}
	pred = p->prev_wall[rt] * c->n / p->prev_n;
	if (pred > p->budget_s)
		snprintf(why, len, "skipped: predicted %.0f s (%ux its %u-task time) > "
			 "budget %.0f s", pred, c->n / p->prev_n, p->prev_n, p->budget_s);
}

static int run_one(const struct fresh_plan *p, enum runtime rt,
		   const struct fresh_count *c, struct suite_sample *s)
{
	char n[16], seed[16], script[PATH_MAX];
	char *env[] = { "GOMAXPROCS=1", NULL };
	uint64_t timeout = (20 + (uint64_t)c->n / 10000) * UINT64_C(1000000000);
	char *argv[8] = { NULL };

	snprintf(n, sizeof(n), "%u", c->n);
	snprintf(seed, sizeof(seed), "%u", SEED);
	switch (rt) {
	case RT_FIBERS:
	case RT_THREADS:
		argv[0] = (char *)p->tasks_bin, argv[1] = (char *)c->mode;
		argv[2] = (char *)rt_names[rt].model, argv[3] = n, argv[4] = seed;
		break;
	case RT_GO:
		argv[0] = (char *)p->go_bin, argv[1] = "fresh", argv[2] = (char *)c->mode;
		argv[3] = n, argv[4] = seed;
		break;
	default:
		snprintf(script, sizeof(script), "%s/suite.py", REEL_BENCH_PYTHON_DIR);
		argv[0] = (char *)p->python, argv[1] = script, argv[2] = "--fresh";
		argv[3] = (char *)c->mode, argv[4] = n, argv[5] = seed;
		if (c->n)
			timeout += (uint64_t)(4 * p->budget_s * 1e9);
		break;
	}
	return suite_exec_run(argv, rt == RT_GO ? env : NULL, timeout, s);
}

/* KiB of peak RSS per task above the idle program's, NAN when unknown. */
static double kib_per_task(const struct suite_series *c, unsigned n, double idle_kib)
{
	double rss[3];

	if (c->why[0] || !n || isnan(idle_kib))
		return NAN;
	suite_summarize(&c->rss, rss);
	return (rss[0] - idle_kib) / n;
}

static void run_count(struct fresh_plan *p, const struct fresh_count *c,
		      double idle_kib[RT_N])
{
	struct suite_series cells[RT_N];
	unsigned reps = p->cfg->quick ? 3 : c->reps_full;
	double wall[3];

	memset(cells, 0, sizeof(cells));
	for (int rt = 0; rt < RT_N; rt++)
		skip_reason(p, (enum runtime)rt, c, cells[rt].why, sizeof(cells[rt].why));
	for (unsigned r = 0; r < reps; r++) {
		for (int rt = 0; rt < RT_N; rt++) {
			struct suite_sample s;

			if (cells[rt].why[0])
				continue;
			if (isatty(2))
				fprintf(stderr, "\rfresh: %-8s %7u tasks %-10s rep %u/%u   ",
					c->mode, c->n, rt_names[rt].model, r + 1, reps);
			if (run_one(p, (enum runtime)rt, c, &s) < 0)
				snprintf(cells[rt].why, sizeof(cells[rt].why), "fork failed");
			else if (s.err)
				snprintf(cells[rt].why, sizeof(cells[rt].why), "%s", s.why);
			else
				suite_series_add(&cells[rt], &s);
		}
	}
	if (isatty(2))
		fprintf(stderr, "\r%70s\r", "");
	for (int rt = 0; rt < RT_N; rt++) {
		char label[300], kib[32] = "-";
		double v = kib_per_task(&cells[rt], c->n, idle_kib[rt]);

		suite_row_write(p->csv, rt_names[rt].lang, c->workload, rt_names[rt].model,
				c->n, &cells[rt], label, sizeof(label));
		if (!isnan(v))
			snprintf(kib, sizeof(kib), "%.2f", v);
		printf("| %-8s | %7u | %-10s | %s | %s |\n", c->mode, c->n,
		       rt_names[rt].model, label, kib);
		suite_summarize(&cells[rt].wall, wall);
		if (!c->n && !cells[rt].why[0]) {
			suite_summarize(&cells[rt].rss, wall);
			idle_kib[rt] = wall[0];
		} else if (!strcmp(c->mode, "due1s") && c->n) {
			p->prev_wall[rt] = cells[rt].why[0] ? NAN : wall[0];
		}
	}
	if (!strcmp(c->mode, "due1s") && c->n)
		p->prev_n = c->n;
	fflush(p->csv);
	fflush(stdout);
}

/* ---- the plan ---- */

static void write_meta(const struct fresh_plan *p)
{
	fprintf(p->csv, "# mode: %s\n# fresh_seed: %u\n", p->cfg->quick ? "quick" : "full",
		SEED);
	fprintf(p->csv, "# fresh_cores: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(p->csv, "# fresh_budget_s: %.0f\n", p->budget_s);
	for (int rt = 0; rt < RT_N; rt++)
		if (p->why[rt][0])
			fprintf(p->csv, "# fresh_%s: %s\n", rt_names[rt].model, p->why[rt]);
	fprintf(p->csv, "%s\n", SUITE_CSV_HEADER);
}

int suite_fresh_run(const struct bench_cfg *cfg, const struct suite_opts *o)
{
	struct fresh_plan *p = calloc(1, sizeof(*p));
	double idle_kib[RT_N] = { NAN, NAN, NAN, NAN };
	char path[PATH_MAX];

	if (!p)
		return -ENOMEM;
	p->cfg = cfg;
	p->budget_s = cfg->quick ? 10 : 20;
	find_programs(p, o);
	if (mkdir(o->out, 0777) < 0 && errno != EEXIST) {
		free(p);
		return bench_fail("fresh", -errno, "cannot create %s", o->out);
	}
	snprintf(path, sizeof(path), "%s/fresh.csv", o->out);
	p->csv = fopen(path, "w");
	if (!p->csv) {
		free(p);
		return bench_fail("fresh", -errno, "cannot write %s", path);
	}
	write_meta(p);
	printf("\n## Many tasks from a fresh process (exec'd per repetition; Go: "
	       "GOMAXPROCS=1)\n\n| each    | tasks   | runtime    | wall median (min-max) "
	       "| CPU | peak RSS | KiB/task |\n|---|---:|---|---|---:|---:|---:|\n");
	for (size_t i = 0; i < NCOUNTS; i++)
		if (!cfg->quick || counts[i].quick)
			run_count(p, &counts[i], idle_kib);
	if (cfg->quick)
		bench_note("fresh: the due-time rows (10k, 100k, 1M tasks) and threads run "
			   "in full mode only");
	if (fclose(p->csv) != 0) {
		free(p);
		return bench_fail("fresh", -errno, "cannot write %s", path);
	}
	free(p);
	printf("\n");
	return 0;
}
