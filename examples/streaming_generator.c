/*
 * streaming_generator - an async generator (`async for`) streaming tokens.
 *
 * The producer plays a language model that emits one token every 40 ms; the
 * consumer prints each token as it arrives instead of waiting for the whole
 * answer (what a StreamingResponse does). Back-pressure: the producer runs
 * only when the consumer asks for the next token, so it never gets ahead.
 * The second round stops after five tokens: closing the generator cancels
 * the producer, whose cleanup runs (it says so) before close returns.
 */
#include <string.h>

#include "example.h"
#include "reel_gen.h"

static const char *const answer[] = {
	"Fibers", " park", " on", " I/O", ",", " so", " one", " thread",
	" serves", " thousands", " of", " connections", ".",
};
#define NTOKENS (sizeof(answer) / sizeof(answer[0]))

static uint64_t t0;

static int model(struct reel_gen *g, void *arg)
{
	int produced = 0, err = 0;

	(void)arg;
	for (size_t i = 0; i < NTOKENS; i++) {
		if ((err = reel_sleep(MSEC(40))) < 0)   /* "thinking" */
			break;
		produced++;             /* handed over by the call below */
		if ((err = reel_gen_yield(g, (void *)answer[i])) < 0)
			break;
	}
	if (err < 0)
		printf("  [%4.0f ms] model: closed after %d tokens (%s): freeing its "
		       "context\n", ms_since(t0), produced, reel_strerror(err));
	return err < 0 ? err : produced;
}

static int stream(size_t max_tokens)
{
	struct reel_gen g;
	size_t got = 0;
	void *tok;
	int rc, status, err;

	t0 = reel_now();
	if ((err = reel_gen_start(&g, model, NULL, NULL)) < 0)
		return err;
	printf("  ");
	REEL_GEN_FOREACH(&g, tok, rc) {
		printf("%s", (const char *)tok);
		fflush(stdout);
		if (++got == max_tokens)
			break;
	}
	printf("\n");
	reel_gen_close(&g, &status);
	printf("  [%4.0f ms] consumer: %zu tokens, first after ~40 ms, not after %zu x 40 ms;"
	       " producer status %d\n", ms_since(t0), got, NTOKENS, status);
	return rc < 0 ? rc : 0;
}

static int main_fiber(void *arg)
{
	int err;

	(void)arg;
	printf("the whole stream:\n");
	if ((err = stream(NTOKENS + 1)) < 0)
		return err;
	printf("the consumer stops after 5 tokens:\n");
	return stream(5);
}

int main(void)
{
	return example_run(main_fiber, NULL);
}
