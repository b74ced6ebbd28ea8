/*
 * Description: scopes (engine/core/deadline.c) through the public API:
 * reel_scope_enter/leave and the REEL_TIMEOUT / REEL_CANCEL_SCOPE blocks -
 * a deadline on every parking call inside, sticky until the scope is left
 * and not after, nesting that never extends an outer deadline, expiry
 * reported by reel_scope_expired and reel_scope_result, cancel scopes
 * cancelled from another fiber, rescheduling, timeout 0, a task cancelled
 * inside, `return` and `break` out of a block, misuse answered with -EINVAL
 * (or an abort naming the task that ended inside a scope), and the AI-chat
 * shape: a per-token timeout inside an overall deadline, written with
 * scopes and no wrapper function.
 */
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "helpers.h"

/* ---- a timeout around a block ------------------------------------------------- */

static int timeout_expires_main(void *arg)
{
	struct reel_scope s;
	uint64_t t0 = reel_now(), el;
	int r = 1;

	(void)arg;
	REEL_TIMEOUT(&s, 50 * MS) {
		r = reel_sleep(10 * SEC);
		el = reel_now() - t0;
		/* sticky inside the scope: every parking call says so at once */
		FCHECK_EQ(reel_yield(), -ETIMEDOUT);
		FCHECK_EQ(reel_nop(), -ETIMEDOUT);
	}
	FCHECK_EQ(r, -ETIMEDOUT);
	FCHECK(el >= 50 * MS);                  /* never early */
	FCHECK(el <= 50 * MS + LATE_OK_NS);
	FCHECK_EQ(reel_scope_result(&s), -ETIMEDOUT);
	FCHECK_EQ(reel_scope_expired(&s), 1);
	/* not after it: the fiber parks normally again */
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_scope_timeout_expires_inside_only(void **state)
{
	(void)state;
	run_ok(timeout_expires_main, NULL);
}

static int timeout_in_time_main(void *arg)
{
	struct reel_scope s;
	uint64_t before = reel_now();
	int r = 1;

	(void)arg;
	FCHECK_EQ(reel_scope_enter(&s, 10 * SEC), 0);
	FCHECK(reel_scope_deadline(&s) >= before + 10 * SEC);
	r = reel_sleep(5 * MS);
	FCHECK_EQ(reel_scope_leave(&s), 0);
	FCHECK_EQ(r, 0);
	FCHECK_EQ(reel_scope_result(&s), 0);
	FCHECK_EQ(reel_scope_expired(&s), 0);
	/* leaving twice: not entered any more */
	FCHECK_EQ(reel_scope_leave(&s), -EINVAL);
	return 0;
}

static void test_scope_ends_in_time_and_disarms(void **state)
{
	(void)state;
	run_ok(timeout_in_time_main, NULL);   /* run_ok: no timer left armed */
}

static int timeout_zero_main(void *arg)
{
	struct reel_scope s;
	int ran = 0;

	(void)arg;
	REEL_TIMEOUT(&s, 0) {
		ran = 1;                         /* the block runs (asyncio.timeout(0)) */
		FCHECK_EQ(reel_yield(), -ETIMEDOUT);
	}
	FCHECK_EQ(ran, 1);
	FCHECK_EQ(reel_scope_expired(&s), 1);
	FCHECK_EQ(reel_scope_result(&s), -ETIMEDOUT);
	/* a deadline in the past, absolute */
	REEL_TIMEOUT_AT(&s, reel_now() - 1)
		FCHECK_EQ(reel_sleep(10 * SEC), -ETIMEDOUT);
	FCHECK_EQ(reel_scope_expired(&s), 1);
	return 0;
}

static void test_scope_timeout_zero_and_past_deadline(void **state)
{
	(void)state;
	run_ok(timeout_zero_main, NULL);
}

/* ---- nesting ------------------------------------------------------------------------ */

static int nested_outer_wins_main(void *arg)
{
	struct reel_scope outer, inner;
	uint64_t t0 = reel_now(), el = 0;
	int r = 1, inner_result = 1;

	(void)arg;
	REEL_TIMEOUT(&outer, 40 * MS) {
		REEL_TIMEOUT(&inner, 10 * SEC) {       /* never extends the outer one */
			r = reel_sleep(10 * SEC);
			el = reel_now() - t0;
		}
		inner_result = reel_scope_result(&inner);
		/* the outer deadline is still sticky here */
		FCHECK_EQ(reel_yield(), -ETIMEDOUT);
	}
	FCHECK_EQ(r, -ETIMEDOUT);
	FCHECK(el >= 40 * MS && el <= 40 * MS + LATE_OK_NS);
	FCHECK_EQ(inner_result, -ETIMEDOUT);   /* what the code after it must know */
	FCHECK_EQ(reel_scope_expired(&inner), 0);   /* but it was not its own */
	FCHECK_EQ(reel_scope_expired(&outer), 1);
	FCHECK_EQ(reel_scope_result(&outer), -ETIMEDOUT);
	FCHECK_EQ(reel_yield(), 0);
	return 0;
}

static void test_scope_nested_outer_deadline_wins(void **state)
{
	(void)state;
	run_ok(nested_outer_wins_main, NULL);
}

static int nested_inner_only_main(void *arg)
{
	struct reel_scope outer, inner;
	int r1 = 1, r2 = 1;

	(void)arg;
	REEL_TIMEOUT(&outer, 10 * SEC) {
		REEL_TIMEOUT(&inner, 20 * MS)
			r1 = reel_sleep(10 * SEC);
		r2 = reel_sleep(1 * MS);              /* the outer block goes on */
	}
	FCHECK_EQ(r1, -ETIMEDOUT);
	FCHECK_EQ(r2, 0);
	FCHECK_EQ(reel_scope_expired(&inner), 1);
	FCHECK_EQ(reel_scope_result(&inner), -ETIMEDOUT);
	FCHECK_EQ(reel_scope_expired(&outer), 0);
	FCHECK_EQ(reel_scope_result(&outer), 0);
	return 0;
}

static void test_scope_nested_inner_expires_alone(void **state)
{
	(void)state;
	run_ok(nested_inner_only_main, NULL);
}

/* ---- the AI-chat shape: a per-token timeout inside an overall deadline ---------- */

struct chat {
	unsigned tokens;          /* how many the model sends */
	uint64_t gap_ns;          /* between tokens */
	uint64_t stall_ns;        /* then it stalls this long */
};

static int model(struct reel_gen *g, void *arg)
{
	struct chat *c = arg;
	char token[16];
	int r;

	for (unsigned i = 0; i < c->tokens; i++) {
		if ((r = reel_sleep(c->gap_ns)) < 0)
			return r;
		snprintf(token, sizeof(token), "t%u", i);
		if ((r = reel_gen_yield(g, token)) < 0)
			return r;
	}
	return reel_sleep(c->stall_ns);
}

struct chat_result {
	unsigned got;
	bool token_timed_out, overall_timed_out;
	char last[16];
};

/* The consumer: no wrapper function, two scopes. */
static int chat_consume(struct chat *c, uint64_t overall_ns, uint64_t per_token_ns,
			struct chat_result *out)
{
	struct reel_scope overall, token;
	struct reel_gen g;
	void *v;
	int r = 0, st;

	FCHECK_EQ(reel_gen_start(&g, model, c, NULL), 0);
	REEL_TIMEOUT(&overall, overall_ns) {
		for (;;) {
			REEL_TIMEOUT(&token, per_token_ns)
				r = reel_gen_next(&g, &v);
			if (r <= 0)
				break;
			snprintf(out->last, sizeof(out->last), "%s", (const char *)v);
			out->got++;
		}
		out->token_timed_out = reel_scope_expired(&token);
	}
	out->overall_timed_out = reel_scope_expired(&overall);
	FCHECK_EQ(reel_gen_close(&g, &st), 0);
	FCHECK_EQ(st, -ECANCELED);        /* the model was stopped, not left running */
	return r;
}

static int chat_main(void *arg)
{
	struct chat slow_token = { .tokens = 5, .gap_ns = 5 * MS, .stall_ns = 10 * SEC };
	struct chat endless = { .tokens = 1000, .gap_ns = 20 * MS, .stall_ns = 0 };
	struct chat_result a = { 0 }, b = { 0 };
	uint64_t t0;

	(void)arg;
	/* five tokens, then the model stalls: the per-token timeout ends it */
	t0 = reel_now();
	FCHECK_EQ(chat_consume(&slow_token, 10 * SEC, 100 * MS, &a), -ETIMEDOUT);
	FCHECK_EQ(a.got, 5);
	FCHECK(strcmp(a.last, "t4") == 0);
	FCHECK(a.token_timed_out);
	FCHECK(!a.overall_timed_out);
	FCHECK(reel_now() - t0 >= 100 * MS);
	/* tokens keep coming in time: the overall deadline ends it */
	t0 = reel_now();
	FCHECK_EQ(chat_consume(&endless, 200 * MS, 1 * SEC, &b), -ETIMEDOUT);
	FCHECK(b.overall_timed_out);
	FCHECK(!b.token_timed_out);
	FCHECK(b.got >= 1 && b.got <= 10);   /* 20 ms apart within 200 ms */
	FCHECK(reel_now() - t0 >= 200 * MS);
	return 0;
}

static void test_scope_chat_per_token_inside_overall(void **state)
{
	(void)state;
	run_ok(chat_main, NULL);
}

/* ---- cancel scopes ------------------------------------------------------------------ */

struct canceller {
	struct reel_scope *scope;
	int r;
};

static int cancel_after_20ms(void *arg)
{
	struct canceller *c = arg;

	if (reel_sleep(20 * MS) < 0)
		return -EFAULT;
	c->r = reel_scope_cancel(c->scope);
	return 0;
}

static int cancel_scope_main(void *arg)
{
	struct reel_scope s;
	struct canceller c = { .scope = &s, .r = 1 };
	uint64_t t0 = reel_now(), el = 0;
	reel_task t;
	int r = 1;

	(void)arg;
	REEL_CANCEL_SCOPE(&s) {
		FCHECK_EQ(reel_scope_deadline(&s), REEL_NO_DEADLINE);
		FCHECK_EQ(reel_spawn(&t, cancel_after_20ms, &c, NULL), 0);
		r = reel_sleep(10 * SEC);
		el = reel_now() - t0;
		FCHECK_EQ(reel_yield(), -ECANCELED);   /* sticky inside */
	}
	FCHECK_EQ(r, -ECANCELED);
	FCHECK_EQ(c.r, 0);
	FCHECK(el >= 20 * MS && el <= 20 * MS + LATE_OK_NS);
	FCHECK_EQ(reel_scope_result(&s), -ECANCELED);
	FCHECK_EQ(reel_scope_expired(&s), 0);
	/* the task itself is not cancelled */
	FCHECK_EQ(reel_sleep(1 * MS), 0);
	FCHECK_EQ(reel_join(t, NULL), 0);
	/* cancelling a scope already left changes nothing */
	FCHECK_EQ(reel_scope_cancel(&s), 0);
	FCHECK_EQ(reel_yield(), 0);
	FCHECK_EQ(reel_scope_cancel(NULL), -EINVAL);
	return 0;
}

static void test_scope_cancel_scope_from_another_fiber(void **state)
{
	(void)state;
	run_ok(cancel_scope_main, NULL);
}

static int shield_hides_scope_cancel(void *arg)
{
	(void)arg;
	return reel_sleep(5 * MS);
}

static int cancel_then_shield_main(void *arg)
{
	struct reel_scope s;
	int st = 1, r = 1;

	(void)arg;
	REEL_CANCEL_SCOPE(&s) {
		FCHECK_EQ(reel_scope_cancel(&s), 0);        /* the owner cancels itself */
		FCHECK_EQ(reel_sleep(10 * SEC), -ECANCELED);
		r = reel_shield(1 * SEC, shield_hides_scope_cancel, NULL, &st);
	}
	FCHECK_EQ(r, 0);
	FCHECK_EQ(st, 0);                               /* the cleanup could park */
	return 0;
}

static void test_scope_shield_inside_cancelled_scope(void **state)
{
	(void)state;
	run_ok(cancel_then_shield_main, NULL);
}

static int task_cancelled_inside(void *arg)
{
	struct reel_scope *s = arg;
	int r = 0;

	REEL_TIMEOUT(s, 10 * SEC)
		r = reel_sleep(10 * SEC);
	if (r != -ECANCELED || reel_scope_result(s) != -ECANCELED || reel_scope_expired(s))
		return -EFAULT;
	return reel_yield() == -ECANCELED ? 7 : -EFAULT;   /* still sticky after */
}

static int task_cancel_main(void *arg)
{
	struct reel_scope s;
	reel_task t;
	int st = 0;

	(void)arg;
	FCHECK_EQ(reel_spawn(&t, task_cancelled_inside, &s, NULL), 0);
	FCHECK_EQ(reel_sleep(5 * MS), 0);
	FCHECK_EQ(reel_cancel(t), 0);
	FCHECK_EQ(reel_join(t, &st), 0);
	FCHECK_EQ(st, 7);
	return 0;
}

static void test_scope_task_cancel_inside_stays_sticky(void **state)
{
	(void)state;
	run_ok(task_cancel_main, NULL);
}

/* ---- reschedule ------------------------------------------------------------------- */

static int reschedule_main(void *arg)
{
	struct reel_scope s;
	uint64_t t0;
	int r1 = 1, r2 = 1, r3 = 1;

	(void)arg;
	/* earlier */
	t0 = reel_now();
	REEL_TIMEOUT(&s, 10 * SEC) {
		FCHECK_EQ(reel_scope_reschedule(&s, reel_now() + 30 * MS), 0);
		r1 = reel_sleep(10 * SEC);
		FCHECK_EQ(reel_scope_reschedule(&s, reel_now() + SEC), -EALREADY);
	}
	FCHECK_EQ(r1, -ETIMEDOUT);
	FCHECK(reel_now() - t0 >= 30 * MS);
	/* later, and removed */
	REEL_TIMEOUT(&s, 20 * MS) {
		FCHECK_EQ(reel_scope_reschedule(&s, reel_now() + 10 * SEC), 0);
		r2 = reel_sleep(40 * MS);
		FCHECK_EQ(reel_scope_reschedule(&s, REEL_NO_DEADLINE), 0);
		r3 = reel_sleep(1 * MS);
	}
	FCHECK_EQ(r2, 0);
	FCHECK_EQ(r3, 0);
	FCHECK_EQ(reel_scope_result(&s), 0);
	/* into the past: expires at once */
	REEL_TIMEOUT(&s, 10 * SEC) {
		FCHECK_EQ(reel_scope_reschedule(&s, reel_now() - 1), 0);
		FCHECK_EQ(reel_yield(), -ETIMEDOUT);
	}
	FCHECK_EQ(reel_scope_expired(&s), 1);
	FCHECK_EQ(reel_scope_reschedule(&s, reel_now()), -EINVAL);   /* left */
	FCHECK_EQ(reel_scope_reschedule(NULL, 0), -EINVAL);
	return 0;
}

static void test_scope_reschedule_earlier_later_removed(void **state)
{
	(void)state;
	run_ok(reschedule_main, NULL);
}

/* ---- leaving a block early, and misuse ------------------------------------------- */

static int returns_from_inside(struct reel_scope *s)
{
	REEL_TIMEOUT(s, 30 * MS) {
		if (reel_yield() == 0)
			return 5;                 /* the cleanup leaves the scope */
	}
	return -EFAULT;
}

static int early_exit_main(void *arg)
{
	struct reel_scope s, b;
	int n = 0;

	(void)arg;
	FCHECK_EQ(returns_from_inside(&s), 5);
	FCHECK_EQ(reel_scope_result(&s), 0);
	/* its timer is gone with it: sleeping past its deadline is undisturbed */
	FCHECK_EQ(reel_sleep(60 * MS), 0);
	REEL_TIMEOUT(&b, 20 * MS) {
		n++;
		break;                            /* ends the block, leaving the scope */
	}
	FCHECK_EQ(n, 1);
	FCHECK_EQ(reel_sleep(40 * MS), 0);
	FCHECK_EQ(reel_scope_expired(&b), 0);
	return 0;
}

static void test_scope_return_and_break_leave_the_scope(void **state)
{
	(void)state;
	run_ok(early_exit_main, NULL);
}

static int misuse_main(void *arg)
{
	struct reel_scope outer, inner;

	(void)arg;
	FCHECK_EQ(reel_scope_enter(NULL, MS), -EINVAL);
	FCHECK_EQ(reel_scope_leave(NULL), -EINVAL);
	FCHECK_EQ(reel_scope_enter(&outer, 10 * SEC), 0);
	FCHECK_EQ(reel_scope_enter(&inner, 10 * SEC), 0);
	FCHECK_EQ(reel_scope_leave(&outer), -EINVAL);   /* not the innermost */
	FCHECK_EQ(reel_sleep(1 * MS), 0);               /* nothing changed */
	FCHECK_EQ(reel_scope_leave(&inner), 0);
	FCHECK_EQ(reel_scope_leave(&outer), 0);
	return 0;
}

static void test_scope_misuse_gets_einval(void **state)
{
	(void)state;
	run_ok(misuse_main, NULL);
}

static void test_scope_outside_a_fiber_gets_eperm(void **state)
{
	struct reel_scope s;
	int n = 0;

	(void)state;
	assert_int_equal(reel_scope_enter(&s, MS), -EPERM);
	assert_int_equal(reel_scope_leave(&s), -EPERM);
	REEL_TIMEOUT(&s, MS)
		n++;                                /* the block still runs once */
	assert_int_equal(n, 1);
	assert_int_equal(reel_scope_result(&s), -EPERM);
}

static int ends_inside_a_scope(void *arg)
{
	static struct reel_scope s;

	(void)arg;
	return reel_scope_enter(&s, 10 * SEC);   /* and never leaves */
}

static int ends_inside_main(void *arg)
{
	reel_task t;

	(void)arg;
	if (reel_spawn(&t, ends_inside_a_scope, NULL, &(struct reel_spawn_opts){ .name = "leaky" }))
		return -EFAULT;
	return reel_join(t, NULL);
}

static void test_scope_task_ending_inside_aborts_naming_it(void **state)
{
	char err[2048];
	int ws;

	(void)state;
	ws = run_in_child(ends_inside_main, NULL, NULL, err, sizeof(err));
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGABRT);
	assert_non_null(strstr(err, "(leaky) ended inside a scope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_timeout_expires_inside_only),
		cmocka_unit_test(test_scope_ends_in_time_and_disarms),
		cmocka_unit_test(test_scope_timeout_zero_and_past_deadline),
		cmocka_unit_test(test_scope_nested_outer_deadline_wins),
		cmocka_unit_test(test_scope_nested_inner_expires_alone),
		cmocka_unit_test(test_scope_chat_per_token_inside_overall),
		cmocka_unit_test(test_scope_cancel_scope_from_another_fiber),
		cmocka_unit_test(test_scope_shield_inside_cancelled_scope),
		cmocka_unit_test(test_scope_task_cancel_inside_stays_sticky),
		cmocka_unit_test(test_scope_reschedule_earlier_later_removed),
		cmocka_unit_test(test_scope_return_and_break_leave_the_scope),
		cmocka_unit_test(test_scope_misuse_gets_einval),
		cmocka_unit_test(test_scope_outside_a_fiber_gets_eperm),
		cmocka_unit_test(test_scope_task_ending_inside_aborts_naming_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
