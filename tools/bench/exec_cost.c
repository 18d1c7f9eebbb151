// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the agent spends on one exec of a program that is not Python, free
 * of the node's other churn: the registry's own exec handling
 * (registry__on_exec, then registry__retry_pending until the process is
 * gone), timed with this thread's CPU clock, for N starts of the program.
 *
 *   exec_cost N PROGRAM [ARG...]
 *
 * Prints one JSON line: the first exec (the binary's verdict is not cached
 * yet) and the median and mean of the others, in ms of CPU. Built by
 * bench.py against a build's libpybpf_core.a.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"

extern char **environ;

static double thread_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct registry_ops ops = {0};
	struct registry *r;
	double *ms, sum = 0;
	int n;

	if (argc < 3 || (n = atoi(argv[1])) < 2) {
		fprintf(stderr, "usage: exec_cost N PROGRAM [ARG...]\n");
		return 2;
	}
	r = registry__new("/proc", &ops, NULL);
	ms = calloc((size_t)n, sizeof(*ms));
	if (!r || !ms)
		return 1;
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int status, due;
		double t0;

		if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ))
			return 1;
		/* The agent sees the exec event within microseconds: the image is
		 * the new one, its libraries not mapped yet. */
		t0 = thread_ms();
		registry__on_exec(r, pid);
		due = registry__retry_pending(r);
		ms[i] = thread_ms() - t0;
		/* Then the retries, each when it is due (as the agent's loop does). */
		while (waitpid(pid, &status, WNOHANG) == 0) {
			usleep(due > 0 ? (useconds_t)due * 1000 : 1000);
			if (due < 0)
				continue;
			t0 = thread_ms();
			due = registry__retry_pending(r);
			ms[i] += thread_ms() - t0;
		}
		t0 = thread_ms();
		registry__on_exit(r, pid);
		registry__retry_pending(r);
		ms[i] += thread_ms() - t0;
	}
	for (int i = 1; i < n; i++)
		sum += ms[i];
	printf("{\"first_ms\": %.3f, ", ms[0]);
	qsort(ms + 1, (size_t)n - 1, sizeof(*ms), cmp);
	printf("\"median_ms\": %.3f, \"mean_ms\": %.3f, \"n\": %d}\n", ms[1 + (n - 1) / 2],
	       sum / (n - 1), n);
	registry__free(r);
	free(ms);
	return 0;
}
