/*
 * await_blocks_fiber - waiting parks only the waiting fiber; a blocking
 * system call freezes the whole loop.
 *
 * A ticker fiber prints every 100 ms. Another fiber waits for a message
 * that a helper thread writes into a pipe after 500 ms.
 *  - With reel_read (the "await"), the reader's fiber parks and the loop
 *    keeps running the ticker: ticks continue during the wait.
 *  - With plain read(2), the reader blocks the thread, and the thread is
 *    the loop: no tick for 500 ms. This is the classic asyncio mistake of
 *    calling time.sleep() or requests.get() inside a coroutine.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "reel_io.h"

struct round {
	int fds[2];
	bool blocking;
	bool done;
	uint64_t t0;
	unsigned ticks_during_wait;
};

static void *writer_thread(void *arg)
{
	struct round *r = arg;

	usleep(500 * 1000);
	if (write(r->fds[1], "hello", 5) != 5)
		perror("write");
	return NULL;
}

static int ticker(void *arg)
{
	struct round *r = arg;

	while (!r->done) {
		if (reel_sleep(MSEC(100)) < 0)
			break;
		if (!r->done) {
			r->ticks_during_wait++;
			printf("  %5.0f ms tick\n", ms_since(r->t0));
		}
	}
	return 0;
}

static int reader(void *arg)
{
	struct round *r = arg;
	char buf[16] = "";
	ssize_t n;

	n = r->blocking ? read(r->fds[0], buf, sizeof(buf) - 1)
			: reel_read(r->fds[0], buf, sizeof(buf) - 1);
	r->done = true;
	printf("  %5.0f ms got \"%.*s\" with %s\n", ms_since(r->t0), (int)(n > 0 ? n : 0),
	       buf, r->blocking ? "read(2)" : "reel_read");
	return n < 0 ? (int)n : 0;
}

static int run_round(struct round *r)
{
	reel_task t[2];
	pthread_t writer;
	int st[2], err;

	if (pipe(r->fds) < 0)
		return -1;
	r->t0 = reel_now();
	pthread_create(&writer, NULL, writer_thread, r);
	reel_spawn(&t[0], ticker, r, NULL);
	reel_spawn(&t[1], reader, r, NULL);
	err = reel_gather(t, 2, st, REEL_GATHER_ALL);
	pthread_join(writer, NULL);
	close(r->fds[0]);
	close(r->fds[1]);
	return err;
}

static int main_fiber(void *arg)
{
	struct round parked = { .blocking = false }, blocked = { .blocking = true };

	(void)arg;
	printf("reel_read: the reader's fiber parks, the loop keeps ticking\n");
	run_round(&parked);
	printf("read(2): the reader blocks the thread, and with it every fiber\n");
	run_round(&blocked);
	printf("ticks while waiting 500 ms: %u with reel_read, %u with read(2)\n",
	       parked.ticks_during_wait, blocked.ticks_during_wait);
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
