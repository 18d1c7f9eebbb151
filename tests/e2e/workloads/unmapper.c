// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Helper of workloads/unmaps.py, loaded with ctypes: takes away the pages
 * holding the caller's Python frames or code objects while it burns CPU in
 * C, then puts them back exactly as they were, so that the interpreter
 * returns to intact memory and the process goes on unharmed.
 *
 * int unmapper_hold(const unsigned long *addrs, int n, int how, double secs)
 *   how 0: mprotect(PROT_NONE) the pages, then PROT_READ | PROT_WRITE again
 *   how 1: munmap the pages (their bytes saved here first), then map fresh
 *          anonymous pages at the same addresses and copy the bytes back
 *   how | 2: sleep meanwhile instead of burning CPU (the thread is off CPU
 *          while its frames are gone: what wall mode reads at sched_switch)
 * Returns 0 or -errno. Nothing in the hidden pages is touched meanwhile:
 * the addresses are copied out first and the saved bytes live in this
 * library's own static buffer (never in the heap, which may be hidden).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAGES 8
#define MAX_PAGE_SIZE 65536

static unsigned char saved[MAX_PAGES][MAX_PAGE_SIZE];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int unmapper_hold(const unsigned long *addrs, int n, int how, double secs)
{
	uintptr_t pages[MAX_PAGES];
	long pg = sysconf(_SC_PAGESIZE);
	volatile uint64_t sink = 0;
	int np = 0, err = 0, i, j;
	double end;

	if (pg <= 0 || pg > MAX_PAGE_SIZE || n < 0 || n > MAX_PAGES)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)addrs[i] & ~(uintptr_t)(pg - 1);

		for (j = 0; j < np && pages[j] != p; j++)
			;
		if (j == np)
			pages[np++] = p;
	}
	for (i = 0; i < np; i++) {
		void *p = (void *)pages[i];

		if (how & 1) {
			memcpy(saved[i], p, (size_t)pg);
			if (munmap(p, (size_t)pg))
				err = -errno;
		} else if (mprotect(p, (size_t)pg, PROT_NONE)) {
			err = -errno;
		}
		if (err) {
			np = i; /* put back only those taken away */
			break;
		}
	}
	end = now() + secs;
	while (!err && now() < end) {
		if (how & 2) {
			struct timespec nap = {0, 10 * 1000 * 1000};

			nanosleep(&nap, NULL);
			continue;
		}
		for (i = 0; i < 100000; i++)
			sink += (uint64_t)i * (uint64_t)np;
	}
	for (i = 0; i < np; i++) {
		void *p = (void *)pages[i];

		if (how & 1) {
			if (mmap(p, (size_t)pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
				return -errno; /* the process cannot go on: the caller aborts */
			memcpy(p, saved[i], (size_t)pg);
		} else if (mprotect(p, (size_t)pg, PROT_READ | PROT_WRITE)) {
			return -errno;
		}
	}
	return err;
}
