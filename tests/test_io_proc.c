/*
 * Description: readiness, signals and child processes (engine/io/proc.c;
 * api/reel_io.h, docs/design.md §5): reel_poll on a pipe (woken by a write,
 * ready at once, cancelled, timed out); reel_cancel_fd waking two polls and
 * a receive on a socket with -EBADF, after which a plain close(2) gives the
 * peer EOF at once, also from a caller cancelled or past its deadline; the
 * trap it exists for (close(2) under a pending poll wakes nobody and the
 * peer sees no EOF until the poll ends); reel_signal_wait for a SIGUSR1 from
 * another fiber, and cancelled without losing the signal; one signalfd per
 * loop, shared by waiters for different signals that never take each
 * other's; -EMFILE under a full descriptor table leaves nothing blocked
 * (regression: SIGTERM was lost); the loop's close unblocks what the loop
 * blocked and keeps what the caller blocked; child processes
 * through reel_process_spawn and reel_process_wait (exit status, killed by
 * a signal, a wait timed out and then reaped); subprocesses with pipes
 * (struct reel_process): cat echoing through two pipes read with
 * reel_read_line, stderr apart and merged into stdout, /dev/null and a
 * descriptor of ours, cwd, envp, start errors (-ENOENT, -EACCES, -EINVAL,
 * -EBADF) with no child or descriptor left behind, communicate moving 1 MiB
 * each way without deadlock and truncating past its caps, kill-on-cancel
 * (a deadline around communicate, a cancelled task in join or communicate,
 * SIGTERM then SIGKILL after the grace, REEL_PROC_KEEP_ON_CANCEL), the
 * child's signal mask and SIGPIPE reset, close ending a running child in a
 * fiber and outside one; -EPERM for each of them
 * outside a fiber; and the I/O layer under stress: 1000 fibers doing random
 * blocking operations (polls, pipe reads, sleeps) while a canceller fiber
 * cancels 100,000 of them, with every result accounted for.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* The signal's details reach reel_signal_wait's buffer through a ring read,
 * a kernel write that valgrind cannot see, and its return value comes from
 * there too: tell valgrind. */
#if defined(REEL_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#define KERNEL_FILLED(p) VALGRIND_MAKE_MEM_DEFINED((p), sizeof(*(p)))
#else
#define KERNEL_FILLED(p) ((void)0)
#endif

/* ---- reel_poll ----------------------------------------------------------------- */

struct poller {
	int fd;
	short events;
	int r;
	bool started;
};

static int poll_fiber(void *arg)
{
	struct poller *p = arg;

	p->started = true;
	p->r = reel_poll(p->fd, p->events);
	return p->r;
}

static int poll_main(void *arg)
{
	struct poller p = { .events = POLLIN, .r = -12345 };
	reel_task t;
	int fds[2], st;
	char c = 0;

	(void)arg;
	FCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	/* the write end is writable at once */
	FCHECK_EQ(reel_poll(fds[1], POLLOUT), POLLOUT);
	/* the read end: parked until another fiber writes */
	p.fd = fds[0];
	FCHECK_EQ(reel_spawn(&t, poll_fiber, &p, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(p.started);
	FCHECK_EQ(p.r, -12345);
	FCHECK_EQ(reel_write(fds[1], "x", 1), 1);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(p.r, POLLIN);
	/* poll consumed nothing */
	FCHECK_EQ(reel_poll(fds[0], POLLIN | POLLOUT), POLLIN);
	FCHECK_EQ(reel_read(fds[0], &c, 1), 1);
	FCHECK_EQ(c, 'x');
	/* the write end closed: the read end hangs up (reported unasked) */
	FCHECK_EQ(reel_close(fds[1]), 0);
	FCHECK(reel_poll(fds[0], POLLIN) & POLLHUP);
	FCHECK_EQ(reel_close(fds[0]), 0);
	/* bad descriptors */
	FCHECK_EQ(reel_poll(-1, POLLIN), -EBADF);
	FCHECK_EQ(reel_poll(fds[0], POLLIN), -EBADF);
	return 0;
}

static void test_io_proc_poll_pipe_readiness(void **state)
{
	(void)state;
	run_ok(poll_main, NULL);
}

static int poll_interrupted_main(void *arg)
{
	struct poller p = { .events = POLLIN, .r = -12345 };
	reel_task t;
	int fds[2], st;
	uint64_t t0;
	char c = 0;

	(void)arg;
	FCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	p.fd = fds[0];
	/* cancelled */
	FCHECK_EQ(reel_spawn(&t, poll_fiber, &p, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(p.started);
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK(reel_now() - t0 < LATE_OK_NS);
	FCHECK_EQ(p.r, -ECANCELED);
	FCHECK_EQ(st, -ECANCELED);
	/* timed out */
	p.r = -12345;
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, poll_fiber, &p, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	FCHECK_EQ(p.r, -ETIMEDOUT);
	FCHECK_EQ(st, -ETIMEDOUT);
	/* the pipe still works for a new poll */
	FCHECK_EQ(reel_write(fds[1], "y", 1), 1);
	p.r = -12345;
	FCHECK_EQ(reel_wait_for(1 * SEC, poll_fiber, &p, &st), 0);
	FCHECK_EQ(p.r, POLLIN);
	FCHECK_EQ(reel_read(fds[0], &c, 1), 1);
	FCHECK_EQ(reel_close(fds[0]), 0);
	FCHECK_EQ(reel_close(fds[1]), 0);
	return 0;
}

static void test_io_proc_poll_cancelled_and_timed_out(void **state)
{
	(void)state;
	run_ok(poll_interrupted_main, NULL);
}

/* ---- reel_cancel_fd: a library that close(2)s a descriptor being polled ------------ */

/* A reel_recv parked on @fd (the ring's own poll inside). */
struct receiver_fiber {
	int fd;
	ssize_t r;
	char buf[8];
};

static int recv_fiber(void *arg)
{
	struct receiver_fiber *rf = arg;

	rf->r = reel_recv(rf->fd, rf->buf, sizeof(rf->buf), 0);
	return rf->r < 0 ? (int)rf->r : 0;
}

/* The peer's view: POLLIN within @ns (its end of stream, here: POLLRDHUP
 * comes with it, unasked), else the deadline's -ETIMEDOUT. */
static int peer_readable_within(int fd, uint64_t ns)
{
	struct poller p = { .fd = fd, .events = POLLIN, .r = -12345 };
	int st, r = reel_wait_for(ns, poll_fiber, &p, &st);

	return r < 0 ? r : p.r & POLLIN;
}

/* Two polls and a receive wait on the accepted end; reel_cancel_fd wakes
 * all three with -EBADF and leaves the descriptor open; the plain close(2)
 * the library makes next then ends the connection: the peer reads EOF at
 * once. With nothing in flight it cancels nothing; -EBADF for descriptors
 * that are not open. */
static int cancel_fd_main(void *arg)
{
	struct poller p1 = { .events = POLLIN, .r = -12345 };
	struct poller p2 = { .events = POLLIN | POLLPRI, .r = -12345 };
	struct receiver_fiber rf = { .r = -12345 };
	reel_task t[3];
	struct conn c;
	char buf[8];
	int st;

	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	if (reel_cancel_fd(c.b) == -EOPNOTSUPP) {   /* before 5.19 */
		*(bool *)arg = true;
		FCHECK_EQ(reel_close(c.a), 0);
		FCHECK_EQ(reel_close(c.b), 0);
		return 0;
	}
	FCHECK_EQ(reel_cancel_fd(c.b), 0);   /* nothing in flight */
	p1.fd = p2.fd = rf.fd = c.b;
	FCHECK_EQ(reel_spawn(&t[0], poll_fiber, &p1, NULL), 0);
	FCHECK_EQ(reel_spawn(&t[1], poll_fiber, &p2, NULL), 0);
	FCHECK_EQ(reel_spawn(&t[2], recv_fiber, &rf, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(p1.started && p2.started);
	FCHECK_EQ(p1.r, -12345);
	FCHECK_EQ(rf.r, -12345);
	FCHECK_EQ(reel_cancel_fd(c.b), 3);
	FCHECK(fcntl(c.b, F_GETFD) >= 0);     /* still open: the library's to close */
	FCHECK_EQ(close(c.b), 0);             /* what PQfinish does */
	FCHECK_EQ(peer_readable_within(c.a, 1 * SEC), POLLIN);
	FCHECK_EQ(recv(c.a, buf, sizeof(buf), MSG_DONTWAIT), 0);   /* EOF */
	for (int i = 0; i < 3; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, -EBADF);
	}
	FCHECK_EQ(p1.r, -EBADF);
	FCHECK_EQ(p2.r, -EBADF);
	FCHECK_EQ(rf.r, -EBADF);
	FCHECK_EQ(reel_cancel_fd(c.b), -EBADF);   /* closed now */
	FCHECK_EQ(reel_cancel_fd(-1), -EBADF);
	FCHECK_EQ(reel_close(c.a), 0);
	return 0;
}

static void test_io_proc_cancel_fd_wakes_pollers_then_close_gives_eof(void **state)
{
	bool unsupported = false;

	(void)state;
	run_ok(cancel_fd_main, &unsupported);
	if (unsupported)
		skip();   /* the kernel cannot cancel by descriptor */
}

/* Cleanup code of a task already cancelled, or past its deadline: the
 * cancel still happens (it is shielded); the interruption comes back at the
 * caller's next parking call. */
static int cancel_fd_interrupted_caller(void *arg)
{
	int fd = *(int *)arg;

	FCHECK_EQ(reel_cancel(reel_self()), 0);
	FCHECK_EQ(reel_cancel_fd(fd), 1);
	FCHECK_EQ(reel_yield(), -ECANCELED);
	return 0;
}

static int cancel_fd_past_deadline(void *arg)
{
	int fd = *(int *)arg;

	FCHECK_EQ(reel_sleep(1 * SEC), -ETIMEDOUT);
	FCHECK_EQ(reel_cancel_fd(fd), 1);
	FCHECK_EQ(reel_yield(), -ETIMEDOUT);
	return 0;
}

static int cancel_fd_interrupted_main(void *arg)
{
	struct poller p = { .events = POLLIN, .r = -12345 };
	reel_task poll_t, closer;
	struct conn c;
	int st;

	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	if (reel_cancel_fd(c.b) == -EOPNOTSUPP) {   /* before 5.19 */
		*(bool *)arg = true;
		FCHECK_EQ(reel_close(c.a), 0);
		FCHECK_EQ(reel_close(c.b), 0);
		return 0;
	}
	p.fd = c.b;
	for (int k = 0; k < 2; k++) {
		p.r = -12345;
		p.started = false;
		FCHECK_EQ(reel_spawn(&poll_t, poll_fiber, &p, NULL), 0);
		FCHECK_EQ(reel_sleep(20 * MS), 0);
		FCHECK(p.started);
		if (k == 0) {
			FCHECK_EQ(reel_spawn(&closer, cancel_fd_interrupted_caller, &c.b, NULL), 0);
			FCHECK_EQ(reel_join(closer, &st), 0);
		} else {
			FCHECK_EQ(reel_wait_for(10 * MS, cancel_fd_past_deadline, &c.b, &st),
				  -ETIMEDOUT);
		}
		FCHECK_EQ(st, 0);
		FCHECK_EQ(reel_join(poll_t, &st), 0);
		FCHECK_EQ(st, -EBADF);
		FCHECK_EQ(p.r, -EBADF);
	}
	FCHECK_EQ(reel_close(c.b), 0);
	FCHECK_EQ(reel_close(c.a), 0);
	return 0;
}

static void test_io_proc_cancel_fd_from_interrupted_caller(void **state)
{
	bool unsupported = false;

	(void)state;
	run_ok(cancel_fd_interrupted_main, &unsupported);
	if (unsupported)
		skip();
}

/* The trap itself, without reel_cancel_fd: close(2) of a descriptor that a
 * fiber polls wakes nobody, and the connection stays up - the pending poll
 * holds the file - so the peer sees no end of stream until that poll ends
 * (here: its task is cancelled). */
static int close_under_poll_main(void *arg)
{
	struct poller p = { .events = POLLIN, .r = -12345 };
	struct conn c;
	reel_task t;
	char buf[8];
	int st;

	(void)arg;
	FCHECK_EQ(tcp_pair("127.0.0.1", &c), 0);
	p.fd = c.b;
	FCHECK_EQ(reel_spawn(&t, poll_fiber, &p, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(p.started);
	FCHECK_EQ(close(c.b), 0);
	FCHECK_EQ(peer_readable_within(c.a, 200 * MS), -ETIMEDOUT);
	FCHECK_EQ(recv(c.a, buf, sizeof(buf), MSG_DONTWAIT), -1);
	FCHECK_EQ(errno, EAGAIN);             /* no EOF: the socket lives on */
	FCHECK_EQ(p.r, -12345);               /* and the poller still sleeps */
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(peer_readable_within(c.a, 1 * SEC), POLLIN);
	FCHECK_EQ(recv(c.a, buf, sizeof(buf), MSG_DONTWAIT), 0);   /* now EOF */
	FCHECK_EQ(reel_close(c.a), 0);
	return 0;
}

static void test_io_proc_close2_under_poll_keeps_connection(void **state)
{
	(void)state;
	run_ok(close_under_poll_main, NULL);
}

/* ---- reel_signal_wait ------------------------------------------------------------- */

struct sigwait {
	sigset_t set;
	int r;
	bool started;
	struct signalfd_siginfo info;
};

static int signal_waiter(void *arg)
{
	struct sigwait *w = arg;

	w->started = true;
	w->r = reel_signal_wait(&w->set, &w->info);
	KERNEL_FILLED(&w->r);
	KERNEL_FILLED(&w->info);
	return 0;
}

static int send_sigusr1(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(kill(getpid(), SIGUSR1), 0);
	return 0;
}

static int signal_main(void *arg)
{
	struct sigwait w = { .r = -12345 };
	reel_task tw, tk;
	sigset_t now;
	int st, sig;

	(void)arg;
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGUSR1);
	FCHECK_EQ(reel_spawn(&tw, signal_waiter, &w, NULL), 0);
	FCHECK_EQ(reel_spawn(&tk, send_sigusr1, NULL, NULL), 0);
	FCHECK_EQ(reel_join(tk, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(reel_join(tw, &st), 0);
	FCHECK(w.started);
	FCHECK_EQ(w.r, SIGUSR1);
	FCHECK_EQ(w.info.ssi_signo, SIGUSR1);
	FCHECK_EQ(w.info.ssi_pid, getpid());
	FCHECK_EQ(w.info.ssi_code, SI_USER);
	/* the signal stays blocked after the wait (docs/io.md) */
	FCHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
	FCHECK(sigismember(&now, SIGUSR1));
	/* NULL info is fine; a NULL set is not */
	FCHECK_EQ(kill(getpid(), SIGUSR1), 0);
	sig = reel_signal_wait(&w.set, NULL);
	KERNEL_FILLED(&sig);
	FCHECK_EQ(sig, SIGUSR1);
	FCHECK_EQ(reel_signal_wait(NULL, NULL), -EINVAL);
	return 0;
}

/* Unblocks SIGUSR1 after a test, none pending (it would kill us). */
static void unblock_sigusr1(void)
{
	sigset_t set, pending;

	assert_int_equal(sigpending(&pending), 0);
	assert_false(sigismember(&pending, SIGUSR1));
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

static void test_io_proc_signal_wait_sigusr1(void **state)
{
	(void)state;
	run_ok(signal_main, NULL);
	unblock_sigusr1();
}

static int signal_cancel_main(void *arg)
{
	struct sigwait w = { .r = -12345 };
	struct signalfd_siginfo info;
	reel_task t;
	uint64_t t0;
	int st, sig;

	(void)arg;
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGUSR1);
	FCHECK_EQ(reel_spawn(&t, signal_waiter, &w, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK(w.started);
	FCHECK_EQ(w.r, -12345);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(w.r, -ECANCELED);
	/* and under a deadline */
	w.r = -12345;
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, signal_waiter, &w, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 50 * MS);
	FCHECK_EQ(w.r, -ETIMEDOUT);
	/* a signal sent now is not lost to the interrupted waits */
	FCHECK_EQ(kill(getpid(), SIGUSR1), 0);
	memset(&info, 0, sizeof(info));
	sig = reel_signal_wait(&w.set, &info);
	KERNEL_FILLED(&sig);
	KERNEL_FILLED(&info);
	FCHECK_EQ(sig, SIGUSR1);
	FCHECK_EQ(info.ssi_signo, SIGUSR1);
	return 0;
}

static void test_io_proc_signal_wait_cancelled(void **state)
{
	(void)state;
	run_ok(signal_cancel_main, NULL);
	unblock_sigusr1();
}

/* ---- one signalfd per loop, masks put back ------------------------------------------ */


static bool blocked(int sig)
{
	sigset_t now;

	return pthread_sigmask(SIG_BLOCK, NULL, &now) == 0 && sigismember(&now, sig);
}

static volatile sig_atomic_t usr1_caught;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_caught++;
}

struct emfile_run {
	struct rlimit old;
	int dups[512];
	int ndups, r, caught;
	bool usr1_blocked, term_blocked;
};

/* Use up every descriptor under a lowered limit, then ask for signals.
 * Only observes: the test checks after everything is given back. */
static int signal_emfile_main(void *arg)
{
	struct emfile_run *e = arg;
	struct rlimit low = e->old;
	sigset_t set;

	low.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &low) != 0)
		return -errno;
	while (e->ndups < 512) {
		int fd = dup(0);

		if (fd < 0)
			break;
		e->dups[e->ndups++] = fd;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	e->r = reel_signal_wait(&set, NULL);
	while (e->ndups > 0)
		close(e->dups[--e->ndups]);
	setrlimit(RLIMIT_NOFILE, &e->old);
	/* nothing reads them: both must be deliverable again, at once */
	e->usr1_blocked = blocked(SIGUSR1);
	e->term_blocked = blocked(SIGTERM);
	usr1_caught = 0;
	raise(SIGUSR1);
	e->caught = usr1_caught;
	return 0;
}

static void test_regress_signal_wait_emfile_leaves_signals_unblocked(void **state)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old_sa;
	struct emfile_run e = { .r = 12345 };
	sigset_t both;
	int status = -1;

	(void)state;
	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGTERM);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &e.old), 0);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_sa), 0);
	assert_int_equal(reel_run(signal_emfile_main, &e, NULL, &status), 0);
	/* whatever was left blocked must not stay so for the next test (a
	 * pending SIGUSR1 lands in on_usr1) */
	pthread_sigmask(SIG_UNBLOCK, &both, NULL);
	assert_int_equal(sigaction(SIGUSR1, &old_sa, NULL), 0);
	assert_int_equal(status, 0);
	assert_loop_clean();
	assert_int_equal(e.r, -EMFILE);
	assert_false(e.usr1_blocked);
	assert_false(e.term_blocked);
	assert_int_equal(e.caught, 1);
}

/* Two waiters for different signals at once share the loop's one signalfd,
 * and neither takes the other's signal. */
static int signal_shared_main(void *arg)
{
	struct sigwait w1 = { .r = -12345 }, w2 = { .r = -12345 };
	reel_task t1, t2;
	int n0, n1, st;

	(void)arg;
	sigemptyset(&w1.set);
	sigaddset(&w1.set, SIGUSR1);
	sigemptyset(&w2.set);
	sigaddset(&w2.set, SIGUSR2);
	n0 = count_fds();
	FCHECK_EQ(reel_spawn(&t1, signal_waiter, &w1, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK(w1.started);
	n1 = count_fds();
	FCHECK_EQ(n1, n0 + 1);   /* the loop's signalfd */
	FCHECK_EQ(reel_spawn(&t2, signal_waiter, &w2, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK(w2.started);
	FCHECK_EQ(count_fds(), n1);   /* the same one */
	/* SIGUSR2 first: the SIGUSR1 waiter wakes too, and must leave it */
	FCHECK_EQ(kill(getpid(), SIGUSR2), 0);
	FCHECK_EQ(reel_join(t2, &st), 0);
	FCHECK_EQ(w2.r, SIGUSR2);
	FCHECK_EQ(w1.r, -12345);
	FCHECK_EQ(kill(getpid(), SIGUSR1), 0);
	FCHECK_EQ(reel_join(t1, &st), 0);
	FCHECK_EQ(w1.r, SIGUSR1);
	FCHECK_EQ(w1.info.ssi_signo, SIGUSR1);
	FCHECK_EQ(w1.info.ssi_pid, getpid());
	FCHECK_EQ(w1.info.ssi_uid, getuid());
	FCHECK_EQ(w1.info.ssi_code, SI_USER);
	FCHECK_EQ(count_fds(), n1);   /* kept for the loop's life */
	return 0;
}

static void test_io_proc_signal_wait_one_signalfd_per_loop(void **state)
{
	int n0 = count_fds();

	(void)state;
	run_ok(signal_shared_main, NULL);
	assert_int_equal(count_fds(), n0);   /* closed with the loop */
	assert_false(blocked(SIGUSR1));      /* and the masks put back */
	assert_false(blocked(SIGUSR2));
}

/* SIGUSR1 blocked by the caller before the loop (and already pending):
 * the loop reads it, and leaves it blocked at its close; SIGUSR2, blocked
 * by the loop alone, is unblocked again at its close. */
static int signal_mask_main(void *arg)
{
	union sigval v = { .sival_int = 42 };
	struct signalfd_siginfo info;
	struct sigwait w = { .r = -12345 };
	reel_task t;
	sigset_t set;
	int sig, st;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	memset(&info, 0, sizeof(info));
	sig = reel_signal_wait(&set, &info);   /* pending before the loop began */
	FCHECK_EQ(sig, SIGUSR1);
	FCHECK_EQ(info.ssi_code, SI_QUEUE);
	FCHECK_EQ(info.ssi_int, 42);
	/* SIGUSR2 is blocked by the waiter itself: send it once it waits */
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGUSR2);
	FCHECK_EQ(reel_spawn(&t, signal_waiter, &w, NULL), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK(w.started);
	FCHECK_EQ(sigqueue(getpid(), SIGUSR2, v), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(w.r, SIGUSR2);
	FCHECK_EQ(w.info.ssi_int, 42);
	FCHECK(blocked(SIGUSR2));   /* blocked while the loop lives */
	return 0;
}

static void test_io_proc_signal_mask_restored_at_loop_close(void **state)
{
	union sigval v = { .sival_int = 42 };
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	assert_int_equal(sigqueue(getpid(), SIGUSR1, v), 0);
	assert_false(blocked(SIGUSR2));
	run_ok(signal_mask_main, NULL);
	assert_true(blocked(SIGUSR1));    /* the caller's: kept */
	assert_false(blocked(SIGUSR2));   /* the loop's: given back */
	sigaddset(&set, SIGUSR2);
	unblock_sigusr1();
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- child processes ---------------------------------------------------------------- */

static char *const exit3_argv[] = { "sh", "-c", "exit 3", NULL };
static char *const sleep_argv[] = { "sleep", "10", NULL };

/* valgrind (3.19) does not know pidfd_open: the process tests skip there. */
static void skip_without_pidfd(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd < 0) {
		fprintf(stderr, "pidfd_open: %s: skipped\n", strerror(errno));
		skip();
	}
	close(fd);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static bool reaped(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static int process_exit_main(void *arg)
{
	char *const missing_argv[] = { "reel-no-such-program-here", NULL };
	char *const empty_argv[] = { NULL };
	pid_t pid = 0;
	int pidfd, ws;

	(void)arg;
	pidfd = reel_process_spawn(&pid, exit3_argv);
	FCHECK(pidfd >= 0);
	FCHECK(pid > 0);
	FCHECK(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
	ws = reel_process_wait(pidfd);
	FCHECK(ws >= 0);
	FCHECK(WIFEXITED(ws));
	FCHECK_EQ(WEXITSTATUS(ws), 3);
	FCHECK(!fd_open(pidfd));   /* closed by the wait */
	FCHECK(reaped(pid));
	/* bad input */
	FCHECK_EQ(reel_process_spawn(&pid, missing_argv), -ENOENT);
	FCHECK_EQ(reel_process_spawn(NULL, exit3_argv), -EINVAL);
	FCHECK_EQ(reel_process_spawn(&pid, NULL), -EINVAL);
	FCHECK_EQ(reel_process_spawn(&pid, empty_argv), -EINVAL);
	FCHECK_EQ(reel_process_wait(-1), -EBADF);
	return 0;
}

static void test_io_proc_process_exit_status(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(process_exit_main, NULL);
}

static int process_killed_main(void *arg)
{
	pid_t pid = 0;
	int pidfd, ws;

	(void)arg;
	pidfd = reel_process_spawn(&pid, sleep_argv);
	FCHECK(pidfd >= 0);
	FCHECK_EQ(kill(pid, SIGKILL), 0);
	ws = reel_process_wait(pidfd);
	FCHECK(ws >= 0);
	FCHECK(WIFSIGNALED(ws));
	FCHECK_EQ(WTERMSIG(ws), SIGKILL);
	FCHECK(!fd_open(pidfd));
	FCHECK(reaped(pid));
	return 0;
}

static void test_io_proc_process_killed_by_signal(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(process_killed_main, NULL);
}

static int wait_child(void *arg)
{
	return reel_process_wait((int)(intptr_t)arg);
}

static int process_timeout_main(void *arg)
{
	pid_t pid = 0;
	int pidfd, st = 1, ws;
	uint64_t t0;
	reel_task t;

	(void)arg;
	pidfd = reel_process_spawn(&pid, sleep_argv);
	FCHECK(pidfd >= 0);
	/* timed out: the child runs on, the pidfd stays open */
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(100 * MS, wait_child, (void *)(intptr_t)pidfd, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 100 * MS);
	FCHECK(reel_now() - t0 < 100 * MS + LATE_OK_NS);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(fd_open(pidfd));
	FCHECK(!reaped(pid));
	FCHECK_EQ(kill(pid, 0), 0);   /* alive */
	/* cancelled: the same */
	FCHECK_EQ(reel_spawn(&t, wait_child, (void *)(intptr_t)pidfd, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(fd_open(pidfd));
	/* the caller decides: kill it through the pidfd and wait again */
	FCHECK_EQ(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0), 0);
	ws = reel_process_wait(pidfd);
	FCHECK(ws >= 0);
	FCHECK(WIFSIGNALED(ws));
	FCHECK_EQ(WTERMSIG(ws), SIGKILL);
	FCHECK(!fd_open(pidfd));
	FCHECK(reaped(pid));
	return 0;
}

static void test_io_proc_process_wait_timeout_then_reap(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(process_timeout_main, NULL);
}

/* ---- subprocesses with pipes: struct reel_process ------------------------------------ */

static char *const cat_argv[] = { "cat", NULL };
static char *const sleep60_argv[] = { "sleep", "60", NULL };
static char *const out_err_argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };

/* No process has this pid (reaped: not even a zombie). */
static bool gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* No child of ours is left, running or zombie. */
static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static bool empty_process(const struct reel_process *p)
{
	return p->pid == 0 && p->pidfd < 0 && p->in_fd < 0 && p->out_fd < 0 && p->err_fd < 0 &&
	       p->status == -1;
}

static bool killed_by(int ws, int sig)
{
	return ws >= 0 && WIFSIGNALED(ws) && WTERMSIG(ws) == sig;
}

static bool exited_with(int ws, int code)
{
	return ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == code;
}

static int join_fn(void *arg)
{
	return reel_process_join(arg);
}

struct comm {
	struct reel_process *p;
	struct reel_process_io io;
};

static int communicate_fn(void *arg)
{
	struct comm *c = arg;

	return reel_process_communicate(c->p, &c->io);
}

/* cat through two pipes, read with reel_reader: ordinary descriptors. */
static int echo_cat_main(void *arg)
{
	const struct reel_process_opts o = { .stdin_mode = REEL_PROC_PIPE,
					     .stdout_mode = REEL_PROC_PIPE };
	struct reel_process p;
	struct reel_reader rd;
	char buf[64], line[64], want[16];
	int fds = count_fds(), ws;

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), 0);
	FCHECK(p.pid > 0);
	FCHECK(p.pidfd >= 0 && p.in_fd >= 0 && p.out_fd >= 0);
	FCHECK_EQ(p.err_fd, -1);
	FCHECK_EQ(p.status, -1);
	FCHECK(fcntl(p.in_fd, F_GETFD) & FD_CLOEXEC);
	FCHECK(fcntl(p.out_fd, F_GETFD) & FD_CLOEXEC);
	FCHECK_EQ(count_fds(), fds + 3);
	reel_reader_init(&rd, p.out_fd, buf, sizeof(buf));
	for (int i = 0; i < 3; i++) {
		int n = snprintf(want, sizeof(want), "line %d\n", i);

		FCHECK_EQ(reel_write_all(p.in_fd, want, (size_t)n, NULL), n);
		FCHECK_EQ(reel_read_line(&rd, line, sizeof(line)), n);
		FCHECK(strcmp(line, want) == 0);
	}
	FCHECK_EQ(reel_process_kill(&p, 0), 0);   /* running */
	/* the caller closes stdin itself: the field says so */
	FCHECK_EQ(reel_close(p.in_fd), 0);
	p.in_fd = -1;
	FCHECK_EQ(reel_read_line(&rd, line, sizeof(line)), 0);   /* cat saw the end */
	ws = reel_process_join(&p);
	FCHECK(exited_with(ws, 0));
	FCHECK_EQ(p.status, ws);
	FCHECK_EQ(p.pidfd, -1);                 /* closed by the reap */
	FCHECK(p.out_fd >= 0);                  /* the pipes are the close's */
	FCHECK_EQ(reel_process_join(&p), ws);   /* again: the status kept */
	FCHECK_EQ(reel_process_kill(&p, SIGTERM), -ESRCH);
	FCHECK(gone(p.pid));
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(p.out_fd, -1);
	FCHECK_EQ(reel_process_close(&p), 0);   /* twice: harmless */
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_echo_through_cat(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(echo_cat_main, NULL);
}

/* sh -c 'echo out; echo err >&2; exit 3', stderr apart and merged. */
static int stderr_main(void *arg)
{
	struct reel_process_opts o = { .stdout_mode = REEL_PROC_PIPE,
				       .stderr_mode = REEL_PROC_PIPE };
	struct reel_process p;
	char out[64] = { 0 }, err[64] = { 0 };
	struct reel_process_io io = { .out = out, .out_cap = sizeof(out),
				      .err = err, .err_cap = sizeof(err) };
	int fds = count_fds(), ws;

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, out_err_argv, &o), 0);
	FCHECK_EQ(p.in_fd, -1);
	FCHECK(p.out_fd >= 0 && p.err_fd >= 0);
	ws = reel_process_communicate(&p, &io);
	FCHECK(exited_with(ws, 3));
	FCHECK_EQ(p.status, ws);
	FCHECK_EQ(io.in_done, 0);
	FCHECK_EQ(io.out_len, 4);
	FCHECK(memcmp(out, "out\n", 4) == 0);
	FCHECK_EQ(io.err_len, 4);
	FCHECK(memcmp(err, "err\n", 4) == 0);
	FCHECK_EQ(p.out_fd, -1);   /* each pipe closed at its end */
	FCHECK_EQ(p.err_fd, -1);
	FCHECK_EQ(p.pidfd, -1);
	FCHECK_EQ(reel_process_close(&p), 0);
	/* merged: 2>&1 */
	o.stderr_mode = REEL_PROC_STDOUT;
	memset(out, 0, sizeof(out));
	FCHECK_EQ(reel_process_start(&p, out_err_argv, &o), 0);
	FCHECK_EQ(p.err_fd, -1);
	ws = reel_process_communicate(&p, &io);
	FCHECK(exited_with(ws, 3));
	FCHECK_EQ(io.out_len, 8);
	FCHECK(memcmp(out, "out\nerr\n", 8) == 0);
	FCHECK_EQ(io.err_len, 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_stderr_apart_and_merged(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(stderr_main, NULL);
}

/* /dev/null in and out; the caller's own descriptor as the child's stdout. */
static int devnull_fd_main(void *arg)
{
	char *const argv[] = { "sh", "-c", "cat; echo x; echo y >&2", NULL };
	struct reel_process_opts o = { .stdin_mode = REEL_PROC_DEVNULL,
				       .stdout_mode = REEL_PROC_DEVNULL,
				       .stderr_mode = REEL_PROC_PIPE };
	struct reel_process p;
	char err[16] = { 0 }, out[16] = { 0 };
	struct reel_process_io io = { .err = err, .err_cap = sizeof(err) };
	int fds = count_fds(), ws, pfd[2];

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, argv, &o), 0);
	FCHECK(p.in_fd == -1 && p.out_fd == -1 && p.err_fd >= 0);
	ws = reel_process_communicate(&p, &io);   /* cat met /dev/null's end */
	FCHECK(exited_with(ws, 0));
	FCHECK_EQ(io.out_len, 0);
	FCHECK_EQ(io.err_len, 2);
	FCHECK(memcmp(err, "y\n", 2) == 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	/* REEL_PROC_FD: a pipe of ours as its stdout, stderr to /dev/null */
	FCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	o.stdout_mode = REEL_PROC_FD;
	o.stdout_fd = pfd[1];
	o.stderr_mode = REEL_PROC_DEVNULL;
	FCHECK_EQ(reel_process_start(&p, argv, &o), 0);
	FCHECK_EQ(p.out_fd, -1);
	FCHECK(fd_open(pfd[1]));   /* still the caller's */
	FCHECK_EQ(reel_close(pfd[1]), 0);
	FCHECK_EQ(reel_read_exact(pfd[0], out, sizeof(out), NULL), 2);   /* then the end */
	FCHECK(memcmp(out, "x\n", 2) == 0);
	FCHECK(exited_with(reel_process_join(&p), 0));
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(reel_close(pfd[0]), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_devnull_and_fd(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(devnull_fd_main, NULL);
}

/* Runs @argv with @o, stdout to @out (NUL-terminated); the wait status. */
static int run_capture(char *const argv[], struct reel_process_opts o, char *out, size_t cap)
{
	struct reel_process p;
	struct reel_process_io io = { .out = out, .out_cap = cap - 1 };
	int r;

	o.stdout_mode = REEL_PROC_PIPE;
	r = reel_process_start(&p, argv, &o);
	if (r)
		return r;
	r = reel_process_communicate(&p, &io);
	out[io.out_len < cap - 1 ? io.out_len : cap - 1] = '\0';
	reel_process_close(&p);
	return r;
}

struct tmpdir {
	char dir[64];
	char real[PATH_MAX];
	char script[128];
};

/* The working directory; a relative program found from there; -EACCES for
 * one that is not executable; -ENOENT for a directory that is not there. */
static int cwd_main(void *arg)
{
	struct tmpdir *t = arg;
	char *const pwd_argv[] = { "pwd", NULL };
	char *const script_argv[] = { "./hello.sh", NULL };
	struct reel_process_opts o = { .cwd = t->dir };
	struct reel_process p;
	char out[PATH_MAX + 2];
	int fds = count_fds();

	FCHECK(exited_with(run_capture(pwd_argv, o, out, sizeof(out)), 0));
	FCHECK_EQ(strlen(out), strlen(t->real) + 1);
	FCHECK(strncmp(out, t->real, strlen(t->real)) == 0);
	FCHECK(exited_with(run_capture(script_argv, o, out, sizeof(out)), 0));
	FCHECK(strcmp(out, "hi\n") == 0);
	FCHECK_EQ(chmod(t->script, 0644), 0);
	FCHECK_EQ(reel_process_start(&p, script_argv, &o), -EACCES);
	FCHECK(empty_process(&p));
	o.cwd = "/reel-no-such-directory";
	FCHECK_EQ(reel_process_start(&p, pwd_argv, &o), -ENOENT);
	FCHECK(empty_process(&p));
	FCHECK(no_children());   /* the failed children were reaped */
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_cwd(void **state)
{
	struct tmpdir t;
	FILE *f;

	(void)state;
	skip_without_pidfd();
	strcpy(t.dir, "/tmp/reel-proc-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	assert_non_null(realpath(t.dir, t.real));
	snprintf(t.script, sizeof(t.script), "%s/hello.sh", t.dir);
	f = fopen(t.script, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	assert_int_equal(chmod(t.script, 0755), 0);
	run_ok(cwd_main, &t);
	unlink(t.script);
	rmdir(t.dir);
}

/* A custom environment, exactly; NULL: the caller's. */
static int env_main(void *arg)
{
	char *const env_argv[] = { "env", NULL };
	char *const envp[] = { "REEL_A=1", "REEL_B=two words", NULL };
	char *const echo_argv[] = { "sh", "-c", "echo \"$REEL_PROC_TEST\"", NULL };
	struct reel_process_opts o = { .envp = envp };
	char out[256];

	(void)arg;
	FCHECK(exited_with(run_capture(env_argv, o, out, sizeof(out)), 0));
	FCHECK(strcmp(out, "REEL_A=1\nREEL_B=two words\n") == 0);
	o.envp = NULL;
	FCHECK(exited_with(run_capture(echo_argv, o, out, sizeof(out)), 0));
	FCHECK(strcmp(out, "inherited\n") == 0);
	return 0;
}

static void test_io_proc_subprocess_env(void **state)
{
	(void)state;
	skip_without_pidfd();
	assert_int_equal(setenv("REEL_PROC_TEST", "inherited", 1), 0);
	run_ok(env_main, NULL);
	unsetenv("REEL_PROC_TEST");
}

/* What cannot start says why, leaves nothing open and no child behind. */
static int start_errors_main(void *arg)
{
	char *const missing_argv[] = { "reel-no-such-program-here", NULL };
	char *const empty_argv[] = { NULL };
	struct reel_process_opts o = { .stdin_mode = REEL_PROC_PIPE,
				       .stdout_mode = REEL_PROC_PIPE,
				       .stderr_mode = REEL_PROC_PIPE };
	struct reel_process p;
	char buf[4];
	struct reel_process_io io = { .in = buf, .in_len = 1 };
	int fds = count_fds(), closed_fd;

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, missing_argv, &o), -ENOENT);
	FCHECK(empty_process(&p));
	FCHECK_EQ(reel_process_close(&p), 0);   /* harmless on a failed start */
	FCHECK_EQ(reel_process_start(&p, missing_argv, NULL), -ENOENT);
	FCHECK_EQ(reel_process_start(NULL, cat_argv, NULL), -EINVAL);
	FCHECK_EQ(reel_process_start(&p, NULL, NULL), -EINVAL);
	FCHECK_EQ(reel_process_start(&p, empty_argv, NULL), -EINVAL);
	o.stdin_mode = REEL_PROC_STDOUT;   /* stderr's only */
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EINVAL);
	o.stdin_mode = REEL_PROC_PIPE;
	o.stdout_mode = REEL_PROC_STDOUT;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EINVAL);
	o.stdout_mode = 99;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EINVAL);
	o.stdout_mode = REEL_PROC_PIPE;
	o.flags = 1u << 7;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EINVAL);
	o.flags = 0;
	o.stderr_mode = REEL_PROC_FD;
	o.stderr_fd = -1;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EBADF);
	closed_fd = fcntl(0, F_DUPFD_CLOEXEC, 500);   /* high: the pipes cannot take it */
	FCHECK(closed_fd >= 500);
	close(closed_fd);
	o.stderr_fd = closed_fd;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), -EBADF);
	FCHECK(empty_process(&p));
	FCHECK(no_children());
	FCHECK_EQ(count_fds(), fds);
	/* communicate: input with no stdin pipe; a NULL buffer with a cap */
	o.stdin_mode = REEL_PROC_DEVNULL;
	o.stderr_mode = REEL_PROC_INHERIT;
	FCHECK_EQ(reel_process_start(&p, cat_argv, &o), 0);
	FCHECK_EQ(reel_process_communicate(&p, &io), -EINVAL);
	io = (struct reel_process_io){ .out_cap = 1 };
	FCHECK_EQ(reel_process_communicate(&p, &io), -EINVAL);
	FCHECK_EQ(reel_process_communicate(&p, NULL), -EINVAL);
	FCHECK_EQ(reel_process_communicate(NULL, &io), -EINVAL);
	FCHECK_EQ(reel_process_join(NULL), -EINVAL);
	FCHECK_EQ(reel_process_kill(NULL, SIGTERM), -EINVAL);
	FCHECK_EQ(reel_process_close(NULL), -EINVAL);
	FCHECK_EQ(reel_process_kill(&p, 0), 0);         /* alive */
	FCHECK_EQ(reel_process_kill(&p, 12345), -EINVAL);
	io = (struct reel_process_io){ 0 };
	FCHECK(exited_with(reel_process_communicate(&p, &io), 0));
	FCHECK_EQ(reel_process_kill(&p, 0), -ESRCH);   /* reaped */
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_start_errors(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(start_errors_main, NULL);
}

#define MIB (1024 * 1024)

/* 1 MiB in, 1 MiB back on stdout while 1 MiB more comes on stderr: done
 * one after the other this deadlocks on the first full pipe. */
static char *const flood_argv[] = { "sh", "-c", "yes err | head -c 1048576 >&2 & cat; wait",
				    NULL };

static int flood_main(void *arg)
{
	const struct reel_process_opts o = { .stdin_mode = REEL_PROC_PIPE,
					     .stdout_mode = REEL_PROC_PIPE,
					     .stderr_mode = REEL_PROC_PIPE };
	unsigned char *in = malloc(MIB), *out = malloc(MIB), *err = malloc(MIB);
	struct reel_process p;
	struct reel_process_io io = { .in = in, .in_len = MIB, .out = out, .out_cap = MIB,
				      .err = err, .err_cap = MIB };
	int fds = count_fds(), ws, r = 0;

	(void)arg;
	FCHECK(in && out && err);
	for (size_t i = 0; i < MIB; i++)
		in[i] = (unsigned char)(i * 7 % 251);
	FCHECK_EQ(reel_process_start(&p, flood_argv, &o), 0);
	ws = reel_process_communicate(&p, &io);
	FCHECK(exited_with(ws, 0));
	FCHECK_EQ(io.in_done, MIB);
	FCHECK_EQ(io.out_len, MIB);
	FCHECK(memcmp(in, out, MIB) == 0);
	FCHECK_EQ(io.err_len, MIB);   /* and nothing else: yes met SIGPIPE's default */
	for (size_t i = 0; i < MIB && r == 0; i += 4)
		r = memcmp(err + i, "err\n", 4);
	FCHECK_EQ(r, 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	/* caps smaller than the output: kept up to the cap, counted in full */
	memset(out, 0, MIB);
	io = (struct reel_process_io){ .in = in, .in_len = MIB, .out = out, .out_cap = 1000 };
	FCHECK_EQ(reel_process_start(&p, flood_argv, &o), 0);
	ws = reel_process_communicate(&p, &io);
	FCHECK(exited_with(ws, 0));
	FCHECK_EQ(io.out_len, MIB);
	FCHECK(memcmp(in, out, 1000) == 0);
	FCHECK_EQ(out[1000], 0);   /* not a byte past the cap */
	FCHECK_EQ(io.err_len, MIB);
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(count_fds(), fds);
	free(in);
	free(out);
	free(err);
	return 0;
}

static void test_io_proc_subprocess_communicate_1mib_no_deadlock(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(flood_main, NULL);
}

/* communicate under reel_wait_for, a child that never ends: -ETIMEDOUT on
 * time, the child killed and reaped before the call returns; with
 * REEL_PROC_KEEP_ON_CANCEL, left running. */
static int communicate_deadline_main(void *arg)
{
	struct reel_process_opts o = { .stdout_mode = REEL_PROC_PIPE };
	struct reel_process p;
	char out[16];
	struct comm c = { .p = &p, .io = { .out = out, .out_cap = sizeof(out) } };
	int fds = count_fds(), st = 1;
	uint64_t t0;

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, &o), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(200 * MS, communicate_fn, &c, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 200 * MS);
	FCHECK(reel_now() - t0 < 200 * MS + LATE_OK_NS);
	FCHECK_EQ(st, -ETIMEDOUT);
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(gone(p.pid));   /* killed and reaped: not even a zombie */
	FCHECK_EQ(p.pidfd, -1);
	FCHECK(p.out_fd >= 0);   /* not at its end: left for the close */
	FCHECK_EQ(c.io.out_len, 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	/* kept */
	o.flags = REEL_PROC_KEEP_ON_CANCEL;
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, &o), 0);
	FCHECK_EQ(reel_wait_for(100 * MS, communicate_fn, &c, &st), -ETIMEDOUT);
	FCHECK_EQ(p.status, -1);
	FCHECK(p.pidfd >= 0);
	FCHECK_EQ(kill(p.pid, 0), 0);   /* alive */
	FCHECK_EQ(reel_process_kill(&p, SIGKILL), 0);
	FCHECK(killed_by(reel_process_join(&p), SIGKILL));
	FCHECK(gone(p.pid));
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_communicate_deadline_kills(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(communicate_deadline_main, NULL);
}

/* A task waiting on a child (join or communicate) is cancelled: the child
 * is gone by the time the task has ended. */
static int cancel_main(void *arg)
{
	const struct reel_process_opts o = { .stdout_mode = REEL_PROC_PIPE };
	struct reel_process p, q;
	struct comm c = { .p = &q };
	reel_task t, u;
	uint64_t t0;
	int st = 1, fds = count_fds();

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, NULL), 0);
	FCHECK_EQ(reel_process_start(&q, sleep60_argv, &o), 0);
	FCHECK_EQ(reel_spawn(&t, join_fn, &p, NULL), 0);
	FCHECK_EQ(reel_spawn(&u, communicate_fn, &c, NULL), 0);
	FCHECK_EQ(reel_sleep(50 * MS), 0);
	FCHECK_EQ(kill(p.pid, 0), 0);
	FCHECK_EQ(kill(q.pid, 0), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_cancel(u), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK_EQ(reel_join(u, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(reel_now() - t0 < 1 * SEC);
	FCHECK(gone(p.pid));
	FCHECK(gone(q.pid));
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(killed_by(q.status, SIGKILL));
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(reel_process_close(&q), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_cancel_kills_child(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(cancel_main, NULL);
}

/* Already cancelled: a child that has exited is reaped and its status wins;
 * one that runs is killed at once, by join and by communicate. */
static int cancelled_join(void *arg)
{
	FCHECK_EQ(reel_cancel(reel_self()), 0);
	return reel_process_join(arg);
}

static int cancelled_communicate(void *arg)
{
	struct reel_process_io io = { 0 };

	FCHECK_EQ(reel_cancel(reel_self()), 0);
	return reel_process_communicate(arg, &io);
}

static int cancelled_before_main(void *arg)
{
	char *const exit5_argv[] = { "sh", "-c", "exit 5", NULL };
	const struct reel_process_opts o = { .stdout_mode = REEL_PROC_PIPE };
	struct reel_process p;
	reel_task t;
	int st = 1, fds = count_fds();

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, exit5_argv, NULL), 0);
	FCHECK(reel_poll(p.pidfd, POLLIN) & POLLIN);   /* it has exited */
	FCHECK_EQ(reel_process_kill(&p, SIGTERM), 0);   /* not reaped: lost, not an error */
	FCHECK_EQ(reel_spawn(&t, cancelled_join, &p, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK(exited_with(st, 5));
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, NULL), 0);
	FCHECK_EQ(reel_spawn(&t, cancelled_join, &p, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(gone(p.pid));
	FCHECK_EQ(reel_process_close(&p), 0);
	/* communicate: its helpers never run, the child is killed all the same */
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, &o), 0);
	FCHECK_EQ(reel_spawn(&t, cancelled_communicate, &p, NULL), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, -ECANCELED);
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(gone(p.pid));
	FCHECK(p.out_fd >= 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK_EQ(count_fds(), fds);
	return 0;
}

static void test_io_proc_subprocess_cancelled_before_join(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(cancelled_before_main, NULL);
}

/* kill_grace_ns: SIGTERM first; SIGKILL only for a child that outlives the
 * grace, and never before it has passed. */
static int grace_main(void *arg)
{
	char *const stubborn_argv[] = { "sh", "-c", "trap '' TERM; echo ready; read x", NULL };
	struct reel_process_opts o = { .kill_grace_ns = 5 * SEC };
	struct reel_process p;
	struct reel_reader rd;
	char buf[32], line[32];
	uint64_t t0;
	int st = 1;

	(void)arg;
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, &o), 0);
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, join_fn, &p, &st), -ETIMEDOUT);
	FCHECK(killed_by(p.status, SIGTERM));   /* it obeyed: no SIGKILL */
	FCHECK(reel_now() - t0 < 50 * MS + LATE_OK_NS);
	FCHECK_EQ(reel_process_close(&p), 0);
	/* a child that ignores SIGTERM */
	o = (struct reel_process_opts){ .stdin_mode = REEL_PROC_PIPE, .stdout_mode = REEL_PROC_PIPE,
					.kill_grace_ns = 300 * MS };
	FCHECK_EQ(reel_process_start(&p, stubborn_argv, &o), 0);
	reel_reader_init(&rd, p.out_fd, buf, sizeof(buf));
	FCHECK_EQ(reel_read_line(&rd, line, sizeof(line)), 6);   /* its trap is set */
	t0 = reel_now();
	FCHECK_EQ(reel_wait_for(50 * MS, join_fn, &p, &st), -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 350 * MS);
	FCHECK(reel_now() - t0 < 350 * MS + LATE_OK_NS);
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(gone(p.pid));
	FCHECK_EQ(reel_process_close(&p), 0);
	return 0;
}

static void test_io_proc_subprocess_kill_grace(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(grace_main, NULL);
}

/* The child gets an empty signal mask and SIGPIPE's default, whatever the
 * loop's thread blocked or ignored. */
static int signals_main(void *arg)
{
	char *const yes_argv[] = { "sh", "-c", "yes | head -c 1 >/dev/null", NULL };
	const struct reel_process_opts o = { .stderr_mode = REEL_PROC_PIPE };
	struct reel_process p;
	char err[128];
	struct reel_process_io io = { .err = err, .err_cap = sizeof(err) };
	sigset_t term, old;
	int st = 1;

	(void)arg;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	FCHECK_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
	FCHECK_EQ(reel_process_start(&p, sleep60_argv, NULL), 0);
	FCHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_process_kill(&p, SIGTERM), 0);
	FCHECK_EQ(reel_wait_for(5 * SEC, join_fn, &p, &st), 0);
	FCHECK(killed_by(st, SIGTERM));
	FCHECK_EQ(reel_process_close(&p), 0);
	/* SIGPIPE: reel_run ignores it; yes would otherwise complain of EPIPE */
	FCHECK_EQ(reel_process_start(&p, yes_argv, &o), 0);
	FCHECK(exited_with(reel_process_communicate(&p, &io), 0));
	FCHECK_EQ(io.err_len, 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	return 0;
}

static void test_io_proc_subprocess_signals_reset(void **state)
{
	(void)state;
	skip_without_pidfd();
	run_ok(signals_main, NULL);
}

/* reel_process_close ends a running child and reaps it, in a fiber or
 * (after the loop) outside one. */
static int close_running_main(void *arg)
{
	struct reel_process *later = arg;
	const struct reel_process_opts o = { .stdin_mode = REEL_PROC_PIPE,
					     .stdout_mode = REEL_PROC_PIPE,
					     .stderr_mode = REEL_PROC_PIPE };
	struct reel_process p;
	int fds = count_fds();

	FCHECK_EQ(reel_process_start(&p, sleep60_argv, &o), 0);
	FCHECK_EQ(reel_process_close(&p), 0);
	FCHECK(killed_by(p.status, SIGKILL));
	FCHECK(gone(p.pid));
	FCHECK(p.pidfd == -1 && p.in_fd == -1 && p.out_fd == -1 && p.err_fd == -1);
	FCHECK_EQ(count_fds(), fds);
	FCHECK_EQ(reel_process_start(later, sleep60_argv, &o), 0);
	return 0;
}

static void test_io_proc_subprocess_close_ends_child(void **state)
{
	struct reel_process p;
	int fds = count_fds();

	(void)state;
	skip_without_pidfd();
	run_ok(close_running_main, &p);
	assert_int_equal(kill(p.pid, 0), 0);   /* outlived the loop: ours to close */
	assert_int_equal(reel_process_close(&p), 0);
	assert_true(killed_by(p.status, SIGKILL));
	assert_true(gone(p.pid));
	assert_int_equal(count_fds(), fds);
}

/* ---- -EPERM outside a fiber ---------------------------------------------------------- */

static void test_io_proc_eperm_outside_fiber(void **state)
{
	struct signalfd_siginfo si;
	sigset_t set, mask;
	char *const true_argv[] = { "true", NULL };
	struct reel_process proc;
	struct reel_process_io io = { 0 };
	pid_t pid = 0;
	int p[2], r;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(reel_poll(p[1], POLLOUT), -EPERM);
	assert_int_equal(reel_cancel_fd(p[1]), -EPERM);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	assert_int_equal(reel_signal_wait(&set, &si), -EPERM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
	assert_false(sigismember(&mask, SIGUSR2));   /* and nothing was blocked */
	r = reel_process_spawn(&pid, true_argv);
	if (r >= 0) {   /* a child was started after all: reap it */
		waitpid(pid, NULL, 0);
		close(r);
	}
	assert_int_equal(r, -EPERM);
	assert_int_equal(reel_process_wait(p[0]), -EPERM);
	r = reel_process_start(&proc, true_argv, NULL);
	if (r == 0)   /* started after all: reap it */
		reel_process_close(&proc);
	assert_int_equal(r, -EPERM);
	assert_true(empty_process(&proc));
	assert_int_equal(reel_process_join(&proc), -EPERM);
	assert_int_equal(reel_process_communicate(&proc, &io), -EPERM);
	close(p[0]);
	close(p[1]);
}

/* ---- stress: random blocking operations, 100,000 cancellations ----------------------------- */

#define WORKERS 1000
#define BATCH 64
#define CANARY 0x5a

enum { OP_NOP, OP_YIELD, OP_SLEEP, OP_READ, OP_POLL_IN, OP_POLL_OUT, OP_POLL_NEVER,
       OP_READ_NEVER, OPS };

struct stress;

struct worker {
	struct stress *s;
	reel_task task;
	uint64_t seed;
	bool cancel_sent;        /* set just before reel_cancel */
	bool started;
};

struct stress {
	int data[2];             /* the writer feeds it, workers read it */
	int never[2];            /* nobody writes: reads and polls block */
	uint64_t written, wsum;  /* bytes the writer put in, and their sum */
	uint64_t got, rsum;      /* bytes the workers read, and their sum */
	long cancels;
	long ecanceled;          /* calls that ended with -ECANCELED */
	long won_after_cancel;   /* calls that completed although cancel_sent */
	long not_started;        /* cancelled before their first run */
	long etimedout;
	long ops[OPS];
	bool stop;
	struct worker w[WORKERS];
};

static const struct reel_spawn_opts worker_opts = { .stack_size = 16 * 1024, .name = "worker" };

static bool intact(const unsigned char *buf, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++)
		if (buf[i] != CANARY)
			return false;
	return true;
}

struct never_read {
	int fd;
	unsigned char buf[16];
};

static int read_never(void *arg)
{
	struct never_read *n = arg;

	return (int)reel_read(n->fd, n->buf, sizeof(n->buf));
}

static int poll_never(void *arg)
{
	return reel_poll((int)(intptr_t)arg, POLLIN);
}

/* One random operation; its result, -ECANCELED or -ETIMEDOUT, checked. */
static int one_op(struct worker *w, long *res)
{
	struct stress *s = w->s;
	unsigned char buf[16] = { 0 };
	struct never_read nr;
	unsigned op = (unsigned)(rng_next(&w->seed) % OPS);
	long r = 0;
	int st = 1, rr;

	s->ops[op]++;
	switch (op) {
	case OP_NOP:
		r = reel_nop();
		FCHECK(r == 0 || r == -ECANCELED);
		break;
	case OP_YIELD:
		r = reel_yield();
		FCHECK(r == 0 || r == -ECANCELED);
		break;
	case OP_SLEEP:
		r = reel_sleep(rng_next(&w->seed) % (2 * MS));
		FCHECK(r == 0 || r == -ECANCELED);
		break;
	case OP_READ:   /* blocks until the writer writes */
		memset(buf, CANARY, sizeof(buf));
		r = reel_read(s->data[0], buf, sizeof(buf));
		if (r > 0) {
			s->got += (uint64_t)r;
			for (long i = 0; i < r; i++)
				s->rsum += buf[i];
			FCHECK(intact(buf, (size_t)r, sizeof(buf)));
		} else {
			FCHECK_EQ(r, -ECANCELED);
			FCHECK(intact(buf, 0, sizeof(buf)));
		}
		break;
	case OP_POLL_IN:
		r = reel_poll(s->data[0], POLLIN);
		FCHECK(r == -ECANCELED || (r > 0 && (r & POLLIN)));
		break;
	case OP_POLL_OUT:
		r = reel_poll(s->data[1], POLLOUT);
		FCHECK(r == -ECANCELED || (r > 0 && (r & POLLOUT)));
		break;
	case OP_POLL_NEVER:   /* ends only by the deadline or a cancel */
		rr = reel_wait_for(rng_next(&w->seed) % (3 * MS) + 1, poll_never,
				   (void *)(intptr_t)s->never[0], &st);
		FCHECK(rr == -ETIMEDOUT || rr == -ECANCELED);
		FCHECK(st == -ETIMEDOUT || st == -ECANCELED);
		if (rr == -ETIMEDOUT)
			FCHECK_EQ(st, -ETIMEDOUT);
		r = rr;
		break;
	case OP_READ_NEVER:
		nr.fd = s->never[0];
		memset(nr.buf, CANARY, sizeof(nr.buf));
		rr = reel_wait_for(rng_next(&w->seed) % (3 * MS) + 1, read_never, &nr, &st);
		FCHECK(rr == -ETIMEDOUT || rr == -ECANCELED);
		FCHECK(st == -ETIMEDOUT || st == -ECANCELED);
		if (rr == -ETIMEDOUT)
			FCHECK_EQ(st, -ETIMEDOUT);
		FCHECK(intact(nr.buf, 0, sizeof(nr.buf)));
		r = rr;
		break;
	}
	*res = r;
	return 0;
}

static int worker(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	long r;

	w->started = true;
	for (;;) {
		FCHECK_EQ(one_op(w, &r), 0);
		if (r == -ETIMEDOUT) {
			s->etimedout++;
		} else if (r == -ECANCELED) {
			FCHECK(w->cancel_sent);   /* never without a cancel */
			s->ecanceled++;
			/* sticky: no later call parks */
			FCHECK_EQ(reel_nop(), -ECANCELED);
			FCHECK_EQ(reel_poll(s->never[0], POLLIN), -ECANCELED);
			return 0;
		} else if (w->cancel_sent) {
			s->won_after_cancel++;   /* completed anyway: its result won */
		}
	}
}

/* Feeds the data pipe with small writes, counting what went in. */
static int writer(void *arg)
{
	struct stress *s = arg;
	uint64_t seed = 7;
	unsigned char buf[64] = { 0 };
	unsigned char v = 0;

	while (!s->stop) {
		size_t n = 1 + rng_next(&seed) % sizeof(buf);
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			buf[i] = v++;
		r = reel_write(s->data[1], buf, n);
		if (r == -ECANCELED)
			break;
		FCHECK_EQ(r, (ssize_t)n);   /* <= PIPE_BUF: all or nothing */
		s->written += (uint64_t)r;
		for (ssize_t i = 0; i < r; i++)
			s->wsum += buf[i];
		if (reel_yield() == -ECANCELED)
			break;
	}
	return 0;
}

static int spawn_worker(struct stress *s, int i)
{
	struct worker *w = &s->w[i];

	*w = (struct worker){ .s = s, .seed = rng() | 1 };
	FCHECK_EQ(reel_spawn(&w->task, worker, w, &worker_opts), 0);
	return 0;
}

/* Joins a cancelled worker and puts a fresh one in its place. */
static int replace_worker(struct stress *s, int i)
{
	struct worker *w = &s->w[i];
	int st = 1;

	FCHECK_EQ(reel_join(w->task, &st), 0);
	if (w->started) {
		FCHECK_EQ(st, 0);
	} else {
		FCHECK_EQ(st, -ECANCELED);   /* never ran */
		s->not_started++;
	}
	return spawn_worker(s, i);
}

static int canceller(void *arg)
{
	struct stress *s = arg;
	long total = scaled(100000);
	int pending[BATCH], np = 0;

	while (s->cancels < total) {
		int i = (int)(rng() % WORKERS);
		struct worker *w = &s->w[i];

		if (w->cancel_sent)
			continue;
		w->cancel_sent = true;
		FCHECK_EQ(reel_cancel(w->task), 0);
		s->cancels++;
		pending[np++] = i;
		if (np == BATCH) {
			for (int k = 0; k < np; k++)
				FCHECK_EQ(replace_worker(s, pending[k]), 0);
			np = 0;
		}
		if (rng() % 8 == 0)
			FCHECK_EQ(reel_yield(), 0);
	}
	for (int k = 0; k < np; k++)
		FCHECK_EQ(replace_worker(s, pending[k]), 0);
	return 0;
}

static int stress_main(void *arg)
{
	struct stress *s = arg;
	reel_task tw, tc;
	unsigned char buf[4096] = { 0 };
	ssize_t n;
	int st;

	FCHECK_EQ(pipe2(s->data, O_CLOEXEC), 0);
	FCHECK_EQ(pipe2(s->never, O_CLOEXEC), 0);
	for (int i = 0; i < WORKERS; i++)
		FCHECK_EQ(spawn_worker(s, i), 0);
	FCHECK_EQ(reel_spawn(&tw, writer, s, NULL), 0);
	FCHECK_EQ(reel_spawn(&tc, canceller, s, NULL), 0);
	FCHECK_EQ(reel_join(tc, &st), 0);
	FCHECK_EQ(st, 0);
	FCHECK_EQ(s->cancels, scaled(100000));
	/* wind down: cancel every worker and the writer */
	s->stop = true;
	for (int i = 0; i < WORKERS; i++) {
		s->w[i].cancel_sent = true;
		FCHECK_EQ(reel_cancel(s->w[i].task), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		FCHECK_EQ(reel_join(s->w[i].task, &st), 0);
		FCHECK(st == 0 || (st == -ECANCELED && !s->w[i].started));
	}
	FCHECK_EQ(reel_cancel(tw), 0);
	FCHECK_EQ(reel_join(tw, &st), 0);
	FCHECK_EQ(st, 0);
	/* every byte written was read once, by a worker or here */
	FCHECK_EQ(fcntl(s->data[0], F_SETFL, O_NONBLOCK), 0);
	while ((n = read(s->data[0], buf, sizeof(buf))) > 0) {
		s->got += (uint64_t)n;
		for (ssize_t i = 0; i < n; i++)
			s->rsum += buf[i];
	}
	FCHECK(n < 0 && errno == EAGAIN);
	FCHECK_EQ(s->got, s->written);
	FCHECK_EQ(s->rsum, s->wsum);
	FCHECK(s->ecanceled > 0);
	for (int i = 0; i < 2; i++) {
		FCHECK_EQ(reel_close(s->data[i]), 0);
		FCHECK_EQ(reel_close(s->never[i]), 0);
	}
	return 0;
}

static void test_io_proc_stress_random_ops_with_cancels(void **state)
{
	struct stress *s = calloc(1, sizeof(*s));
	uint64_t t0 = reel_now();

	(void)state;
	assert_non_null(s);
	run_ok(stress_main, s);
	fprintf(stderr, "stress: %ld cancels in %.2f s: %ld -ECANCELED, %ld completed anyway, "
		"%ld never started, %ld -ETIMEDOUT; %llu bytes through the pipe\n",
		s->cancels, (double)(reel_now() - t0) / 1e9, s->ecanceled, s->won_after_cancel,
		s->not_started, s->etimedout, (unsigned long long)s->written);
	fprintf(stderr, "stress ops: nop %ld, yield %ld, sleep %ld, read %ld, poll-in %ld, "
		"poll-out %ld, poll-never %ld, read-never %ld\n", s->ops[OP_NOP],
		s->ops[OP_YIELD], s->ops[OP_SLEEP], s->ops[OP_READ], s->ops[OP_POLL_IN],
		s->ops[OP_POLL_OUT], s->ops[OP_POLL_NEVER], s->ops[OP_READ_NEVER]);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_proc_poll_pipe_readiness),
		cmocka_unit_test(test_io_proc_poll_cancelled_and_timed_out),
		cmocka_unit_test(test_io_proc_cancel_fd_wakes_pollers_then_close_gives_eof),
		cmocka_unit_test(test_io_proc_cancel_fd_from_interrupted_caller),
		cmocka_unit_test(test_io_proc_close2_under_poll_keeps_connection),
		cmocka_unit_test(test_io_proc_signal_wait_sigusr1),
		cmocka_unit_test(test_io_proc_signal_wait_cancelled),
		cmocka_unit_test(test_regress_signal_wait_emfile_leaves_signals_unblocked),
		cmocka_unit_test(test_io_proc_signal_wait_one_signalfd_per_loop),
		cmocka_unit_test(test_io_proc_signal_mask_restored_at_loop_close),
		cmocka_unit_test(test_io_proc_process_exit_status),
		cmocka_unit_test(test_io_proc_process_killed_by_signal),
		cmocka_unit_test(test_io_proc_process_wait_timeout_then_reap),
		cmocka_unit_test(test_io_proc_subprocess_echo_through_cat),
		cmocka_unit_test(test_io_proc_subprocess_stderr_apart_and_merged),
		cmocka_unit_test(test_io_proc_subprocess_devnull_and_fd),
		cmocka_unit_test(test_io_proc_subprocess_cwd),
		cmocka_unit_test(test_io_proc_subprocess_env),
		cmocka_unit_test(test_io_proc_subprocess_start_errors),
		cmocka_unit_test(test_io_proc_subprocess_communicate_1mib_no_deadlock),
		cmocka_unit_test(test_io_proc_subprocess_communicate_deadline_kills),
		cmocka_unit_test(test_io_proc_subprocess_cancel_kills_child),
		cmocka_unit_test(test_io_proc_subprocess_cancelled_before_join),
		cmocka_unit_test(test_io_proc_subprocess_kill_grace),
		cmocka_unit_test(test_io_proc_subprocess_signals_reset),
		cmocka_unit_test(test_io_proc_subprocess_close_ends_child),
		cmocka_unit_test(test_io_proc_eperm_outside_fiber),
		cmocka_unit_test(test_io_proc_stress_random_ops_with_cancels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
