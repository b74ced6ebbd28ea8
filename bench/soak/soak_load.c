/*
 * soak_load - the soak's load generator (bench/soak/soak.c runs it): many
 * connections to an echo server for a long time, each playing one role, so
 * that whatever a server leaks per connection, per disconnect or per reset
 * shows as growth over minutes.
 *
 * Usage: soak_load [-m echo|http] -c CONNS -t SECONDS -p PERIOD -w WINDOW HOST PORT
 *
 * -m http loads reel's HTTP server instead (bench/http/reel_server.c): its
 * roles are in soak_load_http.c; everything else here (the slots' group,
 * the histograms, the sample, error and result lines) serves both modes.
 *
 * A reel program: one fiber per connection slot, a child of one task group,
 * in plain sequential code. In echo mode (the default) slot i plays the
 * role i % 10 picks:
 *   0       slow reader: sends 16 KiB, reads it back 1 KiB at a time with
 *           20-60 ms pauses (about 0.6 s per burst: well inside the 5 s the
 *           echo server gives a peer that does not read, so it is not
 *           dropped; a drop is counted as expected behaviour, not an error),
 *           reconnects after 2-10 s;
 *   1       disconnector: round trips for 50 ms-2 s, then closes, half the
 *           time with an echo still in flight, and reconnects at once;
 *   2       resetter: the same, but closes with SO_LINGER 0 (an RST);
 *   3-9     well-behaved: 64-byte round trips paced 5-15 ms apart, each
 *           checked byte by byte and timed; only these make the p99.
 * So the load keeps CONNS connections open but for the churning ones in
 * transit. Every blocking step runs under a 5 s deadline (reel_wait_for);
 * at SECONDS the main fiber cancels the group, so nothing outlives the run.
 *
 * Every PERIOD seconds it prints on stdout
 *   sample t_ms=T open=N rtts=N p99_ns=N errors=N reconnects=N resets=N drops=N
 * (p99 of the well-behaved round trips of that period; counters cumulative),
 * which is the clock of reel-bench's sampling of the server, and at the end
 *   result rtts=N first_p99_ns=N last_p99_ns=N errors=N reconnects=N resets=N drops=N
 * where first/last are the p99 over the first and the last WINDOW seconds.
 * An error (a connect that fails, a wrong or missing echo, a reset or a
 * timeout seen by a well-behaved client, a closed connection seen by a
 * churning one before it closed it) is also printed as "error ..." (the
 * first 20). Exit status 0 when the run happened, whatever the errors
 * (reel-bench judges them), 1 when it could not run, 2 for bad usage.
 *
 * Why reel and not epoll: the roles are sequential stories (send, read a
 * little, sleep, ...) that a fiber tells in a few lines; the server is
 * measured through /proc, not through the generator's speed, so the
 * generator's own engine does not bias the verdict.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reel.h"
#include "reel_io.h"
#include "soak_load.h"

#define ECHO_SIZE 64
#define SLOW_BURST 16384
#define SLOW_READ 1024
#define MAX_PRINTED_ERRORS 20

enum role { ROLE_SLOW, ROLE_DISCONNECT, ROLE_RESET, ROLE_ECHO };

struct soak_load L;

uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

uint64_t between(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rnd(s) % (hi - lo + 1);
}

static void hist_add(struct hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000, i;

	if (us < FINE)
		i = us;
	else if (us / 1000 < FINE / 1000 + COARSE)
		i = FINE + (us / 1000 - FINE / 1000);
	else
		i = NBUCKET - 1;
	h->c[i]++;
	h->n++;
}

/* The p99 in ns (the upper bound of its bucket), 0 without samples. */
static uint64_t hist_p99(const struct hist *h)
{
	uint64_t want = (h->n * 99 + 99) / 100, seen = 0;

	if (!h->n)
		return 0;
	for (unsigned i = 0; i < NBUCKET; i++) {
		seen += h->c[i];
		if (seen >= want)
			return i < FINE ? (uint64_t)(i + 1) * 1000
					: (uint64_t)(i - FINE + FINE / 1000 + 1) * MS;
	}
	return (uint64_t)(FINE / 1000 + COARSE) * MS;
}

static const char *role_name(unsigned r)
{
	static const char *const names[] = { "slow reader", "disconnector", "resetter",
					     "well-behaved" };
	return L.http ? http_role_name(r) : names[r];
}

void error(const struct slot *s, const char *what, int err)
{
	if (++L.errors <= MAX_PRINTED_ERRORS) {
		printf("error slot=%u (%s) %s: %s\n", s->id, role_name(s->role), what,
		       err ? strerror(-err) : "unexpected");
		fflush(stdout);
	}
}

/* ---- bounded I/O ---- */

int soak_send_all(void *arg)
{
	struct io *io = arg;
	ssize_t n = reel_write_all(io->fd, io->buf, io->len, NULL);

	return n < 0 ? (int)n : 0;
}

/* All @len bytes; end of stream is -ESHUTDOWN. */
static int recv_all(void *arg)
{
	struct io *io = arg;
	ssize_t n = reel_read_exact(io->fd, io->buf, io->len, NULL);

	return n < 0 ? (int)n : (size_t)n < io->len ? -ESHUTDOWN : 0;
}

int soak_timed(reel_fn fn, struct io *io)
{
	int st, err = reel_wait_for(IO_TIMEOUT_NS, fn, io, &st);

	return err < 0 ? err : st;
}

static int do_connect(void *arg)
{
	(void)arg;
	return reel_connect_tcp(L.host, L.port);
}

static void fill(char *buf, size_t len, unsigned id, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('A' + (id + seq + i) % 26);
}

/* One checked round trip of @len bytes: 0, or -errno (-EBADMSG: wrong bytes). */
static int round_trip(const struct slot *s, int fd, uint64_t seq, char *out, char *in,
		      size_t len)
{
	struct io tx = { fd, out, len, 0 }, rx = { fd, in, len, 0 };
	int err;

	fill(out, len, s->id, seq);
	if ((err = soak_timed(soak_send_all, &tx)) < 0 || (err = soak_timed(recv_all, &rx)) < 0)
		return err;
	return memcmp(out, in, len) ? -EBADMSG : 0;
}

/* ---- the roles; each returns 0 to close normally, 1 to reset, or -errno ---- */

void record(uint64_t ns)
{
	uint64_t now = reel_now();

	L.rtts++;
	hist_add(&L.period, ns);
	if (now - L.start_ns < L.window_ns)
		hist_add(&L.first, ns);
	if (now + L.window_ns >= L.end_ns)
		hist_add(&L.last, ns);
}

static int play_echo(struct slot *s, int fd)
{
	char out[ECHO_SIZE], in[ECHO_SIZE];
	uint64_t seq = 0;
	int err;

	while (reel_now() < L.end_ns) {
		uint64_t t0 = reel_now();

		err = round_trip(s, fd, seq++, out, in, sizeof(out));
		if (err == -ECANCELED)
			return err;
		if (err < 0) {
			error(s, "round trip", err);
			return err;
		}
		record(reel_now() - t0);
		if ((err = reel_sleep(between(&s->rng, 5, 15) * MS)) < 0)
			return err;
	}
	return 0;
}

/* Round trips for a random lifetime, then close or reset, sometimes with
 * an echo still on its way back. */
static int play_churn(struct slot *s, int fd)
{
	uint64_t until = reel_now() + between(&s->rng, 50, 2000) * MS, seq = 0;
	char out[ECHO_SIZE], in[ECHO_SIZE];
	int err;

	while (reel_now() < until && reel_now() < L.end_ns) {
		err = round_trip(s, fd, seq++, out, in, sizeof(out));
		if (err == -ECANCELED)
			return err;
		if (err < 0) {
			error(s, "round trip", err);
			return err;
		}
		if ((err = reel_sleep(between(&s->rng, 1, 20) * MS)) < 0)
			return err;
	}
	if (rnd(&s->rng) & 1) {   /* leave an echo in flight */
		struct io tx = { fd, out, sizeof(out), 0 };

		fill(out, sizeof(out), s->id, seq);
		if ((err = soak_timed(soak_send_all, &tx)) < 0)
			return err == -ECANCELED ? err : (error(s, "send", err), err);
	}
	return s->role == ROLE_RESET;
}

static int play_slow(struct slot *s, int fd)
{
	uint64_t until = reel_now() + between(&s->rng, 2000, 10000) * MS, seq = 0;
	char *out = malloc(SLOW_BURST), *in = malloc(SLOW_BURST);
	int err = 0;

	if (!out || !in) {
		err = -ENOMEM;
		error(s, "malloc", err);
		goto out;
	}
	while (!err && reel_now() < until && reel_now() < L.end_ns) {
		struct io tx = { fd, out, SLOW_BURST, 0 };

		fill(out, SLOW_BURST, s->id, seq++);
		if ((err = soak_timed(soak_send_all, &tx)) < 0)
			break;
		for (size_t got = 0; got < SLOW_BURST && !err; got += SLOW_READ) {
			struct io rx = { fd, in + got, SLOW_READ, 0 };

			err = reel_sleep(between(&s->rng, 20, 60) * MS);
			if (!err)
				err = soak_timed(recv_all, &rx);
		}
		if (!err && memcmp(out, in, SLOW_BURST))
			err = -EBADMSG;
	}
	if (err == -ESHUTDOWN || err == -ECONNRESET || err == -EPIPE) {
		L.drops++;   /* the server gave up on us: expected, not an error */
		err = 0;     /* then close normally and reconnect */
	} else if (err < 0 && err != -ECANCELED) {
		error(s, "slow read", err);
	}
out:
	free(out);
	free(in);
	return err;
}

void close_conn(int fd, bool reset)
{
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		L.resets++;
	}
	reel_close(fd);
}

/* One slot: connect, play the role, close, again, until the end. */
static int slot_fiber(void *arg)
{
	struct slot *s = arg;
	int fd, r;

	/* Spread the first connects over 0.5 s instead of one SYN storm. */
	if (reel_sleep((uint64_t)(s->id % 500) * MS) < 0)
		return 0;
	while (reel_now() < L.end_ns) {
		r = reel_wait_for(IO_TIMEOUT_NS, do_connect, NULL, &fd);
		if (r == -ECANCELED)
			return 0;
		if (r < 0 || fd < 0) {
			error(s, "connect", r < 0 ? r : fd);
			if (reel_sleep(100 * MS) < 0)
				return 0;
			continue;
		}
		L.open++;
		switch (s->role) {
		case ROLE_ECHO:
			r = play_echo(s, fd);
			break;
		case ROLE_SLOW:
			r = play_slow(s, fd);
			break;
		default:
			r = play_churn(s, fd);
			break;
		}
		close_conn(fd, r == 1);
		L.open--;
		if (r == -ECANCELED)
			return 0;
		L.reconnects++;
		if (r < 0 && reel_sleep(10 * MS) < 0)   /* no tight loop on errors */
			return 0;
	}
	return 0;
}

static void print_sample(uint64_t now)
{
	printf("sample t_ms=%llu open=%u rtts=%llu p99_ns=%llu errors=%llu reconnects=%llu "
	       "resets=%llu drops=%llu\n", (unsigned long long)((now - L.start_ns) / MS), L.open,
	       (unsigned long long)L.rtts, (unsigned long long)hist_p99(&L.period),
	       (unsigned long long)L.errors, (unsigned long long)L.reconnects,
	       (unsigned long long)L.resets, (unsigned long long)L.drops);
	fflush(stdout);
	memset(&L.period, 0, sizeof(L.period));
}

struct main_args {
	uint64_t period_ns;
};

static int main_fiber(void *arg)
{
	static const struct reel_spawn_opts opts = { .name = "slot" };
	struct main_args *a = arg;
	struct reel_group group;
	struct slot *slots = calloc(L.conns, sizeof(*slots));
	uint64_t next;
	int err = 0;

	if (!slots)
		return -ENOMEM;
	reel_group_init(&group);
	L.start_ns = reel_now();
	L.end_ns += L.start_ns;
	for (unsigned i = 0; i < L.conns && err >= 0; i++) {
		slots[i].id = i;
		slots[i].role = L.http ? http_role_of(i) : i % 10 < 3 ? i % 10 : ROLE_ECHO;
		slots[i].rng = 0x50a4u + i;
		err = reel_group_spawn(&group, L.http ? http_slot_fiber : slot_fiber, &slots[i],
				       &opts);
	}
	for (next = L.start_ns + a->period_ns; err >= 0 && next <= L.end_ns + MS;
	     next += a->period_ns) {
		uint64_t now = reel_now();

		if (next > now && reel_sleep(next - now) < 0)
			break;
		print_sample(reel_now());
	}
	reel_group_cancel(&group);
	reel_group_wait(&group, NULL, 0, NULL);
	free(slots);
	if (err < 0) {
		fprintf(stderr, "soak_load: spawn: %s\n", reel_strerror(err));
		return err;
	}
	printf("result rtts=%llu first_p99_ns=%llu last_p99_ns=%llu errors=%llu "
	       "reconnects=%llu resets=%llu drops=%llu\n", (unsigned long long)L.rtts,
	       (unsigned long long)hist_p99(&L.first), (unsigned long long)hist_p99(&L.last),
	       (unsigned long long)L.errors, (unsigned long long)L.reconnects,
	       (unsigned long long)L.resets, (unsigned long long)L.drops);
	fflush(stdout);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: soak_load [-m echo|http] -c CONNS -t SECONDS -p PERIOD -w WINDOW HOST PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct main_args a = { 0 };
	double seconds = 0, period = 0, window = 0;
	struct rlimit rl;
	long port;
	int c, status, err;

	while ((c = getopt(argc, argv, "m:c:t:p:w:")) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "http") && strcmp(optarg, "echo"))
				return usage();
			L.http = strcmp(optarg, "http") == 0;
			break;
		case 'c': L.conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'p': period = strtod(optarg, NULL); break;
		case 'w': window = strtod(optarg, NULL); break;
		default: return usage();
		}
	}
	if (argc - optind != 2 || L.conns == 0 || seconds <= 0 || period <= 0 || window <= 0)
		return usage();
	port = strtol(argv[optind + 1], NULL, 10);
	if (port <= 0 || port > 65535)
		return usage();
	L.host = argv[optind];
	L.port = (uint16_t)port;
	L.end_ns = (uint64_t)(seconds * 1e9);   /* made absolute at the start */
	L.window_ns = (uint64_t)(window * 1e9);
	a.period_ns = (uint64_t)(period * 1e9);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	err = reel_run(main_fiber, &a, NULL, &status);
	if (err < 0) {
		fprintf(stderr, "soak_load: reel_run: %s\n", reel_strerror(err));
		return 1;
	}
	return status < 0 ? 1 : 0;
}
