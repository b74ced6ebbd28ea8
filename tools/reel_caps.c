/*
 * reel-caps - print what reel would use on this machine: io_uring set-up
 * flags and features, opcodes, fallbacks and why, stack guards, limits.
 * Usage: reel-caps        (REEL_DISABLE=defer_taskrun,... to see fallbacks)
 */
#include <stdio.h>
#include <stdlib.h>

#include "reel.h"

int main(void)
{
	int len = reel_capabilities(NULL, 0, NULL);
	char *buf;

	if (len < 0) {
		fprintf(stderr, "reel-caps: %s\n", reel_strerror(len));
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (!buf)
		return 1;
	reel_capabilities(buf, (size_t)len + 1, NULL);
	fputs(buf, stdout);
	free(buf);
	return 0;
}
