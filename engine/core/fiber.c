/*
 * fiber.c - a fiber's whole life: born (struct, stack, context), first run,
 * end, and freed - here and nowhere else.
 *
 * Life
 *   reel__fiber_new takes a struct from the fiber cache and a stack from the
 *   stack cache, and makes a context that will start in fiber_main. The first
 *   switch to it lands there: it finishes that switch (sched.c), runs the
 *   task's function, records the end (task.c) and leaves for good
 *   (sched.c). A dead fiber cannot free the stack it stands on, so the next
 *   fiber to run calls reel__fiber_destroy for it (the scheduler's zombie);
 *   a fiber cancelled before its first run is destroyed by task.c at once,
 *   and main by loop.c once the thread is back on its own stack.
 *
 * Where fiber structs live: dense chunks, apart from the stacks.
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
 * Chunks are never freed before the cache is; freed fibers are reused most
 * recent first, and a chunk's unused structs are carved off in address order
 * only when no freed one is left (a page of the chunk is touched only once a
 * fiber needs it). An idle fiber costs sizeof(struct reel__fiber) here plus the
 * one page of its stack that it has touched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctx.h"
#include "internal.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) ((void)(lo), (void)(hi), 0)
#endif
#ifdef REEL_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef REEL_TSAN
#include <sanitizer/tsan_interface.h>   /* a TSan context per fiber: sched.c */
#endif

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

/* A fresh chunk to carve fibers from. Carved one at a time, not linked on
 * a free list up front: a struct's page is first touched when a fiber
 * needs it, and on a virtual machine with shadow page tables every first
 * touch of a 4 KiB page costs microseconds, huge page or not - linking a
 * whole chunk cost 512 of them (~5 ms) for a loop's first fiber. */
static int grow(struct reel__fiber_cache *p)
{
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
	p->carve = chunk;
	p->carve_end = chunk + CHUNK_BYTES / sizeof(struct reel__fiber);
	return 0;
}

static struct reel__fiber *fiber_alloc(struct reel__fiber_cache *p)
{
	struct reel__fiber *f = p->free;

	if (reel__fault(REEL__FAULT_FIBER_ENOMEM))
		return NULL;   /* as if grow had failed */
	if (f) {
		p->free = f->next_free;
	} else {
		if (reel_unlikely(p->carve == p->carve_end) && grow(p) != 0)
			return NULL;
		f = p->carve++;   /* in address order: the lowest first */
	}
	p->live++;
	return f;
}

static void fiber_free(struct reel__fiber_cache *p, struct reel__fiber *f)
{
	f->next_free = p->free;
	p->free = f;
	p->live--;
}

/* A fiber's first code: run the task, record its end, leave for good. */
static void fiber_main(void *arg)
{
	struct reel__fiber *f = arg;
	struct reel__loop *l = f->loop;
	int status;

	reel__sched_enter(l, f);
	f->started = true;
	status = f->fn(f->arg);
	reel__task_finish(l, f, status);
	reel__sched_exit(l, f);
}

int reel__fiber_new(struct reel__loop *l, reel_fn fn, void *arg,
		    const struct reel_spawn_opts *opts, struct reel__fiber **out)
{
	size_t size = opts && opts->stack_size ? opts->stack_size : REEL__DEFAULT_STACK;
	struct reel__stack stack;
	struct reel__fiber *f;
	int err;

	if (reel__stack_size(size) == 0)
		return -EINVAL;
	f = fiber_alloc(&l->fibers);
	if (!f)
		return -ENOMEM;
	err = reel__stack_alloc(&l->stacks, size, &stack);
	if (err) {
		fiber_free(&l->fibers, f);
		return err;
	}
	*f = (struct reel__fiber){
		.loop = l, .fn = fn, .arg = arg, .stack = stack,
		.name = opts ? opts->name : NULL,
	};
	reel__timer_init(&f->timer, NULL);
#ifdef REEL_TSAN
	f->tsan_fiber = __tsan_create_fiber(0);
	if (f->name)
		__tsan_set_fiber_name(f->tsan_fiber, f->name);
#endif
	f->sp = reel__ctx_make(stack.lo + stack.size, fiber_main, f);
	*out = f;
	return 0;
}

void reel__fiber_destroy(struct reel__loop *l, struct reel__fiber *f)
{
#ifdef REEL_TSAN
	__tsan_destroy_fiber(f->tsan_fiber);   /* never the running one */
#endif
	reel__stack_free(&l->stacks, &f->stack);
	fiber_free(&l->fibers, f);
}

void reel__fiber_cache_term(struct reel__fiber_cache *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		munmap(p->chunks[i], CHUNK_BYTES);
	free(p->chunks);
	*p = (struct reel__fiber_cache){ 0 };
}

/* ---- a forked child leaves the fiber world -------------------------------- */

/* After fork the child has one thread, so one static suffices. */
static struct { void (*fn)(void *); void *arg; } child_entry;

static void __attribute__((noreturn)) child_main(void *unused)
{
	(void)unused;
#ifdef REEL_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	child_entry.fn(child_entry.arg);
	_exit(1);   /* @fn must end the process itself */
}

void reel__fork_child_continue(void (*fn)(void *), void *arg, size_t stack_size)
{
	void *stack, *sp, *dead;

	reel__loop_cur = NULL;
	stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		_exit(1);
	(void)VALGRIND_STACK_REGISTER(stack, (char *)stack + stack_size);
	child_entry.fn = fn;
	child_entry.arg = arg;
	sp = reel__ctx_make((char *)stack + stack_size, child_main, NULL);
#ifdef REEL_ASAN
	/* NULL: the stack we leave is never returned to. */
	__sanitizer_start_switch_fiber(NULL, stack, stack_size);
#endif
#ifdef REEL_TSAN
	/* The fresh stack is a fiber of its own to TSan; the forking fiber's
	 * context is never switched back to, nor freed: the child _exits. */
	__tsan_switch_to_fiber(__tsan_create_fiber(0), 0);
#endif
	reel__ctx_switch(&dead, sp, 0);
	_exit(1);
}
