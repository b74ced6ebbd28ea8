/*
 * reader.c - struct reel_reader: the shapes of reading a byte stream
 * through a caller-owned buffer - a line, a chunk through any delimiter,
 * exactly N bytes, whatever is there - and dropping a chunk too long to
 * keep (asyncio's StreamReader, api/reel_io.h).
 *
 * One rule makes every call safe to interrupt (docs/design.md §5): a call
 * consumes only what it hands over. Bytes come from the descriptor into
 * the reader's buffer (fill), and only a call that has everything it
 * needs moves them out, so a cancel or a deadline in the middle leaves
 * them buffered for the next call. The exceptions copy out as they go and
 * say so in *done: reel_reader_read_exact of more than the buffer holds
 * (it cannot wait for bytes it has no room to keep) and
 * reel_reader_skip_until (what it drops is meant to be gone).
 *
 * The search for a delimiter (find) is the one loop under read_line,
 * read_until and skip_until. It never searches the same bytes twice: after
 * a miss it resumes dlen - 1 bytes back, where a delimiter cut by the read
 * boundary may start. Its limit is checked before it reads, so the answer
 * (a chunk, -EMSGSIZE, -EPIPE or 0) depends only on the stream's bytes,
 * never on how the reads cut them: the fuzz target fuzz_stream checks that.
 *
 * Rejected: remembering the end of the stream in the reader. It would add
 * a field to a public struct that callers embed (its size is part of the
 * ABI) to save one read of 0 per call at the end, and a terminal's end
 * (Ctrl-D) is not final; asyncio keeps the flag because its reader is fed
 * by a protocol, not pulled.
 * Built on reel_read alone, like stream.c: no engine header.
 */
#define _GNU_SOURCE   /* memmem */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <reel_io.h>

void reel_reader_init(struct reel_reader *r, int fd, char *buf, size_t cap)
{
	r->fd = fd;
	r->buf = buf;
	r->cap = cap;
	r->start = r->end = 0;
}

static bool reader_ok(const struct reel_reader *r)
{
	return r && r->buf && r->cap && r->start <= r->end && r->end <= r->cap;
}

static size_t buffered(const struct reel_reader *r)
{
	return r->end - r->start;
}

/* Copy the first @n buffered bytes to @out and consume them. */
static void hand_over(struct reel_reader *r, void *out, size_t n)
{
	if (n == 0)   /* @out may be NULL then */
		return;
	memcpy(out, r->buf + r->start, n);
	r->start += n;
	if (r->start == r->end)
		r->start = r->end = 0;
}

/* Read more into the reader's buffer; > 0 bytes added, 0 at end, -errno.
 * The caller has made sure there is room once the unread bytes slide down. */
static ssize_t fill(struct reel_reader *r)
{
	ssize_t n;

	if (r->start > 0) {   /* make room: slide the unread bytes down */
		memmove(r->buf, r->buf + r->start, buffered(r));
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap)
		return -EMSGSIZE;
	n = reel_read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n > 0)
		r->end += (size_t)n;
	return n;
}

/*
 * find - read until the first @delim ends within the first @limit buffered
 * bytes (@dlen <= @limit <= cap). Returns the length of the chunk through
 * it; -EMSGSIZE when @limit bytes are buffered without it; -EPIPE when the
 * stream ended with bytes buffered but no @delim; 0 when it ended with
 * nothing buffered; -errno from the read. Consumes nothing.
 */
static ssize_t find(struct reel_reader *r, const char *delim, size_t dlen, size_t limit)
{
	size_t from = 0;   /* the first place a delimiter may still start */

	for (;;) {
		size_t have = buffered(r), window = have < limit ? have : limit;
		ssize_t n;

		if (window >= from + dlen) {
			const char *base = r->buf + r->start;
			const char *at = memmem(base + from, window - from, delim, dlen);

			if (at)
				return (ssize_t)(at - base + (ptrdiff_t)dlen);
			from = window - dlen + 1;
		}
		if (have >= limit)
			return -EMSGSIZE;
		n = fill(r);
		if (n == 0)
			return have ? -EPIPE : 0;
		if (n < 0)
			return n;
	}
}

ssize_t reel_read_line(struct reel_reader *r, char *line, size_t len)
{
	ssize_t n;

	if (!reader_ok(r) || !line || len == 0)
		return -EINVAL;
	n = find(r, "\n", 1, r->cap);
	if (n == -EPIPE)
		n = (ssize_t)buffered(r);   /* a last line without '\n' */
	if (n <= 0)
		return n;
	if ((size_t)n >= len)
		return -EMSGSIZE;
	hand_over(r, line, (size_t)n);
	line[n] = '\0';
	return n;
}

ssize_t reel_reader_read_until(struct reel_reader *r, const void *delim, size_t dlen,
			       void *out, size_t len)
{
	size_t limit;
	ssize_t n;

	if (!reader_ok(r) || !delim || !out || dlen == 0 || len == 0 || len > SSIZE_MAX)
		return -EINVAL;
	limit = len < r->cap ? len : r->cap;
	if (dlen > limit)
		return -EINVAL;
	n = find(r, delim, dlen, limit);
	if (n > 0)
		hand_over(r, out, (size_t)n);
	return n;
}

ssize_t reel_reader_skip_until(struct reel_reader *r, const void *delim, size_t dlen,
			       size_t *done)
{
	size_t dropped = 0;
	ssize_t n;

	if (done)
		*done = 0;
	if (!reader_ok(r) || !delim || dlen == 0 || dlen > r->cap)
		return -EINVAL;
	for (;;) {
		size_t drop;

		n = find(r, delim, dlen, r->cap);
		if (n > 0) {
			drop = (size_t)n;
		} else if (n == -EMSGSIZE) {
			/* a full buffer without it: keep what may start one */
			drop = buffered(r) - (dlen - 1);
		} else if (n == -EPIPE || (n == 0 && dropped > 0)) {
			drop = buffered(r);   /* ended before it: drop the rest */
			n = -EPIPE;
		} else {
			break;   /* 0 at once, or an error: nothing more dropped */
		}
		r->start += drop;
		dropped += drop;
		if (done)
			*done = dropped;
		if (n != -EMSGSIZE)
			break;
	}
	if (r->start == r->end)
		r->start = r->end = 0;
	return n > 0 ? (ssize_t)dropped : n;
}

/* read_exact for @len <= cap: wait until all of it is buffered, then copy
 * it out at once, so that an interruption consumes nothing. */
static ssize_t read_exact_buffered(struct reel_reader *r, char *buf, size_t len, size_t *got)
{
	while (buffered(r) < len) {
		ssize_t n = fill(r);

		if (n < 0)
			return n;
		if (n == 0) {   /* the end: hand over what there is */
			len = buffered(r);
			break;
		}
	}
	hand_over(r, buf, len);
	*got = len;
	return (ssize_t)len;
}

/* read_exact for @len > cap: copy out as it goes, straight from the
 * descriptor while the rest is at least a buffer's worth. */
static ssize_t read_exact_through(struct reel_reader *r, char *buf, size_t len, size_t *got)
{
	size_t have = buffered(r);
	ssize_t n = 0;

	*got = have < len ? have : len;
	hand_over(r, buf, *got);
	while (*got < len) {
		size_t rest = len - *got;

		if (rest >= r->cap) {
			n = reel_read(r->fd, buf + *got, rest);
			if (n > 0)
				*got += (size_t)n;
		} else {
			n = fill(r);   /* the buffer is empty here */
			if (n > 0) {
				have = buffered(r) < rest ? buffered(r) : rest;
				hand_over(r, buf + *got, have);
				*got += have;
			}
		}
		if (n <= 0)
			break;
	}
	return n < 0 ? n : (ssize_t)*got;
}

ssize_t reel_reader_read_exact(struct reel_reader *r, void *buf, size_t len, size_t *done)
{
	size_t got = 0;
	ssize_t n;

	if (done)
		*done = 0;
	if (!reader_ok(r) || (!buf && len) || len > SSIZE_MAX)
		return -EINVAL;
	if (len <= r->cap)
		n = read_exact_buffered(r, buf, len, &got);
	else
		n = read_exact_through(r, buf, len, &got);
	if (done)
		*done = got;
	return n;
}

ssize_t reel_reader_take(struct reel_reader *r, void *buf, size_t len)
{
	ssize_t n;
	size_t have;

	if (!reader_ok(r) || (!buf && len) || len > SSIZE_MAX)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (buffered(r) == 0) {
		if (len >= r->cap)   /* nothing to gain from the buffer */
			return reel_read(r->fd, buf, len);
		n = fill(r);
		if (n <= 0)
			return n;
	}
	have = buffered(r) < len ? buffered(r) : len;
	hand_over(r, buf, have);
	return (ssize_t)have;
}

ssize_t reel_reader_buffered(const struct reel_reader *r, const void **data)
{
	if (!reader_ok(r))
		return -EINVAL;
	if (data)
		*data = r->buf + r->start;
	return (ssize_t)buffered(r);
}
