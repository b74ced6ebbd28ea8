/*
 * workload_server.c - the stand-in for an API or database call: a server on
 * loopback that answers each request after a delay, so a client waits the
 * way it waits for a remote service, while the server itself does almost
 * nothing. It is a forked copy of reel-bench running a reel loop: one fiber
 * per connection, a timer per request, so it serves 10,000 waiting clients
 * at once without becoming the bottleneck of the models it serves.
 *
 * Protocol: the client sends 8 bytes (the delay in ns, at most 10 s), the
 * server sleeps that long, sends the same 8 bytes back and closes.
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reel_io.h"

#define MAX_DELAY_NS 10000000000u

struct server {
	int lfd;
	int report;             /* pipe: the port goes there, then it closes */
};

static int serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint64_t delay = 0;
	ssize_t n = reel_read_exact(fd, &delay, sizeof(delay), NULL);

	if (n == (ssize_t)sizeof(delay) && delay <= MAX_DELAY_NS &&
	    reel_sleep(delay) == 0)
		(void)reel_send(fd, &delay, sizeof(delay), 0);
	reel_close(fd);
	return 0;
}

static int server_main(void *arg)
{
	struct server *s = arg;
	uint16_t port;
	reel_task t;
	int fd, p;

	s->lfd = reel_listen_tcp("127.0.0.1", 0, 65535);
	if (s->lfd < 0)
		return s->lfd;
	p = reel_local_port(s->lfd);
	if (p < 0)
		return p;
	port = (uint16_t)p;
	if (write(s->report, &port, sizeof(port)) != (ssize_t)sizeof(port))
		return -EPIPE;
	close(s->report);
	for (;;) {
		fd = reel_accept(s->lfd, NULL, NULL, 0);
		if (fd == -EMFILE || fd == -ENFILE || fd == -ECONNABORTED) {
			reel_sleep(1000000);    /* let connections end first */
			continue;
		}
		if (fd < 0)
			return fd;
		if (reel_spawn(&t, serve_one, (void *)(intptr_t)fd, NULL) < 0) {
			close(fd);
			continue;
		}
		reel_detach(t);
	}
}

/* The server process: never returns. */
static void server_child(int report, pid_t parent)
{
	struct server s = { .lfd = -1, .report = report };
	struct rlimit rl;
	int status = 0;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (reel_run(server_main, &s, NULL, &status) < 0 || status < 0)
		fprintf(stderr, "reel-bench: delay server: %s\n",
			reel_strerror(status < 0 ? status : -EIO));
	_exit(1);
}

int suite_server_start(uint16_t *port, pid_t *pid)
{
	pid_t parent = getpid();
	int fds[2], err = 0;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (*pid == 0) {
		close(fds[0]);
		server_child(fds[1], parent);
	}
	setpgid(*pid, *pid);
	bench_child_group = *pid;
	close(fds[1]);
	do
		n = read(fds[0], port, sizeof(*port));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n != (ssize_t)sizeof(*port)) {
		suite_server_stop(*pid);
		return -ECHILD;
	}
	return 0;
}

void suite_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	bench_child_group = 0;
}
