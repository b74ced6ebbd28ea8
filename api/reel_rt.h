/*
 * reel_rt.h - every core: a runtime of N loops (one thread each, pinned one
 * per core by default), cross-loop calls and tasks, channels between loops,
 * and SO_REUSEPORT listeners so a server accepts on every loop.
 *
 * The model (docs/design.md §2, docs/scaling.md): a loop per thread, fibers
 * never migrate, a loop never touches another loop's structures. Work from
 * another thread reaches a loop through its inbox and one wake-up per batch
 * (IORING_OP_MSG_RING from a peer loop's ring where the kernel has it, an
 * eventfd write otherwise; reel-caps says which). Every loop of a runtime
 * runs the same @main (Seastar's shards, nginx's workers); a loop whose main
 * has returned keeps serving its peers' calls until every main has returned.
 *
 * Conventions as in reel.h: >= 0 or a negative errno; "Context: fiber only"
 * means -EPERM elsewhere.
 */
#ifndef REEL_RT_H
#define REEL_RT_H

#include <reel.h>

#ifdef __cplusplus
extern "C" {
#endif

struct reel_rt;   /* opaque: a running set of loops */

/* reel_rt_opts.flags */
#define REEL_RT_NO_PIN      (1u << 0)  /* do not pin loop i to a CPU */
#define REEL_RT_NO_SIGNALS  (1u << 1)  /* SIGINT/SIGTERM do not stop the runtime */
#define REEL_RT_NO_MSG_RING (1u << 2)  /* wake peers by eventfd even where
					* IORING_OP_MSG_RING exists (tests,
					* benchmarks; REEL_DISABLE=msg_ring) */

/*
 * Options of reel_rt_start. NULL, or any field left zero, means the default.
 * @loops:   number of loops (default: the CPUs this process may run on,
 *           sched_getaffinity; at most 1024).
 * @flags:   REEL_RT_* bits.
 * @cpus:    loop i is pinned to @cpus[i] (@loops entries); NULL: the i-th
 *           CPU of the process's affinity mask, wrapping around.
 * @poll_ns: a loop that is about to block in the kernel first polls its
 *           inbox this long (a wake-up through the kernel costs ~100 us on
 *           some VMs; a poll that finds work costs nothing of it). 0: none.
 * @run:     every loop's reel_run options (NULL: defaults).
 */
struct reel_rt_opts {
	unsigned loops;
	unsigned flags;
	const int *cpus;
	uint64_t poll_ns;
	const struct reel_run_opts *run;
};

/*
 * reel_rt_start - start @opts->loops threads, each running reel_run(@main,
 * @arg) on a loop of its own. Unless REEL_RT_NO_SIGNALS, SIGINT and SIGTERM
 * stop the runtime (reel_rt_stop) until reel_rt_wait returns (loop threads
 * block every signal). Returns 0 and the runtime in *@rt; -EINVAL for NULL
 * arguments or out-of-range options; -EAGAIN / -ENOMEM when threads or
 * memory run out; the errno of a loop that could not start (the others are
 * stopped and joined first; the reason is written in words as reel_run's).
 * Ownership: the caller must reel_rt_wait *@rt exactly once.
 * Context: any thread, outside a fiber (-EPERM in one).
 */
REEL_API int reel_rt_start(struct reel_rt **rt, reel_fn main, void *arg,
			   const struct reel_rt_opts *opts);

/*
 * reel_rt_wait - wait until every loop has ended (every main returned, then
 * each loop's leftover tasks cancelled and awaited), store loop i's main
 * return value in @statuses[i] (for i < @n; NULL is allowed) and free @rt.
 * A loop whose main failed (a negative status) is named on stderr unless
 * @statuses receives it: no error is lost.
 * Returns 0; -EINVAL for NULL @rt. Context: any thread but the runtime's own
 * loops, outside a fiber (-EPERM in one).
 */
REEL_API int reel_rt_wait(struct reel_rt *rt, int *statuses, unsigned n);

/*
 * reel_rt_stop - stop the runtime: every loop's main is cancelled (its
 * parking calls return -ECANCELED), so it returns, and each loop cancels
 * and awaits its tasks. Idempotent. Returns 0; -EINVAL for NULL.
 * Context: anywhere - any thread, a fiber of any loop, a signal handler
 * (async-signal-safe) - until reel_rt_wait(@rt) returns (a stop under way
 * when the loops end is waited for).
 */
REEL_API int reel_rt_stop(struct reel_rt *rt);

/* reel_rt_run - reel_rt_start, then reel_rt_wait on the calling thread. */
REEL_API int reel_rt_run(reel_fn main, void *arg, const struct reel_rt_opts *opts,
			 int *statuses, unsigned n);

/* reel_rt_self - the runtime of the calling fiber's loop, NULL when it is
 * not in one. Context: fiber only (NULL elsewhere). */
REEL_API struct reel_rt *reel_rt_self(void);

/* reel_rt_loops - the number of loops of the calling fiber's runtime; 1 on
 * a loop started by plain reel_run; -EPERM outside a fiber. */
REEL_API int reel_rt_loops(void);

/* reel_rt_index - the calling fiber's loop index, 0 .. reel_rt_loops() - 1
 * (0 on a plain reel_run loop); -EPERM outside a fiber. */
REEL_API int reel_rt_index(void);

/* ---- cross-loop tasks ------------------------------------------------------------ */

/*
 * struct reel_remote - a task started on another loop by reel_loop_spawn.
 * Caller-owned (usually in the caller's frame); private fields.
 */
struct reel_remote {
	uint64_t private_[16];
};

/*
 * reel_loop_spawn - start @fn(@arg) as a task on loop @loop of the calling
 * fiber's runtime (the caller's own loop too). The task first runs when
 * that loop next picks up its inbox. @arg and whatever it points to must
 * stay valid until the task is joined; the task runs on another thread, so
 * what it shares with the caller is guarded as between threads.
 * Returns 0; -EINVAL for NULL @r or @fn, or @loop out of range; -ESHUTDOWN
 * when the runtime is stopping (the task was not started); -EPERM outside a
 * fiber. Ownership: the caller must reel_remote_join @r exactly once, from
 * the fiber that spawned it, before @r's memory goes (a fiber that ends with
 * an unjoined remote aborts naming itself).
 */
REEL_API int reel_loop_spawn(struct reel_remote *r, int loop, reel_fn fn, void *arg,
			     const struct reel_spawn_opts *opts);

/*
 * reel_remote_join - wait for the remote task to end and store its return
 * value in *@status (if not NULL). As reel_join: when the caller is
 * cancelled or its deadline passes while it waits, the remote task is
 * cancelled and join still waits for it to end (its status stored), then
 * returns -ECANCELED / -ETIMEDOUT: the remote fiber never outlives the call.
 * Returns 0; -EINVAL for NULL, a remote already joined or never spawned.
 * Context: fiber only, the spawning fiber.
 */
REEL_API int reel_remote_join(struct reel_remote *r, int *status);

/* reel_remote_cancel - ask the remote task to stop (reel_cancel on its
 * loop); it still has to be joined. Idempotent. Returns 0; -EINVAL.
 * Context: fiber only, the spawning fiber; never parks. */
REEL_API int reel_remote_cancel(struct reel_remote *r);

/*
 * reel_loop_call - run @fn(@arg) as a task on loop @loop and wait for it:
 * reel_loop_spawn + reel_remote_join. Returns 0 with fn's value in *@status;
 * -ECANCELED / -ETIMEDOUT when the caller is interrupted (the remote task is
 * cancelled and awaited first, its status stored); the errors of
 * reel_loop_spawn. Context: fiber only.
 */
REEL_API int reel_loop_call(int loop, reel_fn fn, void *arg, int *status);

/* reel_loop_call_for - reel_loop_call giving up after @timeout_ns:
 * -ETIMEDOUT, the remote task cancelled and awaited. Context: fiber only. */
REEL_API int reel_loop_call_for(int loop, reel_fn fn, void *arg, int *status,
				uint64_t timeout_ns);

/* ---- channels between loops -------------------------------------------------- */

/*
 * struct reel_xchan - a bounded FIFO of fixed-size elements between fibers
 * of any loops (and plain threads, with the try_ calls): multi-producer,
 * multi-consumer, elements copied in and out. reel_chan's semantics across
 * threads: back-pressure (a send parks while it is full), close (refuses
 * sends; receivers drain, then -EPIPE), and a send or receive that returns
 * an error moved nothing. A burst of sends to a parked receiver costs one
 * wake-up of its loop. Caller-owned; private fields.
 */
struct reel_xchan {
	uint64_t private_[24];
};

/* reel_xchan_init - an open, empty channel of @capacity (>= 1) elements of
 * @elem_size bytes. Returns 0; -EINVAL; -ENOMEM. Ownership: the buffer is
 * the channel's until reel_xchan_destroy. Context: anywhere. */
REEL_API int reel_xchan_init(struct reel_xchan *c, size_t elem_size, size_t capacity);

/* reel_xchan_destroy - free the buffer, dropping buffered elements.
 * Returns 0; -EBUSY while any fiber waits on @c, or was woken from a wait
 * on @c and has not yet returned (close it and let them return first);
 * -EINVAL. Once it returns 0, @c's memory may go. Context: anywhere, once
 * no thread uses @c. */
REEL_API int reel_xchan_destroy(struct reel_xchan *c);

/*
 * reel_xchan_send - copy @elem into @c, parking while it is full.
 * Returns 0 once it is in; -EPIPE when closed (not sent); -ECANCELED /
 * -ETIMEDOUT when interrupted (not sent); -EINVAL. Context: fiber only.
 */
REEL_API int reel_xchan_send(struct reel_xchan *c, const void *elem);

/*
 * reel_xchan_send_many - send @n elements from @elems in order, parking
 * while full. Returns @n; when interrupted or closed after k > 0 were sent,
 * k (the rest not sent); the error when none was sent. Context: fiber only.
 */
REEL_API long reel_xchan_send_many(struct reel_xchan *c, const void *elems, size_t n);

/* reel_xchan_try_send - send if there is room now. Returns 0; -EAGAIN when
 * full; -EPIPE when closed; -EINVAL. Context: anywhere (any thread). */
REEL_API int reel_xchan_try_send(struct reel_xchan *c, const void *elem);

/*
 * reel_xchan_recv - take the oldest element into @elem, parking while
 * empty. Returns 0; -EPIPE at the end of stream (closed and drained);
 * -ECANCELED / -ETIMEDOUT when interrupted (nothing taken); -EINVAL.
 * Context: fiber only.
 */
REEL_API int reel_xchan_recv(struct reel_xchan *c, void *elem);

/* reel_xchan_recv_many - take 1 .. @max elements into @elems, parking
 * while empty. Returns how many; errors as reel_xchan_recv. Context: fiber
 * only. */
REEL_API long reel_xchan_recv_many(struct reel_xchan *c, void *elems, size_t max);

/* reel_xchan_try_recv - receive if an element is there. Returns 0; -EAGAIN
 * when empty; -EPIPE at the end of stream; -EINVAL. Context: anywhere. */
REEL_API int reel_xchan_try_recv(struct reel_xchan *c, void *elem);

/* reel_xchan_close - refuse further sends; waiting senders get -EPIPE,
 * waiting receivers drain then get -EPIPE. Idempotent. Returns 0; -EINVAL.
 * Context: anywhere; never parks. */
REEL_API int reel_xchan_close(struct reel_xchan *c);

/* reel_xchan_len - elements buffered now (a snapshot; 0 for NULL). */
REEL_API size_t reel_xchan_len(struct reel_xchan *c);

/* ---- servers on every loop -------------------------------------------------- */

/*
 * reel_rt_listen_tcp - a listening TCP socket with SO_REUSEPORT, one per
 * calling loop: every loop of a runtime calls it with the same @host and
 * @port and gets its own socket of one group, and the kernel spreads new
 * connections over them by hash. (SO_INCOMING_CPU is not set: a local
 * client pinned to one CPU, or a NIC with fewer queues than loops, would
 * then feed only some loops; reel_listen_tcp_opts sets it where wanted.)
 * Port 0 picks one free port for the whole runtime: every loop
 * asking for (@host, 0) gets the same one. Outside a runtime (plain
 * reel_run), as reel_listen_tcp with SO_REUSEPORT.
 * Returns the descriptor (the caller owns it: reel_close); -errno as
 * reel_listen_tcp. Context: fiber only (as reel_listen_tcp); it may park
 * (a name lookup; port 0 while another loop binds it).
 * A socket of the group that is not accepted from still gets its share of
 * connections: open it only on loops that serve.
 */
REEL_API int reel_rt_listen_tcp(const char *host, uint16_t port, int backlog);

#ifdef __cplusplus
}
#endif

#endif /* REEL_RT_H */
