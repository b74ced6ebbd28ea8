/*
 * main.c - reel-bench: the headline comparison (fibers vs threads vs
 * processes vs serial, suite.h) and reel's micro-benchmarks, each beside
 * its baseline, with a one-page report.
 *
 * Usage: reel-bench [--quick] [--only NAME] [--out DIR] [--csv FILE]
 *                   [--no-python] [--report-only]
 *                   [--soak-seconds N] [--soak-conns N]
 *
 * The headline comparison writes DIR/suite.csv; the micro-benchmarks run
 * reel and their baseline in the same process, in turn, R times (5 with
 * --quick, 11 otherwise), print one table row per measurement (medians
 * with min-max, their ratio and the goal reel is held to) and write
 * DIR/micro.csv. At the end DIR/REPORT.md and the plots are generated from
 * those CSVs alone. A missed goal is a FAIL in the table, not an exit
 * status: times on shared machines are context, not verdicts
 * (docs/design.md §9). The exit status is 1 only when a benchmark could not run at all; it
 * says why on stderr. Quick mode leaves out the slowest micro-benchmarks
 * (1M sleepers, echo and HTTP servers) to stay under two minutes. The soak test
 * (bench/soak/soak.c, ten minutes) runs only when asked by its exact name,
 * --only soak, never as part of a quick or full run; it writes its own
 * DIR/soak.md and DIR/soak.csv, a verdict rather than table rows.
 *
 * A watchdog alarm stops the run when one benchmark takes far longer than it
 * should, so a hang in the engine becomes a message and exit 1 instead of a
 * stuck CI job.
 */
#include "bench.h"
#include "suite.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

struct bench {
	const char *name;       /* what --only matches */
	const char *what;
	int (*run)(const struct bench_cfg *cfg);
	unsigned timeout_s;     /* watchdog, full mode (quick: a third) */
	bool full_only;         /* too slow for --quick */
	bool asked_only;        /* only with --only NAME, exactly; own report */
};

static struct suite_opts opts;

static int run_suite(const struct bench_cfg *cfg)
{
	return suite_run(cfg, &opts);
}

static int run_fresh(const struct bench_cfg *cfg)
{
	return suite_fresh_run(cfg, &opts);
}

/* The parts whose rows go to the report's CSVs, not to the micro table. */
static bool writes_report(int (*run)(const struct bench_cfg *))
{
	return run == run_suite || run == run_fresh;
}

static const struct bench benches[] = {
	{ "suite", "the same jobs serial, as fibers, threads, pools, hybrid (+ Go, Python)",
	  run_suite, 1500, false, false },
	{ "fresh", "many tasks from a fresh process: reel, Go, asyncio, threads",
	  run_fresh, 900, false, false },
	{ "switch", "yield round trip vs jump_fcontext and swapcontext",
	  bench_switch, 120, false, false },
	{ "spawn", "spawn+join of an empty fiber vs pthread_create+join",
	  bench_spawn, 120, false, false },
	{ "timer", "timer wheel arm/cancel at 1M timers vs a binary heap",
	  bench_timer, 180, false, false },
	{ "sleep1m", "1M fibers sleeping to random deadlines within 1 s",
	  bench_sleep, 300, true, false },
	{ "mem", "RSS per idle fiber at 100k and 1M vs per idle pthread",
	  bench_mem, 600, false, false },
	{ "nop", "fiber NOP and 4 KiB cached pread vs a raw liburing loop, batch 1/8/32",
	  bench_ring, 120, false, false },
	{ "xloop", "cross-loop round trip vs Go and eventfd; one-way xchan throughput",
	  bench_xloop, 300, false, false },
	{ "trace", "what the run-time trace costs: compiled in but off, on; drops",
	  bench_trace, 300, true, false },
	{ "echo", "TCP echo servers: reel vs raw epoll, raw liburing, libuv",
	  bench_echo, 1500, true, false },
	{ "http", "HTTP servers: reel vs nginx, node, FastAPI, a raw liburing floor",
	  bench_http, 900, true, false },
	/* Arms its own watchdog from --soak-seconds. */
	{ "soak", "an echo server for 10 min under churning load: leaks, p99 drift",
	  bench_soak, 0, false, true },
};

#define NBENCH (sizeof(benches) / sizeof(benches[0]))

static const char *running;     /* read by the watchdog */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: reel-bench [--quick] [--only NAME] [--out DIR] [--csv FILE]\n"
		"                  [--no-python] [--report-only]\n"
		"                  [--soak-seconds N] [--soak-conns N]\n"
		"  --quick        fewer repetitions and job counts; no slow micro rows\n"
		"  --only NAME    run the benchmarks whose name contains NAME\n"
		"  --out DIR      results folder: suite.csv, REPORT.md, plots (results)\n"
		"  --csv FILE     micro-benchmark rows (default DIR/micro.csv)\n"
		"  --no-python    leave out bench/python/suite.py\n"
		"  --report-only  regenerate DIR/REPORT.md and plots from the CSVs\n"
		"  --soak-seconds N  length of the soak test (600)\n"
		"  --soak-conns N    connections the soak keeps open (500)\n"
		"  --help         this text\n"
		"benchmarks:\n");
	for (unsigned i = 0; i < NBENCH; i++)
		fprintf(f, "  %-8s %s%s\n", benches[i].name, benches[i].what,
			benches[i].full_only ? " [full mode only]" :
			benches[i].asked_only ? " [only with --only soak]" : "");
}

/* SIGALRM: only async-signal-safe calls from here on. */
static void watchdog(int sig)
{
	static const char pre[] = "reel-bench: ";
	static const char post[] = ": could not run: no result before the "
				   "watchdog fired (hang?)\n";

	(void)sig;
	if (bench_child > 0)
		kill(bench_child, SIGKILL);
	if (bench_child_group > 0)
		kill(-bench_child_group, SIGKILL);
	if (write(2, pre, sizeof(pre) - 1) < 0 ||
	    write(2, running, strlen(running)) < 0 ||
	    write(2, post, sizeof(post) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* What a reader needs to compare two tables: the machine and the build. */
static void print_machine(const struct bench_cfg *cfg)
{
	struct utsname u;
	char model[256];

	bench_machine(model, sizeof(model), &u);
	printf("# reel-bench %d.%d (%s mode, R=%u)\n", REEL_VERSION_MAJOR,
	       REEL_VERSION_MINOR, cfg->quick ? "quick" : "full", cfg->reps);
	printf("- machine: %ld CPUs online (%s), kernel %s %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release);
#if defined(__clang__)
	printf("- compiler: %s\n", __VERSION__);
#else
	printf("- compiler: gcc %s\n", __VERSION__);
#endif
	printf("- switch, spawn and nop run pinned to the CPU they start on\n");
	printf("- cells: median (min-max) of R repetitions; ratio = reel/base "
	       "of the medians, or base/reel where the goal says so\n\n");
	fflush(stdout);
}

/* Write REPORT.md and the plots from the CSVs. Returns 0 or -errno. */
static int write_report(void)
{
	int err = suite_report_write(opts.out, opts.csv, true);

	if (err == -ENOENT) {
		fprintf(stderr, "reel-bench: no %s/suite.csv: REPORT.md needs the "
			"suite (run without --only, or --only suite)\n", opts.out);
		return 0;
	}
	if (err < 0)
		fprintf(stderr, "reel-bench: cannot write %s/REPORT.md: %s\n", opts.out,
			strerror(-err));
	else
		fprintf(stderr, "reel-bench: report: %s/REPORT.md\n", opts.out);
	return err;
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg = { 0 };
	const char *only, *csv;
	unsigned ran = 0, failed = 0;
	bool suite_ran = false, micro_ran = false;
	char why[256];
	int err;

	err = suite_parse_args(argc, argv, &opts, why, sizeof(why));
	if (err == 1) {
		usage(stdout);
		return 0;
	}
	if (err < 0) {
		fprintf(stderr, "reel-bench: %s\n", why);
		usage(stderr);
		return 2;
	}
	if (opts.report_only)
		return write_report() < 0;
	only = opts.only;
	csv = opts.csv;
	cfg.quick = opts.quick;
	cfg.out = opts.out;
	cfg.soak_seconds = opts.soak_seconds;
	cfg.soak_conns = opts.soak_conns;
	for (unsigned i = 0; i < NBENCH; i++)
		ran += !only || strstr(benches[i].name, only);
	if (ran == 0) {
		fprintf(stderr, "reel-bench: no benchmark name contains '%s'\n", only);
		usage(stderr);
		return 2;
	}
	ran = 0;
	cfg.reps = cfg.quick ? 5 : 11;
	cfg.target_ns = cfg.quick ? 20000000u : 100000000u;
	cfg.budget_ns = cfg.quick ? UINT64_C(12000000000) : 0;
	signal(SIGALRM, watchdog);
	print_machine(&cfg);

	for (unsigned i = 0; i < NBENCH; i++) {
		const struct bench *b = &benches[i];
		struct bench_cfg bcfg = cfg;

		if (only && !strstr(b->name, only))
			continue;
		if (b->asked_only && (!only || strcmp(only, b->name) != 0)) {
			if (only)
				bench_note("%s: only when asked by name (--only %s)",
					   b->name, b->name);
			continue;
		}
		if (cfg.quick && b->full_only) {
			bench_note("%s: full mode only (run reel-bench without --quick)",
				   b->name);
			continue;
		}
		if (writes_report(b->run))
			bcfg.reps = cfg.quick ? 3 : 5;  /* each repetition is a fork */
		else if (!micro_ran && !b->asked_only)
			bench_table_header();
		micro_ran |= !writes_report(b->run) && !b->asked_only;
		running = b->name;
		fprintf(stderr, "reel-bench: running %s ...\n", b->name);
		alarm(cfg.quick ? b->timeout_s / 3 : b->timeout_s);
		err = b->run(&bcfg);
		alarm(0);
		ran++;
		failed += err < 0;
		suite_ran |= writes_report(b->run) && err == 0;
	}
	/* A suite-only run keeps the micro rows of an earlier run. */
	err = micro_ran ? bench_write_csv(csv, &cfg) : 0;
	if (err < 0) {
		fprintf(stderr, "reel-bench: cannot write %s: %s\n", csv, strerror(-err));
		return 1;
	}
	if (micro_ran)
		bench_note("CSV: %s", csv);
	bench_print_notes();
	if (suite_ran && write_report() < 0)
		failed++;
	if (failed)
		fprintf(stderr, "reel-bench: %u of %u benchmarks could not run\n",
			failed, ran);
	return failed ? 1 : 0;
}
