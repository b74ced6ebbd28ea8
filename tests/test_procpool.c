/*
 * Description: the process pool (engine/offload/procpool.c;
 * api/reel_offload.h): reel_procpool_create, _call and _destroy - results
 * of many calls from concurrent fibers (FIFO waiting for a worker), a
 * worker killed during a call (-ECHILD) or while idle (replaced silently),
 * -EMSGSIZE both ways, cancellation while waiting and while running (the
 * worker is killed and replaced), a deadline around a call, destroy while
 * busy (-EBUSY) and destroy leaving no zombie; a worker that dies while
 * something its job started (a program it exec'ed, a child it forked) is
 * still alive fails the call with -ECHILD at once, and programs a job execs
 * do not inherit the worker's socket.
 */
#include <spawn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* ---- what a job starts must not outlive or mask its worker ------------------- */

/* Written by jobs in the workers, read by the test: MAP_SHARED memory made
 * before the pool, so every worker's fork shares it. */
struct shared {
	volatile pid_t worker;       /* the job's process */
	volatile pid_t grandchild;   /* what the job started */
};

static struct shared *shm;
extern char **environ;

static int shared_map(void **state)
{
	(void)state;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (shm == MAP_FAILED)
		return -1;
	memset((void *)shm, 0, sizeof(*shm));
	return 0;
}

/* Teardown, run even when the test failed: kill what a job left behind (not
 * our child: reparented, no reaping) and unmap. */
static int shared_unmap(void **state)
{
	(void)state;
	if (shm->grandchild > 0)
		kill(shm->grandchild, SIGKILL);
	munmap((void *)shm, sizeof(*shm));
	shm = NULL;
	return 0;
}

/* Starts `sleep 30` (posix_spawn: fork + exec, not waited for), then dies. */
static int spawn_sleeper_and_die(const void *in, size_t in_len, void *out, size_t out_cap,
				 size_t *out_len)
{
	char *argv[] = { "sleep", "30", NULL };
	pid_t pid;

	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	shm->worker = getpid();
	if (posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ) != 0)
		return -1;
	shm->grandchild = pid;
	kill(getpid(), SIGKILL);
	pause();
	return 0;
}

/* Forks (no exec) a child that sleeps 30 s, then runs 30 s itself: the test
 * kills the worker meanwhile. */
static int fork_sleeper_and_run(const void *in, size_t in_len, void *out, size_t out_cap,
				size_t *out_len)
{
	pid_t pid;

	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	shm->worker = getpid();
	pid = fork();
	if (pid == 0) {
		nap(30 * SEC);
		_exit(0);
	}
	if (pid < 0)
		return -1;
	shm->grandchild = pid;
	nap(30 * SEC);
	return 1;
}

struct bounded_call {
	reel_proc_fn fn;
	int ret, status;
};

static int bounded_call_fn(void *arg)
{
	struct bounded_call *c = arg;

	c->ret = reel_procpool_call(pp, c->fn, "x", 1, NULL, 0, NULL, &c->status);
	return 0;
}

/* Runs @fn on the pool under a 5 s deadline (so that a hang fails instead
 * of blocking the test); returns the call's result; *@took its time. */
static int call_bounded(reel_proc_fn fn, uint64_t *took)
{
	struct bounded_call c = { .fn = fn, .ret = -12345, .status = -12345 };
	uint64_t t0 = reel_now();
	int st;

	reel_wait_for(5 * SEC, bounded_call_fn, &c, &st);
	*took = reel_now() - t0;
	if (c.ret != c.status)
		return -12345;
	return c.ret;
}

static int proc_exec_survivor_main(void *arg)
{
	uint64_t took;

	(void)arg;
	FCHECK_EQ(reel_procpool_create(&pp, 1, 64), 0);
	FCHECK_EQ(call_bounded(spawn_sleeper_and_die, &took), -ECHILD);
	FCHECK(took < 5 * SEC);
	FCHECK(shm->grandchild > 0);
	FCHECK_EQ(kill(shm->grandchild, 0), 0);   /* still running: it did hold on */
	FCHECK_EQ(many_calls(2), 0);              /* the replacement works */
	FCHECK_EQ(reel_procpool_destroy(pp), 0);
	return 0;
}

static void test_procpool_worker_death_seen_while_its_exec_child_lives(void **state)
{
	(void)state;
	run_ok(proc_exec_survivor_main, NULL);
	assert_no_zombie();
}

/* popen's shell lists which of its descriptors 3..63 are open (by stat, so
 * listing opens none); the output is the list, the status 0 when the worker
 * itself has a socket at 3 or above. */
static int list_exec_fds(const void *in, size_t in_len, void *out, size_t out_cap,
			 size_t *out_len)
{
	const char *cmd = "n=3; while [ $n -lt 64 ]; do "
			  "[ -e /proc/$$/fd/$n ] && printf '%s ' $n; n=$((n+1)); done";
	struct stat st;
	bool has_socket = false;
	FILE *f;
	size_t n;

	(void)in, (void)in_len;
	for (int fd = 3; fd < 64; fd++)
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			has_socket = true;
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	n = fread(out, 1, out_cap, f);
	if (pclose(f) != 0)
		return -EIO;
	*out_len = n;
	return has_socket ? 0 : -ENOTSOCK;
}

static int proc_no_inherit_main(void *arg)
{
	char out[256];
	size_t out_len = 99;
	int st = -1;

	(void)arg;
	FCHECK_EQ(reel_procpool_create(&pp, 1, sizeof(out)), 0);
	FCHECK_EQ(reel_procpool_call(pp, list_exec_fds, "", 0, out, sizeof(out) - 1, &out_len,
				     &st), 0);
	FCHECK_EQ(st, 0);
	out[out_len] = '\0';
	if (out_len)
		fprintf(stderr, "descriptors inherited by an exec'ed program: %s\n", out);
	FCHECK_EQ(out_len, 0);
	FCHECK_EQ(reel_procpool_destroy(pp), 0);
	return 0;
}

static void test_procpool_exec_from_job_inherits_no_worker_socket(void **state)
{
	(void)state;
	run_ok(proc_no_inherit_main, NULL);
	assert_no_zombie();
}

/* Kills the worker once its job has forked its child. */
static int kill_worker_later(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500 && (!shm->worker || !shm->grandchild); i++)
		FCHECK_EQ(reel_sleep(10 * MS), 0);
	FCHECK(shm->worker > 0 && shm->grandchild > 0);
	FCHECK_EQ(kill(shm->worker, SIGKILL), 0);
	return 0;
}

static int proc_fork_survivor_main(void *arg)
{
	uint64_t took;
	reel_task killer;
	int r;

	(void)arg;
	FCHECK_EQ(reel_procpool_create(&pp, 1, 64), 0);
	FCHECK_EQ(reel_spawn(&killer, kill_worker_later, NULL, NULL), 0);
	FCHECK_EQ(call_bounded(fork_sleeper_and_run, &took), -ECHILD);
	FCHECK(took < 5 * SEC);
	FCHECK_EQ(reel_join(killer, &r), 0);
	FCHECK_EQ(r, 0);
	FCHECK_EQ(kill(shm->grandchild, 0), 0);   /* still running: it did hold on */
	FCHECK_EQ(many_calls(2), 0);
	FCHECK_EQ(reel_procpool_destroy(pp), 0);
	return 0;
}

static void test_procpool_worker_death_seen_while_its_forked_child_lives(void **state)
{
	(void)state;
	run_ok(proc_fork_survivor_main, NULL);
	assert_no_zombie();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_procpool_many_results),
		cmocka_unit_test(test_procpool_killed_worker_is_replaced),
		cmocka_unit_test(test_procpool_sizes_and_bad_input),
		cmocka_unit_test(test_procpool_cancel_waiting_and_running),
		cmocka_unit_test_setup_teardown(
			test_procpool_worker_death_seen_while_its_exec_child_lives,
			shared_map, shared_unmap),
		cmocka_unit_test(test_procpool_exec_from_job_inherits_no_worker_socket),
		cmocka_unit_test_setup_teardown(
			test_procpool_worker_death_seen_while_its_forked_child_lives,
			shared_map, shared_unmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
