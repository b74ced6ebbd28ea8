/*
 * fiber.c - where fiber structs live: dense chunks, apart from the stacks.
 *
 * A fiber's bookkeeping (ready-queue node, sleep timer, state) is touched by
 * the loop far more often than the fiber runs: every timer cascade, wake-up
 * and queue operation walks it. Kept at the top of each stack, a million
 * fibers put a million timers on a million pages, and every cascade of the
 * wheel becomes a TLB and cache miss per timer (measured: ~1 s of a 1M-timer
 * run). Packed together in 2 MiB chunks, advised to be transparent huge
 * pages, the same walk touches a few huge pages. The stack is touched only
 * when the fiber actually runs.
 *
 * Chunks are never freed before the pool is; freed fibers are reused most
 * recent first. An idle fiber costs sizeof(struct reel__fiber) here plus the
 * one page of its stack that it has touched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

#define CHUNK_BYTES ((size_t)2 << 20)

/* Map one 2 MiB-aligned chunk, so the kernel can back it by a huge page. */
static void *map_chunk(void)
{
	size_t len = CHUNK_BYTES * 2;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *aligned;

	if (p == MAP_FAILED)
		return NULL;
	aligned = (char *)(((uintptr_t)p + CHUNK_BYTES - 1) & ~(uintptr_t)(CHUNK_BYTES - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + CHUNK_BYTES < p + len)
		munmap(aligned + CHUNK_BYTES, (size_t)(p + len - (aligned + CHUNK_BYTES)));
	madvise(aligned, CHUNK_BYTES, MADV_HUGEPAGE);
	return aligned;
}

static int grow(struct reel__fiber_pool *p)
{
	size_t per_chunk = CHUNK_BYTES / sizeof(struct reel__fiber);
	struct reel__fiber *chunk;
	void **chunks;

	chunks = realloc(p->chunks, (p->nchunks + 1) * sizeof(*chunks));
	if (!chunks)
		return -ENOMEM;
	p->chunks = chunks;
	chunk = map_chunk();
	if (!chunk)
		return -ENOMEM;
	p->chunks[p->nchunks++] = chunk;
	/* Link them in address order: the first handed out is the lowest. */
	for (size_t i = per_chunk; i-- > 0;) {
		chunk[i].next_free = p->free;
		p->free = &chunk[i];
	}
	return 0;
}

struct reel__fiber *reel__fiber_alloc(struct reel__fiber_pool *p)
{
	struct reel__fiber *f = p->free;

	if (reel_unlikely(!f)) {
		if (grow(p) != 0)
			return NULL;
		f = p->free;
	}
	p->free = f->next_free;
	p->live++;
	return f;
}

void reel__fiber_free(struct reel__fiber_pool *p, struct reel__fiber *f)
{
	f->next_free = p->free;
	p->free = f;
	p->live--;
}

void reel__fiber_pool_term(struct reel__fiber_pool *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		munmap(p->chunks[i], CHUNK_BYTES);
	free(p->chunks);
	*p = (struct reel__fiber_pool){ 0 };
}
