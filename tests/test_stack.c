/*
 * Description: the stack cache: sizes round to power-of-two classes, freed
 * stacks are reused most-recent first, every stack has a guard page that
 * faults, many guarded stacks cost few VMAs with MADV_GUARD_INSTALL, and a
 * fiber that overflows its stack dies by SIGSEGV with a message naming it,
 * under both guard kinds; cold stacks have their top page (and only it)
 * committed ahead, in a batch; trim drops many stacks' pages a call.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "stack.h"

static void test_stack_sizes_round_to_classes(void **state)
{
	(void)state;
	assert_int_equal(reel__stack_size(0), 16384);
	assert_int_equal(reel__stack_size(1), 16384);
	assert_int_equal(reel__stack_size(16384), 16384);
	assert_int_equal(reel__stack_size(16385), 32768);
	assert_int_equal(reel__stack_size(65536), 65536);
	assert_int_equal(reel__stack_size((size_t)64 << 20), (size_t)64 << 20);
	assert_int_equal(reel__stack_size(((size_t)64 << 20) + 1), 0);   /* too big */
}

static void test_stack_reuse_most_recent_first(void **state)
{
	struct reel__stack_cache p;
	struct reel__stack a, b, c;

	(void)state;
	assert_int_equal(reel__stack_cache_init(&p, true, true), 0);
	assert_int_equal(reel__stack_alloc(&p, 65536, &a), 0);
	assert_int_equal(reel__stack_alloc(&p, 65536, &b), 0);
	assert_ptr_not_equal(a.lo, b.lo);
	assert_int_equal(a.size, 65536);
	memset(a.lo, 0xa5, a.size);               /* the whole stack is usable */
	memset(b.lo, 0x5a, b.size);
	reel__stack_free(&p, &a);
	reel__stack_free(&p, &b);
	assert_int_equal(reel__stack_alloc(&p, 60000, &c), 0);
	assert_ptr_equal(c.lo, b.lo);             /* warmest first */
	assert_int_equal(p.live, 1);              /* a, b freed; c live */
	reel__stack_free(&p, &c);
	assert_int_equal(p.live, 0);
	reel__stack_cache_term(&p);
}

static void test_stack_invalid_size_is_einval(void **state)
{
	struct reel__stack_cache p;
	struct reel__stack s;

	(void)state;
	assert_int_equal(reel__stack_cache_init(&p, true, true), 0);
	assert_int_equal(reel__stack_alloc(&p, (size_t)1 << 40, &s), -EINVAL);
	reel__stack_cache_term(&p);
}

/* In a child, write the byte @below bytes under @lo: it must die by SIGSEGV. */
static void write_below_faults(const char *lo, size_t below)
{
	int wstatus;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)(lo - below) = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSEGV);
}

/* The whole guard faults, its top byte and its bottom one, for a stack with
 * a neighbour below it in the slab (the first stack handed out is the
 * lowest, so the second has one): a stack-clash frame lands there. */
static void guard_faults(bool guard_install)
{
	struct reel__stack_cache p;
	struct reel__stack below, s;

	assert_int_equal(reel__stack_cache_init(&p, guard_install, true), 0);
	assert_int_equal(reel__stack_alloc(&p, 65536, &below), 0);
	assert_int_equal(reel__stack_alloc(&p, 65536, &s), 0);
	assert_true(s.lo > below.lo);
	write_below_faults(s.lo, 1);
	write_below_faults(s.lo, 60 * 1024);
	write_below_faults(s.lo, reel__stack_guard(s.size));
	reel__stack_free(&p, &s);
	reel__stack_free(&p, &below);
	reel__stack_cache_term(&p);
}

static void test_stack_guard_page_faults_madv_guard(void **state)
{
	(void)state;
	if (!reel__stack_guard_install_supported())
		skip();
	guard_faults(true);
}

static void test_stack_guard_page_faults_mprotect(void **state)
{
	(void)state;
	guard_faults(false);
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_stack_guards_cost_no_vma_with_guard_install(void **state)
{
	enum { N = 20000 };
	struct reel__stack_cache p;
	struct reel__stack *s = calloc(N, sizeof(*s));
	int before;

	(void)state;
	if (!reel__stack_guard_install_supported())
		skip();
	assert_int_equal(reel__stack_cache_init(&p, true, true), 0);
	before = count_maps();
	for (int i = 0; i < N; i++)
		assert_int_equal(reel__stack_alloc(&p, 16384, &s[i]), 0);
	/* 20000 stacks in slabs of 64: at most one VMA per slab, not 2 per stack. */
	assert_true(count_maps() - before < N / 64 + 16);
	for (int i = 0; i < N; i++)
		reel__stack_free(&p, &s[i]);
	reel__stack_cache_term(&p);
	free(s);
}

/* Is the page at @addr resident? */
static bool resident(const char *addr)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char vec = 0;

	assert_int_equal(mincore((void *)addr, (size_t)page, &vec), 0);
	return vec & 1;
}

/* A fresh cache hands out a stack whose top page is committed already, and
 * so are the top pages of the next cold stacks (ahead, in one call); the
 * rest of each stack is not, so an idle fiber's RSS stays one page. With
 * committing off, nothing is resident until written. */
static void test_stack_cold_stacks_commit_their_top_page_ahead(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	struct reel__stack_cache p, off;
	struct reel__stack a, b, c;

	(void)state;
	assert_int_equal(reel__stack_cache_init(&p, true, true), 0);
	assert_int_equal(reel__stack_alloc(&p, 65536, &a), 0);
	if (!resident(a.lo + a.size - page)) {
		reel__stack_cache_term(&p);
		skip();   /* no MADV_POPULATE_WRITE (before 5.14) */
	}
	assert_false(resident(a.lo + a.size - 2 * page));
	assert_false(resident(a.lo));
	assert_int_equal(reel__stack_alloc(&p, 65536, &b), 0);   /* committed ahead */
	assert_true(resident(b.lo + b.size - page));
	assert_false(resident(b.lo + b.size - 2 * page));
	reel__stack_free(&p, &b);
	reel__stack_free(&p, &a);
	reel__stack_cache_term(&p);

	assert_int_equal(reel__stack_cache_init(&off, true, false), 0);
	assert_int_equal(reel__stack_alloc(&off, 65536, &c), 0);
	assert_false(resident(c.lo + c.size - page));
	reel__stack_free(&off, &c);
	reel__stack_cache_term(&off);
}

/* Trim drops the pages of the free stacks beyond the 64 most recently
 * freed, many stacks a call: one call of the budget covers them all. */
static void test_stack_trim_drops_many_stacks_a_call(void **state)
{
	enum { N = 200, HOT = 64 };
	long page = sysconf(_SC_PAGESIZE);
	struct reel__stack_cache p;
	struct reel__stack s[N];

	(void)state;
	assert_int_equal(reel__stack_cache_init(&p, true, true), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(reel__stack_alloc(&p, 65536, &s[i]), 0);
		s[i].lo[s[i].size - 1] = 1;   /* its top page is resident */
	}
	for (int i = 0; i < N; i++)
		reel__stack_free(&p, &s[i]);
	assert_int_equal(reel__stack_trim(&p, 1), 1);   /* no budget left to unmap */
	assert_false(resident(s[0].lo + s[0].size - page));
	assert_false(resident(s[N - HOT - 1].lo + s[N - HOT - 1].size - page));
	assert_true(resident(s[N - HOT].lo + s[N - HOT].size - page));
	assert_true(resident(s[N - 1].lo + s[N - 1].size - page));
	reel__stack_cache_term(&p);
}

static volatile int depth_limit = 1 << 30;   /* opaque to the compiler */

static int recurse(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	if (n >= depth_limit)
		return 0;
	return recurse(n + 1) + pad[0];
}

static int overflow_body(void *arg)
{
	(void)arg;
	return recurse(0);
}

/*
 * A stack-clash frame: 96 KiB of locals on a 64 KiB stack, first written at
 * its lowest byte. This file is built without -fstack-clash-protection (as
 * Debian's gcc builds user code), so nothing probes the pages in between:
 * with a one-page guard the write landed in the neighbouring stack, no fault.
 */
static int clash_neighbour(void *arg)
{
	(void)arg;
	return reel_sleep(10ull * 1000 * 1000 * 1000);
}

static volatile size_t clash_index;   /* 0, opaque to the compiler */

static int clash_body(void *arg)
{
	volatile char big[96 * 1024];

	(void)arg;
	/* An index the compiler cannot see, so the whole array is laid out
	 * (clang keeps only the bytes a constant index touches). */
	big[clash_index] = 1;
	return big[clash_index];
}

static int spawn_clash(void *arg)
{
	struct reel_spawn_opts o = { .stack_size = 65536, .name = "clash" };
	reel_task below, t;
	int st;

	(void)arg;
	/* A neighbour below, parked, whose stack the frame would reach. */
	if (reel_spawn(&below, clash_neighbour, NULL, &o) != 0 ||
	    reel_spawn(&t, clash_body, NULL, &o) != 0)
		return 1;
	reel_join(t, &st);
	reel_cancel(below);
	reel_join(below, &st);
	return 2;   /* reached only when the frame went through unnoticed */
}

static void test_stack_clash_frame_faults_in_the_guard(void **state)
{
	char out[1024];
	int wstatus;

	(void)state;
	wstatus = run_in_child(spawn_clash, NULL, NULL, out, sizeof(out));
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSEGV);
	assert_non_null(strstr(out, "fiber 'clash'"));
	assert_non_null(strstr(out, "overflowed its 65536-byte stack"));
}

/*
 * Address space comes back: 300 fibers on 512 KiB stacks end, the loop
 * idles (and trims), then 100 fibers on 2 MiB stacks must fit under an
 * RLIMIT_AS that holds either burst, not both. Before slabs were unmapped
 * whole, the first burst's reservation stayed and the second got -ENOMEM.
 */
enum { BURST_A = 300, BURST_B = 100 };

static int yield_once(void *arg)
{
	(void)arg;
	return reel_yield();
}

static int burst(size_t n, size_t stack_size)
{
	struct reel_spawn_opts o = { .stack_size = stack_size };
	reel_task t[BURST_A];
	int st[BURST_A];

	for (size_t i = 0; i < n; i++) {
		int err = reel_spawn(&t[i], yield_once, NULL, &o);

		if (err) {
			fprintf(stderr, "burst of %zu-byte stacks: spawn %zu: %d\n",
				stack_size, i, err);
			reel_gather(t, i, st, REEL_GATHER_ALL);
			return err;
		}
	}
	return reel_gather(t, n, st, 0);
}

static int two_bursts(void *arg)
{
	(void)arg;
	if (burst(BURST_A, 512 * 1024) != 0)
		return 1;
	reel_sleep(100 * 1000 * 1000);   /* idle: the loop trims */
	return burst(BURST_B, 2 * 1024 * 1024) != 0 ? 2 : 0;
}

static size_t vm_size(void)
{
	char line[256];
	size_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static void test_stack_free_slabs_give_address_space_back(void **state)
{
	int wstatus;
	pid_t pid;

	(void)state;
#ifdef REEL_ASAN
	skip();   /* ASan's shadow memory does not fit under an RLIMIT_AS */
#endif
	if (RUNNING_ON_VALGRIND)
		skip();   /* nor does valgrind's own address space */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		int st = 9;

		rl.rlim_cur = rl.rlim_max = vm_size() + ((size_t)280 << 20);
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(8);
		alarm(20);
		reel_run(two_bursts, NULL, NULL, &st);
		_exit(st);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
}

static char long_name[2000];

static int spawn_overflow(void *arg)
{
	struct reel_spawn_opts o = { .stack_size = 32768, .name = "deep-recursion" };
	reel_task t;

	if (arg)
		o.name = long_name;   /* longer than the handler's message */
	if (reel_spawn(&t, overflow_body, NULL, &o) != 0)
		return 1;
	reel_join(t, NULL);
	return 2;   /* not reached: the child dies */
}

/* Run a fiber that overflows in a child; check its stderr and status. */
static void overflow_child(unsigned disable, bool long_named)
{
	struct reel_run_opts opts = { .disable = disable };
	char out[1024];
	int wstatus = run_in_child(spawn_overflow, long_named ? long_name : NULL, &opts,
				   out, sizeof(out));

	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSEGV);
	if (!long_named)
		assert_non_null(strstr(out, "fiber 'deep-recursion'"));
	assert_non_null(strstr(out, "overflowed its 32768-byte stack"));
}

static void test_stack_overflow_dies_naming_the_fiber(void **state)
{
	(void)state;
	overflow_child(0, false);
}

/* A name longer than the handler's buffer is cut, not written past it. */
static void test_stack_overflow_message_with_a_huge_name(void **state)
{
	(void)state;
	memset(long_name, 'n', sizeof(long_name) - 1);
	overflow_child(0, true);
}

/* A SIGSEGV sent (not a fault) must still kill, as without reel. It runs in
 * a fresh program: here cmocka's own handler would be the one chained to. */
static void test_stack_sent_sigsegv_still_kills(void **state)
{
	int wstatus;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(RAISE_SEGV_PATH, "raise_segv", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
#ifdef REEL_ASAN
	/* ASan's handler is the one chained to: it reports, then exits 1 or
	 * aborts (ASAN_OPTIONS=abort_on_error=1) - never a clean exit. */
	assert_false(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
#else
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSEGV);
#endif
}

static void test_stack_overflow_dies_naming_the_fiber_mprotect(void **state)
{
	(void)state;
	overflow_child(REEL_NO_GUARD_INSTALL, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack_sizes_round_to_classes),
		cmocka_unit_test(test_stack_reuse_most_recent_first),
		cmocka_unit_test(test_stack_invalid_size_is_einval),
		cmocka_unit_test(test_stack_guard_page_faults_madv_guard),
		cmocka_unit_test(test_stack_guard_page_faults_mprotect),
		cmocka_unit_test(test_stack_guards_cost_no_vma_with_guard_install),
		cmocka_unit_test(test_stack_cold_stacks_commit_their_top_page_ahead),
		cmocka_unit_test(test_stack_trim_drops_many_stacks_a_call),
		cmocka_unit_test(test_stack_overflow_dies_naming_the_fiber),
		cmocka_unit_test(test_stack_overflow_dies_naming_the_fiber_mprotect),
		cmocka_unit_test(test_stack_overflow_message_with_a_huge_name),
		cmocka_unit_test(test_stack_sent_sigsegv_still_kills),
		cmocka_unit_test(test_stack_clash_frame_faults_in_the_guard),
		cmocka_unit_test(test_stack_free_slabs_give_address_space_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
