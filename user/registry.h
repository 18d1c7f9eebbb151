/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The set of Python processes being profiled, over time. Each registration
 * gets a `gen` that is never reused within a run, so samples, code objects
 * and thread names of a PID that exits and is reused never mix. Records of
 * exited processes are kept so their samples can still be named.
 */
#ifndef PYBPF_REGISTRY_H
#define PYBPF_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"
#include "pyinfo.h"

struct registry;

struct registry_proc {
	__u32 gen;
	pid_t pid;
	pid_t ppid;		  /* parent when registered */
	uint64_t start_time;      /* clock ticks since boot */
	char comm[64];
	char container[80];       /* container id from the cgroup path, "" on the host */
	char service[64];         /* service name from the command line (service.h) */
	bool alive;
	struct pyinfo info;
	struct pybpf_offsets off;
};

/* What the BPF program is given of a registered process. `native`: keep
 * 3.11's is_entry offset; only splicing native frames needs it, and the walk
 * without --native then does not even look at it. */
void registry_proc__bpf(const struct registry_proc *p, bool native, struct pybpf_proc *out);

struct registry_ops {
	/* A Python process to profile was found: register it with BPF. */
	int (*on_add)(void *ctx, const struct registry_proc *p);
	/* A registered process exited or exec'd: unregister it. */
	void (*on_remove)(void *ctx, const struct registry_proc *p);
	/* A process was skipped (err: -ENOTSUP unsupported version, -EPROTO its
	 * debug offsets do not match its version's layout, -EACCES, ...).
	 * Called once per process instance. */
	void (*on_skip)(void *ctx, pid_t pid, int err, const struct pyinfo *info);
};

struct registry *registry__new(const char *proc_root, const struct registry_ops *ops, void *ctx);
void registry__free(struct registry *r);

/*
 * Register one process by PID (--pid). 0; -ESRCH no such process; -ENOEXEC
 * not CPython; -ENOTSUP a CPython version we have no layout for (*info
 * says which); -EPROTO a CPython whose structs do not match the layout;
 * -EACCES; or an error from on_add.
 */
int registry__add_pid(struct registry *r, pid_t pid, struct pyinfo *info);

/* Follow only the processes registered so far (--pid), not new ones. */
void registry__set_explicit(struct registry *r, bool explicit_only);

/*
 * Process trees (--subprocesses, record -- PROGRAM): besides the processes
 * registered explicitly, follow every descendant of a root, including
 * those started later (found by exec events and by the periodic scan,
 * which also finds children that fork without exec). Processes registered
 * with registry__add_pid become roots too. Off by default.
 */
void registry__set_tree(struct registry *r, bool tree);

/* Make pid a root of a followed tree without registering it (it need not
 * be Python, e.g. the launcher of a program). 0 or -errno. */
int registry__add_root(struct registry *r, pid_t pid);

/* Periodic work: drop processes that are gone; in --all-pythons mode also
 * find new ones. 0 or -errno. */
int registry__tick(struct registry *r);

/* Events from BPF. */
void registry__on_exec(struct registry *r, pid_t pid);
void registry__on_exit(struct registry *r, pid_t pid);

/* Look again at processes that exec'd recently and were not Python yet.
 * Returns milliseconds until the next retry is due, or -1 if none. */
int registry__retry_pending(struct registry *r);

const struct registry_proc *registry__by_gen(const struct registry *r, __u32 gen);

/*
 * Forget processes that have exited (call once their samples are out, e.g.
 * after an interval's profile was written); `forget` is told each gen so
 * other caches can drop it. Bounds memory over weeks of process churn.
 * 0 or -ENOMEM.
 */
int registry__prune(struct registry *r, void (*forget)(void *ctx, __u32 gen), void *ctx);

/* Name of a thread of a registered process, read once (NULL if unknown). */
const char *registry__thread_name(struct registry *r, __u32 gen, pid_t tid);

/* Processes registered since the start, and alive now. */
size_t registry__total(const struct registry *r);
size_t registry__alive(const struct registry *r);

#endif
