/*
 * suite_go.c - the Go twin of the headline comparison: the program
 * bench/go/suite.go, built next to reel-bench as suite_go when `go` is
 * installed (bench/bench.cmake; Debian's golang-go, tools/setup.sh --test),
 * run as a fresh process per measurement (suite_exec.c) on the timer, tcp
 * and cpu jobs beside the C models of the same run.
 *
 * Three models:
 *   goroutines       a goroutine per job, sync.WaitGroup; GOMAXPROCS=1, so
 *                    one core, like the fibers
 *   worker-pool      the C thread pool's size of goroutines taking job
 *                    numbers from a shared counter; GOMAXPROCS=1
 *   goroutines-ncpu  a goroutine per job with GOMAXPROCS = the cores: a
 *                    labelled extra, for the CPU jobs only (where cores
 *                    matter; waits overlap on one core already)
 *
 * The CPU job is Go's own loop of suite_hash's rounds, calibrated by the Go
 * program to the C job's length, as suite.py calibrates Python's.
 * Without suite_go the suite runs as before and says why in suite.csv
 * ("# go: not installed (tools/setup.sh --test)"): never an error.
 */
#include "suite.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const suite_go_model_names[SUITE_GO_NMODELS] = {
	[SUITE_GO_GOROUTINES] = "goroutines", [SUITE_GO_POOL] = "worker-pool",
	[SUITE_GO_NCPU] = "goroutines-ncpu",
};

int suite_go_locate(char *bin, size_t len, char *why, size_t whylen)
{
	char dir[PATH_MAX - 16], go[PATH_MAX];

	why[0] = '\0';
	if (bench_exe_dir(dir, sizeof(dir)) == 0) {
		snprintf(bin, len, "%s/suite_go", dir);
		if (access(bin, X_OK) == 0)
			return 0;
	}
	if (suite_which("go", go, sizeof(go)) == 0)
		snprintf(why, whylen, "go is installed but suite_go was not built "
			 "(re-run cmake, then build)");
	else
		snprintf(why, whylen, "not installed (tools/setup.sh --test)");
	return -ENOENT;
}

/* Run "suite_go calibrate @job_ns": its Go version and rounds. */
static int calibrate(struct suite_go *g, uint64_t job_ns)
{
	char arg[32], *argv[] = { g->bin, "calibrate", arg, NULL };
	struct bench_proc *p = calloc(1, sizeof(*p));
	const char *line;
	int err = 0, st = 0;

	if (!p)
		return -ENOMEM;
	snprintf(arg, sizeof(arg), "%" PRIu64, job_ns);
	if ((err = bench_child_start(p, argv, -1, 0)) < 0) {
		free(p);
		return err;
	}
	line = bench_child_line(p, bench_now_ns() + 10000000000u, &err);
	if (!line || sscanf(line, "%31s %" SCNu64, g->version, &g->cpu_rounds) != 2 ||
	    !g->cpu_rounds) {
		snprintf(g->why, sizeof(g->why), "suite_go calibrate failed: %.80s",
			 line ? line : p->log);
		err = -EPROTO;
	}
	if (bench_child_wait(p, 10000000000u, &st) < 0)
		bench_child_kill(p);
	bench_child_release(p);
	free(p);
	return err < 0 ? err : 0;
}

int suite_go_init(struct suite_go *g, uint64_t job_ns, unsigned ncpu)
{
	int err;

	memset(g, 0, sizeof(*g));
	g->ncpu = ncpu;
	err = suite_go_locate(g->bin, sizeof(g->bin), g->why, sizeof(g->why));
	if (err == 0 && (err = calibrate(g, job_ns)) < 0 && !g->why[0])
		snprintf(g->why, sizeof(g->why), "suite_go calibrate: %s", reel_strerror(err));
	g->ok = err == 0;
	return err;
}

bool suite_go_applies(enum suite_workload w, enum suite_go_model m)
{
	if (m == SUITE_GO_NCPU)
		return w == SUITE_CPU;
	return w == SUITE_TIMER || w == SUITE_TCP || w == SUITE_CPU;
}

unsigned suite_go_procs(const struct suite_go *g, enum suite_go_model m)
{
	return m == SUITE_GO_NCPU ? g->ncpu : 1;
}

void suite_go_concurrency(const struct suite_go *g, enum suite_go_model m, unsigned n,
			  unsigned pool, double *c_io, double *c_cpu)
{
	*c_io = m == SUITE_GO_POOL ? pool : n;
	*c_cpu = suite_go_procs(g, m) < n ? suite_go_procs(g, m) : n;
}

int suite_go_cell(const struct suite_go *g, enum suite_go_model m,
		  const struct suite_set *set, uint64_t timeout_ns, struct suite_sample *out)
{
	char jobs[16], port[16], wait[32], rounds[32], pool[16], procs[32];
	char *argv[] = { (char *)g->bin, "cell", (char *)suite_workload_names[set->workload],
			 m == SUITE_GO_POOL ? "worker-pool" : "goroutines", jobs, port,
			 wait, rounds, pool, NULL };
	char *env[] = { procs, NULL };

	snprintf(jobs, sizeof(jobs), "%u", set->jobs);
	snprintf(port, sizeof(port), "%u", set->env->port);
	snprintf(wait, sizeof(wait), "%" PRIu64, set->env->wait_ns);
	snprintf(rounds, sizeof(rounds), "%" PRIu64, g->cpu_rounds);
	snprintf(pool, sizeof(pool), "%u", set->env->tpool_threads);
	snprintf(procs, sizeof(procs), "GOMAXPROCS=%u", suite_go_procs(g, m));
	return suite_exec_run(argv, env, timeout_ns, out);
}
