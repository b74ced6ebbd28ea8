/*
 * fuzz_http_request.c - libFuzzer target: the HTTP server's request framing
 * (engine/http/parser.c) on arbitrary bytes.
 *
 * The input's first byte chooses how many bytes each "read" delivers (1..
 * 64, or all at once); the rest is a byte stream from a client: pipelined
 * requests, bodies, garbage. It is framed twice - as a whole and in reads
 * of that size - the way the server does it: parse a head, read its body in
 * small pieces, go on with the next request until an error or the end.
 *
 * Checked: nothing crashes or reads outside the stream (ASan); a refusal
 * is one of the statuses the server answers with; an accepted head has
 * NUL-terminated method, target and fields inside the buffer, a known
 * version, at most max_headers fields; bodies never exceed max_body; and
 * the outcome - every request's target and body, the final status (in a
 * body: that it is refused) - does not depend on how the stream was split
 * into reads (a parser that
 * answers differently to the same bytes sent in pieces is a smuggling
 * vector).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static const struct reel_http__limits limits = {
	.max_request_line = 512, .max_header_bytes = 2048, .max_body = 4096,
	.max_chunk_ext = 64, .max_headers = 16,
};

/* What framing a stream produced: a digest of the requests' targets and
 * bodies, how many requests, and the status that ended it (0: the end of
 * the input). */
struct outcome {
	uint64_t digest;        /* the targets */
	uint64_t body_digest;   /* the bodies */
	unsigned requests;
	int status;
	bool in_body;           /* the status came from a body */
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static bool allowed(int status)
{
	switch (status) {
	case 400: case 413: case 414: case 431: case 500: case 501: case 505:
		return true;
	default:
		return false;
	}
}

static void check_head(const struct reel_http__parser *ps, const char *buf, size_t len)
{
	assert(ps->method.off + ps->method.len < len && buf[ps->method.off + ps->method.len] == 0);
	assert(ps->url.off + ps->url.len < len && buf[ps->url.off + ps->url.len] == 0);
	assert(ps->ll.http_major == 1 && ps->ll.http_minor <= 1);
	assert(ps->nfields <= limits.max_headers);
	for (unsigned i = 0; i < ps->nfields; i++)
		assert(strlen(buf + ps->fields[i].name.off) == ps->fields[i].name.len);
}

/* Frame @len bytes of @buf delivered @step bytes per read. */
static struct outcome frame(char *buf, size_t len, size_t step)
{
	struct outcome o = { 0xcbf29ce484222325ull, 0xcbf29ce484222325ull, 0, 0, false };
	struct reel_http__parser ps;
	size_t pos = 0, avail = step < len ? step : len;

	reel_http__parser_init(&ps, &limits);
	for (;;) {
		int r;

		reel_http__parser_next(&ps, pos);
		while ((r = reel_http__parse_head(&ps, buf, &pos, avail)) == 0 && avail < len)
			avail = avail + step < len ? avail + step : len;
		if (r <= 0) {
			o.status = -r;
			break;
		}
		check_head(&ps, buf, len);
		o.requests++;
		mix(&o.digest, buf + ps.url.off, ps.url.len + 1);
		while (!ps.msg_done) {
			char out[7];
			ssize_t n = reel_http__parse_body(&ps, buf, &pos, avail, out, sizeof(out));

			if (n < 0) {
				o.status = (int)-n;
				o.in_body = true;
				goto done;
			}
			mix(&o.body_digest, out, (size_t)n);
			assert(ps.body_bytes <= limits.max_body);
			if (!ps.msg_done && pos == avail) {
				if (avail == len)
					goto done;
				avail = avail + step < len ? avail + step : len;
			}
		}
		if (pos == len)
			break;
	}
done:
	assert(!o.status || allowed(o.status));
	reel_http__parser_free(&ps);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, split;
	size_t step;
	char *a, *b;

	if (size < 1)
		return 0;
	step = data[0] % 65 ? data[0] % 65 : size;
	size--;
	a = malloc(size + 1);
	b = malloc(size + 1);
	memcpy(a, data + 1, size);
	memcpy(b, data + 1, size);
	whole = frame(a, size, size);
	split = frame(b, size, step);
	/* Cut into reads, the same stream gives the same requests and ends
	 * with the same status. Only how much of a bad body was handed out
	 * before its error showed may differ (bytes before the error are
	 * delivered as they arrive, in a read of their own or not). */
	assert(whole.requests == split.requests);
	assert(whole.digest == split.digest);
	assert(whole.in_body == split.in_body);
	if (!whole.in_body) {
		assert(whole.status == split.status);
		assert(whole.body_digest == split.body_digest);
	} else {
		/* In a body, a limit (chunk extensions, trailers) and a bad
		 * byte past it may be noticed in either order: both refuse. */
		assert(whole.status && split.status);
	}
	free(a);
	free(b);
	return 0;
}
