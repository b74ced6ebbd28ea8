/*
 * xloop.h - what the parts of the cross-loop benchmark share: its reel
 * cases (xloop.c) and its baselines (xloop_base.c: an eventfd ping-pong
 * between two threads, the Go twin bench/go/xloop.go). Each case is a
 * bench_fn: @iters round trips (or messages), their wall time out.
 */
#ifndef REEL_BENCH_XLOOP_H
#define REEL_BENCH_XLOOP_H

#include "bench.h"

#define XLOOP_NAME "xloop"

/* One baseline case: the two CPUs it pins to and whether each also has a
 * spinning worker (the busy case). */
struct xloop_base {
	int cpus[2];
	bool busy;
	const char *go_bin;     /* xloop_go (Go twin cases) */
	const char *go_mode;    /* "idle", "busy", "stream" */
	bool go_pinned;         /* the ping-pong goroutines locked to threads on cpus[] */
};

/* The eventfd ping-pong: thread A on cpus[0] writes 1 to B's eventfd and
 * blocks reading its own; B on cpus[1] answers the same way. */
int xloop_eventfd(void *ctx, uint64_t iters, uint64_t *elapsed_ns);

/* The Go twin, run as "xloop_go MODE N [CPU0 CPU1]" with GOMAXPROCS=2 on
 * both CPUs. */
int xloop_go(void *ctx, uint64_t iters, uint64_t *elapsed_ns);

/* The Go twin's path next to reel-bench into @bin, 0; -ENOENT and why. */
int xloop_go_locate(char *bin, size_t len, char *why, size_t whylen);

#endif /* REEL_BENCH_XLOOP_H */
