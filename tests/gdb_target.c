/*
 * gdb_target - Description: a reel program for tests/check_gdb.sh: main
 * spawns named fibers that park in different ways (a sleep, a channel
 * receive, a join, a lock, a pipe read), lets each run up to its park, and
 * calls gdb_target_ready() - where gdb stops it, lists its fibers
 * (`reel fibers`), walks one's stack (`reel bt`) and writes a core file
 * (gcore) for a second look. Then it wakes them all and ends cleanly, so
 * it also runs to a clean exit without gdb. With the argument "abort" it
 * aborts right there instead: the kernel's core dump, for the same look.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reel.h"
#include "reel_io.h"
#include "reel_sync.h"

static struct reel_chan chan;
static struct reel_mutex lock;
static int pipe_fds[2];
static reel_task sleeper_task;
static bool abort_when_ready;

/* gdb's breakpoint: every fiber but main is parked when this is called. */
__attribute__((noinline)) void gdb_target_ready(void);
__attribute__((noinline)) void gdb_target_ready(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Not a tail call: `reel bt` must find nap's frame above reel_sleep's. */
static __attribute__((noinline)) int nap(uint64_t ns)
{
	int r = reel_sleep(ns);

	return r == -ECANCELED ? 0 : r;
}

static int sleeper(void *arg)
{
	(void)arg;
	return nap(60ull * 1000 * 1000 * 1000);
}

static int receiver(void *arg)
{
	int v = 0;

	(void)arg;
	return reel_chan_recv(&chan, &v) == 0 && v == 42 ? 0 : 1;
}

static int joiner(void *arg)
{
	int status = -1;

	(void)arg;
	return reel_join(sleeper_task, &status) == 0 && status == 0 ? 0 : 1;
}

static int locker(void *arg)
{
	(void)arg;
	if (reel_mutex_lock(&lock) != 0)
		return 1;
	reel_mutex_unlock(&lock);
	return 0;
}

static int reader(void *arg)
{
	char c;

	(void)arg;
	return reel_read(pipe_fds[0], &c, 1) == 1 ? 0 : 1;
}

static int main_fiber(void *arg)
{
	static const struct { const char *name; reel_fn fn; } kinds[] = {
		{ "sleeper", sleeper }, { "receiver", receiver }, { "joiner", joiner },
		{ "locker", locker }, { "reader", reader },
	};
	reel_task t[5];
	int v = 42, bad = 0;

	(void)arg;
	reel_mutex_lock(&lock);
	for (int i = 0; i < 5; i++) {
		struct reel_spawn_opts o = { .name = kinds[i].name };

		if (reel_spawn(&t[i], kinds[i].fn, NULL, &o) != 0)
			return 1;
		if (i == 0)
			sleeper_task = t[0];
	}
	for (int i = 0; i < 3; i++)
		reel_yield();   /* each runs up to its park; the read is submitted */
	gdb_target_ready();
	if (abort_when_ready)
		abort();
	/* Wake them all: the lock, the channel, the pipe; cancel the sleep. */
	reel_mutex_unlock(&lock);
	reel_chan_send(&chan, &v);
	if (write(pipe_fds[1], "x", 1) != 1)
		return 1;
	reel_cancel(sleeper_task);
	for (int i = 1; i < 5; i++) {
		int status = -1;

		if (reel_join(t[i], &status) != 0 || status != 0)
			bad++;
	}
	return bad;
}

int main(int argc, char **argv)
{
	int status = -1, err;

	abort_when_ready = argc > 1 && strcmp(argv[1], "abort") == 0;
	if (pipe(pipe_fds) != 0 || reel_chan_init(&chan, sizeof(int), 0) != 0 ||
	    reel_mutex_init(&lock) != 0)
		return 1;
	err = reel_run(main_fiber, NULL, NULL, &status);
	reel_chan_destroy(&chan);
	if (err || status) {
		fprintf(stderr, "gdb_target: reel_run %d, status %d\n", err, status);
		return 1;
	}
	puts("gdb_target: clean exit");
	return 0;
}
