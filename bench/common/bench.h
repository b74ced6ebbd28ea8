/*
 * bench.h - what the parts of reel-bench share (the micro-benchmarks, the
 * echo and HTTP benchmarks and the headline comparison): timing, repeated
 * measurement, the result table and its CSV copy, CPU pinning, programs
 * run beside a benchmark and /proc readers.
 *
 * A benchmark measures reel and its baseline in the same run, alternating
 * them repetition by repetition, so that a machine that slows down part way
 * (other tenants, frequency changes) slows both sides alike. Each side yields
 * a series of R values; a table row shows the median with min-max beside it,
 * and the ratio of the two medians, because on a shared machine the ratio is
 * the result and the absolute numbers are only context (docs/design.md §9).
 */
#ifndef REEL_BENCH_H
#define REEL_BENCH_H

/* Included first by every bench file: cpu_set_t and sched_getcpu need it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "reel.h"

#define BENCH_MAX_REPS 16

/* Settings of one reel-bench run, fixed by the command line. */
struct bench_cfg {
	bool quick;
	unsigned reps;          /* R: repetitions of every measurement */
	uint64_t target_ns;     /* how long one calibrated repetition should take */
	uint64_t budget_ns;     /* 0, or when a slow benchmark stops repeating */
	const char *out;        /* results folder (--out), for benchmarks with files of their own */
	unsigned soak_seconds;  /* --soak-seconds (0: the default, 600) */
	unsigned soak_conns;    /* --soak-conns (0: the default, 500) */
};

/* One side of a row: a value per repetition. */
struct bench_series {
	double v[BENCH_MAX_REPS];
	unsigned n;
};

/*
 * How a row passes. The ratio column is reel/baseline of the medians for
 * every kind but BENCH_SPEEDUP_GE, where it is baseline/reel ("N times
 * faster"); the goal column spells out which.
 */
enum bench_goal {
	BENCH_INFO,             /* no goal: shown for context */
	BENCH_RATIO_LE,         /* reel/base <= goal */
	BENCH_RATIO_GE,         /* reel/base >= goal (rates: higher is better) */
	BENCH_SPEEDUP_GE,       /* base/reel >= goal */
	BENCH_ABS_LE,           /* reel median <= goal, in the row's unit */
	BENCH_BELOW_BASE,       /* every reel value < its baseline (a limit) */
};

struct bench_row {
	const char *name;       /* what reel did */
	const char *unit;       /* of both sides: "ns", "s", "KiB", "lines" */
	const struct bench_series *reel;
	const char *base_name;
	const struct bench_series *base;
	enum bench_goal goal;
	double goal_value;
};

/* A measured loop: do @iters operations, store the time they took. Returns
 * 0, or -errno when it could not run (after saying why with bench_fail). */
typedef int (*bench_fn)(void *ctx, uint64_t iters, uint64_t *elapsed_ns);

/* One contestant of bench_measure. */
struct bench_case {
	const char *name;       /* a label, for whoever debugs it */
	bench_fn fn;
	void *ctx;
	uint64_t ops_per_iter;  /* operations one iteration stands for (0 = 1) */
	uint64_t iters;         /* 0: calibrated to cfg->target_ns */
};

/* The folder of this program's executable, into @dir (@len bytes): where
 * its sibling programs (servers, load generators) are. 0, or -errno. */
int bench_exe_dir(char *dir, size_t len);

/* The first two CPUs this process may run on, for a server and its load
 * generator (pin them apart: one saturating the other's CPU compresses
 * every ratio). One CPU: both get it. 0, or -errno. */
int bench_pick_cpus(int *cpu_srv, int *cpu_load);

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * bench_measure - calibrate every case with iters == 0 (which also warms it
 * up), then run all @n cases once per repetition, in turn, and store each
 * repetition's ns per operation in @out[i].
 * Returns 0 or the first case's -errno.
 */
int bench_measure(const struct bench_cfg *cfg, struct bench_case *cases,
		  unsigned n, struct bench_series *out);

void bench_series_add(struct bench_series *s, double v);

/*
 * bench_more_reps - may a benchmark whose repetitions each take seconds (a
 * million fibers) start repetition @done + 1? Yes up to cfg->reps, except
 * that in quick mode it stops after two once cfg->budget_ns has passed since
 * @start_ns, so that a slow engine cannot stretch a quick run to minutes;
 * the row then shows fewer repetitions and a note says why.
 */
bool bench_more_reps(const struct bench_cfg *cfg, unsigned done, uint64_t start_ns);
/* The note for a benchmark that bench_more_reps cut short. */
void bench_note_reps(const char *bench, const struct bench_cfg *cfg,
		     unsigned done, uint64_t start_ns);

/* Print @row to the table on stdout and keep it for the CSV. */
void bench_report(const char *bench, const struct bench_row *row);
void bench_table_header(void);
/* A line of context (what a ring used, a limit), printed as a list item
 * under the table by bench_print_notes. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_print_notes(void);
/* A line of a benchmark's own detail table (all the absolute numbers
 * behind its rows), printed after the notes by bench_print_notes. */
void bench_appendix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write every reported row to @path, creating its folders. 0 or -errno. */
int bench_write_csv(const char *path, const struct bench_cfg *cfg);

/*
 * bench_fail - say on stderr why benchmark @bench could not run: @err is the
 * -errno that stopped it (0 when there is none) and @fmt names the call.
 * Returns @err, or -EIO for 0, so callers can "return bench_fail(...)".
 */
int bench_fail(const char *bench, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * bench_pin - confine the calling thread (and the threads it creates) to the
 * CPU it is running on, saving the old mask in @saved. On a 2-vCPU guest a
 * wake-up that crosses to the other vCPU costs tens of microseconds, which
 * would drown what a switch or spawn costs. Returns the CPU or -errno.
 */
int bench_pin(cpu_set_t *saved);

/* The machine, for a report: the CPU model from /proc/cpuinfo ("unknown"
 * when it says none) into @model, and uname into *@u ("unknown" release). */
struct utsname;
void bench_machine(char *model, size_t len, struct utsname *u);
void bench_unpin(const cpu_set_t *saved);

/*
 * bench_reel_run - reel_run(@main, @arg) with default options. Returns
 * main's status (0 or -errno). When the loop cannot start, prints the
 * loop's own explanation, tagged with @bench, and returns its -errno.
 */
int bench_reel_run(const char *bench, reel_fn main, void *arg);

/* A child process measuring for a benchmark, 0 when none: the watchdog
 * kills it before giving up, so no orphan keeps a million fibers alive. */
extern volatile pid_t bench_child;

/*
 * The process group of the programs a benchmark runs beside itself (echo
 * servers, load generators), 0 when none: the watchdog kills the whole
 * group before giving up.
 */
extern volatile pid_t bench_child_group;

/* A program run beside reel-bench (child.c), its stdout and stderr on a
 * pipe that is read line by line. */
struct bench_proc {
	pid_t pid;              /* -1 once reaped */
	int out;                /* the pipe's read end, -1 once closed */
	char name[32];
	size_t len;
	char buf[1024];         /* read, not yet split into lines */
	char line[1024];        /* the line bench_child_line returned */
	size_t loglen;
	char log[2048];         /* every line seen, for error messages */
};

/*
 * bench_child_start - run @argv[0] (a path) with @argv, pinned to @cpu (-1:
 * not pinned), in process group @group (0: a new group led by the child),
 * stdout and stderr on a pipe, SIGKILL on reel-bench's death. Returns 0 or
 * -errno; the child's exec failure shows as exit status 127.
 */
int bench_child_start(struct bench_proc *p, char *const argv[], int cpu, pid_t group);
/* The next line of the child's output, NUL-terminated, valid until the next
 * call; NULL with *@err = -ETIMEDOUT once @deadline_ns (bench_now_ns) has
 * passed, -EPIPE when the child closed its output. */
const char *bench_child_line(struct bench_proc *p, uint64_t deadline_ns, int *err);
/* Reap the child within @timeout_ns: 0 and its *@wstatus, or -ETIMEDOUT. */
int bench_child_wait(struct bench_proc *p, uint64_t timeout_ns, int *wstatus);
/* SIGTERM, then wait @timeout_ns; SIGKILL after it. Returns what
 * bench_child_wait returned for the SIGTERM: -ETIMEDOUT if it ignored it. */
int bench_child_stop(struct bench_proc *p, uint64_t timeout_ns, int *wstatus);
/* SIGKILL and reap, for error paths; idempotent. */
void bench_child_kill(struct bench_proc *p);
/* A server and its load generator, on an error path: kill their process
 * group and reap both; bench_child_group and bench_child are 0 after. */
void bench_kill_pair(struct bench_proc *srv, struct bench_proc *load);
/* Close the pipe of a child that has been reaped. */
void bench_child_release(struct bench_proc *p);
/* "exit status 1", "killed by signal 11 (Segmentation fault)". */
const char *bench_wstatus(int wstatus, char *buf, size_t len);
/* utime + stime of process @pid in ns (/proc/PID/stat, clock-tick
 * resolution: 10 ms at USER_HZ 100), or -errno. */
int64_t bench_proc_cpu_ns(pid_t pid);
/* On-CPU ns of every thread of @pid, summed (/proc/PID/task/TID/schedstat:
 * nanoseconds, and with the kernel's softirq work done in the process's
 * context when the kernel does not account IRQ time apart), or
 * bench_proc_cpu_ns when schedstat is missing; -errno. A server's CPU over
 * a window of a few seconds needs this resolution: ticks are 4-10 ms. */
int64_t bench_proc_oncpu_ns(pid_t pid);

/* Resident set size of this process in bytes (/proc/self/statm), or 0. */
uint64_t bench_rss_bytes(void);
/* Lines of /proc/self/maps: one per VMA. -errno when unreadable. */
long bench_maps_lines(void);
/* The first number in file @path (a sysctl), or -errno. */
long bench_read_long(const char *path);

/* splitmix64: the benchmarks' only source of randomness, seeded for
 * repeatability so reel and its baseline see the same numbers. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The benchmarks, one per file (bench/micro/, bench/echo/echo.c, bench/soak/soak.c); each
 * reports its rows and returns 0, or -errno when it could not run. */
int bench_switch(const struct bench_cfg *cfg);
int bench_spawn(const struct bench_cfg *cfg);
int bench_timer(const struct bench_cfg *cfg);
int bench_sleep(const struct bench_cfg *cfg);
int bench_mem(const struct bench_cfg *cfg);
int bench_ring(const struct bench_cfg *cfg);
int bench_echo(const struct bench_cfg *cfg);
/* bench/http/http.c: HTTP servers; also writes OUT/http.csv. */
int bench_http(const struct bench_cfg *cfg);
int bench_trace(const struct bench_cfg *cfg);
/* bench/xloop/xloop.c: messages between two loops of a runtime. */
int bench_xloop(const struct bench_cfg *cfg);
/* bench/soak/soak.c: a pass/fail verdict in OUT/soak.md, not table rows. */
int bench_soak(const struct bench_cfg *cfg);

#endif /* REEL_BENCH_H */
