/*
 * stream.c - whole transfers on top of the single calls: read exactly N
 * bytes, write all bytes. The buffered shapes (lines, delimiters, a writer
 * that gathers small writes) are reader.c and writer.c.
 *
 * A loop over short transfers keeps count of what it moved, so that an
 * interruption (cancel, deadline) in the middle still tells the caller how
 * far it got: docs/design.md §5's "a stream read that timed out after a partial
 * transfer reports the bytes it got".
 */
#include <errno.h>

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
