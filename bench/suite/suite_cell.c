/*
 * suite_cell.c - one measurement of one model, in its own forked child.
 *
 * A child per measurement gives each model a fresh process: its peak RSS
 * (wait4's ru_maxrss) and CPU time (ru_utime + ru_stime, which include the
 * processes it reaped) are its own, not the sum of everything measured
 * before; and a model that crashes or hangs costs one table cell, not the
 * run. The wall time is taken inside the child around the model alone, so
 * fork and exit are not part of it.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child tells its parent through the pipe. */
struct cell_msg {
	int err;
	uint64_t wall_ns;       /* around the model */
	struct suite_extra extra;
	char why[128];
};

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

static void cell_child(suite_model_fn fn, const struct suite_set *set, int out,
		       pid_t parent)
{
	struct cell_msg m = { 0 };
	uint64_t t0;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	/* A crash must end the child by its signal, whatever handler the
	 * runner's process (a test harness) installed. */
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		signal(crash_signals[i], SIG_DFL);
	t0 = bench_now_ns();
	m.err = fn(set, m.why, sizeof(m.why), &m.extra);
	m.wall_ns = bench_now_ns() - t0;
	if (m.extra.rss_kib) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		m.extra.rss_kib += (uint64_t)ru.ru_maxrss;
	}
	if (m.err < 0 && !m.why[0])
		snprintf(m.why, sizeof(m.why), "%s", reel_strerror(m.err));
	if (write(out, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(1);
	_exit(0);
}

/* Read the child's message until @deadline: 0, -ETIMEDOUT, or -EPIPE when
 * it ended without one. */
static int read_msg(int fd, struct cell_msg *m, uint64_t deadline)
{
	size_t got = 0;

	while (got < sizeof(*m)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(fd, (char *)m + got, sizeof(*m) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

int suite_reap(pid_t pid, bool timed_out, uint64_t timeout_ns, struct suite_sample *out)
{
	struct rusage ru;
	int st = 0;

	if (timed_out)
		kill(pid, SIGKILL);
	while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
		;
	bench_child = 0;
	out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	out->rss_kib = (uint64_t)ru.ru_maxrss;
	if (timed_out) {
		out->err = -ETIMEDOUT;
		snprintf(out->why, sizeof(out->why), "timeout: killed after %.3g s",
			 (double)timeout_ns / 1e9);
	}
	return st;
}

int suite_cell_run(suite_model_fn fn, const struct suite_set *set,
		   uint64_t timeout_ns, struct suite_sample *out)
{
	struct cell_msg m = { 0 };
	pid_t parent = getpid(), pid;
	int fds[2], st = 0, rd;

	memset(out, 0, sizeof(*out));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		close(fds[0]);
		cell_child(fn, set, fds[1], parent);
	}
	bench_child = pid;
	close(fds[1]);
	rd = read_msg(fds[0], &m, bench_now_ns() + timeout_ns);
	close(fds[0]);
	st = suite_reap(pid, rd == -ETIMEDOUT, timeout_ns, out);
	if (rd == -ETIMEDOUT)
		return 0;   /* suite_reap wrote why */
	if (rd < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char ws[96];

		out->err = -ECHILD;
		snprintf(out->why, sizeof(out->why), "crashed: %s",
			 bench_wstatus(st, ws, sizeof(ws)));
	} else {
		out->err = m.err;
		memcpy(out->why, m.why, sizeof(out->why));
		out->why[sizeof(out->why) - 1] = '\0';
		out->wall_s = (double)m.wall_ns / 1e9;
		if (m.extra.wall_ns) {
			out->wall_s = (double)m.extra.wall_ns / 1e9;
			out->setup_s = (double)(m.wall_ns - m.extra.wall_ns) / 1e9;
		}
		/* wait4 gives the largest process, not their sum: a process
		 * pool reports the sum of its own peak and its workers'. */
		if (m.extra.rss_kib)
			out->rss_kib = m.extra.rss_kib;
	}
	return 0;
}
