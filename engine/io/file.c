/*
 * file.c - files through the ring: open, close, read, write, sync, stat,
 * allocate, unlink, rename.
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

/* Cancel every operation of this ring on @fd and wait for the cancel. */
static int cancel_fd_ops(int fd)
{
	struct reel__io io;
	struct io_uring_sqe *sqe = reel__io_begin(&io);
	int r;

	if (!sqe)
		return io.err;
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	r = reel__io_end(&io, sqe);
	/* >= 0: how many were cancelled; -ENOENT: none in flight. */
	return r == -ENOENT || r >= 0 ? 0 : r;
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
	/* Cancellation must not leave the descriptor open: the close itself
	 * runs shielded, as close(2) cannot be half done. */
	err = reel__has_op(l, IORING_OP_ASYNC_CANCEL) ? cancel_fd_ops(fd) : 0;
	if (err == -ECANCELED || err == -ETIMEDOUT || !reel__has_op(l, IORING_OP_CLOSE))
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
