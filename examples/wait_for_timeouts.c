/*
 * wait_for_timeouts - asyncio.wait_for and asyncio.timeout.
 *
 * reel_wait_for(timeout, fn, arg, &status) runs fn under a deadline. When
 * the deadline passes, fn's parking calls return -ETIMEDOUT from then on;
 * reel_wait_for waits until fn has actually returned (its cleanup ran, its
 * partial results are in arg) and returns -ETIMEDOUT. Deadlines nest, and
 * an inner one never extends an outer one: the nearest wins.
 *
 * The same without a function: a scope around a block (async with
 * asyncio.timeout(t)), and scopes nested to give each chunk its own
 * timeout inside an overall deadline - an AI chat's per-token timeout.
 */
#include <errno.h>

#include "example.h"

struct download {
	unsigned chunks_wanted;
	unsigned chunks_got;    /* partial progress survives a timeout */
};

/* Fetch chunks, 100 ms each. */
static int download(void *arg)
{
	struct download *d = arg;
	int err;

	while (d->chunks_got < d->chunks_wanted) {
		if ((err = reel_sleep(MSEC(100))) < 0)
			return err;
		d->chunks_got++;
	}
	return (int)d->chunks_got;
}

/* A 1 s deadline of its own, inside whatever the caller set. */
static int inner_generous(void *arg)
{
	int status;

	return reel_wait_for(MSEC(1000), download, arg, &status);
}

/* A stream whose chunks take 100, 100, 100 ms, then 400 ms each. */
static int next_chunk(unsigned i)
{
	return reel_sleep(MSEC(i < 3 ? 100 : 400));
}

static int scopes(void)
{
	struct reel_scope overall, chunk;
	unsigned got = 0;
	uint64_t t0 = reel_now();

	REEL_TIMEOUT(&overall, MSEC(350)) {          /* async with timeout(0.35): */
		while (reel_sleep(MSEC(100)) == 0)
			got++;
	}
	printf("a block under 350 ms:    %s after %3.0f ms, %u chunks kept\n",
	       reel_scope_expired(&overall) ? "timed out" : "done", ms_since(t0), got);

	got = 0;
	t0 = reel_now();
	REEL_TIMEOUT(&overall, MSEC(2000)) {          /* the whole answer: 2 s */
		for (;;) {
			int r = 0;

			REEL_TIMEOUT(&chunk, MSEC(150))       /* each chunk: 150 ms */
				r = next_chunk(got);
			if (r < 0)
				break;
			got++;
		}
	}
	printf("150 ms a chunk, 2 s all: %s after %3.0f ms, %u chunks: the chunk "
	       "deadline won\n", reel_scope_expired(&chunk) ? "timed out" : "done",
	       ms_since(t0), got);
	if (!reel_scope_expired(&chunk) || reel_scope_expired(&overall) || got != 3)
		return -EPROTO;
	return 0;
}

static int main_fiber(void *arg)
{
	struct download fast = { .chunks_wanted = 2 }, slow = { .chunks_wanted = 10 };
	struct download nested = { .chunks_wanted = 10 };
	uint64_t t0 = reel_now();
	int r, status;

	(void)arg;
	r = reel_wait_for(MSEC(500), download, &fast, &status);
	printf("2 chunks under 500 ms:   %s after %3.0f ms, status %d\n",
	       r ? reel_strerror(r) : "done", ms_since(t0), status);

	t0 = reel_now();
	r = reel_wait_for(MSEC(350), download, &slow, &status);
	printf("10 chunks under 350 ms:  %s after %3.0f ms, %u chunks kept\n",
	       reel_strerror(r), ms_since(t0), slow.chunks_got);

	t0 = reel_now();
	r = reel_wait_for(MSEC(250), inner_generous, &nested, &status);
	printf("1 s inside 250 ms:       %s after %3.0f ms, %u chunks: the outer "
	       "deadline won\n", reel_strerror(r), ms_since(t0), nested.chunks_got);
	if (r != -ETIMEDOUT)
		return -EPROTO;
	return scopes();
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
