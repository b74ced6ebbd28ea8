/*
 * suite_report.c - results/REPORT.md and the plots, generated from
 * suite.csv (and micro.csv) alone: no number in the report is typed by
 * hand, every ratio comes from rows of the same run, and the same code
 * turns a checked-in CSV into a report in the runner's test.
 *
 * The report states the usual claims of when to use async (I/O-bound work
 * gains 3-10x, CPU-bound work gains nothing, processes and C threads scale
 * with the cores), the figure measured for each and whether it holds on
 * this machine; then reel's own checks (fibers near the ideal speed-up, what
 * 10,000 threads or processes cost beside 10,000 fibers), reel, Go and
 * asyncio side by side per workload, many tasks from a fresh process (from
 * fresh.csv, when it exists, with the goals of issue 15 as PASS/MISS), the
 * tables, Python beside reel, the plots and the micro-benchmarks.
 * Speed-ups are serial's median wall time over the model's, at the same job
 * count; where serial was skipped (too slow for the budget) it is estimated
 * as jobs x (serial time of one job) and the figure is marked with "~".
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIELDS 20
#define MAX_META 64
#define NOISY 0.25      /* (max - min) / median above which a cell is noisy */

struct row {
	char lang[8];
	char workload[16];
	char model[16];
	unsigned jobs, reps;
	double wall[3];         /* median, min, max */
	double cpu, rss_kib;
	char status[160];
	bool ok;
};

struct data {
	struct row *rows;
	size_t n, cap;
	char meta_key[MAX_META][32];
	char meta_val[MAX_META][160];
	unsigned nmeta;
	bool fresh;             /* fresh.csv was read too */
};

/* ---- reading ---- */

/* Split @line in place into at most @max fields; quotes may hold commas,
 * "" is a quote. Returns the number of fields. */
static unsigned split_csv(char *line, char **f, unsigned max)
{
	unsigned n = 0;
	char *r = line, *w;

	while (n < max) {
		f[n++] = w = r;
		if (*r == '"') {
			for (r++; *r; r++) {
				if (*r == '"' && r[1] == '"')
					*w++ = *r++;
				else if (*r == '"')
					break;
				else
					*w++ = *r;
			}
			if (*r == '"')
				r++;
		} else {
			while (*r && *r != ',')
				*w++ = *r++;
		}
		if (*r != ',') {
			*w = '\0';
			break;
		}
		r++;
		*w = '\0';
	}
	return n;
}

static double num(const char *s)
{
	char *end;
	double v;

	if (!*s)
		return NAN;
	v = strtod(s, &end);
	return end == s ? NAN : v;
}

static void add_meta(struct data *d, const char *line)
{
	const char *colon = strchr(line, ':');
	size_t klen;

	if (!colon || d->nmeta == MAX_META)
		return;
	klen = (size_t)(colon - line);
	if (klen >= sizeof(d->meta_key[0]))
		klen = sizeof(d->meta_key[0]) - 1;
	memcpy(d->meta_key[d->nmeta], line, klen);
	d->meta_key[d->nmeta][klen] = '\0';
	snprintf(d->meta_val[d->nmeta], sizeof(d->meta_val[0]), "%s", colon + 1 +
		 (colon[1] == ' '));
	d->nmeta++;
}

static const char *meta(const struct data *d, const char *key)
{
	for (unsigned i = 0; i < d->nmeta; i++)
		if (strcmp(d->meta_key[i], key) == 0)
			return d->meta_val[i];
	return NULL;
}

static double meta_num(const struct data *d, const char *key)
{
	const char *v = meta(d, key);

	return v ? num(v) : NAN;
}

static int add_row(struct data *d, char **f, unsigned nf)
{
	struct row *r;

	if (nf != 11)
		return 0;       /* the header, or a line cut short: skipped */
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct row *rows = realloc(d->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		d->rows = rows;
		d->cap = cap;
	}
	r = &d->rows[d->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->lang, sizeof(r->lang), "%s", f[0]);
	snprintf(r->workload, sizeof(r->workload), "%s", f[1]);
	snprintf(r->model, sizeof(r->model), "%s", f[2]);
	r->jobs = (unsigned)strtoul(f[3], NULL, 10);
	r->reps = (unsigned)strtoul(f[4], NULL, 10);
	for (int i = 0; i < 3; i++)
		r->wall[i] = num(f[5 + i]);
	r->cpu = num(f[8]);
	r->rss_kib = num(f[9]);
	snprintf(r->status, sizeof(r->status), "%s", f[10]);
	r->ok = strcmp(f[10], "ok") == 0 && !isnan(r->wall[0]) && r->wall[0] > 0;
	return 0;
}

static int read_suite(const char *path, struct data *d)
{
	char line[1024], *f[MAX_FIELDS];
	FILE *in = fopen(path, "r");
	int err = 0;

	if (!in)
		return -errno;
	while (!err && fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#')
			add_meta(d, line + 1 + (line[1] == ' '));
		else if (line[0] && strncmp(line, "lang,", 5) != 0)
			err = add_row(d, f, split_csv(line, f, MAX_FIELDS));
	}
	fclose(in);
	return err;
}

/* ---- looking up ---- */

static const struct row *find(const struct data *d, const char *lang, const char *w,
			      const char *model, unsigned jobs)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];

		if (r->jobs == jobs && !strcmp(r->lang, lang) && !strcmp(r->workload, w) &&
		    !strcmp(r->model, model))
			return r;
	}
	return NULL;
}

static const struct row *find_ok(const struct data *d, const char *lang, const char *w,
				 const char *model, unsigned jobs)
{
	const struct row *r = find(d, lang, w, model, jobs);

	return r && r->ok ? r : NULL;
}

/* Serial's wall time at @jobs; estimated from one job (*@est) when serial
 * was not measured there. NAN when neither exists. */
static double serial_time(const struct data *d, const char *lang, const char *w,
			  unsigned jobs, bool *est)
{
	const struct row *r = find_ok(d, lang, w, "serial", jobs);

	*est = false;
	if (r)
		return r->wall[0];
	r = find_ok(d, lang, w, "serial", 1);
	*est = true;
	return r ? r->wall[0] * jobs : NAN;
}

static double speedup(const struct data *d, const struct row *r, bool *est)
{
	double s = serial_time(d, r->lang, r->workload, r->jobs, est);

	return r->ok ? s / r->wall[0] : NAN;
}

/* Speed-up of @model at @jobs, NAN when not measured. */
static double speedup_of(const struct data *d, const char *lang, const char *w,
			 const char *model, unsigned jobs, bool *est)
{
	const struct row *r = find_ok(d, lang, w, model, jobs);

	*est = false;
	return r ? speedup(d, r, est) : NAN;
}

/* The largest job count at which serial was measured for @w, 0 if none. */
static unsigned largest_serial(const struct data *d, const char *lang, const char *w)
{
	unsigned best = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];

		if (r->ok && r->jobs > best && !strcmp(r->lang, lang) &&
		    !strcmp(r->workload, w) && !strcmp(r->model, "serial"))
			best = r->jobs;
	}
	return best;
}

/* Peak RSS above idle processes, per job, in KiB (NAN when unknown). */
static double rss_per_job(const struct data *d, const struct row *r)
{
	double idle = meta_num(d, "idle_rss_kib");
	double procs = 1;

	if (!r->ok || isnan(idle) || strcmp(r->lang, "c") != 0)
		return NAN;
	if (!strcmp(r->model, "process-pool"))
		procs += meta_num(d, "process_pool");
	return (r->rss_kib - procs * idle) / r->jobs;
}

/* ---- formatting ---- */

static const char *fx(char *buf, size_t len, double v, bool est)
{
	if (isnan(v))
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%s%.*fx", est ? "~" : "", v < 10 ? 2 : v < 100 ? 1 : 0, v);
	return buf;
}

static const char *secs(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (v < 1)
		snprintf(buf, len, "%.1f ms", v * 1e3);
	else
		snprintf(buf, len, "%.2f s", v);
	return buf;
}

static bool noisy(const struct row *r)
{
	return r->ok && r->reps >= 3 && (r->wall[2] - r->wall[1]) / r->wall[0] > NOISY;
}

/* ---- sections ---- */

static void machine(FILE *md, const struct data *d, const char *dir)
{
	const char *keys[][2] = {
		{ "cores", "CPUs online" }, { "cpu", "CPU" }, { "kernel", "kernel" },
		{ "liburing", "liburing" }, { "compiler", "compiler" },
		{ "python", "Python" }, { "mode", "mode" }, { "reps", "repetitions per cell" },
	};
	unsigned cells = 0, bad = 0;

	fprintf(md, "# reel-bench report: when to use async, when to use sync\n\n");
	fprintf(md, "Generated by `reel-bench` from `%s/suite.csv`; every figure below is "
		"read from that file (medians of repeated runs; ratios from the same run).\n\n",
		dir);
	fprintf(md, "## Machine\n\n");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (meta(d, keys[i][0]))
			fprintf(md, "- %s: %s\n", keys[i][1], meta(d, keys[i][0]));
	fprintf(md, "- jobs: a timer wait of %s ms; a loopback request answered after the "
		"same delay; a CPU job of about %s ms (hashing); a file job reads %s\n",
		meta(d, "wait_ms") ? meta(d, "wait_ms") : "?",
		meta(d, "cpu_job_ms") ? meta(d, "cpu_job_ms") : "?",
		meta(d, "file") ? meta(d, "file") : "?");
	fprintf(md, "- pools: thread pool %s threads, process pool %s processes, "
		"reel_to_thread pool %s threads\n",
		meta(d, "thread_pool") ? meta(d, "thread_pool") : "?",
		meta(d, "process_pool") ? meta(d, "process_pool") : "?",
		meta(d, "reel_pool") ? meta(d, "reel_pool") : "?");
	if (meta(d, "reel_run_ms"))
		fprintf(md, "- fibers are timed from the first reel_spawn to reel_gather's "
			"return, in a running loop: starting and closing the loop (reel_run), "
			"which a program does once per thread, took %s ms more; their CPU time "
			"and RSS include it\n", meta(d, "reel_run_ms"));
	for (size_t i = 0; i < d->n; i++) {
		cells += d->rows[i].ok;
		bad += noisy(&d->rows[i]);
	}
	if (bad)
		fprintf(md, "\n> **Warning: noisy machine.** %u of %u measured cells varied by "
			"more than %.0f%% between repetitions (min-max vs median); read the "
			"ratios as rough.\n", bad, cells, NOISY * 100);
	fputc('\n', md);
}

/* "holds" / "does not hold" for a figure against [lo, hi] (NAN: open). */
static const char *verdict(double v, double lo, double hi)
{
	if (isnan(v))
		return "not measured";
	if (!isnan(lo) && v < lo)
		return "**does not hold**";
	if (!isnan(hi) && v > hi)
		return "**does not hold**";
	return "holds";
}

static void claims(FILE *md, const struct data *d)
{
	double ncpu = meta_num(d, "cores");
	unsigned nc = largest_serial(d, "c", "cpu");
	bool e1, e2, e3, e4, e5, e6;
	double timer = speedup_of(d, "c", "timer", "fibers", 100, &e1);
	double tcp = speedup_of(d, "c", "tcp", "fibers", 100, &e2);
	double pyt = speedup_of(d, "python", "timer", "asyncio", 100, &e3);
	double cf = speedup_of(d, "c", "cpu", "fibers", nc, &e4);
	double ch = speedup_of(d, "c", "cpu", "hybrid", nc, &e4);
	double cp = speedup_of(d, "c", "cpu", "process-pool", nc, &e5);
	double ct = speedup_of(d, "c", "cpu", "thread-pool", nc, &e6);
	unsigned npc = largest_serial(d, "python", "cpu");
	double pyc = speedup_of(d, "python", "cpu", "thread-pool", npc, &e3);
	double pyp = speedup_of(d, "python", "cpu", "process-pool", npc, &e3);
	char a[32], b[32], c[32];

	fprintf(md, "## When to use async: the claims, measured\n\n");
	fprintf(md, "| claim | measured here | verdict |\n|---|---|---|\n");
	fprintf(md, "| I/O-bound work gains 3-10x from async | fibers vs serial, 100 jobs: "
		"timer waits %s, loopback requests %s (Python asyncio, timers: %s) | %s%s |\n",
		fx(a, 32, timer, e1), fx(b, 32, tcp, e2), fx(c, 32, pyt, false),
		verdict(timer, 3, NAN),
		timer > 10 ? ": the gain is not a fixed 3-10x; it grows with the number of "
			     "waits in flight (about N for N jobs that only wait)" : "");
	fprintf(md, "| CPU-bound work gains 0-1.1x from async | fibers vs serial, %u CPU "
		"jobs: %s (hybrid, CPU part on reel's thread pool: %s) | %s%s |\n", nc,
		fx(a, 32, cf, false), fx(b, 32, ch, false), verdict(cf, NAN, 1.1),
		ch > 1.1 ? "; offloading the CPU part (hybrid) is what gains" : "");
	fprintf(md, "| processes give Nx on N cores | process pool vs serial, %u CPU jobs: "
		"%s on %.0f cores (Python: %s) | %s |\n", nc, fx(a, 32, cp, false), ncpu,
		fx(b, 32, pyp, false), verdict(cp, 0.8 * ncpu, NAN));
	fprintf(md, "| in C, threads are truly parallel | thread pool vs serial, %u CPU "
		"jobs: %s on %.0f cores; Python threads (GIL): %s | %s |\n\n", nc,
		fx(a, 32, ct, false), ncpu, fx(b, 32, pyc, false), verdict(ct, 0.8 * ncpu, NAN));
	fprintf(md, "A claim holds when: I/O gain >= 3x; CPU gain from fibers <= 1.1x; "
		"pools >= 0.8 x cores.\n\n");
}

/* reel's own checks: fibers near ideal at 100 waits, and what 10,000
 * threads or processes cost next to 10,000 fibers. */
static void checks(FILE *md, const struct data *d)
{
	const struct row *s1 = find_ok(d, "c", "timer", "serial", 1);
	const struct row *f10k = find_ok(d, "c", "timer", "fibers", 10000);
	bool est, e2;
	double serial = serial_time(d, "c", "timer", 100, &est);
	double ideal = s1 ? serial / s1->wall[0] : NAN;
	double fib = speedup_of(d, "c", "timer", "fibers", 100, &e2);
	double thr = speedup_of(d, "c", "timer", "threads", 100, &e2);
	char a[32], b[32], c[32], e[32], g[32];

	fprintf(md, "## Checks\n\n");
	fprintf(md, "- 100 jobs of %s ms timer waits: ideal speed-up (serial %s / one job "
		"%s) %s; fibers %s = %.2f of ideal (goal >= 0.90: **%s**); thread per job %s "
		"(goal: fibers >= threads: **%s**)\n",
		meta(d, "wait_ms") ? meta(d, "wait_ms") : "?", secs(a, 32, serial),
		secs(b, 32, s1 ? s1->wall[0] : NAN), fx(c, 32, ideal, est),
		fx(e, 32, fib, false), fib / ideal,
		isnan(fib / ideal) ? "not measured" : fib / ideal >= 0.9 ? "pass" : "FAIL",
		fx(g, 32, thr, false),
		isnan(fib) ? "not measured" : isnan(thr) || fib >= thr ? "pass" : "FAIL");
	if (!f10k) {
		fprintf(md, "- 10,000 timer waits: fibers not measured\n\n");
		return;
	}
	fprintf(md, "- 10,000 timer waits: fibers %s wall (ideal: one job's %s; %.1f us "
		"per job above it), %.1f MiB peak RSS, %.1f KiB per job\n",
		secs(a, 32, f10k->wall[0]), secs(b, 32, s1 ? s1->wall[0] : NAN),
		s1 ? (f10k->wall[0] - s1->wall[0]) / 10000 * 1e6 : NAN,
		f10k->rss_kib / 1024, rss_per_job(d, f10k));
	for (const char *const *m = (const char *const[]){ "threads", "thread-pool",
							  "process-pool", NULL }; *m; m++) {
		const struct row *r = find(d, "c", "timer", *m, 10000);

		if (!r)
			continue;
		double pred;

		if (!r->ok && sscanf(r->status, "skipped: predicted %lf", &pred) == 1)
			fprintf(md, "  - %s: %s: about %.0fx fibers' time\n", *m, r->status,
				pred / f10k->wall[0]);
		else if (!r->ok)
			fprintf(md, "  - %s: %s\n", *m, r->status);
		else
			fprintf(md, "  - %s: %s wall (%.2fx fibers' time), %.1f MiB peak RSS "
				"(%.2fx fibers' memory), %.1f KiB per job\n", *m,
				secs(a, 32, r->wall[0]), r->wall[0] / f10k->wall[0],
				r->rss_kib / 1024, r->rss_kib / f10k->rss_kib, rss_per_job(d, r));
	}
	fputc('\n', md);
}

static void workload_table(FILE *md, const struct data *d, const char *lang, const char *w)
{
	char a[32], b[32], c[32], cpu[32], sp[32], kib[32];
	bool any = false;

	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];
		bool est;
		double v;

		if (strcmp(r->lang, lang) || strcmp(r->workload, w))
			continue;
		if (!any)
			fprintf(md, "\n### %s: %s\n\n| jobs | model | wall median (min-max) | "
				"CPU | peak RSS | KiB/job | speed-up vs serial |\n"
				"|---:|---|---|---:|---:|---:|---:|\n",
				!strcmp(lang, "c") ? "reel (C)" : "Python", w);
		any = true;
		if (!r->ok) {
			fprintf(md, "| %u | %s | %s | | | | |\n", r->jobs, r->model, r->status);
			continue;
		}
		v = speedup(d, r, &est);
		fx(sp, 32, v, est);
		v = rss_per_job(d, r);
		/* Below zero: forked workers share the pages an idle process
		 * counts as its own. */
		snprintf(kib, sizeof(kib), isnan(v) ? "-" : v < 0 ? "~0" : "%.1f", v);
		fprintf(md, "| %u | %s | %s (%s-%s)%s | %s | %.1f MiB | %s | %s |\n", r->jobs,
			r->model, secs(a, 32, r->wall[0]), secs(b, 32, r->wall[1]),
			secs(c, 32, r->wall[2]), noisy(r) ? " (noisy)" : "",
			secs(cpu, 32, r->cpu), r->rss_kib / 1024, kib, sp);
	}
}

static void tables(FILE *md, const struct data *d)
{
	fprintf(md, "## Results per workload\n\n");
	fprintf(md, "KiB/job: peak RSS above an idle process (process pool: above "
		"pool size + 1 idle processes; their peaks are summed), per job. "
		"\"~\": serial was too slow for the budget; estimated as jobs x one job. "
		"hybrid runs only where a job has a CPU part (elsewhere it is fibers).\n");
	for (int w = 0; w < SUITE_NWORKLOADS; w++)
		workload_table(md, d, "c", suite_workload_names[w]);
	fprintf(md, "\n## Python beside reel\n\nThe same timer, loopback and CPU jobs in "
		"Python (bench/python/suite.py): asyncio.gather, ThreadPoolExecutor, "
		"ProcessPoolExecutor (default sizes, pool start-up included), serial. "
		"Peak RSS of a process pool is its largest process. The CPU job is pure "
		"Python, so threads hold the GIL.\n");
	if (!find(d, "python", "timer", "serial", 1)) {
		const char *py = meta(d, "python");

		fprintf(md, "\nNo Python rows in this run (%s).\n",
			py ? py : "python3 missing, or --no-python");
	}
	for (const char *const *w = (const char *const[]){ "timer", "tcp", "cpu", NULL };
	     *w; w++)
		workload_table(md, d, "python", *w);
	fputc('\n', md);
}

/* ---- reel, Go and asyncio side by side ---- */

/* A column of the side-by-side tables: one runtime's model. */
struct column {
	const char *lang, *model, *title;
	const char *only;       /* the one workload it is shown for, or NULL */
};

static const struct column side_cols[] = {
	{ "c", "fibers", "reel fibers", NULL },
	{ "go", "goroutines", "Go goroutines", NULL },
	{ "go", "worker-pool", "Go worker pool", NULL },
	{ "python", "asyncio", "asyncio", NULL },
	{ "c", "thread-pool", "C thread pool", "cpu" },
	{ "go", "goroutines-ncpu", "Go goroutines, GOMAXPROCS=cores", "cpu" },
	{ "python", "process-pool", "Python process pool", "cpu" },
};
#define NSIDE (sizeof(side_cols) / sizeof(side_cols[0]))

static bool shown(const struct column *c, const char *w)
{
	return !c->only || !strcmp(c->only, w);
}

/* Add job count @jobs to the ascending set @out of @n (at most @max);
 * returns the new size. */
static unsigned add_count(unsigned *out, unsigned n, unsigned max, unsigned jobs)
{
	unsigned j = 0;

	while (j < n && out[j] != jobs)
		j++;
	if (j < n || n == max)
		return n;
	while (j > 0 && out[j - 1] > jobs) {
		out[j] = out[j - 1];
		j--;
	}
	out[j] = jobs;
	return n + 1;
}

/* The job counts of @w in any column, ascending; returns how many. */
static unsigned side_counts(const struct data *d, const char *w, unsigned *out, unsigned max)
{
	unsigned n = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];
		bool in = false;

		for (size_t c = 0; c < NSIDE && !in; c++)
			in = shown(&side_cols[c], w) && !strcmp(r->lang, side_cols[c].lang) &&
			     !strcmp(r->model, side_cols[c].model);
		if (!in || strcmp(r->workload, w))
			continue;
		n = add_count(out, n, max, r->jobs);
	}
	return n;
}

/* "10.3 ms, 2.1 MiB"; "skipped"; the status; "-" when not run. */
static const char *side_cell(char *buf, size_t len, const struct row *r)
{
	char a[32];

	if (!r)
		snprintf(buf, len, "-");
	else if (r->ok)
		snprintf(buf, len, "%s, %.1f MiB%s", secs(a, 32, r->wall[0]), r->rss_kib / 1024,
			 noisy(r) ? " (noisy)" : "");
	else if (!strncmp(r->status, "skipped", 7))
		snprintf(buf, len, "skipped");
	else
		snprintf(buf, len, "%.48s", r->status);
	return buf;
}

static void side_table(FILE *md, const struct data *d, const char *w)
{
	unsigned counts[16], n = side_counts(d, w, counts, 16);
	char cell[64], a[32];

	if (!n)
		return;
	fprintf(md, "\n### %s\n\n| jobs |", w);
	for (size_t c = 0; c < NSIDE; c++)
		if (shown(&side_cols[c], w))
			fprintf(md, " %s |", side_cols[c].title);
	fprintf(md, " reel/Go |\n|---:|");
	for (size_t c = 0; c < NSIDE; c++)
		if (shown(&side_cols[c], w))
			fprintf(md, "---|");
	fprintf(md, "---:|\n");
	for (unsigned i = 0; i < n; i++) {
		const struct row *f = find_ok(d, "c", w, "fibers", counts[i]);
		const struct row *g = find_ok(d, "go", w, "goroutines", counts[i]);

		fprintf(md, "| %u |", counts[i]);
		for (size_t c = 0; c < NSIDE; c++)
			if (shown(&side_cols[c], w))
				fprintf(md, " %s |", side_cell(cell, sizeof(cell),
					find(d, side_cols[c].lang, w, side_cols[c].model, counts[i])));
		fprintf(md, " %s |\n", f && g ? fx(a, 32, f->wall[0] / g->wall[0], false) : "-");
	}
}

static bool has_lang(const struct data *d, const char *lang)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->rows[i].lang, lang))
			return true;
	return false;
}

static void side_by_side(FILE *md, const struct data *d)
{
	const char *go = meta(d, "go");

	fprintf(md, "## reel, Go and asyncio side by side\n\n");
	fprintf(md, "The same jobs in each runtime, from the same run: wall time (median) "
		"and peak RSS per cell. reel fibers and asyncio run on one thread; Go runs "
		"with GOMAXPROCS=1 (one core, like the fibers): a goroutine per job, or a "
		"worker pool of the C thread pool's size (%s). For the CPU jobs, the models "
		"that use every core are shown too, Go's with GOMAXPROCS=cores. Each Go cell "
		"is its own exec'd process (bench/go/suite.go), timed inside around the jobs "
		"as the C cells are; CPU time and RSS from wait4. reel/Go: fibers' wall over "
		"goroutines'.\n\n", meta(d, "thread_pool") ? meta(d, "thread_pool") : "?");
	fprintf(md, "- Go: %s\n", go ? go : "not recorded in this CSV");
	if (!has_lang(d, "python"))
		fprintf(md, "- Python: no rows in this run\n");
	for (const char *const *w = (const char *const[]){ "timer", "tcp", "cpu", NULL };
	     *w; w++)
		side_table(md, d, *w);
	fputc('\n', md);
}

/* ---- many tasks from a fresh process (fresh.csv) ---- */

static const struct column fresh_cols[] = {
	{ "c", "fibers", "reel fibers", NULL },
	{ "go", "goroutines", "Go goroutines (GOMAXPROCS=1)", NULL },
	{ "python", "asyncio", "asyncio tasks", NULL },
	{ "c", "threads", "threads", NULL },
};
#define NFRESH (sizeof(fresh_cols) / sizeof(fresh_cols[0]))

/* KiB of peak RSS per task above the same program with no task. */
static double fresh_kib(const struct data *d, const struct row *r)
{
	const struct row *idle = r ? find_ok(d, r->lang, "fresh-1s", r->model, 0) : NULL;

	if (!r || !r->ok || !idle || !r->jobs)
		return NAN;
	return (r->rss_kib - idle->rss_kib) / r->jobs;
}

static void fresh_row(FILE *md, const struct data *d, const char *w, unsigned n)
{
	const struct row *f = find_ok(d, "c", w, "fibers", n);
	const struct row *g = find_ok(d, "go", w, "goroutines", n);
	char a[32], b[32];

	fprintf(md, "| %s | %u |", !strcmp(w, "fresh-10ms") ? "waits 10 ms" :
		"sleeps to a due time in [0, 1 s)", n);
	for (size_t c = 0; c < NFRESH; c++) {
		const struct row *r = find(d, fresh_cols[c].lang, w, fresh_cols[c].model, n);
		double kib = fresh_kib(d, r);

		if (r && r->ok && !isnan(kib))
			fprintf(md, " %s, %.2f KiB/task%s |", secs(a, 32, r->wall[0]), kib,
				noisy(r) ? " (noisy)" : "");
		else if (r && r->ok)
			fprintf(md, " %s%s |", secs(a, 32, r->wall[0]), noisy(r) ? " (noisy)" : "");
		else
			fprintf(md, " %s |", !r ? "-" : !strncmp(r->status, "skipped", 7) ?
				"skipped (below)" : r->status);
	}
	fprintf(md, " %s |\n", f && g ? fx(b, 32, f->wall[0] / g->wall[0], false) : "-");
}

/* One goal row: reel's wall over Go's at @n tasks of @w, at most @goal. */
static void fresh_goal_wall(FILE *md, const struct data *d, const char *what,
			    const char *w, unsigned n, double goal)
{
	const struct row *f = find_ok(d, "c", w, "fibers", n);
	const struct row *g = find_ok(d, "go", w, "goroutines", n);
	char a[32], b[32], c[32];

	const struct row *bad = !f ? find(d, "c", w, "fibers", n) : find(d, "go", w,
									  "goroutines", n);

	fprintf(md, "| %s: reel wall <= %.1fx Go's | ", what, goal);
	if (!f || !g) {
		fprintf(md, "not measured%s%s | - |\n", bad ? ": " : n > 10000 ?
			" (full mode only)" : "", bad ? bad->status : "");
		return;
	}
	fprintf(md, "%s (reel %s, Go %s) | %s |\n", fx(a, 32, f->wall[0] / g->wall[0], false),
		secs(b, 32, f->wall[0]), secs(c, 32, g->wall[0]),
		f->wall[0] / g->wall[0] <= goal ? "PASS" : "**MISS**");
}

static void fresh_goals(FILE *md, const struct data *d)
{
	const struct row *f = find_ok(d, "c", "fresh-1s", "fibers", 1000000);
	double kib = fresh_kib(d, f);

	fprintf(md, "\n| goal (issue 15) | measured | verdict |\n|---|---|---|\n");
	fresh_goal_wall(md, d, "10,000 tasks each waiting 10 ms", "fresh-10ms", 10000, 0.6);
	fresh_goal_wall(md, d, "100,000 tasks due over 1 s", "fresh-1s", 100000, 0.8);
	fresh_goal_wall(md, d, "1,000,000 tasks due over 1 s, spawning included",
			"fresh-1s", 1000000, 1.0);
	fprintf(md, "| 1,000,000 tasks due over 1 s: reel peak RSS per task <= 4.5 KiB | ");
	if (isnan(kib))
		fprintf(md, "not measured%s | - |\n", f ? "" : " (full mode only)");
	else
		fprintf(md, "%.2f KiB (peak %.0f MiB) | %s |\n", kib, f->rss_kib / 1024,
			kib <= 4.5 ? "PASS" : "**MISS**");
}

static void fresh_section(FILE *md, const struct data *d)
{
	const char *w[] = { "fresh-10ms", "fresh-1s" };

	if (!d->fresh)
		return;
	fprintf(md, "## Many tasks from a fresh process\n\n");
	fprintf(md, "From `fresh.csv`. Each repetition is a new process, exec'd, in which "
		"nothing ran before (no loop, no stack pool): it starts N tasks and waits for "
		"all of them. Wall: from the start of its main, spawning included, to the last "
		"join (median); KiB/task: peak RSS (wait4) above the same program started with "
		"no task, over N. reel: a fiber per task (bench/suite/fresh_tasks.c, default "
		"64 KiB stacks, reel_gather); Go: a goroutine per task, GOMAXPROCS=1, "
		"sync.WaitGroup; asyncio: create_task and gather; threads: a pthread per task "
		"(default stacks, all cores), up to 10,000. Due times: splitmix64 from seed %s, "
		"the same in every runtime. reel/Go: wall over wall. Go preempts the "
		"spawning goroutine, so its tasks run while the rest are being spawned: where "
		"spawning takes longer than the 1 s of due times, most start late and end at "
		"once, their stacks reused (hence its small KiB/task at 1M); reel's and "
		"asyncio's tasks first run after the last spawn, all alive at once.\n\n",
		meta(d, "fresh_seed") ? meta(d, "fresh_seed") : "?");
	if (meta(d, "fresh_goroutines"))
		fprintf(md, "- Go: %s\n\n", meta(d, "fresh_goroutines"));
	fprintf(md, "| each task | tasks |");
	for (size_t c = 0; c < NFRESH; c++)
		fprintf(md, " %s |", fresh_cols[c].title);
	fprintf(md, " reel/Go |\n|---|---:|---|---|---|---|---:|\n");
	for (size_t i = 0; i < 2; i++) {
		unsigned seen[8], ns = 0;

		for (size_t j = 0; j < d->n; j++) {
			const struct row *r = &d->rows[j];
			unsigned k = 0;

			if (strcmp(r->workload, w[i]) || !r->jobs)
				continue;
			while (k < ns && seen[k] != r->jobs)
				k++;
			if (k == ns && ns < 8) {
				seen[ns++] = r->jobs;
				fresh_row(md, d, w[i], r->jobs);
			}
		}
	}
	for (size_t j = 0, first = 1; j < d->n; j++) {
		const struct row *r = &d->rows[j];

		if (strncmp(r->workload, "fresh-", 6) || strncmp(r->status, "skipped", 7))
			continue;
		fprintf(md, "%s- %s at %u tasks: %s\n", first ? "\n" : "", r->model, r->jobs,
			r->status);
		first = 0;
	}
	fresh_goals(md, d);
	fputc('\n', md);
}

/* ---- plots ---- */

static const char *const plot_models[] = {
	"serial", "fibers", "threads", "thread-pool", "process-pool", "hybrid",
};
#define NPLOT (sizeof(plot_models) / sizeof(plot_models[0]))

/* The job counts measured for @w in C, ascending; returns how many. */
static unsigned job_counts(const struct data *d, const char *w, unsigned *out, unsigned max)
{
	unsigned n = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct row *r = &d->rows[i];

		if (strcmp(r->lang, "c") || strcmp(r->workload, w))
			continue;
		n = add_count(out, n, max, r->jobs);
	}
	return n;
}

/* @dir/NAME.dat: jobs, then one column per model: speed-up (@mem false)
 * or KiB per job (@mem true); '?' where not measured. Returns the number
 * of values written (gnuplot refuses a plot without any), or -errno. */
static int write_dat(const struct data *d, const char *dir, const char *w, bool mem)
{
	char path[4096];
	unsigned counts[16], n = job_counts(d, w, counts, 16);
	int points = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s_%s.dat", dir, mem ? "mem" : "speedup", w);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "jobs");
	for (size_t m = 0; m < NPLOT; m++)
		fprintf(f, " %s", plot_models[m]);
	fputc('\n', f);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%u", counts[i]);
		for (size_t m = 0; m < NPLOT; m++) {
			const struct row *r = find_ok(d, "c", w, plot_models[m], counts[i]);
			bool est;
			double v = !r ? NAN : mem ? rss_per_job(d, r) : speedup(d, r, &est);

			if (isnan(v) || v <= 0) {
				fprintf(f, " ?");
			} else {
				fprintf(f, " %.4g", v);
				points++;
			}
		}
		fputc('\n', f);
	}
	return fclose(f) ? -errno : points;
}

static void gp_plot(FILE *gp, const char *kind, const char *w, const char *ylabel)
{
	fprintf(gp, "set output '%s_%s.png'\nset title '%s: %s'\nset ylabel '%s'\n"
		"plot for [i=2:%zu] '%s_%s.dat' using 1:i with linespoints lw 2 "
		"title columnheader(i)\n", kind, w, w, ylabel, ylabel, NPLOT + 1, kind, w);
}

/* The .dat files and plots.gp; @plotted[i] tells whether plot i (the
 * workloads', then memory) has points. Returns 0 or -errno. */
static int write_gp(const struct data *d, const char *dir, bool *plotted)
{
	char path[4096];
	FILE *gp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/plots.gp", dir);
	gp = fopen(path, "w");
	if (!gp)
		return -errno;
	fprintf(gp, "# generated by reel-bench from suite.csv: gnuplot plots.gp\n"
		"set terminal pngcairo size 800,500 noenhanced\nset datafile missing '?'\n"
		"set logscale xy\nset key left top\nset grid\nset xlabel 'jobs'\n");
	for (int w = 0; w <= SUITE_NWORKLOADS && n >= 0; w++) {
		bool mem = w == SUITE_NWORKLOADS;
		const char *name = suite_workload_names[mem ? SUITE_TIMER : w];

		n = write_dat(d, dir, name, mem);
		plotted[w] = n > 0;
		if (n > 0)
			gp_plot(gp, mem ? "mem" : "speedup", name,
				mem ? "KiB of peak RSS per job" : "speed-up vs serial");
	}
	if (fclose(gp) && n >= 0)
		n = -errno;
	return n < 0 ? n : 0;
}

static int write_plots(FILE *md, const struct data *d, const char *dir, bool run)
{
	char gnuplot[4096];
	bool plotted[SUITE_NWORKLOADS + 1];
	int err = write_gp(d, dir, plotted), st = 0;
	pid_t pid;

	if (err)
		return err;
	fprintf(md, "## Plots\n\n");
	if (!run || suite_which("gnuplot", gnuplot, sizeof(gnuplot)) < 0) {
		fprintf(md, "gnuplot not run%s: `cd %s && gnuplot plots.gp` draws them from "
			"the .dat files.\n\n", run ? " (not installed: apt-get install "
			"gnuplot-nox)" : "", dir);
		return 0;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* Its warnings are about the models a run skipped: not news. */
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		if (chdir(dir) == 0)
			execl(gnuplot, "gnuplot", "plots.gp", (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(md, "gnuplot failed: see `%s/plots.gp`.\n\n", dir);
	for (int w = 0; w < SUITE_NWORKLOADS; w++)
		if (plotted[w])
			fprintf(md, "![speed-up vs serial, %s](speedup_%s.png)\n",
				suite_workload_names[w], suite_workload_names[w]);
	if (plotted[SUITE_NWORKLOADS])
		fprintf(md, "![memory per job, timer waits](mem_timer.png)\n");
	fputc('\n', md);
	return 0;
}

/* ---- micro-benchmarks ---- */

/* Four significant digits, never an exponent: 25310, 22.36, 0.8356. */
static const char *g4(char *buf, double v)
{
	if (isnan(v))
		snprintf(buf, 32, "-");
	else if (fabs(v) >= 1000)
		snprintf(buf, 32, "%.0f", v);
	else
		snprintf(buf, 32, "%.4g", v);
	return buf;
}

static void micro(FILE *md, const char *path)
{
	char line[1024], *f[MAX_FIELDS];
	FILE *in = path ? fopen(path, "r") : NULL;
	char a[32], b[32], c[32], e[32];
	bool any = false, quick = false;

	fprintf(md, "## Micro-benchmarks\n\n");
	while (in && fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "bench,", 6) == 0 || split_csv(line, f, MAX_FIELDS) < 15)
			continue;
		if (!any)
			fprintf(md, "From `%s`: reel beside its baseline, same process, "
				"interleaved.\n\n"
				"| benchmark | reel | baseline | ratio | goal | ok |\n"
				"|---|---:|---|---:|---|---|\n", path);
		any = true;
		quick |= strcmp(f[14], "quick") == 0;
		fprintf(md, "| %s | %s %s (%s-%s) | %s: %s %s | %.3gx | %s | %s |\n", f[1],
			g4(a, num(f[3])), f[2], g4(b, num(f[4])), g4(c, num(f[5])), f[6],
			g4(e, num(f[7])), f[2], num(f[10]), f[11], f[12]);
	}
	if (quick)
		fprintf(md, "\nQuick mode: the 1M-sleeper (sleep1m) and echo-server rows run "
			"in full mode only.\n");
	if (in)
		fclose(in);
	if (!any)
		fprintf(md, "No micro-benchmark rows (`%s` missing or empty).\n",
			path ? path : "micro.csv");
	fputc('\n', md);
}

/* ---- HTTP servers (DIR/http.csv, written by bench/http/http.c) ---- */

static void http_section(FILE *md, const char *dir)
{
	char path[4096], line[1024], *f[MAX_FIELDS];
	char a[32], b[32], c[32], d[32], e[32], g[32];
	FILE *in;
	bool any = false;

	snprintf(path, sizeof(path), "%s/http.csv", dir);
	in = fopen(path, "r");
	if (!in)
		return;         /* reel-bench --only http was not run into this folder */
	fprintf(md, "## HTTP servers\n\n");
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "server,", 7) == 0 || split_csv(line, f, MAX_FIELDS) < 18)
			continue;
		if (!any)
			fprintf(md, "From `http.csv`: each server pinned to one CPU, the load "
				"generator (http_load) to the other; medians of the rounds. CPU/req "
				"is the server's own CPU time per response, the primary figure.\n\n"
				"| server | path | conns | req/s | CPU us/req | p50 us | p99 us | "
				"p99.9 us | TTFB p50 us | errors | note |\n"
				"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
		any = true;
		if (!*f[1]) {
			fprintf(md, "| %s | | | | | | | | | | %s |\n", f[0], f[17]);
			continue;
		}
		if (strcmp(f[1], "sse") == 0) {
			fprintf(md, "| %s | /sse | %s | %s events/s | %s per event | | | | | %s | "
				"%s missed; %s KiB RSS per connection; %s |\n", f[0], f[2],
				g4(a, num(f[4])), g4(b, num(f[5])), f[13], f[14], f[15], f[17]);
			continue;
		}
		fprintf(md, "| %s | /%s | %s | %s | %s | %s | %s | %s | %s | %s | |\n", f[0],
			f[1], f[2], g4(a, num(f[4])), g4(b, num(f[5])), g4(c, num(f[6])),
			g4(d, num(f[7])), g4(e, num(f[8])),
			strcmp(f[1], "stream") == 0 ? g4(g, num(f[9])) : "-", f[13]);
	}
	fclose(in);
	fputc('\n', md);
}

int suite_report_write(const char *dir, const char *micro_csv, bool plot)
{
	struct data d = { 0 };
	char path[4096];
	FILE *md;
	int err;

	snprintf(path, sizeof(path), "%s/suite.csv", dir);
	err = read_suite(path, &d);
	if (err < 0) {
		free(d.rows);
		return err;
	}
	snprintf(path, sizeof(path), "%s/fresh.csv", dir);
	err = read_suite(path, &d);
	d.fresh = err == 0;
	if (err < 0 && err != -ENOENT) {
		free(d.rows);
		return err;
	}
	snprintf(path, sizeof(path), "%s/REPORT.md", dir);
	md = fopen(path, "w");
	if (!md) {
		free(d.rows);
		return -errno;
	}
	machine(md, &d, dir);
	claims(md, &d);
	checks(md, &d);
	side_by_side(md, &d);
	fresh_section(md, &d);
	tables(md, &d);
	err = write_plots(md, &d, dir, plot);
	micro(md, micro_csv);
	http_section(md, dir);
	free(d.rows);
	if (fclose(md) && !err)
		err = -errno;
	return err;
}
