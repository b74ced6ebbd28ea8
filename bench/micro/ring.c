/*
 * ring.c - what the fiber abstraction adds to one io_uring operation.
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
 *
 * The same pair, with a 4 KiB pread of a page-cached file instead of the
 * NOP (reel_pread against IORING_OP_READ by hand), measures a real
 * operation: goal reel <= 1.3x raw. The file lives in /var/tmp (or
 * $TMPDIR), read once before timing so every read hits the page cache; the
 * note names its file system, because on tmpfs this kernel punts buffered
 * reads to io-wq workers (the numbers are then the workers' hand-off, which
 * is reported, not tuned for); on ext4 they complete inline.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "reel_io.h"

#define NAME "nop"
#define RING_ENTRIES 256        /* reel_run's default */
#define WARMUP 200
#define READ_SIZE 4096
#define FILE_SIZE (16u << 20)   /* 4096 blocks of 4 KiB */
#define MAX_BATCH 32

static const unsigned batches[] = { 1, 8, 32 };
#define NBATCH (sizeof(batches) / sizeof(batches[0]))

struct nop_ctx {
	unsigned batch;
	uint64_t per_fiber;
	uint64_t elapsed_ns;
	const char *raw_setup;  /* which ring flags the raw loop got */
	int fd;                 /* -1: NOPs; else 4 KiB preads of this file */
	char (*bufs)[READ_SIZE]; /* one per fiber / batch slot */
};

/* The offset of read @k of fiber @b: spread over the file, 4 KiB aligned. */
static off_t read_offset(unsigned b, uint64_t k)
{
	return (off_t)(((k * 7919u + b * 131u) % (FILE_SIZE / READ_SIZE)) * READ_SIZE);
}

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

struct reader {
	const struct nop_ctx *n;
	unsigned b;
};

static int read_fiber(void *arg)
{
	const struct reader *r = arg;
	const struct nop_ctx *n = r->n;
	ssize_t got;

	for (uint64_t k = 0; k < n->per_fiber; k++) {
		got = reel_pread(n->fd, n->bufs[r->b], READ_SIZE, read_offset(r->b, k));
		if (got != READ_SIZE)
			return bench_fail(NAME, got < 0 ? (int)got : -EIO, "reel_pread");
	}
	return 0;
}

/* Spawn the batch, then join it. The fibers first run when main parks in
 * its first join, so spawning is not part of what @timed measures. */
static int nop_round(struct nop_ctx *n, uint64_t per_fiber, bool timed)
{
	struct reader readers[MAX_BATCH];
	reel_task t[MAX_BATCH];
	uint64_t t0;
	int err, status, ret = 0;

	n->per_fiber = per_fiber;
	for (unsigned b = 0; b < n->batch; b++) {
		readers[b] = (struct reader){ .n = n, .b = b };
		err = n->fd < 0 ? reel_spawn(&t[b], nop_fiber, n, NULL)
				: reel_spawn(&t[b], read_fiber, &readers[b], NULL);
		if (err < 0)
			return bench_fail(NAME, err, "reel_spawn");
	}
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

/* One batch: @batch NOPs (or reads) out in one enter, all their CQEs in. */
static int raw_batch(struct io_uring *ring, const struct nop_ctx *c, uint64_t k)
{
	unsigned batch = c->batch, seen = 0, head, n;
	struct io_uring_cqe *cqe;
	int err;

	for (unsigned b = 0; b < batch; b++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (c->fd < 0)
			io_uring_prep_nop(sqe);
		else
			io_uring_prep_read(sqe, c->fd, c->bufs[b], READ_SIZE,
					   (uint64_t)read_offset(b, k));
	}
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
		err = raw_batch(&ring, n, k);
	t0 = bench_now_ns();
	for (uint64_t k = 0; k < iters && err >= 0; k++)
		err = raw_batch(&ring, n, k);
	*elapsed_ns = bench_now_ns() - t0;
	io_uring_queue_exit(&ring);
	if (err < 0)
		return bench_fail(NAME, err, "raw NOP batch of %u", n->batch);
	return 0;
}

static int measure_batch(const struct bench_cfg *cfg, unsigned batch, int fd,
			 char (*bufs)[READ_SIZE], const char *fs)
{
	struct nop_ctx rn = { .batch = batch, .fd = fd, .bufs = bufs };
	struct nop_ctx raw = rn;
	struct bench_case cases[] = {
		{ .name = "reel", .fn = run_reel, .ctx = &rn, .ops_per_iter = batch },
		{ .name = "raw", .fn = run_raw, .ctx = &raw, .ops_per_iter = batch },
	};
	struct bench_series s[2];
	char name[96], base[64];
	int err = bench_measure(cfg, cases, 2, s);

	if (err < 0)
		return err;
	if (fd < 0)
		snprintf(name, sizeof(name), "nop: reel_nop round trip, batch %u", batch);
	else
		snprintf(name, sizeof(name), "read: 4 KiB reel_pread, %s cached, batch %u",
			 fs, batch);
	snprintf(base, sizeof(base), "raw liburing, batch %u", batch);
	bench_report(NAME, &(struct bench_row){
		.name = name, .unit = "ns", .reel = &s[0], .base_name = base,
		.base = &s[1], .goal = BENCH_RATIO_LE, .goal_value = fd < 0 ? 1.5 : 1.3 });
	if (batch == batches[NBATCH - 1] && fd < 0)
		bench_note("nop: raw ring set up with %s", raw.raw_setup);
	return 0;
}

static const char *fs_name(int fd)
{
	struct statfs st;

	if (fstatfs(fd, &st) < 0)
		return "unknown-fs";
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	default: return "other-fs";
	}
}

/* A FILE_SIZE file, written and read once so that it is in the page cache,
 * already unlinked: the descriptor is all that is left of it. */
static int cached_file(char *buf)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/reel-bench-read-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	memset(buf, 'r', READ_SIZE);
	for (off_t off = 0; off < FILE_SIZE; off += READ_SIZE) {
		if (pwrite(fd, buf, READ_SIZE, off) != READ_SIZE ||
		    pread(fd, buf, READ_SIZE, off) != READ_SIZE) {
			close(fd);
			return -EIO;
		}
	}
	return fd;
}

static int measure_reads(const struct bench_cfg *cfg)
{
	char (*bufs)[READ_SIZE] = aligned_alloc(4096, MAX_BATCH * READ_SIZE);
	int fd, err = 0;

	if (!bufs)
		return bench_fail(NAME, -ENOMEM, "read buffers");
	fd = cached_file(bufs[0]);
	if (fd < 0) {
		free(bufs);
		return bench_fail(NAME, fd, "a page-cached file in /var/tmp or $TMPDIR");
	}
	for (unsigned i = 0; i < NBATCH && err >= 0; i++)
		err = measure_batch(cfg, batches[i], fd, bufs, fs_name(fd));
	if (err >= 0 && strcmp(fs_name(fd), "tmpfs") == 0)
		bench_note("read: the file is on tmpfs, whose buffered reads this kernel "
			   "punts to io-wq workers: reported, not a goal to tune for");
	close(fd);
	free(bufs);
	return err;
}

int bench_ring(const struct bench_cfg *cfg)
{
	cpu_set_t saved;
	int err = bench_pin(&saved);

	if (err < 0)
		return bench_fail(NAME, err, "sched_setaffinity");
	for (unsigned i = 0; i < NBATCH && err >= 0; i++)
		err = measure_batch(cfg, batches[i], -1, NULL, NULL);
	if (err >= 0)
		err = measure_reads(cfg);
	bench_unpin(&saved);
	return err < 0 ? err : 0;
}
