/*
 * console_demo.c - a program for tests/check_reel_top.sh: two loops whose
 * named fibers are parked in different ways (sleep, channel, lock, event,
 * join, I/O on a pipe) or busy (yielding with work between), for reel-top
 * to show. Prints "ready" once they are all in place; ends cleanly on
 * SIGTERM (the console's socket then goes away at exit).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <reel.h>
#include <reel_io.h>
#include <reel_sync.h>

#define SEC 1000000000ull

static struct reel_chan chan;
static struct reel_mutex lock;
static struct reel_event never;
static int pipe_fd[2];
static atomic_bool stopping;

static int sleeper(void *arg)
{
	(void)arg;
	return reel_sleep(3600 * SEC);
}

static int chan_reader(void *arg)
{
	int v;

	(void)arg;
	return reel_chan_recv(&chan, &v);
}

static int lock_waiter(void *arg)
{
	(void)arg;
	return reel_mutex_lock(&lock);
}

static int event_waiter(void *arg)
{
	(void)arg;
	return reel_event_wait(&never);
}

static int pipe_reader(void *arg)
{
	char c;

	(void)arg;
	return (int)reel_read(pipe_fd[0], &c, 1);
}

static int joiner(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	reel_spawn(&t, sleeper, NULL, &(struct reel_spawn_opts){ .name = "joined sleeper" });
	return reel_join(t, &st);
}

/* Busy: a little work, then a yield, over and over. */
static int spinner(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	for (;;) {
		for (int i = 0; i < 20000; i++)
			x += (unsigned long)i;
		if (reel_yield() < 0)
			return x ? 0 : 0;   /* x read: clang's -Wunused-but-set-variable */
	}
}

static int other_main(void *arg)
{
	reel_task t;

	(void)arg;
	reel_spawn(&t, sleeper, NULL, &(struct reel_spawn_opts){ .name = "other-loop sleeper" });
	reel_detach(t);
	while (!atomic_load(&stopping))
		reel_sleep(SEC / 20);
	return 0;
}

static void *other_thread(void *arg)
{
	(void)arg;
	reel_run(other_main, NULL, NULL, NULL);
	return NULL;
}

static int spawn_named(reel_fn fn, const char *name)
{
	reel_task t;
	int r = reel_spawn(&t, fn, NULL, &(struct reel_spawn_opts){ .name = name });

	if (r == 0)
		reel_detach(t);
	return r;
}

static int app(void *arg)
{
	sigset_t term;

	(void)arg;
	reel_chan_init(&chan, sizeof(int), 1);
	reel_mutex_init(&lock);
	reel_mutex_lock(&lock);          /* held by main: lock-waiter parks */
	reel_event_init(&never);
	spawn_named(sleeper, "sleeper");
	spawn_named(chan_reader, "chan-reader");
	spawn_named(lock_waiter, "lock-waiter");
	spawn_named(event_waiter, "event-waiter");
	spawn_named(pipe_reader, "pipe-reader");
	spawn_named(joiner, "joiner");
	spawn_named(spinner, "spinner");
	reel_sleep(SEC / 10);
	printf("ready\n");
	fflush(stdout);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	reel_signal_wait(&term, NULL);
	reel_mutex_unlock(&lock);
	reel_chan_close(&chan);
	return 0;
}

int main(void)
{
	sigset_t term;
	pthread_t other;
	int st = 1;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);   /* for the main loop alone */
	if (pipe(pipe_fd) < 0 || pthread_create(&other, NULL, other_thread, NULL))
		return 1;
	if (reel_run(app, NULL, NULL, &st) < 0)
		st = 1;
	atomic_store(&stopping, true);
	pthread_join(other, NULL);
	reel_chan_destroy(&chan);
	return st;
}
