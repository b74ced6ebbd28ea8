/*
 * server_args.h - the command line the example servers share:
 * PORT [--loops N], N defaulting to the CPUs this process may run on.
 * Include after defining _GNU_SOURCE (sched_getaffinity).
 */
#ifndef REEL_SERVER_ARGS_H
#define REEL_SERVER_ARGS_H

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CPUs this process may run on: the default number of loops. */
static inline long server_cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 1)
		return 1;
	return CPU_COUNT(&set);
}

static inline int server_usage(const char *prog)
{
	fprintf(stderr, "usage: %s PORT [--loops N]   (PORT 0: any free port; N loops, "
		"default one per CPU, at most 1024)\n", prog);
	return 2;
}

/* PORT [--loops N] into *@port and *@loops: 0, or 2 after the usage line. */
static inline int parse_server_args(int argc, char **argv, long *port, long *loops)
{
	char *end;

	*port = -1;
	*loops = server_cpu_count();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--loops")) {
			if (++i == argc)
				return server_usage(argv[0]);
			*loops = strtol(argv[i], &end, 10);
			if (*end || *loops < 1 || *loops > 1024)
				return server_usage(argv[0]);
		} else if (*port < 0) {
			*port = strtol(argv[i], &end, 10);
			if (*end || *port < 0 || *port > 65535)
				return server_usage(argv[0]);
		} else {
			return server_usage(argv[0]);
		}
	}
	return *port < 0 ? server_usage(argv[0]) : 0;
}

#endif /* REEL_SERVER_ARGS_H */
