/*
 * Description: the process pool (engine/offload/procpool.c;
 * api/reel_offload.h): reel_procpool_create, _call and _destroy - results
 * of many calls from concurrent fibers (FIFO waiting for a worker), a
 * worker killed during a call (-ECHILD) or while idle (replaced silently),
 * -EMSGSIZE both ways, cancellation while waiting and while running (the
 * worker is killed and replaced), a deadline around a call, destroy while
 * busy (-EBUSY) and destroy leaving no zombie.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_offload.h"

/* Output: the input reversed, then the worker's pid. Status: the byte sum. */
static int reverse_pid(const void *in, size_t in_len, void *out, size_t out_cap,
		       size_t *out_len)
{
	const unsigned char *b = in;
	unsigned char *o = out;
	pid_t pid = getpid();
	int sum = 0;

	if (in_len + sizeof(pid) > out_cap)
		return -ENOSPC;
	for (size_t i = 0; i < in_len; i++) {
		o[i] = b[in_len - 1 - i];
		sum += b[i];
	}
	memcpy(o + in_len, &pid, sizeof(pid));
	*out_len = in_len + sizeof(pid);
	return sum;
}

static int kill_self(const void *in, size_t in_len, void *out, size_t out_cap,
		     size_t *out_len)
{
	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	kill(getpid(), SIGKILL);
	pause();   /* SIGKILL is not delivered late; never reached */
	return 0;
}

/* Sleeps @in (a uint64_t of ms), returns 1. */
static int sleep_ms(const void *in, size_t in_len, void *out, size_t out_cap,
		    size_t *out_len)
{
	uint64_t ms;

	(void)out, (void)out_cap, (void)out_len;
	if (in_len != sizeof(ms))
		return -EINVAL;
	memcpy(&ms, in, sizeof(ms));
	nap(ms * MS);
	return 1;
}

static int claim_too_much(const void *in, size_t in_len, void *out, size_t out_cap,
			  size_t *out_len)
{
	(void)in, (void)in_len, (void)out;
	*out_len = out_cap + 1;
	return 0;
}

static struct reel_procpool *pp;

/* One reverse_pid call with input "call <i>"; checks everything. */
static int check_call(long i)
{
	char in[32], out[64];
	size_t in_len, out_len = 0;
	int st = -1, sum = 0;
	pid_t pid;

	in_len = (size_t)snprintf(in, sizeof(in), "call %ld", i);
	for (size_t k = 0; k < in_len; k++)
		sum += (unsigned char)in[k];
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, in, in_len, out, sizeof(out),
				     &out_len, &st), 0);
	FCHECK_EQ(st, sum);
	FCHECK_EQ(out_len, in_len + sizeof(pid));
	for (size_t k = 0; k < in_len; k++)
		FCHECK_EQ(out[k], in[in_len - 1 - k]);
	memcpy(&pid, out + in_len, sizeof(pid));
	FCHECK(pid != getpid() && pid > 0);
	return 0;
}

static int call_fiber(void *arg)
{
	return check_call((long)(intptr_t)arg);
}

static int many_calls(long n)
{
	reel_task t[64];
	int r;

	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&t[i], call_fiber, (void *)(intptr_t)i, NULL), 0);
	for (long i = 0; i < n; i++) {
		FCHECK_EQ(reel_join(t[i], &r), 0);
		FCHECK_EQ(r, 0);
	}
	return 0;
}

static void assert_no_zombie(void)
{
	errno = 0;
	assert_true(waitpid(-1, NULL, WNOHANG) <= 0);
	assert_true(errno == ECHILD || errno == 0);
}

static int proc_results_main(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_procpool_create(&pp, 2, 4096), 0);
	FCHECK_EQ(many_calls(scaled(40) < 8 ? 8 : scaled(40)), 0);
	FCHECK_EQ(reel_procpool_destroy(pp), 0);
	return 0;
}

static void test_procpool_many_results(void **state)
{
	(void)state;
	run_ok(proc_results_main, NULL);
	assert_no_zombie();
}

static int proc_killed_main(void *arg)
{
	char out[64];
	size_t out_len = 99;
	int st = 0;
	pid_t pid;

	(void)arg;
	/* Dies during the call: reported, then replaced. */
	FCHECK_EQ(reel_procpool_call(pp, kill_self, "x", 1, out, sizeof(out), &out_len, &st),
		  -ECHILD);
	FCHECK_EQ(st, -ECHILD);
	FCHECK_EQ(out_len, 99);
	FCHECK_EQ(many_calls(8), 0);
	/* Killed while idle: the next calls do not notice. */
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, "", 0, out, sizeof(out), &out_len, &st), 0);
	memcpy(&pid, out, sizeof(pid));
	FCHECK_EQ(kill(pid, SIGKILL), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(many_calls(8), 0);
	return 0;
}

static void test_procpool_killed_worker_is_replaced(void **state)
{
	(void)state;
	/* Created outside any loop, used inside one, destroyed outside. */
	assert_int_equal(reel_procpool_create(&pp, 2, 256), 0);
	run_ok(proc_killed_main, NULL);
	assert_int_equal(reel_procpool_destroy(pp), 0);
	assert_no_zombie();
}

static int proc_sizes_main(void *arg)
{
	static char big[300];
	char out[64];
	size_t out_len = 0;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, big, sizeof(big), out, sizeof(out),
				     &out_len, &st), -EMSGSIZE);
	FCHECK_EQ(st, -EMSGSIZE);
	FCHECK_EQ(reel_procpool_call(pp, claim_too_much, "a", 1, out, sizeof(out),
				     &out_len, &st), -EMSGSIZE);
	FCHECK_EQ(reel_procpool_call(NULL, reverse_pid, "a", 1, out, 1, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_procpool_call(pp, NULL, "a", 1, out, 1, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, NULL, 1, out, 1, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, "a", 1, NULL, 1, NULL, NULL), -EINVAL);
	/* fn's own error comes back as its status. */
	FCHECK_EQ(reel_procpool_call(pp, reverse_pid, "abc", 3, out, 4, &out_len, &st), 0);
	FCHECK_EQ(st, -ENOSPC);
	FCHECK_EQ(many_calls(4), 0);   /* still working */
	return 0;
}

static void test_procpool_sizes_and_bad_input(void **state)
{
	struct reel_procpool *p = NULL;
	char out[8];

	(void)state;
	assert_int_equal(reel_procpool_create(NULL, 1, 16), -EINVAL);
	assert_int_equal(reel_procpool_create(&p, 0, 16), -EINVAL);
	assert_int_equal(reel_procpool_create(&p, 1, 0), -EINVAL);
	assert_int_equal(reel_procpool_create(&p, 100000, 16), -EINVAL);
	assert_int_equal(reel_procpool_destroy(NULL), -EINVAL);
	assert_int_equal(reel_procpool_create(&pp, 1, 256), 0);
	assert_int_equal(reel_procpool_call(pp, reverse_pid, "a", 1, out, sizeof(out),
					    NULL, NULL), -EPERM);
	run_ok(proc_sizes_main, NULL);
	assert_int_equal(reel_procpool_destroy(pp), 0);
	assert_no_zombie();
}

struct proc_outcome {
	uint64_t ms;
	int ret, status;
	uint64_t took;
};

static int sleep_call(void *arg)
{
	struct proc_outcome *o = arg;
	uint64_t t0 = reel_now();

	o->status = -12345;
	o->ret = reel_procpool_call(pp, sleep_ms, &o->ms, sizeof(o->ms), NULL, 0, NULL,
				    &o->status);
	o->took = reel_now() - t0;
	return 0;
}

static int proc_cancel_main(void *arg)
{
	struct proc_outcome a = { .ms = 5000 }, b = { .ms = 1 }, c = { .ms = 5000 };
	reel_task ta, tb;
	int st, r;

	(void)arg;
	FCHECK_EQ(reel_procpool_create(&pp, 1, 64), 0);
	FCHECK_EQ(reel_spawn(&ta, sleep_call, &a, NULL), 0);
	FCHECK_EQ(reel_spawn(&tb, sleep_call, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);   /* a runs, b waits for the worker */
	FCHECK_EQ(reel_procpool_destroy(pp), -EBUSY);
	/* Waiting for a worker: out at once, nothing sent. */
	FCHECK_EQ(reel_cancel(tb), 0);
	FCHECK_EQ(reel_join(tb, &r), 0);
	FCHECK_EQ(b.ret, -ECANCELED);
	FCHECK_EQ(b.status, -ECANCELED);
	FCHECK(b.took < 50 * MS + LATE_OK_NS);
	/* Running: the worker is killed, not waited for 5 s. */
	FCHECK_EQ(reel_cancel(ta), 0);
	FCHECK_EQ(reel_join(ta, &r), 0);
	FCHECK_EQ(a.ret, -ECANCELED);
	FCHECK_EQ(a.status, -ECANCELED);
	FCHECK(a.took < 2 * SEC);
	/* A deadline does the same, with -ETIMEDOUT. */
	FCHECK_EQ(reel_wait_for(50 * MS, sleep_call, &c, &st), -ETIMEDOUT);
	FCHECK_EQ(c.ret, -ETIMEDOUT);
	FCHECK(c.took < 50 * MS + 2 * SEC);
	/* The replacement works. */
	FCHECK_EQ(many_calls(3), 0);
	FCHECK_EQ(reel_procpool_destroy(pp), 0);
	return 0;
}

static void test_procpool_cancel_waiting_and_running(void **state)
{
	(void)state;
	run_ok(proc_cancel_main, NULL);
	assert_no_zombie();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_procpool_many_results),
		cmocka_unit_test(test_procpool_killed_worker_is_replaced),
		cmocka_unit_test(test_procpool_sizes_and_bad_input),
		cmocka_unit_test(test_procpool_cancel_waiting_and_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
