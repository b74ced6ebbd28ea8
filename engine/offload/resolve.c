/*
 * resolve.c - reel_getaddrinfo: names to addresses without blocking the
 * loop (asyncio's loop.getaddrinfo).
 *
 * Where a name is resolved
 *   - A numeric host ("127.0.0.1", "::1", "fe80::1%eth0") with a numeric or
 *     no service is parsed right here, by getaddrinfo with AI_NUMERICHOST |
 *     AI_NUMERICSERV, which never touches a file or the network: the
 *     common case costs one call, no thread, no allocation beyond the
 *     result. A host it does not take for a number goes on to the pool.
 *   - A name under "invalid." is answered -ENOENT at once (RFC 6761 §6.4:
 *     resolver libraries should, and tests rely on it on machines without
 *     DNS, where the lookup could otherwise take the resolver's full
 *     timeout to fail).
 *   - Everything else - names, service names (/etc/services) - is
 *     getaddrinfo on the thread pool, as asyncio does it: glibc's resolver
 *     has no asynchronous interface worth the name (getaddrinfo_a is a
 *     thread per request plus a signal or a thread to learn the result),
 *     and a resolver of our own would have to redo nsswitch, /etc/hosts,
 *     resolv.conf options, search domains and mDNS to give the same answers.
 *
 * Cancellation
 *   A lookup cannot be stopped once a thread runs it, and one can take the
 *   resolver's timeout (5 s per try by default). So the lookup is a
 *   detached job (threadpool.c): its state - the copied host, service and
 *   hints, the result - is one heap block, and an interrupted caller leaves
 *   it to the worker, which frees the block and the result when getaddrinfo
 *   returns. The caller's strings are copied for that reason: the worker may
 *   still read them after the caller has returned.
 *
 * Errors: EAI_* codes become errno values (the table in map_gai_error and in
 * the header), so the result fits reel's one error convention. gai_strerror
 * is not offered beside it: the mapping loses only EAI_NODATA versus
 * EAI_ADDRFAMILY and EAI_NONAME versus EAI_SERVICE, which the caller can
 * tell apart from what it asked.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <reel_io.h>

#include "../reelimpl.h"
#include "offload.h"

struct reel_offload__gai_hooks reel_offload__gai_hooks;

/* One lookup on the pool: one heap block, the worker's alone once its
 * caller gives up. */
struct lookup {
	struct addrinfo hints;      /* a copy: flags, family, socktype, protocol */
	struct addrinfo *res;       /* the answer, NULL until then */
	int err;                    /* 0 or the mapped -errno */
	const char *host, *service; /* into @names, or NULL */
	char names[];
};

/* The errno value for getaddrinfo's @gai (@sys: errno after EAI_SYSTEM). */
static int map_gai_error(int gai, int sys)
{
	switch (gai) {
	case EAI_NONAME:
	case EAI_SERVICE:
		return -ENOENT;            /* no such name or service */
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENODATA;           /* the name has no address of that kind */
	case EAI_AGAIN:
		return -EAGAIN;            /* no answer now: try again later */
	case EAI_FAIL:
		return -EIO;               /* the nameserver failed for good */
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_FAMILY:
		return -EAFNOSUPPORT;
	case EAI_SOCKTYPE:
		return -ESOCKTNOSUPPORT;
	case EAI_BADFLAGS:
		return -EINVAL;
	case EAI_OVERFLOW:
		return -EOVERFLOW;
	case EAI_SYSTEM:
		return sys > 0 ? -sys : -EIO;
	default:
		return -EIO;
	}
}

void reel_offload__freeaddrinfo(struct addrinfo *res)
{
	if (!res)
		return;
	if (reel_offload__gai_hooks.freeaddrinfo)
		reel_offload__gai_hooks.freeaddrinfo(res);
	else
		freeaddrinfo(res);
}

/* Runs on a pool thread. */
static int lookup_run(void *arg)
{
	struct lookup *lk = arg;
	int gai;

	errno = 0;
	if (reel_offload__gai_hooks.getaddrinfo)
		gai = reel_offload__gai_hooks.getaddrinfo(lk->host, lk->service, &lk->hints,
							  &lk->res);
	else
		gai = getaddrinfo(lk->host, lk->service, &lk->hints, &lk->res);
	if (gai) {
		lk->err = map_gai_error(gai, errno);
		lk->res = NULL;
	}
	return 0;
}

/* The lookup's drop: the caller is gone (or never got it). Any thread. */
static void lookup_drop(void *arg)
{
	struct lookup *lk = arg;

	reel_offload__freeaddrinfo(lk->res);
	free(lk);
}

/* "invalid", "x.invalid", "x.invalid." in any case (RFC 6761 §6.4). */
static bool invalid_tld(const char *host)
{
	static const char tld[] = "invalid";
	size_t n, k = sizeof(tld) - 1;

	if (!host)
		return false;
	n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	if (n < k || strncasecmp(host + n - k, tld, k) != 0)
		return false;
	return n == k || host[n - k - 1] == '.';
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* The fast path: 0 with *@res, -errno, or 1 when it is no numeric host
 * (or the service is a name): the pool's work. */
static int numeric(const char *host, const char *service, const struct addrinfo *hints,
		   struct addrinfo **res)
{
	struct addrinfo h = *hints;
	int gai;

	if (service && !all_digits(service))
		return 1;
	h.ai_flags |= AI_NUMERICHOST | (service ? AI_NUMERICSERV : 0);
	gai = getaddrinfo(host, service, &h, res);
	if (gai == 0)
		return 0;
	*res = NULL;
	if (gai == EAI_NONAME && host && !(hints->ai_flags & AI_NUMERICHOST))
		return 1;
	return map_gai_error(gai, errno);
}

/* A heap copy of @host and @service with @hints, for the pool. */
static struct lookup *lookup_new(const char *host, const char *service,
				 const struct addrinfo *hints)
{
	size_t hl = host ? strlen(host) + 1 : 0, sl = service ? strlen(service) + 1 : 0;
	struct lookup *lk = calloc(1, sizeof(*lk) + hl + sl);

	if (!lk)
		return NULL;
	lk->hints.ai_flags = hints->ai_flags;
	lk->hints.ai_family = hints->ai_family;
	lk->hints.ai_socktype = hints->ai_socktype;
	lk->hints.ai_protocol = hints->ai_protocol;
	if (host)
		lk->host = memcpy(lk->names, host, hl);
	if (service)
		lk->service = memcpy(lk->names + hl, service, sl);
	return lk;
}

int reel_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
		     struct addrinfo **res)
{
	struct addrinfo h = { .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG };   /* glibc's default */
	struct reel__fiber *self = reel__self_fiber();
	struct lookup *lk;
	int r;

	if (!res)
		return -EINVAL;
	*res = NULL;
	if (!host && !service)
		return -EINVAL;
	if (!self)
		return -EPERM;
	r = reel__interrupt_pending(self);
	if (r)
		return r;
	if (hints) {
		h.ai_flags = hints->ai_flags;
		h.ai_family = hints->ai_family;
		h.ai_socktype = hints->ai_socktype;
		h.ai_protocol = hints->ai_protocol;
	}
	if (invalid_tld(host))
		return -ENOENT;
	r = numeric(host, service, &h, res);
	if (r <= 0)
		return r;
	lk = lookup_new(host, service, &h);
	if (!lk)
		return -ENOMEM;
	r = reel_offload__run_detached(lookup_run, lk, lookup_drop, NULL);
	if (r)
		return r;             /* @lk is dropped, now or when the lookup ends */
	r = lk->err;
	*res = lk->res;
	free(lk);
	return r;
}
