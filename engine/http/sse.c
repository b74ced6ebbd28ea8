/*
 * sse.c - the client's Server-Sent Events reader: a response body read as
 * an event stream (WHATWG HTML, "event stream interpretation").
 *
 * The body comes through the client's own reader (reel_http__resp_read,
 * client.c) in pieces of a fixed buffer, so a line may be split across
 * reads, and so may a CRLF: the CR ends the line and the LF that follows,
 * even in the next read, is skipped. A UTF-8 BOM may lead the first line.
 *
 * Limits. A stream may go on for ever, so the client's max_body bounds each
 * event - the line being read plus the data gathered so far - not the body:
 * once the state exists, the response stops counting the body against it
 * (the state's slot, reel_http__resp_sse). Any failure is made the
 * response's sticky error: the position in the stream is lost.
 *
 * The strings of a message are the state's own buffers, emptied rather than
 * overwritten when the event is dispatched, so they live until the next
 * call; the last event id outlives events, as the standard wants. At the
 * end of the body an unfinished event is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

struct reel_http__sse {
	struct reel_http__buf line;     /* the line being read */
	struct reel_http__buf data;     /* the event's data lines, each followed by LF */
	struct reel_http__buf event;    /* its event type */
	struct reel_http__buf id;       /* the last event id: outlives events */
	uint64_t retry_ms;
	bool cr;             /* the last line ended in CR: skip an LF */
	bool first;          /* no line yet: a BOM may lead */
	size_t pos, len;     /* unparsed body bytes: in[pos .. len) */
	char in[4096];
};

void reel_http__sse_free(struct reel_http__sse *s)
{
	if (!s)
		return;
	reel_http__buf_free(&s->line);
	reel_http__buf_free(&s->data);
	reel_http__buf_free(&s->event);
	reel_http__buf_free(&s->id);
	free(s);
}

/* Set @b to the @n bytes at @v. */
static int buf_set(struct reel_http__buf *b, const char *v, size_t n, size_t limit)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	return reel_http__buf_put_max(b, v, n, limit);
}

/* "retry": only a value of ASCII digits counts. */
static void sse_retry(struct reel_http__sse *s, const char *v, size_t n)
{
	uint64_t ms = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		if (ms > (UINT64_MAX - 9) / 10)
			return;
		ms = ms * 10 + (uint64_t)(v[i] - '0');
	}
	s->retry_ms = ms;
}

/* The data line's value and its LF. */
static int sse_data(struct reel_http__sse *s, const char *v, size_t n, size_t limit)
{
	int err = reel_http__buf_put_max(&s->data, v, n, limit);

	return err ? err : reel_http__buf_put_max(&s->data, "\n", 1, limit);
}

/* One field line "name[: value]". */
static int sse_field(struct reel_http__sse *s, const char *l, size_t n, size_t limit)
{
	const char *colon = memchr(l, ':', n);
	size_t nl = colon ? (size_t)(colon - l) : n;
	const char *v = colon ? colon + 1 : l + n;
	size_t vn = (size_t)(l + n - v);

	if (vn && *v == ' ') {   /* one space after the colon is not the value's */
		v++;
		vn--;
	}
	if (nl == 5 && !memcmp(l, "event", 5))
		return buf_set(&s->event, v, vn, limit);
	if (nl == 4 && !memcmp(l, "data", 4))
		return sse_data(s, v, vn, limit);
	if (nl == 2 && !memcmp(l, "id", 2) && !memchr(v, '\0', vn))
		return buf_set(&s->id, v, vn, limit);
	if (nl == 5 && !memcmp(l, "retry", 5))
		sse_retry(s, v, vn);
	return 0;   /* other fields are ignored */
}

/* A complete line: 1 with *@msg when it ends an event, 0 to go on. */
static int sse_line(struct reel_http__sse *s, struct reel_http_sse_msg *msg, size_t limit)
{
	const char *l = s->line.data ? s->line.data : "";
	size_t n = s->line.len;

	if (s->first && n >= 3 && !memcmp(l, "\xEF\xBB\xBF", 3)) {
		l += 3;
		n -= 3;
	}
	s->first = false;
	s->line.len = 0;
	if (n == 0) {   /* dispatch, unless no data line came */
		if (!s->data.len) {
			s->event.len = 0;
			return 0;
		}
		s->data.data[--s->data.len] = '\0';   /* the last LF goes */
		msg->event = s->event.len ? s->event.data : "message";
		msg->data = s->data.data;
		msg->id = s->id.len ? s->id.data : "";
		msg->retry_ms = s->retry_ms;
		/* Emptied, not overwritten: *msg's strings live until the next call. */
		s->event.len = 0;
		s->data.len = 0;
		return 1;
	}
	if (*l == ':')   /* a comment */
		return 0;
	return sse_field(s, l, n, limit);
}

/* Parse buffered bytes up to the end of an event: 1 with *@msg, 0 when the
 * buffer ran out first, -errno. */
static int sse_scan(struct reel_http__sse *s, struct reel_http_sse_msg *msg, size_t limit)
{
	while (s->pos < s->len) {
		const char *at = s->in + s->pos;
		size_t n = s->len - s->pos, run = 0;
		int r;

		if (s->cr && *at == '\n') {   /* the LF of a CRLF */
			s->cr = false;
			s->pos++;
			continue;
		}
		s->cr = false;
		while (run < n && at[run] != '\r' && at[run] != '\n')
			run++;
		/* A line and the data gathered so far fit in max_body. */
		if (s->data.len > limit)
			return -EMSGSIZE;
		r = reel_http__buf_put_max(&s->line, at, run, limit - s->data.len);
		if (r)
			return r;
		s->pos += run;
		if (run == n)
			return 0;
		s->cr = at[run] == '\r';
		s->pos++;
		r = sse_line(s, msg, limit);
		if (r)
			return r;
	}
	return 0;
}

/* The state of @resp's event stream, made on the first call. */
static struct reel_http__sse *sse_of(struct reel_http_resp *resp)
{
	struct reel_http__sse **slot = reel_http__resp_sse(resp);

	if (!*slot) {
		*slot = calloc(1, sizeof(**slot));
		if (*slot)
			(*slot)->first = true;
	}
	return *slot;
}

int reel_http_sse_next(struct reel_http_resp *resp, struct reel_http_sse_msg *msg)
{
	struct reel_http__sse *s;
	size_t limit;

	if (!resp || !msg)
		return -EINVAL;
	if (!reel__self_fiber())
		return -EPERM;
	s = sse_of(resp);
	if (!s)
		return -ENOMEM;
	limit = reel_http__resp_max_body(resp);
	for (;;) {
		int r = sse_scan(s, msg, limit);
		ssize_t n;

		if (r)
			return r < 0 ? reel_http__resp_fail(resp, r) : r;
		n = reel_http__resp_read(resp, s->in, sizeof(s->in));
		if (n <= 0)
			return (int)n;   /* at the end, an unfinished event is dropped */
		s->pos = 0;
		s->len = (size_t)n;
	}
}
