/*
 * stream.c - the common shapes of stream I/O on top of the single calls:
 * read exactly N bytes, write all bytes, read a line.
 *
 * A loop over short transfers keeps count of what it moved, so that an
 * interruption (cancel, deadline) in the middle still tells the caller how
 * far it got: docs/design.md §5's "a stream read that timed out after a partial
 * transfer reports the bytes it got".
 */
#include <errno.h>
#include <string.h>

#include <reel_io.h>

ssize_t reel_read_exact(int fd, void *buf, size_t len, size_t *done)
{
	size_t got = 0;
	ssize_t n = 0;

	if (!buf && len)
		return -EINVAL;
	while (got < len) {
		n = reel_read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (done)
		*done = got;
	if (n < 0)
		return n;
	return (ssize_t)got;   /* len, or fewer at end of stream */
}

ssize_t reel_write_all(int fd, const void *buf, size_t len, size_t *done)
{
	size_t put = 0;
	ssize_t n = 0;

	if (!buf && len)
		return -EINVAL;
	while (put < len) {
		n = reel_write(fd, (const char *)buf + put, len - put);
		if (n < 0)
			break;
		if (n == 0) {   /* a write of nothing: the descriptor takes no more */
			n = -EIO;
			break;
		}
		put += (size_t)n;
	}
	if (done)
		*done = put;
	return n < 0 ? n : (ssize_t)put;
}

void reel_reader_init(struct reel_reader *r, int fd, char *buf, size_t cap)
{
	r->fd = fd;
	r->buf = buf;
	r->cap = cap;
	r->start = r->end = 0;
}

/* Read more into the reader's buffer; > 0 bytes added, 0 at end, -errno. */
static ssize_t fill(struct reel_reader *r)
{
	ssize_t n;

	if (r->start > 0) {   /* make room: slide the unread bytes down */
		memmove(r->buf, r->buf + r->start, r->end - r->start);
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

ssize_t reel_read_line(struct reel_reader *r, char *line, size_t len)
{
	size_t scanned = 0;

	if (!r || !r->buf || !line || len == 0)
		return -EINVAL;
	for (;;) {
		char *nl = memchr(r->buf + r->start + scanned, '\n',
				  r->end - r->start - scanned);
		size_t n = nl ? (size_t)(nl - (r->buf + r->start)) + 1 : 0;
		ssize_t got;

		if (!nl) {
			scanned = r->end - r->start;
			got = fill(r);
			if (got > 0)
				continue;
			if (got < 0 || scanned == 0)
				return got;   /* error, or end of stream with nothing left */
			n = scanned;      /* a last line without '\n' */
		}
		if (n >= len)
			return -EMSGSIZE;
		memcpy(line, r->buf + r->start, n);
		line[n] = '\0';
		r->start += n;
		return (ssize_t)n;
	}
}
