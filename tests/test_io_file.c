/*
 * Description: file I/O through the ring (engine/io/file.c;
 * api/reel_io.h, docs/design.md §5): open and openat (O_CREAT, O_EXCL, a missing
 * file), read and write at the file position, pread/pwrite, readv/writev,
 * fsync/fdatasync, statx, fallocate, unlinkat, renameat; bad descriptors
 * (-EBADF), NULL buffers and paths (-EINVAL); short reads at end of file; a
 * 64 MiB copy by four fibers at once, compared byte for byte; a blocked pipe
 * read that is cancelled or timed out leaves its buffer and the pipe's data
 * alone; reel_close of a descriptor another fiber is reading makes that read
 * return -EBADF; -EPERM for every file call outside a fiber, but reel_close,
 * which closes with close(2) there (the descriptor must not leak). The tests that
 * create files each get a scratch directory (struct scratch, helpers.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_io.h"

/* ---- a scratch directory per test (scratch_setup, helpers.h) --------------- */

/* Opens the scratch directory through the ring: a dfd for the *at calls. */
static int open_dir(const struct scratch *s)
{
	return reel_open(s->dir, O_RDONLY | O_DIRECTORY, 0);
}

static uint64_t file_size(int dfd, const char *name)
{
	struct statx st;
	int r;

	/* Initialised: valgrind does not see the kernel write through the ring. */
	memset(&st, 0, sizeof(st));
	r = reel_statx(dfd, name, 0, STATX_SIZE, &st);

	return r < 0 ? UINT64_MAX : st.stx_size;
}

/* ---- open, openat --------------------------------------------------------- */

static int open_create_missing(void *arg)
{
	struct scratch *s = arg;
	int dfd, fd, fd2;

	dfd = open_dir(s);
	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "new", O_CREAT | O_EXCL | O_RDWR, 0600);
	FCHECK(fd >= 0);
	FCHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);   /* always added */
	FCHECK_EQ(file_size(dfd, "new"), 0);
	/* O_EXCL on a file that now exists */
	FCHECK_EQ(reel_openat(dfd, "new", O_CREAT | O_EXCL | O_RDWR, 0600), -EEXIST);
	/* the same file by absolute path, through reel_open */
	fd2 = reel_open(scratch_path(s, "new"), O_RDONLY, 0);
	FCHECK(fd2 >= 0);
	FCHECK(fd2 != fd);
	FCHECK_EQ(reel_close(fd2), 0);
	/* a missing file, both ways */
	FCHECK_EQ(reel_openat(dfd, "missing", O_RDONLY, 0), -ENOENT);
	FCHECK_EQ(reel_open(scratch_path(s, "missing"), O_RDONLY, 0), -ENOENT);
	FCHECK_EQ(reel_openat(dfd, "no-such-dir/x", O_CREAT | O_WRONLY, 0600), -ENOENT);
	/* NULL path */
	FCHECK_EQ(reel_open(NULL, O_RDONLY, 0), -EINVAL);
	FCHECK_EQ(reel_openat(dfd, NULL, O_RDONLY, 0), -EINVAL);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(fd), -EBADF);   /* already closed */
	FCHECK_EQ(reel_unlinkat(dfd, "new", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_open_create_exclusive_and_missing(void **state)
{
	run_ok(open_create_missing, *state);
}

/* ---- read and write at the file position -------------------------------------- */

static int rw_position(void *arg)
{
	const struct scratch *s = arg;
	char buf[32] = { 0 };
	int dfd = open_dir(s), fd;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "f", O_CREAT | O_RDWR | O_TRUNC, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, "hello ", 6), 6);
	FCHECK_EQ(reel_write(fd, "world", 5), 5);
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);   /* the position advanced */
	FCHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	memset(buf, 0, sizeof(buf));
	FCHECK_EQ(reel_read(fd, buf, 5), 5);
	FCHECK(memcmp(buf, "hello", 5) == 0);
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
	FCHECK_EQ(reel_read(fd, buf, sizeof(buf)), 6);   /* short: the rest */
	FCHECK(memcmp(buf, " world", 6) == 0);
	FCHECK_EQ(reel_read(fd, buf, sizeof(buf)), 0);   /* end of file */
	/* O_APPEND: writes go to the end whatever the position */
	FCHECK_EQ(reel_close(fd), 0);
	fd = reel_openat(dfd, "f", O_WRONLY | O_APPEND, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, "!", 1), 1);
	FCHECK_EQ(file_size(dfd, "f"), 12);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "f", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_read_write_at_file_position(void **state)
{
	run_ok(rw_position, *state);
}

/* ---- pread, pwrite ---------------------------------------------------------- */

static int preadwrite(void *arg)
{
	const struct scratch *s = arg;
	char buf[16] = { 0 };
	int dfd = open_dir(s), fd;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "p", O_CREAT | O_RDWR | O_TRUNC, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_pwrite(fd, "0123456789", 10, 100), 10);
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);   /* the position is not used */
	FCHECK_EQ(file_size(dfd, "p"), 110);
	FCHECK_EQ(reel_pwrite(fd, "ab", 2, 3), 2);
	memset(buf, 'x', sizeof(buf));
	FCHECK_EQ(reel_pread(fd, buf, 10, 100), 10);
	FCHECK(memcmp(buf, "0123456789", 10) == 0);
	FCHECK_EQ(reel_pread(fd, buf, 6, 0), 6);   /* the hole reads as zeros */
	FCHECK(memcmp(buf, "\0\0\0ab\0", 6) == 0);
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "p", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_pread_pwrite_at_offset(void **state)
{
	run_ok(preadwrite, *state);
}

/* ---- readv, writev ------------------------------------------------------------ */

static int vectored(void *arg)
{
	const struct scratch *s = arg;
	char a[4] = { 0 }, b[6] = { 0 }, c[3];
	struct iovec out[3] = {
		{ .iov_base = "abc", .iov_len = 3 },
		{ .iov_base = "", .iov_len = 0 },
		{ .iov_base = "defghij", .iov_len = 7 },
	};
	struct iovec in[3] = {
		{ .iov_base = a, .iov_len = sizeof(a) },
		{ .iov_base = b, .iov_len = sizeof(b) },
		{ .iov_base = c, .iov_len = sizeof(c) },
	};
	struct iovec bad = { .iov_base = NULL, .iov_len = 4 };
	int dfd = open_dir(s), fd;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "v", O_CREAT | O_RDWR | O_TRUNC, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_writev(fd, out, 3, -1), 10);   /* at the position */
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);
	FCHECK_EQ(reel_writev(fd, out, 1, 20), 3);    /* at an offset */
	FCHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);
	FCHECK_EQ(file_size(dfd, "v"), 23);
	memset(c, 'x', sizeof(c));
	FCHECK_EQ(reel_readv(fd, in, 3, 0), 13);
	FCHECK(memcmp(a, "abcd", 4) == 0);
	FCHECK(memcmp(b, "efghij", 6) == 0);
	FCHECK(memcmp(c, "\0\0\0", 3) == 0);
	FCHECK_EQ(lseek(fd, 20, SEEK_SET), 20);
	FCHECK_EQ(reel_readv(fd, in, 3, -1), 3);      /* short at end of file */
	FCHECK(memcmp(a, "abc", 3) == 0);
	FCHECK_EQ(reel_readv(fd, in, 3, -1), 0);
	/* bad vectors */
	FCHECK_EQ(reel_readv(fd, NULL, 1, 0), -EINVAL);
	FCHECK_EQ(reel_writev(fd, NULL, 1, 0), -EINVAL);
	FCHECK_EQ(reel_readv(fd, &bad, 1, 0), -EINVAL);
	FCHECK_EQ(reel_writev(fd, &bad, 1, 0), -EINVAL);
	FCHECK_EQ(reel_readv(fd, in, -1, 0), -EINVAL);
	FCHECK_EQ(reel_writev(fd, in, IOV_MAX + 1, 0), -EINVAL);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "v", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_readv_writev(void **state)
{
	run_ok(vectored, *state);
}

/* ---- fsync, fdatasync, statx, fallocate ------------------------------------------ */

static int sync_stat_allocate(void *arg)
{
	const struct scratch *s = arg;
	static char block[4096];
	struct statx st;
	int dfd = open_dir(s), fd, r;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "s", O_CREAT | O_RDWR | O_TRUNC, 0640);
	FCHECK(fd >= 0);
	memset(block, 'z', sizeof(block));
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_write(fd, block, sizeof(block)), sizeof(block));
	FCHECK_EQ(reel_write(fd, block, 100), 100);
	FCHECK_EQ(reel_fsync(fd), 0);
	FCHECK_EQ(reel_fdatasync(fd), 0);
	/* by name */
	memset(&st, 0, sizeof(st));
	FCHECK_EQ(reel_statx(dfd, "s", 0, STATX_SIZE | STATX_MODE, &st), 0);
	FCHECK(st.stx_mask & STATX_SIZE);
	FCHECK_EQ(st.stx_size, 3 * 4096 + 100);
	FCHECK(S_ISREG(st.stx_mode));
	FCHECK_EQ(st.stx_mode & 0777, 0640);
	/* by descriptor */
	memset(&st, 0, sizeof(st));
	FCHECK_EQ(reel_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
	FCHECK_EQ(st.stx_size, 3 * 4096 + 100);
	/* fallocate grows the file (mode 0), KEEP_SIZE does not */
	r = reel_fallocate(fd, 0, 0, 1 << 20);
	if (r == -EOPNOTSUPP) {
		fprintf(stderr, "fallocate not supported on %s: size check skipped\n", s->dir);
	} else {
		FCHECK_EQ(r, 0);
		FCHECK_EQ(file_size(dfd, "s"), 1 << 20);
		FCHECK_EQ(reel_fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20), 0);
		FCHECK_EQ(file_size(dfd, "s"), 1 << 20);
		FCHECK_EQ(reel_fallocate(fd, 0, 0, -1), -EINVAL);   /* the kernel's answer */
	}
	/* errors */
	FCHECK_EQ(reel_statx(dfd, "missing", 0, STATX_SIZE, &st), -ENOENT);
	FCHECK_EQ(reel_statx(dfd, NULL, 0, STATX_SIZE, &st), -EINVAL);
	FCHECK_EQ(reel_statx(dfd, "s", 0, STATX_SIZE, NULL), -EINVAL);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "s", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_fsync_statx_fallocate(void **state)
{
	run_ok(sync_stat_allocate, *state);
}

/* ---- unlinkat, renameat --------------------------------------------------------- */

static int unlink_rename(void *arg)
{
	const struct scratch *s = arg;
	char buf[8] = { 0 };
	int dfd = open_dir(s), fd;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "a", O_CREAT | O_WRONLY, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, "A", 1), 1);
	FCHECK_EQ(reel_close(fd), 0);
	fd = reel_openat(dfd, "b", O_CREAT | O_WRONLY, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, "BB", 2), 2);
	FCHECK_EQ(reel_close(fd), 0);

	/* RENAME_NOREPLACE refuses to replace b */
	FCHECK_EQ(reel_renameat(dfd, "a", dfd, "b", RENAME_NOREPLACE), -EEXIST);
	/* a plain rename replaces it */
	FCHECK_EQ(reel_renameat(dfd, "a", dfd, "b", 0), 0);
	FCHECK_EQ(file_size(dfd, "a"), UINT64_MAX);   /* gone */
	fd = reel_openat(dfd, "b", O_RDONLY, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_read(fd, buf, sizeof(buf)), 1);
	FCHECK_EQ(buf[0], 'A');
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_renameat(dfd, "missing", dfd, "c", 0), -ENOENT);
	FCHECK_EQ(reel_renameat(dfd, NULL, dfd, "c", 0), -EINVAL);
	FCHECK_EQ(reel_renameat(dfd, "b", dfd, NULL, 0), -EINVAL);
	/* unlink, twice */
	FCHECK_EQ(reel_unlinkat(dfd, "b", 0), 0);
	FCHECK_EQ(file_size(dfd, "b"), UINT64_MAX);
	FCHECK_EQ(reel_unlinkat(dfd, "b", 0), -ENOENT);
	FCHECK_EQ(reel_unlinkat(dfd, NULL, 0), -EINVAL);
	/* a directory needs AT_REMOVEDIR */
	FCHECK_EQ(mkdirat(dfd, "d", 0700), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "d", 0), -EISDIR);
	FCHECK_EQ(reel_unlinkat(dfd, "d", AT_REMOVEDIR), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_unlinkat_renameat(void **state)
{
	run_ok(unlink_rename, *state);
}

/* ---- bad input: -EBADF, -EINVAL ------------------------------------------------- */

static int bad_fd_calls(int fd)
{
	char buf[8] = "abcdefg";
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

	FCHECK_EQ(reel_read(fd, buf, sizeof(buf)), -EBADF);
	FCHECK_EQ(reel_write(fd, buf, sizeof(buf)), -EBADF);
	FCHECK_EQ(reel_pread(fd, buf, sizeof(buf), 0), -EBADF);
	FCHECK_EQ(reel_pwrite(fd, buf, sizeof(buf), 0), -EBADF);
	FCHECK_EQ(reel_readv(fd, &iov, 1, -1), -EBADF);
	FCHECK_EQ(reel_writev(fd, &iov, 1, -1), -EBADF);
	FCHECK_EQ(reel_fsync(fd), -EBADF);
	FCHECK_EQ(reel_fdatasync(fd), -EBADF);
	FCHECK_EQ(reel_fallocate(fd, 0, 0, 4096), -EBADF);
	FCHECK_EQ(reel_close(fd), -EBADF);
	return 0;
}

static int bad_input(void *arg)
{
	const struct scratch *s = arg;
	int dfd = open_dir(s), fd, closed;
	char buf[4] = "abc";

	FCHECK(dfd >= 0);
	/* a descriptor that was open a moment ago, one never open, -1 */
	closed = reel_openat(dfd, "x", O_CREAT | O_RDWR, 0600);
	FCHECK(closed >= 0);
	FCHECK_EQ(reel_close(closed), 0);
	FCHECK_EQ(bad_fd_calls(closed), 0);
	FCHECK_EQ(bad_fd_calls(100000), 0);
	FCHECK_EQ(bad_fd_calls(-1), 0);
	/* a descriptor open for the wrong direction */
	fd = reel_openat(dfd, "x", O_RDONLY, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, buf, 3), -EBADF);
	FCHECK_EQ(reel_close(fd), 0);

	/* NULL buffer with a non-zero length */
	fd = reel_openat(dfd, "x", O_RDWR, 0);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, buf, 3), 3);
	FCHECK_EQ(reel_read(fd, NULL, 10), -EINVAL);
	FCHECK_EQ(reel_write(fd, NULL, 10), -EINVAL);
	FCHECK_EQ(reel_pread(fd, NULL, 10, 0), -EINVAL);
	FCHECK_EQ(reel_pwrite(fd, NULL, 10, 0), -EINVAL);
	FCHECK_EQ(reel_read_exact(fd, NULL, 10, NULL), -EINVAL);
	FCHECK_EQ(reel_write_all(fd, NULL, 10, NULL), -EINVAL);
	/* NULL with length 0 is a valid empty transfer, as read(2) has it */
	FCHECK_EQ(reel_pread(fd, NULL, 0, 0), 0);
	FCHECK_EQ(reel_pwrite(fd, NULL, 0, 0), 0);
	FCHECK_EQ(file_size(dfd, "x"), 3);   /* nothing was written */
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "x", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_bad_fd_and_null_arguments(void **state)
{
	run_ok(bad_input, *state);
}

/* ---- short reads at end of file ---------------------------------------------------- */

static int short_reads(void *arg)
{
	const struct scratch *s = arg;
	char buf[64] = { 0 };
	size_t done = 12345;
	int dfd = open_dir(s), fd;

	FCHECK(dfd >= 0);
	fd = reel_openat(dfd, "ten", O_CREAT | O_RDWR | O_TRUNC, 0600);
	FCHECK(fd >= 0);
	FCHECK_EQ(reel_write(fd, "0123456789", 10), 10);
	FCHECK_EQ(reel_pread(fd, buf, sizeof(buf), 0), 10);
	FCHECK(memcmp(buf, "0123456789", 10) == 0);
	FCHECK_EQ(reel_pread(fd, buf, sizeof(buf), 7), 3);
	FCHECK(memcmp(buf, "789", 3) == 0);
	FCHECK_EQ(reel_pread(fd, buf, sizeof(buf), 10), 0);
	FCHECK_EQ(reel_pread(fd, buf, sizeof(buf), 1 << 20), 0);
	/* read_exact: fewer than asked at end of file, then 0 */
	FCHECK_EQ(lseek(fd, 4, SEEK_SET), 4);
	FCHECK_EQ(reel_read_exact(fd, buf, 20, &done), 6);
	FCHECK_EQ(done, 6);
	FCHECK(memcmp(buf, "456789", 6) == 0);
	done = 12345;
	FCHECK_EQ(reel_read_exact(fd, buf, 20, &done), 0);
	FCHECK_EQ(done, 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "ten", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_short_reads_at_eof(void **state)
{
	run_ok(short_reads, *state);
}

/* ---- a 64 MiB copy by four fibers ------------------------------------------------- */

#define COPY_FIBERS 4
#define COPY_CHUNK (1u << 20)

struct copy {
	int src, dst;
	off_t size;
	uint64_t seed;
};

struct copy_range {
	struct copy *c;
	off_t from, to;
};

/* pwrite @len bytes at @off, over short writes. */
static int pwrite_full(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = reel_pwrite(fd, buf, len, off);

		FCHECK(n > 0);
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* pread @len bytes at @off, over short reads; end of file is an error. */
static int pread_full(int fd, char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = reel_pread(fd, buf, len, off);

		FCHECK(n > 0);
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Copies [from, to) in chunks of varying size, so that the four fibers'
 * operations interleave at different offsets. */
static int copy_range(void *arg)
{
	struct copy_range *r = arg;
	uint64_t seed = (uint64_t)r->from + 1;
	char *buf = calloc(1, COPY_CHUNK);

	FCHECK(buf != NULL);
	for (off_t off = r->from; off < r->to;) {
		size_t len = 4096 + (size_t)(rng_next(&seed) % (COPY_CHUNK - 4096));

		if ((off_t)len > r->to - off)
			len = (size_t)(r->to - off);
		if (pread_full(r->c->src, buf, len, off) != 0 ||
		    pwrite_full(r->c->dst, buf, len, off) != 0) {
			free(buf);
			return -EFAULT;
		}
		off += (off_t)len;
	}
	free(buf);
	return 0;
}

/* Compares both files in the same ranges, four fibers again. */
static int compare_range(void *arg)
{
	struct copy_range *r = arg;
	char *a = calloc(1, COPY_CHUNK), *b = calloc(1, COPY_CHUNK);
	int bad = 0;

	FCHECK(a != NULL && b != NULL);
	for (off_t off = r->from; off < r->to && !bad; off += COPY_CHUNK) {
		size_t len = (size_t)(r->to - off < COPY_CHUNK ? r->to - off : COPY_CHUNK);

		if (pread_full(r->c->src, a, len, off) != 0 ||
		    pread_full(r->c->dst, b, len, off) != 0)
			bad = -EFAULT;
		else if (memcmp(a, b, len) != 0)
			bad = 1;
	}
	free(a);
	free(b);
	FCHECK_EQ(bad, 0);
	return 0;
}

static int run_ranges(struct copy *c, reel_fn fn)
{
	struct copy_range r[COPY_FIBERS];
	reel_task t[COPY_FIBERS];
	int st[COPY_FIBERS];
	off_t part = c->size / COPY_FIBERS;

	for (int i = 0; i < COPY_FIBERS; i++) {
		r[i].c = c;
		r[i].from = part * i;
		r[i].to = i == COPY_FIBERS - 1 ? c->size : part * (i + 1);
		FCHECK_EQ(reel_spawn(&t[i], fn, &r[i], NULL), 0);
	}
	for (int i = 0; i < COPY_FIBERS; i++) {
		FCHECK_EQ(reel_join(t[i], &st[i]), 0);
		FCHECK_EQ(st[i], 0);
	}
	return 0;
}

static int copy_main(void *arg)
{
	const struct scratch *s = arg;
	struct copy c = { .size = (off_t)scaled(64) << 20 };
	uint64_t seed = rng_state;
	uint64_t *buf = malloc(COPY_CHUNK);
	int dfd = open_dir(s);

	FCHECK(buf != NULL);
	FCHECK(dfd >= 0);
	c.src = reel_openat(dfd, "src", O_CREAT | O_RDWR | O_TRUNC, 0600);
	c.dst = reel_openat(dfd, "dst", O_CREAT | O_RDWR | O_TRUNC, 0600);
	FCHECK(c.src >= 0 && c.dst >= 0);
	/* the source: random data, written at the file position */
	for (off_t off = 0; off < c.size; off += COPY_CHUNK) {
		for (size_t i = 0; i < COPY_CHUNK / sizeof(*buf); i++)
			buf[i] = rng_next(&seed);
		if (reel_write_all(c.src, buf, COPY_CHUNK, NULL) != COPY_CHUNK)
			break;
	}
	free(buf);
	FCHECK_EQ(file_size(dfd, "src"), c.size);
	FCHECK_EQ(run_ranges(&c, copy_range), 0);
	FCHECK_EQ(file_size(dfd, "dst"), c.size);
	FCHECK_EQ(run_ranges(&c, compare_range), 0);
	FCHECK_EQ(reel_close(c.src), 0);
	FCHECK_EQ(reel_close(c.dst), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "src", 0), 0);
	FCHECK_EQ(reel_unlinkat(dfd, "dst", 0), 0);
	FCHECK_EQ(reel_close(dfd), 0);
	return 0;
}

static void test_io_file_copy_64mib_four_fibers(void **state)
{
	run_ok(copy_main, *state);
}

/* ---- interrupted pipe reads -------------------------------------------------------- */

#define CANARY 0xa5

struct pipe_read {
	int fd;
	ssize_t r;
	bool parked;             /* set just before the read */
	unsigned char buf[64];
};

static bool canary_intact(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != CANARY)
			return false;
	return true;
}

static int read_pipe(void *arg)
{
	struct pipe_read *p = arg;

	memset(p->buf, CANARY, sizeof(p->buf));
	p->parked = true;
	p->r = reel_read(p->fd, p->buf, sizeof(p->buf));
	return (int)p->r;
}

/* After the interrupted read: its buffer is untouched, and data written
 * now is still there for the next read (the cancelled one consumed none). */
static int pipe_data_not_consumed(int p[2], struct pipe_read *rd)
{
	char buf[16] = { 0 };

	FCHECK(canary_intact(rd->buf, sizeof(rd->buf)));
	FCHECK_EQ(reel_write(p[1], "after", 5), 5);
	FCHECK_EQ(reel_sleep(5 * MS), 0);   /* give a lost read the chance */
	FCHECK(canary_intact(rd->buf, sizeof(rd->buf)));
	FCHECK_EQ(reel_read(p[0], buf, sizeof(buf)), 5);
	FCHECK(memcmp(buf, "after", 5) == 0);
	return 0;
}

static int cancel_pipe_read(void *arg)
{
	struct pipe_read rd = { .r = 1 };
	reel_task t;
	int p[2], st;
	uint64_t t0;

	(void)arg;
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	rd.fd = p[0];
	FCHECK_EQ(reel_spawn(&t, read_pipe, &rd, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);   /* the read is in the kernel */
	FCHECK(rd.parked);
	FCHECK_EQ(rd.r, 1);                   /* still blocked */
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK(reel_now() - t0 < LATE_OK_NS);
	FCHECK_EQ(rd.r, -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(pipe_data_not_consumed(p, &rd), 0);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_close(p[1]), 0);
	return 0;
}

static void test_io_file_cancel_blocked_pipe_read(void **state)
{
	(void)state;
	run_ok(cancel_pipe_read, NULL);
}

static int deadline_pipe_read(void *arg)
{
	struct pipe_read rd = { .r = 1 };
	int p[2], st = 1;
	uint64_t t0;

	(void)arg;
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	rd.fd = p[0];
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, read_pipe, &rd, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	FCHECK_EQ(rd.r, -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK_EQ(pipe_data_not_consumed(p, &rd), 0);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_close(p[1]), 0);
	return 0;
}

static void test_io_file_deadline_on_blocked_pipe_read(void **state)
{
	(void)state;
	run_ok(deadline_pipe_read, NULL);
}

/* ---- reel_close while another fiber reads the descriptor ------------------------- */

static int close_under_reader(void *arg)
{
	struct pipe_read rd = { .r = 1 };
	reel_task t;
	int p[2], st;

	(void)arg;
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	rd.fd = p[0];
	FCHECK_EQ(reel_spawn(&t, read_pipe, &rd, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(rd.parked);
	FCHECK_EQ(rd.r, 1);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(rd.r, -EBADF);
	FCHECK_EQ(st, -EBADF);
	FCHECK(canary_intact(rd.buf, sizeof(rd.buf)));
	FCHECK(fcntl(p[0], F_GETFD) < 0);   /* closed (nothing reopened it) */
	/* the write end sees no reader left */
	FCHECK_EQ(reel_poll(p[1], POLLOUT) & POLLERR, POLLERR);
	FCHECK_EQ(reel_close(p[1]), 0);
	return 0;
}

static void test_io_file_close_wakes_blocked_reader_ebadf(void **state)
{
	(void)state;
	run_ok(close_under_reader, NULL);
}

/*
 * A read woken again and again for data that another reader takes first:
 * after a number of spurious wake-ups (128 in Linux 6.8+) io_uring stops
 * re-arming its poll and finishes the read in an io-wq worker, as a blocking
 * read(2). Cancelling that read, or closing its descriptor, must still give
 * -ECANCELED or -EBADF with the buffer untouched; the kernel reports such a
 * cancel as -EINTR.
 */
#define BLOCKED (-12345)

enum { WQ_IDLE, WQ_BUSY, WQ_IN_PIPE_READ };

/* What this process's io-wq workers do, from their wait channels. */
static int io_wq_state(void)
{
	char path[300], buf[64];
	int state = WQ_IDLE;
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");

	if (!d)
		return WQ_IDLE;
	while ((e = readdir(d)) != NULL && state != WQ_IN_PIPE_READ) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		buf[0] = '\0';
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		if (strncmp(buf, "iou-wrk", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/wchan", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		buf[0] = '\0';
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		if (strstr(buf, "pipe_read"))
			state = WQ_IN_PIPE_READ;
		else if (strcmp(buf, "io_wq_worker") != 0)
			state = WQ_BUSY;   /* running, or starting */
	}
	closedir(d);
	return state;
}

/* One attempt: 1 when the read is blocked in an io-wq worker, 0 when the
 * worker took a byte before we saw it there (try again), -EFAULT. */
static int starve_attempt(int p[2], struct pipe_read *rd, reel_task *t)
{
	struct iovec iov;
	char c;
	int state = WQ_IDLE, st;

	*rd = (struct pipe_read){ .fd = p[0], .r = BLOCKED };
	FCHECK_EQ(reel_spawn(t, read_pipe, rd, NULL), 0);
	FCHECK_EQ(reel_sleep(10 * MS), 0);
	FCHECK(rd->parked);
	for (int i = 0; i < 1000 && state != WQ_IN_PIPE_READ; i++) {
		/* the byte wakes the parked read's poll; it is gone before the
		 * loop next enters the kernel, where the read is retried */
		iov = (struct iovec){ .iov_base = &c, .iov_len = 1 };
		FCHECK_EQ(write(p[1], "y", 1), 1);
		if (preadv2(p[0], &iov, 1, -1, RWF_NOWAIT) != 1) {
			/* a worker read it first: the read has its byte */
			FCHECK_EQ(errno, EAGAIN);
			FCHECK_EQ(reel_join(*t, &st), 0);
			FCHECK_EQ(rd->r, 1);
			return 0;
		}
		FCHECK_EQ(reel_nop(), 0);
		FCHECK_EQ(rd->r, BLOCKED);
		/* until a worker is seen blocked in the read (or all idle) */
		for (int k = 0; k < 100 && (state = io_wq_state()) == WQ_BUSY; k++)
			FCHECK_EQ(reel_sleep(1 * MS), 0);
	}
	if (state != WQ_IN_PIPE_READ)
		fprintf(stderr, "the read was never handed to io-wq\n");
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(rd->r, BLOCKED);
	return 1;
}

static int starve_reader(int p[2], struct pipe_read *rd, reel_task *t)
{
	int r = 0;

	for (int attempt = 0; attempt < 10 && r == 0; attempt++)
		r = starve_attempt(p, rd, t);
	FCHECK_EQ(r, 1);
	return 0;
}

static int cancel_starved_reader(void *arg)
{
	struct pipe_read rd;
	reel_task t;
	int p[2], st;

	(void)arg;
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	FCHECK_EQ(starve_reader(p, &rd, &t), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(rd.r, -ECANCELED);
	FCHECK_EQ(pipe_data_not_consumed(p, &rd), 0);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_close(p[1]), 0);
	return 0;
}

static void test_io_file_cancel_read_after_spurious_wakeups(void **state)
{
	(void)state;
	run_ok(cancel_starved_reader, NULL);
}

static int close_starved_reader(void *arg)
{
	struct pipe_read rd;
	reel_task t;
	int p[2], st;

	(void)arg;
	FCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	FCHECK_EQ(starve_reader(p, &rd, &t), 0);
	FCHECK_EQ(reel_close(p[0]), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(rd.r, -EBADF);
	FCHECK(canary_intact(rd.buf, sizeof(rd.buf)));
	FCHECK_EQ(reel_close(p[1]), 0);
	return 0;
}

static void test_io_file_close_read_after_spurious_wakeups_ebadf(void **state)
{
	(void)state;
	run_ok(close_starved_reader, NULL);
}

/* ---- -EPERM outside a fiber -------------------------------------------------------- */

static void test_io_file_eperm_outside_fiber(void **state)
{
	struct scratch *s = *state;
	const char *path = scratch_path(s, "keep"), *path2 = scratch_path(s, "other");
	char buf[16] = "abc";
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct statx stx;
	int fd;

	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(reel_open(path2, O_CREAT | O_RDWR, 0600), -EPERM);
	assert_int_equal(reel_openat(AT_FDCWD, path2, O_CREAT | O_RDWR, 0600), -EPERM);
	assert_int_equal(access(path2, F_OK), -1);   /* nothing was created */
	assert_int_equal(reel_read(fd, buf, sizeof(buf)), -EPERM);
	assert_int_equal(reel_write(fd, buf, 3), -EPERM);
	assert_int_equal(reel_pread(fd, buf, sizeof(buf), 0), -EPERM);
	assert_int_equal(reel_pwrite(fd, buf, 3, 0), -EPERM);
	assert_int_equal(reel_readv(fd, &iov, 1, 0), -EPERM);
	assert_int_equal(reel_writev(fd, &iov, 1, 0), -EPERM);
	assert_int_equal(reel_fsync(fd), -EPERM);
	assert_int_equal(reel_fdatasync(fd), -EPERM);
	assert_int_equal(reel_fallocate(fd, 0, 0, 4096), -EPERM);
	assert_int_equal(reel_statx(AT_FDCWD, path, 0, STATX_SIZE, &stx), -EPERM);
	assert_int_equal(reel_renameat(AT_FDCWD, path, AT_FDCWD, path2, 0), -EPERM);
	assert_int_equal(reel_unlinkat(AT_FDCWD, path, 0), -EPERM);
	assert_int_equal(access(path, F_OK), 0);     /* neither renamed nor removed */
	assert_int_equal(lseek(fd, 0, SEEK_END), 0); /* nothing was written */
	close(fd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(scratch_entries(s), 0);   /* and nothing else was created */
}

/* Outside a fiber reel_close still closes: the header promises the
 * descriptor is gone whatever the result. */
static void test_regress_close_outside_fiber_closes(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(reel_close(p[0]), 0);
	errno = 0;
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(reel_close(p[0]), -EBADF);   /* already closed */
	assert_int_equal(reel_close(-1), -EBADF);
	assert_int_equal(reel_close(p[1]), 0);
	assert_int_equal(fcntl(p[1], F_GETFD), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_io_file_open_create_exclusive_and_missing, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_read_write_at_file_position, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_pread_pwrite_at_offset, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_readv_writev, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_fsync_statx_fallocate, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_unlinkat_renameat, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_bad_fd_and_null_arguments, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_short_reads_at_eof, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_io_file_copy_64mib_four_fibers, scratch_setup, scratch_teardown),
		cmocka_unit_test(test_io_file_cancel_blocked_pipe_read),
		cmocka_unit_test(test_io_file_deadline_on_blocked_pipe_read),
		cmocka_unit_test(test_io_file_close_wakes_blocked_reader_ebadf),
		cmocka_unit_test(test_io_file_cancel_read_after_spurious_wakeups),
		cmocka_unit_test(test_io_file_close_read_after_spurious_wakeups_ebadf),
		cmocka_unit_test(test_regress_close_outside_fiber_closes),
		cmocka_unit_test_setup_teardown(test_io_file_eperm_outside_fiber, scratch_setup,
						scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
