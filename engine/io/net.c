/*
 * net.c - sockets through the ring: socket, the Unix listen and connect
 * helpers, accept, connect, send and receive, shutdown. (The TCP helpers
 * take host names, so they live above the thread pool: offload/dial.c.)
 *
 * Sends always carry MSG_NOSIGNAL: a peer that went away is -EPIPE for the
 * sending fiber, never a SIGPIPE that kills the process. bind(2), listen(2)
 * and setsockopt(2) never wait on a peer, so the listen helper calls them
 * directly.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

int reel_socket(int domain, int type, int protocol)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	type |= SOCK_CLOEXEC;
	if (reel__lacks_op(IORING_OP_SOCKET))
		return reel__sys_result(socket(domain, type, protocol));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_socket(sqe, domain, type, protocol, 0);
	return reel__io_end(&io, sqe);
}

/* Bind @fd to @addr and listen; closes @fd on failure. */
static int bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, addr, len) != 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int make_unix_addr(const char *path, struct sockaddr_un *un)
{
	if (!path || strlen(path) >= sizeof(un->sun_path))
		return -EINVAL;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	return 0;
}

int reel_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un un;
	int fd, err = make_unix_addr(path, &un);

	if (err)
		return err;
	fd = reel_socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	unlink(path);   /* a stale socket file from an earlier run */
	return bind_listen(fd, (struct sockaddr *)&un, sizeof(un), backlog);
}

int reel_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

int reel_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!addr != !addrlen)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_accept(sqe, fd, addr, addrlen, flags | SOCK_CLOEXEC);
	fd = reel__io_end(&io, sqe);
	if (fd >= 0 && addr) {
		reel__io_defined(addrlen, sizeof(*addrlen));
		reel__io_defined(addr, *addrlen);
	}
	return fd;
}

int reel_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!addr)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_connect(sqe, fd, addr, addrlen);
	return reel__io_end(&io, sqe);
}

/* Connect a new socket of @family to @addr; the fd or -errno. */
static int connect_new(int family, const struct sockaddr *addr, socklen_t len)
{
	int fd = reel_socket(family, SOCK_STREAM, 0);
	int err;

	if (fd < 0)
		return fd;
	err = reel_connect(fd, addr, len);
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}

int reel_connect_unix(const char *path)
{
	struct sockaddr_un un;
	int err = make_unix_addr(path, &un);

	return err ? err : connect_new(AF_UNIX, (struct sockaddr *)&un, sizeof(un));
}

ssize_t reel_recv(int fd, void *buf, size_t len, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;
	ssize_t n;

	if (!buf && len)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	if (!(flags & MSG_WAITALL))
		len = reel__fault_short_len(fd, len);
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	n = reel__io_end(&io, sqe);
	if (n > 0)
		reel__io_defined(buf, (size_t)n);
	return n;
}

ssize_t reel_send(int fd, const void *buf, size_t len, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!buf && len)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	len = reel__fault_short_len(fd, len);
	io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	return reel__io_end(&io, sqe);
}

ssize_t reel_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;
	ssize_t n;

	if (!msg)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
	n = reel__io_end(&io, sqe);
	if (n >= 0) {
		reel__iov_defined(msg->msg_iov, (int)msg->msg_iovlen, (size_t)n);
		reel__io_defined(msg->msg_name, msg->msg_namelen);
		reel__io_defined(msg->msg_control, msg->msg_controllen);
		reel__io_defined(&msg->msg_flags, sizeof(msg->msg_flags));
	}
	return n;
}

ssize_t reel_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (!msg)
		return -EINVAL;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL);
	return reel__io_end(&io, sqe);
}

int reel_shutdown(int fd, int how)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (reel__lacks_op(IORING_OP_SHUTDOWN))
		return reel__sys_result(shutdown(fd, how));
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_shutdown(sqe, fd, how);
	return reel__io_end(&io, sqe);
}
