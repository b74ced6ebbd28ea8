/*
 * suite.h - the headline comparison of reel-bench: the same set of jobs run
 * serially, as reel fibers, as one OS thread per job, on a fixed thread
 * pool, on a fixed process pool and as fibers that offload their CPU part
 * (hybrid), for I/O-bound, CPU-bound and mixed workloads, from 1 to 10,000
 * jobs. It answers "when to use async, when to use sync" with numbers
 * measured on the reader's machine (docs/bench.md).
 *
 * One concept per file, all in bench/suite/:
 *   workload.c         the jobs: blocking and fiber versions of each
 *   workload_server.c  the loopback server that delays every reply
 *   model.c            the six ways of running N jobs
 *   suite_cell.c       one measurement in its own forked child
 *   suite.c            the plan: which cells, repetitions, skips, CSV
 *   suite_python.c     the Python twin (bench/python/suite.py)
 *   suite_go.c         the Go twin (bench/go/suite.go, built as suite_go)
 *   suite_exec.c       one measurement of a program of its own (exec'd)
 *   fresh.c            many tasks from a fresh process: reel, Go, asyncio,
 *                      threads (fresh.csv; fresh_tasks.c is reel's program)
 *   suite_report.c     REPORT.md and the gnuplot plots, from the CSV only
 *   suite_args.c       the command line of reel-bench
 */
#ifndef REEL_BENCH_SUITE_H
#define REEL_BENCH_SUITE_H

#include "bench.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum suite_workload {
	SUITE_TIMER,    /* wait on a timer */
	SUITE_TCP,      /* a request to a loopback server that delays its reply */
	SUITE_FILE,     /* read a page-cached file */
	SUITE_CPU,      /* hash: pure compute */
	SUITE_MIXED,    /* a loopback request, then hashing */
	SUITE_NWORKLOADS
};

enum suite_model {
	SUITE_SERIAL,   /* one job after the other, blocking calls */
	SUITE_FIBERS,   /* a reel fiber per job, reel_gather */
	SUITE_THREADS,  /* a pthread per job, blocking calls */
	SUITE_TPOOL,    /* a fixed pool of pthreads taking jobs in turn */
	SUITE_PPOOL,    /* a fixed pool of forked processes taking jobs in turn */
	SUITE_HYBRID,   /* fibers; the CPU part goes to reel_to_thread */
	SUITE_NMODELS
};

/* What the jobs need, set up by the runner before any cell is forked. */
struct suite_env {
	uint64_t wait_ns;       /* a timer job's wait; the server's delay */
	uint64_t cpu_rounds;    /* hash rounds of one CPU job */
	uint16_t port;          /* of the delay server, 0 when none */
	const char *file_path;  /* the file that file jobs read */
	size_t file_size;
	size_t read_size;       /* bytes one file job reads */
	unsigned tpool_threads; /* size of the thread pool model */
	unsigned ppool_procs;   /* size of the process pool model */
};

/* One measurement: a model running @jobs jobs of a workload. */
struct suite_set {
	const struct suite_env *env;
	enum suite_workload workload;
	unsigned jobs;
};

/* What a model reports beside its status. */
struct suite_extra {
	/* Peak RSS of the processes it forked and reaped itself, summed with
	 * its own (the process pool); 0: wait4's figure stands. */
	uint64_t rss_kib;
	/* The time of the jobs alone, when the model has a one-time set-up
	 * that a program pays once, not per batch (the fibers' reel_run);
	 * 0: the cell's time around the whole model stands. */
	uint64_t wall_ns;
};

/*
 * suite_model_fn - run every job of @set and wait for all of them.
 * Returns 0, or -errno with a short reason in @why ("EAGAIN at 4096
 * threads"). @extra starts zeroed; see struct suite_extra.
 * Context: a forked child of reel-bench (suite_cell_run).
 */
typedef int (*suite_model_fn)(const struct suite_set *set, char *why, size_t whylen,
			      struct suite_extra *extra);

/* ---- workload.c ---- */

extern const char *const suite_workload_names[SUITE_NWORKLOADS];
/* Does a job of @w wait (I/O), compute (CPU), or both? */
bool suite_workload_waits(enum suite_workload w);
bool suite_workload_computes(enum suite_workload w);

/* suite_hash - @rounds of a 64-bit mixing function from @seed: the CPU
 * kernel, pure register work. Returns the final value. */
uint64_t suite_hash(uint64_t seed, uint64_t rounds);

/* suite_job_blocking - job @i of @set with blocking system calls.
 * Returns 0 or -errno. Context: any thread or process. */
int suite_job_blocking(const struct suite_set *set, unsigned i);

/* suite_job_fiber - job @i of @set with reel's parking calls; with
 * @offload the CPU part runs on reel's thread pool (reel_to_thread).
 * Returns 0 or -errno. Context: fiber only. */
int suite_job_fiber(const struct suite_set *set, unsigned i, bool offload);

/* ---- workload_server.c ---- */

/*
 * suite_server_start - fork the delay server: a reel loop on 127.0.0.1 that
 * answers each 8-byte request (a delay in ns) with the same 8 bytes after
 * that delay, one fiber per connection. Stores its port in *@port and its
 * pid (leader of its own process group, SIGKILLed with reel-bench) in
 * *@pid. Returns 0 or -errno.
 */
int suite_server_start(uint16_t *port, pid_t *pid);
/* Kill and reap the server. */
void suite_server_stop(pid_t pid);

/* ---- model.c ---- */

extern const char *const suite_model_names[SUITE_NMODELS];
extern const suite_model_fn suite_models[SUITE_NMODELS];

/* ---- suite_cell.c ---- */

/* The outcome of one run of a model, as its parent saw it. */
struct suite_sample {
	int err;                /* 0, or -errno / -ETIMEDOUT / -ECHILD (crash) */
	char why[128];          /* the reason when err != 0 */
	double wall_s;          /* measured inside the child, around the jobs */
	double setup_s;         /* the model's one-time set-up (reel_run), or 0 */
	double cpu_s;           /* user + system of the child and its children */
	uint64_t rss_kib;       /* peak RSS (process pool: summed over workers) */
};

/* Reap cell child @pid (SIGKILL first when it @timed_out) and fill @out's
 * CPU time and peak RSS from wait4 (and its timeout reason). Returns the
 * wait status. Shared by the forked cells and the exec'd ones. */
int suite_reap(pid_t pid, bool timed_out, uint64_t timeout_ns, struct suite_sample *out);

/*
 * suite_cell_run - run @fn(@set) in a forked child, measuring it, and wait
 * for at most @timeout_ns. A model that fails, crashes or hangs (killed at
 * the timeout) is a sample with err set and @why saying what happened,
 * never the runner's end. Returns 0 when @out was filled (whatever the
 * model did), -errno when the child could not be started.
 */
int suite_cell_run(suite_model_fn fn, const struct suite_set *set,
		   uint64_t timeout_ns, struct suite_sample *out);

/* ---- suite.c: what the plans share (suite.c, fresh.c) ---- */

/* What one contestant did at one job count, over the repetitions. */
struct suite_series {
	struct bench_series wall, cpu, rss, setup;
	char why[160];          /* empty: measured; else why not (the row's status) */
};

/* suite_summarize - median, min and max of @s into @out (NAN when empty). */
void suite_summarize(const struct bench_series *s, double out[3]);
/* suite_series_add - a measured sample's figures onto @c. */
void suite_series_add(struct suite_series *c, const struct suite_sample *s);
/*
 * suite_row_write - @c's row in suite.csv's format to @csv, and the same
 * figures for a stdout table into @label: "wall (min-max) | CPU | RSS", or
 * the status when @c was not measured.
 */
void suite_row_write(FILE *csv, const char *lang, const char *workload, const char *model,
		     unsigned n, const struct suite_series *c, char *label, size_t len);

/* ---- suite_exec.c ---- */

/*
 * suite_exec_run - run the program @argv[0] (a path) with @argv as a fresh
 * process (fork, exec), with the "NAME=value" strings of @env (NULL, or
 * NULL-terminated) added to its environment, measuring it, and wait for at
 * most @timeout_ns. The program prints "ok WALL_NS" (its jobs' time,
 * measured inside) or "err REASON" on stdout; CPU time and peak RSS come
 * from wait4 and are its own. A failure, crash or hang is a sample with
 * err and @why set. Returns 0 when @out was filled, -errno when the child
 * could not be started.
 */
int suite_exec_run(char *const argv[], char *const env[], uint64_t timeout_ns,
		   struct suite_sample *out);

/* ---- suite_go.c ---- */

enum suite_go_model {
	SUITE_GO_GOROUTINES,    /* a goroutine per job, GOMAXPROCS=1 */
	SUITE_GO_POOL,          /* tpool_threads goroutines, GOMAXPROCS=1 */
	SUITE_GO_NCPU,          /* a goroutine per job, GOMAXPROCS=cores (cpu) */
	SUITE_GO_NMODELS
};

extern const char *const suite_go_model_names[SUITE_GO_NMODELS];

/* The Go twin as found at the start of a run. */
struct suite_go {
	bool ok;                /* suite_go found and calibrated */
	char bin[4096];         /* suite_go, next to reel-bench */
	char version[32];       /* "go1.19.8" */
	uint64_t cpu_rounds;    /* Go's rounds of a CPU job (its calibration) */
	unsigned ncpu;
	char why[160];          /* when !ok: "not installed (tools/setup.sh --test)" */
};

/* suite_go_locate - suite_go next to reel-bench into @bin. Returns 0, or
 * -ENOENT with the reason (no go, or go but no build) in @why. */
int suite_go_locate(char *bin, size_t len, char *why, size_t whylen);
/* suite_go_init - find suite_go and calibrate its CPU job to @job_ns.
 * Returns 0, or -errno with g->why set (g->ok false): not an error of the
 * run, the Go rows are then left out. */
int suite_go_init(struct suite_go *g, uint64_t job_ns, unsigned ncpu);
bool suite_go_applies(enum suite_workload w, enum suite_go_model m);
/* GOMAXPROCS of model @m. */
unsigned suite_go_procs(const struct suite_go *g, enum suite_go_model m);
/* How many of @n jobs model @m runs at once: waiting, and computing. */
void suite_go_concurrency(const struct suite_go *g, enum suite_go_model m, unsigned n,
			  unsigned pool, double *c_io, double *c_cpu);
/* suite_go_cell - one measurement of model @m on @set (suite_exec_run). */
int suite_go_cell(const struct suite_go *g, enum suite_go_model m,
		  const struct suite_set *set, uint64_t timeout_ns, struct suite_sample *out);

/* ---- fresh.c ---- */

struct suite_opts;
/*
 * suite_fresh_run - many tasks from a fresh process: 10,000 tasks waiting
 * 10 ms, and 10k/100k/1M (1M: full mode) tasks each sleeping to a due time
 * in [0, 1 s), for reel fibers, goroutines, asyncio tasks and threads,
 * each repetition an exec'd process. Prints its table and writes
 * OUT/fresh.csv (suite.csv's format), which the report reads beside
 * suite.csv. Returns 0, or -errno when it could not run at all.
 */
int suite_fresh_run(const struct bench_cfg *cfg, const struct suite_opts *o);

/* ---- suite_args.c ---- */

/* The command line of reel-bench. */
struct suite_opts {
	bool quick;
	bool python;            /* run bench/python/suite.py (default: yes) */
	bool report_only;       /* regenerate REPORT.md from the CSVs of @out */
	const char *only;       /* NULL: every benchmark */
	const char *out;        /* results folder (default "results") */
	const char *csv;        /* micro-benchmark CSV (default OUT/micro.csv) */
	unsigned soak_seconds;  /* --soak-seconds (default 600) */
	unsigned soak_conns;    /* --soak-conns (default 500) */
	char csv_buf[4096];
};

/*
 * suite_parse_args - fill @o from @argv. Returns 0; 1 for --help (the
 * caller prints the usage and exits 0); -EINVAL for a bad or missing
 * argument, with the reason in @err.
 */
int suite_parse_args(int argc, char **argv, struct suite_opts *o, char *err, size_t errlen);

/* ---- suite.c ---- */

/*
 * suite_run - run the headline comparison (plus the Python twin), print
 * its tables and write OUT/suite.csv. Returns 0, or -errno when it could
 * not run at all (a model that fails is a row, not an error).
 */
int suite_run(const struct bench_cfg *cfg, const struct suite_opts *o);

/* ---- suite_python.c ---- */

/*
 * suite_python_run - run bench/python/suite.py against the delay server on
 * @port and append its CSV rows to @csv (open for writing). Returns the
 * number of rows, or -errno (-ENOENT: no python3; not an error of the run).
 */
int suite_python_run(FILE *csv, const struct bench_cfg *cfg, uint16_t port);

/* suite_which - the first executable @name on $PATH, in @buf.
 * Returns 0 or -ENOENT. */
int suite_which(const char *name, char *buf, size_t len);

/* ---- suite_report.c ---- */

/*
 * suite_report_write - read @dir/suite.csv (and @micro_csv when it
 * exists), write @dir/REPORT.md and the plots' data and gnuplot script, and
 * run gnuplot when @plot is true and gnuplot is installed.
 * Returns 0, or -errno (-ENOENT: no suite.csv).
 */
int suite_report_write(const char *dir, const char *micro_csv, bool plot);

/* The header line of suite.csv, shared by the C rows and the Python rows. */
#define SUITE_CSV_HEADER "lang,workload,model,jobs,reps,wall_med_s,wall_min_s," \
			 "wall_max_s,cpu_med_s,rss_med_kib,status"

#endif /* REEL_BENCH_SUITE_H */
