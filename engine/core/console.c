/*
 * console.c - the live console: what reel-top shows (tokio-console's idea
 * for C). docs/profiling.md, "reel-top".
 *
 * No thread ever reads another loop's structures. Each loop, while the
 * console is on, keeps times per fiber (on the CPU, ready, parked), and at
 * the start of a scheduler pass - at most once a second - writes a text
 * snapshot of its fibers and counters into a buffer of its own. One console
 * thread listens on a Unix socket and answers each connection with the
 * latest snapshot of every loop, then closes it: the snapshot is text, one
 * line per loop and per fiber, readable with `socat - UNIX:PATH` too.
 *
 * Times: at a switch the fiber leaving is charged its slice on the CPU, the
 * one arriving its time in the ready queue; a wake charges the time parked.
 * A pass's own work (reaping, expiring, the kernel wait) runs on the stack
 * of whichever fiber ended the pass but is not that fiber's run time: the
 * pass settles it at its start and end (reel__console_pass_slow and
 * console_pass_end). All of it is a clock read per switch and per wake, so
 * it runs only while the console is on: off, a switch or a wake pays one
 * test of l->timing and a pass one relaxed load (console.h).
 *
 * A loop that waits in the kernel makes no passes: while attached its wait
 * is bounded by the next snapshot (reel__console_idle), one wake-up a
 * second, so an idle loop's times stay fresh too.
 *
 * Loops join and leave on their own thread: the first pass that sees the
 * console on links a buffer into the registry (C.loops); the first that
 * sees it off, or the loop's end, unlinks and frees it. The console thread
 * only copies the buffers' text. Lock order: C.mu, then a loop's cl->mu; a
 * loop holds its cl->mu only to swap two pointers.
 *
 * The socket is $XDG_RUNTIME_DIR/reel-PID.sock, or /tmp/reel-UID/reel-PID.sock
 * (the directory made 0700 and refused unless it is ours and closed to
 * others), mode 0600, and each connection's peer must have our uid
 * (SO_PEERCRED): another user sees nothing.
 *
 * This file calls no other core file (it reads its own loop's structures
 * through internal.h, on the loop's thread): it stays out of the core's
 * call circles, as tracebuf.c does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <reel_trace.h>

#include "console.h"
#include "internal.h"
#include "trace.h"   /* reel__mono_ns, inline */

#define SNAPSHOT_NS 1000000000ull   /* at most one snapshot a second */
#define MAX_FIBERS 65536            /* per loop and snapshot; the rest counted */
#define SEND_TIMEOUT_S 2            /* a client that does not read is dropped */

struct buf {
	char *p;
	size_t len, cap;
};

/* A loop's part of the console: on C.loops while the loop is attached. */
struct reel__console_loop {
	struct reel__console_loop *next, **pprev;  /* on C.loops, under C.mu */
	pthread_mutex_t mu;       /* guards shown */
	struct buf shown;         /* the latest snapshot: what the console copies */
	struct buf draft;         /* the next one: the loop's thread only */
	uint64_t tid;
	uint64_t on_ns;           /* timing began: older since_ns count from here */
	uint64_t next_ns;         /* the next snapshot is due */
};

_Atomic unsigned reel__console_on;

static struct {
	pthread_mutex_t mu;
	bool active;
	int listen_fd, stop_fd;
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct reel__console_loop *loops;
	unsigned nloops;
} C = { .mu = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1, .stop_fd = -1 };

/* The public names of the park reasons (api/reel_trace.h): here, so the
 * console names reasons without calling into the scheduler. */
const char *reel_park_reason_name(int reason)
{
	static const char *const names[REEL_PARK_REASONS] = {
		"yield", "sleep", "join", "io", "io-cancel", "shutdown",
		"gather", "sync", "chan", "gen", "offload", "remote", "xchan",
	};

	return reason >= 0 && reason < REEL_PARK_REASONS ? names[reason] : "?";
}

/* ---- the loop's side: times --------------------------------------------------------- */

static inline uint64_t since(const struct reel__console_loop *cl, const struct reel__fiber *f)
{
	return f->since_ns > cl->on_ns ? f->since_ns : cl->on_ns;
}

void reel__console_switch(struct reel__loop *l, struct reel__fiber *from, struct reel__fiber *to)
{
	const struct reel__console_loop *cl = l->console;
	uint64_t now = reel__mono_ns();

	from->run_ns += now - since(cl, from);
	from->since_ns = now;
	to->ready_ns += now - since(cl, to);
	to->since_ns = now;
}

void reel__console_ready(struct reel__loop *l, struct reel__fiber *f)
{
	const struct reel__console_loop *cl = l->console;
	uint64_t now;

	if (f == l->current && !l->in_pass)
		return;   /* a yield: still on the CPU; the switch charges it */
	now = reel__mono_ns();
	if (f->state == REEL__FIBER_PARKED)
		f->wait_ns += now - since(cl, f);
	f->since_ns = now;
}

/* Charge the time since @f's state began to that state. */
static void settle(const struct reel__console_loop *cl, struct reel__fiber *f, uint64_t now,
		   bool on_cpu)
{
	uint64_t d = now - since(cl, f);

	if (on_cpu)
		f->run_ns += d;
	else if (f->state == REEL__FIBER_PARKED)
		f->wait_ns += d;
	else
		f->ready_ns += d;
	f->since_ns = now;
}

/* ---- the loop's side: snapshots ------------------------------------------------------ */

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return;   /* out of memory: the line is left out */
		b->p = p;
		b->cap = cap;
	}
}

/* A name on one line: control characters become '?'. */
static void put_name(struct buf *b, const char *name)
{
	char clean[128];
	size_t i = 0;

	for (; name[i] && i < sizeof(clean) - 1; i++)
		clean[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	clean[i] = '\0';
	put(b, "%s\n", clean);
}

static const char *state_name(unsigned s)
{
	return s == REEL__FIBER_RUNNING ? "running" : s == REEL__FIBER_READY ? "ready" : "parked";
}

/* The counters of reel_loop_stats (loop.c), read here without a call. */
static void put_loop(struct buf *b, const struct reel__loop *l, uint64_t tid, uint64_t now)
{
	uint64_t up = now - l->stats.started_ns, idle = l->ring.idle_ns;

	put(b, "loop tid=%llu at_ns=%llu switches=%llu spawns=%llu tasks=%llu ready=%u "
	    "sqes=%llu enters=%llu completions=%llu cq_overflows=%llu timers_armed=%llu "
	    "timers_fired=%llu busy_ns=%llu idle_ns=%llu stalls=%llu\n",
	    (unsigned long long)tid, (unsigned long long)now,
	    (unsigned long long)l->stats.switches, (unsigned long long)l->stats.spawned,
	    (unsigned long long)l->live, l->nready, (unsigned long long)l->ring.sqes,
	    (unsigned long long)l->ring.enters, (unsigned long long)l->ring.completions,
	    (unsigned long long)l->ring.overflows_seen, (unsigned long long)l->wheel.armed,
	    (unsigned long long)l->wheel.fired, (unsigned long long)(up > idle ? up - idle : 0),
	    (unsigned long long)idle, (unsigned long long)l->stats.stalls);
}

/*
 * The loop's text: a "loop" line of counters, a "fiber" line per live
 * fiber (times as of @now; the name last, to the end of the line), and an
 * "omitted" line when there were more than MAX_FIBERS.
 */
static void snapshot(struct reel__loop *l, struct reel__console_loop *cl, uint64_t now)
{
	struct buf *b = &cl->draft, tmp;
	unsigned fibers = 0;

	b->len = 0;
	put_loop(b, l, cl->tid, now);
	for (uint32_t i = 0; i < l->ntasks; i++) {
		const struct reel__task_slot *s = &l->tasks[i];
		const struct reel__fiber *f = s->fiber;
		uint64_t d;

		if (s->state != REEL__TASK_ALIVE || !f || ++fibers > MAX_FIBERS)
			continue;
		d = now - since(cl, f);
		put(b, "fiber id=%llu state=%s reason=%s run_ns=%llu ready_ns=%llu wait_ns=%llu "
		    "state_ns=%llu name=", (unsigned long long)f->id, state_name(f->state),
		    f->state == REEL__FIBER_PARKED ? reel_park_reason_name(f->park_reason) : "-",
		    (unsigned long long)(f->run_ns + (f->state == REEL__FIBER_RUNNING ? d : 0)),
		    (unsigned long long)(f->ready_ns + (f->state == REEL__FIBER_READY ? d : 0)),
		    (unsigned long long)(f->wait_ns + (f->state == REEL__FIBER_PARKED ? d : 0)),
		    (unsigned long long)d);
		put_name(b, f->name ? f->name : s->is_main ? "main" : "-");
	}
	if (fibers > MAX_FIBERS)
		put(b, "omitted fibers=%u\n", fibers - MAX_FIBERS);
	/* Publish: swap under the lock; the old text is the next draft. */
	pthread_mutex_lock(&cl->mu);
	tmp = cl->shown;
	cl->shown = cl->draft;
	cl->draft = tmp;
	pthread_mutex_unlock(&cl->mu);
}

static struct reel__console_loop *attach(struct reel__loop *l)
{
	struct reel__console_loop *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return NULL;
	pthread_mutex_init(&cl->mu, NULL);
	cl->tid = (uint64_t)syscall(SYS_gettid);
	cl->on_ns = reel__mono_ns();
	pthread_mutex_lock(&C.mu);
	cl->next = C.loops;
	if (C.loops)
		C.loops->pprev = &cl->next;
	cl->pprev = &C.loops;
	C.loops = cl;
	C.nloops++;
	pthread_mutex_unlock(&C.mu);
	l->console = cl;
	l->timing = true;
	return cl;
}

static void detach(struct reel__loop *l)
{
	struct reel__console_loop *cl = l->console;

	l->timing = false;
	l->console = NULL;
	pthread_mutex_lock(&C.mu);
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	C.nloops--;
	pthread_mutex_unlock(&C.mu);
	pthread_mutex_destroy(&cl->mu);
	free(cl->shown.p);
	free(cl->draft.p);
	free(cl);
}

void reel__console_pass_slow(struct reel__loop *l)
{
	struct reel__console_loop *cl = l->console;
	uint64_t now;

	if (!atomic_load_explicit(&reel__console_on, memory_order_acquire)) {
		if (cl)
			detach(l);
		return;
	}
	if (!cl && !(cl = attach(l)))
		return;
	now = reel__mono_ns();
	if (l->current)   /* the pass's work is not the current fiber's */
		settle(cl, l->current, now, true);
	if (now >= cl->next_ns) {
		snapshot(l, cl, now);
		cl->next_ns = now + SNAPSHOT_NS;
	}
}

void reel__console_pass_end(struct reel__loop *l)
{
	if (l->current)
		settle(l->console, l->current, reel__mono_ns(), false);
}

uint64_t reel__console_idle(struct reel__loop *l, uint64_t timeout_ns)
{
	struct reel__console_loop *cl = l->console;
	uint64_t now = reel__mono_ns();

	if (now >= cl->next_ns) {
		if (l->current)
			settle(cl, l->current, now, false);
		snapshot(l, cl, now);
		cl->next_ns = now + SNAPSHOT_NS;
	}
	return cl->next_ns - now < timeout_ns ? cl->next_ns - now : timeout_ns;
}

void reel__console_loop_end(struct reel__loop *l)
{
	if (l->console)
		detach(l);
}

/* ---- the console thread ------------------------------------------------------------- */

static bool peer_is_us(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.uid == geteuid();
}

/* Every loop's latest snapshot, copied under the locks, sent after. */
static void answer(int fd)
{
	struct buf out = { 0 };
	size_t off = 0;

	pthread_mutex_lock(&C.mu);
	put(&out, "reel-console 1 pid=%d now_ns=%llu loops=%u\n", (int)getpid(),
	    (unsigned long long)reel__mono_ns(), C.nloops);
	for (struct reel__console_loop *cl = C.loops; cl; cl = cl->next) {
		pthread_mutex_lock(&cl->mu);
		if (cl->shown.len)
			put(&out, "%.*s", (int)cl->shown.len, cl->shown.p);
		else
			put(&out, "loop tid=%llu at_ns=0\n", (unsigned long long)cl->tid);
		pthread_mutex_unlock(&cl->mu);
	}
	pthread_mutex_unlock(&C.mu);
	put(&out, "end\n");
	while (out.p && off < out.len) {
		ssize_t w = send(fd, out.p + off, out.len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(out.p);
}

static void *console_main(void *arg)
{
	struct pollfd p[2] = { { .fd = C.listen_fd, .events = POLLIN },
			       { .fd = C.stop_fd, .events = POLLIN } };
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };

	(void)arg;
	for (;;) {
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(C.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (peer_is_us(fd)) {
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			answer(fd);
		}
		close(fd);
	}
	return NULL;
}

/* A directory only we can enter: ours, not a symlink, closed to others. */
static int private_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

static int socket_path(char *path, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[sizeof(C.path)];
	int n;

	if (xdg && xdg[0] == '/' && private_dir(xdg) == 0) {
		n = snprintf(path, len, "%s/reel-%d.sock", xdg, (int)getpid());
		return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "/tmp/reel-%u", (unsigned)geteuid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	n = private_dir(dir);
	if (n)
		return n;
	n = snprintf(path, len, "/tmp/reel-%u/reel-%d.sock", (unsigned)geteuid(), (int)getpid());
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int open_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	strcpy(sa.sun_path, path);   /* socket_path kept it short enough */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);   /* a socket left by an earlier process of this pid */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	return fd;
}

static int start_thread(void)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);   /* signals stay the loops' */
	err = -pthread_create(&C.thread, NULL, console_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		pthread_setname_np(C.thread, "reel-console");
	return err;
}

/* fork: the child has no console thread; it starts without a console. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&C.mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&C.mu);
}

static void fork_child(void)
{
	pthread_mutex_init(&C.mu, NULL);
	if (C.active) {
		close(C.listen_fd);
		close(C.stop_fd);
		C.listen_fd = C.stop_fd = -1;
		C.active = false;
		atomic_store(&reel__console_on, 0);
	}
}

static void register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int reel_console_start(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	char path[sizeof(C.path)];
	int fd, err;

	pthread_once(&once, register_atfork);
	pthread_mutex_lock(&C.mu);
	if (C.active) {
		err = -EALREADY;
		goto out;
	}
	err = socket_path(path, sizeof(path));
	if (err)
		goto out;
	fd = open_socket(path);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	C.listen_fd = fd;
	C.stop_fd = eventfd(0, EFD_CLOEXEC);
	err = C.stop_fd < 0 ? -errno : start_thread();
	if (err)
		goto close_socket;
	memcpy(C.path, path, sizeof(path));
	C.active = true;
	atomic_store_explicit(&reel__console_on, 1, memory_order_release);
	goto out;

close_socket:
	if (C.stop_fd >= 0)
		close(C.stop_fd);
	close(C.listen_fd);
	unlink(path);
	C.listen_fd = C.stop_fd = -1;
out:
	pthread_mutex_unlock(&C.mu);
	return err;
}

int reel_console_stop(void)
{
	uint64_t one = 1;
	pthread_t t;

	pthread_mutex_lock(&C.mu);
	if (!C.active) {
		pthread_mutex_unlock(&C.mu);
		return -ENOENT;
	}
	C.active = false;
	atomic_store_explicit(&reel__console_on, 0, memory_order_release);
	t = C.thread;
	if (write(C.stop_fd, &one, sizeof(one)) < 0)
		abort();   /* an eventfd far from its limit cannot refuse */
	pthread_mutex_unlock(&C.mu);   /* the thread may be answering: it takes C.mu */
	pthread_join(t, NULL);
	pthread_mutex_lock(&C.mu);
	close(C.listen_fd);
	close(C.stop_fd);
	C.listen_fd = C.stop_fd = -1;
	unlink(C.path);
	C.path[0] = '\0';
	pthread_mutex_unlock(&C.mu);
	return 0;
}

/* REEL_CONSOLE=1: the first loop of the process starts the console; it
 * stops (and its socket goes) when the process exits. */
static void stop_at_exit(void)
{
	reel_console_stop();
}

static void console_from_env_once(void)
{
	const char *v = getenv("REEL_CONSOLE");
	int err;

	if (!v || !*v || !strcmp(v, "0"))
		return;
	err = reel_console_start();
	if (err == 0)
		atexit(stop_at_exit);
	else if (err != -EALREADY)
		fprintf(stderr, "reel: REEL_CONSOLE: cannot start the console: %s\n",
			strerror(-err));
}

void reel__console_from_env(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, console_from_env_once);
}
