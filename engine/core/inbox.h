/*
 * inbox.h - a loop's inbox as the core sees it (design notes in inbox.c):
 * the struct, the scheduler's cheap look at it, and the calls the loop's
 * life (loop.c) and the pass end (sched.c) make.
 */
#ifndef REEL_INBOX_H
#define REEL_INBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../reelimpl.h"

/*
 * Who touches what:
 *   posters (any thread)  @lock, and under it @msgs, @wake_sent, @closed,
 *                         @ring_fd; the words @pending (set) and @asleep
 *                         (read); @efd (written).
 *   kick (any thread,     @kicked, @pending (set), @asleep (read), @efd:
 *   a signal handler)     atomics and one write(2), no lock.
 *   the loop's thread     everything else; @pending (cleared, under @lock),
 *                         @asleep (set and cleared).
 * The two words the Dekker pair uses sit on cache lines of their own: a
 * busy loop reads @pending once per pass while peers write it.
 */
struct reel__inbox {
	pthread_mutex_t lock;
	struct reel__list msgs;       /* posted, not yet taken (@lock) */
	bool wake_sent;               /* a wake-up is on its way (@lock) */
	bool closed;                  /* the loop has ended: refuse (@lock) */
	bool owned;                   /* a runtime's: outlives its loop */
	bool no_msg_ring;             /* peers wake it by eventfd only */
	int ring_fd;                  /* MSG_RING target: a dup of the loop's
				       * ring fd, kept until the inbox is
				       * freed; -1 for none (@lock) */
	int efd;                      /* eventfd: the wake-up of plain threads */
	uint64_t wakes_eventfd;       /* wake-ups sent each way (@lock): tests, */
	uint64_t wakes_msg_ring;      /* benchmarks */
	const void *group;            /* its runtime (owned only): MSG_RING peers */
	uint64_t poll_ns;             /* poll this long before blocking */
	void (*kick_fn)(void *arg);   /* the owner's kick handler */
	void *kick_arg;

	uint32_t pending __attribute__((aligned(64)));  /* messages or a kick wait */
	uint32_t kicked;              /* reel__inbox_kick since the last look */
	uint32_t asleep __attribute__((aligned(64)));   /* the loop may block */

	/* The loop's thread only. */
	struct reel__loop *loop __attribute__((aligned(64)));  /* while it runs */
	uint32_t parked;              /* fibers parked in reel__xwait_park */
	bool valgrind;                /* under valgrind: bounded waits (sched.c) */
	bool flush;                   /* a MSG_RING was queued during a pass end:
				       * submit before the next pass (sched.c) */
	bool armed;                   /* @read is in the kernel */
	struct reel__op read;         /* the eventfd read, armed before a block */
	uint64_t count;               /* @read's buffer */
};

/* Anything posted (or a kick) since the loop last looked? One relaxed load:
 * the pass end of a busy loop asks this and nothing more. */
static inline bool reel__inbox_pending(const struct reel__inbox *ib)
{
	return __atomic_load_n(&ib->pending, __ATOMIC_RELAXED) != 0;
}

/* Could a post from another thread wake one of this loop's fibers? (a
 * fiber waits for one, or the loop is in a runtime): then no deadlock. */
static inline bool reel__inbox_listening(const struct reel__inbox *ib)
{
	return ib->owned || ib->parked != 0;
}

/*
 * Under valgrind (3.19 at least) a thread blocked in io_uring_enter keeps
 * valgrind's big lock: no other thread runs, so none can post the wake-up
 * the loop waits for. While the loop listens, its waits are then bounded
 * to a millisecond and followed by sched_yield (the thread pool's mailbox
 * polls for the same reason).
 */
static inline bool reel__inbox_bounded_waits(const struct reel__inbox *ib)
{
	return reel_unlikely(ib->valgrind) && reel__inbox_listening(ib);
}

/* loop.c: set-up (adopting the runtime's inbox if one was handed over)
 * and tear-down (refuse, run what is left, reap the read). */
int reel__inbox_loop_init(struct reel__loop *l);
void reel__inbox_loop_term(struct reel__loop *l);

/* sched.c: take and run every message (and the kick); before blocking
 * (true: work came, do not block); after the kernel wait. */
void reel__inbox_drain(struct reel__inbox *ib);
bool reel__inbox_before_block(struct reel__loop *l);
void reel__inbox_after_wait(struct reel__inbox *ib);

#endif /* REEL_INBOX_H */
