/*
 * group.c - task groups: asyncio.TaskGroup, structured concurrency.
 *
 * Children never outlive their group: reel_group_wait returns once every
 * child has ended. A failing child cancels its siblings at once (fail-fast
 * as it happens, through the watch's ended() callback, not when the parent
 * next waits), and every failure is reported, not only the first. A child
 * that succeeds is forgotten as it ends, so a server's group of connections
 * holds its running children only. Built on a watch (core/watch.c) in
 * caller-owned storage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "../reelimpl.h"

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
		reel__watch_cancel(l, w);
	}
	return false;
}

int reel_group_init(struct reel_group *group)
{
	struct reel__loop *l;
	struct group_impl *g;
	int rc = reel__enter(group, &l);

	if (rc)
		return rc;
	g = group_of(group);
	*g = (struct group_impl){ .failing = false };
	reel__watch_init(l, &g->w);
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
	int rc = reel__enter(group, &l);

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
	err = reel__watch_add(l, &g->w, t, index);   /* a new task: cannot fail */
	return err ? err : (int)index;
}

int reel_group_cancel(struct reel_group *group)
{
	struct reel__loop *l;
	struct group_impl *g;
	int rc = reel__enter(group, &l);

	if (rc)
		return rc;
	g = group_of(group);
	g->cancelled = true;
	reel__watch_cancel(l, &g->w);
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
	struct reel__loop *l = reel__running_loop();
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
	interrupted = reel__interrupt_pending(reel__self_fiber());
	if (interrupted) {
		g->cancelled = true;
		reel__watch_cancel(l, &g->w);
	}
	while (g->w.members) {
		while (reel__watch_collect(l, &g->w, &key, &status)) {
			if (child_failed(status)) {
				record_error(errs, max_errs, &count, key, status);
				if (!first_err)
					first_err = status;
			}
		}
		r = g->w.members ? reel__watch_wait(l, &g->w, !interrupted) : 0;
		if (r < 0) {
			interrupted = r;
			g->cancelled = true;    /* no new child from now on */
			reel__watch_cancel(l, &g->w);
		}
	}
	if (nerrs)
		*nerrs = count;
	g->failing = g->cancelled = false;
	g->next_index = 0;
	return interrupted ? interrupted : first_err;
}
