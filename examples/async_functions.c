/*
 * async_functions - `async def` and `await` in C.
 *
 * In reel an "async function" is an ordinary C function that runs on a
 * fiber and calls functions that may park (reel_sleep, reel_recv, reel_join
 * ...). Calling it is awaiting it: the caller continues when it returns,
 * and meanwhile the loop runs other fibers. There is no coroutine object to
 * forget to await. Errors travel as negative errno values, as exceptions
 * travel up await chains in Python: each level decides to handle or pass.
 *
 * To run one concurrently instead (asyncio.create_task), hand it to
 * reel_spawn and reel_join it later.
 */
#include <errno.h>
#include <string.h>

#include "example.h"

/* async def fetch_price(symbol): pretend to ask a server (80 ms). */
static int fetch_price(const char *symbol)
{
	int err = reel_sleep(MSEC(80));

	if (err)
		return err;                     /* cancelled or timed out */
	if (strcmp(symbol, "???") == 0)
		return -ENOENT;                 /* raise LookupError */
	return (int)(strlen(symbol) * 100 + 7);
}

/* async def portfolio_value(): awaits fetch_price three times in a row. */
static int portfolio_value(const char *const *symbols, int n)
{
	int total = 0;

	for (int i = 0; i < n; i++) {
		int price = fetch_price(symbols[i]);   /* await fetch_price(...) */

		if (price < 0)
			return price;               /* propagate the "exception" */
		total += price;
	}
	return total;
}

static int fetch_task(void *arg)
{
	return fetch_price(arg);
}

static int main_fiber(void *arg)
{
	static const char *const good[] = { "ACME", "INITECH", "UMBRELLA" };
	static const char *const bad[] = { "ACME", "???", "UMBRELLA" };
	reel_task t[3];
	uint64_t t0 = reel_now();
	int v, total = 0, status, err;

	(void)arg;
	v = portfolio_value(good, 3);
	printf("await in sequence: value %d after %.0f ms (3 x 80 ms)\n", v, ms_since(t0));

	t0 = reel_now();
	v = portfolio_value(bad, 3);
	printf("an error propagates: %s after %.0f ms (stopped at the 2nd call)\n",
	       reel_strerror(v), ms_since(t0));

	t0 = reel_now();
	for (int i = 0; i < 3; i++)             /* asyncio.create_task(...) */
		if ((err = reel_spawn(&t[i], fetch_task, (void *)good[i], NULL)) < 0)
			return err;
	for (int i = 0; i < 3; i++) {           /* await task */
		if ((err = reel_join(t[i], &status)) < 0 || status < 0)
			return err < 0 ? err : status;
		total += status;
	}
	printf("as three tasks:    value %d after %.0f ms (concurrent)\n", total, ms_since(t0));
	return 0;
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
