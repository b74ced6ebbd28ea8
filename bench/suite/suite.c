/*
 * suite.c - the plan of the headline comparison: set up what the jobs need
 * (a calibrated CPU job, a page-cached file, the delay server), then for
 * each workload and job count run every model R times, interleaved
 * repetition by repetition so that a machine slowing down part way slows
 * every model alike. A model whose predicted time exceeds the per-cell
 * budget is skipped with the prediction as its reason, so that serial
 * 10,000 x 10 ms (100 s) cannot eat the run; the report then estimates
 * serial from the one-job time and marks it so.
 *
 * When the Go twin is built (suite_go.c), its models join each cell's
 * repetitions beside the C ones, exec'd rather than forked.
 *
 * Rows go to stdout as Markdown tables as they are measured, and to
 * OUT/suite.csv, which is all the report (suite_report.c) reads.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_COUNTS 6
#define JOB_NS 10000000u        /* a timer wait, a server delay, a CPU job */
#define FILE_SIZE (16u << 20)
#define READ_SIZE (1u << 20)

/* Job counts per workload; 0 ends a list. */
static const unsigned quick_counts[SUITE_NWORKLOADS][MAX_COUNTS] = {
	[SUITE_TIMER] = { 1, 100, 10000 },
	[SUITE_TCP] = { 1, 100, 1000 },
	[SUITE_FILE] = { 1, 100 },
	[SUITE_CPU] = { 1, 16 },
	[SUITE_MIXED] = { 1, 100 },
};
static const unsigned full_counts[SUITE_NWORKLOADS][MAX_COUNTS] = {
	[SUITE_TIMER] = { 1, 10, 100, 1000, 10000 },
	[SUITE_TCP] = { 1, 10, 100, 1000, 10000 },
	[SUITE_FILE] = { 1, 10, 100, 1000 },
	[SUITE_CPU] = { 1, 4, 16, 64 },
	[SUITE_MIXED] = { 1, 10, 100 },
};

struct plan {
	const struct bench_cfg *cfg;
	struct suite_env env;
	FILE *csv;
	unsigned ncpu;
	unsigned reel_pool;     /* reel_to_thread's default pool size */
	double budget_s;        /* predicted wall of one repetition, at most */
	struct suite_go go;     /* the Go twin, when found */
	unsigned cells, done;   /* for the progress line */
	uint64_t start_ns;
	bool tty;
};

/* ---- setup ---- */

/* Rounds of suite_hash that take about @ns here (best of three). */
static uint64_t calibrate_cpu(uint64_t ns)
{
	const uint64_t probe = 1u << 20;
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 3; i++) {
		uint64_t t0 = bench_now_ns();
		volatile uint64_t h = suite_hash((uint64_t)i, probe);
		uint64_t t = bench_now_ns() - t0;

		(void)h;
		if (t < best)
			best = t;
	}
	return best ? (uint64_t)((double)probe * (double)ns / (double)best) : probe;
}

/* A file of FILE_SIZE random bytes in $TMPDIR (or /tmp), read once so it
 * sits in the page cache; its name goes to @path. Jobs open it by name, so
 * suite_run unlinks it at the end. Returns 0 or -errno. */
static int make_file(char *path, size_t len)
{
	static char buf[1 << 16];
	uint64_t seed = 42;
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, len, "%s/reel-bench-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < FILE_SIZE; done += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i += 8) {
			uint64_t r = bench_rand(&seed);

			memcpy(buf + i, &r, 8);
		}
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			int err = errno ? -errno : -EIO;

			close(fd);
			unlink(path);
			return err;
		}
	}
	for (off_t off = 0; pread(fd, buf, sizeof(buf), off) > 0; off += (off_t)sizeof(buf))
		;
	close(fd);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int idle_model(const struct suite_set *set, char *why, size_t len,
		      struct suite_extra *extra)
{
	(void)set, (void)why, (void)len, (void)extra;
	return 0;
}

static void write_meta(struct plan *p, uint64_t idle_kib)
{
	struct utsname u;
	struct rlimit rl;
	char model[128];

	bench_machine(model, sizeof(model), &u);
	fprintf(p->csv, "# mode: %s\n", p->cfg->quick ? "quick" : "full");
	fprintf(p->csv, "# cores: %u\n# cpu: %s\n# kernel: %s %s\n", p->ncpu, model,
		u.sysname, u.release);
	fprintf(p->csv, "# liburing: %s\n", REEL_LIBURING_VERSION);
#if defined(__clang__)
	fprintf(p->csv, "# compiler: clang %s\n", __clang_version__);
#else
	fprintf(p->csv, "# compiler: gcc %s\n", __VERSION__);
#endif
	fprintf(p->csv, "# wait_ms: %.1f\n# cpu_job_ms: %.1f\n", (double)p->env.wait_ns / 1e6,
		JOB_NS / 1e6);
	fprintf(p->csv, "# thread_pool: %u\n# process_pool: %u\n# reel_pool: %u\n",
		p->env.tpool_threads, p->env.ppool_procs, p->reel_pool);
	fprintf(p->csv, "# file: %u MiB file, %u KiB per job\n", FILE_SIZE >> 20,
		READ_SIZE >> 10);
	fprintf(p->csv, "# idle_rss_kib: %llu\n", (unsigned long long)idle_kib);
	if (p->go.ok)
		fprintf(p->csv, "# go: %s (bench/go/suite.go; GOMAXPROCS=1 but "
			"goroutines-ncpu: GOMAXPROCS=%u)\n# go_cpu_rounds: %llu\n",
			p->go.version, p->ncpu, (unsigned long long)p->go.cpu_rounds);
	else
		fprintf(p->csv, "# go: %s\n", p->go.why);
	if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fprintf(p->csv, "# rlimit_nproc: %llu\n", (unsigned long long)rl.rlim_cur);
	fprintf(p->csv, "# threads_max: %ld\n", bench_read_long("/proc/sys/kernel/threads-max"));
	fprintf(p->csv, "# budget_s: %.1f\n# reps: %u\n", p->budget_s, p->cfg->reps);
	fprintf(p->csv, "%s\n", SUITE_CSV_HEADER);
	fflush(p->csv);
}

/* ---- predicting a cell's time ---- */

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* How many jobs model @m runs at once: waiting, and computing. */
static void concurrency(const struct plan *p, enum suite_model m, unsigned n,
			double *c_io, double *c_cpu)
{
	switch (m) {
	case SUITE_FIBERS:
		*c_io = n, *c_cpu = 1;
		break;
	case SUITE_THREADS:
		*c_io = n, *c_cpu = min_u(n, p->ncpu);
		break;
	case SUITE_TPOOL:
		*c_io = p->env.tpool_threads, *c_cpu = min_u(p->env.tpool_threads, p->ncpu);
		break;
	case SUITE_PPOOL:
		*c_io = p->env.ppool_procs, *c_cpu = min_u(p->env.ppool_procs, p->ncpu);
		break;
	case SUITE_HYBRID:
		*c_io = n, *c_cpu = min_u(p->reel_pool, p->ncpu);
		break;
	default:
		*c_io = 1, *c_cpu = 1;
	}
}

/*
 * The contestants of a cell: the C models (suite_models[], forked copies of
 * reel-bench), then the Go twin's (suite_go.c, exec'd), in one numbering so
 * that a repetition runs them all in turn.
 */
#define NCONT (SUITE_NMODELS + SUITE_GO_NMODELS)

static bool is_go(int k)
{
	return k >= SUITE_NMODELS;
}

static enum suite_go_model go_model(int k)
{
	return (enum suite_go_model)(k - SUITE_NMODELS);
}

static const char *cont_name(int k)
{
	return is_go(k) ? suite_go_model_names[go_model(k)] : suite_model_names[k];
}

static bool applies(const struct plan *p, enum suite_workload w, int k)
{
	if (is_go(k))
		return p->go.ok && suite_go_applies(w, go_model(k));
	/* Without a CPU part, hybrid is the fibers model again. */
	return k != SUITE_HYBRID || suite_workload_computes(w);
}

/* Seconds one repetition of contestant @k with @n jobs should take, from
 * @t1 (one job alone): waits overlap up to the model's concurrency,
 * computing up to its cores. */
static double predict(const struct plan *p, enum suite_workload w, int k,
		      unsigned n, double t1)
{
	double c_io, c_cpu, io = 0, cpu = t1;

	if (is_go(k))
		suite_go_concurrency(&p->go, go_model(k), n, p->env.tpool_threads,
				     &c_io, &c_cpu);
	else
		concurrency(p, (enum suite_model)k, n, &c_io, &c_cpu);
	if (w == SUITE_TIMER || w == SUITE_TCP)
		io = t1, cpu = 0;
	else if (w == SUITE_MIXED)
		io = (double)p->env.wait_ns / 1e9, cpu = t1 > io ? t1 - io : 0;
	return ceil(n / c_io) * io + n * cpu / c_cpu;
}

/* ---- running ---- */

static void progress(struct plan *p, enum suite_workload w, int k, unsigned n,
		     unsigned rep)
{
	if (!p->tty)
		return;
	fprintf(stderr, "\rsuite [%3u/%3u] %-6s %-3s%-16s %6u jobs  rep %u/%u  %4.0f s   ",
		p->done, p->cells, suite_workload_names[w], is_go(k) ? "go:" : "",
		cont_name(k), n, rep + 1, p->cfg->reps,
		(double)(bench_now_ns() - p->start_ns) / 1e9);
	fflush(stderr);
}

static void progress_clear(const struct plan *p)
{
	if (p->tty)
		fprintf(stderr, "\r%78s\r", "");
}

void suite_summarize(const struct bench_series *s, double out[3])
{
	double v[BENCH_MAX_REPS];
	unsigned n = s->n;

	for (unsigned i = 0; i < n; i++)
		v[i] = s->v[i];
	for (unsigned i = 1; i < n; i++)        /* insertion sort: n <= 16 */
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	out[0] = n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : NAN;
	out[1] = n ? v[0] : NAN;
	out[2] = n ? v[n - 1] : NAN;
}

void suite_series_add(struct suite_series *c, const struct suite_sample *s)
{
	bench_series_add(&c->wall, s->wall_s);
	bench_series_add(&c->cpu, s->cpu_s);
	bench_series_add(&c->rss, (double)s->rss_kib);
	bench_series_add(&c->setup, s->setup_s);
}

void suite_row_write(FILE *csv, const char *lang, const char *workload, const char *model,
		     unsigned n, const struct suite_series *c, char *label, size_t len)
{
	double wall[3], cpu[3], rss[3];
	char status[200];

	snprintf(status, sizeof(status), "%s", c->why[0] ? c->why : "ok");
	for (char *s = status; *s; s++)
		if (*s == '"' || *s == ',')
			*s = ';';       /* keeps the CSV field plain */
	if (c->why[0]) {
		fprintf(csv, "%s,%s,%s,%u,0,,,,,,\"%s\"\n", lang, workload, model, n, status);
		snprintf(label, len, "%s", status);
		return;
	}
	suite_summarize(&c->wall, wall);
	suite_summarize(&c->cpu, cpu);
	suite_summarize(&c->rss, rss);
	fprintf(csv, "%s,%s,%s,%u,%u,%.6f,%.6f,%.6f,%.6f,%.0f,\"ok\"\n", lang, workload,
		model, n, c->wall.n, wall[0], wall[1], wall[2], cpu[0], rss[0]);
	snprintf(label, len, "%.4f s (%.4f-%.4f) | %6.3f s | %5.1f MiB", wall[0], wall[1],
		 wall[2], cpu[0], rss[0] / 1024);
}

/* One row to stdout and the CSV. @serial_s: serial's median at @n (for the
 * speed-up column), estimated from one job when @est, 0 when unknown. */
static void emit(struct plan *p, enum suite_workload w, int k, unsigned n,
		 const struct suite_series *c, double serial_s, bool est)
{
	char label[300], model[32], sp[16] = "-";
	double wall[3];

	snprintf(model, sizeof(model), "%s%s", is_go(k) ? "go:" : "", cont_name(k));
	suite_row_write(p->csv, is_go(k) ? "go" : "c", suite_workload_names[w],
			cont_name(k), n, c, label, sizeof(label));
	if (c->why[0]) {
		printf("| %6u | %-18s | %-26s | %8s | %9s | %8s |\n", n, model, label,
		       "-", "-", "-");
	} else {
		suite_summarize(&c->wall, wall);
		if (serial_s > 0)
			snprintf(sp, sizeof(sp), "%s%.2fx", est ? "~" : "", serial_s / wall[0]);
		printf("| %6u | %-18s | %s | %8s |\n", n, model, label, sp);
	}
	fflush(p->csv);
	fflush(stdout);
}

/* Mark the contestants whose predicted time exceeds the budget as
 * skipped, with the prediction as the reason. */
static void skip_slow(struct plan *p, enum suite_workload w, unsigned n, double t1,
		      struct suite_series *cells)
{
	for (int k = 0; k < NCONT; k++) {
		double pred = t1 > 0 ? predict(p, w, k, n, t1) : 0;

		if (applies(p, w, k) && p->cfg->quick && is_go(k) &&
		    go_model(k) == SUITE_GO_POOL) {
			/* Quick mode stays small: the pool is the C thread
			 * pool's twin, at the thread pool's pace. */
			snprintf(cells[k].why, sizeof(cells[k].why), "skipped: full mode only");
			p->done += p->cfg->reps;
		} else if (applies(p, w, k) && pred > p->budget_s) {
			snprintf(cells[k].why, sizeof(cells[k].why),
				 "skipped: predicted %.1f s > budget %.1f s", pred, p->budget_s);
			p->done += p->cfg->reps;
		}
	}
}

/* Every contestant once, in turn: one repetition of a cell. */
static void run_rep(struct plan *p, const struct suite_set *set, unsigned r, double t1,
		    struct suite_series *cells)
{
	for (int k = 0; k < NCONT; k++) {
		struct suite_series *c = &cells[k];
		struct suite_sample s;
		double pred = t1 > 0 ? predict(p, set->workload, k, set->jobs, t1) : 1;
		uint64_t timeout = (uint64_t)((10 + 4 * pred) * 1e9);
		int err;

		if (!applies(p, set->workload, k) || c->why[0])
			continue;
		progress(p, set->workload, k, set->jobs, r);
		err = is_go(k) ? suite_go_cell(&p->go, go_model(k), set, timeout, &s)
			       : suite_cell_run(suite_models[k], set, timeout, &s);
		if (err < 0) {
			snprintf(c->why, sizeof(c->why), "fork failed");
			continue;
		}
		p->done++;
		if (s.err) {
			snprintf(c->why, sizeof(c->why), "%s", s.why);
			continue;
		}
		suite_series_add(c, &s);
	}
}

static void run_count(struct plan *p, enum suite_workload w, unsigned n, double *t1)
{
	struct suite_set set = { &p->env, w, n };
	struct suite_series cells[NCONT];
	double serial_s = 0, med[3];
	bool est = false;

	memset(cells, 0, sizeof(cells));
	skip_slow(p, w, n, *t1, cells);
	for (unsigned r = 0; r < p->cfg->reps; r++)
		run_rep(p, &set, r, *t1, cells);
	progress_clear(p);
	if (w == SUITE_TIMER && n == 1 && cells[SUITE_FIBERS].setup.n) {
		suite_summarize(&cells[SUITE_FIBERS].setup, med);
		fprintf(p->csv, "# reel_run_ms: %.2f\n", med[0] * 1e3);
	}
	if (!cells[SUITE_SERIAL].why[0]) {
		suite_summarize(&cells[SUITE_SERIAL].wall, med);
		serial_s = med[0];
		if (n == 1)
			*t1 = serial_s;
	} else if (*t1 > 0) {
		serial_s = n * *t1;     /* as the report estimates it */
		est = true;
	}
	for (int k = 0; k < NCONT; k++)
		if (applies(p, w, k))
			emit(p, w, k, n, &cells[k], serial_s, est);
}

static void run_workload(struct plan *p, enum suite_workload w)
{
	const unsigned *counts = p->cfg->quick ? quick_counts[w] : full_counts[w];
	double t1 = 0;

	printf("\n### %s\n\n", suite_workload_names[w]);
	printf("| %6s | %-18s | %-26s | %8s | %9s | %8s |\n", "jobs", "model",
	       "wall median (min-max)", "CPU", "peak RSS", "speed-up");
	printf("|--------|--------------------|----------------------------|----------|"
	       "-----------|----------|\n");
	for (unsigned i = 0; i < MAX_COUNTS && counts[i]; i++)
		run_count(p, w, counts[i], &t1);
}

static unsigned count_cells(const struct plan *p)
{
	unsigned cells = 0;

	for (int w = 0; w < SUITE_NWORKLOADS; w++) {
		const unsigned *counts = p->cfg->quick ? quick_counts[w] : full_counts[w];

		for (unsigned i = 0; i < MAX_COUNTS && counts[i]; i++)
			for (int k = 0; k < NCONT; k++)
				cells += applies(p, (enum suite_workload)w, k) * p->cfg->reps;
	}
	return cells;
}

static int open_csv(struct plan *p, const char *dir)
{
	char path[4096];

	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/suite.csv", dir);
	p->csv = fopen(path, "w");
	return p->csv ? 0 : -errno;
}

int suite_run(const struct bench_cfg *cfg, const struct suite_opts *o)
{
	struct plan p = { .cfg = cfg };
	struct suite_set idle = { &p.env, SUITE_TIMER, 0 };
	struct suite_sample s = { 0 };
	char file[4096];
	pid_t server = 0;
	int err, py;

	p.ncpu = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	p.reel_pool = min_u(32, p.ncpu + 4);
	p.budget_s = cfg->quick ? 2.5 : 5;    /* full: the micro rows take 12 min */
	p.env = (struct suite_env){
		.wait_ns = JOB_NS,
		.cpu_rounds = calibrate_cpu(JOB_NS),
		.file_path = file,
		.file_size = FILE_SIZE,
		.read_size = READ_SIZE,
		.tpool_threads = min_u(32, p.ncpu + 4),   /* ThreadPoolExecutor's */
		.ppool_procs = p.ncpu,                     /* ProcessPoolExecutor's */
	};
	p.tty = isatty(2);
	raise_nofile();
	if ((err = open_csv(&p, o->out)) < 0)
		return bench_fail("suite", err, "cannot write %s/suite.csv", o->out);
	if ((err = make_file(file, sizeof(file))) < 0) {
		fclose(p.csv);
		return bench_fail("suite", err, "cannot create a file to read in %s",
				  getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	}
	if ((err = suite_server_start(&p.env.port, &server)) < 0) {
		unlink(file);
		fclose(p.csv);
		return bench_fail("suite", err, "cannot start the delay server");
	}
	suite_cell_run(idle_model, &idle, 10000000000u, &s);
	if (suite_go_init(&p.go, JOB_NS, p.ncpu) < 0)
		bench_note("suite: Go twin: %s", p.go.why);
	write_meta(&p, s.rss_kib);
	p.cells = count_cells(&p);
	p.start_ns = bench_now_ns();
	printf("## Headline: the same jobs, six ways%s (%u CPUs, thread pool %u, "
	       "process pool %u, R=%u)\n", p.go.ok ? " and in Go" : "", p.ncpu,
	       p.env.tpool_threads, p.env.ppool_procs, cfg->reps);
	for (int w = 0; w < SUITE_NWORKLOADS; w++)
		run_workload(&p, (enum suite_workload)w);
	if (o->python) {
		if (p.tty)
			fprintf(stderr, "suite: Python twin (bench/python/suite.py) ...\n");
		py = suite_python_run(p.csv, cfg, p.env.port);
		if (py == -ENOENT)
			fprintf(p.csv, "# python: not found\n");
		else if (py < 0)
			fprintf(stderr, "reel-bench: suite: the Python twin failed: %s\n",
				strerror(-py));
	}
	suite_server_stop(server);
	unlink(file);
	if (fclose(p.csv) != 0)
		return bench_fail("suite", -errno, "cannot write %s/suite.csv", o->out);
	printf("\n");
	return 0;
}
