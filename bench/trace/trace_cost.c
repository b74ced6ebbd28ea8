/*
 * trace_cost - one measurement of what the run-time trace costs, printed as
 * one number; built twice (bench/bench.cmake): as trace_cost against
 * libreel with its trace path compiled in, and as trace_cost_bare against a
 * copy built with REEL_NO_TRACE (no trace point at all, no USDT). reel-bench
 * (bench/trace/trace.c) runs the two in turn and compares them.
 *
 * Usage: trace_cost yield N          ns per yield round trip (A->B->A)
 *        trace_cost echo N [FILE]    CPU ns per message of an echo
 *                                    ping-pong over a socketpair in one
 *                                    loop; with FILE, traced into it
 *        trace_cost rate FILE        trace ~100k events/s for 2 s; prints
 *                                    the events recorded and dropped
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reel.h"

static uint64_t iters;

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static int yielder(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < iters; i++)
		reel_yield();
	return 0;
}

static int yield_main(void *arg)
{
	reel_task t;
	uint64_t t0;

	(void)arg;
	reel_spawn(&t, yielder, NULL, NULL);
	t0 = reel_now();
	for (uint64_t i = 0; i < iters; i++)
		reel_yield();
	printf("%.3f\n", (double)(reel_now() - t0) / (double)iters);
	return reel_join(t, NULL);
}

static int echo_side(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];

	for (uint64_t i = 0; i < iters; i++) {
		if (reel_recv(fd, buf, sizeof(buf), 0) <= 0 || reel_send(fd, buf, 32, 0) != 32)
			return -EIO;
	}
	return 0;
}

static int echo_main(void *arg)
{
	const char *file = arg;
	char msg[32] = "ping", buf[64];
	int sv[2];
	reel_task t;
	uint64_t c0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (file && reel_trace_start(file) < 0)
		return -EIO;
	reel_spawn(&t, echo_side, (void *)(intptr_t)sv[1], NULL);
	c0 = cpu_ns();
	for (uint64_t i = 0; i < iters; i++) {
		if (reel_send(sv[0], msg, sizeof(msg), 0) != sizeof(msg) ||
		    reel_recv(sv[0], buf, sizeof(buf), 0) <= 0)
			return -EIO;
	}
	printf("%.1f\n", (double)(cpu_ns() - c0) / (double)iters);
	reel_join(t, NULL);
	if (file)
		reel_trace_stop();
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* About 100k events a second: a fiber that sleeps 100 us and does a NOP
 * (spawn-free steady state: park, timer, wake, switch, submit, complete). */
static int rate_main(void *arg)
{
	struct reel_trace_stats st;
	uint64_t until;

	if (reel_trace_start(arg) < 0)
		return -EIO;
	until = reel_now() + 2000000000ull;
	while (reel_now() < until) {
		reel_sleep(100000);
		reel_nop();
	}
	reel_trace_stop();
	reel_trace_stats(&st);
	printf("%llu %llu\n", (unsigned long long)st.events, (unsigned long long)st.dropped);
	return 0;
}

int main(int argc, char **argv)
{
	int status = 0, err;

	if (argc < 3)
		goto usage;
	iters = strtoull(argv[2], NULL, 10);
	if (strcmp(argv[1], "yield") == 0)
		err = reel_run(yield_main, NULL, NULL, &status);
	else if (strcmp(argv[1], "echo") == 0)
		err = reel_run(echo_main, argc > 3 ? argv[3] : NULL, NULL, &status);
	else if (strcmp(argv[1], "rate") == 0)
		err = reel_run(rate_main, argv[2], NULL, &status);
	else
		goto usage;
	return err || status ? 1 : 0;
usage:
	fprintf(stderr, "usage: trace_cost yield N | echo N [FILE] | rate FILE\n");
	return 2;
}
