/*
 * proc.c - readiness of foreign descriptors, signals, child processes.
 *
 * All three are waits on a descriptor: POLL_ADD on the caller's fd, a read
 * of a signalfd, and a POLL_ADD on a pidfd (readable once the child exits)
 * followed by waitid(P_PIDFD, WNOHANG), which then cannot block. Kernels
 * from 6.7 have IORING_OP_WAITID; the pidfd poll works from 5.3 and costs
 * one extra system call per child, so it is the one path kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

extern char **environ;

int reel_poll(int fd, short events)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return -EBADF;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_poll_add(sqe, fd, (unsigned)(unsigned short)events);
	return reel__io_end(&io, sqe);
}

int reel_signal_wait(const sigset_t *set, struct signalfd_siginfo *info)
{
	struct signalfd_siginfo si;
	ssize_t n;
	int sfd;

	if (!set)
		return -EINVAL;
	if (!reel__self_fiber())
		return -EPERM;
	/* Blocked, the signals stay pending for the signalfd to read. */
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return -EINVAL;
	sfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	n = reel_read(sfd, &si, sizeof(si));
	close(sfd);
	if (n < 0)
		return (int)n;
	if (n != sizeof(si))
		return -EIO;
	if (info)
		*info = si;
	return (int)si.ssi_signo;
}

int reel_process_spawn(pid_t *pid, char *const argv[])
{
	pid_t child;
	int err, pidfd;

	if (!reel__self_fiber())
		return -EPERM;   /* every reel_io call is a fiber's, this one too */
	if (!pid || !argv || !argv[0])
		return -EINVAL;
	err = posix_spawnp(&child, argv[0], NULL, NULL, argv, environ);
	if (err)
		return -err;
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	if (pidfd < 0) {
		err = -errno;
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return err;
	}
	*pid = child;
	return pidfd;
}

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

int reel_process_wait(int pidfd)
{
	siginfo_t si = { 0 };
	int r = reel_poll(pidfd, POLLIN);

	if (r < 0)
		return r;
	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) != 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;   /* readable but not exited: not a child of ours? */
	close(pidfd);
	return wait_status(&si);
}
