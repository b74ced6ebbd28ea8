/*
 * dial.c - TCP by name: reel_connect_tcp (happy eyeballs, RFC 8305) and
 * reel_listen_tcp(_opts) on a name or a numeric address.
 *
 * Why here and not in engine/io: a name needs reel_getaddrinfo, which
 * needs the thread pool, and io sits below offload. io/net.c keeps the
 * socket calls these are built from (reel_socket, reel_connect).
 *
 * Connecting to several addresses
 *   The addresses are put in RFC 8305 order (§4): the family getaddrinfo
 *   listed first gets @first_family_count addresses, then the families take
 *   turns. One attempt starts; the next starts once the one before has had
 *   the connection attempt delay (250 ms by default, asyncio's
 *   happy_eyeballs_delay) or as soon as an attempt fails, so a family that
 *   cannot connect from here (no route: -ENETUNREACH at once) costs nothing
 *   and one that black-holes costs one delay. The first attempt to connect
 *   wins; the others are cancelled and waited for.
 *
 *   Each attempt is a task in a reel_taskset owned by the dialling fiber,
 *   and the fiber waits for "an attempt ended" with reel_taskset_next under
 *   a reel_wait_for of the delay ("time for the next one"). Chosen over one
 *   fiber with several connects in flight, which would need the core's
 *   multi-op wait (not offered to layers) or a poll loop of its own over
 *   non-blocking sockets; a task per attempt gets cancellation and the
 *   wait-for-the-losers from the task set, and a cancelled dial is one
 *   reel_taskset_close. Tasks cost a fiber each, so a single address (a
 *   numeric host, most names) and the sequential mode connect inline on the
 *   caller's fiber, as reel_connect_tcp always did.
 *
 *   Who owns a connected socket: an attempt that connects looks at the
 *   dial's winner on the same loop turn (no parking in between) - none yet,
 *   it becomes the winner and hands its descriptor over; one already there
 *   (a photo finish), it closes its own. Attempts record their error in
 *   their slot and always return 0, so nothing is left in a task's status
 *   for reel_taskset_close to drop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"
#include "offload.h"

#define DEFAULT_DELAY_NS (250 * 1000000ull)   /* RFC 8305 §8, asyncio's example */

/* One address being tried. */
struct attempt {
	struct dial *d;
	const struct addrinfo *ai;
	int err;                 /* its failure; 0 while untried, running or won */
};

/* One reel_connect_tcp_opts call; lives in the caller's frame. */
struct dial {
	struct attempt *att;     /* in dialling order */
	size_t n;
	uint64_t delay_ns;
	uint64_t attempt_timeout_ns;
	int fd;                  /* the winner's socket; -1 until one connects */
};

struct connect_call {
	int fd;
	const struct addrinfo *ai;
};

static int connect_call_run(void *arg)
{
	struct connect_call *c = arg;

	return reel_connect(c->fd, c->ai->ai_addr, c->ai->ai_addrlen);
}

/* A new TCP socket connected to @ai within @timeout_ns (0: no limit of its
 * own), TCP_NODELAY set: the fd, or -errno with nothing left open. */
static int connect_one(const struct addrinfo *ai, uint64_t timeout_ns)
{
	struct connect_call c = { .ai = ai };
	int one = 1, st;

	c.fd = reel_socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
	if (c.fd < 0)
		return c.fd;
	if (timeout_ns)
		(void)reel_wait_for(timeout_ns, connect_call_run, &c, &st);
	else
		st = connect_call_run(&c);
	if (st < 0) {
		close(c.fd);   /* nothing of ours is in flight on it */
		return st;
	}
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c.fd;
}

/* An attempt's task. Always 0: its outcome is in its slot or d->fd. */
static int attempt_run(void *arg)
{
	struct attempt *a = arg;
	int fd = connect_one(a->ai, a->d->attempt_timeout_ns);

	if (fd < 0) {
		a->err = fd;
	} else if (a->d->fd >= 0) {
		close(fd);     /* connected too, but second */
		a->err = -ECANCELED;
	} else {
		a->d->fd = fd;
	}
	return 0;
}

/* The error to report when every attempt failed (the header's rule). */
static int pick_error(const struct dial *d)
{
	int first = 0;

	for (size_t i = 0; i < d->n; i++) {
		int e = d->att[i].err;

		if (!e)
			continue;
		if (!first)
			first = e;
		if (e != -ENETUNREACH && e != -EAFNOSUPPORT && e != -EADDRNOTAVAIL)
			return e;
	}
	return first ? first : -ENODATA;   /* no TCP address at all (as EAI_NODATA) */
}

static bool inet(const struct addrinfo *ai)
{
	return ai->ai_family == AF_INET || ai->ai_family == AF_INET6;
}

static void add_attempt(struct dial *d, const struct addrinfo *ai)
{
	d->att[d->n].d = d;
	d->att[d->n].ai = ai;
	d->n++;
}

/*
 * Put the TCP addresses of @res into d->att in RFC 8305 §4 order:
 * @first_count of the family listed first, then one of the other family and
 * one of the first in turn, the rest of whichever lasts longer at the end.
 * Each family keeps getaddrinfo's order (RFC 6724 sorted).
 */
static int order_addresses(struct dial *d, struct addrinfo *res, unsigned first_count)
{
	const struct addrinfo *ai, **fa, **fb;
	size_t n = 0, na = 0, nb = 0, ia = 0, ib = 0;
	int fam = 0;

	for (ai = res; ai; ai = ai->ai_next)
		n += inet(ai);
	d->att = calloc(n ? n : 1, sizeof(*d->att));
	fa = calloc(2 * (n ? n : 1), sizeof(*fa));
	if (!d->att || !fa) {
		free(fa);
		return -ENOMEM;
	}
	fb = fa + n;
	for (ai = res; ai; ai = ai->ai_next) {
		if (!inet(ai))
			continue;
		if (!fam)
			fam = ai->ai_family;
		if (ai->ai_family == fam)
			fa[na++] = ai;
		else
			fb[nb++] = ai;
	}
	while (ia < na && ia < first_count)
		add_attempt(d, fa[ia++]);
	while (ia < na || ib < nb) {
		if (ib < nb)
			add_attempt(d, fb[ib++]);
		if (ia < na)
			add_attempt(d, fa[ia++]);
	}
	free(fa);
	return 0;
}

/* One address after the other, each to its end, on the caller's fiber. */
static int dial_sequential(struct dial *d)
{
	struct reel__fiber *self = reel__self_fiber();

	for (size_t i = 0; i < d->n; i++) {
		int fd = connect_one(d->att[i].ai, d->attempt_timeout_ns);
		int stop;

		if (fd >= 0)
			return fd;
		d->att[i].err = fd;
		stop = reel__interrupt_pending(self);
		if (stop)
			return stop;   /* the caller's interruption, not the address's */
	}
	return pick_error(d);
}

static int take_next(void *set)
{
	return reel_taskset_next(set, NULL, NULL);
}

/* Wait until an attempt of @set ends (1) or @ns pass (0; UINT64_MAX: no
 * limit), or the caller is interrupted (-ECANCELED / -ETIMEDOUT). */
static int wait_attempt(struct reel_taskset *set, uint64_t ns)
{
	int st = 0, r;

	if (ns == UINT64_MAX)
		return reel_taskset_next(set, NULL, NULL);
	r = reel_wait_for(ns, take_next, set, &st);
	if (st == 1)
		return 1;   /* taken, even if the delay passed just then */
	if (r == 0)
		return st;
	/* Our own delay, or a deadline or cancel of the caller's? Outside our
	 * scope only the latter still shows. */
	r = reel__interrupt_pending(reel__self_fiber());
	return r ? r : 0;
}

/* Race the addresses (the top comment). */
static int dial_race(struct dial *d)
{
	static const struct reel_spawn_opts opts = { .name = "reel-connect-attempt" };
	struct reel_taskset set;
	bool start = true;
	size_t next = 0;
	int r = reel_taskset_init(&set);

	if (r)
		return r;
	while (d->fd < 0) {
		if (start && next < d->n) {
			struct attempt *a = &d->att[next++];

			r = reel_taskset_spawn(&set, attempt_run, a, &opts, 0);
			if (r < 0)
				a->err = r;   /* no task for it: the next one goes now */
			start = r < 0;
			r = 0;
		}
		if (!reel_taskset_size(&set)) {
			if (next == d->n)
				break;        /* every attempt failed */
			start = true;
			continue;
		}
		r = wait_attempt(&set, next < d->n ? d->delay_ns : UINT64_MAX);
		if (r < 0)
			break;
		start = true;   /* one ended (failed, or the loop ends) or the delay passed */
	}
	reel_taskset_cancel(&set);
	reel_taskset_close(&set);   /* waits for the losers: they close their sockets */
	if (d->fd >= 0)
		return d->fd;
	return r < 0 ? r : pick_error(d);
}

int reel_connect_tcp_opts(const char *host, uint16_t port, const struct reel_connect_opts *opts)
{
	static const struct reel_connect_opts defaults;
	const struct reel_connect_opts *o = opts ? opts : &defaults;
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICSERV,
		.ai_family = o->family,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct dial d = {
		.delay_ns = o->delay_ns ? o->delay_ns : DEFAULT_DELAY_NS,
		.attempt_timeout_ns = o->attempt_timeout_ns,
		.fd = -1,
	};
	struct addrinfo *res;
	char service[8];
	int r;

	if (!host || (o->family != AF_UNSPEC && o->family != AF_INET && o->family != AF_INET6))
		return -EINVAL;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	r = reel_getaddrinfo(host, service, &hints, &res);
	if (r)
		return r;
	r = order_addresses(&d, res, o->first_family_count ? o->first_family_count : 1);
	if (!r) {
		if (d.n <= 1 || d.delay_ns == REEL_CONNECT_SEQUENTIAL)
			r = dial_sequential(&d);
		else
			r = dial_race(&d);
	}
	free(d.att);
	reel_offload__freeaddrinfo(res);
	return r;
}

int reel_connect_tcp(const char *host, uint16_t port)
{
	return reel_connect_tcp_opts(host, port, NULL);
}

/* ---- listening ------------------------------------------------------------- */

#define LISTEN_FLAGS (REEL_LISTEN_REUSEPORT | REEL_LISTEN_INCOMING_CPU)

/* Set what @o asks for on a socket about to be bound: 0 or -errno. */
static int listen_setopts(int fd, const struct reel_listen_opts *o)
{
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		return -errno;
	if ((o->flags & REEL_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		return -errno;
	if ((o->flags & REEL_LISTEN_INCOMING_CPU) &&
	    setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &o->incoming_cpu,
		       sizeof(o->incoming_cpu)) != 0)
		return -errno;
	return 0;
}

/* A socket of @family bound to @addr and listening: the fd or -errno.
 * @dual: IPV6_V6ONLY off, so an IPv6 "any" takes IPv4 too. */
static int listen_on(int family, const struct sockaddr *addr, socklen_t len, int backlog,
		     bool dual, const struct reel_listen_opts *o)
{
	int fd = reel_socket(family, SOCK_STREAM, IPPROTO_TCP);
	int zero = 0, err;

	if (fd < 0)
		return fd;
	if (dual)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	err = listen_setopts(fd, o);
	if (!err && (bind(fd, addr, len) != 0 ||
		     listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Every address: IPv6 any with IPv4 mapped in, or IPv4 any where the
 * machine has no IPv6. */
static int listen_any(uint16_t port, int backlog, const struct reel_listen_opts *o)
{
	struct sockaddr_in6 in6 = {
		.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT,
	};
	struct sockaddr_in in4 = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int fd = listen_on(AF_INET6, (struct sockaddr *)&in6, sizeof(in6), backlog, true, o);

	if (fd == -EAFNOSUPPORT)
		fd = listen_on(AF_INET, (struct sockaddr *)&in4, sizeof(in4), backlog, false, o);
	return fd;
}

int reel_listen_tcp_opts(const char *host, uint16_t port, int backlog,
			 const struct reel_listen_opts *opts)
{
	static const struct reel_listen_opts defaults;
	const struct reel_listen_opts *o = opts ? opts : &defaults;
	struct addrinfo hints = {
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res, *ai;
	int r, fd = -ENODATA;   /* no TCP address at all (as EAI_NODATA) */
	bool tried = false;
	char service[8];

	if (o->flags & ~LISTEN_FLAGS)
		return -EINVAL;
	if (!host) {
		if (!reel__self_fiber())
			return -EPERM;
		return listen_any(port, backlog, o);
	}
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	r = reel_getaddrinfo(host, service, &hints, &res);
	if (r)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		if (!inet(ai))
			continue;
		r = listen_on(ai->ai_family, ai->ai_addr, ai->ai_addrlen, backlog, false, o);
		if (r >= 0 || !tried)
			fd = r;   /* the socket, or the first address's error */
		tried = true;
		if (r >= 0)
			break;
	}
	reel_offload__freeaddrinfo(res);
	return fd;
}

int reel_listen_tcp(const char *host, uint16_t port, int backlog)
{
	return reel_listen_tcp_opts(host, port, backlog, NULL);
}
