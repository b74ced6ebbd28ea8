/*
 * async_not_parallel - CPU work blocks the loop; offloading it fixes that.
 *
 * Fibers take turns on one thread: a fiber that computes without parking
 * keeps every other fiber waiting. A ticker fiber, due every 50 ms, shows
 * it: while a 500 ms hash runs inline, the ticker's longest gap is ~500 ms.
 * reel_to_thread (asyncio.to_thread) runs the same hash on a pool thread:
 * the calling fiber parks, the loop keeps ticking (gap ~50 ms).
 *
 * Async is also not parallel: two hashes gathered as fibers take twice as
 * long as one, because they share one thread. Offloaded, they run on two
 * cores at once (on a machine that has two).
 */
#include <stdbool.h>

#include "cpu_work.h"
#include "example.h"
#include "reel_offload.h"

struct ticker {
	bool stop;
	uint64_t last, max_gap;
};

static int tick(void *arg)
{
	struct ticker *t = arg;

	t->last = reel_now();
	while (!t->stop && reel_sleep(MSEC(50)) == 0) {
		uint64_t now = reel_now();

		if (now - t->last > t->max_gap)
			t->max_gap = now - t->last;
		t->last = now;
	}
	return 0;
}

static uint64_t rounds;
static volatile uint64_t sink;

static int hash_job(void *arg)
{
	(void)arg;
	sink = cpu_hash(reel_now(), rounds);
	return 0;
}

/* A fiber that offloads hash_job and waits for it. */
static int offloaded_hash(void *arg)
{
	int status;

	return reel_to_thread(hash_job, arg, &status);
}

/* Run @body with a ticker beside it; print the ticker's longest gap. */
static int with_ticker(const char *what, reel_fn body)
{
	struct ticker t = { .stop = false };
	reel_task tk;
	uint64_t t0;
	int err;

	if ((err = reel_spawn(&tk, tick, &t, NULL)) < 0)
		return err;
	reel_sleep(MSEC(60));                   /* the ticker is ticking */
	t.max_gap = 0;
	t0 = reel_now();
	err = body(NULL);
	reel_sleep(MSEC(1));    /* let the ticker see the gap, if any */
	printf("%-34s took %4.0f ms; ticker's longest gap %4.0f ms\n", what,
	       ms_since(t0), (double)t.max_gap / 1e6);
	t.stop = true;
	reel_join(tk, NULL);
	return err;
}

static int two_fibers(void *arg)
{
	reel_task t[2];
	int st[2];

	(void)arg;
	reel_spawn(&t[0], hash_job, NULL, NULL);
	reel_spawn(&t[1], hash_job, NULL, NULL);
	return reel_gather(t, 2, st, 0);
}

static int two_offloaded(void *arg)
{
	reel_task t[2];
	int st[2];

	(void)arg;
	reel_spawn(&t[0], offloaded_hash, NULL, NULL);
	reel_spawn(&t[1], offloaded_hash, NULL, NULL);
	return reel_gather(t, 2, st, 0);
}

static int main_fiber(void *arg)
{
	int err;

	(void)arg;
	rounds = calibrate_rounds(500);
	printf("one hash = ~500 ms of CPU; the ticker wants to run every 50 ms\n");
	if ((err = with_ticker("1 hash inline on the loop", hash_job)) < 0 ||
	    (err = with_ticker("1 hash via reel_to_thread", offloaded_hash)) < 0 ||
	    (err = with_ticker("2 hashes as 2 fibers (gather)", two_fibers)) < 0 ||
	    (err = with_ticker("2 hashes offloaded (gather)", two_offloaded)) < 0)
		return err;
	printf("inline CPU work stalls every fiber; fibers do not add cores; "
	       "the thread pool does both\n");
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
