/*
 * Description: the run-time trace and the loop's counters (api/reel_trace.h,
 * engine/core/tracebuf.c): a scripted set of fibers - a ping-pong over two
 * rendezvous channels, a sleeper and its joiner, a pipe reader and writer -
 * runs under reel_trace_start/stop, and the file, parsed here, says what the
 * program did: the spawns and their names, each park's reason, the
 * ping-pong's wakes in order with the right waker, the timer's and the
 * completion's wakes, END statuses, a COMPLETE with opcode and result;
 * reel_trace_stats agrees with the file and nothing is dropped at a modest
 * rate; -EALREADY, -ENOENT, -EINVAL; a trace started before reel_run
 * catches the loop from its start; REEL_TRACE=FILE in a child process;
 * reel_loop_stats grows as the program does (spawns, switches, busy + idle
 * = uptime) and its Prometheus text is well formed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "reel_sync.h"
#include "reel_trace.h"
#include "trace.h"

/* ---- reading a trace file (the format reel-trace reads) ------------------------ */

struct parsed {
	uint64_t mono0, real0;
	uint32_t pid;
	size_t nrec;                     /* records in the file, text ones too */
	size_t n;                        /* events below: neither LOOP nor text */
	struct reel__trace_rec *ev;
	uint64_t loops[8];
	unsigned nloops;
	struct { uint64_t task; char name[64]; } names[64];
	unsigned nnames;
	uint64_t dropped;
	size_t file_size;
};

static void parse_file(const char *path, struct parsed *p)
{
	struct reel__trace_rec *r;
	struct stat sb;
	char *data;
	size_t nrec;
	int fd;

	memset(p, 0, sizeof(*p));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_true(sb.st_size >= 64);
	p->file_size = (size_t)sb.st_size;
	data = malloc(p->file_size);
	assert_non_null(data);
	assert_int_equal(read(fd, data, p->file_size), (ssize_t)p->file_size);
	close(fd);

	assert_memory_equal(data, "REELTRC1", 8);
	assert_int_equal(*(uint32_t *)(data + 8), 1);
	assert_int_equal(*(uint32_t *)(data + 12), sizeof(struct reel__trace_rec));
	memcpy(&p->real0, data + 16, 8);
	memcpy(&p->mono0, data + 24, 8);
	memcpy(&p->pid, data + 32, 4);
	assert_int_equal((p->file_size - 64) % sizeof(*r), 0);
	nrec = (p->file_size - 64) / sizeof(*r);
	p->nrec = nrec;
	p->ev = calloc(nrec ? nrec : 1, sizeof(*r));
	assert_non_null(p->ev);
	r = (struct reel__trace_rec *)(data + 64);
	for (size_t i = 0; i < nrec; i++) {
		struct reel__trace_rec *e = &r[i];

		assert_true(e->type >= REEL__EV_LOOP && e->type < REEL__EV_TYPES);
		assert_true(e->t >= p->mono0);
		if (i % 2048 == 0)   /* every 64 KiB chunk opens with its loop */
			assert_int_equal(e->type, REEL__EV_LOOP);
		if (e->type == REEL__EV_LOOP) {
			bool seen = false;

			for (unsigned k = 0; k < p->nloops; k++)
				seen |= p->loops[k] == e->a;
			if (!seen && p->nloops < 8)
				p->loops[p->nloops++] = e->a;
			continue;
		}
		if (e->type == REEL__EV_NAME) {
			size_t len = e->c, nt = (len + sizeof(*r) - 1) / sizeof(*r);

			assert_true(i + nt < nrec);
			if (p->nnames < 64) {
				p->names[p->nnames].task = e->task;
				memcpy(p->names[p->nnames].name, &r[i + 1],
				       len < 63 ? len : 63);
				p->nnames++;
			}
			p->ev[p->n++] = *e;
			i += nt;
			continue;
		}
		if (e->type == REEL__EV_DROPPED)
			p->dropped += e->a;
		p->ev[p->n++] = *e;
	}
	free(data);
}

static const char *name_of(const struct parsed *p, uint64_t task)
{
	for (unsigned i = 0; i < p->nnames; i++)
		if (p->names[i].task == task)
			return p->names[i].name;
	return NULL;
}

static uint64_t task_named(const struct parsed *p, const char *name)
{
	for (unsigned i = 0; i < p->nnames; i++)
		if (strcmp(p->names[i].name, name) == 0)
			return p->names[i].task;
	fail_msg("no task named %s in the trace", name);
	return 0;
}

static size_t count(const struct parsed *p, unsigned type, uint64_t task)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->ev[i].type == type && (!task || p->ev[i].task == task);
	return n;
}

/* The reasons @task parked with, as a bit set. */
static unsigned park_reasons(const struct parsed *p, uint64_t task)
{
	unsigned set = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->ev[i].type == REEL__EV_PARK && p->ev[i].task == task)
			set |= 1u << p->ev[i].c;
	return set;
}

/* The first event of @type about @task (0: any task). */
static const struct reel__trace_rec *find(const struct parsed *p, unsigned type, uint64_t task)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ev[i].type == type && (!task || p->ev[i].task == task))
			return &p->ev[i];
	return NULL;
}

/* ---- the scripted program ---------------------------------------------------------- */

enum { ROUNDS = 5 };

struct script {
	const char *path;
	struct reel_chan ping, pong;
	reel_task sleeper;
	int pipefd[2];
	int start_err, again_err;
	struct reel_trace_stats st;
};

static int pinger(void *arg)
{
	struct script *s = arg;

	for (int i = 0; i < ROUNDS; i++) {
		int v = i, back = -1;

		FCHECK_EQ(reel_chan_send(&s->ping, &v), 0);
		FCHECK_EQ(reel_chan_recv(&s->pong, &back), 0);
		FCHECK_EQ(back, i + 100);
	}
	return 11;
}

static int ponger(void *arg)
{
	struct script *s = arg;

	for (int i = 0; i < ROUNDS; i++) {
		int v = -1, back;

		FCHECK_EQ(reel_chan_recv(&s->ping, &v), 0);
		back = v + 100;
		FCHECK_EQ(reel_chan_send(&s->pong, &back), 0);
	}
	return 22;
}

static int sleeper(void *arg)
{
	(void)arg;
	FCHECK_EQ(reel_sleep(2 * MS), 0);
	return 7;
}

static int joiner(void *arg)
{
	struct script *s = arg;
	int status = -1;

	FCHECK_EQ(reel_join(s->sleeper, &status), 0);
	return status + 1;
}

static int reader(void *arg)
{
	struct script *s = arg;
	char buf[8];

	FCHECK_EQ(reel_read(s->pipefd[0], buf, sizeof(buf)), 5);
	return 33;
}

static int writer(void *arg)
{
	struct script *s = arg;

	FCHECK_EQ(reel_sleep(1 * MS), 0);   /* the reader is in the kernel by now */
	FCHECK_EQ(reel_write(s->pipefd[1], "hello", 5), 5);
	return 44;
}

static int script_main(void *arg)
{
	struct script *s = arg;
	const struct reel_spawn_opts o_ping = { .name = "pinger" }, o_pong = { .name = "ponger" },
		o_sleep = { .name = "sleeper" }, o_join = { .name = "joiner" },
		o_read = { .name = "reader" }, o_write = { .name = "writer" };
	reel_task t[5];
	int st[5];

	s->start_err = reel_trace_start(s->path);
	FCHECK_EQ(s->start_err, 0);
	s->again_err = reel_trace_start(s->path);
	FCHECK_EQ(reel_chan_init(&s->ping, sizeof(int), 0), 0);
	FCHECK_EQ(reel_chan_init(&s->pong, sizeof(int), 0), 0);
	FCHECK_EQ(pipe2(s->pipefd, O_CLOEXEC), 0);
	FCHECK_EQ(reel_spawn(&t[0], pinger, s, &o_ping), 0);
	FCHECK_EQ(reel_spawn(&t[1], ponger, s, &o_pong), 0);
	FCHECK_EQ(reel_spawn(&s->sleeper, sleeper, s, &o_sleep), 0);
	FCHECK_EQ(reel_spawn(&t[2], joiner, s, &o_join), 0);
	FCHECK_EQ(reel_spawn(&t[3], reader, s, &o_read), 0);
	FCHECK_EQ(reel_spawn(&t[4], writer, s, &o_write), 0);
	for (int i = 0; i < 5; i++)
		FCHECK_EQ(reel_join(t[i], &st[i]), 0);
	FCHECK_EQ(st[0], 11);
	FCHECK_EQ(st[1], 22);
	FCHECK_EQ(st[2], 8);
	FCHECK_EQ(st[3], 33);
	FCHECK_EQ(st[4], 44);
	FCHECK_EQ(reel_trace_stop(), 0);
	FCHECK_EQ(reel_trace_stats(&s->st), 0);
	FCHECK_EQ(reel_trace_stop(), -ENOENT);
	close(s->pipefd[0]);
	close(s->pipefd[1]);
	FCHECK_EQ(reel_chan_destroy(&s->ping), 0);
	FCHECK_EQ(reel_chan_destroy(&s->pong), 0);
	return 0;
}

static void test_trace_records_what_the_program_did(void **state)
{
	struct script s = { .path = scratch_path(*state, "t.trc") };
	uint64_t ping, pong, sl, jo, rd, main_id, last = 0;
	const struct reel__trace_rec *e, *c = NULL;
	struct parsed p;
	size_t nwakes = 0;

	run_ok(script_main, &s);
	assert_int_equal(s.again_err, -EALREADY);
	parse_file(s.path, &p);

	/* the stats say what the file holds, and nothing was lost */
	assert_int_equal(s.st.dropped, 0);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(s.st.events, p.nrec);
	assert_int_equal(s.st.bytes, p.file_size);
	assert_int_equal(p.pid, (uint32_t)getpid());
	assert_int_equal(p.nloops, 1);
	assert_int_equal(p.loops[0], (uint64_t)syscall(SYS_gettid));
	for (size_t i = 0; i < p.n; i++) {   /* one loop, one clock: in order */
		assert_true(p.ev[i].t >= last);
		last = p.ev[i].t;
	}

	/* six spawns, each named; main was running before the trace began */
	assert_int_equal(count(&p, REEL__EV_SPAWN, 0), 6);
	assert_int_equal(p.nnames, 6);
	ping = task_named(&p, "pinger");
	pong = task_named(&p, "ponger");
	sl = task_named(&p, "sleeper");
	jo = task_named(&p, "joiner");
	rd = task_named(&p, "reader");
	e = find(&p, REEL__EV_SPAWN, ping);
	assert_non_null(e);
	main_id = e->a;                      /* the parent */
	assert_true(main_id != 0);
	assert_null(name_of(&p, main_id));
	for (size_t i = 0; i < p.n; i++)
		if (p.ev[i].type == REEL__EV_SPAWN)
			assert_int_equal(p.ev[i].a, main_id);

	/* park reasons */
	assert_int_equal(park_reasons(&p, ping), 1u << REEL_PARK_CHAN);
	assert_int_equal(park_reasons(&p, pong), 1u << REEL_PARK_CHAN);
	assert_int_equal(park_reasons(&p, sl), 1u << REEL_PARK_SLEEP);
	assert_int_equal(park_reasons(&p, jo), 1u << REEL_PARK_JOIN);
	assert_int_equal(park_reasons(&p, rd), 1u << REEL_PARK_IO);
	assert_true(park_reasons(&p, main_id) & (1u << REEL_PARK_JOIN));

	/* the ping-pong's wakes alternate, each by the other player: the
	 * ponger takes a ping (wakes the pinger), the pinger a pong (wakes
	 * the ponger), ROUNDS times */
	for (size_t i = 0; i < p.n; i++) {
		e = &p.ev[i];
		if (e->type != REEL__EV_WAKE || (e->task != ping && e->task != pong))
			continue;
		assert_int_equal(e->task, nwakes % 2 == 0 ? ping : pong);
		assert_int_equal(e->a, e->task == ping ? pong : ping);
		assert_int_equal(e->c, 0);
		nwakes++;
	}
	assert_int_equal(nwakes, 2 * ROUNDS);

	/* the sleeper is woken by the loop's timer; the joiner by the sleeper */
	e = find(&p, REEL__EV_WAKE, sl);
	assert_non_null(e);
	assert_int_equal(e->a, 0);
	assert_int_equal(e->c, 0);
	assert_true(count(&p, REEL__EV_TIMER, 0) >= 2);
	e = find(&p, REEL__EV_WAKE, jo);
	assert_non_null(e);
	assert_int_equal(e->a, sl);

	/* the reader's read: submitted, completed with 5 bytes after about
	 * the writer's 1 ms, and its wake names the completion's opcode */
	assert_true(count(&p, REEL__EV_SUBMIT, 0) >= 1);
	for (size_t i = 0; i < p.n; i++)
		if (p.ev[i].type == REEL__EV_COMPLETE && p.ev[i].task == rd)
			c = &p.ev[i];
	assert_non_null(c);
	assert_int_equal((int32_t)c->b, 5);
	assert_true(c->a > 0 && c->a < 5 * SEC);
	e = find(&p, REEL__EV_WAKE, rd);
	assert_non_null(e);
	assert_int_equal(e->a, 0);
	assert_int_equal(e->c, c->c + 1);
	assert_true(e->t >= c->t);
	assert_int_equal(count(&p, REEL__EV_WAIT, 0), count(&p, REEL__EV_WAKEUP, 0));

	/* END statuses */
	assert_int_equal(find(&p, REEL__EV_END, ping)->b, 11);
	assert_int_equal(find(&p, REEL__EV_END, pong)->b, 22);
	assert_int_equal(find(&p, REEL__EV_END, sl)->b, 7);
	assert_int_equal(find(&p, REEL__EV_END, jo)->b, 8);
	assert_int_equal(find(&p, REEL__EV_END, rd)->b, 33);
	assert_int_equal(count(&p, REEL__EV_END, 0), 6);
	assert_null(find(&p, REEL__EV_END, main_id));   /* stopped before main ended */
	/* every spawned fiber ran */
	assert_true(count(&p, REEL__EV_SWITCH, ping) >= ROUNDS);
	assert_true(count(&p, REEL__EV_SWITCH, pong) >= ROUNDS);
	free(p.ev);
}

/* ---- errors, a trace started before the loop, no drops ------------------------------ */

static int spinner(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static int spin_main(void *arg)
{
	reel_task t[2];

	for (int i = 0; i < 2; i++)
		FCHECK_EQ(reel_spawn(&t[i], spinner, arg, NULL), 0);
	for (int i = 0; i < 2; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	return 0;
}

static void test_trace_started_before_the_loop_no_drops(void **state)
{
	const char *path = scratch_path(*state, "spin.trc");
	long n = scaled(20000);
	struct reel_trace_stats st;
	struct parsed p;

	assert_int_equal(reel_trace_stop(), -ENOENT);
	assert_int_equal(reel_trace_start(NULL), -EINVAL);
	assert_int_equal(reel_trace_start(scratch_path(*state, "no/such/dir/x.trc")), -ENOENT);
	assert_int_equal(reel_trace_start(path), 0);
	assert_int_equal(reel_trace_start(path), -EALREADY);
	run_ok(spin_main, (void *)(intptr_t)n);
	assert_int_equal(reel_trace_stop(), 0);
	assert_int_equal(reel_trace_stop(), -ENOENT);
	assert_int_equal(reel_trace_stats(&st), 0);
	assert_int_equal(reel_trace_stats(NULL), -EINVAL);

	/* ~80,000 events over several chunks: the writer keeps up */
	assert_int_equal(st.dropped, 0);
	parse_file(path, &p);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(st.events, p.nrec);
	assert_int_equal(st.bytes, p.file_size);
	assert_true(p.nrec > 2048);
	/* the loop joined at its start: main's spawn and name are there */
	assert_int_equal(count(&p, REEL__EV_SPAWN, 0), 3);
	assert_string_equal(name_of(&p, find(&p, REEL__EV_SPAWN, 0)->task), "main");
	/* every yield is a switch to the other spinner */
	assert_true(count(&p, REEL__EV_SWITCH, 0) >= (size_t)(2 * n));
	assert_int_equal(count(&p, REEL__EV_END, 0), 3);
	free(p.ev);
}

/* ---- REEL_TRACE=FILE, in a child that execs this binary ---------------------------- */

static int env_main(void *arg)
{
	(void)arg;
	return reel_sleep(1 * MS);
}

static char *self_exe;

/* A writer that cannot write (a FIFO nobody reads): the loop goes on at
 * full speed, events are dropped and counted, and stop reports the error
 * once the reader goes away. Never a stall. */
static int yield_n_times(void *arg)
{
	for (long i = 0; i < (long)(intptr_t)arg; i++)
		FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static int yield_lots(void *arg)
{
	uint64_t t0 = reel_now();
	reel_task t;

	FCHECK_EQ(reel_spawn(&t, yield_n_times, arg, NULL), 0);   /* a switch a yield */
	FCHECK_EQ(yield_n_times(arg), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	/* 400k yields take well under a second here even traced; a loop
	 * waiting for the disk would take forever. */
	FCHECK(reel_now() - t0 < 20 * SEC);
	return 0;
}

static void test_trace_full_buffers_drop_never_stall(void **state)
{
	const char *path = scratch_path(*state, "fifo");
	struct reel_trace_stats st;
	int rd;

	assert_int_equal(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);   /* never read */
	assert_true(rd >= 0);
	assert_int_equal(reel_trace_start(path), 0);
	run_ok(yield_lots, (void *)(intptr_t)150000);   /* 300k events: 9.6 MB */
	assert_int_equal(reel_trace_stats(&st), 0);
	assert_true(st.dropped > 0);          /* the 4 MiB pool ran out */
	assert_true(st.events > 0);
	close(rd);                            /* the writer's write fails now */
	assert_int_equal(reel_trace_stop(), -EPIPE);
}

static void test_trace_env_variable(void **state)
{
	const char *path = scratch_path(*state, "env.trc");
	struct parsed p;
	pid_t pid;
	int ws;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("REEL_TRACE", path, 1);
		execl(self_exe, self_exe, "--env-child", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	parse_file(path, &p);
	assert_int_equal(p.pid, (uint32_t)pid);
	assert_int_equal(count(&p, REEL__EV_SPAWN, 0), 1);
	assert_string_equal(name_of(&p, find(&p, REEL__EV_SPAWN, 0)->task), "main");
	assert_int_equal(find(&p, REEL__EV_PARK, 0)->c, REEL_PARK_SLEEP);
	assert_int_equal(count(&p, REEL__EV_END, 0), 1);   /* atexit wrote it all */
	free(p.ev);
}

/* ---- the loop's counters ----------------------------------------------------------- */

static int stats_main(void *arg)
{
	struct reel_loop_stats a, b;
	uint64_t t0 = *(uint64_t *)arg;
	reel_task t[10];

	FCHECK_EQ(reel_loop_stats(NULL), -EINVAL);
	FCHECK_EQ(reel_loop_stats(&a), 0);
	FCHECK_EQ(a.tasks, 1);
	FCHECK(a.spawns >= 1);
	for (int i = 0; i < 10; i++)
		FCHECK_EQ(reel_spawn(&t[i], return_arg, NULL, NULL), 0);
	FCHECK_EQ(reel_loop_stats(&b), 0);
	FCHECK_EQ(b.tasks, 11);
	FCHECK_EQ(b.ready, 10);
	for (int i = 0; i < 10; i++)
		FCHECK_EQ(reel_join(t[i], NULL), 0);
	FCHECK_EQ(reel_sleep(20 * MS), 0);
	FCHECK_EQ(reel_loop_stats(&b), 0);
	FCHECK_EQ(b.spawns - a.spawns, 10);
	FCHECK(b.switches - a.switches >= 11);   /* each task once, and back to main */
	FCHECK_EQ(b.tasks, 1);
	FCHECK(b.timers_armed > a.timers_armed);
	FCHECK(b.timers_fired > a.timers_fired);
	FCHECK(b.idle_ns > a.idle_ns);           /* the 20 ms sleep, in the kernel wait */
	if (!RUNNING_ON_VALGRIND)
		FCHECK(b.idle_ns - a.idle_ns >= 10 * MS);
	/* busy + idle is the loop's uptime, which is within reel_run's */
	FCHECK(b.busy_ns + b.idle_ns <= reel_now() - t0);
	FCHECK(b.busy_ns + b.idle_ns + (RUNNING_ON_VALGRIND ? 2 * SEC : 50 * MS) >=
	       reel_now() - t0);
	return 0;
}

static void test_loop_stats_grow_as_the_program_does(void **state)
{
	struct reel_loop_stats s;
	uint64_t t0 = reel_now();

	(void)state;
	assert_int_equal(reel_loop_stats(&s), -EPERM);
	assert_int_equal(reel_loop_stats_prometheus(NULL, 0), -EPERM);
	run_ok(stats_main, &t0);
}

static int prom_main(void *arg)
{
	char *buf = arg, small[16];
	int n = reel_loop_stats_prometheus(buf, 4096), m;

	FCHECK(n > 0 && n < 4096);
	FCHECK_EQ((size_t)n, strlen(buf));
	m = reel_loop_stats_prometheus(small, sizeof(small));   /* snprintf-style */
	FCHECK(m >= n - 2 && m <= n + 2);                     /* the seconds may tick */
	FCHECK_EQ(strlen(small), sizeof(small) - 1);
	FCHECK(reel_loop_stats_prometheus(NULL, 0) > 0);
	return 0;
}

static void test_loop_stats_prometheus_format(void **state)
{
	char buf[4096], *line, *save = NULL, declared[128] = "";
	unsigned samples = 0;

	(void)state;
	run_ok(prom_main, buf);
	/* "# TYPE name counter|gauge", then "name value" for that name */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], kind[32], *end;
		double v;

		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s %31s", name, kind), 2);
			assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0);
			assert_memory_equal(name, "reel_loop_", 10);
			if (strcmp(kind, "counter") == 0)
				assert_non_null(strstr(name, "_total"));
			strcpy(declared, name);
			continue;
		}
		assert_int_equal(sscanf(line, "%127s", name), 1);
		assert_string_equal(name, declared);
		v = strtod(line + strlen(name) + 1, &end);
		assert_true(*end == '\0' && end != line + strlen(name) + 1);
		assert_true(v >= 0);
		samples++;
	}
	assert_int_equal(samples, 13);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trace_records_what_the_program_did,
						scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_trace_started_before_the_loop_no_drops,
						scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_trace_full_buffers_drop_never_stall,
						scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_trace_env_variable,
						scratch_setup, scratch_teardown),
		cmocka_unit_test(test_loop_stats_grow_as_the_program_does),
		cmocka_unit_test(test_loop_stats_prometheus_format),
	};
	int status = -1;

	if (argc == 2 && strcmp(argv[1], "--env-child") == 0) {
		if (reel_run(env_main, NULL, NULL, &status) != 0)
			return 2;
		return status == 0 ? 0 : 3;
	}
	self_exe = realpath(argv[0], NULL);   /* this binary, for the env child */
	if (!self_exe)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
