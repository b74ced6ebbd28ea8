/*
 * http.c - HTTP/1.1 servers under load (reel-bench --only http, full mode
 * only): reel's server beside nginx, Node.js, FastAPI on uvicorn and a raw
 * liburing floor, each answering the same bytes (bench/http/http_common.h).
 *
 * Servers, each started by reel-bench as a child pinned to one CPU, with a
 * port chosen here:
 *   reel     reel_http_server (bench/http/reel_server.c), next to reel-bench
 *   floor    http_floor (bench/http/http_floor.c): raw liburing, no framework
 *   nginx    Debian's nginx(-light), one process (daemon off, master_process
 *            off: the measured pid is the worker), access_log off; /hello is
 *            `return 200`, /stream the echo module (libnginx-mod-http-echo):
 *            echo + echo_flush + echo_sleep 0.02, ten times, chunked
 *   node     bench/http/node_server.js on Node's http module
 *   fastapi  bench/http/fastapi_app.py on uvicorn, one process, run with
 *            Debian's /usr/bin/python3 (python3-fastapi, python3-uvicorn)
 * A peer that is not installed is skipped with a note (tools/setup.sh --test
 * installs them), never an error; reel is skipped with a note when
 * reel_http_server was not built or does not answer GET /hello.
 *
 * One round per repetition: each server in turn (the order rotates) is
 * started, probed until GET /hello answers, then loaded by http_load
 * (bench/http/http_load.c, pinned to the other CPU: closed loop, every
 * response parsed and timed) for GET /hello and GET /stream at 1, 50 and
 * 500 keep-alive connections, then stopped with SIGTERM. A cell is 0.5 s of
 * warm-up and a 2 s window (R = 3 rounds); its figures are:
 *   - server CPU per request: the server's on-CPU time over the window,
 *     summed over its threads (/proc/PID/task/TID/schedstat, nanoseconds;
 *     /proc/PID/stat's utime + stime, 10 ms ticks, where that is missing),
 *     divided by the responses completed in it: the primary figure, since
 *     on this 2-vCPU guest throughput is as much the generator's as the
 *     server's;
 *   - requests/s, latency p50/p99/p99.9 (send to last byte) and, for
 *     /stream, time to first body byte, from http_load.
 * Rows compare medians of the R rounds, reel against nginx (CPU per /hello
 * request at 50 and 500 connections, p99, /stream TTFB), FastAPI (requests
 * per CPU-second, >= 10x) and the floor (context). Every server's absolute
 * numbers are in the table after the notes and in OUT/http.csv, which
 * REPORT.md's HTTP section is generated from.
 *
 * Every core (issue 16), where the machine has two CPUs or more: reel on
 * two loops (reel_http_server --loops 2: a runtime pinning its loops to
 * two CPUs, a SO_REUSEPORT socket each) and nginx with two workers
 * (master_process on, worker_processes 2, worker_cpu_affinity auto,
 * listen ... reuseport), for GET /hello at 50 and 500 connections, with
 * http_load not pinned (on a 2-CPU machine it shares the CPUs with the
 * server: nothing is left for it otherwise). Their CPU per request is
 * summed over every thread of every process of the server (nginx's master
 * and workers). Rows: reel's CPU per request on 2 loops against nginx's on
 * 2 workers (goal <= 1), and req/s on 2 loops against 1 loop (goal >= 1.5
 * where a third CPU exists for the load; on two CPUs, context only).
 *
 * Then the event-stream cell, for reel and the floor: 10,000 connections
 * each GET /sse (an event a second), held for a 10 s window after 3 s of
 * warm-up; http_load counts every connection's events and the gaps between
 * them (a gap of two periods is a missed event); the server's RSS above its
 * idle RSS (VmRSS before the load connects), per connection.
 *
 * Safety as in bench/echo/echo.c: each cell arms its own watchdog alarm,
 * the children share one process group that every error path (and main.c's
 * watchdog) kills, and each child dies with reel-bench (PR_SET_PDEATHSIG).
 */
#include "bench.h"
#include "suite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#define NAME "http"
#define READY_TIMEOUT_NS (15 * 1000000000ull)
#define STOP_TIMEOUT_NS (5 * 1000000000ull)
#define NGINX "/usr/sbin/nginx"
#define NGINX_ECHO "/usr/lib/nginx/modules/ngx_http_echo_module.so"
#define PYTHON "/usr/bin/python3"
#define SSE_CONNS 10000
#define SETUP_HINT "install with tools/setup.sh --test"

enum { SRV_REEL, SRV_FLOOR, SRV_NGINX, SRV_NODE, SRV_FASTAPI, SRV_REEL2, SRV_NGINX2, NSRV };
enum { EP_HELLO, EP_STREAM, NEP };

static const char *const labels[NSRV] = { "reel", "floor", "nginx", "node", "fastapi",
					   "reel-2loops", "nginx-2w" };
static const char *const ep_names[NEP] = { "hello", "stream" };
static const unsigned conn_counts[] = { 1, 50, 500 };
#define NCONNS (sizeof(conn_counts) / sizeof(conn_counts[0]))

/* What one cell measured. */
struct cell {
	double req_s, cpu_us, p50_us, p99_us, p999_us, ttfb50_us, ttfb99_us;
	double srv_busy, load_busy;     /* shares of the window */
	double other;                   /* the larger share of either CPU in other processes */
	uint64_t errors;
	/* SSE */
	double rss_kib_per_conn;
	uint64_t events, expected, missed, max_gap_ns;
};

struct cell_series {
	struct bench_series req_s, cpu_us, p50, p99, p999, ttfb50, ttfb99, srv_busy, load_busy;
	uint64_t errors;
};

struct http_run {
	char dir[PATH_MAX];             /* reel-bench and its programs */
	char node[PATH_MAX];
	char prefix[64];                /* nginx's temporary prefix */
	bool have[NSRV];
	char why[NSRV][160];            /* why a server was skipped */
	int cpu_srv, cpu_load;
	double warmup_s, window_s, sse_warmup_s, sse_window_s;
	unsigned reps;
	unsigned load_bound;            /* cells where http_load was > 90% busy */
	unsigned shared;                /* cells where other processes took > 10% */
	char load_bound_at[200];
	struct cell_series cs[NSRV][NEP][NCONNS];
	struct cell sse[NSRV];
	bool sse_done[NSRV];
};

/* The servers on two CPUs (every core): only GET /hello at 50 and 500
 * connections, load not pinned. */
static bool two_cpus(unsigned s)
{
	return s == SRV_REEL2 || s == SRV_NGINX2;
}

static bool cell_wanted(unsigned s, unsigned e, unsigned conns)
{
	return !two_cpus(s) || (e == EP_HELLO && conns >= 50);
}

/* ---- CPU time and memory of a child ---- */

/* On-CPU ns of @pid and of its children (nginx's workers), or -errno. */
static int64_t proc_tree_oncpu_ns(pid_t pid)
{
	int64_t sum = bench_proc_oncpu_ns(pid);
	char path[64], line[512];
	struct dirent *d;
	DIR *dir;

	if (sum < 0 || !(dir = opendir("/proc")))
		return sum;
	while ((d = readdir(dir)) != NULL) {
		int child = atoi(d->d_name), ppid = 0;
		char *close_paren;
		FILE *f;

		if (child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", child);
		if (!(f = fopen(path, "r")))
			continue;
		close_paren = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		if (close_paren && sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == pid) {
			int64_t ns = bench_proc_oncpu_ns(child);

			sum += ns > 0 ? ns : 0;
		}
	}
	closedir(dir);
	return sum;
}

/* VmRSS of @pid in KiB, or 0. */
static uint64_t proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Ticks of one CPU in /proc/stat: all of them, and those in processes
 * (user + nice + system), to tell when other tenants used the CPUs. */
struct cpu_ticks {
	uint64_t total, procs;
};

static void read_cpu_ticks(int cpu, struct cpu_ticks *t)
{
	char want[16], line[256];
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	memset(t, 0, sizeof(*t));
	if (!f)
		return;
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4) {
			t->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
			t->procs = v[0] + v[1] + v[2];
		}
		break;
	}
	fclose(f);
}

/* The share of a CPU's time in processes other than the one that was
 * @own busy on it. */
static double other_share(const struct cpu_ticks *a, const struct cpu_ticks *b, double own)
{
	uint64_t total = b->total - a->total;
	double other = total ? (double)(b->procs - a->procs) / (double)total - own : 0;

	return other > 0 ? other : 0;
}

/* ---- servers ---- */

static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* One GET /hello on a fresh connection: 0 when it answers 200 with the
 * benchmark's body, -errno otherwise. */
static int probe(int port)
{
	static const char req[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 2 };
	char buf[2048];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = -EPROTO;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return -EIO;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\nhello, world\n")) {
			err = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -EPROTO;
			break;
		}
	}
	close(fd);
	return err;
}

/* One process (the measured pid is the worker), or @workers > 1 under a
 * master, each worker pinned and with a SO_REUSEPORT socket of its own. */
static int write_nginx_conf(struct http_run *r, int port, unsigned workers, char *conf,
			    size_t len)
{
	FILE *f;

	snprintf(conf, len, "%s/nginx.conf", r->prefix);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	if (workers > 1)
		fprintf(f, "user root;\nmaster_process on;\nworker_processes %u;\n"
			"worker_cpu_affinity auto;\n", workers);
	else
		fprintf(f, "master_process off;\nworker_processes 1;\n");
	fprintf(f, "load_module %s;\n"
		"daemon off;\n"
		"worker_rlimit_nofile 20000;\n"
		"error_log stderr warn;\npid %s/nginx.pid;\n"
		"events { worker_connections 16384; }\n"
		"http {\n\taccess_log off;\n\tkeepalive_requests 100000000;\n"
		"\tkeepalive_timeout 60s;\n", NGINX_ECHO, r->prefix);
	fprintf(f, "\tclient_body_temp_path %s/tmp;\n\tproxy_temp_path %s/tmp;\n"
		"\tfastcgi_temp_path %s/tmp;\n\tuwsgi_temp_path %s/tmp;\n"
		"\tscgi_temp_path %s/tmp;\n", r->prefix, r->prefix, r->prefix,
		r->prefix, r->prefix);
	fprintf(f, "\tserver {\n\t\tlisten 127.0.0.1:%d%s;\n"
		"\t\tlocation = /hello { default_type text/plain; "
		"return 200 \"hello, world\\n\"; }\n"
		"\t\tlocation = /stream {\n\t\t\tdefault_type text/plain;\n", port,
		workers > 1 ? " reuseport" : "");
	for (int i = 0; i < 10; i++)
		fprintf(f, "\t\t\techo \"chunk %d\";%s\n", i,
			i < 9 ? " echo_flush; echo_sleep 0.02;" : "");
	fprintf(f, "\t\t}\n\t}\n}\n");
	return fclose(f) ? -errno : 0;
}

/* Start server @s on @port, pinned; 0 once it answers GET /hello. */
static int start_server(struct http_run *r, unsigned s, int port, struct bench_proc *srv,
			char *why, size_t whylen)
{
	char exe[PATH_MAX + 64], arg1[PATH_MAX + 64], portstr[16], conf[PATH_MAX];
	char *argv[16] = { exe };
	uint64_t deadline;
	int err, wstatus;

	snprintf(portstr, sizeof(portstr), "%d", port);
	switch (s) {
	case SRV_REEL:
	case SRV_FLOOR:
		snprintf(exe, sizeof(exe), "%s/%s", r->dir,
			 s == SRV_REEL ? "reel_http_server" : "http_floor");
		argv[1] = portstr;
		break;
	case SRV_REEL2:
		snprintf(exe, sizeof(exe), "%s/reel_http_server", r->dir);
		argv[1] = "--loops";
		argv[2] = "2";
		argv[3] = portstr;
		break;
	case SRV_NGINX:
	case SRV_NGINX2:
		if ((err = write_nginx_conf(r, port, s == SRV_NGINX2 ? 2 : 1, conf,
					    sizeof(conf))) < 0) {
			snprintf(why, whylen, "cannot write %.200s: %s", conf, strerror(-err));
			return err;
		}
		snprintf(exe, sizeof(exe), "%s", NGINX);
		argv[1] = "-p";
		argv[2] = r->prefix;
		argv[3] = "-c";
		argv[4] = conf;
		argv[5] = "-e";
		argv[6] = "stderr";
		break;
	case SRV_NODE:
		snprintf(exe, sizeof(exe), "%s", r->node);
		snprintf(arg1, sizeof(arg1), "%s/node_server.js", REEL_BENCH_HTTP_DIR);
		argv[1] = arg1;
		argv[2] = portstr;
		break;
	case SRV_FASTAPI: {
		static char *rest[] = { "-m", "uvicorn", "fastapi_app:app", "--app-dir",
					NULL, "--host", "127.0.0.1", "--port", NULL,
					"--no-access-log", "--log-level", "warning", NULL };

		snprintf(exe, sizeof(exe), "%s", PYTHON);
		rest[4] = REEL_BENCH_HTTP_DIR;
		rest[8] = portstr;
		memcpy(argv + 1, rest, sizeof(rest));
		break;
	}
	}
	err = bench_child_start(srv, argv, two_cpus(s) ? -1 : r->cpu_srv, 0);
	if (err < 0) {
		snprintf(why, whylen, "cannot start %.200s: %s", exe, strerror(-err));
		return err;
	}
	bench_child = srv->pid;
	bench_child_group = srv->pid;
	deadline = bench_now_ns() + READY_TIMEOUT_NS;
	for (;;) {
		if (waitpid(srv->pid, &wstatus, WNOHANG) == srv->pid) {
			char st[64];

			srv->pid = -1;
			while (bench_child_line(srv, bench_now_ns() + 200000000u, &err))
				;
			snprintf(why, whylen, "it ended before answering (%s)",
				 bench_wstatus(wstatus, st, sizeof(st)));
			return -ECHILD;
		}
		if ((err = probe(port)) == 0)
			return 0;
		if (bench_now_ns() > deadline) {
			snprintf(why, whylen, "no answer to GET /hello within %llu s (%s)",
				 READY_TIMEOUT_NS / 1000000000ull, strerror(-err));
			return -ETIMEDOUT;
		}
		/* Collect its output meanwhile (a pipe that fills would block it). */
		bench_child_line(srv, bench_now_ns() + 50000000u, &err);
	}
}

/* ---- one cell ---- */

static int parse_result(const char *line, const struct cell *in, struct cell *out,
			uint64_t srv_cpu_ns)
{
	unsigned long long reqs, window, p50, p99, p999, max, t50, t99, t999, cpu, errs;

	*out = *in;
	if (strncmp(line, "result sse ", 11) == 0) {
		unsigned long long conns, ev, exp, missed, gap;

		if (sscanf(line, "result sse conns=%llu events=%llu expected=%llu missed=%llu "
			   "max_gap_ns=%llu window_ns=%llu cpu_ns=%llu errors=%llu", &conns, &ev,
			   &exp, &missed, &gap, &window, &cpu, &errs) != 8 || window == 0)
			return -EPROTO;
		out->events = ev;
		out->expected = exp;
		out->missed = missed;
		out->max_gap_ns = gap;
		out->req_s = (double)ev * 1e9 / (double)window;
		out->cpu_us = ev ? (double)srv_cpu_ns / 1e3 / (double)ev : 0;
		out->errors = errs;
		out->srv_busy = (double)srv_cpu_ns / (double)window;
		out->load_busy = (double)cpu / (double)window;
		return 0;
	}
	if (sscanf(line, "result reqs=%llu window_ns=%llu p50_ns=%llu p99_ns=%llu "
		   "p999_ns=%llu max_ns=%llu ttfb_p50_ns=%llu ttfb_p99_ns=%llu "
		   "ttfb_p999_ns=%llu cpu_ns=%llu errors=%llu", &reqs, &window, &p50, &p99,
		   &p999, &max, &t50, &t99, &t999, &cpu, &errs) != 11 || window == 0)
		return -EPROTO;
	out->req_s = (double)reqs * 1e9 / (double)window;
	out->cpu_us = reqs ? (double)srv_cpu_ns / 1e3 / (double)reqs : 0;
	out->p50_us = (double)p50 / 1e3;
	out->p99_us = (double)p99 / 1e3;
	out->p999_us = (double)p999 / 1e3;
	out->ttfb50_us = (double)t50 / 1e3;
	out->ttfb99_us = (double)t99 / 1e3;
	out->srv_busy = (double)srv_cpu_ns / (double)window;
	out->load_busy = (double)cpu / (double)window;
	out->errors = errs;
	return reqs ? 0 : -EPROTO;
}

/* Run http_load against @port; fill @out. -errno with @why on failure. */
static int run_load(struct http_run *r, struct bench_proc *srv, bool multi, int port,
		    const char *kind, unsigned conns, double warmup, double window,
		    struct cell *out, char *why, size_t whylen)
{
	struct bench_proc load = { .pid = -1, .out = -1 };
	char exe[PATH_MAX + 64], c[16], d[32], w[32], p[16], k[16], st[64];
	char *argv[] = { exe, "-m", "-c", c, "-d", d, "-w", w, "-k", k, "127.0.0.1", p, NULL };
	uint64_t deadline = bench_now_ns() + (uint64_t)((warmup + window + 40) * 1e9);
	int64_t cpu0 = -1, cpu1 = -1;
	uint64_t rss0 = proc_rss_kib(srv->pid), rss1 = 0;
	struct cell in = { 0 };
	struct cpu_ticks s0, s1, l0, l1;
	const char *line;
	int err, wstatus;

	snprintf(exe, sizeof(exe), "%s/http_load", r->dir);
	snprintf(c, sizeof(c), "%u", conns);
	snprintf(d, sizeof(d), "%g", window);
	snprintf(w, sizeof(w), "%g", warmup);
	snprintf(p, sizeof(p), "%d", port);
	snprintf(k, sizeof(k), "%s", kind);
	alarm((unsigned)(warmup + window) + 60);        /* this cell's watchdog */
	err = bench_child_start(&load, argv, multi ? -1 : r->cpu_load, srv->pid);
	if (err < 0) {
		snprintf(why, whylen, "cannot start http_load: %s", strerror(-err));
		return err;
	}
	while ((line = bench_child_line(&load, deadline, &err)) != NULL) {
		if (strcmp(line, "start") == 0) {
			cpu0 = multi ? proc_tree_oncpu_ns(srv->pid) : bench_proc_oncpu_ns(srv->pid);
			read_cpu_ticks(r->cpu_srv, &s0);
			read_cpu_ticks(r->cpu_load, &l0);
		} else if (strcmp(line, "stop") == 0) {
			cpu1 = multi ? proc_tree_oncpu_ns(srv->pid) : bench_proc_oncpu_ns(srv->pid);
			rss1 = proc_rss_kib(srv->pid);
			read_cpu_ticks(r->cpu_srv, &s1);
			read_cpu_ticks(r->cpu_load, &l1);
		} else if (strncmp(line, "result ", 7) == 0) {
			if (cpu0 < 0 || cpu1 < 0) {
				snprintf(why, whylen, "cannot read the server's CPU time");
				bench_child_kill(&load);
				return -EIO;
			}
			if (conns && rss1 > rss0)
				in.rss_kib_per_conn = (double)(rss1 - rss0) / conns;
			err = parse_result(line, &in, out, (uint64_t)(cpu1 - cpu0));
			if (err < 0) {
				snprintf(why, whylen, "http_load's result is malformed or "
					 "empty: %.120s", line);
				bench_child_kill(&load);
				return err;
			}
			out->other = other_share(&s0, &s1, out->srv_busy);
			if (other_share(&l0, &l1, out->load_busy) > out->other)
				out->other = other_share(&l0, &l1, out->load_busy);
			if (multi)
				out->other = 0;   /* both CPUs are the server's and the load's */
			break;
		}
	}
	if (!line) {
		snprintf(why, whylen, "%s", err == -ETIMEDOUT ? "no result from http_load "
			 "in time" : "http_load ended without a result");
		bench_child_kill(&load);
		if (load.loglen)
			fprintf(stderr, "%s", load.log);
		return err ? err : -EIO;
	}
	err = bench_child_wait(&load, 5000000000u, &wstatus);
	if (err < 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
		snprintf(why, whylen, "http_load: %s", err < 0 ? "did not exit" :
			 bench_wstatus(wstatus, st, sizeof(st)));
		bench_child_kill(&load);
		return err < 0 ? err : -EIO;
	}
	if (out->errors && load.loglen)
		fprintf(stderr, "reel-bench: http: %s, %u connections: http_load saw "
			"errors:\n%s", kind, conns, load.log);
	bench_child_release(&load);
	return 0;
}

static void add_cell(struct cell_series *cs, const struct cell *c)
{
	bench_series_add(&cs->req_s, c->req_s);
	bench_series_add(&cs->cpu_us, c->cpu_us);
	bench_series_add(&cs->p50, c->p50_us);
	bench_series_add(&cs->p99, c->p99_us);
	bench_series_add(&cs->p999, c->p999_us);
	bench_series_add(&cs->ttfb50, c->ttfb50_us);
	bench_series_add(&cs->ttfb99, c->ttfb99_us);
	bench_series_add(&cs->srv_busy, c->srv_busy * 100);
	bench_series_add(&cs->load_busy, c->load_busy * 100);
	cs->errors += c->errors;
}

/* Stop server @s; a note when reel or the floor did not stop cleanly. */
static void stop_server(unsigned s, struct bench_proc *srv)
{
	char st[64];
	int wstatus = 0, err = bench_child_stop(srv, STOP_TIMEOUT_NS, &wstatus);

	if ((s == SRV_REEL || s == SRV_REEL2 || s == SRV_FLOOR) &&
	    (err < 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0))
		bench_note("http: %s did not stop cleanly on SIGTERM: %s", labels[s],
			   err < 0 ? "killed after 5 s" : bench_wstatus(wstatus, st, sizeof(st)));
	bench_child_release(srv);
	bench_child_group = 0;
	bench_child = 0;
}

/* A round of server @s: every endpoint and connection count. */
static int round_of(struct http_run *r, unsigned s)
{
	struct bench_proc srv = { .pid = -1, .out = -1 }, none = { .pid = -1, .out = -1 };
	char why[512];
	struct cell cell;
	int port = free_port(), err;

	if (port <= 0)
		return bench_fail(NAME, port, "no free port");
	alarm((unsigned)(READY_TIMEOUT_NS / 1000000000ull) + 30);
	err = start_server(r, s, port, &srv, why, sizeof(why));
	if (err < 0) {
		bench_kill_pair(&srv, &none);
		if (s == SRV_FLOOR)
			return bench_fail(NAME, err, "the floor (http_floor): %s", why);
		/* reel (not landed yet?) or a broken peer: skipped, said why. */
		r->have[s] = false;
		snprintf(r->why[s], sizeof(r->why[s]), "%.150s", why);
		if (srv.loglen)
			fprintf(stderr, "reel-bench: http: %s skipped: %s\n%s", labels[s], why,
				srv.log);
		return 0;
	}
	for (unsigned e = 0; e < NEP; e++) {
		for (unsigned i = 0; i < NCONNS; i++) {
			if (!cell_wanted(s, e, conn_counts[i]))
				continue;
			memset(&cell, 0, sizeof(cell));
			err = run_load(r, &srv, two_cpus(s), port, ep_names[e], conn_counts[i],
				       r->warmup_s, r->window_s, &cell, why, sizeof(why));
			if (err < 0) {
				bench_kill_pair(&srv, &none);
				if (srv.loglen)
					fprintf(stderr, "%s", srv.log);
				return bench_fail(NAME, err, "%s, /%s, %u connections: %s",
						  labels[s], ep_names[e], conn_counts[i], why);
			}
			add_cell(&r->cs[s][e][i], &cell);
			r->shared += r->cpu_srv != r->cpu_load && cell.other > 0.10;
			if (cell.load_busy > 0.9) {
				size_t used = strlen(r->load_bound_at);
				char at[48];

				snprintf(at, sizeof(at), "%s /%s %u", labels[s], ep_names[e],
					 conn_counts[i]);
				if (r->load_bound++ < 6 && !strstr(r->load_bound_at, at))
					snprintf(r->load_bound_at + used,
						 sizeof(r->load_bound_at) - used, "%s%s",
						 used ? ", " : "", at);
			}
		}
	}
	stop_server(s, &srv);
	return 0;
}

/* The event-stream cell of server @s. */
static int sse_cell(struct http_run *r, unsigned s)
{
	struct bench_proc srv = { .pid = -1, .out = -1 }, none = { .pid = -1, .out = -1 };
	char why[512];
	int port = free_port(), err;

	if (port <= 0)
		return bench_fail(NAME, port, "no free port");
	alarm((unsigned)(READY_TIMEOUT_NS / 1000000000ull) + 30);
	err = start_server(r, s, port, &srv, why, sizeof(why));
	if (err == 0)
		err = run_load(r, &srv, false, port, "sse", SSE_CONNS, r->sse_warmup_s,
			       r->sse_window_s, &r->sse[s], why, sizeof(why));
	if (err < 0) {
		bench_kill_pair(&srv, &none);
		bench_note("http: %s, %u event streams: could not run: %.120s", labels[s],
			   SSE_CONNS, why);
		if (srv.loglen)
			fprintf(stderr, "%s", srv.log);
		return 0;
	}
	r->sse_done[s] = true;
	stop_server(s, &srv);
	return 0;
}

/* ---- what is installed ---- */

static bool fastapi_installed(void)
{
	struct bench_proc p;
	char *argv[] = { PYTHON, "-c", "import fastapi, uvicorn", NULL };
	int wstatus;

	if (access(PYTHON, X_OK) != 0 || bench_child_start(&p, argv, -1, 0) < 0)
		return false;
	if (bench_child_wait(&p, 20000000000ull, &wstatus) < 0) {
		bench_child_kill(&p);
		return false;
	}
	bench_child_release(&p);
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

static void find_servers(struct http_run *r)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/reel_http_server", r->dir);
	r->have[SRV_REEL] = access(path, X_OK) == 0;
	if (!r->have[SRV_REEL])
		snprintf(r->why[SRV_REEL], sizeof(r->why[0]), "reel_http_server was not built "
			 "(engine/http does not implement the server yet)");
	snprintf(path, sizeof(path), "%s/http_floor", r->dir);
	r->have[SRV_FLOOR] = access(path, X_OK) == 0;
	r->have[SRV_NGINX] = access(NGINX, X_OK) == 0 && access(NGINX_ECHO, R_OK) == 0;
	if (!r->have[SRV_NGINX])
		snprintf(r->why[SRV_NGINX], sizeof(r->why[0]), "skipped: " SETUP_HINT
			 " (nginx-light, libnginx-mod-http-echo)");
	r->have[SRV_NODE] = suite_which("node", r->node, sizeof(r->node)) == 0;
	if (!r->have[SRV_NODE])
		snprintf(r->why[SRV_NODE], sizeof(r->why[0]), "skipped: " SETUP_HINT
			 " (nodejs)");
	r->have[SRV_FASTAPI] = fastapi_installed();
	if (!r->have[SRV_FASTAPI])
		snprintf(r->why[SRV_FASTAPI], sizeof(r->why[0]), "skipped: " SETUP_HINT
			 " (python3-fastapi, python3-uvicorn for " PYTHON ")");
	for (unsigned s = SRV_REEL2; s <= SRV_NGINX2; s++) {
		unsigned one = s == SRV_REEL2 ? SRV_REEL : SRV_NGINX;

		r->have[s] = r->have[one] && r->cpu_srv != r->cpu_load;
		snprintf(r->why[s], sizeof(r->why[0]), "%s", !r->have[one] ? r->why[one] :
			 "one CPU only: no second loop or worker to run");
	}
}

/* ---- rows, the detail table and http.csv ---- */

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

/* Every core: 2 loops against nginx's 2 workers, and against 1 loop. */
static void report_two_cpus(const struct http_run *r)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char name[96];

	if (!r->have[SRV_REEL2])
		return;
	for (unsigned i = 1; i < NCONNS; i++) {
		const struct cell_series *two = &r->cs[SRV_REEL2][EP_HELLO][i];

		if (r->have[SRV_NGINX2]) {
			snprintf(name, sizeof(name), "http /hello %u conns, 2 loops: CPU/request",
				 conn_counts[i]);
			bench_report(NAME, &(struct bench_row){
				.name = name, .unit = "us", .reel = &two->cpu_us,
				.base_name = "nginx, 2 workers", .base = &r->cs[SRV_NGINX2][EP_HELLO][i].cpu_us,
				.goal = BENCH_RATIO_LE, .goal_value = 1.0 });
		}
		snprintf(name, sizeof(name), "http /hello %u conns: req/s, 2 loops vs 1",
			 conn_counts[i]);
		bench_report(NAME, &(struct bench_row){
			.name = name, .unit = "req/s", .reel = &two->req_s,
			.base_name = "reel, 1 loop", .base = &r->cs[SRV_REEL][EP_HELLO][i].req_s,
			.goal = ncpu >= 3 ? BENCH_RATIO_GE : BENCH_INFO, .goal_value = 1.5 });
	}
	if (ncpu < 3)
		bench_note("http: 2 loops vs 1: %ld CPUs, so http_load shares the server's two "
			   "(1 loop: server and load a CPU each; 2 loops: three busy parties on "
			   "two CPUs): the req/s ratio is bounded by the load generator's CPU, "
			   "not the server's; the CPU-per-request rows still compare", ncpu);
}

static void report_rows(const struct http_run *r)
{
	char name[96];

	if (!r->have[SRV_REEL])
		return;
	report_two_cpus(r);
	for (unsigned e = 0; e < NEP; e++) {
		for (unsigned i = 0; i < NCONNS; i++) {
			const struct cell_series *reel = &r->cs[SRV_REEL][e][i];
			unsigned c = conn_counts[i];
			bool busy = c >= 50;

			if (r->have[SRV_NGINX]) {
				const struct cell_series *ng = &r->cs[SRV_NGINX][e][i];

				snprintf(name, sizeof(name), "http /%s %u conn%s: server CPU/request",
					 ep_names[e], c, c > 1 ? "s" : "");
				bench_report(NAME, &(struct bench_row){
					.name = name, .unit = "us", .reel = &reel->cpu_us,
					.base_name = "nginx", .base = &ng->cpu_us,
					.goal = e == EP_HELLO && busy ? BENCH_RATIO_LE : BENCH_INFO,
					.goal_value = 1.0 });
				snprintf(name, sizeof(name), "http /%s %u conn%s: p99 latency",
					 ep_names[e], c, c > 1 ? "s" : "");
				bench_report(NAME, &(struct bench_row){
					.name = name, .unit = "us", .reel = &reel->p99,
					.base_name = "nginx", .base = &ng->p99,
					.goal = busy ? BENCH_RATIO_LE : BENCH_INFO, .goal_value = 1.0 });
				if (e == EP_STREAM) {
					snprintf(name, sizeof(name), "http /stream %u conn%s: TTFB p50",
						 c, c > 1 ? "s" : "");
					bench_report(NAME, &(struct bench_row){
						.name = name, .unit = "us", .reel = &reel->ttfb50,
						.base_name = "nginx", .base = &ng->ttfb50,
						.goal = BENCH_RATIO_LE, .goal_value = 1.0 });
				}
			}
			if (r->have[SRV_FASTAPI]) {
				snprintf(name, sizeof(name), "http /%s %u conn%s: req/CPU-s (CPU/req)", ep_names[e], c, c > 1 ? "s" : "");
				bench_report(NAME, &(struct bench_row){
					.name = name, .unit = "us", .reel = &reel->cpu_us,
					.base_name = "fastapi (uvicorn)",
					.base = &r->cs[SRV_FASTAPI][e][i].cpu_us,
					.goal = busy ? BENCH_SPEEDUP_GE : BENCH_INFO,
					.goal_value = 10 });
			}
			snprintf(name, sizeof(name), "http /%s %u conn%s: server CPU/request",
				 ep_names[e], c, c > 1 ? "s" : "");
			bench_report(NAME, &(struct bench_row){
				.name = name, .unit = "us", .reel = &reel->cpu_us,
				.base_name = "raw liburing floor",
				.base = &r->cs[SRV_FLOOR][e][i].cpu_us, .goal = BENCH_INFO });
		}
	}
	if (r->sse_done[SRV_REEL]) {
		struct bench_series rm = { 0 }, fm = { 0 }, rr = { 0 }, fr = { 0 };

		bench_series_add(&rm, (double)r->sse[SRV_REEL].missed);
		bench_series_add(&fm, (double)r->sse[SRV_FLOOR].missed);
		bench_series_add(&rr, r->sse[SRV_REEL].rss_kib_per_conn);
		bench_series_add(&fr, r->sse[SRV_FLOOR].rss_kib_per_conn);
		bench_report(NAME, &(struct bench_row){
			.name = "http 10k SSE streams: missed events", .unit = "events",
			.reel = &rm, .base_name = "raw liburing floor", .base = &fm,
			.goal = BENCH_ABS_LE, .goal_value = 0 });
		bench_report(NAME, &(struct bench_row){
			.name = "http 10k SSE streams: RSS per connection", .unit = "KiB",
			.reel = &rr, .base_name = "raw liburing floor", .base = &fr,
			.goal = BENCH_INFO });
	}
}

static int mkdir_p(const char *path)
{
	char dir[PATH_MAX], c;

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1;; p++) {
		if (*p && *p != '/')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

/* Every server's medians, to the table after the notes and OUT/http.csv. */
static int write_details(const struct http_run *r, const struct bench_cfg *cfg)
{
	char path[PATH_MAX + 16];
	FILE *f = NULL;
	int err = cfg->out ? mkdir_p(cfg->out) : -EINVAL;

	if (err == 0) {
		snprintf(path, sizeof(path), "%s/http.csv", cfg->out);
		f = fopen(path, "w");
		err = f ? 0 : -errno;
	}
	if (f)
		fprintf(f, "server,endpoint,conns,reps,req_s,cpu_us_per_req,p50_us,p99_us,"
			"p999_us,ttfb_p50_us,ttfb_p99_us,server_busy_pct,load_busy_pct,errors,"
			"missed,rss_kib_per_conn,mode,note\n");
	bench_appendix("http: every server's medians of %u rounds; server on CPU %d, "
		       "http_load on CPU %d; %.1f s windows after %.1f s warm-up; CPU/req = "
		       "the server's on-CPU time over the window / responses; busy = CPU "
		       "time / window", r->reps, r->cpu_srv, r->cpu_load, r->window_s,
		       r->warmup_s);
	bench_appendix("| %-7s | %-7s | %5s | %10s | %9s | %9s | %9s | %9s | %10s | "
		       "%12s | %6s |", "server", "path", "conns", "req/s", "CPU us/req",
		       "p50 us", "p99 us", "p99.9 us", "TTFB p50us", "busy srv/load",
		       "errors");
	bench_appendix("|---------|---------|-------|------------|-----------|-----------|"
		       "-----------|-----------|------------|--------------|--------|");
	for (unsigned s = 0; s < NSRV; s++) {
		if (!r->have[s]) {
			bench_appendix("| %-7s | %s |", labels[s], r->why[s]);
			if (f)
				fprintf(f, "%s,,,0,,,,,,,,,,,,,%s,\"%s\"\n", labels[s],
					cfg->quick ? "quick" : "full", r->why[s]);
			continue;
		}
		for (unsigned e = 0; e < NEP; e++) {
			for (unsigned i = 0; i < NCONNS; i++) {
				const struct cell_series *c = &r->cs[s][e][i];
				char ttfb[16] = "-";

				if (!cell_wanted(s, e, conn_counts[i]))
					continue;
				if (e == EP_STREAM)
					snprintf(ttfb, sizeof(ttfb), "%.0f", median(&c->ttfb50));
				bench_appendix("| %-7s | /%-6s | %5u | %10.0f | %9.2f | %9.0f | "
					       "%9.0f | %9.0f | %10s | %4.0f%% / %3.0f%% | %6" PRIu64
					       " |", labels[s], ep_names[e], conn_counts[i],
					       median(&c->req_s), median(&c->cpu_us), median(&c->p50),
					       median(&c->p99), median(&c->p999), ttfb,
					       median(&c->srv_busy), median(&c->load_busy), c->errors);
				if (f)
					fprintf(f, "%s,%s,%u,%u,%.1f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,"
						"%.1f,%.1f,%" PRIu64 ",,,%s,\n", labels[s], ep_names[e],
						conn_counts[i], c->cpu_us.n, median(&c->req_s),
						median(&c->cpu_us), median(&c->p50), median(&c->p99),
						median(&c->p999), median(&c->ttfb50), median(&c->ttfb99),
						median(&c->srv_busy), median(&c->load_busy), c->errors,
						cfg->quick ? "quick" : "full");
			}
		}
	}
	for (unsigned s = 0; s < NSRV; s++) {
		const struct cell *c = &r->sse[s];

		if (!r->sse_done[s])
			continue;
		bench_appendix("http: %s, %u SSE streams (one event/s) for %.0f s: %" PRIu64
			       " events of %" PRIu64 " expected, %" PRIu64 " missed, longest gap "
			       "%.2f s, %" PRIu64 " errors; RSS %.1f KiB per connection; server "
			       "CPU %.1f us per event (%.0f%% busy)", labels[s], SSE_CONNS,
			       r->sse_window_s, c->events, c->expected, c->missed,
			       (double)c->max_gap_ns / 1e9, c->errors, c->rss_kib_per_conn,
			       c->cpu_us, c->srv_busy * 100);
		if (f)
			fprintf(f, "%s,sse,%u,1,%.1f,%.3f,,,,,,%.1f,%.1f,%" PRIu64 ",%" PRIu64
				",%.2f,%s,\"%" PRIu64 " events of %" PRIu64 " expected; longest "
				"gap %.2f s\"\n", labels[s], SSE_CONNS, c->req_s, c->cpu_us,
				c->srv_busy * 100, c->load_busy * 100, c->errors, c->missed,
				c->rss_kib_per_conn, cfg->quick ? "quick" : "full", c->events,
				c->expected, (double)c->max_gap_ns / 1e9);
	}
	if (f && fclose(f) != 0)
		err = -errno;
	if (err < 0)
		bench_note("http: cannot write %s/http.csv: %s", cfg->out ? cfg->out : "?",
			   strerror(-err));
	else
		bench_note("http: every cell in %s/http.csv (REPORT.md's HTTP section)",
			   cfg->out);
	return 0;
}

int bench_http(const struct bench_cfg *cfg)
{
	static struct http_run r;
	uint64_t t0 = bench_now_ns();
	int err;

	memset(&r, 0, sizeof(r));
	r.warmup_s = 0.5;
	r.window_s = cfg->quick ? 1.0 : 2.0;
	r.reps = cfg->quick ? 1 : 3;
	r.sse_warmup_s = 3;
	r.sse_window_s = cfg->quick ? 5 : 10;
	if ((err = bench_exe_dir(r.dir, sizeof(r.dir))) < 0)
		return bench_fail(NAME, err, "locating reel-bench's directory");
	if ((err = bench_pick_cpus(&r.cpu_srv, &r.cpu_load)) < 0)
		return bench_fail(NAME, err, "sched_getaffinity");
	snprintf(r.prefix, sizeof(r.prefix), "/tmp/reel-bench-nginx.%d", (int)getpid());
	if (mkdir(r.prefix, 0700) < 0 && errno != EEXIST)
		return bench_fail(NAME, -errno, "mkdir %s", r.prefix);
	{
		char logs[96];

		snprintf(logs, sizeof(logs), "%s/logs", r.prefix);
		(void)mkdir(logs, 0700);        /* nginx opens logs/error.log first */
	}
	find_servers(&r);
	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/http_load", r.dir);
		if (access(path, X_OK) != 0 || !r.have[SRV_FLOOR])
			return bench_fail(NAME, -ENOENT, "http_load and http_floor must be built "
					  "next to reel-bench (in %s)", r.dir);
	}
	for (unsigned rep = 0; rep < r.reps; rep++) {
		for (unsigned k = 0; k < NSRV; k++) {
			unsigned s = (k + rep) % NSRV;

			if (r.have[s] && (err = round_of(&r, s)) < 0)
				return err;
		}
	}
	for (unsigned s = SRV_REEL; s <= SRV_FLOOR; s++)
		if (r.have[s])
			sse_cell(&r, s);
	alarm(0);
	report_rows(&r);
	for (unsigned s = 0; s < NSRV; s++)
		if (!r.have[s])
			bench_note("http: %s: %s", labels[s], r.why[s]);
	if (r.cpu_srv == r.cpu_load)
		bench_note("http: only one CPU: servers and http_load share CPU %d", r.cpu_srv);
	if (r.shared)
		bench_note("http: in %u cells other processes used more than 10%% of the "
			   "server's or http_load's CPU (/proc/stat): the machine was busy, "
			   "those numbers are not reliable", r.shared);
	if (r.load_bound)
		bench_note("http: in %u cells (%s%s) http_load was > 90%% busy: their req/s and "
			   "latency measure the generator as much as the server (CPU/request "
			   "still holds)", r.load_bound, r.load_bound_at,
			   r.load_bound > 6 ? ", ..." : "");
	bench_note("http: %u rounds in %.0f s; latency and TTFB from http_load's timing of "
		   "every request; server CPU from /proc/PID/task/*/schedstat",
		   r.reps, (double)(bench_now_ns() - t0) / 1e9);
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/nginx.conf", r.prefix);
		unlink(path);
		snprintf(path, sizeof(path), "%s/nginx.pid", r.prefix);
		unlink(path);
		snprintf(path, sizeof(path), "%s/logs/error.log", r.prefix);
		unlink(path);
		snprintf(path, sizeof(path), "%s/logs", r.prefix);
		rmdir(path);
		snprintf(path, sizeof(path), "%s/tmp", r.prefix);
		rmdir(path);
		rmdir(r.prefix);
	}
	return write_details(&r, cfg);
}
