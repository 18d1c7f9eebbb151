/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one monotonic clock reading of the userspace modules: CLOCK_MONOTONIC
 * in nanoseconds (budgets, deadlines, interval lengths; never a wall time).
 */
#ifndef PYBPF_MONOCLOCK_H
#define PYBPF_MONOCLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monoclock__ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
