/*
 * workload.c - the jobs of the headline comparison, each written twice:
 * with blocking system calls (for serial, threads and process pools) and
 * with reel's parking calls (for fibers). Both versions do the same work
 * with the same sizes, so a difference in time is the model's, not the
 * job's.
 *
 *   timer  wait env->wait_ns                (nanosleep / reel_sleep)
 *   tcp    connect to the delay server, send the delay, read the reply
 *   file   read env->read_size bytes of a page-cached file in 64 KiB preads
 *   cpu    env->cpu_rounds rounds of suite_hash
 *   mixed  a tcp job, then a cpu job (fetch, then process)
 */
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reel_io.h"
#include "reel_offload.h"

#define READ_CHUNK 65536

const char *const suite_workload_names[SUITE_NWORKLOADS] = {
	[SUITE_TIMER] = "timer", [SUITE_TCP] = "tcp", [SUITE_FILE] = "file",
	[SUITE_CPU] = "cpu", [SUITE_MIXED] = "mixed",
};

bool suite_workload_waits(enum suite_workload w)
{
	return w == SUITE_TIMER || w == SUITE_TCP || w == SUITE_MIXED;
}

bool suite_workload_computes(enum suite_workload w)
{
	return w == SUITE_CPU || w == SUITE_MIXED;
}

uint64_t suite_hash(uint64_t seed, uint64_t rounds)
{
	uint64_t h = seed;

	/* splitmix64's finaliser, chained: each round depends on the last,
	 * so the compiler can neither vectorise nor skip it. */
	for (uint64_t r = 0; r < rounds; r++) {
		h += 0x9e3779b97f4a7c15u;
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9u;
		h = (h ^ (h >> 27)) * 0x94d049bb133111ebu;
		h ^= h >> 31;
	}
	return h;
}

/* A hash must be used, or it is dead code: fold it into a sink. */
static volatile uint64_t sink;

static int cpu_part(const struct suite_set *set, unsigned i)
{
	sink ^= suite_hash(i, set->env->cpu_rounds);
	return 0;
}

/* Offloaded CPU part: reel_to_thread's fn takes one pointer. */
struct cpu_arg {
	const struct suite_set *set;
	unsigned i;
};

static int cpu_part_fn(void *arg)
{
	const struct cpu_arg *a = arg;

	return cpu_part(a->set, a->i);
}

/* ---- blocking ---- */

static int sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
	return 0;
}

/* An abortive close (RST) leaves no TIME_WAIT behind on the client, so
 * 10,000 requests a repetition cannot run out of ephemeral ports. */
static void no_linger(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static int full_io(int fd, void *buf, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
				: recv(fd, (char *)buf + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int tcp_blocking(const struct suite_set *set)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(set->env->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t req = set->env->wait_ns, rep = 0;
	int one = 1, err;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (!err)
		err = full_io(fd, &req, sizeof(req), true);
	if (!err)
		err = full_io(fd, &rep, sizeof(rep), false);
	no_linger(fd);
	close(fd);
	return err ? err : rep == req ? 0 : -EPROTO;
}

/* Where job @i starts reading: jobs spread over the whole file. */
static off_t file_offset(const struct suite_env *env, unsigned i)
{
	size_t span = env->file_size - env->read_size;

	return span ? (off_t)(((size_t)i * env->read_size) % span) : 0;
}

static int file_blocking(const struct suite_set *set, unsigned i)
{
	const struct suite_env *env = set->env;
	off_t off = file_offset(env, i);
	/* Per job, as a program would have it; not thread-local: 64 KiB of
	 * static TLS would grow every thread of reel-bench, and the stacks of
	 * the mem benchmark's small threads could no longer hold it. */
	char *buf = malloc(READ_CHUNK);
	int err = 0, fd;

	if (!buf)
		return -ENOMEM;
	fd = open(env->file_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	for (size_t done = 0; done < env->read_size && !err;) {
		ssize_t n = pread(fd, buf, READ_CHUNK, off + (off_t)done);

		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else
			done += (size_t)n;
	}
	close(fd);
	free(buf);
	return err;
}

int suite_job_blocking(const struct suite_set *set, unsigned i)
{
	int err;

	switch (set->workload) {
	case SUITE_TIMER:
		return sleep_ns(set->env->wait_ns);
	case SUITE_TCP:
		return tcp_blocking(set);
	case SUITE_FILE:
		return file_blocking(set, i);
	case SUITE_CPU:
		return cpu_part(set, i);
	case SUITE_MIXED:
		err = tcp_blocking(set);
		return err ? err : cpu_part(set, i);
	default:
		return -EINVAL;
	}
}

/* ---- fibers ---- */

static int tcp_fiber(const struct suite_set *set)
{
	uint64_t req = set->env->wait_ns, rep = 0;
	ssize_t n;
	int fd = reel_connect_tcp("127.0.0.1", set->env->port);

	if (fd < 0)
		return fd;
	n = reel_send(fd, &req, sizeof(req), 0);
	if (n == (ssize_t)sizeof(req))
		n = reel_read_exact(fd, &rep, sizeof(rep), NULL);
	no_linger(fd);
	reel_close(fd);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)sizeof(rep) && rep == req ? 0 : -EPROTO;
}

static int file_fiber(const struct suite_set *set, unsigned i)
{
	const struct suite_env *env = set->env;
	off_t off = file_offset(env, i);
	/* One buffer per job would cost 64 KiB of fiber stack each; the
	 * bytes are thrown away, so the fibers (one loop, one thread) share
	 * one. */
	static char buf[READ_CHUNK];
	int err = 0, fd = reel_open(env->file_path, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return fd;
	for (size_t done = 0; done < env->read_size && !err;) {
		ssize_t n = reel_pread(fd, buf, READ_CHUNK, off + (off_t)done);

		if (n <= 0)
			err = n < 0 ? (int)n : -EIO;
		else
			done += (size_t)n;
	}
	reel_close(fd);
	return err;
}

static int cpu_fiber(const struct suite_set *set, unsigned i, bool offload)
{
	struct cpu_arg a = { set, i };
	int status = 0, err;

	if (!offload)
		return cpu_part(set, i);
	err = reel_to_thread(cpu_part_fn, &a, &status);
	return err ? err : status;
}

int suite_job_fiber(const struct suite_set *set, unsigned i, bool offload)
{
	int err;

	switch (set->workload) {
	case SUITE_TIMER:
		return reel_sleep(set->env->wait_ns);
	case SUITE_TCP:
		return tcp_fiber(set);
	case SUITE_FILE:
		return file_fiber(set, i);
	case SUITE_CPU:
		return cpu_fiber(set, i, offload);
	case SUITE_MIXED:
		err = tcp_fiber(set);
		return err ? err : cpu_fiber(set, i, offload);
	default:
		return -EINVAL;
	}
}
