/*
 * main.c - reel-bench: reel's micro-benchmarks, each beside its baseline.
 *
 * Usage: reel-bench [--quick] [--only NAME] [--csv FILE]
 *
 * Every benchmark runs reel and its baseline in the same process, in turn,
 * R times (5 with --quick, 11 otherwise), and prints one table row per
 * measurement: medians with min-max, their ratio and the goal from the
 * issue. A missed goal is a FAIL in the table, not an exit status: times on
 * shared machines are context, not verdicts (DESIGN.md §9). The exit status
 * is 1 only when a benchmark could not run at all; it says why on stderr.
 *
 * A watchdog alarm stops the run when one benchmark takes far longer than it
 * should, so a hang in the engine becomes a message and exit 1 instead of a
 * stuck CI job.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
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
};

static const struct bench benches[] = {
	{ "switch", "yield round trip vs jump_fcontext and swapcontext",
	  bench_switch, 120 },
	{ "spawn", "spawn+join of an empty fiber vs pthread_create+join",
	  bench_spawn, 120 },
	{ "timer", "timer wheel arm/cancel at 1M timers vs a binary heap",
	  bench_timer, 180 },
	{ "sleep1m", "1M fibers sleeping to random deadlines within 1 s",
	  bench_sleep, 300 },
	{ "mem", "RSS per idle fiber at 100k and 1M vs per idle pthread",
	  bench_mem, 600 },
	{ "nop", "fiber NOP and 4 KiB cached pread vs a raw liburing loop, batch 1/8/32",
	  bench_ring, 120 },
	{ "echo", "TCP echo servers: reel vs raw epoll, raw liburing, libuv",
	  bench_echo, 1500 },
};

#define NBENCH (sizeof(benches) / sizeof(benches[0]))

static const char *running;     /* read by the watchdog */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: reel-bench [--quick] [--only NAME] [--csv FILE]\n"
		"  --quick      5 repetitions of shorter runs (default: 11)\n"
		"  --only NAME  run the benchmarks whose name contains NAME\n"
		"  --csv FILE   write the rows to FILE (default results/micro.csv)\n"
		"  --help       this text\n"
		"benchmarks:\n");
	for (unsigned i = 0; i < NBENCH; i++)
		fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].what);
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
	char model[256] = "unknown", line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "unknown");
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

static void parse_args(int argc, char **argv, struct bench_cfg *cfg,
		      const char **only, const char **csv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			cfg->quick = true;
			break;
		case 'o':
			*only = optarg;
			break;
		case 'c':
			*csv = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:        /* getopt has named the bad flag */
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "reel-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg = { 0 };
	const char *only = NULL, *csv = "results/micro.csv";
	unsigned ran = 0, failed = 0;
	int err;

	parse_args(argc, argv, &cfg, &only, &csv);
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
	bench_table_header();

	for (unsigned i = 0; i < NBENCH; i++) {
		const struct bench *b = &benches[i];

		if (only && !strstr(b->name, only))
			continue;
		running = b->name;
		fprintf(stderr, "reel-bench: running %s ...\n", b->name);
		alarm(cfg.quick ? b->timeout_s / 3 : b->timeout_s);
		err = b->run(&cfg);
		alarm(0);
		ran++;
		failed += err < 0;
	}
	err = bench_write_csv(csv, &cfg);
	if (err < 0) {
		fprintf(stderr, "reel-bench: cannot write %s: %s\n", csv, strerror(-err));
		return 1;
	}
	bench_note("CSV: %s", csv);
	bench_print_notes();
	if (failed)
		fprintf(stderr, "reel-bench: %u of %u benchmarks could not run\n",
			failed, ran);
	return failed ? 1 : 0;
}
