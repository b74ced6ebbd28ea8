/*
 * taskset.c - task sets: asyncio.as_completed for tasks that keep coming.
 *
 * A set is a watch (core/watch.c) in caller-owned storage: tasks are added
 * (or spawned into it) under a key, and reel_taskset_next hands back the
 * ended ones, oldest ending first, with their key and status, at O(1) each.
 * Closing cancels what is left and waits for it, refusing newcomers while
 * it drains.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "../reelimpl.h"

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
	int rc = reel__enter(set, &l);

	if (rc)
		return rc;
	reel__watch_init(l, &set_of(set)->w);
	set_of(set)->closing = false;
	return 0;
}

/* The checks before a task joins @set: a fiber's call, a set, not closing. */
static int set_open_for(struct reel_taskset *set, struct reel__loop **l)
{
	int rc = reel__enter(set, l);

	return rc ? rc : set_of(set)->closing ? -ECANCELED : 0;
}

int reel_taskset_add(struct reel_taskset *set, reel_task task, uint64_t key)
{
	struct reel__loop *l;
	int err = set_open_for(set, &l);

	return err ? err : reel__watch_add(l, &set_of(set)->w, task, key);
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
		err = reel__watch_add(l, &set_of(set)->w, t, key);   /* new: cannot fail */
	return err;
}

int reel_taskset_next(struct reel_taskset *set, uint64_t *key, int *status)
{
	struct reel__loop *l;
	struct reel__watch *w;
	uint64_t k;
	int st, err;
	int rc = reel__enter(set, &l);

	if (rc)
		return rc;
	w = &set_of(set)->w;
	if (!w->members)
		return 0;
	if (w->waiter)
		return -EBUSY;
	if (!reel__watch_has_ended(w)) {
		err = reel__interrupt_pending(reel__self_fiber());
		if (!err)
			err = reel__watch_wait(l, w, true);
		if (err)
			return err;
	}
	reel__watch_collect(l, w, &k, &st);
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
	int rc = reel__enter(set, &l);

	if (rc)
		return rc;
	reel__watch_cancel(l, &set_of(set)->w);
	return 0;
}

int reel_taskset_close(struct reel_taskset *set)
{
	struct reel__loop *l;
	struct reel__watch *w;
	int rc = reel__enter(set, &l);

	if (rc)
		return rc;
	w = &set_of(set)->w;
	if (w->waiter)
		return -EBUSY;
	set_of(set)->closing = true;    /* drain must not wait for newcomers */
	reel__watch_cancel(l, w);
	reel__watch_drain(l, w);
	set_of(set)->closing = false;
	return 0;
}
