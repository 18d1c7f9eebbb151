/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Wall mode: the threads of a process that are off CPU when it starts to be
 * profiled. The scheduler hooks only see a thread that switches; one that
 * sleeps from before the run (a worker in accept, a thread in queue.get)
 * would never be seen. Its Python stack is read from userspace
 * (threadsnap.h), its wait from /proc, and its CPU time so far from
 * /proc/PID/task/TID/schedstat, which lets the kernel side tell whether it
 * ran after it was looked at (then the record is stale and dropped).
 */
#ifndef PYBPF_OFFCPU_H
#define PYBPF_OFFCPU_H

#include <stddef.h>
#include <sys/types.h>

#include "pybpf_abi.h"

/* Receives one off-CPU thread: its record (stack = the hash of *stack). */
typedef int (*offcpu_add_fn)(void *ctx, __u32 tid, const struct pybpf_offcpu *e,
			     const struct pybpf_stack *stack);

/*
 * Every thread of process pid (registered as gen) that is asleep now,
 * counted from since_ns (CLOCK_MONOTONIC) on. Threads on a CPU or runnable
 * are left to the scheduler hooks. Returns the number of threads handed to
 * add, or -errno (-ESRCH: the process is gone).
 */
int offcpu__snapshot(const char *proc, pid_t pid, __u32 gen, __u64 since_ns, offcpu_add_fn add,
		     void *ctx);

/* The hash of a stack recorded for registration gen, as the BPF side computes it. */
__u64 offcpu__stack_hash(__u32 gen, const struct pybpf_stack *stack);

/* The `wait` of a thread asleep in system call nr (negative: not in one). */
__u16 offcpu__wait(long nr);

/* Parse the first field of a schedstat file (CPU time, ns). 0 or -EINVAL. */
int offcpu__parse_schedstat(const char *text, __u64 *run_ns);

#endif
