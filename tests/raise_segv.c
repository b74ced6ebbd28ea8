/*
 * raise_segv - run by test_stack in a fresh process (no test framework's
 * SIGSEGV handler to chain to): a fiber raises SIGSEGV; reel's handler must
 * pass it on to the default action, so this process dies by SIGSEGV.
 */
#include <signal.h>

#include "reel.h"

static int raise_it(void *arg)
{
	(void)arg;
	raise(SIGSEGV);
	return 0;
}

int main(void)
{
	reel_run(raise_it, NULL, NULL, NULL);
	return 0;   /* reached only if the signal was swallowed */
}
