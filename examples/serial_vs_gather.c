/*
 * serial_vs_gather - three 1-second jobs: 3 s one after another, 1 s with
 * gather.
 *
 * Each job waits one second (a stand-in for an API call or a database
 * query: time spent waiting, not computing). Run serially, the waits add
 * up. Spawned as three tasks and gathered (asyncio.gather), the waits
 * overlap: the loop parks all three fibers and wakes each when its time
 * comes, so the total is the longest job, not the sum.
 */
#include "example.h"

static int job(void *arg)
{
	int id = (int)(intptr_t)arg;
	int err = reel_sleep(MSEC(1000));       /* await asyncio.sleep(1) */

	return err ? err : id * 10;
}

static int main_fiber(void *arg)
{
	reel_task t[3];
	int statuses[3], err;
	uint64_t t0 = reel_now();
	double serial, gathered;

	(void)arg;
	for (int i = 1; i <= 3; i++)
		if ((err = job((void *)(intptr_t)i)) < 0)
			return err;
	serial = ms_since(t0);
	printf("serial: 3 jobs took %.2f s\n", serial / 1e3);

	t0 = reel_now();
	for (int i = 0; i < 3; i++)
		if ((err = reel_spawn(&t[i], job, (void *)(intptr_t)(i + 1), NULL)) < 0)
			return err;
	err = reel_gather(t, 3, statuses, 0);
	gathered = ms_since(t0);
	if (err < 0)
		return err;
	printf("gather: 3 jobs took %.2f s, results %d %d %d\n", gathered / 1e3,
	       statuses[0], statuses[1], statuses[2]);
	printf("speed-up %.1fx: waiting overlaps, so async pays off for I/O-bound work\n",
	       serial / gathered);
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
