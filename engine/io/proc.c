/*
 * proc.c - readiness of foreign descriptors, and signals.
 *
 * Both are waits on a descriptor: POLL_ADD on the caller's fd, and a poll
 * of the loop's signalfd. (Child processes, waited for through a pidfd the
 * same way, are process.c.)
 *
 * Signals (docs/io.md)
 *   One signalfd per loop (the loop's signal part, REEL__PART_SIGNAL), made
 *   by the first reel_signal_wait and closed at the loop's close: a call
 *   never needs a new descriptor once the loop has one, so a server out of
 *   descriptors still hears SIGTERM. A call makes the part (if it is the
 *   first) before it blocks anything, so a failed set-up leaves the thread's
 *   mask as it was: no signal is left blocked with nobody to read it. The
 *   signals stay blocked from then on (a later one waits, pending, for the
 *   next call instead of meeting its default action) until the loop closes;
 *   then the part unblocks those this loop blocked and the thread had not
 *   blocked before (what the caller blocked stays blocked).
 *   The descriptor's mask is the union of the sets of the fibers waiting
 *   now, kept up to date as they come and go (signalfd() on the existing
 *   descriptor), and it is only polled through the ring: a waiter takes its
 *   signal with sigtimedwait(set, 0), which dequeues from its own set only,
 *   so two fibers waiting for different signals never take each other's.
 *   Rejected: read(2) of the signalfd with its mask narrowed to the reader's
 *   set for the read - a wake-up of another waiter's poll checked in that
 *   window would see nothing ready and be lost; a second descriptor per
 *   loop just for reading. The cost: a waiter woken by a signal of another
 *   waiter polls again (until that one has run), and siginfo_t is copied
 *   into a struct signalfd_siginfo field by field, as the kernel's signalfd
 *   does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <reel_io.h>

#include "../reelimpl.h"

int reel_poll(int fd, short events)
{
	struct reel__io io;
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return -EBADF;
	sqe = reel__io_begin(&io);
	if (!sqe)
		return io.err;
	io_uring_prep_poll_add(sqe, fd, (unsigned)(unsigned short)events);
	return reel__io_end(&io, sqe);
}

/* The loop's signal part. */
struct reel__signals {
	struct reel__loop_part part;  /* first: the loop's handle on it */
	int sfd;                      /* signalfd, nonblocking; mask: the waiters' union */
	sigset_t added;               /* blocked by this loop, not by the thread before */
	struct reel__list waiters;    /* struct sig_waiter, in the waiting fibers' frames */
};

struct sig_waiter {
	struct reel__list node;       /* on reel__signals.waiters */
	const sigset_t *set;
};

/* At the loop's close (no fiber left, so no waiter): the descriptor goes,
 * and what this loop blocked is unblocked; a signal of those still pending
 * then meets its disposition, as it would have without the loop. */
static void signals_term(struct reel__loop *l, struct reel__loop_part *part)
{
	struct reel__signals *s = reel__container_of(part, struct reel__signals, part);

	(void)l;
	close(s->sfd);
	pthread_sigmask(SIG_UNBLOCK, &s->added, NULL);
	free(s);
}

/* This loop's signal part, made (with its signalfd, for @set) on first use. */
static int open_signals(struct reel__loop *l, const sigset_t *set, struct reel__signals **out)
{
	struct reel__signals *s = (struct reel__signals *)reel__loop_part(l, REEL__PART_SIGNAL);

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->sfd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
		if (s->sfd < 0) {
			int err = -errno;

			free(s);
			return err;
		}
		sigemptyset(&s->added);
		reel__list_init(&s->waiters);
		s->part.term = signals_term;
		reel__loop_set_part(l, REEL__PART_SIGNAL, &s->part);
	}
	*out = s;
	return 0;
}

/* The descriptor reads (and its poll sees) what someone waits for now. */
static int update_mask(struct reel__signals *s)
{
	struct reel__list *pos;
	sigset_t all;

	sigemptyset(&all);
	reel__list_for_each(pos, &s->waiters) {
		const struct sig_waiter *w = reel__container_of(pos, struct sig_waiter, node);

		sigorset(&all, &all, w->set);
	}
	return signalfd(s->sfd, &all, 0) < 0 ? -errno : 0;
}

/* Block @set; remember what was not blocked before, for the loop's close.
 * On failure the mask is as it was. */
static int block(struct reel__signals *s, const sigset_t *set)
{
	sigset_t before;

	if (pthread_sigmask(SIG_BLOCK, set, &before) != 0)
		return -EINVAL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1 && sigismember(&before, sig) == 0)
			sigaddset(&s->added, sig);
	return 0;
}

/* siginfo_t as signalfd(2) would have given it (the kernel's
 * signalfd_copyinfo, by the layout of the signal's details). */
static void to_signalfd_info(const siginfo_t *si, struct signalfd_siginfo *o)
{
	int sig = si->si_signo, code = si->si_code;

	memset(o, 0, sizeof(*o));
	o->ssi_signo = (uint32_t)sig;
	o->ssi_errno = si->si_errno;
	o->ssi_code = code;
	if (code == SI_TIMER) {
		o->ssi_tid = (uint32_t)si->si_timerid;
		o->ssi_overrun = (uint32_t)si->si_overrun;
		o->ssi_int = si->si_int;
		o->ssi_ptr = (uint64_t)(uintptr_t)si->si_ptr;
	} else if (code == SI_SIGIO || (code > 0 && sig == SIGIO)) {
		o->ssi_band = (uint32_t)si->si_band;
		o->ssi_fd = si->si_fd;
	} else if (code > 0 && sig == SIGCHLD) {
		o->ssi_pid = (uint32_t)si->si_pid;
		o->ssi_uid = (uint32_t)si->si_uid;
		o->ssi_status = si->si_status;
		o->ssi_utime = (uint64_t)si->si_utime;
		o->ssi_stime = (uint64_t)si->si_stime;
	} else if (code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
				sig == SIGFPE || sig == SIGTRAP)) {
		o->ssi_addr = (uint64_t)(uintptr_t)si->si_addr;
	} else {   /* kill, sigqueue, tgkill, mq_notify, ... */
		o->ssi_pid = (uint32_t)si->si_pid;
		o->ssi_uid = (uint32_t)si->si_uid;
		o->ssi_int = si->si_int;
		o->ssi_ptr = (uint64_t)(uintptr_t)si->si_ptr;
	}
}

/* Take a signal of @set, or park on the loop's signalfd until one may be
 * there: taken from @set only, never one another waiter waits for. */
static int take_signal(struct reel__signals *s, const sigset_t *set, struct signalfd_siginfo *info)
{
	static const struct timespec now = { 0, 0 };
	siginfo_t si;
	int r;

	for (;;) {
		r = reel__interrupt_pending(reel__self_fiber());
		if (r)
			return r;
		r = sigtimedwait(set, &si, &now);
		if (r > 0) {
			to_signalfd_info(&si, info);
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = reel_poll(s->sfd, POLLIN);
		if (r < 0)
			return r;
	}
}

int reel_signal_wait(const sigset_t *set, struct signalfd_siginfo *info)
{
	struct reel__loop *l = reel__running_loop();
	struct signalfd_siginfo si;
	struct reel__signals *s = NULL;
	struct sig_waiter w = { .set = set };
	int r;

	if (!set)
		return -EINVAL;
	if (!l)
		return -EPERM;
	/* Set-up first, nothing blocked yet: a failure leaves the mask alone. */
	r = open_signals(l, set, &s);
	if (r)
		return r;
	reel__list_add_tail(&w.node, &s->waiters);
	r = update_mask(s);
	if (!r)
		r = block(s, set);
	if (!r)
		r = take_signal(s, set, &si);
	reel__list_del(&w.node);
	update_mask(s);   /* only a change to a descriptor it has: cannot fail */
	if (r > 0 && info)
		*info = si;
	return r;
}
