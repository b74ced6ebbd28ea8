/*
 * parser.c - request framing: llhttp in strict mode, plus the checks of
 * RFC 9110/9112 that llhttp 8.1 (Debian's node-llhttp) lets through.
 *
 * The connection keeps a request's head contiguous in its own buffer
 * (server.c), so llhttp's data callbacks only ever extend spans: a token
 * split across two reads arrives as two adjacent pieces. Spans are offsets,
 * not pointers, because the buffer may grow (move) until the head is
 * complete; after that it never moves while the request lives, and the
 * head's strings are NUL-terminated in place (each is followed by a
 * delimiter llhttp has already passed: SP, ':', CR or whitespace).
 *
 * llhttp pauses at two places: the end of the head (so that body bytes and
 * pipelined requests stay unparsed until the handler asks), and the end of
 * the message (so that the next request waits for its turn: responses leave
 * in request order). Everything that the strict parser accepts but the RFCs
 * forbid is checked on the complete head in one scan (check_head): obs-fold,
 * control bytes, the version, Host, Transfer-Encoding. The limits are
 * counted in the callbacks as the bytes arrive, so a hostile client never
 * makes us hold more than the limit plus one read.
 *
 * No I/O here: tests/fuzz/fuzz_http_request.c drives these functions with
 * arbitrary bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static struct reel_http__parser *ps_of(llhttp_t *ll)
{
	return (struct reel_http__parser *)(void *)ll;
}

/* Extend @s by the piece at @at: pieces of one token are adjacent. */
static void extend(struct reel_http__parser *ps, struct reel_http__span *s, const char *at,
		   size_t n)
{
	if (!s->len)
		s->off = (uint32_t)(at - ps->base);
	s->len += (uint32_t)n;
}

static int refuse(struct reel_http__parser *ps, int status)
{
	if (!ps->status)
		ps->status = status;
	return -1;
}

static int on_message_begin(llhttp_t *ll)
{
	struct reel_http__parser *ps = ps_of(ll);

	ps->head_done = ps->msg_done = false;
	return 0;
}

static int on_method(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	extend(ps, &ps->method, at, n);
	return ps->method.len > 32 ? refuse(ps, 501) : 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	extend(ps, &ps->url, at, n);
	return ps->url.len > ps->lim->max_request_line ? refuse(ps, 414) : 0;
}

/* The request line ends with its target as far as the limit goes (a line
 * without a version, which llhttp takes for HTTP/0.9, is refused later). */
static int on_url_complete(llhttp_t *ll)
{
	struct reel_http__parser *ps = ps_of(ll);

	ps->line_end = ps->url.off + ps->url.len;
	return 0;
}

/* Room for one more field; the inline array first, then the heap. */
static struct reel_http__field *new_field(struct reel_http__parser *ps)
{
	if (ps->nfields == ps->cap_fields) {
		unsigned cap = ps->cap_fields * 2;
		struct reel_http__field *f;

		if (ps->fields == ps->inline_fields) {
			f = malloc(cap * sizeof(*f));
			if (f)
				memcpy(f, ps->fields, ps->nfields * sizeof(*f));
		} else {
			f = realloc(ps->fields, cap * sizeof(*f));
		}
		if (!f)
			return NULL;
		ps->fields = f;
		ps->cap_fields = cap;
	}
	ps->fields[ps->nfields] = (struct reel_http__field){ { 0, 0 }, { 0, 0 } };
	return &ps->fields[ps->nfields];
}

/* Trailers are copied: the body bytes around them do not stay. */
static int trailer_put(struct reel_http__parser *ps, const char *at, size_t n)
{
	if (ps->tr_len + n + 1 > ps->lim->max_header_bytes)
		return refuse(ps, 431);
	if (ps->tr_len + n + 1 > ps->tr_cap) {
		size_t cap = ps->tr_cap ? ps->tr_cap * 2 : 256;
		char *t;

		while (cap < ps->tr_len + n + 1)
			cap *= 2;
		t = realloc(ps->trailers, cap);
		if (!t)
			return refuse(ps, 500);
		ps->trailers = t;
		ps->tr_cap = cap;
	}
	memcpy(ps->trailers + ps->tr_len, at, n);
	ps->tr_len += n;
	return 0;
}

/* A name may arrive in pieces (split over two reads): only the first
 * piece opens a field; on_header_field_complete closes the name. */
static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	if (ps->head_done)
		return trailer_put(ps, at, n);
	if (!ps->in_name) {
		if (!new_field(ps))
			return refuse(ps, 500);
		ps->in_name = true;
	}
	extend(ps, &ps->fields[ps->nfields].name, at, n);
	return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct reel_http__parser *ps = ps_of(ll);

	if (ps->head_done)
		return trailer_put(ps, "", 1);
	/* Counted when a name is complete, not when its first byte arrives:
	 * a name cut off by a bad byte is a 400 however the bytes came. */
	if (ps->nfields >= ps->lim->max_headers)
		return refuse(ps, 431);
	if (!ps->in_name && !new_field(ps))   /* an empty name: no data came */
		return refuse(ps, 500);
	ps->in_name = false;
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	if (ps->head_done)
		return trailer_put(ps, at, n);
	extend(ps, &ps->fields[ps->nfields].value, at, n);
	return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	struct reel_http__parser *ps = ps_of(ll);

	if (ps->head_done) {
		ps->ntrailers++;
		return trailer_put(ps, "", 1);
	}
	ps->nfields++;
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct reel_http__parser *ps = ps_of(ll);

	ps->head_done = true;
	ps->chunked = (ll->flags & F_CHUNKED) != 0;
	ps->upgrade = ll->upgrade;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	ps->body_bytes += n;
	if (ps->body_bytes > ps->lim->max_body)
		return refuse(ps, 413);
	/* The caller gives llhttp at most out_cap - out_len input bytes. */
	memcpy(ps->out + ps->out_len, at, n);
	ps->out_len += n;
	return 0;
}

static int on_chunk_ext(llhttp_t *ll, const char *at, size_t n)
{
	struct reel_http__parser *ps = ps_of(ll);

	(void)at;
	ps->ext_bytes += n;
	return ps->ext_bytes > ps->lim->max_chunk_ext ? refuse(ps, 400) : 0;
}

static int on_chunk_header(llhttp_t *ll)
{
	ps_of(ll)->ext_bytes = 0;
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	ps_of(ll)->msg_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_method = on_method,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_chunk_extension_name = on_chunk_ext,
	.on_chunk_extension_value = on_chunk_ext,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_message_complete,
};

void reel_http__parser_init(struct reel_http__parser *ps, const struct reel_http__limits *lim)
{
	memset(ps, 0, offsetof(struct reel_http__parser, inline_fields));
	llhttp_init(&ps->ll, HTTP_REQUEST, &settings);
	ps->lim = lim;
	ps->fields = ps->inline_fields;
	ps->cap_fields = REEL_HTTP__INLINE_FIELDS;
}

void reel_http__parser_free(struct reel_http__parser *ps)
{
	if (ps->fields != ps->inline_fields)
		free(ps->fields);
	free(ps->trailers);
	ps->fields = ps->inline_fields;
	ps->cap_fields = REEL_HTTP__INLINE_FIELDS;
	ps->trailers = NULL;
	ps->tr_cap = 0;
}

void reel_http__parser_next(struct reel_http__parser *ps, size_t msg_start)
{
	if (llhttp_get_errno(&ps->ll) == HPE_PAUSED)
		llhttp_resume(&ps->ll);
	else if (llhttp_get_errno(&ps->ll) == HPE_PAUSED_UPGRADE)
		llhttp_resume_after_upgrade(&ps->ll);   /* upgrades are declined */
	ps->msg_start = msg_start;
	ps->line_end = 0;
	ps->method = ps->url = (struct reel_http__span){ 0, 0 };
	ps->nfields = 0;
	ps->in_name = false;
	ps->head_done = ps->msg_done = ps->chunked = ps->upgrade = false;
	ps->status = 0;
	ps->bad_method = false;
	ps->body_bytes = 0;
	ps->ext_bytes = 0;
	ps->tr_len = 0;
	ps->ntrailers = 0;
}

bool reel_http__tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

bool reel_http__token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!reel_http__tchar((unsigned char)*s))
			return false;
	return true;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool reel_http__name_eq(const char *a, const char *b)
{
	while (*a && lower((unsigned char)*a) == lower((unsigned char)*b))
		a++, b++;
	return !*a && !*b;
}

/* An unknown method that is still a token is "not implemented"; anything
 * else in its place is a bad request (RFC 9110 §9.1). Decided on the bytes
 * up to the token's end, so that the answer never depends on how the bytes
 * were split into reads: 0 while the token runs to the end of what arrived. */
#define METHOD_MAX 64

static int bad_method_status(const char *buf, size_t from, size_t to)
{
	size_t i = from, start;

	while (i < to && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	start = i;
	while (i < to && i - start <= METHOD_MAX && reel_http__tchar((unsigned char)buf[i]))
		i++;
	if (i - start > METHOD_MAX)
		return 501;
	if (i == to)
		return 0;
	return i > start && buf[i] == ' ' ? 501 : 400;
}

/* The request line ends in exactly "HTTP/1.0" or "HTTP/1.1" (no HTTP/0.9:
 * llhttp accepts a line without a version; RTSP/1.0 and such neither). */
static int version_status(struct reel_http__parser *ps, const char *buf, size_t end)
{
	size_t i = ps->url.off + ps->url.len;

	while (i < end && buf[i] == ' ')
		i++;
	if (end - i < 8 || memcmp(buf + i, "HTTP/", 5) != 0)
		return 400;
	if (buf[i + 5] >= '2' && buf[i + 5] <= '9')
		return 505;
	if (buf[i + 5] != '1' || buf[i + 6] != '.' || (buf[i + 7] != '0' && buf[i + 7] != '1'))
		return 400;
	return 0;
}

static int status_of_error(struct reel_http__parser *ps, const char *buf, size_t end)
{
	llhttp_errno_t e = llhttp_get_errno(&ps->ll);

	if (ps->status)
		return ps->status;
	if (e == HPE_INVALID_METHOD) {
		ps->bad_method = true;
		return bad_method_status(buf, ps->msg_start, end);
	}
	if (e == HPE_INVALID_VERSION && ps->url.len) {
		/* llhttp refuses 3.0 and up: 505 all the same. Only the bytes up
		 * to the one llhttp stopped at count, as they do not depend on
		 * how the input was split into reads. */
		size_t stop = (size_t)(llhttp_get_error_pos(&ps->ll) - buf) + 1;

		return version_status(ps, buf, stop) == 505 ? 505 : 400;
	}
	return 400;   /* HPE_PAUSED_H2_UPGRADE (an HTTP/2 preface) too */
}

/* Every byte of the head is a visible character, SP, HTAB, or the CR LF
 * that ends a line, and no line begins with whitespace (obs-fold, RFC 9112
 * §5.2: CVE-2024-27982 hid a Content-Length that way). */
static bool head_bytes_ok(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '\n') {
			if (i + 1 < n && (h[i + 1] == ' ' || h[i + 1] == '\t'))
				return false;
		} else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
			return false;
		}
	}
	return true;
}

/* RFC 3986 host [":" port]: reg-name, IPv4 or an IP-literal in brackets;
 * empty is allowed (RFC 9112 §3.2). */
static bool host_ok(const char *v)
{
	const char *p = v;

	if (*p == '[') {
		while (*++p && *p != ']')
			if (!strchr("0123456789abcdefABCDEF:.vV", *p))
				return false;
		if (*p++ != ']')
			return false;
	} else {
		for (; *p && *p != ':'; p++) {
			unsigned char c = (unsigned char)*p;

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || strchr("-._~%!$&'()*+,;=", c)))
				return false;
		}
	}
	if (*p == ':')
		while (*++p)
			if (*p < '0' || *p > '9')
				return false;
	return *p == '\0';
}

/* Cut the strings of the head out in place: NUL after the method, the
 * target, each name and each value (without its surrounding whitespace). */
static void terminate_strings(struct reel_http__parser *ps, char *buf)
{
	buf[ps->method.off + ps->method.len] = '\0';
	buf[ps->url.off + ps->url.len] = '\0';
	for (unsigned i = 0; i < ps->nfields; i++) {
		struct reel_http__field *f = &ps->fields[i];

		buf[f->name.off + f->name.len] = '\0';
		if (!f->value.len) {
			/* No value bytes: point at the name's NUL. */
			f->value.off = f->name.off + f->name.len;
			continue;
		}
		while (f->value.len && (buf[f->value.off + f->value.len - 1] == ' ' ||
					buf[f->value.off + f->value.len - 1] == '\t'))
			f->value.len--;
		buf[f->value.off + f->value.len] = '\0';
	}
}

/* Does the list of codings end in chunked? If not, a request's body length
 * cannot be known: 400 and close (RFC 9112 §6.3). */
static bool chunked_last(const char *v)
{
	size_t n = strlen(v);

	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n >= 7 && strncasecmp(v + n - 7, "chunked", 7) == 0 &&
	       (n == 7 || v[n - 8] == ',' || v[n - 8] == ' ' || v[n - 8] == '\t');
}

/* Transfer codings: only chunked is understood (anything else: 501). */
static bool codings_ok(const char *v)
{
	while (*v) {
		const char *t;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		t = v;
		while (*v && *v != ',' && *v != ' ' && *v != '\t' && *v != ';')
			v++;
		if (v > t && !(v - t == 7 && strncasecmp(t, "chunked", 7) == 0))
			return false;
		while (*v && *v != ',')
			v++;
	}
	return true;
}

static int check_fields(struct reel_http__parser *ps, const char *buf)
{
	unsigned hosts = 0;
	bool http10 = ps->ll.http_minor == 0;

	for (unsigned i = 0; i < ps->nfields; i++) {
		const char *name = buf + ps->fields[i].name.off;
		const char *value = buf + ps->fields[i].value.off;

		if (!*name)
			return 400;
		if (reel_http__name_eq(name, "host")) {
			if (++hosts > 1 || !host_ok(value))
				return 400;
		} else if (reel_http__name_eq(name, "transfer-encoding")) {
			if (http10)
				return 400;   /* RFC 9112 §6.1: TE in 1.0 is a smuggling vector */
			if (!chunked_last(value))
				return 400;
			if (!codings_ok(value))
				return 501;
		}
	}
	if (!http10 && hosts != 1)
		return 400;
	if ((ps->ll.flags & F_CONTENT_LENGTH) && ps->ll.content_length > ps->lim->max_body)
		return 413;
	return 0;
}

static int check_head(struct reel_http__parser *ps, char *buf, size_t end)
{
	int st;

	if (!head_bytes_ok(buf + ps->msg_start, end - ps->msg_start))
		return 400;
	st = version_status(ps, buf, end);
	if (st)
		return st;
	if (!ps->method.len || !ps->url.len)
		return 400;
	terminate_strings(ps, buf);
	return check_fields(ps, buf);
}

/* An HTTP/0.9 request, "GET /path" CR LF: llhttp waits for a byte more
 * before it says so, and an HTTP/0.9 client sends none (it waits for the
 * answer), so a target followed by the line's end is refused at once,
 * looking at the bytes llhttp has taken (@len), whether it has ended the
 * target yet or not, and before any error it found later: the same answer
 * for every split of the bytes into reads. */
static bool http09_line(const struct reel_http__parser *ps, const char *buf, size_t len)
{
	size_t i = ps->url.off + ps->url.len;

	if (!ps->url.len || ps->url.len > ps->lim->max_request_line)
		return false;
	while (i < len && buf[i] == ' ')
		i++;
	return i < len && (buf[i] == '\r' || buf[i] == '\n');
}

/* The size limits, checked as bytes arrive and again on the complete head
 * (a whole head may come in one read). */
static int size_status(const struct reel_http__parser *ps, size_t end)
{
	size_t line = ps->line_end ? ps->line_end - ps->msg_start : end - ps->msg_start;

	if (line > ps->lim->max_request_line)
		return 414;
	if (end - ps->msg_start > ps->lim->max_header_bytes)
		return 431;
	return 0;
}

int reel_http__parse_head(struct reel_http__parser *ps, char *buf, size_t *pos, size_t len)
{
	llhttp_errno_t e;
	size_t end;
	int st;

	if (ps->bad_method) {   /* llhttp gave up; we wait for the token's end */
		st = bad_method_status(buf, ps->msg_start, len);
		*pos = len;
		return st ? -st : 0;
	}
	/* Never parse past the request line's limit (until it has ended) or
	 * the head's: what lies beyond is refused for its size whatever it
	 * holds, however the bytes were split into reads. */
	ps->base = buf;
	do {
		bool in_line = !ps->line_end;
		size_t stop = ps->msg_start + 1 +
			      (in_line ? ps->lim->max_request_line : ps->lim->max_header_bytes);

		stop = stop < len ? stop : len;
		e = llhttp_execute(&ps->ll, buf + *pos, stop - *pos);
		end = e == HPE_OK ? stop : (size_t)(llhttp_get_error_pos(&ps->ll) - buf);
		*pos = end;
		if (!(e == HPE_OK && in_line && ps->line_end && stop < len))
			break;
	} while (true);   /* the line ended within its limit: on with the head */
	if (http09_line(ps, buf, e == HPE_OK ? end : end + 1))
		return -400;   /* before any later error: the same for every split */
	if (e == HPE_PAUSED && ps->head_done) {
		st = size_status(ps, end);
		if (!st)
			st = check_head(ps, buf, end);
		return st ? -st : 1;
	}
	if (e != HPE_OK) {
		st = status_of_error(ps, buf, len);
		if (!st)
			*pos = len;
		return -st;
	}
	st = size_status(ps, end);
	return st ? -st : 0;
}

ssize_t reel_http__parse_body(struct reel_http__parser *ps, const char *buf, size_t *pos,
			      size_t len, char *out, size_t cap)
{
	llhttp_errno_t e;
	size_t n = len - *pos;

	if (ps->msg_done)
		return 0;
	if (n > cap)
		n = cap;   /* body bytes never outnumber input bytes */
	ps->base = buf;
	ps->out = out;
	ps->out_len = 0;
	ps->out_cap = cap;
	if (llhttp_get_errno(&ps->ll) == HPE_PAUSED && !ps->msg_done)
		llhttp_resume(&ps->ll);   /* paused at the end of the head */
	e = llhttp_execute(&ps->ll, buf + *pos, n);
	if (e == HPE_OK) {
		*pos += n;
	} else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		*pos = (size_t)(llhttp_get_error_pos(&ps->ll) - buf);
	} else {
		return -(ps->status ? ps->status : 400);
	}
	return (ssize_t)ps->out_len;
}

const char *reel_http__trailer(const struct reel_http__parser *ps, const char *name)
{
	const char *p = ps->trailers;

	for (unsigned i = 0; i < ps->ntrailers; i++) {
		const char *v = p + strlen(p) + 1;

		if (reel_http__name_eq(p, name)) {
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
		p = v + strlen(v) + 1;
	}
	return NULL;
}
