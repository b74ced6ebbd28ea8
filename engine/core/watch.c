/*
 * watch.c - the mechanism that reel_gather, reel_wait_any, task sets and
 * task groups share (engine/tasks/): waiting for many tasks at once.
 *
 * A task handed to a watch is joined by it alone (reel_join and reel_detach
 * refuse it), and when the task ends, its slot is appended to the watch's
 * list of ended tasks and the watch's waiter, if parked, is woken.
 * Collecting an ended task reads its status and frees its slot, exactly as
 * reel_join does. So waiting for n tasks costs O(1) per ending, not a scan
 * of n handles per wake-up; gather of 10 000 tasks is linear.
 *
 * Cancelling "the others" (fail-fast, a cancelled waiter) walks the task
 * table once and cancels every live member of the watch: it happens once per
 * watch, so members need no list of their own.
 *
 * Frames: a watch lives in the caller's frame (gather, wait_any) or in
 * caller-owned storage (sets, groups) and member slots point at it. The
 * owner fiber counts its watches that still hold tasks; if it ends with one,
 * task.c aborts with a message rather than leave slots pointing into a dead
 * frame.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

void reel__watch_init(struct reel__loop *l, struct reel__watch *w)
{
	*w = (struct reel__watch){ .owner = l->current->id, .head = REEL__NO_SLOT,
				   .tail = REEL__NO_SLOT };
}

/* The fiber that initialised @w, if it still runs. A group in heap storage
 * may outlive it (legally, while empty): then there is nobody to count. */
static struct reel__fiber *owner_of(struct reel__loop *l, const struct reel__watch *w)
{
	uint32_t idx;
	struct reel__task_slot *s = reel__task_lookup(l, (reel_task){ w->owner }, &idx);

	return s && s->state == REEL__TASK_ALIVE ? s->fiber : NULL;
}

/* The owner's count of watches holding tasks: +1 or -1. */
static void count_watching(struct reel__loop *l, const struct reel__watch *w, int delta)
{
	struct reel__fiber *owner = owner_of(l, w);

	if (owner)
		owner->watching += (uint32_t)delta;
}

static void push_ended(struct reel__loop *l, struct reel__watch *w, uint32_t idx)
{
	l->tasks[idx].next_done = REEL__NO_SLOT;
	if (w->tail == REEL__NO_SLOT)
		w->head = idx;
	else
		l->tasks[w->tail].next_done = idx;
	w->tail = idx;
	if (w->waiter) {
		struct reel__fiber *f = w->waiter;

		w->waiter = NULL;
		reel__wake(f, 0);
	}
}

static void member_gone(struct reel__loop *l, struct reel__watch *w);

/* task.c: a member of a watch has ended (its slot is DONE). Kept for the
 * waiter to collect, or dropped at once when the watch's ended() says so. */
void reel__watch_ended(struct reel__loop *l, struct reel__task_slot *s, uint32_t idx)
{
	struct reel__watch *w = s->watch;
	struct reel__fiber *waiter = w->waiter;

	if (!w->ended || !w->ended(w, l, s->status)) {
		push_ended(l, w, idx);
		return;
	}
	reel__task_free_slot(l, idx);
	member_gone(l, w);
	if (!w->members && waiter) {
		w->waiter = NULL;
		reel__wake(waiter, 0);
	}
}

static void attach(struct reel__loop *l, struct reel__watch *w, uint32_t idx, uint64_t key)
{
	struct reel__task_slot *s = &l->tasks[idx];

	s->watch = w;
	s->key = key;
	if (w->members++ == 0)
		count_watching(l, w, 1);
	if (s->state == REEL__TASK_DONE)
		push_ended(l, w, idx);
}

static void member_gone(struct reel__loop *l, struct reel__watch *w)
{
	if (--w->members == 0)
		count_watching(l, w, -1);
}

bool reel__watch_collect(struct reel__loop *l, struct reel__watch *w, uint64_t *key, int *status)
{
	uint32_t idx = w->head;
	struct reel__task_slot *s;

	if (idx == REEL__NO_SLOT)
		return false;
	s = &l->tasks[idx];
	w->head = s->next_done;
	if (w->head == REEL__NO_SLOT)
		w->tail = REEL__NO_SLOT;
	*key = s->key;
	*status = s->status;
	reel__task_free_slot(l, idx);
	member_gone(l, w);
	return true;
}

int reel__watch_wait(struct reel__loop *l, struct reel__watch *w, bool interruptible)
{
	int r;

	while (w->head == REEL__NO_SLOT && w->members) {
		w->waiter = l->current;
		r = reel__park(l, REEL__PARK_GATHER, interruptible);
		w->waiter = NULL;
		if (r < 0)
			return r;
	}
	return 0;
}

void reel__watch_cancel(struct reel__loop *l, struct reel__watch *w)
{
	for (uint32_t i = 0; i < l->ntasks && w->members; i++) {
		struct reel__task_slot *s = &l->tasks[i];

		if (s->watch == w && s->state == REEL__TASK_ALIVE)
			reel__task_cancel_fiber(l, s->fiber);
	}
}

void reel__watch_release(struct reel__loop *l, struct reel__watch *w)
{
	for (uint32_t i = 0; i < l->ntasks && w->members; i++) {
		if (l->tasks[i].watch == w) {
			l->tasks[i].watch = NULL;
			member_gone(l, w);
		}
	}
}

void reel__watch_drain(struct reel__loop *l, struct reel__watch *w)
{
	uint64_t key;
	int status;

	while (w->members) {
		if (!reel__watch_collect(l, w, &key, &status))
			reel__watch_wait(l, w, false);
	}
}

/*
 * Check that @task may be handed to a watch: a live handle, not main, not
 * the caller, not joined or watched by anyone. 0 with its slot index.
 */
static int check_handle(struct reel__loop *l, reel_task task, uint32_t *idx)
{
	struct reel__task_slot *s = reel__task_lookup(l, task, idx);

	if (!s)
		return -ESRCH;
	if (s->is_main || s->joiner || s->watch)
		return -EINVAL;
	if (s->fiber == l->current)
		return -EDEADLK;
	return 0;
}

int reel__watch_add(struct reel__loop *l, struct reel__watch *w, reel_task task, uint64_t key)
{
	uint32_t idx;
	int err = check_handle(l, task, &idx);

	if (!err)
		attach(l, w, idx, key);
	return err;
}

/* Checked in this order for gather's sake (design §1c): a stale handle is
 * -ESRCH before anything else is looked at. */
int reel__watch_add_all(struct reel__loop *l, struct reel__watch *w, const reel_task *tasks,
		      size_t n)
{
	uint32_t idx;
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		if (!reel__task_lookup(l, tasks[i], &idx))
			return -ESRCH;
	}
	for (size_t i = 0; i < n && !err; i++) {
		err = check_handle(l, tasks[i], &idx);  /* listed twice: -EINVAL */
		if (!err)
			attach(l, w, idx, i);
	}
	if (err) {
		reel__watch_release(l, w);
		w->head = w->tail = REEL__NO_SLOT;
	}
	return err;
}
