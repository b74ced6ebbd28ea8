/*
 * rt.c - a runtime of N loops: one thread each, pinned one per CPU by
 * default, every one running the same main (Seastar's shards, nginx's
 * workers); docs/runtime.md.
 *
 * Concepts
 *   loop i     a thread running reel_run(loop_main) with an inbox the
 *              runtime made (reel__inbox_adopt_next): the runtime owns it
 *              and frees it after joining the thread, so a peer's post to
 *              a loop that has ended is refused (-ESHUTDOWN), never a use
 *              after free.
 *   main       the user's main, run by loop_main on every loop. A loop
 *              whose main has returned goes on serving its peers (their
 *              remote tasks, their channel wake-ups) until every main has
 *              returned: the last one wakes all loops (@all_done), each
 *              loop_main returns, and each reel_run cancels and awaits its
 *              leftover tasks as usual.
 *   stop       reel_rt_stop: a flag and a kick of every inbox - no lock, no
 *              allocation, one eventfd write per sleeping loop, so a signal
 *              handler may call it. The kick handler, on the loop's thread,
 *              cancels that loop's main.
 *
 * Start-up is a handshake, so that a loop that cannot start (no ring: a
 * seccomp filter, RLIMIT_MEMLOCK) stops the others before any main runs:
 * each loop_main reports in and parks (@go); once every loop has reported,
 * reel_rt_start either wakes them all to run main, or - one failed - marks
 * the run aborted and wakes them to return at once, joins every thread and
 * returns the failed loop's errno (its reason in words, as reel_run's).
 *
 * Signals: unless REEL_RT_NO_SIGNALS, SIGINT and SIGTERM get a handler that
 * stops every runtime registered for them (sig_rts), from whichever thread
 * the kernel picks - loop threads block every signal, so it is never one
 * of them. The previous dispositions come back when the last such runtime
 * has been waited for. Rejected: a signal thread with sigwaitinfo - a
 * process-directed signal goes to any thread that does not block it, and
 * the caller's other threads are not ours to mask.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <reel_rt.h>

#include "../reelimpl.h"
#include "rt.h"

enum { MAX_LOOPS = 1024, MAX_SIG_RTS = 16, ERRBUF = 512 };

struct rt_loop {
	struct reel_rt *rt;
	unsigned index;
	int cpu;                      /* pinned to, or -1 */
	pthread_t thread;
	bool created;                 /* the thread exists: join it */
	bool reported;                /* loop_main began, or reel_run failed (rt->lock) */
	struct reel__inbox *inbox;    /* the runtime's; freed after the join */
	struct reel__xwait go;        /* reel_rt_start's verdict */
	struct reel__xwait all_done;  /* every main has returned */
	struct reel__fiber *main_fiber;  /* while the user's main runs (loop only) */
	int status;                   /* main's return value */
	int run_err;                  /* reel_run's own failure */
	char why[ERRBUF];             /* reel_run's reason, in words */
	struct reel_run_opts run;     /* the caller's, with our errbuf */
};

struct reel_rt {
	reel_fn main;
	void *arg;
	unsigned n;
	unsigned flags;
	int stopping;                 /* reel_rt_stop was called (atomic) */
	int ending;                   /* every main has returned (atomic) */
	unsigned mains_left;          /* mains still running (atomic) */
	bool aborted;                 /* start-up failed: mains never run */
	bool signals;                 /* registered in sig_rts */
	char *user_errbuf;            /* opts->run->errbuf, for a start failure */
	size_t user_errbuf_len;
	pthread_mutex_t lock;         /* the start-up handshake */
	pthread_cond_t cond;
	unsigned reported;
	struct rt_loop loops[];
};

static __thread struct rt_loop *rt_cur;   /* this thread's loop of a runtime */

/* reel_rt_stop calls under way, in any runtime: reel_rt_wait frees its
 * runtime only when none is, so a stop racing the end of the wait (from
 * another thread, a signal handler) never writes into freed memory. */
static int stops_in_flight;

/* ---- signals ------------------------------------------------------------------------ */

static struct reel_rt *sig_rts[MAX_SIG_RTS];   /* atomic pointers */
static int sig_in_handler;                     /* handlers running (atomic) */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sig_users;                     /* runtimes registered (sig_lock) */
static struct sigaction sig_old_int, sig_old_term;

static void on_stop_signal(int sig)
{
	(void)sig;
	__atomic_add_fetch(&sig_in_handler, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < MAX_SIG_RTS; i++) {
		struct reel_rt *rt = __atomic_load_n(&sig_rts[i], __ATOMIC_SEQ_CST);

		if (rt)
			reel_rt_stop(rt);
	}
	__atomic_sub_fetch(&sig_in_handler, 1, __ATOMIC_SEQ_CST);
}

/* Stop @rt on SIGINT/SIGTERM; false when MAX_SIG_RTS runtimes already are. */
static bool signals_register(struct reel_rt *rt)
{
	bool ok = false;

	pthread_mutex_lock(&sig_lock);
	for (unsigned i = 0; i < MAX_SIG_RTS && !ok; i++) {
		if (!__atomic_load_n(&sig_rts[i], __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&sig_rts[i], rt, __ATOMIC_SEQ_CST);
			ok = true;
		}
	}
	if (ok && sig_users++ == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGINT, &sa, &sig_old_int);
		sigaction(SIGTERM, &sa, &sig_old_term);
	}
	pthread_mutex_unlock(&sig_lock);
	return ok;
}

/* Take @rt off the list; a handler still looking at it finishes first. */
static void signals_unregister(struct reel_rt *rt)
{
	pthread_mutex_lock(&sig_lock);
	for (unsigned i = 0; i < MAX_SIG_RTS; i++)
		if (__atomic_load_n(&sig_rts[i], __ATOMIC_SEQ_CST) == rt)
			__atomic_store_n(&sig_rts[i], NULL, __ATOMIC_SEQ_CST);
	if (--sig_users == 0) {
		sigaction(SIGINT, &sig_old_int, NULL);
		sigaction(SIGTERM, &sig_old_term, NULL);
	}
	pthread_mutex_unlock(&sig_lock);
	while (__atomic_load_n(&sig_in_handler, __ATOMIC_SEQ_CST))
		sched_yield();
}

/* ---- a loop of the runtime ------------------------------------------------------------ */

/* The kick of reel_rt_stop, on the loop's thread: cancel its main. */
static void on_kick(void *arg)
{
	struct rt_loop *lp = arg;

	if (lp->main_fiber)
		reel__cancel_fiber(lp->main_fiber);
}

/* Tell reel_rt_start this loop has reported (begun, or failed with @err). */
static void report(struct rt_loop *lp, int err)
{
	struct reel_rt *rt = lp->rt;

	pthread_mutex_lock(&rt->lock);
	lp->reported = true;
	lp->run_err = err;
	rt->reported++;
	pthread_cond_broadcast(&rt->cond);
	pthread_mutex_unlock(&rt->lock);
}

/* This loop's main has returned; the last one ends every loop's wait. */
static void main_returned(struct reel_rt *rt)
{
	if (__atomic_sub_fetch(&rt->mains_left, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	__atomic_store_n(&rt->ending, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < rt->n; i++)
		reel__xwait_wake(&rt->loops[i].all_done);
}

/* Park on @w until its (promised) wake, deaf to cancellation. */
static void wait_woken(struct reel__xwait *w, enum reel__park_reason why)
{
	if (reel__xwait_park(w, why, REEL__FOREVER) < 0)
		reel__xwait_settle(w);
}

/* Every loop's main fiber. */
static int loop_main(void *arg)
{
	struct rt_loop *lp = arg;
	struct reel_rt *rt = lp->rt;

	reel__xwait_init(&lp->go);
	reel__xwait_init(&lp->all_done);
	report(lp, 0);
	wait_woken(&lp->go, REEL__PARK_SHUTDOWN);
	if (rt->aborted)
		return -ECANCELED;   /* another loop could not start */
	lp->main_fiber = reel__self_fiber();
	/* A stop before this point found no main to cancel: do it here. */
	if (__atomic_load_n(&rt->stopping, __ATOMIC_SEQ_CST))
		reel__cancel_fiber(lp->main_fiber);
	lp->status = rt->main(rt->arg);
	lp->main_fiber = NULL;
	main_returned(rt);
	/* Keep serving peers (the inbox runs between fibers) until then. */
	wait_woken(&lp->all_done, REEL__PARK_SHUTDOWN);
	return lp->status;
}

static void *loop_thread(void *arg)
{
	struct rt_loop *lp = arg;
	struct reel_rt *rt = lp->rt;
	int err = 0;

	if (lp->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(lp->cpu, &set);
		err = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (err)
			snprintf(lp->why, sizeof(lp->why), "reel: loop %u cannot be pinned "
				 "to CPU %d: %s", lp->index, lp->cpu, strerror(-err));
	}
	if (!err) {
		rt_cur = lp;
		reel__inbox_adopt_next(lp->inbox, rt);
		err = reel_run(loop_main, lp, &lp->run, NULL);
		rt_cur = NULL;
	}
	if (err && !lp->reported)
		report(lp, err);   /* it never began: reel_rt_start is waiting */
	return NULL;
}

/* ---- start, wait, stop ------------------------------------------------------------------- */

static int check_opts(const struct reel_rt_opts *o)
{
	if (!o)
		return 0;
	if (o->loops > MAX_LOOPS)
		return -EINVAL;
	if (o->cpus)
		for (unsigned i = 0; i < o->loops; i++)
			if (o->cpus[i] < 0 || o->cpus[i] >= CPU_SETSIZE)
				return -EINVAL;
	if (o->cpus && !o->loops)
		return -EINVAL;   /* how many entries would it have? */
	return 0;
}

/* The CPUs this process may run on, in order; how many. */
static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static void free_rt(struct reel_rt *rt)
{
	for (unsigned i = 0; i < rt->n; i++)
		reel__inbox_free(rt->loops[i].inbox);
	pthread_mutex_destroy(&rt->lock);
	pthread_cond_destroy(&rt->cond);
	free(rt);
}

/* The runtime's memory and its loops' inboxes; nothing started. */
static int make_rt(struct reel_rt **out, reel_fn main, void *arg, const struct reel_rt_opts *o)
{
	int allowed[CPU_SETSIZE];
	unsigned ncpus = allowed_cpus(allowed, CPU_SETSIZE);
	unsigned n = o && o->loops ? o->loops : (ncpus ? ncpus : 1);
	struct reel_rt *rt;
	int err = 0;

	rt = calloc(1, sizeof(*rt) + n * sizeof(rt->loops[0]));
	if (!rt)
		return -ENOMEM;
	rt->main = main;
	rt->arg = arg;
	rt->n = n;
	rt->flags = o ? o->flags : 0;
	rt->mains_left = n;
	if (o && o->run && o->run->errbuf) {
		rt->user_errbuf = o->run->errbuf;
		rt->user_errbuf_len = o->run->errbuf_len;
	}
	pthread_mutex_init(&rt->lock, NULL);
	pthread_cond_init(&rt->cond, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct rt_loop *lp = &rt->loops[i];

		lp->rt = rt;
		lp->index = i;
		lp->cpu = -1;
		if (!(rt->flags & REEL_RT_NO_PIN))
			lp->cpu = o && o->cpus ? o->cpus[i] : ncpus ? allowed[i % ncpus] : -1;
		if (o && o->run)
			lp->run = *o->run;
		lp->run.errbuf = lp->why;
		lp->run.errbuf_len = sizeof(lp->why);
		if (rt->flags & REEL_RT_NO_MSG_RING)
			lp->run.disable |= REEL_NO_MSG_RING;
		lp->inbox = reel__inbox_new(o ? o->poll_ns : 0,
					    (rt->flags & REEL_RT_NO_MSG_RING) != 0, &err);
		if (!lp->inbox) {
			rt->n = i;   /* free_rt frees the ones made */
			free_rt(rt);
			return err;
		}
		reel__inbox_on_kick(lp->inbox, on_kick, lp);
	}
	*out = rt;
	return 0;
}

/* Start every loop's thread, all signals blocked (they inherit the mask).
 * Returns 0, or the first pthread_create error (the threads made so far
 * are marked created). */
static int start_threads(struct reel_rt *rt)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < rt->n && !err; i++) {
		struct rt_loop *lp = &rt->loops[i];

		err = -pthread_create(&lp->thread, NULL, loop_thread, lp);
		lp->created = err == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* Wait until every thread made has reported; the first loop's failure. */
static int await_reports(struct reel_rt *rt, unsigned *failed)
{
	unsigned created = 0;
	int err = 0;

	for (unsigned i = 0; i < rt->n; i++)
		created += rt->loops[i].created;
	pthread_mutex_lock(&rt->lock);
	while (rt->reported < created)
		pthread_cond_wait(&rt->cond, &rt->lock);
	pthread_mutex_unlock(&rt->lock);
	for (unsigned i = 0; i < rt->n && !err; i++)
		if (rt->loops[i].run_err) {
			err = rt->loops[i].run_err;
			*failed = i;
		}
	return err;
}

/* Say why loop @i could not start, as reel_run would have. */
static void explain(struct reel_rt *rt, unsigned i)
{
	char line[ERRBUF + 64];

	if (rt->loops[i].why[0])
		snprintf(line, sizeof(line), "%s", rt->loops[i].why);
	else
		snprintf(line, sizeof(line), "reel: runtime loop %u could not start: %s", i,
			 reel_strerror(rt->loops[i].run_err));
	if (rt->user_errbuf && rt->user_errbuf_len)
		snprintf(rt->user_errbuf, rt->user_errbuf_len, "%s", line);
	else
		fprintf(stderr, "%s\n", line);
}

static void join_all(struct reel_rt *rt)
{
	for (unsigned i = 0; i < rt->n; i++)
		if (rt->loops[i].created)
			pthread_join(rt->loops[i].thread, NULL);
}

int reel_rt_start(struct reel_rt **out, reel_fn main, void *arg, const struct reel_rt_opts *opts)
{
	struct reel_rt *rt;
	unsigned failed = 0;
	int err, start_err;

	if (!out || !main || check_opts(opts))
		return -EINVAL;
	if (reel__self_fiber())
		return -EPERM;   /* its handshake and its wait would block a loop */
	err = make_rt(&rt, main, arg, opts);
	if (err)
		return err;
	start_err = start_threads(rt);
	err = await_reports(rt, &failed);
	if (err || start_err) {
		/* Stop the loops that began before any main runs. */
		rt->aborted = true;
		__atomic_store_n(&rt->stopping, 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < rt->n; i++)
			if (rt->loops[i].reported && !rt->loops[i].run_err)
				reel__xwait_wake(&rt->loops[i].go);
		join_all(rt);
		if (err)
			explain(rt, failed);
		free_rt(rt);
		return err ? err : start_err;
	}
	if (!(rt->flags & REEL_RT_NO_SIGNALS))
		rt->signals = signals_register(rt);
	for (unsigned i = 0; i < rt->n; i++)
		reel__xwait_wake(&rt->loops[i].go);
	*out = rt;
	return 0;
}

int reel_rt_wait(struct reel_rt *rt, int *statuses, unsigned n)
{
	if (!rt)
		return -EINVAL;
	if (reel__self_fiber())
		return -EPERM;   /* it would block a loop's thread */
	join_all(rt);
	if (rt->signals)
		signals_unregister(rt);
	while (__atomic_load_n(&stops_in_flight, __ATOMIC_SEQ_CST))
		sched_yield();   /* a stop begun before now finishes first */
	for (unsigned i = 0; i < rt->n; i++) {
		int st = rt->loops[i].status;

		if (statuses && i < n)
			statuses[i] = st;
		else if (st < 0)
			fprintf(stderr, "reel: runtime loop %u: main failed: %s (%d)\n", i,
				reel_strerror(st), st);
	}
	free_rt(rt);
	return 0;
}

int reel_rt_stop(struct reel_rt *rt)
{
	if (!rt)
		return -EINVAL;
	__atomic_add_fetch(&stops_in_flight, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_exchange_n(&rt->stopping, 1, __ATOMIC_SEQ_CST)) {
		for (unsigned i = 0; i < rt->n; i++)
			reel__inbox_kick(rt->loops[i].inbox);
	}
	__atomic_sub_fetch(&stops_in_flight, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int reel_rt_run(reel_fn main, void *arg, const struct reel_rt_opts *opts, int *statuses,
		unsigned n)
{
	struct reel_rt *rt;
	int err = reel_rt_start(&rt, main, arg, opts);

	if (err)
		return err;
	return reel_rt_wait(rt, statuses, n);
}

/* ---- who am I ------------------------------------------------------------------------- */

struct reel_rt *reel_rt_self(void)
{
	return reel__self_fiber() && rt_cur ? rt_cur->rt : NULL;
}

int reel_rt_loops(void)
{
	if (!reel__self_fiber())
		return -EPERM;
	return rt_cur ? (int)rt_cur->rt->n : 1;
}

int reel_rt_index(void)
{
	if (!reel__self_fiber())
		return -EPERM;
	return rt_cur ? (int)rt_cur->index : 0;
}

int reel_rt__target(int index, struct reel__inbox **ib)
{
	struct reel_rt *rt;

	if (!rt_cur) {
		if (index != 0)
			return -EINVAL;
		*ib = reel__loop_inbox(reel__loop_cur);
		return 0;
	}
	rt = rt_cur->rt;
	if (index < 0 || (unsigned)index >= rt->n)
		return -EINVAL;
	if (__atomic_load_n(&rt->stopping, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&rt->ending, __ATOMIC_SEQ_CST))
		return -ESHUTDOWN;
	*ib = rt->loops[index].inbox;
	return 0;
}
