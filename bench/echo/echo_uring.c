/*
 * echo_uring - the echo benchmark's honest floor for reel: the simplest
 * io_uring echo server, a recv and a send per message written against
 * liburing by hand. (reel's echo server receives differently: one multishot
 * receive per connection into a shared buffer pool, which saves re-arming a
 * poll per message but walks more memory: the pool's buffers, the
 * long-lived requests. Measured per message, the two come out close.)
 *
 * Usage: echo_uring PORT [SECONDS]
 *
 * One thread, one ring, set up as reel sets up its own (SINGLE_ISSUER |
 * DEFER_TASKRUN, falling back to no flags where the kernel refuses). Every
 * connection has exactly one operation in flight: a recv into its buffer;
 * its completion queues a send of the bytes received; the send's completion
 * queues the next recv (or the rest of a short send). Nothing is submitted
 * per operation: the loop prepares SQEs while it walks a batch of CQEs and
 * hands them all to the kernel in the one io_uring_enter that also waits
 * for the next completions - the batching reel's scheduler does per pass.
 * What reel adds on top of this is the fiber: park, wake, switch.
 *
 * Accepts are one multishot accept (5.19+), re-armed when it ends, or single
 * accepts on kernels that refuse it. SIGTERM, SIGINT and SIGALRM (after
 * SECONDS) are read from a signalfd through the ring and end the loop.
 */
#include "echo_common.h"

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#define PROG "echo_uring"
#define RING_ENTRIES 1024

/* user_data: a connection pointer with the operation in its low bits, or
 * one of the tags below (never a valid pointer: malloc aligns to 16). */
enum { OP_RECV = 1, OP_SEND = 2, OP_MASK = 3 };
#define UD_ACCEPT 4u
#define UD_SIGNAL 8u

struct conn {
	struct conn *prev, *next;       /* on the list of open connections */
	int fd;
	uint32_t len;           /* bytes received, being sent back */
	uint32_t sent;
	char buf[ECHO_BUF_SIZE];
};

static struct io_uring ring;
static bool multishot = true;
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

/* An SQE; a full SQ is flushed to the kernel first (never fails: after a
 * submit the SQ has room again). */
static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&ring)) == NULL)
		(void)io_uring_submit(&ring);
	return sqe;
}

static void queue_accept(int lfd)
{
	struct io_uring_sqe *sqe = get_sqe();

	if (multishot)
		io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
}

static void queue_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_recv(sqe, c->fd, c->buf, sizeof(c->buf), 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_RECV);
}

static void queue_send(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_SEND);
}

static void conn_close(struct conn *c)
{
	close(c->fd);   /* nothing else of it is in flight */
	list_del(c);
	free(c);
	nconns--;
}

static void on_accept(const struct io_uring_cqe *cqe, int lfd)
{
	struct conn *c;

	if (cqe->res >= 0) {
		c = malloc(sizeof(*c));
		if (!c) {
			close(cqe->res);
		} else {
			c->fd = cqe->res;
			echo_nodelay(c->fd);
			list_add(c);
			nconns++;
			naccepted++;
			queue_recv(c);
		}
	} else if (cqe->res == -EINVAL && multishot) {
		multishot = false;   /* a kernel before 5.19 */
	} else if (cqe->res != -EINTR && cqe->res != -ECONNABORTED) {
		fprintf(stderr, PROG ": accept: %s\n", strerror(-cqe->res));
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		queue_accept(lfd);
}

static void on_conn(const struct io_uring_cqe *cqe)
{
	struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);

	if (cqe->res <= 0) {   /* end of stream, reset, or a send that failed */
		conn_close(c);
		return;
	}
	if ((cqe->user_data & OP_MASK) == OP_RECV) {
		c->len = (uint32_t)cqe->res;
		c->sent = 0;
		queue_send(c);
		return;
	}
	c->sent += (uint32_t)cqe->res;
	if (c->sent < c->len)
		queue_send(c);
	else
		queue_recv(c);
}

static int setup_ring(const char **how)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	int err = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);

	*how = "SINGLE_ISSUER|DEFER_TASKRUN";
	if (err == -EINVAL) {
		*how = "no flags (the kernel refused SINGLE_ISSUER|DEFER_TASKRUN)";
		err = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	}
	return err;
}

int main(int argc, char **argv)
{
	struct signalfd_siginfo si = { 0 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	const char *how;
	unsigned seconds, head, n;
	int port, lfd, sfd, err;
	bool stop = false;

	echo_server_args(argc, argv, "a raw liburing echo server", &port, &seconds);
	echo_raise_nofile();
	sfd = echo_stop_signalfd(0);
	lfd = echo_listen(PROG, port, 0);
	if (sfd < 0 || lfd < 0)
		return 1;
	err = setup_ring(&how);
	if (err < 0) {
		fprintf(stderr, PROG ": io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	queue_accept(lfd);
	sqe = get_sqe();
	io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
	io_uring_sqe_set_data64(sqe, UD_SIGNAL);
	if (seconds)
		alarm(seconds);
	fprintf(stderr, PROG ": ring set up with %s\n", how);
	echo_announce(PROG, echo_bound_port(lfd));

	while (!stop) {
		/* One enter: the SQEs queued by the last batch go out, and it
		 * waits for at least one completion. */
		err = io_uring_submit_and_wait(&ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
			fprintf(stderr, PROG ": io_uring_submit_and_wait: %s\n", strerror(-err));
			return 1;
		}
		n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			n++;
			if (cqe->user_data == UD_ACCEPT)
				on_accept(cqe, lfd);
			else if (cqe->user_data == UD_SIGNAL)
				stop = true;
			else
				on_conn(cqe);
		}
		io_uring_cq_advance(&ring, n);
	}
	fprintf(stderr, PROG ": signal %u: %llu connections served, %llu open; exiting\n",
		si.ssi_signo, (unsigned long long)naccepted, (unsigned long long)nconns);
	/* Tearing the ring down cancels the recvs in flight; each is parked
	 * on a socket poll, so none touches its buffer again. */
	io_uring_queue_exit(&ring);
	while (open_list.next != &open_list)
		conn_close(open_list.next);
	close(lfd);
	close(sfd);
	return 0;
}
