/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF side's lifecycle: open/configure/load the skeleton, attach a
 * cpu-clock perf event on every online CPU plus the exec/exit tracepoints,
 * register processes, poll the event ring buffer and drain the aggregated
 * samples.
 */
#ifndef PYBPF_SAMPLER_H
#define PYBPF_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"

struct sampler;

struct sampler_opts {
	unsigned int rate_hz;  /* samples per second per CPU */
	bool wall;             /* also count off-CPU time (sched_switch) and thread states */
	bool gil_only;         /* record only threads that hold the GIL */
	__u32 max_procs;       /* registered processes */
	__u32 max_stacks;      /* distinct stacks between two drains */
	__u32 max_counts;      /* distinct (process, thread, stack) between two drains */
	/* --native: every sample is sent as a struct pybpf_native_event through
	 * a ring buffer of native_ring_bytes (power of two) instead of being
	 * aggregated in the kernel. */
	bool native;
	__u32 native_ring_bytes;
	/* Restart each CPU's timer at random times, every dither_ticks periods
	 * on average (user/dither.h); 0: never (the ticks keep one phase). */
	unsigned int dither_ticks;
	/* wall mode --native: entries of each of the two kernel-stack maps (a
	 * power of two up to PYBPF_KSTACKS_MAX_ENTRIES; 0: 8192) */
	__u32 kstacks_max;
	/* Called for each ring-buffer record (struct pybpf_code_event, pybpf_proc_event,
	 * pybpf_native_event). */
	int (*on_event)(void *ctx, void *data, size_t size);
	void *ctx;
};

/* Open and load the BPF object. NULL with errno set (EPERM: not privileged). */
struct sampler *sampler__new(const struct sampler_opts *opts);
void sampler__free(struct sampler *s);

/* Start sampling: perf events on every online CPU, tracepoints. 0 or -errno. */
int sampler__attach(struct sampler *s);
/* Number of CPUs with an attached perf event. */
unsigned int sampler__cpus(const struct sampler *s);
/*
 * Restart the timers whose random restart is due at now_ns (CLOCK_MONOTONIC);
 * *next_ns: when the next one is (UINT64_MAX: none, dithering is off). Call
 * it when a restart is due, not later: see user/dither.h. The timers start
 * at the nominal period; each restart sets the shortened one. On error
 * (-errno) dithering is off from then on and the timers keep running.
 */
int sampler__dither(struct sampler *s, uint64_t now_ns, uint64_t *next_ns);

int sampler__add_proc(struct sampler *s, pid_t pid, const struct pybpf_proc *proc);
int sampler__remove_proc(struct sampler *s, pid_t pid);
/* Is pid's bit set in the BPF targets bitmap? 1 yes (or beyond it), 0 no, or -errno. */
int sampler__is_target(const struct sampler *s, pid_t pid);

/* Deliver ring-buffer records to on_event; waits up to timeout_ms (0: no wait). */
int sampler__poll(struct sampler *s, int timeout_ms);

/*
 * Move the samples aggregated in the kernel since the last drain to cb.
 * `stack` is NULL when the kernel no longer had it (counted by the caller).
 * The ring buffer's pending events go to on_event before each batch of
 * samples, so the code events of every stack delivered came first (unless
 * the ring was full: code_event_lost). 0 or -errno.
 */
typedef void (*sampler_sample_cb)(const struct pybpf_count_key *key,
				  const struct pybpf_count_val *val,
				  const struct pybpf_stack *stack, void *arg);
int sampler__drain(struct sampler *s, sampler_sample_cb cb, void *arg);

/*
 * Wall mode: count every open off-CPU interval up to now (and restart it
 * from now), so that the next drain holds all off-CPU time so far. 0 or
 * -errno; a no-op in cpu mode.
 */
int sampler__close_offcpu(struct sampler *s);

/*
 * Wall mode: a thread that is off CPU since before the start, at `stack`
 * (copied) in the given state; counted from since_ns (CLOCK_MONOTONIC) on,
 * unless it runs before it is registered. run_ns: its CPU time so far
 * (/proc/PID/task/TID/schedstat). 0, -EEXIST (it switched meanwhile) or -errno.
 */
int sampler__add_offcpu(struct sampler *s, __u32 tid, const struct pybpf_offcpu *e,
			const struct pybpf_stack *stack);

/*
 * Bound memory, once per output interval: forget stacks not seen during the
 * last max_idle intervals, and free the kernel's copies of stacks held here.
 * 0 or -ENOMEM.
 */
int sampler__prune(struct sampler *s, uint32_t max_idle);

/*
 * Wall mode --native: the kernel stack `ref` of a count key (its kstack
 * field, PYBPF_KSTACK_REF), innermost first, into ips[0..max). The number
 * of addresses; 0 when ref is 0 or no longer known.
 */
int sampler__kstack(struct sampler *s, __u32 ref, __u64 *ips, size_t max);
/*
 * Wall mode --native: move the kernel-stack maps on a generation, in this
 * order: sampler__kstacks_hold (keep the stacks of the open off-CPU
 * intervals), sampler__drain, sampler__kstacks_flip (clear the previous
 * generation's map, start the next). See user/kstacks.h. 0 or -errno; a
 * no-op in other modes.
 */
int sampler__kstacks_hold(struct sampler *s);
int sampler__kstacks_flip(struct sampler *s);
/* Kernel stacks kept in userspace; references no longer known. */
void sampler__kstacks_stats(const struct sampler *s, size_t *kept, uint64_t *expired);
/* Timer restarts done by sampler__dither. */
uint64_t sampler__restarts(const struct sampler *s);

/* Sum of the per-CPU counters since start. 0 or -errno. */
int sampler__counters(const struct sampler *s, __u64 out[CNT__MAX]);

/* BPF run time of the sampling program (needs kernel.bpf_stats_enabled=1). */
int sampler__prog_stats(const struct sampler *s, __u64 *run_ns, __u64 *run_cnt);

#endif
