/*
 * Description: lock, semaphore, event and condition (api/reel_sync.h):
 * FIFO hand-off without barging under 1000 contending fibers, mutual
 * exclusion across yields, owner checks (-EPERM, -EDEADLK, -EBUSY), every
 * blocking call interrupted by cancellation, by its own timeout (never
 * early) and by a deadline scope, "the first wake wins" for a waiter handed
 * a lock or permit and then cancelled, a semaphore that never over-admits
 * nor loses a permit under random cancellation, an event waking all its
 * waiters, condition signal/broadcast order, the mutex held again after an
 * interrupted condition wait, and bad arguments / calls outside a fiber.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "helpers.h"
#include "reel_sync.h"

/* ---- misuse: NULL, never initialised, outside a fiber ---------------------- */

static int bad_args_main(void *arg)
{
	struct reel_mutex zm = { { 0 } };
	struct reel_sem zs = { { 0 } };
	struct reel_event ze = { { 0 } };
	struct reel_cond zc = { { 0 } };
	struct reel_mutex m;
	struct reel_cond c;
	struct reel_sem s;

	(void)arg;
	FCHECK_EQ(reel_mutex_lock(NULL), -EINVAL);
	FCHECK_EQ(reel_mutex_lock(&zm), -EINVAL);
	FCHECK_EQ(reel_mutex_lock_for(&zm, MS), -EINVAL);
	FCHECK_EQ(reel_mutex_try_lock(&zm), -EINVAL);
	FCHECK_EQ(reel_mutex_trylock(&zm), -EINVAL);
	FCHECK_EQ(reel_mutex_unlock(&zm), -EINVAL);
	FCHECK_EQ(reel_mutex_locked(NULL), -EINVAL);
	FCHECK_EQ(reel_sem_acquire(&zs), -EINVAL);
	FCHECK_EQ(reel_sem_try_acquire(NULL), -EINVAL);
	FCHECK_EQ(reel_sem_release(&zs), -EINVAL);
	FCHECK_EQ(reel_sem_value(&zs), -EINVAL);
	FCHECK_EQ(reel_event_wait(&ze), -EINVAL);
	FCHECK_EQ(reel_event_set(NULL), -EINVAL);
	FCHECK_EQ(reel_event_is_set(&ze), -EINVAL);
	FCHECK_EQ(reel_cond_signal(&zc), -EINVAL);
	FCHECK_EQ(reel_cond_broadcast(NULL), -EINVAL);
	FCHECK_EQ(reel_mutex_init(&m), 0);
	FCHECK_EQ(reel_cond_init(&c), 0);
	FCHECK_EQ(reel_cond_wait(&zc, &m), -EINVAL);
	FCHECK_EQ(reel_cond_wait(&c, &zm), -EINVAL);
	FCHECK_EQ(reel_cond_wait(&c, NULL), -EINVAL);
	/* Waiting on a condition without holding its mutex. */
	FCHECK_EQ(reel_cond_wait(&c, &m), -EPERM);
	FCHECK_EQ(reel_sem_init(&s, 1, 0), -EINVAL);
	FCHECK_EQ(reel_sem_init(&s, 3, 2), -EINVAL);
	FCHECK_EQ(reel_sem_init(NULL, 0, 1), -EINVAL);
	FCHECK_EQ(reel_mutex_init(NULL), -EINVAL);
	FCHECK_EQ(reel_event_init(NULL), -EINVAL);
	FCHECK_EQ(reel_cond_init(NULL), -EINVAL);
	return 0;
}

static void test_sync_bad_arguments_einval(void **state)
{
	(void)state;
	run_ok(bad_args_main, NULL);
}

static void test_sync_outside_fiber_eperm(void **state)
{
	struct reel_mutex m;
	struct reel_sem s;
	struct reel_event e;
	struct reel_cond c;

	(void)state;
	assert_int_equal(reel_mutex_init(&m), 0);
	assert_int_equal(reel_sem_init(&s, 1, 2), 0);
	assert_int_equal(reel_event_init(&e), 0);
	assert_int_equal(reel_cond_init(&c), 0);
	assert_int_equal(reel_mutex_lock(&m), -EPERM);
	assert_int_equal(reel_mutex_lock_for(&m, 0), -EPERM);
	assert_int_equal(reel_mutex_try_lock(&m), -EPERM);
	assert_int_equal(reel_mutex_trylock(&m), -EPERM);
	assert_int_equal(reel_mutex_unlock(&m), -EPERM);
	assert_int_equal(reel_sem_acquire(&s), -EPERM);
	assert_int_equal(reel_sem_acquire_for(&s, 0), -EPERM);
	assert_int_equal(reel_event_wait(&e), -EPERM);
	assert_int_equal(reel_event_wait_for(&e, MS), -EPERM);
	assert_int_equal(reel_cond_wait(&c, &m), -EPERM);
	assert_int_equal(reel_cond_wait_for(&c, &m, MS), -EPERM);
	/* The non-blocking calls need no fiber. */
	assert_int_equal(reel_sem_try_acquire(&s), 0);
	assert_int_equal(reel_sem_try_acquire(&s), -EAGAIN);
	assert_int_equal(reel_sem_release(&s), 0);
	assert_int_equal(reel_sem_release(&s), 0);
	assert_int_equal(reel_sem_release(&s), -EOVERFLOW);
	assert_int_equal(reel_sem_value(&s), 2);
	assert_int_equal(reel_event_set(&e), 0);
	assert_int_equal(reel_event_is_set(&e), 1);
	assert_int_equal(reel_event_clear(&e), 0);
	assert_int_equal(reel_event_is_set(&e), 0);
	assert_int_equal(reel_cond_signal(&c), 0);
	assert_int_equal(reel_cond_broadcast(&c), 0);
	assert_int_equal(reel_mutex_locked(&m), 0);
}

/* ---- lock: FIFO hand-off under 1000 contending fibers ---------------------- */

#define FIFO_N 1000

static struct {
	struct reel_mutex m;
	int arrival[FIFO_N], acquired[FIFO_N];
	int narrived, nacquired;
	bool inside;
} fifo;

static int fifo_worker(void *arg)
{
	int me = (int)(intptr_t)arg;

	/* Arrive in a shuffled order, not spawn order. */
	yield_n((unsigned)(rng() % 4));
	fifo.arrival[fifo.narrived++] = me;
	FCHECK_EQ(reel_mutex_lock(&fifo.m), 0);
	FCHECK(!fifo.inside);
	fifo.inside = true;
	fifo.acquired[fifo.nacquired++] = me;
	yield_n(1);   /* others run meanwhile: none may get in */
	fifo.inside = false;
	FCHECK_EQ(reel_mutex_unlock(&fifo.m), 0);
	return 0;
}

static int fifo_main(void *arg)
{
	static reel_task t[FIFO_N];
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&fifo.m), 0);
	FCHECK_EQ(reel_mutex_lock(&fifo.m), 0);
	for (int i = 0; i < FIFO_N; i++)
		FCHECK_EQ(reel_spawn(&t[i], fifo_worker, (void *)(intptr_t)i, NULL), 0);
	while (fifo.narrived < FIFO_N)
		FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(fifo.nacquired, 0);
	FCHECK_EQ(reel_mutex_unlock(&fifo.m), 0);
	/* Handed to the first waiter, which has not run yet: no barging. */
	FCHECK_EQ(reel_mutex_locked(&fifo.m), 1);
	FCHECK_EQ(reel_mutex_try_lock(&fifo.m), -EBUSY);
	FCHECK_EQ(reel_mutex_lock_for(&fifo.m, 0), -ETIMEDOUT);
	for (int i = 0; i < FIFO_N; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(fifo.nacquired, FIFO_N);
	for (int i = 0; i < FIFO_N; i++)
		FCHECK_EQ(fifo.acquired[i], fifo.arrival[i]);
	FCHECK_EQ(reel_mutex_locked(&fifo.m), 0);
	return 0;
}

static void test_sync_mutex_fifo_order_1000_fibers(void **state)
{
	(void)state;
	run_ok(fifo_main, NULL);
}

/* ---- lock: mutual exclusion with yields inside ---------------------------- */

static struct {
	struct reel_mutex m;
	int inside, entries;
	long shared;
} mx;

static int mx_worker(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		long seen;

		FCHECK_EQ(reel_mutex_lock(&mx.m), 0);
		FCHECK_EQ(++mx.inside, 1);
		mx.entries++;
		seen = mx.shared;
		yield_n((unsigned)(rng() % 3));
		mx.shared = seen + 1;   /* a lost update if anyone overlapped */
		FCHECK_EQ(mx.inside--, 1);
		FCHECK_EQ(reel_mutex_unlock(&mx.m), 0);
		yield_n((unsigned)(rng() % 2));
	}
	return 0;
}

static int mx_main(void *arg)
{
	reel_task t[50];
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&mx.m), 0);
	for (int i = 0; i < 50; i++)
		FCHECK_EQ(reel_spawn(&t[i], mx_worker, NULL, NULL), 0);
	for (int i = 0; i < 50; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(mx.entries, 50 * 20);
	FCHECK_EQ(mx.shared, 50 * 20);
	return 0;
}

static void test_sync_mutex_mutual_exclusion_across_yields(void **state)
{
	(void)state;
	run_ok(mx_main, NULL);
}

/* ---- lock: owner rules ------------------------------------------------------ */

static struct reel_mutex own_m;

static int own_try_unlock(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_mutex_unlock(&own_m), -EPERM);
	FCHECK_EQ(reel_mutex_try_lock(&own_m), -EBUSY);
	return 0;
}

static int own_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&own_m), 0);
	FCHECK_EQ(reel_mutex_unlock(&own_m), -EPERM);      /* not locked */
	FCHECK_EQ(reel_mutex_try_lock(&own_m), 0);
	FCHECK_EQ(reel_mutex_try_lock(&own_m), -EBUSY);    /* not recursive */
	FCHECK_EQ(reel_mutex_trylock(&own_m), -EBUSY);     /* the old name: the same */
	FCHECK_EQ(reel_mutex_lock(&own_m), -EDEADLK);
	FCHECK_EQ(reel_spawn(&t, own_try_unlock, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_mutex_locked(&own_m), 1);
	FCHECK_EQ(reel_mutex_unlock(&own_m), 0);
	FCHECK_EQ(reel_mutex_unlock(&own_m), -EPERM);
	FCHECK_EQ(reel_mutex_locked(&own_m), 0);
	return 0;
}

static void test_sync_mutex_unlock_by_non_owner_eperm(void **state)
{
	(void)state;
	run_ok(own_main, NULL);
}

/* ---- lock: cancellation, timeouts, deadline scopes ------------------------- */

static struct reel_mutex ic_m;
static int ic_result;
static bool ic_returned;

static int ic_lock_record(void *arg)
{
	(void)arg;
	ic_result = reel_mutex_lock(&ic_m);
	ic_returned = true;
	if (ic_result == 0)
		FCHECK_EQ(reel_mutex_unlock(&ic_m), 0);
	return 0;
}

static int ic_lock_in_scope(void *arg)
{
	(void)arg;
	return reel_mutex_lock(&ic_m);
}

static int ic_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&ic_m), 0);
	FCHECK_EQ(reel_mutex_lock(&ic_m), 0);

	/* Cancelled while queued: -ECANCELED, holds nothing. */
	ic_returned = false;
	FCHECK_EQ(reel_spawn(&t, ic_lock_record, NULL, NULL), 0);
	yield_n(3);
	FCHECK(!ic_returned);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(ic_result, -ECANCELED);
	FCHECK_EQ(reel_mutex_unlock(&ic_m), 0);
	FCHECK_EQ(reel_mutex_locked(&ic_m), 0);    /* nobody got it */

	/* Handed the lock, then cancelled before it ran: the hand-off came
	 * first and wins; it returns 0 and owns the lock. */
	FCHECK_EQ(reel_mutex_lock(&ic_m), 0);
	ic_returned = false;
	FCHECK_EQ(reel_spawn(&t, ic_lock_record, NULL, NULL), 0);
	yield_n(3);
	FCHECK_EQ(reel_mutex_unlock(&ic_m), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(ic_result, 0);
	FCHECK_EQ(reel_mutex_locked(&ic_m), 0);

	return 0;
}

static void test_sync_mutex_lock_cancelled_holds_nothing(void **state)
{
	(void)state;
	run_ok(ic_main, NULL);
}

static int to_waiter(void *arg)
{
	uint64_t t0 = reel_now();
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_lock_for(&ic_m, 100 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 100 * MS);
	FCHECK(reel_now() - t0 < 100 * MS + LATE_OK_NS);
	FCHECK_EQ(reel_mutex_lock_for(&ic_m, 0), -ETIMEDOUT);
	/* A deadline scope interrupts a plain lock. */
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, ic_lock_in_scope, NULL, &st), -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK_EQ(reel_mutex_unlock(&ic_m), -EPERM);   /* holds nothing */
	return 0;
}

static int to_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&ic_m), 0);
	FCHECK_EQ(reel_mutex_lock(&ic_m), 0);
	FCHECK_EQ(reel_spawn(&t, to_waiter, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	/* The timed-out waiters left the queue: unlock frees the lock. */
	FCHECK_EQ(reel_mutex_unlock(&ic_m), 0);
	FCHECK_EQ(reel_mutex_locked(&ic_m), 0);
	/* Cancelled already: a free lock is not taken either. */
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_mutex_lock(&ic_m), -ECANCELED);
	FCHECK_EQ(reel_mutex_locked(&ic_m), 0);
	FCHECK_EQ(reel_mutex_try_lock(&ic_m), 0);   /* try never parks */
	FCHECK_EQ(reel_mutex_unlock(&ic_m), 0);
	return 0;
}

static void test_sync_mutex_timeouts_never_early(void **state)
{
	(void)state;
	run_ok(to_main, NULL);
}

/* ---- semaphore ------------------------------------------------------------ */

static struct reel_sem sb_s;
static int sb_order[8], sb_n;
static int sb_result[8];

static int sb_waiter(void *arg)
{
	int me = (int)(intptr_t)arg;

	sb_result[me] = reel_sem_acquire(&sb_s);
	if (sb_result[me] == 0)
		sb_order[sb_n++] = me;
	return 0;
}

static int sb_main(void *arg)
{
	reel_task t[8];
	uint64_t t0;

	(void)arg;
	FCHECK_EQ(reel_sem_init(&sb_s, 2, 3), 0);
	FCHECK_EQ(reel_sem_acquire(&sb_s), 0);
	FCHECK_EQ(reel_sem_try_acquire(&sb_s), 0);
	FCHECK_EQ(reel_sem_try_acquire(&sb_s), -EAGAIN);
	FCHECK_EQ(reel_sem_value(&sb_s), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_sem_acquire_for(&sb_s, 30 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK_EQ(reel_sem_acquire_for(&sb_s, 0), -ETIMEDOUT);

	/* FIFO among waiters; a permit is handed over, never pooled. */
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(reel_spawn(&t[i], sb_waiter, (void *)(intptr_t)i, NULL), 0);
	yield_n(2);
	FCHECK_EQ(reel_cancel(t[3]), 0);   /* queued: leaves, takes nothing */
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_sem_release(&sb_s), 0);
	FCHECK_EQ(reel_sem_value(&sb_s), 0);
	/* Handed a permit, then cancelled: first wake wins, it keeps it. */
	FCHECK_EQ(reel_cancel(t[2]), 0);
	FCHECK_EQ(reel_sem_try_acquire(&sb_s), -EAGAIN);  /* no barging */
	yield_n(2);
	FCHECK_EQ(sb_n, 3);
	FCHECK_EQ(sb_order[0], 0);
	FCHECK_EQ(sb_order[1], 1);
	FCHECK_EQ(sb_order[2], 2);
	FCHECK_EQ(sb_result[2], 0);
	FCHECK_EQ(sb_result[3], -ECANCELED);
	for (int i = 0; i < 4; i++)
		FCHECK_EQ(reel_sem_release(&sb_s), 0);
	yield_n(2);
	FCHECK_EQ(sb_n, 7);
	for (int i = 3; i < 7; i++)
		FCHECK_EQ(sb_order[i], i + 1);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	/* 7 holders, one skipped; give back the 7 plus ours: 3 is the max. */
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_sem_release(&sb_s), 0);
	FCHECK_EQ(reel_sem_release(&sb_s), -EOVERFLOW);
	FCHECK_EQ(reel_sem_value(&sb_s), 3);
	return 0;
}

static void test_sync_sem_fifo_handoff_and_bounds(void **state)
{
	(void)state;
	run_ok(sb_main, NULL);
}

/* 500 workers on 5 permits; a chaos fiber cancels at random. */
#define CH_MAX 5

static struct {
	struct reel_sem s;
	int holders, most;
	long granted, released, interrupted;
	int done, n;
	reel_task *t;
} ch;

static int ch_worker(void *arg)
{
	(void)arg;
	for (int round = 0; round < 4; round++) {
		int r = reel_sem_acquire(&ch.s);

		if (r) {
			FCHECK_EQ(r, -ECANCELED);
			ch.interrupted++;
			break;
		}
		ch.granted++;
		FCHECK(++ch.holders <= CH_MAX);
		if (ch.holders > ch.most)
			ch.most = ch.holders;
		/* Park inside, sometimes; a cancel here must not leak it. */
		if (rng() % 2)
			(void)reel_sleep(rng() % 2 ? 0 : 1);
		else
			yield_n((unsigned)(rng() % 3));
		ch.holders--;
		FCHECK_EQ(reel_sem_release(&ch.s), 0);
		ch.released++;
	}
	ch.done++;
	return 0;
}

static int ch_chaos(void *arg)
{
	(void)arg;
	while (ch.done < ch.n) {
		if (rng() % 3 == 0) {
			int r = reel_cancel(ch.t[rng() % (uint64_t)ch.n]);

			FCHECK(r == 0 || r == -ESRCH);   /* -ESRCH: main joined it */
		}
		FCHECK_EQ(reel_yield(), 0);
	}
	return 0;
}

static int ch_main(void *arg)
{
	reel_task chaos;
	int st;

	(void)arg;
	ch.n = (int)scaled(500);
	if (ch.n < 100)
		ch.n = 100;
	ch.t = calloc((size_t)ch.n, sizeof(*ch.t));
	FCHECK(ch.t != NULL);
	FCHECK_EQ(reel_sem_init(&ch.s, CH_MAX, CH_MAX), 0);
	for (int i = 0; i < ch.n; i++)
		FCHECK_EQ(reel_spawn(&ch.t[i], ch_worker, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&chaos, ch_chaos, NULL, NULL), 0);
	for (int i = 0; i < ch.n; i++) {
		FCHECK_EQ(reel_join(ch.t[i], &st), 0);
		FCHECK(st == 0 || st == -ECANCELED);   /* -ECANCELED: never ran */
		if (st == -ECANCELED)
			ch.done++;
	}
	FCHECK_EQ(reel_join(chaos, &st), 0);
	FCHECK_EQ(st, 0);
	free(ch.t);
	FCHECK_EQ(ch.holders, 0);
	FCHECK_EQ(ch.granted, ch.released);
	FCHECK(ch.most <= CH_MAX);
	FCHECK(ch.most >= 2);          /* there was real concurrency */
	FCHECK(ch.interrupted > 0);    /* and real cancellation of waiters */
	FCHECK_EQ(reel_sem_value(&ch.s), CH_MAX);
	return 0;
}

static void test_sync_sem_never_over_admits_under_random_cancel(void **state)
{
	(void)state;
	memset(&ch, 0, sizeof(ch));
	run_ok(ch_main, NULL);
}

/* ---- event ---------------------------------------------------------------- */

static struct reel_event ev;
static int ev_woken;

static int ev_waiter(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_event_wait(&ev), 0);
	ev_woken++;
	return 0;
}

static int ev_cancelled_waiter(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_event_wait(&ev), -ECANCELED);
	return 0;
}

static int ev_main(void *arg)
{
	reel_task t[10], c;
	uint64_t t0;
	int st;

	(void)arg;
	FCHECK_EQ(reel_event_init(&ev), 0);
	FCHECK_EQ(reel_event_is_set(&ev), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_event_wait_for(&ev, 40 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 40 * MS);
	FCHECK_EQ(reel_event_wait_for(&ev, 0), -ETIMEDOUT);
	for (int i = 0; i < 10; i++)
		FCHECK_EQ(reel_spawn(&t[i], ev_waiter, NULL, NULL), 0);
	FCHECK_EQ(reel_spawn(&c, ev_cancelled_waiter, NULL, NULL), 0);
	yield_n(3);
	FCHECK_EQ(ev_woken, 0);
	FCHECK_EQ(reel_cancel(c), 0);
	FCHECK_EQ(reel_join(c, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_event_set(&ev), 0);
	/* Cleared before they run: each still returns 0 (it was set). */
	FCHECK_EQ(reel_event_clear(&ev), 0);
	for (int i = 0; i < 10; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	FCHECK_EQ(ev_woken, 10);
	FCHECK_EQ(reel_event_set(&ev), 0);
	FCHECK_EQ(reel_event_set(&ev), 0);       /* idempotent */
	FCHECK_EQ(reel_event_wait(&ev), 0);      /* set: at once */
	FCHECK_EQ(reel_event_wait_for(&ev, 0), 0);
	FCHECK_EQ(reel_event_is_set(&ev), 1);
	return 0;
}

static void test_sync_event_wakes_all_waiters(void **state)
{
	(void)state;
	run_ok(ev_main, NULL);
}

/* ---- condition ------------------------------------------------------------ */

static struct {
	struct reel_mutex m;
	struct reel_cond c;
	int order[8], n;
	int waiting;
} cv;

static int cv_waiter(void *arg)
{
	int me = (int)(intptr_t)arg;

	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	cv.waiting++;
	FCHECK_EQ(reel_cond_wait(&cv.c, &cv.m), 0);
	/* Back with the mutex held: nobody else is inside. */
	FCHECK_EQ(reel_mutex_try_lock(&cv.m), -EBUSY);
	cv.order[cv.n++] = me;
	yield_n(1);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	return 0;
}

static int cv_main(void *arg)
{
	reel_task t[8];

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&cv.m), 0);
	FCHECK_EQ(reel_cond_init(&cv.c), 0);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(reel_spawn(&t[i], cv_waiter, (void *)(intptr_t)i, NULL), 0);
	while (cv.waiting < 8)
		FCHECK_EQ(reel_yield(), 0);
	yield_n(1);
	/* signal: one at a time, longest waiter first. */
	for (int k = 0; k < 3; k++) {
		FCHECK_EQ(reel_cond_signal(&cv.c), 0);
		yield_n(4);
		FCHECK_EQ(cv.n, k + 1);
		FCHECK_EQ(cv.order[k], k);
	}
	/* broadcast while holding the mutex: they wake in arrival order and
	 * queue for the mutex, which reaches them only once we let go. */
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	FCHECK_EQ(reel_cond_broadcast(&cv.c), 0);
	yield_n(4);
	FCHECK_EQ(cv.n, 3);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	FCHECK_EQ(cv.n, 8);
	for (int i = 0; i < 8; i++)
		FCHECK_EQ(cv.order[i], i);
	FCHECK_EQ(reel_cond_signal(&cv.c), 0);   /* nobody waits: a no-op */
	return 0;
}

static void test_sync_cond_signal_and_broadcast_order(void **state)
{
	(void)state;
	memset(&cv, 0, sizeof(cv));
	run_ok(cv_main, NULL);
}

static int cr_result;
static bool cr_returned;

static int cr_waiter(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	cv.waiting++;
	cr_result = reel_cond_wait(&cv.c, &cv.m);
	cr_returned = true;
	/* Interrupted, yet the mutex is ours again. */
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	return 0;
}

static int cr_timed(void *arg)
{
	uint64_t t0 = reel_now();

	(void)arg;
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	FCHECK_EQ(reel_cond_wait_for(&cv.c, &cv.m, 30 * MS), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	/* Timeout 0: -ETIMEDOUT at once, the mutex never let go. */
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	FCHECK_EQ(reel_cond_wait_for(&cv.c, &cv.m, 0), -ETIMEDOUT);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	/* Cancelled on entry: returns at once holding the mutex. */
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_cond_wait(&cv.c, &cv.m), -ECANCELED);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	return 0;
}

static int cr_main(void *arg)
{
	reel_task t;
	int st;

	(void)arg;
	FCHECK_EQ(reel_mutex_init(&cv.m), 0);
	FCHECK_EQ(reel_cond_init(&cv.c), 0);
	FCHECK_EQ(reel_spawn(&t, cr_waiter, NULL, NULL), 0);
	while (cv.waiting < 1)
		FCHECK_EQ(reel_yield(), 0);
	/* It waits with the mutex released: we can take it. */
	FCHECK_EQ(reel_mutex_lock(&cv.m), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	/* Woken by the cancel, it must wait for the mutex we hold. */
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(!cr_returned);
	FCHECK_EQ(reel_mutex_unlock(&cv.m), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK(cr_returned);
	FCHECK_EQ(cr_result, -ECANCELED);
	FCHECK_EQ(reel_mutex_locked(&cv.m), 0);

	FCHECK_EQ(reel_spawn(&t, cr_timed, NULL, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_mutex_locked(&cv.m), 0);
	return 0;
}

static void test_sync_cond_wait_reacquires_mutex_after_cancel(void **state)
{
	(void)state;
	memset(&cv, 0, sizeof(cv));
	cr_returned = false;
	run_ok(cr_main, NULL);
}

/* Regression: a waiter cancelled (or timed out) is off the queue at once,
 * so the primitive may be freed before the woken fiber runs. Under ASan or
 * valgrind, a node left linked would be written to after the free. */
static int wait_on_heap_event(void *arg)
{
	return reel_event_wait(arg);
}

static int freed_after_cancel(void *arg)
{
	struct reel_event *e = malloc(sizeof(*e));
	struct reel_mutex *m = malloc(sizeof(*m));
	reel_task t[3];
	int st;

	(void)arg;
	FCHECK(e && m);
	FCHECK_EQ(reel_event_init(e), 0);
	FCHECK_EQ(reel_mutex_init(m), 0);
	FCHECK_EQ(reel_mutex_lock(m), 0);
	for (int i = 0; i < 2; i++)
		FCHECK_EQ(reel_spawn(&t[i], wait_on_heap_event, e, NULL), 0);
	FCHECK_EQ(reel_spawn(&t[2], (reel_fn)reel_mutex_lock, m, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);             /* all three park */
	for (int i = 0; i < 3; i++)
		FCHECK_EQ(reel_cancel(t[i]), 0);
	/* Woken but not yet run: the objects go away now. */
	FCHECK_EQ(reel_mutex_unlock(m), 0);     /* nobody left to hand it to */
	FCHECK_EQ(reel_mutex_locked(m), 0);
	free(e);
	free(m);
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, -ECANCELED);
	}
	return 0;
}

static void test_sync_interrupted_waiter_leaves_queue_at_once(void **state)
{
	(void)state;
	run_ok(freed_after_cancel, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_bad_arguments_einval),
		cmocka_unit_test(test_sync_outside_fiber_eperm),
		cmocka_unit_test(test_sync_mutex_fifo_order_1000_fibers),
		cmocka_unit_test(test_sync_mutex_mutual_exclusion_across_yields),
		cmocka_unit_test(test_sync_mutex_unlock_by_non_owner_eperm),
		cmocka_unit_test(test_sync_mutex_lock_cancelled_holds_nothing),
		cmocka_unit_test(test_sync_mutex_timeouts_never_early),
		cmocka_unit_test(test_sync_sem_fifo_handoff_and_bounds),
		cmocka_unit_test(test_sync_sem_never_over_admits_under_random_cancel),
		cmocka_unit_test(test_sync_event_wakes_all_waiters),
		cmocka_unit_test(test_sync_cond_signal_and_broadcast_order),
		cmocka_unit_test(test_sync_cond_wait_reacquires_mutex_after_cancel),
		cmocka_unit_test(test_sync_interrupted_waiter_leaves_queue_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
