/*
 * Description: whole transfers, the buffered reader and the buffered
 * writer over a descriptor (engine/io/stream.c, reader.c, writer.c;
 * api/reel_io.h): reel_read_exact and reel_write_all over short transfers
 * (many small segments, far more than the socket buffers hold, a deadline
 * after a partial transfer, end of stream); the line reader (lines split
 * across segments, empty lines, -EMSGSIZE that loses nothing, a final line
 * with no newline, end of stream); the reader's other shapes - read_exact
 * and read_until with the stream cut at every position (delimiters cut
 * across reads), the end of the stream inside a chunk, the limit reached
 * then skip_until, take after a line - and each of them interrupted by
 * reel_cancel and by a reel_wait_for deadline, then resumed, the bytes
 * checked exactly; the writer - buffering, flush, printf, the large write
 * that bypasses the buffer, a slow pipe reader, a flush and a write
 * interrupted in the middle and resumed; bad input, and -EPERM outside a
 * fiber. The streams are TCP pairs (tcp_pair in helpers.h), pipes and
 * AF_UNIX socketpairs.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* ---- read_exact, write_all over short transfers ----------------------------------------- */

#define PIECES_LEN 65536
#define BIG_LEN ((size_t)scaled(64) << 17)   /* 8 MiB; 768 KiB under valgrind */

struct pieces {
	int fd;
	const unsigned char *data;
	size_t len;
	size_t max_piece;
};

/* Sends @data in pieces of 1..max_piece bytes, yielding or sleeping between. */
static int send_in_pieces(void *arg)
{
	struct pieces *p = arg;

	for (size_t off = 0; off < p->len;) {
		size_t n = 1 + rng() % p->max_piece;
		ssize_t r;

		if (n > p->len - off)
			n = p->len - off;
		r = reel_send(p->fd, p->data + off, n, 0);
		FCHECK(r > 0);
		off += (size_t)r;
		if (rng() % 4 == 0)
			FCHECK_EQ(reel_sleep(50 * 1000), 0);
		else
			FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

/* Receives @len bytes in small pieces, slowly, and checks them. */
static int recv_in_pieces(void *arg)
{
	struct pieces *p = arg;
	unsigned char buf[1000] = { 0 };

	for (size_t off = 0; off < p->len;) {
		size_t n = 1 + rng() % sizeof(buf);
		ssize_t r = reel_recv(p->fd, buf, n, 0);

		FCHECK(r > 0);
		FCHECK(memcmp(buf, p->data + off, (size_t)r) == 0);
		off += (size_t)r;
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

struct partial {
	int fd;
	unsigned char buf[100];
	size_t done;
};

static int read_exact_100(void *arg)
{
	struct partial *p = arg;

	return (int)reel_read_exact(p->fd, p->buf, sizeof(p->buf), &p->done);
}

static int exact_all_main(void *arg)
{
	unsigned char *data = calloc(1, BIG_LEN), *in = calloc(1, PIECES_LEN);
	struct pieces p;
	struct partial part;
	struct conn c;
	reel_task t;
	size_t done;
	int st;
	uint64_t t0;

	(void)arg;
	FCHECK(data && in);
	for (size_t i = 0; i < BIG_LEN; i++)
		data[i] = (unsigned char)rng();
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);

	/* read_exact over many small segments */
	p = (struct pieces){ .fd = c.a, .data = data, .len = PIECES_LEN, .max_piece = 97 };
	FCHECK_EQ(reel_spawn(&t, send_in_pieces, &p, NULL), 0);
	done = 0;
	FCHECK_EQ(reel_read_exact(c.b, in, PIECES_LEN, &done), PIECES_LEN);
	FCHECK_EQ(done, PIECES_LEN);
	FCHECK(memcmp(in, data, PIECES_LEN) == 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);

	/* write_all of far more than the socket buffers hold, to a slow reader:
	 * the writes come back short and write_all goes on */
	p = (struct pieces){ .fd = c.b, .data = data, .len = BIG_LEN };
	FCHECK_EQ(reel_spawn(&t, recv_in_pieces, &p, NULL), 0);
	done = 0;
	FCHECK_EQ(reel_write_all(c.a, data, BIG_LEN, &done), BIG_LEN);
	FCHECK_EQ(done, BIG_LEN);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);

	/* a deadline after a partial transfer still reports the bytes */
	memset(&part, 0, sizeof(part));
	part.fd = c.b;
	FCHECK_EQ(reel_write_all(c.a, data, 30, NULL), 30);
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(100 * MS, read_exact_100, &part, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 100 * MS);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK_EQ(part.done, 30);
	FCHECK(memcmp(part.buf, data, 30) == 0);

	/* end of stream after 10 bytes: 10, then 0 */
	FCHECK_EQ(reel_write_all(c.a, data, 10, NULL), 10);
	FCHECK_EQ(reel_shutdown(c.a, SHUT_WR), 0);
	done = 99;
	FCHECK_EQ(reel_read_exact(c.b, in, 20, &done), 10);
	FCHECK_EQ(done, 10);
	FCHECK(memcmp(in, data, 10) == 0);
	FCHECK_EQ(reel_read_exact(c.b, in, 20, &done), 0);
	FCHECK_EQ(done, 0);
	FCHECK_EQ(close_pair(&c), 0);
	free(data);
	free(in);
	return 0;
}

static void test_io_stream_read_exact_write_all_short_transfers(void **state)
{
	(void)state;
	run_ok(exact_all_main, NULL);
}

/* ---- the line reader ------------------------------------------------------------------ */

static int line_sender(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char longline[301] = { 0 };

	FCHECK_EQ(reel_write_all(fd, "one\ntwo\nthree\n", 14, NULL), 14);   /* one segment */
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_write_all(fd, "fo", 2, NULL), 2);                    /* a split line */
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_write_all(fd, "ur\n\n", 4, NULL), 4);
	memset(longline, 'L', sizeof(longline));
	longline[300] = '\n';
	FCHECK_EQ(reel_write_all(fd, longline, sizeof(longline), NULL), sizeof(longline));
	FCHECK_EQ(reel_write_all(fd, "last", 4, NULL), 4);                  /* no newline */
	FCHECK_EQ(reel_shutdown(fd, SHUT_WR), 0);
	return 0;
}

static int read_line_main(void *arg)
{
	static char rbuf[1024], line[128], big[512];
	struct reel_reader r;
	struct conn c;
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	FCHECK_EQ(reel_spawn(&t, line_sender, (void *)(intptr_t)c.a, NULL), 0);
	reel_reader_init(&r, c.b, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 4);
	FCHECK(strcmp(line, "one\n") == 0);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 4);
	FCHECK(strcmp(line, "two\n") == 0);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 6);
	FCHECK(strcmp(line, "three\n") == 0);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 5);   /* across segments */
	FCHECK(strcmp(line, "four\n") == 0);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 1);   /* an empty line */
	FCHECK(strcmp(line, "\n") == 0);
	/* 301 bytes do not fit in 128: -EMSGSIZE, and the line stays */
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), -EMSGSIZE);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), -EMSGSIZE);
	FCHECK_EQ(reel_read_line(&r, big, 301), -EMSGSIZE);   /* no room for the NUL */
	FCHECK_EQ(reel_read_line(&r, big, sizeof(big)), 301);
	FCHECK_EQ(strlen(big), 301);
	FCHECK_EQ(big[0], 'L');
	FCHECK_EQ(big[300], '\n');
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 4);   /* final, no newline */
	FCHECK(strcmp(line, "last") == 0);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 0);   /* end of stream */
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), 0);
	FCHECK_EQ(reel_read_line(&r, NULL, sizeof(line)), -EINVAL);
	FCHECK_EQ(reel_read_line(&r, line, 0), -EINVAL);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(close_pair(&c), 0);

	/* a line longer than the reader's own buffer: -EMSGSIZE, nothing lost */
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	memset(big, 'M', 100);
	FCHECK_EQ(reel_write_all(c.a, big, 100, NULL), 100);
	reel_reader_init(&r, c.b, rbuf, 64);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), -EMSGSIZE);
	FCHECK_EQ(reel_read_line(&r, line, sizeof(line)), -EMSGSIZE);
	FCHECK_EQ(r.end - r.start, 64);    /* the bytes read stay in the reader */
	FCHECK_EQ(reel_read_exact(c.b, big, 36, NULL), 36);   /* the rest in the socket */
	FCHECK_EQ(close_pair(&c), 0);
	return 0;
}

static void test_io_stream_read_line(void **state)
{
	(void)state;
	run_ok(read_line_main, NULL);
}

/* ---- the reader's shapes: shared pieces ------------------------------------------------ */

/* Bytes written to @fd's stream and not yet read (a pipe's read end or a
 * socket). */
static int unread(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 ? n : -errno;
}

/* Yield until nothing is left unread in @fd: its reader has taken it. */
static int drained(int fd)
{
	uint64_t t0 = reel_now();

	while (unread(fd) > 0) {
		FCHECK(reel_now() - t0 < 2 * SEC);
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

/* A stream transport: a pipe (@pipe) or an AF_UNIX socketpair; rd reads. */
struct chan2 {
	int rd, wr;
};

static int open_chan(struct chan2 *c, bool pipe)
{
	int fds[2];

	if (pipe)
		FCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	else
		FCHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	c->rd = fds[0];
	c->wr = fds[1];
	return 0;
}

static int close_chan(struct chan2 *c)
{
	if (c->wr >= 0)
		FCHECK_EQ(reel_close(c->wr), 0);
	FCHECK_EQ(reel_close(c->rd), 0);
	return 0;
}

/*
 * The feeder: sends data[0 .. len) in pieces cut at cuts[], each piece only
 * once the previous one has been read (so each arrives as a read of its
 * own, and every cut is a read boundary); closes its end after the last
 * when @close_after.
 */
struct feed {
	struct chan2 *c;
	const char *data;
	size_t len;
	size_t cuts[4];
	size_t ncuts;
	bool close_after;
};

static int feeder(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;

	for (size_t i = 0; i <= f->ncuts; i++) {
		size_t to = i < f->ncuts ? f->cuts[i] : f->len;

		if (i > 0)
			FCHECK_EQ(drained(f->c->rd), 0);
		FCHECK_EQ(reel_write_all(f->c->wr, f->data + off, to - off, NULL),
			  (ssize_t)(to - off));
		off = to;
	}
	if (f->close_after) {
		FCHECK_EQ(reel_close(f->c->wr), 0);
		f->c->wr = -1;
	}
	return 0;
}

/* Read everything left with reel_reader_take (@want bytes, then the end of
 * the stream) and compare it with @expect. */
static int take_rest(struct reel_reader *r, const char *expect, size_t want)
{
	char buf[256];
	size_t got = 0;

	FCHECK(want <= sizeof(buf));
	while (got < want) {
		ssize_t n = reel_reader_take(r, buf + got, sizeof(buf) - got);

		FCHECK(n > 0);
		got += (size_t)n;
	}
	FCHECK_EQ(got, want);
	FCHECK(memcmp(buf, expect, want) == 0);
	FCHECK_EQ(reel_reader_take(r, buf, sizeof(buf)), 0);
	return 0;
}

/* ---- reel_reader_read_exact ------------------------------------------------------------- */

/* 40 bytes read as 10 (at most the buffer: all or nothing) then 30 (more
 * than the buffer: straight into the caller's), cut at every position
 * (and at every pair k, k + 7), over a pipe and a socketpair. */
static int read_exact_splits_main(void *arg)
{
	static const char msg[] = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
	const size_t len = sizeof(msg) - 1;
	char rbuf[16], out[64];
	struct reel_reader r;
	struct chan2 c;
	struct feed f;
	reel_task t;
	size_t done;
	int st;

	(void)arg;
	for (int tr = 0; tr < 2; tr++) {
		for (size_t k = 1; k < len; k++) {
			for (int pair = 0; pair < 2; pair++) {
				FCHECK_EQ(open_chan(&c, tr == 0), 0);
				f = (struct feed){ .c = &c, .data = msg, .len = len,
						   .cuts = { k, k + 7 }, .ncuts = 1,
						   .close_after = true };
				if (pair && k + 7 < len)
					f.ncuts = 2;
				reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
				FCHECK_EQ(reel_spawn(&t, feeder, &f, NULL), 0);
				memset(out, 0, sizeof(out));
				FCHECK_EQ(reel_reader_read_exact(&r, out, 10, &done), 10);
				FCHECK_EQ(done, 10);
				FCHECK_EQ(reel_reader_read_exact(&r, out + 10, 30, &done), 30);
				FCHECK_EQ(done, 30);
				FCHECK(memcmp(out, msg, len) == 0);
				FCHECK_EQ(reel_reader_buffered(&r, NULL), 0);
				FCHECK_EQ(reel_reader_read_exact(&r, out, 5, &done), 0);
				FCHECK_EQ(reel_join(t, &st), 0);
				FCHECK_EQ(st, 0);
				FCHECK_EQ(close_chan(&c), 0);
			}
		}
	}
	return 0;
}

static void test_io_stream_reader_read_exact_every_split(void **state)
{
	(void)state;
	run_ok(read_exact_splits_main, NULL);
}

/* The stream ends before N bytes: the short count, the bytes delivered
 * (consumed), then 0; in both regimes. */
static int read_exact_eof_main(void *arg)
{
	char rbuf[8], out[32];
	struct reel_reader r;
	struct chan2 c;
	size_t done;

	(void)arg;
	FCHECK_EQ(open_chan(&c, false), 0);
	FCHECK_EQ(reel_write_all(c.wr, "12345", 5, NULL), 5);
	FCHECK_EQ(reel_shutdown(c.wr, SHUT_WR), 0);
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_reader_read_exact(&r, out, 3, &done), 3);
	FCHECK(memcmp(out, "123", 3) == 0);
	done = 99;
	FCHECK_EQ(reel_reader_read_exact(&r, out, 8, &done), 2);   /* len == cap */
	FCHECK_EQ(done, 2);
	FCHECK(memcmp(out, "45", 2) == 0);
	FCHECK_EQ(reel_reader_read_exact(&r, out, 8, &done), 0);
	FCHECK_EQ(done, 0);
	FCHECK_EQ(reel_reader_read_exact(&r, out, 0, &done), 0);
	FCHECK_EQ(close_chan(&c), 0);

	/* more than the buffer holds: 20 asked, 13 there */
	FCHECK_EQ(open_chan(&c, true), 0);
	FCHECK_EQ(reel_write_all(c.wr, "abcdefghijklm", 13, NULL), 13);
	FCHECK_EQ(reel_close(c.wr), 0);
	c.wr = -1;
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_reader_read_exact(&r, out, 2, NULL), 2);   /* the rest buffered */
	FCHECK_EQ(reel_reader_read_exact(&r, out, 20, &done), 11);
	FCHECK_EQ(done, 11);
	FCHECK(memcmp(out, "cdefghijklm", 11) == 0);
	FCHECK_EQ(reel_reader_read_exact(&r, out, 20, &done), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_reader_read_exact_end_of_stream(void **state)
{
	(void)state;
	run_ok(read_exact_eof_main, NULL);
}

/* ---- reel_reader_read_until --------------------------------------------------------------- */

/* A header block through "\r\n\r\n" and the start of a body behind it, cut
 * at every position and pair of positions (so the delimiter is cut in
 * every way), then three chunks through a two-byte delimiter. */
static int read_until_splits_main(void *arg)
{
	static const char msg[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
	static const char recs[] = "one||||two||three||";
	const size_t len = sizeof(msg) - 1, head = len - 4, rlen = sizeof(recs) - 1;
	char rbuf[64], out[64];
	struct reel_reader r;
	struct chan2 c;
	struct feed f;
	reel_task t;
	int st;

	(void)arg;
	for (size_t k = 1; k < len; k++) {
		for (size_t j = 0; j < 4; j++) {
			FCHECK_EQ(open_chan(&c, k % 2 == 0), 0);
			f = (struct feed){ .c = &c, .data = msg, .len = len, .cuts = { k, k + j + 1 },
					   .ncuts = k + j + 1 < len && j > 0 ? 2 : 1, .close_after = true };
			reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
			FCHECK_EQ(reel_spawn(&t, feeder, &f, NULL), 0);
			FCHECK_EQ(reel_reader_read_until(&r, "\r\n\r\n", 4, out, sizeof(out)), head);
			FCHECK(memcmp(out, msg, head) == 0);
			FCHECK_EQ(take_rest(&r, "BODY", 4), 0);
			FCHECK_EQ(reel_reader_read_until(&r, "\r\n\r\n", 4, out, sizeof(out)), 0);
			FCHECK_EQ(reel_join(t, &st), 0);
			FCHECK_EQ(st, 0);
			FCHECK_EQ(close_chan(&c), 0);
		}
	}
	for (size_t k = 1; k < rlen; k++) {
		FCHECK_EQ(open_chan(&c, k % 2 == 1), 0);
		f = (struct feed){ .c = &c, .data = recs, .len = rlen, .cuts = { k }, .ncuts = 1,
				   .close_after = true };
		reel_reader_init(&r, c.rd, rbuf, 8);
		FCHECK_EQ(reel_spawn(&t, feeder, &f, NULL), 0);
		FCHECK_EQ(reel_reader_read_until(&r, "||", 2, out, sizeof(out)), 5);
		FCHECK(memcmp(out, "one||", 5) == 0);
		FCHECK_EQ(reel_reader_read_until(&r, "||", 2, out, sizeof(out)), 2);   /* empty */
		FCHECK_EQ(reel_reader_read_until(&r, "||", 2, out, sizeof(out)), 5);
		FCHECK(memcmp(out, "two||", 5) == 0);
		FCHECK_EQ(reel_reader_read_until(&r, "||", 2, out, sizeof(out)), 7);
		FCHECK(memcmp(out, "three||", 7) == 0);
		FCHECK_EQ(reel_reader_read_until(&r, "||", 2, out, sizeof(out)), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, 0);
		FCHECK_EQ(close_chan(&c), 0);
	}
	return 0;
}

static void test_io_stream_reader_read_until_every_split(void **state)
{
	(void)state;
	run_ok(read_until_splits_main, NULL);
}

/* The limit (@len, or the buffer) reached without the delimiter:
 * -EMSGSIZE with the bytes left in the reader; then skip_until drops the
 * chunk, however long, and reading goes on after it. */
static int limit_then_skip_main(void *arg)
{
	static char rbuf[64], out[128], xs[100], longline[1001];
	struct reel_reader r;
	struct chan2 c;
	const void *data;
	size_t done;
	int st;
	reel_task t;
	struct feed f;

	(void)arg;
	FCHECK_EQ(open_chan(&c, false), 0);
	memset(xs, 'x', sizeof(xs));
	FCHECK_EQ(reel_write_all(c.wr, "short;", 6, NULL), 6);
	FCHECK_EQ(reel_write_all(c.wr, xs, 100, NULL), 100);
	FCHECK_EQ(reel_write_all(c.wr, xs, 100, NULL), 100);
	FCHECK_EQ(reel_write_all(c.wr, ";after;", 7, NULL), 7);
	FCHECK_EQ(reel_shutdown(c.wr, SHUT_WR), 0);
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_reader_read_until(&r, ";", 1, out, sizeof(out)), 6);
	FCHECK(memcmp(out, "short;", 6) == 0);
	FCHECK_EQ(reel_reader_read_until(&r, ";", 1, out, 10), -EMSGSIZE);   /* @len's limit */
	FCHECK(reel_reader_buffered(&r, NULL) >= 10);
	FCHECK_EQ(reel_reader_read_until(&r, ";", 1, out, sizeof(out)), -EMSGSIZE);  /* cap's */
	FCHECK_EQ(reel_reader_buffered(&r, &data), 64);
	FCHECK(memcmp(data, xs, 64) == 0);   /* the 64 bytes after "short;" */
	FCHECK_EQ(reel_reader_read_until(&r, ";", 1, out, sizeof(out)), -EMSGSIZE);  /* again */
	FCHECK_EQ(reel_reader_buffered(&r, NULL), 64);
	done = 0;
	FCHECK_EQ(reel_reader_skip_until(&r, ";", 1, &done), 201);
	FCHECK_EQ(done, 201);
	FCHECK_EQ(reel_reader_read_until(&r, ";", 1, out, sizeof(out)), 6);
	FCHECK(memcmp(out, "after;", 6) == 0);
	FCHECK_EQ(reel_reader_skip_until(&r, ";", 1, &done), 0);   /* the end, nothing left */
	FCHECK_EQ(done, 0);
	FCHECK_EQ(close_chan(&c), 0);

	/* a line too long for read_line, dropped with skip_until; the next line
	 * after it is read whole; every cut of the long line's end */
	memset(longline, 'L', sizeof(longline));
	longline[999] = '\n';
	memcpy(longline + 1000 - 5, "tail\n", 5);   /* "...Ltail\n": 1000 bytes */
	for (size_t k = 990; k < 1000; k++) {
		static char stream[1010];

		memcpy(stream, longline, 1000);
		memcpy(stream + 1000, "next\n", 5);
		FCHECK_EQ(open_chan(&c, k % 2 == 0), 0);
		f = (struct feed){ .c = &c, .data = stream, .len = 1005, .cuts = { k },
				   .ncuts = 1, .close_after = true };
		reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
		FCHECK_EQ(reel_spawn(&t, feeder, &f, NULL), 0);
		FCHECK_EQ(reel_read_line(&r, out, sizeof(out)), -EMSGSIZE);
		FCHECK_EQ(reel_reader_skip_until(&r, "\n", 1, &done), 1000);
		FCHECK_EQ(done, 1000);
		FCHECK_EQ(reel_read_line(&r, out, sizeof(out)), 5);
		FCHECK(strcmp(out, "next\n") == 0);
		FCHECK_EQ(reel_read_line(&r, out, sizeof(out)), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, 0);
		FCHECK_EQ(close_chan(&c), 0);
	}

	/* a multi-byte delimiter across the point where a full buffer is
	 * dropped: 14 'y' then "END" in a buffer of 16 */
	FCHECK_EQ(open_chan(&c, true), 0);
	FCHECK_EQ(reel_write_all(c.wr, "yyyyyyyyyyyyyyENDnext\n", 22, NULL), 22);
	FCHECK_EQ(reel_write_all(c.wr, "zzzz", 4, NULL), 4);
	FCHECK_EQ(reel_close(c.wr), 0);
	c.wr = -1;
	reel_reader_init(&r, c.rd, rbuf, 16);
	FCHECK_EQ(reel_reader_read_until(&r, "END", 3, out, sizeof(out)), -EMSGSIZE);
	FCHECK_EQ(reel_reader_skip_until(&r, "END", 3, &done), 17);
	FCHECK_EQ(reel_read_line(&r, out, sizeof(out)), 5);
	FCHECK(strcmp(out, "next\n") == 0);
	/* the end before the delimiter: everything dropped, -EPIPE, then 0 */
	FCHECK_EQ(reel_reader_skip_until(&r, "\n", 1, &done), -EPIPE);
	FCHECK_EQ(done, 4);
	FCHECK_EQ(reel_reader_buffered(&r, NULL), 0);
	FCHECK_EQ(reel_read_line(&r, out, sizeof(out)), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_reader_limit_then_skip(void **state)
{
	(void)state;
	run_ok(limit_then_skip_main, NULL);
}

/* The end of the stream inside a chunk: -EPIPE with the partial chunk kept
 * (take hands it over), then 0. */
static int read_until_eof_main(void *arg)
{
	char rbuf[32], out[32];
	struct reel_reader r;
	struct chan2 c;

	(void)arg;
	FCHECK_EQ(open_chan(&c, false), 0);
	FCHECK_EQ(reel_write_all(c.wr, "abc\r\nde\r", 8, NULL), 8);
	FCHECK_EQ(reel_shutdown(c.wr, SHUT_WR), 0);
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_reader_read_until(&r, "\r\n", 2, out, sizeof(out)), 5);
	FCHECK(memcmp(out, "abc\r\n", 5) == 0);
	FCHECK_EQ(reel_reader_read_until(&r, "\r\n", 2, out, sizeof(out)), -EPIPE);
	FCHECK_EQ(reel_reader_read_until(&r, "\r\n", 2, out, sizeof(out)), -EPIPE);
	FCHECK_EQ(reel_reader_buffered(&r, NULL), 3);
	FCHECK_EQ(take_rest(&r, "de\r", 3), 0);
	FCHECK_EQ(reel_reader_read_until(&r, "\r\n", 2, out, sizeof(out)), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_reader_read_until_end_of_stream(void **state)
{
	(void)state;
	run_ok(read_until_eof_main, NULL);
}

/* ---- reel_reader_take -------------------------------------------------------------------- */

/* Under REEL_FAULTS (short_rw), reads ask for fewer bytes than they could:
 * the counts a plain read returns are then only bounded, not exact. */
static bool faults_on(void)
{
	return getenv("REEL_FAULTS") != NULL;
}

struct take_call {
	struct reel_reader *r;
	const char *expect;
	size_t want;
};

/* take, which must hand over exactly @want bytes (those buffered). */
static int take_exactly(void *arg)
{
	struct take_call *tc = arg;
	char buf[100];

	FCHECK_EQ(reel_reader_take(tc->r, buf, sizeof(buf)), (ssize_t)tc->want);
	FCHECK(memcmp(buf, tc->expect, tc->want) == 0);
	return 0;
}

/* Take @want bytes (the stream stays open) and compare them. */
static int take_n(struct reel_reader *r, const char *expect, size_t want)
{
	char buf[64];

	for (size_t got = 0; got < want;) {
		ssize_t n = reel_reader_take(r, buf, sizeof(buf));

		FCHECK(n > 0 && (size_t)n <= want - got);
		FCHECK(memcmp(buf, expect + got, (size_t)n) == 0);
		got += (size_t)n;
	}
	return 0;
}

/* The start of a body that came with its header: take hands over what is
 * buffered without reading (nothing more is coming, so a read would park
 * until the deadline); with nothing buffered it reads once, and what that
 * read brought beyond @len stays; asked for a buffer's worth or more, it
 * reads straight into the caller's buffer. */
static int take_main(void *arg)
{
	char rbuf[16], buf[64];
	struct reel_reader r;
	struct take_call tc;
	struct chan2 c;
	const void *data;
	ssize_t n, b;
	int st;

	(void)arg;
	FCHECK_EQ(open_chan(&c, false), 0);
	FCHECK_EQ(reel_write_all(c.wr, "POST 10\nhello", 13, NULL), 13);
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	FCHECK_EQ(reel_read_line(&r, buf, sizeof(buf)), 8);
	FCHECK(strcmp(buf, "POST 10\n") == 0);
	b = reel_reader_buffered(&r, &data);
	FCHECK_EQ(b + unread(c.rd), 5);
	FCHECK(faults_on() || b == 5);
	FCHECK(memcmp(data, "hello", (size_t)b) == 0);
	if (b > 0) {
		tc = (struct take_call){ &r, "hello", (size_t)b };
		FCHECK_EQ(reel_wait_for(1 * SEC, take_exactly, &tc, &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(take_n(&r, &"hello"[b], 5 - (size_t)b), 0);
	FCHECK_EQ(reel_reader_buffered(&r, NULL), 0);

	/* nothing buffered: one read; its bytes beyond @len stay buffered */
	FCHECK_EQ(reel_write_all(c.wr, "world", 5, NULL), 5);
	n = reel_reader_take(&r, buf, 3);
	FCHECK(n >= 1 && n <= 3);
	FCHECK(faults_on() || (n == 3 && reel_reader_buffered(&r, NULL) == 2));
	FCHECK(memcmp(buf, "wor", (size_t)n) == 0);
	FCHECK_EQ(take_n(&r, &"world"[n], 5 - (size_t)n), 0);

	/* @len >= cap with nothing buffered: the read goes to @buf directly */
	FCHECK_EQ(reel_write_all(c.wr, "0123456789", 10, NULL), 10);
	n = reel_reader_take(&r, buf, sizeof(buf));
	FCHECK(n >= 1 && n <= 10);
	FCHECK(faults_on() || n == 10);
	FCHECK_EQ(reel_reader_buffered(&r, NULL), 0);
	FCHECK(memcmp(buf, "0123456789", (size_t)n) == 0);
	FCHECK_EQ(take_n(&r, &"0123456789"[n], 10 - (size_t)n), 0);

	/* asyncio's read(n) with n smaller than what is buffered */
	FCHECK_EQ(reel_write_all(c.wr, "abcdef", 6, NULL), 6);
	FCHECK_EQ(reel_reader_read_exact(&r, buf, 1, NULL), 1);
	FCHECK_EQ(take_n(&r, "bcdef", 5), 0);
	FCHECK_EQ(reel_reader_take(&r, buf, 0), 0);
	FCHECK_EQ(reel_shutdown(c.wr, SHUT_WR), 0);
	FCHECK_EQ(reel_reader_take(&r, buf, 3), 0);      /* the end */
	FCHECK_EQ(reel_reader_take(&r, buf, 64), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_reader_take_after_line(void **state)
{
	(void)state;
	run_ok(take_main, NULL);
}

/* ---- interrupted reader calls: no byte lost or duplicated ------------------------------- */

#define ISTREAM_LEN 200
#define ICAP 64

enum op_kind { OP_EXACT_SMALL, OP_EXACT_BIG, OP_UNTIL, OP_LINE, OP_SKIP, OP_TAKE };

/* One reader call, run as a task or under reel_wait_for. */
struct op_call {
	struct reel_reader *r;
	enum op_kind kind;
	char out[ISTREAM_LEN];
	size_t off;            /* where in out, for a resumed read_exact */
	size_t len;
	size_t done;
	ssize_t ret;
	bool started;
};

static int run_op(void *arg)
{
	struct op_call *oc = arg;
	char *out = oc->out + oc->off;

	oc->started = true;
	switch (oc->kind) {
	case OP_EXACT_SMALL:
	case OP_EXACT_BIG:
		oc->ret = reel_reader_read_exact(oc->r, out, oc->len, &oc->done);
		break;
	case OP_UNTIL:
		oc->ret = reel_reader_read_until(oc->r, "#", 1, out, sizeof(oc->out));
		break;
	case OP_LINE:
		oc->ret = reel_read_line(oc->r, out, sizeof(oc->out));
		break;
	case OP_SKIP:
		oc->ret = reel_reader_skip_until(oc->r, "%END", 4, &oc->done);
		break;
	case OP_TAKE:
		oc->ret = reel_reader_take(oc->r, out, sizeof(oc->out));
		break;
	}
	return (int)oc->ret;
}

/* Letters, with '#' at 50, '\n' at 60 and "%END" at 140. */
static void make_istream(char *s)
{
	for (int i = 0; i < ISTREAM_LEN; i++)
		s[i] = (char)('a' + i % 26);
	s[50] = '#';
	s[60] = '\n';
	memcpy(s + 140, "%END", 4);
}

struct icase {
	enum op_kind kind;
	size_t first;   /* bytes sent before the interruption */
	size_t len;     /* read_exact's */
};

/* Interrupt @ic's call after @ic->first bytes (by reel_cancel of its task,
 * or by a reel_wait_for deadline), check what it kept and reported, then
 * send the rest, call again, and read the stream to its end: the bytes
 * handed over, in order, must be the stream exactly. */
static int interrupt_case(const struct icase *ic, bool cancel)
{
	static char stream[ISTREAM_LEN], rest[ISTREAM_LEN], rbuf[ICAP];
	static struct op_call oc;
	struct reel_reader r;
	struct chan2 c;
	size_t consumed, have;
	reel_task t;
	uint64_t t0;
	int st;

	make_istream(stream);
	FCHECK_EQ(open_chan(&c, ic->kind % 2 == 0), 0);
	reel_reader_init(&r, c.rd, rbuf, sizeof(rbuf));
	memset(&oc, 0, sizeof(oc));
	oc = (struct op_call){ .r = &r, .kind = ic->kind, .len = ic->len, .ret = 1 };
	FCHECK_EQ(reel_write_all(c.wr, stream, ic->first, NULL), (ssize_t)ic->first);
	if (cancel) {
		FCHECK_EQ(reel_spawn(&t, run_op, &oc, NULL), 0);
		FCHECK_EQ(drained(c.rd), 0);
		FCHECK_EQ(reel_sleep(5 * MS), 0);   /* parked in its read by now */
		FCHECK(oc.started);
		FCHECK_EQ(reel_cancel(t), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, -ECANCELED);
		FCHECK_EQ(oc.ret, -ECANCELED);
	} else {
		t0 = reel_now();
		FCHECK_EQ(reel_wait_for(30 * MS, run_op, &oc, &st), -ETIMEDOUT);
		FCHECK(reel_now() - t0 >= 30 * MS);
		FCHECK_EQ(st, -ETIMEDOUT);
		FCHECK_EQ(oc.ret, -ETIMEDOUT);
	}
	/* what the interrupted call kept: everything read is reported or buffered */
	have = (size_t)reel_reader_buffered(&r, NULL);
	FCHECK_EQ(oc.done + have, ic->first);
	FCHECK(memcmp(r.buf + r.start, stream + oc.done, have) == 0);
	switch (ic->kind) {
	case OP_EXACT_BIG:     /* more than the buffer: copied out as it went */
		FCHECK(memcmp(oc.out, stream, oc.done) == 0);
		FCHECK(have < ICAP);
		break;
	case OP_SKIP:          /* dropped what could not hold the delimiter */
		FCHECK(oc.done > 0 && have >= 3 && have < ICAP);
		break;
	default:               /* nothing consumed */
		FCHECK_EQ(oc.done, 0);
		break;
	}

	/* the rest comes; the same call again (read_exact: for what is left) */
	FCHECK_EQ(reel_write_all(c.wr, stream + ic->first, ISTREAM_LEN - ic->first, NULL),
		  (ssize_t)(ISTREAM_LEN - ic->first));
	FCHECK_EQ(reel_close(c.wr), 0);
	c.wr = -1;
	consumed = oc.done;
	oc.off = oc.done;
	oc.len -= oc.done;
	FCHECK(run_op(&oc) > 0);
	switch (ic->kind) {
	case OP_EXACT_SMALL:
	case OP_EXACT_BIG:
		FCHECK_EQ(oc.ret, (ssize_t)oc.len);
		FCHECK_EQ(oc.done, oc.len);
		consumed += oc.done;
		FCHECK(memcmp(oc.out, stream, consumed) == 0);
		break;
	case OP_UNTIL:
		FCHECK_EQ(oc.ret, 51);
		break;
	case OP_LINE:
		FCHECK_EQ(oc.ret, 61);
		break;
	case OP_SKIP:          /* through the delimiter, counted from where it stopped */
		FCHECK_EQ(consumed + (size_t)oc.ret, 144);
		consumed = 144;
		break;
	case OP_TAKE:
		FCHECK(oc.ret >= 1);
		break;
	}
	if (ic->kind == OP_UNTIL || ic->kind == OP_LINE || ic->kind == OP_TAKE) {
		consumed = (size_t)oc.ret;
		FCHECK(memcmp(oc.out, stream, consumed) == 0);
	}
	FCHECK_EQ(reel_reader_read_exact(&r, rest, sizeof(rest), NULL),
		  (ssize_t)(ISTREAM_LEN - consumed));
	FCHECK(memcmp(rest, stream + consumed, ISTREAM_LEN - consumed) == 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static int interrupted_reads_main(void *arg)
{
	static const struct icase cases[] = {
		{ OP_EXACT_SMALL, 30, 40 },   /* @len <= cap: all or nothing */
		{ OP_EXACT_BIG, 100, 150 },   /* @len > cap: progress in *done */
		{ OP_UNTIL, 30, 0 },
		{ OP_LINE, 30, 0 },
		{ OP_SKIP, 100, 0 },
		{ OP_TAKE, 0, 0 },
	};

	(void)arg;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FCHECK_EQ(interrupt_case(&cases[i], true), 0);
		FCHECK_EQ(interrupt_case(&cases[i], false), 0);
	}
	return 0;
}

static void test_io_stream_reader_interrupted_loses_nothing(void **state)
{
	(void)state;
	run_ok(interrupted_reads_main, NULL);
}

/* ---- the buffered writer ------------------------------------------------------------------ */

/* Read exactly @len bytes from @fd and compare them with @expect. */
static int expect_bytes(int fd, const char *expect, size_t len)
{
	static char buf[4096];

	FCHECK(len <= sizeof(buf));
	FCHECK_EQ(reel_read_exact(fd, buf, len, NULL), (ssize_t)len);
	FCHECK(memcmp(buf, expect, len) == 0);
	return 0;
}

/* Small writes and printf gather in the buffer, nothing sent; flush sends
 * them in order; a write that does not fit goes out with the buffered
 * bytes; printf that does not fit flushes first; text too long for the
 * buffer is refused, nothing written. */
static int writer_basics_main(void *arg)
{
	char wbuf[64], big[64];
	struct reel_writer w;
	struct chan2 c;
	size_t done;

	(void)arg;
	FCHECK_EQ(open_chan(&c, false), 0);
	reel_writer_init(&w, c.wr, wbuf, sizeof(wbuf));
	FCHECK_EQ(reel_writer_write(&w, "hello ", 6, &done), 6);
	FCHECK_EQ(done, 6);
	FCHECK_EQ(reel_writer_write(&w, "world", 5, NULL), 5);
	FCHECK_EQ(reel_writer_printf(&w, "%d-%s\n", 42, "x"), 5);
	FCHECK_EQ(reel_writer_write(&w, NULL, 0, NULL), 0);
	FCHECK_EQ(reel_writer_buffered(&w), 16);
	FCHECK_EQ(unread(c.rd), 0);                        /* nothing sent yet */
	FCHECK_EQ(reel_writer_flush(&w, &done), 16);
	FCHECK_EQ(done, 16);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(expect_bytes(c.rd, "hello world42-x\n", 16), 0);
	FCHECK_EQ(reel_writer_flush(&w, &done), 0);         /* nothing to flush */
	FCHECK_EQ(done, 0);

	/* 60 buffered + 10 more do not fit: one writev of both, in order */
	memset(big, 'b', sizeof(big));
	FCHECK_EQ(reel_writer_write(&w, big, 60, NULL), 60);
	FCHECK_EQ(reel_writer_write(&w, "0123456789", 10, &done), 10);
	FCHECK_EQ(done, 10);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(unread(c.rd), 70);
	FCHECK_EQ(expect_bytes(c.rd, big, 60), 0);
	FCHECK_EQ(expect_bytes(c.rd, "0123456789", 10), 0);

	/* printf that does not fit the room: the buffer goes first */
	FCHECK_EQ(reel_writer_write(&w, big, 60, NULL), 60);
	FCHECK_EQ(reel_writer_printf(&w, "[%08x]", 0xabcdu), 10);
	FCHECK_EQ(reel_writer_buffered(&w), 10);
	FCHECK_EQ(unread(c.rd), 60);
	FCHECK_EQ(expect_bytes(c.rd, big, 60), 0);
	/* text of cap bytes or more: -EMSGSIZE, nothing buffered or sent */
	FCHECK_EQ(reel_writer_printf(&w, "%64s", "x"), -EMSGSIZE);
	FCHECK_EQ(reel_writer_printf(&w, "%100d", 1), -EMSGSIZE);
	FCHECK_EQ(reel_writer_buffered(&w), 10);
	FCHECK_EQ(unread(c.rd), 0);
	FCHECK_EQ(reel_writer_flush(&w, NULL), 10);
	FCHECK_EQ(expect_bytes(c.rd, "[0000abcd]", 10), 0);
	/* cap - 1 bytes of text into an empty buffer fit */
	FCHECK_EQ(reel_writer_printf(&w, "%63s", "y"), 63);
	FCHECK_EQ(reel_writer_buffered(&w), 63);
	FCHECK_EQ(reel_writer_printf(&w, "%s", ""), 0);
	FCHECK_EQ(reel_writer_flush(&w, NULL), 63);
	memset(big, ' ', 62);
	big[62] = 'y';
	FCHECK_EQ(expect_bytes(c.rd, big, 63), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_writer_buffers_and_flushes(void **state)
{
	(void)state;
	run_ok(writer_basics_main, NULL);
}

/* A write of a buffer's worth or more goes straight out (with what was
 * buffered before it, in order), never through the buffer. */
static int writer_bypass_main(void *arg)
{
	static char data[3000];
	char wbuf[64];
	struct reel_writer w;
	struct chan2 c;
	size_t done;

	(void)arg;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)rng();
	FCHECK_EQ(open_chan(&c, false), 0);
	reel_writer_init(&w, c.wr, wbuf, sizeof(wbuf));
	FCHECK_EQ(reel_writer_write(&w, data, 1000, &done), 1000);
	FCHECK_EQ(done, 1000);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(unread(c.rd), 1000);
	FCHECK_EQ(reel_writer_write(&w, data + 1000, 10, NULL), 10);
	FCHECK_EQ(reel_writer_write(&w, data + 1010, 64, NULL), 64);   /* exactly cap */
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(unread(c.rd), 1074);
	FCHECK_EQ(reel_writer_write(&w, data + 1074, 63, NULL), 63);   /* fits */
	FCHECK_EQ(reel_writer_buffered(&w), 63);
	FCHECK_EQ(reel_writer_write(&w, data + 1137, 1863, NULL), 1863);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(unread(c.rd), 3000);
	FCHECK_EQ(expect_bytes(c.rd, data, sizeof(data)), 0);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_writer_large_write_bypasses_buffer(void **state)
{
	(void)state;
	run_ok(writer_bypass_main, NULL);
}

#define SLOW_LEN ((size_t)scaled(1) << 20)   /* 1 MiB; 100 KiB under valgrind */

struct slow_reader {
	int fd;
	const char *data;
	size_t len;
	size_t got;
	bool slow;     /* sleep 1 ms after every read: at most 3 MB/s */
};

/* Reads until the end of the stream in small pieces, now and then
 * sleeping, and checks every byte. */
static int slow_read(void *arg)
{
	struct slow_reader *s = arg;
	char buf[3000];
	ssize_t n;

	while ((n = reel_read(s->fd, buf, 1 + rng() % sizeof(buf))) > 0) {
		FCHECK(s->got + (size_t)n <= s->len);
		FCHECK(memcmp(buf, s->data + s->got, (size_t)n) == 0);
		s->got += (size_t)n;
		if (s->slow || rng() % 64 == 0)
			FCHECK_EQ(reel_sleep(1 * MS), 0);
		else
			FCHECK_EQ(reel_yield(), 0);
	}
	FCHECK_EQ(n, 0);
	return 0;
}

/* Writes of every size (and printf) through a writer to a pipe whose
 * reader is slow: the writes and flushes park while the pipe is full and
 * every byte arrives once, in order. */
static int writer_slow_pipe_main(void *arg)
{
	static char wbuf[4096];
	char *data = calloc(1, SLOW_LEN);
	struct slow_reader s;
	struct reel_writer w;
	struct chan2 c;
	reel_task t;
	int st;

	(void)arg;
	FCHECK(data);
	FCHECK_EQ(open_chan(&c, true), 0);
	reel_writer_init(&w, c.wr, wbuf, sizeof(wbuf));
	/* the stream: printf'd numbers and random runs */
	for (size_t off = 0; off < SLOW_LEN;) {
		int n = snprintf(data + off, SLOW_LEN - off, "<%zu>", off);

		FCHECK(n > 0);
		if ((size_t)n >= SLOW_LEN - off)
			break;
		off += (size_t)n;
		for (size_t k = rng() % 9000; k-- && off < SLOW_LEN;)
			data[off++] = (char)rng();
	}
	s = (struct slow_reader){ .fd = c.rd, .data = data, .len = SLOW_LEN };
	FCHECK_EQ(reel_spawn(&t, slow_read, &s, NULL), 0);
	for (size_t off = 0; off < SLOW_LEN;) {
		size_t n;

		if (data[off] == '<' && memchr(data + off, '>', SLOW_LEN - off)) {
			size_t v = strtoul(data + off + 1, NULL, 10);

			if (v == off) {
				ssize_t p = reel_writer_printf(&w, "<%zu>", off);

				FCHECK(p > 0);
				off += (size_t)p;
				continue;
			}
		}
		n = 1 + rng() % (rng() % 8 ? 100 : 10000);
		if (n > SLOW_LEN - off)
			n = SLOW_LEN - off;
		FCHECK_EQ(reel_writer_write(&w, data + off, n, NULL), (ssize_t)n);
		off += n;
		if (rng() % 50 == 0)
			FCHECK(reel_writer_flush(&w, NULL) >= 0);
	}
	FCHECK(reel_writer_flush(&w, NULL) >= 0);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(reel_close(c.wr), 0);
	c.wr = -1;
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(s.got, SLOW_LEN);
	FCHECK_EQ(close_chan(&c), 0);
	free(data);
	return 0;
}

static void test_io_stream_writer_flush_to_slow_pipe_reader(void **state)
{
	(void)state;
	run_ok(writer_slow_pipe_main, NULL);
}

#define IW_LEN 200000   /* three times what a pipe holds */

struct flush_call {
	struct reel_writer *w;
	size_t done;
	ssize_t ret;
	const char *data;   /* for write_call */
	size_t len;
};

static int flush_call(void *arg)
{
	struct flush_call *fc = arg;

	fc->ret = reel_writer_flush(fc->w, &fc->done);
	return (int)fc->ret;
}

static int write_call(void *arg)
{
	struct flush_call *fc = arg;

	fc->ret = reel_writer_write(fc->w, fc->data, fc->len, &fc->done);
	return (int)fc->ret;
}

/* Yield until @w's buffered count drops below @than (its flush moved on). */
static int buffered_below(struct reel_writer *w, ssize_t than)
{
	uint64_t t0 = reel_now();

	while (reel_writer_buffered(w) >= than) {
		FCHECK(reel_now() - t0 < 2 * SEC);
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

/*
 * A flush into a full pipe, interrupted by a deadline and then by
 * reel_cancel in the middle (after the reader took some): each reports
 * what went out, keeps the unwritten tail buffered, and the next flush
 * continues exactly. Then a large write past the buffer, interrupted the
 * same way, goes on from *done. The reader checks every byte, once, in
 * order.
 */
static int interrupted_flush_main(void *arg)
{
	static char wbuf[IW_LEN], data[2 * IW_LEN + 100];
	struct flush_call fc;
	struct slow_reader s;
	struct reel_writer w;
	struct chan2 c;
	size_t sent;
	reel_task t;
	uint64_t t0;
	int st;

	(void)arg;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)rng();
	FCHECK_EQ(open_chan(&c, true), 0);
	FCHECK(fcntl(c.wr, F_SETPIPE_SZ, 65536) >= 4096);
	reel_writer_init(&w, c.wr, wbuf, sizeof(wbuf));
	for (size_t off = 0; off < IW_LEN; off += 1000)
		FCHECK_EQ(reel_writer_write(&w, data + off, 1000, NULL), 1000);
	FCHECK_EQ(reel_writer_buffered(&w), IW_LEN);       /* all buffered, nothing sent */
	FCHECK_EQ(unread(c.rd), 0);

	/* a deadline: the pipe fills, the flush parks, the deadline passes */
	fc = (struct flush_call){ .w = &w, .ret = 1 };
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(30 * MS, flush_call, &fc, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(fc.done > 0 && fc.done < IW_LEN);
	FCHECK_EQ(unread(c.rd), (int)fc.done);
	FCHECK_EQ(reel_writer_buffered(&w), (ssize_t)(IW_LEN - fc.done));
	sent = fc.done;

	/* reel_cancel in the middle: the reader takes 20000, the flush moves
	 * on, parks again, and is cancelled */
	fc = (struct flush_call){ .w = &w, .ret = 1 };
	FCHECK_EQ(reel_spawn(&t, flush_call, &fc, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(expect_bytes(c.rd, data, 4000), 0);
	FCHECK_EQ(expect_bytes(c.rd, data + 4000, 4000), 0);
	FCHECK_EQ(expect_bytes(c.rd, data + 8000, 4000), 0);
	FCHECK_EQ(expect_bytes(c.rd, data + 12000, 4000), 0);
	FCHECK_EQ(expect_bytes(c.rd, data + 16000, 4000), 0);
	FCHECK_EQ(buffered_below(&w, (ssize_t)(IW_LEN - sent)), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(fc.ret, -ECANCELED);
	FCHECK(fc.done > 0);
	sent += fc.done;
	FCHECK_EQ(unread(c.rd), (int)(sent - 20000));
	FCHECK_EQ(reel_writer_buffered(&w), (ssize_t)(IW_LEN - sent));

	/* from here on a reader drains, slowly; the flush ends */
	s = (struct slow_reader){ .fd = c.rd, .data = data + 20000,
				  .len = sizeof(data) - 20000, .slow = true };
	FCHECK_EQ(reel_spawn(&t, slow_read, &s, NULL), 0);
	FCHECK_EQ(reel_writer_flush(&w, &fc.done), (ssize_t)(IW_LEN - sent));
	FCHECK_EQ(fc.done, IW_LEN - sent);
	FCHECK_EQ(drained(c.rd), 0);

	/* a write far past a small buffer behind 100 buffered bytes, cut by a
	 * deadline before the slow reader can have taken enough for the rest
	 * to fit (>= 44 sleeps of 1 ms): the buffered bytes went out first,
	 * *done of the write after them */
	reel_writer_init(&w, c.wr, wbuf, 4096);
	FCHECK_EQ(reel_writer_write(&w, data + IW_LEN, 100, NULL), 100);
	fc = (struct flush_call){ .w = &w, .ret = 1, .data = data + IW_LEN + 100,
				  .len = IW_LEN };
	FCHECK_EQ(reel_wait_for(30 * MS, write_call, &fc, &st), -ETIMEDOUT);
	FCHECK_EQ(fc.ret, -ETIMEDOUT);
	FCHECK(fc.done > 0 && fc.done < IW_LEN);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	/* going on from *done; every byte once, in order */
	FCHECK_EQ(reel_writer_write(&w, fc.data + fc.done, fc.len - fc.done, NULL),
		  (ssize_t)(fc.len - fc.done));
	FCHECK(reel_writer_flush(&w, NULL) >= 0);
	FCHECK_EQ(reel_writer_buffered(&w), 0);
	FCHECK_EQ(reel_close(c.wr), 0);
	c.wr = -1;
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(s.got, sizeof(data) - 20000);
	FCHECK_EQ(close_chan(&c), 0);
	return 0;
}

static void test_io_stream_writer_interrupted_flush_resumes(void **state)
{
	(void)state;
	run_ok(interrupted_flush_main, NULL);
}

/* ---- bad input: -EINVAL, never a crash; -EPERM only where it must park ----------------- */

static void test_io_stream_bad_input(void **state)
{
	char buf[16], out[16];
	struct reel_reader r, unset = { .fd = -1 };
	struct reel_writer w, wunset = { .fd = -1 };
	size_t done = 7;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	reel_reader_init(&r, p[0], buf, sizeof(buf));
	assert_int_equal(reel_reader_read_exact(NULL, out, 1, &done), -EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(reel_reader_read_exact(&unset, out, 1, NULL), -EINVAL);
	assert_int_equal(reel_reader_read_exact(&r, NULL, 1, NULL), -EINVAL);
	assert_int_equal(reel_reader_read_exact(&r, out, (size_t)SSIZE_MAX + 1, NULL), -EINVAL);
	assert_int_equal(reel_reader_read_until(NULL, "x", 1, out, 8), -EINVAL);
	assert_int_equal(reel_reader_read_until(&unset, "x", 1, out, 8), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, NULL, 1, out, 8), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, "x", 0, out, 8), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, "x", 1, NULL, 8), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, "x", 1, out, 0), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, "xyz", 3, out, 2), -EINVAL);   /* > limit */
	assert_int_equal(reel_reader_read_until(&r, "0123456789abcdefg", 17, out, 64), -EINVAL);
	assert_int_equal(reel_reader_read_until(&r, "x", 1, out, (size_t)SSIZE_MAX + 1), -EINVAL);
	assert_int_equal(reel_reader_take(NULL, out, 1), -EINVAL);
	assert_int_equal(reel_reader_take(&unset, out, 1), -EINVAL);
	assert_int_equal(reel_reader_take(&r, NULL, 1), -EINVAL);
	assert_int_equal(reel_reader_take(&r, out, (size_t)SSIZE_MAX + 1), -EINVAL);
	done = 7;
	assert_int_equal(reel_reader_skip_until(NULL, "x", 1, &done), -EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(reel_reader_skip_until(&r, NULL, 1, NULL), -EINVAL);
	assert_int_equal(reel_reader_skip_until(&r, "x", 0, NULL), -EINVAL);
	assert_int_equal(reel_reader_skip_until(&r, "0123456789abcdefg", 17, NULL), -EINVAL);
	assert_int_equal(reel_reader_buffered(NULL, NULL), -EINVAL);
	assert_int_equal(reel_reader_buffered(&unset, NULL), -EINVAL);
	assert_int_equal(reel_read_line(&unset, out, sizeof(out)), -EINVAL);
	/* a reader whose fields were broken: refused, not followed */
	r.start = 10;
	r.end = 5;
	assert_int_equal(reel_reader_take(&r, out, 4), -EINVAL);
	r.start = 0;
	r.end = 17;
	assert_int_equal(reel_reader_buffered(&r, NULL), -EINVAL);
	reel_reader_init(&r, p[0], buf, 0);
	assert_int_equal(reel_reader_take(&r, out, 4), -EINVAL);

	reel_writer_init(&w, p[1], buf, sizeof(buf));
	done = 7;
	assert_int_equal(reel_writer_write(NULL, "x", 1, &done), -EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(reel_writer_write(&wunset, "x", 1, NULL), -EINVAL);
	assert_int_equal(reel_writer_write(&w, NULL, 1, NULL), -EINVAL);
	assert_int_equal(reel_writer_write(&w, "x", (size_t)SSIZE_MAX + 1, NULL), -EINVAL);
	assert_int_equal(reel_writer_flush(NULL, &done), -EINVAL);
	assert_int_equal(reel_writer_flush(&wunset, NULL), -EINVAL);
	assert_int_equal(reel_writer_printf(NULL, "x"), -EINVAL);
	assert_int_equal(reel_writer_printf(&wunset, "x"), -EINVAL);
	assert_int_equal(reel_writer_buffered(NULL), -EINVAL);
	assert_int_equal(reel_writer_buffered(&wunset), -EINVAL);
	reel_writer_init(&w, p[1], buf, 0);
	assert_int_equal(reel_writer_write(&w, "x", 1, NULL), -EINVAL);

	/* outside a fiber: what needs no system call works, the rest is
	 * -EPERM and changes nothing */
	reel_writer_init(&w, p[1], buf, sizeof(buf));
	assert_int_equal(reel_writer_write(&w, "abc", 3, NULL), 3);
	assert_int_equal(reel_writer_printf(&w, "%d", 12), 2);
	assert_int_equal(reel_writer_flush(&w, &done), -EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(reel_writer_buffered(&w), 5);
	assert_int_equal(reel_writer_write(&w, "0123456789abcdef", 16, &done), -EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(reel_writer_buffered(&w), 5);
	reel_reader_init(&r, p[0], out, sizeof(out));
	assert_int_equal(reel_reader_take(&r, buf, 4), -EPERM);
	assert_int_equal(reel_reader_read_exact(&r, buf, 4, NULL), -EPERM);
	assert_int_equal(reel_reader_read_until(&r, "\n", 1, buf, 4), -EPERM);
	assert_int_equal(reel_reader_skip_until(&r, "\n", 1, NULL), -EPERM);
	assert_int_equal(reel_reader_buffered(&r, NULL), 0);
	/* nothing was written */
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(p[0]);
	close(p[1]);
}

/* ---- -EPERM outside a fiber ------------------------------------------------------------ */

static void test_io_stream_eperm_outside_fiber(void **state)
{
	char buf[16] = "abc", line[16];
	struct reel_reader rd;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(reel_read_exact(p[0], buf, 4, NULL), -EPERM);
	assert_int_equal(reel_write_all(p[1], buf, 4, NULL), -EPERM);
	reel_reader_init(&rd, p[0], buf, sizeof(buf));
	assert_int_equal(reel_read_line(&rd, line, sizeof(line)), -EPERM);
	/* nothing was written */
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_stream_read_exact_write_all_short_transfers),
		cmocka_unit_test(test_io_stream_read_line),
		cmocka_unit_test(test_io_stream_reader_read_exact_every_split),
		cmocka_unit_test(test_io_stream_reader_read_exact_end_of_stream),
		cmocka_unit_test(test_io_stream_reader_read_until_every_split),
		cmocka_unit_test(test_io_stream_reader_limit_then_skip),
		cmocka_unit_test(test_io_stream_reader_read_until_end_of_stream),
		cmocka_unit_test(test_io_stream_reader_take_after_line),
		cmocka_unit_test(test_io_stream_reader_interrupted_loses_nothing),
		cmocka_unit_test(test_io_stream_writer_buffers_and_flushes),
		cmocka_unit_test(test_io_stream_writer_large_write_bypasses_buffer),
		cmocka_unit_test(test_io_stream_writer_flush_to_slow_pipe_reader),
		cmocka_unit_test(test_io_stream_writer_interrupted_flush_resumes),
		cmocka_unit_test(test_io_stream_bad_input),
		cmocka_unit_test(test_io_stream_eperm_outside_fiber),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
