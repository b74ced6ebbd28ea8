/*
 * Description: shared offload on a runtime of several loops (issue 16): the
 * thread pool runs jobs of fibers of every loop at once, each result back
 * to its own fiber; one process pool serves fibers of every loop (a call
 * from a loop while another has the pool runs there, through
 * reel_loop_call) with every result right and no -EXDEV; such a forwarded
 * call that times out returns -ETIMEDOUT at once, not when the busy
 * worker finishes.
 */
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include "reel_offload.h"
#include "reel_rt.h"

#define LOOPS 2
#define FIBERS 4
#define CALLS 8

static int run_rt(reel_fn fn, void *arg)
{
	struct reel_rt_opts o = { .loops = LOOPS, .flags = REEL_RT_NO_PIN | REEL_RT_NO_SIGNALS };
	int st[LOOPS] = { 0 };

	assert_int_equal(reel_rt_run(fn, arg, &o, st, LOOPS), 0);
	assert_no_fiber_failure();
	for (int i = 0; i < LOOPS; i++)
		assert_int_equal(st[i], 0);
	return 0;
}

/* Spawn FIBERS copies of @fn(@arg) on this loop and join them. */
static int fan_out(reel_fn fn, void *arg)
{
	reel_task t[FIBERS];
	int st;

	for (int i = 0; i < FIBERS; i++)
		FCHECK_EQ(reel_spawn(&t[i], fn, arg, NULL), 0);
	for (int i = 0; i < FIBERS; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	return 0;
}

/* ---- thread pool ---- */

struct square {
	long in, out;
};

static int square_job(void *arg)
{
	struct square *s = arg;
	struct timespec ts = { 0, 2 * 1000000 };

	nanosleep(&ts, NULL);   /* long enough for jobs of both loops to overlap */
	s->out = s->in * s->in;
	return 7;
}

static atomic_int thread_jobs;

static int thread_caller(void *arg)
{
	(void)arg;
	for (long i = 0; i < CALLS; i++) {
		struct square s = { .in = i + 100 * reel_rt_index() };
		int st = 0;

		FCHECK_EQ(reel_to_thread(square_job, &s, &st), 0);
		FCHECK_EQ(st, 7);
		FCHECK_EQ(s.out, s.in * s.in);
		atomic_fetch_add(&thread_jobs, 1);
	}
	return 0;
}

static int thread_main(void *arg)
{
	return fan_out(thread_caller, arg);
}

static void test_rt_offload_thread_pool_serves_every_loop(void **state)
{
	(void)state;
	atomic_store(&thread_jobs, 0);
	run_rt(thread_main, NULL);
	assert_int_equal(atomic_load(&thread_jobs), LOOPS * FIBERS * CALLS);
}

/* ---- process pool ---- */

/* In the worker: out = the input number times 3, as text. */
static int triple(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len)
{
	long v;

	if (in_len != sizeof(v))
		return -EINVAL;
	memcpy(&v, in, sizeof(v));
	*out_len = (size_t)snprintf(out, out_cap, "%ld", v * 3);
	return 1;
}

struct shared_pool {
	struct reel_procpool *pool;
	atomic_int calls;
	atomic_bool busy;       /* loop 0's long job holds the only worker */
};

static int proc_caller(void *arg)
{
	struct shared_pool *sp = arg;

	for (long i = 0; i < CALLS; i++) {
		long v = i + 1000 * reel_rt_index();
		char out[32] = "", want[32];
		size_t len = 0;
		int st = 0;

		FCHECK_EQ(reel_procpool_call(sp->pool, triple, &v, sizeof(v), out,
					     sizeof(out) - 1, &len, &st), 0);
		FCHECK_EQ(st, 1);
		snprintf(want, sizeof(want), "%ld", v * 3);
		FCHECK_EQ(len, strlen(want));
		FCHECK(memcmp(out, want, len) == 0);
		atomic_fetch_add(&sp->calls, 1);
	}
	return 0;
}

static int proc_main(void *arg)
{
	return fan_out(proc_caller, arg);
}

static void test_rt_offload_process_pool_serves_every_loop(void **state)
{
	struct shared_pool sp = { 0 };

	(void)state;
	assert_int_equal(reel_procpool_create(&sp.pool, 2, 64), 0);
	run_rt(proc_main, &sp);
	assert_int_equal(atomic_load(&sp.calls), LOOPS * FIBERS * CALLS);
	assert_int_equal(reel_procpool_destroy(sp.pool), 0);
}

/* In the worker: hold it for 1.5 s. */
static int slow(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len)
{
	struct timespec ts = { 1, 500 * 1000000 };

	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	nanosleep(&ts, NULL);
	return 0;
}

struct call_args {
	struct shared_pool *sp;
	reel_proc_fn fn;
};

static int call_fn(void *arg)
{
	struct call_args *c = arg;
	long v = 1;
	char out[32];
	int st = 0;

	return reel_procpool_call(c->sp->pool, c->fn, &v, sizeof(v), out, sizeof(out), NULL,
				  &st);
}

static int slow_holder(void *arg)
{
	struct shared_pool *sp = arg;
	struct call_args c = { sp, slow };

	atomic_store(&sp->busy, true);   /* the call below claims the pool at once */
	return call_fn(&c);
}

static int timeout_main(void *arg)
{
	struct shared_pool *sp = arg;
	struct call_args c = { sp, triple };
	reel_task t;
	uint64_t t0;
	int st = 0, err;

	if (reel_rt_index() == 0) {
		FCHECK_EQ(reel_spawn(&t, slow_holder, sp, NULL), 0);
		FCHECK_EQ(reel_join(t, &st), 0);
		FCHECK_EQ(st, 0);
		return 0;
	}
	for (int i = 0; i < 5000 && !atomic_load(&sp->busy); i++)
		FCHECK_EQ(reel_sleep(MS), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);   /* its call has the worker by now */
	t0 = reel_now();
	err = reel_wait_for(100 * MS, call_fn, &c, &st);
	FCHECK_EQ(err, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 100 * MS);
	FCHECK(reel_now() - t0 < 1000 * MS);   /* not after the slow job */
	return 0;
}

static void test_rt_offload_forwarded_call_times_out(void **state)
{
	struct shared_pool sp = { 0 };

	(void)state;
	assert_int_equal(reel_procpool_create(&sp.pool, 1, 64), 0);
	run_rt(timeout_main, &sp);
	assert_int_equal(reel_procpool_destroy(sp.pool), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rt_offload_thread_pool_serves_every_loop),
		cmocka_unit_test(test_rt_offload_process_pool_serves_every_loop),
		cmocka_unit_test(test_rt_offload_forwarded_call_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
