/*
 * ring.c - the loop's io_uring.
 *
 * Who writes what (liburing does the loads and stores; this is the contract
 * it keeps for us):
 *   SQ tail  - written by us (io_uring_submit publishes it with a release
 *              store); the kernel reads it with an acquire.
 *   SQ head  - written by the kernel as it consumes SQEs; read by us with an
 *              acquire in io_uring_get_sqe, so a slot is reused only after the
 *              kernel has copied the SQE out.
 *   CQ tail  - written by the kernel with a release after filling the CQE;
 *              read by us with an acquire in io_uring_peek_batch_cqe, which
 *              pairs with it, so the CQE's fields are visible.
 *   CQ head  - written by us with a release in io_uring_cq_advance, after
 *              we are done reading the CQEs; pairs with the kernel's acquire
 *              before it overwrites an entry.
 *   SQ flags - written by the kernel (IORING_SQ_CQ_OVERFLOW, IORING_SQ_TASKRUN),
 *              read by us with a relaxed load: a hint to enter the kernel.
 *
 * Policy:
 *   - Set-up tries SINGLE_ISSUER + DEFER_TASKRUN first (completions are run
 *     only when we ask, on our thread: no IPIs, no task-work interrupts),
 *     then COOP_TASKRUN + TASKRUN_FLAG, then plain; each step down is
 *     recorded with its reason for the capability report. Not TASKRUN_FLAG
 *     with DEFER_TASKRUN: the loop enters once per pass whenever anything
 *     is in flight anyway (needs_enter), and with the flag set liburing's
 *     io_uring_peek_batch_cqe enters the kernel itself each time it finds
 *     the CQ empty while task work is pending - so reap chased every
 *     arriving receive with an enter of its own: 2.5x the enters per message
 *     of an echo server at 50 connections, and 4-20% more CPU per message
 *     (same-run A/Bs on a shared machine).
 *   - A parked fiber's SQE is only queued; the scheduler submits once per
 *     pass, so one io_uring_enter carries every fiber's SQE of that pass.
 *   - user_data is an op-table slot and a generation, never a raw pointer
 *     (a MSG_RING to a peer's inbox excepted: bit 63 tags it, and op
 *     generations stay below 2^31; success posts no CQE here).
 *   - CQEs are reaped in batches; on overflow (IORING_FEAT_NODROP keeps the
 *     extra CQEs in the kernel) reaping goes on until the kernel's overflow
 *     list is empty, so nothing is lost.
 *   - Set-up ENOMEM is RLIMIT_MEMLOCK on kernels that charge rings to it
 *     (per user, and a closed ring is uncharged asynchronously, a moment
 *     later): retried with back-off, then with halved rings, each smaller
 *     ring noted in the fallbacks (design §4).
 *   - io_uring_enter errors: EINTR, EAGAIN, EBUSY and ETIME are the normal
 *     ones. Any other (a seccomp filter refusing io_uring_enter, EFAULT,
 *     EBADF...) would come back on every retry, so the ring is marked
 *     broken instead of spinning (break_ring): one sentence on stderr, every
 *     pending op completes with the error, every later op fails at once,
 *     and waits become plain sleeps to the next timer (design §4). Rejected:
 *     retrying with back-off (a filter never relents; the loop would hang
 *     silently) and aborting (the program could not shut down in order).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <reel.h>

#include "internal.h"
#include "ring.h"
#include "trace.h"

enum { REAP_BATCH = 64, FIRST_SLOTS = 256, ENOMEM_TRIES = 5 };

static void note_fallback(struct reel__ring *r, const char *what)
{
	size_t used = strlen(r->caps.fallback);

	snprintf(r->caps.fallback + used, sizeof(r->caps.fallback) - used,
		 "%s%s", used ? "; " : "", what);
}

/* The set-up ladder: each rung drops one optional flag. */
static int setup_ring(struct reel__ring *r, unsigned entries, unsigned disable)
{
	unsigned want = IORING_SETUP_SUBMIT_ALL;
	struct io_uring_params p;
	int err;

	r->caps.fallback[0] = '\0';   /* a retry starts the notes afresh */
	if (!(disable & REEL_NO_SINGLE_ISSUER))
		want |= IORING_SETUP_SINGLE_ISSUER;
	else
		note_fallback(r, "single_issuer off (disabled by request)");
	if (!(disable & REEL_NO_DEFER_TASKRUN) && (want & IORING_SETUP_SINGLE_ISSUER))
		want |= IORING_SETUP_DEFER_TASKRUN;
	else if (disable & REEL_NO_DEFER_TASKRUN)
		note_fallback(r, "defer_taskrun off (disabled by request)");
	if (!(want & IORING_SETUP_DEFER_TASKRUN) && !(disable & REEL_NO_COOP_TASKRUN))
		want |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;

	for (;;) {
		memset(&p, 0, sizeof(p));
		p.flags = want;
		err = io_uring_queue_init_params(entries, &r->ring, &p);
		if (err != -EINVAL)
			break;
		/* Older kernels reject flags they do not know with EINVAL. */
		if (want & IORING_SETUP_DEFER_TASKRUN) {
			want &= ~(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
			if (!(disable & REEL_NO_COOP_TASKRUN))
				want |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
			note_fallback(r, "defer_taskrun refused by the kernel (needs 6.1)");
		} else if (want & IORING_SETUP_SINGLE_ISSUER) {
			want &= ~IORING_SETUP_SINGLE_ISSUER;
			note_fallback(r, "single_issuer refused by the kernel (needs 6.0)");
		} else if (want & IORING_SETUP_COOP_TASKRUN) {
			want &= ~(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
			note_fallback(r, "coop_taskrun refused by the kernel (needs 5.19)");
		} else if (want & IORING_SETUP_SUBMIT_ALL) {
			want &= ~IORING_SETUP_SUBMIT_ALL;
			note_fallback(r, "submit_all refused by the kernel (needs 5.18)");
		} else {
			break;
		}
	}
	if (err)
		return err;
	r->caps.setup_flags = want;
	r->caps.features = p.features;
	r->caps.sq_entries = p.sq_entries;
	r->caps.cq_entries = p.cq_entries;
	r->caps.ext_arg = (p.features & IORING_FEAT_EXT_ARG) && !(disable & REEL_NO_EXT_ARG);
	if (!(p.features & IORING_FEAT_EXT_ARG))
		note_fallback(r, "no ext_arg in this kernel: timed waits use a TIMEOUT SQE");
	else if (!r->caps.ext_arg)
		note_fallback(r, "ext_arg off (disabled by request): timed waits use a TIMEOUT SQE");
	if (!(p.features & IORING_FEAT_NODROP))
		note_fallback(r, "no NODROP in this kernel: CQ overflow may lose completions");
	return 0;
}

/* A registration that failed: a refusal (seccomp, an LSM) is named as
 * such; anything else is taken for a kernel without the feature. */
static void note_register_failure(struct reel__ring *r, const char *what, int err,
				  const char *old_kernel)
{
	char line[200];

	if (err == -EPERM || err == -EACCES)
		snprintf(line, sizeof(line), "%s: io_uring_register refused: %s "
			 "(a seccomp filter or security policy?)", what, strerror(-err));
	else
		snprintf(line, sizeof(line), "%s (%s)", what, old_kernel);
	note_fallback(r, line);
}

/* Which opcodes the kernel has, once per loop, for the I/O layer's choice
 * between an SQE and a fallback. */
static void probe_ops(struct reel__ring *r)
{
	enum { NOPS = 256 };
	struct io_uring_probe *p = calloc(1, sizeof(*p) + NOPS * sizeof(p->ops[0]));
	int err = p ? io_uring_register_probe(&r->ring, p, NOPS) : -ENOMEM;

	r->caps.ops = 0;
	if (err) {
		/* Kernels before 5.6 cannot probe; they have at most these. */
		note_register_failure(r, "opcode probe failed: file operations fall "
				      "back to system calls", err, "kernel before 5.6?");
		r->caps.ops = ((uint64_t)1 << IORING_OP_OPENAT) - 1;
		free(p);
		return;
	}
	for (unsigned op = 0; op <= p->last_op && op < 64; op++)
		if (io_uring_opcode_supported(p, (int)op))
			r->caps.ops |= (uint64_t)1 << op;
	free(p);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * setup_ring, with the memlock policy: ENOMEM ENOMEM_TRIES times at the size
 * asked, 2+4+8+16 ms apart (a ring closed just before, by this process or
 * another of the same user, is uncharged by the kernel a moment later), then
 * halved sizes down to REEL__RING_MIN_ENTRIES, 4 ms apart. *@got is the
 * size the ring was made with.
 */
static int setup_with_retries(struct reel__ring *r, unsigned asked, unsigned disable,
			      unsigned *got)
{
	unsigned entries = asked;
	int err;

	for (unsigned try = 1;; try++) {
		err = setup_ring(r, entries, disable);
		if (err != -ENOMEM)
			break;
		if (try < ENOMEM_TRIES) {
			sleep_ms(1u << try);
		} else if (entries / 2 >= REEL__RING_MIN_ENTRIES) {
			entries /= 2;
			sleep_ms(4);
		} else {
			break;
		}
	}
	*got = entries;
	return err;
}

int reel__ring_init(struct reel__ring *r, unsigned entries, unsigned disable,
		    char *why, size_t why_len)
{
	unsigned asked = entries ? entries : REEL__RING_DEFAULT_ENTRIES, got;
	int err;

	/* cq_overflow: the smallest ring, so that a slow reap overflows it. */
	if (reel__fault_enabled(REEL__FAULT_CQ_OVERFLOW))
		asked = REEL__RING_MIN_ENTRIES;

	memset(r, 0, sizeof(*r));
	err = setup_with_retries(r, asked, disable, &got);
	if (err) {
		reel__explain_setup_error(err, asked, why, why_len);
		return err;
	}
	if (got != asked) {
		char line[200];

		snprintf(line, sizeof(line), "smaller ring: %u entries instead of %u "
			 "(ENOMEM: RLIMIT_MEMLOCK is charged for rings on this kernel)",
			 got, asked);
		note_fallback(r, line);
	}
	r->slots = calloc(FIRST_SLOTS, sizeof(*r->slots));
	if (!r->slots) {
		io_uring_queue_exit(&r->ring);
		snprintf(why, why_len, "reel: out of memory for the op table");
		return -ENOMEM;
	}
	/* A registered ring fd spares io_uring_enter an fget/fput per call
	 * (5.18+); without it every enter still works, only a little slower. */
	err = io_uring_register_ring_fd(&r->ring);
	if (err == 1)
		r->caps.registered_fd = true;
	else
		note_register_failure(r, "ring fd not registered", err, "needs 5.18");
	probe_ops(r);
	r->nslots = FIRST_SLOTS;
	for (uint32_t i = 0; i < FIRST_SLOTS; i++) {
		r->slots[i].gen = 1;
		r->slots[i].next_free = i + 1;
	}
	r->free_head = 0;
	return 0;
}

int reel__ring_check_enter(struct reel__ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, REEL__UD_IGNORE);
	ret = io_uring_submit_and_wait(&r->ring, 1);
	if (ret < 0)
		return ret;
	if (io_uring_peek_cqe(&r->ring, &cqe) == 0)
		io_uring_cqe_seen(&r->ring, cqe);
	return 0;
}

void reel__ring_term(struct reel__ring *r)
{
	io_uring_queue_exit(&r->ring);
	free(r->slots);
	r->slots = NULL;
}

/* An op slot's next generation: 1 .. 2^31 - 1, so that bit 63 of a
 * user_data is never an op's (REEL__UD_MSG_RING_SENT). */
static inline uint32_t next_gen(uint32_t gen)
{
	return gen + 1 < (1u << 31) ? gen + 1 : 1;
}

static int grow_slots(struct reel__ring *r)
{
	uint32_t n = r->nslots * 2;
	struct reel__op_slot *s;

	if (n < r->nslots)
		return -ENOMEM;
	s = realloc(r->slots, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = r->nslots; i < n; i++) {
		s[i].op = NULL;
		s[i].gen = 1;
		s[i].next_free = i + 1;
	}
	r->slots = s;
	r->free_head = r->nslots;
	r->nslots = n;
	return 0;
}

/* A multishot operation's completions (IORING_CQE_F_MORE, and the final
 * one after them) are marked and carry no latency: the time from its submit
 * is how long the socket was quiet, not how long the kernel took. */
#define TRACE_MULTISHOT 0x8000u
#define SLOT_MULTISHOT UINT64_MAX

static void trace_completion(struct reel__op_slot *slot, const struct reel__op *op,
			     const struct io_uring_cqe *cqe)
{
	uint64_t lat = 0;
	unsigned c = op->opcode;

	if ((cqe->flags & IORING_CQE_F_MORE) || slot->t_submit == SLOT_MULTISHOT) {
		c |= TRACE_MULTISHOT;
		slot->t_submit = SLOT_MULTISHOT;
	} else if (slot->t_submit) {
		lat = reel__trace_now() - slot->t_submit;
	}
	REEL_TRACE(complete, COMPLETE, op->waiter ? ((struct reel__fiber *)op->waiter)->id : 0,
		   lat, (uint32_t)cqe->res, c);
}

static void dispatch(struct reel__ring *r, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t idx = (uint32_t)ud, gen = (uint32_t)(ud >> 32);
	struct reel__op_slot *slot;
	struct reel__op *op;

	r->completions++;
	if (ud == REEL__UD_WAIT_TIMEOUT) {
		r->wait_timeout_armed = false;
		return;
	}
	if (ud == REEL__UD_IGNORE || ud == REEL__UD_INBOX)
		return;   /* a peer's wake-up: the pass end looks at the inbox */
	if (reel_unlikely(ud & REEL__UD_MSG_RING_SENT)) {
		if (r->msg_ring_failed)
			r->msg_ring_failed(ud, cqe->res);
		return;
	}
	if (reel_unlikely(idx >= r->nslots || r->slots[idx].gen != gen ||
			  !r->slots[idx].op)) {
		r->stale_cqes++;
		return;
	}
	slot = &r->slots[idx];
	op = slot->op;
	op->res = cqe->res;
	op->cqe_flags = cqe->flags;
	if (REEL_TRACING())
		trace_completion(slot, op, cqe);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		/* Final CQE: the kernel is done with the op; free its slot. */
		slot->op = NULL;
		slot->gen = next_gen(slot->gen);
		slot->next_free = r->free_head;
		r->free_head = idx;
		r->inflight--;
		op->done = true;
	}
	REEL_TRACE_CAUSE(op->opcode + 1);   /* what a wake here was */
	op->complete(op);
	REEL_TRACE_CAUSE(0);
}

/* Dispatch every CQE there is. peek_batch flushes the kernel's overflow
 * list when the CQ ring is empty and IORING_SQ_CQ_OVERFLOW is set, so the
 * loop ends only when both are empty. */
static unsigned reap(struct reel__ring *r)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned total = 0, n, batch = REAP_BATCH;

	if (reel_unlikely(io_uring_cq_has_overflow(&r->ring)))
		r->overflows_seen++;
	if (reel__fault(REEL__FAULT_CQ_OVERFLOW))
		batch = 1;   /* a slow reaper: the rest waits, the CQ fills */
	while ((n = io_uring_peek_batch_cqe(&r->ring, cqes, batch)) != 0) {
		for (unsigned i = 0; i < n; i++)
			dispatch(r, cqes[i]);
		io_uring_cq_advance(&r->ring, n);
		total += n;
		if (batch == 1)
			break;
	}
	return total;
}

/* Completes every op still in the table with @err, as if its final CQE
 * had said so; the kernel side is never entered again. */
static void fail_all(struct reel__ring *r, int err)
{
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct reel__op *op = r->slots[i].op;

		if (!op)
			continue;
		r->slots[i].op = NULL;
		r->slots[i].gen = next_gen(r->slots[i].gen);
		r->slots[i].next_free = r->free_head;
		r->free_head = i;
		r->inflight--;
		op->res = err;
		op->cqe_flags = 0;
		op->done = true;
		op->complete(op);
	}
}

/*
 * io_uring_enter failed with @err, an error that retrying would only repeat:
 * say so once, keep the CQEs the kernel already posted (reading them needs
 * no system call), complete every other op with @err, drop the SQEs not yet
 * taken, and never enter again. Ops the kernel had already taken (a read in
 * an io-wq worker) are cancelled only when the ring is closed at the loop's
 * end (design §4).
 */
static void break_ring(struct reel__ring *r, int err)
{
	if (r->broken)
		return;
	r->broken = err;
	fprintf(stderr, "reel: io_uring_enter failed: %s (%s); the loop's ring is "
		"out of use: pending and later I/O calls fail with this error, "
		"timers still run\n", strerror(-err), reel__enter_error_hint(err));
	reap(r);
	r->ring.sq.sqe_tail = r->ring.sq.sqe_head;
	r->wait_timeout_armed = false;
	fail_all(r, err);
}

/* The errors io_uring_enter reports in normal operation. */
static bool enter_error_passes(int err)
{
	return err == -EINTR || err == -EAGAIN || err == -EBUSY || err == -ETIME;
}

/* Nothing reaped after -EBUSY/-EAGAIN: wait up to 1 ms for a completion
 * when any can come (with ext_arg: the wait submits nothing), else sleep
 * 1 ms (the kernel is out of memory for requests). Bounded, because the
 * ops in flight may be waiting for an SQE still queued behind the failed
 * submit (a read whose writer's SQE is queued): an unbounded wait would
 * never end. Found by REEL_FAULTS=submit_eagain. */
static void back_off(struct reel__ring *r)
{
	struct __kernel_timespec ts = { 0, 1000000 };
	struct io_uring_cqe *cqe;
	int err = -EAGAIN;

	if (r->inflight && r->caps.ext_arg)
		err = io_uring_wait_cqes(&r->ring, &cqe, 1, &ts, NULL);
	if (err < 0 && !enter_error_passes(err))
		break_ring(r, err);
	else if (err < 0 && !(r->inflight && r->caps.ext_arg))
		sleep_ms(1);
}

/* submit_eagain, submit_ebusy, submit_eintr: the submit is not made and
 * answers the error, as the kernel does before it consumes any SQE. */
static int injected_submit_error(void)
{
	if (reel__fault(REEL__FAULT_SUBMIT_EAGAIN))
		return -EAGAIN;
	if (reel__fault(REEL__FAULT_SUBMIT_EBUSY))
		return -EBUSY;
	if (reel__fault(REEL__FAULT_SUBMIT_EINTR))
		return -EINTR;
	return 0;
}

/* Submit everything queued; -EBUSY/-EAGAIN (CQ backlog, no memory for
 * requests) means reap first, then retry; any error other than those and
 * EINTR breaks the ring. */
static void submit_all(struct reel__ring *r, bool get_events)
{
	int ret;

	while (!r->broken) {
		unsigned queued = io_uring_sq_ready(&r->ring);

		ret = injected_submit_error();
		if (!ret)
			ret = get_events ? io_uring_submit_and_get_events(&r->ring)
					 : io_uring_submit(&r->ring);
		if (ret >= 0) {
			if (queued) {
				r->sqes += (unsigned)ret;
				REEL_TRACE(submit, SUBMIT, 0, 0, ret, 0);
			}
			r->enters++;
			if ((unsigned)ret >= queued)
				return;
			continue;   /* partial submit: go on with the rest */
		}
		if (ret == -EBUSY || ret == -EAGAIN) {
			/* The kernel is short of CQ room or memory: reap, and when
			 * nothing was there, wait for a completion (or a moment)
			 * before trying again rather than spinning. */
			if (reap(r) == 0)
				back_off(r);
			continue;
		}
		if (ret != -EINTR)
			break_ring(r, ret);   /* SUBMIT_ALL reports per-SQE errors in CQEs */
	}
}

struct io_uring_sqe *reel__ring_sqe(struct reel__ring *r)
{
	struct io_uring_sqe *sqe;

	while (!r->broken && (sqe = io_uring_get_sqe(&r->ring)) == NULL)
		submit_all(r, false);
	return r->broken ? NULL : sqe;
}

struct io_uring_sqe *reel__ring_op_sqe(struct reel__ring *r, struct reel__op *op,
				       int *err)
{
	struct io_uring_sqe *sqe;
	uint32_t idx;

	if (r->free_head >= r->nslots && grow_slots(r) != 0) {
		*err = -ENOMEM;
		return NULL;
	}
	sqe = reel__ring_sqe(r);
	if (reel_unlikely(!sqe)) {
		*err = r->broken;
		return NULL;
	}
	idx = r->free_head;
	r->free_head = r->slots[idx].next_free;
	r->slots[idx].op = op;
	r->slots[idx].t_submit = REEL_TRACING() ? reel__trace_now() : 0;
	op->user_data = ((uint64_t)r->slots[idx].gen << 32) | idx;
	op->done = false;
	op->res = 0;
	op->cqe_flags = 0;
	r->inflight++;
	*err = 0;
	return sqe;
}

void reel__ring_report_ops(const struct reel__ring *r, const void *waiter)
{
	for (uint32_t i = 0; i < r->nslots; i++) {
		const struct reel__op *op = r->slots[i].op;

		if (op && op->waiter == waiter)
			fprintf(stderr, "  in flight: opcode %u, user_data %#llx, record at %p\n",
				op->opcode, (unsigned long long)op->user_data, (const void *)op);
	}
}

unsigned reel__ring_ops_within(const struct reel__ring *r, const void *lo, const void *hi)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < r->nslots; i++) {
		const struct reel__op *op = r->slots[i].op;

		if (op && (const void *)op >= lo && (const void *)op < hi) {
			fprintf(stderr, "  in flight: opcode %u, user_data %#llx, record at %p\n",
				op->opcode, (unsigned long long)op->user_data, (const void *)op);
			n++;
		}
	}
	return n;
}

void reel__ring_cancel(struct reel__ring *r, struct reel__op *op)
{
	struct io_uring_sqe *sqe = reel__ring_sqe(r);

	if (!sqe)
		return;   /* broken: the op has completed with the error */
	io_uring_prep_cancel64(sqe, op->user_data, 0);
	io_uring_sqe_set_data64(sqe, REEL__UD_IGNORE);
}

/* With DEFER_TASKRUN, completions that need task work are posted only when
 * we enter with GETEVENTS; otherwise the kernel flags pending task work or a
 * CQ overflow in the SQ flags. */
static bool needs_enter(const struct reel__ring *r)
{
	unsigned flags;

	if (io_uring_sq_ready(&r->ring))
		return true;
	if (r->inflight <= r->idle_ops)
		return false;   /* only the inbox's read: its wake-up waits */
	if (r->caps.setup_flags & IORING_SETUP_DEFER_TASKRUN)
		return true;
	flags = IO_URING_READ_ONCE(*r->ring.sq.kflags);
	return flags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

unsigned reel__ring_poll(struct reel__ring *r)
{
	if (reel_unlikely(r->broken))
		return 0;
	if (needs_enter(r))
		submit_all(r, true);
	return reap(r);
}

static void ns_to_ts(uint64_t ns, struct __kernel_timespec *ts)
{
	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
}

/* The broken ring's wait: nothing can complete, only a timer can be due. */
static unsigned broken_wait(uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	if (timeout_ns != UINT64_MAX)
		nanosleep(&ts, NULL);   /* EINTR: the scheduler looks again */
	return 0;
}

/* The blocking enter of reel__ring_wait: submit, and wait for one CQE or
 * @timeout_ns. Returns io_uring_enter's result (-errno). */
static int enter_and_wait(struct reel__ring *r, uint64_t timeout_ns)
{
	struct io_uring_cqe *cqe;

	if (r->caps.ext_arg)
		return io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1,
							timeout_ns == UINT64_MAX ? NULL : &r->wait_ts,
							NULL);
	/* One TIMEOUT SQE bounds the wait; count 1 makes it complete as soon
	 * as any other CQE is posted, so at most one is ever armed. Its
	 * timespec lives in the ring struct: should the submit fail, the SQE
	 * stays queued and must not point into a dead frame. */
	if (timeout_ns != UINT64_MAX && !r->wait_timeout_armed) {
		struct io_uring_sqe *sqe = reel__ring_sqe(r);

		if (!sqe)
			return r->broken;
		io_uring_prep_timeout(sqe, &r->wait_ts, 1, 0);
		io_uring_sqe_set_data64(sqe, REEL__UD_WAIT_TIMEOUT);
		r->wait_timeout_armed = true;
	}
	return io_uring_submit_and_wait(&r->ring, 1);
}

unsigned reel__ring_wait(struct reel__ring *r, uint64_t timeout_ns)
{
	unsigned n;
	int ret;

	if (reel_unlikely(r->broken))
		return broken_wait(timeout_ns);
	n = reap(r);
	if (n)
		return n + reel__ring_poll(r);
	if (timeout_ns != UINT64_MAX)
		ns_to_ts(timeout_ns, &r->wait_ts);
	ret = injected_submit_error();   /* the enter not made */
	if (!ret) {
		uint64_t t0 = reel__mono_ns();
		unsigned queued = io_uring_sq_ready(&r->ring);   /* submitted by this enter */

		REEL_TRACE(wait, WAIT, 0, timeout_ns, 0, 0);
		ret = enter_and_wait(r, timeout_ns);
		r->idle_ns += reel__mono_ns() - t0;
		r->enters++;
		if (ret >= 0 && queued) {
			r->sqes += queued;
			REEL_TRACE(submit, SUBMIT, 0, 0, queued, 0);
		}
	}
	if (r->broken)
		return broken_wait(timeout_ns);   /* reel__ring_sqe broke it */
	if (ret < 0 && !enter_error_passes(ret)) {
		n = reap(r);
		break_ring(r, ret);   /* the failed ops' fibers are ready now */
		return n;
	}
	n = reap(r);
	REEL_TRACE(wakeup, WAKEUP, 0, 0, n, 0);
	return n;
}
