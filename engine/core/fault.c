/*
 * fault.c - fault injection for debug builds: REEL_FAULTS.
 *
 * A real io_uring_enter seldom says EAGAIN, a socket seldom reads short on
 * loopback, mmap seldom fails: the paths that handle them are written but
 * rarely run. REEL_FAULTS makes them run, on a reproducible schedule:
 *
 *	REEL_FAULTS=seed=42,submit_eagain=50,short_rw=20
 *
 * Each point takes N, "one in N" (1: every time, 0: never); the draws come
 * from one xorshift64* generator per thread, restarted from the seed at each
 * loop's start (reel_run), so a run's faults depend only on the seed and on
 * the run's own sequence of decisions. The points, and where they hit
 * (docs/core.md, "Fault injection", says what each proves):
 *   submit_eagain, submit_ebusy, submit_eintr - ring.c, submit_all: the
 *       submit is not made and answers the error (nothing was consumed).
 *   short_rw - file.c/net.c: a plain read/write/recv/send on a byte stream
 *       asks the kernel for fewer bytes (the SQE's length, never the result).
 *   enobufs - bufring.c: a receiver about to arm behaves as if its last
 *       multishot had ended with -ENOBUFS (the pool's dry path).
 *   cq_overflow - ring.c: the ring is made with the smallest size and a reap
 *       takes one CQE only, so the kernel's overflow list fills and is used.
 *   stack_enomem, fiber_enomem, bufpool_enomem - stack.c, fiber.c,
 *       bufring.c: the allocation answers -ENOMEM.
 *
 * Compiled only with the CMake option REEL_FAULT_INJECTION (ON for Debug
 * builds); without it reelimpl.h and internal.h make every hook an inline
 * no-op, and this file is not built. The schedule is parsed once per
 * process; a malformed value makes reel_run fail with -EINVAL and a message
 * naming the bad part, rather than run silently without the faults asked
 * for. Calls nothing else in the engine (no call circle: check_layers.py).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "internal.h"

static const char *const names[REEL__FAULT_POINTS] = {
	[REEL__FAULT_SUBMIT_EAGAIN] = "submit_eagain",
	[REEL__FAULT_SUBMIT_EBUSY] = "submit_ebusy",
	[REEL__FAULT_SUBMIT_EINTR] = "submit_eintr",
	[REEL__FAULT_SHORT_RW] = "short_rw",
	[REEL__FAULT_ENOBUFS] = "enobufs",
	[REEL__FAULT_CQ_OVERFLOW] = "cq_overflow",
	[REEL__FAULT_STACK_ENOMEM] = "stack_enomem",
	[REEL__FAULT_FIBER_ENOMEM] = "fiber_enomem",
	[REEL__FAULT_BUFPOOL_ENOMEM] = "bufpool_enomem",
};

/* The schedule: written at parse time only (once, or by the test hook). */
static struct schedule {
	unsigned long one_in[REEL__FAULT_POINTS];
	uint64_t seed;
	bool any;
} sched;
static char parse_error[300];
static pthread_once_t parsed = PTHREAD_ONCE_INIT;

static _Thread_local uint64_t state;
static _Thread_local unsigned long injected[REEL__FAULT_POINTS];

static int find_point(const char *key, size_t len)
{
	for (int i = 0; i < REEL__FAULT_POINTS; i++)
		if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
			return i;
	return -1;
}

static int bad(const char *spec, const char *part, size_t len, const char *what)
{
	snprintf(parse_error, sizeof(parse_error),
		 "reel: REEL_FAULTS=\"%s\": %s in \"%.*s\"; expected name=N,... with N "
		 "\"one in N\" (0 off) and names seed, submit_eagain, submit_ebusy, "
		 "submit_eintr, short_rw, enobufs, cq_overflow, stack_enomem, "
		 "fiber_enomem, bufpool_enomem", spec, what, (int)len, part);
	return -EINVAL;
}

/* One name=N item of @spec, [@part, @part + @len). */
static int parse_item(struct schedule *s, const char *spec, const char *part, size_t len)
{
	const char *eq = memchr(part, '=', len);
	unsigned long long v;
	char num[24], *end;
	size_t nlen;
	int point;

	if (!eq)
		return bad(spec, part, len, "no '='");
	nlen = len - (size_t)(eq + 1 - part);
	if (nlen == 0 || nlen >= sizeof(num) || eq[1] < '0' || eq[1] > '9')
		return bad(spec, part, len, "not a number");
	memcpy(num, eq + 1, nlen);
	num[nlen] = '\0';
	errno = 0;
	v = strtoull(num, &end, 10);
	if (*end || errno)
		return bad(spec, part, len, "not a number");
	if ((size_t)(eq - part) == 4 && memcmp(part, "seed", 4) == 0) {
		s->seed = v;
		return 0;
	}
	point = find_point(part, (size_t)(eq - part));
	if (point < 0)
		return bad(spec, part, len, "unknown name");
	s->one_in[point] = (unsigned long)v;
	s->any |= v != 0;
	return 0;
}

/* Parse @spec (NULL or "": no faults) into sched; on error sched is off. */
static int parse(const char *spec)
{
	struct schedule s = { .seed = 1 };
	const char *p = spec;

	parse_error[0] = '\0';
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int err = len ? parse_item(&s, spec, p, len) : 0;

		if (err) {
			memset(&sched, 0, sizeof(sched));
			return err;
		}
		p = comma ? comma + 1 : NULL;
	}
	sched = s;
	return 0;
}

static void parse_env(void)
{
	parse(getenv("REEL_FAULTS"));
}

static void restart(void)
{
	/* xorshift64* must never hold 0. */
	state = sched.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!state)
		state = 1;
}

int reel__fault_loop_init(char *why, size_t why_len)
{
	pthread_once(&parsed, parse_env);
	if (parse_error[0]) {
		snprintf(why, why_len, "%s", parse_error);
		return -EINVAL;
	}
	restart();
	return 0;
}

int reel__faults_set(const char *spec)
{
	int err;

	pthread_once(&parsed, parse_env);
	err = parse(spec ? spec : getenv("REEL_FAULTS"));
	if (err)
		fprintf(stderr, "%s\n", parse_error);
	memset(injected, 0, sizeof(injected));
	restart();
	return err;
}

unsigned long reel__faults_injected(enum reel__fault_point p)
{
	return (unsigned)p < REEL__FAULT_POINTS ? injected[p] : 0;
}

bool reel__fault_enabled(enum reel__fault_point p)
{
	pthread_once(&parsed, parse_env);
	return sched.one_in[p] != 0;
}

static uint64_t draw(void)
{
	if (!state)
		restart();   /* a thread that runs no loop */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545F4914F6CDD1Dull;
}

bool reel__fault(enum reel__fault_point p)
{
	unsigned long n;

	pthread_once(&parsed, parse_env);
	n = sched.one_in[p];
	if (reel_likely(!n))
		return false;
	if (n > 1 && (draw() >> 11) % n != 0)
		return false;
	injected[p]++;
	return true;
}

/* Is @fd a byte stream, where a short transfer is a normal outcome? Not a
 * datagram socket (a shorter buffer would truncate the message), nor an
 * eventfd or timerfd (which need their 8 bytes whole). */
static bool byte_stream(int fd)
{
	struct stat st;
	int type;
	socklen_t len = sizeof(type);

	if (fstat(fd, &st) != 0)
		return false;
	if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
		return true;
	return S_ISSOCK(st.st_mode) &&
	       getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

size_t reel__fault_short_len(int fd, size_t len)
{
	if (len < 2 || !reel__fault(REEL__FAULT_SHORT_RW) || !byte_stream(fd))
		return len;
	return 1 + (size_t)((draw() >> 11) % (len - 1));
}
