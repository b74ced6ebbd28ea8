/*
 * stack.h - fiber stacks: mmap'd, lazily committed, guarded, cached for reuse.
 */
#ifndef REEL_STACK_H
#define REEL_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REEL__STACK_MIN_SHIFT 14   /* 16 KiB */
#define REEL__STACK_MAX_SHIFT 26   /* 64 MiB */
#define REEL__STACK_CLASSES (REEL__STACK_MAX_SHIFT - REEL__STACK_MIN_SHIFT + 1)

/*
 * The guard below every stack: as large as the stack itself, up to 64 KiB,
 * not one page. Code built without -fstack-clash-protection (Debian gcc's
 * default for user code) that declares a large local array moves the stack
 * pointer past the guard in one step; with one page, a frame of more than
 * the space left + 4 KiB wrote straight into the neighbouring stack of the
 * slab. Now any frame up to the guard + the space left faults in the guard
 * instead: on the default 64 KiB stack, a frame as large as the whole stack
 * (stack.c says what it costs).
 */
#define REEL__STACK_GUARD ((size_t)64 * 1024)

static inline size_t reel__stack_guard(size_t size)
{
	return size < REEL__STACK_GUARD ? size : REEL__STACK_GUARD;
}

/* A stack: [guard, reel__stack_guard(size)][lo ........... lo + size) */
struct reel__stack {
	char *lo;       /* lowest usable byte, just above the guard */
	size_t size;    /* usable bytes, a multiple of the page size */
	uint32_t slab;  /* index of its slab in the cache */
};

struct reel__free_stack {
	char *lo;
	uint32_t slab;
};

struct reel__stack_class {
	size_t size;            /* usable size of this class (0 until used) */
	struct reel__free_stack *free;  /* free stacks, most recent last */
	size_t nfree, cap;
	size_t carved;          /* stacks carved for it so far (slab sizing) */
	size_t cold;            /* free[0 .. cold) have no pages committed:
				 * fresh from a slab, or trimmed */
};

/* One mapping of stacks of one class; addr is NULL once it is unmapped and
 * the record waits for reuse. */
struct reel__stack_slab {
	void *addr;
	size_t len;
	uint32_t stacks;        /* stacks carved out of it */
	uint32_t in_use;        /* of those, handed out now */
	uint8_t cls;            /* index of its class */
	bool release;           /* trim: unmap it (all its stacks are free) */
};

struct iovec;

struct reel__stack_cache {
	size_t page;
	bool guard_install;     /* MADV_GUARD_INSTALL, else mprotect guards */
	bool no_batch_guard;    /* process_madvise refused guards: one call each */
	bool no_batch_commit;   /* ... and commits and trims */
	uint8_t commit;         /* how cold stacks are committed ahead (stack.c) */
	struct iovec *iov;      /* scratch for batched calls, or NULL */
	struct reel__stack_class classes[REEL__STACK_CLASSES];
	struct reel__stack_slab *slabs;  /* every mapping, for term and trim */
	size_t nslabs, slabs_cap;
	size_t mapped_slabs;    /* slabs with addr != NULL */
	size_t live;            /* stacks handed out and not yet freed */
	size_t untrimmed;       /* frees since the last complete trim */
};

/* Does this kernel install guard pages without a VMA (6.13+)? Probed once. */
bool reel__stack_guard_install_supported(void);

/* @allow_commit: commit the top pages of cold stacks ahead, in batches
 * (stack.c); false leaves every page to its first write. */
int reel__stack_cache_init(struct reel__stack_cache *p, bool allow_guard_install,
			   bool allow_commit);
void reel__stack_cache_term(struct reel__stack_cache *p);

/* The usable size a request of @requested bytes gets (a power of two of at
 * least 16 KiB), or 0 when it is above the 64 MiB maximum. */
size_t reel__stack_size(size_t requested);

/* Hand out a stack of at least @size usable bytes; 0 or -ENOMEM. The cache
 * keeps the mapping; give it back with reel__stack_free. */
int reel__stack_alloc(struct reel__stack_cache *p, size_t size, struct reel__stack *out);
void reel__stack_free(struct reel__stack_cache *p, const struct reel__stack *s);

/* Drop the pages of free stacks beyond the warmest few of each class (up to
 * 1,024 stacks a call), then unmap slabs whose stacks are all free (keeping
 * the warmest few stacks of each class), at most @budget system calls.
 * Returns how many were made. For idle time. */
unsigned reel__stack_trim(struct reel__stack_cache *p, unsigned budget);

#endif /* REEL_STACK_H */
