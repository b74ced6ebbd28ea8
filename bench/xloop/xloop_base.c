/*
 * xloop_base.c - the baselines of the cross-loop round trip: what two
 * threads pay to wake each other through the kernel (an eventfd
 * ping-pong, blocking reads), and what Go pays for a channel ping-pong
 * between two goroutines (bench/go/xloop.go, its own process).
 *
 * The busy case gives each CPU a spinning worker besides the ping-pong
 * thread, so that a wake-up has to preempt it: the kernel's share of a
 * wake-up on a CPU that has something else to do. (Go's busy case has a
 * goroutine per P calling runtime.Gosched() in a loop, the twin of reel's
 * fiber that yields in a loop.)
 */
#include "xloop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define WARMUP 100

/* ---- eventfd ping-pong ---- */

struct efd_pair {
	int to_b, to_a;         /* eventfds: A writes to_b and reads to_a */
	uint64_t rounds;        /* warm-up + timed */
	int cpu_b;
	atomic_bool stop;       /* the spinners' */
};

static int pin_self(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return -pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

/* Block until @fd has a count; -errno on failure. */
static int efd_take(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) != sizeof(v))
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int efd_give(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static void *efd_side_b(void *arg)
{
	struct efd_pair *p = arg;

	pin_self(p->cpu_b);
	for (uint64_t i = 0; i < p->rounds; i++)
		if (efd_take(p->to_b) < 0 || efd_give(p->to_a) < 0)
			break;
	return NULL;
}

struct spinner {
	pthread_t t;
	int cpu;
	atomic_bool *stop;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	volatile uint64_t n = 0;

	pin_self(s->cpu);
	while (!atomic_load_explicit(s->stop, memory_order_relaxed))
		n++;
	return NULL;
}

/* Start one spinner per CPU of @b (busy case); how many started. */
static unsigned spinners_start(const struct xloop_base *b, struct spinner *s,
			       atomic_bool *stop)
{
	unsigned n = 0;

	if (!b->busy)
		return 0;
	for (unsigned i = 0; i < 2; i++) {
		s[n] = (struct spinner){ .cpu = b->cpus[i], .stop = stop };
		if (pthread_create(&s[n].t, NULL, spin, &s[n]) == 0)
			n++;
	}
	return n;
}

static void spinners_stop(struct spinner *s, unsigned n, atomic_bool *stop)
{
	atomic_store(stop, true);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s[i].t, NULL);
}

int xloop_eventfd(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	const struct xloop_base *b = ctx;
	struct efd_pair p = { .rounds = WARMUP + iters, .cpu_b = b->cpus[1] };
	struct spinner sp[2];
	cpu_set_t saved;
	pthread_t tb;
	unsigned nsp;
	uint64_t t0 = 0;
	int err = 0;

	p.to_b = eventfd(0, EFD_CLOEXEC);
	p.to_a = eventfd(0, EFD_CLOEXEC);
	if (p.to_b < 0 || p.to_a < 0) {
		err = bench_fail(XLOOP_NAME, -errno, "eventfd");
		goto close_fds;
	}
	pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
	pin_self(b->cpus[0]);
	nsp = spinners_start(b, sp, &p.stop);
	if ((err = -pthread_create(&tb, NULL, efd_side_b, &p)) < 0) {
		bench_fail(XLOOP_NAME, err, "pthread_create");
		goto stop;
	}
	for (uint64_t i = 0; i < p.rounds && !err; i++) {
		if (i == WARMUP)
			t0 = bench_now_ns();
		if ((err = efd_give(p.to_b)) == 0)
			err = efd_take(p.to_a);
	}
	*elapsed_ns = bench_now_ns() - t0;
	pthread_join(tb, NULL);
	if (err)
		bench_fail(XLOOP_NAME, err, "eventfd ping-pong");
stop:
	spinners_stop(sp, nsp, &p.stop);
	pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
close_fds:
	if (p.to_b >= 0)
		close(p.to_b);
	if (p.to_a >= 0)
		close(p.to_a);
	return err;
}

/* ---- the Go twin ---- */

int xloop_go_locate(char *bin, size_t len, char *why, size_t whylen)
{
	char dir[PATH_MAX - 16];

	why[0] = '\0';
	if (bench_exe_dir(dir, sizeof(dir)) == 0) {
		snprintf(bin, len, "%s/xloop_go", dir);
		if (access(bin, X_OK) == 0)
			return 0;
	}
	snprintf(why, whylen, "xloop_go was not built (go not installed: "
		 "tools/setup.sh --test)");
	return -ENOENT;
}

int xloop_go(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	const struct xloop_base *b = ctx;
	struct bench_proc p;
	char n[32], c0[16], c1[16];
	char *argv[] = { (char *)b->go_bin, (char *)b->go_mode, n,
			 b->go_pinned ? c0 : NULL, c1, NULL };
	unsigned long long ns = 0;
	const char *line;
	int err, wstatus;

	snprintf(n, sizeof(n), "%llu", (unsigned long long)iters);
	snprintf(c0, sizeof(c0), "%d", b->cpus[0]);
	snprintf(c1, sizeof(c1), "%d", b->cpus[1]);
	setenv("GOMAXPROCS", "2", 1);
	err = bench_child_start(&p, argv, -1, 0);
	unsetenv("GOMAXPROCS");
	if (err < 0)
		return bench_fail(XLOOP_NAME, err, "starting %s", b->go_bin);
	bench_child = p.pid;
	line = bench_child_line(&p, bench_now_ns() + 60 * 1000000000ull, &err);
	if (!line || sscanf(line, "ok %llu", &ns) != 1) {
		err = bench_fail(XLOOP_NAME, line ? -EPROTO : err, "xloop_go %s: %s",
				 b->go_mode, line ? line : "no answer");
		bench_child_kill(&p);
		bench_child = 0;
		return err;
	}
	err = bench_child_wait(&p, 10 * 1000000000ull, &wstatus);
	if (err < 0)
		bench_child_kill(&p);
	else
		bench_child_release(&p);
	bench_child = 0;
	*elapsed_ns = ns;
	return 0;
}
