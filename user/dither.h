/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * When to restart each CPU's cpu-clock timer so that its ticks keep no fixed
 * phase for long.
 *
 * A fixed-period timer and a process that sleeps on its own period can lock
 * together: the tick's interrupt also runs every sleep whose timer slack
 * window it falls in, so such a process starts right after a tick, and when
 * its cycle is a little under a whole number of periods it does so cycle
 * after cycle and is never sampled (a fleet of 50 sleeping 99.75 ms at
 * 999 Hz got 22 % of its samples). Restarting a CPU's timer at random times
 * moves its phase at random, which breaks the lock.
 *
 * A restart drops the time since that CPU's last tick. The restart times
 * are drawn uniformly over many periods, so that time is uniform over a
 * period, half a period on average, as long as the restarts happen when
 * drawn (the caller wakes for them with a 1 ns timer slack: a wake-up run
 * early by a tick's interrupt would land just after a tick). The timer runs
 * that much faster than the nominal period, so ticks still come at the
 * nominal rate on average.
 *
 * Pure bookkeeping: the sampler does the restarts (PERF_EVENT_IOC_PERIOD).
 */
#ifndef PYBPF_DITHER_H
#define PYBPF_DITHER_H

#include <stdbool.h>
#include <stdint.h>

/* Mean restart interval of each CPU, in nominal periods (each interval is
 * drawn uniformly from half to one and a half times that). */
#define DITHER_MEAN_TICKS 16

struct dither;

/*
 * ncpus timers of nominal period period_ns, restarted every mean_ticks
 * periods on average (>= 2), from a random generator seeded with seed. The
 * first restarts are drawn from now_ns. NULL with errno set.
 */
struct dither *dither__new(unsigned int ncpus, uint64_t period_ns, unsigned int mean_ticks,
			   uint64_t seed, uint64_t now_ns);
void dither__free(struct dither *d);

/* The period to program: 2K/(2K+1) of the nominal one for K mean_ticks,
 * which makes up for half a period lost per restart. */
uint64_t dither__timer_period_ns(const struct dither *d);

/* Is cpu's restart due at now_ns? If so, its next one is drawn. */
bool dither__due(struct dither *d, unsigned int cpu, uint64_t now_ns);

/* The earliest restart due, in the clock of now_ns. */
uint64_t dither__next_ns(const struct dither *d);

#endif
