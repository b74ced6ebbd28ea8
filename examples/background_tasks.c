/*
 * background_tasks - fire-and-forget tasks that are still cleaned up.
 *
 * asyncio.create_task without awaiting the task is a background task: it
 * runs while main goes on. reel_spawn_background is that, with two
 * promises asyncio makes only half-heartedly: (1) when main returns,
 * reel_run cancels every task still running and waits for it, so the
 * heartbeat below gets to run its cleanup; (2) a background task that
 * fails is reported the moment it fails (asyncio logs "Task exception was
 * never retrieved", often much later): here through an error hook that
 * the program installs in reel_run's options.
 */
#include <errno.h>

#include "example.h"

static uint64_t t0;

static int heartbeat(void *arg)
{
	int beats = 0, err;

	(void)arg;
	while ((err = reel_sleep(MSEC(100))) == 0)
		printf("%6.0f ms  heartbeat %d\n", ms_since(t0), ++beats);
	/* Cancelled at shutdown: reel_sleep said -ECANCELED. Clean up. */
	printf("%6.0f ms  heartbeat cancelled (%s): flushing, closing\n",
	       ms_since(t0), reel_strerror(err));
	return err;
}

static int flaky_upload(void *arg)
{
	(void)arg;
	reel_sleep(MSEC(250));
	printf("%6.0f ms  upload: connection refused\n", ms_since(t0));
	return -ECONNREFUSED;
}

static void on_failure(reel_task task, const char *name, int status, void *arg)
{
	int *failures = arg;

	(void)task;
	(*failures)++;
	printf("%6.0f ms  error hook: background task '%s' failed: %s\n",
	       ms_since(t0), name ? name : "?", reel_strerror(status));
}

static int main_fiber(void *arg)
{
	static const struct reel_spawn_opts hb = { .name = "heartbeat" };
	static const struct reel_spawn_opts up = { .name = "upload" };
	int err;

	(void)arg;
	t0 = reel_now();
	if ((err = reel_spawn_background(heartbeat, NULL, &hb)) < 0 ||
	    (err = reel_spawn_background(flaky_upload, NULL, &up)) < 0)
		return err;
	printf("%6.0f ms  main: two background tasks started, doing my own work\n",
	       ms_since(t0));
	reel_sleep(MSEC(450));
	printf("%6.0f ms  main: done; returning cancels what is still running\n",
	       ms_since(t0));
	return 0;
}

int main(void)
{
	int failures = 0, status = 0;
	struct reel_run_opts opts = { .error_hook = on_failure, .error_hook_arg = &failures };
	int err = reel_run(main_fiber, NULL, &opts, &status);

	if (err < 0 || status < 0)
		return 1;
	printf("reel_run returned after the heartbeat's cleanup; %d failure reported\n",
	       failures);
	return failures == 1 ? 0 : 1;
}
