/*
 * Description: the context switch itself (engine/core/switch_x86_64_sysv.S):
 * callee-saved registers survive a round trip through a context that
 * clobbers them all; MXCSR and the x87 control word are the thread's,
 * left alone by the switch (a fiber's change is seen by the next); a
 * fresh context starts with an aligned stack; unwinding stops cleanly at
 * a fiber's first frame.
 */
#include <execinfo.h>
#include <fenv.h>
#include <stdlib.h>

#include "ctx.h"
#include "helpers.h"

#if !defined(REEL_ASAN)
/* The register tests drive reel__ctx_switch by hand, without ASan's fiber
 * annotations; under ASan the same paths are covered through reel_run. */
#define RAW_SWITCH_TESTS 1
#endif

#ifdef RAW_SWITCH_TESTS
void *main_sp, *fiber_sp;
uint64_t got[6];
static char *stack_mem;
static int fiber_round;
static int fiber_round_mode, fiber_saw_mode;

enum { STACK = 64 * 1024 };

/* The fiber: trash every callee-saved register, switch its own rounding
 * mode, go back; next time, check its own mode survived main's changes. */
static void clobber_entry(void *arg)
{
	(void)arg;
	for (;;) {
		fiber_round++;
		if (fiber_round == 2)
			fiber_saw_mode = fegetround();
		fesetround(FE_UPWARD);
		fiber_round_mode = fegetround();
		__asm__ volatile(
			"mov $0xdead, %%rbx\n\t"
			"mov $0xdead, %%r12\n\t"
			"mov $0xdead, %%r13\n\t"
			"mov $0xdead, %%r14\n\t"
			"mov $0xdead, %%r15\n\t"
			::: "rbx", "r12", "r13", "r14", "r15");
		reel__ctx_switch(&fiber_sp, main_sp, 0);
	}
}

/* Load sentinels into the callee-saved registers, switch to the fiber and
 * back, store what the registers hold afterwards. */
static void switch_with_sentinels(void)
{
	__asm__ volatile(
		"sub $128, %%rsp\n\t"          /* step over the red zone */
		"push %%rbp\n\t"
		"mov $0x1111, %%rbx\n\t"
		"mov $0x2222, %%r12\n\t"
		"mov $0x3333, %%r13\n\t"
		"mov $0x4444, %%r14\n\t"
		"mov $0x5555, %%r15\n\t"
		"mov $0x6666, %%rbp\n\t"
		"lea main_sp(%%rip), %%rdi\n\t"
		"mov fiber_sp(%%rip), %%rsi\n\t"
		"call reel__ctx_switch\n\t"
		"mov %%rbx, got+0(%%rip)\n\t"
		"mov %%r12, got+8(%%rip)\n\t"
		"mov %%r13, got+16(%%rip)\n\t"
		"mov %%r14, got+24(%%rip)\n\t"
		"mov %%r15, got+32(%%rip)\n\t"
		"mov %%rbp, got+40(%%rip)\n\t"
		"pop %%rbp\n\t"
		"add $128, %%rsp\n\t"
		::: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		    "r12", "r13", "r14", "r15", "memory", "cc",
		    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static void test_ctx_switch_preserves_callee_saved_registers(void **state)
{
	static const uint64_t want[6] = { 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666 };

	(void)state;
	stack_mem = malloc(STACK);
	fiber_round = 0;
	fiber_sp = reel__ctx_make(stack_mem + STACK, clobber_entry, NULL);
	for (int round = 0; round < 3; round++) {
		memset(got, 0, sizeof(got));
		switch_with_sentinels();
		for (int i = 0; i < 6; i++)
			assert_int_equal(got[i], want[i]);
	}
	assert_int_equal(fiber_round, 3);
	fesetround(FE_TONEAREST);
	free(stack_mem);
}

static uint16_t x87_cw(void)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

/* The floating-point control state belongs to the thread (ctx.h): the
 * switch neither saves nor restores it, so what one context sets, the
 * next sees - as with Go, Photon and setjmp/longjmp. */
static void test_ctx_fp_control_state_is_the_threads(void **state)
{
	(void)state;
	stack_mem = malloc(STACK);
	fiber_round = 0;
	fiber_sp = reel__ctx_make(stack_mem + STACK, clobber_entry, NULL);

	fesetround(FE_TOWARDZERO);
	reel__ctx_switch(&main_sp, fiber_sp, 0);      /* fiber sets FE_UPWARD */
	assert_int_equal(fiber_round_mode, FE_UPWARD);
	assert_int_equal(fegetround(), FE_UPWARD);     /* MXCSR and x87 alike */
	assert_int_equal(x87_cw() & 0x0c00, 0x0800);   /* x87 RC = up */

	fesetround(FE_DOWNWARD);
	reel__ctx_switch(&main_sp, fiber_sp, 0);      /* fiber reads the mode */
	assert_int_equal(fiber_saw_mode, FE_DOWNWARD);
	fesetround(FE_TONEAREST);
	free(stack_mem);
}

#endif /* RAW_SWITCH_TESTS */

/* Through the scheduler: the frame address of a fiber's body is 16-byte
 * aligned as the ABI wants (rbp = rsp at entry - 16 with frame pointers). */
static int aligned_body(void *arg)
{
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);

	(void)arg;
	FCHECK_EQ(fp % 16, 0);
	return 0;
}

static int spawn_aligned(void *arg)
{
	reel_task t[4];
	int st;
	static const size_t sizes[4] = { 0, 16384, 20000, 1 << 20 };

	(void)arg;
	for (int i = 0; i < 4; i++) {
		struct reel_spawn_opts o = { .stack_size = sizes[i] };

		FCHECK_EQ(reel_spawn(&t[i], aligned_body, NULL, &o), 0);
	}
	for (int i = 0; i < 4; i++) {
		FCHECK_EQ(reel_join(t[i], &st), 0);
		FCHECK_EQ(st, 0);
	}
	return 0;
}

static void test_ctx_fiber_frames_are_abi_aligned(void **state)
{
	(void)state;
	run_ok(spawn_aligned, NULL);
}

/* Unwinding a fiber stack (glibc backtrace, i.e. libgcc's CFI unwinder, as
 * gdb and perf do) must stop at the trampoline, not run off into garbage. */
static int nested(int depth)
{
	void *frames[64];

	if (depth > 0)
		return nested(depth - 1) + 1;
	return backtrace(frames, 64);
}

static int unwind_body(void *arg)
{
	int n = nested(5);

	*(int *)arg = n;
	return 0;
}

static int spawn_unwind(void *arg)
{
	reel_task t;

	FCHECK_EQ(reel_spawn(&t, unwind_body, arg, NULL), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	return 0;
}

static void test_ctx_unwinding_stops_at_fiber_entry(void **state)
{
	int frames = -1;

	(void)state;
	run_ok(spawn_unwind, &frames);
	/* nested x6, unwind_body, fiber_main, trampoline: about 9; never 64. */
	assert_true(frames >= 8);
	assert_true(frames < 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef RAW_SWITCH_TESTS
		cmocka_unit_test(test_ctx_switch_preserves_callee_saved_registers),
		cmocka_unit_test(test_ctx_fp_control_state_is_the_threads),
#endif
		cmocka_unit_test(test_ctx_fiber_frames_are_abi_aligned),
		cmocka_unit_test(test_ctx_unwinding_stops_at_fiber_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
