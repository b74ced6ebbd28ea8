/*
 * pool.h - the process-wide thread pool and each loop's cross-thread
 * wake-up path (design notes at the top of pool.c).
 */
#ifndef REEL_POOL_H
#define REEL_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "ring.h"

/*
 * A loop's mailbox for finished jobs, part of struct reel__loop. Workers
 * touch only @lock, @done and @efd (under @lock); everything else belongs to
 * the loop's thread.
 */
struct reel__offload {
	pthread_mutex_t lock;         /* guards @done; never held for long */
	struct reel__list done;       /* finished jobs not yet delivered (@lock) */
	int efd;                      /* eventfd workers write after a push; -1 until first use */
	struct reel__list waiting;    /* this loop's jobs not yet delivered */
	uint32_t pending;             /* entries on @waiting */
	bool armed;                   /* @read is in the kernel */
	struct reel__op read;         /* the eventfd read, armed while jobs are out */
	uint64_t count;               /* @read's buffer: the kernel writes it */
};

/* Set up / tear down a loop's part (no descriptor until the first job).
 * Term reaps a read still in the kernel, so it must run before the ring's
 * term, on the loop's thread, with no fiber waiting for a job. */
void reel__offload_init(struct reel__offload *o);
struct reel__loop;
void reel__offload_term(struct reel__loop *l);

#endif /* REEL_POOL_H */
