/*
 * echo_load - load generator for echo servers: C connections playing
 * ping-pong, every round trip timed.
 *
 * Usage: echo_load [-c CONNS] [-s SIZE] [-d SECONDS | -n MESSAGES]
 *                  [-w WARMUP] [-e uring|epoll] [-m] HOST PORT
 *
 * Each connection sends a SIZE-byte message, reads SIZE bytes back, checks
 * they are the bytes it sent (a sequence number and the connection's own
 * pattern), and sends the next one at once: a closed loop with exactly one
 * message in flight per connection. The latency of every round trip, from
 * the moment its send enters the kernel to the moment its last byte has
 * been read, is stored (CLOCK_MONOTONIC, ns); after the window they are
 * sorted for p50, p99, p99.9 and the maximum. Round trips that complete
 * during the warm-up (connections just opened, caches and the server's
 * allocations cold) are not counted.
 *
 * It must not be the bottleneck, and it must not share the thing measured,
 * so it is not written with reel: a reel bug or slowdown would otherwise
 * sit on both sides of the socket. One thread, two engines:
 *   uring (default): raw liburing, the cheapest client this machine allows.
 *     One multishot recv per connection into a ring of provided buffers,
 *     armed once for the whole run, and per round trip one send SQE whose
 *     success posts no CQE (IOSQE_CQE_SKIP_SUCCESS, MSG_WAITALL): one CQE
 *     per message, and one io_uring_enter per batch of connections.
 *     Kernels without multishot recv or buffer rings get a single-shot recv
 *     per round trip instead.
 *   epoll: level-triggered, non-blocking; one send, one recv and a share of
 *     an epoll_wait per message: the cheapest readiness client, for
 *     cross-checks without io_uring.
 * The plain epoll client was tried first: on the 2-vCPU guest it saturated
 * its CPU before the io_uring servers saturated theirs (system calls are
 * expensive under nested virtualisation), so its numbers measured it, not
 * the server. It reports its own CPU use over the window, so a run where it
 * was still the limit is visible (reel-bench prints a note then).
 *
 * -m prints the protocol reel-bench reads: "start" when the window opens,
 * "stop" when it closes (before the sorting), then one line
 * "result msgs=N window_ns=N p50_ns=N p99_ns=N p999_ns=N max_ns=N
 * mean_ns=N cpu_ns=N". Without -m the same numbers are printed for people.
 *
 * A connection that gets no reply for 3 s, a reply with wrong bytes, or an
 * end of stream is an error: the server is broken, and the exit status is
 * 1 with the reason on stderr. A run with -d also ends itself by alarm.
 */
#include "echo_common.h"

#include <getopt.h>
#include <liburing.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>

#define PROG "echo_load"
#define MAX_EVENTS 1024
#define STALL_NS (3 * 1000000000ull)
#define POLL_MS 100

struct conn {
	int fd;
	uint32_t tx_off, rx_off;
	bool out_armed;         /* epoll: EPOLLOUT requested after a short send */
	bool sending;           /* uring: t_sent is set at the next enter */
	uint64_t seq;
	uint64_t t_sent;
	char *tx, *rx;          /* SIZE bytes each */
};

static struct opts {
	unsigned conns;
	uint32_t size;
	double seconds;         /* the window; 0 with -n */
	uint64_t messages;      /* -n: stop after this many in the window */
	double warmup;
	bool machine;
	bool epoll;
	const char *host, *port;
} o;

static struct conn *conns;

/* The run's phases and what the window recorded. */
static struct {
	bool recording, running;
	uint64_t warm_end, t0, cpu0, end, last_progress, msgs;
	uint32_t *lat;          /* ns, one per round trip in the window */
	size_t nlat, caplat;
} run;

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
		"usage: " PROG " [-c CONNS] [-s SIZE] [-d SECONDS | -n MESSAGES] "
		"[-w WARMUP] [-e uring|epoll] [-m] HOST PORT\n"
		"  -c CONNS     connections, each with one message in flight (default 50)\n"
		"  -s SIZE      message size in bytes (default 64)\n"
		"  -d SECONDS   length of the measured window (default 5)\n"
		"  -n MESSAGES  end the window after this many round trips instead\n"
		"  -w WARMUP    seconds of traffic before the window, not counted (default 0.5)\n"
		"  -e ENGINE    uring (default: raw liburing, batched) or epoll\n"
		"  -m           machine-readable output for reel-bench\n");
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

	o = (struct opts){ .conns = 50, .size = 64, .seconds = 5, .warmup = 0.5 };
	while ((c = getopt(argc, argv, "c:s:d:n:w:e:mh")) != -1) {
		switch (c) {
		case 'c':
			if ((v = echo_parse_num(optarg, 1, 1000000)) < 0)
				usage(2);
			o.conns = (unsigned)v;
			break;
		case 's':
			if ((v = echo_parse_num(optarg, 1, 16 << 20)) < 0)
				usage(2);
			o.size = (uint32_t)v;
			break;
		case 'd':
			o.seconds = parse_seconds(optarg);
			break;
		case 'n':
			if ((v = echo_parse_num(optarg, 1, LONG_MAX)) < 0)
				usage(2);
			o.messages = (uint64_t)v;
			o.seconds = 0;
			break;
		case 'w':
			o.warmup = parse_seconds(optarg);
			break;
		case 'e':
			if (strcmp(optarg, "epoll") && strcmp(optarg, "uring"))
				usage(2);
			o.epoll = strcmp(optarg, "epoll") == 0;
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
	if (argc - optind != 2 || (o.seconds <= 0 && !o.messages))
		usage(2);
	o.host = argv[optind];
	o.port = argv[optind + 1];
}

/* ---- connections and round trips (both engines) ---- */

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
		struct conn *c = &conns[i];
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("socket", strerror(errno));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			die("connect", strerror(errno));
		echo_nodelay(fd);
		c->fd = fd;
		c->tx = malloc(o.size);
		c->rx = malloc(o.size);
		if (!c->tx || !c->rx)
			die("buffers", "out of memory");
		/* The connection's pattern; the first 8 bytes get the sequence. */
		for (uint32_t b = 0; b < o.size; b++)
			c->tx[b] = (char)(i * 131 + b * 7 + 1);
	}
	freeaddrinfo(ai);
}

/* The next message of @c: new sequence number, nothing sent or read yet. */
static void next_message(struct conn *c)
{
	c->seq++;
	memcpy(c->tx, &c->seq, o.size < sizeof(c->seq) ? o.size : sizeof(c->seq));
	c->tx_off = c->rx_off = 0;
}

static void record(uint64_t ns)
{
	if (run.nlat == run.caplat) {
		size_t cap = run.caplat ? run.caplat * 2 : 1u << 20;
		uint32_t *p = realloc(run.lat, cap * sizeof(*p));

		if (!p)
			die("latencies", "out of memory");
		run.lat = p;
		run.caplat = cap;
	}
	run.lat[run.nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* @n bytes of the reply have arrived at c->rx + c->rx_off. Returns true
 * when the round trip is complete (and checked): the caller starts the next
 * one if round_done says so. */
static bool arrived(struct conn *c, uint32_t n)
{
	c->rx_off += n;
	if (c->rx_off < o.size)
		return false;
	if (memcmp(c->rx, c->tx, o.size) != 0)
		die("reply", "it differs from the message sent");
	return true;
}

/* A round trip is over at @now: count it; false once the run must stop. */
static bool round_done(struct conn *c, uint64_t now)
{
	run.last_progress = now;
	if (run.recording) {
		record(now - c->t_sent);
		if (++run.msgs == o.messages)
			run.running = false;
	}
	return run.running;
}

static void say(const char *line)
{
	if (o.machine) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* Once per loop iteration: warm-up → window → end, and the stall check. */
static void phase(uint64_t now)
{
	if (!run.recording && run.running && now >= run.warm_end) {
		run.recording = true;
		run.t0 = now;
		run.cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		if (o.seconds > 0)
			run.end = now + (uint64_t)(o.seconds * 1e9);
		say("start");
	}
	if (now >= run.end)
		run.running = false;
	if (now - run.last_progress > STALL_NS) {
		unsigned waiting = 0;

		for (unsigned i = 0; i < o.conns; i++)
			waiting += conns[i].rx_off < o.size;
		fprintf(stderr, PROG ": no reply for %.1f s; %u of %u connections are "
			"waiting for theirs\n", (double)STALL_NS / 1e9, waiting, o.conns);
		exit(1);
	}
}

/* ---- engine: epoll ---- */

static int ep;

static void set_events(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl", strerror(errno));
}

/* Send the rest of the message; a full socket buffer waits for EPOLLOUT
 * while the replies keep being read (the server may be blocked on us). */
static void epoll_send(struct conn *c)
{
	while (c->tx_off < o.size) {
		ssize_t n = send(c->fd, c->tx + c->tx_off, o.size - c->tx_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->tx_off += (uint32_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->out_armed)
				set_events(c, EPOLLIN | EPOLLOUT);
			c->out_armed = true;
			return;
		}
		die("send", n < 0 ? strerror(errno) : "sent nothing");
	}
	if (c->out_armed) {
		set_events(c, EPOLLIN);
		c->out_armed = false;
	}
}

static void epoll_start(struct conn *c, uint64_t now)
{
	next_message(c);
	c->t_sent = now;
	epoll_send(c);
}

/* Read what has arrived; true when the round trip is complete. */
static bool epoll_recv(struct conn *c)
{
	ssize_t n = recv(c->fd, c->rx + c->rx_off, o.size - c->rx_off, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n < 0)
		die("recv", strerror(errno));
	if (n == 0)
		die("recv", "the server closed a connection");
	return arrived(c, (uint32_t)n);
}

static void epoll_run(void)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1", strerror(errno));
	for (unsigned i = 0; i < o.conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

		if (fcntl(conns[i].fd, F_SETFL, O_NONBLOCK) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
			die("set-up of a connection", strerror(errno));
		epoll_start(&conns[i], now);
	}
	while (run.running) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, POLL_MS);

		if (n < 0 && errno != EINTR)
			die("epoll_wait", strerror(errno));
		for (int i = 0; i < n && run.running; i++) {
			struct conn *c = evs[i].data.ptr;

			if ((evs[i].events & EPOLLOUT) && c->tx_off < o.size)
				epoll_send(c);
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !epoll_recv(c))
				continue;
			now = now_ns(CLOCK_MONOTONIC);
			if (round_done(c, now))
				epoll_start(c, now);
		}
		phase(now_ns(CLOCK_MONOTONIC));
	}
}

/* ---- engine: raw liburing ---- */

/* user_data: connection index << 2 | operation. */
enum { UD_SEND = 1, UD_RECV = 2, UD_MASK = 3 };
#define BGID 0

static struct {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned nbufs, buf_size;
	bool multishot;         /* multishot recv into provided buffers */
	bool skip;              /* IOSQE_CQE_SKIP_SUCCESS on sends */
	struct conn **starting; /* sends queued since the last enter */
	unsigned nstarting;
} u;

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

/* A ring of provided buffers for the multishot recvs; false when the
 * kernel has none (then recvs are single-shot into c->rx). */
static bool setup_buffers(void)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes;
	int mask;

	u.nbufs = pow2_at_least(2 * o.conns, 64, 32768);
	u.buf_size = o.size < 4096 ? (o.size + 63) / 64 * 64 : 4096;
	ring_bytes = u.nbufs * sizeof(struct io_uring_buf);
	u.br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	u.bufs = malloc((size_t)u.nbufs * u.buf_size);
	if (u.br == MAP_FAILED || !u.bufs)
		die("buffer ring", "out of memory");
	io_uring_buf_ring_init(u.br);
	reg.ring_addr = (unsigned long)(uintptr_t)u.br;
	reg.ring_entries = u.nbufs;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&u.ring, &reg, 0) < 0)
		return false;
	mask = io_uring_buf_ring_mask(u.nbufs);
	for (unsigned b = 0; b < u.nbufs; b++)
		io_uring_buf_ring_add(u.br, u.bufs + (size_t)b * u.buf_size, u.buf_size,
				      (unsigned short)b, mask, (int)b);
	io_uring_buf_ring_advance(u.br, (int)u.nbufs);
	return true;
}

static void uring_setup(void)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	unsigned entries = pow2_at_least(2 * o.conns, 256, 32768);
	int err = io_uring_queue_init_params(entries, &u.ring, &p);

	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(entries, &u.ring, &p);
	}
	if (err < 0)
		die("io_uring_queue_init", strerror(-err));
	u.skip = p.features & IORING_FEAT_CQE_SKIP;
	u.multishot = setup_buffers();
	u.starting = calloc(o.conns, sizeof(*u.starting));
	if (!u.starting)
		die("set-up", "out of memory");
}

static void uring_arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe();
	uint64_t idx = (uint64_t)(c - conns);

	if (u.multishot) {
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_off, o.size - c->rx_off, 0);
	}
	io_uring_sqe_set_data64(sqe, idx << 2 | UD_RECV);
}

/* Queue the whole message; t_sent is taken just before the enter that
 * hands it to the kernel. */
static void uring_start(struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe();

	next_message(c);
	io_uring_prep_send(sqe, c->fd, c->tx, o.size, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(c - conns) << 2 | UD_SEND);
	if (u.skip)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	if (!u.multishot)
		uring_arm_recv(c);
	if (!c->sending) {
		c->sending = true;
		u.starting[u.nstarting++] = c;
	}
}

static void uring_cqe(const struct io_uring_cqe *cqe, uint64_t *now)
{
	struct conn *c = &conns[cqe->user_data >> 2];
	int res = cqe->res;
	uint32_t n;

	if ((cqe->user_data & UD_MASK) == UD_SEND) {
		if (res != (int)o.size)
			die("send", res < 0 ? strerror(-res) : "short send");
		return;
	}
	if (res == -ENOBUFS && u.multishot) {   /* all buffers out: re-arm */
		uring_arm_recv(c);
		return;
	}
	if (res < 0)
		die("recv", strerror(-res));
	if (res == 0)
		die("recv", "the server closed a connection");
	n = (uint32_t)res;
	if (n > o.size - c->rx_off)
		die("recv", "the server sent more than it was sent");
	if (u.multishot) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		memcpy(c->rx + c->rx_off, u.bufs + (size_t)bid * u.buf_size, n);
		io_uring_buf_ring_add(u.br, u.bufs + (size_t)bid * u.buf_size, u.buf_size,
				      (unsigned short)bid, io_uring_buf_ring_mask(u.nbufs), 0);
		io_uring_buf_ring_advance(u.br, 1);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			uring_arm_recv(c);   /* the multishot ended: arm another */
	}
	if (!arrived(c, n)) {
		if (!u.multishot)
			uring_arm_recv(c);
		return;
	}
	*now = now_ns(CLOCK_MONOTONIC);
	if (round_done(c, *now))
		uring_start(c);
}

static void uring_run(void)
{
	struct __kernel_timespec ts = { .tv_nsec = POLL_MS * 1000000ll };
	struct io_uring_cqe *cqe;
	unsigned head, n;
	uint64_t now;

	uring_setup();
	for (unsigned i = 0; i < o.conns; i++) {
		if (u.multishot)
			uring_arm_recv(&conns[i]);
		uring_start(&conns[i]);
	}
	while (run.running) {
		now = now_ns(CLOCK_MONOTONIC);
		for (unsigned i = 0; i < u.nstarting; i++) {
			u.starting[i]->t_sent = now;
			u.starting[i]->sending = false;
		}
		u.nstarting = 0;
		/* -ETIME after POLL_MS without a completion: phase() decides. */
		(void)io_uring_submit_and_wait_timeout(&u.ring, &cqe, 1, &ts, NULL);
		n = 0;
		io_uring_for_each_cqe(&u.ring, head, cqe) {
			n++;
			uring_cqe(cqe, &now);
			if (!run.running)
				break;
		}
		io_uring_cq_advance(&u.ring, n);
		phase(now_ns(CLOCK_MONOTONIC));
	}
}

/* ---- results ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least @p of the samples at or
 * below it. run.lat must be sorted. */
static uint64_t percentile(double p)
{
	size_t rank;

	if (!run.nlat)
		return 0;
	rank = (size_t)((double)run.nlat * p + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > run.nlat)
		rank = run.nlat;
	return run.lat[rank - 1];
}

static void report(uint64_t window_ns, uint64_t cpu_ns)
{
	double sum = 0, mean;
	uint64_t p50, p99, p999, max;

	for (size_t i = 0; i < run.nlat; i++)
		sum += run.lat[i];
	mean = run.nlat ? sum / (double)run.nlat : 0.0;
	qsort(run.lat, run.nlat, sizeof(*run.lat), cmp_u32);
	p50 = percentile(0.50);
	p99 = percentile(0.99);
	p999 = percentile(0.999);
	max = run.nlat ? run.lat[run.nlat - 1] : 0;
	if (o.machine) {
		printf("result msgs=%llu window_ns=%llu p50_ns=%llu p99_ns=%llu "
		       "p999_ns=%llu max_ns=%llu mean_ns=%.0f cpu_ns=%llu\n",
		       (unsigned long long)run.msgs, (unsigned long long)window_ns,
		       (unsigned long long)p50, (unsigned long long)p99,
		       (unsigned long long)p999, (unsigned long long)max, mean,
		       (unsigned long long)cpu_ns);
		fflush(stdout);
		return;
	}
	printf(PROG ": %s:%s, %u connections, %u-byte messages, %s engine%s, window "
	       "%.3f s after %.1f s warm-up\n", o.host, o.port, o.conns, o.size,
	       o.epoll ? "epoll" : "uring",
	       o.epoll || u.multishot ? "" : " (single-shot recv)",
	       (double)window_ns / 1e9, o.warmup);
	printf("  throughput  %.0f msg/s (%llu round trips)\n",
	       (double)run.msgs * 1e9 / (double)window_ns, (unsigned long long)run.msgs);
	printf("  latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, "
	       "mean %.1f us\n", (double)p50 / 1e3, (double)p99 / 1e3, (double)p999 / 1e3,
	       (double)max / 1e3, mean / 1e3);
	printf("  load CPU    %.0f%% of one core (near 100%%: the generator may be "
	       "the bottleneck)\n", 100.0 * (double)cpu_ns / (double)window_ns);
}

int main(int argc, char **argv)
{
	uint64_t now, cpu;

	parse_opts(argc, argv);
	echo_raise_nofile();
	/* A bounded run: whatever happens, this process ends by itself. */
	if (o.seconds > 0)
		alarm((unsigned)(o.warmup + o.seconds) + 30);
	connect_all();
	now = now_ns(CLOCK_MONOTONIC);
	run.running = true;
	run.end = UINT64_MAX;
	run.warm_end = now + (uint64_t)(o.warmup * 1e9);
	run.last_progress = now;
	if (o.epoll)
		epoll_run();
	else
		uring_run();
	now = now_ns(CLOCK_MONOTONIC);
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - run.cpu0;
	say("stop");
	report(now - run.t0, cpu);
	/* The connections close with the process. */
	return 0;
}
