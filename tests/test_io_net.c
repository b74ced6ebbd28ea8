/*
 * Description: sockets through the ring (engine/io/net.c;
 * api/reel_io.h, docs/design.md §5): TCP over IPv4 and IPv6 and Unix stream round
 * trips, reel_local_port, UDP with sendmsg/recvmsg, half-close, a vanished
 * peer (EOF, then -EPIPE or -ECONNRESET, never SIGPIPE), bad descriptors
 * and NULL buffers, cancelled accept/recv/connect that lose and leak
 * nothing, a connect timed out against a full backlog, 10,000 concurrent
 * loopback connections, and -EPERM outside a fiber. (read_exact, write_all
 * and the line reader: test_io_stream.c.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_io.h"

/* Buffers that the kernel fills through the ring start out initialised:
 * valgrind cannot see those writes and would call their bytes undefined. */


/* ---- round trips: TCP over IPv4 and IPv6, Unix stream --------------------------- */

struct round_trip {
	const char *host;        /* TCP: numeric address; NULL: Unix */
	char path[108];          /* Unix socket path */
	int port;
	int client_port;         /* the client's local port, for the server */
	bool unsupported;        /* no IPv6 on this machine */
};

static int rt_client(void *arg)
{
	struct round_trip *rt = arg;
	char buf[16] = { 0 };
	int fd;

	fd = rt->host ? reel_connect_tcp(rt->host, (uint16_t)rt->port)
		      : reel_connect_unix(rt->path);
	FCHECK(fd >= 0);
	FCHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	if (rt->host) {
		rt->client_port = reel_local_port(fd);
		FCHECK(rt->client_port > 0);
		FCHECK(rt->client_port != rt->port);
	} else {
		FCHECK_EQ(reel_local_port(fd), -EAFNOSUPPORT);
	}
	FCHECK_EQ(reel_send(fd, "ping", 4, 0), 4);
	FCHECK_EQ(reel_read_exact(fd, buf, 4, NULL), 4);
	FCHECK(memcmp(buf, "pong", 4) == 0);
	FCHECK_EQ(reel_recv(fd, buf, sizeof(buf), 0), 0);   /* the server closed */
	FCHECK_EQ(reel_close(fd), 0);
	return 0;
}

static int round_trip_main(void *arg)
{
	struct round_trip *rt = arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char buf[16] = { 0 };
	reel_task t;
	int lfd, fd, st;

	lfd = rt->host ? reel_listen_tcp(rt->host, 0, 16) : reel_listen_unix(rt->path, 16);
	if (rt->host && (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)) {
		rt->unsupported = true;
		return 0;
	}
	FCHECK(lfd >= 0);
	if (rt->host) {
		rt->port = reel_local_port(lfd);
		FCHECK(rt->port > 0 && rt->port < 65536);
	}
	FCHECK_EQ(reel_spawn(&t, rt_client, rt, NULL), 0);
	memset(&ss, 0, sizeof(ss));
	fd = reel_accept(lfd, (struct sockaddr *)&ss, &sl, 0);
	FCHECK(fd >= 0);
	FCHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	FCHECK_EQ(reel_recv(fd, buf, 4, MSG_WAITALL), 4);
	FCHECK(memcmp(buf, "ping", 4) == 0);
	/* the peer's address */
	if (!rt->host) {
		FCHECK_EQ(ss.ss_family, AF_UNIX);
	} else if (strchr(rt->host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		FCHECK_EQ(sl, sizeof(*in6));
		FCHECK_EQ(in6->sin6_family, AF_INET6);
		FCHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
		FCHECK_EQ(ntohs(in6->sin6_port), rt->client_port);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		FCHECK_EQ(sl, sizeof(*in4));
		FCHECK_EQ(in4->sin_family, AF_INET);
		FCHECK_EQ(ntohl(in4->sin_addr.s_addr), INADDR_LOOPBACK);
		FCHECK_EQ(ntohs(in4->sin_port), rt->client_port);
	}
	FCHECK_EQ(reel_send(fd, "pong", 4, 0), 4);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_close(lfd), 0);
	return 0;
}

static void test_io_net_tcp4_round_trip(void **state)
{
	struct round_trip rt = { .host = "127.0.0.1" };

	(void)state;
	run_ok(round_trip_main, &rt);
}

static void test_io_net_tcp6_round_trip(void **state)
{
	struct round_trip rt = { .host = "::1" };

	(void)state;
	run_ok(round_trip_main, &rt);
	if (rt.unsupported)
		skip();   /* no IPv6 loopback here */
}

/* In a scratch directory (struct scratch, helpers.h). */
static void test_io_net_unix_round_trip(void **state)
{
	struct round_trip rt = { .host = NULL };
	struct scratch *s = *state;

	snprintf(rt.path, sizeof(rt.path), "%s", scratch_path(s, "sock"));
	run_ok(round_trip_main, &rt);
	/* a second listen on the same path replaces the stale socket file */
	run_ok(round_trip_main, &rt);
	assert_int_equal(unlink(rt.path), 0);
	assert_int_equal(scratch_entries(s), 0);
}

/* ---- reel_local_port ---------------------------------------------------------- */

static int local_port_main(void *arg)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int lfd, fd, port;

	(void)arg;
	lfd = reel_listen_tcp("127.0.0.1", 0, 4);
	FCHECK(lfd >= 0);
	port = reel_local_port(lfd);
	FCHECK(port > 0);
	FCHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	FCHECK_EQ(ntohs(a.sin_port), port);
	/* a fixed port: the same port again after a close (SO_REUSEADDR) */
	FCHECK_EQ(reel_close(lfd), 0);
	lfd = reel_listen_tcp("127.0.0.1", (uint16_t)port, 4);
	FCHECK(lfd >= 0);
	FCHECK_EQ(reel_local_port(lfd), port);
	/* the port is taken while lfd listens */
	FCHECK_EQ(reel_listen_tcp("127.0.0.1", (uint16_t)port, 4), -EADDRINUSE);
	FCHECK_EQ(reel_close(lfd), 0);
	/* not bound yet: port 0; not open: -EBADF; not a socket */
	fd = reel_socket(AF_INET, SOCK_STREAM, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_local_port(fd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_local_port(fd), -EBADF);
	FCHECK_EQ(reel_local_port(-1), -EBADF);
	/* "any" address, both families */
	lfd = reel_listen_tcp(NULL, 0, 4);
	FCHECK(lfd >= 0);
	FCHECK(reel_local_port(lfd) > 0);
	FCHECK_EQ(reel_close(lfd), 0);
	FCHECK_EQ(reel_listen_tcp("not-an-address.invalid", 0, 4), -ENOENT);
	return 0;
}

static void test_io_net_local_port(void **state)
{
	int fd, port;

	(void)state;
	run_ok(local_port_main, NULL);
	/* Context: anywhere - here outside a fiber and a loop */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	{
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	port = reel_local_port(fd);
	assert_true(port > 0);
	close(fd);
}

/* ---- UDP: sendmsg, recvmsg -------------------------------------------------------- */

struct udp {
	int a, b;                    /* both bound to 127.0.0.1 */
	int a_port, b_port;
	ssize_t got;
	char buf[64];
	struct sockaddr_in from;
	socklen_t fromlen;
	int msg_flags;
};

static int udp_bind(int fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	FCHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return 0;
}

/* Receives one datagram on b into two pieces of buffer. */
static int udp_receiver(void *arg)
{
	struct udp *u = arg;
	struct iovec iov[2] = {
		{ .iov_base = u->buf, .iov_len = 4 },
		{ .iov_base = u->buf + 4, .iov_len = sizeof(u->buf) - 4 },
	};
	struct msghdr msg = {
		.msg_name = &u->from, .msg_namelen = sizeof(u->from),
		.msg_iov = iov, .msg_iovlen = 2,
	};

	u->got = reel_recvmsg(u->b, &msg, 0);
	u->fromlen = msg.msg_namelen;
	u->msg_flags = msg.msg_flags;
	return 0;
}

static int udp_main(void *arg)
{
	struct udp *u = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct iovec iov[3] = {
		{ .iov_base = "hello", .iov_len = 5 },
		{ .iov_base = ", ", .iov_len = 2 },
		{ .iov_base = "udp", .iov_len = 3 },
	};
	struct msghdr msg = {
		.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 3,
	};
	static char big[100];
	char small[10] = { 0 };
	struct iovec siov = { .iov_base = small, .iov_len = sizeof(small) };
	struct msghdr smsg = { .msg_iov = &siov, .msg_iovlen = 1 };
	reel_task t;

	u->a = reel_socket(AF_INET, SOCK_DGRAM, 0);
	u->b = reel_socket(AF_INET, SOCK_DGRAM, 0);
	FCHECK(u->a >= 0 && u->b >= 0);
	FCHECK_EQ(udp_bind(u->a), 0);
	FCHECK_EQ(udp_bind(u->b), 0);
	u->a_port = reel_local_port(u->a);
	u->b_port = reel_local_port(u->b);
	FCHECK(u->a_port > 0 && u->b_port > 0);
	to.sin_port = htons((uint16_t)u->b_port);
	/* the receiver parks first; the datagram wakes it */
	u->got = 1;
	FCHECK_EQ(reel_spawn(&t, udp_receiver, u, NULL), 0);
	FCHECK_EQ(reel_sleep(10 * MS), 0);
	FCHECK_EQ(u->got, 1);
	FCHECK_EQ(reel_sendmsg(u->a, &msg, 0), 10);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(u->got, 10);
	FCHECK(memcmp(u->buf, "hello, udp", 10) == 0);
	FCHECK_EQ(u->fromlen, sizeof(struct sockaddr_in));
	FCHECK_EQ(u->from.sin_family, AF_INET);
	FCHECK_EQ(ntohl(u->from.sin_addr.s_addr), INADDR_LOOPBACK);
	FCHECK_EQ(ntohs(u->from.sin_port), u->a_port);
	/* a datagram larger than the buffer: truncated, and said so */
	memset(big, 'B', sizeof(big));
	FCHECK_EQ(reel_sendmsg(u->a, &(struct msghdr){ .msg_name = &to, .msg_namelen = sizeof(to),
			.msg_iov = &(struct iovec){ big, sizeof(big) }, .msg_iovlen = 1 }, 0), 100);
	FCHECK_EQ(reel_recvmsg(u->b, &smsg, 0), 10);
	FCHECK(smsg.msg_flags & MSG_TRUNC);
	FCHECK(memcmp(small, big, 10) == 0);
	/* datagrams over the connected-socket calls too */
	FCHECK_EQ(connect(u->a, (struct sockaddr *)&to, sizeof(to)), 0);
	FCHECK_EQ(reel_send(u->a, "xy", 2, 0), 2);
	FCHECK_EQ(reel_recv(u->b, small, sizeof(small), 0), 2);
	FCHECK(memcmp(small, "xy", 2) == 0);
	FCHECK_EQ(reel_recvmsg(u->b, NULL, 0), -EINVAL);
	FCHECK_EQ(reel_sendmsg(u->a, NULL, 0), -EINVAL);
	FCHECK_EQ(reel_close(u->a), 0);
	FCHECK_EQ(reel_close(u->b), 0);
	return 0;
}

static void test_io_net_udp_sendmsg_recvmsg(void **state)
{
	struct udp u;

	(void)state;
	memset(&u, 0, sizeof(u));
	run_ok(udp_main, &u);
}

/* ---- shutdown, vanished peer --------------------------------------------------------- */

static int shutdown_main(void *arg)
{
	struct conn c;
	char buf[8] = { 0 };

	(void)arg;
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	FCHECK_EQ(reel_send(c.a, "abc", 3, 0), 3);
	FCHECK_EQ(reel_shutdown(c.a, SHUT_WR), 0);
	FCHECK_EQ(reel_read_exact(c.b, buf, 3, NULL), 3);
	FCHECK(memcmp(buf, "abc", 3) == 0);
	FCHECK_EQ(reel_recv(c.b, buf, sizeof(buf), 0), 0);   /* EOF */
	FCHECK_EQ(reel_recv(c.b, buf, sizeof(buf), 0), 0);   /* and again */
	/* half-closed: the other direction still works */
	FCHECK_EQ(reel_send(c.b, "back", 4, 0), 4);
	FCHECK_EQ(reel_read_exact(c.a, buf, 4, NULL), 4);
	FCHECK(memcmp(buf, "back", 4) == 0);
	/* sending on the shut-down side: -EPIPE, no signal */
	FCHECK_EQ(reel_send(c.a, "x", 1, 0), -EPIPE);
	FCHECK_EQ(reel_shutdown(c.b, SHUT_RDWR), 0);
	FCHECK_EQ(reel_recv(c.a, buf, sizeof(buf), 0), 0);
	FCHECK_EQ(close_pair(&c), 0);
	FCHECK_EQ(reel_shutdown(c.a, SHUT_WR), -EBADF);
	return 0;
}

static void test_io_net_shutdown_wr_gives_peer_eof(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_DFL);   /* a SIGPIPE would kill the test */
	run_ok(shutdown_main, NULL);
}

/* Sends until the closed peer's reset shows: -EPIPE or -ECONNRESET. */
static int send_until_error(int fd, bool use_sendmsg)
{
	ssize_t r = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		if (use_sendmsg) {
			struct iovec iov = { .iov_base = "data", .iov_len = 4 };
			struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

			r = reel_sendmsg(fd, &msg, 0);
		} else {
			r = reel_send(fd, "data", 4, 0);
		}
		if (r < 0)
			break;
		FCHECK_EQ(r, 4);
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	}
	FCHECK(r == -EPIPE || r == -ECONNRESET);
	/* from then on: -EPIPE, still no signal */
	FCHECK_EQ(reel_send(fd, "data", 4, 0), -EPIPE);
	return 0;
}

static int closed_peer_main(void *arg)
{
	struct conn c;
	char buf[8] = { 0 };

	(void)arg;
	for (int k = 0; k < 2; k++) {
		FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
		FCHECK_EQ(reel_close(c.b), 0);
		FCHECK_EQ(reel_recv(c.a, buf, sizeof(buf), 0), 0);
		FCHECK_EQ(send_until_error(c.a, k == 1), 0);
		FCHECK_EQ(reel_close(c.a), 0);
	}
	return 0;
}

static void test_io_net_closed_peer_eof_then_epipe_no_sigpipe(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_DFL);
	run_ok(closed_peer_main, NULL);
}

/* ---- bad input --------------------------------------------------------------------- */

static int bad_fd_calls(int fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct iovec iov = { .iov_base = (char[4]){ 0 }, .iov_len = 4 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	char buf[4] = { 0 };

	FCHECK_EQ(reel_recv(fd, buf, sizeof(buf), 0), -EBADF);
	FCHECK_EQ(reel_send(fd, "abc", 3, 0), -EBADF);
	FCHECK_EQ(reel_recvmsg(fd, &msg, 0), -EBADF);
	FCHECK_EQ(reel_sendmsg(fd, &msg, 0), -EBADF);
	FCHECK_EQ(reel_accept(fd, NULL, NULL, 0), -EBADF);
	FCHECK_EQ(reel_connect(fd, (struct sockaddr *)&a, sizeof(a)), -EBADF);
	FCHECK_EQ(reel_shutdown(fd, SHUT_RDWR), -EBADF);
	FCHECK_EQ(reel_read_exact(fd, buf, sizeof(buf), NULL), -EBADF);
	FCHECK_EQ(reel_write_all(fd, "abcd", 4, NULL), -EBADF);
	return 0;
}

static int bad_input_main(void *arg)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct conn c;
	int fd, p[2];
	char buf[4] = { 0 };

	(void)arg;
	fd = reel_socket(AF_INET, SOCK_STREAM, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(bad_fd_calls(fd), 0);      /* open a moment ago */
	FCHECK_EQ(bad_fd_calls(-1), 0);
	FCHECK_EQ(bad_fd_calls(100000), 0);  /* never open */
	/* not a socket: the kernel's answer */
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	FCHECK_EQ(reel_recv(p[0], buf, sizeof(buf), 0), -ENOTSOCK);
	FCHECK_EQ(reel_send(p[1], "x", 1, 0), -ENOTSOCK);
	FCHECK_EQ(reel_accept(p[0], NULL, NULL, 0), -ENOTSOCK);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_close(p[1]), 0);
	/* NULL buffers with a non-zero length, NULL addresses and paths */
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	FCHECK_EQ(reel_recv(c.a, NULL, 10, 0), -EINVAL);
	FCHECK_EQ(reel_send(c.a, NULL, 10, 0), -EINVAL);
	FCHECK_EQ(reel_read_exact(c.a, NULL, 10, NULL), -EINVAL);
	FCHECK_EQ(reel_write_all(c.a, NULL, 10, NULL), -EINVAL);
	FCHECK_EQ(reel_send(c.a, NULL, 0, 0), 0);   /* empty is fine */
	FCHECK_EQ(reel_connect(c.a, NULL, sizeof(a)), -EINVAL);
	FCHECK_EQ(reel_accept(c.a, (struct sockaddr *)&a, NULL, 0), -EINVAL);
	FCHECK_EQ(reel_accept(c.a, NULL, &alen, 0), -EINVAL);
	FCHECK_EQ(reel_connect_tcp(NULL, 80), -EINVAL);
	/* a name that cannot resolve (more on names: test_resolve.c) */
	FCHECK_EQ(reel_connect_tcp("no-such-host.invalid", 80), -ENOENT);
	FCHECK_EQ(reel_connect_unix(NULL), -EINVAL);
	FCHECK_EQ(reel_listen_unix(NULL, 1), -EINVAL);
	/* nothing was sent by the failed calls */
	FCHECK_EQ(reel_send(c.a, "ok", 2, 0), 2);
	FCHECK_EQ(reel_read_exact(c.b, buf, 2, NULL), 2);
	FCHECK(memcmp(buf, "ok", 2) == 0);
	FCHECK_EQ(close_pair(&c), 0);
	return 0;
}

static void test_io_net_bad_fd_and_null_arguments(void **state)
{
	(void)state;
	run_ok(bad_input_main, NULL);
}

static int refused_main(void *arg)
{
	int lfd, port;

	(void)arg;
	lfd = reel_listen_tcp("127.0.0.1", 0, 1);
	FCHECK(lfd >= 0);
	port = reel_local_port(lfd);
	FCHECK_EQ(reel_close(lfd), 0);   /* nobody listens there now */
	FCHECK_EQ(reel_connect_tcp("127.0.0.1", (uint16_t)port), -ECONNREFUSED);
	return 0;
}

static void test_io_net_connect_refused(void **state)
{
	(void)state;
	run_ok(refused_main, NULL);
}

/* ---- cancellation: accept, recv, connect -------------------------------------------- */

struct blocked {
	int fd;
	int port;
	int r;                    /* the call's result */
	bool started;
	unsigned char buf[32];
};

static int accept_blocked(void *arg)
{
	struct blocked *b = arg;

	b->started = true;
	b->r = reel_accept(b->fd, NULL, NULL, 0);
	return 0;
}

static int connect_blocked(void *arg)
{
	struct blocked *b = arg;

	b->started = true;
	b->r = reel_connect_tcp("127.0.0.1", (uint16_t)b->port);
	return 0;
}

static int recv_blocked(void *arg)
{
	struct blocked *b = arg;

	memset(b->buf, 0xa5, sizeof(b->buf));
	b->started = true;
	b->r = (int)reel_recv(b->fd, b->buf, sizeof(b->buf), 0);
	return 0;
}

static int accept_once(void *arg)
{
	return reel_accept((int)(intptr_t)arg, NULL, NULL, 0);
}

static int cancel_accept_main(void *arg)
{
	struct blocked b = { .r = 1 };
	reel_task t, ct;
	int lfd, base, fd, st;
	long races = scaled(300), won = 0, lost = 0;

	(void)arg;
	base = count_fds();
	FCHECK(base > 0);
	lfd = reel_listen_tcp("127.0.0.1", 0, 64);
	FCHECK(lfd >= 0);
	b.fd = lfd;
	b.port = reel_local_port(lfd);

	/* blocked in accept, cancelled: -ECANCELED, nothing opened */
	FCHECK_EQ(reel_spawn(&t, accept_blocked, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(b.started);
	FCHECK_EQ(b.r, 1);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(b.r, -ECANCELED);
	FCHECK_EQ(count_fds(), base + 1);
	/* a connection now is accepted by a new accept */
	fd = reel_connect_tcp("127.0.0.1", (uint16_t)b.port);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_wait_for(1 * SEC, accept_once, (void *)(intptr_t)lfd, &st), 0);
	FCHECK(st >= 0);
	FCHECK_EQ(count_fds(), base + 3);
	FCHECK_EQ(reel_close(st), 0);
	FCHECK_EQ(reel_close(fd), 0);

	/* a cancel racing a connection: the accept either wins (an fd is
	 * returned) or is cancelled (the connection waits in the backlog for
	 * the next accept) - exactly one accepted socket per connection */
	for (long i = 0; i < races; i++) {
		struct blocked cl = { .r = 1, .port = b.port };
		unsigned spins = (unsigned)(rng() % 4);

		b.r = 1;
		b.started = false;
		FCHECK_EQ(reel_spawn(&t, accept_blocked, &b, NULL), 0);
		FCHECK_EQ(reel_spawn(&ct, connect_blocked, &cl, NULL), 0);
		for (unsigned k = 0; k < spins; k++)
			FCHECK_EQ(reel_nop(), 0);
		FCHECK_EQ(reel_cancel(t), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		if (!b.started) {   /* cancelled before its first run: never ran */
			FCHECK_EQ(st, -ECANCELED);
			b.r = -ECANCELED;
		}
		FCHECK_EQ(reel_join(ct, &st), 0);
		FCHECK(cl.r >= 0);
		if (b.r >= 0) {
			won++;
			FCHECK_EQ(reel_close(b.r), 0);
		} else {
			FCHECK_EQ(b.r, -ECANCELED);
			lost++;
			FCHECK_EQ(reel_wait_for(1 * SEC, accept_once, (void *)(intptr_t)lfd, &st), 0);
			FCHECK(st >= 0);
			FCHECK_EQ(reel_close(st), 0);
		}
		FCHECK_EQ(reel_close(cl.r), 0);
		FCHECK_EQ(count_fds(), base + 1);
	}
	fprintf(stderr, "accept races: %ld won by the accept, %ld by the cancel\n", won, lost);
	FCHECK_EQ(reel_close(lfd), 0);
	FCHECK_EQ(count_fds(), base);
	return 0;
}

static void test_io_net_cancel_accept_loses_no_connection(void **state)
{
	(void)state;
	run_ok(cancel_accept_main, NULL);
}

static int cancel_recv_main(void *arg)
{
	struct blocked b = { .r = 1 };
	struct conn c;
	reel_task t;
	char buf[8] = { 0 };
	uint64_t t0;

	(void)arg;
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	b.fd = c.b;
	FCHECK_EQ(reel_spawn(&t, recv_blocked, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(b.started);
	FCHECK_EQ(b.r, 1);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(b.r, -ECANCELED);
	for (size_t i = 0; i < sizeof(b.buf); i++)
		FCHECK_EQ(b.buf[i], 0xa5);
	/* the data sent now is for the next recv, not the cancelled one */
	FCHECK_EQ(reel_send(c.a, "hi", 2, 0), 2);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_recv(c.b, buf, sizeof(buf), 0), 2);
	FCHECK(memcmp(buf, "hi", 2) == 0);
	for (size_t i = 0; i < sizeof(b.buf); i++)
		FCHECK_EQ(b.buf[i], 0xa5);
	/* and under a deadline */
	t0 = reel_now();
	b.r = 1;
	FCHECK_EQ(reel_wait_for(50 * MS, recv_blocked, &b, NULL), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK_EQ(b.r, -ETIMEDOUT);
	FCHECK_EQ(close_pair(&c), 0);
	return 0;
}

static void test_io_net_cancel_recv(void **state)
{
	(void)state;
	run_ok(cancel_recv_main, NULL);
}


static int cancel_connect_main(void *arg)
{
	struct blocked b = { .r = 1 };
	struct full f;
	reel_task t;
	int base = count_fds();

	(void)arg;
	FCHECK_EQ(full_backlog(&f, AF_INET), 0);
	b.port = f.port;
	FCHECK_EQ(reel_spawn(&t, connect_blocked, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK(b.started);
	FCHECK_EQ(b.r, 1);   /* still connecting */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(b.r, -ECANCELED);
	full_close(&f);
	FCHECK_EQ(count_fds(), base);   /* the socket was closed too */
	return 0;
}

static void test_io_net_cancel_connect(void **state)
{
	(void)state;
	run_ok(cancel_connect_main, NULL);
}

static int connect_to(void *arg)
{
	struct blocked *b = arg;

	b->r = reel_connect_tcp("127.0.0.1", (uint16_t)b->port);
	return b->r;
}

static int connect_timeout_main(void *arg)
{
	struct blocked b = { .r = 1 };
	struct full f;
	int st = 1, base = count_fds();
	uint64_t t0, el;

	(void)arg;
	FCHECK_EQ(full_backlog(&f, AF_INET), 0);
	b.port = f.port;
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(200 * MS, connect_to, &b, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK(el >= 200 * MS);
	FCHECK(el < 200 * MS + LATE_OK_NS);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK_EQ(b.r, -ETIMEDOUT);
	full_close(&f);
	FCHECK_EQ(count_fds(), base);
	return 0;
}

static void test_io_net_connect_timeout_full_backlog(void **state)
{
	(void)state;
	run_ok(connect_timeout_main, NULL);
}

/* ---- 10,000 concurrent loopback connections ------------------------------------------ */

struct many {
	long n;
	int lfd, port;
	reel_task *echo;         /* one per accepted connection */
	long accepted;
	long ok;                 /* clients that round-tripped */
	long connected;          /* clients connected so far */
};

struct client {
	struct many *m;
	long i;
};

/* -DMANY_CONNS=9700 runs this test where the hard RLIMIT_NOFILE is 20000
 * and cannot be raised (no CAP_SYS_RESOURCE). */
#ifndef MANY_CONNS
#define MANY_CONNS 10000
#endif

static const struct reel_spawn_opts small_stack = { .stack_size = 16 * 1024, .name = "conn" };

static int echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64] = { 0 };
	ssize_t n;

	while ((n = reel_recv(fd, buf, sizeof(buf), 0)) > 0)
		FCHECK_EQ(reel_write_all(fd, buf, (size_t)n, NULL), n);
	FCHECK_EQ(n, 0);
	FCHECK_EQ(reel_close(fd), 0);
	return 0;
}

static int acceptor(void *arg)
{
	struct many *m = arg;

	for (long i = 0; i < m->n; i++) {
		int fd = reel_accept(m->lfd, NULL, NULL, 0);

		FCHECK(fd >= 0);
		FCHECK_EQ(reel_spawn(&m->echo[i], echo_conn, (void *)(intptr_t)fd, &small_stack), 0);
		m->accepted++;
	}
	return 0;
}

static int client_conn(void *arg)
{
	struct client *c = arg;
	char msg[48], back[48] = { 0 };
	int fd, len;

	fd = reel_connect_tcp("127.0.0.1", (uint16_t)c->m->port);
	FCHECK(fd >= 0);
	/* Hold the connection until every client is connected: all n are open
	 * at the same time. */
	c->m->connected++;
	for (int ms = 0; c->m->connected < c->m->n; ms++) {
		FCHECK(ms < 60000);
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	}
	len = snprintf(msg, sizeof(msg), "client %ld says hello", c->i);
	FCHECK_EQ(reel_write_all(fd, msg, (size_t)len, NULL), len);
	FCHECK_EQ(reel_read_exact(fd, back, (size_t)len, NULL), len);
	FCHECK(memcmp(msg, back, (size_t)len) == 0);
	FCHECK_EQ(reel_close(fd), 0);
	c->m->ok++;
	return 0;
}

static int many_main(void *arg)
{
	struct many *m = arg;
	struct client *cl = calloc((size_t)m->n, sizeof(*cl));
	reel_task *ct = calloc((size_t)m->n, sizeof(*ct));
	reel_task srv;
	int st, base = count_fds();
	long failed = 0;

	m->echo = calloc((size_t)m->n, sizeof(*m->echo));
	FCHECK(cl && ct && m->echo);
	m->lfd = reel_listen_tcp("127.0.0.1", 0, 0);   /* SOMAXCONN */
	FCHECK(m->lfd >= 0);
	m->port = reel_local_port(m->lfd);
	FCHECK_EQ(reel_spawn(&srv, acceptor, m, &small_stack), 0);
	for (long i = 0; i < m->n; i++) {
		cl[i] = (struct client){ .m = m, .i = i };
		FCHECK_EQ(reel_spawn(&ct[i], client_conn, &cl[i], &small_stack), 0);
	}
	for (long i = 0; i < m->n; i++) {
		FCHECK_EQ(reel_join(ct[i], &st), 0);
		failed += st != 0;
	}
	FCHECK_EQ(reel_join(srv, &st), 0);
	FCHECK_EQ(st, 0);
	for (long i = 0; i < m->accepted; i++) {
		FCHECK_EQ(reel_join(m->echo[i], &st), 0);
		failed += st != 0;
	}
	FCHECK_EQ(failed, 0);
	FCHECK_EQ(m->ok, m->n);
	FCHECK_EQ(m->accepted, m->n);
	FCHECK_EQ(reel_close(m->lfd), 0);
	FCHECK_EQ(count_fds(), base);
	free(cl);
	free(ct);
	free(m->echo);
	return 0;
}

/* The clients' side in a child process: each connects, waits until all n
 * are connected at once, then round-trips its message. */
static int clients_main(void *arg)
{
	struct many *m = arg;
	struct client *cl = calloc((size_t)m->n, sizeof(*cl));
	reel_task *ct = calloc((size_t)m->n, sizeof(*ct));
	long failed = 0;
	int st;

	FCHECK(cl && ct);
	for (long i = 0; i < m->n; i++) {
		cl[i] = (struct client){ .m = m, .i = i };
		FCHECK_EQ(reel_spawn(&ct[i], client_conn, &cl[i], &small_stack), 0);
	}
	for (long i = 0; i < m->n; i++) {
		FCHECK_EQ(reel_join(ct[i], &st), 0);
		failed += st != 0;
	}
	FCHECK_EQ(failed, 0);
	FCHECK_EQ(m->ok, m->n);
	free(cl);
	free(ct);
	return 0;
}

/* The server's side: accept all n, echo on each; every connection is open
 * at once (the clients hold theirs until all are connected). */
static int server_main(void *arg)
{
	struct many *m = arg;
	reel_task srv;
	long failed = 0;
	int st;

	m->echo = calloc((size_t)m->n, sizeof(*m->echo));
	FCHECK(m->echo);
	FCHECK_EQ(reel_spawn(&srv, acceptor, m, &small_stack), 0);
	FCHECK_EQ(reel_join(srv, &st), 0);
	FCHECK_EQ(st, 0);
	for (long i = 0; i < m->accepted; i++) {
		FCHECK_EQ(reel_join(m->echo[i], &st), 0);
		failed += st != 0;
	}
	FCHECK_EQ(failed, 0);
	FCHECK_EQ(m->accepted, m->n);
	free(m->echo);
	return 0;
}

static bool raise_nofile(rlim_t need, struct rlimit *old)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, old) != 0)
		return false;
	lim = *old;
	lim.rlim_cur = old->rlim_max < need ? need : old->rlim_max;
	if (lim.rlim_max < need)
		lim.rlim_max = need;   /* only with CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
		return true;
	lim.rlim_cur = lim.rlim_max = old->rlim_max;
	return old->rlim_max >= need && setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

static void test_io_net_10k_concurrent_connections(void **state)
{
	struct many m = { .n = scaled(MANY_CONNS) };
	struct rlimit old;
	uint64_t t0 = reel_now();
	int wstatus, lfd;
	pid_t pid;

	(void)state;
	/* Both ends in this process need 2n descriptors: where the hard limit
	 * is lower (20000 here, no CAP_SYS_RESOURCE), the clients run in a
	 * child process and this one holds the n server-side connections. */
	if (raise_nofile((rlim_t)(2 * m.n + 500), &old)) {
		run_ok(&many_main, &m);
	} else {
		assert_true(raise_nofile((rlim_t)(m.n + 500), &old));
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(lfd >= 0);
		{
			struct sockaddr_in a = { .sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			socklen_t len = sizeof(a);

			assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
			assert_int_equal(listen(lfd, SOMAXCONN), 0);
			assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
			m.port = ntohs(a.sin_port);
		}
		m.lfd = lfd;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int status = 1;

			close(lfd);
			reel_run(clients_main, &m, NULL, &status);
			_exit(status == 0 && !fiber_failure[0] ? 0 : 1);
		}
		run_ok(&server_main, &m);
		assert_int_equal(waitpid(pid, &wstatus, 0), pid);
		assert_true(WIFEXITED(wstatus));
		assert_int_equal(WEXITSTATUS(wstatus), 0);
		close(lfd);
	}
	fprintf(stderr, "%ld connections round-tripped in %.2f s\n", m.n,
		(double)(reel_now() - t0) / 1e9);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* reel_write (not send) to a socket whose peer is gone: -EPIPE, and the
 * process lives on (reel_run ignores SIGPIPE left at its default). */
static int write_to_gone_peer(void *arg)
{
	int sv[2];

	(void)arg;
	FCHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	FCHECK_EQ(reel_close(sv[1]), 0);
	FCHECK_EQ(reel_write(sv[0], "x", 1), -EPIPE);
	FCHECK_EQ(reel_write_all(sv[0], "xyz", 3, NULL), -EPIPE);
	FCHECK_EQ(reel_close(sv[0]), 0);
	return 0;
}

static void test_io_net_write_to_gone_peer_epipe_no_sigpipe(void **state)
{
	(void)state;
	run_ok(write_to_gone_peer, NULL);
}

/* ---- -EPERM outside a fiber ------------------------------------------------------------ */

/* In a scratch directory (struct scratch, helpers.h): a refused
 * reel_listen_unix creates no socket file there. */
static void test_io_net_eperm_outside_fiber(void **state)
{
	struct scratch *s = *state;
	const char *path = scratch_path(s, "keep"), *path2 = scratch_path(s, "other");
	char buf[16] = "abc";
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(reel_socket(AF_INET, SOCK_STREAM, 0), -EPERM);
	assert_int_equal(reel_listen_tcp("127.0.0.1", 0, 1), -EPERM);
	assert_int_equal(reel_listen_unix(path2, 1), -EPERM);
	assert_int_equal(access(path2, F_OK), -1);
	assert_int_equal(reel_accept(sv[0], NULL, NULL, 0), -EPERM);
	assert_int_equal(reel_connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)), -EPERM);
	assert_int_equal(reel_connect_tcp("127.0.0.1", 9), -EPERM);
	assert_int_equal(reel_connect_unix(path), -EPERM);
	assert_int_equal(reel_recv(sv[0], buf, sizeof(buf), 0), -EPERM);
	assert_int_equal(reel_send(sv[0], buf, 3, 0), -EPERM);
	assert_int_equal(reel_recvmsg(sv[0], &msg, 0), -EPERM);
	assert_int_equal(reel_sendmsg(sv[0], &msg, 0), -EPERM);
	assert_int_equal(reel_shutdown(sv[0], SHUT_RDWR), -EPERM);
	/* the socketpair is untouched: nothing was sent, nothing shut down */
	assert_int_equal(send(sv[0], "z", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 1);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(scratch_entries(s), 0);   /* nothing was created */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_net_write_to_gone_peer_epipe_no_sigpipe),
		cmocka_unit_test(test_io_net_tcp4_round_trip),
		cmocka_unit_test(test_io_net_tcp6_round_trip),
		cmocka_unit_test_setup_teardown(test_io_net_unix_round_trip, scratch_setup,
						scratch_teardown),
		cmocka_unit_test(test_io_net_local_port),
		cmocka_unit_test(test_io_net_udp_sendmsg_recvmsg),
		cmocka_unit_test(test_io_net_shutdown_wr_gives_peer_eof),
		cmocka_unit_test(test_io_net_closed_peer_eof_then_epipe_no_sigpipe),
		cmocka_unit_test(test_io_net_bad_fd_and_null_arguments),
		cmocka_unit_test(test_io_net_connect_refused),
		cmocka_unit_test(test_io_net_cancel_accept_loses_no_connection),
		cmocka_unit_test(test_io_net_cancel_recv),
		cmocka_unit_test(test_io_net_cancel_connect),
		cmocka_unit_test(test_io_net_connect_timeout_full_backlog),
		cmocka_unit_test(test_io_net_10k_concurrent_connections),
		cmocka_unit_test_setup_teardown(test_io_net_eperm_outside_fiber, scratch_setup,
						scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
