/*
 * async_threads_processes - when to use async, threads or processes.
 *
 * The same jobs run four ways: serially, as fibers (reel_gather), on
 * threads (reel_to_thread's pool, or one pthread per job), and in a pool
 * of worker processes (reel_procpool). Two kinds of job:
 *  - I/O-bound: wait 50 ms (a network call). Waiting needs no CPU, so what
 *    matters is how many waits overlap: fibers overlap all of them, at a
 *    few KiB each; threads and processes overlap as many as there are.
 *  - CPU-bound: 100 ms of hashing. Only more cores help: fibers share one
 *    thread and gain nothing; threads and processes use every core.
 * Rule of thumb printed at the end: async for waiting, a thread or process
 * pool for computing, and both together (fibers that offload their CPU
 * work) for programs that do both. bench/ measures this at scale.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "cpu_work.h"
#include "example.h"
#include "reel_offload.h"

#define JOBS 16
#define WAIT_MS 50
#define WORKERS 4

static uint64_t rounds;
static volatile uint64_t sink;

/* ---- the two jobs, as plain code ---- */

static void blocking_wait(void)
{
	struct timespec ts = { 0, WAIT_MS * 1000000L };

	nanosleep(&ts, NULL);
}

static int io_job_fiber(void *arg)
{
	(void)arg;
	return reel_sleep(MSEC(WAIT_MS));
}

static int io_job_blocking(void *arg)
{
	(void)arg;
	blocking_wait();
	return 0;
}

static int cpu_job(void *arg)
{
	(void)arg;
	sink = cpu_hash((uint64_t)(uintptr_t)&arg, rounds);
	return 0;
}

static int to_thread_job(void *arg)
{
	int status;

	return reel_to_thread((reel_fn)arg, NULL, &status);
}

static void *pthread_job(void *arg)
{
	((reel_fn)arg)(NULL);
	return NULL;
}

static int proc_io(const void *in, size_t in_len, void *out, size_t cap, size_t *len)
{
	(void)in, (void)in_len, (void)out, (void)cap, (void)len;
	blocking_wait();
	return 0;
}

static int proc_cpu(const void *in, size_t in_len, void *out, size_t cap, size_t *len)
{
	(void)in, (void)in_len, (void)out, (void)cap, (void)len;
	sink = cpu_hash(1, rounds);
	return 0;
}

/* ---- the four ways of running JOBS of them ---- */

static double run_serial(reel_fn job)
{
	uint64_t t0 = reel_now();

	for (int i = 0; i < JOBS; i++)
		job(NULL);
	return ms_since(t0);
}

static double run_fibers(reel_fn job, void *arg)
{
	reel_task t[JOBS];
	int st[JOBS];
	uint64_t t0 = reel_now();

	for (int i = 0; i < JOBS; i++)
		reel_spawn(&t[i], job, arg, NULL);
	reel_gather(t, JOBS, st, REEL_GATHER_ALL);
	return ms_since(t0);
}

static double run_pthreads(reel_fn job)
{
	pthread_t t[JOBS];
	uint64_t t0 = reel_now();

	for (int i = 0; i < JOBS; i++)
		pthread_create(&t[i], NULL, pthread_job, (void *)job);
	for (int i = 0; i < JOBS; i++)
		pthread_join(t[i], NULL);
	return ms_since(t0);
}

struct proc_arg {
	struct reel_procpool *pool;
	reel_proc_fn fn;
};

static int proc_call(void *arg)
{
	struct proc_arg *p = arg;
	int status;

	return reel_procpool_call(p->pool, p->fn, NULL, 0, NULL, 0, NULL, &status);
}

static void row(const char *model, double ms, double serial)
{
	printf("  %-36s %7.0f ms  %5.1fx\n", model, ms, serial / ms);
}

static int main_fiber(void *arg)
{
	struct reel_procpool *pool;
	struct proc_arg pio, pcpu;
	double serial;
	int err;

	(void)arg;
	rounds = calibrate_rounds(100);
	if ((err = reel_procpool_create(&pool, WORKERS, 64)) < 0)
		return err;
	pio = (struct proc_arg){ pool, proc_io };
	pcpu = (struct proc_arg){ pool, proc_cpu };
	printf("%d I/O-bound jobs (%d ms wait each), %ld CPUs      time  speed-up\n", JOBS,
	       WAIT_MS, sysconf(_SC_NPROCESSORS_ONLN));
	serial = run_serial(io_job_fiber);
	row("serial", serial, serial);
	row("fibers (reel_gather)", run_fibers(io_job_fiber, NULL), serial);
	row("one pthread per job", run_pthreads(io_job_blocking), serial);
	row("thread pool (reel_to_thread)", run_fibers(to_thread_job, io_job_blocking), serial);
	row("4 worker processes (reel_procpool)", run_fibers(proc_call, &pio), serial);

	printf("%d CPU-bound jobs (~100 ms of hashing each)\n", JOBS);
	serial = run_serial(cpu_job);
	row("serial", serial, serial);
	row("fibers (reel_gather)", run_fibers(cpu_job, NULL), serial);
	row("one pthread per job", run_pthreads(cpu_job), serial);
	row("thread pool (reel_to_thread)", run_fibers(to_thread_job, cpu_job), serial);
	row("4 worker processes (reel_procpool)", run_fibers(proc_call, &pcpu), serial);
	reel_procpool_destroy(pool);
	printf("waiting: fibers overlap every wait for almost nothing; computing: only more "
	       "cores help,\nso use a thread or process pool, and offload from fibers when "
	       "a program does both\n");
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
