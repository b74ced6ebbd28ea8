/*
 * Description: reel_rt_listen_tcp (engine/runtime/listen.c): every loop of a
 * runtime gets a socket of its own on the same port (SO_REUSEPORT); the
 * kernel spreads a client's connections over them, so each loop accepts
 * some and none is lost or doubled; port 0 gives one port to every loop,
 * a fresh one to each host asked for, a name's too (the loops that ask
 * while the first one looks it up wait for its port); outside a runtime it is a plain
 * listener (SO_REUSEPORT set), and -EPERM outside a fiber.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>

#include "helpers.h"
#include "reel_rt.h"

#define LOOPS 2
#define MAX_LOOPS 4

/* What the loops of one runtime share, each writing its own slot. */
struct shared {
	uint16_t port;                  /* asked for */
	const char *host;
	int ports[MAX_LOOPS];           /* what each loop's socket got */
	atomic_int listening;           /* loops whose socket is open */
	atomic_int accepted;            /* connections accepted, all loops */
	int per_loop[MAX_LOOPS];
	int conns;                      /* the client makes this many */
	atomic_bool done;               /* every connection accepted */
};

static int run_rt(reel_fn fn, struct shared *sh, unsigned loops)
{
	struct reel_rt_opts o = { .loops = loops, .flags = REEL_RT_NO_PIN | REEL_RT_NO_SIGNALS };
	int st[MAX_LOOPS] = { 0 }, err = reel_rt_run(fn, sh, &o, st, loops);

	assert_int_equal(err, 0);
	assert_no_fiber_failure();
	for (unsigned i = 0; i < loops; i++)
		assert_int_equal(st[i], 0);
	return 0;
}

/* Wait (1 ms steps, 5 s at most) until *@v reaches @want. */
static int await_count(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		FCHECK_EQ(reel_sleep(MS), 0);
	FCHECK(atomic_load(v) >= want);
	return 0;
}

static int reuseport_of(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0 ? on : -errno;
}

/* ---- one port, a socket per loop ---- */

static int same_port_main(void *arg)
{
	struct shared *sh = arg;
	int i = reel_rt_index();
	int fd = reel_rt_listen_tcp(sh->host, sh->port, 0);

	FCHECK(fd >= 0);
	FCHECK_EQ(reuseport_of(fd), 1);
	sh->ports[i] = reel_local_port(fd);
	atomic_fetch_add(&sh->listening, 1);
	/* Stay open until every loop has bound: they must coexist. */
	FCHECK_EQ(await_count(&sh->listening, reel_rt_loops()), 0);
	FCHECK_EQ(reel_close(fd), 0);
	return 0;
}

/* A port that was free a moment ago. */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void test_rt_listen_every_loop_gets_the_port(void **state)
{
	struct shared sh = { .host = "127.0.0.1" };

	(void)state;
	sh.port = free_port();
	run_rt(same_port_main, &sh, LOOPS);
	for (int i = 0; i < LOOPS; i++)
		assert_int_equal(sh.ports[i], sh.port);
}

/* ---- port 0 ---- */

static void test_rt_listen_port0_is_one_port_for_all_loops(void **state)
{
	struct shared sh = { .host = "127.0.0.1", .port = 0 };
	struct shared again = sh;

	(void)state;
	run_rt(same_port_main, &sh, MAX_LOOPS);
	assert_true(sh.ports[0] > 0);
	for (int i = 1; i < MAX_LOOPS; i++)
		assert_int_equal(sh.ports[i], sh.ports[0]);
	/* A runtime of its own asks again: a port again, shared again. */
	run_rt(same_port_main, &again, LOOPS);
	assert_true(again.ports[0] > 0);
	assert_int_equal(again.ports[1], again.ports[0]);
}

/* Port 0 on every address (NULL host) is a group of its own too. */
static void test_rt_listen_port0_any_address(void **state)
{
	struct shared sh = { .host = NULL, .port = 0 };

	(void)state;
	run_rt(same_port_main, &sh, LOOPS);
	assert_true(sh.ports[0] > 0);
	assert_int_equal(sh.ports[1], sh.ports[0]);
}

/* A name: the first loop parks in the lookup while the others find the
 * port pending and wait for it; all end on one port. */
static void test_rt_listen_port0_by_name(void **state)
{
	struct shared sh = { .host = "localhost", .port = 0 };

	(void)state;
	run_rt(same_port_main, &sh, MAX_LOOPS);
	assert_true(sh.ports[0] > 0);
	for (int i = 1; i < MAX_LOOPS; i++)
		assert_int_equal(sh.ports[i], sh.ports[0]);
}

/* ---- connections spread over the loops ---- */

struct accept_job {
	int lfd;
};

static int accept_one(void *arg)
{
	struct accept_job *j = arg;

	return reel_accept(j->lfd, NULL, NULL, 0);
}

/* Accept until the client's connections are all in; count ours. */
static int accept_until_done(struct shared *sh, int lfd, int me)
{
	struct accept_job j = { lfd };

	while (!atomic_load(&sh->done)) {
		int fd = -1;

		/* An accept that completed wins over the deadline: wait_for
		 * may say -ETIMEDOUT with a connection in @fd (a slow run,
		 * valgrind), which must be counted, not dropped. */
		reel_wait_for(20 * MS, accept_one, &j, &fd);
		if (fd == -ETIMEDOUT)
			continue;
		FCHECK(fd >= 0);
		FCHECK_EQ(reel_close(fd), 0);
		sh->per_loop[me]++;
		if (atomic_fetch_add(&sh->accepted, 1) + 1 == sh->conns)
			atomic_store(&sh->done, true);
	}
	return 0;
}

static int client(struct shared *sh, uint16_t port)
{
	for (int i = 0; i < sh->conns; i++) {
		int fd = reel_connect_tcp("127.0.0.1", port);

		FCHECK(fd >= 0);
		FCHECK_EQ(reel_close(fd), 0);
	}
	return 0;
}

static int client_task(void *arg)
{
	struct shared *sh = arg;

	return client(sh, (uint16_t)sh->ports[0]);
}

static int spread_main(void *arg)
{
	struct shared *sh = arg;
	int me = reel_rt_index(), lfd, err, st = 0;
	reel_task t;

	lfd = reel_rt_listen_tcp("127.0.0.1", 0, 256);
	FCHECK(lfd >= 0);
	sh->ports[me] = reel_local_port(lfd);
	atomic_fetch_add(&sh->listening, 1);
	FCHECK_EQ(await_count(&sh->listening, reel_rt_loops()), 0);
	if (me == 0) {
		FCHECK_EQ(reel_spawn(&t, client_task, sh, NULL), 0);
	}
	err = accept_until_done(sh, lfd, me);
	if (me == 0) {
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(reel_close(lfd), 0);
	return err;
}

static void test_rt_listen_connections_spread_over_loops(void **state)
{
	struct shared sh = { .conns = 64 };

	(void)state;
	run_rt(spread_main, &sh, LOOPS);
	assert_int_equal(sh.ports[1], sh.ports[0]);
	assert_int_equal(atomic_load(&sh.accepted), sh.conns);
	assert_int_equal(sh.per_loop[0] + sh.per_loop[1], sh.conns);
	/* Hashing 64 connections onto 2 sockets: one gets none with 2^-63. */
	assert_true(sh.per_loop[0] > 0);
	assert_true(sh.per_loop[1] > 0);
}

/* ---- outside a runtime ---- */

static int plain_main(void *arg)
{
	int lfd = reel_rt_listen_tcp("127.0.0.1", 0, 0), port, cfd, afd;

	(void)arg;
	FCHECK(lfd >= 0);
	FCHECK_EQ(reuseport_of(lfd), 1);
	FCHECK_EQ(reel_rt_loops(), 1);
	port = reel_local_port(lfd);
	FCHECK(port > 0);
	cfd = reel_connect_tcp("127.0.0.1", (uint16_t)port);
	FCHECK(cfd >= 0);
	afd = reel_accept(lfd, NULL, NULL, 0);
	FCHECK(afd >= 0);
	FCHECK_EQ(reel_close(afd), 0);
	FCHECK_EQ(reel_close(cfd), 0);
	FCHECK_EQ(reel_close(lfd), 0);
	return 0;
}

static void test_rt_listen_outside_a_runtime(void **state)
{
	(void)state;
	run_ok(plain_main, NULL);
	assert_int_equal(reel_rt_listen_tcp("127.0.0.1", 0, 0), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rt_listen_every_loop_gets_the_port),
		cmocka_unit_test(test_rt_listen_port0_is_one_port_for_all_loops),
		cmocka_unit_test(test_rt_listen_port0_any_address),
		cmocka_unit_test(test_rt_listen_port0_by_name),
		cmocka_unit_test(test_rt_listen_connections_spread_over_loops),
		cmocka_unit_test(test_rt_listen_outside_a_runtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
