/*
 * overflow.c - a fiber that overflows its stack dies naming itself; and the
 * process-wide signal set-up reel_run does once (SIGSEGV, SIGPIPE).
 *
 * The fault lands in the guard below the stack (stack.h). The SIGSEGV handler
 * runs on an alternate signal stack (the fiber's own is exhausted); when
 * the address is in the running fiber's guard it writes one line -
 * which fiber, how big its stack was - restores the default action and
 * returns, so the faulting instruction faults again and the process dies
 * with SIGSEGV as it would have without reel. Any other fault goes to the
 * handler that was installed before ours (ASan's, for one).
 *
 * Only async-signal-safe calls are made here: write(2), sigaction(2); the
 * number formatting is done by hand.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

enum { ALTSTACK_SIZE = 64 * 1024, NAME_MAX_SHOWN = 64 };

static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static size_t put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

/* At most NAME_MAX_SHOWN bytes of a fiber name: the message buffer is
 * fixed and the name is the user's. */
static size_t put_name(char *p, const char *s)
{
	size_t n = strnlen(s, NAME_MAX_SHOWN);

	memcpy(p, s, n);
	return n;
}

static size_t put_num(char *p, unsigned long long v, unsigned base)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static void say_overflow(const struct reel__fiber *f, const void *addr)
{
	char msg[256];
	size_t n = 0;

	n += put_str(msg + n, "reel: fiber '");
	n += put_name(msg + n, f->name ? f->name : "unnamed");
	n += put_str(msg + n, "' (task 0x");
	n += put_num(msg + n, f->id, 16);
	n += put_str(msg + n, ") overflowed its ");
	n += put_num(msg + n, f->stack.size, 10);
	n += put_str(msg + n, "-byte stack (fault at 0x");
	n += put_num(msg + n, (uintptr_t)addr, 16);
	n += put_str(msg + n, "); raise reel_spawn_opts.stack_size\n");
	(void)!write(STDERR_FILENO, msg, n);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct reel__loop *l = reel__loop_cur;
	const struct reel__fiber *f = l ? l->current : NULL;
	const char *addr = si->si_addr;

	if (si->si_code > 0 && f && addr < f->stack.lo &&
	    addr >= f->stack.lo - reel__stack_guard(f->stack.size)) {
		say_overflow(f, addr);
		signal(SIGSEGV, SIG_DFL);
		return;   /* refault, now fatal */
	}
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* The default action: a real fault repeats when we return, but a
	 * SIGSEGV sent by kill() or raise() (si_code <= 0) does not - send it
	 * again; it is blocked in here and arrives as soon as we return. */
	signal(SIGSEGV, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &previous);
	/* A peer that went away must be -EPIPE for the writing fiber, never a
	 * SIGPIPE that kills the process: sends carry MSG_NOSIGNAL, but a plain
	 * write to a socket cannot. Ignore SIGPIPE unless the program chose a
	 * disposition of its own (Go's runtime does the same). */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

/* Give this thread an alternate signal stack unless it has one already;
 * *@altstack is what reel__overflow_thread_term must release. */
int reel__overflow_thread_init(void **altstack)
{
	stack_t ss, old;

	pthread_once(&install_once, install);
	*altstack = NULL;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return 0;
	ss.ss_sp = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -1;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(ss.ss_sp, ALTSTACK_SIZE);
		return -1;
	}
	*altstack = ss.ss_sp;
	return 0;
}

void reel__overflow_thread_term(void *altstack)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!altstack)
		return;
	sigaltstack(&ss, NULL);
	munmap(altstack, ALTSTACK_SIZE);
}
