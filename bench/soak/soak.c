/*
 * soak.c - the soak test (reel-bench --only soak): a server under churning
 * load for minutes, watched for leaks of memory and descriptors and for a
 * round-trip latency that drifts. Not a speed comparison: a pass/fail
 * verdict about a long run, written to DIR/soak.md and DIR/soak.csv.
 *
 * The server is a parameter (soak_servers[] below: a label, a command line
 * found next to reel-bench, a port and soak_load's mode), so that later
 * servers join the same harness with one line. Port 0 means the server
 * picks one and prints "listening on 127.0.0.1:PORT"; any other port is
 * waited for with connect(). Two today: examples/echo_server under
 * "soak_load -m echo", and bench/http/reel_server.c (reel's HTTP server)
 * under "soak_load -m http"; each gets its section of soak.md, and the
 * verdict is PASS only when every one passes.
 *
 * One run: the server starts pinned to the first CPU this process may use,
 * soak_load (bench/soak/soak_load.c) pinned to the second (both on the same
 * one when there is one), in one process group that every error path and
 * the watchdog kill, each dying with reel-bench (PR_SET_PDEATHSIG, child.c).
 * soak_load keeps --soak-conns connections for --soak-seconds; in echo
 * mode 70% well-behaved round trips (timed), 10% slow readers, 10%
 * disconnectors, 10% resetters (SO_LINGER 0); in http mode 60% keep-alive
 * GET /hello (timed), 15% GET /stream, 10% slow readers of GET /big, 10%
 * disconnectors mid-stream, 5% resetters (bench/soak/soak_load_http.c).
 * Both print the same lines. Its "sample" line every period is the clock:
 * on each, reel-bench reads the server's VmRSS (/proc/PID/status), counts
 * /proc/PID/fd, and checks that the server is alive and silent. At the end
 * the server gets SIGTERM and must exit 0 within 3 s, reporting 0 open.
 *
 * The sampling period is 10 s for runs of 100 s or more, else a tenth of
 * the run (at least 1 s); the "first minute" and "last minute" of the
 * verdict are the first and last tenth of the run (60 s at the default
 * 600 s), but at least 10 s (at most a third of the run) and at least one
 * period. The verdict (docs/bench.md, "Soak"):
 *   RSS          the last sample <= 1.05 x the first sample at or after the
 *                first window, and at or after 15 s of warm-up (half the
 *                run at most: rss_base_s) (giving memory back is not a leak);
 *   descriptors  the last sample within +-5% of that same sample (the load
 *                holds the same number of connections throughout);
 *   p99          of the timed round trips (echoes, GET /hello) of the last
 *                window <= max(2 x first window's, first + 10 ms):
 *                the floor keeps a shared virtual machine's hiccups (a few
 *                milliseconds, now and then far more) from failing a short
 *                run that does not drift;
 * "The last sample" is the last one taken while the load still held its
 * connections: the one at the very end races with the load's closing.
 *   errors       none: no error seen by the load, no line printed by the
 *                server during the run, the server alive to the end, a clean
 *                exit with 0 connections open. Slow readers dropped by the
 *                server's send deadline are expected and only counted.
 * Like every reel-bench part, a verdict is not an exit status (exit 1 only
 * when the soak could not run); the test soak_short greps "Verdict: PASS".
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#define NAME "soak"
#define START_TIMEOUT_NS (5 * 1000000000ull)
#define STOP_TIMEOUT_NS (3 * 1000000000ull)
#define RSS_GROWTH_MAX 0.05
#define WARMUP_S 15.0   /* see rss_base_s */
#define FDS_DRIFT_MAX 0.05
#define P99_RATIO_MAX 2.0
#define P99_FLOOR_NS 10000000ull   /* 10 ms: see the design comment */

/* A server under soak: @argv[0] is found next to reel-bench; @load is
 * soak_load's mode (-m), @roles its mix in words, for soak.md. */
struct soak_server {
	const char *label;
	const char *argv[6];
	uint16_t port;          /* 0: it prints "listening on 127.0.0.1:PORT" */
	const char *load;
	const char *roles;
};

static const struct soak_server soak_servers[] = {
	{ "echo_server (reel)", { "echo_server", "0", NULL }, 0, "echo",
	  "70% well-behaved 64-byte round trips (timed), 10% each slow readers, "
	  "disconnectors, resetters" },
	/* bench/http/reel_server.c; a 5 s write timeout, as echo_server's. */
	{ "http server (reel)", { "reel_http_server", "--write-timeout-ms", "5000", "0", NULL }, 0,
	  "http", "60% keep-alive GET /hello round trips (timed), 15% GET /stream readers "
	  "(10 chunks checked), 10% slow readers of GET /big (some stall past the write "
	  "timeout), 10% disconnectors mid-stream, 5% resetters (SO_LINGER 0 mid-request)" },
};
#define NSERVERS (sizeof(soak_servers) / sizeof(soak_servers[0]))

struct sample {
	double t_s;
	long rss_kib, fds;
	unsigned open;          /* connections the load held */
	unsigned long long rtts, p99_ns, errors, reconnects, resets, drops;
};

struct soak_result {
	unsigned long long rtts, first_p99_ns, last_p99_ns, errors, reconnects;
	unsigned long long resets, drops;
	unsigned long long served, dropped, left_open;
	unsigned server_lines;  /* lines the server printed while running */
	char problem[256];      /* the first thing that went wrong, or "" */
};

struct soak_run {
	char dir[PATH_MAX];
	int cpu_srv, cpu_load;
	unsigned seconds, conns;
	double period_s, window_s;
	struct sample *s;
	unsigned ns, cap;
};

/* ---- finding programs and CPUs (as echo.c does) ---- */

/* ---- /proc ---- */

static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the children ---- */

static int wait_port(uint16_t port, uint64_t deadline)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (bench_now_ns() < deadline) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

		if (fd < 0)
			return -errno;
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return port;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

/* Start the server; its port once it listens, or -errno. */
static int start_server(const struct soak_run *r, const struct soak_server *sv,
			struct bench_proc *srv)
{
	char path[PATH_MAX + 64];
	char *argv[6] = { path };
	uint64_t deadline = bench_now_ns() + START_TIMEOUT_NS;
	const char *line, *at;
	int err;

	snprintf(path, sizeof(path), "%s/%s", r->dir, sv->argv[0]);
	for (unsigned i = 1; i < 5 && sv->argv[i]; i++)
		argv[i] = (char *)sv->argv[i];
	err = bench_child_start(srv, argv, r->cpu_srv, 0);
	if (err < 0)
		return err;
	bench_child = srv->pid;
	bench_child_group = srv->pid;
	if (sv->port)
		return wait_port(sv->port, deadline);
	while ((line = bench_child_line(srv, deadline, &err)) != NULL) {
		at = strstr(line, "listening on 127.0.0.1:");
		if (at)
			return atoi(at + strlen("listening on 127.0.0.1:"));
	}
	return err;
}

static int start_load(const struct soak_run *r, const struct soak_server *sv, int port,
		      struct bench_proc *srv, struct bench_proc *load)
{
	char path[PATH_MAX + 64], c[16], t[16], p[32], w[32], pt[16];
	char *argv[] = { path, "-m", (char *)sv->load, "-c", c, "-t", t, "-p", p, "-w", w,
			 "127.0.0.1", pt, NULL };

	snprintf(path, sizeof(path), "%s/soak_load", r->dir);
	snprintf(c, sizeof(c), "%u", r->conns);
	snprintf(t, sizeof(t), "%u", r->seconds);
	snprintf(p, sizeof(p), "%g", r->period_s);
	snprintf(w, sizeof(w), "%g", r->window_s);
	snprintf(pt, sizeof(pt), "%d", port);
	return bench_child_start(load, argv, r->cpu_load, srv->pid);
}

static void problem(struct soak_result *res, const char *fmt, const char *what)
{
	if (!res->problem[0])
		snprintf(res->problem, sizeof(res->problem), fmt, what);
}

/* Lines the server printed since the last call: it prints only on trouble. */
static void drain_server(struct bench_proc *srv, struct soak_result *res)
{
	const char *line;
	int err;

	while (srv->out >= 0 && (line = bench_child_line(srv, bench_now_ns() + 1000000u, &err))) {
		res->server_lines++;
		problem(res, "the server printed: %s", line);
	}
}

static int take_sample(struct soak_run *r, const char *line, struct bench_proc *srv,
		       struct soak_result *res)
{
	struct sample *s;
	unsigned long long t_ms;
	int wstatus;
	char st[64];

	if (r->ns == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 128;
		struct sample *n = realloc(r->s, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->s = n;
		r->cap = cap;
	}
	s = &r->s[r->ns];
	memset(s, 0, sizeof(*s));
	if (sscanf(line, "sample t_ms=%llu open=%u rtts=%llu p99_ns=%llu errors=%llu "
		   "reconnects=%llu resets=%llu drops=%llu", &t_ms, &s->open, &s->rtts,
		   &s->p99_ns, &s->errors, &s->reconnects, &s->resets, &s->drops) != 8)
		return -EPROTO;
	s->t_s = (double)t_ms / 1e3;
	if (waitpid(srv->pid, &wstatus, WNOHANG) == srv->pid) {
		srv->pid = -1;
		snprintf(res->problem, sizeof(res->problem), "the server died at %.0f s: %s",
			 s->t_s, bench_wstatus(wstatus, st, sizeof(st)));
		return -ESRCH;
	}
	s->rss_kib = proc_rss_kib(srv->pid);
	s->fds = proc_fds(srv->pid);
	if (s->rss_kib < 0 || s->fds < 0)
		return s->rss_kib < 0 ? (int)s->rss_kib : (int)s->fds;
	drain_server(srv, res);
	r->ns++;
	fprintf(stderr, "reel-bench: soak: %5.0f s  RSS %ld KiB  %ld fds  %u open  "
		"p99 %.0f us  %llu errors\n", s->t_s, s->rss_kib, s->fds, s->open,
		(double)s->p99_ns / 1e3, s->errors);
	return 0;
}

/* Follow soak_load's lines until its result. Returns 0 or -errno (@why). */
static int follow_load(struct soak_run *r, struct bench_proc *srv, struct bench_proc *load,
		       struct soak_result *res, const char **why)
{
	uint64_t deadline = bench_now_ns() + ((uint64_t)r->seconds + 30) * 1000000000u;
	const char *line;
	int err;

	while ((line = bench_child_line(load, deadline, &err)) != NULL) {
		if (strncmp(line, "sample ", 7) == 0) {
			if ((err = take_sample(r, line, srv, res)) < 0) {
				*why = err == -ESRCH ? res->problem : "cannot sample the server";
				return err;
			}
		} else if (strncmp(line, "error ", 6) == 0) {
			problem(res, "soak_load: %s", line + 6);
			fprintf(stderr, "reel-bench: soak: %s\n", line);
		} else if (strncmp(line, "result ", 7) == 0) {
			*why = "soak_load's result line is malformed";
			return sscanf(line, "result rtts=%llu first_p99_ns=%llu last_p99_ns=%llu "
				      "errors=%llu reconnects=%llu resets=%llu drops=%llu",
				      &res->rtts, &res->first_p99_ns, &res->last_p99_ns,
				      &res->errors, &res->reconnects, &res->resets,
				      &res->drops) == 7 ? 0 : -EPROTO;
		}
	}
	*why = err == -ETIMEDOUT ? "no result from soak_load in time (hang?)"
				 : "soak_load ended without a result";
	return err;
}

/* SIGTERM the server: it must exit 0 and say how many connections it left. */
static int stop_server(struct bench_proc *srv, struct soak_result *res)
{
	int wstatus, err = bench_child_stop(srv, STOP_TIMEOUT_NS, &wstatus);
	const char *at;
	char st[64];

	if (err < 0) {
		problem(res, "%s", "the server did not exit within 3 s of SIGTERM (killed)");
		return 0;
	}
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		problem(res, "after SIGTERM the server ended with %s",
			bench_wstatus(wstatus, st, sizeof(st)));
	at = strstr(srv->log, "connections served");
	if (at) {
		const char *num = at;

		while (num > srv->log && (num[-1] == ' ' || (num[-1] >= '0' && num[-1] <= '9')))
			num--;
		while (*num == ' ')
			num++;
		if (sscanf(num, "%llu connections served, %llu dropped for not reading, "
			   "%llu open", &res->served, &res->dropped, &res->left_open) != 3)
			at = NULL;
	}
	if (!at) {
		res->left_open = ~0ull;
		problem(res, "%s", "the server's exit line (N connections served, ...) is missing");
	} else if (res->left_open) {
		problem(res, "%s", "the server exited with connections still open");
	}
	return 0;
}

static int soak_one(struct soak_run *r, const struct soak_server *sv, struct soak_result *res)
{
	struct bench_proc srv = { .pid = -1, .out = -1 }, load = { .pid = -1, .out = -1 };
	const char *why = "";
	int err, port, wstatus;
	char st[64];

	alarm(r->seconds + 90);   /* this run's watchdog (main.c's handler) */
	port = start_server(r, sv, &srv);
	if (port <= 0) {
		bench_kill_pair(&srv, &load);
		return bench_fail(NAME, port, "%s did not %s", sv->label,
				  port == -ETIMEDOUT ? "listen within 5 s" : "start");
	}
	if ((err = start_load(r, sv, port, &srv, &load)) < 0) {
		bench_kill_pair(&srv, &load);
		return bench_fail(NAME, err, "cannot start soak_load");
	}
	err = follow_load(r, &srv, &load, res, &why);
	if (err == 0 && ((err = bench_child_wait(&load, 10000000000u, &wstatus)) < 0 ||
			 !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)) {
		why = err < 0 ? "soak_load did not exit" : bench_wstatus(wstatus, st, sizeof(st));
		err = err < 0 ? err : -EIO;
	}
	if (err < 0) {
		bench_kill_pair(&srv, &load);
		bench_fail(NAME, err, "%s: %s", sv->label, why);
		if (srv.loglen)
			fprintf(stderr, "%s", srv.log);
		if (load.loglen)
			fprintf(stderr, "%s", load.log);
		return err;
	}
	drain_server(&srv, res);
	stop_server(&srv, res);
	bench_child_release(&srv);
	bench_child_release(&load);
	bench_child_group = 0;
	bench_child = 0;
	alarm(0);
	return 0;
}

/* ---- the verdict and the report ---- */

struct verdict {
	const struct sample *base, *end;
	bool rss, fds, p99, errors;
};

/*
 * Where RSS and descriptors are measured from: after the first window, but
 * never before WARMUP_S. A server's high-water marks (stacks and buffers
 * kept for the most connections in flight at once so far) still rise for
 * 15-20 s under churning load (at 100 connections: +4.5% between 12 s and
 * 27 s, then flat - warm-up, not a leak), which failed 30 s runs measured
 * from 12 s now and then. Half the run at most, so a short run still has a
 * half to show a leak in.
 */
static double rss_base_s(const struct soak_run *r)
{
	double at = r->window_s > WARMUP_S ? r->window_s : WARMUP_S;

	return at < r->seconds / 2.0 ? at : r->seconds / 2.0;
}

static void judge(const struct soak_run *r, const struct soak_result *res, struct verdict *v)
{
	unsigned long long p99_max;

	memset(v, 0, sizeof(*v));
	for (unsigned i = 0; i < r->ns && !v->base; i++)
		if (r->s[i].t_s + 0.5 >= rss_base_s(r))
			v->base = &r->s[i];
	/* The last sample before the end: the final one races the load's close. */
	for (unsigned i = 0; i < r->ns; i++)
		if (r->s[i].t_s + 0.5 < r->seconds || !v->end)
			v->end = &r->s[i];
	if (v->base && v->end && v->end != v->base) {
		v->rss = v->end->rss_kib <= v->base->rss_kib * (1 + RSS_GROWTH_MAX);
		v->fds = labs(v->end->fds - v->base->fds) <= v->base->fds * FDS_DRIFT_MAX;
	}
	p99_max = (unsigned long long)(res->first_p99_ns * P99_RATIO_MAX);
	if (p99_max < res->first_p99_ns + P99_FLOOR_NS)
		p99_max = res->first_p99_ns + P99_FLOOR_NS;
	v->p99 = res->first_p99_ns && res->last_p99_ns && res->last_p99_ns <= p99_max;
	v->errors = !res->errors && !res->server_lines && !res->problem[0] &&
		    res->left_open == 0;
}

static const char *pf(bool ok)
{
	return ok ? "PASS" : "FAIL";
}

static void write_csv(FILE *f, const struct soak_server *sv, const struct soak_run *r)
{
	for (unsigned i = 0; i < r->ns; i++) {
		const struct sample *s = &r->s[i];

		fprintf(f, "%s,%.1f,%ld,%ld,%u,%.1f,%llu,%llu,%llu,%llu,%llu\n", sv->label,
			s->t_s, s->rss_kib, s->fds, s->open, (double)s->p99_ns / 1e3, s->rtts,
			s->errors, s->reconnects, s->resets, s->drops);
	}
}

static void write_md(FILE *f, const struct soak_server *sv, const struct soak_run *r,
		     const struct soak_result *res, const struct verdict *v)
{
	const struct sample *b = v->base, *e = v->end;

	fprintf(f, "## %s\n\n", sv->label);
	fprintf(f, "`%s", sv->argv[0]);
	for (unsigned i = 1; i < 6 && sv->argv[i]; i++)
		fprintf(f, " %s", sv->argv[i]);
	fprintf(f, "`, %u s at %u connections (`soak_load -m %s`: %s), sampled every %g s; "
		"server on CPU %d, soak_load on CPU %d. \"First\" and \"last\" window: "
		"%g s.\n\n", r->seconds, r->conns, sv->load, sv->roles, r->period_s,
		r->cpu_srv, r->cpu_load, r->window_s);
	fprintf(f, "| t (s) | server RSS (KiB) | server fds | load's open conns | p99 (us) | "
		"round trips | errors | reconnects | resets | slow readers dropped |\n");
	fprintf(f, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < r->ns; i++) {
		const struct sample *s = &r->s[i];

		fprintf(f, "| %.0f | %ld | %ld | %u | %.0f | %llu | %llu | %llu | %llu | %llu |\n",
			s->t_s, s->rss_kib, s->fds, s->open, (double)s->p99_ns / 1e3, s->rtts,
			s->errors, s->reconnects, s->resets, s->drops);
	}
	fprintf(f, "\nTotals: %llu timed round trips, %llu reconnects, %llu resets, "
		"%llu slow readers dropped (expected); the server served %llu connections, "
		"dropped %llu for not reading, left %llu open at exit.\n\n", res->rtts,
		res->reconnects, res->resets, res->drops, res->served, res->dropped,
		res->left_open == ~0ull ? 0 : res->left_open);
	fprintf(f, "| check | rule | measured | verdict |\n|---|---|---|---|\n");
	if (b && e) {
		fprintf(f, "| RSS | end <= 1.05 x value at %.0f s | %ld KiB at %.0f s, %ld KiB "
			"at %.0f s (%+.1f%%) | %s |\n", b->t_s, b->rss_kib, b->t_s, e->rss_kib,
			e->t_s, 100.0 * (double)(e->rss_kib - b->rss_kib) / (double)b->rss_kib,
			pf(v->rss));
		fprintf(f, "| descriptors | end within 5%% of value at %.0f s | %ld at %.0f s "
			"(%u conns open), %ld at %.0f s (%u open) | %s |\n", b->t_s, b->fds,
			b->t_s, b->open, e->fds, e->t_s, e->open, pf(v->fds));
	} else {
		fprintf(f, "| RSS, descriptors | need samples after the first window | "
			"%u samples | FAIL |\n", r->ns);
	}
	fprintf(f, "| p99 | last window <= max(2 x first window, first + 10 ms) | "
		"%.0f us first, %.0f us last (%.2fx) | %s |\n", (double)res->first_p99_ns / 1e3,
		(double)res->last_p99_ns / 1e3, res->first_p99_ns ?
		(double)res->last_p99_ns / (double)res->first_p99_ns : 0, pf(v->p99));
	fprintf(f, "| errors | none (load, server output, clean exit with 0 open) | "
		"%llu load errors, %u server lines%s%s | %s |\n\n", res->errors,
		res->server_lines, res->problem[0] ? "; first: " : "", res->problem,
		pf(v->errors));
}

static void settings(struct soak_run *r, const struct bench_cfg *cfg)
{
	r->seconds = cfg->soak_seconds ? cfg->soak_seconds : 600;
	r->conns = cfg->soak_conns ? cfg->soak_conns : 500;
	r->period_s = r->seconds >= 100 ? 10 : r->seconds / 10.0 < 1 ? 1 : r->seconds / 10.0;
	/* A tenth of the run, but at least 10 s (the server's buffers are still
	 * being touched for the first time in the first seconds), at most a
	 * third of a short run, and never less than one period. */
	r->window_s = r->seconds / 10.0 < 10 ? 10 : r->seconds / 10.0;
	if (r->window_s > r->seconds / 3.0)
		r->window_s = r->seconds / 3.0;
	if (r->window_s < r->period_s)
		r->window_s = r->period_s;
}

static FILE *open_out(const char *out, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", out, name);
	return fopen(path, "w");
}

int bench_soak(const struct bench_cfg *cfg)
{
	char mdpath[PATH_MAX + 16], csvpath[PATH_MAX + 16], exe[PATH_MAX + 16];
	struct soak_run r = { 0 };
	bool pass = true;
	FILE *md, *csv;
	int err = 0;

	settings(&r, cfg);
	if ((err = bench_exe_dir(r.dir, sizeof(r.dir))) < 0)
		return bench_fail(NAME, err, "locating reel-bench's directory");
	if ((err = bench_pick_cpus(&r.cpu_srv, &r.cpu_load)) < 0)
		return bench_fail(NAME, err, "sched_getaffinity");
	snprintf(exe, sizeof(exe), "%s/soak_load", r.dir);
	if (access(exe, X_OK) < 0)
		return bench_fail(NAME, -ENOENT, "soak_load must be built next to reel-bench "
				  "(in %s)", r.dir);
	mkdir(cfg->out, 0777);
	md = open_out(cfg->out, "soak.md", mdpath, sizeof(mdpath));
	csv = open_out(cfg->out, "soak.csv", csvpath, sizeof(csvpath));
	if (!md || !csv) {
		err = -errno;
		if (md)
			fclose(md);
		if (csv)
			fclose(csv);
		return bench_fail(NAME, err, "cannot write %s/soak.md and soak.csv", cfg->out);
	}
	fprintf(md, "# Soak\n\n`reel-bench --only soak --soak-seconds %u --soak-conns %u`; "
		"rules in docs/bench.md (\"Soak\").\n\n", r.seconds, r.conns);
	fprintf(csv, "server,t_s,rss_kib,fds,load_open,p99_us,rtts,errors,reconnects,"
		"resets,drops\n");
	for (unsigned i = 0; i < NSERVERS && err == 0; i++) {
		struct soak_result res = { 0 };
		struct verdict v;

		r.ns = 0;
		fprintf(stderr, "reel-bench: soak: %s, %u s at %u connections\n",
			soak_servers[i].label, r.seconds, r.conns);
		err = soak_one(&r, &soak_servers[i], &res);
		if (err < 0)
			break;
		judge(&r, &res, &v);
		write_csv(csv, &soak_servers[i], &r);
		write_md(md, &soak_servers[i], &r, &res, &v);
		pass &= v.rss && v.fds && v.p99 && v.errors;
		bench_note("soak: %s: RSS %s, descriptors %s, p99 %s (%.0f -> %.0f us), "
			   "errors %s (%llu)", soak_servers[i].label, pf(v.rss), pf(v.fds),
			   pf(v.p99), (double)res.first_p99_ns / 1e3,
			   (double)res.last_p99_ns / 1e3, pf(v.errors), res.errors);
	}
	if (err == 0)
		fprintf(md, "Verdict: %s\n", pf(pass));
	else
		fprintf(md, "Verdict: not run (the soak could not run: see stderr)\n");
	free(r.s);
	if ((fclose(md) | fclose(csv)) != 0 && err == 0)
		err = bench_fail(NAME, -EIO, "writing %s", mdpath);
	if (err == 0)
		bench_note("soak: verdict %s: %s, %s", pf(pass), mdpath, csvpath);
	return err;
}
