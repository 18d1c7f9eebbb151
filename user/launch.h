/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `record -- PROGRAM ARGS`: start a program held just before its exec, so
 * the profiler can be ready first, then let it run; reap it (and any
 * orphaned descendant: the caller becomes their subreaper) and report how
 * it ended.
 */
#ifndef PYBPF_LAUNCH_H
#define PYBPF_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct launch {
	pid_t pid; /* the program's process */
	int go_fd; /* write end of the pipe it waits on; -1 once released */
	bool exited;
	int status; /* wait status once exited */
};

/* Can `name` be executed as execvp would find it? 0, -ENOENT (not found),
 * -EACCES (found but not executable). */
int launch__check(const char *name);

/* Fork the program, held before its exec. 0 or -errno. Makes the caller
 * the subreaper of its descendants. */
int launch__start(struct launch *l, char *const argv[]);

/* Let it exec. 0 or -errno. */
int launch__release(struct launch *l);

/* Reap whatever exited; true once the program itself has. */
bool launch__poll(struct launch *l);

/* Give up before releasing it: it exits without running. */
void launch__abort(struct launch *l);

/* Its exit code, as a shell reports it: the code, or 128 + the signal. */
int launch__exit_code(const struct launch *l);

/* Forward a signal to it (while it runs). */
void launch__signal(const struct launch *l, int sig);

#endif
