// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The restart schedule of the cpu-clock timers (user/dither.c), and a model
 * of the tick/sleeper lock it breaks. Every random draw comes from a fixed
 * seed: the results are the same on every run. */
#include <stdint.h>

#include "dither.h"
#include "test.h"

#define P999 1001001ull /* 999 Hz */
#define SEED 0x5eedull

static void test_period_makes_up_for_restarts(void)
{
	struct dither *d = dither__new(2, P999, 32, SEED, 0);

	CHECK(d);
	if (!d)
		return;
	/* Until restarts are seen, one costs half a period: 2K/(2K+1). */
	CHECK_EQ_INT(dither__timer_period_ns(d), (P999 * 64 + 32) / 65);
	dither__free(d);
	CHECK(!dither__new(0, P999, 32, SEED, 0));
	CHECK(!dither__new(1, 0, 32, SEED, 0));
	CHECK(!dither__new(1, P999, 1, SEED, 0));
}

static void test_intervals(void)
{
	const uint64_t mean = 32 * P999, t0 = 1000000000ull;
	struct dither *d = dither__new(1, P999, 32, SEED, t0);
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	const int n = 100000;

	CHECK(d);
	if (!d)
		return;
	/* The first restart lies in [t0 + mean/2, t0 + 3 mean/2). */
	CHECK(dither__next_ns(d) >= t0 + mean / 2 && dither__next_ns(d) < t0 + 3 * mean / 2);
	CHECK(!dither__due(d, 0, t0));
	CHECK(!dither__due(d, 0, dither__next_ns(d) - 1));
	CHECK(!dither__due(d, 1, UINT64_MAX)); /* no such CPU */
	for (int i = 0; i < n; i++) {
		uint64_t at = dither__next_ns(d), gap;

		CHECK(dither__due(d, 0, at));
		CHECK(!dither__due(d, 0, at)); /* the next one is drawn from now */
		gap = dither__next_ns(d) - at;
		sum += gap;
		lo = gap < lo ? gap : lo;
		hi = gap > hi ? gap : hi;
	}
	CHECK(lo >= mean / 2 && lo < mean / 2 + mean / 100);
	CHECK(hi < 3 * mean / 2 && hi > 3 * mean / 2 - mean / 100);
	CHECK((double)sum / n > 0.99 * (double)mean && (double)sum / n < 1.01 * (double)mean);
	dither__free(d);

	/* Several CPUs: each has its own schedule; next_ns is the earliest. */
	d = dither__new(3, P999, 32, SEED, t0);
	CHECK(d);
	if (!d)
		return;
	for (int i = 0; i < 1000; i++) {
		uint64_t at = dither__next_ns(d);
		int due = 0;

		for (unsigned int cpu = 0; cpu < 3; cpu++)
			due += dither__due(d, cpu, at);
		CHECK(due >= 1);
		CHECK(dither__next_ns(d) > at);
	}
	dither__free(d);
}

/* One CPU's ticks: period `period`, restarted (next tick one period after
 * the restart) at the times the dither schedule gives, when d is not NULL. */
struct ticks {
	struct dither *d;
	uint64_t period, next;
};

/* The first tick at or after t (t never decreases between calls). */
static uint64_t tick_at_or_after(struct ticks *k, uint64_t t)
{
	for (;;) {
		uint64_t restart = k->d ? dither__next_ns(k->d) : UINT64_MAX;

		if (restart < k->next) {
			dither__due(k->d, 0, restart);
			k->next = restart + k->period;
			continue;
		}
		if (k->next >= t)
			return k->next;
		k->next += k->period;
	}
}

static uint64_t ticks_in(struct ticks *k, uint64_t a, uint64_t b)
{
	uint64_t n = 0, t = a;

	while ((t = tick_at_or_after(k, t)) < b) {
		n++;
		t++;
	}
	return n;
}

static void test_rate_kept(void)
{
	/* A CPU busy for 100 s: as many ticks as the nominal rate says. */
	struct dither *d = dither__new(1, P999, 32, SEED, 0);
	struct ticks k = {.d = d};
	uint64_t n, span = 100000000000ull;

	CHECK(d);
	if (!d)
		return;
	k.period = dither__timer_period_ns(d);
	k.next = k.period;
	n = ticks_in(&k, 0, span);
	CHECK(n > 0.995 * (double)(span / P999) && n < 1.005 * (double)(span / P999));
	dither__free(d);
}

/*
 * A process that runs `run` ns, then sleeps `sleep` ns with timer slack
 * `slack`: it wakes at the first tick in [expiry, expiry + slack] (the tick's
 * interrupt runs its timer), else at expiry + slack, and starts `latency`
 * later. Returns the ticks that fell in its runs over `cycles` cycles.
 */
static uint64_t sleeper_ticks(struct ticks *k, uint64_t run, uint64_t sleep, uint64_t slack,
			      uint64_t latency, int cycles)
{
	uint64_t t = 1000000, got = 0;

	for (int i = 0; i < cycles; i++) {
		uint64_t tick = tick_at_or_after(k, t), wake = tick <= t + slack ? tick : t + slack;
		uint64_t start = wake + latency;

		got += ticks_in(k, start, start + run);
		t = start + run + sleep;
	}
	return got;
}

static void test_lock_broken(void)
{
	/* 250 us of work every ~100 ms, 50 us slack, 24 us to start: a sleep
	 * chosen so that a cycle ends 25 us before a tick, inside the slack
	 * window: on fixed ticks it starts right after a tick every time. */
	const uint64_t run = 250000, slack = 50000, lat = 24000;
	const uint64_t sleep = 100 * P999 - 25000 - run - lat;
	const int cycles = 4000;
	const double fair = cycles * (double)run / (double)P999; /* 999 */
	struct ticks fixed = {.period = P999, .next = P999};
	struct dither *d = dither__new(1, P999, 32, SEED, 0);
	struct ticks moved = {.d = d};
	uint64_t locked, dithered;

	CHECK(d);
	if (!d)
		return;
	moved.period = dither__timer_period_ns(d);
	moved.next = moved.period;
	locked = sleeper_ticks(&fixed, run, sleep, slack, lat, cycles);
	dithered = sleeper_ticks(&moved, run, sleep, slack, lat, cycles);
	fprintf(stderr, "  sleeper: fair %.0f ticks, fixed phase %llu, dithered %llu\n", fair,
		(unsigned long long)locked, (unsigned long long)dithered);
	CHECK(locked < 0.02 * fair);
	CHECK(dithered > 0.9 * fair && dithered < 1.1 * fair);
	dither__free(d);
}

int main(void)
{
	static const struct test_case cases[] = {
	    TEST(test_period_makes_up_for_restarts),
	    TEST(test_intervals),
	    TEST(test_rate_kept),
	    TEST(test_lock_broken),
	};

	return test_run(cases, sizeof(cases) / sizeof(cases[0]));
}
