// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A shared object whose code a Python calls through ctypes (nspin.py):
 * nspin(SECONDS) burns CPU in here, so --native samples land in it. */
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static unsigned long nspin_step(unsigned long x)
{
	for (int i = 0; i < 100000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

unsigned long nspin(double seconds)
{
	double end = now() + seconds;
	unsigned long x = 1;

	while (now() < end)
		x = nspin_step(x);
	return x;
}
