/*
 * helpers.h - what every reel test shares.
 *
 * cmocka's assert_* longjmp to the test's start, which must never happen from
 * a fiber's stack. Fiber code checks with FCHECK, which records the first
 * failure and makes the fiber return -EFAULT; the test asserts afterwards,
 * on the thread's own stack, with run_ok() / assert_no_fiber_failure().
 * Every test ends with assert_loop_clean(): no live fiber, timer, in-flight
 * SQE or unreturned stack when the loop closed (MAKE_VALGRIND_HAPPY's role).
 *
 * Also here, so that no test file keeps its own copy: small fiber bodies
 * (return_arg, set_flag, yield_then_return), timed jobs for the tests of
 * gather, task sets, groups and background tasks (struct job), a connected
 * TCP pair (tcp_pair), and a scratch directory fixture (struct scratch) for
 * the tests that create files.
 */
#ifndef REEL_TEST_HELPERS_H
#define REEL_TEST_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <unistd.h>
#include <cmocka.h>

#include "reel.h"
#include "reel_io.h"
#include "internal.h"

#if defined(REEL_HAVE_VALGRIND)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Under valgrind (50x slower) and AddressSanitizer (a million fibers'
 * shadow and quarantine: 3x slower) the big counts shrink tenfold; the
 * full counts run in the plain and clang builds. */
#if defined(__SANITIZE_ADDRESS__)
#define REEL_TEST_SCALE_DOWN 1
#else
#define REEL_TEST_SCALE_DOWN 0
#endif
static inline long scaled(long n)
{
	return RUNNING_ON_VALGRIND || REEL_TEST_SCALE_DOWN ? n / 10 : n;
}

static char fiber_failure[512];

#define FCHECK(cond)                                                        \
	do {                                                                \
		if (!(cond)) {                                              \
			if (!fiber_failure[0])                              \
				snprintf(fiber_failure, sizeof(fiber_failure), \
					 "%s:%d: %s", __FILE__, __LINE__, #cond); \
			fprintf(stderr, "FCHECK failed: %s\n", fiber_failure); \
			return -EFAULT;                                     \
		}                                                           \
	} while (0)

/* FCHECK for two integers, printing both values on failure. */
#define FCHECK_EQ(a, b)                                                     \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ != b_) {                                             \
			if (!fiber_failure[0])                              \
				snprintf(fiber_failure, sizeof(fiber_failure), \
					 "%s:%d: %s == %lld, expected %s == %lld", \
					 __FILE__, __LINE__, #a, a_, #b, b_); \
			fprintf(stderr, "FCHECK failed: %s\n", fiber_failure); \
			return -EFAULT;                                     \
		}                                                           \
	} while (0)

static inline void assert_no_fiber_failure(void)
{
	if (fiber_failure[0]) {
		char copy[sizeof(fiber_failure)];

		memcpy(copy, fiber_failure, sizeof(copy));
		fiber_failure[0] = '\0';
		fail_msg("in a fiber: %s", copy);
	}
}

static inline void assert_loop_clean(void)
{
	const struct reel__loop_stats *s = reel__last_run_stats();

	assert_int_equal(s->live_at_close, 0);
	assert_int_equal(s->timers_at_close, 0);
	assert_int_equal(s->inflight_at_close, 0);
	assert_int_equal(s->stale_cqes, 0);
	assert_int_equal(s->stacks_at_close, 0);
	assert_int_equal(s->fibers_at_close, 0);
}

/* Run @fn as main with @opts; main must return 0; the loop must close clean. */
static inline void run_ok_opts(reel_fn fn, void *arg, const struct reel_run_opts *opts)
{
	int status = -12345;

	assert_int_equal(reel_run(fn, arg, opts, &status), 0);
	assert_no_fiber_failure();
	assert_int_equal(status, 0);
	assert_loop_clean();
}

static inline void run_ok(reel_fn fn, void *arg)
{
	run_ok_opts(fn, arg, NULL);
}

#define MS (1000000ull)
#define SEC (1000 * MS)

/*
 * Run @body(@arg) in a child process whose stderr is captured into @out
 * (NUL-terminated, at most @len - 1 bytes): for behaviour that ends the
 * process (stack overflow, abort). The child gets 20 s before SIGALRM ends
 * a hang, and exits 0 if @body returns. Returns the child's wait status.
 */
static inline int call_in_child(void (*body)(void *), void *arg, char *out, size_t len)
{
	size_t got = 0;
	int fds[2], wstatus;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		alarm(20);
		body(arg);
		_exit(0);
	}
	close(fds[1]);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	return wstatus;
}

struct child_run {
	reel_fn fn;
	void *arg;
	const struct reel_run_opts *opts;
};

static inline void child_reel_run(void *arg)
{
	const struct child_run *c = arg;

	reel_run(c->fn, c->arg, c->opts, NULL);
}

/* reel_run(@fn, @arg, @opts) in a child process: call_in_child. */
static inline int run_in_child(reel_fn fn, void *arg, const struct reel_run_opts *opts,
			       char *out, size_t len)
{
	struct child_run c = { fn, arg, opts };

	return call_in_child(child_reel_run, &c, out, len);
}

/* Every parking call fails at once with @err, three times over: the
 * interruption is sticky and no call parks (each would take a second). */
static inline int check_parking_calls_fail(int err)
{
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = reel_now();

		FCHECK_EQ(reel_yield(), err);
		FCHECK_EQ(reel_sleep(0), err);
		FCHECK_EQ(reel_sleep(1000 * MS), err);
		/* Interrupted before the call: nothing is queued, so no
		 * completed result can win over the interruption. */
		FCHECK_EQ(reel_nop(), err);
		FCHECK(reel_now() - t0 < 1000 * MS);
	}
	return 0;
}

/* ---- making the system refuse things (in a forked child only) --------------- */

/* Installs a seccomp filter on the calling process that makes system call
 * @nr fail with @err and lets every other one through. 0, or -errno. */
static inline int refuse_syscall(long nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		return -errno;
	return 0;
}

/* Drops CAP_IPC_LOCK from the calling thread's effective set, so that the
 * kernel charges io_uring rings against RLIMIT_MEMLOCK as it does for an
 * unprivileged user. 0, or -errno. */
static inline int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return -errno;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &h, d) != 0)
		return -errno;
	return 0;
}

/* xorshift64: reproducible randomness for stress tests. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The file's own stream; a test may reseed it. */
static uint64_t rng_state __attribute__((unused)) = 0x2545f4914f6cdd1dull;

static inline uint64_t rng(void)
{
	return rng_next(&rng_state);
}

/* Yield @n times, ignoring interruptions (the caller checks them itself). */
static inline void yield_n(unsigned n)
{
	while (n--)
		(void)reel_yield();
}

/* Generous lateness: this VM sometimes wakes 0.1-0.5 s late. */
#define LATE_OK_NS (600 * MS)

/* Sleep the calling thread (not a fiber: the loop stops meanwhile) for @ns;
 * for pool threads, worker processes and the test's own thread. */
static inline void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	nanosleep(&ts, NULL);
}

/* ---- small fiber bodies ---------------------------------------------------- */

/* Returns its argument as the status. */
static inline int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

/* Sets *(bool *)arg: proves that a task ran. */
static inline int set_flag(void *arg)
{
	*(bool *)arg = true;
	return 1;
}

/* Yields three times (each must succeed), then returns its argument. */
static inline int yield_then_return(void *arg)
{
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_yield(), 0);
	return (int)(intptr_t)arg;
}

/* ---- timed jobs: gather, task sets, groups, background tasks --------------- */

/* A job: sleep @ms, then return @ret; @cleaned is set when it leaves after
 * an interruption (its "cleanup" ran), @sleep_rc is what the sleep said. */
struct job {
	uint64_t ms;
	int ret;
	bool ran, cleaned;
	int sleep_rc;
	int *order;             /* where to record the order of endings */
	int *norder;
	int id;
};

static inline int job_run(void *arg)
{
	struct job *j = arg;
	int r;

	j->ran = true;
	r = reel_sleep(j->ms * MS);
	j->sleep_rc = r;
	if (j->order)
		j->order[(*j->norder)++] = j->id;
	if (r < 0) {
		j->cleaned = true;
		return r;
	}
	return j->ret;
}

/* Spawns job_run(&jobs[i]) into t[i] for each of the @n jobs. */
static inline int spawn_jobs(reel_task *t, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		FCHECK_EQ(reel_spawn(&t[i], job_run, &jobs[i], NULL), 0);
	return 0;
}

/* ---- a connected TCP pair ---------------------------------------------------- */

/* A connected TCP pair: @a the client, @b the accepted end. */
struct conn {
	int a, b;
};

/* Connects a pair on @host (a numeric address) through a listener that is
 * closed again before returning. */
static inline int tcp_pair(const char *host, struct conn *c)
{
	int lfd = reel_listen_tcp(host, 0, 16);

	FCHECK(lfd >= 0);
	c->a = reel_connect_tcp(host, (uint16_t)reel_local_port(lfd));
	FCHECK(c->a >= 0);
	c->b = reel_accept(lfd, NULL, NULL, 0);
	FCHECK(c->b >= 0);
	FCHECK_EQ(reel_close(lfd), 0);
	return 0;
}

static inline int close_pair(struct conn *c)
{
	FCHECK_EQ(reel_close(c->a), 0);
	FCHECK_EQ(reel_close(c->b), 0);
	return 0;
}

/* ---- a scratch directory ------------------------------------------------------ */

/*
 * A fresh directory under /tmp for a test that creates files, removed with
 * whatever the test left in it (a failed test included). As a cmocka
 * fixture:
 *
 *	cmocka_unit_test_setup_teardown(test_x, scratch_setup, scratch_teardown)
 *
 * and in the test, struct scratch *s = *state; scratch_path(s, "name") is
 * "<dir>/name". A path stays valid for the next SCRATCH_PATHS - 1 calls of
 * scratch_path (enough for the paths one call needs at once); it needs no
 * assert, so a fiber may call it too.
 */
#define SCRATCH_PATHS 8

struct scratch {
	char dir[64];
	char path[SCRATCH_PATHS][192];
	unsigned next;
};

static inline const char *scratch_path(struct scratch *s, const char *name)
{
	char *p = s->path[s->next++ % SCRATCH_PATHS];
	char tmp[sizeof(s->path[0])];

	/* through a copy: @name may itself be in s (-Wrestrict) */
	snprintf(tmp, sizeof(tmp), "%s/%s", s->dir, name);
	memcpy(p, tmp, sizeof(tmp));
	return p;
}

/* Entries in the directory (0: empty), -errno if it cannot be read. */
static inline int scratch_entries(const struct scratch *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Removes @name under @dfd and, for a directory, all it holds (symbolic
 * links are removed, not followed). 0, or -1 if anything stayed. */
static inline int scratch_remove_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	int r = 0;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return unlinkat(dfd, name, 0) == 0 ? 0 : -1;   /* not a directory */
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    scratch_remove_at(dirfd(d), e->d_name) != 0)
			r = -1;
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0)
		r = -1;
	return r;
}

/* cmocka setup: *state becomes a struct scratch with a new directory. */
static inline int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/reel-test-XXXXXX");
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", s->dir, strerror(errno));
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* cmocka teardown: the directory and everything in it go; fails if any
 * of it cannot be removed. */
static inline int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	int r;

	if (!s)
		return 0;
	r = scratch_remove_at(AT_FDCWD, s->dir);
	if (r != 0)
		fprintf(stderr, "could not remove all of %s\n", s->dir);
	free(s);
	*state = NULL;
	return r;
}

/* Open descriptors of this process (the directory's own one excluded). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * A loopback listener of @family whose accept queue is full: backlog 1
 * holds two connections; the next SYN is dropped and its connect hangs in
 * SYN retransmits - a black hole with no network. Filled with plain
 * non-blocking sockets, each given 100 ms to connect: the first that does
 * not proves the queue full. (A blocking connect(2) here can end in EINTR:
 * io_uring's task work counts as a pending signal.) 0 or -EFAULT (FCHECK).
 */
struct full {
	int lfd, port;
	int fillers[8];
	int nfill;
};

static inline int full_backlog(struct full *f, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	bool full = false;

	f->lfd = reel_listen_tcp(family == AF_INET ? "127.0.0.1" : "::1", 0, 1);
	FCHECK(f->lfd >= 0);
	f->port = reel_local_port(f->lfd);
	FCHECK_EQ(getsockname(f->lfd, (struct sockaddr *)&ss, &len), 0);
	for (f->nfill = 0; f->nfill < 8 && !full;) {
		int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct pollfd pfd = { .fd = s, .events = POLLOUT };
		uint64_t end = reel_now() + 100 * MS;
		int r;

		FCHECK(s >= 0);
		f->fillers[f->nfill++] = s;
		if (connect(s, (struct sockaddr *)&ss, len) == 0)
			continue;
		FCHECK_EQ(errno, EINPROGRESS);
		do
			r = poll(&pfd, 1, (int)((end - reel_now()) / MS) + 1);
		while (r < 0 && errno == EINTR && reel_now() < end);
		FCHECK(r >= 0 || errno == EINTR);
		if (r <= 0) {
			full = true;   /* still connecting after 100 ms */
		} else {
			int err = -1;
			socklen_t elen = sizeof(err);

			FCHECK_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
			FCHECK_EQ(err, 0);
		}
	}
	FCHECK(full);
	return 0;
}

static inline void full_close(struct full *f)
{
	for (int i = 0; i < f->nfill; i++)
		close(f->fillers[i]);
	close(f->lfd);
}

#endif /* REEL_TEST_HELPERS_H */
