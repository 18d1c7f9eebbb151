/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every thread's current Python stack of a live process, read from
 * userspace without stopping it: the thread states are found by walking the
 * interpreters' thread lists, each stack by running the BPF program's own
 * frame walker (bpf/pywalk.h) over process_vm_readv. A walk that faulted,
 * or whose innermost frame changed while it ran, is retried.
 *
 * The stacks are `struct pybpf_stack`, as the BPF side records them, so the
 * symbolizer names them (give it threadsnap__proc()->off and alive = true).
 *
 * A Python thread state is tied to its OS thread by the id in the target's
 * own PID namespace: `native_thread_id` from 3.11 on; before 3.11 through
 * `thread_id` (pthread_self(), the address of the C library's thread
 * descriptor) and the offset of the kernel TID inside that descriptor,
 * found per process by calibration (see threadsnap.c), never hard-coded.
 *
 * Typical use:
 *     struct pyinfo info;
 *     struct threadsnap *ts = threadsnap__new("/proc", pid, &info);
 *     struct threadsnap_thread *th; size_t n;
 *     if (ts && !threadsnap__take(ts, &th, &n)) { ...; free(th); }
 *     threadsnap__free(ts);
 */
#ifndef PYBPF_THREADSNAP_H
#define PYBPF_THREADSNAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"

struct pyinfo;
struct threadsnap;

enum threadsnap_status {
	THREADSNAP_OK = 0,     /* stack read whole and unchanged while read (may be empty) */
	THREADSNAP_TORN,       /* the stack kept changing while it was read: frames read so far */
	THREADSNAP_NO_PYTHON,  /* an OS thread with no Python thread state (native thread) */
	THREADSNAP_NO_THREAD,  /* a Python thread state whose OS thread was not found */
	THREADSNAP_UNREADABLE, /* the thread state could not be read */
	THREADSNAP_SKIPPED,    /* not read: the snapshot's time budget ran out first */
	THREADSNAP_ON_CPU,     /* not read: running, and only sleeping threads were asked for */
};

/* One thread. */
struct threadsnap_thread {
	pid_t tid;	    /* host TID; 0 with THREADSNAP_NO_THREAD */
	pid_t ns_tid;	    /* TID in the process's own PID namespace; 0 if unknown */
	uint64_t tstate;    /* PyThreadState address; 0 with THREADSNAP_NO_PYTHON */
	uint64_t thread_id; /* tstate->thread_id (pthread_self()) */
	enum threadsnap_status status;
	unsigned int attempts;	  /* walks made (1 unless retried) */
	struct pybpf_stack stack; /* innermost frame first */
	/* Address of the frame each stack.frames[i] came from (PyFrameObject
	 * before 3.11, _PyInterpreterFrame after), e.g. to read its locals. */
	uint64_t frame_addr[PYBPF_MAX_FRAMES];
};

/*
 * Open a process: identify its interpreter. info (may be NULL) receives
 * what was learned even on -ENOTSUP, so the version can be named.
 * NULL with errno: ESRCH gone, ENOEXEC not CPython, ENOTSUP a version
 * whose layout is unknown, EACCES/EPERM not allowed, ENOMEM.
 */
struct threadsnap *threadsnap__new(const char *proc, pid_t pid, struct pyinfo *info);
void threadsnap__free(struct threadsnap *ts);

pid_t threadsnap__pid(const struct threadsnap *ts);
const struct pyinfo *threadsnap__info(const struct threadsnap *ts);
/* Runtime address, PyCode_Type address and offsets (gen is 1). */
const struct pybpf_proc *threadsnap__proc(const struct threadsnap *ts);

/*
 * Every thread of the process: OS threads (with their Python stack when
 * they have a thread state), then thread states with no OS thread found.
 * Ordered by TID. *out is malloc'ed (free() it). 0, -ESRCH when the process
 * is gone (also when it exits while being read), -ENOMEM, or -errno.
 *
 * Bounded whatever the target holds: a thread list that comes back on
 * itself is cut at the first repeat, a thread state with no OS thread is
 * walked once, and after THREADSNAP_BUDGET_MS of wall time torn stacks are
 * no longer retried and the threads not yet read are THREADSNAP_SKIPPED.
 */
#define THREADSNAP_BUDGET_MS 250
int threadsnap__take(struct threadsnap *ts, struct threadsnap_thread **out, size_t *n);

/*
 * From now on, threadsnap__take walks only the threads that are off CPU;
 * running ones are THREADSNAP_ON_CPU. A running thread's stack moves while
 * it is read, and each retry waits for a CPU: on a busy node that was most
 * of a snapshot's time, for threads wall mode does not need (the kernel
 * reports a running thread when it next switches out).
 */
void threadsnap__only_asleep(struct threadsnap *ts);

/*
 * One OS thread, by host TID: cheaper than threadsnap__take for a few
 * threads (e.g. those blocked through a whole profiling run). 0 (out->status
 * tells whether it has Python frames), -ESRCH when the thread is gone, or
 * -errno.
 */
int threadsnap__thread(struct threadsnap *ts, pid_t tid, struct threadsnap_thread *out);

/*
 * The thread state holding the GIL now: 0 and *tstate (0 when nobody holds
 * it), or -ENOTSUP (no GIL: a free-threaded build running without one, or a
 * version whose GIL layout is not known) or -EFAULT.
 */
int threadsnap__gil_holder(struct threadsnap *ts, uint64_t *tstate);

/* Short name of a status ("ok", "torn", ...). */
const char *threadsnap__status_name(enum threadsnap_status s);

#endif
