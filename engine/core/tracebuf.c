/*
 * tracebuf.c - the run-time trace: per-loop buffers of 32-byte events, and
 * one writer thread that puts full buffers into the trace file.
 *
 * A loop never waits for the disk. Events go into the current chunk of its
 * thread (2,048 records, 64 KiB) with plain stores; a full chunk is handed
 * to the writer through one mutex-protected queue (one lock per 2,048
 * events) and the loop takes a free chunk from a shared pool. When the pool
 * is empty - the writer is behind - events are dropped and counted, and the
 * next chunk the loop gets begins with a DROPPED record saying how many:
 * never a stall. The pool is bounded (POOL_CHUNKS, 4 MiB), so a stuck disk
 * costs events, not memory.
 *
 * Each chunk starts with a LOOP record naming its loop (thread id), so the
 * chunks of several loops can share one file in the order they were
 * written. The file is a 64-byte header and then records (trace.h; the
 * format reel-trace reads, docs/profiling.md).
 *
 * Loops join and leave by a generation number: reel_trace_start and
 * reel_trace_stop bump it, and each loop compares it with the one it saw at
 * the start of every scheduler pass (one relaxed load), so a trace started
 * on one thread reaches the others without touching their structures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <reel_trace.h>

#include "trace.h"   /* a leaf of the core: it calls no other core file */

#define CHUNK_RECS 2048
#define POOL_CHUNKS 64

struct chunk {
	struct chunk *next;
	uint32_t n;
	struct reel__trace_rec recs[CHUNK_RECS];
};

struct reel__tracebuf {
	struct chunk *cur;
	uint64_t tid;
	uint64_t dropped;       /* lost since the last chunk began */
	bool off;               /* the trace stopped: record nothing */
};

/* The thread's buffer lives as long as its loop: the loop keeps a copy of
 * the pointer for its switch path (reel__loop.trace) until its next pass,
 * so stopping a trace only turns the buffer off. */
static __thread struct reel__tracebuf *owned;

/* The trace file's header. */
struct file_header {
	char magic[8];          /* "REELTRC1" */
	uint32_t version;       /* 1 */
	uint32_t rec_size;      /* 32 */
	uint64_t realtime_ns;   /* CLOCK_REALTIME at start */
	uint64_t monotonic_ns;  /* CLOCK_MONOTONIC at start: the records' clock */
	uint32_t pid;
	uint32_t pad[7];
};
_Static_assert(sizeof(struct file_header) == 64, "trace header size");

__thread struct reel__tracebuf *reel__trace_cur;
__thread uint16_t reel__trace_cause;
static __thread uint64_t seen_gen;
static __thread bool loop_thread;     /* this thread runs a loop now */
/* The loop's own copy of reel__trace_cur (reel__loop.trace, read by its
 * switch path), kept equal to it: handed over at the loop's start, so this
 * file stays a leaf that calls nothing of the loop's. */
static __thread struct reel__tracebuf **loop_copy;

static void set_cur(struct reel__tracebuf *tb)
{
	reel__trace_cur = tb;
	if (loop_copy)
		*loop_copy = tb;
}


static _Atomic uint64_t trace_gen;   /* odd: a trace runs */

/*
 * The records' clock. reel_now()'s clock_gettime costs ~25 ns on this kind
 * of machine (a VM's kvm-clock) and a traced echo message records 22
 * events: the clock alone was a third of the trace's cost. With an
 * invariant TSC (constant_tsc and nonstop_tsc), a record reads the TSC
 * (~10 ns) and scales it to CLOCK_MONOTONIC nanoseconds: each thread
 * anchors (TSC, ns) when it begins a chunk, and the rate is measured over
 * the whole trace so far (a 2 ms calibration at start), so records stay in
 * the ns of the file format, within microseconds of reel_now().
 */
static bool use_tsc;
static uint64_t tsc_start, ns_start;
static _Atomic uint64_t ns_per_tsc_q32;   /* ns per tick, 32.32 fixed point */
static __thread uint64_t anchor_tsc, anchor_ns;

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static bool invariant_tsc(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	bool ok = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0) {
			ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
			break;
		}
	fclose(f);
	return ok;
}

static void calibrate(void)
{
	uint64_t t0, c0, t1, c1;

	use_tsc = invariant_tsc() && !getenv("REEL_TRACE_NO_TSC");
	if (!use_tsc)
		return;
	t0 = reel__mono_ns();
	c0 = rdtsc();
	do
		t1 = reel__mono_ns();
	while (t1 - t0 < 2000000);
	c1 = rdtsc();
	tsc_start = c0;
	ns_start = t0;
	atomic_store(&ns_per_tsc_q32, ((t1 - t0) << 32) / (c1 - c0 ? c1 - c0 : 1));
}

/* A new anchor for this thread, and a better rate from the longer run. */
static void reanchor(void)
{
	uint64_t ns, c;

	if (!use_tsc)
		return;
	ns = reel__mono_ns();
	c = rdtsc();
	if (ns - ns_start > 100000000 && c > tsc_start)
		atomic_store_explicit(&ns_per_tsc_q32, ((ns - ns_start) << 32) / (c - tsc_start),
				      memory_order_relaxed);
	anchor_tsc = c;
	anchor_ns = ns;
}

uint64_t reel__trace_now(void)
{
	uint64_t d;

	if (!use_tsc)
		return reel__mono_ns();
	d = rdtsc() - anchor_tsc;
	return anchor_ns + (uint64_t)(((unsigned __int128)d *
		atomic_load_explicit(&ns_per_tsc_q32, memory_order_relaxed)) >> 32);
}

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool active, stop;
	int fd;
	int write_err;
	pthread_t writer;
	struct chunk *full_head, *full_tail;
	struct chunk *free;
	unsigned nchunks;
	struct reel_trace_stats st;
} T = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = -1 };

/* ---- the loop's side ------------------------------------------------------------------ */

static void rec_fill(struct reel__trace_rec *r, unsigned type, uint64_t task, uint64_t a,
		     uint32_t b, unsigned c)
{
	r->t = reel__trace_now();
	r->task = task;
	r->a = a;
	r->b = b;
	r->type = (uint16_t)type;
	r->c = (uint16_t)c;
}

/* Under T.mu: a free chunk, or NULL when the pool is spent. */
static struct chunk *take_chunk(void)
{
	struct chunk *c = T.free;

	if (c) {
		T.free = c->next;
	} else if (T.nchunks < POOL_CHUNKS) {
		c = malloc(sizeof(*c));
		if (c)
			T.nchunks++;
	}
	return c;
}

/* Under T.mu. */
static void queue_full(struct chunk *c)
{
	c->next = NULL;
	if (T.full_tail)
		T.full_tail->next = c;
	else
		T.full_head = c;
	T.full_tail = c;
	T.st.events += c->n;
	pthread_cond_signal(&T.cv);
}

/* Hand the current chunk to the writer and begin a new one. */
static void next_chunk(struct reel__tracebuf *tb)
{
	struct chunk *c;

	pthread_mutex_lock(&T.mu);
	if (tb->cur && tb->cur->n)
		queue_full(tb->cur);
	else if (tb->cur)
		tb->cur->next = T.free, T.free = tb->cur;
	tb->cur = c = T.active && !tb->off ? take_chunk() : NULL;
	reanchor();
	if (c && tb->dropped)
		T.st.dropped += tb->dropped;   /* said in the new chunk, below */
	pthread_mutex_unlock(&T.mu);
	if (!c)
		return;
	c->n = 0;
	rec_fill(&c->recs[c->n++], REEL__EV_LOOP, 0, tb->tid, 0, 0);
	if (tb->dropped) {
		rec_fill(&c->recs[c->n++], REEL__EV_DROPPED, 0, tb->dropped, 0, 0);
		tb->dropped = 0;
	}
}

void reel__trace_put(struct reel__tracebuf *tb, unsigned type, uint64_t task, uint64_t a,
		     uint32_t b, unsigned c)
{
	if (reel_unlikely(!tb->cur || tb->cur->n == CHUNK_RECS)) {
		if (tb->off)
			return;
		next_chunk(tb);
		if (!tb->cur) {
			tb->dropped++;
			return;
		}
	}
	rec_fill(&tb->cur->recs[tb->cur->n++], type, task, a, b, c);
}

void reel__trace_name(uint64_t task, const char *name)
{
	struct reel__tracebuf *tb = reel__trace_cur;
	size_t len, nrec;
	struct chunk *c;

	if (!tb || !name || tb->off)
		return;
	len = strnlen(name, 255);
	nrec = 1 + (len + sizeof(struct reel__trace_rec) - 1) / sizeof(struct reel__trace_rec);
	if (!tb->cur || tb->cur->n + nrec > CHUNK_RECS)
		next_chunk(tb);
	c = tb->cur;
	if (!c) {
		tb->dropped++;
		return;
	}
	rec_fill(&c->recs[c->n], REEL__EV_NAME, task, 0, 0, (unsigned)len);
	memset(&c->recs[c->n + 1], 0, (nrec - 1) * sizeof(c->recs[0]));
	memcpy(&c->recs[c->n + 1], name, len);
	c->n += (uint32_t)nrec;
}

static void attach(void)
{
	struct reel__tracebuf *tb = owned ? owned : calloc(1, sizeof(*tb));

	if (!tb)
		return;
	owned = tb;
	tb->tid = (uint64_t)syscall(SYS_gettid);
	tb->off = false;
	tb->dropped = 0;
	set_cur(tb);
	next_chunk(tb);
}

/* Hand the last chunk over and turn the buffer off. */
static void detach(void)
{
	struct reel__tracebuf *tb = reel__trace_cur;

	if (!tb)
		return;
	set_cur(NULL);
	pthread_mutex_lock(&T.mu);
	if (tb->cur && tb->cur->n && T.active)
		queue_full(tb->cur);
	else if (tb->cur)
		tb->cur->next = T.free, T.free = tb->cur;
	tb->cur = NULL;
	T.st.dropped += tb->dropped;
	tb->dropped = 0;
	tb->off = true;
	pthread_mutex_unlock(&T.mu);
}

void reel__trace_sync_slow(void)
{
	uint64_t gen = atomic_load_explicit(&trace_gen, memory_order_acquire);

	seen_gen = gen;
	if (gen & 1) {
		if (!reel__trace_cur)
			attach();
	} else {
		detach();
	}
}

#if !(defined(REEL_NO_TRACE) && REEL_NO_TRACE)
void reel__trace_sync(void)
{
	if (reel_unlikely(atomic_load_explicit(&trace_gen, memory_order_relaxed) != seen_gen))
		reel__trace_sync_slow();
}
#endif

void reel__trace_loop_begin(struct reel__tracebuf **copy)
{
	loop_copy = copy;
	loop_thread = true;
	reel__trace_from_env();
	reel__trace_sync();
}

void reel__trace_loop_end(void)
{
	detach();
	free(owned);
	owned = NULL;
	seen_gen = 0;
	loop_thread = false;
	loop_copy = NULL;
}

/* ---- the writer ---------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&T.mu);
	for (;;) {
		struct chunk *c = T.full_head;
		int err;

		if (!c) {
			if (T.stop)
				break;
			pthread_cond_wait(&T.cv, &T.mu);
			continue;
		}
		T.full_head = c->next;
		if (!T.full_head)
			T.full_tail = NULL;
		pthread_mutex_unlock(&T.mu);
		err = T.write_err ? 0 : write_all(T.fd, c->recs, c->n * sizeof(c->recs[0]));
		pthread_mutex_lock(&T.mu);
		if (err)
			T.write_err = err;
		else
			T.st.bytes += c->n * sizeof(c->recs[0]);
		c->next = T.free;
		T.free = c;
	}
	pthread_mutex_unlock(&T.mu);
	return NULL;
}

static int write_header(int fd)
{
	struct file_header h = { .magic = "REELTRC1", .version = 1,
				 .rec_size = sizeof(struct reel__trace_rec),
				 .pid = (uint32_t)getpid() };
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	h.realtime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	h.monotonic_ns = reel__mono_ns();
	return write_all(fd, &h, sizeof(h));
}

static int start_writer(void)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);   /* signals stay the loops' */
	err = -pthread_create(&T.writer, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		pthread_setname_np(T.writer, "reel-trace");
	return err;
}

int reel_trace_start(const char *path)
{
	int fd, err;

	if (!path)
		return -EINVAL;
	pthread_mutex_lock(&T.mu);
	if (T.active) {
		pthread_mutex_unlock(&T.mu);
		return -EALREADY;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	calibrate();
	err = fd < 0 ? -errno : write_header(fd);
	if (!err) {
		T.fd = fd;
		T.stop = false;
		T.write_err = 0;
		T.st = (struct reel_trace_stats){ 0, 0, sizeof(struct file_header) };
		err = start_writer();
	}
	if (err) {
		if (fd >= 0)
			close(fd);
		T.fd = -1;
		pthread_mutex_unlock(&T.mu);
		return err;
	}
	T.active = true;
	atomic_fetch_add_explicit(&trace_gen, 1, memory_order_release);
	pthread_mutex_unlock(&T.mu);
	if (loop_thread)
		reel__trace_sync();   /* the caller's own loop, at once */
	return 0;
}

int reel_trace_stop(void)
{
	int err;

	pthread_mutex_lock(&T.mu);
	if (!T.active) {
		pthread_mutex_unlock(&T.mu);
		return -ENOENT;
	}
	pthread_mutex_unlock(&T.mu);
	detach();   /* the caller's loop hands its last chunk over first */
	pthread_mutex_lock(&T.mu);
	T.active = false;
	atomic_fetch_add_explicit(&trace_gen, 1, memory_order_release);
	T.stop = true;
	pthread_cond_signal(&T.cv);
	pthread_mutex_unlock(&T.mu);
	pthread_join(T.writer, NULL);
	seen_gen = atomic_load(&trace_gen);
	err = T.write_err;
	if (fsync(T.fd) < 0 && !err && errno != EINVAL)
		err = -errno;
	if (close(T.fd) < 0 && !err)
		err = -errno;
	T.fd = -1;
	return err;
}

int reel_trace_stats(struct reel_trace_stats *st)
{
	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&T.mu);
	*st = T.st;
	pthread_mutex_unlock(&T.mu);
	return 0;
}

/* REEL_TRACE=FILE: the first loop of the process starts the trace, and
 * it stops when the process exits (or at reel_trace_stop). */
static void stop_at_exit(void)
{
	reel_trace_stop();
}

static void trace_from_env_once(void)
{
	const char *path = getenv("REEL_TRACE");

	if (!path || !*path)
		return;
	if (reel_trace_start(path) == 0)
		atexit(stop_at_exit);
	else
		fprintf(stderr, "reel: REEL_TRACE=%s: cannot start the trace\n", path);
}

void reel__trace_from_env(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, trace_from_env_once);
}
