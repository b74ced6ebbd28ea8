/*
 * Description: the ring under every set-up the ladder can take: NOP round
 * trips from many fibers, a tiny ring with 100k NOPs in flight overflowing
 * its CQ without losing one, one io_uring_enter per pass, and the docs/design.md §5
 * rule for interrupted operations: cancel, wait for the CQE, and let a
 * completed operation's result win; an io_uring_enter refused for good (a
 * seccomp filter) breaks the ring: pending and later I/O fail with the
 * error, timers still run without spinning, one sentence on stderr.
 */
#include <stdlib.h>
#include <sys/resource.h>

#include "helpers.h"

/* FOR_ALL_TEST_CONFIGS: each ring test runs under each of these. */
static const struct {
	const char *name;
	unsigned disable;
} configs[] = {
	{ "default (single_issuer + defer_taskrun)", 0 },
	{ "coop_taskrun", REEL_NO_DEFER_TASKRUN },
	{ "no single_issuer", REEL_NO_SINGLE_ISSUER | REEL_NO_DEFER_TASKRUN },
	{ "plain", REEL_NO_SINGLE_ISSUER | REEL_NO_DEFER_TASKRUN | REEL_NO_COOP_TASKRUN },
	{ "no ext_arg", REEL_NO_EXT_ARG },
	{ "plain, no ext_arg", REEL_NO_SINGLE_ISSUER | REEL_NO_DEFER_TASKRUN |
			       REEL_NO_COOP_TASKRUN | REEL_NO_EXT_ARG },
};
#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

struct nop_job {
	int nops;            /* per fiber */
	int fibers;
	long done;           /* NOPs that returned 0 */
};

static int nop_worker(void *arg)
{
	struct nop_job *j = arg;

	for (int i = 0; i < j->nops; i++) {
		FCHECK_EQ(reel_nop(), 0);
		j->done++;
	}
	return 0;
}

static int nop_main(void *arg)
{
	struct nop_job *j = arg;
	struct reel_spawn_opts o = { .stack_size = 16384 };
	reel_task *t = calloc((size_t)j->fibers, sizeof(*t));
	int st;

	FCHECK(t != NULL);
	for (int i = 0; i < j->fibers; i++)
		FCHECK_EQ(reel_spawn(&t[i], nop_worker, j, &o), 0);
	for (int i = 0; i < j->fibers; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	free(t);
	return 0;
}

static void test_ring_nop_round_trips_in_every_config(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCONFIGS; c++) {
		struct reel_run_opts o = { .disable = configs[c].disable };
		struct nop_job j = { .nops = 500, .fibers = 40 };

		print_message("config: %s\n", configs[c].name);
		run_ok_opts(nop_main, &j, &o);
		assert_int_equal(j.done, 500 * 40);
	}
}

/* 100k fibers each with one NOP on a ring of 4 SQEs and 8 CQEs: the CQ
 * overflows into the kernel's list (IORING_FEAT_NODROP) and every
 * completion must still reach its fiber. */
static void test_ring_cq_overflow_loses_nothing(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCONFIGS; c++) {
		struct reel_run_opts o = { .ring_entries = 4, .disable = configs[c].disable };
		struct nop_job j = { .nops = 1, .fibers = (int)scaled(100000) };

		print_message("config: %s\n", configs[c].name);
		run_ok_opts(nop_main, &j, &o);
		assert_int_equal(j.done, scaled(100000));
		assert_true(reel__last_run_stats()->cq_overflows > 0);
	}
}

/* Batching: 64 fibers doing NOPs in lock-step need about one blocking or
 * non-blocking enter per pass, not one per NOP: passes << NOPs. */
static void test_ring_submission_is_batched_per_pass(void **state)
{
	struct nop_job j = { .nops = 100, .fibers = 64 };
	const struct reel__loop_stats *s;

	(void)state;
	run_ok(nop_main, &j);
	s = reel__last_run_stats();
	assert_int_equal(j.done, 6400);
	assert_true(s->passes < 6400 / 16);
}

/* An op that would take 10 s (a TIMEOUT SQE), interrupted by a 30 ms
 * deadline: the fiber cancels it and returns only after its CQE came. */
static int long_op(void *arg)
{
	struct reel__loop *l = reel__loop_cur;
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct reel__op op;
	struct io_uring_sqe *sqe;
	int err, r;

	(void)arg;
	sqe = reel__ring_op_sqe(&l->ring, &op, &err);
	FCHECK(sqe != NULL);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	io_uring_sqe_set_data64(sqe, op.user_data);
	r = reel__op_wait(l, &op);
	FCHECK(op.done);                       /* the kernel is done with it */
	FCHECK_EQ(l->current->inflight, 0);
	return r;
}

static int deadline_on_long_op(void *arg)
{
	uint64_t t0 = reel_now();
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_wait_for(30 * MS, long_op, NULL, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK(reel_now() - t0 < 30 * MS + LATE_OK_NS);
	return 0;
}

static void test_ring_deadline_cancels_op_and_waits_for_its_cqe(void **state)
{
	(void)state;
	for (size_t c = 0; c < NCONFIGS; c++) {
		struct reel_run_opts o = { .disable = configs[c].disable };

		run_ok_opts(deadline_on_long_op, NULL, &o);
	}
}

static int cancelled_long_op(void *arg)
{
	int *result = arg;

	*result = long_op(NULL);
	return 0;
}

static int cancel_long_op_main(void *arg)
{
	reel_task t;
	int result = 1;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, cancelled_long_op, &result, NULL), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);     /* let it park in the kernel */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(result, -ECANCELED);
	return 0;
}

static void test_ring_cancel_interrupts_op(void **state)
{
	(void)state;
	run_ok(cancel_long_op_main, NULL);
}

/* The race the other way: the NOP is queued, its fiber is cancelled before
 * the pass submits it; the NOP completes anyway and its result wins. */
struct race {
	reel_task victim;
	int nop_result;
	int after;
};

static int racing_nop(void *arg)
{
	struct race *r = arg;

	r->nop_result = reel_nop();            /* queued, not yet submitted */
	r->after = reel_yield();               /* cancellation is still sticky */
	return 0;
}

static int canceller(void *arg)
{
	struct race *r = arg;

	return reel_cancel(r->victim);         /* runs in the same pass */
}

static int race_main(void *arg)
{
	struct race *r = arg;
	reel_task c;

	FCHECK_EQ(reel_spawn(&r->victim, racing_nop, r, NULL), 0);
	FCHECK_EQ(reel_spawn(&c, canceller, r, NULL), 0);
	FCHECK_EQ(reel_join(c, NULL), 0);
	FCHECK_EQ(reel_join(r->victim, NULL), 0);
	return 0;
}

static void test_ring_completed_op_result_wins_over_cancel(void **state)
{
	struct race r = { .nop_result = 99, .after = 99 };

	(void)state;
	run_ok(race_main, &r);
	assert_int_equal(r.nop_result, 0);     /* the NOP's own result */
	assert_int_equal(r.after, -ECANCELED);
}

/* ---- io_uring_enter refused after the loop started -------------------------- */

static int pipe_reader(void *arg)
{
	char b[8];

	return (int)reel_read(*(int *)arg, b, sizeof(b));
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * SEC +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static int enter_refused_main(void *arg)
{
	reel_task t;
	uint64_t t0, cpu0;
	int p[2], st = 0;
	char b[8];

	(void)arg;
	alarm(5);   /* before the fix the loop spins forever: end it */
	FCHECK_EQ(pipe(p), 0);
	FCHECK_EQ(reel_nop(), 0);
	/* A read parked in the kernel before the filter comes. */
	FCHECK_EQ(reel_spawn(&t, pipe_reader, &p[0], NULL), 0);
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK_EQ(refuse_syscall(SYS_io_uring_enter, EPERM), 0);
	FCHECK_EQ(reel_nop(), -EPERM);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -EPERM);
	FCHECK_EQ(reel_read(p[0], b, sizeof(b)), -EPERM);   /* at once, no park */
	/* Timers still work, by a plain sleep: no spin. */
	cpu0 = cpu_ns();
	t0 = reel_now();
	FCHECK_EQ(reel_sleep(500 * MS), 0);
	FCHECK(reel_now() - t0 >= 500 * MS);
	FCHECK(cpu_ns() - cpu0 < 200 * MS);
	close(p[0]);
	close(p[1]);
	fprintf(stderr, "main: all checks passed\n");
	return 0;
}

static void test_ring_enter_refused_breaks_the_ring_without_spinning(void **state)
{
	static const unsigned disable[] = {
		0, REEL_NO_SINGLE_ISSUER | REEL_NO_DEFER_TASKRUN | REEL_NO_EXT_ARG,
	};
	char err[4096];

	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* valgrind does not run client seccomp filters */
	for (size_t c = 0; c < sizeof(disable) / sizeof(disable[0]); c++) {
		struct reel_run_opts o = { .disable = disable[c] };
		int ws = run_in_child(enter_refused_main, NULL, &o, err, sizeof(err));

		print_message("disable %#x: %s", disable[c], err);
		assert_true(WIFEXITED(ws));   /* reel_run returned: no SIGALRM */
		assert_int_equal(WEXITSTATUS(ws), 0);
		assert_null(strstr(err, "FCHECK failed"));
		assert_non_null(strstr(err, "main: all checks passed"));
		assert_non_null(strstr(err, "io_uring_enter failed: Operation not permitted "
				       "(a seccomp filter refuses io_uring_enter)"));
		/* said once */
		assert_null(strstr(strstr(err, "io_uring_enter failed") + 1,
				   "io_uring_enter failed"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_nop_round_trips_in_every_config),
		cmocka_unit_test(test_ring_cq_overflow_loses_nothing),
		cmocka_unit_test(test_ring_submission_is_batched_per_pass),
		cmocka_unit_test(test_ring_deadline_cancels_op_and_waits_for_its_cqe),
		cmocka_unit_test(test_ring_cancel_interrupts_op),
		cmocka_unit_test(test_ring_completed_op_result_wins_over_cancel),
		cmocka_unit_test(test_ring_enter_refused_breaks_the_ring_without_spinning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
