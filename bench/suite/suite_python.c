/*
 * suite_python.c - the Python twin of the headline comparison: run
 * bench/python/suite.py (asyncio.gather, ThreadPoolExecutor,
 * ProcessPoolExecutor, serial) against the same delay server, and copy the
 * CSV rows it prints into suite.csv, so the report shows Python beside C
 * from the same run.
 */
#include "suite.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef REEL_BENCH_PYTHON_DIR
#define REEL_BENCH_PYTHON_DIR "bench/python"
#endif

int suite_which(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", *d ? d : ".", name);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int suite_python_run(FILE *csv, const struct bench_cfg *cfg, uint16_t port)
{
	char python[PATH_MAX], script[PATH_MAX], portarg[16];
	char *argv[6];
	struct bench_proc *p = calloc(1, sizeof(*p));
	uint64_t deadline = bench_now_ns() + (cfg->quick ? 60 : 600) * UINT64_C(1000000000);
	const char *line;
	int err, rows = 0, wstatus = 0;
	char ws[96];

	if (!p)
		return -ENOMEM;
	if (suite_which("python3", python, sizeof(python)) < 0) {
		free(p);
		return -ENOENT;
	}
	snprintf(script, sizeof(script), "%s/suite.py", REEL_BENCH_PYTHON_DIR);
	snprintf(portarg, sizeof(portarg), "%u", port);
	argv[0] = python;
	argv[1] = script;
	argv[2] = "--port";
	argv[3] = portarg;
	argv[4] = cfg->quick ? "--quick" : NULL;
	argv[5] = NULL;
	err = bench_child_start(p, argv, -1, 0);
	if (err < 0) {
		free(p);
		return err;
	}
	bench_child = p->pid;
	while ((line = bench_child_line(p, deadline, &err))) {
		if (strncmp(line, "python,", 7) == 0)
			rows++;
		else if (line[0] != '#')
			continue;       /* progress or warnings: not data */
		fprintf(csv, "%s\n", line);
	}
	if (err == -ETIMEDOUT) {
		fprintf(stderr, "reel-bench: suite: the Python twin ran out of time\n");
		bench_child_kill(p);
	} else if (bench_child_wait(p, 10000000000u, &wstatus) < 0) {
		bench_child_kill(p);
	} else if (wstatus != 0) {
		fprintf(stderr, "reel-bench: suite: the Python twin ended with %s:\n%s",
			bench_wstatus(wstatus, ws, sizeof(ws)), p->log);
	}
	bench_child = 0;
	bench_child_release(p);
	free(p);
	fflush(csv);
	return rows;
}
