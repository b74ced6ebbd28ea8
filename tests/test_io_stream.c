/*
 * Description: whole transfers and lines over a descriptor
 * (engine/io/stream.c; api/reel_io.h): reel_read_exact and reel_write_all
 * over short transfers (many small segments, far more than the socket
 * buffers hold, a deadline after a partial transfer, end of stream), the
 * line reader (reel_reader_init, reel_read_line: lines split across
 * segments, empty lines, -EMSGSIZE that loses nothing, a final line with no
 * newline, end of stream), and -EPERM outside a fiber. The streams are TCP
 * pairs (tcp_pair in helpers.h).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
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
		cmocka_unit_test(test_io_stream_eperm_outside_fiber),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
