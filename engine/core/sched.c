/*
 * sched.c - the scheduler: one loop per thread, fibers switched directly.
 *
 * Concepts
 *   loop    per-thread state (struct reel__loop): ready queue, ring, wheel,
 *           stack cache, task table. loop.c makes one and tears it down.
 *   fiber   a stack plus a saved stack pointer; runs a task's function.
 *   park    a fiber stops until something wakes it (a CQE, a timer, a task
 *           ending, a cancel). Every park records a reason (gopark's).
 *   pass    one round over the fibers that were ready when it began; at its
 *           end the loop submits queued SQEs, reaps CQEs and expires timers.
 *
 * Policies, and what was rejected
 *   - Fibers switch directly to the next ready fiber; there is no scheduler
 *     fiber in between. A trip through a central context doubles the cost of
 *     every switch (two switches per hand-over), which breaks the goal of a
 *     yield round trip within 1.1x a bare register swap.
 *   - The loop's own work (submit, reap, expire) runs on whichever fiber
 *     happens to end a pass, on its stack; blocking in the kernel too. So
 *     the loop needs no stack of its own; the thread's stack only starts main
 *     and receives it back at the end.
 *   - FIFO and passes: the ready queue is FIFO; a pass's budget is the
 *     number of fibers ready when it begins (capped at PASS_MAX), so fibers
 *     that keep spawning or yielding cannot starve I/O: after at most
 *     PASS_MAX switches the loop submits and reaps (Go's "every 61st
 *     schedule checks the global queue" is the same idea).
 *   - Submission is batched: a parking fiber only queues its SQE; the pass
 *     end submits every fiber's SQEs with one io_uring_enter. One submit
 *     per suspend made published fiber runtimes spend half their CPU there.
 *   - The kernel wait happens only when nothing is ready, bounded by the
 *     wheel's next deadline: one timeout for all timers, not an SQE each.
 *   - The clock is read once per pass, and only when timers are armed.
 *   - The yield fast path does only what a plain yield needs: anything
 *     unusual (an interruption on either side, an observer) is one branch
 *     to the general path, so the fast path needs no stack frame.
 *   - Cold stacks: with many fibers, resuming one is a TLB miss and cache
 *     misses on its stack top. A switch through the queue prefetches the
 *     frame of the fiber after the one it resumes (prefetch_next), so those
 *     overlap with a run instead of stalling the next switch.
 *   - A dead fiber cannot free the stack it stands on: it leaves itself in
 *     loop->zombie and the fiber switched to frees it.
 *   - When nothing is ready, nothing is in flight and no timer is armed, no
 *     fiber can ever wake: that is a deadlock, reported with every fiber's
 *     park reason (Go's "all goroutines are asleep") instead of a hang -
 *     unless another thread may still post a wake-up (inbox.c: a fiber
 *     waits for one, or the loop is one of a runtime's).
 *   - Other threads reach the loop through its inbox (inbox.c): each pass
 *     end looks at it with one load; before blocking, the loop says so and
 *     looks again, so a post either is seen or wakes it.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include <reel_trace.h>

#include "console.h"
#include "inbox.h"
#include "internal.h"
#include "trace.h"

#ifdef REEL_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef REEL_TSAN
#include <sanitizer/tsan_interface.h>
#endif
/* A sanitizer must see every switch: the tail-switched fast yield, which
 * has no code after the switch, is then left out. */
#if defined(REEL_ASAN) || defined(REEL_TSAN)
#define SANITIZED_SWITCH 1
#endif

enum { PASS_MAX = 1024, TRIM_BUDGET = 256, PREFETCH_LINES = 4 };   /* 128 bytes apart */
#define TRIM_IDLE_NS (2 * 1000 * 1000ull)   /* trim only before a 2 ms+ wait */
#define VALGRIND_WAIT_NS (1000 * 1000ull)   /* inbox.h: reel__inbox_bounded_waits */

static const char *const park_reason_names[REEL__PARK_REASONS] = {
	[REEL__PARK_YIELD] = "yield",
	[REEL__PARK_SLEEP] = "sleep",
	[REEL__PARK_JOIN] = "join",
	[REEL__PARK_IO] = "io",
	[REEL__PARK_IO_CANCEL] = "io-cancel",
	[REEL__PARK_SHUTDOWN] = "shutdown",
	[REEL__PARK_GATHER] = "gather",
	[REEL__PARK_SYNC] = "sync",
	[REEL__PARK_CHAN] = "channel",
	[REEL__PARK_GEN] = "generator",
	[REEL__PARK_OFFLOAD] = "offload",
	[REEL__PARK_REMOTE] = "remote",
	[REEL__PARK_XCHAN] = "xchan",
};

const char *reel__park_reason_name(unsigned why)
{
	return why < REEL__PARK_REASONS ? park_reason_names[why] : "?";
}

int reel__enter(const void *obj, struct reel__loop **l)
{
	*l = reel__loop_here();
	if (!*l)
		return -EPERM;
	return obj ? 0 : -EINVAL;
}

reel_task reel_self(void)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *f = l ? l->current : NULL;

	return (reel_task){ f ? f->id : 0 };
}

void reel__ready(struct reel__loop *l, struct reel__fiber *f)
{
	if (reel_unlikely(l->timing))
		reel__console_ready(l, f);
	f->state = REEL__FIBER_READY;
	reel__list_add_tail(&f->ready_node, &l->ready);
	l->nready++;
}

void reel__wake(struct reel__fiber *f, int result)
{
	if (f->state != REEL__FIBER_PARKED)
		return;   /* already woken (a cancel raced a completion) */
	if (reel_unlikely(f->wait_node != NULL)) {
		/* Off the primitive's queue now, not when it next runs: the
		 * primitive may be freed before then (waitq.c). */
		reel__list_del_init(f->wait_node);
		f->wait_node = NULL;
	}
	f->wake_result = result;
	REEL_TRACE(wake, WAKE, f->id,
		   f->loop->in_pass || !f->loop->current ? 0 : f->loop->current->id,
		   (uint32_t)result, reel__trace_cause);
	reel__ready(f->loop, f);
}

/* Free the stack of a fiber that has ended; we stand on another stack. */
static inline void release_zombie(struct reel__loop *l)
{
	struct reel__fiber *z = l->zombie;

	if (reel_unlikely(z != NULL)) {
		l->zombie = NULL;
		reel__fiber_destroy(l, z);
	}
}

static void report_deadlock(struct reel__loop *l)
{
	fprintf(stderr, "reel: deadlock: %llu fibers are parked and nothing "
		"(no I/O in flight, no timer armed) can wake any of them:\n",
		(unsigned long long)l->live);
	reel__task_report_parked(l);
	abort();
}

static void expire_timers(struct reel__loop *l)
{
	if (!reel__wheel_empty(&l->wheel))
		reel__wheel_advance(&l->wheel, reel_now());
}

/* Can anything still wake a fiber? Not when no I/O is in flight, the only
 * timer is main's at shutdown (which only reports who lingers) and no
 * other thread can post a wake-up (no fiber waits for one, no runtime). */
static bool nothing_can_wake(struct reel__loop *l)
{
	uint64_t timers = l->wheel.count;

	if (l->main_waiting && l->main->timer.armed)
		timers--;
	return timers == 0 && !reel__ring_busy(&l->ring) && !reel__inbox_listening(l->inbox);
}

/* Block in the kernel until a CQE arrives or the next timer is due. */
static void wait_for_events(struct reel__loop *l)
{
	uint64_t next = reel__wheel_next_ns(&l->wheel);
	uint64_t timeout = UINT64_MAX;

	if (nothing_can_wake(l))
		report_deadlock(l);
	if (next != UINT64_MAX) {
		uint64_t now = reel_now();

		timeout = next > now ? next - now : 0;
	}
	if (reel_unlikely(l->console != NULL))
		timeout = reel__console_idle(l, timeout);   /* the next snapshot */
	if (reel__inbox_bounded_waits(l->inbox) && timeout > VALGRIND_WAIT_NS)
		timeout = VALGRIND_WAIT_NS;   /* inbox.h: let other threads run */
	l->stats.waits++;
	reel__ring_wait(&l->ring, timeout);
	if (reel__inbox_bounded_waits(l->inbox))
		sched_yield();
	expire_timers(l);
}

/* Nothing ready and no timer due within TRIM_IDLE_NS: time for chores. */
static bool idle_for_a_while(struct reel__loop *l)
{
	uint64_t next = reel__wheel_next_ns(&l->wheel);

	return next == UINT64_MAX || next > reel_now() + TRIM_IDLE_NS;
}

/* The end of a pass: submit, reap, expire; block only when nothing is ready. */
static __attribute__((noinline)) void end_pass(struct reel__loop *l)
{
	l->stats.passes++;
	l->in_pass = true;    /* wakes from here on are the loop's, not a fiber's */
	reel__trace_sync();   /* a trace started or stopped elsewhere */
	reel__console_pass(l, l->console);   /* the console: join, leave, snapshot */
	release_zombie(l);
	expire_timers(l);
	if (reel__inbox_pending(l->inbox))   /* one load: posts from other threads */
		reel__inbox_drain(l->inbox);
	/* Fibers are ready: submit and reap without blocking. None is: the
	 * wait below submits, waits and reaps in one io_uring_enter, rather
	 * than a non-blocking enter first and a blocking one after it. */
	if (!reel__list_empty(&l->ready) && reel__ring_busy(&l->ring))
		reel__ring_poll(&l->ring);
	while (reel__list_empty(&l->ready)) {
		/* Idle for a while: give back the pages of unused stacks. */
		if (idle_for_a_while(l) && reel__stack_trim(&l->stacks, TRIM_BUDGET)) {
			reel__ring_poll(&l->ring);
			expire_timers(l);
			continue;
		}
		/* Tell posters we may block, unless something came (inbox.c). */
		if (reel__inbox_before_block(l))
			continue;
		wait_for_events(l);
		reel__inbox_after_wait(l->inbox);
	}
	if (reel_unlikely(l->inbox->flush)) {
		/* Messages run in this pass end queued wake-ups of peers
		 * (inbox.c): they go out now, not a whole pass later. */
		l->inbox->flush = false;
		reel__ring_poll(&l->ring);
	}
	if (reel_unlikely(l->timing))
		reel__console_pass_end(l);
	l->in_pass = false;
	l->budget = l->nready < PASS_MAX ? l->nready : PASS_MAX;
}

/*
 * Start loading what the fiber after the one being switched to (the head of
 * the ready queue, if any) will touch first: its saved frame, with the
 * frames it returns through just above, and its task slot (read when it
 * ends). With many fibers both are cold - the stack top a TLB miss and a few
 * cache misses: perf on 200k sleepers put half the loop's time on the
 * switch's first pop, and a sixth on the slot in reel__task_finish. Loaded
 * now, they overlap with the run of the fiber before it. A prefetch never
 * faults, so lines past a stack's top do no harm. Four prefetches 128 bytes
 * apart cover the 512 bytes a parked fiber returns through (the hardware
 * fetches the line beside each); eight 64 apart did as well for sleepers
 * but cost warm fibers a little (reel_nop batches).
 */
static inline void prefetch_next(struct reel__loop *l)
{
	struct reel__list *n = l->ready.next;

	if (n != &l->ready) {
		const struct reel__fiber *f = reel__container_of(n, struct reel__fiber, ready_node);
		const char *sp = f->sp;

		for (unsigned i = 0; i < PREFETCH_LINES; i++)
			__builtin_prefetch(sp + 128 * i, 1, 3);
		/* The slot index is the id's low half (task.c), which sits
		 * in the line just read, unlike f->slot. */
		__builtin_prefetch(&l->tasks[(uint32_t)f->id], 1, 3);
	}
}

static inline struct reel__fiber *next_ready(struct reel__loop *l)
{
	struct reel__list *n;

	if (reel_unlikely(l->budget == 0 || reel__list_empty(&l->ready))) {
		/* Nothing to submit, reap or expire: the pass ends for free, and
		 * the next may run PASS_MAX switches - until a fiber queues an SQE
		 * or arms a timer, which cuts it back to one round of the ready
		 * queue (reel__pass_work). */
		if (!reel__list_empty(&l->ready) && !reel__ring_busy(&l->ring) &&
		    reel__wheel_empty(&l->wheel) && !reel__inbox_pending(l->inbox)) {
			l->stats.passes++;
			l->budget = PASS_MAX;
			reel__console_pass(l, l->console);
		} else {
			end_pass(l);
		}
	}
	l->budget--;
	n = reel__list_pop(&l->ready);
	l->nready--;
	prefetch_next(l);
	return reel__container_of(n, struct reel__fiber, ready_node);
}

#ifdef REEL_ASAN
static void asan_start_switch(struct reel__loop *l, struct reel__fiber *from,
			      struct reel__fiber *to, bool from_dies)
{
	void **fake = from_dies ? NULL
		    : from ? &from->asan_fake_stack : &l->thread_fake_stack;

	if (to)
		__sanitizer_start_switch_fiber(fake, to->stack.lo, to->stack.size);
	else
		__sanitizer_start_switch_fiber(fake, l->thread_stack_bottom,
					       l->thread_stack_size);
}

static void asan_finish_switch(struct reel__loop *l, struct reel__fiber *self)
{
	const void *bottom;
	size_t size;

	__sanitizer_finish_switch_fiber(self ? self->asan_fake_stack
					     : l->thread_fake_stack, &bottom, &size);
	if (!l->thread_stack_bottom && self == l->main) {
		/* The first switch into main came from the thread's own stack. */
		l->thread_stack_bottom = bottom;
		l->thread_stack_size = size;
	}
}
#else
#define asan_start_switch(l, from, to, dies) ((void)(dies))
#define asan_finish_switch(l, self) ((void)0)
#endif

/*
 * ThreadSanitizer keeps a shadow call stack and a vector clock per thread;
 * a stack swap it is not told about makes it attribute one fiber's frames
 * to another (bogus reports, or a crash when its shadow stack under- or
 * overflows). So each fiber has a TSan context of its own (fiber.c creates
 * it with the fiber and destroys it with it), reel_run's thread keeps the
 * one it came with (thread_tsan_fiber), and each switch names the context
 * it lands on right before the registers move, as TSan asks. Flags 0: the
 * switch is a happens-before edge, which it is - a loop's fibers run on one
 * thread, one after another. Without TSan this is nothing at all.
 */
#ifdef REEL_TSAN
#define tsan_switch_to(ctx) __tsan_switch_to_fiber((ctx), 0)
#else
#define tsan_switch_to(ctx) ((void)0)
#endif

/*
 * Everything a switch to @to needs before the registers move. The resumed
 * side may go on straight in user code (a tail-switched reel_yield), so its
 * errno is restored here, not after. Returns what @to's switch call returns:
 * the interruption it must report, for a yield.
 */
static __attribute__((noinline)) void observe_switch(struct reel__loop *l,
						     struct reel__fiber *from,
						     struct reel__fiber *to)
{
	if (l->timing)
		reel__console_switch(l, from, to);
	if (l->trace)
		reel__trace_put(l->trace, REEL__EV_SWITCH, to->id, from->id, 0, 0);
}

static inline int prepare_switch(struct reel__loop *l, struct reel__fiber *from,
				 struct reel__fiber *to)
{
	to->state = REEL__FIBER_RUNNING;
	l->current = to;
	from->saved_errno = *l->errno_ptr;
	*l->errno_ptr = to->saved_errno;
	l->stats.switches++;
	REEL__USDT(switch, to->id, from->id, 0, 0);
	/* One test for both observers (console timing, trace) on the path
	 * every switch takes: the yield round trip is ~10 ns. */
	if (reel_unlikely(l->timing | (l->trace != NULL)))
		observe_switch(l, from, to);
	return reel__interrupt_now(to);
}

static inline void switch_fiber(struct reel__loop *l, struct reel__fiber *from,
				struct reel__fiber *to, bool from_dies)
{
	int value = prepare_switch(l, from, to);

	asan_start_switch(l, from, to, from_dies);
	tsan_switch_to(to->tsan_fiber);
	reel__ctx_switch(&from->sp, to->sp, value);
	/* Resumed: some fiber switched back to us. */
	asan_finish_switch(l, from);
	release_zombie(l);
}

void reel__sched_enter(struct reel__loop *l, struct reel__fiber *f)
{
	asan_finish_switch(l, f);
	release_zombie(l);
	(void)f;
}

void reel__switch_to_next(struct reel__loop *l, struct reel__fiber *self)
{
	struct reel__fiber *next = next_ready(l);

	if (next == self) {
		self->state = REEL__FIBER_RUNNING;
		REEL_TRACE(switch, SWITCH, self->id, self->id, 0, 0);
		return;
	}
	switch_fiber(l, self, next, false);
}

int reel__park(struct reel__loop *l, enum reel__park_reason why, bool interruptible)
{
	struct reel__fiber *f = l->current;

	if (interruptible) {
		int r = reel__interrupt_now(f);

		if (r)
			return r;
	}
	f->state = REEL__FIBER_PARKED;
	f->park_reason = (uint8_t)why;
	f->interruptible = interruptible;
	f->wake_result = 0;
	REEL_TRACE_TO(l->trace, park, PARK, f->id, f->wait_node, 0, why);
	reel__switch_to_next(l, f);
	f->interruptible = false;
	return f->wake_result;
}

/* reel_yield's general case: a pass ends here, or an interruption is
 * pending. Kept out of line so the fast path needs no stack frame. */
static __attribute__((noinline)) int yield_slow(struct reel__loop *l, struct reel__fiber *f)
{
	struct reel__fiber *next;
	int r = reel__interrupt_now(f);

	if (r)
		return r;
	f->park_reason = REEL__PARK_YIELD;
	reel__ready(l, f);
	next = next_ready(l);
	if (next == f) {
		f->state = REEL__FIBER_RUNNING;
		return reel__interrupt_now(f);
	}
#ifdef SANITIZED_SWITCH
	switch_fiber(l, f, next, false);
	return reel__interrupt_now(f);
#else
	release_zombie(l);
	return reel__ctx_switch_jmp(&f->sp, next->sp, prepare_switch(l, f, next));
#endif
}

/* Would a yield from @f to @next need more than the fast path does? An
 * interruption to report on either side (a scope, a cancel), or an observer
 * of switches (console timing, trace). One branch for all of it: the fast
 * path then holds no value across a call, so it needs no stack frame. */
static inline bool yield_unusual(const struct reel__loop *l, const struct reel__fiber *f,
				 const struct reel__fiber *next)
{
	return ((uintptr_t)f->scope | (uintptr_t)next->scope | (uintptr_t)l->trace |
		f->cancelled | next->cancelled | l->timing) != 0;
}

int reel_yield(void)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *f, *next;
	struct reel__list *head;

	if (reel_unlikely(!l || !l->current))
		return -EPERM;
	f = l->current;
	head = l->ready.next;
	if (reel_unlikely(!l->budget || head == &l->ready))
		return yield_slow(l, f);
	next = reel__container_of(head, struct reel__fiber, ready_node);
	if (reel_unlikely(yield_unusual(l, f, next)))
		return yield_slow(l, f);
#ifdef SANITIZED_SWITCH
	return yield_slow(l, f);
#else
	/* The fast path: hand over to the head of the ready queue, go to its
	 * tail; the queue's length is unchanged. A pending zombie is left for
	 * the pass's end (end_pass frees it). This is prepare_switch with what
	 * yield_unusual ruled out left out: nobody observes, and @next has no
	 * interruption to report, so its yield (or park) returns 0. */
	reel__list_del(head);
	l->budget--;
	f->state = REEL__FIBER_READY;
	reel__list_add_tail(&f->ready_node, &l->ready);
	next->state = REEL__FIBER_RUNNING;
	l->current = next;
	f->saved_errno = *l->errno_ptr;
	*l->errno_ptr = next->saved_errno;
	l->stats.switches++;
	REEL__USDT(switch, next->id, f->id, 0, 0);
	/* A tail call: the switch saves our caller's return address as the
	 * resume point, so when we are switched back to we land right in the
	 * caller with the value its switcher passed - no return through
	 * reel_yield, whose ret the return-stack predictor would miss. */
	return reel__ctx_switch_jmp(&f->sp, next->sp, 0);
#endif
}

/* A fiber's last act: hand the CPU on and never come back. Main hands it
 * back to reel_run's own stack. */
void reel__sched_exit(struct reel__loop *l, struct reel__fiber *f)
{
	if (f == l->main) {
		l->current = NULL;
		asan_start_switch(l, f, NULL, true);
		tsan_switch_to(l->thread_tsan_fiber);
		reel__ctx_switch(&f->sp, l->thread_sp, 0);
	} else {
		struct reel__fiber *next = next_ready(l);

		release_zombie(l);   /* an older one: never ourselves */
		l->zombie = f;
		switch_fiber(l, f, next, true);
	}
	abort();   /* a dead fiber was switched to */
}

/* From reel_run's own stack: run main, and every fiber after it, until
 * main's shutdown hands the thread back (reel__sched_exit). */
void reel__sched_run_main(struct reel__loop *l)
{
	l->main->state = REEL__FIBER_RUNNING;
	reel__list_del(&l->main->ready_node);
	l->nready--;
	l->current = l->main;
#ifdef REEL_TSAN
	l->thread_tsan_fiber = __tsan_get_current_fiber();
#endif
	asan_start_switch(l, NULL, l->main, false);
	tsan_switch_to(l->main->tsan_fiber);
	reel__ctx_switch(&l->thread_sp, l->main->sp, 0);
	asan_finish_switch(l, NULL);
	release_zombie(l);
}

/* The public park reasons (api/reel_trace.h) are the core's, in order
 * (their names, reel_park_reason_name, are in console.c). */
_Static_assert((int)REEL_PARK_YIELD == (int)REEL__PARK_YIELD &&
	       (int)REEL_PARK_IO == (int)REEL__PARK_IO &&
	       (int)REEL_PARK_OFFLOAD == (int)REEL__PARK_OFFLOAD &&
	       (int)REEL_PARK_REASONS == (int)REEL__PARK_REASONS, "park reasons out of step");
