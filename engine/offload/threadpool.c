/*
 * threadpool.c - reel_to_thread: run a function on a worker thread while the
 * calling fiber parks and its loop keeps running (asyncio.to_thread).
 *
 * The pool
 *   One process-wide pool, created lazily: threads start on demand, one
 *   whenever more jobs are queued than workers are idle, up to the pool's
 *   size (default min(32, CPUs + 4), as Python's ThreadPoolExecutor: the
 *   pool mostly waits on blocking calls, so more threads than CPUs pay off).
 *   Jobs wait in one FIFO queue under a mutex and condition variable
 *   (libuv's threadpool.c shape). Workers block every signal, so a signal
 *   sent to the process never lands on a thread that cannot handle it.
 *
 * The way back (docs/design.md §2: one wake-up path per loop)
 *   A job record lives in the waiting fiber's frame. A worker that finishes
 *   one appends it to its loop's mailbox (struct reel__offload: a mutex and
 *   a list) and writes the loop's eventfd, both under the mailbox's mutex;
 *   that is all a worker ever touches of a loop. The loop keeps one read of
 *   the eventfd in its ring while it has jobs out; its completion takes the
 *   whole mailbox in one swap and wakes each job's fiber. Rejected:
 *     - a read kept armed for the loop's whole life: the loop would always
 *       have an operation in flight, which hides a real deadlock (nothing
 *       could ever wake any fiber) behind an endless wait, and costs every
 *       loop a descriptor; armed only while jobs are out, it costs nothing
 *       to loops that never offload;
 *     - IORING_OP_MSG_RING: a worker would need a ring of its own.
 *   The read is re-armed by a fiber, never inside the completion (arming can
 *   flush a full SQ, which may reap, which must not nest in a reap): each
 *   fiber woken here re-arms it on its way out if jobs remain, and a wake-up
 *   that delivered nothing (a leftover count) wakes one waiting fiber just
 *   to re-arm.
 *   Under valgrind, whose io_uring_enter blocks with its big lock held, the
 *   waiting fiber polls the mailbox instead (must_poll explains).
 *   Why the push and the eventfd write share the mutex: once the loop has
 *   taken a job out of the mailbox, the worker that pushed it is done with
 *   the loop, so a loop that ends right after cannot have its eventfd
 *   written (or a reused descriptor number hit) by a late worker.
 *
 * Cancellation (docs/design.md §5: never return while another party may touch the
 *   caller's memory). A job still queued is taken out of the queue and the
 *   call returns -ECANCELED / -ETIMEDOUT at once: the function never runs.
 *   A job already running cannot be stopped; the fiber waits for it,
 *   uninterruptibly, stores its status and returns the interruption. A job
 *   that finished before the fiber noticed the interruption wins: 0.
 *
 * Detached jobs (reel_offload__run_detached, for work that may take seconds
 *   and whose caller must not wait for it once interrupted: a DNS lookup).
 *   The job record and its argument are on the heap, and an interrupted
 *   fiber leaves a running job behind instead of waiting: under pool.lock it
 *   takes the job off its loop's books and marks it ABANDONED. The worker,
 *   when the function returns, looks under the same lock: ABANDONED, it
 *   calls the job's drop function (which frees what the function made and
 *   the argument) and frees the record, never touching the loop, which may
 *   be gone by then; otherwise it marks the job DONE and posts it as usual,
 *   and a fiber interrupted after that point cannot abandon it any more - it
 *   waits for the delivery, which is only the mailbox hop away, and drops
 *   the result itself. So exactly one side frees, and a loop never closes
 *   while a worker still holds a pointer into its mailbox. Plain
 *   reel_to_thread jobs skip the extra lock round: nobody abandons them.
 *
 * Lock order: pool.lock, then a mailbox's lock is never taken while holding
 * it (a worker drops the pool lock before it runs a job and pushes it).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <reel_offload.h>

#include "../reelimpl.h"
#include "offload.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define POLL_NS 1000000u   /* the mailbox poll's period, where it is used */

enum { MAX_THREADS = 1024, DEFAULT_MAX = 32 };

/* QUEUED -> TAKEN -> DONE (posted), or TAKEN -> ABANDONED (detached jobs
 * only: the worker frees it). pool.lock guards every change. */
enum job_state { JOB_QUEUED, JOB_TAKEN, JOB_DONE, JOB_ABANDONED };

/* How a wait for a job ended. */
enum job_end {
	JOB_END_DELIVERED,   /* fn ran and its job came back to the fiber */
	JOB_END_WITHDRAWN,   /* taken out of the queue: fn never ran */
	JOB_END_ABANDONED,   /* left running: its worker frees it (detached) */
};

/*
 * A loop's mailbox for finished jobs: the loop's offload part, made on its
 * first job and handed back at its close (reel__loop_part). Workers touch
 * only @lock, @done and @efd (under @lock); everything else belongs to the
 * loop's thread.
 */
struct reel__offload {
	struct reel__loop_part part;  /* first: the loop's handle on it */
	pthread_mutex_t lock;         /* guards @done; never held for long */
	struct reel__list done;       /* finished jobs not yet delivered (@lock) */
	int efd;                      /* eventfd workers write after a push */
	struct reel__list waiting;    /* this loop's jobs not yet delivered */
	uint32_t pending;             /* entries on @waiting */
	bool armed;                   /* @read is in the kernel */
	struct reel__op read;         /* the eventfd read, armed while jobs are out */
	uint64_t count;               /* @read's buffer: the kernel writes it */
};

/* One reel_to_thread call, in the caller's frame; a detached job is on the
 * heap instead (@drop set). */
struct job {
	struct reel__list node;      /* on pool.queue while QUEUED (pool.lock),
				      * then on home->done (home->lock) */
	struct reel__list wait_node; /* on home->waiting until delivered (loop only) */
	reel_fn fn;
	void *arg;
	int status;                  /* fn's return value, written by the worker */
	enum job_state state;        /* pool.lock */
	bool delivered;              /* loop only: out of the mailbox, fiber woken */
	struct reel__offload *home;
	struct reel__fiber *fiber;
	struct reel__timer poll;     /* must_poll: the mailbox's next look */
	void (*drop)(void *arg);     /* detached only: frees @arg and fn's result */
};

struct slot {
	pthread_t tid;
	bool used;                   /* a thread was started here and not joined */
	bool exited;                 /* it returned: join it before reuse */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* workers wait here for a job */
	struct reel__list queue;     /* jobs not taken yet, FIFO */
	unsigned size;               /* the most threads allowed (0: not set yet) */
	unsigned nthreads;           /* started and not exited */
	unsigned idle;               /* waiting on @cond */
	unsigned nqueued;
	unsigned running;            /* jobs taken and not finished */
	bool stopping;               /* exit: idle workers leave */
	struct slot slots[MAX_THREADS];
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.queue = { &pool.queue, &pool.queue },
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static unsigned default_size(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	return cpus + 4 < DEFAULT_MAX ? (unsigned)cpus + 4 : DEFAULT_MAX;
}

/* ---- workers ---------------------------------------------------------------- */

/* Hand a finished job to its loop: the last time a worker touches it. */
static void post(struct job *j, int status)
{
	struct reel__offload *o = j->home;
	bool first;

	pthread_mutex_lock(&o->lock);
	j->status = status;
	first = reel__list_empty(&o->done);
	reel__list_add_tail(&j->node, &o->done);
	/* One write per batch: deliver() takes the whole list, so a job
	 * queued behind another rides on the write that one made. */
	if (first)
		eventfd_write(o->efd, 1);
	pthread_mutex_unlock(&o->lock);
}

/* A detached job's fn returned: may its result still go to the loop? No
 * once its fiber has abandoned it; else it is DONE, and the fiber will wait
 * for the post instead of abandoning it. */
static bool still_wanted(struct job *j)
{
	bool wanted;

	pthread_mutex_lock(&pool.lock);
	wanted = j->state != JOB_ABANDONED;
	if (wanted)
		j->state = JOB_DONE;
	pthread_mutex_unlock(&pool.lock);
	return wanted;
}

/* Should the calling worker leave? (pool.lock held) */
static bool worker_surplus(void)
{
	return pool.stopping || pool.nthreads > pool.size;
}

static void *worker(void *arg)
{
	struct slot *me = arg;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct reel__list *n;
		struct job *j;
		int st;

		while (reel__list_empty(&pool.queue) && !worker_surplus()) {
			pool.idle++;
			pthread_cond_wait(&pool.cond, &pool.lock);
			pool.idle--;
		}
		if (worker_surplus())
			break;   /* queued jobs go to the workers that stay */
		n = reel__list_pop(&pool.queue);
		pool.nqueued--;
		pool.running++;
		j = reel__container_of(n, struct job, node);
		j->state = JOB_TAKEN;
		pthread_mutex_unlock(&pool.lock);
		st = j->fn(j->arg);
		if (!j->drop || still_wanted(j)) {
			post(j, st);
		} else {
			j->drop(j->arg);   /* abandoned: nobody waits for it */
			free(j);
		}
		pthread_mutex_lock(&pool.lock);
		pool.running--;
	}
	pool.nthreads--;
	me->exited = true;
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* A forked child has only the thread that forked: forget the others, and
 * any job of the parent's loops. Its copy of the lock may have been taken
 * by a thread that does not exist there, hence prepare/parent. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.cond, NULL);
	reel__list_init(&pool.queue);
	pool.nthreads = pool.idle = pool.nqueued = pool.running = 0;
	for (unsigned i = 0; i < MAX_THREADS; i++)
		pool.slots[i] = (struct slot){ .used = false };
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Start one worker (pool.lock held). 0 or -errno. */
static int spawn_worker(void)
{
	sigset_t all, old;
	struct slot *s = NULL;
	int err;

	for (unsigned i = 0; i < MAX_THREADS; i++) {
		if (pool.slots[i].used && pool.slots[i].exited) {
			/* It has left the loop above; joining waits for its return
			 * at most, which needs no lock. */
			pthread_join(pool.slots[i].tid, NULL);
			pool.slots[i].used = false;
		}
		if (!pool.slots[i].used) {
			s = &pool.slots[i];
			break;
		}
	}
	if (!s)
		return -EAGAIN;
	pthread_once(&atfork_once, register_atfork);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);   /* the new thread inherits it */
	err = pthread_create(&s->tid, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	s->used = true;
	s->exited = false;
	pool.nthreads++;
	return 0;
}

/* More jobs queued than workers idle: start workers while allowed. (lock) */
static int grow_locked(void)
{
	int err = 0;

	while (pool.nqueued > pool.idle && pool.nthreads < pool.size) {
		err = spawn_worker();
		if (err)
			break;
	}
	return pool.nthreads ? 0 : err;
}

static int submit(struct job *j)
{
	int err;

	pthread_mutex_lock(&pool.lock);
	if (!pool.size)
		pool.size = default_size();
	j->state = JOB_QUEUED;
	reel__list_add_tail(&j->node, &pool.queue);
	pool.nqueued++;
	err = grow_locked();
	if (err) {
		reel__list_del(&j->node);   /* no thread at all: fail the call */
		pool.nqueued--;
	} else if (pool.idle) {
		pthread_cond_signal(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return err;
}

/* Take @j back if no worker has it yet. */
static bool unqueue(struct job *j)
{
	bool queued;

	pthread_mutex_lock(&pool.lock);
	queued = j->state == JOB_QUEUED;
	if (queued) {
		reel__list_del(&j->node);
		pool.nqueued--;
	}
	pthread_mutex_unlock(&pool.lock);
	return queued;
}

int reel_threadpool_size(unsigned threads)
{
	if (threads == 0 || threads > MAX_THREADS)
		return -EINVAL;
	pthread_mutex_lock(&pool.lock);
	pool.size = threads;
	grow_locked();                      /* queued jobs may use the new room */
	pthread_cond_broadcast(&pool.cond); /* and surplus idle workers leave */
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

/* At exit, join the workers if none is busy: a process that exits while a
 * job runs (exit called by a job, or by another thread meanwhile) leaves
 * them, since waiting could hang the exit. */
__attribute__((destructor)) static void pool_at_exit(void)
{
	pthread_t self = pthread_self();

	pthread_mutex_lock(&pool.lock);
	if (pool.running || pool.nqueued) {
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	for (unsigned i = 0; i < MAX_THREADS; i++)
		if (pool.slots[i].used && pthread_equal(pool.slots[i].tid, self)) {
			pthread_mutex_unlock(&pool.lock);
			return;   /* exit() called inside a job */
		}
	pool.stopping = true;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < MAX_THREADS; i++) {
		if (pool.slots[i].used) {
			pthread_join(pool.slots[i].tid, NULL);
			pool.slots[i].used = false;
		}
	}
	pool.stopping = false;
}

/* ---- the loop's side ------------------------------------------------------- */

/* Take every finished job out of the mailbox and wake its fiber. */
static unsigned deliver(struct reel__offload *o)
{
	struct reel__list done, *n;
	unsigned count = 0;

	reel__list_init(&done);
	pthread_mutex_lock(&o->lock);
	reel__list_splice_tail_init(&o->done, &done);
	pthread_mutex_unlock(&o->lock);
	while ((n = reel__list_pop(&done)) != NULL) {
		struct job *j = reel__container_of(n, struct job, node);

		reel__list_del(&j->wait_node);
		o->pending--;
		j->delivered = true;
		reel__wake(j->fiber, 0);
		count++;
	}
	return count;
}

/* The eventfd read completed (on the loop, inside a reap). */
static void on_read(struct reel__op *op)
{
	struct reel__offload *o = reel__container_of(op, struct reel__offload, read);

	o->armed = false;
	if (!deliver(o) && o->pending) {
		/* A leftover count woke us with nothing to deliver: someone
		 * must re-arm, and only a fiber may. */
		struct job *j = reel__container_of(o->waiting.next, struct job, wait_node);

		reel__wake(j->fiber, 0);
	}
}

/* Keep the read in the kernel while this loop has jobs out. -ENOMEM when
 * the op table cannot grow. */
static int arm(struct reel__loop *l, struct reel__offload *o)
{
	struct io_uring_sqe *sqe;
	int err;

	if (o->armed || !o->pending)
		return 0;
	sqe = reel__op_sqe(l, &o->read, &err);
	if (!sqe)
		return err;
	io_uring_prep_read(sqe, o->efd, &o->count, sizeof(o->count), 0);
	io_uring_sqe_set_data64(sqe, o->read.user_data);
	o->read.opcode = IORING_OP_READ;
	o->read.complete = on_read;
	o->read.waiter = NULL;
	o->armed = true;
	return 0;
}

/*
 * Where the eventfd read cannot serve, the waiting fiber looks at the
 * mailbox every millisecond instead:
 *   - the op table cannot grow (no memory) to arm the read;
 *   - under valgrind (3.19 at least), whose io_uring_enter keeps its big
 *     lock while it blocks: no worker thread could run, post its job and
 *     end the wait, a deadlock. sched_yield hands the lock over.
 */
static bool must_poll(void)
{
	return RUNNING_ON_VALGRIND;
}

static void poll_fired(struct reel__timer *t)
{
	reel__wake(reel__container_of(t, struct job, poll)->fiber, 0);
}

static void poll_arm(struct reel__loop *l, struct job *j)
{
	reel__timer_init(&j->poll, poll_fired);
	reel__timer_start(l, &j->poll, reel_now() + POLL_NS);
}

static void poll_done(struct reel__loop *l, struct job *j)
{
	reel__timer_stop(l, &j->poll);
	sched_yield();
	deliver(j->home);
}

/* A job of this loop leaves without being delivered (taken back). */
static void forget(struct job *j)
{
	struct reel__offload *o = j->home;

	reel__list_del(&j->wait_node);
	o->pending--;
	if (!o->pending && o->armed)
		eventfd_write(o->efd, 1);   /* end the read: no job is left to */
}

/* Leave running detached job @j to its worker, if it is still running: off
 * this loop's books first, then marked, both under pool.lock, which the
 * worker takes before it frees @j. False when fn has returned already. */
static bool abandon(struct job *j)
{
	bool running;

	pthread_mutex_lock(&pool.lock);
	running = j->state == JOB_TAKEN;
	if (running) {
		forget(j);
		j->state = JOB_ABANDONED;   /* from here on @j is the worker's */
	}
	pthread_mutex_unlock(&pool.lock);
	return running;
}

/*
 * Park until @j is delivered. Returns 0, or the interruption when it came
 * before the job finished; *@end tells what became of the job (after
 * JOB_END_ABANDONED, @j must not be touched).
 */
static int wait_job(struct reel__loop *l, struct job *j, enum job_end *end)
{
	struct reel__offload *o = j->home;   /* @j may be gone once abandoned */
	int r = 0;

	*end = JOB_END_DELIVERED;
	while (!j->delivered) {
		bool poll = must_poll() || arm(l, o) != 0;
		int w;

		if (poll)
			poll_arm(l, j);
		w = reel__park(l, REEL__PARK_OFFLOAD, r == 0);
		if (poll)
			poll_done(l, j);
		if (w < 0 && r == 0 && !j->delivered) {
			r = w;
			if (unqueue(j)) {
				forget(j);
				*end = JOB_END_WITHDRAWN;
				break;
			}
			if (j->drop && abandon(j)) {
				*end = JOB_END_ABANDONED;
				break;
			}
			/* Running (or done, on its way here): wait for it,
			 * deaf to further interruptions. */
		}
	}
	/* Other jobs of this loop may still be out, and the wake-up meant to
	 * make this fiber re-arm the read may have lost to the interruption:
	 * keep listening, whichever way the job ended. */
	if (!must_poll())
		arm(l, o);
	return r;
}

/* The mailbox's part of the loop's close: every job was delivered (or
 * taken back), so no worker holds it; a read still in the kernel (its last
 * job was taken back and the kick is on its way) is reaped first, so the
 * kernel never writes into freed memory. */
static void mailbox_term(struct reel__loop *l, struct reel__loop_part *part)
{
	struct reel__offload *o = reel__container_of(part, struct reel__offload, part);

	assert(o->pending == 0);
	if (o->armed)
		eventfd_write(o->efd, 1);
	while (o->armed)
		reel__loop_reap(l);
	/* Every job was delivered, so its worker has let go of the lock. */
	pthread_mutex_lock(&o->lock);
	pthread_mutex_unlock(&o->lock);
	pthread_mutex_destroy(&o->lock);
	close(o->efd);
	free(o);
}

/* This loop's mailbox, made (with its eventfd) on the loop's first job. */
static int open_mailbox(struct reel__loop *l, struct reel__offload **out)
{
	struct reel__offload *o = (struct reel__offload *)reel__loop_part(l, REEL__PART_OFFLOAD);

	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->efd = eventfd(0, EFD_CLOEXEC);
		if (o->efd < 0) {
			int err = -errno;

			free(o);
			return err;
		}
		pthread_mutex_init(&o->lock, NULL);
		reel__list_init(&o->done);
		reel__list_init(&o->waiting);
		o->part.term = mailbox_term;
		reel__loop_set_part(l, REEL__PART_OFFLOAD, &o->part);
	}
	*out = o;
	return 0;
}

/* Queue @j (fn, arg and drop set) for the calling fiber of @l and put it
 * on the loop's books. 0, or an -errno with nothing queued. */
static int start_job(struct reel__loop *l, struct job *j)
{
	struct reel__offload *o = NULL;
	int r = reel__interrupt_pending(reel__self_fiber());

	if (!r)
		r = open_mailbox(l, &o);
	if (!r) {
		j->home = o;
		j->fiber = reel__self_fiber();
		r = submit(j);
	}
	if (!r) {
		reel__list_add_tail(&j->wait_node, &o->waiting);
		o->pending++;
	}
	return r;
}

int reel_to_thread(reel_fn fn, void *arg, int *status)
{
	struct reel__loop *l = reel__running_loop();
	struct job j = { .fn = fn, .arg = arg };
	enum job_end end;
	int r;

	if (!l)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	r = start_job(l, &j);
	if (r) {
		if (status)
			*status = r;
		return r;
	}
	r = wait_job(l, &j, &end);
	if (status)
		*status = end == JOB_END_DELIVERED ? j.status : r;
	return r;
}

int reel_offload__run_detached(reel_fn fn, void *arg, void (*drop)(void *arg), int *status)
{
	struct reel__loop *l = reel__running_loop();
	struct job *j;
	enum job_end end;
	int r;

	assert(fn && drop);
	if (!l) {
		drop(arg);
		return -EPERM;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		drop(arg);
		return -ENOMEM;
	}
	j->fn = fn;
	j->arg = arg;
	j->drop = drop;
	r = start_job(l, j);
	if (r) {
		free(j);
		drop(arg);
		return r;
	}
	r = wait_job(l, j, &end);
	if (end == JOB_END_ABANDONED)
		return r;             /* its worker drops and frees it */
	if (!r && status)
		*status = j->status;
	free(j);
	if (r)
		drop(arg);            /* withdrawn, or done after the interruption */
	return r;
}
