/*
 * Description: fault injection (REEL_FAULTS, engine/core/fault.c; built only
 * with REEL_FAULT_INJECTION). Each injection point surfaces as the error a
 * real fault gives, or is absorbed as a real one is: a malformed schedule
 * fails reel_run with -EINVAL and a message; stack_enomem / fiber_enomem make
 * reel_spawn (and reel_run, for main) answer -ENOMEM and the loop stays
 * usable; bufpool_enomem makes reel_bufpool_create answer -ENOMEM; with
 * short_rw=1 read_exact / write_all still move every byte, in order; with
 * submit_eagain / submit_ebusy / submit_eintr, and with cq_overflow (small
 * ring, slow reaper, the kernel's overflow list used), 10k nops all
 * complete; with enobufs=1 a pooled receiver still gets every byte.
 * The schedule is set through the test hook reel__faults_set and reset to
 * none after each test.
 */
#include "helpers.h"

#include <sys/socket.h>

enum { NOP_FIBERS = 100, NOPS = 10000, STREAM_LEN = 256 * 1024 };

static int reset(void **state)
{
	(void)state;
	unsetenv("REEL_FAULTS");
	return reel__faults_set("");
}

static int return_zero(void *arg)
{
	(void)arg;
	return 0;
}

/* ---- the schedule's syntax ------------------------------------------------------- */

static void test_fault_malformed_schedule_fails_the_run_with_a_message(void **state)
{
	struct reel_run_opts o = { 0 };
	char why[512] = "";
	int status = 0;

	(void)state;
	assert_int_equal(reel__faults_set("seed=7,short_rw=3,submit_eintr=0"), 0);
	assert_int_equal(reel__faults_set("bogus=1"), -EINVAL);
	assert_int_equal(reel__faults_set("short_rw"), -EINVAL);
	assert_int_equal(reel__faults_set("short_rw=x"), -EINVAL);
	assert_int_equal(reel__faults_set("short_rw=-1"), -EINVAL);
	assert_int_equal(reel__faults_set(",,seed=1,"), 0);

	/* From the environment: the run refuses to start, and says why. */
	setenv("REEL_FAULTS", "seed=1,shortrw=3", 1);
	assert_int_equal(reel__faults_set(NULL), -EINVAL);
	o.errbuf = why;
	o.errbuf_len = sizeof(why);
	assert_int_equal(reel_run(return_zero, NULL, &o, &status), -EINVAL);
	assert_non_null(strstr(why, "REEL_FAULTS"));
	assert_non_null(strstr(why, "shortrw=3"));
	assert_int_equal(reset(NULL), 0);
	run_ok(return_zero, NULL);
}

/* ---- allocation ---------------------------------------------------------------------- */

static int spawn_fails_then_works(void *arg)
{
	const char *spec = arg;
	reel_task t;
	int st = -1;

	FCHECK_EQ(reel__faults_set(spec), 0);
	FCHECK_EQ(reel_spawn(&t, return_zero, NULL, NULL), -ENOMEM);
	FCHECK_EQ(reel_spawn_background(return_zero, NULL, NULL), -ENOMEM);
	FCHECK_EQ(reel__faults_set(""), 0);
	FCHECK_EQ(reel_spawn(&t, return_zero, NULL, NULL), 0);   /* still usable */
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void check_alloc_point(const char *spec)
{
	int status = 0;

	run_ok(spawn_fails_then_works, (void *)spec);
	/* Set before the run, main itself gets no fiber: reel_run says so. */
	setenv("REEL_FAULTS", spec, 1);
	assert_int_equal(reel__faults_set(NULL), 0);
	assert_int_equal(reel_run(return_zero, NULL, NULL, &status), -ENOMEM);
	assert_int_equal(reset(NULL), 0);
	run_ok(return_zero, NULL);
}

static void test_fault_stack_enomem_fails_spawn_and_run(void **state)
{
	(void)state;
	check_alloc_point("stack_enomem=1");
}

static void test_fault_fiber_enomem_fails_spawn_and_run(void **state)
{
	(void)state;
	check_alloc_point("fiber_enomem=1");
}

static int bufpool_main(void *arg)
{
	struct reel_bufpool *p;
	int err = 0;

	(void)arg;
	FCHECK_EQ(reel__faults_set("bufpool_enomem=1"), 0);
	FCHECK(reel_bufpool_create(8, 4096, &err) == NULL);
	FCHECK_EQ(err, -ENOMEM);
	FCHECK_EQ(reel__faults_set(""), 0);
	p = reel_bufpool_create(8, 4096, &err);
	FCHECK(p != NULL);
	FCHECK_EQ(reel_bufpool_destroy(p), 0);
	return 0;
}

static void test_fault_bufpool_enomem_fails_create(void **state)
{
	(void)state;
	run_ok(bufpool_main, NULL);
}

/* ---- short transfers ----------------------------------------------------------------- */

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

struct stream {
	int fd;
	unsigned char *buf;
};

static int write_stream(void *arg)
{
	struct stream *s = arg;
	size_t done = 0;

	FCHECK_EQ(reel_write_all(s->fd, s->buf, STREAM_LEN, &done), STREAM_LEN);
	FCHECK_EQ(done, STREAM_LEN);
	return 0;
}

/* @wfd to @rfd, STREAM_LEN bytes: all arrive, in order. */
static int check_stream(int wfd, int rfd)
{
	static unsigned char out[STREAM_LEN], in[STREAM_LEN];
	struct stream s = { wfd, out };
	reel_task t;
	int st = -1;

	for (size_t i = 0; i < STREAM_LEN; i++)
		out[i] = pattern(i);
	memset(in, 0, sizeof(in));
	FCHECK_EQ(reel_spawn(&t, write_stream, &s, NULL), 0);
	FCHECK_EQ(reel_read_exact(rfd, in, STREAM_LEN, NULL), STREAM_LEN);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(memcmp(in, out, STREAM_LEN) == 0);
	return 0;
}

static int short_rw_main(void *arg)
{
	static unsigned char back[STREAM_LEN];
	char path[] = "/tmp/reel-fault-XXXXXX";
	struct conn c;
	int p[2], fd;
	unsigned long before;

	(void)arg;
	before = reel__faults_injected(REEL__FAULT_SHORT_RW);
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	FCHECK_EQ(check_stream(c.a, c.b), 0);
	FCHECK_EQ(close_pair(&c), 0);
	FCHECK_EQ(pipe(p), 0);
	FCHECK_EQ(check_stream(p[1], p[0]), 0);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_close(p[1]), 0);
	FCHECK(reel__faults_injected(REEL__FAULT_SHORT_RW) > before + 10);

	/* A regular file: written whole through short writes, read back. */
	fd = mkstemp(path);
	FCHECK(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < STREAM_LEN; i++)
		back[i] = pattern(i);
	FCHECK_EQ(reel_write_all(fd, back, STREAM_LEN, NULL), STREAM_LEN);
	FCHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	memset(back, 0, sizeof(back));
	FCHECK_EQ(reel_read_exact(fd, back, STREAM_LEN, NULL), STREAM_LEN);
	for (size_t i = 0; i < STREAM_LEN; i++)
		FCHECK_EQ(back[i], pattern(i));
	/* A plain read: short, never empty, never more than asked. */
	FCHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	for (int i = 0; i < 50; i++) {
		ssize_t n = reel_read(fd, back, 100);

		FCHECK(n >= 1 && n <= 100);
	}
	FCHECK_EQ(reel_close(fd), 0);
	return 0;
}

static void test_fault_short_rw_read_exact_write_all_move_every_byte(void **state)
{
	(void)state;
	assert_int_equal(reel__faults_set("seed=3,short_rw=1"), 0);
	run_ok(short_rw_main, NULL);
}

/* A datagram is never shortened: that would cut the message. */
static int datagram_main(void *arg)
{
	int sv[2];
	char msg[64], got[64];

	(void)arg;
	FCHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(msg, 'd', sizeof(msg));
	for (int i = 0; i < 20; i++) {
		FCHECK_EQ(reel_send(sv[0], msg, sizeof(msg), 0), sizeof(msg));
		FCHECK_EQ(reel_recv(sv[1], got, sizeof(got), 0), sizeof(got));
	}
	FCHECK_EQ(reel_close(sv[0]), 0);
	FCHECK_EQ(reel_close(sv[1]), 0);
	return 0;
}

static void test_fault_short_rw_leaves_datagrams_whole(void **state)
{
	(void)state;
	assert_int_equal(reel__faults_set("short_rw=1"), 0);
	run_ok(datagram_main, NULL);
}

/* ---- the ring boundary --------------------------------------------------------------- */

static int nops(void *arg)
{
	long *left = arg;

	while (*left > 0) {
		(*left)--;
		FCHECK_EQ(reel_nop(), 0);
	}
	return 0;
}

static int nops_main(void *arg)
{
	reel_task t[NOP_FIBERS];
	long left = scaled(NOPS);
	int st;

	(void)arg;
	for (int i = 0; i < NOP_FIBERS; i++)
		FCHECK_EQ(reel_spawn(&t[i], nops, &left, NULL), 0);
	for (int i = 0; i < NOP_FIBERS; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK(left <= 0);
	return 0;
}

static void check_nops(const char *spec, enum reel__fault_point p)
{
	assert_int_equal(reel__faults_set(spec), 0);
	run_ok(nops_main, NULL);
	assert_true(reel__faults_injected(p) > 0);
}

static void test_fault_submit_errors_every_nop_completes(void **state)
{
	(void)state;
	check_nops("seed=42,submit_eagain=2", REEL__FAULT_SUBMIT_EAGAIN);
	check_nops("seed=42,submit_ebusy=2", REEL__FAULT_SUBMIT_EBUSY);
	check_nops("seed=42,submit_eintr=2", REEL__FAULT_SUBMIT_EINTR);
}

static void test_fault_cq_overflow_every_nop_completes(void **state)
{
	(void)state;
	check_nops("seed=42,cq_overflow=1", REEL__FAULT_CQ_OVERFLOW);
	assert_true(reel__last_run_stats()->cq_overflows > 0);
}

/* ---- buffer pools -------------------------------------------------------------------- */

static int enobufs_main(void *arg)
{
	static unsigned char out[STREAM_LEN];
	struct reel_receiver rx;
	struct reel_bufpool *pool;
	struct stream s;
	struct conn c;
	reel_task t;
	size_t got = 0;
	int err = 0, st = -1;

	(void)arg;
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	pool = reel_bufpool_create(16, 4096, &err);
	FCHECK(pool != NULL);
	FCHECK_EQ(reel_receiver_init(&rx, c.b, pool), 0);
	for (size_t i = 0; i < STREAM_LEN; i++)
		out[i] = pattern(i);
	s = (struct stream){ c.a, out };
	FCHECK_EQ(reel_spawn(&t, write_stream, &s, NULL), 0);
	while (got < STREAM_LEN) {
		const void *data;
		ssize_t n = reel_receiver_next(&rx, &data);

		FCHECK(n > 0);
		FCHECK(memcmp(data, out + got, (size_t)n) == 0);
		got += (size_t)n;
		FCHECK_EQ(reel_receiver_release(&rx, data), 0);
	}
	FCHECK_EQ(got, STREAM_LEN);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_receiver_close(&rx), 0);
	FCHECK_EQ(reel_bufpool_destroy(pool), 0);
	FCHECK_EQ(close_pair(&c), 0);
	return 0;
}

static void test_fault_enobufs_receiver_gets_every_byte(void **state)
{
	(void)state;
	assert_int_equal(reel__faults_set("seed=5,enobufs=1"), 0);
	run_ok(enobufs_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fault_malformed_schedule_fails_the_run_with_a_message, reset),
		cmocka_unit_test_teardown(test_fault_stack_enomem_fails_spawn_and_run, reset),
		cmocka_unit_test_teardown(test_fault_fiber_enomem_fails_spawn_and_run, reset),
		cmocka_unit_test_teardown(test_fault_bufpool_enomem_fails_create, reset),
		cmocka_unit_test_teardown(test_fault_short_rw_read_exact_write_all_move_every_byte, reset),
		cmocka_unit_test_teardown(test_fault_short_rw_leaves_datagrams_whole, reset),
		cmocka_unit_test_teardown(test_fault_submit_errors_every_nop_completes, reset),
		cmocka_unit_test_teardown(test_fault_cq_overflow_every_nop_completes, reset),
		cmocka_unit_test_teardown(test_fault_enobufs_receiver_gets_every_byte, reset),
	};

	reset(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
