// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Helper of workloads/threadcycle.py, loaded with ctypes: makes a real
 * interpreter's thread list loop on itself for a while, then mends it.
 *
 * int threadcycle_hold(void **slot, void *value, double secs)
 *   saves *slot (the thread state's `next`), writes value (the thread
 *   state itself: the list now loops), runs a native thread (no thread
 *   state: a profiler looking for it walks the whole list) that burns CPU
 *   for secs, joins it, and puts *slot back. The calling Python thread
 *   waits in pthread_join meanwhile, without the GIL; no thread of the
 *   process runs Python, so CPython itself never walks the loop.
 * Returns 0 or a positive errno from pthread_create.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
	double end = now() + *(const double *)arg;
	volatile uint64_t sink = 0;

	while (now() < end)
		for (uint64_t i = 0; i < 100000; i++)
			sink += i;
	return NULL;
}

int threadcycle_hold(void **slot, void *value, double secs)
{
	void *saved = *slot;
	pthread_t t;
	int err;

	*(void *volatile *)slot = value;
	err = pthread_create(&t, NULL, spin, &secs);
	if (!err)
		pthread_join(t, NULL);
	*(void *volatile *)slot = saved;
	return err;
}
