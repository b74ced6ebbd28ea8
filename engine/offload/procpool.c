/*
 * procpool.c - struct reel_procpool: worker processes that run a function
 * on a copy of the input bytes (ProcessPoolExecutor without pickling).
 *
 * Workers are fork()ed, never exec'ed, so a function pointer of this
 * program means the same function in them. Each worker has one end of a
 * socketpair and loops: read a request (function, input), run it, write a
 * reply (status, output); end of file on its socket ends it. The parent
 * waits for a worker through reel (reel_poll), so only the calling fiber
 * waits.
 *
 * A worker
 *   - starts on a fresh 8 MiB stack: the fork happens on a fiber's stack,
 *     which may be small and already half used;
 *   - closes every descriptor but its socket and 0, 1, 2: an inherited
 *     listening socket, another worker's socket or the loop's io_uring would
 *     keep resources alive (another worker would never see end of file);
 *   - keeps its socket at 3, close-on-exec (dup3 with O_CLOEXEC: dup2 would
 *     clear the flag): a program the job execs (system, popen, posix_spawn)
 *     must not hold the socket, or the worker's death would show no end of
 *     file while that program lives, and it could speak the protocol;
 *   - unblocks signals and resets caught ones to their default, so the
 *     parent's handlers (which may touch its loop) never run there;
 *   - never runs reel: reel__fork_child_continue clears the thread's loop
 *     (reel__loop_cur), so a reel_ call answers
 *     -EPERM; it leaves with _exit, so the parent's atexit handlers and
 *     stdio buffers are not run or flushed twice.
 *
 * Failures and cancellation
 *   - A worker found dead before a call is replaced silently. One that dies
 *     during a call fails that call with -ECHILD; it is killed for
 *     certainty, reaped and replaced.
 *   - Death is seen on the worker's pidfd, not only as end of file: a child
 *     the job fork()ed without exec shares the socket (close-on-exec cannot
 *     help there), so the parent would see no end of file while that child
 *     lives. The parent parks on an epoll descriptor per worker that holds
 *     the socket and the pidfd (reel_poll takes one descriptor; a second
 *     fiber per call watching the pidfd would cost a spawn, a cancel and a
 *     join per call), then moves bytes with non-blocking send/recv; when
 *     the socket has nothing and the pidfd is readable, the worker is gone.
 *     A reply already in the socket still wins over the death after it.
 *     Without pidfd_open (valgrind 3.19, kernels before 5.3) or epoll, the
 *     wait on the socket is cut every 100 ms to look with waitpid(WNOHANG).
 *   - Interrupted while waiting for a worker: -ECANCELED at once, nothing
 *     sent. Interrupted once the request is (partly) out: the worker is
 *     killed and replaced - killing is the one way to stop work in a
 *     process, and waiting for a result that will be discarded would hold
 *     a worker and the caller for nothing. Rejected: waiting for the reply,
 *     which leaves a cancelled call hanging as long as fn runs.
 *   - Reaping a killed worker parks on its pidfd inside a 1 s shield, then
 *     waits with waitpid (which, after SIGKILL, returns as soon as the
 *     kernel has torn the process down).
 *
 * Several loops: a pool's workers, waiters and sockets are touched by one
 * loop at a time, the loop whose calls are in progress; only which loop
 * that is (calls, loop) is under a mutex. When the pool is idle any loop
 * may take it. A call from another loop of the same runtime while it is
 * taken is run on the taking loop (reel_loop_call of the call itself), so
 * every loop of a runtime shares one pool and its FIFO, and the caller's
 * cancellation reaches the call there (the remote task is cancelled and
 * awaited). Rejected: a lock around the whole pool, which would make a
 * fiber park holding a mutex other threads block on. Loops of another
 * runtime, or a plain reel_run loop, get -EXDEV while it is taken: there
 * is no inbox to forward through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <reel_io.h>
#include <reel_offload.h>
#include <reel_rt.h>

#include "../reelimpl.h"

#if defined(REEL_HAVE_VALGRIND) && REEL_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_CLO_CHANGE(opt) ((void)(opt))
#endif
enum { MAX_WORKERS = 256, CHILD_STACK = 8 << 20 };
#define MAX_MSG ((size_t)256 << 20)
#define GRACE_NS (1000 * 1000000ull)
#define DEATH_POLL_NS (100 * 1000000ull)   /* without a pidfd: look this often */
#define OVERSIZE 1u   /* reply flag: fn claimed more output than it had room for */

/* On the socket, in the host's byte order (both ends are this program). */
struct request {
	uint64_t fn;
	uint64_t in_len;
	uint64_t out_cap;
};

struct reply {
	int32_t status;
	uint32_t flags;
	uint64_t out_len;
};

struct worker {
	pid_t pid;       /* -1: none (a fork failed) */
	int fd;          /* the parent's end of the socketpair, -1 with no worker */
	int pidfd;       /* -1 where pidfd_open is missing */
	int ep;          /* epoll: fd and pidfd; -1 without pidfd (or epoll) */
	uint32_t ep_events;   /* what ep waits for on fd: EPOLLIN or EPOLLOUT */
	bool busy;       /* handed to a call */
};

/* A call waiting for an idle worker; in its frame. */
struct waiter {
	struct reel__list node;   /* on pool->waiters until handed a worker */
	struct reel__fiber *fiber;
	struct worker *got;
};

struct reel_procpool {
	size_t max_msg;
	unsigned nworkers;
	pthread_mutex_t lock;     /* guards the next five: which loop has the pool */
	unsigned calls;           /* in progress: holding or waiting for a worker */
	unsigned forwarded;       /* of other loops, on their way to its loop */
	struct reel__loop *loop;  /* whose fibers make them */
	struct reel_rt *rt;       /* that loop's runtime (NULL: none) */
	int home;                 /* that loop's index in it */
	struct reel__list waiters;
	struct worker w[];
};

/* ---- the worker process ------------------------------------------------------- */

struct child_args {
	int fd;
	size_t max_msg;
};

static bool read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	for (size_t put = 0; put < len;) {
		ssize_t n = send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		put += (size_t)n;
	}
	return true;
}

/* The parent closed the socket (or is gone): leave, without the parent's
 * atexit handlers or a second flush of its stdio buffers. */
static void __attribute__((noreturn)) child_exit(void)
{
	_exit(0);
}

static void __attribute__((noreturn)) child_loop(void *arg)
{
	struct child_args a = *(struct child_args *)arg;
	char *in, *out;

	in = mmap(NULL, 2 * a.max_msg, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (in == MAP_FAILED)
		_exit(1);
	out = in + a.max_msg;
	for (;;) {
		struct request rq;
		struct reply rp = { 0 };
		size_t out_len = 0;

		if (!read_full(a.fd, &rq, sizeof(rq)) || rq.in_len > a.max_msg ||
		    rq.out_cap > a.max_msg || !read_full(a.fd, in, rq.in_len))
			child_exit();
		rp.status = ((reel_proc_fn)(uintptr_t)rq.fn)(in, rq.in_len, out,
							    rq.out_cap, &out_len);
		if (out_len > rq.out_cap) {
			rp.flags = OVERSIZE;
			out_len = 0;
		}
		rp.out_len = out_len;
		if (!write_full(a.fd, &rp, sizeof(rp)) || !write_full(a.fd, out, out_len))
			child_exit();
	}
}

/* Keep only 0, 1, 2 and @fd, which becomes 3, close-on-exec. Returns 3. */
static int close_inherited(int fd)
{
	struct rlimit rl;

	if (fd != 3) {
		if (dup3(fd, 3, O_CLOEXEC) < 0)
			_exit(1);
		if (fd < 3)
			close(fd);   /* 0, 1 or 2 were closed in the parent */
		fd = 3;
	} else if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		_exit(1);   /* socketpair set it already; never trust that here */
	}
	if (syscall(SYS_close_range, 4u, ~0u, 0u) == 0)
		return fd;
	/* No close_range (before 5.9): every number up to the limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 65536)
		rl.rlim_cur = 65536;
	for (int i = 4; i < (int)rl.rlim_cur; i++)
		close(i);
	return fd;
}

static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, NULL, &sa) != 0 || sa.sa_handler == SIG_IGN ||
		    sa.sa_handler == SIG_DFL)
			continue;
		sa.sa_handler = SIG_DFL;
		sa.sa_flags = 0;
		sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Right after fork, in the child, on the forking fiber's stack. */
static void __attribute__((noreturn)) child_start(int fd, size_t max_msg)
{
	struct child_args a;

	/* memcheck's leak report at exit means nothing here: the heap is the
	 * parent's, and its other threads' memory looks lost. Errors in fn
	 * are still reported. */
	VALGRIND_CLO_CHANGE("--leak-check=no");
	reset_signals();
	a.fd = close_inherited(fd);
	a.max_msg = max_msg;
	reel__fork_child_continue(child_loop, &a, CHILD_STACK);
}

/* ---- the parent's side ----------------------------------------------------------- */

/* An epoll descriptor that is readable when @w's socket is readable or its
 * process has ended; -1 on failure (the caller falls back to polling). */
static int open_death_watch(struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	ev.data.fd = w->fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev) == 0) {
		ev.data.fd = w->pidfd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, w->pidfd, &ev) == 0) {
			w->ep_events = EPOLLIN;
			return ep;
		}
	}
	close(ep);
	return -1;
}

static void close_fds(struct worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->ep >= 0)
		close(w->ep);
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->fd = w->ep = w->pidfd = -1;
}

static int start_worker(struct worker *w, size_t max_msg)
{
	int sv[2], err;
	pid_t pid;

	w->pid = -1;
	w->fd = w->pidfd = w->ep = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		child_start(sv[1], max_msg);
	}
	err = -errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return err;
	}
	w->pid = pid;
	w->fd = sv[0];
	/* Valgrind 3.19 does not know pidfd_open: skip its warning. */
	w->pidfd = RUNNING_ON_VALGRIND ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
	if (w->pidfd >= 0)
		w->ep = open_death_watch(w);
	return 0;
}

static int poll_pidfd(void *arg)
{
	return reel_poll(*(int *)arg, POLLIN);
}

/* Kill and reap @w's process; close its descriptors. Parks (shielded, at
 * most 1 s) on a fiber until the process is gone, then reaps it. */
static void stop_worker(struct worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		if (w->pidfd >= 0 && reel__self_fiber())
			reel_shield(GRACE_NS, poll_pidfd, &w->pidfd, NULL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;   /* ECHILD: SIGCHLD is ignored, the kernel reaped it */
	}
	close_fds(w);
	w->pid = -1;
}

static int replace_worker(struct reel_procpool *p, struct worker *w)
{
	stop_worker(w);
	return start_worker(w, p->max_msg);
}

/* Has @w's process ended (killed while idle)? Reaps it if so. */
static bool worker_gone(struct worker *w)
{
	pid_t r;

	if (w->pid <= 0)
		return true;
	do
		r = waitpid(w->pid, NULL, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	w->pid = -1;   /* reaped (or not ours any more) */
	return true;
}

int reel_procpool_create(struct reel_procpool **pool, unsigned workers, size_t max_msg)
{
	struct reel_procpool *p;
	int err = 0;

	if (!pool || workers == 0 || workers > MAX_WORKERS || max_msg == 0 ||
	    max_msg > MAX_MSG)
		return -EINVAL;
	p = calloc(1, sizeof(*p) + workers * sizeof(p->w[0]));
	if (!p)
		return -ENOMEM;
	p->max_msg = max_msg;
	reel__list_init(&p->waiters);
	pthread_mutex_init(&p->lock, NULL);
	for (p->nworkers = 0; p->nworkers < workers; p->nworkers++) {
		err = start_worker(&p->w[p->nworkers], max_msg);
		if (err)
			break;
	}
	if (err) {
		for (unsigned i = 0; i < p->nworkers; i++)
			stop_worker(&p->w[i]);
		free(p);
		return err;
	}
	*pool = p;
	return 0;
}

/* Give @w to the longest waiting call, or back to the idle ones. */
static void release(struct reel_procpool *p, struct worker *w)
{
	struct reel__list *n = reel__list_pop(&p->waiters);

	if (n) {
		struct waiter *wt = reel__container_of(n, struct waiter, node);

		wt->got = w;   /* stays busy: handed over, no one can overtake */
		reel__wake(wt->fiber, 0);
		return;
	}
	w->busy = false;
}

/* An idle worker for the caller, FIFO behind earlier callers. */
static int acquire(struct reel_procpool *p, struct reel__loop *l, struct worker **out)
{
	struct waiter wt = { .fiber = reel__self_fiber() };
	int r;

	for (unsigned i = 0; i < p->nworkers; i++) {
		if (!p->w[i].busy) {
			p->w[i].busy = true;
			*out = &p->w[i];
			return 0;
		}
	}
	reel__list_add_tail(&wt.node, &p->waiters);
	do
		r = reel__park(l, REEL__PARK_OFFLOAD, true);
	while (r == 0 && !wt.got);
	if (!wt.got) {
		reel__list_del(&wt.node);
		return r;
	}
	if (r < 0 || (r = reel__interrupt_pending(reel__self_fiber())) != 0) {
		release(p, wt.got);   /* handed over as we were interrupted */
		return r;
	}
	*out = wt.got;
	return 0;
}

/* Has @w's process ended? Asks the pidfd (without waiting), or else
 * waitpid(WNOHANG), which reaps it. */
static bool worker_ended(struct worker *w)
{
	struct pollfd pfd = { .fd = w->pidfd, .events = POLLIN };

	if (w->pidfd < 0)
		return worker_gone(w);
	return poll(&pfd, 1, 0) > 0;
}

struct sock_wait {
	int fd;
	short events;
};

static int poll_sock(void *arg)
{
	struct sock_wait *sw = arg;

	return reel_poll(sw->fd, sw->events);
}

/* Park until @w's socket may be ready for @events (EPOLLIN or EPOLLOUT) or
 * its process may have ended; the caller tries again and asks
 * worker_ended. Returns 0 or the interruption (or reel_poll's error). */
static int wait_worker(struct worker *w, uint32_t events)
{
	struct sock_wait sw = { w->fd, (short)events };
	int r, st = 0;

	if (w->ep >= 0) {
		if (w->ep_events != events) {
			struct epoll_event ev = { .events = events, .data.fd = w->fd };

			if (epoll_ctl(w->ep, EPOLL_CTL_MOD, w->fd, &ev) != 0)
				return -errno;
			w->ep_events = events;
		}
		r = reel_poll(w->ep, POLLIN);
		return r < 0 ? r : 0;
	}
	/* No pidfd: wait on the socket alone, DEATH_POLL_NS at a time. */
	r = reel_wait_for(DEATH_POLL_NS, poll_sock, &sw, &st);
	if (r == -ETIMEDOUT)
		return reel__interrupt_pending(reel__self_fiber());   /* ours or an outer one? */
	if (r)
		return r;
	return st < 0 ? st : 0;
}

/*
 * Move @len bytes to (@send) or from @w's socket, parking while it is not
 * ready. Bytes moved so far are added to *@moved. Returns 0; -ECHILD at end
 * of file, or when nothing is there and the worker has ended (even if a
 * child it forked still holds the socket); the interruption; or -errno.
 */
static int transfer(struct worker *w, bool send_, void *buf, size_t len, size_t *moved)
{
	bool waited = false;

	for (size_t done = 0; done < len;) {
		ssize_t n = send_ ? send(w->fd, (char *)buf + done, len - done,
					 MSG_DONTWAIT | MSG_NOSIGNAL)
				  : recv(w->fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		int r;

		if (n > 0) {
			done += (size_t)n;
			*moved += (size_t)n;
			waited = false;
			continue;
		}
		if (n == 0)
			return -ECHILD;   /* end of file: every holder closed it */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		/* Not ready. After a wake-up, that may be the worker's end. */
		if (waited && worker_ended(w))
			return -ECHILD;
		r = wait_worker(w, send_ ? EPOLLOUT : EPOLLIN);
		if (r)
			return r;
		waited = true;
	}
	return 0;
}

/* One request and its reply on @w. On any failure but -EMSGSIZE, the
 * worker's stream is in an unknown state: the caller replaces it. */
static int exchange(struct reel_procpool *p, struct worker *w, reel_proc_fn fn,
		    const void *in, size_t in_len, void *out, size_t out_cap,
		    size_t *out_len, int *fn_status, size_t *sent)
{
	struct request rq = {
		.fn = (uint64_t)(uintptr_t)fn,
		.in_len = in_len,
		.out_cap = out_cap < p->max_msg ? out_cap : p->max_msg,
	};
	struct reply rp;
	size_t got = 0;
	int r;

	r = transfer(w, true, &rq, sizeof(rq), sent);
	if (!r)
		r = transfer(w, true, (void *)(uintptr_t)in, in_len, sent);
	if (!r)
		r = transfer(w, false, &rp, sizeof(rp), &got);
	if (r)
		return r;
	if (rp.out_len > rq.out_cap)
		return -EPROTO;
	r = transfer(w, false, out, rp.out_len, &got);
	if (r)
		return r;
	if (rp.flags & OVERSIZE)
		return -EMSGSIZE;
	*out_len = rp.out_len;
	*fn_status = rp.status;
	return 0;
}

/* Acquire a live worker and run the call on it. */
static int call(struct reel_procpool *p, struct reel__loop *l, reel_proc_fn fn,
		const void *in, size_t in_len, void *out, size_t out_cap,
		size_t *out_len, int *fn_status)
{
	struct worker *w;
	size_t sent = 0;
	int r;

	r = acquire(p, l, &w);
	if (r)
		return r;
	if (worker_gone(w) && (r = replace_worker(p, w)) != 0) {
		release(p, w);   /* no fork possible now; a later call retries */
		return r;
	}
	r = exchange(p, w, fn, in, in_len, out, out_cap, out_len, fn_status, &sent);
	if (r && r != -EMSGSIZE && (sent || (r != -ECANCELED && r != -ETIMEDOUT))) {
		if (r == -EPIPE || r == -ECONNRESET || r == -EPROTO)
			r = -ECHILD;
		replace_worker(p, w);   /* failing, the next call retries */
	}
	release(p, w);
	return r;
}

/*
 * Take @p for loop @l (0: calls counted, ours until they end), or say
 * whose it is: 1 and that loop's index in *@home when it is a loop of our
 * runtime (forward the call there), else -EXDEV.
 */
static int claim(struct reel_procpool *p, struct reel__loop *l, int *home)
{
	struct reel_rt *rt = reel_rt_self();
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->calls && p->loop != l) {
		r = rt && p->rt == rt ? 1 : -EXDEV;
		*home = p->home;
		p->forwarded += r == 1;
	} else {
		p->calls++;
		p->loop = l;
		p->rt = rt;
		p->home = reel_rt_index();
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void unclaim(struct reel_procpool *p, bool forwarded)
{
	pthread_mutex_lock(&p->lock);
	if (forwarded)
		p->forwarded--;
	else
		p->calls--;
	pthread_mutex_unlock(&p->lock);
}

/* A call run on the loop that has the pool, for a fiber of another loop. */
struct forward {
	struct reel_procpool *p;
	reel_proc_fn fn;
	const void *in;
	size_t in_len;
	void *out;
	size_t out_cap;
	size_t len;
	int st;
};

static int forward_run(void *arg)
{
	struct forward *f = arg;

	return reel_procpool_call(f->p, f->fn, f->in, f->in_len, f->out, f->out_cap,
				  &f->len, &f->st);
}

/* Run the call on loop @home; its result, fn's status in *@st. */
static int forward(struct forward *f, int home, size_t *len, int *st)
{
	int r, fr = 0;

	r = reel_loop_call(home, forward_run, f, &fr);
	if (r == 0)
		r = fr;   /* the call's own result there */
	*len = f->len;
	*st = f->st;
	return r;
}

int reel_procpool_call(struct reel_procpool *p, reel_proc_fn fn, const void *in,
		       size_t in_len, void *out, size_t out_cap, size_t *out_len,
		       int *status)
{
	struct reel__loop *l = reel__running_loop();
	size_t len = 0;
	int r, st = 0, home = 0;

	if (!l)
		r = -EPERM;
	else if (!p || !fn || (!in && in_len) || (!out && out_cap))
		r = -EINVAL;
	else if (in_len > p->max_msg)
		r = -EMSGSIZE;
	else if ((r = reel__interrupt_pending(reel__self_fiber())) == 0)
		r = claim(p, l, &home);
	if (r == 1) {
		struct forward f = { p, fn, in, in_len, out, out_cap, 0, 0 };

		r = forward(&f, home, &len, &st);
		unclaim(p, true);
	} else if (r == 0) {
		r = call(p, l, fn, in, in_len, out, out_cap, &len, &st);
		unclaim(p, false);
	}
	if (!r && out_len)
		*out_len = len;
	if (status)
		*status = r ? r : st;
	return r;
}

/* Wait up to the grace period for @w to exit by itself; parks on a fiber. */
static bool exited_within_grace(struct worker *w, uint64_t deadline)
{
	while (!worker_gone(w)) {
		struct timespec ms = { 0, 1000000 };

		if (reel_now() >= deadline)
			return false;
		if (!reel__self_fiber() || reel_sleep(1000000) != 0)
			nanosleep(&ms, NULL);
	}
	return true;
}

int reel_procpool_destroy(struct reel_procpool *p)
{
	uint64_t deadline = reel_now() + GRACE_NS;
	unsigned calls;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	calls = p->calls + p->forwarded;
	pthread_mutex_unlock(&p->lock);
	if (calls)
		return -EBUSY;
	pthread_mutex_destroy(&p->lock);
	for (unsigned i = 0; i < p->nworkers; i++) {
		if (p->w[i].fd >= 0)
			close(p->w[i].fd);   /* end of file: the worker exits */
		p->w[i].fd = -1;
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		if (exited_within_grace(&p->w[i], deadline))
			close_fds(&p->w[i]);
		else
			stop_worker(&p->w[i]);
	}
	free(p);
	return 0;
}
