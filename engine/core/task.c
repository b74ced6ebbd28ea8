/*
 * task.c - tasks: spawn, join, detach, cancel, background tasks.
 *
 * A task is a slot in the loop's task table plus, while it runs, a fiber.
 * The handle a caller holds is the slot index and the slot's generation;
 * freeing a slot bumps the generation, so every copy of an old handle turns
 * stale and gets -ESRCH rather than touching someone else's task. The slot
 * outlives the fiber: after the fiber ends its status waits there until the
 * handle is joined (or is dropped at once when the task was detached).
 *
 * The table grows by doubling; it is indexed, never pointed into across a
 * park, because a spawn while we are parked may move it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "trace.h"

enum { FIRST_TASKS = 64, GEN_BITS = 24 };

/*
 * Generations: the top 8 bits are the run's epoch, the low 24 count reuses
 * of the slot. A handle kept from an earlier reel_run (of this or another
 * thread) carries another epoch and is stale here, not someone else's task.
 */
static unsigned run_epoch;

static uint32_t next_gen(uint32_t gen)
{
	uint32_t count = (gen + 1) & ((1u << GEN_BITS) - 1);

	return (gen & ~((1u << GEN_BITS) - 1)) | (count ? count : 1);
}

static uint64_t make_id(uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << 32) | slot;
}

int reel__task_table_init(struct reel__loop *l)
{
	unsigned epoch = __atomic_add_fetch(&run_epoch, 1, __ATOMIC_RELAXED) & 0xff;

	l->tasks = calloc(FIRST_TASKS, sizeof(*l->tasks));
	if (!l->tasks)
		return -ENOMEM;
	l->ntasks = FIRST_TASKS;
	l->first_gen = (epoch << GEN_BITS) | 1;
	for (uint32_t i = 0; i < FIRST_TASKS; i++) {
		l->tasks[i].gen = l->first_gen;
		l->tasks[i].next_free = i + 1;
	}
	l->task_free = 0;
	return 0;
}

void reel__task_table_term(struct reel__loop *l)
{
	for (uint32_t i = 0; i < l->ntasks; i++)
		free(l->tasks[i].ended_name);
	free(l->tasks);
	l->tasks = NULL;
	l->ntasks = 0;
}

static int grow_tasks(struct reel__loop *l)
{
	uint32_t n = l->ntasks * 2;
	struct reel__task_slot *t;

	if (n < l->ntasks)
		return -ENOMEM;
	t = realloc(l->tasks, (size_t)n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = l->ntasks; i < n; i++) {
		t[i] = (struct reel__task_slot){ .gen = l->first_gen, .next_free = i + 1 };
	}
	l->tasks = t;
	l->task_free = l->ntasks;
	l->ntasks = n;
	return 0;
}

void reel__task_free_slot(struct reel__loop *l, uint32_t idx)
{
	struct reel__task_slot *s = &l->tasks[idx];

	free(s->ended_name);
	*s = (struct reel__task_slot){ .gen = next_gen(s->gen), .next_free = l->task_free };
	l->task_free = idx;
}

/* The live slot of a handle, or NULL when the handle is stale. */
struct reel__task_slot *reel__task_lookup(struct reel__loop *l, reel_task t, uint32_t *idx)
{
	uint32_t i = (uint32_t)t.id;
	struct reel__task_slot *s;

	if (i >= l->ntasks)
		return NULL;
	s = &l->tasks[i];
	if (s->gen != (uint32_t)(t.id >> 32) || s->state == REEL__TASK_FREE || s->detached)
		return NULL;
	*idx = i;
	return s;
}

int reel__task_create(struct reel__loop *l, reel_task *task, reel_fn fn, void *arg,
		      const struct reel_spawn_opts *opts, bool is_main)
{
	struct reel__fiber *f;
	uint32_t idx;
	int err;

	err = reel__fiber_new(l, fn, arg, opts, &f);   /* checks the stack size first */
	if (err)
		return err;
	if (l->task_free >= l->ntasks && grow_tasks(l) != 0) {
		reel__fiber_destroy(l, f);
		return -ENOMEM;
	}
	idx = l->task_free;
	l->task_free = l->tasks[idx].next_free;
	f->slot = idx;
	f->id = make_id(idx, l->tasks[idx].gen);
	l->tasks[idx].state = REEL__TASK_ALIVE;
	l->tasks[idx].fiber = f;
	l->tasks[idx].is_main = is_main;
	if (is_main) {
		l->main = f;
		if (!f->name)
			f->name = "main";
	}
	reel__ready(l, f);
	l->live++;
	l->stats.spawned++;
	task->id = f->id;
	REEL_TRACE_SPAWN(f->id, l->current ? l->current->id : 0, f->name);
	return 0;
}

/* A task ended while a group or set it owns still holds tasks, whose slots
 * point into its frame: continuing would be a use after free. */
static void watching_abort(const struct reel__fiber *f)
{
	fprintf(stderr, "reel: task %#llx (%s) ended while %u task group(s), "
		"set(s) or generator(s) it started still held tasks, or remote "
		"task(s) it started were not joined: wait for, close or join them "
		"before returning\n", (unsigned long long)f->id,
		f->name ? f->name : "unnamed", f->watching);
	abort();
}

/* A task ended inside a scope (reel_scope_enter without leave): the scope
 * lives in its dead frames and may have a timer armed on the wheel. */
static void scope_abort(const struct reel__fiber *f)
{
	fprintf(stderr, "reel: task %#llx (%s) ended inside a scope it entered "
		"(reel_scope_enter or REEL_TIMEOUT without leaving it): leave every "
		"scope before returning\n", (unsigned long long)f->id,
		f->name ? f->name : "unnamed");
	abort();
}

/* asyncio's "Task exception was never retrieved", at the time it happens. */
static void report_background_failure(struct reel__loop *l, const struct reel__fiber *f,
				      int status)
{
	l->stats.background_failures++;
	if (l->error_hook) {
		l->error_hook((reel_task){ f->id }, f->name, status, l->error_hook_arg);
		return;
	}
	fprintf(stderr, "reel: background task %#llx (%s) failed: %s (%d)\n",
		(unsigned long long)f->id, f->name ? f->name : "unnamed",
		reel_strerror(status), status);
}

/* A task ends with nobody to take its status: keep its name for the report
 * at the run's end (shutdown.c) if it failed, or for REEL_DEBUG_HANDLES. */
static void keep_name(struct reel__loop *l, struct reel__task_slot *s,
		      const struct reel__fiber *f, int status)
{
	bool failed = status < 0 && status != -ECANCELED;

	if (s->joiner || s->watch || s->detached || s->is_main)
		return;
	if (failed || (l->debug & REEL_DEBUG_HANDLES))
		s->ended_name = strdup(f->name ? f->name : "unnamed");
}

/* Record the end of @f's task; wake its joiner, or main at shutdown. */
/* Out of line, and called after the checks below: those read operation
 * records left in the dead frames of the task's stack (to name them), which
 * every byte of reel__task_finish's own frame, running on that same stack,
 * could overwrite first. */
static __attribute__((noinline)) void trace_end(const struct reel__fiber *f, int status)
{
	REEL_TRACE(end, END, f->id, 0, (uint32_t)status, 0);
}

void reel__task_finish(struct reel__loop *l, struct reel__fiber *f, int status)
{
	struct reel__task_slot *s = &l->tasks[f->slot];

	/* Long-lived operations (an acceptor's, a receiver's) belong to their
	 * object; only one whose record sits on this dying stack is a bug. */
	if (reel_unlikely(l->ring.long_lived) &&
	    reel__ring_ops_within(&l->ring, f->stack.lo, f->stack.lo + f->stack.size)) {
		fprintf(stderr, "reel: task %#llx (%s) ended while the operations above, "
			"whose records are on its stack, are in the kernel: close the "
			"acceptor or receiver before returning\n",
			(unsigned long long)f->id, f->name ? f->name : "unnamed");
		abort();
	}
	if (reel_unlikely(f->inflight)) {
		fprintf(stderr, "reel: task %#llx (%s) ended with %u I/O operations "
			"still in the kernel: their buffers may be on its stack\n",
			(unsigned long long)f->id, f->name ? f->name : "unnamed",
			f->inflight);
		reel__ring_report_ops(&l->ring, f);
		abort();
	}
	if (reel_unlikely(f->watching))
		watching_abort(f);
	trace_end(f, status);
	if (reel_unlikely(s->background) && status < 0 &&
	    !(status == -ECANCELED && f->cancelled)) {
		report_background_failure(l, f, status);
		s = &l->tasks[f->slot];   /* the hook may have spawned: table moved */
	}
	if (reel_unlikely(f->scope))
		scope_abort(f);
	keep_name(l, s, f, status);
	s->state = REEL__TASK_DONE;
	s->status = status;
	s->fiber = NULL;
	if (s->joiner)
		reel__wake(s->joiner, 0);
	if (s->watch)
		reel__watch_ended(l, s, f->slot);
	else if (s->detached)
		reel__task_free_slot(l, f->slot);
	l->live--;
	if (l->main_waiting && l->live == 1)
		reel__wake(l->main, 0);
}

/* A task cancelled before its first run never runs: it ends right here. */
static void finish_unstarted(struct reel__loop *l, struct reel__fiber *f)
{
	reel__list_del(&f->ready_node);
	l->nready--;
	reel__task_finish(l, f, -ECANCELED);
	reel__fiber_destroy(l, f);
}

void reel__task_cancel_fiber(struct reel__loop *l, struct reel__fiber *f)
{
	if (f->cancelled)
		return;
	f->cancelled = true;
	REEL_TRACE(cancel, CANCEL, f->id, 0, 0, 0);
	if (!f->started && f != l->current)
		finish_unstarted(l, f);
	else
		reel__interrupt(f);
}

void reel__cancel_fiber(struct reel__fiber *f)
{
	reel__task_cancel_fiber(reel__loop_cur, f);
}

void reel__task_cancel_all(struct reel__loop *l)
{
	for (uint32_t i = 0; i < l->ntasks; i++) {
		struct reel__task_slot *s = &l->tasks[i];

		if (s->state == REEL__TASK_ALIVE && !s->is_main)
			reel__task_cancel_fiber(l, s->fiber);
	}
}

/* For the deadlock report: every live task and where it is parked. */
void reel__task_report_parked(struct reel__loop *l)
{
	for (uint32_t i = 0; i < l->ntasks; i++) {
		struct reel__task_slot *s = &l->tasks[i];

		if (s->state != REEL__TASK_ALIVE || !s->fiber)
			continue;
		fprintf(stderr, "  task %#llx %-16s parked in %s\n",
			(unsigned long long)s->fiber->id,
			s->fiber->name ? s->fiber->name : "(unnamed)",
			reel__park_reason_name(s->fiber->park_reason));
	}
}

int reel__task_peek(struct reel__loop *l, reel_task task, int *status)
{
	uint32_t idx;
	struct reel__task_slot *s = reel__task_lookup(l, task, &idx);

	if (!s)
		return -ESRCH;
	if (s->state != REEL__TASK_DONE)
		return 0;
	*status = s->status;
	return 1;
}

void reel__watching_add(struct reel__fiber *f, int delta)
{
	f->watching += (uint32_t)delta;
}

int reel_spawn(reel_task *task, reel_fn fn, void *arg, const struct reel_spawn_opts *opts)
{
	struct reel__loop *l = reel__loop_cur;
	int err;

	if (!l || !l->current)
		return -EPERM;
	if (!fn || !task)
		return -EINVAL;
	err = reel__task_create(l, task, fn, arg, opts, false);
	if (err == 0 && l->shutting_down)
		reel__task_cancel_fiber(l, l->tasks[(uint32_t)task->id].fiber);
	return err;
}

int reel__loop_spawn(struct reel__loop *l, reel_fn fn, void *arg,
		     const struct reel_spawn_opts *opts)
{
	struct reel__task_slot *s;
	reel_task t;
	int err;

	if (l->closed)
		return -ESHUTDOWN;
	err = reel__task_create(l, &t, fn, arg, opts, false);
	if (err)
		return err;
	s = &l->tasks[(uint32_t)t.id];
	s->detached = true;
	/* Counted as started: a cancel before its first run does not end it
	 * unrun (finish_unstarted); its body sees the cancel and answers. */
	s->fiber->started = true;
	if (l->shutting_down)
		reel__task_cancel_fiber(l, s->fiber);
	return 0;
}

int reel_join(reel_task task, int *status)
{
	struct reel__loop *l = reel__loop_cur;
	struct reel__fiber *self = l ? l->current : NULL;
	struct reel__task_slot *s;
	uint32_t idx;
	int r;

	if (!self)
		return -EPERM;
	s = reel__task_lookup(l, task, &idx);
	if (!s)
		return -ESRCH;
	if (s->is_main)
		return -EINVAL;
	if (s->fiber == self)
		return -EDEADLK;
	if (s->joiner || s->watch)
		return -EINVAL;
	r = reel__interrupt_now(self);
	if (s->state == REEL__TASK_ALIVE) {
		s->joiner = self;
		if (r == 0)
			r = reel__park(l, REEL__PARK_JOIN, true);
		if (r < 0 && l->tasks[idx].state == REEL__TASK_ALIVE) {
			/* Like asyncio: cancelling the awaiter cancels the awaited. */
			reel__task_cancel_fiber(l, l->tasks[idx].fiber);
		}
		while (l->tasks[idx].state == REEL__TASK_ALIVE)
			reel__park(l, REEL__PARK_JOIN, false);
		s = &l->tasks[idx];
	}
	if (status)
		*status = s->status;
	reel__task_free_slot(l, idx);
	return r;
}

/* The checks reel_detach and reel_cancel share: on a fiber (-EPERM), a
 * live handle (-ESRCH). 0 with the loop, the slot and its index. */
static int handle_entry(reel_task task, struct reel__loop **lp,
			struct reel__task_slot **sp, uint32_t *idx)
{
	struct reel__loop *l = reel__loop_here();

	if (!l)
		return -EPERM;
	*lp = l;
	*sp = reel__task_lookup(l, task, idx);
	return *sp ? 0 : -ESRCH;
}

int reel_detach(reel_task task)
{
	struct reel__loop *l;
	struct reel__task_slot *s;
	uint32_t idx;
	int err = handle_entry(task, &l, &s, &idx);

	if (err)
		return err;
	if (s->is_main || s->joiner || s->watch)
		return -EINVAL;
	if (s->state == REEL__TASK_DONE)
		reel__task_free_slot(l, idx);
	else
		s->detached = true;
	return 0;
}

int reel_cancel(reel_task task)
{
	struct reel__loop *l;
	struct reel__task_slot *s;
	uint32_t idx;
	int err = handle_entry(task, &l, &s, &idx);

	if (err)
		return err;
	if (s->state == REEL__TASK_ALIVE)
		reel__task_cancel_fiber(l, s->fiber);
	return 0;
}

int reel_spawn_background(reel_fn fn, void *arg, const struct reel_spawn_opts *opts)
{
	reel_task t;
	int err = reel_spawn(&t, fn, arg, opts);

	if (err)
		return err;
	reel__loop_cur->tasks[(uint32_t)t.id].background = true;
	return reel_detach(t);
}
