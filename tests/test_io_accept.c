/*
 * Description: struct reel_acceptor (engine/io/accept.c): a
 * multishot accept hands out every connection once; running out of
 * descriptors (EMFILE) makes it back off without spinning and recover when
 * descriptors free up; its queue stays bounded while nobody takes from it; interrupted accepts lose nothing; close releases what
 * was not handed out; a fiber that ends with an armed acceptor aborts;
 * accept and close are -EPERM outside a fiber (init works anywhere).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_io.h"

struct server {
	int lfd;
	int port;
	struct reel_acceptor acc;
};

/* An RLIMIT_NOFILE that leaves exactly @n descriptors free: the limit
 * bounds descriptor numbers, and new ones take the lowest free numbers. */
static rlim_t limit_leaving(int n)
{
	int fd;

	for (fd = 0; n >= 0; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			n--;
	return (rlim_t)(fd - 1);
}

/* A client fiber: connect, send one byte, wait for the echo. */
static int client(void *arg)
{
	struct server *s = arg;
	char c = 'x';
	int fd = reel_connect_tcp("127.0.0.1", (uint16_t)s->port);

	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write_all(fd, &c, 1, NULL), 1);
	FCHECK_EQ(reel_read_exact(fd, &c, 1, NULL), 1);
	FCHECK_EQ(reel_close(fd), 0);
	return 0;
}

static int accepts_every_connection_once(void *arg)
{
	struct server s;
	reel_task t[20];
	int fds[20];
	char c;

	(void)arg;
	s.lfd = reel_listen_tcp("127.0.0.1", 0, 64);
	FCHECK(s.lfd >= 0);
	s.port = reel_local_port(s.lfd);
	FCHECK_EQ(reel_acceptor_init(&s.acc, s.lfd), 0);
	for (int i = 0; i < 20; i++)
		FCHECK_EQ(reel_spawn(&t[i], client, &s, NULL), 0);
	for (int i = 0; i < 20; i++) {
		fds[i] = reel_acceptor_accept(&s.acc);
		FCHECK(fds[i] >= 0);
		for (int j = 0; j < i; j++)
			FCHECK(fds[j] != fds[i]);
	}
	for (int i = 0; i < 20; i++) {
		FCHECK_EQ(reel_read_exact(fds[i], &c, 1, NULL), 1);
		FCHECK_EQ(reel_write_all(fds[i], &c, 1, NULL), 1);
	}
	for (int i = 0; i < 20; i++) {
		FCHECK_EQ(reel_join(t[i], NULL), 0);
		FCHECK_EQ(reel_close(fds[i]), 0);
	}
	FCHECK_EQ(reel_acceptor_backoffs(&s.acc), 0);
	FCHECK_EQ(reel_acceptor_close(&s.acc), 0);
	FCHECK_EQ(reel_close(s.lfd), 0);
	return 0;
}

static void test_io_accept_hands_out_every_connection_once(void **state)
{
	(void)state;
	run_ok(accepts_every_connection_once, NULL);
}

static int accept_once(void *acc)
{
	return reel_acceptor_accept(acc);
}

/* Descriptors run out after a few connections: the acceptor backs off
 * (a handful of times, not thousands: no spin) and recovers once the
 * server closes some. Clients live in a child process, whose descriptors
 * do not count against ours. */
static int recovers_from_emfile(void *arg)
{
	struct server *s = arg;
	struct rlimit old, low;
	int held[8], n = 0, fd;
	uint64_t t0;

	FCHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = limit_leaving(3);
	FCHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 3 && (fd = reel_acceptor_accept(&s->acc)) >= 0)
		held[n++] = fd;
	FCHECK_EQ(n, 3);
	/* The 4th connection is in the backlog; accepting it fails with EMFILE
	 * until we close one. Let the acceptor back off for ~300 ms. */
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(300 * MS, accept_once, &s->acc, &fd), -ETIMEDOUT);
	FCHECK_EQ(fd, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 300 * MS);
	FCHECK(reel_acceptor_backoffs(&s->acc) >= 2);
	FCHECK(reel_acceptor_backoffs(&s->acc) < 20);   /* backing off, not spinning */
	FCHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_close(held[i]), 0);
	for (int i = 0; i < 3; i++) {   /* the remaining 3 connections */
		fd = reel_acceptor_accept(&s->acc);
		FCHECK(fd >= 0);
		FCHECK_EQ(reel_close(fd), 0);
	}
	FCHECK_EQ(reel_acceptor_close(&s->acc), 0);
	return 0;
}

static void test_io_accept_backs_off_on_emfile_and_recovers(void **state)
{
	struct server s;
	pid_t pid;
	int wstatus;

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind keeps descriptors of its own past the limit */
	/* listen outside the loop, with plain calls, before the fork */
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s.lfd >= 0);
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);

		assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(listen(s.lfd, 16), 0);
		assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &len), 0);
		s.port = ntohs(a.sin_port);
	}
	reel_acceptor_init(&s.acc, s.lfd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {   /* 6 blocking clients that stay connected for a while */
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		for (int i = 0; i < 6; i++) {
			int c = socket(AF_INET, SOCK_STREAM, 0);

			if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
				_exit(1);
		}
		sleep(5);
		_exit(0);
	}
	run_ok(recovers_from_emfile, &s);
	kill(pid, SIGKILL);
	waitpid(pid, &wstatus, 0);
	close(s.lfd);
}

/* Descriptors open in this process now. */
static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

#define FIRST_WAVE (REEL_ACCEPTOR_QUEUE + 50)
#define SECOND_WAVE 300

struct queue_test {
	struct server s;
	int go;   /* write end: lets the child's second wave start */
};

/* A server that stops taking connections stops accepting once its queue
 * holds REEL_ACCEPTOR_QUEUE (plus the batch the kernel completed before
 * the stop reached it): a second wave of clients stays in the backlog, and
 * every connection still arrives once the server goes on. */
static int queue_is_bounded(void *arg)
{
	struct queue_test *q = arg;
	int first, base, after_first, fd;

	base = open_fds() + 1;                      /* + the first, handed out */
	first = reel_acceptor_accept(&q->s.acc);   /* arms the multishot */
	FCHECK(first >= 0);
	for (int i = 0; i < 500 && open_fds() - base < REEL_ACCEPTOR_QUEUE; i++)
		FCHECK_EQ(reel_sleep(10 * MS), 0);  /* the first wave arrives */
	FCHECK_EQ(reel_sleep(50 * MS), 0);          /* and the stop lands */
	after_first = open_fds() - base;
	/* Under REEL_FAULTS a small CQ overflows, and the kernel ends a
	 * multishot whose completion it cannot post: the acceptor then waits
	 * for the next accept to re-arm, having accepted fewer ahead. */
	FCHECK(after_first >= REEL_ACCEPTOR_QUEUE || getenv("REEL_FAULTS"));
	FCHECK_EQ(write(q->go, "g", 1), 1);
	FCHECK_EQ(reel_sleep(300 * MS), 0);         /* the second wave connects */
	FCHECK_EQ(open_fds() - base, after_first);  /* ... into the backlog only */
	for (int i = 1; i < FIRST_WAVE + SECOND_WAVE; i++) {
		fd = reel_wait_for(5 * SEC, accept_once, &q->s.acc, &fd) ?: fd;
		FCHECK(fd >= 0);
		FCHECK_EQ(reel_close(fd), 0);
	}
	FCHECK_EQ(reel_close(first), 0);
	FCHECK_EQ(reel_acceptor_close(&q->s.acc), 0);
	return 0;
}

static void connect_wave(const struct sockaddr_in *a, int n)
{
	for (int i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof(*a)) != 0)
			_exit(1);
	}
}

static void test_io_accept_queue_is_bounded(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct queue_test q;
	int go[2], wstatus;
	pid_t pid;
	char c;

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind's own descriptors blur the count */
	q.s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(q.s.lfd >= 0);
	assert_int_equal(bind(q.s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(q.s.lfd, 1024), 0);
	assert_int_equal(getsockname(q.s.lfd, (struct sockaddr *)&a, &len), 0);
	q.s.port = ntohs(a.sin_port);
	reel_acceptor_init(&q.s.acc, q.s.lfd);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {   /* blocking clients in a child: their fds are not ours */
		close(go[1]);
		connect_wave(&a, FIRST_WAVE);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		connect_wave(&a, SECOND_WAVE);
		sleep(10);
		_exit(0);
	}
	close(go[0]);
	q.go = go[1];
	run_ok(queue_is_bounded, &q);
	close(go[1]);
	kill(pid, SIGKILL);
	waitpid(pid, &wstatus, 0);
	close(q.s.lfd);
}

/* A fiber that returns with an armed acceptor on its stack is a bug that
 * would let the kernel write into a dead stack: reported, then abort. */
static int forgets_to_close(void *arg)
{
	struct reel_acceptor acc;
	int lfd = reel_listen_tcp("127.0.0.1", 0, 4), fd = 0;

	(void)arg;
	reel_acceptor_init(&acc, lfd);
	reel_wait_for(10 * MS, accept_once, &acc, &fd);   /* arms, times out */
	return fd;   /* without reel_acceptor_close */
}

static int spawn_forgetful(void *arg)
{
	reel_task t;

	(void)arg;
	reel_spawn(&t, forgets_to_close, NULL, NULL);
	reel_join(t, NULL);
	return 0;
}

static void test_io_accept_fiber_ending_with_armed_acceptor_aborts(void **state)
{
	char out[1024];
	int wstatus;

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* the abort is valgrind's to report there */
	wstatus = run_in_child(spawn_forgetful, NULL, NULL, out, sizeof(out));
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGABRT);
	assert_non_null(strstr(out, "in flight: opcode 13"));
	assert_non_null(strstr(out, "close the acceptor or receiver"));
}

/* ---- -EPERM outside a fiber ------------------------------------------------ */

static void test_io_accept_eperm_outside_fiber(void **state)
{
	struct reel_acceptor acc;
	char buf[4];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(reel_acceptor_init(&acc, sv[0]), 0);   /* anywhere */
	assert_int_equal(reel_acceptor_accept(&acc), -EPERM);
	assert_int_equal(reel_acceptor_close(&acc), -EPERM);
	/* the socketpair is untouched */
	assert_int_equal(send(sv[0], "z", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 1);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_accept_hands_out_every_connection_once),
		cmocka_unit_test(test_io_accept_backs_off_on_emfile_and_recovers),
		cmocka_unit_test(test_io_accept_queue_is_bounded),
		cmocka_unit_test(test_io_accept_fiber_ending_with_armed_acceptor_aborts),
		cmocka_unit_test(test_io_accept_eperm_outside_fiber),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
