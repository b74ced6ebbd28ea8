/*
 * probe.c - what this machine lets reel do, said in words.
 *
 * reel_capabilities sets up a ring the way reel_run would and reports what
 * it got: set-up flags, kernel features, supported opcodes, the fallbacks
 * taken and why, stack guards, and the limits that make io_uring fail
 * (RLIMIT_MEMLOCK, sysctl kernel.io_uring_disabled, seccomp). When reel_run
 * cannot set up its ring, reel__explain_setup_error turns the errno into the
 * same kind of sentence; reel__enter_error_hint does it for an
 * io_uring_enter that fails once the ring exists. The report makes one real
 * enter (a NOP) too: a seccomp filter may allow io_uring_setup and refuse
 * io_uring_enter, and a ring that cannot be entered is no ring at all.
 *
 * The REEL_DISABLE environment variable (comma list: single_issuer,
 * defer_taskrun, coop_taskrun, ext_arg, guard_install, buf_ring,
 * stack_commit, msg_ring) turns optional paths off without a rebuild, as libuv's
 * UV_USE_IO_URING does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "internal.h"

static const struct {
	const char *name;
	unsigned bit;
} disable_names[] = {
	{ "single_issuer", REEL_NO_SINGLE_ISSUER },
	{ "defer_taskrun", REEL_NO_DEFER_TASKRUN },
	{ "coop_taskrun", REEL_NO_COOP_TASKRUN },
	{ "ext_arg", REEL_NO_EXT_ARG },
	{ "guard_install", REEL_NO_GUARD_INSTALL },
	{ "buf_ring", REEL_NO_BUF_RING },
	{ "stack_commit", REEL_NO_STACK_COMMIT },
	{ "msg_ring", REEL_NO_MSG_RING },
};

unsigned reel__env_disable(void)
{
	const char *env = getenv("REEL_DISABLE");
	unsigned bits = 0;

	if (!env)
		return 0;
	for (size_t i = 0; i < sizeof(disable_names) / sizeof(disable_names[0]); i++) {
		const char *hit = strstr(env, disable_names[i].name);
		size_t len = strlen(disable_names[i].name);

		if (hit && (hit == env || hit[-1] == ',') && (hit[len] == '\0' || hit[len] == ','))
			bits |= disable_names[i].bit;
	}
	return bits;
}

/* Read a small integer from a /proc file; -1 when unreadable. */
static long read_proc_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The "Seccomp:" mode of this process: 0 none, 1 strict, 2 filter. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int mode = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

static unsigned long long memlock_kib(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return ~0ull;
	return (unsigned long long)rl.rlim_cur / 1024;
}

/* Does this process have CAP_IPC_LOCK (which exempts it from the charge)?
 * 1 yes, 0 no, -1 unknown. */
static int has_ipc_lock(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long caps;
	char line[256];
	int yes = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			yes = (caps >> 14) & 1;   /* CAP_IPC_LOCK is 14 */
			break;
		}
	fclose(f);
	return yes;
}

const char *reel__enter_error_hint(int err)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return seccomp_mode() == 2 ? "a seccomp filter refuses io_uring_enter"
					   : "a seccomp filter or security policy?";
	case ENOSYS:
		return "a seccomp filter hides io_uring_enter";
	case EFAULT:
		return "the ring's shared memory or an argument is not mapped: "
		       "memory corruption?";
	case EBADF:
	case EOPNOTSUPP:
	case ENXIO:
		return "the ring's file descriptor was closed or replaced: a stray "
		       "close or dup2 on it?";
	case EEXIST:
		return "a single-issuer ring entered from another thread or a forked "
		       "child";
	case ENOMEM:
		return "the kernel is out of memory";
	default:
		return "an error io_uring_enter never returns in normal operation";
	}
}

void reel__explain_setup_error(int err, unsigned entries, char *why, size_t len)
{
	long disabled = read_proc_long("/proc/sys/kernel/io_uring_disabled");
	int seccomp = seccomp_mode();

	switch (-err) {
	case EPERM:
		if (disabled == 2)
			snprintf(why, len, "reel: io_uring_setup: %s: io_uring is disabled "
				 "on this machine (sysctl kernel.io_uring_disabled=2)", strerror(-err));
		else if (disabled == 1)
			snprintf(why, len, "reel: io_uring_setup: %s: io_uring is limited to "
				 "the group in sysctl kernel.io_uring_group "
				 "(kernel.io_uring_disabled=1) and this process is not in it",
				 strerror(-err));
		else if (seccomp == 2)
			snprintf(why, len, "reel: io_uring_setup: %s: a seccomp filter blocks "
				 "io_uring (container runtimes' default profiles do)", strerror(-err));
		else
			snprintf(why, len, "reel: io_uring_setup: %s: not permitted (an LSM "
				 "policy may deny io_uring)", strerror(-err));
		break;
	case ENOSYS:
		snprintf(why, len, "reel: io_uring_setup: %s: %s", strerror(-err),
			 seccomp == 2 ? "a seccomp filter hides io_uring"
				      : "this kernel was built without io_uring");
		break;
	case ENOMEM:
		snprintf(why, len, "reel: io_uring_setup: %s: could not allocate a ring of "
			 "%u entries (nor a smaller one, retried with back-off). The kernel "
			 "may charge ring memory against RLIMIT_MEMLOCK, per user, for a "
			 "process without CAP_IPC_LOCK (kernels before 5.12 and some "
			 "later ones do), and rings closed a moment ago count until the "
			 "kernel frees them; RLIMIT_MEMLOCK is %llu KiB now: raise it "
			 "(ulimit -l, LimitMEMLOCK= in a systemd unit, --ulimit memlock "
			 "for a container) or ask for fewer ring_entries", strerror(-err),
			 entries, memlock_kib());
		break;
	case EMFILE:
	case ENFILE:
		snprintf(why, len, "reel: io_uring_setup: %s: no file descriptor left for "
			 "the ring", strerror(-err));
		break;
	case EINVAL:
		snprintf(why, len, "reel: io_uring_setup: %s: %u ring entries refused "
			 "(1 to 32768)", strerror(-err), entries);
		break;
	default:
		snprintf(why, len, "reel: io_uring_setup: %s", strerror(-err));
	}
}

/* Opcode names in the kernel's order; newer than liburing 2.3's header too. */
static const char *const op_names[] = {
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD",
	"POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT",
	"TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT",
	"FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE",
	"FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL", "SPLICE",
	"PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
	"UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
	"SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE",
	"FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN",
};

struct out {
	char *buf;
	size_t len, used;
};

static void say(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->used < o->len ? o->buf + o->used : NULL,
		      o->used < o->len ? o->len - o->used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

static void report_flags(struct out *o, unsigned flags)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG" },
		{ IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
		{ IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
	};

	say(o, "setup flags:   ");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			say(o, " %s", names[i].name);
	say(o, "\n");
}

static void report_features(struct out *o, unsigned f)
{
	static const char *const names[] = {
		"SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS",
		"CUR_PERSONALITY", "FAST_POLL", "POLL_32BITS", "SQPOLL_NONFIXED",
		"EXT_ARG", "NATIVE_WORKERS", "RSRC_TAGS", "CQE_SKIP", "LINKED_FILE",
		"REG_REG_RING", "RECVSEND_BUNDLE", "MIN_TIMEOUT", "RW_ATTR",
		"NO_IOWAIT",
	};

	say(o, "features:      ");
	for (unsigned i = 0; i < 32; i++) {
		if (!(f & (1u << i)))
			continue;
		if (i < sizeof(names) / sizeof(names[0]))
			say(o, " %s", names[i]);
		else
			say(o, " bit%u", i);
	}
	say(o, "\n");
}

/* Why a registration failed, in words: a refusal is named as such. */
static const char *register_failure(int err, const char *old_kernel)
{
	static __thread char line[160];

	if (err == -EPERM || err == -EACCES) {
		snprintf(line, sizeof(line), "io_uring_register refused: %s (a seccomp "
			 "filter or security policy?)", strerror(-err));
		return line;
	}
	return old_kernel;
}

static void report_ops(struct out *o, struct io_uring *ring)
{
	enum { NOPS = 256 };
	struct io_uring_probe *p = calloc(1, sizeof(*p) + NOPS * sizeof(p->ops[0]));
	int err = p ? io_uring_register_probe(ring, p, NOPS) : -ENOMEM;
	unsigned missing = 0, supported = 0;

	if (err) {
		say(o, "opcodes:        probe failed (%s)\n",
		    register_failure(err, "kernel before 5.6?"));
		free(p);
		return;
	}
	for (unsigned i = 0; i <= p->last_op; i++)
		supported += io_uring_opcode_supported(p, (int)i) ? 1 : 0;
	say(o, "opcodes:        %u supported, last %u;", supported, (unsigned)p->last_op);
	for (unsigned i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (!io_uring_opcode_supported(p, (int)i)) {
			say(o, "%s %s", missing++ ? "," : " missing:", op_names[i]);
		}
	if (!missing)
		say(o, " every opcode reel knows is supported");
	say(o, "\n");
	free(p);
}

/* Provided buffer rings (5.19+): register a one-entry ring and drop it. */
static void report_buf_ring(struct out *o, struct io_uring *ring, unsigned disable)
{
	struct io_uring_buf_reg reg = { 0 };
	void *mem;
	int err;

	if (disable & REEL_NO_BUF_RING) {
		say(o, "buffer rings:   off (disabled by request): receivers use recv\n");
		return;
	}
	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return;
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = 1;
	err = io_uring_register_buf_ring(ring, &reg, 0);
	if (err == 0)
		io_uring_unregister_buf_ring(ring, 0);
	munmap(mem, 4096);
	if (err == 0)
		say(o, "buffer rings:   yes: receivers use multishot recv into shared pools\n");
	else
		say(o, "buffer rings:   no (%s): receivers use one recv per call\n",
		    register_failure(err, "needs 5.19"));
}

/* How a loop of a runtime is woken by its peers (inbox.c); plain threads
 * always write its eventfd. */
static void report_wake_path(struct out *o, const struct reel__ring *r, unsigned disable)
{
	if (disable & REEL_NO_MSG_RING)
		say(o, "loop wake-ups:  eventfd (MSG_RING disabled by request)\n");
	else if (r->caps.ops & (1ull << IORING_OP_MSG_RING))
		say(o, "loop wake-ups:  MSG_RING between loops of a runtime%s; eventfd from "
		    "other threads\n", (r->caps.features & IORING_FEAT_CQE_SKIP)
		    ? " (no CQE back on success)" : "");
	else
		say(o, "loop wake-ups:  eventfd (the opcode probe lists no MSG_RING: a "
		    "kernel before 5.18, or the probe was refused)\n");
}

static void report_limits(struct out *o)
{
	long disabled = read_proc_long("/proc/sys/kernel/io_uring_disabled");
	unsigned long long kib = memlock_kib();
	int seccomp = seccomp_mode();

	if (kib == ~0ull)
		say(o, "RLIMIT_MEMLOCK: unlimited\n");
	else
		say(o, "RLIMIT_MEMLOCK: %llu KiB (%s)\n", kib, has_ipc_lock() == 1
		    ? "not charged for rings: this process has CAP_IPC_LOCK"
		    : "some kernels charge ring memory to it, per user, without "
		      "CAP_IPC_LOCK");
	say(o, "io_uring sysctl: kernel.io_uring_disabled=%ld (%s)\n", disabled,
	    disabled == 0 ? "enabled" : disabled == 1 ? "limited to kernel.io_uring_group"
	    : disabled == 2 ? "disabled" : "not present: kernel before 6.6");
	say(o, "seccomp:        mode %d (%s)\n", seccomp,
	    seccomp == 0 ? "none" : seccomp == 2 ? "filter: may block io_uring" : "unknown");
	say(o, "vm.max_map_count: %ld\n", read_proc_long("/proc/sys/vm/max_map_count"));
}

int reel_capabilities(char *buf, size_t len, const struct reel_run_opts *opts)
{
	unsigned disable = (opts ? opts->disable : 0) | reel__env_disable();
	struct out o = { buf, len, 0 };
	struct reel__ring r;
	struct utsname u;
	char why[512];
	int err;

	if (!buf && len)
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	uname(&u);
	say(&o, "reel %d.%d capability report\n", REEL_VERSION_MAJOR, REEL_VERSION_MINOR);
	say(&o, "kernel:         %s %s %s\n", u.sysname, u.release, u.machine);
	say(&o, "liburing:       %s (headers at build time)\n", REEL_LIBURING_VERSION);
	err = reel__ring_init(&r, opts ? opts->ring_entries : 0, disable, why, sizeof(why));
	if (err) {
		say(&o, "io_uring:       UNAVAILABLE - %s\n", why);
	} else if ((err = reel__ring_check_enter(&r)) != 0) {
		say(&o, "io_uring:       UNAVAILABLE - reel: io_uring_setup works but "
		    "io_uring_enter is refused: %s (%s)\n", strerror(-err),
		    reel__enter_error_hint(err));
		reel__ring_term(&r);
	} else {
		say(&o, "io_uring:       ok, %u SQ / %u CQ entries\n",
		    r.caps.sq_entries, r.caps.cq_entries);
		report_flags(&o, r.caps.setup_flags);
		report_features(&o, r.caps.features);
		say(&o, "ring fd:        %s\n", r.caps.registered_fd
		    ? "registered (no fget/fput per io_uring_enter)" : "not registered");
		say(&o, "timed waits:    %s\n", r.caps.ext_arg
		    ? "EXT_ARG (timeout passed to io_uring_enter)" : "a TIMEOUT SQE per wait");
		report_ops(&o, &r.ring);
		report_buf_ring(&o, &r.ring, disable);
		report_wake_path(&o, &r, disable);
		say(&o, "fallbacks:      %s\n", r.caps.fallback[0] ? r.caps.fallback : "none");
		reel__ring_term(&r);
	}
	if (reel__stack_guard_install_supported() && !(disable & REEL_NO_GUARD_INSTALL))
		say(&o, "stack guards:   MADV_GUARD_INSTALL (no VMA per guard: a million "
		    "guarded stacks fit)\n");
	else
		say(&o, "stack guards:   mprotect (%s; two VMAs per stack, about %ld "
		    "stacks fit under vm.max_map_count)\n",
		    (disable & REEL_NO_GUARD_INSTALL) ? "disabled by request"
		    : "MADV_GUARD_INSTALL needs 6.13",
		    read_proc_long("/proc/sys/vm/max_map_count") / 2);
	report_limits(&o);
	return o.used > (size_t)INT32_MAX ? INT32_MAX : (int)o.used;
}

const char *reel_strerror(int err)
{
	/* -errno values are small; -INT_MIN would not even exist. */
	if (err > 0 || err < -4095)
		return "not an error code";
	switch (-err) {
	case 0: return "success";
	case ECANCELED: return "operation canceled (task cancelled)";
	case ETIMEDOUT: return "timed out (deadline passed)";
	case ESRCH: return "no such task (stale handle)";
	case EPERM: return "operation not permitted (outside a fiber, or refused by the system)";
	case EBUSY: return "busy (a loop already runs on this thread)";
	case EDEADLK: return "a task cannot join itself";
	case EINVAL: return "invalid argument";
	case ENOMEM: return "out of memory";
	default: return strerror(-err);
	}
}
