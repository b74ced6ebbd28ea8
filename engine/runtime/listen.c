/*
 * listen.c - reel_rt_listen_tcp: one SO_REUSEPORT listener per loop of a
 * runtime, all on one port, so that every loop accepts (nginx's
 * "listen ... reuseport", Seastar's per-shard listeners).
 *
 * The sockets
 *   Each call makes a socket of its own with reel_listen_tcp_opts and
 *   REEL_LISTEN_REUSEPORT; the kernel hashes each new connection's 4-tuple
 *   onto one socket of the group, so connections spread evenly and a loop
 *   never touches another loop's listener. SO_INCOMING_CPU is not set:
 *   measured on this project's 2-vCPU machine, a pinned local client's
 *   SYNs are all handled on its own CPU, and with SO_INCOMING_CPU set on
 *   both sockets all 200 of 200 connections went to the loop on the
 *   client's CPU (0 of 200 to the other), where plain hashing gave 96 and
 *   104. The same happens behind a NIC with fewer queues than loops. A
 *   program that knows its NIC has a queue per core asks for it with
 *   reel_listen_tcp_opts(REEL_LISTEN_INCOMING_CPU) itself.
 *
 * Port 0
 *   "Any free port" must mean one port for the whole runtime, or each loop
 *   would listen somewhere else. The first loop to ask for (host, 0) binds
 *   port 0 and publishes the port the kernel chose in a table keyed by
 *   (runtime, host); the others bind that port, joining its group. The
 *   table is process-wide and guarded by a mutex that is never held across
 *   a park: a name lookup parks the fiber, and another fiber of the same
 *   thread taking the mutex meanwhile would deadlock. So the first caller
 *   leaves a "pending" entry, binds without the lock, then fills it in;
 *   callers that find it pending sleep a millisecond and look again (this
 *   happens only while a server starts). A failed first bind removes the
 *   entry, and the next caller tries on its own.
 *
 *   An entry is dropped once every loop of its runtime has had its socket
 *   (reel_rt_loops() of them), so a runtime that opens a listener on every
 *   loop leaves nothing behind. One that opens it on some loops only
 *   leaves its entry; should a later runtime be allocated at the same
 *   address, it would be offered that port again, which is then most
 *   likely free (a clash shows as -EADDRINUSE, never as a silent share of
 *   someone else's group: that needs their SO_REUSEPORT and our uid).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <reel_io.h>
#include <reel_rt.h>

#define PENDING_POLL_NS 1000000ull   /* how often a waiting loop looks again */

/* One (runtime, host) that asked for port 0; on the table's list. */
struct port_entry {
	struct port_entry *next;     /* on ports.head, under ports.lock */
	const struct reel_rt *rt;
	char *host;                  /* NULL: every address */
	int port;                    /* 0 while the first bind runs */
	unsigned handed;             /* sockets made on this port */
	unsigned loops;              /* of the runtime: drop the entry after */
};

static struct {
	pthread_mutex_t lock;
	struct port_entry *head;
} ports = { PTHREAD_MUTEX_INITIALIZER, NULL };

static bool same_host(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct port_entry **find_locked(const struct reel_rt *rt, const char *host)
{
	struct port_entry **pe;

	for (pe = &ports.head; *pe; pe = &(*pe)->next)
		if ((*pe)->rt == rt && same_host((*pe)->host, host))
			return pe;
	return NULL;
}

static void unlink_locked(struct port_entry **pe)
{
	struct port_entry *e = *pe;

	*pe = e->next;
	free(e->host);
	free(e);
}

/* A socket of @host's group on @port. */
static int listen_group(const char *host, uint16_t port, int backlog)
{
	static const struct reel_listen_opts opts = { .flags = REEL_LISTEN_REUSEPORT };

	return reel_listen_tcp_opts(host, port, backlog, &opts);
}

/*
 * Claim (rt, host): NULL and the port in *@port when another loop has
 * bound it; a new pending entry when we are first (we bind it); NULL and 0
 * in *@port when it is pending (look again later); NULL and -ENOMEM.
 */
static struct port_entry *claim(const struct reel_rt *rt, const char *host, int *port)
{
	struct port_entry **pe, *e = NULL;

	pthread_mutex_lock(&ports.lock);
	pe = find_locked(rt, host);
	if (pe) {
		*port = (*pe)->port;
		if (*port > 0 && ++(*pe)->handed >= (*pe)->loops)
			unlink_locked(pe);   /* every loop has it */
	} else {
		e = calloc(1, sizeof(*e));
		if (e && host && !(e->host = strdup(host))) {
			free(e);
			e = NULL;
		}
		*port = e ? 0 : -ENOMEM;
		if (e) {
			e->rt = rt;
			e->handed = 1;
			e->loops = (unsigned)reel_rt_loops();
			e->next = ports.head;
			ports.head = e;
		}
	}
	pthread_mutex_unlock(&ports.lock);
	return e;
}

/* The first bind of (rt, host) ended with @fd: publish its port, or drop
 * the entry when it failed so that the next caller tries on its own. */
static void publish(struct port_entry *e, int fd)
{
	struct port_entry **pe;
	int port = fd >= 0 ? reel_local_port(fd) : fd;

	pthread_mutex_lock(&ports.lock);
	for (pe = &ports.head; *pe != e; pe = &(*pe)->next)
		;
	if (port > 0 && e->handed < e->loops)
		e->port = port;
	else
		unlink_locked(pe);   /* failed, or a runtime of one loop */
	pthread_mutex_unlock(&ports.lock);
}

/* Port 0 in runtime @rt: one kernel-chosen port for every loop. */
static int listen_shared_any(const struct reel_rt *rt, const char *host, int backlog)
{
	struct port_entry *e;
	int port, fd, err;

	for (;;) {
		e = claim(rt, host, &port);
		if (e || port != 0)
			break;
		err = reel_sleep(PENDING_POLL_NS);   /* another loop is binding it */
		if (err < 0)
			return err;
	}
	if (!e)
		return port < 0 ? port : listen_group(host, (uint16_t)port, backlog);
	fd = listen_group(host, 0, backlog);
	publish(e, fd);
	return fd;
}

int reel_rt_listen_tcp(const char *host, uint16_t port, int backlog)
{
	struct reel_rt *rt = reel_rt_self();

	if (!rt || port != 0 || reel_rt_loops() <= 1)
		return listen_group(host, port, backlog);
	return listen_shared_any(rt, host, backlog);
}
