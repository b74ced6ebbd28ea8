/*
 * echo_epoll - the echo benchmark's floor for readiness-based servers: one
 * thread, non-blocking sockets, level-triggered epoll.
 *
 * Usage: echo_epoll PORT [SECONDS]
 *
 * Per message it makes the two system calls an echo cannot avoid with
 * readiness I/O, recv and send, plus its share of one epoll_wait per batch
 * of ready connections. Level-triggered, one recv per readiness event: a
 * partial read leaves the socket readable and epoll reports it again, so
 * no recv is spent on finding EAGAIN. A send that cannot complete keeps the
 * rest in the connection's buffer and waits for EPOLLOUT, reading nothing
 * meanwhile (the peer's bytes wait in the kernel: back-pressure).
 *
 * SIGTERM, SIGINT (and SIGALRM after SECONDS) arrive on a signalfd in the
 * same epoll set and end the loop; every connection is closed on the way
 * out.
 */
#include "echo_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define PROG "echo_epoll"
#define MAX_EVENTS 512

struct conn {
	struct conn *prev, *next;       /* on the list of open connections */
	int fd;
	uint32_t pending;       /* bytes of buf still to send */
	uint32_t sent;          /* of those, already sent */
	char buf[ECHO_BUF_SIZE];
};

/* Tags of the non-connection descriptors in epoll_event.data.ptr. */
static char listen_tag, signal_tag;

static uint64_t nconns, naccepted;
static struct conn open_list = { .prev = &open_list, .next = &open_list };

static void list_add(struct conn *c)
{
	c->next = open_list.next;
	c->prev = &open_list;
	open_list.next->prev = c;
	open_list.next = c;
}

static void list_del(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

static void conn_close(int ep, struct conn *c)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	list_del(c);
	free(c);
	nconns--;
}

static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				perror(PROG ": accept4");
			return;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pending = c->sent = 0;
		echo_nodelay(fd);
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror(PROG ": epoll_ctl");
			close(fd);
			free(c);
			continue;
		}
		list_add(c);
		nconns++;
		naccepted++;
	}
}

/* Send what is pending. Returns false when the connection must close. */
static bool flush(int ep, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	while (c->sent < c->pending) {
		ssize_t n = send(c->fd, c->buf + c->sent, c->pending - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev.events = EPOLLOUT;   /* wait for room; read nothing meanwhile */
			return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0;
		}
		if (n <= 0)
			return false;
		c->sent += (uint32_t)n;
	}
	return true;
}

static void on_event(int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	ssize_t n;

	if (c->pending) {   /* waiting for EPOLLOUT */
		if (!flush(ep, c))
			goto close;
		if (c->sent < c->pending)
			return;
		c->pending = c->sent = 0;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			goto close;
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(c->fd, c->buf, sizeof(c->buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		goto close;
	c->pending = (uint32_t)n;
	c->sent = 0;
	if (!flush(ep, c))
		goto close;
	if (c->sent == c->pending)
		c->pending = c->sent = 0;
	return;
close:
	conn_close(ep, c);
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS], ev = { .events = EPOLLIN };
	struct signalfd_siginfo si;
	unsigned seconds;
	int port, lfd, sfd, ep;
	bool stop = false;

	echo_server_args(argc, argv, "an epoll echo server", &port, &seconds);
	echo_raise_nofile();
	sfd = echo_stop_signalfd(SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	lfd = echo_listen(PROG, port, 1);
	if (sfd < 0 || ep < 0 || lfd < 0) {
		fprintf(stderr, PROG ": set-up failed\n");
		return 1;
	}
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return perror(PROG ": epoll_ctl"), 1;
	ev.data.ptr = &signal_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
		return perror(PROG ": epoll_ctl"), 1;
	if (seconds)
		alarm(seconds);
	echo_announce(PROG, echo_bound_port(lfd));

	while (!stop) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror(PROG ": epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &listen_tag)
				accept_all(ep, lfd);
			else if (p == &signal_tag)
				stop = read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si);
			else
				on_event(ep, p, evs[i].events);
		}
	}
	fprintf(stderr, PROG ": signal %u: %llu connections served, %llu open; exiting\n",
		si.ssi_signo, (unsigned long long)naccepted, (unsigned long long)nconns);
	while (open_list.next != &open_list)
		conn_close(ep, open_list.next);   /* the peers see an orderly end */
	close(lfd);
	close(sfd);
	close(ep);
	return 0;
}
