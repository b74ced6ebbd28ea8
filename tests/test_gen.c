/*
 * Description: generators (api/reel_gen.h): values in order with
 * back-pressure (exact produce/consume interleaving, lazy start), early
 * close running the producer's cleanup, producer errors reaching the
 * consumer, end of stream repeated, a consumer cancelled or timed out while
 * parked in next (generator stays usable, close still cleans up), the
 * producer's own deadline, value lifetime, close of a never-run generator,
 * misuse errors, 100k values, and many generators at once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "helpers.h"
#include "reel_gen.h"

static int count_quiet(struct reel_gen *g, void *arg);

/* ---- an event log: who did what, in which order ------------------------- */

#define LOG_MAX 64
static int log_ev[LOG_MAX];
static int log_n;

/* Producer events are 1000 + i, consumer events are i. */
static void log_event(int e)
{
	if (log_n < LOG_MAX)
		log_ev[log_n++] = e;
}

/* Yields 0..n-1, logging each before it is handed over; returns n. */
static int count_logged(struct reel_gen *g, void *arg)
{
	int n = (int)(intptr_t)arg;

	for (int i = 0; i < n; i++) {
		log_event(1000 + i);
		FCHECK_EQ(reel_gen_yield(g, (void *)(intptr_t)i), 0);
	}
	log_event(2000);
	return n;
}

static int order_main(void *arg)
{
	static const int want[] = { 1000, 0, 1001, 1, 1002, 2, 1003, 3, 2000 };
	struct reel_gen g;
	void *v;
	int st = -1;

	(void)arg;
	log_n = 0;
	FCHECK_EQ(reel_gen_start(&g, count_logged, (void *)4, NULL), 0);
	/* Lazy: the producer does not run before the first next. */
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(log_n, 0);
	for (int i = 0; i < 4; i++) {
		FCHECK_EQ(reel_gen_next(&g, &v), 1);
		FCHECK_EQ((intptr_t)v, i);
		log_event(i);
		/* Back-pressure: however long we dawdle, nothing new is made. */
		FCHECK_EQ(reel_yield(), 0);
		FCHECK_EQ(reel_yield(), 0);
		FCHECK_EQ(log_n, 2 * (i + 1));
	}
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 4);
	FCHECK_EQ(log_n, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < log_n; i++)
		FCHECK_EQ(log_ev[i], want[i]);
	return 0;
}

static void test_gen_values_in_order_with_back_pressure(void **state)
{
	(void)state;
	run_ok(order_main, NULL);
}

/* ---- stopping early runs the producer's cleanup -------------------------- */

struct endless {
	int produced;
	int yield_result;     /* what the last yield returned */
	bool cleaned;
};

/* Yields 0, 1, 2, ... forever; on close, records the -ECANCELED and cleans
 * up (a parking call under a shield, as real cleanup might), returns 42. */
static int endless(struct reel_gen *g, void *arg)
{
	struct endless *e = arg;

	for (;;) {
		int r = reel_gen_yield(g, (void *)(intptr_t)e->produced);

		e->yield_result = r;
		if (r < 0)
			break;
		e->produced++;
	}
	FCHECK_EQ(reel_yield(), -ECANCELED);   /* cancellation is sticky */
	e->cleaned = true;
	return 42;
}

static int early_main(void *arg)
{
	struct endless e = { 0 };
	struct reel_gen g;
	void *v;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, endless, &e, NULL), 0);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_gen_next(&g, &v), 1);
		FCHECK_EQ((intptr_t)v, i);
	}
	FCHECK(!e.cleaned);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 42);
	FCHECK(e.cleaned);
	FCHECK_EQ(e.yield_result, -ECANCELED);
	FCHECK_EQ(e.produced, 2);   /* no fourth value was made */
	/* Closed: the storage is released; using it again is an error. */
	FCHECK_EQ(reel_gen_next(&g, &v), -EINVAL);
	FCHECK_EQ(reel_gen_close(&g, &st), -EINVAL);
	return 0;
}

static void test_gen_early_close_runs_cleanup(void **state)
{
	(void)state;
	run_ok(early_main, NULL);
}

/* ---- producer errors; end of stream -------------------------------------- */

/* Yields 10, 11, then fails with -EIO. */
static int fail_after_two(struct reel_gen *g, void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_gen_yield(g, (void *)10), 0);
	FCHECK_EQ(reel_gen_yield(g, (void *)11), 0);
	return -EIO;
}

static int error_main(void *arg)
{
	struct reel_gen g;
	void *v = NULL;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, fail_after_two, NULL, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 10);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 11);
	FCHECK_EQ(reel_gen_next(&g, &v), -EIO);
	FCHECK_EQ(reel_gen_next(&g, &v), 0);   /* exhausted after the error */
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, -EIO);
	return 0;
}

static void test_gen_producer_error_reaches_consumer(void **state)
{
	(void)state;
	run_ok(error_main, NULL);
}

static int end_main(void *arg)
{
	struct reel_gen g;
	void *v;
	int rc, st = -1;
	intptr_t sum = 0, n = 0;

	(void)arg;
	log_n = 0;
	FCHECK_EQ(reel_gen_start(&g, count_logged, (void *)3, NULL), 0);
	REEL_GEN_FOREACH(&g, v, rc) {
		sum += (intptr_t)v;
		n++;
	}
	FCHECK_EQ(rc, 0);
	FCHECK_EQ(n, 3);
	FCHECK_EQ(sum, 0 + 1 + 2);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 3);
	return 0;
}

static void test_gen_end_of_stream_repeats(void **state)
{
	(void)state;
	run_ok(end_main, NULL);
}

/* An empty generator ends at once; one that never ran is never run. */
static int empty_body(struct reel_gen *g, void *arg)
{
	(void)g;
	*(bool *)arg = true;
	return 0;
}

static int never_run_main(void *arg)
{
	struct reel_gen g;
	bool ran = false;
	void *v;
	int st = 1;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, empty_body, &ran, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK(!ran);
	FCHECK_EQ(st, -ECANCELED);

	FCHECK_EQ(reel_gen_start(&g, empty_body, &ran, NULL), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);   /* not even scheduled yet */
	FCHECK(!ran);
	FCHECK_EQ(st, -ECANCELED);

	FCHECK_EQ(reel_gen_start(&g, empty_body, &ran, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK(ran);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_gen_close_before_next_never_runs_body(void **state)
{
	(void)state;
	run_ok(never_run_main, NULL);
}

/* ---- a consumer interrupted while parked in next ------------------------- */

struct slow {
	uint64_t delay_ns;    /* before each value */
	int sleep_result;     /* what the last sleep returned */
	bool cleaned;
	int made;
};

/* Sleeps delay_ns, then yields made++; on any error cleans up and returns it. */
static int slow_producer(struct reel_gen *g, void *arg)
{
	struct slow *s = arg;
	int r;

	for (;;) {
		r = s->sleep_result = reel_sleep(s->delay_ns);
		if (r < 0)
			break;
		r = reel_gen_yield(g, (void *)(intptr_t)s->made++);
		if (r < 0)
			break;
	}
	s->cleaned = true;
	return r;
}

struct consumer_run {
	struct slow s;
	int next_result;
	int close_result;
	int close_status;
};

static int cancelled_consumer(void *arg)
{
	struct consumer_run *c = arg;
	struct reel_gen g;
	void *v;

	FCHECK_EQ(reel_gen_start(&g, slow_producer, &c->s, NULL), 0);
	c->next_result = reel_gen_next(&g, &v);
	/* The cleanup path of a cancelled consumer. */
	c->close_result = reel_gen_close(&g, &c->close_status);
	return 0;
}

static int cancel_next_main(void *arg)
{
	struct consumer_run c = { .s = { .delay_ns = 10000 * MS }, .next_result = 1 };
	reel_task t;
	uint64_t t0 = reel_now();
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, cancelled_consumer, &c, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(c.next_result, 1);   /* still parked in next */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(c.next_result, -ECANCELED);
	FCHECK_EQ(c.close_result, 0);
	FCHECK_EQ(c.close_status, -ECANCELED);
	FCHECK_EQ(c.s.sleep_result, -ECANCELED);   /* the producer was not left stuck */
	FCHECK(c.s.cleaned);
	FCHECK(reel_now() - t0 < 20 * MS + LATE_OK_NS);
	return 0;
}

static void test_gen_consumer_cancelled_in_next_close_cleans_up(void **state)
{
	(void)state;
	run_ok(cancel_next_main, NULL);
}

/* A consumer cancelled while not in next, the producer parked in yield. */
static int cancelled_between(void *arg)
{
	struct consumer_run *c = arg;
	struct reel_gen g;
	void *v;

	FCHECK_EQ(reel_gen_start(&g, slow_producer, &c->s, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	c->next_result = reel_sleep(10000 * MS);   /* cancelled here */
	FCHECK_EQ(reel_gen_next(&g, &v), -ECANCELED);
	c->close_result = reel_gen_close(&g, &c->close_status);
	return 0;
}

static int cancel_between_main(void *arg)
{
	struct consumer_run c = { .s = { .delay_ns = 1 * MS } };
	reel_task t;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, cancelled_between, &c, NULL), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(c.next_result, -ECANCELED);
	FCHECK_EQ(c.close_result, 0);
	FCHECK_EQ(c.close_status, -ECANCELED);   /* yield's -ECANCELED, returned */
	FCHECK_EQ(c.s.made, 1);
	FCHECK_EQ(c.s.sleep_result, 0);
	FCHECK(c.s.cleaned);
	return 0;
}

static void test_gen_cancelled_consumer_closes_parked_producer(void **state)
{
	(void)state;
	run_ok(cancel_between_main, NULL);
}

/* A deadline scope around the consumer: next times out, the generator stays
 * usable, and the value produced meanwhile is the next one taken. */
struct scoped_next {
	struct reel_gen *g;
	void *v;
	int r;
};

static int next_in_scope(void *arg)
{
	struct scoped_next *sn = arg;

	sn->r = reel_gen_next(sn->g, &sn->v);
	return sn->r;
}

static int deadline_main(void *arg)
{
	struct slow s = { .delay_ns = 150 * MS };
	struct scoped_next sn = { .r = 99 };
	struct reel_gen g;
	uint64_t t0, dt;
	void *v;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, slow_producer, &s, NULL), 0);
	sn.g = &g;
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(30 * MS, next_in_scope, &sn, &st), -ETIMEDOUT);
	dt = reel_now() - t0;
	FCHECK_EQ(sn.r, -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(dt >= 30 * MS);
	FCHECK(dt < 30 * MS + LATE_OK_NS);
	/* The producer finishes value 0 while nobody waits, and then waits
	 * itself: it does not run ahead to value 1. */
	FCHECK_EQ(reel_sleep(250 * MS), 0);
	FCHECK_EQ(s.made, 1);
	/* Usable again: value 0 is taken at once, then value 1 is made. */
	t0 = reel_now();
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 0);
	FCHECK(reel_now() - t0 < LATE_OK_NS);   /* no wait: a VM stall at most */
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 1);
	FCHECK(reel_now() - t0 >= 150 * MS);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(s.cleaned);
	FCHECK_EQ(s.made, 2);
	return 0;
}

static void test_gen_deadline_around_consumer_keeps_generator(void **state)
{
	(void)state;
	run_ok(deadline_main, NULL);
}

/* The producer's own deadline: yield returns -ETIMEDOUT, and the producer's
 * failure reaches the consumer through next. */
static int yield_loop(void *arg)
{
	struct reel_gen *g = arg;
	int r;

	for (intptr_t i = 0;; i++) {
		r = reel_gen_yield(g, (void *)i);
		if (r < 0)
			return r;
	}
}

static int producer_with_deadline(struct reel_gen *g, void *arg)
{
	int st = 0, r;

	r = reel_wait_for(40 * MS, yield_loop, g, &st);
	*(int *)arg = st;
	return r;
}

static int producer_deadline_main(void *arg)
{
	struct reel_gen g;
	int yield_st = 1, st = 0;
	void *v;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, producer_with_deadline, &yield_st, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 0);
	FCHECK_EQ(reel_sleep(100 * MS), 0);   /* a slow consumer */
	FCHECK_EQ(reel_gen_next(&g, &v), -ETIMEDOUT);
	FCHECK_EQ(yield_st, -ETIMEDOUT);
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, -ETIMEDOUT);
	return 0;
}

static void test_gen_producer_deadline_fails_yield(void **state)
{
	(void)state;
	run_ok(producer_deadline_main, NULL);
}

/* Each yield under its own short deadline, a slow consumer: a value the
 * consumer never took is withdrawn and reported to the producer as not
 * delivered (error); 0 means delivered. What the consumer receives is
 * exactly the delivered values, in order: none lost, none overwritten. */
struct timed_yield {
	struct reel_gen *g;
	intptr_t v;
};

static int yield_one(void *arg)
{
	struct timed_yield *y = arg;

	return reel_gen_yield(y->g, (void *)y->v);
}

struct delivery {
	intptr_t delivered[16];
	int ndelivered, nwithdrawn;
};

static int timed_producer(struct reel_gen *g, void *arg)
{
	struct delivery *d = arg;

	for (intptr_t i = 1; i <= 8; i++) {
		struct timed_yield y = { g, i };
		int st = 1;

		reel_wait_for(2 * MS, yield_one, &y, &st);
		if (st == 0)
			d->delivered[d->ndelivered++] = i;
		else if (st == -ETIMEDOUT)
			d->nwithdrawn++;
		else
			return st;
	}
	return 0;
}

static int timed_yield_main(void *arg)
{
	struct delivery d = { .ndelivered = 0 };
	intptr_t got[16];
	int n = 0, r, st;
	struct reel_gen g;
	void *v;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, timed_producer, &d, NULL), 0);
	while ((r = reel_gen_next(&g, &v)) == 1) {
		FCHECK(n < 16);
		got[n++] = (intptr_t)v;
		FCHECK_EQ(reel_sleep(5 * MS), 0);       /* slower than 2 ms */
	}
	FCHECK_EQ(r, 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(n, d.ndelivered);
	for (int i = 0; i < n; i++)
		FCHECK_EQ(got[i], d.delivered[i]);
	FCHECK(d.nwithdrawn > 0);               /* the slow consumer made some */
	FCHECK_EQ(d.ndelivered + d.nwithdrawn, 8);
	return 0;
}

static void test_gen_timed_out_yield_withdraws_value(void **state)
{
	(void)state;
	run_ok(timed_yield_main, NULL);
}

/* ---- value lifetime: valid until the consumer's next call ---------------- */

static int stack_values(struct reel_gen *g, void *arg)
{
	char buf[32];

	(void)arg;
	for (int i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "value %d", i);
		FCHECK_EQ(reel_gen_yield(g, buf), 0);
		memset(buf, 'X', sizeof(buf));   /* only after the consumer moved on */
	}
	return 0;
}

static int lifetime_main(void *arg)
{
	struct reel_gen g;
	char want[32];
	void *v;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, stack_values, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_gen_next(&g, &v), 1);
		snprintf(want, sizeof(want), "value %d", i);
		FCHECK_EQ(reel_sleep(1 * MS), 0);
		FCHECK_EQ(strcmp(v, want), 0);
	}
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, NULL), 0);
	return 0;
}

static void test_gen_value_valid_until_next_call(void **state)
{
	(void)state;
	run_ok(lifetime_main, NULL);
}

/* ---- misuse --------------------------------------------------------------- */

struct misuse {
	struct reel_gen *g;
	int yield_r, next_r, close_r;
};

/* A producer that tries the consumer's calls on itself. */
static int self_consuming(struct reel_gen *g, void *arg)
{
	struct misuse *m = arg;
	void *v;

	m->next_r = reel_gen_next(g, &v);
	m->close_r = reel_gen_close(g, NULL);
	return reel_gen_yield(g, NULL);
}

/* Another fiber: not the producer, and a second consumer. */
static int outsider(void *arg)
{
	struct misuse *m = arg;
	void *v;

	m->yield_r = reel_gen_yield(m->g, NULL);
	m->next_r = reel_gen_next(m->g, &v);
	m->close_r = reel_gen_close(m->g, NULL);
	return 0;
}

static int slow_one(struct reel_gen *g, void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_sleep(30 * MS), 0);
	return reel_gen_yield(g, (void *)7) < 0 ? -1 : 0;
}

static int misuse_main(void *arg)
{
	struct misuse m = { 0 };
	struct reel_gen g;
	reel_task t;
	void *v;
	int st = 1;

	(void)arg;
	FCHECK_EQ(reel_gen_start(NULL, self_consuming, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_gen_start(&g, NULL, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_gen_next(NULL, &v), -EINVAL);
	FCHECK_EQ(reel_gen_close(NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_gen_yield(NULL, NULL), -EINVAL);
	memset(&g, 0, sizeof(g));   /* never started */
	FCHECK_EQ(reel_gen_next(&g, &v), -EINVAL);
	FCHECK_EQ(reel_gen_close(&g, NULL), -EINVAL);

	/* The producer calling next/close on its own generator. */
	FCHECK_EQ(reel_gen_start(&g, self_consuming, &m, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, NULL), -EINVAL);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ(m.next_r, -EDEADLK);
	FCHECK_EQ(m.close_r, -EDEADLK);
	FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 0);

	/* A second consumer while the first waits; yield from a stranger. */
	m = (struct misuse){ .g = &g };
	FCHECK_EQ(reel_gen_start(&g, slow_one, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&t, outsider, &m, NULL), 0);
	FCHECK_EQ(reel_gen_next(&g, &v), 1);
	FCHECK_EQ((intptr_t)v, 7);
	FCHECK_EQ(reel_join(t, NULL), 0);
	FCHECK_EQ(m.yield_r, -EINVAL);
	FCHECK_EQ(m.next_r, -EBUSY);
	FCHECK_EQ(m.close_r, -EBUSY);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, -1);   /* its yield saw the close */
	return 0;
}

static void test_gen_misuse_errors(void **state)
{
	struct reel_gen g;
	void *v;

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_int_equal(reel_gen_start(&g, empty_body, NULL, NULL), -EPERM);
	assert_int_equal(reel_gen_next(&g, &v), -EPERM);
	assert_int_equal(reel_gen_close(&g, NULL), -EPERM);
	assert_int_equal(reel_gen_yield(&g, NULL), -EINVAL);
	run_ok(misuse_main, NULL);
}

/* ---- a generator must be closed by the fiber that started it ----------- */

static int forgets_close(void *arg)
{
	struct reel_gen g;
	void *v;

	(void)arg;
	if (reel_gen_start(&g, count_quiet, (void *)5, NULL) != 0 ||
	    reel_gen_next(&g, &v) != 1)
		return -EFAULT;
	return 0;   /* the producer still points into this frame */
}

static int forgets_close_main(void *arg)
{
	reel_task t;

	(void)arg;
	if (reel_spawn(&t, forgets_close, NULL, &(struct reel_spawn_opts){ .name = "leaky" }))
		return -EFAULT;
	return reel_join(t, NULL);
}

static void test_gen_unclosed_generator_aborts_naming_fiber(void **state)
{
	char out[1024];
	int ws;

	(void)state;
	ws = run_in_child(forgets_close_main, NULL, NULL, out, sizeof(out));
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGABRT);
	assert_non_null(strstr(out, "leaky"));
}

/* ---- volume ------------------------------------------------------------- */

static int count_to(struct reel_gen *g, void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_gen_yield(g, (void *)(intptr_t)i), 0);
	return 0;
}

static int many_values_main(void *arg)
{
	long n = scaled(100000), got = 0;
	struct reel_gen g;
	void *v;
	int rc, st = -1;

	(void)arg;
	FCHECK_EQ(reel_gen_start(&g, count_to, (void *)(intptr_t)n, NULL), 0);
	REEL_GEN_FOREACH(&g, v, rc) {
		FCHECK_EQ((intptr_t)v, got);
		got++;
	}
	FCHECK_EQ(rc, 0);
	FCHECK_EQ(got, n);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, 0);
	return 0;
}

static void test_gen_hundred_thousand_values(void **state)
{
	(void)state;
	run_ok(many_values_main, NULL);
}

/* One consumer round-robins over many generators; many consumer tasks each
 * drive their own, half of them stopping early. */
#define NGEN 300
#define PER_GEN 50

/* count_to without checks: an early stop is the normal way out here. */
static int count_quiet(struct reel_gen *g, void *arg)
{
	long n = (long)(intptr_t)arg;
	int r;

	for (long i = 0; i < n; i++) {
		r = reel_gen_yield(g, (void *)(intptr_t)i);
		if (r < 0)
			return r;
	}
	return 0;
}

static int own_consumer(void *arg)
{
	intptr_t id = (intptr_t)arg;
	long stop = id % 2 ? PER_GEN : PER_GEN / 2;
	struct reel_gen g;
	void *v;
	long i;
	int st = -1;

	FCHECK_EQ(reel_gen_start(&g, count_quiet, (void *)(intptr_t)PER_GEN, NULL), 0);
	for (i = 0; i < stop; i++) {
		FCHECK_EQ(reel_gen_next(&g, &v), 1);
		FCHECK_EQ((intptr_t)v, i);
	}
	if (id % 2)
		FCHECK_EQ(reel_gen_next(&g, &v), 0);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, id % 2 ? 0 : -ECANCELED);
	return 0;
}

static int many_gens_main(void *arg)
{
	long ngen = scaled(NGEN);
	struct reel_gen *g = calloc((size_t)ngen, sizeof(*g));
	reel_task *t = calloc((size_t)ngen, sizeof(*t));
	int *sts = calloc((size_t)ngen, sizeof(*sts));
	void *v;
	int st;

	(void)arg;
	FCHECK(g && t && sts);
	for (long i = 0; i < ngen; i++)
		FCHECK_EQ(reel_gen_start(&g[i], count_to, (void *)(intptr_t)PER_GEN, NULL), 0);
	for (long k = 0; k < PER_GEN; k++) {
		for (long i = 0; i < ngen; i++) {
			FCHECK_EQ(reel_gen_next(&g[i], &v), 1);
			FCHECK_EQ((intptr_t)v, k);
		}
	}
	for (long i = 0; i < ngen; i++) {
		FCHECK_EQ(reel_gen_next(&g[i], &v), 0);
		FCHECK_EQ(reel_gen_close(&g[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	for (long i = 0; i < ngen; i++)
		FCHECK_EQ(reel_spawn(&t[i], own_consumer, (void *)(intptr_t)i, NULL), 0);
	FCHECK_EQ(reel_gather(t, (size_t)ngen, sts, 0), 0);
	free(g);
	free(t);
	free(sts);
	return 0;
}

static void test_gen_many_generators_at_once(void **state)
{
	(void)state;
	run_ok(many_gens_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_values_in_order_with_back_pressure),
		cmocka_unit_test(test_gen_early_close_runs_cleanup),
		cmocka_unit_test(test_gen_producer_error_reaches_consumer),
		cmocka_unit_test(test_gen_end_of_stream_repeats),
		cmocka_unit_test(test_gen_close_before_next_never_runs_body),
		cmocka_unit_test(test_gen_consumer_cancelled_in_next_close_cleans_up),
		cmocka_unit_test(test_gen_cancelled_consumer_closes_parked_producer),
		cmocka_unit_test(test_gen_deadline_around_consumer_keeps_generator),
		cmocka_unit_test(test_gen_producer_deadline_fails_yield),
		cmocka_unit_test(test_gen_timed_out_yield_withdraws_value),
		cmocka_unit_test(test_gen_value_valid_until_next_call),
		cmocka_unit_test(test_gen_misuse_errors),
		cmocka_unit_test(test_gen_unclosed_generator_aborts_naming_fiber),
		cmocka_unit_test(test_gen_hundred_thousand_values),
		cmocka_unit_test(test_gen_many_generators_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
