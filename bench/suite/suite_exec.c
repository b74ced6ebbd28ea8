/*
 * suite_exec.c - one measurement of a program of its own: the Go twin's
 * cells, and every cell of the fresh-process workload (reel's fresh_tasks,
 * goroutines, asyncio, threads).
 *
 * It is suite_cell.c's twin for a program that is not reel-bench: fork, then
 * exec the program, so the process measured is fresh (nothing run or
 * allocated in it before, no warm pool) and its wait4 figures - CPU time
 * and peak RSS - are its own, not those of a forked copy of reel-bench. The
 * program times its own jobs and prints one line on stdout, "ok WALL_NS" or
 * "err REASON"; a crash, a non-zero exit without a reason or a hang
 * (killed at the timeout) is a sample with its reason, never the runner's
 * end.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the program printed, up to its first "ok"/"err" line. */
struct exec_out {
	char buf[1024];
	size_t len;
};

extern char **environ;

/* This process's environment with @extra's variables set (replacing any
 * of the same name): built before fork, since the child may only make
 * async-signal-safe calls before exec. NULL when out of memory; free it. */
static char **make_env(char *const extra[])
{
	size_t n = 0, k = 0, x = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[x])
		x++;
	env = calloc(n + x + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < x && !replaced; j++) {
			size_t len = strcspn(extra[j], "=") + 1;

			replaced = !strncmp(environ[i], extra[j], len);
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < x; j++)
		env[k++] = extra[j];
	return env;
}

/* Between fork and exec: async-signal-safe calls only. Never returns. */
static void exec_child(char *const argv[], char **env, int out, pid_t parent)
{
	sigset_t none;
	int devnull;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execve(argv[0], argv, env);
	_exit(127);
}

/* The line that starts with "ok " or "err " in @o, or NULL. */
static const char *verdict_line(struct exec_out *o)
{
	char *line = o->buf;

	o->buf[o->len] = '\0';
	while (line && *line) {
		char *nl = strchr(line, '\n');

		if (!strncmp(line, "ok ", 3) || !strncmp(line, "err ", 4)) {
			if (nl)
				*nl = '\0';
			return line;
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Read the program's output until it closes it or @deadline passes
 * (-ETIMEDOUT). Output past the buffer is read and dropped. */
static int read_output(int fd, struct exec_out *o, uint64_t deadline)
{
	char sink[256];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		size_t room = sizeof(o->buf) - 1 - o->len;
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = room ? read(fd, o->buf + o->len, room) : read(fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (room)
			o->len += (size_t)n;
	}
}

/* Fill @out from the program's line and wait status. */
static void judge(struct suite_sample *out, struct exec_out *o, int st)
{
	const char *line = verdict_line(o);
	char ws[96];

	if (line && !strncmp(line, "ok ", 3) && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		out->wall_s = (double)strtoull(line + 3, NULL, 10) / 1e9;
		return;
	}
	out->err = -ECHILD;
	if (line && !strncmp(line, "err ", 4)) {
		snprintf(out->why, sizeof(out->why), "%s", line + 4);
		return;
	}
	o->buf[strcspn(o->buf, "\n")] = '\0';
	snprintf(out->why, sizeof(out->why), "crashed: %s%s%.60s",
		 bench_wstatus(st, ws, sizeof(ws)), o->buf[0] ? ": " : "", o->buf);
}

int suite_exec_run(char *const argv[], char *const env[], uint64_t timeout_ns,
		   struct suite_sample *out)
{
	struct exec_out *o = calloc(1, sizeof(*o));
	char **envp = make_env(env);
	pid_t parent = getpid(), pid = -1;
	int fds[2] = { -1, -1 }, st = 0, rd;

	memset(out, 0, sizeof(*out));
	if (!o || !envp || pipe2(fds, O_CLOEXEC) < 0) {
		int err = !o || !envp ? -ENOMEM : -errno;

		free(o);
		free(envp);
		return err;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		free(o);
		free(envp);
		return err;
	}
	if (pid == 0)
		exec_child(argv, envp, fds[1], parent); /* dup2 clears CLOEXEC */
	free(envp);
	bench_child = pid;
	close(fds[1]);
	rd = read_output(fds[0], o, bench_now_ns() + timeout_ns);
	close(fds[0]);
	st = suite_reap(pid, rd == -ETIMEDOUT, timeout_ns, out);
	if (rd != -ETIMEDOUT)
		judge(out, o, st);
	free(o);
	return 0;
}
