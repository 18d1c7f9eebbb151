/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `pybpf-prof dump`: what every thread of a Python process is doing right
 * now, without stopping it. Collects each thread's Python stack
 * (threadsnap), names its frames (symbolizer), adds what /proc says about
 * the thread (name, state, system call; taskinfo) and, on request, the
 * frames' local variables (pylocals). Writers for text and JSON.
 */
#ifndef PYBPF_DUMP_H
#define PYBPF_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pyinfo.h"
#include "pylocals.h"
#include "threadsnap.h"

struct dump_opts {
	bool locals; /* read each frame's local variables */
};

struct dump_frame {
	const char *name; /* qualified name */
	const char *file;
	int64_t line;		/* 0 if unknown */
	struct pylocal *locals; /* with dump_opts.locals */
	size_t nlocals;
};

struct dump_thread {
	pid_t tid;     /* host TID; 0 for a thread state without an OS thread */
	pid_t ns_tid;  /* TID inside the process's PID namespace */
	char name[64]; /* OS thread name */
	char state;    /* /proc state letter, '?' if unknown */
	long syscall;  /* system call it is blocked in; TASKINFO_NO_SYSCALL / _UNKNOWN */
	enum threadsnap_status status;
	int gil;		   /* holds the GIL: 1 yes, 0 no, -1 unknown or no GIL */
	bool truncated;		   /* deeper than the frames kept */
	struct dump_frame *frames; /* innermost first */
	size_t nframes;
};

struct dump_proc {
	pid_t pid, ppid;
	char comm[64];
	char cmdline[1024];
	struct pyinfo info;
	struct dump_thread *threads;
	size_t nthreads;
	uint64_t took_ns; /* time the snapshot took */
	void *priv;	  /* names' storage */
};

/*
 * Snapshot one process. NULL with errno: ESRCH gone, ENOEXEC not CPython,
 * ENOTSUP version not readable (info says which), EACCES/EPERM, ENOMEM.
 * info may be NULL.
 */
struct dump_proc *dump__take(const char *proc, pid_t pid, const struct dump_opts *opts,
			     struct pyinfo *info);
void dump__free(struct dump_proc *d);

/* "running", "sleeping", "disk-wait"... for a /proc state letter. */
const char *dump__state_name(char state);

/* Human-readable text, py-spy-like: one block per thread. 0 or -errno. */
int dump__write_text(FILE *f, const struct dump_proc *d);

/* JSON: an array of process objects (the layout is in README). 0 or -errno. */
int dump__write_json(FILE *f, const struct dump_proc *const *procs, size_t n);

#endif
