/*
 * http_floor - the HTTP benchmark's floor: the least a single-threaded
 * io_uring HTTP/1.1 server can do for the benchmark's routes, with no
 * framework and no parser beyond finding the request line and the head's
 * end. It is what reel's server is compared against to see its overhead,
 * not a server to use: it ignores request headers and bodies (a request
 * with a body is not understood) and only knows three paths.
 *
 * Usage: http_floor PORT [SECONDS]
 *
 *   GET /hello   200, "hello, world\n" with Content-Length, one send
 *   GET /stream  200, chunked: "chunk 0\n" with the head, then one chunk
 *                every 20 ms (an io_uring timeout per connection), the
 *                last with the terminating chunk
 *   GET /sse     200 text/event-stream, chunked: "data: tick N\n\n" at
 *                once and every second until the client leaves
 *   other        404 for a GET; any other method closes the connection
 *
 * The loop is reel's shape (HTTP-NOTES §1): ring with SINGLE_ISSUER |
 * DEFER_TASKRUN, one multishot accept, a multishot recv per connection
 * into a ring of provided buffers, sends queued as SQEs, one
 * submit-and-wait per turn. Responses carry Server and Date (formatted
 * once a second), as every peer's do. Pipelined requests are answered in
 * order from one buffer; a stream holds back the requests behind it.
 * SIGTERM, SIGINT or the SECONDS limit end it with status 0.
 */
#include "http_common.h"

#include <liburing.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#define PROG "http_floor"
#define IN_MAX 4096
#define OUT_MAX 8192
#define BGID 0
#define NBUFS 4096
#define BUF_SIZE 2048

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_TIMER, OP_SIGNAL, OP_CANCEL };
enum { R_NONE, R_STREAM, R_SSE };

struct conn {
	int fd;
	bool recv_armed, send_inflight, timer_armed, closing;
	uint8_t route;          /* a stream in progress */
	unsigned step;          /* chunks or events sent */
	uint32_t in_len;
	uint32_t out_off, out_len, out_inflight;
	struct __kernel_timespec ts;
	char in[IN_MAX];
	char out[OUT_MAX];
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static int lfd, sfd;
static struct signalfd_siginfo siginfo;
static char date[64];           /* "Date: ...\r\n" */
static time_t date_at;
static unsigned open_conns;

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&ring)) == NULL)
		(void)io_uring_submit(&ring);
	return sqe;
}

static void set_ud(struct io_uring_sqe *sqe, void *p, unsigned op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | op);
}

static void update_date(void)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	if (now == date_at)
		return;
	date_at = now;
	gmtime_r(&now, &tm);
	snprintf(date, sizeof(date), "Date: %s, %02d %s %d %02d:%02d:%02d GMT\r\n",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- output ---- */

static void flush(struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->send_inflight || c->out_off == c->out_len || c->closing)
		return;
	c->out_inflight = c->out_len - c->out_off;
	sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_inflight, MSG_NOSIGNAL);
	set_ud(sqe, c, OP_SEND);
	c->send_inflight = true;
}

static bool append(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool append(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->out_off == c->out_len && !c->send_inflight)
		c->out_off = c->out_len = 0;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, OUT_MAX - c->out_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint32_t)n >= OUT_MAX - c->out_len)
		return false;
	c->out_len += (uint32_t)n;
	return true;
}

/* ---- connections ---- */

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	set_ud(sqe, c, OP_RECV);
	c->recv_armed = true;
}

static void arm_timer(struct conn *c, unsigned ms)
{
	struct io_uring_sqe *sqe = get_sqe();

	c->ts.tv_sec = ms / 1000;
	c->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &c->ts, 0, 0);
	set_ud(sqe, c, OP_TIMER);
	c->timer_armed = true;
}

/* Close once nothing of the ring refers to @c any more. */
static void maybe_free(struct conn *c)
{
	if (!c->closing || c->recv_armed || c->send_inflight || c->timer_armed)
		return;
	close(c->fd);
	free(c);
	open_conns--;
}

static void drop(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	(void)shutdown(c->fd, SHUT_RDWR);       /* ends the multishot recv */
	if (c->timer_armed) {
		struct io_uring_sqe *sqe = get_sqe();

		io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)c | OP_TIMER, 0);
		set_ud(sqe, c, OP_CANCEL);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	}
	/* Freed by maybe_free, which every completion handler calls last. */
}

/* ---- requests ---- */

static void stream_step(struct conn *c)
{
	char chunk[32];
	int n;

	if (c->route == R_STREAM) {
		n = http_stream_chunk(chunk, sizeof(chunk), c->step);
		if (!append(c, "%x\r\n%s\r\n%s", (unsigned)n, chunk,
			    c->step + 1 == HTTP_STREAM_CHUNKS ? "0\r\n\r\n" : "")) {
			drop(c);
			return;
		}
		if (++c->step == HTTP_STREAM_CHUNKS)
			c->route = R_NONE;
		else
			arm_timer(c, HTTP_STREAM_GAP_MS);
	} else {
		n = snprintf(chunk, sizeof(chunk), "data: tick %u\n\n", c->step++);
		if (!append(c, "%x\r\n%s\r\n", (unsigned)n, chunk)) {
			drop(c);
			return;
		}
		arm_timer(c, HTTP_SSE_PERIOD_MS);
	}
	flush(c);
}

/* Answer the complete requests in c->in, in order; a stream stops there
 * until it ends. */
static void handle(struct conn *c)
{
	while (c->route == R_NONE && !c->closing) {
		char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		size_t used;

		if (!end)
			break;
		used = (size_t)(end + 4 - c->in);
		update_date();
		if (strncmp(c->in, "GET /hello ", 11) == 0) {
			if (!append(c, "HTTP/1.1 200 OK\r\nServer: floor\r\n%sContent-Type: "
				    "text/plain\r\nContent-Length: %zu\r\n\r\n%s", date,
				    strlen(HTTP_HELLO_BODY), HTTP_HELLO_BODY)) {
				drop(c);
				return;
			}
		} else if (strncmp(c->in, "GET /stream ", 12) == 0 ||
			   strncmp(c->in, "GET /sse ", 9) == 0) {
			bool sse = c->in[5] == 's' && c->in[6] == 's';

			if (!append(c, "HTTP/1.1 200 OK\r\nServer: floor\r\n%sContent-Type: "
				    "%s\r\nTransfer-Encoding: chunked\r\n\r\n", date,
				    sse ? "text/event-stream\r\nCache-Control: no-cache" :
					  "text/plain")) {
				drop(c);
				return;
			}
			c->route = sse ? R_SSE : R_STREAM;
			c->step = 0;
		} else if (strncmp(c->in, "GET ", 4) == 0) {
			if (!append(c, "HTTP/1.1 404 Not Found\r\nServer: floor\r\n%s"
				    "Content-Length: 0\r\n\r\n", date)) {
				drop(c);
				return;
			}
		} else {
			drop(c);        /* not a GET: not for the floor */
			return;
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= (uint32_t)used;
		if (c->route != R_NONE)
			stream_step(c);
	}
	flush(c);
}

/* ---- completions ---- */

static void on_accept(const struct io_uring_cqe *cqe)
{
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		struct io_uring_sqe *sqe = get_sqe();

		io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
		set_ud(sqe, NULL, OP_ACCEPT);
	}
	if (cqe->res < 0)
		return;         /* EMFILE and friends: the next one may do */
	c = aligned_alloc(8, sizeof(*c));
	if (!c) {
		close(cqe->res);
		return;
	}
	memset(c, 0, offsetof(struct conn, in));
	c->fd = cqe->res;
	echo_nodelay(c->fd);
	open_conns++;
	arm_recv(c);
}

static void on_recv(struct conn *c, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (cqe->res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint32_t n = (uint32_t)cqe->res;

		if (!c->closing) {
			if (n > IN_MAX - c->in_len) {
				drop(c);        /* a head over 4 KiB: not for the floor */
			} else {
				memcpy(c->in + c->in_len, bufs + (size_t)bid * BUF_SIZE, n);
				c->in_len += n;
			}
		}
		io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
				      (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), 0);
		io_uring_buf_ring_advance(br, 1);
		if (!c->closing)
			handle(c);
		if (!c->recv_armed && !c->closing)
			arm_recv(c);
	} else if (cqe->res == -ENOBUFS && !c->closing) {
		if (!c->recv_armed)
			arm_recv(c);
	} else {
		drop(c);        /* the client left (0) or the socket failed */
	}
	maybe_free(c);
}

static void on_send(struct conn *c, const struct io_uring_cqe *cqe)
{
	c->send_inflight = false;
	if (cqe->res < 0) {
		drop(c);
	} else {
		c->out_off += (uint32_t)cqe->res;
		flush(c);
	}
	maybe_free(c);
}

static void on_timer(struct conn *c)
{
	c->timer_armed = false;
	if (!c->closing) {
		stream_step(c);
		if (c->route == R_NONE)
			handle(c);      /* requests that waited behind the stream */
	}
	maybe_free(c);
}

static void setup(void)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	struct io_uring_buf_reg reg = { 0 };
	int err = io_uring_queue_init_params(4096, &ring, &p);

	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(4096, &ring, &p);
	}
	if (err < 0) {
		fprintf(stderr, PROG ": io_uring_queue_init: %s\n", strerror(-err));
		exit(1);
	}
	br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	bufs = malloc((size_t)NBUFS * BUF_SIZE);
	if (br == MAP_FAILED || !bufs) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)(uintptr_t)br;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	if ((err = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
		fprintf(stderr, PROG ": io_uring_register_buf_ring: %s\n", strerror(-err));
		exit(1);
	}
	for (unsigned b = 0; b < NBUFS; b++)
		io_uring_buf_ring_add(br, bufs + (size_t)b * BUF_SIZE, BUF_SIZE,
				      (unsigned short)b, io_uring_buf_ring_mask(NBUFS), (int)b);
	io_uring_buf_ring_advance(br, NBUFS);
}

int main(int argc, char **argv)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned seconds, head, n;
	bool running = true;
	int port;

	echo_server_args(argc, argv, "a raw liburing HTTP/1.1 floor", &port, &seconds);
	echo_raise_nofile();
	if ((sfd = echo_stop_signalfd(0)) < 0)
		return 1;
	if ((lfd = echo_listen(PROG, port, 0)) < 0)
		return 1;
	setup();
	sqe = get_sqe();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	set_ud(sqe, NULL, OP_ACCEPT);
	sqe = get_sqe();
	io_uring_prep_read(sqe, sfd, &siginfo, sizeof(siginfo), 0);
	set_ud(sqe, NULL, OP_SIGNAL);
	if (seconds)
		alarm(seconds);
	echo_announce(PROG, echo_bound_port(lfd));
	while (running) {
		if (io_uring_submit_and_wait(&ring, 1) < 0 && errno != EINTR)
			break;
		n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			struct conn *c = (struct conn *)(uintptr_t)(ud & ~7ull);

			n++;
			switch (ud & 7) {
			case OP_ACCEPT:
				on_accept(cqe);
				break;
			case OP_RECV:
				on_recv(c, cqe);
				break;
			case OP_SEND:
				on_send(c, cqe);
				break;
			case OP_TIMER:
				on_timer(c);
				break;
			case OP_SIGNAL:
				running = false;
				break;
			default:
				break;
			}
		}
		io_uring_cq_advance(&ring, n);
	}
	fprintf(stderr, PROG ": stopping with %u connections open\n", open_conns);
	return 0;
}
