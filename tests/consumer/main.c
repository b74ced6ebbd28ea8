/* An out-of-tree program using an installed reel: spawn, sleep, join. */
#include <stdio.h>

#include <reel.h>

static int child(void *arg)
{
	int err = reel_sleep(1000000);

	return err ? err : *(int *)arg * 2;
}

static int main_fiber(void *arg)
{
	reel_task t;
	int st = 0, err;

	err = reel_spawn(&t, child, arg, NULL);
	if (!err)
		err = reel_join(t, &st);
	return err ? err : st;
}

int main(void)
{
	int in = 21, status = 0;
	int err = reel_run(main_fiber, &in, NULL, &status);

	printf("consumer: reel_run=%d status=%d\n", err, status);
	return err == 0 && status == 42 ? 0 : 1;
}
