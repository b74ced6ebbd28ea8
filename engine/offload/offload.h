/*
 * offload.h - what the files of engine/offload share and nothing else
 * sees: detached thread-pool jobs (threadpool.c) for the name lookups of
 * resolve.c, and the lookups' test hooks. Not exported from the library.
 */
#ifndef REEL_OFFLOAD_IMPL_H
#define REEL_OFFLOAD_IMPL_H

#include <netdb.h>

#include <reel.h>

/*
 * reel_offload__run_detached - run @fn(@arg) on the pool, as reel_to_thread,
 * except that an interrupted caller never waits for a running @fn: it
 * returns the interruption at once and leaves the job to its worker.
 * @arg must be heap memory that @fn needs nothing else to use (no pointer
 * into the caller's frame), and @drop(@arg) must free it with whatever
 * @fn made; @drop may run on a pool thread, so it must only free memory.
 * Returns 0 when @fn ran and came back: @arg is the caller's again, fn's
 * value in *@status (when not NULL). Any other return - -ECANCELED /
 * -ETIMEDOUT, -EPERM outside a fiber, -ENOMEM, -EAGAIN (no thread) - means
 * @arg is no longer the caller's: @drop has been called, or the worker
 * calls it once @fn returns.
 * Context: fiber only.
 */
int reel_offload__run_detached(reel_fn fn, void *arg, void (*drop)(void *arg), int *status);

/*
 * Test hooks for name resolution (resolve.c): when set, the lookups made on
 * the thread pool call these instead of the libc's getaddrinfo and
 * freeaddrinfo (a slow lookup, a made-up address list). The numeric fast
 * path never uses them. The caller of reel_getaddrinfo still frees its
 * result with freeaddrinfo, so a getaddrinfo hook returns lists that
 * freeaddrinfo can free. Set them while no lookup runs.
 */
struct reel_offload__gai_hooks {
	int (*getaddrinfo)(const char *host, const char *service,
			   const struct addrinfo *hints, struct addrinfo **res);
	void (*freeaddrinfo)(struct addrinfo *res);
};
extern struct reel_offload__gai_hooks reel_offload__gai_hooks;

/* Free @res as the hooks say (freeaddrinfo when none is set). NULL: nothing. */
void reel_offload__freeaddrinfo(struct addrinfo *res);

#endif /* REEL_OFFLOAD_IMPL_H */
