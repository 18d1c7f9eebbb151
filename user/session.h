/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One profiling run: discovers processes (registry), samples them (sampler),
 * names frames (symbolizer) and folds the result into a profile. The caller
 * drives it with session__step until it wants to stop, then session__finish.
 */
#ifndef PYBPF_SESSION_H
#define PYBPF_SESSION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"
#include "pyinfo.h"

struct session;
struct profile;

enum session_log_level {
	SESSION_WARN = 0,
	SESSION_INFO = 1,
	SESSION_DEBUG = 2,
};

struct session_opts {
	unsigned int rate_hz;
	bool all_pythons;
	bool native; /* --native: native and kernel frames merged in */
	/* wall mode --native: entries of each kernel-stack map (0: 8192) */
	unsigned int kernel_stacks;
	bool subprocesses; /* also every descendant of the --pid processes / roots */
	bool wall;	   /* wall mode: off-CPU time and thread states too */
	bool gil_only;	   /* only threads holding the GIL */
	/* restart each CPU's timer every dither_ticks periods on average, at
	 * random (user/dither.h; the thread that steps the session then gets a
	 * 1 ns timer slack); 0: never */
	unsigned int dither_ticks;
	const char *proc_root; /* "/proc" */
	/* Messages for the user; the session itself never prints. */
	void (*log)(void *ctx, enum session_log_level level, const char *fmt, va_list ap);
	void *log_ctx;
};

/* Why a Python process was not profiled. */
enum session_skip {
	SESSION_SKIP_VERSION, /* a CPython version with no layout in this build */
	SESSION_SKIP_LAYOUT,  /* its structs do not match its version's layout */
	SESSION_SKIP_OTHER,   /* could not be read (permissions, gone mid-inspection...) */
	SESSION_SKIP_UNKNOWN, /* could not be looked at, so not known to be Python */
	SESSION_SKIP__MAX,
};
#define SESSION_WARNED_MAX 64

struct session_stats {
	__u64 counters[CNT__MAX];   /* BPF counters */
	uint64_t samples;	    /* samples collected since the start */
	uint64_t lost_stacks;	    /* counts whose stack was gone */
	uint64_t unresolved_frames; /* frames named "[unknown]" */
	uint64_t frames_without_line;
	uint64_t code_objects;
	size_t processes;		   /* profiled during the run */
	size_t processes_alive;		   /* followed now */
	size_t skipped[SESSION_SKIP__MAX]; /* Python processes not profiled, by reason */
	size_t threads;			   /* distinct (pid, tid) in the current profile */
	unsigned int cpus;
	__u64 bpf_run_ns, bpf_run_cnt; /* 0 unless kernel.bpf_stats_enabled */
	/* --native */
	uint64_t native_samples;    /* samples unwound */
	uint64_t native_frames;	    /* native frames they held */
	uint64_t native_failed;	    /* samples whose process could not be opened */
	uint64_t native_symbols;    /* (process, address) names cached */
	uint64_t native_processes;  /* unwinding sessions open */
	uint64_t native_evicted;    /* sessions closed at UNWIND_MAX_PROCS */
	uint64_t native_bus_faults; /* pages of truncated files read as zeros */
	/* wall mode --native: kernel stacks kept in userspace; off-CPU totals
	 * whose kernel stack was gone */
	size_t kstacks_kept;
	uint64_t kstacks_expired;
	uint64_t timer_restarts; /* cpu-clock timers restarted at random */
};

/* Load the BPF side. NULL with errno set (EPERM: no privilege). */
struct session *session__new(const struct session_opts *opts);
void session__free(struct session *s);

/* Add a process by PID (before session__start). See registry__add_pid. */
int session__add_pid(struct session *s, pid_t pid, struct pyinfo *info);

/* With subprocesses: follow pid's descendants (pid itself need not be
 * Python: e.g. the launcher of record -- PROGRAM). 0 or -errno. */
int session__add_root(struct session *s, pid_t pid);

/* Attach the perf events and start sampling. 0 or -errno. */
int session__start(struct session *s);

/* Wait up to timeout_ms for events and do whatever periodic work is due. */
int session__step(struct session *s, int timeout_ms);

/* True when a --pid run has no live target left. */
bool session__targets_gone(const struct session *s);

/* Collect everything still in flight into the profile. */
int session__finish(struct session *s);

/*
 * End the current interval (daemon mode): what was collected goes to *out
 * (the caller frees it with profile__free), a new interval starts, and the
 * caches forget processes that have exited and what was long unused.
 * 0 or -errno; on -ENOMEM nothing was handed over.
 */
int session__rotate(struct session *s, struct profile **out);

struct profile *session__profile(struct session *s);
void session__stats(struct session *s, struct session_stats *st);

#endif
