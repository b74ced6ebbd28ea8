/*
 * example.h - the little that every example shares: run main_fiber on a
 * loop and turn its status into an exit code, and time in milliseconds.
 */
#ifndef REEL_EXAMPLE_H
#define REEL_EXAMPLE_H

#include <stdio.h>

#include "reel.h"

#define MSEC(ms) ((uint64_t)(ms) * 1000000u)

/* Milliseconds since @t0 (a reel_now() reading). */
static inline double ms_since(uint64_t t0)
{
	return (double)(reel_now() - t0) / 1e6;
}

/* asyncio.run(main()): 0 when @main_fiber returned >= 0, else 1. */
static inline int example_run(reel_fn main_fiber, void *arg)
{
	int status = 0;
	int err = reel_run(main_fiber, arg, NULL, &status);

	if (err < 0) {
		fprintf(stderr, "reel_run: %s\n", reel_strerror(err));
		return 1;
	}
	if (status < 0) {
		fprintf(stderr, "main fiber failed: %s\n", reel_strerror(status));
		return 1;
	}
	return 0;
}

#endif /* REEL_EXAMPLE_H */
