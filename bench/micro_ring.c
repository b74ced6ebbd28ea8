/*
 * micro_ring.c - what the fiber abstraction adds to one io_uring operation.
 *
 * reel_nop() is the smallest parking I/O: an IORING_OP_NOP goes out, the
 * fiber parks, the completion wakes it. B fibers each call it K times; since
 * every fiber's SQE of one scheduler pass goes out in one io_uring_enter, B
 * is the batch size. Time per operation = total / (B * K).
 *
 * The baseline is the honest floor: a raw liburing loop that prepares B
 * NOPs, io_uring_submit_and_wait(ring, B), reaps the B CQEs, K times, on a
 * ring set up the way reel prefers (SINGLE_ISSUER | DEFER_TASKRUN, or plain
 * where the kernel refuses). The difference is reel's cost: parking, the
 * ready queue, the switches, completion dispatch. Goal: reel <= 1.5x raw at
 * the same batch size. Pinned to one CPU, like the other latency benchmarks.
 */
#include "bench.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>

#define NAME "nop"
#define RING_ENTRIES 256        /* reel_run's default */
#define WARMUP 200

static const unsigned batches[] = { 1, 8, 32 };
#define NBATCH (sizeof(batches) / sizeof(batches[0]))

struct nop_ctx {
	unsigned batch;
	uint64_t per_fiber;
	uint64_t elapsed_ns;
	const char *raw_setup;  /* which ring flags the raw loop got */
};

/* ---- reel ---- */

static int nop_fiber(void *arg)
{
	const struct nop_ctx *n = arg;
	int err;

	for (uint64_t k = 0; k < n->per_fiber; k++)
		if ((err = reel_nop()) < 0)
			return bench_fail(NAME, err, "reel_nop");
	return 0;
}

/* Spawn the batch, then join it. The fibers first run when main parks in
 * its first join, so spawning is not part of what @timed measures. */
static int nop_round(struct nop_ctx *n, uint64_t per_fiber, bool timed)
{
	reel_task t[32];
	uint64_t t0;
	int err, status, ret = 0;

	n->per_fiber = per_fiber;
	for (unsigned b = 0; b < n->batch; b++)
		if ((err = reel_spawn(&t[b], nop_fiber, n, NULL)) < 0)
			return bench_fail(NAME, err, "reel_spawn");
	t0 = bench_now_ns();
	for (unsigned b = 0; b < n->batch; b++) {
		if ((err = reel_join(t[b], &status)) < 0)
			return bench_fail(NAME, err, "reel_join");
		if (status < 0 && ret == 0)
			ret = status;
	}
	if (timed)
		n->elapsed_ns = bench_now_ns() - t0;
	return ret;
}

static int nop_main(void *arg)
{
	struct nop_ctx *n = arg;
	uint64_t iters = n->per_fiber;
	int err = nop_round(n, WARMUP, false);

	return err < 0 ? err : nop_round(n, iters, true);
}

static int run_reel(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	struct nop_ctx *n = ctx;
	int err;

	n->per_fiber = iters;
	err = bench_reel_run(NAME, nop_main, n);
	*elapsed_ns = n->elapsed_ns;
	return err;
}

/* ---- raw liburing ---- */

static int ring_setup(struct io_uring *ring, const char **setup)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	int err = io_uring_queue_init_params(RING_ENTRIES, ring, &p);

	*setup = "SINGLE_ISSUER|DEFER_TASKRUN";
	if (err == -EINVAL) {
		*setup = "no flags (kernel refused SINGLE_ISSUER|DEFER_TASKRUN)";
		err = io_uring_queue_init(RING_ENTRIES, ring, 0);
	}
	return err;
}

/* One batch: @batch NOPs out in one enter, all their CQEs in. */
static int raw_batch(struct io_uring *ring, unsigned batch)
{
	struct io_uring_cqe *cqe;
	unsigned seen = 0, head, n;
	int err;

	for (unsigned b = 0; b < batch; b++)
		io_uring_prep_nop(io_uring_get_sqe(ring));
	err = io_uring_submit_and_wait(ring, batch);
	if (err < 0)
		return err;
	while (seen < batch) {
		n = 0;
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res < 0)
				return cqe->res;
			n++;
		}
		io_uring_cq_advance(ring, n);
		seen += n;
		if (seen < batch && (err = io_uring_wait_cqe(ring, &cqe)) < 0)
			return err;
	}
	return 0;
}

static int run_raw(void *ctx, uint64_t iters, uint64_t *elapsed_ns)
{
	struct nop_ctx *n = ctx;
	struct io_uring ring;
	uint64_t t0;
	int err = ring_setup(&ring, &n->raw_setup);

	if (err < 0)
		return bench_fail(NAME, err, "io_uring_queue_init");
	for (unsigned k = 0; k < WARMUP && err >= 0; k++)
		err = raw_batch(&ring, n->batch);
	t0 = bench_now_ns();
	for (uint64_t k = 0; k < iters && err >= 0; k++)
		err = raw_batch(&ring, n->batch);
	*elapsed_ns = bench_now_ns() - t0;
	io_uring_queue_exit(&ring);
	if (err < 0)
		return bench_fail(NAME, err, "raw NOP batch of %u", n->batch);
	return 0;
}

static int measure_batch(const struct bench_cfg *cfg, unsigned batch)
{
	struct nop_ctx rn = { .batch = batch }, raw = { .batch = batch };
	struct bench_case cases[] = {
		{ .name = "reel", .fn = run_reel, .ctx = &rn, .ops_per_iter = batch },
		{ .name = "raw", .fn = run_raw, .ctx = &raw, .ops_per_iter = batch },
	};
	struct bench_series s[2];
	char name[64], base[64];
	int err = bench_measure(cfg, cases, 2, s);

	if (err < 0)
		return err;
	snprintf(name, sizeof(name), "nop: reel_nop round trip, batch %u", batch);
	snprintf(base, sizeof(base), "raw liburing, batch %u", batch);
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "ns", .reel = &s[0], .base_name = base,
		.base = &s[1], .goal = BENCH_RATIO_LE, .goal_value = 1.5 });
	if (batch == batches[NBATCH - 1])
		bench_note("nop: raw ring set up with %s", raw.raw_setup);
	return 0;
}

int bench_ring(const struct bench_cfg *cfg)
{
	cpu_set_t saved;
	int err = bench_pin(&saved);

	if (err < 0)
		return bench_fail(NAME, err, "sched_setaffinity");
	for (unsigned i = 0; i < NBATCH && err >= 0; i++)
		err = measure_batch(cfg, batches[i]);
	bench_unpin(&saved);
	return err < 0 ? err : 0;
}
