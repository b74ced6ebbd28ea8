/*
 * soak_load_http.c - soak_load's HTTP roles (soak_load -m http), against
 * bench/http/reel_server.c (GET /hello, /stream, /big). The sampling, the
 * p99s, the counters and the output lines are soak_load.c's, unchanged:
 * reel-bench judges both loads alike.
 *
 * Slot i plays the role i % 20 picks:
 *   0-11   keep-alive (60%): one reel_http_client (api/reel_http.h) with a
 *          pool of one connection; GET /hello paced 5-15 ms apart, each
 *          checked (200, "hello, world\n") and timed from the request to the
 *          end of the body: only these make the p99. After 5-30 s the
 *          client is destroyed (its connection closed) and a new one made.
 *   12-14  streaming (15%): a client, 2-8 GET /stream on its connection,
 *          each body checked to be the 10 chunks "chunk 0\n".."chunk 9\n"
 *          (the last 180 ms after the first), then a new client.
 *   15-16  slow readers (10%): a raw socket with an 8 KiB receive buffer,
 *          GET /big (an endless stream of 16 KiB chunks), read 2 KiB at a
 *          time with 20-60 ms pauses for 2-10 s, then close; one visit in
 *          four first stops reading for 7 s, past the server's 5 s write
 *          timeout (soak.c starts it so), then reads fast: an end of stream
 *          or a reset then is the server dropping it, counted ("drops"),
 *          not an error.
 *   17-18  disconnectors (10%): a client; half the time 1-3 GET /hello
 *          first, then GET /stream, 0-5 of its chunks read, and the
 *          response closed mid-stream, which closes the connection (the
 *          server cancels the handler, parked in its 20 ms sleep or a
 *          write); then a new client.
 *   19     resetters (5%): a raw socket closed with SO_LINGER 0 (an RST)
 *          mid-request: after half a request head, after a whole GET /hello
 *          whose answer is not read, or in the middle of GET /stream.
 * Every blocking step runs under a 5 s deadline (the client's timeout_ns,
 * reel_wait_for for raw sockets). Raw sockets for the slow readers and the
 * resetters: the client does not hand out its descriptor (SO_LINGER,
 * SO_RCVBUF), and a slow reader must read a little at a time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "reel.h"
#include "reel_http.h"
#include "reel_io.h"
#include "soak_load.h"

enum http_role { H_HELLO, H_STREAM, H_SLOW, H_DISCONNECT, H_RESET };

#define HELLO_BODY "hello, world\n"     /* bench/http/http_common.h */
#define STREAM_CHUNKS 10
#define SLOW_RCVBUF 8192
#define SLOW_READ 2048
#define SLOW_STALL_MS 7000              /* past the server's 5 s write timeout */
#define DRAIN_MAX (64u << 20)           /* read fast at most this after a stall */

unsigned http_role_of(unsigned i)
{
	unsigned k = i % 20;

	return k < 12 ? H_HELLO : k < 15 ? H_STREAM : k < 17 ? H_SLOW
		: k < 19 ? H_DISCONNECT : H_RESET;
}

const char *http_role_name(unsigned role)
{
	static const char *const names[] = { "keep-alive", "streaming", "slow reader",
					     "disconnector", "resetter" };
	return names[role];
}

static char stream_body[STREAM_CHUNKS * 16];
static size_t stream_len;

static void url(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "http://%s:%u%s", L.host, (unsigned)L.port, path);
}

static int client_new(struct reel_http_client **c)
{
	static const struct reel_http_client_opts o = { .max_idle_per_origin = 1 };

	return reel_http_client_create(c, &o);
}

/* GET @path; its status must be 200. */
static int get(struct reel_http_client *c, const char *path, struct reel_http_resp **resp)
{
	char u[96];
	struct reel_http_request rq = { .method = "GET", .url = u, .timeout_ns = IO_TIMEOUT_NS };
	int err;

	url(u, sizeof(u), path);
	if ((err = reel_http_fetch(c, &rq, resp)) < 0)
		return err;
	if (reel_http_resp_status(*resp) != 200) {
		reel_http_resp_close(*resp);
		return -EPROTO;
	}
	return 0;
}

/* GET @path, its body read whole and compared with @want. */
static int get_check(struct reel_http_client *c, const char *path, const char *want,
		     size_t len)
{
	struct reel_http_resp *resp;
	const void *body;
	ssize_t n;
	int err = get(c, path, &resp);

	if (err < 0)
		return err;
	n = reel_http_resp_body(resp, &body, 4096);
	err = n < 0 ? (int)n : (size_t)n != len || memcmp(body, want, len) ? -EBADMSG : 0;
	reel_http_resp_close(resp);
	return err;
}

static int fail(const struct slot *s, const char *what, int err)
{
	if (err != -ECANCELED)
		error(s, what, err);
	return err;
}

/* ---- the client's roles ------------------------------------------------------- */

static int play_hello(struct slot *s, struct reel_http_client *c)
{
	uint64_t until = reel_now() + between(&s->rng, 5000, 30000) * MS;
	int err = 0;

	while (!err && reel_now() < until && reel_now() < L.end_ns) {
		uint64_t t0 = reel_now();

		if ((err = get_check(c, "/hello", HELLO_BODY, sizeof(HELLO_BODY) - 1)) < 0)
			return fail(s, "GET /hello", err);
		record(reel_now() - t0);
		err = reel_sleep(between(&s->rng, 5, 15) * MS);
	}
	return err;
}

static int play_stream(struct slot *s, struct reel_http_client *c)
{
	unsigned n = (unsigned)between(&s->rng, 2, 8);
	int err = 0;

	for (unsigned i = 0; !err && i < n && reel_now() < L.end_ns; i++) {
		if ((err = get_check(c, "/stream", stream_body, stream_len)) < 0)
			return fail(s, "GET /stream", err);
		err = reel_sleep(between(&s->rng, 0, 50) * MS);
	}
	return err;
}

static int play_disconnect(struct slot *s, struct reel_http_client *c)
{
	unsigned hellos = rnd(&s->rng) & 1 ? (unsigned)between(&s->rng, 1, 3) : 0;
	unsigned reads = (unsigned)between(&s->rng, 0, 5);
	struct reel_http_resp *resp;
	char chunk[8];             /* "chunk N\n": one chunk a read at most */
	int err = 0;

	for (unsigned i = 0; i < hellos; i++)
		if ((err = get_check(c, "/hello", HELLO_BODY, sizeof(HELLO_BODY) - 1)) < 0)
			return fail(s, "GET /hello", err);
	if ((err = get(c, "/stream", &resp)) < 0)
		return fail(s, "GET /stream", err);
	for (unsigned i = 0; i < reads && !err; i++) {
		ssize_t n = reel_http_resp_read(resp, chunk, sizeof(chunk));

		err = n < 0 ? (int)n : n == 0 ? -EBADMSG : 0;   /* 10 chunks, not 5 */
	}
	reel_http_resp_close(resp);   /* mid-stream: closes the connection */
	return err < 0 ? fail(s, "reading /stream", err) : 0;
}

typedef int (*client_role)(struct slot *, struct reel_http_client *);

static int with_client(struct slot *s, client_role play)
{
	struct reel_http_client *c;
	int err = client_new(&c);

	if (err < 0)
		return fail(s, "reel_http_client_create", err);
	L.open++;
	err = play(s, c);
	L.open--;
	if (reel_http_client_destroy(c) < 0 && !err)
		err = fail(s, "reel_http_client_destroy", -EBUSY);
	return err;
}

/* ---- raw sockets: slow readers and resetters -------------------------------------- */

static int connect_fn(void *arg)
{
	struct io *io = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(L.port) };

	if (inet_pton(AF_INET, L.host, &a.sin_addr) != 1)
		return -EINVAL;
	return reel_connect(io->fd, (struct sockaddr *)&a, sizeof(a));
}

static int recv_fn(void *arg)
{
	struct io *io = arg;

	io->n = reel_recv(io->fd, io->buf, io->len, 0);
	return io->n < 0 ? (int)io->n : 0;
}

/* A connected socket (@rcvbuf > 0: that SO_RCVBUF, set before connecting),
 * or -errno. */
static int raw_connect(int rcvbuf)
{
	struct io io = { .fd = reel_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
	int err;

	if (io.fd < 0)
		return io.fd;
	if (rcvbuf > 0)
		setsockopt(io.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if ((err = soak_timed(connect_fn, &io)) < 0) {
		reel_close(io.fd);
		return err;
	}
	return io.fd;
}

static int send_str(int fd, const char *s)
{
	struct io io = { fd, (char *)s, strlen(s), 0 };

	return soak_timed(soak_send_all, &io);
}

/* The next bytes: > 0, 0 at the end, or -errno. */
static ssize_t recv_some(int fd, char *buf, size_t len)
{
	struct io io = { fd, buf, len, 0 };
	int err = soak_timed(recv_fn, &io);

	return err < 0 ? err : io.n;
}

static const char big_req[] = "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char hello_req[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char stream_req[] = "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

static bool gone(ssize_t n)
{
	return n == 0 || n == -ECONNRESET || n == -EPIPE;
}

static int play_slow(struct slot *s, int fd)
{
	uint64_t until = reel_now() + between(&s->rng, 2000, 10000) * MS;
	bool stall = rnd(&s->rng) % 4 == 0;
	char buf[SLOW_READ];
	ssize_t n;
	int err;

	if ((err = send_str(fd, big_req)) < 0)
		return fail(s, "send GET /big", err);
	if ((n = recv_some(fd, buf, sizeof(buf))) <= 0)
		return fail(s, "GET /big", n ? (int)n : -ESHUTDOWN);
	if (n < 12 || memcmp(buf, "HTTP/1.1 200", 12))
		return fail(s, "GET /big", -EPROTO);
	while (reel_now() < until && reel_now() < L.end_ns) {
		if ((err = reel_sleep(between(&s->rng, 20, 60) * MS)) < 0)
			return err;
		n = recv_some(fd, buf, sizeof(buf));
		if (gone(n)) {
			L.drops++;      /* dropped without a stall: a loaded machine */
			return 0;
		}
		if (n < 0)
			return fail(s, "slow read", (int)n);
	}
	if (!stall || reel_now() + SLOW_STALL_MS * MS >= L.end_ns)
		return 0;
	if ((err = reel_sleep(SLOW_STALL_MS * MS)) < 0)
		return err;
	/* Read fast: what the socket holds, then the end if the server left. */
	for (size_t got = 0; got < DRAIN_MAX; got += (size_t)n) {
		static char drain[65536];   /* read and dropped: one for all slots */

		n = recv_some(fd, drain, sizeof(drain));
		if (gone(n)) {
			L.drops++;
			return 0;
		}
		if (n < 0)
			return fail(s, "reading /big after a stall", (int)n);
	}
	return 0;
}

/* Returns 1: close with an RST. */
static int play_reset(struct slot *s, int fd)
{
	char buf[512];
	ssize_t n;
	int err;

	switch (rnd(&s->rng) % 3) {
	case 0:         /* half a request head */
		if ((err = send_str(fd, "GET /hello HTTP/1.1\r\nHost: 127.")) < 0)
			return fail(s, "send", err);
		break;
	case 1:         /* a whole request, its answer not read */
		if ((err = send_str(fd, hello_req)) < 0)
			return fail(s, "send GET /hello", err);
		break;
	default:        /* in the middle of a stream */
		if ((err = send_str(fd, stream_req)) < 0)
			return fail(s, "send GET /stream", err);
		if ((n = recv_some(fd, buf, sizeof(buf))) <= 0)
			return fail(s, "GET /stream", n ? (int)n : -ESHUTDOWN);
		if (n < 12 || memcmp(buf, "HTTP/1.1 200", 12))
			return fail(s, "GET /stream", -EPROTO);
		break;
	}
	if ((err = reel_sleep(between(&s->rng, 0, 60) * MS)) < 0)
		return err;
	return 1;
}

static int with_socket(struct slot *s, int (*play)(struct slot *, int), int rcvbuf)
{
	int fd = raw_connect(rcvbuf), r;

	if (fd < 0)
		return fail(s, "connect", fd);
	L.open++;
	r = play(s, fd);
	close_conn(fd, r == 1);
	L.open--;
	return r < 0 ? r : 0;
}

/* ---- the slot ------------------------------------------------------------------- */

int http_slot_fiber(void *arg)
{
	struct slot *s = arg;

	if (!stream_len)
		for (unsigned i = 0; i < STREAM_CHUNKS; i++)
			stream_len += (size_t)snprintf(stream_body + stream_len,
						       sizeof(stream_body) - stream_len,
						       "chunk %u\n", i);
	/* Spread the first connects over 0.5 s instead of one SYN storm. */
	if (reel_sleep((uint64_t)(s->id % 500) * MS) < 0)
		return 0;
	while (reel_now() < L.end_ns) {
		int r;

		switch (s->role) {
		case H_HELLO: r = with_client(s, play_hello); break;
		case H_STREAM: r = with_client(s, play_stream); break;
		case H_DISCONNECT: r = with_client(s, play_disconnect); break;
		case H_SLOW: r = with_socket(s, play_slow, SLOW_RCVBUF); break;
		default: r = with_socket(s, play_reset, 0); break;
		}
		if (r == -ECANCELED)
			return 0;
		L.reconnects++;
		if (r < 0 && reel_sleep(10 * MS) < 0)   /* no tight loop on errors */
			return 0;
	}
	return 0;
}
