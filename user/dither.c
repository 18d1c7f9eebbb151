// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "dither.h"

#include <errno.h>
#include <stdlib.h>

struct dither {
	unsigned int ncpus;
	uint64_t period_ns;
	uint64_t mean_ns;  /* mean restart interval */
	uint64_t rng;      /* splitmix64 state */
	uint64_t *due_ns;  /* per CPU */
};

static uint64_t next_random(struct dither *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [mean/2, 3*mean/2). */
static uint64_t draw_interval(struct dither *d)
{
	return d->mean_ns / 2 + next_random(d) % d->mean_ns;
}

struct dither *dither__new(unsigned int ncpus, uint64_t period_ns, unsigned int mean_ticks,
			   uint64_t seed, uint64_t now_ns)
{
	struct dither *d;

	if (!ncpus || !period_ns || mean_ticks < 2 || period_ns > UINT64_MAX / mean_ticks) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->due_ns = calloc(ncpus, sizeof(*d->due_ns));
	if (!d->due_ns) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	d->ncpus = ncpus;
	d->period_ns = period_ns;
	d->mean_ns = period_ns * mean_ticks;
	d->rng = seed;
	for (unsigned int cpu = 0; cpu < ncpus; cpu++)
		d->due_ns[cpu] = now_ns + draw_interval(d);
	return d;
}

void dither__free(struct dither *d)
{
	if (!d)
		return;
	free(d->due_ns);
	free(d);
}

uint64_t dither__timer_period_ns(const struct dither *d)
{
	/* Over a restart interval of mean length M the timer loses P'/2 on
	 * average: ticks per ns = 1/P' - 1/(2M). Equal to 1/P when
	 * P' = 2M P / (2M + P), i.e. 2K P / (2K + 1) with M = K P. */
	uint64_t two_k = 2 * (d->mean_ns / d->period_ns);

	return (d->period_ns * two_k + (two_k + 1) / 2) / (two_k + 1);
}

bool dither__due(struct dither *d, unsigned int cpu, uint64_t now_ns)
{
	if (cpu >= d->ncpus || now_ns < d->due_ns[cpu])
		return false;
	d->due_ns[cpu] = now_ns + draw_interval(d);
	return true;
}

uint64_t dither__next_ns(const struct dither *d)
{
	uint64_t next = UINT64_MAX;

	for (unsigned int cpu = 0; cpu < d->ncpus; cpu++)
		if (d->due_ns[cpu] < next)
			next = d->due_ns[cpu];
	return next;
}
