/*
 * bench.c - measuring: calibrated, interleaved repetitions, the budget of
 * slow benchmarks, and what the benchmarks need from the system (pinning,
 * reel_run, /proc).
 */
#include "bench.h"

#include <sys/utsname.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void bench_series_add(struct bench_series *s, double v)
{
	if (s->n < BENCH_MAX_REPS)
		s->v[s->n++] = v;
}

bool bench_more_reps(const struct bench_cfg *cfg, unsigned done, uint64_t start_ns)
{
	if (done >= cfg->reps)
		return false;
	return done < 2 || !cfg->budget_ns ||
	       bench_now_ns() - start_ns < cfg->budget_ns;
}

void bench_note_reps(const char *bench, const struct bench_cfg *cfg,
		     unsigned done, uint64_t start_ns)
{
	if (done >= cfg->reps)
		return;
	bench_note("%s: %u of %u repetitions: the quick budget of %.0f s ran out "
		   "(%.1f s per repetition)", bench, done, cfg->reps,
		   (double)cfg->budget_ns / 1e9,
		   (double)(bench_now_ns() - start_ns) / 1e9 / done);
}

/* ---- measuring ---- */

/*
 * calibrate - find how many iterations of @c take cfg->target_ns. Grows the
 * count until one run takes a quarter of the target, then scales: short runs
 * are all timer resolution and cold caches, so they only serve as warm-up.
 */
static int calibrate(const struct bench_cfg *cfg, struct bench_case *c)
{
	uint64_t n = 64, ns = 0;
	int err;

	for (;;) {
		err = c->fn(c->ctx, n, &ns);
		if (err < 0)
			return err;
		if (ns >= cfg->target_ns / 4 || n >= (UINT64_C(1) << 34))
			break;
		n *= ns < cfg->target_ns / 64 ? 8 : 2;
	}
	c->iters = ns ? (uint64_t)((double)n * (double)cfg->target_ns / (double)ns) : n;
	if (c->iters == 0)
		c->iters = 1;
	return 0;
}

int bench_measure(const struct bench_cfg *cfg, struct bench_case *cases,
		  unsigned n, struct bench_series *out)
{
	int err;

	for (unsigned i = 0; i < n; i++) {
		out[i].n = 0;
		if (cases[i].iters == 0 && (err = calibrate(cfg, &cases[i])) < 0)
			return err;
	}
	/* Interleaved: repetition r of every case runs before r + 1 of any. */
	for (unsigned r = 0; r < cfg->reps; r++) {
		for (unsigned i = 0; i < n; i++) {
			struct bench_case *c = &cases[i];
			uint64_t ops = c->iters * (c->ops_per_iter ? c->ops_per_iter : 1);
			uint64_t ns;

			err = c->fn(c->ctx, c->iters, &ns);
			if (err < 0)
				return err;
			bench_series_add(&out[i], (double)ns / (double)ops);
		}
	}
	return 0;
}

/* ---- failures, pinning, reel_run ---- */

int bench_fail(const char *bench, int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "reel-bench: %s: could not run: ", bench);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err >= 0) {
		fputc('\n', stderr);
		return -EIO;
	}
	fprintf(stderr, ": %s\n", strerror(-err));
	return err;
}

int bench_pin(cpu_set_t *saved)
{
	cpu_set_t one;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return -errno;
	if (sched_getaffinity(0, sizeof(*saved), saved) < 0)
		return -errno;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return -errno;
	return cpu;
}

void bench_unpin(const cpu_set_t *saved)
{
	/* Only fails for a mask the kernel gave us a moment ago: ignore. */
	(void)sched_setaffinity(0, sizeof(*saved), saved);
}

int bench_reel_run(const char *bench, reel_fn main, void *arg)
{
	char why[256] = "";
	struct reel_run_opts opts = { .errbuf = why, .errbuf_len = sizeof(why) };
	int status = 0;
	int ret = reel_run(main, arg, &opts, &status);

	if (ret < 0)
		return bench_fail(bench, ret, "reel_run (%s)",
				  why[0] ? why : "no reason given");
	return status;
}

/* ---- /proc ---- */

volatile pid_t bench_child;

uint64_t bench_rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

long bench_maps_lines(void)
{
	/* Static: callers run on fiber stacks, which may be small. */
	static char buf[16384];
	long lines = 0;
	size_t n;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	fclose(f);
	return lines;
}

long bench_read_long(const char *path)
{
	long v;
	FILE *f = fopen(path, "r");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%ld", &v);
	fclose(f);
	return n == 1 ? v : -EINVAL;
}

void bench_machine(char *model, size_t len, struct utsname *u)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(model, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(model, len, "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(u) < 0)
		snprintf(u->release, sizeof(u->release), "unknown");
}

int bench_pick_cpus(int *cpu_srv, int *cpu_load)
{
	cpu_set_t set;
	int found = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	*cpu_srv = *cpu_load = -1;
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (found++ == 0)
			*cpu_srv = c;
		else
			*cpu_load = c;
	}
	if (*cpu_load < 0)
		*cpu_load = *cpu_srv;
	return 0;
}

int bench_exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n < 0)
		return -errno;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}
