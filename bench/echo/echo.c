/*
 * echo.c - TCP echo servers under load: reel beside the honest floor (raw
 * epoll, raw liburing) and beside libuv (docs/design.md §9, server benchmarks).
 *
 * Four servers, each a program of its own found next to reel-bench:
 *   echo_server  reel: a fiber per connection, reel_recv / reel_send
 *                (examples/echo_server.c)
 *   echo_uring   raw liburing: the same recv and send SQEs by hand, batched,
 *                ring set up like reel's (bench/echo/echo_uring.c)
 *   echo_epoll   raw epoll, level-triggered, non-blocking
 *                (bench/echo/echo_epoll.c)
 *   echo_libuv   libuv: uv_read_start / uv_write (bench/echo/echo_libuv.c)
 * and one load generator, echo_load (bench/echo/echo_load.c: raw liburing
 * with multishot recv, not reel, so the thing measured is on one side of
 * the socket only; why not epoll is explained there).
 *
 * One measurement (a cell): the server starts pinned to the first CPU this
 * process may use, and says on stdout where it listens; echo_load starts
 * pinned to the second, opens C connections on 127.0.0.1 and plays
 * ping-pong with 64-byte messages, one in flight per connection, for a
 * warm-up and then a fixed window, timing every round trip itself. At the
 * window's start and end it prints a line; the server's on-CPU time is
 * read then, summed over its threads from /proc/PID/task/ * /schedstat
 * (nanoseconds; utime + stime in /proc/PID/stat count 4-10 ms ticks, too
 * coarse for a 1 s window), so the server's CPU time per message covers
 * the window only. Then the server gets SIGTERM and must exit 0 within 3 s:
 * a clean shutdown is part of what is checked.
 *
 * Cells run for C = 1, 50, 500; for each C, R repetitions, each running the
 * four servers in turn (in a rotating order), so that a machine that slows
 * down part way slows all of them alike. Full mode: 0.5 s warm-up, 5 s
 * window, the runner's R; quick mode: 0.2 s and 1 s, R = 3 (about 45 s).
 *
 * The first figure is the server's CPU time per message, not throughput:
 * on a 2-core machine the server and echo_load each fill one CPU at 50 and
 * 500 connections, so every server runs near the generator's limit and
 * throughput ratios crowd toward 1, while what each server spent per
 * message still tells them apart (that CPU includes the kernel's loopback
 * TCP work done in the server's context, the same for all four). Rows
 * compare medians: CPU per message reel/raw liburing (goal <= 1.0 at 50
 * and 500 connections) and reel/libuv (goal <= 0.75, which on a saturated
 * core is >= 1.33x libuv's rate), p99 round trip reel/libuv (goal <= 1),
 * and, for context, reel/raw epoll and the throughputs. Every absolute
 * number (per server: throughput, CPU per message, p50/p99/p99.9, how busy
 * the server's and the generator's CPUs were) is in the table printed after
 * the notes. A cell where the generator's CPU had no idle time left while
 * the server's CPU had some gets a note: it measured the generator more
 * than the server. (Per-CPU idle time comes from /proc/stat.)
 *
 * Safety: each cell arms its own watchdog alarm; the children share one
 * process group that every error path (and bench/main.c's watchdog) kills; each
 * child dies with reel-bench (PR_SET_PDEATHSIG); the baselines also stop
 * by themselves after a time limit given on their command line.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME "echo"
#define MSG_SIZE 64
#define START_TIMEOUT_NS (5 * 1000000000ull)
#define STOP_TIMEOUT_NS (3 * 1000000000ull)

enum { SRV_REEL, SRV_URING, SRV_EPOLL, SRV_LIBUV, NSRV };

static const struct {
	const char *exe;
	const char *label;
	bool limit_arg;         /* takes "PORT SECONDS" (the baselines) */
} servers[NSRV] = {
	[SRV_REEL] = { "echo_server", "reel", false },
	[SRV_URING] = { "echo_uring", "raw liburing", true },
	[SRV_EPOLL] = { "echo_epoll", "raw epoll", true },
	[SRV_LIBUV] = { "echo_libuv", "libuv", true },
};

static const unsigned conn_counts[] = { 1, 50, 500 };
#define NCONNS (sizeof(conn_counts) / sizeof(conn_counts[0]))

/* What one cell measured. */
struct cell {
	double msgs_per_s;
	double cpu_ns_per_msg;  /* server on-CPU ns over the window / msgs */
	double p50_us, p99_us, p999_us;
	double srv_busy, load_busy;     /* the processes' CPU time / window */
	double srv_idle, load_idle;     /* their CPUs' idle time / total time */
	double srv_other, load_other;   /* their CPUs' time in other processes */
};

/* Every cell of one server at one connection count. */
struct cell_series {
	struct bench_series tput, cpu, p50, p99, p999, srv_busy, load_busy;
	struct bench_series srv_idle, load_idle;
};

struct echo_run {
	char dir[PATH_MAX];     /* where reel-bench and the programs are */
	bool have[NSRV];
	int cpu_srv, cpu_load;
	double warmup_s, window_s;
	unsigned reps;
	unsigned saturated;     /* cells where the generator was the limit */
	char saturated_at[160]; /* which: "libuv/500, ..." */
	unsigned shared;        /* cells where other processes took > 10% */
	char uring_setup[160];  /* what echo_uring said about its ring */
};

/* ---- finding the programs and the CPUs ---- */

static void exe_path(const struct echo_run *r, const char *exe, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", r->dir, exe);
}

static bool executable(const struct echo_run *r, const char *exe)
{
	char path[PATH_MAX + 64];

	exe_path(r, exe, path, sizeof(path));
	return access(path, X_OK) == 0;
}

/* ---- one cell ---- */

/* Fail a cell: say why, with what the children printed, kill them. */
static int cell_fail(struct bench_proc *srv, struct bench_proc *load, int err,
		     const char *label, unsigned conns, const char *what)
{
	bench_kill_pair(srv, load);
	bench_fail(NAME, err, "%s, %u connection%s: %s", label, conns,
		   conns == 1 ? "" : "s", what);
	if (srv->loglen)
		fprintf(stderr, "%s", srv->log);
	if (load->loglen)
		fprintf(stderr, "%s", load->log);
	return err < 0 ? err : -EIO;
}

/* Start the server; its port once it listens, or -errno. */
static int start_server(const struct echo_run *r, unsigned s, struct bench_proc *srv)
{
	char path[PATH_MAX + 64], limit[32];
	char *argv[] = { path, "0", NULL, NULL };
	const char *line, *at;
	uint64_t deadline;
	int err;

	exe_path(r, servers[s].exe, path, sizeof(path));
	if (servers[s].limit_arg) {
		/* A safety net only: the cell stops it long before. */
		snprintf(limit, sizeof(limit), "%u",
			 (unsigned)(r->warmup_s + r->window_s) + 60);
		argv[2] = limit;
	}
	err = bench_child_start(srv, argv, r->cpu_srv, 0);
	if (err < 0)
		return err;
	bench_child = srv->pid;
	bench_child_group = srv->pid;
	deadline = bench_now_ns() + START_TIMEOUT_NS;
	while ((line = bench_child_line(srv, deadline, &err)) != NULL) {
		at = strstr(line, "listening on 127.0.0.1:");
		if (at)
			return atoi(at + strlen("listening on 127.0.0.1:"));
	}
	return err;
}

static int start_load(const struct echo_run *r, unsigned conns, int port,
		      struct bench_proc *srv, struct bench_proc *load)
{
	char path[PATH_MAX + 64], c[16], s[16], d[32], w[32], p[16];
	char *argv[] = { path, "-m", "-c", c, "-s", s, "-d", d, "-w", w,
			 "127.0.0.1", p, NULL };

	exe_path(r, "echo_load", path, sizeof(path));
	snprintf(c, sizeof(c), "%u", conns);
	snprintf(s, sizeof(s), "%u", MSG_SIZE);
	snprintf(d, sizeof(d), "%g", r->window_s);
	snprintf(w, sizeof(w), "%g", r->warmup_s);
	snprintf(p, sizeof(p), "%d", port);
	return bench_child_start(load, argv, r->cpu_load, srv->pid);
}

/* Ticks of one CPU in /proc/stat: all of them, and idle + iowait. */
struct cpu_ticks {
	uint64_t total, idle;
	uint64_t procs;         /* user + nice + system: time in processes */
};

static int read_cpu_ticks(int cpu, struct cpu_ticks *t)
{
	char want[16], line[256];
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int found = -ENOENT;

	if (!f)
		return -errno;
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		/* user nice system idle iowait irq softirq steal */
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4) {
			t->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
			t->idle = v[3] + v[4];
			t->procs = v[0] + v[1] + v[2];
			found = 0;
		}
		break;
	}
	fclose(f);
	return found;
}

static double idle_share(const struct cpu_ticks *a, const struct cpu_ticks *b)
{
	uint64_t total = b->total - a->total;

	return total ? (double)(b->idle - a->idle) / (double)total : 0;
}

/* The share of a CPU's time spent in processes other than the one that
 * used @own (its CPU time over the window, as a share): other tenants of
 * the machine, which make the cell's numbers unreliable. */
static double other_share(const struct cpu_ticks *a, const struct cpu_ticks *b, double own)
{
	uint64_t total = b->total - a->total;
	double other = total ? (double)(b->procs - a->procs) / (double)total - own : 0;

	return other > 0 ? other : 0;
}

/* Parse echo_load's result line into @out. */
static int parse_result(const char *line, struct cell *out, uint64_t srv_cpu_ns)
{
	unsigned long long msgs, window, p50, p99, p999, max, cpu;
	double mean;

	if (sscanf(line, "result msgs=%llu window_ns=%llu p50_ns=%llu p99_ns=%llu "
		   "p999_ns=%llu max_ns=%llu mean_ns=%lf cpu_ns=%llu", &msgs, &window,
		   &p50, &p99, &p999, &max, &mean, &cpu) != 8 || msgs == 0 || window == 0)
		return -EPROTO;
	out->msgs_per_s = (double)msgs * 1e9 / (double)window;
	out->cpu_ns_per_msg = (double)srv_cpu_ns / (double)msgs;
	out->p50_us = (double)p50 / 1e3;
	out->p99_us = (double)p99 / 1e3;
	out->p999_us = (double)p999 / 1e3;
	out->srv_busy = (double)srv_cpu_ns / (double)window;
	out->load_busy = (double)cpu / (double)window;
	return 0;
}

/* Read the generator's protocol: "start", "stop", "result ...". */
static int follow_load(const struct echo_run *r, struct bench_proc *srv,
		       struct bench_proc *load, struct cell *out, const char **why)
{
	uint64_t deadline = bench_now_ns() +
			    (uint64_t)((r->warmup_s + r->window_s + 15) * 1e9);
	struct cpu_ticks s0 = { 0 }, s1 = { 0 }, l0 = { 0 }, l1 = { 0 };
	int64_t cpu0 = -1, cpu1 = -1;
	const char *line;
	int err;

	while ((line = bench_child_line(load, deadline, &err)) != NULL) {
		if (strcmp(line, "start") == 0) {
			cpu0 = bench_proc_oncpu_ns(srv->pid);
			read_cpu_ticks(r->cpu_srv, &s0);
			read_cpu_ticks(r->cpu_load, &l0);
		} else if (strcmp(line, "stop") == 0) {
			cpu1 = bench_proc_oncpu_ns(srv->pid);
			read_cpu_ticks(r->cpu_srv, &s1);
			read_cpu_ticks(r->cpu_load, &l1);
		} else if (strncmp(line, "result ", 7) == 0) {
			if (cpu0 < 0 || cpu1 < 0) {
				*why = "cannot read the server's CPU time from /proc";
				return cpu0 < 0 ? (int)cpu0 : cpu1 < 0 ? (int)cpu1 : -EIO;
			}
			err = parse_result(line, out, (uint64_t)(cpu1 - cpu0));
			out->srv_idle = idle_share(&s0, &s1);
			out->load_idle = idle_share(&l0, &l1);
			out->srv_other = other_share(&s0, &s1, out->srv_busy);
			out->load_other = other_share(&l0, &l1, out->load_busy);
			*why = "the load generator's result line is malformed";
			return err;
		}
	}
	*why = err == -ETIMEDOUT ? "no result from the load generator in time (hang?)"
				 : "the load generator ended without a result";
	return err;
}

static int run_cell(struct echo_run *r, unsigned s, unsigned conns, struct cell *out)
{
	struct bench_proc srv = { .pid = -1, .out = -1 }, load = { .pid = -1, .out = -1 };
	const char *label = servers[s].label, *why = "";
	char st[64], msg[128];
	int err, port, wstatus;

	alarm((unsigned)(r->warmup_s + r->window_s) + 40);   /* this cell's watchdog */
	port = start_server(r, s, &srv);
	if (port <= 0)
		return cell_fail(&srv, &load, port, label, conns,
				 port == -ETIMEDOUT ? "the server did not listen within 5 s"
						    : "the server did not start");
	err = start_load(r, conns, port, &srv, &load);
	if (err < 0)
		return cell_fail(&srv, &load, err, label, conns, "cannot start echo_load");
	err = follow_load(r, &srv, &load, out, &why);
	if (err < 0)
		return cell_fail(&srv, &load, err, label, conns, why);
	err = bench_child_wait(&load, 5000000000u, &wstatus);
	if (err < 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		return cell_fail(&srv, &load, err, label, conns, err < 0 ?
				 "echo_load did not exit" : bench_wstatus(wstatus, st, sizeof(st)));
	/* The server must still be alive, and must stop cleanly on SIGTERM. */
	if (waitpid(srv.pid, &wstatus, WNOHANG) == srv.pid) {
		srv.pid = -1;
		snprintf(msg, sizeof(msg), "the server died during the run: %s",
			 bench_wstatus(wstatus, st, sizeof(st)));
		return cell_fail(&srv, &load, 0, label, conns, msg);
	}
	err = bench_child_stop(&srv, STOP_TIMEOUT_NS, &wstatus);
	if (err < 0)
		return cell_fail(&srv, &load, err, label, conns,
				 "the server did not exit within 3 s of SIGTERM (killed)");
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
		snprintf(msg, sizeof(msg), "after SIGTERM the server ended with %s",
			 bench_wstatus(wstatus, st, sizeof(st)));
		return cell_fail(&srv, &load, 0, label, conns, msg);
	}
	if (s == SRV_URING && !r->uring_setup[0]) {
		const char *at = strstr(srv.log, "ring set up with ");
		if (at)
			snprintf(r->uring_setup, sizeof(r->uring_setup), "%.*s",
				 (int)strcspn(at + 17, "\n"), at + 17);
	}
	bench_child_release(&srv);
	bench_child_release(&load);
	bench_child_group = 0;
	bench_child = 0;
	if (r->cpu_srv != r->cpu_load && (out->srv_other > 0.10 || out->load_other > 0.10))
		r->shared++;
	if (out->load_idle < 0.03 && out->srv_idle > 0.10 && r->cpu_srv != r->cpu_load) {
		size_t used = strlen(r->saturated_at);
		char cell[48];

		snprintf(cell, sizeof(cell), "%s/%u", label, conns);
		if (r->saturated++ < 8 && !strstr(r->saturated_at, cell))
			snprintf(r->saturated_at + used, sizeof(r->saturated_at) - used,
				 "%s%s", used ? ", " : "", cell);
	}
	return 0;
}

/* ---- rows ---- */

static void add_cell(struct cell_series *cs, const struct cell *c)
{
	bench_series_add(&cs->tput, c->msgs_per_s / 1e3);
	bench_series_add(&cs->cpu, c->cpu_ns_per_msg);
	bench_series_add(&cs->p50, c->p50_us);
	bench_series_add(&cs->p99, c->p99_us);
	bench_series_add(&cs->p999, c->p999_us);
	bench_series_add(&cs->srv_busy, c->srv_busy * 100);
	bench_series_add(&cs->load_busy, c->load_busy * 100);
	bench_series_add(&cs->srv_idle, c->srv_idle * 100);
	bench_series_add(&cs->load_idle, c->load_idle * 100);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const struct bench_series *s)
{
	double v[BENCH_MAX_REPS];

	if (!s->n)
		return 0;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static double extreme(const struct bench_series *s, bool max)
{
	double v = s->n ? s->v[0] : 0;

	for (unsigned i = 1; i < s->n; i++)
		if (max ? s->v[i] > v : s->v[i] < v)
			v = s->v[i];
	return v;
}

/* The rows of one connection count. Server CPU per message comes first:
 * on two cores the server and echo_load each fill a CPU, so throughput
 * ratios say little (every server is near the generator's limit), while
 * what the server spent per message still separates them. A goal on CPU
 * per message is the throughput goal it replaces, stated where a small
 * machine can check it: <= 0.75x libuv's is >= 1.33x libuv's rate on a
 * saturated core. The goals apply from 50 connections on; one connection
 * measures latency more than cost. */
static void report_conns(const struct echo_run *r, unsigned conns,
			 const struct cell_series cs[NSRV])
{
	const struct cell_series *reel = &cs[SRV_REEL];
	const char *pl = conns > 1 ? "s" : "";
	bool goal = conns >= 50;
	char name[64];

	snprintf(name, sizeof(name), "echo %u conn%s: server CPU per message", conns, pl);
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "ns", .reel = &reel->cpu,
		.base_name = "raw liburing", .base = &cs[SRV_URING].cpu,
		.goal = goal ? BENCH_RATIO_LE : BENCH_INFO, .goal_value = 1.0 });
	if (r->have[SRV_LIBUV])
		bench_report(NAME, &(struct bench_row){
			.name = name, .unit = "ns", .reel = &reel->cpu,
			.base_name = "libuv", .base = &cs[SRV_LIBUV].cpu,
			.goal = goal ? BENCH_RATIO_LE : BENCH_INFO, .goal_value = 0.75 });
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "ns", .reel = &reel->cpu,
		.base_name = "raw epoll", .base = &cs[SRV_EPOLL].cpu, .goal = BENCH_INFO });
	snprintf(name, sizeof(name), "echo %u conn%s: p99 round trip", conns, pl);
	if (r->have[SRV_LIBUV])
		bench_report(NAME, &(struct bench_row){
			.name = name, .unit = "us", .reel = &reel->p99,
			.base_name = "libuv", .base = &cs[SRV_LIBUV].p99,
			.goal = BENCH_RATIO_LE, .goal_value = 1.0 });
	snprintf(name, sizeof(name), "echo %u conn%s: throughput", conns, pl);
	if (r->have[SRV_LIBUV])
		bench_report(NAME, &(struct bench_row){
			.name = name, .unit = "kmsg/s", .reel = &reel->tput,
			.base_name = "libuv", .base = &cs[SRV_LIBUV].tput, .goal = BENCH_INFO });
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "kmsg/s", .reel = &reel->tput,
		.base_name = "raw liburing", .base = &cs[SRV_URING].tput, .goal = BENCH_INFO });
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "kmsg/s", .reel = &reel->tput,
		.base_name = "raw epoll", .base = &cs[SRV_EPOLL].tput, .goal = BENCH_INFO });

	for (unsigned s = 0; s < NSRV; s++) {
		const struct cell_series *c = &cs[s];
		char tput[64];

		if (!r->have[s])
			continue;
		snprintf(tput, sizeof(tput), "%.1f (%.1f-%.1f)", median(&c->tput),
			 extreme(&c->tput, false), extreme(&c->tput, true));
		bench_appendix("| %-12s | %5u | %-27s | %10.0f | %7.1f | %7.1f | %8.1f | "
			       "%3.0f%% / %3.0f%% | %3.0f%% / %3.0f%% |",
			       servers[s].label, conns, tput, median(&c->cpu),
			       median(&c->p50), median(&c->p99), median(&c->p999),
			       median(&c->srv_busy), median(&c->srv_idle),
			       median(&c->load_busy), median(&c->load_idle));
	}
}

static void appendix_header(const struct echo_run *r)
{
	bench_appendix("echo: every server's medians of %u repetitions: %d-byte ping-pong on "
		       "127.0.0.1, server on CPU %d, echo_load on CPU %d, %.1f s window "
		       "after %.1f s warm-up; server/idle: the server's CPU time and its "
		       "CPU's idle time, as shares of the window (load/idle: the same for "
		       "echo_load)", r->reps, MSG_SIZE, r->cpu_srv, r->cpu_load,
		       r->window_s, r->warmup_s);
	bench_appendix("| %-12s | %5s | %-27s | %10s | %7s | %7s | %8s | %11s | %11s |",
		       "server", "conns", "throughput kmsg/s (min-max)", "CPU ns/msg",
		       "p50 us", "p99 us", "p99.9 us", "server/idle", "load/idle");
	bench_appendix("|--------------|-------|-----------------------------|------------|"
		       "---------|---------|----------|-------------|-------------|");
}

int bench_echo(const struct bench_cfg *cfg)
{
	static struct cell_series cs[NCONNS][NSRV];
	struct echo_run r = { .warmup_s = cfg->quick ? 0.2 : 0.5,
			      .window_s = cfg->quick ? 1.0 : 5.0,
			      .reps = cfg->quick ? 3 : cfg->reps };
	struct cell cell;
	int err;

	if (r.reps > BENCH_MAX_REPS)
		r.reps = BENCH_MAX_REPS;
	if ((err = bench_exe_dir(r.dir, sizeof(r.dir))) < 0)
		return bench_fail(NAME, err, "locating reel-bench's directory");
	if ((err = bench_pick_cpus(&r.cpu_srv, &r.cpu_load)) < 0)
		return bench_fail(NAME, err, "sched_getaffinity");
	for (unsigned s = 0; s < NSRV; s++)
		r.have[s] = executable(&r, servers[s].exe);
	if (!executable(&r, "echo_load") || !r.have[SRV_REEL] || !r.have[SRV_URING] ||
	    !r.have[SRV_EPOLL])
		return bench_fail(NAME, -ENOENT, "echo_load, echo_server, echo_uring and "
				  "echo_epoll must be built next to reel-bench (in %s)", r.dir);
	if (!r.have[SRV_LIBUV])
		bench_note("echo: no libuv baseline: %s/echo_libuv was not built "
			   "(libuv1-dev missing?)", r.dir);
	memset(cs, 0, sizeof(cs));

	for (unsigned i = 0; i < NCONNS; i++) {
		for (unsigned rep = 0; rep < r.reps; rep++) {
			for (unsigned k = 0; k < NSRV; k++) {
				unsigned s = (k + rep) % NSRV;   /* rotate the order */

				if (!r.have[s])
					continue;
				memset(&cell, 0, sizeof(cell));
				err = run_cell(&r, s, conn_counts[i], &cell);
				if (err < 0)
					return err;
				add_cell(&cs[i][s], &cell);
			}
		}
		if (i == 0)
			appendix_header(&r);
		report_conns(&r, conn_counts[i], cs[i]);
	}
	alarm(0);
	if (r.uring_setup[0])
		bench_note("echo: echo_uring's ring: %s", r.uring_setup);
	if (r.cpu_srv == r.cpu_load)
		bench_note("echo: only one CPU available: server and load share CPU %d, "
			   "so the numbers mix both", r.cpu_srv);
	if (r.shared)
		bench_note("echo: in %u cells other processes used more than 10%% of the "
			   "server's or echo_load's CPU (/proc/stat): the machine was busy, "
			   "those numbers are not reliable", r.shared);
	if (r.saturated)
		bench_note("echo: in %u cells (%s%s) echo_load's CPU was < 3%% idle and the "
			   "server's > 10%%: those measured the load generator more than the "
			   "server", r.saturated, r.saturated_at, r.saturated > 8 ? ", ..." : "");
	bench_note("echo: throughput and p99 from echo_load's own timing of every round "
		   "trip; server CPU per message = the server's on-CPU time over the window "
		   "(/proc/PID/task/*/schedstat, ns; softirq work done in its context "
		   "included) / the messages echoed in it");
	return 0;
}
