/*
 * switch_x86_64_sysv.S - fiber context switch for x86-64, System V ABI, ELF.
 *
 * The saved frame, at the saved stack pointer (lowest address first):
 *
 *   sp+0   r15
 *   sp+8   r14
 *   sp+16  r13
 *   sp+24  r12
 *   sp+32  rbx
 *   sp+40  rbp                 frame pointer chain stays intact
 *   sp+48  return address      where the switched-to context resumes
 *
 * Only the general registers the ABI makes callee-saved are kept: the
 * switch is a function call, so the compiler has already given up every
 * caller-saved register. The floating-point control state (MXCSR and the
 * x87 control word: rounding, FTZ/DAZ, exception masks) is the thread's,
 * shared by its fibers, as with Go, Photon and any setjmp/longjmp-based
 * coroutine: a fiber that changes it puts it back before it parks or
 * yields (docs/core.md). Keeping it per fiber, as Boost.Context's
 * jump_fcontext does, made the switch the bigger half of a yield round
 * trip on the development machine (AMD EPYC, nested KVM): ldmxcsr alone
 * costs ~2 ns a switch, and the round trip went from 1.3x jump_fcontext to
 * under it without it. Restoring only when the values differ is no way
 * out: reading back what stmxcsr just stored stalls on store forwarding
 * (measured slower than restoring unconditionally, there and before on
 * Intel).
 *
 * The switch passes a value in eax to the context it resumes: reel_yield
 * tail-calls the switch, so a yielding fiber resumes straight in its caller
 * with its result. It comes in two exits, ret and pop+jmp (see SWITCH).
 *
 * A fresh context made by reel__ctx_make holds the same frame with rbp = 0
 * (end of the frame-pointer chain), r12 = entry, r13 = arg, and returns
 * into reel__ctx_start.
 */
#if defined(__x86_64__)

/* No <cet.h>: it would mark this object compatible with shadow stacks and
 * IBT, which a stack switch ending in jmp/ret to another stack's return
 * address is not. Unmarked, the linker leaves CET off for the program, which
 * is the truth. */
#define _CET_ENDBR

	.text

/*
 * SWITCH name, exit: the switch, with one of two ways out.
 *   ret   reel__ctx_switch: for switches made by a call (parking). The
 *         return-stack predictor's top entry is our own call site, which is
 *         where a fiber parked the same way resumes: predicted, and the
 *         predictor's stack stays balanced for the returns that follow.
 *   jmp   reel__ctx_switch_jmp: for reel_yield's tail call. There is no
 *         call of ours on the predictor's stack, only our caller's, so a
 *         ret would miss whenever two fibers yield from different places;
 *         an indirect jump is predicted by the branch predictor instead.
 */
.macro SWITCH name, exit
	.globl	\name
	.hidden	\name
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	_CET_ENDBR
	pushq	%rbp			/* save the caller's frame pointer */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx			/* callee-saved general registers ... */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	movq	%rsp, (%rdi)		/* *save_sp = our frame */
	movl	%edx, %eax		/* value: what the other side's call returns */
	movq	%rsi, %rsp		/* switch to the other stack */
	popq	%r15			/* restore its callee-saved registers */
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.ifc \exit, ret
	ret				/* resume where it switched out */
	.else
	popq	%rcx			/* its resume address, reached ... */
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmp	*%rcx			/* ... by an indirect jump */
	.endif
	.cfi_endproc
	.size	\name, .-\name
.endm

/* int reel__ctx_switch(void **save_sp, void *load_sp, int value) */
	SWITCH	reel__ctx_switch, ret
/* int reel__ctx_switch_jmp(void **save_sp, void *load_sp, int value) */
	SWITCH	reel__ctx_switch_jmp, jmp

/*
 * First code run on a fresh stack: r12 = entry, r13 = arg (popped from the
 * frame built by reel__ctx_make). The stack pointer is 16-byte aligned here,
 * so the call below enters @entry with the alignment the ABI requires.
 */
	.globl	reel__ctx_start
	.hidden	reel__ctx_start
	.type	reel__ctx_start, @function
	.p2align 4
reel__ctx_start:
	.cfi_startproc
	.cfi_undefined rip		/* outermost frame: unwinders stop here */
	nop				/* a fresh context "returns" to the next
					 * instruction; unwinders look up return
					 * address - 1, which must be in here */
reel__ctx_start_entry:
	movq	%r13, %rdi		/* entry's argument */
	callq	*%r12			/* entry(arg); never returns */
	ud2				/* entry returned: a bug, trap at once */
	.cfi_endproc
	.size	reel__ctx_start, .-reel__ctx_start

/* void *reel__ctx_make(void *stack_top, reel__ctx_entry entry, void *arg) */
	.globl	reel__ctx_make
	.hidden	reel__ctx_make
	.type	reel__ctx_make, @function
	.p2align 4
reel__ctx_make:
	.cfi_startproc
	_CET_ENDBR
	movq	%rdi, %rax
	andq	$-16, %rax		/* align the top down to 16 bytes */
	subq	$56, %rax		/* one saved frame; rax+56 stays aligned */
	movq	$0, (%rax)		/* r15 */
	movq	$0, 8(%rax)		/* r14 */
	movq	%rdx, 16(%rax)		/* r13 = arg */
	movq	%rsi, 24(%rax)		/* r12 = entry */
	movq	$0, 32(%rax)		/* rbx */
	movq	$0, 40(%rax)		/* rbp = 0: end of the frame chain */
	leaq	reel__ctx_start_entry(%rip), %rcx
	movq	%rcx, 48(%rax)		/* "return address" = trampoline */
	ret				/* rax = initial stack pointer */
	.cfi_endproc
	.size	reel__ctx_make, .-reel__ctx_make

#else
#error "reel: no context switch for this architecture yet"
#endif

	.section .note.GNU-stack,"",@progbits
