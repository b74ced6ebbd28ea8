/*
 * echo_libuv - the echo server a libuv user would write: uv_tcp_t,
 * uv_read_start, uv_write. One loop, one thread.
 *
 * Usage: echo_libuv PORT [SECONDS]
 *
 * Written the way libuv is meant to be used, without tricks that would make
 * the comparison unfair in either direction:
 *   - no allocation per message: the read buffer and one write request live
 *     in the connection. alloc_cb hands out the connection's buffer while no
 *     write holds it; only a second read before the previous write's
 *     callback (a peer that pipelines) gets a malloc'd buffer and request.
 *   - uv_write, not uv_try_write: libuv writes at once when its queue is
 *     empty, and the callback comes on the next loop iteration.
 *   - a write that cannot complete at once (libuv's write queue non-empty)
 *     stops reading until it drains: back-pressure, as in the other servers.
 * SIGTERM and SIGINT (uv_signal_t) and SECONDS (uv_timer_t) close every
 * handle and let uv_run return. SIGPIPE is ignored, as every libuv server
 * must: libuv writes to sockets with write(2), which raises it when the
 * peer has gone; the write then fails with EPIPE instead.
 */
#include "echo_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define PROG "echo_libuv"

struct conn {
	uv_tcp_t tcp;           /* first: the handle's address is the conn's */
	uv_write_t wreq;        /* while wreq_busy, owned by libuv */
	bool wreq_busy;
	bool buf_busy;          /* buf is being written */
	bool paused;            /* reading stopped until the write queue drains */
	char buf[ECHO_BUF_SIZE];
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static uv_timer_t limit;
static uint64_t nconns, naccepted;
static int stop_signal;

static void on_closed(uv_handle_t *h)
{
	free(h);   /* a struct conn: tcp is its first member */
	nconns--;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;

	(void)suggested;
	if (!c->buf_busy) {
		*buf = uv_buf_init(c->buf, sizeof(c->buf));
		return;
	}
	buf->base = malloc(ECHO_BUF_SIZE);   /* NULL: libuv reports UV_ENOBUFS */
	buf->len = buf->base ? ECHO_BUF_SIZE : 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* A write is over: give its buffer and request back to @c (or free them). */
static void release(struct conn *c, uv_write_t *req)
{
	char *base = req->data;

	if (base == c->buf)
		c->buf_busy = false;
	else
		free(base);
	if (req == &c->wreq)
		c->wreq_busy = false;
	else
		free(req);
}

static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->handle->data;

	release(c, req);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, on_closed);
		return;
	}
	if (c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0 &&
	    !uv_is_closing((uv_handle_t *)&c->tcp)) {
		c->paused = false;
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	}
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	uv_write_t *req;
	uv_buf_t out;

	if (nread <= 0) {
		if (buf->base && buf->base != c->buf)
			free(buf->base);
		if (nread < 0 && !uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_closed);   /* UV_EOF or an error */
		return;
	}
	if (!c->wreq_busy) {
		req = &c->wreq;
		c->wreq_busy = true;
	} else if (!(req = malloc(sizeof(*req)))) {
		if (buf->base != c->buf)
			free(buf->base);
		uv_close((uv_handle_t *)s, on_closed);
		return;
	}
	if (buf->base == c->buf)
		c->buf_busy = true;
	req->data = buf->base;
	out = uv_buf_init(buf->base, (unsigned)nread);
	if (uv_write(req, s, &out, 1, write_cb) < 0) {
		release(c, req);
		uv_close((uv_handle_t *)s, on_closed);
		return;
	}
	if (uv_stream_get_write_queue_size(s) > 0) {
		c->paused = true;
		uv_read_stop(s);
	}
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		nconns++;   /* on_closed counts it down again */
		return;
	}
	nconns++;
	naccepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&server)
		uv_close(h, on_closed);
	else
		uv_close(h, NULL);
}

static void stop(int signo)
{
	stop_signal = signo;
	fprintf(stderr, PROG ": signal %d: %llu connections served, %llu open; exiting\n",
		signo, (unsigned long long)naccepted, (unsigned long long)nconns);
	uv_walk(loop, close_any, NULL);
}

static void on_signal(uv_signal_t *h, int signo)
{
	(void)h;
	stop(signo);
}

static void on_limit(uv_timer_t *t)
{
	(void)t;
	stop(SIGALRM);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	struct sockaddr_storage ss;
	int port, len = sizeof(ss), err;
	unsigned seconds;

	echo_server_args(argc, argv, "a libuv echo server", &port, &seconds);
	echo_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(loop, &server);
	if ((err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) < 0 ||
	    (err = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection)) < 0) {
		fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%d: %s\n", port,
			uv_strerror(err));
		return 1;
	}
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	if (seconds) {
		uv_timer_init(loop, &limit);
		uv_timer_start(&limit, on_limit, (uint64_t)seconds * 1000, 0);
	}
	uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
	echo_announce(PROG, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	uv_run(loop, UV_RUN_DEFAULT);
	err = uv_loop_close(loop);
	if (err < 0)
		fprintf(stderr, PROG ": uv_loop_close: %s\n", uv_strerror(err));
	return stop_signal && err == 0 ? 0 : 1;
}
