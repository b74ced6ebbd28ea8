/*
 * gather_errors - asyncio.gather with and without return_exceptions.
 *
 * Three jobs: one succeeds after 100 ms, one fails after 50 ms, one would
 * succeed after 300 ms.
 *  - reel_gather(..., 0) is asyncio's default, fail-fast: the first failure
 *    cancels the jobs still running (their cleanup runs: see the lines they
 *    print), waits for them, and is returned. It takes ~50 ms.
 *  - reel_gather(..., REEL_GATHER_ALL) is return_exceptions=True: nothing
 *    is cancelled, every job runs to its end and reports its own status. It
 *    takes ~300 ms.
 * Either way, every task has ended and been joined when gather returns.
 */
#include <errno.h>

#include "example.h"

struct job {
	const char *name;
	unsigned ms;
	int result;
};

static int run_job(void *arg)
{
	const struct job *j = arg;
	int err = reel_sleep(MSEC(j->ms));

	if (err) {
		printf("    %s: cancelled (%s), cleaning up\n", j->name, reel_strerror(err));
		return err;
	}
	printf("    %s: finished: %s\n", j->name,
	       j->result < 0 ? reel_strerror(j->result) : "ok");
	return j->result;
}

static int round_of(const struct job *jobs, unsigned flags)
{
	reel_task t[3];
	int st[3], err;
	uint64_t t0 = reel_now();

	for (int i = 0; i < 3; i++)
		if ((err = reel_spawn(&t[i], run_job, (void *)&jobs[i], NULL)) < 0)
			return err;
	err = reel_gather(t, 3, st, flags);
	printf("  gather returned %s after %.0f ms; statuses:", err ? reel_strerror(err) : "0",
	       ms_since(t0));
	for (int i = 0; i < 3; i++)
		printf(" %s=%s", jobs[i].name, st[i] < 0 ? reel_strerror(st[i]) : "ok");
	printf("\n");
	return 0;
}

static int main_fiber(void *arg)
{
	static const struct job jobs[3] = {
		{ "profile", 100, 1 },
		{ "billing", 50, -ECONNRESET },
		{ "history", 300, 3 },
	};

	(void)arg;
	printf("fail-fast (asyncio.gather default):\n");
	round_of(jobs, 0);
	printf("REEL_GATHER_ALL (return_exceptions=True):\n");
	round_of(jobs, REEL_GATHER_ALL);
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
