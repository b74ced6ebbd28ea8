/*
 * process.c - child processes: started with posix_spawn, watched through a
 * pidfd, reaped by the fiber that waits, ended when that fiber is cancelled
 * (docs/io.md, "Subprocesses"). reel_process_communicate, which pumps the
 * pipes, is communicate.c.
 *
 * Starting
 *   posix_spawnp, not fork: glibc's clones with CLONE_VM | CLONE_VFORK, so
 *   the thread (the whole loop) stops only until the child has exec'd,
 *   whatever the parent's size, and an exec that fails - no such program,
 *   not executable, a working directory that is not there - is reported by
 *   posix_spawnp itself, the failed child already reaped by glibc: the
 *   caller gets -ENOENT, not a child that exits 127 (fork + exec would need
 *   a CLOEXEC pipe to carry the errno back, which is what glibc does).
 *   The child's stdin, stdout and stderr are file actions, run in the child
 *   in that order. Every descriptor an action copies is first renumbered to
 *   3 or above (F_DUPFD_CLOEXEC), so an earlier action can never have
 *   overwritten it: a caller with 0-2 closed gets pipe ends numbered 0-2,
 *   and REEL_PROC_FD may name the caller's own 1 for the child's stderr
 *   while the child's stdout becomes a pipe. The caller's pipe ends are
 *   O_CLOEXEC, so a later child never holds them (a child holding another
 *   child's stdin write end would keep it from ever seeing end of file).
 *   The child's signal mask is emptied and SIGPIPE set back to its default:
 *   a loop that waits for SIGTERM (reel_signal_wait) has it blocked, and a
 *   child inheriting that would ignore kill-on-cancel's SIGTERM; reel_run
 *   ignores SIGPIPE, and `yes | head` in a child would then spin on EPIPE
 *   (Python's restore_signals does the same).
 *   The pidfd is opened just after the spawn. The child cannot be reaped
 *   before we reap it, so its pid cannot be reused in between - unless the
 *   program ignores SIGCHLD or reaps with waitpid(-1), which no program
 *   using pidfds should do. pidfd_spawn (glibc 2.39) would close even that
 *   window; Debian 12 has 2.36.
 *
 * Waiting
 *   POLL_ADD on the pidfd through the ring (readable once the child has
 *   exited), then waitid(P_PIDFD, WNOHANG), which cannot block then.
 *   Kernels from 6.7 have IORING_OP_WAITID; the pidfd poll works from 5.3
 *   and costs one extra system call per child, so it is the one path kept.
 *   A try comes first, so a child that has already exited is reaped and its status
 *   returned even by a cancelled task: the result wins, as in design §5.
 *
 * Kill-on-cancel
 *   A wait on a struct reel_process interrupted by a cancel or a deadline
 *   ends the child and reaps it before it returns (unless the caller asked
 *   for REEL_PROC_KEEP_ON_CANCEL): a cancelled task leaves no child running
 *   and no zombie. The ending parks, so it runs under reel_shield, bounded
 *   by the grace plus KILL_WAIT_NS; a child that SIGKILL has not ended by
 *   then is waited for with a blocking waitid, stalling the loop rather
 *   than leaving a zombie nobody will reap (the process pool's workers are
 *   stopped the same way). reel_process_close ends an unreaped child the
 *   same way, whatever the flags.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

extern char **environ;

/* After SIGKILL, how long a fiber waits for the child to go before it
 * blocks the thread in waitid: a killed process ends at once unless the
 * kernel holds it (uninterruptible sleep, a core being written). */
#define KILL_WAIT_NS (5ull * 1000 * 1000 * 1000)

/* A pidfd readable but its child not exited (never seen; a kernel that
 * signalled a thread-group leader's exit early): poll again after this. */
#define RETRY_NS (1000 * 1000)

#define KNOWN_FLAGS REEL_PROC_KEEP_ON_CANCEL

/* ---- starting ---------------------------------------------------------------- */

/* The descriptors a start opens: the caller's pipe ends (kept on success)
 * and the copies the child's file actions read (closed after the spawn). */
struct spawn_fds {
	int mine[3];
	int theirs[3];
};

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* @fd renumbered to 3 or above, O_CLOEXEC, so that no file action for 0-2
 * can overwrite it before it is copied: the copy, or -errno. */
static int above_stdio(int fd)
{
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	return hi < 0 ? -errno : hi;
}

/* A pipe for the child's descriptor @target: the caller's end in
 * s->mine[target], the child's (3 or above) in s->theirs[target]. */
static int open_pipe(int target, struct spawn_fds *s)
{
	int p[2], child, hi;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	s->mine[target] = target == 0 ? p[1] : p[0];
	child = target == 0 ? p[0] : p[1];
	if (child < 3) {
		hi = above_stdio(child);
		close(child);
		if (hi < 0)
			return hi;
		child = hi;
	}
	s->theirs[target] = child;
	return 0;
}

/* The file actions that give the child's descriptor @target what @mode
 * asks for. Called for 0, 1, 2 in this order (REEL_PROC_STDOUT copies 1). */
static int plan_stream(posix_spawn_file_actions_t *fa, int target, int mode, int fd,
		       struct spawn_fds *s)
{
	int r;

	switch (mode) {
	case REEL_PROC_INHERIT:
		return 0;
	case REEL_PROC_DEVNULL:
		return -posix_spawn_file_actions_addopen(fa, target, "/dev/null",
							 target == 0 ? O_RDONLY : O_WRONLY, 0);
	case REEL_PROC_STDOUT:
		return -posix_spawn_file_actions_adddup2(fa, STDOUT_FILENO, STDERR_FILENO);
	case REEL_PROC_FD:
		if (fd == target)   /* dup2 onto itself clears FD_CLOEXEC (glibc 2.29+) */
			return -posix_spawn_file_actions_adddup2(fa, fd, target);
		r = above_stdio(fd);
		if (r < 0)
			return r;
		s->theirs[target] = r;
		return -posix_spawn_file_actions_adddup2(fa, r, target);
	default:   /* REEL_PROC_PIPE */
		r = open_pipe(target, s);
		if (r)
			return r;
		return -posix_spawn_file_actions_adddup2(fa, s->theirs[target], target);
	}
}

static int check_opts(const struct reel_process_opts *o)
{
	const int mode[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
	const int fd[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };

	for (int i = 0; i < 3; i++) {
		if (mode[i] < REEL_PROC_INHERIT || mode[i] > REEL_PROC_FD)
			return -EINVAL;
		if (mode[i] == REEL_PROC_STDOUT && i != STDERR_FILENO)
			return -EINVAL;
		if (mode[i] == REEL_PROC_FD && fd[i] < 0)
			return -EBADF;
	}
	if (o->flags & ~KNOWN_FLAGS)
		return -EINVAL;
#if !REEL_HAVE_SPAWN_CHDIR
	if (o->cwd)
		return -EOPNOTSUPP;
#endif
	return 0;
}

/* Attributes: an empty signal mask, SIGPIPE at its default (top comment). */
static int plan_attrs(posix_spawnattr_t *attr)
{
	sigset_t none, pipe;
	int r;

	sigemptyset(&none);
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	r = posix_spawnattr_setsigmask(attr, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(attr, &pipe);
	if (!r)
		r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	return -r;
}

/* posix_spawnp with the plan for @o. The caller's pipe ends are left in
 * s->mine (its to close on failure); the child's copies are closed here. */
static int spawn(char *const argv[], const struct reel_process_opts *o, struct spawn_fds *s,
		 pid_t *pid)
{
	const int mode[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
	const int fd[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	r = -posix_spawn_file_actions_init(&fa);
	if (r)
		return r;
	r = -posix_spawnattr_init(&attr);
	if (r)
		goto destroy_actions;
	r = plan_attrs(&attr);
	for (int i = 0; i < 3 && !r; i++)
		r = plan_stream(&fa, i, mode[i], fd[i], s);
#if REEL_HAVE_SPAWN_CHDIR
	if (!r && o->cwd)
		r = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
#endif
	if (!r)
		r = -posix_spawnp(pid, argv[0], &fa, &attr, argv, o->envp ? o->envp : environ);
	close_all(s->theirs, 3);
	posix_spawnattr_destroy(&attr);
destroy_actions:
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

static void process_reset(struct reel_process *p)
{
	*p = (struct reel_process){ .pid = 0, .pidfd = -1, .in_fd = -1, .out_fd = -1,
				    .err_fd = -1, .status = -1 };
}

int reel_process_start(struct reel_process *p, char *const argv[],
		       const struct reel_process_opts *opts)
{
	static const struct reel_process_opts defaults;
	const struct reel_process_opts *o = opts ? opts : &defaults;
	struct spawn_fds s = { { -1, -1, -1 }, { -1, -1, -1 } };
	pid_t pid;
	int r, pidfd;

	if (!p)
		return -EINVAL;
	process_reset(p);
	if (!reel__self_fiber())
		return -EPERM;   /* every reel_io call is a fiber's, this one too */
	if (!argv || !argv[0])
		return -EINVAL;
	r = check_opts(o);
	if (r)
		return r;
	r = spawn(argv, o, &s, &pid);
	if (r)
		goto close_pipes;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto close_pipes;
	}
	p->pid = pid;
	p->pidfd = pidfd;
	p->in_fd = s.mine[0];
	p->out_fd = s.mine[1];
	p->err_fd = s.mine[2];
	p->flags_ = o->flags;
	p->grace_ns_ = o->kill_grace_ns;
	return 0;

close_pipes:
	close_all(s.mine, 3);
	return r;
}

int reel_process_spawn(pid_t *pid, char *const argv[])
{
	struct reel_process p;
	int r;

	if (!reel__self_fiber())
		return -EPERM;
	if (!pid)
		return -EINVAL;
	r = reel_process_start(&p, argv, NULL);
	if (r)
		return r;
	*pid = p.pid;
	return p.pidfd;
}

/* ---- waiting ------------------------------------------------------------------ */

/* The wait status waitpid(2) would have given, from waitid's siginfo. */
static int wait_status(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default:   /* CLD_KILLED */
		return si->si_status & 0x7f;
	}
}

/* Reap the child behind @pidfd: its wait status; -EAGAIN while it runs
 * (unless @block); -ECHILD when it is not ours to reap (any more). */
static int reap(int pidfd, bool block)
{
	siginfo_t si = { 0 };
	int r;

	do
		r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | (block ? 0 : WNOHANG));
	while (r != 0 && errno == EINTR);
	if (r != 0)
		return -errno;
	return si.si_pid == 0 ? -EAGAIN : wait_status(&si);
}

int reel_process_wait(int pidfd)
{
	int r = reel_poll(pidfd, POLLIN);

	if (r < 0)
		return r;
	r = reap(pidfd, false);
	if (r >= 0)
		close(pidfd);
	return r;   /* -EAGAIN: readable but not exited: not a child of ours? */
}

/* @p after a reap that gave @r: the status kept, the pidfd closed - also
 * for -ECHILD, when nobody will ever reap it through us. */
static void settle(struct reel_process *p, int r)
{
	if (r == -EAGAIN || (r < 0 && r != -ECHILD))
		return;
	if (r >= 0)
		p->status = r;
	reel_close(p->pidfd);
	p->pidfd = -1;
}

/* Park until @p's child has exited, and reap it: the wait status, or the
 * interruption (interruptible; the child is left as it is). */
static int wait_exit(struct reel_process *p)
{
	bool polled = false;

	for (;;) {
		int r;

		if (p->status >= 0)
			return p->status;
		if (p->pidfd < 0)
			return -ECHILD;
		r = reap(p->pidfd, false);
		if (r != -EAGAIN) {
			settle(p, r);
			return r;
		}
		/* Readable but not exited (never seen): no spinning on it. */
		r = polled ? reel_sleep(RETRY_NS) : 0;
		if (!r)
			r = reel_poll(p->pidfd, POLLIN);
		if (r < 0)   /* -EBADF too when another fiber reaped it meanwhile */
			return p->status >= 0 ? p->status : r;
		polled = true;
	}
}

/* wait_exit as a reel_fn. */
static int wait_exit_fn(void *arg)
{
	return wait_exit(arg);
}

static bool running(const struct reel_process *p)
{
	return p->status < 0 && p->pidfd >= 0;
}

/* The body of end_child's shield: SIGTERM and the grace, then SIGKILL. */
static int terminate_then_kill(void *arg)
{
	struct reel_process *p = arg;

	if (p->grace_ns_ && reel_process_kill(p, SIGTERM) == 0) {
		reel_wait_for(p->grace_ns_, wait_exit_fn, p, NULL);
		if (!running(p))
			return 0;
	}
	reel_process_kill(p, SIGKILL);
	return wait_exit(p);
}

/* End @p's child if it still runs, and reap it (top comment). */
static void end_child(struct reel_process *p)
{
	uint64_t bound = p->grace_ns_ + KILL_WAIT_NS;

	if (!running(p))
		return;
	if (bound < KILL_WAIT_NS)
		bound = UINT64_MAX;   /* a grace near forever */
	if (reel__self_fiber())
		reel_shield(bound, terminate_then_kill, p, NULL);
	if (running(p)) {
		reel_process_kill(p, SIGKILL);
		settle(p, reap(p->pidfd, true));
	}
}

int reel_process_join(struct reel_process *p)
{
	struct reel__loop *l;
	int r = reel__enter(p, &l);

	if (r)
		return r;
	r = wait_exit(p);
	if ((r == -ECANCELED || r == -ETIMEDOUT) && !(p->flags_ & REEL_PROC_KEEP_ON_CANCEL))
		end_child(p);   /* kill-on-cancel */
	return r;
}

int reel_process_kill(struct reel_process *p, int sig)
{
	if (!p)
		return -EINVAL;
	if (p->pidfd < 0)
		return -ESRCH;   /* reaped, or never started: its pid may be another's now */
	return reel__sys_result(syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		reel_close(*fd);
	*fd = -1;
}

int reel_process_close(struct reel_process *p)
{
	if (!p)
		return -EINVAL;
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	end_child(p);
	close_fd(&p->pidfd);
	return 0;
}
