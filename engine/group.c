/*
 * group.c - waiting for many tasks at once: reel_gather, reel_wait_any,
 * task sets (as-completed iteration) and task groups (structured
 * concurrency).
 *
 * All four rest on one idea, the watch (internal.h): a task handed to a
 * watch is joined by it alone (reel_join and reel_detach refuse it), and
 * when the task ends, its slot is appended to the watch's list of ended
 * tasks and the watch's waiter, if parked, is woken. Collecting an ended
 * task reads its status and frees its slot, exactly as reel_join does. So
 * waiting for n tasks costs O(1) per ending, not a scan of n handles per
 * wake-up; gather of 10 000 tasks is linear.
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

/* ---- the watch ---- */

static void watch_init(struct reel__watch *w, struct reel__fiber *owner)
{
	*w = (struct reel__watch){ .owner = owner->id, .head = REEL__NO_SLOT,
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

/* Take the oldest ended member: its key and status; its slot is freed. */
static bool collect(struct reel__loop *l, struct reel__watch *w, uint64_t *key, int *status)
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

/* Park until a member ends (or, for a group, the last one is dropped).
 * 0, or the interruption (only if @interruptible). */
static int wait_ended(struct reel__loop *l, struct reel__watch *w, bool interruptible)
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

static void cancel_members(struct reel__loop *l, struct reel__watch *w)
{
	for (uint32_t i = 0; i < l->ntasks && w->members; i++) {
		struct reel__task_slot *s = &l->tasks[i];

		if (s->watch == w && s->state == REEL__TASK_ALIVE)
			reel__task_cancel_fiber(l, s->fiber);
	}
}

/* Hand every member back: the handles are plain, joinable tasks again. */
static void release_members(struct reel__loop *l, struct reel__watch *w)
{
	for (uint32_t i = 0; i < l->ntasks && w->members; i++) {
		if (l->tasks[i].watch == w) {
			l->tasks[i].watch = NULL;
			member_gone(l, w);
		}
	}
}

/* Collect every remaining member, uninterruptibly, discarding statuses. */
static void drain(struct reel__loop *l, struct reel__watch *w)
{
	uint64_t key;
	int status;

	while (w->members) {
		if (!collect(l, w, &key, &status))
			wait_ended(l, w, false);
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

/* Attach tasks[0..n) with keys 0..n-1, or nothing: -ESRCH for a stale
 * handle (checked first, §1c), -EINVAL / -EDEADLK for one that cannot be
 * watched, -EINVAL for the same task twice. */
static int attach_all(struct reel__loop *l, struct reel__watch *w, const reel_task *tasks,
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
		release_members(l, w);
		w->head = w->tail = REEL__NO_SLOT;
	}
	return err;
}

static struct reel__loop *fiber_loop(void)
{
	struct reel__loop *l = reel__loop_cur;

	return l && l->current ? l : NULL;
}

/* Every set and group call's checks: on a fiber (-EPERM), with an object
 * (-EINVAL). 0 with the caller's loop in *@l. */
static int enter(const void *obj, struct reel__loop **l)
{
	*l = fiber_loop();
	if (!*l)
		return -EPERM;
	return obj ? 0 : -EINVAL;
}

/* ---- gather ---- */

int reel_gather(reel_task *tasks, size_t n, int *statuses, unsigned flags)
{
	struct reel__loop *l = fiber_loop();
	struct reel__watch w;
	int first_err = 0, interrupted = 0, err, status;
	uint64_t key;

	if (!l)
		return -EPERM;
	if (n == 0)
		return 0;
	if (!tasks || !statuses || (flags & ~REEL_GATHER_ALL))
		return -EINVAL;
	watch_init(&w, l->current);
	err = attach_all(l, &w, tasks, n);
	if (err)
		return err;
	interrupted = reel__interrupt_pending(l->current);
	if (interrupted)
		cancel_members(l, &w);
	while (w.members) {
		while (collect(l, &w, &key, &status)) {
			statuses[key] = status;
			if (status < 0 && !first_err && !(flags & REEL_GATHER_ALL)) {
				first_err = status;
				cancel_members(l, &w);
			}
		}
		if (!w.members)
			break;
		err = wait_ended(l, &w, !interrupted);
		if (err) {
			interrupted = err;
			cancel_members(l, &w);
		}
	}
	return interrupted ? interrupted : first_err;
}

/* ---- wait_any ---- */

int reel_wait_any(reel_task *tasks, size_t n, size_t *index, int *status)
{
	struct reel__loop *l = fiber_loop();
	struct reel__watch w;
	uint64_t key;
	int err, st;

	if (!l)
		return -EPERM;
	if (!tasks || n == 0)
		return -EINVAL;
	watch_init(&w, l->current);
	err = attach_all(l, &w, tasks, n);
	if (err)
		return err;
	err = w.head == REEL__NO_SLOT ? reel__interrupt_pending(l->current) : 0;
	if (!err)
		err = wait_ended(l, &w, true);
	if (!err) {
		collect(l, &w, &key, &st);
		if (index)
			*index = (size_t)key;
		if (status)
			*status = st;
	}
	release_members(l, &w);
	return err;
}

/* ---- task sets ---- */

struct set_impl {
	struct reel__watch w;
	bool closing;           /* in reel_taskset_close: no new member */
};
_Static_assert(sizeof(struct set_impl) <= sizeof(struct reel_taskset), "reel_taskset too small");
_Static_assert(_Alignof(struct set_impl) <= _Alignof(struct reel_taskset), "reel_taskset align");

static struct set_impl *set_of(struct reel_taskset *set)
{
	return (struct set_impl *)(void *)set;
}

int reel_taskset_init(struct reel_taskset *set)
{
	struct reel__loop *l;
	int rc = enter(set, &l);

	if (rc)
		return rc;
	watch_init(&set_of(set)->w, l->current);
	set_of(set)->closing = false;
	return 0;
}

/* The checks before a task joins @set: a fiber's call, a set, not closing. */
static int set_open_for(struct reel_taskset *set, struct reel__loop **l)
{
	int rc = enter(set, l);

	return rc ? rc : set_of(set)->closing ? -ECANCELED : 0;
}

int reel_taskset_add(struct reel_taskset *set, reel_task task, uint64_t key)
{
	struct reel__loop *l;
	uint32_t idx;
	int err = set_open_for(set, &l);

	if (!err)
		err = check_handle(l, task, &idx);
	if (!err)
		attach(l, &set_of(set)->w, idx, key);
	return err;
}

int reel_taskset_spawn(struct reel_taskset *set, reel_fn fn, void *arg,
		       const struct reel_spawn_opts *opts, uint64_t key)
{
	struct reel__loop *l;
	reel_task t;
	int err = set_open_for(set, &l);

	if (!err)
		err = reel_spawn(&t, fn, arg, opts);
	if (!err)
		attach(l, &set_of(set)->w, (uint32_t)t.id, key);
	return err;
}

int reel_taskset_next(struct reel_taskset *set, uint64_t *key, int *status)
{
	struct reel__loop *l;
	struct reel__watch *w;
	uint64_t k;
	int st, err;
	int rc = enter(set, &l);

	if (rc)
		return rc;
	w = &set_of(set)->w;
	if (!w->members)
		return 0;
	if (w->waiter)
		return -EBUSY;
	if (w->head == REEL__NO_SLOT) {
		err = reel__interrupt_pending(l->current);
		if (!err)
			err = wait_ended(l, w, true);
		if (err)
			return err;
	}
	collect(l, w, &k, &st);
	if (key)
		*key = k;
	if (status)
		*status = st;
	return 1;
}

size_t reel_taskset_size(const struct reel_taskset *set)
{
	return set ? ((const struct set_impl *)(const void *)set)->w.members : 0;
}

int reel_taskset_cancel(struct reel_taskset *set)
{
	struct reel__loop *l;
	int rc = enter(set, &l);

	if (rc)
		return rc;
	cancel_members(l, &set_of(set)->w);
	return 0;
}

int reel_taskset_close(struct reel_taskset *set)
{
	struct reel__loop *l;
	struct reel__watch *w;
	int rc = enter(set, &l);

	if (rc)
		return rc;
	w = &set_of(set)->w;
	if (w->waiter)
		return -EBUSY;
	set_of(set)->closing = true;    /* drain must not wait for newcomers */
	cancel_members(l, w);
	drain(l, w);
	set_of(set)->closing = false;
	return 0;
}

/* ---- task groups ---- */

struct group_impl {
	struct reel__watch w;
	uint64_t next_index;    /* the index of the next child spawned */
	bool failing;           /* a child failed: the others are cancelled */
	bool cancelled;         /* reel_group_cancel was called */
};
_Static_assert(sizeof(struct group_impl) <= sizeof(struct reel_group), "reel_group too small");
_Static_assert(_Alignof(struct group_impl) <= _Alignof(struct reel_group), "reel_group align");

static struct group_impl *group_of(struct reel_group *g)
{
	return (struct group_impl *)(void *)g;
}

/* A child's -ECANCELED is the group's own doing (or someone's cancel): like
 * asyncio.TaskGroup, it is not an error of the group. */
static bool child_failed(int status)
{
	return status < 0 && status != -ECANCELED;
}

/* Fail-fast as it happens, not when the parent next waits. A child that
 * did not fail is dropped at once (true): a server's group of connections
 * holds its running children only, not every child it ever had. */
static bool group_child_ended(struct reel__watch *w, struct reel__loop *l, int status)
{
	struct group_impl *g = reel__container_of(w, struct group_impl, w);

	if (!child_failed(status))
		return true;
	if (!g->failing) {
		g->failing = true;
		cancel_members(l, w);
	}
	return false;
}

int reel_group_init(struct reel_group *group)
{
	struct reel__loop *l;
	struct group_impl *g;
	int rc = enter(group, &l);

	if (rc)
		return rc;
	g = group_of(group);
	*g = (struct group_impl){ .failing = false };
	watch_init(&g->w, l->current);
	g->w.ended = group_child_ended;
	return 0;
}

int reel_group_spawn(struct reel_group *group, reel_fn fn, void *arg,
		     const struct reel_spawn_opts *opts)
{
	struct reel__loop *l;
	struct group_impl *g;
	uint64_t index;
	reel_task t;
	int err;
	int rc = enter(group, &l);

	if (rc)
		return rc;
	g = group_of(group);
	if (g->failing || g->cancelled)
		return -ECANCELED;
	if (g->next_index > INT32_MAX)
		return -EOVERFLOW;
	err = reel_spawn(&t, fn, arg, opts);
	if (err)
		return err;
	index = g->next_index++;
	attach(l, &g->w, (uint32_t)t.id, index);
	return (int)index;
}

int reel_group_cancel(struct reel_group *group)
{
	struct reel__loop *l;
	struct group_impl *g;
	int rc = enter(group, &l);

	if (rc)
		return rc;
	g = group_of(group);
	g->cancelled = true;
	cancel_members(l, &g->w);
	return 0;
}

static void record_error(struct reel_group_error *errs, size_t max, size_t *count,
			 uint64_t index, int status)
{
	if (*count < max)
		errs[*count] = (struct reel_group_error){ .index = (size_t)index,
							  .status = status };
	(*count)++;
}

int reel_group_wait(struct reel_group *group, struct reel_group_error *errs,
		    size_t max_errs, size_t *nerrs)
{
	struct reel__loop *l = fiber_loop();
	int first_err = 0, interrupted, status, r;
	struct group_impl *g;
	size_t count = 0;
	uint64_t key;

	if (!l)
		return -EPERM;
	if (!group || (max_errs && !errs))
		return -EINVAL;
	g = group_of(group);
	if (g->w.waiter)
		return -EBUSY;
	interrupted = reel__interrupt_pending(l->current);
	if (interrupted) {
		g->cancelled = true;
		cancel_members(l, &g->w);
	}
	while (g->w.members) {
		while (collect(l, &g->w, &key, &status)) {
			if (child_failed(status)) {
				record_error(errs, max_errs, &count, key, status);
				if (!first_err)
					first_err = status;
			}
		}
		r = g->w.members ? wait_ended(l, &g->w, !interrupted) : 0;
		if (r < 0) {
			interrupted = r;
			g->cancelled = true;    /* no new child from now on */
			cancel_members(l, &g->w);
		}
	}
	if (nerrs)
		*nerrs = count;
	g->failing = g->cancelled = false;
	g->next_index = 0;
	return interrupted ? interrupted : first_err;
}
