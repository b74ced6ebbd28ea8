/*
 * communicate.c - reel_process_communicate: feed a child's stdin, drain its
 * stdout and stderr, then reap it (asyncio's proc.communicate).
 *
 * The three transfers must run at once. Done one after the other they
 * deadlock as soon as a pipe fills (64 KiB on Linux): we block writing
 * stdin while the child blocks writing stdout, or we wait for stdout's end
 * while the child blocks on a full stderr - the deadlock communicate exists
 * to avoid. A fiber parks on one operation at a time, so each transfer is a
 * task of its own, in a reel_group the caller waits on: the group cancels
 * the others when one fails, and when the caller is interrupted it cancels
 * them all and waits for them, so no helper outlives the call or touches
 * the caller's buffers after it (design §5). Only public calls are used.
 *
 * Output past the caller's cap is read and dropped, never left in the
 * pipe: a child blocked on a full pipe would never exit. The count goes on,
 * so the caller sees the full length and knows it was truncated (the
 * snprintf convention); refusing with -EMSGSIZE instead would have to kill
 * the child or leave it blocked.
 *
 * Once the transfers are done the child is joined (reel_process_join). An
 * interrupted transfer joins it too: the interruption is sticky, so that
 * join returns it at once - after one try to reap a child that has already
 * exited - and applies kill-on-cancel, which is then written in one place.
 */
#include <errno.h>

#include <reel_io.h>

/* One transfer: its pipe (the process's field, closed and set to -1 when
 * done), its buffer and the caller's count. */
struct pump {
	int *fd;
	union {
		const char *in;
		char *out;
	} buf;
	size_t len;     /* in: bytes to write; out: the buffer's cap */
	size_t *done;   /* in: bytes written; out: bytes the child wrote in all */
};

/* Bytes dropped past the cap are read through this much stack. */
#define SPILL 4096

static void close_pipe(int *fd)
{
	reel_close(*fd);
	*fd = -1;
}

/* Write the input, then close stdin so the child sees its end. */
static int feed(void *arg)
{
	struct pump *pm = arg;
	ssize_t r = reel_write_all(*pm->fd, pm->buf.in, pm->len, pm->done);

	if (r == -EPIPE)
		r = 0;   /* the child stopped reading (or exited): its business, as in asyncio */
	if (r < 0)
		return (int)r;
	close_pipe(pm->fd);
	return 0;
}

/* Read to the end of the pipe: into the buffer while it has room, then
 * into a spill buffer, counting every byte. */
static int drain(void *arg)
{
	struct pump *pm = arg;
	char spill[SPILL];

	for (;;) {
		size_t kept = *pm->done;
		ssize_t n = kept < pm->len ? reel_read(*pm->fd, pm->buf.out + kept, pm->len - kept)
					   : reel_read(*pm->fd, spill, sizeof(spill));

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		*pm->done += (size_t)n;
	}
	close_pipe(pm->fd);
	return 0;
}

static int start_pump(struct reel_group *g, reel_fn fn, struct pump *pm, const char *name)
{
	const struct reel_spawn_opts so = { .name = name };

	int r;

	if (*pm->fd < 0)
		return 0;   /* not a pipe: nothing to move */
	r = reel_group_spawn(g, fn, pm, &so);
	return r < 0 ? r : 0;
}

static int check_io(const struct reel_process *p, const struct reel_process_io *io)
{
	if ((!io->in && io->in_len) || (!io->out && io->out_cap) || (!io->err && io->err_cap))
		return -EINVAL;
	if (io->in_len && p->in_fd < 0)
		return -EINVAL;   /* input, and nowhere to put it */
	return 0;
}

int reel_process_communicate(struct reel_process *p, struct reel_process_io *io)
{
	struct pump in, out, err;
	struct reel_group g;
	int r, w;

	if (!reel_self().id)
		return -EPERM;
	if (!p || !io)
		return -EINVAL;
	io->in_done = io->out_len = io->err_len = 0;
	r = check_io(p, io);
	if (r)
		return r;
	in = (struct pump){ &p->in_fd, { .in = io->in }, io->in_len, &io->in_done };
	out = (struct pump){ &p->out_fd, { .out = io->out }, io->out_cap, &io->out_len };
	err = (struct pump){ &p->err_fd, { .out = io->err }, io->err_cap, &io->err_len };
	reel_group_init(&g);
	r = start_pump(&g, feed, &in, "communicate-stdin");
	if (!r)
		r = start_pump(&g, drain, &out, "communicate-stdout");
	if (!r)
		r = start_pump(&g, drain, &err, "communicate-stderr");
	if (r)
		reel_group_cancel(&g);
	w = reel_group_wait(&g, NULL, 0, NULL);
	if (!r)
		r = w;
	if (r == 0)
		return reel_process_join(p);
	if (r == -ECANCELED || r == -ETIMEDOUT)
		reel_process_join(p);   /* kill-on-cancel (top comment) */
	return r;
}
