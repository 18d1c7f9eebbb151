/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What one thread of a process is doing, from /proc/PID/task/TID: its
 * name, its id inside the process's own PID namespace, its scheduler state
 * and the system call it is blocked in. The proc root is a parameter so
 * that tests can point it at a fixture tree. The parsers are exposed for
 * unit tests.
 */
#ifndef PYBPF_TASKINFO_H
#define PYBPF_TASKINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* taskinfo.syscall when the thread is not inside a system call. */
#define TASKINFO_NO_SYSCALL (-1L)
/* taskinfo.syscall when it could not be read (no permission, kernel without it). */
#define TASKINFO_SYSCALL_UNKNOWN (-2L)

struct taskinfo {
	pid_t tid;     /* as seen from here (host) */
	pid_t ns_tid;  /* in the process's own (innermost) PID namespace */
	char state;    /* R running/runnable, S sleeping, D disk wait, T stopped, Z zombie... */
	long syscall;  /* number of the system call it is blocked in, or one of the above */
	char name[64]; /* thread name (comm) */
};

/*
 * Read one thread. 0, -ESRCH when the thread (or process) is gone, or -errno.
 * A field that cannot be read keeps a neutral value (syscall UNKNOWN). The
 * state and the system call agree with each other: a thread in state R is in
 * no system call (taskinfo__parse_sched).
 */
int taskinfo__read(const char *proc, pid_t pid, pid_t tid, struct taskinfo *out);

/* The innermost id of the "NSpid:" line of a status file. 0 or -EINVAL. */
int taskinfo__parse_nspid(const char *status, pid_t *ns_tid);

/* The state letter of a stat line ("pid (comm) S ..."; comm may hold ')' and spaces). */
int taskinfo__parse_state(const char *stat, char *state);

/* A syscall file: "running" -> NO_SYSCALL, "-1 sp pc" -> NO_SYSCALL, "NR args..." -> NR. */
int taskinfo__parse_syscall(const char *text, long *nr);

/*
 * A stat line and a syscall file (NULL: unreadable) read together: the state
 * letter and the system call. 0; -EAGAIN when they disagree, as when the
 * thread started or stopped running between the two reads (syscall says
 * "running" exactly when the state is R); -EINVAL for a bad stat line.
 */
int taskinfo__parse_sched(const char *stat, const char *syscall, char *state, long *nr);

/* Name of an x86-64 system call number ("read", "futex"...); NULL if unknown. */
const char *taskinfo__syscall_name(long nr);

/* Is the thread on a CPU or waiting for one (state R)? */
static inline bool taskinfo__on_cpu(const struct taskinfo *t)
{
	return t->state == 'R';
}

#endif
