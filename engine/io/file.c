/*
 * file.c - files through the ring: open, close, read, write, sync, stat,
 * allocate, unlink, rename; and cancelling every operation on a descriptor
 * (reel_cancel_fd), the first half of reel_close.
 *
 * Each call is one SQE and one park (engine/core/op.c does the waiting and the
 * cancellation). Where the kernel lacks the opcode (the loop's probe), the
 * call falls back to the system call itself: every one of these is a
 * metadata operation that does not wait on a peer, and the fallback is
 * listed in docs/io.md. Reads and writes have had their opcodes since 5.1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

/* The most one read or write moves: Linux's MAX_RW_COUNT (2 GiB - 4 KiB).
 * Longer requests are short transfers, as read(2) and write(2) make them. */
#define MAX_RW_BYTES 0x7ffff000u

int reel_openat(int dfd, const char *path, int flags, mode_t mode)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!path)
		return -EINVAL;
	flags |= O_CLOEXEC;
	if (reel__lacks_op(IORING_OP_OPENAT))
		return reel__sys_result(openat(dfd, path, flags, mode));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_openat(sqe, dfd, path, flags, mode);
	return reel__io_end(&io, sqe);
}

int reel_open(const char *path, int flags, mode_t mode)
{
	return reel_openat(AT_FDCWD, path, flags, mode);
}

/*
 * Cancelling by descriptor (reel_cancel_fd, reel_close).
 *
 * One IORING_OP_ASYNC_CANCEL with IORING_ASYNC_CANCEL_FD | _ALL cancels
 * every request of the ring on the file @fd refers to, but its CQE does not
 * mean the kernel has let go of them: a cancelled poll ends in task work
 * that runs at the loop's next wait (DEFER_TASKRUN), and a request running
 * in an io-wq worker is only signalled. Until such a request is freed it
 * holds a reference to the file, so a close(2) right after the cancel
 * would still free nothing. So the cancel is repeated until the kernel
 * finds nothing on the file: a request still on its way out is found (and
 * counted) again. Usually the second round finds nothing; from the third
 * on, each waits 1 ms for io-wq workers. The rounds after the first run
 * shielded: the caller is cleaning up, and a cancellation or deadline of
 * its own must not leave the file held (CANCEL_FD_GRACE_NS bounds them).
 */
#define CANCEL_FD_GRACE_NS 1000000000ull
#define CANCEL_FD_NAP_NS 1000000ull

struct fd_cancel {
	int fd;
	int found;       /* what the first completed round cancelled */
	unsigned rounds; /* rounds completed */
};

/* One round: how many requests on the file it cancelled (with _ALL the
 * kernel answers 0, not -ENOENT, when it found none). */
static int cancel_round(struct fd_cancel *c)
{
	struct reel__io io;
	struct io_uring_sqe *sqe = reel__io_begin(&io);
	int r;

	if (!sqe)
		return io.err;
	io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
	r = reel__io_end(&io, sqe);
	if (r >= 0 && c->rounds++ == 0)
		c->found = r;
	return r;
}

/* Rounds until nothing is left on the file (the shielded part). */
static int cancel_rounds(void *arg)
{
	struct fd_cancel *c = arg;
	int r;

	while ((r = cancel_round(c)) > 0)
		if (c->rounds >= 2 && (r = reel_sleep(CANCEL_FD_NAP_NS)) < 0)
			break;
	return r == -ENOENT ? 0 : r;
}

/* The kernel's -EINVAL here means it knows no cancelling by descriptor. */
static int cancel_fd_error(int err)
{
	if (err == -EINVAL)
		return -EOPNOTSUPP;
	return err == -ETIMEDOUT ? -EBUSY : err;   /* the grace ran out */
}

int reel_cancel_fd(int fd)
{
	struct reel__loop *l = reel__running_loop();
	struct fd_cancel c = { .fd = fd };
	int r, status;

	if (fd < 0)
		return -EBADF;
	if (!l)
		return -EPERM;
	if (!reel__has_op(l, IORING_OP_ASYNC_CANCEL))
		return -EOPNOTSUPP;
	/* The common case, nothing in flight, costs one round trip and no
	 * shield; an interrupted first round is made again, shielded. */
	r = cancel_round(&c);
	if (r == 0 || r == -ENOENT)
		return 0;
	if (r < 0 && r != -ECANCELED && r != -ETIMEDOUT)
		return cancel_fd_error(r);
	r = reel_shield(CANCEL_FD_GRACE_NS, cancel_rounds, &c, &status);
	if (r == 0)
		r = status;
	return r < 0 ? cancel_fd_error(r) : c.found;
}

int reel_close(int fd)
{
	struct reel__loop *l = reel__running_loop();
	struct reel__io io;
	struct io_uring_sqe *sqe;
	int err;

	if (fd < 0)
		return -EBADF;
	if (!l)   /* no loop, so nothing of ours in flight: close(2) is all */
		return reel__sys_result(close(fd));
	/* Whatever the cancel says (-EBADF for a descriptor not open is
	 * repeated by the close), the descriptor is closed. Cancellation must
	 * not leave it open: the close itself falls back to close(2) when
	 * interrupted, as close(2) cannot be half done. */
	if (reel__has_op(l, IORING_OP_ASYNC_CANCEL))
		(void)reel_cancel_fd(fd);
	if (!reel__has_op(l, IORING_OP_CLOSE))
		return reel__sys_result(close(fd));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return reel__sys_result(close(fd));
	io_uring_prep_close(sqe, fd);
	err = reel__io_end(&io, sqe);
	if (err == -ECANCELED || err == -ETIMEDOUT)   /* interrupted before it ran */
		return reel__sys_result(close(fd));
	return err;
}

static int check_buf(const void *buf, size_t len)
{
	return !buf && len ? -EINVAL : 0;
}

ssize_t reel_pread(int fd, void *buf, size_t len, off_t offset)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;
	ssize_t n;

	if (check_buf(buf, len))
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	len = reel__fault_short_len(fd, len > MAX_RW_BYTES ? MAX_RW_BYTES : len);
	io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)offset);
	n = reel__io_end(&io, sqe);
	if (n > 0)
		reel__io_defined(buf, (size_t)n);
	return n;
}

ssize_t reel_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (check_buf(buf, len))
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	len = reel__fault_short_len(fd, len > MAX_RW_BYTES ? MAX_RW_BYTES : len);
	io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)offset);
	return reel__io_end(&io, sqe);
}

/* Offset -1: the file position (and the only choice for pipes, sockets). */
ssize_t reel_read(int fd, void *buf, size_t len)
{
	return reel_pread(fd, buf, len, -1);
}

ssize_t reel_write(int fd, const void *buf, size_t len)
{
	return reel_pwrite(fd, buf, len, -1);
}

static int check_iov(const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
	return 0;
}

ssize_t reel_readv(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;
	ssize_t n;

	if (check_iov(iov, iovcnt))
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)offset);
	n = reel__io_end(&io, sqe);
	if (n > 0)
		reel__iov_defined(iov, iovcnt, (size_t)n);
	return n;
}

ssize_t reel_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (check_iov(iov, iovcnt))
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)offset);
	return reel__io_end(&io, sqe);
}

static int fsync_flags(int fd, unsigned flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe = reel__io_begin(&io);

	if (!sqe)
		return io.err;
	io_uring_prep_fsync(sqe, fd, flags);
	return reel__io_end(&io, sqe);
}

int reel_fsync(int fd)
{
	return fsync_flags(fd, 0);
}

int reel_fdatasync(int fd)
{
	return fsync_flags(fd, IORING_FSYNC_DATASYNC);
}

int reel_fallocate(int fd, int mode, off_t offset, off_t len)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (reel__lacks_op(IORING_OP_FALLOCATE))
		return reel__sys_result(fallocate(fd, mode, offset, len));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_fallocate(sqe, fd, mode, (uint64_t)offset, (uint64_t)len);
	return reel__io_end(&io, sqe);
}

int reel_statx(int dfd, const char *path, int flags, unsigned mask, struct statx *st)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;
	int err;

	if (!path || !st)
		return -EINVAL;
	if (reel__lacks_op(IORING_OP_STATX))
		return reel__sys_result(statx(dfd, path, flags, mask, st));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_statx(sqe, dfd, path, flags, mask, st);
	err = reel__io_end(&io, sqe);
	if (err == 0)
		reel__io_defined(st, sizeof(*st));
	return err;
}

int reel_unlinkat(int dfd, const char *path, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!path)
		return -EINVAL;
	if (reel__lacks_op(IORING_OP_UNLINKAT))
		return reel__sys_result(unlinkat(dfd, path, flags));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_unlinkat(sqe, dfd, path, flags);
	return reel__io_end(&io, sqe);
}

int reel_renameat(int olddfd, const char *oldpath, int newdfd, const char *newpath,
		  unsigned flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!oldpath || !newpath)
		return -EINVAL;
	if (reel__lacks_op(IORING_OP_RENAMEAT))
		return reel__sys_result(renameat2(olddfd, oldpath, newdfd, newpath, flags));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_renameat(sqe, olddfd, oldpath, newdfd, newpath, flags);
	return reel__io_end(&io, sqe);
}
