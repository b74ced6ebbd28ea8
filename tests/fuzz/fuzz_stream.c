/*
 * fuzz_stream.c - libFuzzer target: struct reel_reader's shapes
 * (reel_reader_read_exact, _read_until, _take, _skip_until, reel_read_line)
 * and struct reel_writer (write, printf, flush), engine/io/reader.c and
 * writer.c, against a reference model - with deadlines cutting the calls
 * short, so that "an interrupted call loses and repeats no byte" is
 * checked too.
 *
 * The input's first bytes choose the reader's and the writer's buffer
 * sizes, the transport (pipe or socketpair, small or default capacity),
 * whether calls run under short deadlines, the seed of the chunk sizes
 * and the largest chunk, a delimiter of 1..4 bytes and a script of reader
 * calls; the rest, repeated 1..16 times (so that the stream outgrows the
 * pipe or socket and the sender blocks), is the stream. Each input runs
 * one reel_run: a sender
 * fiber sends the stream through a reel_writer in pieces of random size
 * (write, or printf "%.*s" for pieces without a NUL), flushing now and
 * then, yielding (with deadlines on, now and then sleeping) between
 * pieces, then flushes and closes its end; the main fiber runs the script over and over on a reel_reader
 * until the whole stream is consumed, now and then pausing (with
 * deadlines on) so that the sender blocks and its deadlines cut too.
 *
 * The model (the contract in api/reel_io.h) knows the whole stream and
 * the position @pos up to which the reader has handed bytes over. The
 * result of every reader call depends only on the stream from @pos, never
 * on how the reads cut it:
 * - read_exact(n): min(n, rest) bytes, and *done says the same;
 * - read_until(delim, len): with L = min(len, cap), the chunk through the
 *   first delimiter that ends within L bytes; else -EMSGSIZE when at least
 *   L bytes are left, 0 when none, -EPIPE otherwise; -EINVAL when the
 *   delimiter is longer than L;
 * - read_line(len): as fuzz_line_reader's model (the limit is cap, the
 *   last line without '\n' needs fewer than cap bytes, n >= len is
 *   -EMSGSIZE);
 * - take(n): 1..min(n, rest) bytes, 0 at the end or for n == 0;
 * - skip_until(delim): through the first delimiter however far, else
 *   everything (-EPIPE, *done = rest) or 0 at the end.
 * Interrupted (-ETIMEDOUT), a call consumed only what it reports: nothing,
 * except read_exact past the buffer's size and skip_until, which count it
 * in *done (read_exact's bytes must be the stream's; skip_until may not
 * have dropped a whole delimiter). After every call, the bytes the reader
 * holds (reel_reader_buffered) must be the stream's from @pos on.
 * The sender checks the writer's counts: an interrupted write accepted
 * *done bytes (fewer than asked), an interrupted flush wrote *done and
 * kept the rest buffered, an interrupted printf accepted nothing. The
 * reader model then proves that the writer lost and repeated nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <reel.h>
#include <reel_io.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 9
#define MAX_OPS 4000   /* reader calls per input, a bound on slow inputs */
#define MAX_STREAM 16384

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_stream: %s:%d: check failed: %s\n",  \
				__FILE__, __LINE__, #cond);                         \
			abort();                                                    \
		}                                                                   \
	} while (0)

struct run {
	int rfd, wfd;
	const uint8_t *stream;
	size_t len;
	const uint8_t *delim;
	size_t dlen;
	const uint8_t *ops;
	size_t nops;
	size_t rcap, wcap;
	bool deadlines;
	uint32_t rng;          /* the sender's */
	uint32_t rrng;         /* the reader's (deadlines) */
	size_t max_chunk;
	size_t pos;            /* bytes of the stream handed over by the reader */
};

static uint32_t next_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* A deadline of 20 us .. 500 us, or none (0): about one call in six. */
static uint64_t deadline_ns(bool on, uint32_t *rng)
{
	if (!on || next_rand(rng) % 6)
		return 0;
	return (1 + next_rand(rng) % 25) * 20000ull;
}

/* ---- the sender: the stream through a reel_writer ---------------------------------------- */

enum { W_WRITE, W_PRINTF, W_FLUSH };

struct wcall {
	struct reel_writer *w;
	int kind;
	const uint8_t *p;
	size_t n;
	size_t done;
	ssize_t ret;
};

static int wcall_run(void *arg)
{
	struct wcall *c = arg;

	c->done = 0;
	if (c->kind == W_WRITE)
		c->ret = reel_writer_write(c->w, c->p, c->n, &c->done);
	else if (c->kind == W_PRINTF)
		c->ret = reel_writer_printf(c->w, "%.*s", (int)c->n, (const char *)c->p);
	else
		c->ret = reel_writer_flush(c->w, &c->done);
	return 0;
}

/* Run @c, under a deadline of @ns when not 0. */
static void wcall_do(struct wcall *c, uint64_t ns)
{
	int rc;

	if (!ns) {
		wcall_run(c);
		return;
	}
	rc = reel_wait_for(ns, wcall_run, c, NULL);
	CHECK(rc == 0 || rc == -ETIMEDOUT);
}

/* Flush, checking the counts; returns whether the buffer is empty now. */
static bool flush_checked(struct reel_writer *w, uint64_t ns)
{
	ssize_t before = reel_writer_buffered(w);
	struct wcall c = { .w = w, .kind = W_FLUSH };

	wcall_do(&c, ns);
	if (c.ret == -ETIMEDOUT) {
		CHECK(c.done <= (size_t)before);
		CHECK(reel_writer_buffered(w) == before - (ssize_t)c.done);
		return false;
	}
	CHECK(c.ret == before && c.done == (size_t)before);
	CHECK(reel_writer_buffered(w) == 0);
	return true;
}

/* One piece at @off: how many bytes of the stream the writer accepted. */
static size_t send_piece(struct run *r, struct reel_writer *w, size_t off)
{
	size_t n = 1 + next_rand(&r->rng) % r->max_chunk;
	struct wcall c = { .w = w, .kind = W_WRITE, .p = r->stream + off };
	ssize_t before = reel_writer_buffered(w);

	if (n > r->len - off)
		n = r->len - off;
	c.n = n;
	if (next_rand(&r->rng) % 4 == 0 && n < r->wcap && !memchr(c.p, 0, n))
		c.kind = W_PRINTF;
	wcall_do(&c, deadline_ns(r->deadlines, &r->rng));
	if (c.kind == W_PRINTF) {
		if (c.ret == -ETIMEDOUT) {   /* a flush cut short; none of the text */
			CHECK(reel_writer_buffered(w) <= before);
			return 0;
		}
		CHECK(c.ret == (ssize_t)n);
		return n;
	}
	if (c.ret == -ETIMEDOUT) {
		CHECK(c.done < n);
		return c.done;
	}
	CHECK(c.ret == (ssize_t)n && c.done == n);
	return n;
}

static int sender(void *arg)
{
	struct run *r = arg;
	struct reel_writer w;
	char *wbuf = malloc(r->wcap);
	size_t off = 0;

	CHECK(wbuf);
	reel_writer_init(&w, r->wfd, wbuf, r->wcap);
	while (off < r->len) {
		off += send_piece(r, &w, off);
		if (next_rand(&r->rng) % 6 == 0)
			flush_checked(&w, deadline_ns(r->deadlines, &r->rng));
		if (r->deadlines && next_rand(&r->rng) % 64 == 0)   /* let deadlines cut */
			CHECK(reel_sleep((1 + next_rand(&r->rng) % 10) * 50000ull) == 0);
		else
			CHECK(reel_yield() == 0);
	}
	while (!flush_checked(&w, 0))
		;
	close(r->wfd);
	r->wfd = -1;
	free(wbuf);
	return 0;
}

/* ---- the reader and its model -------------------------------------------------------------- */

enum { R_EXACT, R_UNTIL, R_LINE, R_TAKE, R_SKIP, R_UNTIL_NL, R_KINDS };

struct rcall {
	struct reel_reader *rd;
	int kind;
	size_t n;              /* read_exact/take: bytes; read_until/line: @len */
	const uint8_t *delim;
	size_t dlen;
	uint8_t *out;
	size_t done;
	ssize_t ret;
};

static int rcall_run(void *arg)
{
	struct rcall *c = arg;

	c->done = 0;
	switch (c->kind) {
	case R_EXACT:
		c->ret = reel_reader_read_exact(c->rd, c->out, c->n, &c->done);
		break;
	case R_UNTIL:
	case R_UNTIL_NL:
		c->ret = reel_reader_read_until(c->rd, c->delim, c->dlen, c->out, c->n);
		break;
	case R_LINE:
		c->ret = reel_read_line(c->rd, (char *)c->out, c->n);
		break;
	case R_TAKE:
		c->ret = reel_reader_take(c->rd, c->out, c->n);
		break;
	case R_SKIP:
		c->ret = reel_reader_skip_until(c->rd, c->delim, c->dlen, &c->done);
		break;
	}
	return 0;
}

/* The chunk through the first @d that ends within @limit bytes of s[0..n),
 * or 0. */
static size_t ref_find(const uint8_t *s, size_t n, const uint8_t *d, size_t dlen, size_t limit)
{
	size_t w = n < limit ? n : limit;
	const uint8_t *at = w >= dlen ? memmem(s, w, d, dlen) : NULL;

	return at ? (size_t)(at - s) + dlen : 0;
}

/* What the call returns, not interrupted. */
static ssize_t expected(const struct run *r, const struct rcall *c)
{
	const uint8_t *s = r->stream + r->pos;
	size_t rest = r->len - r->pos, lim, got;

	switch (c->kind) {
	case R_EXACT:
		return (ssize_t)(c->n < rest ? c->n : rest);
	case R_UNTIL:
	case R_UNTIL_NL:
		lim = c->n < r->rcap ? c->n : r->rcap;
		if (c->dlen > lim)
			return -EINVAL;
		got = ref_find(s, rest, c->delim, c->dlen, lim);
		if (got)
			return (ssize_t)got;
		return rest >= lim ? -EMSGSIZE : rest ? -EPIPE : 0;
	case R_LINE:
		got = ref_find(s, rest, (const uint8_t *)"\n", 1, r->rcap);
		if (!got) {
			if (rest >= r->rcap)
				return -EMSGSIZE;
			got = rest;   /* the last line, or 0 at the end */
		}
		return got >= c->n ? -EMSGSIZE : (ssize_t)got;
	case R_TAKE:
		return (ssize_t)(c->n < rest ? c->n : rest);   /* at most */
	default:   /* R_SKIP */
		if (c->dlen > r->rcap)
			return -EINVAL;
		got = ref_find(s, rest, c->delim, c->dlen, SIZE_MAX);
		return got ? (ssize_t)got : rest ? -EPIPE : 0;
	}
}

/* Check a call that was not interrupted; returns the bytes it consumed. */
static size_t check_done(const struct run *r, const struct rcall *c)
{
	const uint8_t *s = r->stream + r->pos;
	ssize_t want = expected(r, c);

	if (c->kind == R_TAKE) {
		CHECK(want == 0 ? c->ret == 0 : c->ret >= 1 && c->ret <= want);
		want = c->ret;
	}
	CHECK(c->ret == want);
	if (c->kind == R_SKIP) {
		size_t dropped = want > 0 ? (size_t)want : want == -EPIPE ? r->len - r->pos : 0;

		CHECK(c->done == dropped);
		return dropped;
	}
	if (want <= 0)
		return 0;
	if (c->kind == R_EXACT)
		CHECK(c->done == (size_t)want);
	if (c->kind == R_LINE)
		CHECK(c->out[want] == '\0');
	CHECK(memcmp(c->out, s, (size_t)want) == 0);
	return (size_t)want;
}

/* Check a call cut short by its deadline; returns the bytes it consumed. */
static size_t check_cut(const struct run *r, const struct rcall *c)
{
	const uint8_t *s = r->stream + r->pos;

	if (c->kind == R_EXACT) {
		CHECK(c->done < c->n);
		CHECK(c->n > r->rcap || c->done == 0);   /* all or nothing up to cap */
		CHECK(memcmp(c->out, s, c->done) == 0);
		return c->done;
	}
	if (c->kind == R_SKIP) {   /* no whole delimiter among what it dropped */
		CHECK(c->done <= r->len - r->pos);
		CHECK(!ref_find(s, c->done, c->delim, c->dlen, SIZE_MAX));
		return c->done;
	}
	CHECK(c->done == 0);
	return 0;
}

/* The bytes the reader holds are the stream's, from @pos on. */
static void check_buffered(const struct run *r, const struct reel_reader *rd)
{
	const void *p;
	ssize_t b = reel_reader_buffered(rd, &p);

	CHECK(b >= 0 && r->pos + (size_t)b <= r->len);
	CHECK(memcmp(p, r->stream + r->pos, (size_t)b) == 0);
}

/* One reader call from script byte @op (kind in the low bits, size above). */
static void reader_step(struct run *r, struct reel_reader *rd, uint8_t op, uint8_t *out)
{
	struct rcall c = { .rd = rd, .out = out, .delim = r->delim, .dlen = r->dlen };
	size_t sz = op >> 3;   /* 0..31 */
	uint64_t ns = deadline_ns(r->deadlines, &r->rrng);

	c.kind = (op & 7) % R_KINDS;
	switch (c.kind) {
	case R_EXACT:
	case R_TAKE:
		c.n = sz * (2 * r->rcap + 2) / 31;
		break;
	case R_UNTIL_NL:
		c.delim = (const uint8_t *)"\n";
		c.dlen = 1;
		/* fall through */
	case R_UNTIL:
	case R_LINE:
		c.n = 1 + sz * (r->rcap + 8) / 31;
		break;
	}
	if (r->deadlines && next_rand(&r->rrng) % 64 == 0)   /* let the sender block */
		CHECK(reel_sleep((1 + next_rand(&r->rrng) % 5) * 200000ull) == 0);
	if (ns) {
		int rc = reel_wait_for(ns, rcall_run, &c, NULL);

		CHECK(rc == 0 || rc == -ETIMEDOUT);
	} else {
		rcall_run(&c);
	}
	r->pos += c.ret == -ETIMEDOUT ? check_cut(r, &c) : check_done(r, &c);
	check_buffered(r, rd);
}

static int reader(void *arg)
{
	struct run *r = arg;
	struct reel_reader rd;
	char *buf = malloc(r->rcap);
	uint8_t *out = malloc(2 * r->rcap + 16);
	size_t ops = 0, last = SIZE_MAX;
	reel_task w;

	CHECK(buf && out);
	CHECK(reel_spawn(&w, sender, r, NULL) == 0);
	reel_reader_init(&rd, r->rfd, buf, r->rcap);
	while (r->pos < r->len && ops < MAX_OPS) {
		for (size_t i = 0; i < r->nops && r->pos < r->len; i++, ops++)
			reader_step(r, &rd, r->ops[i], out);
		if (r->pos == last || r->nops == 0)   /* stuck (-EMSGSIZE...): move on */
			reader_step(r, &rd, R_TAKE | 31 << 3, out);
		last = r->pos;
	}
	if (r->pos < r->len) {   /* out of calls: drain */
		r->deadlines = false;
		while (r->pos < r->len)
			reader_step(r, &rd, R_TAKE | 31 << 3, out);
	}
	CHECK(reel_reader_take(&rd, out, r->rcap) == 0);
	CHECK(reel_reader_read_exact(&rd, out, 1, NULL) == 0);
	CHECK(reel_reader_skip_until(&rd, "\n", 1, NULL) == 0);
	CHECK(reel_read_line(&rd, (char *)out, r->rcap) == 0);
	CHECK(reel_join(w, NULL) == 0);
	close(r->rfd);
	r->rfd = -1;
	free(out);
	free(buf);
	return 0;
}

static void small_transport(const int fds[2], bool sock)
{
	int sz = 4096;

	if (sock)
		(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	else
		(void)fcntl(fds[1], F_SETPIPE_SZ, sz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { 0 };
	int fds[2], status = -1;
	size_t at = HEADER;
	uint8_t *stream;

	if (size < HEADER)
		return 0;
	r.rcap = 1 + ((size_t)data[0] << 8 | data[1]) % 300;
	r.wcap = 1 + (size_t)data[2];
	r.deadlines = data[3] & 2;
	r.rng = (uint32_t)data[4] * 2654435761u + 1;
	r.rrng = (uint32_t)data[5] * 2246822519u + 1;
	r.max_chunk = 1 + (size_t)data[6] % 64 * (data[6] & 0x80 ? 64 : 1);
	r.dlen = 1 + data[7] % 4;
	r.nops = data[8] % 64;
	if (size < at + r.dlen + r.nops)
		return 0;
	r.delim = data + at;
	at += r.dlen;
	r.ops = data + at;
	at += r.nops;
	r.len = (size - at) * (1 + (data[3] >> 3 & 15));   /* the rest, repeated */
	if (r.len > MAX_STREAM)
		r.len = MAX_STREAM;
	stream = malloc(r.len + 1);
	CHECK(stream);
	for (size_t i = 0; i < r.len; i++)
		stream[i] = data[at + i % (size - at)];
	r.stream = stream;
	if (data[3] & 1) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	} else {
		CHECK(pipe2(fds, O_CLOEXEC) == 0);
	}
	if (data[3] & 4)
		small_transport(fds, data[3] & 1);
	r.rfd = fds[0];
	r.wfd = fds[1];
	CHECK(reel_run(reader, &r, NULL, &status) == 0);
	CHECK(status == 0);
	if (r.rfd >= 0)
		close(r.rfd);
	if (r.wfd >= 0)
		close(r.wfd);
	free(stream);
	return 0;
}
