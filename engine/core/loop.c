/*
 * loop.c - a loop's life: reel_run sets one up on the calling thread, runs
 * main as its first fiber, and tears it down (asyncio.run).
 *
 * A loop is one struct of per-module parts, each with its own _init and
 * _term (libdill's ctx.h): the ring, the timer wheel, the stack cache, the
 * fiber cache, the task table, and the parts the layers add on first use
 * (reel__loop_part). Set-up runs them in that order; tear-down in reverse,
 * the layers' parts first, while the ring can still reap what they left in
 * the kernel.
 *
 * Main is a fiber like any other, with one difference: when its function
 * returns, its body cancels every task still alive and parks until they
 * have all ended (design §1b: no task outlives reel_run), and only then
 * hands the thread back to reel_run's own stack.
 *
 * Each running loop is on reel__loops, the process's list of loops, from
 * set-up to tear-down: a debugger finds every thread's fibers there
 * (tools/gdb/reel-gdb.py), in a core file too. It costs a mutex twice per
 * reel_run, nothing per fiber.
 *
 * A set-up failure is explained in words (the ring's reason: seccomp,
 * RLIMIT_MEMLOCK, an old kernel...), into reel_run_opts.errbuf or stderr.
 */
#define _GNU_SOURCE   /* gettid */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <reel_trace.h>

#include "console.h"
#include "inbox.h"
#include "internal.h"
#include "trace.h"

enum { MAX_RING_ENTRIES = 32768 };

static __thread struct reel__loop_stats last_stats;

struct reel__list reel__loops = { &reel__loops, &reel__loops };
pthread_mutex_t reel__loops_lock = PTHREAD_MUTEX_INITIALIZER;

static void loops_add(struct reel__loop *l)
{
	l->tid = (int)gettid();
	pthread_mutex_lock(&reel__loops_lock);
	reel__list_add_tail(&l->loops_node, &reel__loops);
	pthread_mutex_unlock(&reel__loops_lock);
}

static void loops_del(struct reel__loop *l)
{
	pthread_mutex_lock(&reel__loops_lock);
	reel__list_del(&l->loops_node);
	pthread_mutex_unlock(&reel__loops_lock);
}

const struct reel__loop_stats *reel__last_run_stats(void)
{
	return &last_stats;
}

struct reel__loop_part *reel__loop_part(struct reel__loop *l, enum reel__part_id id)
{
	return l->parts[id];
}

void reel__loop_set_part(struct reel__loop *l, enum reel__part_id id, struct reel__loop_part *p)
{
	l->parts[id] = p;
}

struct io_uring *reel__loop_uring(struct reel__loop *l)
{
	return &l->ring.ring;
}

unsigned reel__loop_disabled(const struct reel__loop *l)
{
	return l->disable;
}

uint16_t reel__loop_new_bgid(struct reel__loop *l)
{
	return l->next_bgid++;
}

bool reel__loop_closed(const struct reel__loop *l)
{
	return l->closed;
}

/* Main's body: run the user's main, then cancel and await the leftovers. */
static int main_body(void *arg)
{
	struct reel__loop *l = reel__loop_cur;
	reel_fn fn = (reel_fn)(uintptr_t)((void **)arg)[0];

	l->main_status = fn(((void **)arg)[1]);
	if (reel_unlikely(l->current->scope)) {
		fprintf(stderr, "reel: main returned inside a scope it entered "
			"(reel_scope_enter or REEL_TIMEOUT without leaving it)\n");
		abort();
	}
	reel__shutdown(l);
	return l->main_status;
}

static int check_opts(const struct reel_run_opts *o)
{
	if (!o)
		return 0;
	if (o->ring_entries > MAX_RING_ENTRIES)
		return -EINVAL;
	if (o->tick_shift && (o->tick_shift < 10 || o->tick_shift > 30))
		return -EINVAL;
	return 0;
}

static void say_why(const struct reel_run_opts *o, const char *why)
{
	if (o && o->errbuf && o->errbuf_len) {
		snprintf(o->errbuf, o->errbuf_len, "%s", why);
		return;
	}
	fprintf(stderr, "%s\n", why);
}

static int loop_init(struct reel__loop *l, const struct reel_run_opts *o)
{
	unsigned disable = (o ? o->disable : 0) | reel__env_disable();
	unsigned shift = o && o->tick_shift ? o->tick_shift : REEL__DEFAULT_TICK_SHIFT;
	char why[512] = "";
	int err;

	reel__list_init(&l->ready);
	l->errno_ptr = &errno;
	l->disable = disable;
	l->error_hook = o ? o->error_hook : NULL;
	l->error_hook_arg = o ? o->error_hook_arg : NULL;
	l->debug = (o ? o->debug : 0) | reel__debug_from_env();
	err = reel__fault_loop_init(why, sizeof(why));
	if (err)
		goto fail;
	err = reel__ring_init(&l->ring, o ? o->ring_entries : 0, disable, why, sizeof(why));
	if (err)
		goto fail;
	reel__wheel_init(&l->wheel, shift, reel_now());
	err = reel__stack_cache_init(&l->stacks, !(disable & REEL_NO_GUARD_INSTALL),
				     !(disable & REEL_NO_STACK_COMMIT));
	if (err)
		goto fail_ring;
	err = reel__task_table_init(l);
	if (err)
		goto fail_stacks;
	err = reel__inbox_loop_init(l);
	if (err)
		goto fail_tasks;
	return 0;

fail_tasks:
	reel__task_table_term(l);
fail_stacks:
	reel__stack_cache_term(&l->stacks);
fail_ring:
	reel__ring_term(&l->ring);
	snprintf(why, sizeof(why), "reel: out of memory setting up the loop");
fail:
	say_why(o, why);
	return err;
}

/* The layers' parts, newest layer first: each may still reap its own
 * operations, so the ring is still open and reel__loop_cur still points
 * at this loop (completion handlers may use it); no fiber runs. */
static void parts_term(struct reel__loop *l)
{
	for (int id = REEL__PARTS - 1; id >= 0; id--) {
		struct reel__loop_part *p = l->parts[id];

		if (p) {
			l->parts[id] = NULL;
			p->term(l, p);
		}
	}
}

static void loop_term(struct reel__loop *l)
{
	l->stats.live_at_close = l->live;
	l->stats.timers_at_close = l->wheel.count;
	l->stats.inflight_at_close = l->ring.inflight;
	l->stats.stale_cqes = l->ring.stale_cqes;
	l->stats.cq_overflows = l->ring.overflows_seen;
	reel__task_table_term(l);
	l->stats.stacks_at_close = l->stacks.live;
	l->stats.fibers_at_close = l->fibers.live;
	reel__stack_cache_term(&l->stacks);
	reel__fiber_cache_term(&l->fibers);
	reel__wheel_term(&l->wheel);
	reel__ring_term(&l->ring);
	last_stats = l->stats;
}

int reel_run(reel_fn main, void *arg, const struct reel_run_opts *opts, int *status)
{
	void *main_args[2] = { (void *)(uintptr_t)main, arg };
	struct reel__loop *l;
	reel_task handle;
	void *altstack = NULL;
	int err;

	if (reel__loop_cur)
		return -EBUSY;
	if (!main || check_opts(opts))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	err = loop_init(l, opts);
	if (err) {
		free(l);
		return err;
	}
	reel__overflow_thread_init(&altstack);
	reel__loop_cur = l;
	l->stats.started_ns = reel_now();
	loops_add(l);
	reel__trace_loop_begin(&l->trace);   /* REEL_TRACE=FILE, or a trace running */
	reel__stall_loop_begin();   /* REEL_STALL_MS */
	reel__console_from_env();   /* REEL_CONSOLE=1 */
	err = reel__task_create(l, &handle, main_body, main_args, NULL, true);
	if (err) {
		say_why(opts, "reel: cannot allocate main's stack");
		goto out;
	}
	reel__sched_run_main(l);
	reel__fiber_destroy(l, l->main);
	if (status)
		*status = l->main_status;
out:
	l->closed = true;         /* no task starts from here on */
	reel__inbox_loop_term(l); /* refuse posts, answer what came, reap the read */
	parts_term(l);            /* on this thread's loop still: they may reap */
	reel__stall_loop_end();
	reel__trace_loop_end();   /* its last events go to the writer */
	reel__console_loop_end(l);   /* its snapshot leaves the console */
	loops_del(l);
	reel__loop_cur = NULL;
	loop_term(l);
	reel__overflow_thread_term(altstack);
	free(l);
	return err;
}

/* ---- counters (api/reel_trace.h) ------------------------------------------------------ */

int reel_loop_stats(struct reel_loop_stats *st)
{
	struct reel__loop *l = reel__loop_cur;
	uint64_t up;

	if (!st)
		return -EINVAL;
	if (!l)
		return -EPERM;
	up = reel_now() - l->stats.started_ns;
	*st = (struct reel_loop_stats){
		.switches = l->stats.switches,
		.spawns = l->stats.spawned,
		.tasks = l->live,
		.ready = l->nready,
		.sqes = l->ring.sqes,
		.enters = l->ring.enters,
		.completions = l->ring.completions,
		.cq_overflows = l->ring.overflows_seen,
		.timers_armed = l->wheel.armed,
		.timers_fired = l->wheel.fired,
		.idle_ns = l->ring.idle_ns,
		.busy_ns = up > l->ring.idle_ns ? up - l->ring.idle_ns : 0,
		.stalls = l->stats.stalls,
	};
	return 0;
}

int reel_loop_stats_prometheus(char *buf, size_t len)
{
	struct reel_loop_stats s;
	int r = reel_loop_stats(&s);

	if (r)
		return r;
	if (!buf && len)
		return -EINVAL;
	return snprintf(buf, len,
		"# TYPE reel_loop_switches_total counter\nreel_loop_switches_total %llu\n"
		"# TYPE reel_loop_spawns_total counter\nreel_loop_spawns_total %llu\n"
		"# TYPE reel_loop_tasks gauge\nreel_loop_tasks %llu\n"
		"# TYPE reel_loop_ready gauge\nreel_loop_ready %llu\n"
		"# TYPE reel_loop_sqes_total counter\nreel_loop_sqes_total %llu\n"
		"# TYPE reel_loop_enters_total counter\nreel_loop_enters_total %llu\n"
		"# TYPE reel_loop_completions_total counter\nreel_loop_completions_total %llu\n"
		"# TYPE reel_loop_cq_overflows_total counter\nreel_loop_cq_overflows_total %llu\n"
		"# TYPE reel_loop_timers_armed_total counter\nreel_loop_timers_armed_total %llu\n"
		"# TYPE reel_loop_timers_fired_total counter\nreel_loop_timers_fired_total %llu\n"
		"# TYPE reel_loop_busy_seconds_total counter\nreel_loop_busy_seconds_total %.6f\n"
		"# TYPE reel_loop_idle_seconds_total counter\nreel_loop_idle_seconds_total %.6f\n"
		"# TYPE reel_loop_stalls_total counter\nreel_loop_stalls_total %llu\n",
		(unsigned long long)s.switches, (unsigned long long)s.spawns,
		(unsigned long long)s.tasks, (unsigned long long)s.ready,
		(unsigned long long)s.sqes, (unsigned long long)s.enters,
		(unsigned long long)s.completions, (unsigned long long)s.cq_overflows,
		(unsigned long long)s.timers_armed, (unsigned long long)s.timers_fired,
		s.busy_ns / 1e9, s.idle_ns / 1e9, (unsigned long long)s.stalls);
}
