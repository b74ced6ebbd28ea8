/*
 * stall.c - the stall detector (asyncio debug's slow-callback warning,
 * Seastar's blocked-reactor report): a fiber that holds its loop longer
 * than a threshold without parking is reported once per stall, with its
 * name, id, how long, and its backtrace.
 *
 * How. A POSIX timer per loop thread (SIGEV_THREAD_ID) sends SIGSTALL_SIG
 * to the loop's own thread every threshold / 2. The handler, running on
 * that thread between two instructions of whatever it was doing, compares
 * the loop's switch counter with the one it saw last time: unchanged while
 * a fiber runs (not while the loop waits in the kernel or handles
 * completions) for two ticks or more means one fiber has held the loop at
 * least a threshold. The fast path pays nothing: the counter is the one
 * reel_loop_stats already keeps; no clock is read per switch.
 *
 * Safety. The report is made inside the signal handler, so it uses only
 * async-signal-safe means: write(2), its own number formatting, and a
 * frame-pointer walk (reel is built with -fno-omit-frame-pointer) from the
 * interrupted registers, bounded to the running fiber's stack. Symbols
 * would need dladdr, which takes the loader's lock: instead each address
 * is printed as "module+offset" from a table of the process's executable
 * mappings read when the detector starts, ready for `addr2line -f -e`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <reel_trace.h>

#include "internal.h"

#define MAX_FRAMES 32
#define MAX_MAPS 64

struct mapping {
	uintptr_t lo, hi, offset;
	char path[256];
};

static struct mapping maps[MAX_MAPS];
static int nmaps;
static int stall_sig;

/* Per loop thread. */
static __thread timer_t stall_timer;
static __thread bool armed;
static __thread uint64_t threshold_ns, last_switches, reported_switches;
static __thread unsigned quiet_ticks;

/* ---- async-signal-safe output ------------------------------------------------------ */

struct out {
	char buf[2048];
	size_t len;
};

static void put(struct out *o, const char *s)
{
	while (*s && o->len < sizeof(o->buf))
		o->buf[o->len++] = *s++;
}

static void put_num(struct out *o, uint64_t v, unsigned base)
{
	char tmp[24];
	int i = (int)sizeof(tmp) - 1;

	tmp[i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && i > 0);
	if (base == 16)
		put(o, "0x");
	put(o, tmp + i);
}

static void put_addr(struct out *o, uintptr_t pc)
{
	for (int i = 0; i < nmaps; i++) {
		if (pc >= maps[i].lo && pc < maps[i].hi) {
			put(o, maps[i].path);
			put(o, "+");
			put_num(o, pc - maps[i].lo + maps[i].offset, 16);
			return;
		}
	}
	put_num(o, pc, 16);
}

/* ---- the report ------------------------------------------------------------------------ */

static bool on_stack(const struct reel__fiber *f, uintptr_t p)
{
	uintptr_t lo = (uintptr_t)f->stack.lo;

	return lo && p >= lo && p + 16 <= lo + f->stack.size && (p & 7) == 0;
}

static void put_backtrace(struct out *o, const struct reel__fiber *f, const ucontext_t *uc)
{
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];

	for (int n = 0; n < MAX_FRAMES && pc; n++) {
		put(o, "  #");
		put_num(o, (uint64_t)n, 10);
		put(o, " ");
		put_addr(o, pc);
		put(o, "\n");
		if (!on_stack(f, fp))
			break;   /* the frame chain left the fiber's stack: stop */
		pc = ((const uintptr_t *)fp)[1];
		if (((const uintptr_t *)fp)[0] <= fp)
			break;
		fp = ((const uintptr_t *)fp)[0];
	}
}

static void report(struct reel__loop *l, const struct reel__fiber *f, const ucontext_t *uc,
		   unsigned ticks)
{
	struct out o = { .len = 0 };
	int saved = errno;

	put(&o, "reel: stall: task ");
	put_num(&o, f->id, 16);
	put(&o, " (");
	put(&o, f->name ? f->name : "unnamed");
	put(&o, ") has held its loop for at least ");
	put_num(&o, (uint64_t)ticks * (threshold_ns / 2) / 1000000, 10);
	put(&o, " ms without parking (threshold ");
	put_num(&o, threshold_ns / 1000000, 10);
	put(&o, " ms); where it runs (addr2line -f -e MODULE OFFSET):\n");
	put_backtrace(&o, f, uc);
	if (write(STDERR_FILENO, o.buf, o.len) < 0)
		o.len = 0;   /* nothing better to do in a handler */
	l->stats.stalls++;
	errno = saved;
}

static void on_tick(int sig, siginfo_t *si, void *ctx)
{
	struct reel__loop *l = reel__loop_cur;
	uint64_t sw;

	(void)sig;
	(void)si;
	if (!l || !armed)
		return;
	sw = l->stats.switches;
	if (sw != last_switches || l->in_pass || !l->current) {
		last_switches = sw;
		quiet_ticks = 0;
		return;
	}
	quiet_ticks++;
	if (quiet_ticks >= 2 && reported_switches != sw + 1) {
		reported_switches = sw + 1;   /* once per stall */
		report(l, l->current, ctx, quiet_ticks);
	}
}

/* ---- set-up --------------------------------------------------------------------------------- */

/* The executable mappings, for module+offset: read once, outside the
 * handler. */
static void read_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	nmaps = 0;
	if (!f)
		return;
	while (nmaps < MAX_MAPS && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		char perms[8], path[256] = "";

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %255s", &lo, &hi, perms, &off, path) < 4 ||
		    perms[2] != 'x')
			continue;
		maps[nmaps] = (struct mapping){ lo, hi, off, "" };
		snprintf(maps[nmaps].path, sizeof(maps[nmaps].path), "%s", *path ? path : "?");
		nmaps++;
	}
	fclose(f);
}

static int install_handler(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	stall_sig = SIGRTMAX - 7;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(stall_sig, &sa, NULL) < 0)
		return -errno;
	done = true;
	return 0;
}

static void disarm(void)
{
	if (armed) {
		armed = false;
		timer_delete(stall_timer);
	}
}

static int arm(uint64_t ns)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID };
	struct itimerspec its;
	uint64_t period = ns / 2;
	int err = install_handler();

	if (err)
		return err;
	read_maps();
	ev.sigev_signo = stall_sig;
	ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &ev, &stall_timer) < 0)
		return -errno;
	its.it_interval.tv_sec = (time_t)(period / 1000000000u);
	its.it_interval.tv_nsec = (long)(period % 1000000000u);
	its.it_value = its.it_interval;
	threshold_ns = ns;
	quiet_ticks = 0;
	reported_switches = 0;
	last_switches = reel__loop_cur ? reel__loop_cur->stats.switches : 0;
	armed = true;
	if (timer_settime(stall_timer, 0, &its, NULL) < 0) {
		err = -errno;
		disarm();
	}
	return err;
}

int reel_stall_detect(uint64_t threshold)
{
	if (!reel__loop_cur)
		return -EPERM;
	if (threshold && threshold < 2000000)
		return -EINVAL;   /* below 2 ms the ticks would be the load */
	disarm();
	return threshold ? arm(threshold) : 0;
}

void reel__stall_loop_begin(void)
{
	const char *ms = getenv("REEL_STALL_MS");
	char *end;
	unsigned long v;

	if (!ms || !*ms)
		return;
	v = strtoul(ms, &end, 10);
	if (*end || v < 2 || arm((uint64_t)v * 1000000u) < 0)
		fprintf(stderr, "reel: REEL_STALL_MS=%s: not a usable threshold (>= 2 ms); "
			"the stall detector is off\n", ms);
}

void reel__stall_loop_end(void)
{
	disarm();
}
