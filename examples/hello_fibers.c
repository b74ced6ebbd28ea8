/*
 * hello_fibers - asyncio.run + create_task + await in reel.
 * Three tasks sleep 300, 200 and 100 ms concurrently; main joins them in
 * spawn order. The whole run takes about 300 ms, not 600: sleeping parks
 * only the sleeping fiber.
 */
#include <stdio.h>

#include "reel.h"

static int worker(void *arg)
{
	unsigned ms = (unsigned)(unsigned long)arg;
	int err = reel_sleep((uint64_t)ms * 1000000u);

	if (err)
		return err;
	printf("  worker %u ms done\n", ms);
	return (int)ms;
}

static int main_fiber(void *arg)
{
	static const unsigned ms[] = { 300, 200, 100 };
	reel_task t[3];
	uint64_t t0 = reel_now();
	int status, err;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		err = reel_spawn(&t[i], worker, (void *)(unsigned long)ms[i], NULL);
		if (err)
			return err;
	}
	for (int i = 0; i < 3; i++) {
		err = reel_join(t[i], &status);
		if (err)
			return err;
		printf("joined task %d: status %d\n", i, status);
	}
	printf("3 sleeps of 600 ms in total took %.0f ms\n", (double)(reel_now() - t0) / 1e6);
	return 0;
}

int main(void)
{
	int status;
	int err = reel_run(main_fiber, NULL, NULL, &status);

	if (err) {
		fprintf(stderr, "reel_run: %s\n", reel_strerror(err));
		return 1;
	}
	return status == 0 ? 0 : 1;
}
