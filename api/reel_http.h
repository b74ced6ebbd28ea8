/*
 * reel_http.h - HTTP/1.1 on fibers: a server whose handlers run on their
 * connection's fiber and answer with a body, a chunked stream (explicit
 * writes or a reel_gen generator: FastAPI's StreamingResponse) or
 * Server-Sent Events; and a client with a keep-alive pool per origin.
 *
 * A server, the C spelling of a FastAPI app:
 *
 *	static int hello(struct reel_http_req *req, void *arg)
 *	{
 *		return reel_http_respond(req, 200, "text/plain", "hello\n", 6);
 *	}
 *
 *	static int user(struct reel_http_req *req, void *arg)
 *	{
 *		char body[128];
 *		int n = snprintf(body, sizeof(body), "{\"id\":\"%s\"}",
 *				 reel_http_param(req, "id"));
 *		return reel_http_respond(req, 200, "application/json", body, n);
 *	}
 *
 *	static int app(void *arg)                      (reel_run's main)
 *	{
 *		struct reel_http_server *srv;
 *		int r = reel_http_server_create(&srv, NULL);
 *		if (r < 0)
 *			return r;
 *		reel_http_route(srv, "GET", "/hello", hello, NULL);
 *		reel_http_route(srv, "GET", "/users/{id}", user, NULL);
 *		r = reel_http_serve_tcp(srv, "127.0.0.1", 8080);  (until SIGTERM)
 *		reel_http_server_destroy(srv);
 *		return r;
 *	}
 *
 * Each connection is a task in the server's task group. Its fiber reads a
 * request head, runs the handler, writes the answer, and goes on with the
 * next request of the connection (keep-alive, pipelining: answers leave in
 * request order). Parsing is llhttp's strict mode plus reel's own checks of
 * what llhttp lets through (docs/http.md lists every rejected input and its
 * status). Every call that parks honours cancellation and deadlines.
 *
 * Errors: every function returns a negative errno on failure, as the rest
 * of reel does.
 */
#ifndef REEL_HTTP_H
#define REEL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reel.h"

#ifdef __cplusplus
extern "C" {
#endif

struct reel_gen;

/* ---- server ------------------------------------------------------------------ */

struct reel_http_server;  /* opaque: routes, options, connections */
struct reel_http_req;     /* opaque: one request and its answer */

/*
 * A request handler. It runs on the connection's fiber, may park (I/O,
 * sleeps, gather, generators) and answers with one of reel_http_respond,
 * reel_http_stream_begin / _gen or reel_http_sse_begin. Its return value:
 *   >= 0  done; had it not answered, the server answers 500.
 *   < 0   failed: before any answer the server answers 500 (503 when the
 *         handler deadline passed); after a streamed answer began, the
 *         stream is cut off (no final chunk: the client sees it incomplete)
 *         and the connection closed.
 * @req is valid until the handler returns; strings it hands out live as
 * long as @req.
 */
typedef int (*reel_http_handler)(struct reel_http_req *req, void *arg);

/* reel_http_server_opts.flags */
#define REEL_HTTP_SIGNALS  (1u << 0)  /* SIGTERM/SIGINT start a graceful shutdown
				       * (reel_http_serve*; reel_signal_wait) */

/*
 * Options of a server. NULL, or any field left zero, means the default.
 * Limits (each answered with its status and a closed connection):
 *  @max_request_line   request line, bytes (8 KiB) -> 414
 *  @max_header_bytes   whole head, request line included (16 KiB) -> 431
 *  @max_headers        header fields (100) -> 431
 *  @max_body           request body (1 MiB) -> 413
 *  @max_connections    open connections (4096); at the limit the oldest
 *                      idle keep-alive connection is closed to make room,
 *                      else accepting pauses (new connections wait in the
 *                      kernel's backlog) until one ends.
 *  @max_requests       per connection, then Connection: close (0: no limit)
 * Time (never early; 0 means the default, UINT64_MAX none):
 *  @header_timeout_ns  a request head must be complete within this time of
 *                      its first byte; later bytes do not extend it (10 s) -> 408
 *  @idle_timeout_ns    keep-alive: the next request's first byte within (60 s)
 *  @body_timeout_ns    between two reads of a request body (30 s) -> 408
 *  @write_timeout_ns   a write must make progress within (30 s), else the
 *                      client is dropped (it stopped reading)
 *  @handler_timeout_ns the handler runs under reel_wait_for (none) -> 503
 *  @shutdown_timeout_ns in-flight requests' grace at shutdown (10 s)
 *  @sse_keepalive_ns   a comment line on an idle event stream (15 s)
 * Others:
 *  @server_name        the Server header ("reel"); the string must outlive
 *                      the server
 *  @stack_size         connection fibers' stack (reel_spawn's default)
 *  @flags              REEL_HTTP_*
 */
struct reel_http_server_opts {
	size_t max_request_line;
	size_t max_header_bytes;
	unsigned max_headers;
	size_t max_body;
	unsigned max_connections;
	unsigned max_requests;
	uint64_t header_timeout_ns;
	uint64_t idle_timeout_ns;
	uint64_t body_timeout_ns;
	uint64_t write_timeout_ns;
	uint64_t handler_timeout_ns;
	uint64_t shutdown_timeout_ns;
	uint64_t sse_keepalive_ns;
	const char *server_name;
	size_t stack_size;
	unsigned flags;
};

/*
 * reel_http_server_create - a server with no routes (every request is
 * answered 404 until routes are added).
 * Returns 0 and the server in *@srv; -EINVAL for NULL @srv or options out
 * of range; -ENOMEM.
 * Ownership: the caller owns *@srv and frees it with
 * reel_http_server_destroy. Context: anywhere.
 */
REEL_API int reel_http_server_create(struct reel_http_server **srv,
				     const struct reel_http_server_opts *opts);

/*
 * reel_http_route - answer @method requests for paths matching @pattern
 * with @fn(req, @arg). @method is a method name ("GET"), or NULL for any
 * method. @pattern is a path of literal segments and parameters:
 * "/users/{id}" matches "/users/42" (reel_http_param(req, "id") is "42",
 * percent-decoded); a last segment "{name...}" matches the rest of the path,
 * slashes included. Literal segments win over parameters, then routes match
 * in the order they were added. A path that matches some route but not its
 * method is answered 405 with an Allow header; no match at all is answered
 * by the fallback (404 unless reel_http_fallback set one). GET routes also
 * answer HEAD (the body is not sent).
 * The strings are copied. Returns 0; -EINVAL for a NULL argument, a pattern
 * not starting with '/', or a malformed parameter; -EEXIST for the same
 * method and pattern twice; -EBUSY once serving began; -ENOMEM.
 * Context: anywhere, before reel_http_serve.
 */
REEL_API int reel_http_route(struct reel_http_server *srv, const char *method,
			     const char *pattern, reel_http_handler fn, void *arg);

/* reel_http_fallback - the handler for paths no route matches (default: 404).
 * Returns 0; -EINVAL for NULL @srv or @fn. Context: anywhere, before serving. */
REEL_API int reel_http_fallback(struct reel_http_server *srv, reel_http_handler fn, void *arg);

/*
 * reel_http_serve - serve connections accepted on listening socket @fd (not
 * owned) until reel_http_shutdown (or, with REEL_HTTP_SIGNALS, SIGTERM or
 * SIGINT): then stop accepting, close idle connections, let requests in
 * flight finish within shutdown_timeout_ns, cancel the rest, and return
 * once every connection has ended.
 * Returns 0 after a shutdown; -ECANCELED / -ETIMEDOUT when the calling
 * fiber was cancelled or its deadline passed (connections are closed the
 * same way, without grace); -EBUSY when the server already serves; accept
 * errors other than running out of descriptors (which back off).
 * Context: fiber only (-EPERM); one call at a time per server.
 */
REEL_API int reel_http_serve(struct reel_http_server *srv, int fd);

/* reel_http_serve_tcp - listen on numeric @host:@port (SO_REUSEADDR; port 0
 * picks one: see reel_http_port) and reel_http_serve; closes the socket
 * before returning. -EADDRINUSE and friends from listening. */
REEL_API int reel_http_serve_tcp(struct reel_http_server *srv, const char *host, uint16_t port);

/* The port reel_http_serve_tcp listens on, once it does; else -ENOTCONN.
 * Context: anywhere. */
REEL_API int reel_http_port(const struct reel_http_server *srv);

/*
 * reel_http_shutdown - begin the graceful shutdown reel_http_serve
 * describes; returns at once (0). Idempotent. -EINVAL for NULL.
 * Context: a fiber of the server's loop.
 */
REEL_API int reel_http_shutdown(struct reel_http_server *srv);

/* reel_http_server_destroy - free a server that does not serve (-EBUSY while
 * reel_http_serve runs). NULL is a no-op (0). Context: anywhere. */
REEL_API int reel_http_server_destroy(struct reel_http_server *srv);

/* Counters of a server, for tests and monitoring. */
struct reel_http_server_stats {
	uint64_t connections;      /* accepted in all */
	uint64_t open;             /* open now */
	uint64_t requests;         /* whose handler ran */
	uint64_t rejected;         /* answered 4xx/5xx by the server itself */
	uint64_t timeouts;         /* connections dropped by a timeout */
	uint64_t idle_reaped;      /* idle connections closed: to make room, or at shutdown */
	uint64_t peer_gone;        /* handlers cancelled because the client left */
};
/* Copy the counters into *@st. Returns 0; -EINVAL for NULL. Context: anywhere
 * on the server's thread. */
REEL_API int reel_http_server_stats(const struct reel_http_server *srv,
				    struct reel_http_server_stats *st);

/*
 * reel_http_metrics - answer GET (and HEAD) @path with Prometheus text
 * (Content-Type "text/plain; version=0.0.4"): the serving loop's counters
 * (reel_loop_stats_prometheus: reel_loop_switches_total, ...) and the
 * server's own - reel_http_connections_total, reel_http_open_connections,
 * reel_http_requests_total, reel_http_rejected_total,
 * reel_http_timeouts_total, reel_http_idle_reaped_total,
 * reel_http_peer_gone_total. A route like any other (reel_http_route): the
 * path is copied; its scrapes count as requests.
 * Returns 0; -EINVAL for NULL; -EEXIST when @path has a GET route already;
 * -EBUSY once serving began; -ENOMEM. Context: anywhere, before serving.
 */
REEL_API int reel_http_metrics(struct reel_http_server *srv, const char *path);

/* ---- the request ---------------------------------------------------------------- */

/* Accessors: the strings are NUL-terminated and live as long as @req.
 * Context: the handler's fiber (they do not park). */

/* "GET", "POST", ... */
REEL_API const char *reel_http_method(const struct reel_http_req *req);
/* The request-target as sent, e.g. "/search?q=a%20b". */
REEL_API const char *reel_http_target(const struct reel_http_req *req);
/* Its path, percent-decoded ("/search"); a path that decodes to a NUL byte
 * or an invalid escape is refused with 400 before any handler runs. */
REEL_API const char *reel_http_path(const struct reel_http_req *req);
/* Its query, without '?' and not decoded ("q=a%20b"); "" when none. */
REEL_API const char *reel_http_query(const struct reel_http_req *req);
/* The first query parameter @name, decoded ('+' is a space); NULL if absent. */
REEL_API const char *reel_http_query_param(struct reel_http_req *req, const char *name);
/* The path parameter @name of the matched route; NULL if the route has none. */
REEL_API const char *reel_http_param(const struct reel_http_req *req, const char *name);
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
REEL_API int reel_http_version(const struct reel_http_req *req);
/* The first field named @name (case-insensitive), value without its
 * surrounding whitespace; NULL if absent. */
REEL_API const char *reel_http_header(const struct reel_http_req *req, const char *name);
/* The number of header fields, and field @i (0-based, in order received).
 * reel_http_header_at returns 0, or -ERANGE past the end. */
REEL_API size_t reel_http_header_count(const struct reel_http_req *req);
REEL_API int reel_http_header_at(const struct reel_http_req *req, size_t i,
				 const char **name, const char **value);
/* The body's declared length: >= 0 for Content-Length (0 when there is no
 * body), -1 for a chunked body. */
REEL_API int64_t reel_http_content_length(const struct reel_http_req *req);
/* A trailer field of a chunked body (case-insensitive), once the body has
 * been read to its end; NULL otherwise. */
REEL_API const char *reel_http_trailer(const struct reel_http_req *req, const char *name);

/*
 * reel_http_read_body - read the next bytes of the request body (Content-
 * Length or chunked, chunk extensions and trailers checked and dropped)
 * into @buf. The first read sends "100 Continue" when the client asked for
 * it. Returns bytes read (> 0), 0 at the body's end; -EMSGSIZE when the
 * body exceeds max_body (the server then answers 413 and closes, unless the
 * handler answered already); -ETIMEDOUT when body_timeout_ns passed between
 * two reads (408); -EBADMSG for a malformed body (400); -ECONNRESET when
 * the client went away; -ECANCELED / -ETIMEDOUT of the caller.
 * Context: the handler's fiber.
 */
REEL_API ssize_t reel_http_read_body(struct reel_http_req *req, void *buf, size_t len);

/*
 * reel_http_body - read the whole body, at most @limit bytes (0: max_body),
 * into memory that @req owns. Returns its length and *@data (NUL-
 * terminated, for text); -EMSGSIZE over the limit; reel_http_read_body's
 * errors. A second call returns the same body.
 */
REEL_API ssize_t reel_http_body(struct reel_http_req *req, const void **data, size_t limit);

/* ---- the answer ------------------------------------------------------------------- */

/*
 * reel_http_set_header - add a response field for the answer not yet begun
 * (Date, Server, Content-Length, Transfer-Encoding and Connection are the
 * server's). Both strings are copied; CR, LF or NUL in either, or an
 * invalid field name, is refused with -EINVAL. -EALREADY once the answer
 * began. Context: the handler's fiber.
 */
REEL_API int reel_http_set_header(struct reel_http_req *req, const char *name, const char *value);

/*
 * reel_http_respond - answer @status (100 < status <= 999, not 1xx) with a
 * fixed body of @len bytes (@content_type may be NULL: no Content-Type).
 * The head and body leave in one send, after any earlier pipelined answers.
 * Returns 0 once the answer is written (or queued behind the next
 * pipelined request of the same read); -EALREADY when an answer began;
 * -EINVAL for a bad status; -ETIMEDOUT when the client stopped reading for
 * write_timeout_ns; -EPIPE / -ECONNRESET when it went away; the caller's
 * -ECANCELED / -ETIMEDOUT. Context: the handler's fiber.
 */
REEL_API int reel_http_respond(struct reel_http_req *req, int status, const char *content_type,
			       const void *body, size_t len);

/*
 * reel_http_stream_begin - begin a streamed answer of unknown length:
 * chunked for HTTP/1.1, close-delimited for HTTP/1.0. The head leaves with
 * the first write (or at once when @flush). Then reel_http_stream_write for
 * each piece and reel_http_stream_end. While a stream is open the server
 * watches the connection: a client that goes away cancels the handler
 * (its parking calls return -ECANCELED).
 * Returns 0; -EALREADY; -EINVAL for a bad status; write errors as
 * reel_http_respond. Context: the handler's fiber.
 */
REEL_API int reel_http_stream_begin(struct reel_http_req *req, int status,
				    const char *content_type, int flush);

/* reel_http_stream_write - send @len bytes as one chunk now (an empty write
 * sends nothing). Returns 0; -EPROTO without a stream begun; write errors. */
REEL_API int reel_http_stream_write(struct reel_http_req *req, const void *data, size_t len);

/* reel_http_stream_end - finish the stream (the last chunk). Returns 0 or a
 * write error; -EPROTO without a stream begun. */
REEL_API int reel_http_stream_end(struct reel_http_req *req);

/* What a generator passed to reel_http_stream_gen yields: a pointer to one
 * of these, valid until the producer resumes. */
struct reel_http_chunk {
	const void *data;
	size_t len;
};

/*
 * reel_http_stream_gen - stream the chunks generator @g yields (each value a
 * struct reel_http_chunk *), then end the stream; the generator is closed
 * before return in every case (a client that goes away closes it early:
 * its reel_gen_yield returns -ECANCELED). @g was started by the caller
 * (reel_gen_start) and is not used afterwards.
 * Returns 0 when the generator ended with status >= 0 and everything was
 * written; the generator's negative status (the stream is then cut off);
 * write errors.
 */
REEL_API int reel_http_stream_gen(struct reel_http_req *req, int status,
				  const char *content_type, struct reel_gen *g);

/*
 * reel_http_sse_begin - answer 200 text/event-stream (Cache-Control:
 * no-cache, X-Accel-Buffering: no), head sent at once. Then
 * reel_http_sse_send per event; a comment line keeps an idle stream alive
 * every sse_keepalive_ns; reel_http_stream_end (or returning) ends it.
 * The client leaving cancels the handler, as for streams.
 */
REEL_API int reel_http_sse_begin(struct reel_http_req *req);

/* One Server-Sent Event. NULL fields (0 for @retry_ms) are left out; @data
 * may hold newlines (each line becomes a "data:" line). @event and @id must
 * not contain CR or LF (-EINVAL). */
struct reel_http_event {
	const char *event;
	const char *id;
	const char *data;
	uint64_t retry_ms;
};
/* Send one event now. Returns 0, -EINVAL, -EPROTO outside an event stream,
 * or a write error. */
REEL_API int reel_http_sse_send(struct reel_http_req *req, const struct reel_http_event *ev);
/* Send a comment line (": @text"), e.g. a keep-alive. */
REEL_API int reel_http_sse_comment(struct reel_http_req *req, const char *text);

/* ---- client ------------------------------------------------------------------------ */

struct reel_http_client;  /* opaque: a keep-alive pool per origin */
struct reel_http_resp;    /* opaque: one response being read */

/*
 * Options of a client. NULL or zero fields mean the default.
 *  @max_idle_per_origin  idle connections kept per host:port (8)
 *  @idle_timeout_ns      an idle pooled connection is closed after (30 s,
 *                        or the server's Keep-Alive timeout less 1 s)
 *  @connect_timeout_ns   (10 s)
 *  @max_header_bytes, @max_headers, @max_body: as the server's, against a
 *                        hostile server (16 KiB, 100, 64 MiB): -EMSGSIZE
 *  @retries              an idempotent request (GET, HEAD, PUT, DELETE,
 *                        OPTIONS, TRACE) that fails on a reused connection
 *                        before any response byte is sent again on a fresh
 *                        one, up to this many times (1; reel_retry)
 */
struct reel_http_client_opts {
	unsigned max_idle_per_origin;
	uint64_t idle_timeout_ns;
	uint64_t connect_timeout_ns;
	size_t max_header_bytes;
	unsigned max_headers;
	size_t max_body;
	unsigned retries;
};

/* reel_http_client_create - an empty pool. Returns 0; -EINVAL; -ENOMEM.
 * Ownership: the caller frees it with reel_http_client_destroy (which
 * closes idle connections). Context: anywhere. */
REEL_API int reel_http_client_create(struct reel_http_client **c,
				     const struct reel_http_client_opts *opts);
/* -EBUSY while responses are open. NULL: 0. Context: the loop's thread. */
REEL_API int reel_http_client_destroy(struct reel_http_client *c);

/*
 * One request. @url: "http://host[:port]/path?query" where host is a name
 * (resolved by reel_connect_tcp: reel_getaddrinfo on the thread pool, then
 * every address tried, IPv6 raced against IPv4), "localhost" (127.0.0.1,
 * no lookup), a numeric IPv4 address or a bracketed IPv6 one ("[::1]"); a
 * "#fragment" is not sent. A name that does not resolve: -ENOENT. @headers: NULL, or name,
 * value pairs ending with a NULL name; Host, Content-Length and
 * Transfer-Encoding are the client's own (-EINVAL), as are names that are
 * not tokens and values with CR or LF. @body/@body_len: sent with
 * Content-Length, in the same send as the head (none when NULL and 0,
 * except "Content-Length: 0" for POST, PUT and PATCH). @timeout_ns: the
 * whole exchange, from connecting to the end of the body (each read gets
 * what remains); 0: none. The strings are read during reel_http_fetch only.
 */
struct reel_http_request {
	const char *method;
	const char *url;
	const char *const *headers;
	const void *body;
	size_t body_len;
	uint64_t timeout_ns;
};

/*
 * reel_http_fetch - send @rq and read the response head. Returns 0 with
 * *@resp, whose body is then read with reel_http_resp_read/_body/
 * reel_http_sse_next; -EINVAL (bad URL, method or header); -ETIMEDOUT;
 * -ECONNREFUSED and other connect errors; -EBADMSG for a malformed
 * response; -EMSGSIZE past a limit; -ECONNRESET when the server closed
 * without answering (after the retries); the caller's -ECANCELED.
 * Ownership: the caller closes *@resp with reel_http_resp_close.
 * Context: fiber only (-EPERM).
 */
REEL_API int reel_http_fetch(struct reel_http_client *c, const struct reel_http_request *rq,
			     struct reel_http_resp **resp);

/* The status code (-EINVAL for NULL), and the first header field @name
 * (case-insensitive, value without surrounding whitespace; NULL if absent;
 * trailers are not kept). The strings live until reel_http_resp_close.
 * Context: anywhere (they do not park). */
REEL_API int reel_http_resp_status(const struct reel_http_resp *resp);
REEL_API const char *reel_http_resp_header(const struct reel_http_resp *resp, const char *name);

/* reel_http_resp_read - the next body bytes (Content-Length, chunked or up
 * to the server's close). Returns > 0, 0 at the end, -EBADMSG for a body
 * cut short or malformed, -EMSGSIZE past max_body (or chunk extensions or
 * trailers past max_header_bytes), -ETIMEDOUT, -ECANCELED; -EINVAL for a
 * NULL @buf or @len 0. An error is sticky (every later read returns it, and
 * the connection is closed, not pooled). Context: fiber only (-EPERM). */
REEL_API ssize_t reel_http_resp_read(struct reel_http_resp *resp, void *buf, size_t len);

/* reel_http_resp_body - the whole body (at most @limit bytes, 0: max_body)
 * in memory @resp owns, NUL-terminated, valid until reel_http_resp_close;
 * a second call returns the same body. Returns its length or an error as
 * reel_http_resp_read (-EMSGSIZE over @limit). */
REEL_API ssize_t reel_http_resp_body(struct reel_http_resp *resp, const void **data, size_t limit);

/* One event read by reel_http_sse_next; strings live until the next call. */
struct reel_http_sse_msg {
	const char *event;   /* "message" when the stream gave none */
	const char *id;      /* the last id seen, "" when none */
	const char *data;    /* data lines joined with '\n' */
	uint64_t retry_ms;   /* the last retry field, 0 when none */
};

/* reel_http_sse_next - the next event of a text/event-stream response
 * (WHATWG field lines; CRLF, LF or CR line ends; comments skipped).
 * Returns 1 with *@msg; 0 at the end of the stream (an unfinished last
 * event is dropped); read errors. max_body bounds each event here, not the
 * whole stream (-EMSGSIZE), so a long-lived stream is not cut off.
 * Context: fiber only (-EPERM). */
REEL_API int reel_http_sse_next(struct reel_http_resp *resp, struct reel_http_sse_msg *msg);

/* reel_http_resp_close - done with @resp: a connection whose response was
 * read to its end goes back to the pool, else it is closed. NULL: 0. */
REEL_API int reel_http_resp_close(struct reel_http_resp *resp);

/*
 * reel_http_get - convenience: GET @url within @timeout_ns, the body (at
 * most @cap - 1 bytes, NUL-terminated) into @buf. Returns the status code
 * (> 0); reel_http_fetch's and read errors; -EMSGSIZE when the body does
 * not fit. Context: fiber only.
 */
REEL_API int reel_http_get(struct reel_http_client *c, const char *url, uint64_t timeout_ns,
			   char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* REEL_HTTP_H */
