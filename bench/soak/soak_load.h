/*
 * soak_load.h - what soak_load.c (the program: its main, the echo roles,
 * the histograms and the sample lines) and soak_load_http.c (the HTTP
 * roles, -m http) share. One loop, one thread: plain globals.
 */
#ifndef REEL_SOAK_LOAD_H
#define REEL_SOAK_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#define MS 1000000ull
#define IO_TIMEOUT_NS (5000 * MS)

/* Round-trip times: 1 us buckets below 10 ms, 1 ms buckets up to 10 s. */
#define FINE 10000u
#define COARSE 10000u
#define NBUCKET (FINE + COARSE + 1)

struct hist {
	uint64_t n;
	uint32_t c[NBUCKET];
};

struct slot {
	unsigned id;
	unsigned role;          /* enum echo_role or enum http_role */
	uint64_t rng;
};

struct soak_load {
	const char *host;
	uint16_t port;
	unsigned conns;
	bool http;
	uint64_t start_ns, end_ns, window_ns;
	struct hist period, first, last;
	uint64_t rtts, errors, reconnects, resets, drops;
	unsigned open;
};
extern struct soak_load L;

uint64_t rnd(uint64_t *s);
uint64_t between(uint64_t *s, uint64_t lo, uint64_t hi);
/* One timed round trip of @ns (a well-behaved client's): the p99s. */
void record(uint64_t ns);
/* One transfer or connect of a slot, for soak_timed. */
struct io {
	int fd;
	char *buf;
	size_t len;
	ssize_t n;              /* what a receive got */
};

/* Send all of io->buf (reel_write_all): 0 or -errno. */
int soak_send_all(void *arg);
/* Run @fn(@io) within the load's I/O timeout: its status, or -ETIMEDOUT. */
int soak_timed(reel_fn fn, struct io *io);

/* Count an error; print the first ones as "error slot=N (ROLE) WHAT: ...". */
void error(const struct slot *s, const char *what, int err);
/* Close @fd, with SO_LINGER 0 (an RST) when @reset (counted). */
void close_conn(int fd, bool reset);

/* soak_load_http.c: the role of slot @i of -m http, its name, and the
 * slot's fiber (connect, play, close, again, until the end). */
unsigned http_role_of(unsigned i);
const char *http_role_name(unsigned role);
int http_slot_fiber(void *arg);

#endif /* REEL_SOAK_LOAD_H */
