/*
 * switch.c - what one fiber switch costs.
 *
 * A round trip is A -> B -> A: fiber A yields, B runs and yields, A runs
 * again. reel pays for its scheduler on top of the register swap (the ready
 * queue, and whatever a pass of the loop looks at), so it is set beside:
 *
 *   - Boost.Context's jump_fcontext: the bare swap of callee-saved registers
 *     (and of MXCSR and the x87 control word, which reel leaves to the
 *     thread), the floor any stackful coroutine sits on. Goal: reel <= 1.1x
 *     this (issue 15), scheduler included.
 *   - ucontext's swapcontext: what C code reaches for without a library;
 *     it makes an rt_sigprocmask system call per switch (for context only).
 *
 * The process is pinned to its CPU meanwhile, like the other latency
 * benchmarks, so no measurement includes a migration.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <ucontext.h>

#define NAME "switch"
#define WARMUP 10000
#define BARE_STACK (64 * 1024)

/* ---- reel: two fibers yielding to each other ---- */

struct yield_ctx {
	uint64_t iters;
	uint64_t elapsed_ns;
	bool stop;              /* set by A when B may end */
};

/* B: yields until A says stop; each of its yields is the far half of a
 * round trip. */
static int yield_partner(void *arg)
{
	struct yield_ctx *y = arg;
	int err;

	while (!y->stop)
		if ((err = reel_yield()) < 0)
			return bench_fail(NAME, err, "reel_yield in fiber B");
	return 0;
}

/* A, the main fiber: with B as the only other ready fiber, each reel_yield
 * here comes back after exactly one yield of B. */
static int yield_main(void *arg)
{
	struct yield_ctx *y = arg;
	reel_task b;
	uint64_t t0;
	int err, status;

	y->stop = false;
	if ((err = reel_spawn(&b, yield_partner, y, NULL)) < 0)
		return bench_fail(NAME, err, "reel_spawn");
	for (unsigned i = 0; i < WARMUP; i++)
		if ((err = reel_yield()) < 0)
			return bench_fail(NAME, err, "reel_yield in fiber A");
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < y->iters; i++)
		if ((err = reel_yield()) < 0)
			return bench_fail(NAME, err, "reel_yield in fiber A");
	y->elapsed_ns = bench_now_ns() - t0;
	y->stop = true;
	if ((err = reel_join(b, &status)) < 0)
		return bench_fail(NAME, err, "reel_join");
	return status;
}

static int run_reel(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	struct yield_ctx y = { .iters = iters };
	int err = bench_reel_run(NAME, yield_main, &y);

	(void)ctx;
	*elapsed_ns = y.elapsed_ns;
	return err;
}

/* ---- Boost.Context ---- */

/* Boost.Context's C ABI (boost/context/detail/fcontext.hpp), declared here
 * so the benchmark needs the library only, not its C++ headers. */
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;

extern transfer_t jump_fcontext(fcontext_t to, void *vp);
extern fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

/* The far side: jump straight back to whoever jumped here, forever. It is
 * abandoned suspended when the measurement ends; it owns nothing. */
static void fcontext_echo(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, NULL);
}

static int run_fcontext(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	char *stack = malloc(BARE_STACK);
	transfer_t t;
	uint64_t t0;

	(void)ctx;
	if (!stack)
		return bench_fail(NAME, -ENOMEM, "malloc of a stack");
	t.fctx = make_fcontext(stack + BARE_STACK, BARE_STACK, fcontext_echo);
	for (unsigned i = 0; i < WARMUP; i++)
		t = jump_fcontext(t.fctx, NULL);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		t = jump_fcontext(t.fctx, NULL);
	*elapsed_ns = bench_now_ns() - t0;
	free(stack);
	return 0;
}

/* ---- ucontext ---- */

static ucontext_t uc_main, uc_echo;

static void ucontext_echo(void)
{
	for (;;)
		swapcontext(&uc_echo, &uc_main);
}

static int run_ucontext(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	char *stack = malloc(BARE_STACK);
	uint64_t t0;

	(void)ctx;
	if (!stack)
		return bench_fail(NAME, -ENOMEM, "malloc of a stack");
	if (getcontext(&uc_echo) < 0) {
		free(stack);
		return bench_fail(NAME, -errno, "getcontext");
	}
	uc_echo.uc_stack.ss_sp = stack;
	uc_echo.uc_stack.ss_size = BARE_STACK;
	uc_echo.uc_link = NULL;
	makecontext(&uc_echo, ucontext_echo, 0);
	for (unsigned i = 0; i < WARMUP; i++)
		swapcontext(&uc_main, &uc_echo);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++)
		swapcontext(&uc_main, &uc_echo);
	*elapsed_ns = bench_now_ns() - t0;
	free(stack);
	return 0;
}

int bench_switch(const struct bench_cfg *cfg)
{
	struct bench_case cases[] = {
		{ .name = "reel", .fn = run_reel },
		{ .name = "jump_fcontext", .fn = run_fcontext },
		{ .name = "swapcontext", .fn = run_ucontext },
	};
	struct bench_series s[3];
	cpu_set_t saved;
	int err = bench_pin(&saved);

	if (err < 0)
		return bench_fail(NAME, err, "sched_setaffinity");
	err = bench_measure(cfg, cases, 3, s);
	bench_unpin(&saved);
	if (err < 0)
		return err;

	bench_report(NAME, &(struct bench_row){
		.name = "switch: yield round trip (A->B->A)", .unit = "ns",
		.reel = &s[0], .base_name = "jump_fcontext round trip",
		.base = &s[1], .goal = BENCH_RATIO_LE, .goal_value = 1.1 });
	bench_report(NAME, &(struct bench_row){
		.name = "switch: yield round trip (A->B->A)", .unit = "ns",
		.reel = &s[0], .base_name = "swapcontext round trip",
		.base = &s[2], .goal = BENCH_INFO });
	return 0;
}
