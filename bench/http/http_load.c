/*
 * http_load - closed-loop HTTP/1.1 load generator for the HTTP benchmark:
 * C keep-alive connections, one request in flight on each, every response
 * parsed, checked and timed.
 *
 * Usage: http_load [-c CONNS] [-d SECONDS] [-w WARMUP] [-k hello|stream|sse]
 *                  [-m] HOST PORT
 *
 *   -k hello   GET /hello; the body must be "hello, world\n"
 *   -k stream  GET /stream; the body must be "chunk 0\n" ... "chunk 9\n"
 *   -k sse     GET /sse once per connection, then count the events each
 *              connection receives (one a second expected) and the gaps
 *
 * Each connection sends its next request as soon as the previous response
 * is complete. A request's latency runs from the io_uring_enter that hands
 * its send to the kernel to the completion that brings the response's last
 * byte; its time to first byte (TTFB) ends at the first byte of the body
 * (for /stream: the first chunk's data, not the head). Responses are parsed
 * as HTTP/1.1 (status line, Content-Length or chunked, trailers), and only
 * a 200 whose body is exactly the expected one counts; anything else (a
 * different status or body, bytes after the response, a closed connection,
 * "Connection: close") is an error: the connection is counted, shut down
 * and not reused, and the first error is printed on stderr. The run goes on
 * with the others; it fails (exit 1) only when every connection is dead or
 * nothing has progressed for STALL_NS.
 *
 * Why not wrk: on this 2-vCPU guest one wrk thread saturates near 55k
 * requests/s and its tail latencies are corrected estimates, not every
 * request's time. The engine is echo_load's (bench/echo/echo_load.c): raw
 * liburing, a multishot recv per connection into provided buffers, parsed
 * in place, and sends whose success posts no CQE; one io_uring_enter per
 * loop turn. Not reel, so a reel bug cannot sit on both sides.
 *
 * SSE mode: events are counted per connection within the window; a gap
 * between two events (or between the window's edges and the nearest event)
 * longer than 1.5 periods counts round(gap / period) - 1 missed events.
 *
 * -m prints what reel-bench reads: "start", "stop", then one line
 *   "result reqs=N window_ns=N p50_ns=N p99_ns=N p999_ns=N max_ns=N
 *    ttfb_p50_ns=N ttfb_p99_ns=N ttfb_p999_ns=N cpu_ns=N errors=N"
 * or, with -k sse,
 *   "result sse conns=N events=N expected=N missed=N max_gap_ns=N
 *    window_ns=N cpu_ns=N errors=N"
 */
#include "http_common.h"

#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#define PROG "http_load"
#define HEAD_MAX 1024
#define STALL_NS (5 * 1000000000ull)
#define POLL_MS 100
#define BGID 0

enum kind { K_HELLO, K_STREAM, K_SSE };

/* Parser states of a response. */
enum { ST_HEAD, ST_BODY, ST_CSIZE, ST_CDATA, ST_CCRLF, ST_TRAILER, ST_DEAD };

struct conn {
	int fd;
	uint8_t st;
	bool chunked, sending, first;
	uint16_t hlen;
	uint16_t llen;          /* chunk-size or trailer line so far */
	uint64_t left;          /* of the body or the chunk */
	uint32_t body_off;      /* decoded body bytes so far */
	uint64_t t_sent, t_first;
	/* SSE */
	uint32_t events;
	uint8_t lpos;           /* bytes of the current line seen (capped) */
	bool lis_data, has_data;
	uint64_t last_ev;
	char head[HEAD_MAX];
};

static struct opts {
	unsigned conns;
	double seconds, warmup;
	enum kind kind;
	bool machine;
	const char *host, *port;
} o;

static struct conn *conns;
static char request[256];
static size_t request_len;
static char expect[256];
static size_t expect_len;

static struct {
	bool recording, running;
	uint64_t warm_end, t0, t1, cpu0, end, last_progress, reqs;
	uint64_t errors;
	unsigned dead;
	uint32_t *lat, *ttfb;   /* ns, one per response in the window */
	size_t nlat, caplat;
	/* SSE */
	uint64_t period_ns, events, missed, max_gap;
} run;

static struct {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned nbufs, buf_size;
	bool skip;
	struct conn **starting;
	unsigned nstarting;
} u;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, PROG ": %s: %s\n", what, why);
	exit(1);
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " [-c CONNS] [-d SECONDS] [-w WARMUP] [-k hello|stream|sse] "
		"[-m] HOST PORT\n"
		"  -c CONNS    keep-alive connections, one request in flight each (50)\n"
		"  -d SECONDS  length of the measured window (5)\n"
		"  -w WARMUP   seconds of traffic before the window, not counted (0.5)\n"
		"  -k KIND     hello: GET /hello; stream: GET /stream (10 chunks);\n"
		"              sse: GET /sse, count events (hello)\n"
		"  -m          machine-readable output for reel-bench\n");
	exit(status);
}

static double parse_seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || !(v >= 0 && v <= 86400))
		usage(2);
	return v;
}

static void parse_opts(int argc, char **argv)
{
	int c;
	long v;

	o = (struct opts){ .conns = 50, .seconds = 5, .warmup = 0.5 };
	while ((c = getopt(argc, argv, "c:d:w:k:mh")) != -1) {
		switch (c) {
		case 'c':
			if ((v = echo_parse_num(optarg, 1, 1000000)) < 0)
				usage(2);
			o.conns = (unsigned)v;
			break;
		case 'd':
			o.seconds = parse_seconds(optarg);
			break;
		case 'w':
			o.warmup = parse_seconds(optarg);
			break;
		case 'k':
			if (strcmp(optarg, "hello") == 0)
				o.kind = K_HELLO;
			else if (strcmp(optarg, "stream") == 0)
				o.kind = K_STREAM;
			else if (strcmp(optarg, "sse") == 0)
				o.kind = K_SSE;
			else
				usage(2);
			break;
		case 'm':
			o.machine = true;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (argc - optind != 2 || o.seconds <= 0)
		usage(2);
	o.host = argv[optind];
	o.port = argv[optind + 1];
}

static void setup_request(void)
{
	static const char *const paths[] = { "/hello", "/stream", "/sse" };

	request_len = (size_t)snprintf(request, sizeof(request),
				       "GET %s HTTP/1.1\r\nHost: %s:%s\r\n%s\r\n",
				       paths[o.kind], o.host, o.port,
				       o.kind == K_SSE ? "Accept: text/event-stream\r\n" : "");
	if (o.kind == K_HELLO) {
		expect_len = strlen(HTTP_HELLO_BODY);
		memcpy(expect, HTTP_HELLO_BODY, expect_len);
	} else if (o.kind == K_STREAM) {
		for (unsigned i = 0; i < HTTP_STREAM_CHUNKS; i++)
			expect_len += (size_t)http_stream_chunk(expect + expect_len,
								sizeof(expect) - expect_len, i);
	}
	run.period_ns = HTTP_SSE_PERIOD_MS * 1000000ull;
}

static void connect_all(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int err = getaddrinfo(o.host, o.port, &hints, &ai);

	if (err)
		die("bad address", gai_strerror(err));
	conns = calloc(o.conns, sizeof(*conns));
	if (!conns)
		die("connections", "out of memory");
	for (unsigned i = 0; i < o.conns; i++) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("socket", strerror(errno));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			die("connect", strerror(errno));
		echo_nodelay(fd);
		conns[i].fd = fd;
	}
	freeaddrinfo(ai);
}

static void record(uint64_t lat, uint64_t ttfb)
{
	if (run.nlat == run.caplat) {
		size_t cap = run.caplat ? run.caplat * 2 : 1u << 18;
		uint32_t *p = realloc(run.lat, cap * sizeof(*p));
		uint32_t *q = realloc(run.ttfb, cap * sizeof(*q));

		if (!p || !q)
			die("latencies", "out of memory");
		run.lat = p;
		run.ttfb = q;
		run.caplat = cap;
	}
	run.lat[run.nlat] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	run.ttfb[run.nlat++] = ttfb > UINT32_MAX ? UINT32_MAX : (uint32_t)ttfb;
}

static void say(const char *line)
{
	if (o.machine) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* ---- the ring ---- */

static struct io_uring_sqe *uring_sqe(void)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&u.ring)) == NULL)
		(void)io_uring_submit(&u.ring);
	return sqe;
}

static unsigned pow2_at_least(unsigned n, unsigned min, unsigned max)
{
	unsigned p = min;

	while (p < n && p < max)
		p *= 2;
	return p;
}

static void uring_setup(void)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	struct io_uring_buf_reg reg = { 0 };
	unsigned entries = pow2_at_least(2 * o.conns, 256, 32768);
	int err = io_uring_queue_init_params(entries, &u.ring, &p);
	int mask;

	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(entries, &u.ring, &p);
	}
	if (err < 0)
		die("io_uring_queue_init", strerror(-err));
	u.skip = p.features & IORING_FEAT_CQE_SKIP;
	u.nbufs = pow2_at_least(2 * o.conns, 64, 32768);
	u.buf_size = 2048;
	u.br = mmap(NULL, u.nbufs * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	u.bufs = malloc((size_t)u.nbufs * u.buf_size);
	if (u.br == MAP_FAILED || !u.bufs)
		die("buffer ring", "out of memory");
	io_uring_buf_ring_init(u.br);
	reg.ring_addr = (unsigned long)(uintptr_t)u.br;
	reg.ring_entries = u.nbufs;
	reg.bgid = BGID;
	if ((err = io_uring_register_buf_ring(&u.ring, &reg, 0)) < 0)
		die("io_uring_register_buf_ring (needs Linux 5.19)", strerror(-err));
	mask = io_uring_buf_ring_mask(u.nbufs);
	for (unsigned b = 0; b < u.nbufs; b++)
		io_uring_buf_ring_add(u.br, u.bufs + (size_t)b * u.buf_size, u.buf_size,
				      (unsigned short)b, mask, (int)b);
	io_uring_buf_ring_advance(u.br, (int)u.nbufs);
	u.starting = calloc(o.conns, sizeof(*u.starting));
	if (!u.starting)
		die("set-up", "out of memory");
}

/* user_data: connection index << 2 | operation. */
enum { UD_SEND = 1, UD_RECV = 2, UD_MASK = 3 };

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe();

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)(c - conns) << 2 | UD_RECV);
}

static void send_request(struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe();

	c->st = ST_HEAD;
	c->hlen = c->llen = 0;
	c->body_off = 0;
	c->chunked = false;
	c->first = true;
	c->t_first = 0;
	io_uring_prep_send(sqe, c->fd, request, request_len, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(c - conns) << 2 | UD_SEND);
	if (u.skip)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	if (!c->sending) {
		c->sending = true;
		u.starting[u.nstarting++] = c;
	}
}

/* ---- errors ---- */

static void conn_error(struct conn *c, const char *why)
{
	if (c->st == ST_DEAD)
		return;
	if (run.errors++ == 0)
		fprintf(stderr, PROG ": connection %u: %s\n", (unsigned)(c - conns), why);
	c->st = ST_DEAD;
	(void)shutdown(c->fd, SHUT_RDWR);   /* ends its multishot recv */
	if (++run.dead == o.conns) {
		fprintf(stderr, PROG ": every connection failed\n");
		exit(1);
	}
}

/* ---- parsing ---- */

static bool name_is(const char *line, size_t len, const char *name, const char **value,
		    size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*value = line + n + 1;
	*vlen = len - n - 1;
	while (*vlen && (**value == ' ' || **value == '\t')) {
		(*value)++;
		(*vlen)--;
	}
	while (*vlen && ((*value)[*vlen - 1] == ' ' || (*value)[*vlen - 1] == '\t'))
		(*vlen)--;
	return true;
}

/* The head in c->head (c->hlen bytes, ending with CRLF CRLF): the state of
 * its body, or false after conn_error. */
static bool parse_head(struct conn *c)
{
	const char *p = c->head, *end = c->head + c->hlen;
	bool have_len = false;
	uint64_t len = 0;

	if (c->hlen < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0) {
		conn_error(c, "not an HTTP/1.1 response");
		return false;
	}
	if (memcmp(p + 9, "200", 3) != 0) {
		char why[64];

		snprintf(why, sizeof(why), "status %.3s, not 200", p + 9);
		conn_error(c, why);
		return false;
	}
	p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *v;
		size_t l = (size_t)(nl - p), vl;

		if (l && p[l - 1] == '\r')
			l--;
		if (l == 0)
			break;
		if (name_is(p, l, "content-length", &v, &vl)) {
			char *e;
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)(vl < 23 ? vl : 23), v);
			len = strtoull(num, &e, 10);
			if (!vl || *e) {
				conn_error(c, "bad Content-Length");
				return false;
			}
			have_len = true;
		} else if (name_is(p, l, "transfer-encoding", &v, &vl)) {
			c->chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
		} else if (name_is(p, l, "connection", &v, &vl)) {
			if (vl == 5 && strncasecmp(v, "close", 5) == 0) {
				conn_error(c, "the server closes the connection "
					   "(Connection: close): not keep-alive");
				return false;
			}
		}
		p = nl + 1;
	}
	if (c->chunked) {
		c->st = ST_CSIZE;
	} else if (have_len) {
		c->st = ST_BODY;
		c->left = len;
	} else {
		conn_error(c, "neither Content-Length nor chunked");
		return false;
	}
	return true;
}

/* SSE: scan decoded body bytes for events (a "data:" line, then an empty
 * line). */
static void sse_bytes(struct conn *c, const char *p, size_t n, uint64_t now)
{
	static const char data[] = "data:";

	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '\r')
			continue;
		if (ch == '\n') {
			if (c->lpos == 0 && c->has_data) {
				c->has_data = false;
				if (run.recording && now <= run.end) {
					uint64_t gap = now - c->last_ev;

					c->events++;
					run.events++;
					if (gap > run.max_gap)
						run.max_gap = gap;
					if (gap * 2 > 3 * run.period_ns)
						run.missed += (gap + run.period_ns / 2) /
							      run.period_ns - 1;
				}
				c->last_ev = now;
				run.last_progress = now;
			}
			c->has_data |= c->lis_data;
			c->lpos = 0;
			c->lis_data = false;
			continue;
		}
		if (c->lpos < 5 && ch != data[c->lpos])
			c->lpos = 200;  /* not a data line */
		else if (c->lpos < 200)
			c->lpos++;
		if (c->lpos == 5)
			c->lis_data = true;
	}
}

/* @n decoded body bytes. */
static bool body_bytes(struct conn *c, const char *p, size_t n, uint64_t now)
{
	if (c->first) {
		c->first = false;
		c->t_first = now;
	}
	if (o.kind == K_SSE) {
		sse_bytes(c, p, n, now);
		return true;
	}
	if (c->body_off + n > expect_len || memcmp(expect + c->body_off, p, n) != 0) {
		conn_error(c, "the body differs from the expected one");
		return false;
	}
	c->body_off += (uint32_t)n;
	return true;
}

static void response_done(struct conn *c, uint64_t now, size_t extra)
{
	if (extra) {
		conn_error(c, "bytes after the response (none were asked for)");
		return;
	}
	if (c->body_off != expect_len) {
		conn_error(c, "the body is shorter than the expected one");
		return;
	}
	run.last_progress = now;
	if (run.recording) {
		record(now - c->t_sent, c->t_first - c->t_sent);
		run.reqs++;
	}
	if (run.running)
		send_request(c);
	else
		c->st = ST_DEAD;        /* the run is over: ignore what follows */
}

/* Parse @n received bytes at @p. */
static void consume(struct conn *c, const char *p, size_t n, uint64_t now)
{
	while (n && c->st != ST_DEAD) {
		size_t k;

		switch (c->st) {
		case ST_HEAD: {
			size_t old = c->hlen, room = HEAD_MAX - old, from;
			const char *e;

			k = n < room ? n : room;
			memcpy(c->head + old, p, k);
			c->hlen = (uint16_t)(old + k);
			from = old > 3 ? old - 3 : 0;
			e = memmem(c->head + from, c->hlen - from, "\r\n\r\n", 4);
			if (!e) {
				if (c->hlen == HEAD_MAX)
					conn_error(c, "response head over 1 KiB");
				return;
			}
			c->hlen = (uint16_t)(e + 4 - c->head);
			k = c->hlen - old;
			p += k;
			n -= k;
			if (!parse_head(c))
				return;
			if (c->st == ST_BODY && c->left == 0) {
				response_done(c, now, n);
				return;
			}
			break;
		}
		case ST_BODY:
		case ST_CDATA:
			k = n < c->left ? n : (size_t)c->left;
			if (!body_bytes(c, p, k, now))
				return;
			p += k;
			n -= k;
			c->left -= k;
			if (c->left)
				break;
			if (c->st == ST_BODY) {
				response_done(c, now, n);
				return;
			}
			c->st = ST_CCRLF;
			c->llen = 0;
			break;
		case ST_CCRLF:
			if (*p != (c->llen ? '\n' : '\r')) {
				conn_error(c, "a chunk does not end with CRLF");
				return;
			}
			p++;
			n--;
			if (++c->llen == 2) {
				c->st = ST_CSIZE;
				c->llen = 0;
				c->left = 0;
			}
			break;
		case ST_CSIZE: {
			char ch = *p++;
			int d;

			n--;
			if (ch == '\n') {
				if (c->llen == 0) {
					conn_error(c, "an empty chunk-size line");
					return;
				}
				c->llen = 0;
				c->st = c->left ? ST_CDATA : ST_TRAILER;
				break;
			}
			if (c->llen >= 0x8000)
				break;          /* in a chunk extension: skipped */
			d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ?
			    ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
			if (d >= 0 && c->llen < 15) {
				c->left = c->left * 16 + (unsigned)d;
				c->llen++;
			} else if ((ch == ';' || ch == '\r') && c->llen) {
				c->llen |= 0x8000;
			} else {
				conn_error(c, "a malformed chunk-size line");
				return;
			}
			break;
		}
		case ST_TRAILER: {
			char ch = *p++;

			n--;
			if (ch == '\n') {
				if (c->llen == 0) {
					response_done(c, now, n);
					return;
				}
				c->llen = 0;
			} else if (ch != '\r') {
				c->llen++;
			}
			break;
		}
		}
	}
}

/* ---- the loop ---- */

static void on_cqe(const struct io_uring_cqe *cqe, uint64_t now)
{
	struct conn *c = &conns[cqe->user_data >> 2];
	int res = cqe->res;
	unsigned bid;

	if ((cqe->user_data & UD_MASK) == UD_SEND) {
		if (res != (int)request_len)
			conn_error(c, res < 0 ? strerror(-res) : "short send");
		return;
	}
	if (res == -ENOBUFS) {          /* all buffers out: re-arm */
		if (c->st != ST_DEAD)
			arm_recv(c);
		return;
	}
	if (res <= 0) {
		if (c->st != ST_DEAD)
			conn_error(c, res < 0 ? strerror(-res) : "the server closed the connection");
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		die("recv", "no buffer selected");
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	consume(c, u.bufs + (size_t)bid * u.buf_size, (size_t)res, now);
	io_uring_buf_ring_add(u.br, u.bufs + (size_t)bid * u.buf_size, u.buf_size,
			      (unsigned short)bid, io_uring_buf_ring_mask(u.nbufs), 0);
	io_uring_buf_ring_advance(u.br, 1);
	if (!(cqe->flags & IORING_CQE_F_MORE) && c->st != ST_DEAD)
		arm_recv(c);
}

/* Once per loop turn: warm-up -> window -> end, and the stall check. */
static void phase(uint64_t now)
{
	if (!run.recording && run.running && now >= run.warm_end) {
		run.recording = true;
		run.t0 = now;
		run.cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		run.end = now + (uint64_t)(o.seconds * 1e9);
		for (unsigned i = 0; i < o.conns; i++)
			if (conns[i].last_ev < now)
				conns[i].last_ev = now;
		say("start");
	}
	if (run.running && now >= run.end) {
		run.running = false;
		run.t1 = now;
	}
	if (now - run.last_progress > STALL_NS) {
		fprintf(stderr, PROG ": nothing received for %.1f s (%" PRIu64 " errors, "
			"%u of %u connections dead)\n", (double)STALL_NS / 1e9, run.errors,
			run.dead, o.conns);
		exit(1);
	}
}

static void loop(void)
{
	struct __kernel_timespec ts = { .tv_nsec = POLL_MS * 1000000ll };
	struct io_uring_cqe *cqe;
	unsigned head, n;
	uint64_t now;

	uring_setup();
	now = now_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < o.conns; i++) {
		conns[i].last_ev = now;
		arm_recv(&conns[i]);
		send_request(&conns[i]);
	}
	while (run.running) {
		now = now_ns(CLOCK_MONOTONIC);
		for (unsigned i = 0; i < u.nstarting; i++) {
			u.starting[i]->t_sent = now;
			u.starting[i]->sending = false;
		}
		u.nstarting = 0;
		(void)io_uring_submit_and_wait_timeout(&u.ring, &cqe, 1, &ts, NULL);
		now = now_ns(CLOCK_MONOTONIC);
		n = 0;
		io_uring_for_each_cqe(&u.ring, head, cqe) {
			n++;
			on_cqe(cqe, now);
		}
		io_uring_cq_advance(&u.ring, n);
		phase(now);
	}
}

/* ---- results ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank of sorted @v. */
static uint64_t percentile(const uint32_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)((double)n * p + 0.999999);
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return v[rank - 1];
}

static void report_sse(uint64_t window_ns, uint64_t cpu_ns)
{
	uint64_t expected = (uint64_t)((double)o.conns * o.seconds * 1e9 /
				       (double)run.period_ns);
	unsigned live = o.conns - run.dead;

	/* The tail of each connection: from its last event to the window's end. */
	for (unsigned i = 0; i < o.conns; i++) {
		uint64_t gap = run.t1 - conns[i].last_ev;

		if (conns[i].st == ST_DEAD && conns[i].last_ev < run.t0)
			continue;       /* counted as an error */
		if (run.t1 > conns[i].last_ev && gap * 2 > 3 * run.period_ns) {
			run.missed += gap / run.period_ns;
			if (gap > run.max_gap)
				run.max_gap = gap;
		}
	}
	if (o.machine) {
		printf("result sse conns=%u events=%" PRIu64 " expected=%" PRIu64
		       " missed=%" PRIu64 " max_gap_ns=%" PRIu64 " window_ns=%" PRIu64
		       " cpu_ns=%" PRIu64 " errors=%" PRIu64 "\n", live, run.events,
		       expected, run.missed, run.max_gap, window_ns, cpu_ns, run.errors);
		fflush(stdout);
		return;
	}
	printf(PROG ": %s:%s GET /sse, %u connections (%u alive), window %.3f s after "
	       "%.1f s\n", o.host, o.port, o.conns, live, (double)window_ns / 1e9, o.warmup);
	printf("  events   %" PRIu64 " of about %" PRIu64 " (one per second per stream), "
	       "%" PRIu64 " missed, longest gap %.3f s\n", run.events, expected,
	       run.missed, (double)run.max_gap / 1e9);
	printf("  errors   %" PRIu64 "\n  load CPU %.0f%% of one core\n", run.errors,
	       100.0 * (double)cpu_ns / (double)window_ns);
}

static void report(uint64_t window_ns, uint64_t cpu_ns)
{
	uint64_t p50, p99, p999, max, t50, t99, t999;

	qsort(run.lat, run.nlat, sizeof(*run.lat), cmp_u32);
	qsort(run.ttfb, run.nlat, sizeof(*run.ttfb), cmp_u32);
	p50 = percentile(run.lat, run.nlat, 0.50);
	p99 = percentile(run.lat, run.nlat, 0.99);
	p999 = percentile(run.lat, run.nlat, 0.999);
	max = run.nlat ? run.lat[run.nlat - 1] : 0;
	t50 = percentile(run.ttfb, run.nlat, 0.50);
	t99 = percentile(run.ttfb, run.nlat, 0.99);
	t999 = percentile(run.ttfb, run.nlat, 0.999);
	if (o.machine) {
		printf("result reqs=%" PRIu64 " window_ns=%" PRIu64 " p50_ns=%" PRIu64
		       " p99_ns=%" PRIu64 " p999_ns=%" PRIu64 " max_ns=%" PRIu64
		       " ttfb_p50_ns=%" PRIu64 " ttfb_p99_ns=%" PRIu64 " ttfb_p999_ns=%" PRIu64
		       " cpu_ns=%" PRIu64 " errors=%" PRIu64 "\n", run.reqs, window_ns, p50,
		       p99, p999, max, t50, t99, t999, cpu_ns, run.errors);
		fflush(stdout);
		return;
	}
	printf(PROG ": %s:%s GET %s, %u connections, window %.3f s after %.1f s warm-up\n",
	       o.host, o.port, o.kind == K_HELLO ? "/hello" : "/stream", o.conns,
	       (double)window_ns / 1e9, o.warmup);
	printf("  throughput  %.0f req/s (%" PRIu64 " responses, %" PRIu64 " errors)\n",
	       (double)run.reqs * 1e9 / (double)window_ns, run.reqs, run.errors);
	printf("  latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
	       (double)p50 / 1e3, (double)p99 / 1e3, (double)p999 / 1e3, (double)max / 1e3);
	printf("  TTFB        p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
	       (double)t50 / 1e3, (double)t99 / 1e3, (double)t999 / 1e3);
	printf("  load CPU    %.0f%% of one core (near 100%%: the generator may be "
	       "the bottleneck)\n", 100.0 * (double)cpu_ns / (double)window_ns);
}

int main(int argc, char **argv)
{
	uint64_t cpu, now;

	parse_opts(argc, argv);
	setup_request();
	echo_raise_nofile();
	alarm((unsigned)(o.warmup + o.seconds) + 60);   /* ends by itself */
	connect_all();
	now = now_ns(CLOCK_MONOTONIC);
	run.running = true;
	run.end = UINT64_MAX;
	run.warm_end = now + (uint64_t)(o.warmup * 1e9);
	run.last_progress = now;
	loop();
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - run.cpu0;
	say("stop");
	if (o.kind == K_SSE)
		report_sse(run.t1 - run.t0, cpu);
	else
		report(run.t1 - run.t0, cpu);
	return 0;
}
