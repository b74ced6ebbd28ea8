/*
 * ctx.h - the context-switch contract (implemented in switch_<arch>_<abi>.S).
 *
 * A context is nothing but a saved stack pointer. reel__ctx_switch pushes the
 * general registers the ABI makes callee-saved (x86-64 SysV: rbx, rbp,
 * r12-r15) on the current stack, stores the stack pointer in *@save_sp, loads
 * @load_sp and pops the same frame from there, and "returns" @value - chosen
 * by the switcher - to the resumed context. Caller-saved state needs no
 * saving: the C compiler already treats the call as clobbering it. The
 * floating-point control state (MXCSR, the x87 control word) and the signal
 * mask are the thread's, shared by its contexts, not switched (why:
 * switch_x86_64_sysv.S; why not swapcontext: one rt_sigprocmask syscall per
 * switch).
 *
 * reel__ctx_make builds, at the top of a fresh stack, a frame that the next
 * switch to it "returns" into: the trampoline reel__ctx_start, which calls
 * @entry(@arg). @entry must never return; a fiber leaves by switching away
 * for the last time. The trampoline's CFI marks the outermost frame, so gdb
 * and perf stop unwinding there instead of wandering into garbage.
 */
#ifndef REEL_CTX_H
#define REEL_CTX_H

#include <stddef.h>

typedef void (*reel__ctx_entry)(void *arg);

/* Returns @value as passed by whichever context later switches back here. */
int reel__ctx_switch(void **save_sp, void *load_sp, int value);

/* The same, leaving by an indirect jump instead of ret: for tail calls
 * (reel_yield), where no call of the switcher sits on the return-stack
 * predictor (switch_x86_64_sysv.S explains). */
int reel__ctx_switch_jmp(void **save_sp, void *load_sp, int value);

/* Returns the initial stack pointer for a stack whose highest usable byte is
 * just below @stack_top (16-byte aligned). */
void *reel__ctx_make(void *stack_top, reel__ctx_entry entry, void *arg);

#endif /* REEL_CTX_H */
