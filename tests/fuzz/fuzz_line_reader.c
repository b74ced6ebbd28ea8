/*
 * fuzz_line_reader.c - libFuzzer target: reel_reader_init / reel_read_line
 * (engine/io/reader.c) against a reference line splitter.
 *
 * The input's first bytes choose the reader's buffer capacity, the line
 * buffer size given to reel_read_line, the transport (pipe or socketpair),
 * the seed of the chunk sizes, and the largest chunk; the rest is the
 * stream. Each input runs one reel_run: a writer fiber sends the stream in
 * chunks of random size, yielding between them so that the reader sees
 * short reads and lines split anywhere, then closes its end; the main fiber
 * reads lines until the end of the stream or -EMSGSIZE.
 *
 * The reference (the contract in api/reel_io.h): the stream splits into
 * lines after each '\n', plus a last line without one if bytes remain. For a
 * line of n bytes:
 * - it does not fit the reader's buffer when n > cap; a last line without
 *   '\n' needs n < cap, as the reader only learns that the stream has ended
 *   with one byte of room to spare (a last line of exactly cap bytes is
 *   -EMSGSIZE: see docs/fuzz.md). Then -EMSGSIZE, and again on the next
 *   call ("the stream is then left where it was"); reading stops there.
 * - else it does not fit @len when n >= len (the NUL needs a byte): then
 *   -EMSGSIZE, and a retry with a larger @len must return that very line
 *   (nothing was lost).
 * - else the call returns n and the line, NUL-terminated.
 * After the last line, 0, and 0 again. The returned lines, concatenated,
 * equal the stream up to where -EMSGSIZE stopped it.
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

#define HEADER 7

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_line_reader: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                         \
			abort();                                                    \
		}                                                                   \
	} while (0)

struct run {
	int rfd, wfd;
	const uint8_t *stream;
	size_t stream_len;
	size_t cap;          /* the reader's buffer */
	size_t len;          /* the line buffer given to reel_read_line */
	uint32_t rng;        /* chunk sizes */
	size_t max_chunk;
	size_t consumed;     /* bytes of the stream returned as lines */
};

static uint32_t next_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static int writer(void *arg)
{
	struct run *r = arg;
	size_t off = 0;

	while (off < r->stream_len) {
		size_t n = 1 + next_rand(&r->rng) % r->max_chunk;
		ssize_t put;

		if (n > r->stream_len - off)
			n = r->stream_len - off;
		put = reel_write_all(r->wfd, r->stream + off, n, NULL);
		if (put < 0)   /* the reader stopped early (-EMSGSIZE) and closed */
			break;
		CHECK((size_t)put == n);
		off += n;
		if (next_rand(&r->rng) % 4)
			CHECK(reel_yield() == 0);
	}
	close(r->wfd);
	r->wfd = -1;
	return 0;
}

/* The next reference line from @off: its length, and whether it ends in '\n'. */
static size_t ref_line(const struct run *r, size_t off, bool *terminated)
{
	const uint8_t *nl = memchr(r->stream + off, '\n', r->stream_len - off);

	*terminated = nl != NULL;
	return nl ? (size_t)(nl - (r->stream + off)) + 1 : r->stream_len - off;
}

static int reader(void *arg)
{
	struct run *r = arg;
	struct reel_reader rd;
	char *buf = malloc(r->cap);
	size_t biglen = r->cap + 2;
	char *line = malloc(biglen);
	reel_task w;

	CHECK(buf && line);
	CHECK(reel_spawn(&w, writer, r, NULL) == 0);
	reel_reader_init(&rd, r->rfd, buf, r->cap);
	while (r->consumed < r->stream_len) {
		bool term;
		size_t n = ref_line(r, r->consumed, &term);
		bool fits_buf = term ? n <= r->cap : n < r->cap;
		ssize_t got = reel_read_line(&rd, line, r->len);

		if (!fits_buf) {
			CHECK(got == -EMSGSIZE);
			CHECK(reel_read_line(&rd, line, biglen) == -EMSGSIZE);
			break;
		}
		if (n >= r->len) {
			CHECK(got == -EMSGSIZE);
			got = reel_read_line(&rd, line, n + 1);   /* left where it was */
		}
		CHECK(got == (ssize_t)n);
		CHECK(memcmp(line, r->stream + r->consumed, n) == 0);
		CHECK(line[n] == '\0');
		CHECK(term ? line[n - 1] == '\n' : r->consumed + n == r->stream_len);
		r->consumed += n;
	}
	if (r->consumed == r->stream_len) {
		CHECK(reel_read_line(&rd, line, r->len) == 0);
		CHECK(reel_read_line(&rd, line, r->len) == 0);
	}
	close(r->rfd);   /* an early stop: the writer's next write fails */
	r->rfd = -1;
	CHECK(reel_join(w, NULL) == 0);
	free(line);
	free(buf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { 0 };
	int fds[2], status = -1;

	if (size < HEADER)
		return 0;
	r.cap = 1 + ((size_t)data[0] << 8 | data[1]) % 300;
	r.len = 1 + ((size_t)data[2] << 8 | data[3]) % (r.cap + 40);
	r.rng = (uint32_t)data[4] * 2654435761u + 1;
	r.max_chunk = 1 + (size_t)data[5] % 64 * (data[5] & 0x80 ? 64 : 1);
	if (data[6] & 1) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	} else {
		CHECK(pipe2(fds, O_CLOEXEC) == 0);
	}
	r.rfd = fds[0];
	r.wfd = fds[1];
	r.stream = data + HEADER;
	r.stream_len = size - HEADER;
	CHECK(reel_run(reader, &r, NULL, &status) == 0);
	CHECK(status == 0);
	if (r.rfd >= 0)
		close(r.rfd);
	if (r.wfd >= 0)
		close(r.wfd);
	return 0;
}
