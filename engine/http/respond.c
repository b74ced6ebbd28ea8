/*
 * respond.c - what a handler sees: the request's head and body, and the
 * answer it writes (a whole body, a chunked stream, Server-Sent Events).
 *
 * Writing. An answer's bytes collect in the connection's output buffer and
 * leave in one send: head and body together (two sends would meet Nagle and
 * delayed ACK: a 40 ms stall per keep-alive answer), chunk size line, data
 * and CRLF together. A large body or chunk is not copied: it goes as a
 * second iovec of the same sendmsg. When the next pipelined request is
 * already in the input, a small whole answer waits in the buffer and leaves
 * with the next one (server.c flushes before it waits for input), so a
 * pipelined batch costs one send. Each send must make progress within
 * write_timeout (nginx's send_timeout: between two writes, not over the
 * whole answer, so a long stream is never cut for being long).
 *
 * Streams. While a stream or an event stream is open, a one-shot poll for
 * POLLRDHUP watches the socket: a client that leaves cancels the handler
 * (its parking calls return -ECANCELED), and with it the generator feeding
 * the stream. An event stream that stays quiet for sse_keepalive gets a
 * comment line from a wheel timer; the timer's send and the handler's never
 * overlap (each waits for the other's to complete).
 */
#define _GNU_SOURCE   /* POLLRDHUP, strncasecmp */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <reel_gen.h>

#include "http.h"

#define COPY_LIMIT (16 * 1024)        /* larger bodies and chunks go by iovec */
#define DEFER_LIMIT (64 * 1024)       /* pipelined answers held at most */

static const char keepalive_comment[] = ":\n\n";
static const char keepalive_chunk[] = "3\r\n:\n\n\r\n";

/* ---- sending --------------------------------------------------------------------------- */

struct send_call {
	int fd;
	struct msghdr msg;
	ssize_t n;
};

static int send_once(void *arg)
{
	struct send_call *sc = arg;

	sc->n = reel_sendmsg(sc->fd, &sc->msg, 0);
	return sc->n < 0 ? (int)sc->n : 0;
}

static void advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* Park until the keep-alive comment in flight, if any, has left. */
static int wait_keepalive(struct reel_http__conn *c)
{
	while (c->ka_inflight) {
		int r;

		c->op_waiter = reel__self_fiber();
		r = reel__park_for(c->loop, REEL__PARK_IO, c->srv->o.write_timeout_ns);
		c->op_waiter = NULL;
		if (r < 0 && c->ka_inflight) {
			reel__op_cancel(c->loop, &c->ka_op);
			while (c->ka_inflight) {
				c->op_waiter = reel__self_fiber();
				reel__park(c->loop, REEL__PARK_IO_CANCEL, false);
			}
			c->op_waiter = NULL;
			return r;
		}
	}
	return c->ka_err;
}

/* Send all of @iov, each send within write_timeout. A failure is sticky:
 * nothing more leaves on this connection. */
static int send_all(struct reel_http__conn *c, struct iovec *iov, int cnt)
{
	struct send_call sc = { .fd = c->fd };
	int r;

	if (c->write_err)
		return c->write_err;
	r = wait_keepalive(c);
	while (!r && cnt) {
		sc.msg.msg_iov = iov;
		sc.msg.msg_iovlen = (size_t)cnt;
		r = reel_wait_for(c->srv->o.write_timeout_ns, send_once, &sc, NULL);
		if (sc.n > 0) {
			advance(&iov, &cnt, (size_t)sc.n);
			r = 0;
		} else if (!r) {
			r = -EPIPE;
		}
	}
	c->last_send = reel_now();
	if (r < 0) {
		c->write_err = r;
		if (r == -ETIMEDOUT)
			c->srv->st.timeouts++;
	}
	return r;
}

/* Send the output buffer followed by @extra (may be NULL). */
static int send_out(struct reel_http__conn *c, const void *extra, size_t extra_len,
		    const char *tail, size_t tail_len)
{
	struct iovec iov[3];
	int cnt = 0, r;

	if (c->out.len)
		iov[cnt++] = (struct iovec){ c->out.data, c->out.len };
	if (extra_len)
		iov[cnt++] = (struct iovec){ (void *)extra, extra_len };
	if (tail_len)
		iov[cnt++] = (struct iovec){ (void *)tail, tail_len };
	r = cnt ? send_all(c, iov, cnt) : c->write_err;
	c->out.len = 0;
	return r;
}

int reel_http__flush(struct reel_http__conn *c)
{
	return send_out(c, NULL, 0, NULL, 0);
}

/* ---- watching the client while a stream is open ----------------------------------------- */

static void wake_op_waiter(struct reel_http__conn *c)
{
	if (c->op_waiter)
		reel__wake(c->op_waiter, 0);
}

static void on_watch(struct reel__op *op)
{
	struct reel_http__conn *c = reel__container_of(op, struct reel_http__conn, watch_op);

	if (!op->done)
		return;
	c->watching = false;
	reel__op_long_lived(-1);
	if (op->res > 0) {   /* POLLRDHUP, POLLHUP or POLLERR: the client left */
		c->peer_gone = true;
		c->srv->st.peer_gone++;
		if (c->in_handler)
			reel__cancel_fiber(c->fiber);
	}
	wake_op_waiter(c);
}

static void watch_peer(struct reel_http__conn *c)
{
	struct io_uring_sqe *sqe;
	int err;

	if (c->watching)
		return;
	sqe = reel__op_sqe(c->loop, &c->watch_op, &err);
	if (!sqe)
		return;   /* no watch: the next write's error tells the same */
	io_uring_prep_poll_add(sqe, c->fd, POLLRDHUP);
	io_uring_sqe_set_data64(sqe, c->watch_op.user_data);
	c->watch_op.opcode = IORING_OP_POLL_ADD;
	c->watch_op.complete = on_watch;
	c->watch_op.waiter = NULL;
	reel__op_long_lived(1);
	c->watching = true;
}

static void on_keepalive_sent(struct reel__op *op)
{
	struct reel_http__conn *c = reel__container_of(op, struct reel_http__conn, ka_op);

	if (!op->done)
		return;
	c->ka_inflight = false;
	reel__op_long_lived(-1);
	if (op->res < 0)
		c->ka_err = op->res;
	/* A short write of three bytes is not worth a retry path: the client
	 * that cannot take three bytes is gone; drop it. */
	else if ((size_t)op->res != (c->req.chunked ? sizeof(keepalive_chunk) - 1 :
						     sizeof(keepalive_comment) - 1))
		c->ka_err = -EPIPE;
	c->last_send = reel_now();
	wake_op_waiter(c);
}

static void keepalive_due(struct reel__timer *t);

static void arm_keepalive(struct reel_http__conn *c, uint64_t at)
{
	reel__timer_init(&c->ka_timer, keepalive_due);
	reel__timer_start(c->loop, &c->ka_timer, at);
}

/* On the loop, from the wheel: send a comment if the stream was quiet. */
static void keepalive_due(struct reel__timer *t)
{
	struct reel_http__conn *c = reel__container_of(t, struct reel_http__conn, ka_timer);
	uint64_t every = c->srv->o.sse_keepalive_ns, now = reel_now();
	struct io_uring_sqe *sqe;
	const char *msg;
	int err;

	if (c->req.answer != REEL_HTTP__ANS_SSE || c->write_err || c->peer_gone)
		return;
	if (c->ka_inflight || now - c->last_send < every || c->op_waiter) {
		arm_keepalive(c, (now - c->last_send < every ? c->last_send : now) + every);
		return;
	}
	sqe = reel__op_sqe(c->loop, &c->ka_op, &err);
	if (!sqe)
		return;
	msg = c->req.chunked ? keepalive_chunk : keepalive_comment;
	io_uring_prep_send(sqe, c->fd, msg, strlen(msg), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, c->ka_op.user_data);
	c->ka_op.opcode = IORING_OP_SEND;
	c->ka_op.complete = on_keepalive_sent;
	reel__op_long_lived(1);
	c->ka_inflight = true;
	arm_keepalive(c, now + every);
}

void reel_http__stream_quiet(struct reel_http__conn *c)
{
	if (c->ka_timer.fn)
		reel__timer_stop(c->loop, &c->ka_timer);
	if (c->watching)
		reel__op_cancel(c->loop, &c->watch_op);
	if (c->ka_inflight)
		reel__op_cancel(c->loop, &c->ka_op);
	while (c->watching || c->ka_inflight) {
		c->op_waiter = reel__self_fiber();
		reel__park(c->loop, REEL__PARK_IO_CANCEL, false);
	}
	c->op_waiter = NULL;
}

/* ---- the head of an answer -------------------------------------------------------------- */

enum framing { FIXED, CHUNKED, UNTIL_CLOSE };

static bool may_have_body(int status)
{
	return status >= 200 && status != 204 && status != 304;
}

/* Should the connection close after this answer? */
static bool closing(const struct reel_http_req *req, enum framing fr)
{
	const struct reel_http__conn *c = req->c;
	const struct reel_http_server *s = c->srv;

	return c->close_after || !req->keep_alive || s->draining || fr == UNTIL_CLOSE ||
	       (s->o.max_requests && c->requests >= s->o.max_requests) ||
	       (req->expect_continue && !req->continued && !req->body_done);
}

static int put_status_line(struct reel_http__buf *b, int status)
{
	char line[16] = "HTTP/1.1 000 ";

	line[9] = (char)('0' + status / 100);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	if (reel_http__buf_put(b, line, 13) || reel_http__buf_puts(b, reel_http__reason(status)))
		return -ENOMEM;
	return reel_http__buf_put(b, "\r\n", 2);
}

static int put_head(struct reel_http_req *req, int status, const char *ctype, enum framing fr,
		    size_t len)
{
	struct reel_http__conn *c = req->c;
	struct reel_http__buf *b = &c->out;
	int r;

	c->close_after = closing(req, fr);
	r = reel_http__buf_reserve(b, 160 + req->headers.len + (ctype ? strlen(ctype) : 0));
	if (r)
		return r;
	put_status_line(b, status);
	reel_http__buf_put(b, c->srv->server_line, c->srv->server_line_len);
	reel_http__buf_put(b, reel_http__date_line(), REEL_HTTP__DATE_LINE_LEN);
	if (ctype) {
		reel_http__buf_put(b, "Content-Type: ", 14);
		reel_http__buf_puts(b, ctype);
		reel_http__buf_put(b, "\r\n", 2);
	}
	if (req->headers.len)
		reel_http__buf_put(b, req->headers.data, req->headers.len);
	if (fr == FIXED && status != 204 && status >= 200) {
		reel_http__buf_put(b, "Content-Length: ", 16);
		reel_http__buf_putu(b, len);
		reel_http__buf_put(b, "\r\n", 2);
	} else if (fr == CHUNKED && may_have_body(status)) {
		reel_http__buf_put(b, "Transfer-Encoding: chunked\r\n", 28);
	}
	if (c->close_after)
		reel_http__buf_put(b, "Connection: close\r\n\r\n", 21);
	else if (req->version == 10)
		reel_http__buf_put(b, "Connection: keep-alive\r\n\r\n", 26);
	else
		reel_http__buf_put(b, "\r\n", 2);
	req->status = status;
	return 0;
}

static int check_answer(const struct reel_http_req *req, int status)
{
	if (!req)
		return -EINVAL;
	if (req->answer != REEL_HTTP__ANS_NONE)
		return -EALREADY;
	if (status < 200 || status > 999)
		return -EINVAL;
	return 0;
}

/* A request without a body is complete once its head is: finish it now, so
 * that a pipelined request behind it is seen (and this answer may wait). */
static void settle_empty_body(struct reel_http_req *req)
{
	struct reel_http__conn *c = req->c;
	char none[1];

	if (!req->body_done && req->content_length == 0) {
		reel_http__parse_body(&c->ps, c->in, &c->in_pos, c->in_pos, none, 0);
		req->body_done = c->ps.msg_done;
	}
}

int reel_http_respond(struct reel_http_req *req, int status, const char *content_type,
		      const void *body, size_t len)
{
	struct reel_http__conn *c;
	int r = check_answer(req, status);

	if (r)
		return r;
	if (len && !body)
		return -EINVAL;
	c = req->c;
	settle_empty_body(req);
	r = put_head(req, status, content_type, FIXED, len);
	if (r)
		return r;
	req->answer = REEL_HTTP__ANS_DONE;
	if (req->head || !may_have_body(status))
		len = 0;
	if (len <= COPY_LIMIT && len) {
		reel_http__buf_put(&c->out, body, len);
		len = 0;
	}
	if (!len && req->body_done && c->in_pos < c->in_len && !c->close_after &&
	    c->out.len < DEFER_LIMIT)
		return 0;   /* leaves with the next pipelined answer */
	return send_out(c, body, len, NULL, 0);
}

int reel_http__answer_simple(struct reel_http_req *req, int status, const char *allow)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%d %s\n", status, reel_http__reason(status));

	if (allow && *allow)
		reel_http_set_header(req, "Allow", allow);
	return reel_http_respond(req, status, "text/plain; charset=utf-8", text, (size_t)n);
}

int reel_http_set_header(struct reel_http_req *req, const char *name, const char *value)
{
	struct reel_http__buf *b;

	if (!req || !name || !value || !*name)
		return -EINVAL;
	if (req->answer != REEL_HTTP__ANS_NONE)
		return -EALREADY;
	if (!reel_http__token(name))
		return -EINVAL;
	for (const char *p = value; *p; p++)
		if (*p == '\r' || *p == '\n')
			return -EINVAL;
	b = &req->headers;
	if (reel_http__buf_puts(b, name) || reel_http__buf_put(b, ": ", 2) ||
	    reel_http__buf_puts(b, value) || reel_http__buf_put(b, "\r\n", 2))
		return -ENOMEM;
	return 0;
}

/* ---- streams --------------------------------------------------------------------------------- */

static int open_stream(struct reel_http_req *req, int status, const char *ctype,
		       enum reel_http__answer kind)
{
	struct reel_http__conn *c = req->c;
	int r;

	req->chunked = req->version == 11;
	r = put_head(req, status, ctype, req->chunked ? CHUNKED : UNTIL_CLOSE, 0);
	if (r)
		return r;
	req->answer = kind;
	if (!req->head)
		watch_peer(c);
	return 0;
}

int reel_http_stream_begin(struct reel_http_req *req, int status, const char *content_type,
			   int flush)
{
	int r = check_answer(req, status);

	if (r)
		return r;
	r = open_stream(req, status, content_type, REEL_HTTP__ANS_STREAM);
	if (r)
		return r;
	return flush ? reel_http__flush(req->c) : 0;
}

static bool streaming(const struct reel_http_req *req)
{
	return req->answer == REEL_HTTP__ANS_STREAM || req->answer == REEL_HTTP__ANS_SSE;
}

int reel_http_stream_write(struct reel_http_req *req, const void *data, size_t len)
{
	struct reel_http__conn *c;

	if (!req || (len && !data))
		return -EINVAL;
	if (!streaming(req))
		return -EPROTO;
	c = req->c;
	if (c->write_err)
		return c->write_err;
	if (!len || req->head || !may_have_body(req->status))
		return c->out.len ? reel_http__flush(c) : 0;
	if (!req->chunked)
		return send_out(c, data, len, NULL, 0);
	if (reel_http__buf_putx(&c->out, len) || reel_http__buf_put(&c->out, "\r\n", 2))
		return -ENOMEM;
	if (len <= COPY_LIMIT) {
		if (reel_http__buf_put(&c->out, data, len) || reel_http__buf_put(&c->out, "\r\n", 2))
			return -ENOMEM;
		return reel_http__flush(c);
	}
	return send_out(c, data, len, "\r\n", 2);
}

int reel_http_stream_end(struct reel_http_req *req)
{
	struct reel_http__conn *c;
	int r = 0;

	if (!req)
		return -EINVAL;
	if (!streaming(req))
		return -EPROTO;
	c = req->c;
	reel_http__stream_quiet(c);
	req->answer = REEL_HTTP__ANS_ENDED;
	if (req->chunked && !req->head && may_have_body(req->status))
		r = reel_http__buf_put(&c->out, "0\r\n\r\n", 5);
	return r ? r : reel_http__flush(c);
}

int reel_http_stream_gen(struct reel_http_req *req, int status, const char *content_type,
			 struct reel_gen *g)
{
	void *v;
	int r, gst = 0;

	if (!g)
		return -EINVAL;
	r = check_answer(req, status);
	if (!r)
		r = open_stream(req, status, content_type, REEL_HTTP__ANS_STREAM);
	while (!r && (r = reel_gen_next(g, &v)) == 1) {
		const struct reel_http_chunk *ch = v;

		r = ch ? reel_http_stream_write(req, ch->data, ch->len) : 0;
	}
	reel_gen_close(g, &gst);
	if (r < 0)
		return r;
	if (gst < 0)
		return gst;   /* the producer failed: cut the stream off */
	return req->answer == REEL_HTTP__ANS_STREAM ? reel_http_stream_end(req) : r;
}

/* ---- Server-Sent Events ------------------------------------------------------------------------ */

int reel_http_sse_begin(struct reel_http_req *req)
{
	struct reel_http__conn *c;
	int r = check_answer(req, 200);

	if (r)
		return r;
	c = req->c;
	if (reel_http_set_header(req, "Cache-Control", "no-cache") ||
	    reel_http_set_header(req, "X-Accel-Buffering", "no"))
		return -ENOMEM;
	r = open_stream(req, 200, "text/event-stream", REEL_HTTP__ANS_SSE);
	if (r)
		return r;
	r = reel_http__flush(c);
	if (!r && !req->head)
		arm_keepalive(c, c->last_send + c->srv->o.sse_keepalive_ns);
	return r;
}

static bool one_line(const char *s)
{
	return !s || !strpbrk(s, "\r\n");
}

/* "data: line\n" for each line of @data (CRLF, LF or CR end a line). */
static int put_data_lines(struct reel_http__buf *b, const char *data)
{
	for (;;) {
		size_t n = strcspn(data, "\r\n");

		if (reel_http__buf_put(b, "data: ", 6) || reel_http__buf_put(b, data, n) ||
		    reel_http__buf_put(b, "\n", 1))
			return -ENOMEM;
		data += n;
		if (!*data)
			return 0;
		data += (data[0] == '\r' && data[1] == '\n') ? 2 : 1;
	}
}

static int put_field(struct reel_http__buf *b, const char *name, const char *value)
{
	if (!value)
		return 0;
	if (reel_http__buf_puts(b, name) || reel_http__buf_puts(b, value) ||
	    reel_http__buf_put(b, "\n", 1))
		return -ENOMEM;
	return 0;
}

static int send_event_text(struct reel_http_req *req, struct reel_http__buf *text)
{
	int r = reel_http_stream_write(req, text->data, text->len);

	reel_http__buf_free(text);
	return r;
}

int reel_http_sse_send(struct reel_http_req *req, const struct reel_http_event *ev)
{
	struct reel_http__buf text = { NULL, 0, 0 };

	if (!req || !ev || !one_line(ev->event) || !one_line(ev->id))
		return -EINVAL;
	if (req->answer != REEL_HTTP__ANS_SSE)
		return -EPROTO;
	if (put_field(&text, "event: ", ev->event) || put_field(&text, "id: ", ev->id))
		goto nomem;
	if (ev->retry_ms && (reel_http__buf_put(&text, "retry: ", 7) ||
			     reel_http__buf_putu(&text, ev->retry_ms) ||
			     reel_http__buf_put(&text, "\n", 1)))
		goto nomem;
	if (ev->data && put_data_lines(&text, ev->data))
		goto nomem;
	if (reel_http__buf_put(&text, "\n", 1))
		goto nomem;
	return send_event_text(req, &text);
nomem:
	reel_http__buf_free(&text);
	return -ENOMEM;
}

int reel_http_sse_comment(struct reel_http_req *req, const char *comment)
{
	struct reel_http__buf text = { NULL, 0, 0 };

	if (!req || !comment || !one_line(comment))
		return -EINVAL;
	if (req->answer != REEL_HTTP__ANS_SSE)
		return -EPROTO;
	if (reel_http__buf_put(&text, ": ", 2) || reel_http__buf_puts(&text, comment) ||
	    reel_http__buf_put(&text, "\n\n", 2)) {
		reel_http__buf_free(&text);
		return -ENOMEM;
	}
	return send_event_text(req, &text);
}

/* ---- after the handler -------------------------------------------------------------------------- */

static int status_for_failure(const struct reel_http_req *req, int rc)
{
	switch (req->body_error) {
	case -EMSGSIZE: return 413;
	case -EBADMSG: return 400;
	case -ETIMEDOUT: return 408;
	default: break;
	}
	return rc == -ETIMEDOUT ? 503 : 500;
}

void reel_http__finish_answer(struct reel_http_req *req, int rc)
{
	struct reel_http__conn *c = req->c;

	if (c->peer_gone || c->write_err) {
		reel_http__stream_quiet(c);
		return;
	}
	if (req->answer == REEL_HTTP__ANS_NONE) {
		if (req->body_error)
			c->close_after = true;
		reel_http__answer_simple(req, rc < 0 ? status_for_failure(req, rc) : 500, NULL);
	} else if (streaming(req)) {
		if (rc >= 0) {
			reel_http_stream_end(req);
		} else {
			/* Cut off: no last chunk, so the client sees it incomplete. */
			c->close_after = true;
			reel_http__stream_quiet(c);
			reel_http__flush(c);
		}
	}
	if (req->body_error)
		c->close_after = true;
}

/* ---- the request --------------------------------------------------------------------------------- */

const char *reel_http_method(const struct reel_http_req *req)
{
	return req ? req->method : NULL;
}

const char *reel_http_target(const struct reel_http_req *req)
{
	return req ? req->target : NULL;
}

const char *reel_http_path(const struct reel_http_req *req)
{
	return req ? req->path : NULL;
}

const char *reel_http_query(const struct reel_http_req *req)
{
	return req ? req->query : NULL;
}

int reel_http_version(const struct reel_http_req *req)
{
	return req ? req->version : -EINVAL;
}

int64_t reel_http_content_length(const struct reel_http_req *req)
{
	return req ? req->content_length : -EINVAL;
}

size_t reel_http_header_count(const struct reel_http_req *req)
{
	return req ? req->c->ps.nfields : 0;
}

int reel_http_header_at(const struct reel_http_req *req, size_t i, const char **name,
			const char **value)
{
	const struct reel_http__conn *c;

	if (!req)
		return -EINVAL;
	c = req->c;
	if (i >= c->ps.nfields)
		return -ERANGE;
	if (name)
		*name = reel_http__str(c->in, c->ps.fields[i].name);
	if (value)
		*value = reel_http__str(c->in, c->ps.fields[i].value);
	return 0;
}

const char *reel_http_header(const struct reel_http_req *req, const char *name)
{
	const struct reel_http__conn *c;

	if (!req || !name)
		return NULL;
	c = req->c;
	for (unsigned i = 0; i < c->ps.nfields; i++)
		if (reel_http__name_eq(reel_http__str(c->in, c->ps.fields[i].name), name))
			return reel_http__str(c->in, c->ps.fields[i].value);
	return NULL;
}

const char *reel_http_param(const struct reel_http_req *req, const char *name)
{
	if (!req || !name)
		return NULL;
	for (unsigned i = 0; i < req->match.nparams; i++)
		if (strcmp(req->match.param_name[i], name) == 0)
			return req->match.param_value[i];
	return NULL;
}

const char *reel_http_query_param(struct reel_http_req *req, const char *name)
{
	const char *p;

	if (!req || !name)
		return NULL;
	for (p = req->query; *p;) {
		size_t n = strcspn(p, "&"), k = strcspn(p, "=&");
		char *key = reel_http__arena_alloc(&req->c->arena, n + 1);

		if (!key)
			return NULL;
		if (reel_http__decode(p, k, key, true) >= 0 && strcmp(key, name) == 0) {
			const char *v = k < n ? p + k + 1 : p + n;

			if (reel_http__decode(v, (size_t)(p + n - v), key, true) < 0)
				return NULL;
			return key;
		}
		p += n + (p[n] == '&');
	}
	return NULL;
}

const char *reel_http_trailer(const struct reel_http_req *req, const char *name)
{
	if (!req || !name || !req->body_done)
		return NULL;
	return reel_http__trailer(&req->c->ps, name);
}

/* ---- the request body ---------------------------------------------------------------------------- */

static int send_continue(struct reel_http_req *req)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct reel_http__conn *c = req->c;

	req->continued = true;
	if (reel_http__buf_put(&c->out, line, sizeof(line) - 1))
		return -ENOMEM;
	return reel_http__flush(c);
}

static ssize_t body_failed(struct reel_http_req *req, ssize_t err)
{
	req->body_error = (int)err;
	return err;
}

ssize_t reel_http_read_body(struct reel_http_req *req, void *buf, size_t len)
{
	struct reel_http__conn *c;

	if (!req || (!buf && len))
		return -EINVAL;
	if (req->body_error)
		return req->body_error;
	if (req->body_done || !len)
		return 0;
	c = req->c;
	if (req->expect_continue && !req->continued && req->answer == REEL_HTTP__ANS_NONE &&
	    send_continue(req) < 0)
		return body_failed(req, c->write_err ? c->write_err : -ENOMEM);
	for (;;) {
		ssize_t n = reel_http__parse_body(&c->ps, c->in, &c->in_pos, c->in_len, buf, len);
		uint64_t t0;

		if (n < 0)
			return body_failed(req, n == -413 ? -EMSGSIZE : -EBADMSG);
		req->body_done = c->ps.msg_done;
		if (n > 0 || req->body_done)
			return n;
		if (c->in_pos < c->in_len)
			continue;   /* framing only so far */
		c->in_pos = c->in_len = c->head_end;   /* drop the body read so far */
		t0 = reel_now();
		n = reel_http__recv_more(c, c->srv->o.body_timeout_ns);
		if (n == 0)
			return body_failed(req, -ECONNRESET);
		if (n == -ETIMEDOUT && reel_now() - t0 >= c->srv->o.body_timeout_ns)
			return body_failed(req, -ETIMEDOUT);   /* ours: 408 */
		if (n < 0)
			return n;   /* the caller's interruption, or a reset */
	}
}

ssize_t reel_http_body(struct reel_http_req *req, const void **data, size_t limit)
{
	struct reel_http__buf b = { NULL, 0, 0 };

	if (!req || !data)
		return -EINVAL;
	if (req->body) {
		*data = req->body;
		return (ssize_t)req->body_len;
	}
	if (!limit || limit > req->c->srv->o.max_body)
		limit = req->c->srv->o.max_body;
	for (;;) {
		ssize_t n;

		if (reel_http__buf_reserve(&b, 4096 + 1)) {
			reel_http__buf_free(&b);
			return -ENOMEM;
		}
		n = reel_http_read_body(req, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 || b.len + (size_t)n > limit) {
			reel_http__buf_free(&b);
			return n < 0 ? n : body_failed(req, -EMSGSIZE);
		}
		if (!n)
			break;
		b.len += (size_t)n;
	}
	b.data[b.len] = '\0';
	req->body = b.data;
	req->body_len = b.len;
	*data = b.data;
	return (ssize_t)b.len;
}
