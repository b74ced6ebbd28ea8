/*
 * stack.c - the stack cache.
 *
 * Stacks are carved out of slabs: one anonymous mapping (MAP_NORESERVE, so
 * nothing is committed until touched) holding up to SLAB_STACKS stacks, each
 * with a guard below it as large as the stack, up to 64 KiB (stack.h). On kernels with
 * MADV_GUARD_INSTALL (6.13+) a guard is page-table markers, not a VMA, so a
 * slab stays one VMA whatever it holds and a million guarded stacks fit
 * under vm.max_map_count (65530). Elsewhere guards are mprotect(PROT_NONE)
 * ranges, two VMAs per stack, which caps a process near 32k live stacks;
 * the capability report says so.
 *
 * Why a guard as large as the stack (up to 64 KiB), not a page: a frame
 * larger than the space left plus the guard skips the guard (stack.h). A
 * guard commits no memory either way; it costs address space (a 64 KiB
 * stack spans 128 KiB) and, with guard markers, page-table entries:
 * measured at 100k idle fibers on 64 KiB stacks, page tables grow from 13.4
 * to 25.2 MB (134 to 252 bytes a fiber, beside ~4.3 KB of RSS), spawn +
 * first run unchanged within this VM's noise (each stack's first-touch page
 * fault dominates). A flat 64 KiB was tried first: on 16 KiB stacks it
 * quadrupled the page tables (12 to 47 MB at 300k fibers) and made spawning
 * ~25% slower, for frames -fstack-clash-protection catches anyway (the flag
 * the project builds with and reel.h recommends); sized to the stack, the
 * same 300k fibers cost 19 MB of page tables and spawn as fast as before.
 *
 * Freed stacks are kept per size class and reused, most recently freed first
 * (its pages are still warm). Freeing never makes a system call: a burst of
 * a million fibers ending must not cost a million madvise calls on the way.
 * Instead the loop trims when it is idle (reel__stack_trim, just before it
 * blocks): free stacks beyond the HOT most recent of a class get
 * MADV_DONTNEED, which drops their pages but keeps the address range and its
 * guard - the way Go's scavenger returns idle stack memory. A slab whose
 * stacks are all free is then unmapped whole (beyond the HOT free stacks
 * its class keeps), so a burst of one size does not keep its address space
 * for the rest of the run: under RLIMIT_AS or RLIMIT_DATA, fibers of another
 * size must still fit. Slabs are never unmapped piecemeal: holes would
 * split them into many VMAs. Everything left is unmapped at cache term.
 *
 * Sizes round up to a power of two from 16 KiB to 64 MiB, one class each:
 * rounding costs address space only, since pages are committed when touched.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../reelimpl.h"   /* reel__fault */
#include "compiler.h"
#include "stack.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#define on_valgrind() RUNNING_ON_VALGRIND
/* Tell valgrind these are stacks, or it takes each switch for a wild
 * stack-pointer jump. A no-op outside valgrind. */
#define register_stack(lo, size) \
	((void)VALGRIND_STACK_REGISTER((lo), (char *)(lo) + (size)))
#else
#define register_stack(lo, size) ((void)0)
#define on_valgrind() 0
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define SELF_PIDFD (-10000)     /* PIDFD_SELF (6.14): this process */

#ifdef REEL_ASAN
#include <sanitizer/asan_interface.h>
#endif

enum {
	SLAB_BYTES = 8 << 20,   /* aim for slabs of about 8 MiB ... */
	SLAB_STACKS = 64,       /* ... and at most this many stacks */
	HOT = 64,               /* freed stacks per class that keep their pages */
};

bool reel__stack_guard_install_supported(void)
{
	static int supported = -1;   /* probe once per process */
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (supported >= 0)
		return supported;
	p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	supported = madvise(p, (size_t)page, MADV_GUARD_INSTALL) == 0;
	munmap(p, (size_t)page * 2);
	return supported;
}

size_t reel__stack_size(size_t requested)
{
	size_t size = (size_t)1 << REEL__STACK_MIN_SHIFT;

	if (requested > ((size_t)1 << REEL__STACK_MAX_SHIFT))
		return 0;
	while (size < requested)
		size <<= 1;
	return size;
}

int reel__stack_cache_init(struct reel__stack_cache *p, bool allow_guard_install)
{
	*p = (struct reel__stack_cache){ 0 };
	p->page = (size_t)sysconf(_SC_PAGESIZE);
	p->guard_install = allow_guard_install && reel__stack_guard_install_supported();
	return 0;
}

void reel__stack_cache_term(struct reel__stack_cache *p)
{
	for (size_t i = 0; i < p->nslabs; i++) {
		if (p->slabs[i].addr)
			munmap(p->slabs[i].addr, p->slabs[i].len);
	}
	for (unsigned c = 0; c < REEL__STACK_CLASSES; c++)
		free(p->classes[c].free);
	free(p->slabs);
	*p = (struct reel__stack_cache){ 0 };
}

/* The class of a usable size; sizes were validated by reel__stack_size. */
static struct reel__stack_class *find_class(struct reel__stack_cache *p, size_t size)
{
	unsigned log2 = 63u - (unsigned)__builtin_clzll(size);

	return &p->classes[log2 - REEL__STACK_MIN_SHIFT];
}

static int push_free(struct reel__stack_class *c, char *lo, uint32_t slab)
{
	if (c->nfree == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct reel__free_stack *f = realloc(c->free, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		c->free = f;
		c->cap = cap;
	}
	c->free[c->nfree++] = (struct reel__free_stack){ lo, slab };
	return 0;
}

/* A record for a new slab: a released one's, or a new one. Its index in
 * *@idx, or -ENOMEM. */
static int track_slab(struct reel__stack_cache *p, void *addr, size_t len, unsigned cls,
		      uint32_t *idx)
{
	size_t i = p->nslabs;

	if (p->mapped_slabs < p->nslabs) {
		for (i = 0; p->slabs[i].addr; i++)
			;
	} else if (p->nslabs == p->slabs_cap) {
		size_t cap = p->slabs_cap ? p->slabs_cap * 2 : 16;
		void *s = cap > UINT32_MAX ? NULL : realloc(p->slabs, cap * sizeof(*p->slabs));

		if (!s)
			return -ENOMEM;
		p->slabs = s;
		p->slabs_cap = cap;
	}
	p->slabs[i] = (struct reel__stack_slab){ .addr = addr, .len = len, .cls = (uint8_t)cls };
	if (i == p->nslabs)
		p->nslabs++;
	p->mapped_slabs++;
	*idx = (uint32_t)i;
	return 0;
}

static int install_guard(struct reel__stack_cache *p, char *guard, size_t len)
{
	int advice_or_prot = p->guard_install
		? madvise(guard, len, MADV_GUARD_INSTALL)
		: mprotect(guard, len, PROT_NONE);

	return advice_or_prot == 0 ? 0 : -errno;
}

/*
 * Apply @advice to @n ranges of this process in one process_madvise, which
 * may give any advice to its own process since 6.13: one system call per
 * fresh slab instead of one madvise per stack (spawning 10 000 fibers in a
 * new process is mostly these calls and first-touch page faults). false
 * when the kernel (or valgrind, which does not know the call) cannot.
 */
static bool madvise_ranges(struct iovec *iov, size_t n, int advice)
{
	static bool unsupported;
	size_t total = 0;
	long r;

	if (unsupported || on_valgrind())
		return false;
	for (size_t i = 0; i < n; i++)
		total += iov[i].iov_len;
	r = syscall(SYS_process_madvise, SELF_PIDFD, iov, n, advice, 0);
	if (r < 0 && errno != ENOMEM && errno != EAGAIN)
		unsupported = true;
	return r == (long)total;
}

/* Guard every stack of a fresh slab. (Faulting in each stack's top page in
 * the same batched way was tried: it saves only the trap, ~10%, since the
 * kernel's cost per fresh page - allocation, memcg charge, zeroing - stays,
 * and it would commit pages of stacks never used.) */
static int guard_slab(struct reel__stack_cache *p, char *slab, size_t span, size_t n,
		      size_t guard)
{
	struct iovec iov[SLAB_STACKS];
	int err = 0;

	if (p->guard_install && n <= SLAB_STACKS) {
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ slab + i * span, guard };
		if (madvise_ranges(iov, n, MADV_GUARD_INSTALL))
			return 0;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = install_guard(p, slab + i * span, guard);
	return err;
}

/* Map a slab of stacks of class @c and put them all on its free list. */
static int grow_class(struct reel__stack_cache *p, struct reel__stack_class *c)
{
	size_t guard = reel__stack_guard(c->size);
	size_t span = c->size + guard;
	size_t n = SLAB_BYTES / span;
	uint32_t idx;
	char *slab;
	int err;

	n = n < 1 ? 1 : n > SLAB_STACKS ? SLAB_STACKS : n;
	slab = mmap(NULL, n * span, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (slab == MAP_FAILED)
		return -ENOMEM;
	err = track_slab(p, slab, n * span, (unsigned)(c - p->classes), &idx);
	if (err) {
		munmap(slab, n * span);
		return err;
	}
	err = guard_slab(p, slab, span, n, guard);
	if (err)
		return err;   /* the slab stays tracked and is unmapped at term */
	/* Fill the free list top-down so the lowest stack is handed out first. */
	for (size_t i = n; i-- > 0;) {
		char *lo = slab + i * span + guard;

		err = push_free(c, lo, idx);
		if (err)
			return err;
		p->slabs[idx].stacks++;
		register_stack(lo, c->size);
	}
	return 0;
}

int reel__stack_alloc(struct reel__stack_cache *p, size_t size, struct reel__stack *out)
{
	struct reel__stack_class *c;
	int err;

	size = reel__stack_size(size);
	if (!size)
		return -EINVAL;
	if (reel__fault(REEL__FAULT_STACK_ENOMEM))
		return -ENOMEM;   /* as if grow_class's mmap had failed */
	c = find_class(p, size);
	c->size = size;
	if (c->nfree == 0) {
		err = grow_class(p, c);
		if (err)
			return err;
	}
	c->nfree--;
	out->lo = c->free[c->nfree].lo;
	out->slab = c->free[c->nfree].slab;
	if (c->cold > c->nfree)
		c->cold = c->nfree;
	out->size = size;
	p->slabs[out->slab].in_use++;
	p->live++;
	return 0;
}

void reel__stack_free(struct reel__stack_cache *p, const struct reel__stack *s)
{
	struct reel__stack_class *c = find_class(p, s->size);

#ifdef REEL_ASAN
	/* A fiber's last frames never return, so their redzones stay poisoned. */
	ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#endif
	p->live--;
	if (push_free(c, s->lo, s->slab) != 0) {
		madvise(s->lo, s->size, MADV_DONTNEED);   /* leak the range, not memory */
		return;   /* still counted in use: its slab is never released */
	}
	p->slabs[s->slab].in_use--;
	p->untrimmed++;
}

/* Drop @c's free stacks whose slab is marked for release, keeping order
 * (and which of them are trimmed already). */
static void drop_released(struct reel__stack_cache *p, struct reel__stack_class *c)
{
	size_t kept = 0, cold = 0;

	for (size_t i = 0; i < c->nfree; i++) {
		if (p->slabs[c->free[i].slab].release)
			continue;
		cold += i < c->cold;
		c->free[kept++] = c->free[i];
	}
	c->nfree = kept;
	c->cold = cold;
}

/* Unmap up to @budget slabs whose stacks are all free, while each class
 * keeps HOT free stacks. Returns how many were unmapped. */
static unsigned release_slabs(struct reel__stack_cache *p, unsigned budget)
{
	size_t keep[REEL__STACK_CLASSES];
	unsigned done = 0;

	for (unsigned k = 0; k < REEL__STACK_CLASSES; k++)
		keep[k] = p->classes[k].nfree;
	for (size_t i = 0; i < p->nslabs && done < budget; i++) {
		struct reel__stack_slab *sl = &p->slabs[i];
		unsigned k;

		if (!sl->addr || sl->in_use || !sl->stacks)
			continue;
		k = sl->cls;
		if (keep[k] < HOT + sl->stacks)
			continue;
		keep[k] -= sl->stacks;
		sl->release = true;
		done++;
	}
	if (!done)
		return 0;
	for (unsigned k = 0; k < REEL__STACK_CLASSES; k++) {
		if (keep[k] != p->classes[k].nfree)
			drop_released(p, &p->classes[k]);
	}
	for (size_t i = 0; i < p->nslabs; i++) {
		if (p->slabs[i].release) {
			munmap(p->slabs[i].addr, p->slabs[i].len);
			p->slabs[i] = (struct reel__stack_slab){ .addr = NULL };
			p->mapped_slabs--;
		}
	}
	return done;
}

unsigned reel__stack_trim(struct reel__stack_cache *p, unsigned budget)
{
	unsigned done = 0;

	if (p->untrimmed <= HOT)
		return 0;
	for (unsigned k = 0; k < REEL__STACK_CLASSES && done < budget; k++) {
		struct reel__stack_class *c = &p->classes[k];

		/* free[0 .. cold) are trimmed already; keep the top HOT warm. */
		while (c->cold + HOT < c->nfree && done < budget) {
			madvise(c->free[c->cold++].lo, c->size, MADV_DONTNEED);
			done++;
		}
	}
	if (done < budget)
		done += release_slabs(p, budget - done);
	p->untrimmed = done < budget ? 0 : p->untrimmed;
	return done;
}
