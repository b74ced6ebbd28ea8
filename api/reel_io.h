/*
 * reel_io.h - I/O on fibers: files, sockets, pipes, readiness, signals and
 * child processes, each a blocking-style call that parks only the caller.
 *
 * Every call here:
 *   - returns >= 0 on success (a byte count, a descriptor, 0) or -errno;
 *   - is a parking call: -ECANCELED once the task is cancelled, -ETIMEDOUT
 *     once an enclosing deadline (reel_wait_for) has passed;
 *   - never returns while the kernel may still touch the caller's memory:
 *     an interrupted operation is cancelled (IORING_OP_ASYNC_CANCEL) and the
 *     call waits for the original completion (docs/design.md §5). If the operation
 *     completed anyway, its result wins: bytes transferred are returned, an
 *     accepted descriptor is returned, never dropped or leaked;
 *   - Context: fiber only (-EPERM elsewhere; reel_close is the exception:
 *     it closes anywhere). Buffers belong to the caller
 *     throughout; reel keeps no pointer to them after the call returns.
 * Bad input gets -EINVAL (NULL buffer with a non-zero length, NULL path) or
 * the kernel's own answer (-EBADF for a descriptor that is not open).
 *
 * Operations the kernel cannot do through io_uring (an opcode missing in an
 * older kernel, found by the probe at loop start) fall back to the plain
 * system call when it cannot block for long (a socket set-up, an unlink) -
 * each fallback is listed in reel-caps and docs/io.md.
 */
#ifndef REEL_IO_H
#define REEL_IO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>   /* sigset_t, struct signalfd_siginfo, even under -std=c11 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

struct statx;

/* ---- files ---------------------------------------------------------------- */

/* reel_openat - open @path relative to @dfd (AT_FDCWD for the working
 * directory). Returns the new descriptor, owned by the caller (close it with
 * reel_close); O_CLOEXEC is always added. */
REEL_API int reel_openat(int dfd, const char *path, int flags, mode_t mode);
REEL_API int reel_open(const char *path, int flags, mode_t mode);

/*
 * reel_close - close @fd. Operations of this loop still in flight on @fd are
 * cancelled first (IORING_OP_ASYNC_CANCEL by descriptor) and the cancel is
 * waited for - the fibers that issued them get -EBADF - then the descriptor
 * is closed, so no operation can land on a descriptor number reused later.
 * Returns 0 or -errno (-EBADF when @fd is not open). The descriptor is gone
 * even when an error is returned, as with close(2).
 * Context: anywhere. Outside a fiber (no loop runs the caller, so none of
 * its operations can be in flight) it is close(2), synchronously.
 */
REEL_API int reel_close(int fd);

/* Read or write at the file position (pipes, sockets, ttys too) or at
 * @offset (reel_pread/pwrite). Return the bytes transferred (0 = end of
 * file for reads), short counts as read(2) and write(2) have them. */
REEL_API ssize_t reel_read(int fd, void *buf, size_t len);
REEL_API ssize_t reel_write(int fd, const void *buf, size_t len);
REEL_API ssize_t reel_pread(int fd, void *buf, size_t len, off_t offset);
REEL_API ssize_t reel_pwrite(int fd, const void *buf, size_t len, off_t offset);
/* Vectored; @offset -1 means the file position. */
REEL_API ssize_t reel_readv(int fd, const struct iovec *iov, int iovcnt, off_t offset);
REEL_API ssize_t reel_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset);

REEL_API int reel_fsync(int fd);
REEL_API int reel_fdatasync(int fd);
REEL_API int reel_fallocate(int fd, int mode, off_t offset, off_t len);
/* reel_statx - as statx(2); @st is filled by the kernel before return. */
REEL_API int reel_statx(int dfd, const char *path, int flags, unsigned mask,
			struct statx *st);
REEL_API int reel_unlinkat(int dfd, const char *path, int flags);
REEL_API int reel_renameat(int olddfd, const char *oldpath, int newdfd,
			   const char *newpath, unsigned flags);

/* ---- sockets ---------------------------------------------------------------- */

/* reel_socket - as socket(2), with SOCK_CLOEXEC added. Returns the fd. */
REEL_API int reel_socket(int domain, int type, int protocol);

/*
 * reel_listen_tcp - a listening TCP socket on @host (numeric IPv4 or IPv6,
 * e.g. "127.0.0.1", "::1", "0.0.0.0"; NULL = all IPv6 and IPv4 addresses)
 * and @port (0 = a free port: read it back with reel_local_port), with
 * SO_REUSEADDR and a @backlog (<= 0: SOMAXCONN). Returns the fd.
 * reel_listen_unix - the same on a Unix stream socket at @path (an existing
 * socket file there is replaced).
 */
REEL_API int reel_listen_tcp(const char *host, uint16_t port, int backlog);
REEL_API int reel_listen_unix(const char *path, int backlog);
/* The local port of a bound socket, or -errno. Context: anywhere. */
REEL_API int reel_local_port(int fd);

/*
 * reel_accept - wait for a connection on listening socket @fd. Returns the
 * new connected socket (SOCK_CLOEXEC added to @flags), owned by the caller;
 * the peer's address in @addr/@addrlen when they are not NULL.
 * -EMFILE/-ENFILE when out of descriptors: see reel_acceptor for a loop that
 * backs off and recovers.
 */
REEL_API int reel_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/*
 * struct reel_acceptor - a server's accept loop, done right: one multishot
 * accept (5.19+; single accepts elsewhere) keeps the kernel accepting while
 * the server works, and running out of descriptors (EMFILE, ENFILE) makes it
 * back off - 1 ms, doubling up to 128 ms - and retry, instead of spinning or
 * failing: connections wait in the listen backlog until descriptors free up.
 * The caller owns the struct (its contents are private) and must call
 * reel_acceptor_close before it goes away: a fiber that returns while an
 * armed acceptor sits on its stack is reported and aborts (docs/design.md §5).
 */
/* Connections an acceptor queues before it stops accepting until they are
 * taken (later ones wait in the listen backlog). The kernel accepts what
 * its backlog holds in one batch, so the queue may pass this by up to one
 * backlog's worth before the stop reaches it; those are kept, never
 * dropped. */
#define REEL_ACCEPTOR_QUEUE 256

struct reel_acceptor {
	uint64_t private_[16];
};

/* reel_acceptor_init - accept on listening socket @fd (not owned: close it
 * after reel_acceptor_close). Returns 0. Context: anywhere. */
REEL_API int reel_acceptor_init(struct reel_acceptor *acc, int fd);
/*
 * reel_acceptor_accept - the next connection: a new socket owned by the
 * caller. Returns its fd; -ECANCELED/-ETIMEDOUT when interrupted (accepted
 * connections stay queued for the next call, none is lost); another -errno
 * for errors other than EMFILE/ENFILE, which it waits out.
 */
REEL_API int reel_acceptor_accept(struct reel_acceptor *acc);
/* How many times the acceptor has backed off for lack of descriptors. */
REEL_API uint64_t reel_acceptor_backoffs(const struct reel_acceptor *acc);
/* reel_acceptor_close - stop accepting: cancel the multishot accept, wait for
 * the kernel to let go, close the connections accepted but not handed out.
 * Returns 0. Context: fiber only (-EPERM elsewhere). */
REEL_API int reel_acceptor_close(struct reel_acceptor *acc);

/* reel_connect - connect @fd to @addr; bound it with reel_wait_for. */
REEL_API int reel_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
/* reel_connect_tcp - a new TCP socket connected to numeric @host:@port,
 * TCP_NODELAY set. Returns the fd, owned by the caller. */
REEL_API int reel_connect_tcp(const char *host, uint16_t port);
REEL_API int reel_connect_unix(const char *path);

/* Stream and datagram transfer; MSG_NOSIGNAL is always added to sends, so a
 * closed peer gives -EPIPE, never SIGPIPE. */
REEL_API ssize_t reel_recv(int fd, void *buf, size_t len, int flags);
REEL_API ssize_t reel_send(int fd, const void *buf, size_t len, int flags);
REEL_API ssize_t reel_recvmsg(int fd, struct msghdr *msg, int flags);
REEL_API ssize_t reel_sendmsg(int fd, const struct msghdr *msg, int flags);
REEL_API int reel_shutdown(int fd, int how);

/* ---- receiving into shared buffers (provided buffer rings) ------------------ */

/*
 * struct reel_bufpool - @count buffers of @size bytes that the kernel fills
 * as data arrives (a provided buffer ring, 5.19+), shared by every receiver
 * that uses it: a server's memory follows the data in flight, not its
 * connection count. Where the kernel has no buffer rings, the same API
 * receives with one recv per call into a free buffer of the pool.
 */
struct reel_bufpool;

/*
 * reel_bufpool_create - @count (a power of two, 1..32768) buffers of @size
 * bytes (1..1 GiB) for this loop. Returns the pool, owned by the caller
 * (reel_bufpool_destroy), or NULL with -errno in *@err (-EINVAL, -ENOMEM,
 * -EPERM outside a fiber).
 */
REEL_API struct reel_bufpool *reel_bufpool_create(unsigned count, size_t size, int *err);
/* reel_bufpool_destroy - free the pool. Returns 0, or -EBUSY while a
 * receiver still uses it. Context: fiber only (-EPERM elsewhere). */
REEL_API int reel_bufpool_destroy(struct reel_bufpool *pool);
/* Whether the pool uses a kernel buffer ring (else: the recv fallback). */
REEL_API int reel_bufpool_kernel_ring(const struct reel_bufpool *pool);

/*
 * struct reel_receiver - one multishot receive on a stream socket, filling
 * buffers of a pool: one SQE serves many receptions. Caller-owned, contents
 * private; reel_receiver_close it before it goes away (as reel_acceptor: a
 * fiber returning with an armed receiver on its stack aborts). A receiver
 * holds at most its cap of the pool's buffers (queued + handed out and not
 * yet released; reel_receiver_set_cap): at the cap the multishot receive is
 * cancelled, and the next reel_receiver_next below it arms it again, so a
 * connection whose owner does not keep up cannot drain a shared pool.
 */
struct reel_receiver {
	uint64_t private_[20];
};

/*
 * reel_receiver_init - set up @rx to receive from stream socket @fd into
 * buffers of @pool, with the default cap of count / 16 buffers, at least 2
 * and at most 8 (never more than the pool's count). Nothing is in the kernel yet: the
 * first reel_receiver_next arms the multishot receive (or, without a kernel
 * buffer ring, makes a plain receive). @fd stays the caller's (the receiver
 * never closes it); @pool must outlive @rx. Returns 0; -EINVAL for a NULL
 * @rx or @pool or a negative @fd; -ENOMEM. Context: the loop's thread that
 * owns @pool (a fiber is not needed).
 */
REEL_API int reel_receiver_init(struct reel_receiver *rx, int fd, struct reel_bufpool *pool);
/*
 * reel_receiver_set_cap - the most buffers of its pool @rx may hold, queued
 * and handed out together: 1..the pool's count, or 0 for the default
 * (count / 16 within 2..8). It takes effect from the next buffer received; the
 * kernel may fill a few more in the pass before the cancel reaches it, and
 * those are kept, in order. Returns 0; -EINVAL for a cap above the pool's
 * count or an @rx not initialised (or closed). Context: the loop's thread.
 */
REEL_API int reel_receiver_set_cap(struct reel_receiver *rx, unsigned cap);
/*
 * reel_receiver_next - the next chunk received: *@data points into a pool
 * buffer that belongs to the caller until reel_receiver_release. When the
 * pool is dry it parks until another receiver releases a buffer (each
 * buffer that comes back wakes every waiter to try again).
 * Returns its length; 0 at end of stream; -ENOBUFS only when @rx itself
 * holds its cap of buffers, all handed out, with nothing queued (waiting
 * could never end: release some, then call again); -ECANCELED/-ETIMEDOUT
 * when interrupted, waiting for data or for a buffer (chunks already
 * received stay queued, in order); -EINVAL for NULL @data or an @rx not
 * initialised (or closed); other -errno from the socket. Context: fiber
 * only (-EPERM elsewhere).
 */
REEL_API ssize_t reel_receiver_next(struct reel_receiver *rx, const void **data);
/*
 * reel_receiver_release - give the buffer holding @data (handed out by
 * reel_receiver_next on @rx) back to the pool, and wake one fiber waiting
 * for a buffer. Returns 0; -EINVAL, changing nothing, for a buffer that is
 * not handed out to @rx (released twice, another receiver's, not in the
 * pool) or an @rx not initialised (or closed). Context: the loop's thread
 * (a fiber is not needed).
 */
REEL_API int reel_receiver_release(struct reel_receiver *rx, const void *data);
/*
 * reel_receiver_close - stop receiving: cancel the multishot receive, wait
 * for the kernel to let go, and give every buffer @rx holds back to the
 * pool, queued ones and those handed out but not released (their data is
 * gone: do not read it after close). Returns 0; -EINVAL when @rx is not
 * initialised or already closed (a second close changes nothing).
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_receiver_close(struct reel_receiver *rx);

/* ---- helpers for streams ---------------------------------------------------- */

/*
 * reel_read_exact / reel_write_all - transfer exactly @len bytes, looping
 * over short transfers. Return @len; 0 < n < @len bytes for a read that met
 * end of file after n bytes (0 at once); -errno otherwise. Interrupted
 * (cancel, deadline) after a partial transfer, they still report it: the
 * bytes done so far are stored in *@done when @done is not NULL, whatever
 * the return value.
 */
REEL_API ssize_t reel_read_exact(int fd, void *buf, size_t len, size_t *done);
REEL_API ssize_t reel_write_all(int fd, const void *buf, size_t len, size_t *done);

/*
 * struct reel_reader - a buffered reader over a stream descriptor (a
 * socket, a pipe): asyncio's StreamReader without the exceptions. The
 * caller owns the struct and its buffer (@buf, @cap bytes), which must
 * outlive its use; the fields are public for reading (the bytes buffered
 * are buf[start .. end)), set them only through reel_reader_init.
 *
 * Every reader call keeps one rule when it is interrupted (-ECANCELED,
 * -ETIMEDOUT) or fails: it consumes only what it hands over. Bytes read
 * from the descriptor but not copied out stay in the reader, so the next
 * call sees the same stream: nothing is lost, nothing comes twice. Calls
 * that copy out as they go (reel_reader_read_exact past the buffer's size,
 * reel_reader_skip_until) count in *@done what they consumed.
 * Calls that must read outside a fiber get -EPERM (answering from the
 * buffer needs no fiber). A NULL @r, a reader whose @buf is NULL or @cap
 * is 0, NULL buffers and lengths past SSIZE_MAX get -EINVAL.
 * The reader does not remember the end of the stream: each call that needs
 * more bytes reads again, and a read of 0 is the end for that call.
 */
struct reel_reader {
	int fd;
	char *buf;
	size_t cap;
	size_t start, end;   /* unread bytes are buf[start .. end) */
};
/*
 * reel_reader_init - set up @r to read from stream descriptor @fd through
 * @buf (@cap bytes, which bounds the longest line or delimited chunk it can
 * return). Allocates nothing and cannot fail: @r, @buf and @fd stay the
 * caller's, and the reader holds no state beyond @r. Context: anywhere.
 */
REEL_API void reel_reader_init(struct reel_reader *r, int fd, char *buf, size_t cap);
/*
 * reel_read_line - the next line, '\n' included, copied into @line (at most
 * @len - 1 bytes, NUL-terminated). Returns its length; 0 at end of stream;
 * -EMSGSIZE when a line does not fit in @len or in the reader's buffer (the
 * stream is then left where it was: retry with a larger @line, or drop the
 * line with reel_reader_skip_until(r, "\n", 1, NULL)); a final line without
 * '\n' is returned as is, if it is shorter than the reader's buffer (the
 * reader needs one spare byte to see the end of the stream).
 * Interrupted: nothing is consumed (bytes read stay in the reader).
 * Context: fiber (-EPERM when it must read outside one).
 */
REEL_API ssize_t reel_read_line(struct reel_reader *r, char *line, size_t len);
/*
 * reel_reader_read_exact - copy exactly @len bytes of the stream into @buf,
 * the buffered ones first (asyncio's readexactly). Past what the reader's
 * buffer holds it reads straight into @buf when the rest is at least @cap.
 * Returns @len; 0 <= n < @len when the stream ended after n bytes (they are
 * in @buf and consumed: asyncio's IncompleteReadError.partial); -errno.
 * *@done (when not NULL) gets the bytes copied into @buf and consumed,
 * whatever the return value.
 * Interrupted or failing: when @len <= @cap, nothing is copied before all
 * @len bytes are buffered, so nothing is consumed (*@done is 0) and the same
 * call can simply be made again; when @len > @cap the bytes copied so far are
 * consumed and counted in *@done, the rest of the stream stays, so a call
 * for @buf + *@done, @len - *@done continues exactly.
 * Context: fiber (-EPERM when it must read outside one).
 */
REEL_API ssize_t reel_reader_read_exact(struct reel_reader *r, void *buf, size_t len,
					size_t *done);
/*
 * reel_reader_read_until - the next chunk of the stream through the first
 * occurrence of @delim (@dlen bytes, any bytes), copied into @out (not
 * NUL-terminated) and consumed (asyncio's readuntil). The chunk may be at
 * most @len bytes, and the reader's buffer bounds it too: the limit is the
 * smaller of @len and @cap.
 * Returns the chunk's length, which always ends with @delim; 0 at end of
 * stream with nothing left; -EMSGSIZE when the limit's worth of bytes is
 * buffered and @delim does not end within it (asyncio's LimitOverrunError:
 * the bytes stay in the reader - take them with reel_reader_take, or drop
 * through the delimiter with reel_reader_skip_until); -EPIPE when the
 * stream ended before @delim (asyncio's IncompleteReadError: the partial
 * chunk stays in the reader, reel_reader_take hands it over); -EINVAL for a
 * NULL @delim or @out, @dlen 0, @len 0, or @dlen past the limit.
 * Interrupted or failing: nothing is consumed.
 * Context: fiber (-EPERM when it must read outside one).
 */
REEL_API ssize_t reel_reader_read_until(struct reel_reader *r, const void *delim, size_t dlen,
					void *out, size_t len);
/*
 * reel_reader_take - up to @len bytes of what is buffered, copied into @buf
 * and consumed, without reading when anything is buffered (asyncio's
 * read(n)): the start of a body that came in with its header block. With
 * nothing buffered it reads once - into @buf directly when @len >= @cap.
 * Returns the bytes taken (1..@len); 0 at end of stream, or at once for
 * @len 0; -errno. Interrupted or failing: nothing is consumed.
 * Context: fiber (-EPERM when it must read outside one).
 */
REEL_API ssize_t reel_reader_take(struct reel_reader *r, void *buf, size_t len);
/*
 * reel_reader_skip_until - discard the stream through the next @delim
 * (@dlen bytes, at most @cap), however far it is: after -EMSGSIZE, drops the
 * chunk that did not fit. Returns the bytes discarded, @delim included; 0 at
 * end of stream with nothing left; -EPIPE when the stream ended before
 * @delim (everything to the end was discarded); -EINVAL as
 * reel_reader_read_until. *@done (when not NULL) gets the bytes discarded,
 * whatever the return value. Interrupted or failing: the bytes discarded so
 * far are gone (counted in *@done), the rest stays; calling it again goes
 * on to the same delimiter.
 * Context: fiber (-EPERM when it must read outside one).
 */
REEL_API ssize_t reel_reader_skip_until(struct reel_reader *r, const void *delim, size_t dlen,
					size_t *done);
/*
 * reel_reader_buffered - how many bytes @r holds now, read but not
 * consumed; never reads. *@data (when not NULL) points at them, valid until
 * the next call on @r. Returns the count; -EINVAL for a NULL or unset
 * reader. Context: anywhere.
 */
REEL_API ssize_t reel_reader_buffered(const struct reel_reader *r, const void **data);

/*
 * struct reel_writer - a buffered writer over a stream descriptor
 * (asyncio's StreamWriter: write, then drain - here flush). Small writes
 * gather in the caller's buffer (@buf, @cap bytes) and go out together;
 * nothing is sent before the buffer runs over or reel_writer_flush, so
 * flush before closing the descriptor. The caller owns the struct and the
 * buffer; the writer allocates nothing, holds nothing else and needs no
 * teardown (bytes still buffered when it is dropped are dropped with it).
 * Fields as for struct reel_reader: public for reading, set by init.
 *
 * Interrupted (-ECANCELED, -ETIMEDOUT) or failing, a writer call loses and
 * repeats nothing: bytes that went out are gone from the buffer, bytes
 * that did not stay buffered, and the call reports how much it moved in
 * *@done, so a later call continues exactly. A call that must write
 * outside a fiber gets -EPERM. NULL pointers, a writer whose @buf is NULL
 * or @cap is 0, and lengths past SSIZE_MAX get -EINVAL.
 */
struct reel_writer {
	int fd;
	char *buf;
	size_t cap;
	size_t start, end;   /* bytes accepted, not yet written: buf[start .. end) */
};
/*
 * reel_writer_init - set up @w to write to stream descriptor @fd through
 * @buf (@cap bytes). Cannot fail; @w, @buf and @fd stay the caller's.
 * Context: anywhere.
 */
REEL_API void reel_writer_init(struct reel_writer *w, int fd, char *buf, size_t cap);
/*
 * reel_writer_write - accept @len bytes of @data: copied into the buffer
 * when they fit in its free room (no system call); otherwise what is
 * buffered and @data go out together (one writev, again for short writes)
 * until the rest of @data fits, so a large write bypasses the buffer.
 * Returns @len once all of @data is accepted (written or buffered); -errno.
 * *@done (when not NULL) gets the bytes of @data accepted, whatever the
 * return value. Interrupted or failing: the bytes of @data counted in
 * *@done went out, the others were not taken (call again with @data +
 * *@done); bytes buffered before that did not go out stay buffered.
 * Context: fiber (-EPERM when it must write outside one).
 */
REEL_API ssize_t reel_writer_write(struct reel_writer *w, const void *data, size_t len,
				   size_t *done);
/*
 * reel_writer_printf - format as printf(3) into the buffer, flushing it
 * first when the text does not fit in its free room. The text must be
 * shorter than @cap (vsnprintf needs room for its NUL): longer text gets
 * -EMSGSIZE, with nothing written or buffered (format it into your own
 * buffer and use reel_writer_write).
 * Returns the text's length; -EMSGSIZE; -EINVAL (also for a format error);
 * -errno from the flush. All or nothing: on any error none of the text
 * was accepted; a flush interrupted half way keeps its unwritten tail
 * buffered, as reel_writer_flush.
 * Context: fiber (-EPERM when it must write outside one).
 */
REEL_API ssize_t reel_writer_printf(struct reel_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * reel_writer_flush - write everything buffered (reel_write_all's loop; a
 * write of 0 is -EIO): asyncio's drain, but it always empties the buffer.
 * Returns the bytes written (0 with nothing buffered, without a system
 * call); -errno. *@done (when not NULL) gets the bytes written, whatever the
 * return value. Interrupted or failing: the bytes counted in *@done went
 * out, the unwritten tail stays buffered, so the next flush continues
 * exactly where this one stopped.
 * Context: fiber (-EPERM when it must write outside one).
 */
REEL_API ssize_t reel_writer_flush(struct reel_writer *w, size_t *done);
/*
 * reel_writer_buffered - bytes accepted by @w and not yet written; never
 * writes. Returns the count; -EINVAL for a NULL or unset writer.
 * Context: anywhere.
 */
REEL_API ssize_t reel_writer_buffered(const struct reel_writer *w);

/* ---- readiness of foreign descriptors ------------------------------------- */

/*
 * reel_poll - wait until @fd is ready for @events (POLLIN, POLLOUT, ...), for
 * libraries that do their own I/O (libpq, hiredis, c-ares). Returns the
 * ready events (POLLERR, POLLHUP included).
 */
REEL_API int reel_poll(int fd, short events);

/* ---- signals ------------------------------------------------------------------ */

/*
 * reel_signal_wait - wait for one of the signals in @set; its details go to
 * *@info when not NULL. Returns the signal number, or -errno: -EINVAL for a
 * NULL @set, -EPERM outside a fiber, -EMFILE/-ENFILE/-ENOMEM when the
 * loop's signalfd cannot be made, -ECANCELED/-ETIMEDOUT when interrupted.
 * The loop has one signalfd for all its calls, made by the first one and
 * closed with the loop, so later calls need no descriptor. The signals of
 * @set are blocked in the calling thread from a call's start on (so they
 * are delivered here, through the signalfd polled on the ring, instead of
 * to a handler) and stay blocked between calls, a signal waiting pending
 * for the next call; call it from the thread that should receive them. A
 * call that fails before it waits (no signalfd) blocks nothing. At the
 * loop's close, the signals its calls blocked that the thread had not
 * blocked before are unblocked again; one still pending then meets its
 * disposition (the default for SIGTERM ends the process) - block them
 * before reel_run to keep them blocked. Several fibers may wait at once,
 * for different sets: each gets only signals of its own set.
 * Context: fiber only.
 */
struct signalfd_siginfo;
REEL_API int reel_signal_wait(const sigset_t *set, struct signalfd_siginfo *info);

/* ---- child processes ------------------------------------------------------------ */

/*
 * reel_process_spawn - start @argv[0] (searched in PATH) with @argv, the
 * current environment, stdin/stdout/stderr inherited (posix_spawn). Stores
 * the pid in *@pid and returns a pidfd for it, owned by the caller: pass it to
 * reel_process_wait, which closes it.
 */
REEL_API int reel_process_spawn(pid_t *pid, char *const argv[]);

/*
 * reel_process_wait - wait for the child behind @pidfd to exit and reap it.
 * Returns its wait status (use WIFEXITED/WEXITSTATUS) and closes @pidfd.
 * Interrupted (cancel, deadline), the child is left running and @pidfd open:
 * the caller decides (kill it with pidfd_send_signal, wait again).
 */
REEL_API int reel_process_wait(int pidfd);

#ifdef __cplusplus
}
#endif

#endif /* REEL_IO_H */
