/*
 * trace.c - reel-bench's "trace" part: what the run-time trace costs.
 *
 * Three programs' numbers, measured in turn, R times each, in this run
 * (bench/trace/trace_cost.c): the library as built (trace path compiled
 * in, tracing off), the same sources built with REEL_NO_TRACE (no trace
 * point, no USDT probe: "not compiled in"), and the library as built with
 * tracing on. Each program runs pinned to one CPU and prints one number.
 * Rows (issue 13's goals): the yield round trip and the CPU per echo
 * message (a ping-pong over a socketpair in one loop) with tracing compiled
 * in but off, against not compiled in (<= 1.02); the CPU per echo message
 * with tracing on against off (<= 1.15); and the events dropped while a
 * loop records about 100k events a second for 2 s (0).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NAME "trace"

struct prog {
	char dir[512];
	int cpu;
};

/* Run @exe (next to reel-bench) with @args and read its one line. */
static int run_line(const struct prog *p, const char *exe, char *const args[], char *line,
		    size_t len)
{
	char path[640], *argv[6] = { path };
	struct bench_proc proc;
	const char *l;
	int err, ws;

	snprintf(path, sizeof(path), "%s/%s", p->dir, exe);
	for (int i = 0; args[i] && i < 4; i++)
		argv[i + 1] = args[i];
	err = bench_child_start(&proc, argv, p->cpu, 0);
	if (err < 0)
		return err;
	l = bench_child_line(&proc, bench_now_ns() + 120000000000ull, &err);
	if (l)
		snprintf(line, len, "%s", l);
	bench_child_wait(&proc, 10000000000ull, &ws);
	bench_child_release(&proc);
	return l ? 0 : (err ? err : -EIO);
}

static int measure(const struct prog *p, const char *exe, char *const args[], double *v)
{
	char line[256];
	int err = run_line(p, exe, args, line, sizeof(line));

	if (err)
		return err;
	*v = strtod(line, NULL);
	return *v > 0 ? 0 : -EIO;
}

int bench_trace(const struct bench_cfg *cfg)
{
	struct bench_series y_on = { .n = 0 }, y_bare = { .n = 0 };
	struct bench_series e_off = { .n = 0 }, e_bare = { .n = 0 }, e_traced = { .n = 0 };
	struct bench_series drops = { .n = 0 }, recorded = { .n = 0 };
	char file[] = "/tmp/reel-bench-trace-XXXXXX", yn[16], en[16], line[256];
	char *yield_args[] = { "yield", yn, NULL }, *echo_args[] = { "echo", en, NULL, NULL };
	char *rate_args[] = { "rate", file, NULL };
	struct prog p;
	int cpu_load, err = 0, fd;

	if ((err = bench_exe_dir(p.dir, sizeof(p.dir))) < 0 ||
	    (err = bench_pick_cpus(&p.cpu, &cpu_load)) < 0)
		return bench_fail(NAME, err, "set-up");
	fd = mkstemp(file);
	if (fd < 0)
		return bench_fail(NAME, -errno, "mkstemp");
	close(fd);
	snprintf(yn, sizeof(yn), "%u", cfg->quick ? 1000000 : 4000000);
	snprintf(en, sizeof(en), "%u", cfg->quick ? 50000 : 200000);
	for (unsigned r = 0; r < cfg->reps && !err; r++) {
		double v;

		echo_args[2] = NULL;
		if (!(err = measure(&p, "trace_cost", yield_args, &v)))
			bench_series_add(&y_on, v);
		if (!err && !(err = measure(&p, "trace_cost_bare", yield_args, &v)))
			bench_series_add(&y_bare, v);
		if (!err && !(err = measure(&p, "trace_cost", echo_args, &v)))
			bench_series_add(&e_off, v);
		if (!err && !(err = measure(&p, "trace_cost_bare", echo_args, &v)))
			bench_series_add(&e_bare, v);
		echo_args[2] = file;
		if (!err && !(err = measure(&p, "trace_cost", echo_args, &v)))
			bench_series_add(&e_traced, v);
	}
	for (unsigned r = 0; r < (cfg->quick ? 1u : 3u) && !err; r++) {
		unsigned long long events = 0, dropped = 0;

		err = run_line(&p, "trace_cost", rate_args, line, sizeof(line));
		if (!err && sscanf(line, "%llu %llu", &events, &dropped) != 2)
			err = -EIO;
		if (!err) {
			bench_series_add(&drops, (double)dropped);
			bench_series_add(&recorded, (double)events);
			bench_note("trace: %llu events in 2 s (about %llu/s), %llu dropped",
				   events, events / 2, dropped);
		}
	}
	unlink(file);
	if (err)
		return bench_fail(NAME, err, "trace_cost (built next to reel-bench?)");
	bench_report(NAME, &(struct bench_row){
		.name = "trace compiled in, off: yield round trip", .unit = "ns",
		.reel = &y_on, .base_name = "not compiled in (REEL_NO_TRACE)", .base = &y_bare,
		.goal = BENCH_RATIO_LE, .goal_value = 1.02 });
	bench_report(NAME, &(struct bench_row){
		.name = "trace compiled in, off: echo CPU/message", .unit = "ns",
		.reel = &e_off, .base_name = "not compiled in (REEL_NO_TRACE)", .base = &e_bare,
		.goal = BENCH_RATIO_LE, .goal_value = 1.02 });
	bench_report(NAME, &(struct bench_row){
		.name = "trace on: echo CPU/message", .unit = "ns",
		.reel = &e_traced, .base_name = "trace off", .base = &e_off,
		.goal = BENCH_RATIO_LE, .goal_value = 1.15 });
	bench_report(NAME, &(struct bench_row){
		.name = "trace on at ~100k events/s: dropped", .unit = "events",
		.reel = &drops, .base_name = "events recorded", .base = &recorded,
		.goal = BENCH_ABS_LE, .goal_value = 0 });
	return 0;
}
