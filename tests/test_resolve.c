/*
 * Description: names (engine/offload/resolve.c, engine/offload/dial.c, the
 * detached jobs of engine/offload/threadpool.c; api/reel_io.h, docs/io.md
 * "Names"): reel_getaddrinfo resolves "localhost" on the thread pool, takes
 * numeric hosts at once without it, answers names under ".invalid" -ENOENT
 * without asking, maps every EAI_* code to its documented errno; a slow
 * lookup (a test hook sleeps in getaddrinfo's place) cancelled, timed out,
 * withdrawn while queued, or outlived by its loop returns at once and its
 * result is freed by the thread when the lookup ends. reel_connect_tcp and
 * reel_listen_tcp by name; happy eyeballs over made-up address lists: a
 * refused or unroutable address falls through at once, one that black-holes
 * (a listener with a full backlog) costs exactly the attempt delay, RFC 8305
 * interleaving and its first family count, the error reported when all
 * fail, sequential mode with a per-attempt timeout, a cancelled or timed
 * out race - and the losers' sockets closed every time (descriptors
 * counted). No test needs the network or a nameserver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "helpers.h"
#include "reel_io.h"
#include "reel_offload.h"
#include "offload/offload.h"

/* ---- the getaddrinfo hook ----------------------------------------------------------- */

/*
 * Installed for the whole file: the lookups made on the pool come here.
 *   "slow.test"   holds its thread until the test sets slow_release (at
 *                 most HOLD_NS), then answers 127.0.0.1 (service's port):
 *                 a lookup that cannot finish before the test says so;
 *   "list.test"   answers the made-up list in list_spec, in that order;
 *   "eai.test"    fails with eai_code (errno eai_errno);
 *   anything else goes to the real getaddrinfo.
 * A list is spliced from numeric getaddrinfo answers: glibc's freeaddrinfo
 * frees node by node, so freeaddrinfo frees the spliced list too.
 */
#define HOLD_NS (10 * SEC)

struct spec {
	const char *addr;        /* numeric */
	int port;                /* 0: the service asked for */
};

static struct spec list_spec[8];
static size_t list_len;
static int eai_code, eai_errno;
static atomic_int calls;          /* hook calls (lookups on the pool) */
static atomic_int slow_started, slow_done;
static atomic_bool slow_release;
static atomic_int frees;          /* lists freed by reel itself */
static atomic_bool called_on_loop;
static pthread_t loop_thread;

static int numeric_list(const char *addr, const char *service, struct addrinfo **res)
{
	struct addrinfo h = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
			      .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };

	return getaddrinfo(addr, service, &h, res);
}

static int made_up_list(const char *service, struct addrinfo **res)
{
	struct addrinfo *head = NULL, **tail = &head;

	for (size_t i = 0; i < list_len; i++) {
		char port[8];
		struct addrinfo *one;
		int r;

		if (list_spec[i].port)
			snprintf(port, sizeof(port), "%d", list_spec[i].port);
		r = numeric_list(list_spec[i].addr, list_spec[i].port ? port : service, &one);
		if (r) {
			freeaddrinfo(head);
			return r;
		}
		*tail = one;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return 0;
}

static int hook_getaddrinfo(const char *host, const char *service,
			    const struct addrinfo *hints, struct addrinfo **res)
{
	atomic_fetch_add(&calls, 1);
	if (pthread_equal(pthread_self(), loop_thread))
		atomic_store(&called_on_loop, true);
	if (host && strcmp(host, "slow.test") == 0) {
		int r;

		atomic_fetch_add(&slow_started, 1);
		for (uint64_t t = 0; !atomic_load(&slow_release) && t < HOLD_NS; t += MS)
			nap(1 * MS);
		r = numeric_list("127.0.0.1", service ? service : "0", res);
		atomic_fetch_add(&slow_done, 1);
		return r;
	}
	if (host && strcmp(host, "list.test") == 0)
		return made_up_list(service ? service : "0", res);
	if (host && strcmp(host, "eai.test") == 0) {
		errno = eai_errno;
		return eai_code;
	}
	return getaddrinfo(host, service, hints, res);
}

static void hook_freeaddrinfo(struct addrinfo *res)
{
	atomic_fetch_add(&frees, 1);
	freeaddrinfo(res);
}

static int setup(void **state)
{
	(void)state;
	loop_thread = pthread_self();   /* reel_run runs main on the test's thread */
	reel_offload__gai_hooks.getaddrinfo = hook_getaddrinfo;
	reel_offload__gai_hooks.freeaddrinfo = hook_freeaddrinfo;
	return reel_threadpool_size(4);
}

static int teardown(void **state)
{
	(void)state;
	reel_offload__gai_hooks.getaddrinfo = NULL;
	reel_offload__gai_hooks.freeaddrinfo = NULL;
	return 0;
}

static void set_list(const struct spec *s, size_t n)
{
	memcpy(list_spec, s, n * sizeof(*s));
	list_len = n;
}


/* Open descriptors once this loop's thread-pool mailbox (an eventfd,
 * made by its first job) exists: the base for counting sockets. */
static int fds_base(void)
{
	FCHECK_EQ(reel_to_thread(return_arg, NULL, NULL), 0);
	return count_fds();
}

/* Park until *@counter reaches @want, at most 5 s. */
static int wait_count(atomic_int *counter, int want)
{
	for (int ms = 0; atomic_load(counter) < want; ms++) {
		FCHECK(ms < 5000);
		FCHECK_EQ(reel_sleep(1 * MS), 0);
	}
	return 0;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

static int port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* ---- reel_getaddrinfo ----------------------------------------------------------------- */

static int localhost_main(void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int n = 0;

	(void)arg;
	atomic_store(&calls, 0);
	FCHECK_EQ(reel_getaddrinfo("localhost", "80", &hints, &res), 0);
	FCHECK(res != NULL);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next, n++) {
		FCHECK(is_loopback(ai->ai_addr));   /* 127.0.0.1 and/or ::1 */
		FCHECK_EQ(port_of(ai->ai_addr), 80);
		FCHECK_EQ(ai->ai_socktype, SOCK_STREAM);
	}
	FCHECK(n >= 1);
	freeaddrinfo(res);
	FCHECK_EQ(atomic_load(&calls), 1);          /* one lookup, */
	FCHECK(!atomic_load(&called_on_loop));      /* on a pool thread */
	return 0;
}

static void test_resolve_localhost(void **state)
{
	(void)state;
	run_ok(localhost_main, NULL);
}

static int numeric_main(void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo passive = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char buf[INET6_ADDRSTRLEN];

	(void)arg;
	atomic_store(&calls, 0);
	FCHECK_EQ(reel_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
	FCHECK_EQ(res->ai_family, AF_INET);
	FCHECK(is_loopback(res->ai_addr));
	FCHECK_EQ(port_of(res->ai_addr), 8080);
	FCHECK(res->ai_next == NULL);
	freeaddrinfo(res);
	FCHECK_EQ(reel_getaddrinfo("::1", NULL, &hints, &res), 0);
	FCHECK_EQ(res->ai_family, AF_INET6);
	FCHECK(is_loopback(res->ai_addr));
	freeaddrinfo(res);
	FCHECK_EQ(reel_getaddrinfo("2001:db8::17", "1", NULL, &res), 0);
	FCHECK(inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, buf,
			 sizeof(buf)) != NULL);
	FCHECK(strcmp(buf, "2001:db8::17") == 0);
	freeaddrinfo(res);
	/* no host: the wildcard addresses of a server */
	FCHECK_EQ(reel_getaddrinfo(NULL, "8080", &passive, &res), 0);
	FCHECK_EQ(port_of(res->ai_addr), 8080);
	freeaddrinfo(res);
	/* a numeric host with hints getaddrinfo refuses is answered here too */
	hints.ai_family = 12345;
	FCHECK_EQ(reel_getaddrinfo("127.0.0.1", "80", &hints, &res), -EAFNOSUPPORT);
	FCHECK(res == NULL);
	FCHECK_EQ(atomic_load(&calls), 0);   /* the pool was never asked */
	return 0;
}

static void test_resolve_numeric_skips_the_pool(void **state)
{
	(void)state;
	run_ok(numeric_main, NULL);
}

static int invalid_main(void *arg)
{
	static const char *const names[] = {
		"no-such-host.invalid", "x.y.INVALID", "trailing.invalid.", "invalid",
	};
	struct addrinfo *res = (struct addrinfo *)&res;   /* must be cleared */

	(void)arg;
	atomic_store(&calls, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		FCHECK_EQ(reel_getaddrinfo(names[i], "80", NULL, &res), -ENOENT);
		FCHECK(res == NULL);
		res = (struct addrinfo *)&res;
	}
	FCHECK_EQ(reel_connect_tcp("no-such-host.invalid", 80), -ENOENT);
	FCHECK_EQ(reel_listen_tcp("no-such-host.invalid", 0, 1), -ENOENT);
	FCHECK_EQ(atomic_load(&calls), 0);   /* answered without a lookup */
	/* merely ending in "invalid" is an ordinary name: it is looked up */
	eai_code = EAI_NONAME;
	FCHECK_EQ(reel_getaddrinfo("eai.test", NULL, NULL, &res), -ENOENT);
	FCHECK_EQ(atomic_load(&calls), 1);
	return 0;
}

static void test_resolve_invalid_tld_fails_at_once(void **state)
{
	(void)state;
	run_ok(invalid_main, NULL);
}

static int mapping_main(void *arg)
{
	static const struct { int eai, sys, want; } table[] = {
		{ EAI_NONAME, 0, -ENOENT },
		{ EAI_SERVICE, 0, -ENOENT },
		{ EAI_NODATA, 0, -ENODATA },
		{ EAI_ADDRFAMILY, 0, -ENODATA },
		{ EAI_AGAIN, 0, -EAGAIN },
		{ EAI_FAIL, 0, -EIO },
		{ EAI_MEMORY, 0, -ENOMEM },
		{ EAI_FAMILY, 0, -EAFNOSUPPORT },
		{ EAI_SOCKTYPE, 0, -ESOCKTNOSUPPORT },
		{ EAI_BADFLAGS, 0, -EINVAL },
		{ EAI_OVERFLOW, 0, -EOVERFLOW },
		{ EAI_SYSTEM, EMFILE, -EMFILE },
		{ EAI_SYSTEM, 0, -EIO },
		{ -12345, 0, -EIO },   /* one getaddrinfo may add some day */
	};
	struct addrinfo *res;

	(void)arg;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		eai_code = table[i].eai;
		eai_errno = table[i].sys;
		res = (struct addrinfo *)&res;
		FCHECK_EQ(reel_getaddrinfo("eai.test", "80", NULL, &res), table[i].want);
		FCHECK(res == NULL);
	}
	return 0;
}

static void test_resolve_eai_codes_map_to_errno(void **state)
{
	(void)state;
	run_ok(mapping_main, NULL);
}

static int cancel_self_then_lookup(void *arg)
{
	struct addrinfo *res;

	(void)arg;
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_getaddrinfo("localhost", NULL, NULL, &res), -ECANCELED);
	FCHECK_EQ(reel_getaddrinfo("127.0.0.1", NULL, NULL, &res), -ECANCELED);
	return 0;
}

static int bad_args_main(void *arg)
{
	struct addrinfo *res;
	reel_task t;
	int st = -1;

	(void)arg;
	atomic_store(&calls, 0);
	FCHECK_EQ(reel_getaddrinfo("localhost", NULL, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
	FCHECK_EQ(reel_connect_tcp(NULL, 80), -EINVAL);
	{
		struct reel_connect_opts o = { .family = AF_UNIX };

		FCHECK_EQ(reel_connect_tcp_opts("127.0.0.1", 80, &o), -EINVAL);
	}
	FCHECK_EQ(reel_spawn(&t, cancel_self_then_lookup, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(atomic_load(&calls), 0);
	return 0;
}

static void test_resolve_bad_arguments(void **state)
{
	struct addrinfo *res = NULL;

	(void)state;
	run_ok(bad_args_main, NULL);
	assert_int_equal(reel_getaddrinfo("127.0.0.1", NULL, NULL, &res), -EPERM);
	assert_null(res);
	assert_int_equal(reel_listen_tcp(NULL, 0, 1), -EPERM);
	assert_int_equal(reel_connect_tcp("localhost", 80), -EPERM);
}

/* ---- a slow lookup, given up ---------------------------------------------------------- */

struct lookup {
	const char *host;
	int r;
	struct addrinfo *res;
	bool returned;
};

static int do_lookup(void *arg)
{
	struct lookup *lk = arg;

	lk->r = reel_getaddrinfo(lk->host, "80", NULL, &lk->res);
	lk->returned = true;
	return lk->r;
}

/* Park until the hook has started @n slow lookups (the job is running). */
static int wait_slow_started(int n)
{
	return wait_count(&slow_started, n);
}

static void reset_counts(void)
{
	atomic_store(&calls, 0);
	atomic_store(&slow_started, 0);
	atomic_store(&slow_done, 0);
	atomic_store(&slow_release, false);
	atomic_store(&frees, 0);
}

/* Let the held lookups finish; park until @n results were freed by reel. */
static int release_and_wait_frees(int n)
{
	atomic_store(&slow_release, true);
	FCHECK_EQ(wait_count(&frees, n), 0);
	FCHECK_EQ(atomic_load(&slow_done), n);
	return 0;
}

static int cancel_slow_main(void *arg)
{
	struct lookup lk = { .host = "slow.test", .r = 1 };
	uint64_t t0, el;
	reel_task t;
	int st;

	(void)arg;
	reset_counts();
	FCHECK_EQ(reel_spawn(&t, do_lookup, &lk, NULL), 0);
	FCHECK_EQ(wait_slow_started(1), 0);   /* a thread is inside getaddrinfo */
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	el = reel_now() - t0;
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(lk.r, -ECANCELED);
	FCHECK(lk.res == NULL);
	/* At once: the lookup is held until we let it go (or HOLD_NS). */
	FCHECK(el < LATE_OK_NS);
	FCHECK_EQ(atomic_load(&slow_done), 0);
	FCHECK_EQ(atomic_load(&frees), 0);
	/* The thread finishes the lookup and frees its result itself. */
	FCHECK_EQ(release_and_wait_frees(1), 0);
	return 0;
}

static void test_resolve_cancel_slow_lookup_returns_at_once(void **state)
{
	(void)state;
	run_ok(cancel_slow_main, NULL);
}

static int connect_slow(void *arg)
{
	int *r = arg;

	*r = reel_connect_tcp("slow.test", 80);
	return *r;
}

static int deadline_slow_main(void *arg)
{
	struct lookup lk = { .host = "slow.test", .r = 1 };
	uint64_t t0, el;
	int st = 1, cr = 1;

	(void)arg;
	reset_counts();
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(100 * MS, do_lookup, &lk, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(lk.res == NULL);
	FCHECK(el >= 100 * MS);                 /* never early */
	FCHECK(el < 100 * MS + LATE_OK_NS);     /* nor after the lookup */
	/* so is a connect whose name is slow (two threads held now) */
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(100 * MS, connect_slow, &cr, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK_EQ(cr, -ETIMEDOUT);
	FCHECK(el >= 100 * MS);
	FCHECK(el < 100 * MS + LATE_OK_NS);
	FCHECK_EQ(atomic_load(&slow_done), 0);
	FCHECK_EQ(atomic_load(&frees), 0);
	FCHECK_EQ(release_and_wait_frees(2), 0);
	return 0;
}

static void test_resolve_deadline_on_slow_lookup(void **state)
{
	(void)state;
	run_ok(deadline_slow_main, NULL);
}

/* The loop ends while the lookup it gave up still runs: the worker must
 * not touch the loop's mailbox (gone by then), and still frees the result. */
static int outlived_main(void *arg)
{
	struct lookup lk = { .host = "slow.test", .r = 1 };
	int st = 1;

	(void)arg;
	reset_counts();
	FCHECK_EQ(reel_wait_for(50 * MS, do_lookup, &lk, &st), -ETIMEDOUT);
	FCHECK_EQ(wait_slow_started(1), 0);
	return 0;   /* the loop closes with the lookup still held */
}

static void test_resolve_loop_ends_before_abandoned_lookup(void **state)
{
	(void)state;
	run_ok(outlived_main, NULL);   /* closed clean: nothing pending */
	assert_int_equal(atomic_load(&slow_done), 0);
	atomic_store(&slow_release, true);
	for (int ms = 0; atomic_load(&frees) < 1; ms++) {
		assert_true(ms < 5000);
		nap(1 * MS);
	}
	assert_int_equal(atomic_load(&slow_done), 1);
}

/* A lookup still queued (the only thread is busy) is withdrawn: it never
 * runs, and the one running is left to its thread. */
static int withdrawn_main(void *arg)
{
	struct lookup a = { .host = "slow.test", .r = 1 }, b = { .host = "slow.test", .r = 1 };
	reel_task ta, tb;
	uint64_t t0;

	(void)arg;
	reset_counts();
	FCHECK_EQ(reel_threadpool_size(1), 0);
	FCHECK_EQ(reel_spawn(&ta, do_lookup, &a, NULL), 0);
	FCHECK_EQ(wait_slow_started(1), 0);
	FCHECK_EQ(reel_spawn(&tb, do_lookup, &b, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);   /* b is queued behind a */
	FCHECK(!b.returned);
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(tb), 0);
	FCHECK_EQ(reel_join(tb, NULL), 0);
	FCHECK_EQ(b.r, -ECANCELED);
	FCHECK_EQ(reel_cancel(ta), 0);
	FCHECK_EQ(reel_join(ta, NULL), 0);
	FCHECK_EQ(a.r, -ECANCELED);
	FCHECK(reel_now() - t0 < LATE_OK_NS);
	FCHECK_EQ(release_and_wait_frees(1), 0);   /* a's result */
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(atomic_load(&calls), 1);     /* b never ran */
	FCHECK_EQ(atomic_load(&frees), 1);     /* and left nothing to free */
	FCHECK_EQ(reel_threadpool_size(4), 0);
	return 0;
}

static void test_resolve_queued_lookup_withdrawn(void **state)
{
	(void)state;
	run_ok(withdrawn_main, NULL);
}

/* ---- listening and connecting by name ------------------------------------------------- */


/* IPv6 loopback usable here? (Some containers have none.) */
static bool have_ipv6(void)
{
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (s >= 0)
		close(s);
	return ok;
}

/* Accept on @lfd and check the pair with one byte each way. */
static int check_pair(int fd, int lfd)
{
	char c = 0;
	int b = reel_accept(lfd, NULL, NULL, 0);

	FCHECK(b >= 0);
	FCHECK_EQ(reel_send(fd, "x", 1, 0), 1);
	FCHECK_EQ(reel_recv(b, &c, 1, 0), 1);
	FCHECK_EQ(c, 'x');
	FCHECK_EQ(reel_close(b), 0);
	return 0;
}

static int localhost_pair_main(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd, fd, one = 0;

	(void)arg;
	reset_counts();
	lfd = reel_listen_tcp("localhost", 0, 16);
	FCHECK(lfd >= 0);
	FCHECK_EQ(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	FCHECK(is_loopback((struct sockaddr *)&ss));
	fd = reel_connect_tcp("localhost", (uint16_t)reel_local_port(lfd));
	FCHECK(fd >= 0);
	len = sizeof(one);
	FCHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len), 0);
	FCHECK(one != 0);
	FCHECK_EQ(check_pair(fd, lfd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(lfd), 0);
	FCHECK_EQ(atomic_load(&calls), 2);   /* both names looked up on the pool */
	FCHECK_EQ(atomic_load(&frees), 2);   /* and both lists freed */
	/* numeric: no lookup */
	lfd = reel_listen_tcp("127.0.0.1", 0, 16);
	FCHECK(lfd >= 0);
	fd = reel_connect_tcp("127.0.0.1", (uint16_t)reel_local_port(lfd));
	FCHECK(fd >= 0);
	FCHECK_EQ(check_pair(fd, lfd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(lfd), 0);
	FCHECK_EQ(atomic_load(&calls), 2);
	return 0;
}

static void test_resolve_listen_and_connect_localhost(void **state)
{
	(void)state;
	run_ok(localhost_pair_main, NULL);
}

/* A name for both families, one of which listens: the other is refused at
 * once and the next address is tried at once (the delay is 5 s here). */
struct one_family {
	int listen_family;
	bool v6_first;
};

/* Holds loopback port @port (0: any free one) of @family bound but not
 * listening, so a connect there is refused for as long as it is held: the
 * socket, or -1 when someone else has the port. */
static int hold_port(int family, int port)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = family == AF_INET ? bind(s, (struct sockaddr *)&in4, sizeof(in4))
				  : bind(s, (struct sockaddr *)&in6, sizeof(in6));

	if (r != 0) {
		close(s);
		return -1;
	}
	return s;
}

static int one_family_main(void *arg)
{
	struct one_family *of = arg;
	const char *lhost = of->listen_family == AF_INET ? "127.0.0.1" : "::1";
	int other = of->listen_family == AF_INET ? AF_INET6 : AF_INET;
	struct reel_connect_opts o = { .delay_ns = 5 * SEC };
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int lfd, fd, port, held = -1, base = fds_base();
	uint64_t t0, el;

	/* A port that listens in one family and is held shut in the other. */
	for (int tries = 0; held < 0; tries++) {
		FCHECK(tries < 20);
		lfd = reel_listen_tcp(lhost, 0, 16);
		FCHECK(lfd >= 0);
		port = reel_local_port(lfd);
		held = hold_port(other, port);
		if (held < 0)
			FCHECK_EQ(reel_close(lfd), 0);
	}
	set_list((struct spec[]){ { of->v6_first ? "::1" : "127.0.0.1", 0 },
				  { of->v6_first ? "127.0.0.1" : "::1", 0 } }, 2);
	t0 = reel_now();
	fd = reel_connect_tcp_opts("list.test", (uint16_t)port, &o);
	el = reel_now() - t0;
	FCHECK(fd >= 0);
	FCHECK(el < 2 * SEC);   /* not after the 5 s delay */
	FCHECK_EQ(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	FCHECK_EQ(peer.ss_family, of->listen_family);
	FCHECK_EQ(port_of((struct sockaddr *)&peer), port);
	FCHECK_EQ(count_fds(), base + 3);   /* listener, held port, winner */
	FCHECK_EQ(check_pair(fd, lfd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(lfd), 0);
	close(held);
	return 0;
}

static void test_resolve_connect_falls_through_to_listening_family(void **state)
{
	struct one_family cases[] = {
		{ AF_INET, true }, { AF_INET, false }, { AF_INET6, true }, { AF_INET6, false },
	};

	(void)state;
	if (!have_ipv6())
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_ok(one_family_main, &cases[i]);
}

/* Happy eyeballs proper: the first address black-holes, the second
 * connects once the attempt delay has passed - never before it. */
struct race_case {
	uint64_t delay_ns;      /* 0: the default, 250 ms */
	int hole_family;
};

static int race_main(void *arg)
{
	struct race_case *rc = arg;
	struct reel_connect_opts o = { .delay_ns = rc->delay_ns };
	uint64_t want = rc->delay_ns ? rc->delay_ns : 250 * MS, t0, el;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int lfd, fd, base;
	struct full hole;

	FCHECK_EQ(full_backlog(&hole, rc->hole_family), 0);
	lfd = reel_listen_tcp("127.0.0.1", 0, 16);
	FCHECK(lfd >= 0);
	base = fds_base();
	set_list((struct spec[]){ { rc->hole_family == AF_INET ? "127.0.0.1" : "::1", hole.port },
				  { "127.0.0.1", reel_local_port(lfd) } }, 2);
	t0 = reel_now();
	fd = reel_connect_tcp_opts("list.test", 1, rc->delay_ns ? &o : NULL);
	el = reel_now() - t0;
	FCHECK(fd >= 0);
	FCHECK(el >= want);                 /* the second attempt waited its turn */
	FCHECK(el < want + LATE_OK_NS);
	FCHECK_EQ(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	FCHECK_EQ(port_of((struct sockaddr *)&peer), reel_local_port(lfd));
	FCHECK_EQ(count_fds(), base + 1);   /* the loser's socket is closed */
	FCHECK_EQ(check_pair(fd, lfd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(lfd), 0);
	full_close(&hole);
	return 0;
}

static void test_resolve_happy_eyeballs_black_hole_costs_one_delay(void **state)
{
	struct race_case a = { 100 * MS, AF_INET }, b = { 0, AF_INET }, c = { 100 * MS, AF_INET6 };

	(void)state;
	run_ok(race_main, &a);
	run_ok(race_main, &b);
	if (have_ipv6())
		run_ok(race_main, &c);
}

/* RFC 8305 order: [v6 refused, v6 good, v4 good] is tried as v6 refused,
 * v4 good, v6 good (one of the first family, then alternate); with a first
 * family count of 2, the two v6 addresses come first. */
static int interleave_main(void *arg)
{
	unsigned ffc = (unsigned)(uintptr_t)arg;
	struct reel_connect_opts o = { .delay_ns = 5 * SEC, .first_family_count = ffc };
	int l4 = reel_listen_tcp("127.0.0.1", 0, 16), l6 = reel_listen_tcp("::1", 0, 16);
	int closed = hold_port(AF_INET6, 0), cport, fd;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	FCHECK(l4 >= 0 && l6 >= 0 && closed >= 0);
	cport = reel_local_port(closed);
	set_list((struct spec[]){ { "::1", cport }, { "::1", reel_local_port(l6) },
				  { "127.0.0.1", reel_local_port(l4) } }, 3);
	fd = reel_connect_tcp_opts("list.test", 1, &o);
	FCHECK(fd >= 0);
	FCHECK_EQ(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	if (ffc == 2) {
		FCHECK_EQ(peer.ss_family, AF_INET6);
		FCHECK_EQ(check_pair(fd, l6), 0);
	} else {
		FCHECK_EQ(peer.ss_family, AF_INET);
		FCHECK_EQ(check_pair(fd, l4), 0);
	}
	FCHECK_EQ(reel_close(fd), 0);
	FCHECK_EQ(reel_close(l4), 0);
	FCHECK_EQ(reel_close(l6), 0);
	close(closed);
	return 0;
}

static void test_resolve_interleave_families(void **state)
{
	(void)state;
	if (!have_ipv6())
		skip();
	run_ok(interleave_main, (void *)(uintptr_t)0);   /* default: 1 */
	run_ok(interleave_main, (void *)(uintptr_t)1);
	run_ok(interleave_main, (void *)(uintptr_t)2);
}

/* Every attempt fails: which error is reported. Multicast destinations
 * fail locally with -ENETUNREACH ("this family can't get there"). */
static int all_fail_main(void *arg)
{
	int closed = hold_port(AF_INET, 0), cport, base;

	(void)arg;
	FCHECK(closed >= 0);
	cport = reel_local_port(closed);
	base = fds_base();
	reset_counts();
	/* refused twice: -ECONNREFUSED */
	set_list((struct spec[]){ { "127.0.0.1", cport }, { "127.0.0.1", cport } }, 2);
	FCHECK_EQ(reel_connect_tcp("list.test", 1), -ECONNREFUSED);
	/* unreachable first, refused next: the refusal says more */
	set_list((struct spec[]){ { "224.0.0.1", 0 }, { "127.0.0.1", cport } }, 2);
	FCHECK_EQ(reel_connect_tcp("list.test", 1), -ECONNREFUSED);
	/* only unreachable: the first error */
	set_list((struct spec[]){ { "224.0.0.1", 0 }, { "255.255.255.255", 0 } }, 2);
	FCHECK_EQ(reel_connect_tcp("list.test", 1), -ENETUNREACH);
	/* sequential mode gives the same answers */
	{
		struct reel_connect_opts o = { .delay_ns = REEL_CONNECT_SEQUENTIAL };

		set_list((struct spec[]){ { "224.0.0.1", 0 }, { "127.0.0.1", cport } }, 2);
		FCHECK_EQ(reel_connect_tcp_opts("list.test", 1, &o), -ECONNREFUSED);
	}
	/* one address: its own error */
	FCHECK_EQ(reel_connect_tcp("127.0.0.1", (uint16_t)cport), -ECONNREFUSED);
	FCHECK_EQ(atomic_load(&frees), 5);   /* every list freed, the numeric one too */
	FCHECK_EQ(count_fds(), base);        /* every socket closed */
	close(closed);
	return 0;
}

static void test_resolve_connect_all_fail_reports_best_error(void **state)
{
	(void)state;
	run_ok(all_fail_main, NULL);
}

/* Sequential mode: an attempt runs to its end (here its own timeout)
 * before the next starts; an enclosing deadline stops the whole dial. */
static int sequential_main(void *arg)
{
	struct reel_connect_opts o = { .delay_ns = REEL_CONNECT_SEQUENTIAL,
				       .attempt_timeout_ns = 150 * MS };
	int lfd, fd, base;
	struct full hole;
	uint64_t t0, el;

	(void)arg;
	FCHECK_EQ(full_backlog(&hole, AF_INET), 0);
	lfd = reel_listen_tcp("127.0.0.1", 0, 16);
	FCHECK(lfd >= 0);
	base = fds_base();
	set_list((struct spec[]){ { "127.0.0.1", hole.port },
				  { "127.0.0.1", reel_local_port(lfd) } }, 2);
	t0 = reel_now();
	fd = reel_connect_tcp_opts("list.test", 1, &o);
	el = reel_now() - t0;
	FCHECK(fd >= 0);
	FCHECK(el >= 150 * MS);
	FCHECK(el < 150 * MS + LATE_OK_NS);
	FCHECK_EQ(count_fds(), base + 1);
	FCHECK_EQ(check_pair(fd, lfd), 0);
	FCHECK_EQ(reel_close(fd), 0);
	/* the black hole alone, per-attempt timeout: -ETIMEDOUT */
	set_list((struct spec[]){ { "127.0.0.1", hole.port } }, 1);
	FCHECK_EQ(reel_connect_tcp_opts("list.test", 1, &o), -ETIMEDOUT);
	FCHECK_EQ(count_fds(), base);
	FCHECK_EQ(reel_close(lfd), 0);
	full_close(&hole);
	return 0;
}

static void test_resolve_sequential_with_attempt_timeout(void **state)
{
	(void)state;
	run_ok(sequential_main, NULL);
}

/* A race cancelled, or cut by a deadline, with two attempts in flight:
 * -ECANCELED / -ETIMEDOUT at once, both attempts' sockets closed. */
struct dialing {
	int port;
	int r;
};

static int dial_holes(void *arg)
{
	struct dialing *d = arg;
	struct reel_connect_opts o = { .delay_ns = 20 * MS };

	set_list((struct spec[]){ { "127.0.0.1", d->port }, { "127.0.0.1", d->port } }, 2);
	d->r = reel_connect_tcp_opts("list.test", 1, &o);
	return 0;
}

static int cancel_race_main(void *arg)
{
	struct dialing d = { .r = 1 };
	struct full hole;
	uint64_t t0, el;
	reel_task t;
	int base, st = 1;

	(void)arg;
	FCHECK_EQ(full_backlog(&hole, AF_INET), 0);
	d.port = hole.port;
	base = fds_base();
	FCHECK_EQ(reel_spawn(&t, dial_holes, &d, NULL), 0);
	FCHECK_EQ(reel_sleep(100 * MS), 0);   /* both attempts started */
	FCHECK_EQ(d.r, 1);
	FCHECK_EQ(count_fds(), base + 2);
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	el = reel_now() - t0;
	FCHECK_EQ(d.r, -ECANCELED);
	FCHECK(el < LATE_OK_NS);
	FCHECK_EQ(count_fds(), base);
	/* the same under a deadline */
	d.r = 1;
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(100 * MS, dial_holes, &d, &st), -ETIMEDOUT);
	el = reel_now() - t0;
	FCHECK_EQ(d.r, -ETIMEDOUT);
	FCHECK(el >= 100 * MS);
	FCHECK(el < 100 * MS + LATE_OK_NS);
	FCHECK_EQ(count_fds(), base);
	full_close(&hole);
	return 0;
}

static void test_resolve_connect_race_cancelled(void **state)
{
	(void)state;
	run_ok(cancel_race_main, NULL);
}

/* Listening on a name binds the first of its addresses that binds. */
static int listen_name_main(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd;

	(void)arg;
	/* 192.0.2.1 (TEST-NET-1) is no address of this machine */
	set_list((struct spec[]){ { "192.0.2.1", 0 }, { "127.0.0.1", 0 } }, 2);
	lfd = reel_listen_tcp("list.test", 0, 4);
	FCHECK(lfd >= 0);
	FCHECK_EQ(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	FCHECK(is_loopback((struct sockaddr *)&ss));
	FCHECK(reel_local_port(lfd) > 0);
	FCHECK_EQ(reel_close(lfd), 0);
	set_list((struct spec[]){ { "192.0.2.1", 0 } }, 1);
	FCHECK_EQ(reel_listen_tcp("list.test", 0, 4), -EADDRNOTAVAIL);
	return 0;
}

static void test_resolve_listen_by_name(void **state)
{
	(void)state;
	run_ok(listen_name_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_localhost),
		cmocka_unit_test(test_resolve_numeric_skips_the_pool),
		cmocka_unit_test(test_resolve_invalid_tld_fails_at_once),
		cmocka_unit_test(test_resolve_eai_codes_map_to_errno),
		cmocka_unit_test(test_resolve_bad_arguments),
		cmocka_unit_test(test_resolve_cancel_slow_lookup_returns_at_once),
		cmocka_unit_test(test_resolve_deadline_on_slow_lookup),
		cmocka_unit_test(test_resolve_loop_ends_before_abandoned_lookup),
		cmocka_unit_test(test_resolve_queued_lookup_withdrawn),
		cmocka_unit_test(test_resolve_listen_and_connect_localhost),
		cmocka_unit_test(test_resolve_connect_falls_through_to_listening_family),
		cmocka_unit_test(test_resolve_happy_eyeballs_black_hole_costs_one_delay),
		cmocka_unit_test(test_resolve_interleave_families),
		cmocka_unit_test(test_resolve_connect_all_fail_reports_best_error),
		cmocka_unit_test(test_resolve_sequential_with_attempt_timeout),
		cmocka_unit_test(test_resolve_connect_race_cancelled),
		cmocka_unit_test(test_resolve_listen_by_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
