/*
 * gather.c - reel_gather (asyncio.gather, with and without
 * return_exceptions) and reel_wait_any (asyncio.wait, FIRST_COMPLETED).
 *
 * Both hand their tasks to a watch in the caller's frame (core/watch.c) and
 * collect them in the order they end. gather joins every task whatever
 * happens (design §1c): fail-fast cancels the others on the first error and
 * still waits for them; a cancelled caller cancels them all and waits too.
 * wait_any collects the first to end and hands the rest back as plain,
 * joinable tasks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "../reelimpl.h"

int reel_gather(reel_task *tasks, size_t n, int *statuses, unsigned flags)
{
	struct reel__loop *l = reel__running_loop();
	struct reel__watch w;
	int first_err = 0, interrupted = 0, err, status;
	uint64_t key;

	if (!l)
		return -EPERM;
	if (n == 0)
		return 0;
	if (!tasks || !statuses || (flags & ~REEL_GATHER_ALL))
		return -EINVAL;
	reel__watch_init(l, &w);
	err = reel__watch_add_all(l, &w, tasks, n);
	if (err)
		return err;
	interrupted = reel__interrupt_pending(reel__self_fiber());
	if (interrupted)
		reel__watch_cancel(l, &w);
	while (w.members) {
		while (reel__watch_collect(l, &w, &key, &status)) {
			statuses[key] = status;
			if (status < 0 && !first_err && !(flags & REEL_GATHER_ALL)) {
				first_err = status;
				reel__watch_cancel(l, &w);
			}
		}
		if (!w.members)
			break;
		err = reel__watch_wait(l, &w, !interrupted);
		if (err) {
			interrupted = err;
			reel__watch_cancel(l, &w);
		}
	}
	return interrupted ? interrupted : first_err;
}

int reel_wait_any(reel_task *tasks, size_t n, size_t *index, int *status)
{
	struct reel__loop *l = reel__running_loop();
	struct reel__watch w;
	uint64_t key;
	int err, st;

	if (!l)
		return -EPERM;
	if (!tasks || n == 0)
		return -EINVAL;
	reel__watch_init(l, &w);
	err = reel__watch_add_all(l, &w, tasks, n);
	if (err)
		return err;
	err = !reel__watch_has_ended(&w) ? reel__interrupt_pending(reel__self_fiber()) : 0;
	if (!err)
		err = reel__watch_wait(l, &w, true);
	if (!err) {
		reel__watch_collect(l, &w, &key, &st);
		if (index)
			*index = (size_t)key;
		if (status)
			*status = st;
	}
	reel__watch_release(l, &w);
	return err;
}
