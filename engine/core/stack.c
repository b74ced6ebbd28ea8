/*
 * stack.c - the stack cache.
 *
 * Stacks are carved out of slabs: one anonymous mapping (MAP_NORESERVE, so
 * nothing is committed until touched) of about 8 MiB - for stacks up to
 * 64 KiB, as large as the class already has once it is in demand, up to
 * 1,024 stacks (IOV_MAX: one process_madvise guards them all) - each
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
 * MADV_DONTNEED (up to 1,024 in one process_madvise), which drops their
 * pages but keeps the address range and its
 * guard - the way Go's scavenger returns idle stack memory. A slab whose
 * stacks are all free is then unmapped whole (beyond the HOT free stacks
 * its class keeps), so a burst of one size does not keep its address space
 * for the rest of the run: under RLIMIT_AS or RLIMIT_DATA, fibers of another
 * size must still fit. Slabs are never unmapped piecemeal: holes would
 * split them into many VMAs. Everything left is unmapped at cache term.
 *
 * Sizes round up to a power of two from 16 KiB to 64 MiB, one class each:
 * rounding costs address space only, since pages are committed when touched.
 *
 * Committing ahead. A fresh stack's top page is written by the fiber's first
 * frame (reel__ctx_make), so a program that starts 10,000 fibers took 10,000
 * page faults one by one: ~10-25 us each on the nested VM this was measured
 * on, nearly all of a fresh process's spawn time. Instead, when the stack
 * about to be handed out is cold (fresh from a slab, or trimmed), the top
 * page of it and of the cold stacks under it - as many as are live, 8 to
 * 1,024 - is committed with one process_madvise(MADV_POPULATE_WRITE) on
 * ourselves (6.13+; then one madvise each, 5.14+; then nothing: the first
 * write faults as before). Only that page, which the fiber writes anyway:
 * an idle fiber's RSS does not grow, and at most as many pages are
 * committed ahead as there are live fibers. Measured in one run (10,000
 * fibers sleeping 10 ms, fresh process, 64 KiB stacks, CPU time): 186 ms
 * before, 121 ms with this and 1,024-stack slabs (page faults 10,483 to
 * 483). What is left is not the kernel's: on a VM with shadow page tables
 * (this one is PVM) the first user access to each new page still exits to
 * the hypervisor, ~5-7 us, and no advice avoids it; the populate itself
 * costs ~0.7 us a page, the batched guard ~0.6 us a stack. (An earlier
 * note here said batching saved only ~10%: that was with batches of at
 * most 64 and timed on a busier host; it saves the trap, ~2/3 of a fault
 * here.) REEL_DISABLE=stack_commit turns it off.
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
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  /* 5.14 */
#endif
#define SELF_PIDFD (-10000)     /* PIDFD_SELF (6.14): this process */

#ifdef REEL_ASAN
#include <sanitizer/asan_interface.h>
#endif

enum {
	SLAB_BYTES = 8 << 20,   /* aim for slabs of about 8 MiB ... */
	BATCH = 1024,           /* ranges one process_madvise takes (IOV_MAX) */
	SLAB_STACKS = BATCH,    /* ... and at most this many stacks */
	GROW_SPAN = 128 << 10,  /* up to this stack + guard, slabs grow with demand */
	AHEAD_MIN = 8,          /* stacks committed ahead, at least ... */
	HOT = 64,               /* freed stacks per class that keep their pages */
};

/* How the top pages of cold stacks are committed ahead (probed on first use). */
enum { COMMIT_BATCH, COMMIT_EACH, COMMIT_NONE };

bool reel__stack_guard_install_supported(void)
{
	/* Probed once per process; loops of a runtime start at once, and two
	 * probes give the same answer, so a relaxed atomic is all it needs. */
	static int supported = -1;
	int known = __atomic_load_n(&supported, __ATOMIC_RELAXED);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (known >= 0)
		return known;
	p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	known = madvise(p, (size_t)page, MADV_GUARD_INSTALL) == 0;
	munmap(p, (size_t)page * 2);
	__atomic_store_n(&supported, known, __ATOMIC_RELAXED);
	return known;
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

int reel__stack_cache_init(struct reel__stack_cache *p, bool allow_guard_install,
			   bool allow_commit)
{
	*p = (struct reel__stack_cache){ 0 };
	p->page = (size_t)sysconf(_SC_PAGESIZE);
	p->guard_install = allow_guard_install && reel__stack_guard_install_supported();
	p->commit = allow_commit ? COMMIT_BATCH : COMMIT_NONE;
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
	free(p->iov);
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

/* Room for BATCH ranges, kept for the cache's life: never on the stack, since
 * a spawn may run on a 16 KiB fiber stack. NULL when malloc fails. */
static struct iovec *scratch(struct reel__stack_cache *p)
{
	if (!p->iov)
		p->iov = malloc(BATCH * sizeof(*p->iov));
	return p->iov;
}

/*
 * Apply @advice to @n (at most BATCH) ranges of this process in one
 * process_madvise, which may give any advice to its own process since 6.13
 * (and names it by PIDFD_SELF since 6.14): one system call for a batch of
 * stacks instead of one madvise each. Returns true when every range was
 * advised. false when the kernel ran short (ENOMEM, EAGAIN: the caller
 * carries on without) or cannot do it at all - the kernel is older, or
 * valgrind, which does not know the call, runs us - and then *@unsupported
 * is set so the caller falls back to madvise for good.
 */
static bool madvise_ranges(const struct iovec *iov, size_t n, int advice, bool *unsupported)
{
	size_t total = 0;
	long r;

	if (*unsupported || on_valgrind()) {
		*unsupported = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		total += iov[i].iov_len;
	r = syscall(SYS_process_madvise, SELF_PIDFD, iov, n, advice, 0);
	if (r < 0 && errno != ENOMEM && errno != EAGAIN && errno != EINTR)
		*unsupported = true;
	return r == (long)total;
}

/* Guard every stack of a fresh slab: one process_madvise for the slab. */
static int guard_slab(struct reel__stack_cache *p, char *slab, size_t span, size_t n,
		      size_t guard)
{
	struct iovec *iov = scratch(p);
	int err = 0;

	if (p->guard_install && iov && n <= BATCH && !p->no_batch_guard) {
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ slab + i * span, guard };
		if (madvise_ranges(iov, n, MADV_GUARD_INSTALL, &p->no_batch_guard))
			return 0;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = install_guard(p, slab + i * span, guard);
	return err;
}

/*
 * Commit the top page of each of @n free stacks of @size bytes: the page a
 * fiber's first frame (reel__ctx_make) and first calls write. Committed one
 * by one, by that first write, each costs a page fault; here the kernel
 * fills them all in one call, with no trap per page. Only that page: an
 * idle fiber touches no more, so its RSS stays what it was. A failure costs
 * nothing but speed - the page is faulted in when first written, as before.
 */
static void commit_tops(struct reel__stack_cache *p, const struct reel__free_stack *f,
			size_t n, size_t size)
{
	struct iovec *iov = scratch(p);

	if (p->commit == COMMIT_BATCH && iov) {
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ f[i].lo + size - p->page, p->page };
		if (madvise_ranges(iov, n, MADV_POPULATE_WRITE, &p->no_batch_commit) ||
		    !p->no_batch_commit)
			return;
		p->commit = COMMIT_EACH;
	}
	for (size_t i = 0; i < n && p->commit == COMMIT_EACH; i++) {
		if (madvise(f[i].lo + size - p->page, p->page, MADV_POPULATE_WRITE) == 0)
			continue;
		if (errno == EINVAL)
			p->commit = COMMIT_NONE;   /* before 5.14: no MADV_POPULATE_WRITE */
		return;
	}
}

/*
 * The next stack @c hands out is cold - fresh from a slab, or trimmed: commit
 * it and the cold ones under it, ahead of demand. How many: as many as are
 * in use now, AHEAD_MIN to BATCH, so a burst doubles what it finds committed
 * at each step (1,024 stacks a call once it is that large) while a program
 * with a few fibers commits a few pages ahead, never more pages than it has
 * fibers.
 */
static void commit_ahead(struct reel__stack_cache *p, struct reel__stack_class *c)
{
	size_t n = p->live < AHEAD_MIN ? AHEAD_MIN : p->live > BATCH ? BATCH : p->live;

	if (n > c->cold)
		n = c->cold;
	c->cold -= n;
	if (p->commit != COMMIT_NONE)
		commit_tops(p, c->free + c->cold, n, c->size);
}

/* Map a slab of stacks of class @c and put them all on its free list, cold. */
static int grow_class(struct reel__stack_cache *p, struct reel__stack_class *c)
{
	size_t guard = reel__stack_guard(c->size);
	size_t span = c->size + guard;
	size_t n = SLAB_BYTES / span;
	uint32_t idx;
	char *slab;
	int err;

	if (span <= GROW_SPAN && c->carved > n)
		n = c->carved;   /* in demand: as many again as it has */
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
	c->cold = c->nfree;   /* only grown when empty: all of them */
	c->carved += n;
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
	if (c->cold == c->nfree)
		commit_ahead(p, c);
	c->nfree--;
	out->lo = c->free[c->nfree].lo;
	out->slab = c->free[c->nfree].slab;
	if (c->cold > c->nfree)
		c->cold = c->nfree;   /* handed out the last of them */
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

/* Drop the pages of @n free stacks of @size bytes: one process_madvise for
 * them all, where the kernel takes it (a million stacks freed at once are
 * a thousand calls, not a million), else one madvise each. */
static void drop_pages(struct reel__stack_cache *p, const struct reel__free_stack *f,
		       size_t n, size_t size)
{
	struct iovec *iov = scratch(p);

	if (iov && !p->no_batch_commit) {
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ f[i].lo, size };
		if (madvise_ranges(iov, n, MADV_DONTNEED, &p->no_batch_commit))
			return;
	}
	for (size_t i = 0; i < n; i++)
		madvise(f[i].lo, size, MADV_DONTNEED);
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
			size_t n = c->nfree - HOT - c->cold;

			n = n > BATCH ? BATCH : n;
			drop_pages(p, c->free + c->cold, n, c->size);
			c->cold += n;
			done++;
		}
	}
	if (done < budget)
		done += release_slabs(p, budget - done);
	p->untrimmed = done < budget ? 0 : p->untrimmed;
	return done;
}
