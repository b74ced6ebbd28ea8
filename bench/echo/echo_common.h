/*
 * echo_common.h - what the echo benchmark's baseline servers and its load
 * generator share: argument parsing, the listening socket, the descriptor
 * limit, the signals that stop them, and the line that tells the runner
 * where a server listens.
 *
 * Each of those programs is a single small file; these helpers are static
 * inline so every one of them stays one translation unit with no library.
 *
 * The "listening on 127.0.0.1:PORT" line on stdout is the protocol with
 * reel-bench (bench/echo/echo.c): a server prints it, flushed, once its socket
 * listens, so the runner can start the load at once and port 0 (a free
 * port chosen by the kernel) can be used without races.
 */
#ifndef REEL_ECHO_COMMON_H
#define REEL_ECHO_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Per-connection buffer of every server: the same for all four. */
#define ECHO_BUF_SIZE (16 * 1024)

/* Parse a decimal unsigned in [@min, @max]; -1 when @s is not one. */
static inline long echo_parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return v;
}

/* Servers: "PORT [SECONDS]". Exits with usage on bad input. */
static inline void echo_server_args(int argc, char **argv, const char *what,
				    int *port, unsigned *seconds)
{
	long p = argc >= 2 ? echo_parse_num(argv[1], 0, 65535) : -1;
	long s = argc >= 3 ? echo_parse_num(argv[2], 1, 86400) : 0;

	if (argc < 2 || argc > 3 || p < 0 || s < 0) {
		fprintf(stderr,
			"usage: %s PORT [SECONDS]\n"
			"  %s on 127.0.0.1:PORT (0: a free port, printed on stdout);\n"
			"  runs until SIGTERM/SIGINT, or for SECONDS when given\n",
			argv[0], what);
		exit(2);
	}
	*port = (int)p;
	*seconds = (unsigned)s;
}

/* Raise the soft descriptor limit to the hard one: a server with 500+
 * connections must not depend on the shell's ulimit -n. */
static inline void echo_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static inline void echo_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * A listening TCP socket on 127.0.0.1:@port, SO_REUSEADDR, non-blocking if
 * @nonblock. Returns the fd, or -errno after saying why on stderr.
 */
static inline int echo_listen(const char *prog, int port, int nonblock)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, err;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0) {
		err = -errno;
		perror("socket");
		return err;
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, SOMAXCONN) < 0) {
		err = -errno;
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d: %s\n", prog, port,
			strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/* The port @fd is bound to, or -1. */
static inline int echo_bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 || sin.sin_family != AF_INET)
		return -1;
	return ntohs(sin.sin_port);
}

/* The line reel-bench waits for; flushed, since stdout is a pipe there. */
static inline void echo_announce(const char *prog, int port)
{
	printf("%s: listening on 127.0.0.1:%d\n", prog, port);
	fflush(stdout);
}

/*
 * Block SIGINT, SIGTERM and SIGALRM and return a signalfd that reads them:
 * the servers stop cleanly on any of them, SIGALRM being their own
 * SECONDS limit (alarm). Returns the fd or -errno.
 */
static inline int echo_stop_signalfd(int flags)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGALRM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | flags);
	return fd < 0 ? -errno : fd;
}

#endif /* REEL_ECHO_COMMON_H */
