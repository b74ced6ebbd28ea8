/*
 * Description: the runner of reel-bench's headline comparison, not its
 * timings: the command line (defaults, every flag, --help, bad and missing
 * arguments), REPORT.md and the plot data generated from a fixed small CSV
 * (tests/data/bench_suite.csv: each claim's figure and verdict, the
 * ideal-speed-up check, a refused model's reason, the noise warning, the
 * micro-benchmark section), a missing CSV, and models that fail, crash or
 * hang reported as samples with their reason while the runner carries on.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "suite.h"

#ifndef REEL_TEST_DATA_DIR
#define REEL_TEST_DATA_DIR "tests/data"
#endif

/* ---- helpers ---- */

static int parse(struct suite_opts *o, char *err, size_t len, int argc, ...)
{
	char *argv[16];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	return suite_parse_args(argc, argv, o, err, len);
}

/* The whole of @path, NUL-terminated, malloc'd (the caller frees). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 17);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 17) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void copy_file(const char *from, const char *to)
{
	char *text = slurp(from);
	FILE *f = fopen(to, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(text);
}

#define assert_contains(hay, needle)                                          \
	do {                                                                  \
		if (!strstr((hay), (needle)))                                 \
			fail_msg("missing from the report: \"%s\"", (needle)); \
	} while (0)

/* A fresh folder under /tmp; removed by rm_dir. */
static void make_dir(char *dir)
{
	strcpy(dir, "/tmp/reel-test-bench-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
	static const char *const names[] = {
		"suite.csv", "micro.csv", "fresh.csv", "REPORT.md", "plots.gp",
		"speedup_timer.dat",
		"speedup_tcp.dat", "speedup_file.dat", "speedup_cpu.dat",
		"speedup_mixed.dat", "mem_timer.dat",
	};
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* ---- the command line ---- */

static void test_bench_runner_args_defaults(void **state)
{
	struct suite_opts o;
	char err[128];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), 1, "reel-bench"), 0);
	assert_false(o.quick);
	assert_true(o.python);
	assert_false(o.report_only);
	assert_null(o.only);
	assert_string_equal(o.out, "results");
	assert_string_equal(o.csv, "results/micro.csv");
	assert_int_equal(o.soak_seconds, 600);
	assert_int_equal(o.soak_conns, 500);
	assert_loop_clean();
}

static void test_bench_runner_args_soak_options_take_whole_numbers_in_range(void **state)
{
	struct suite_opts o;
	char err[128];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), 7, "reel-bench", "--only", "soak",
			       "--soak-seconds", "30", "--soak-conns", "100"), 0);
	assert_int_equal(o.soak_seconds, 30);
	assert_int_equal(o.soak_conns, 100);
	assert_int_equal(parse(&o, err, sizeof(err), 3, "reel-bench", "--soak-seconds",
			       "4"), -EINVAL);
	assert_string_equal(err, "--soak-seconds wants 5 to 86400, not '4'");
	assert_int_equal(parse(&o, err, sizeof(err), 3, "reel-bench", "--soak-conns",
			       "10x"), -EINVAL);
	assert_string_equal(err, "--soak-conns wants 10 to 20000, not '10x'");
	assert_int_equal(parse(&o, err, sizeof(err), 3, "reel-bench", "--soak-conns",
			       "-500"), -EINVAL);
	assert_int_equal(parse(&o, err, sizeof(err), 2, "reel-bench", "--soak-seconds"),
			 -EINVAL);
	assert_string_equal(err, "--soak-seconds needs an argument");
	assert_loop_clean();
}

static void test_bench_runner_args_flags(void **state)
{
	struct suite_opts o;
	char err[128];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), 7, "reel-bench", "--quick", "--only",
			       "suite", "--out", "/tmp/x", "--no-python"), 0);
	assert_true(o.quick);
	assert_false(o.python);
	assert_string_equal(o.only, "suite");
	assert_string_equal(o.out, "/tmp/x");
	assert_string_equal(o.csv, "/tmp/x/micro.csv");   /* follows --out */

	assert_int_equal(parse(&o, err, sizeof(err), 4, "reel-bench", "--csv", "m.csv",
			       "--report-only"), 0);
	assert_string_equal(o.csv, "m.csv");
	assert_true(o.report_only);
	assert_false(o.quick);          /* a second parse starts over */
	assert_int_equal(parse(&o, err, sizeof(err), 2, "reel-bench", "--help"), 1);
	assert_loop_clean();
}

static void test_bench_runner_args_errors(void **state)
{
	struct suite_opts o;
	char err[128];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), 2, "reel-bench", "--fast"), -EINVAL);
	assert_string_equal(err, "unknown option '--fast'");
	assert_int_equal(parse(&o, err, sizeof(err), 2, "reel-bench", "--only"), -EINVAL);
	assert_string_equal(err, "--only needs an argument");
	assert_int_equal(parse(&o, err, sizeof(err), 2, "reel-bench", "extra"), -EINVAL);
	assert_string_equal(err, "unexpected argument 'extra'");
	assert_int_equal(parse(&o, err, sizeof(err), 3, "reel-bench", "--out", ""), -EINVAL);
	assert_string_equal(err, "--out cannot be empty");
	assert_loop_clean();
}

/* ---- the report ---- */

static void test_bench_runner_report_from_csv(void **state)
{
	char dir[64], path[128], micro[128], *md, *dat;

	(void)state;
	make_dir(dir);
	snprintf(path, sizeof(path), "%s/suite.csv", dir);
	copy_file(REEL_TEST_DATA_DIR "/bench_suite.csv", path);
	snprintf(micro, sizeof(micro), "%s/micro.csv", dir);
	copy_file(REEL_TEST_DATA_DIR "/bench_micro.csv", micro);
	snprintf(path, sizeof(path), "%s/fresh.csv", dir);
	copy_file(REEL_TEST_DATA_DIR "/bench_fresh.csv", path);
	assert_int_equal(suite_report_write(dir, micro, false), 0);

	snprintf(path, sizeof(path), "%s/REPORT.md", dir);
	md = slurp(path);
	/* Machine facts, copied from the CSV's header. */
	assert_contains(md, "- CPUs online: 2\n");
	assert_contains(md, "- kernel: Linux 6.1.0-test\n");
	assert_contains(md, "- liburing: 2.3\n");
	assert_contains(md, "- Python: CPython 3.11.7\n");
	/* Each claim: the figure computed from the rows, and a verdict. */
	assert_contains(md, "## When to use async: the claims, measured\n");
	assert_contains(md, "timer waits 96.2x, loopback requests n/a "
			    "(Python asyncio, timers: 40.0x) | holds: the gain is not a fixed");
	assert_contains(md, "fibers vs serial, 16 CPU jobs: 0.99x (hybrid, CPU part on "
			    "reel's thread pool: 1.93x) | holds;");
	assert_contains(md, "16 CPU jobs: 1.95x on 2 cores (Python: 0.50x) | holds |");
	assert_contains(md, "16 CPU jobs: 1.98x on 2 cores; Python threads (GIL): 0.95x | holds |");
	/* The ideal speed-up check and what 10,000 threads met. */
	assert_contains(md, "ideal speed-up (serial 1.01 s / one job 10.1 ms) 100x; "
			    "fibers 96.2x = 0.96 of ideal (goal >= 0.90: **pass**); "
			    "thread per job 72.1x (goal: fibers >= threads: **pass**)");
	assert_contains(md, "fibers 90.0 ms wall (ideal: one job's 10.1 ms; 8.0 us per job "
			    "above it), 60.5 MiB peak RSS, 6.0 KiB per job");
	assert_contains(md, "  - threads: EAGAIN at 4096 threads\n");
	assert_contains(md, "  - process-pool: skipped: predicted 50.5 s > budget 2.5 s: "
			    "about 561x fibers' time\n");
	/* Refusals, crashes and estimates are shown as such. */
	assert_contains(md, "| 16 | threads | crashed: killed by signal 11 (Segmentation fault) |");
	assert_contains(md, "| 10000 | fibers | 90.0 ms (85.0 ms-95.0 ms) | 80.0 ms | "
			    "60.5 MiB | 6.0 | ~1122x |");
	/* Only thread-pool at 100 timers spread by more than 25%. */
	assert_contains(md, "**Warning: noisy machine.** 1 of 37 measured cells");
	assert_contains(md, "| switch: yield round trip (A->B->A) | 25.6 ns (24.9-45.7) | "
			    "jump_fcontext round trip: 14.8 ns | 1.73x | reel/base <= 2.00 | pass |");
	assert_contains(md, "Quick mode: the 1M-sleeper (sleep1m) and echo-server rows");
	/* reel, Go and asyncio side by side; Go's extra column for CPU jobs. */
	assert_contains(md, "- Go: go1.19.8 (bench/go/suite.go; GOMAXPROCS=1");
	assert_contains(md, "| 100 | 10.5 ms, 3.1 MiB | 10.4 ms, 4.9 MiB | 170.0 ms, 4.7 MiB | "
			    "25.3 ms, 11.7 MiB | 1.01x |");
	assert_contains(md, "| 10000 | 90.0 ms, 60.5 MiB | 45.0 ms, 30.0 MiB | skipped | - | "
			    "2.00x |");
	assert_contains(md, "| Go goroutines, GOMAXPROCS=cores |");
	/* Many tasks from a fresh process: per task above the idle program,
	 * and the goals' verdicts computed from the rows. */
	assert_contains(md, "| waits 10 ms | 10000 | 40.0 ms, 4.80 KiB/task | 80.0 ms, "
			    "2.56 KiB/task |");
	assert_contains(md, "- threads at 100000 tasks: skipped: a thread per task");
	assert_contains(md, "| 10,000 tasks each waiting 10 ms: reel wall <= 0.6x Go's | 0.50x "
			    "(reel 40.0 ms, Go 80.0 ms) | PASS |");
	assert_contains(md, "| 100,000 tasks due over 1 s: reel wall <= 0.8x Go's | 1.08x "
			    "(reel 1.30 s, Go 1.20 s) | **MISS** |");
	assert_contains(md, "spawning included: reel wall <= 1.0x Go's | 0.90x");
	assert_contains(md, "reel peak RSS per task <= 4.5 KiB | 4.20 KiB (peak 4100 MiB) | PASS |");
	assert_contains(md, "gnuplot not run: `cd");
	free(md);

	snprintf(path, sizeof(path), "%s/speedup_timer.dat", dir);
	dat = slurp(path);
	assert_string_equal(dat, "jobs serial fibers threads thread-pool process-pool hybrid\n"
				 "1 1 0.9902 0.9806 ? ? ?\n"
				 "100 1 96.19 72.14 5.941 ? ?\n"
				 "10000 ? 1122 ? ? ? ?\n");
	free(dat);
	snprintf(path, sizeof(path), "%s/mem_timer.dat", dir);
	dat = slurp(path);
	assert_contains(dat, "100 1 12 14 4 ? ?\n");
	free(dat);
	rm_dir(dir);
	assert_loop_clean();
}

static void test_bench_runner_report_without_csv(void **state)
{
	char dir[64];

	(void)state;
	make_dir(dir);
	assert_int_equal(suite_report_write(dir, NULL, false), -ENOENT);
	rm_dir(dir);
	assert_loop_clean();
}

/* ---- models that fail ---- */

static int model_refused(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	(void)set;
	(void)extra;
	snprintf(why, len, "EAGAIN at 42 threads");
	return -EAGAIN;
}

static int model_crashes(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	(void)set, (void)why, (void)len, (void)extra;
	raise(SIGSEGV);
	return 0;
}

static int model_hangs(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	(void)set, (void)why, (void)len, (void)extra;
	sleep(3600);    /* the runner's timeout kills it long before */
	return 0;
}

static void test_bench_runner_failing_models(void **state)
{
	struct suite_env env = { .wait_ns = 1000000 };
	struct suite_set set = { &env, SUITE_TIMER, 3 };
	struct suite_sample s;

	(void)state;
	assert_int_equal(suite_cell_run(model_refused, &set, 20000000000u, &s), 0);
	assert_int_equal(s.err, -EAGAIN);
	assert_string_equal(s.why, "EAGAIN at 42 threads");

	assert_int_equal(suite_cell_run(model_crashes, &set, 20000000000u, &s), 0);
	assert_int_equal(s.err, -ECHILD);
	assert_string_equal(s.why, "crashed: killed by signal 11 (Segmentation fault)");

	assert_int_equal(suite_cell_run(model_hangs, &set, 300000000u, &s), 0);
	assert_int_equal(s.err, -ETIMEDOUT);
	assert_string_equal(s.why, "timeout: killed after 0.3 s");

	/* The runner carries on: a real model still measures after them. */
	assert_int_equal(suite_cell_run(suite_models[SUITE_SERIAL], &set, 20000000000u, &s), 0);
	assert_int_equal(s.err, 0);
	assert_true(s.wall_s >= 0.003);         /* 3 waits of 1 ms, one by one */
	assert_true(s.rss_kib > 0);
	assert_loop_clean();
}

/* Each model on three 1 ms waits in this process: status 0; the fibers
 * model's loop closes clean. */
static void test_bench_runner_models_run(void **state)
{
	struct suite_env env = { .wait_ns = 1000000, .tpool_threads = 2, .ppool_procs = 2 };
	struct suite_set set = { &env, SUITE_TIMER, 3 };
	char why[128];

	(void)state;
	for (int m = 0; m < SUITE_NMODELS; m++) {
		struct suite_extra extra = { 0 };

		why[0] = '\0';
		if (suite_models[m](&set, why, sizeof(why), &extra) != 0)
			fail_msg("%s: %s", suite_model_names[m], why);
		/* Only the process pool sums its workers' memory; only the
		 * fiber models time their jobs apart from reel_run. */
		assert_int_equal(extra.rss_kib > 0, m == SUITE_PPOOL);
		assert_int_equal(extra.wall_ns > 0, m == SUITE_FIBERS || m == SUITE_HYBRID);
	}
	assert_loop_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bench_runner_args_defaults),
		cmocka_unit_test(test_bench_runner_args_flags),
		cmocka_unit_test(test_bench_runner_args_errors),
		cmocka_unit_test(test_bench_runner_args_soak_options_take_whole_numbers_in_range),
		cmocka_unit_test(test_bench_runner_report_from_csv),
		cmocka_unit_test(test_bench_runner_report_without_csv),
		cmocka_unit_test(test_bench_runner_failing_models),
		cmocka_unit_test(test_bench_runner_models_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
