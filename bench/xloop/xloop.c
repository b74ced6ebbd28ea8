/*
 * xloop.c - what a message between two loops costs (reel-bench --only
 * xloop): a runtime of two loops pinned to two CPUs (api/reel_rt.h).
 *
 * Round trip: a fiber on loop 0 asks loop 1 and waits for the answer,
 *   - as reel_loop_call of an empty function (a task on loop 1, joined),
 *   - as a reel_xchan ping-pong (loop 1's fiber receives a value on one
 *     channel and sends it back on another),
 * beside (same run, repetitions interleaved):
 *   - Go: two goroutines ping-ponging over unbuffered channels with
 *     GOMAXPROCS=2 (bench/go/xloop.go, its own process). Go's scheduler
 *     may run both on one P, and does, so this is mostly a goroutine
 *     switch on one thread; hence also
 *   - Go pinned: the two goroutines locked to threads pinned to the two
 *     CPUs, so every message crosses cores as between reel's loops;
 *   - eventfd: two threads pinned to the two CPUs, blocking reads.
 * Idle case: nothing else to do, so between messages the other side
 * sleeps in the kernel and every message is a wake-up through it (on this
 * VM ~100 us). Busy case: each loop also runs a fiber that yields in a
 * loop (each eventfd CPU a spinning thread; each Go P a goroutine calling
 * Gosched), so nobody sleeps. Each reel case runs with poll_ns = 0 and 50
 * us: a loop about to sleep first polls its inbox that long, which is what
 * a brief poll buys when the answer comes quickly.
 *
 * One-way throughput: a fiber on loop 0 sends N 8-byte messages through a
 * reel_xchan of 1024 slots to a fiber on loop 1, in batches of 64
 * (send_many / recv_many) and one by one; the baseline is Go's buffered
 * channel (256 slots) between two goroutines. Goal: >= 5M messages/s
 * batched (<= 200 ns a message).
 *
 * Quick mode runs the round trips with poll 0 and 50 us but not the
 * single-send throughput; a repetition is cfg->target_ns of round trips.
 */
#include "xloop.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reel_rt.h"

#define WARMUP 100
#define POLL_NS 50000           /* the "brief poll" */
#define TPUT_CAP 1024           /* channel slots, throughput */
#define TPUT_BATCH 64

enum xkind { X_CALL, X_XCHAN, X_STREAM_BATCH, X_STREAM_ONE };

/* One reel case; every loop of its runtime runs xloop_main on it. */
struct xcase {
	enum xkind kind;
	bool busy;
	uint64_t poll_ns;
	int cpus[2];
	/* per measurement */
	uint64_t iters;
	uint64_t elapsed_ns;
	uint64_t t0_ns;         /* throughput: the first send (loop 0 writes it) */
	struct reel_xchan ping, pong;
	atomic_bool stop;       /* the busy fibers' */
	int err;                /* the first failure, for the report */
};

static int empty(void *arg)
{
	(void)arg;
	return 0;
}

/* The busy fiber: a loop with other work, never asleep. */
static int spin(void *arg)
{
	struct xcase *x = arg;
	int err = 0;

	while (!atomic_load_explicit(&x->stop, memory_order_relaxed) && err == 0)
		err = reel_yield();
	return err == -ECANCELED ? 0 : err;
}

/* Loop 0: one round trip of @x's kind. */
static int round_trip(struct xcase *x, uint64_t v)
{
	int err, st;

	if (x->kind == X_CALL) {
		err = reel_loop_call(1, empty, NULL, &st);
		return err < 0 ? err : st;
	}
	if ((err = reel_xchan_send(&x->ping, &v)) < 0)
		return err;
	return reel_xchan_recv(&x->pong, &v);
}

/* Loop 1 of the ping-pong: send back what comes, until ping closes. */
static int echo(struct xcase *x)
{
	uint64_t v;
	int err;

	while ((err = reel_xchan_recv(&x->ping, &v)) == 0)
		if ((err = reel_xchan_send(&x->pong, &v)) < 0)
			return err;
	return err == -EPIPE ? 0 : err;
}

static int asker(struct xcase *x)
{
	uint64_t t0 = 0;
	int err = 0;

	for (uint64_t i = 0; i < WARMUP + x->iters && !err; i++) {
		if (i == WARMUP)
			t0 = bench_now_ns();
		err = round_trip(x, i);
	}
	x->elapsed_ns = bench_now_ns() - t0;
	return err;
}

/* Throughput, loop 0: @x->iters messages, batched or one by one. */
static int sender(struct xcase *x)
{
	uint64_t buf[TPUT_BATCH], sent = 0;
	long n;

	x->t0_ns = bench_now_ns();   /* read by loop 1 after the last message */
	while (sent < x->iters) {
		size_t want = x->iters - sent < TPUT_BATCH ? x->iters - sent : TPUT_BATCH;

		for (size_t i = 0; i < want; i++)
			buf[i] = sent + i;
		if (x->kind == X_STREAM_ONE)
			n = reel_xchan_send(&x->ping, buf) == 0 ? 1 : -EPIPE;
		else
			n = reel_xchan_send_many(&x->ping, buf, want);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		sent += (uint64_t)n;
	}
	return reel_xchan_close(&x->ping);
}

/* Throughput, loop 1: receive until the end of stream, check the order. */
static int receiver(struct xcase *x)
{
	uint64_t buf[TPUT_BATCH], next = 0;
	long n;

	for (;;) {
		if (x->kind == X_STREAM_ONE)
			n = reel_xchan_recv(&x->ping, buf) == 0 ? 1 : -EPIPE;
		else
			n = reel_xchan_recv_many(&x->ping, buf, TPUT_BATCH);
		if (n == -EPIPE)
			break;
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		for (long i = 0; i < n; i++)
			if (buf[i] != next++)
				return -EPROTO;   /* lost, doubled or reordered */
	}
	x->elapsed_ns = bench_now_ns() - x->t0_ns;
	return next == x->iters ? 0 : -EPROTO;
}

static int loop0(struct xcase *x)
{
	int err;

	if (x->kind == X_CALL || x->kind == X_XCHAN) {
		err = asker(x);
		if (x->kind == X_XCHAN)
			reel_xchan_close(&x->ping);
		return err;
	}
	return sender(x);
}

static int loop1(struct xcase *x)
{
	if (x->kind == X_CALL)
		return 0;       /* loop 1 serves the calls after its main returns */
	if (x->kind == X_XCHAN)
		return echo(x);
	return receiver(x);
}

static int xloop_main(void *arg)
{
	struct xcase *x = arg;
	int idx = reel_rt_index(), err, st = 0;
	reel_task busy;

	if (x->busy && (err = reel_spawn(&busy, spin, x, NULL)) < 0)
		return err;
	err = idx == 0 ? loop0(x) : idx == 1 ? loop1(x) : 0;
	if (idx == 0)
		atomic_store(&x->stop, true);
	if (x->busy) {
		reel_join(busy, &st);
		if (!err)
			err = st;
	}
	return err;
}

static int run_reel(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	struct xcase *x = ctx;
	struct reel_rt_opts o = { .loops = 2, .cpus = x->cpus, .poll_ns = x->poll_ns,
				  .flags = REEL_RT_NO_SIGNALS };
	int st[2] = { 0, 0 }, err;
	bool stream = x->kind == X_STREAM_BATCH || x->kind == X_STREAM_ONE;

	x->iters = iters;
	atomic_store(&x->stop, false);
	if ((err = reel_xchan_init(&x->ping, sizeof(uint64_t), stream ? TPUT_CAP : 1)) < 0)
		return bench_fail(XLOOP_NAME, err, "reel_xchan_init");
	if ((err = reel_xchan_init(&x->pong, sizeof(uint64_t), 1)) < 0) {
		reel_xchan_destroy(&x->ping);
		return bench_fail(XLOOP_NAME, err, "reel_xchan_init");
	}
	err = reel_rt_run(xloop_main, x, &o, st, 2);
	reel_xchan_destroy(&x->ping);
	reel_xchan_destroy(&x->pong);
	if (err < 0)
		return bench_fail(XLOOP_NAME, err, "reel_rt_run");
	if (st[0] < 0 || st[1] < 0)
		return bench_fail(XLOOP_NAME, st[0] < 0 ? st[0] : st[1], "loop %d",
				  st[0] < 0 ? 0 : 1);
	*elapsed_ns = x->elapsed_ns;
	return 0;
}

/* ---- rows ---- */

static const char *const kind_names[] = { "loop_call", "xchan ping-pong" };

/* Round trips: reel's four cases per mode beside eventfd and Go. */
static int round_trips(const struct bench_cfg *cfg, const int cpus[2], const char *go_bin)
{
	static struct xcase xc[2][2][2];       /* [busy][kind][poll] */
	struct xloop_base base[2], gob[2], gop[2];
	struct bench_case cases[14];
	struct bench_series out[14];
	char name[128];
	unsigned n = 0;
	int err;

	for (unsigned busy = 0; busy < 2; busy++) {
		unsigned first = n;

		for (unsigned k = 0; k < 2; k++) {
			for (unsigned p = 0; p < 2; p++) {
				struct xcase *x = &xc[busy][k][p];

				*x = (struct xcase){ .kind = k ? X_XCHAN : X_CALL, .busy = busy,
						     .poll_ns = p ? POLL_NS : 0,
						     .cpus = { cpus[0], cpus[1] } };
				cases[n++] = (struct bench_case){ .name = "reel", .fn = run_reel,
								  .ctx = x };
			}
		}
		base[busy] = (struct xloop_base){ .cpus = { cpus[0], cpus[1] }, .busy = busy };
		cases[n++] = (struct bench_case){ .name = "eventfd", .fn = xloop_eventfd,
						  .ctx = &base[busy] };
		gob[busy] = base[busy];
		gob[busy].go_bin = go_bin;
		gob[busy].go_mode = busy ? "busy" : "idle";
		gop[busy] = gob[busy];
		gop[busy].go_pinned = true;
		if (go_bin) {
			cases[n++] = (struct bench_case){ .name = "go", .fn = xloop_go,
							  .ctx = &gob[busy] };
			cases[n++] = (struct bench_case){ .name = "go pinned", .fn = xloop_go,
							  .ctx = &gop[busy] };
		}
		if ((err = bench_measure(cfg, cases + first, n - first, out + first)) < 0)
			return err;
		for (unsigned i = 0; i < 4; i++) {
			unsigned k = i / 2, p = i % 2;

			if (go_bin) {
				snprintf(name, sizeof(name), "round trip %s, %s, poll %s",
					 busy ? "busy" : "idle", kind_names[k], p ? "50us" : "0");
				bench_report(XLOOP_NAME, &(struct bench_row){
					.name = name, .unit = "ns", .reel = &out[first + i],
					.base_name = busy ? "Go chan ping-pong (busy Ps)" :
							    "Go chan ping-pong, GOMAXPROCS=2",
					.base = &out[first + 5], .goal = BENCH_RATIO_LE,
					.goal_value = 1.0 });
				bench_report(XLOOP_NAME, &(struct bench_row){
					.name = name, .unit = "ns", .reel = &out[first + i],
					.base_name = busy ? "Go pinned to 2 CPUs (busy Ps)" :
							    "Go, goroutines pinned to 2 CPUs",
					.base = &out[first + 6], .goal = BENCH_RATIO_LE,
					.goal_value = 1.0 });
			}
			snprintf(name, sizeof(name), "round trip %s, %s, poll %s",
				 busy ? "busy" : "idle", kind_names[k], p ? "50us" : "0");
			bench_report(XLOOP_NAME, &(struct bench_row){
				.name = name, .unit = "ns", .reel = &out[first + i],
				.base_name = busy ? "eventfd ping-pong (spinning CPUs)" :
						    "eventfd ping-pong, 2 threads",
				.base = &out[first + 4], .goal = BENCH_RATIO_LE,
				.goal_value = 1.0 });
		}
	}
	return 0;
}

/* One-way throughput: batched (goal) and one by one, beside Go. */
static int throughput(const struct bench_cfg *cfg, const int cpus[2], const char *go_bin)
{
	static struct xcase batch, one;
	struct xloop_base gob = { .cpus = { cpus[0], cpus[1] }, .go_bin = go_bin,
				  .go_mode = "stream" };
	struct bench_case cases[3];
	struct bench_series out[3], none = { 0 };
	unsigned n = 0;
	int err;

	batch = (struct xcase){ .kind = X_STREAM_BATCH, .cpus = { cpus[0], cpus[1] } };
	one = batch;
	one.kind = X_STREAM_ONE;
	cases[n++] = (struct bench_case){ .name = "reel batch", .fn = run_reel, .ctx = &batch };
	if (!cfg->quick)
		cases[n++] = (struct bench_case){ .name = "reel one", .fn = run_reel, .ctx = &one };
	if (go_bin)
		cases[n++] = (struct bench_case){ .name = "go", .fn = xloop_go, .ctx = &gob };
	if ((err = bench_measure(cfg, cases, n, out)) < 0)
		return err;
	bench_report(XLOOP_NAME, &(struct bench_row){
		.name = "one-way xchan, batches of 64", .unit = "ns/msg", .reel = &out[0],
		.base_name = go_bin ? "Go buffered chan (256)" : "(no Go)",
		.base = go_bin ? &out[n - 1] : &none, .goal = BENCH_ABS_LE,
		.goal_value = 200 });
	if (!cfg->quick)
		bench_report(XLOOP_NAME, &(struct bench_row){
			.name = "one-way xchan, one by one", .unit = "ns/msg", .reel = &out[1],
			.base_name = go_bin ? "Go buffered chan (256)" : "(no Go)",
			.base = go_bin ? &out[n - 1] : &none, .goal = BENCH_INFO });
	bench_note("xloop: one-way goal >= 5M messages/s is <= 200 ns a message");
	return 0;
}

int bench_xloop(const struct bench_cfg *cfg)
{
	char go_bin[PATH_MAX], why[160];
	int cpu_a, cpu_b, cpus[2], err;
	bool go = xloop_go_locate(go_bin, sizeof(go_bin), why, sizeof(why)) == 0;

	if ((err = bench_pick_cpus(&cpu_a, &cpu_b)) < 0)
		return bench_fail(XLOOP_NAME, err, "sched_getaffinity");
	cpus[0] = cpu_a;
	cpus[1] = cpu_b;
	if (!go)
		bench_note("xloop: Go rows left out: %s", why);
	if (cpu_a == cpu_b)
		bench_note("xloop: one CPU only: both loops share CPU %d", cpu_a);
	bench_note("xloop: loop 0 / thread A on CPU %d, loop 1 / thread B on CPU %d; "
		   "Go on both CPUs (GOMAXPROCS=2, not pinned)", cpus[0], cpus[1]);
	if ((err = round_trips(cfg, cpus, go ? go_bin : NULL)) < 0)
		return err;
	return throughput(cfg, cpus, go ? go_bin : NULL);
}
