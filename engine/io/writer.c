/*
 * writer.c - struct reel_writer: small writes gathered in a caller-owned
 * buffer and sent together (asyncio's StreamWriter.write + drain,
 * api/reel_io.h).
 *
 * A write that fits in the buffer's free room is a memcpy. One that does
 * not goes out with what is buffered in one writev - no copy into the
 * buffer first, and the order stays - and again while the kernel takes
 * less, until the rest of the caller's bytes fits in the room; so a write
 * of a buffer's worth or more bypasses the buffer, and a small one after a
 * full buffer costs one system call, not two.
 *
 * Interrupted (docs/design.md §5), nothing is lost or repeated: every
 * writev's count is split between the buffered bytes (gone from the
 * buffer: start moves on) and the caller's (counted in *done), and the
 * buffer keeps its unwritten tail in place, so the next flush starts at
 * the first byte that did not go out. The buffer is compacted only when a
 * write needs the room.
 *
 * printf formats straight into the free room; if the text does not fit it
 * flushes and formats again (the arguments are walked twice, through
 * va_copy). Text longer than the buffer is refused (-EMSGSIZE) rather than
 * formatted into a heap buffer: the writer allocates nothing, and the
 * caller who needs more has reel_writer_write.
 *
 * Rejected: filling the buffer to the brim before writing (Go's
 * bufio.Writer). It copies bytes that a writev can send from where they
 * are, and a partial fill would make a write half buffered on an
 * interruption, which *done could not describe.
 * Built on reel_writev alone, like stream.c: no engine header.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <reel_io.h>

void reel_writer_init(struct reel_writer *w, int fd, char *buf, size_t cap)
{
	w->fd = fd;
	w->buf = buf;
	w->cap = cap;
	w->start = w->end = 0;
}

static bool writer_ok(const struct reel_writer *w)
{
	return w && w->buf && w->cap && w->start <= w->end && w->end <= w->cap;
}

static size_t pending(const struct reel_writer *w)
{
	return w->end - w->start;
}

/* Make all the free room one stretch at the end of the buffer. */
static void compact(struct reel_writer *w)
{
	if (w->start == 0)
		return;
	memmove(w->buf, w->buf + w->start, pending(w));
	w->end -= w->start;
	w->start = 0;
}

/*
 * send_some - one writev of the buffered bytes followed by @len bytes of
 * @data (none: the buffer alone). The buffered bytes written leave the
 * buffer; returns how many of @data's were written (0 if it was not
 * reached), or -errno (-EIO for a write of nothing).
 */
static ssize_t send_some(struct reel_writer *w, const void *data, size_t len)
{
	struct iovec iov[2];
	size_t have = pending(w), from_buf;
	int cnt = 0;
	ssize_t n;

	if (have)
		iov[cnt++] = (struct iovec){ w->buf + w->start, have };
	if (len)
		iov[cnt++] = (struct iovec){ (void *)data, len };
	n = reel_writev(w->fd, iov, cnt, -1);
	if (n <= 0)
		return n < 0 ? n : -EIO;
	from_buf = (size_t)n < have ? (size_t)n : have;
	w->start += from_buf;
	if (w->start == w->end)
		w->start = w->end = 0;
	return n - (ssize_t)from_buf;
}

ssize_t reel_writer_write(struct reel_writer *w, const void *data, size_t len, size_t *done)
{
	const char *p = data;
	size_t put = 0;
	ssize_t n = 0;

	if (done)
		*done = 0;
	if (!writer_ok(w) || (!data && len) || len > SSIZE_MAX)
		return -EINVAL;
	while (len - put > w->cap - pending(w)) {   /* the rest does not fit */
		n = send_some(w, p + put, len - put);
		if (n < 0)
			break;
		put += (size_t)n;
		if (done)
			*done = put;
	}
	if (n < 0)
		return n;
	if (put < len) {
		if (w->cap - w->end < len - put)
			compact(w);
		memcpy(w->buf + w->end, p + put, len - put);
		w->end += len - put;
	}
	if (done)
		*done = len;
	return (ssize_t)len;
}

ssize_t reel_writer_flush(struct reel_writer *w, size_t *done)
{
	size_t total = 0, before;
	ssize_t n = 0;

	if (done)
		*done = 0;
	if (!writer_ok(w))
		return -EINVAL;
	while (pending(w)) {
		before = pending(w);
		n = send_some(w, NULL, 0);
		if (n < 0)
			break;
		total += before - pending(w);
		if (done)
			*done = total;
	}
	return n < 0 ? n : (ssize_t)total;
}

/* Format into the free room; the text's length, or -EINVAL. */
static ssize_t format(struct reel_writer *w, const char *fmt, va_list ap)
{
	int n = vsnprintf(w->buf + w->end, w->cap - w->end, fmt, ap);

	return n < 0 ? -EINVAL : n;
}

ssize_t reel_writer_printf(struct reel_writer *w, const char *fmt, ...)
{
	va_list ap;
	ssize_t n;

	va_start(ap, fmt);
	n = reel_writer_vprintf(w, fmt, ap);
	va_end(ap);
	return n;
}

ssize_t reel_writer_vprintf(struct reel_writer *w, const char *fmt, va_list ap_in)
{
	va_list ap, again;
	ssize_t n;

	if (!writer_ok(w) || !fmt)
		return -EINVAL;
	compact(w);
	va_copy(ap, ap_in);
	va_copy(again, ap_in);
	n = format(w, fmt, ap);
	if (n >= 0 && (size_t)n >= w->cap - w->end) {   /* cut short (the NUL) */
		if ((size_t)n >= w->cap)
			n = -EMSGSIZE;
		else if ((n = reel_writer_flush(w, NULL)) >= 0)
			n = format(w, fmt, again);
	}
	va_end(again);
	va_end(ap);
	if (n >= 0)
		w->end += (size_t)n;
	return n;
}

ssize_t reel_writer_buffered(const struct reel_writer *w)
{
	if (!writer_ok(w))
		return -EINVAL;
	return (ssize_t)pending(w);
}
