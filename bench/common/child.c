/*
 * child.c - programs that a benchmark runs beside itself (the echo servers
 * and their load generator): start one pinned to a CPU with its output on
 * a pipe, read that output line by line against a deadline, stop it, and
 * read its CPU time from /proc.
 *
 * No child may outlive reel-bench, whatever happens to it:
 *   - every child of a measurement joins one process group, which the
 *     error paths and the watchdog (bench/main.c) kill as a whole;
 *   - each child asks the kernel for SIGKILL when reel-bench dies
 *     (PR_SET_PDEATHSIG), which covers reel-bench being killed outright;
 *   - waits are bounded: a child that ignores SIGTERM gets SIGKILL.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

volatile pid_t bench_child_group;

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(char *const argv[], int cpu, pid_t group, pid_t parent, int out)
{
	static const char msg[] = "reel-bench: cannot execute the program\n";
	sigset_t none;
	cpu_set_t one;
	int devnull;

	setpgid(0, group);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);   /* reel-bench is already gone */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (cpu >= 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			_exit(127);
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execv(argv[0], argv);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

int bench_child_start(struct bench_proc *p, char *const argv[], int cpu, pid_t group)
{
	pid_t parent = getpid();
	int fds[2];

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);   /* the child must not print our buffers again */
	p->pid = fork();
	if (p->pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (p->pid == 0)
		exec_child(argv, cpu, group, parent, fds[1]);
	/* Both sides set the group, so it is right whichever runs first. */
	setpgid(p->pid, group ? group : p->pid);
	close(fds[1]);
	p->out = fds[0];
	snprintf(p->name, sizeof(p->name), "%s", strrchr(argv[0], '/') ?
		 strrchr(argv[0], '/') + 1 : argv[0]);
	return 0;
}

/* Append the next complete line in p->buf to p->log and return it. */
static char *take_line(struct bench_proc *p)
{
	char *nl = memchr(p->buf, '\n', p->len);
	size_t n, room;

	if (!nl && p->len == sizeof(p->buf) - 1)
		nl = p->buf + p->len - 1;   /* a line too long: cut it */
	if (!nl)
		return NULL;
	*nl = '\0';
	n = (size_t)(nl - p->buf);
	memcpy(p->line, p->buf, n + 1);
	memmove(p->buf, nl + 1, p->len - n - 1);
	p->len -= n + 1;
	room = sizeof(p->log) - p->loglen;
	if (room > 1) {
		int w = snprintf(p->log + p->loglen, room, "  %s: %s\n", p->name, p->line);

		p->loglen += w > 0 && (size_t)w < room ? (size_t)w : room - 1;
	}
	return p->line;
}

const char *bench_child_line(struct bench_proc *p, uint64_t deadline_ns, int *err)
{
	char *line;

	*err = 0;
	while (!(line = take_line(p))) {
		uint64_t now = bench_now_ns();
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		ssize_t n;
		int r;

		if (p->out < 0) {
			*err = -EPIPE;
			return NULL;
		}
		if (now >= deadline_ns) {
			*err = -ETIMEDOUT;
			return NULL;
		}
		r = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000u) + 1);
		if (r < 0 && errno != EINTR) {
			*err = -errno;
			return NULL;
		}
		if (r <= 0)
			continue;
		n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {   /* the child closed its output: it has ended */
			if (p->len) {
				p->buf[p->len++] = '\n';
				continue;
			}
			close(p->out);
			p->out = -1;
			*err = n < 0 ? -errno : -EPIPE;
			return NULL;
		}
		p->len += (size_t)n;
	}
	return line;
}

/* Collect the output a child wrote before it ended (for error messages). */
static void drain(struct bench_proc *p)
{
	int err;

	while (p->out >= 0 && bench_child_line(p, bench_now_ns() + 200000000u, &err))
		;
}

int bench_child_wait(struct bench_proc *p, uint64_t timeout_ns, int *wstatus)
{
	uint64_t deadline = bench_now_ns() + timeout_ns;
	pid_t r;

	if (p->pid <= 0)
		return -ECHILD;
	for (;;) {
		r = waitpid(p->pid, wstatus, WNOHANG);
		if (r == p->pid) {
			p->pid = -1;
			drain(p);
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (bench_now_ns() >= deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

int bench_child_stop(struct bench_proc *p, uint64_t timeout_ns, int *wstatus)
{
	int err;

	if (p->pid <= 0)
		return -ECHILD;
	kill(p->pid, SIGTERM);
	err = bench_child_wait(p, timeout_ns, wstatus);
	if (err == -ETIMEDOUT) {
		kill(p->pid, SIGKILL);
		bench_child_wait(p, 5000000000u, wstatus);
	}
	return err;
}

void bench_child_kill(struct bench_proc *p)
{
	int wstatus;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		if (bench_child_wait(p, 5000000000u, &wstatus) < 0)
			p->pid = -1;   /* unkillable: nothing more to do */
	}
	if (p->out >= 0) {
		close(p->out);
		p->out = -1;
	}
}

void bench_kill_pair(struct bench_proc *srv, struct bench_proc *load)
{
	if (bench_child_group > 0)
		kill(-bench_child_group, SIGKILL);
	bench_child_kill(load);
	bench_child_kill(srv);
	bench_child_group = 0;
	bench_child = 0;
}

void bench_child_release(struct bench_proc *p)
{
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
}

const char *bench_wstatus(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(wstatus),
			 strsignal(WTERMSIG(wstatus)));
	else
		snprintf(buf, len, "wait status %#x", wstatus);
	return buf;
}

int64_t bench_proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *paren;
	unsigned long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The name in parentheses may hold spaces: fields resume after the
	 * last ')'. utime and stime are fields 14 and 15, in clock ticks. */
	paren = strrchr(buf, ')');
	if (!paren || hz <= 0 ||
	    sscanf(paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &utime, &stime) != 2)
		return -EIO;
	return (int64_t)(utime + stime) * (1000000000 / hz);
}

/* On-CPU ns of one thread: the first field of its schedstat. */
static int64_t thread_oncpu_ns(pid_t pid, const char *tid)
{
	char path[96], buf[128];
	unsigned long long ns;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%.32s/schedstat", (int)pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -EIO;
	buf[r] = '\0';
	return sscanf(buf, "%llu", &ns) == 1 ? (int64_t)ns : -EIO;
}

int64_t bench_proc_oncpu_ns(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int64_t sum = 0, ns;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ns = thread_oncpu_ns(pid, de->d_name);
		if (ns >= 0) {
			sum += ns;
			n++;
		}
	}
	closedir(d);
	return n ? sum : bench_proc_cpu_ns(pid);
}
