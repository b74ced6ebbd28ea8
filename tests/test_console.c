/*
 * Description: the console (engine/core/console.c): reel_console_start and
 * reel_console_stop answer -EALREADY / -ENOENT out of turn; the socket sits
 * in a private XDG_RUNTIME_DIR with mode 0600 (a world-writable one is not
 * trusted: /tmp/reel-UID instead) and is removed at stop; a connection gets
 * the running loop's snapshot, whose times are right within tolerance (a
 * fiber that computed 30 ms has run_ns >= 30 ms, one that slept 200 ms has
 * wait_ns >= 150 ms); a loop closes clean with the console on.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include <reel_io.h>
#include <reel_trace.h>

#define MSEC(n) ((uint64_t)(n) * 1000000ull)

static char xdg[64];
static char sock[128];

static void test_console_start_stop_errors(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(reel_console_stop(), -ENOENT);
	assert_int_equal(reel_console_start(), 0);
	assert_int_equal(reel_console_start(), -EALREADY);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(reel_console_stop(), 0);
	assert_int_equal(reel_console_stop(), -ENOENT);
	assert_int_not_equal(stat(sock, &st), 0);   /* removed */
}

/* A world-writable XDG_RUNTIME_DIR is not ours alone: /tmp/reel-UID. */
static void test_console_untrusted_xdg_falls_back(void **state)
{
	char path[128];
	struct stat st;

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/tmp", 1);
	assert_int_equal(reel_console_start(), 0);
	snprintf(path, sizeof(path), "/tmp/reel-%u/reel-%d.sock", (unsigned)geteuid(),
		 (int)getpid());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "/tmp/reel-%u", (unsigned)geteuid());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(reel_console_stop(), 0);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
}

static int busy(void *arg)
{
	struct timespec t0, t;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) < (long long)MSEC(30));
	return reel_sleep(MSEC(5000));
}

static int napper(void *arg)
{
	(void)arg;
	return reel_sleep(MSEC(5000));
}

/* The line of fiber @name in @text: "run_ns=... wait_ns=..." read out. */
static bool fiber_times(const char *text, const char *name, unsigned long long *run,
			unsigned long long *wait, char *state, size_t state_len)
{
	char key[64];
	const char *end, *line;

	snprintf(key, sizeof(key), " name=%s\n", name);
	end = strstr(text, key);
	if (!end)
		return false;
	line = end;
	while (line > text && line[-1] != '\n')
		line--;
	if (sscanf(strstr(line, "run_ns="), "run_ns=%llu", run) != 1 ||
	    sscanf(strstr(line, "wait_ns="), "wait_ns=%llu", wait) != 1)
		return false;
	snprintf(state, state_len, "%.*s", (int)strcspn(strstr(line, "state=") + 6, " "),
		 strstr(line, "state=") + 6);
	return true;
}

static int snapshot_main(void *arg)
{
	unsigned long long run, wait;
	reel_task a, b;
	char text[16384], state[16];
	size_t got = 0;
	ssize_t n;
	int fd;

	(void)arg;
	FCHECK_EQ(reel_console_start(), 0);
	FCHECK_EQ(reel_spawn(&a, busy, NULL, &(struct reel_spawn_opts){ .name = "busy" }), 0);
	FCHECK_EQ(reel_spawn(&b, napper, NULL, &(struct reel_spawn_opts){ .name = "napper" }), 0);
	/* The first snapshot is taken at once, the next a second later. */
	FCHECK_EQ(reel_sleep(MSEC(1200)), 0);
	fd = reel_connect_unix(sock);
	FCHECK(fd >= 0);
	while ((n = reel_read(fd, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = '\0';
	close(fd);
	FCHECK(strncmp(text, "reel-console 1 pid=", 19) == 0);
	FCHECK(strstr(text, "\nloop tid=") != NULL);
	FCHECK(strstr(text, "\nend\n") != NULL);
	FCHECK(fiber_times(text, "busy", &run, &wait, state, sizeof(state)));
	FCHECK(strcmp(state, "parked") == 0);
	FCHECK(run >= MSEC(30) && run < MSEC(1000));
	FCHECK(fiber_times(text, "napper", &run, &wait, state, sizeof(state)));
	FCHECK(run < MSEC(30) && wait >= MSEC(150));
	FCHECK(fiber_times(text, "main", &run, &wait, state, sizeof(state)));
	FCHECK_EQ(reel_cancel(a), 0);
	FCHECK_EQ(reel_cancel(b), 0);
	reel_join(a, NULL);
	reel_join(b, NULL);
	FCHECK_EQ(reel_console_stop(), 0);
	return 0;
}

static void test_console_snapshot_times(void **state)
{
	(void)state;
	if (RUNNING_ON_VALGRIND)
		skip();   /* timed: valgrind's pace makes the tolerances meaningless */
	run_ok(snapshot_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_start_stop_errors),
		cmocka_unit_test(test_console_untrusted_xdg_falls_back),
		cmocka_unit_test(test_console_snapshot_times),
	};
	int r;

	snprintf(xdg, sizeof(xdg), "/tmp/reel-test-console-XXXXXX");
	if (!mkdtemp(xdg))
		return 1;
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	snprintf(sock, sizeof(sock), "%s/reel-%d.sock", xdg, (int)getpid());
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(xdg);
	return r;
}
