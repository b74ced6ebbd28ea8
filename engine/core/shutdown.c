/*
 * shutdown.c - the end of a run, where failures would otherwise vanish.
 *
 * When main returns, every task still alive is cancelled and main waits for
 * them all (asyncio.run does the same). Three things can go wrong there
 * without a word, and each is said here instead:
 *
 *  - A task ignores its cancellation: every parking call it makes returns
 *    -ECANCELED at once, and if it loops on them instead of returning, the
 *    process spins at 100% CPU forever. The -ECANCELED of a cancelled
 *    task's parking call is made out of line (reel__cancel_seen, in
 *    deadline.c with the other interruptions), so during shutdown it can
 *    look at the clock now and then and name the task one grace period
 *    (1 s) after the cancel, and again every 5 s.
 *  - A task does not end although it is parked (a shielded cleanup with a
 *    long timeout, a wait it made uninterruptible): main does not park
 *    forever but with a timer, and lists what is left at the same times.
 *  - A task failed and nobody joined it (asyncio's "Task exception was
 *    never retrieved"): once every task has ended, each slot still holding
 *    a failed status is reported by id, name and status through the run's
 *    error hook, or on stderr. With REEL_DEBUG_HANDLES (or REEL_DEBUG=
 *    handles), every handle never joined or detached is listed too.
 *
 * The task's name may be gone by then (its string need only outlive the
 * task), so a task that ends with nobody to take its status keeps a copy of
 * its name in its slot (task.c); that costs a strdup on the failure path
 * alone (every ending, in the debug mode).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GRACE_NS 1000000000ull      /* first report after the cancel */

unsigned reel__debug_from_env(void)
{
	const char *v = getenv("REEL_DEBUG");

	return v && strstr(v, "handles") ? REEL_DEBUG_HANDLES : 0;
}

static const char *name_or_unnamed(const char *name)
{
	return name ? name : "unnamed";
}

static double since_cancel_s(const struct reel__loop *l, uint64_t now)
{
	return (double)(now - l->exit_cancel_ns) / 1e9;
}

static const char *where(const struct reel__fiber *f)
{
	switch (f->state) {
	case REEL__FIBER_READY:
		return "ready to run";
	case REEL__FIBER_RUNNING:
		return "running";
	default:
		return reel__park_reason_name(f->park_reason);
	}
}

static void report_lingering(struct reel__loop *l, uint64_t now)
{
	fprintf(stderr, "reel: at exit, %llu task(s) still alive %.1f s after they were "
		"cancelled (the loop waits for every one):\n",
		(unsigned long long)(l->live - 1), since_cancel_s(l, now));
	for (uint32_t i = 0; i < l->ntasks; i++) {
		const struct reel__task_slot *s = &l->tasks[i];

		if (s->state != REEL__TASK_ALIVE || s->is_main || !s->fiber)
			continue;
		fprintf(stderr, "  task %#llx %-16s %s%s\n", (unsigned long long)s->fiber->id,
			name_or_unnamed(s->fiber->name), where(s->fiber),
			s->fiber->interruptible || s->fiber->state != REEL__FIBER_PARKED ? ""
			: " (not interruptible)");
	}
}

static void exit_timer_fired(struct reel__timer *t)
{
	reel__wake(reel__container_of(t, struct reel__fiber, timer), -ETIMEDOUT);
}

/* Main, at the end of the run: cancel and await the leftovers, saying so
 * when they take long. */
static void await_leftovers(struct reel__loop *l)
{
	struct reel__fiber *self = l->current;
	int r;

	l->shutting_down = true;
	l->exit_cancel_ns = reel_now();
	l->exit_report_ns = l->exit_cancel_ns + GRACE_NS;
	reel__task_cancel_all(l);
	while (l->live > 1) {
		l->main_waiting = true;
		reel__timer_init(&self->timer, exit_timer_fired);
		reel__timer_start(l, &self->timer, l->exit_report_ns);
		r = reel__park(l, REEL__PARK_SHUTDOWN, false);
		reel__timer_stop(l, &self->timer);
		if (r == -ETIMEDOUT && l->live > 1 && reel__exit_report_due(l, reel_now()))
			report_lingering(l, reel_now());
	}
	l->main_waiting = false;
}

/* Every task has ended: the slots still DONE were never joined. */
static void report_unjoined(struct reel__loop *l)
{
	for (uint32_t i = 0; i < l->ntasks; i++) {
		struct reel__task_slot *s = &l->tasks[i];
		reel_task t = { ((uint64_t)s->gen << 32) | i };
		const char *name = s->ended_name ? s->ended_name : "unnamed";

		if (s->state != REEL__TASK_DONE || s->is_main || s->watch)
			continue;
		if (s->status < 0 && s->status != -ECANCELED) {
			l->stats.unjoined_failures++;
			if (l->error_hook)
				l->error_hook(t, name, s->status, l->error_hook_arg);
			else
				fprintf(stderr, "reel: task %#llx (%s) failed and was never "
					"joined: %s (%d)\n", (unsigned long long)t.id, name,
					reel_strerror(s->status), s->status);
		} else if (l->debug & REEL_DEBUG_HANDLES) {
			fprintf(stderr, "reel: task %#llx (%s) was never joined or detached "
				"(its status: %d%s)\n", (unsigned long long)t.id, name, s->status,
				s->status == -ECANCELED ? ", cancelled" : "");
		}
		l->stats.unjoined++;
	}
}

void reel__shutdown(struct reel__loop *l)
{
	await_leftovers(l);
	report_unjoined(l);
}
