/*
 * http.h - what the files of engine/http share (not installed, not public).
 *
 *   parser.c   request framing: llhttp in strict mode plus reel's own checks
 *              of what llhttp lets through; no I/O (the fuzzer drives it)
 *   head.c     response heads: status lines, the cached Date, chunk framing
 *   route.c    the route table and path matching
 *   server.c   the listener, connections, timeouts, shutdown
 *   respond.c  the request and answer API a handler uses
 *   client.c   the client and its pool
 *   sse.c      the client's Server-Sent Events reader
 *
 * Cross-file names are reel_http__* (reel__ names belong to the core's door,
 * engine/reelimpl.h).
 */
#ifndef REEL_HTTP_INTERNAL_H
#define REEL_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <llhttp.h>
#include <reel.h>

/* ---- request framing (parser.c) --------------------------------------------------- */

struct reel_http__limits {
	size_t max_request_line;
	size_t max_header_bytes;
	size_t max_body;
	size_t max_chunk_ext;      /* chunk-extension bytes of one chunk */
	unsigned max_headers;
};

/* A piece of the input buffer, by offset: the buffer may move while a head
 * is still arriving (it grows), never after the head is complete. */
struct reel_http__span {
	uint32_t off, len;
};

struct reel_http__field {
	struct reel_http__span name, value;
};

#define REEL_HTTP__INLINE_FIELDS 24

struct reel_http__parser {
	llhttp_t ll;                          /* first: callbacks cast back */
	const struct reel_http__limits *lim;
	const char *base;                     /* buffer of the running execute */
	size_t msg_start;                     /* offset of this message's start */
	size_t line_end;                      /* offset just past the request line */
	struct reel_http__span method, url;
	struct reel_http__field *fields;      /* inline_fields or the heap */
	unsigned nfields, cap_fields;
	bool in_name;                         /* a field name is arriving */
	bool head_done, msg_done;
	bool chunked, upgrade;
	bool bad_method;                      /* llhttp refused the method */
	int status;                           /* a callback's refusal: the answer */
	uint64_t body_bytes;
	size_t ext_bytes;
	char *out;                            /* parse_body's destination */
	size_t out_len, out_cap;
	/* Trailers: copied, since body bytes are dropped as they are read. */
	char *trailers;                       /* "name\0value\0" ... */
	size_t tr_len, tr_cap;
	unsigned ntrailers;
	struct reel_http__field inline_fields[REEL_HTTP__INLINE_FIELDS];
};

void reel_http__parser_init(struct reel_http__parser *ps, const struct reel_http__limits *lim);
void reel_http__parser_free(struct reel_http__parser *ps);

/* Begin the next request at @msg_start (after the previous one completed). */
void reel_http__parser_next(struct reel_http__parser *ps, size_t msg_start);

/*
 * Parse the head of the request that starts at ps->msg_start in buf[*pos,
 * len). Returns 1 once the head is complete and valid (*pos is just past
 * it; the field, method and target strings are then NUL-terminated in place
 * and stay put), 0 when more bytes are needed (*pos == len), or the
 * negative HTTP status to answer (-400, -413, -414, -431, -501, -505).
 */
int reel_http__parse_head(struct reel_http__parser *ps, char *buf, size_t *pos, size_t len);

/*
 * Parse body bytes from buf[*pos, len) into out[0, cap): at most @cap body
 * bytes. Returns the body bytes produced (0 is possible: framing only) and
 * sets ps->msg_done at the end of the message (the parser then stops just
 * past it: a pipelined request stays unparsed); a negative status (-400,
 * -413) for a malformed or oversized body.
 */
ssize_t reel_http__parse_body(struct reel_http__parser *ps, const char *buf, size_t *pos,
			      size_t len, char *out, size_t cap);

/* Field @i of the head as NUL-terminated strings (after parse_head said 1). */
static inline const char *reel_http__str(const char *buf, struct reel_http__span s)
{
	return buf + s.off;
}

/* A trailer by name (case-insensitive), NULL if absent. */
const char *reel_http__trailer(const struct reel_http__parser *ps, const char *name);

/* Case-insensitive ASCII comparison of NUL-terminated @a and @b. */
bool reel_http__name_eq(const char *a, const char *b);
/* Is @c a tchar (RFC 9110 §5.6.2)? */
bool reel_http__tchar(unsigned char c);
/* Is @s a token: one tchar or more? */
bool reel_http__token(const char *s);

/* ---- response heads (head.c) ------------------------------------------------------ */

/* "OK" for 200 ...; "Unknown" for codes without a reason phrase. */
const char *reel_http__reason(int status);

/* The Date field line ("Date: Sat, 05 Dec 2026 00:50:11 GMT\r\n"), formatted
 * once a second; 37 bytes. The pointer stays valid for the thread. */
const char *reel_http__date_line(void);
#define REEL_HTTP__DATE_LINE_LEN 37

/* A growable byte buffer (connection output, scratch strings). */
struct reel_http__buf {
	char *data;
	size_t len, cap;
};
int reel_http__buf_reserve(struct reel_http__buf *b, size_t more);
int reel_http__buf_put(struct reel_http__buf *b, const void *p, size_t n);
int reel_http__buf_puts(struct reel_http__buf *b, const char *s);
int reel_http__buf_putu(struct reel_http__buf *b, uint64_t v);
int reel_http__buf_putx(struct reel_http__buf *b, uint64_t v);
/* Append @n bytes, the whole staying within @limit bytes (-EMSGSIZE), and
 * keep a NUL past them (not counted in len): the client's buffers are read
 * as strings. */
int reel_http__buf_put_max(struct reel_http__buf *b, const void *p, size_t n, size_t limit);
void reel_http__buf_free(struct reel_http__buf *b);

/* Percent-decode @n bytes of @s into @out (room for @n + 1), NUL-terminated;
 * @plus: '+' is a space (queries). Returns the length, or -EINVAL for a bad
 * escape or an escaped NUL. */
ssize_t reel_http__decode(const char *s, size_t n, char *out, bool plus);

/* ---- routes (route.c) ------------------------------------------------------------- */

struct reel_http__route;
struct reel_http__routes {
	struct reel_http__route *v;
	size_t n, cap;
};

#define REEL_HTTP__MAX_PARAMS 8

struct reel_http__match {
	const struct reel_http__route *route;     /* NULL: no route for the method */
	reel_http_handler fn;
	void *arg;
	unsigned nparams;
	const char *param_name[REEL_HTTP__MAX_PARAMS];
	const char *param_value[REEL_HTTP__MAX_PARAMS];
	char allow[96];                           /* for 405: "GET, HEAD" */
	bool path_matched;                        /* some method's route matched */
};

int reel_http__route_add(struct reel_http__routes *rt, const char *method, const char *pattern,
			 reel_http_handler fn, void *arg);
void reel_http__routes_free(struct reel_http__routes *rt);

/* Match decoded @path (modified: parameter values are cut out of it in
 * place) for @method. Returns true with m->fn set when a route answers. */
bool reel_http__route_match(const struct reel_http__routes *rt, const char *method, char *path,
			    struct reel_http__match *m);

/* ---- server, connections, requests (server.c, respond.c) --------------------------- */

#include <reel_http.h>
#include <reel_io.h>

#include "../reelimpl.h"

/* A bump allocator for one request's strings, reset when the request ends:
 * a first block reused from request to request, extra ones freed. */
struct reel_http__arena {
	char *block;
	size_t used, cap;
	void *extra;                   /* malloc'ed overflow blocks, a list */
};
void *reel_http__arena_alloc(struct reel_http__arena *a, size_t n);
char *reel_http__arena_strndup(struct reel_http__arena *a, const char *s, size_t n);
void reel_http__arena_reset(struct reel_http__arena *a);
void reel_http__arena_free(struct reel_http__arena *a);

enum reel_http__answer {
	REEL_HTTP__ANS_NONE,           /* nothing sent yet */
	REEL_HTTP__ANS_DONE,           /* a whole answer written or queued */
	REEL_HTTP__ANS_STREAM,         /* a stream is open */
	REEL_HTTP__ANS_SSE,            /* an event stream is open */
	REEL_HTTP__ANS_ENDED,          /* a stream was ended */
};

struct reel_http__conn;

struct reel_http_req {
	struct reel_http__conn *c;
	const char *method, *target, *path, *query;
	struct reel_http__match match;
	int version;                   /* 10 or 11 */
	int64_t content_length;        /* -1: chunked */
	bool head;                     /* HEAD: no body goes out */
	bool expect_continue, continued;
	bool keep_alive;               /* the client allows it */
	bool body_done;                /* read to its end (or none) */
	int body_error;                /* sticky error of reading the body */
	enum reel_http__answer answer;
	bool chunked;                  /* the open stream is chunked */
	int status;                    /* the answer's */
	struct reel_http__buf headers; /* the handler's fields, "Name: value\r\n" */
	char *body;                    /* reel_http_body's copy */
	size_t body_len;
};

struct reel_http__conn {
	struct reel_http_server *srv;
	struct reel__loop *loop;
	struct reel__list node;        /* on srv->conns */
	struct reel__list idle_node;   /* on srv->idle while waiting for a request */
	bool idle;
	bool reaped;                   /* closed by the server to make room */
	int fd;
	struct reel__fiber *fiber;
	struct reel_receiver rx;
	bool eof;
	/* Input: the current request's head stays at in[msg start ..) */
	char *in;
	size_t in_len, in_pos, in_cap, head_end;
	struct reel_http__parser ps;
	struct reel_http__buf out;     /* answer bytes not yet sent */
	struct reel_http__arena arena;
	unsigned requests;
	bool close_after;              /* the answer says Connection: close */
	int write_err;                 /* sticky: nothing more goes out */
	bool in_handler, peer_gone;
	/* Watching for the client leaving while a stream is open. */
	struct reel__op watch_op;
	bool watching;
	struct reel__fiber *op_waiter;
	/* SSE keep-alive comments, sent from a timer between the handler's sends. */
	struct reel__timer ka_timer;
	struct reel__op ka_op;
	bool ka_inflight;
	int ka_err;
	uint64_t last_send;
	struct reel_http_req req;
};

struct reel_http_server {
	struct reel_http_server_opts o;
	struct reel_http__limits lim;
	struct reel_http__routes routes;
	reel_http_handler fallback;
	void *fallback_arg;
	char server_line[96];
	size_t server_line_len;
	bool serving, draining;
	int port;
	struct reel_bufpool *pool;
	struct reel__list conns, idle;
	unsigned open;
	unsigned closing;              /* reaped, not yet closed */
	struct reel_group group;       /* the connections */
	reel_task accept_task;         /* while accepting */
	struct reel__fiber *accept_fiber;
	bool accept_parked;            /* accept_fiber waits for a free slot */
	struct reel_http_server_stats st;
};

/* respond.c: writing (used by server.c for its own answers) */
int reel_http__flush(struct reel_http__conn *c);
int reel_http__answer_simple(struct reel_http_req *req, int status, const char *allow);
/* After the handler returned @rc: complete or cut off its answer. */
void reel_http__finish_answer(struct reel_http_req *req, int rc);
/* Stop watching the peer and the keep-alive timer; wait for their ops. */
void reel_http__stream_quiet(struct reel_http__conn *c);
/* server.c: read more input within @timeout_ns; 0 at EOF; > 0 bytes. */
ssize_t reel_http__recv_more(struct reel_http__conn *c, uint64_t timeout_ns);

/* ---- the client's responses (client.c) and their event streams (sse.c) ------------ */

struct reel_http__sse;

/* The next body bytes of @r into @buf (@len > 0): > 0, 0 at the end, -errno.
 * Errors are sticky: the stream position is lost. */
ssize_t reel_http__resp_read(struct reel_http_resp *r, void *buf, size_t len);
/* Make @err (< 0) the sticky error of @r; returns @err. */
int reel_http__resp_fail(struct reel_http_resp *r, int err);
/* The client's max_body, for @r. */
size_t reel_http__resp_max_body(const struct reel_http_resp *r);
/* The slot of @r's event-stream state. Once it is set, max_body bounds each
 * event rather than the body; reel_http_resp_close frees it. */
struct reel_http__sse **reel_http__resp_sse(struct reel_http_resp *r);
void reel_http__sse_free(struct reel_http__sse *s);

#endif /* REEL_HTTP_INTERNAL_H */
