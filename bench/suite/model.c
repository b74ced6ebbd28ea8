/*
 * model.c - six ways of running the same N jobs and waiting for them all.
 *
 *   serial        a loop of blocking calls: the reference every speed-up
 *                 is measured against
 *   fibers        one reel fiber per job (64 KiB lazily committed stack),
 *                 reel_gather; one thread, one core
 *   threads       one pthread per job (default 8 MiB stacks), blocking
 *                 calls; stops where pthread_create refuses
 *   thread-pool   env->tpool_threads pthreads taking job numbers from a
 *                 shared counter (concurrent.futures' ThreadPoolExecutor)
 *   process-pool  env->ppool_procs forked processes doing the same through
 *                 a counter in shared memory (ProcessPoolExecutor)
 *   hybrid        fibers whose CPU part runs on reel's thread pool
 *                 (reel_to_thread, asyncio.to_thread)
 *
 * Every model stops at the first failing job and returns its error with
 * a reason; the jobs already started are waited for first.
 */
#include "suite.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

const char *const suite_model_names[SUITE_NMODELS] = {
	[SUITE_SERIAL] = "serial", [SUITE_FIBERS] = "fibers",
	[SUITE_THREADS] = "threads", [SUITE_TPOOL] = "thread-pool",
	[SUITE_PPOOL] = "process-pool", [SUITE_HYBRID] = "hybrid",
};

/* "ENOMEM" rather than strerror's sentence: it fits a table cell. */
static const char *errname(int err)
{
	switch (-err) {
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPROTO: return "EPROTO";
	default: return reel_strerror(err);
	}
}

/* ---- serial ---- */

static int run_serial(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	(void)extra;
	for (unsigned i = 0; i < set->jobs; i++) {
		int err = suite_job_blocking(set, i);

		if (err < 0) {
			snprintf(why, len, "%s in job %u", errname(err), i);
			return err;
		}
	}
	return 0;
}

/* ---- pools: jobs taken from a shared counter ---- */

struct pool {
	const struct suite_set *set;
	atomic_uint next;       /* the next job to take */
	atomic_int err;         /* the first failure; stops the others */
	uint64_t worker_rss_kib[];      /* process pool: each worker's peak */
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	unsigned i;

	while (atomic_load(&p->err) == 0 &&
	       (i = atomic_fetch_add(&p->next, 1)) < p->set->jobs) {
		int err = suite_job_blocking(p->set, i);
		int zero = 0;

		if (err < 0)
			atomic_compare_exchange_strong(&p->err, &zero, err);
	}
	return NULL;
}

/* Start @n threads of @fn(@arg); on failure join those started. Returns the
 * number started; *@err is pthread_create's -errno when fewer than @n. */
static unsigned start_threads(pthread_t *tids, unsigned n, void *(*fn)(void *),
			      void *arg, int *err)
{
	unsigned started = 0;

	*err = 0;
	while (started < n) {
		int e = pthread_create(&tids[started], NULL, fn, arg);

		if (e) {
			*err = -e;
			break;
		}
		started++;
	}
	return started;
}

static int run_tpool(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	unsigned n = set->env->tpool_threads, started;
	struct pool p = { .set = set };
	pthread_t *tids = calloc(n, sizeof(*tids));
	int err;

	(void)extra;
	if (!tids)
		return -ENOMEM;
	started = start_threads(tids, n, pool_worker, &p, &err);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	if (err == 0 && started == n && (err = atomic_load(&p.err)) == 0)
		return 0;
	if (started < n)
		snprintf(why, len, "%s at %u pool threads", errname(err), started);
	else
		snprintf(why, len, "%s in a job", errname(err));
	return err;
}

/* ---- one thread per job ---- */

struct job_arg {
	const struct suite_set *set;
	unsigned i;
	int err;
};

static void *job_thread(void *arg)
{
	struct job_arg *a = arg;

	a->err = suite_job_blocking(a->set, a->i);
	return NULL;
}

static int run_threads(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	unsigned n = set->jobs, started = 0;
	pthread_t *tids = calloc(n, sizeof(*tids));
	struct job_arg *args = calloc(n, sizeof(*args));
	int err = 0;

	(void)extra;
	if (!tids || !args) {
		free(tids);
		free(args);
		return -ENOMEM;
	}
	for (; started < n; started++) {
		int e;

		args[started] = (struct job_arg){ set, started, 0 };
		e = pthread_create(&tids[started], NULL, job_thread, &args[started]);
		if (e) {
			err = -e;
			snprintf(why, len, "%s at %u threads", errname(err), started);
			break;
		}
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(tids[i], NULL);
		if (!err && args[i].err) {
			err = args[i].err;
			snprintf(why, len, "%s in job %u", errname(err), i);
		}
	}
	free(tids);
	free(args);
	return err;
}

/* ---- process pool ---- */

static void ppool_child(struct pool *p, unsigned w, pid_t parent)
{
	struct rusage ru;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	pool_worker(p);
	getrusage(RUSAGE_SELF, &ru);
	p->worker_rss_kib[w] = (uint64_t)ru.ru_maxrss;
	_exit(0);
}

static int run_ppool(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	unsigned n = set->env->ppool_procs, forked = 0;
	size_t size = sizeof(struct pool) + n * sizeof(uint64_t);
	struct pool *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t parent = getpid();
	int err = 0, crashed = 0;

	if (p == MAP_FAILED)
		return -errno;
	memset(p, 0, size);
	p->set = set;   /* the same address in the forked workers */
	for (; forked < n; forked++) {
		pid_t pid = fork();

		if (pid == 0)
			ppool_child(p, forked, parent);
		if (pid < 0) {
			err = -errno;
			snprintf(why, len, "%s at %u processes", errname(err), forked);
			atomic_store(&p->err, err);     /* the others stop early */
			break;
		}
	}
	for (unsigned i = 0; i < forked; i++) {
		int st;

		while (wait(&st) < 0 && errno == EINTR)
			;
		crashed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	for (unsigned i = 0; i < n; i++)
		extra->rss_kib += p->worker_rss_kib[i];
	if (!err && crashed) {
		err = -ECHILD;
		snprintf(why, len, "%d workers died", crashed);
	} else if (!err && (err = atomic_load(&p->err)) != 0) {
		snprintf(why, len, "%s in a job", errname(err));
	}
	munmap(p, size);
	return err;
}

/* ---- fibers ---- */

struct fiber_run {
	const struct suite_set *set;
	bool offload;
	char *why;
	size_t len;
	reel_task *tasks;
	int *statuses;
	atomic_uint next;
	uint64_t jobs_ns;       /* first spawn to gather's return */
};

static int fiber_job(void *arg)
{
	struct fiber_run *r = arg;

	/* Fibers start in spawn order: the n-th to run is job n. */
	return suite_job_fiber(r->set, atomic_fetch_add(&r->next, 1), r->offload);
}

static int fibers_main(void *arg)
{
	struct fiber_run *r = arg;
	unsigned n = r->set->jobs, spawned = 0;
	uint64_t t0 = bench_now_ns();
	int err = 0;

	for (; spawned < n; spawned++) {
		err = reel_spawn(&r->tasks[spawned], fiber_job, r, NULL);
		if (err < 0) {
			snprintf(r->why, r->len, "%s at %u fibers", errname(err), spawned);
			break;
		}
	}
	if (err < 0) {
		for (unsigned i = 0; i < spawned; i++)
			reel_cancel(r->tasks[i]);
		reel_gather(r->tasks, spawned, r->statuses, REEL_GATHER_ALL);
		return err;
	}
	err = reel_gather(r->tasks, n, r->statuses, 0);
	r->jobs_ns = bench_now_ns() - t0;
	if (err < 0)
		snprintf(r->why, r->len, "%s in a job", errname(err));
	return err;
}

static int run_fiber_model(const struct suite_set *set, bool offload, char *why,
			   size_t len, struct suite_extra *extra)
{
	struct fiber_run r = { .set = set, .offload = offload, .why = why, .len = len };
	char buf[256] = "";
	struct reel_run_opts opts = { .errbuf = buf, .errbuf_len = sizeof(buf) };
	int status = 0, err;

	r.tasks = calloc(set->jobs, sizeof(*r.tasks));
	r.statuses = calloc(set->jobs, sizeof(*r.statuses));
	if (!r.tasks || !r.statuses) {
		free(r.tasks);
		free(r.statuses);
		return -ENOMEM;
	}
	err = reel_run(fibers_main, &r, &opts, &status);
	extra->wall_ns = r.jobs_ns;
	free(r.tasks);
	free(r.statuses);
	if (err < 0) {
		snprintf(why, len, "reel_run: %s", buf[0] ? buf : errname(err));
		return err;
	}
	return status;
}

static int run_fibers(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	return run_fiber_model(set, false, why, len, extra);
}

static int run_hybrid(const struct suite_set *set, char *why, size_t len,
			 struct suite_extra *extra)
{
	return run_fiber_model(set, true, why, len, extra);
}

const suite_model_fn suite_models[SUITE_NMODELS] = {
	[SUITE_SERIAL] = run_serial, [SUITE_FIBERS] = run_fibers,
	[SUITE_THREADS] = run_threads, [SUITE_TPOOL] = run_tpool,
	[SUITE_PPOOL] = run_ppool, [SUITE_HYBRID] = run_hybrid,
};
