/*
 * event_loop - the event loop (asyncio.run).
 *
 * reel_run starts a loop on this thread and runs main_fiber as its first
 * fiber. The loop is one thread doing one thing at a time: it runs the fiber
 * that is ready until it parks (here, in reel_sleep), then the next ready
 * one. When none is ready, the loop waits in the kernel (io_uring_enter)
 * until the nearest timer or I/O completion - it does not spin: the process
 * uses almost no CPU while its fibers sleep, which the end of the run shows.
 */
#include <sys/resource.h>

#include "example.h"

struct ticker {
	const char *name;
	unsigned every_ms, times;
	uint64_t t0;
};

/* A fiber: print a line every @every_ms milliseconds, @times times. */
static int tick(void *arg)
{
	const struct ticker *t = arg;

	for (unsigned i = 1; i <= t->times; i++) {
		int err = reel_sleep(MSEC(t->every_ms));

		if (err)
			return err;
		printf("%7.1f ms  %s tick %u\n", ms_since(t->t0), t->name, i);
	}
	return 0;
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int main_fiber(void *arg)
{
	uint64_t t0 = reel_now();
	struct ticker t[3] = {
		{ "fast  (100 ms)", 100, 6, t0 },
		{ "medium(150 ms)", 150, 4, t0 },
		{ "slow  (300 ms)", 300, 2, t0 },
	};
	reel_task task[3];
	double cpu0 = cpu_ms();
	int status, err;

	(void)arg;
	printf("one thread, one loop, three fibers taking turns:\n");
	for (int i = 0; i < 3; i++)
		if ((err = reel_spawn(&task[i], tick, &t[i], NULL)) < 0)
			return err;
	for (int i = 0; i < 3; i++)
		if ((err = reel_join(task[i], &status)) < 0 || status < 0)
			return err < 0 ? err : status;
	printf("wall time %.0f ms (the longest fiber's 600 ms, not the sum of 1800 ms)\n",
	       ms_since(t0));
	printf("CPU time  %.1f ms: while every fiber sleeps, the loop waits in the kernel\n",
	       cpu_ms() - cpu0);
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
