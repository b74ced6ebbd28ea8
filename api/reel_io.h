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
 *   - Context: fiber only (-EPERM elsewhere), unless its comment says
 *     otherwise (reel_close closes anywhere; reel_process_kill and
 *     reel_process_close, the reader's and writer's calls that need no
 *     I/O, work anywhere). Buffers belong to the caller
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
#include <stdarg.h>
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

#if defined(__GNUC__)
#define REEL__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define REEL__PRINTF(fmt, args)
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
 * cancelled first (reel_cancel_fd: IORING_OP_ASYNC_CANCEL by descriptor) and
 * the kernel's letting go is waited for - the fibers that issued them get
 * -EBADF, even when the caller is cancelled meanwhile - then the descriptor
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
 * reel_listen_tcp - a listening TCP socket on @host and @port (0 = a free
 * port: read it back with reel_local_port), with SO_REUSEADDR and a
 * @backlog (<= 0: SOMAXCONN). Returns the fd, owned by the caller.
 * @host: NULL = all IPv6 and IPv4 addresses (IPv6 "::" with IPV6_V6ONLY
 * off; "0.0.0.0" where the machine has no IPv6); a numeric address
 * ("127.0.0.1", "::1", "0.0.0.0"), taken at once; or a name ("localhost"),
 * resolved as reel_getaddrinfo does (AI_PASSIVE) and bound to the first of
 * its addresses that can be bound - one socket, one address; listen on NULL
 * to reach every family. Errors: reel_getaddrinfo's for a name (-ENOENT:
 * no such name), else bind's or listen's for the first address tried
 * (-EADDRINUSE ...); -ECANCELED / -ETIMEDOUT during a lookup.
 * reel_listen_unix - the same on a Unix stream socket at @path (an existing
 * socket file there is replaced).
 */
REEL_API int reel_listen_tcp(const char *host, uint16_t port, int backlog);
REEL_API int reel_listen_unix(const char *path, int backlog);

/* reel_listen_opts.flags */
#define REEL_LISTEN_REUSEPORT    (1u << 0)  /* SO_REUSEPORT: one of a group of
					     * sockets on the port, the kernel
					     * spreads connections over them */
#define REEL_LISTEN_INCOMING_CPU (1u << 1)  /* SO_INCOMING_CPU = @incoming_cpu */

/*
 * Options of reel_listen_tcp_opts; NULL or all zero: reel_listen_tcp's.
 * @incoming_cpu (with REEL_LISTEN_INCOMING_CPU): in a REUSEPORT group, the
 * kernel hands this socket the connections whose SYN it handled on that
 * CPU. Helps only where each CPU has a NIC queue of its own: loopback SYNs
 * are handled on the client's CPU, so a local client pinned to one CPU
 * would feed one socket only (docs/scaling.md).
 */
struct reel_listen_opts {
	unsigned flags;
	int incoming_cpu;
};

/* reel_listen_tcp_opts - reel_listen_tcp with the socket options of @opts
 * set before bind. Returns the fd, owned by the caller; reel_listen_tcp's
 * errors, -EINVAL for unknown flags. Context: fiber only (-EPERM). */
REEL_API int reel_listen_tcp_opts(const char *host, uint16_t port, int backlog,
				  const struct reel_listen_opts *opts);
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
/* reel_connect_tcp - a new TCP socket connected to @host:@port, TCP_NODELAY
 * set: reel_connect_tcp_opts with the default options (see there: names,
 * several addresses raced, errors). Returns the fd, owned by the caller. */
REEL_API int reel_connect_tcp(const char *host, uint16_t port);
REEL_API int reel_connect_unix(const char *path);

/* Stream and datagram transfer; MSG_NOSIGNAL is always added to sends, so a
 * closed peer gives -EPIPE, never SIGPIPE. */
REEL_API ssize_t reel_recv(int fd, void *buf, size_t len, int flags);
REEL_API ssize_t reel_send(int fd, const void *buf, size_t len, int flags);
REEL_API ssize_t reel_recvmsg(int fd, struct msghdr *msg, int flags);
REEL_API ssize_t reel_sendmsg(int fd, const struct msghdr *msg, int flags);
REEL_API int reel_shutdown(int fd, int how);

/* ---- names --------------------------------------------------------------------- */

struct addrinfo;

/*
 * reel_getaddrinfo - getaddrinfo(3) that parks the calling fiber instead of
 * blocking its loop (asyncio's loop.getaddrinfo). @host and @service as
 * getaddrinfo's (not both NULL); @hints' flags, family, socktype and
 * protocol are used (NULL: glibc's default, AF_UNSPEC with AI_V4MAPPED |
 * AI_ADDRCONFIG). On success *@res is the list, owned by the caller: free
 * it with freeaddrinfo(3). Where it runs:
 *   - a numeric host (or none) with a numeric service (or none): parsed at
 *     once on the loop's thread (AI_NUMERICHOST), no thread involved;
 *   - a name under the reserved "invalid." domain: -ENOENT at once
 *     (RFC 6761 §6.4), the network never asked;
 *   - anything else: getaddrinfo on a thread of the reel_to_thread pool.
 * Returns 0, or -errno with *@res NULL. getaddrinfo's EAI_* codes become:
 *   EAI_NONAME, EAI_SERVICE      -ENOENT    no such name (or service)
 *   EAI_NODATA, EAI_ADDRFAMILY   -ENODATA   the name has no such address
 *   EAI_AGAIN                    -EAGAIN    no answer now (try again later)
 *   EAI_FAIL                     -EIO       the nameserver failed for good
 *   EAI_MEMORY                   -ENOMEM
 *   EAI_FAMILY                   -EAFNOSUPPORT
 *   EAI_SOCKTYPE                 -ESOCKTNOSUPPORT
 *   EAI_BADFLAGS                 -EINVAL
 *   EAI_OVERFLOW                 -EOVERFLOW
 *   EAI_SYSTEM                   -errno as getaddrinfo left it (-EIO if 0)
 * Also -EINVAL for NULL @res or both names NULL; -ENOMEM; -EAGAIN when no
 * pool thread can be started; -ECANCELED / -ETIMEDOUT when the task is
 * cancelled or a deadline passes - at once, even while a thread is inside
 * getaddrinfo (it cannot be stopped): that lookup finishes on its own and
 * its thread frees the result. @host, @service and @hints are copied:
 * nothing refers to them after the return.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_getaddrinfo(const char *host, const char *service,
			      const struct addrinfo *hints, struct addrinfo **res);

/*
 * Options of reel_connect_tcp_opts; NULL, or a field left zero, means the
 * default.
 * @delay_ns:      how long an attempt has to connect before the next address
 *                 is tried beside it (RFC 8305's Connection Attempt Delay,
 *                 asyncio's happy_eyeballs_delay): default 250 ms;
 *                 REEL_CONNECT_SEQUENTIAL: one attempt at a time, each to
 *                 its end (asyncio's default, happy_eyeballs_delay=None).
 * @attempt_timeout_ns: the most one attempt may take (it then fails with
 *                 -ETIMEDOUT and the next address is tried); default none,
 *                 the kernel's own SYN retries (about two minutes).
 * @family:        AF_UNSPEC (0, both), AF_INET or AF_INET6 only.
 * @first_family_count: addresses of the first family returned tried before
 *                 the other family gets its turn, then they alternate
 *                 (RFC 8305's First Address Family Count, asyncio's
 *                 interleave): default 1.
 */
#define REEL_CONNECT_SEQUENTIAL UINT64_MAX

struct reel_connect_opts {
	uint64_t delay_ns;
	uint64_t attempt_timeout_ns;
	int family;
	unsigned first_family_count;
};

/*
 * reel_connect_tcp_opts - a new TCP socket connected to @host:@port
 * (asyncio.open_connection), TCP_NODELAY set. Returns the fd, owned by the
 * caller. @host is numeric ("127.0.0.1", "::1": no lookup) or a name,
 * resolved by reel_getaddrinfo (AF_UNSPEC or @opts' family, SOCK_STREAM).
 * A name with several addresses is dialled the RFC 8305 way ("happy
 * eyeballs"): addresses ordered by family in turn, starting with the family
 * getaddrinfo put first; an attempt starts when the one before has had
 * @delay_ns to connect or as soon as it fails; the first to connect wins,
 * and the others are cancelled and closed before the call returns.
 * Returns the fd; reel_getaddrinfo's errors for the name (-ENOENT: no such
 * name); when every attempt failed, the error of the first attempt, unless
 * it only says that its family cannot be used from here (-ENETUNREACH,
 * -EAFNOSUPPORT, -EADDRNOTAVAIL): then the first error that says more
 * (-ECONNREFUSED, -ETIMEDOUT ...); -EINVAL for a NULL @host or a @family
 * other than those three; -ECANCELED / -ETIMEDOUT when the task is cancelled
 * or a deadline passes (the lookup and attempts are abandoned at once,
 * attempts closed; a connection made before the interruption was seen is
 * returned, as reel_connect's result wins over a lost cancel).
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_connect_tcp_opts(const char *host, uint16_t port,
				   const struct reel_connect_opts *opts);

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
	REEL__PRINTF(2, 3);
/* reel_writer_vprintf - reel_writer_printf with a va_list (@ap is left
 * as vprintf(3) leaves it: va_end it after). */
REEL_API ssize_t reel_writer_vprintf(struct reel_writer *w, const char *fmt, va_list ap)
	REEL__PRINTF(2, 0);
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

/*
 * reel_cancel_fd - cancel every operation of this loop in flight on the
 * file @fd refers to (reel_poll, reads, receives... of any of its fibers),
 * wait until the kernel has let go of all of them, and leave @fd open.
 * For a library that closes its own descriptors (PQfinish, redisFree,
 * curl's close callback): call it just before, when a fiber may still be
 * in reel_poll on the descriptor. A pending poll holds a reference to the
 * file, so a bare close(2) frees nothing: the polling fiber is never woken
 * and the peer sees no end of stream until that poll ends (docs/
 * integrating.md, "Closing"). The fibers whose operations were cancelled
 * get -EBADF, as from reel_close: to them it means "closed under you", and
 * they must not touch the descriptor, or the library object around it,
 * again. Operations of other loops (threads) are not touched.
 * Returns how many operations it cancelled (0 when none was in flight);
 * -EBADF when @fd is not open; -EPERM outside a fiber; -EOPNOTSUPP when the
 * kernel cannot cancel by descriptor (before 5.19); -EBUSY when operations
 * kept arriving on @fd for a second (a fiber that polls again at once).
 * It finishes even when the calling task is cancelled or its deadline has
 * passed (it is cleanup, bounded by that second); the interruption then
 * shows in the caller's next parking call. Context: fiber only.
 */
REEL_API int reel_cancel_fd(int fd);

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
 * current environment, stdin/stdout/stderr inherited (posix_spawn), with an
 * empty signal mask and SIGPIPE at its default action (as
 * reel_process_start). Stores the pid in *@pid and returns a pidfd for it,
 * owned by the caller: pass it to reel_process_wait, which closes it.
 * -ENOENT, -EACCES, ... when the program cannot be run (no child is left
 * behind); -EINVAL for a NULL @pid or @argv, or an empty @argv.
 */
REEL_API int reel_process_spawn(pid_t *pid, char *const argv[]);

/*
 * reel_process_wait - wait for the child behind @pidfd to exit and reap it.
 * Returns its wait status (use WIFEXITED/WEXITSTATUS) and closes @pidfd.
 * Interrupted (cancel, deadline), the child is left running and @pidfd open:
 * the caller decides (kill it with pidfd_send_signal, wait again). For a
 * child that is ended when the waiting task is cancelled, use struct
 * reel_process below.
 */
REEL_API int reel_process_wait(int pidfd);

/*
 * Subprocesses with pipes (asyncio.create_subprocess_exec; docs/io.md,
 * "Subprocesses"). What each of the child's stdin, stdout and stderr is
 * connected to, in reel_process_opts.stdin_mode, stdout_mode, stderr_mode:
 *   REEL_PROC_INHERIT  the caller's own descriptor (asyncio's None): 0
 *   REEL_PROC_PIPE     a new pipe; the caller's end is in reel_process's
 *                      in_fd, out_fd or err_fd (asyncio's PIPE)
 *   REEL_PROC_DEVNULL  /dev/null (asyncio's DEVNULL)
 *   REEL_PROC_STDOUT   stderr only: wherever stdout goes, 2>&1 (asyncio's STDOUT)
 *   REEL_PROC_FD       the caller's descriptor in stdin_fd, stdout_fd or
 *                      stderr_fd (a file, a socket, another child's pipe);
 *                      it is copied into the child and stays the caller's
 */
#define REEL_PROC_INHERIT 0
#define REEL_PROC_PIPE    1
#define REEL_PROC_DEVNULL 2
#define REEL_PROC_STDOUT  3
#define REEL_PROC_FD      4

/* reel_process_opts.flags: leave the child running when a wait on it is
 * interrupted (asyncio's behaviour); the default is kill-on-cancel. */
#define REEL_PROC_KEEP_ON_CANCEL (1u << 0)

/*
 * Options of reel_process_start. NULL, or any field left zero, means the
 * default: everything inherited, kill-on-cancel with SIGKILL.
 * @stdin_mode, @stdout_mode, @stderr_mode: REEL_PROC_* above.
 * @stdin_fd, @stdout_fd, @stderr_fd: the descriptor, for REEL_PROC_FD only.
 * @cwd:  the child's working directory (NULL: the caller's). A relative
 *        @argv[0] that contains a '/' is found from there.
 * @envp: the child's environment, a NULL-terminated "NAME=value" array
 *        (NULL: the caller's environ). A program named without a '/' is
 *        searched in the caller's PATH, not in @envp's.
 * @flags: REEL_PROC_KEEP_ON_CANCEL.
 * @kill_grace_ns: how kill-on-cancel ends the child: 0 sends SIGKILL; more
 *        sends SIGTERM and, if the child has not exited after that long,
 *        SIGKILL (trio's run_process; systemd's TimeoutStopSec).
 * The strings and arrays need to live only until reel_process_start returns.
 */
struct reel_process_opts {
	int stdin_mode, stdout_mode, stderr_mode;
	int stdin_fd, stdout_fd, stderr_fd;
	const char *cwd;
	char *const *envp;
	unsigned flags;
	uint64_t kill_grace_ns;
};

/*
 * struct reel_process - a running child and the caller's ends of its pipes
 * (asyncio's Process), in caller-owned storage. The caller reads the public
 * fields and may use the pipes with every reel_io call (reel_read,
 * reel_write_all, reel_reader, reel_poll); each descriptor belongs to the
 * struct, which closes it, so a caller that closes one itself sets the field
 * to -1. Used by one fiber at a time, except reel_process_kill.
 */
struct reel_process {
	pid_t pid;          /* the child's pid: kept after it is reaped, for reports */
	int pidfd;          /* the child's pidfd (O_CLOEXEC); -1 once it is reaped */
	int in_fd;          /* write end of the child's stdin pipe, or -1 */
	int out_fd;         /* read end of the child's stdout pipe, or -1 */
	int err_fd;         /* read end of the child's stderr pipe, or -1 */
	int status;         /* wait status once reaped (WIFEXITED, ...), else -1 */
	unsigned flags_;    /* private: the kill-on-cancel policy */
	uint64_t grace_ns_; /* private */
};

/*
 * reel_process_start - start @argv[0] with @argv, as @opts say (NULL: all
 * defaults). A program named without a '/' is searched in PATH
 * (posix_spawnp). The child starts with an empty signal mask and SIGPIPE at
 * its default action, whatever the loop blocked or ignored; it inherits no
 * descriptor of the caller that is O_CLOEXEC (every one reel opens is), only
 * 0, 1, 2 as set and the caller's own inheritable ones.
 * Returns 0 with @p filled in. A program that cannot be run is reported
 * here, not as an exit status 127: -ENOENT (no such program, or no @cwd),
 * -EACCES (not executable), -ENOEXEC, ... with no child left behind.
 * -EINVAL for NULL @p or @argv, an empty @argv, an unknown mode or flag, or
 * REEL_PROC_STDOUT for stdin or stdout; -EBADF for a REEL_PROC_FD
 * descriptor that is negative or not open; -EMFILE, -ENOMEM, -EAGAIN as the
 * system gives them; -EOPNOTSUPP for @cwd where the C library cannot change
 * a spawned child's directory (glibc before 2.29). On failure nothing is
 * left open and @p is empty (pid 0, descriptors -1, status -1), so
 * reel_process_close on it is harmless.
 * Owns: @p owns the pidfd and the pipe ends until reel_process_close.
 * Context: fiber only (-EPERM elsewhere). Does not park: the loop stops
 * while the child is set up, until its exec (posix_spawn's vfork).
 */
REEL_API int reel_process_start(struct reel_process *p, char *const argv[],
				const struct reel_process_opts *opts);

/*
 * reel_process_join - wait for @p's child to exit and reap it (asyncio's
 * proc.wait()). Returns its wait status, also kept in @p->status, and
 * closes the pidfd; the pipes stay open (output may be buffered there).
 * A child already reaped: its status at once.
 * Interrupted (-ECANCELED, -ETIMEDOUT) while the child runs, it applies
 * kill-on-cancel before it returns the interruption: the child is ended
 * (reel_process_opts.kill_grace_ns) and reaped, @p->status holds how it
 * ended; with REEL_PROC_KEEP_ON_CANCEL it is left running, to be waited for
 * again, killed or closed. The ending is shielded and bounded: the grace,
 * then up to 5 s for SIGKILL to take; a child still there (held by the
 * kernel, state D) is then waited for blocking the thread, so that none is
 * left a zombie.
 * -ECHILD when the child was reaped by someone else (SIGCHLD set to SIG_IGN,
 * a waitpid(-1) elsewhere); -EINVAL for NULL @p.
 * Context: fiber only (-EPERM elsewhere).
 */
REEL_API int reel_process_join(struct reel_process *p);

/*
 * struct reel_process_io - what reel_process_communicate sends and where it
 * puts what it receives; caller-owned, like the buffers it points to.
 * @in, @in_len:   written to the child's stdin, which is then closed (so
 *                 the child sees its end); 0 bytes: stdin is just closed.
 * @out, @out_cap: where the child's stdout goes, up to @out_cap bytes; the
 *                 rest is read and dropped (the child must never block on a
 *                 full pipe). NULL with @out_cap 0: counted only.
 * @err, @err_cap: the same for stderr.
 * Results, set whatever the call returns, so an interrupted call reports
 * its partial progress:
 * @in_done:       bytes of @in the child's pipe took.
 * @out_len, @err_len: bytes the child wrote in all; more than the cap
 *                 means the buffer holds the first cap bytes (truncated).
 */
struct reel_process_io {
	const void *in;
	size_t in_len;
	void *out;
	size_t out_cap;
	void *err;
	size_t err_cap;
	size_t in_done;
	size_t out_len;
	size_t err_len;
};

/*
 * reel_process_communicate - feed @io->in to the child's stdin, read its
 * stdout and stderr to their ends, all three at once (so a child writing
 * much to one while we wait on the other never deadlocks), then wait for it
 * to exit and reap it (asyncio's proc.communicate(input)). Streams that are
 * not pipes are skipped. Each pipe is closed (and its field set to -1) once
 * done: stdin after the last byte (or once the child stops reading: -EPIPE
 * is not an error, @io->in_done says how much went in), stdout and stderr
 * at their ends.
 * Returns the wait status (as reel_process_join). Interrupted (-ECANCELED,
 * -ETIMEDOUT: a cancel, a reel_wait_for around it): the transfers stop,
 * @io's counts say how far they got, the pipes not done stay open, and
 * kill-on-cancel applies as in reel_process_join - by default the child is
 * killed and reaped before the call returns (asyncio's communicate under
 * wait_for would leave it running: REEL_PROC_KEEP_ON_CANCEL). A read or
 * write error (-EIO, ...) is returned as it is, the child left running.
 * -EINVAL for NULL @p or @io, input without a stdin pipe, or a NULL buffer
 * with a nonzero length or cap; -ENOMEM when the helper tasks cannot start.
 * Context: fiber only (-EPERM elsewhere); two helper tasks of the loop move
 * the bytes, so the buffers must stay valid until it returns (they do: it
 * returns after the helpers end).
 */
REEL_API int reel_process_communicate(struct reel_process *p, struct reel_process_io *io);

/*
 * reel_process_kill - send @sig to @p's child (pidfd_send_signal: never
 * another process that reused the pid). Returns 0 (also for a child that
 * has exited but is not reaped yet: the signal is lost); -ESRCH once it is
 * reaped (or never started); -EINVAL for NULL @p or a bad @sig.
 * Context: anywhere; does not wait (reel_process_join does).
 */
REEL_API int reel_process_kill(struct reel_process *p, int sig);

/*
 * reel_process_close - let go of @p: close the pipes (reel_close: a fiber
 * reading one gets -EBADF) and, if the child has not been reaped, end it as
 * kill-on-cancel does (SIGTERM and the grace when one is set, then SIGKILL),
 * reap it, and close the pidfd - whatever the flags, so that no child is
 * left behind (asyncio's transport close). To let the child finish instead,
 * reel_process_join first. Never interrupted: works in a cancelled task's
 * clean-up. Returns 0 (@p->status holds how the child ended, -1 if it was
 * never started); -EINVAL for NULL @p. Closing twice is harmless; @p may be
 * reused with reel_process_start afterwards.
 * Context: anywhere; outside a fiber the ending is SIGKILL and a blocking
 * waitid.
 */
REEL_API int reel_process_close(struct reel_process *p);

#ifdef __cplusplus
}
#endif

#endif /* REEL_IO_H */
