/*
 * cpu_work.h - a pure compute kernel for the examples that contrast CPU-bound
 * with I/O-bound work: @rounds of a 64-bit mixing function (splitmix64),
 * nothing but arithmetic, so it runs at the speed of one core whatever the
 * loop does. calibrate_rounds() finds the rounds that take about @ms here.
 */
#ifndef REEL_EXAMPLE_CPU_WORK_H
#define REEL_EXAMPLE_CPU_WORK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cpu_hash(uint64_t seed, uint64_t rounds)
{
	uint64_t x = seed;

	for (uint64_t i = 0; i < rounds; i++) {
		x += 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
	}
	return x;
}

static inline uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Rounds of cpu_hash that take about @ms milliseconds on this machine. */
static inline uint64_t calibrate_rounds(unsigned ms)
{
	uint64_t rounds = 1u << 20, t0 = cpu_now_ns();
	volatile uint64_t sink = cpu_hash(1, rounds);
	uint64_t took = cpu_now_ns() - t0;

	(void)sink;
	return took ? rounds * ms * 1000000u / took : rounds;
}

#endif /* REEL_EXAMPLE_CPU_WORK_H */
