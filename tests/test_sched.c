/*
 * Description: the scheduler (engine/core/sched.c; docs/design.md
 * §1b): the ready queue's FIFO order (reel_spawn never runs the child),
 * errno kept per fiber across parks and wakes, fairness between a yielder
 * and a sleeper, a million fibers parked at once, and the deadlock report.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* ---- FIFO order; spawn never runs the child ------------------------------ */

static int fifo_seq[32];
static int fifo_n;
static reel_task fifo_grandchild;

static int fifo_record(void *arg)
{
	fifo_seq[fifo_n++] = (int)(intptr_t)arg;
	return 0;
}

/* Records 10, then spawns 11, which must queue behind every ready fiber. */
static int fifo_parent(void *arg)
{
	int before;

	(void)arg;
	fifo_seq[fifo_n++] = 10;
	before = fifo_n;
	FCHECK_EQ(reel_spawn(&fifo_grandchild, fifo_record, (void *)(intptr_t)11, NULL), 0);
	FCHECK_EQ(fifo_n, before);
	return 0;
}

static int fifo_main(void *arg)
{
	static const int want[] = { 0, 1, 2, 3, 4, 10, 100, 11 };
	reel_task t[5], p;
	int st;

	(void)arg;
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_spawn(&t[i], fifo_record, (void *)(intptr_t)i, NULL), 0);
		FCHECK_EQ(fifo_n, 0);   /* never inside reel_spawn */
	}
	FCHECK_EQ(reel_spawn(&p, fifo_parent, NULL, NULL), 0);
	FCHECK_EQ(fifo_n, 0);
	/* One yield: everything queued before main runs once, in spawn order;
	 * the grandchild, queued behind main, has not run yet. */
	FCHECK_EQ(reel_yield(), 0);
	fifo_seq[fifo_n++] = 100;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(fifo_n, 8);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(fifo_seq[i], want[i]);
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(reel_join(p, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(fifo_grandchild, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_sched_fifo_order_spawn_never_runs_child(void **state)
{
	(void)state;
	fifo_n = 0;
	run_ok(fifo_main, NULL);
}

/* ---- errno is per fiber -------------------------------------------------- */

static int errno_a(void *arg)
{
	(void)arg;
	errno = 1234;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 1234);
	FCHECK_EQ(reel_sleep(5 * MS), 0);   /* the loop waits in the kernel meanwhile */
	FCHECK_EQ(errno, 1234);
	return 0;
}

static int errno_b(void *arg)
{
	(void)arg;
	errno = 99;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 99);
	FCHECK_EQ(reel_nop(), 0);
	FCHECK_EQ(errno, 99);
	return 0;
}

static int errno_main(void *arg)
{
	reel_task a, b;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&a, errno_a, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&b, errno_b, NULL, NULL), 0);
	errno = 7;
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(errno, 7);
	FCHECK_EQ(reel_join(a, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(errno, 7);
	FCHECK_EQ(reel_join(b, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(errno, 7);
	return 0;
}

static void test_sched_errno_preserved_per_fiber(void **state)
{
	(void)state;
	run_ok(errno_main, NULL);
}

/* ---- a yielder does not starve a sleeper --------------------------------- */

static volatile bool ns_done;
static uint64_t ns_slept;
static long ns_yields;

static int ns_sleeper(void *arg)
{
	uint64_t t0 = reel_now();
	int r;

	(void)arg;
	r = reel_sleep(20 * MS);
	ns_slept = reel_now() - t0;
	ns_done = true;
	return r;
}

static int ns_yielder(void *arg)
{
	uint64_t t0 = reel_now();

	(void)arg;
	while (!ns_done && reel_now() - t0 < 1 * SEC) {
		FCHECK_EQ(reel_yield(), 0);
		ns_yields++;
	}
	FCHECK(ns_done);   /* stopped by the sleeper's signal, not by the 1 s bound */
	return 0;
}

static int no_starve_main(void *arg)
{
	reel_task s, y;
	int st;

	(void)arg;
	FCHECK_EQ(reel_spawn(&s, ns_sleeper, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&y, ns_yielder, NULL, NULL), 0);
	FCHECK_EQ(reel_join(s, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(y, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(ns_yields > 0);
	FCHECK(ns_slept >= 20 * MS);
	FCHECK(ns_slept <= 20 * MS + LATE_OK_NS);
	return 0;
}

static void test_sched_yielder_does_not_starve_sleeper(void **state)
{
	(void)state;
	ns_done = false;
	ns_slept = 0;
	ns_yields = 0;
	run_ok(no_starve_main, NULL);
}

/* ---- a million concurrent sleeping fibers -------------------------------- */

#define MILLION 1000000

static reel_task *m_tasks;
static long m_parked, m_peak;

static int m_sleeper(void *arg)
{
	int r;

	(void)arg;
	if (++m_parked > m_peak)
		m_peak = m_parked;
	r = reel_sleep(200 * MS);
	m_parked--;
	return r;
}

static int million_main(void *arg)
{
	const struct reel_spawn_opts o = { .stack_size = 16384, .name = "sleeper" };
	long bad = 0, n = scaled(MILLION);
	int st;

	(void)arg;
	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&m_tasks[i], m_sleeper, NULL, &o), 0);
	for (long i = 0; i < n; i++) {
		st = 1;
		FCHECK_EQ(reel_join(m_tasks[i], &st), 0);
		bad += st != 0;
	}
	FCHECK_EQ(bad, 0);
	FCHECK_EQ(m_parked, 0);
	return 0;
}

static void test_sched_one_million_sleeping_fibers(void **state)
{
	uint64_t t0 = reel_now();

	(void)state;
	m_tasks = calloc(MILLION, sizeof(*m_tasks));
	assert_non_null(m_tasks);
	m_parked = m_peak = 0;
	run_ok(million_main, NULL);
	free(m_tasks);
	m_tasks = NULL;
	/* They slept at the same time: a large share was parked at once (the
	 * first sleeps end 200 ms after they begin), and the whole run is far
	 * from 1M x 200 ms. */
	assert_true(m_peak >= scaled(MILLION) / 10);
	assert_true(reel_now() - t0 < 60 * SEC);
}

/* ---- deadlock: reported, not a hang -------------------------------------- */

/*
 * A real deadlock built from the public API: A joins B and B joins A. Each
 * joiner has its own target, so neither call is refused. When main returns,
 * shutdown cancels both; each join then cancels its target and keeps waiting
 * for it (join never leaks a task) - with nothing in flight and no timer
 * armed, no fiber can ever wake again.
 */
static reel_task dl_a, dl_b;

static int dl_a_body(void *arg)
{
	(void)arg;
	return reel_join(dl_b, NULL);
}

static int dl_b_body(void *arg)
{
	(void)arg;
	return reel_join(dl_a, NULL);
}

static int deadlock_main(void *arg)
{
	(void)arg;
	if (reel_spawn(&dl_a, dl_a_body, NULL, NULL) || reel_spawn(&dl_b, dl_b_body, NULL, NULL))
		return -1;
	reel_yield();   /* both park, each in its join */
	return 0;
}

static void test_sched_deadlock_reported_with_sigabrt(void **state)
{
	char buf[4096];
	int wstatus;

	(void)state;
	/* a hang dies by SIGALRM in run_in_child, which the check below reports */
	wstatus = run_in_child(deadlock_main, NULL, NULL, buf, sizeof(buf));
	if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGABRT)
		fail_msg("child did not die by SIGABRT (wait status %#x); stderr: %s", wstatus, buf);
	if (!strstr(buf, "deadlock"))
		fail_msg("no \"deadlock\" in the child's stderr: %s", buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_fifo_order_spawn_never_runs_child),
		cmocka_unit_test(test_sched_errno_preserved_per_fiber),
		cmocka_unit_test(test_sched_yielder_does_not_starve_sleeper),
		cmocka_unit_test(test_sched_one_million_sleeping_fibers),
		cmocka_unit_test(test_sched_deadlock_reported_with_sigabrt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
