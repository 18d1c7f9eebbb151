/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * In-memory CPU profile: samples folded by (labels, stack), with strings,
 * functions and locations deduplicated. Output writers (pprof.h, folded.h)
 * read it through the iteration API below; nothing here does I/O.
 */
#ifndef PYBPF_PROFILE_H
#define PYBPF_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct profile;

enum profile_frame_kind {
	PROFILE_FRAME_PYTHON = 0,
	PROFILE_FRAME_NATIVE = 1, /* --native: a function of a binary or shared object */
	PROFILE_FRAME_KERNEL = 2, /* --native: a kernel function */
};

/* The object a native frame's address lies in (pprof's Mapping). */
struct profile_mapping {
	const char *file;      /* path of the object; "[kernel.kallsyms]" for the kernel */
	const char *build_id;  /* hex, "" or NULL if unknown */
	uint64_t start, limit; /* address range */
	uint64_t offset;       /* file offset mapped at start */
};

/* One frame. Strings (and the mapping) are copied by profile__add. */
struct profile_frame {
	const char *name;     /* qualified function name, e.g. "Class.method" or "<module>" */
	const char *file;     /* source file name (native: the object's path) */
	int64_t line;         /* line being executed, 0 if unknown */
	int64_t start_line;   /* first line of the function (co_firstlineno), 0 if unknown */
	enum profile_frame_kind kind;
	uint64_t address;     /* native and kernel frames: instruction address, else 0 */
	const struct profile_mapping *mapping; /* native and kernel frames, else NULL */
};

/* Labels attached to a sample. The strings may be NULL (= absent). */
struct profile_labels {
	int64_t pid;              /* host pid */
	int64_t tid;              /* host tid */
	const char *comm;
	const char *thread_name;
	const char *container;    /* container id from the cgroup path */
	const char *service;      /* service name derived from the command line */
	int64_t ppid;		  /* parent process (host pid), 0 if unknown */
	const char *state;        /* wall mode: running, running_nogil, gil_wait, blocked */
	const char *wait;         /* wall mode, off CPU: the syscall waited in, or "preempted" */
};

/* Run-wide metadata, used by the pprof writer. */
struct profile_meta {
	uint64_t period_ns;    /* 1e9 / sampling rate */
	int wall;              /* values are wall time (on and off CPU), not CPU time */
	int64_t time_ns;       /* wall-clock start of the profile, ns since the epoch */
	int64_t duration_ns;   /* wall-clock length */
};

/* Returns NULL with errno set on allocation failure. */
struct profile *profile__new(const struct profile_meta *meta);
void profile__free(struct profile *p);

/* Update metadata (e.g. duration at the end of a run). */
void profile__set_meta(struct profile *p, const struct profile_meta *meta);
const struct profile_meta *profile__meta(const struct profile *p);

/*
 * Add `count` samples of a stack. frames[0] is the innermost (leaf) frame.
 * Samples with equal labels and equal frames are merged. 0 or -ENOMEM.
 */
int profile__add(struct profile *p, const struct profile_labels *labels,
		 const struct profile_frame *frames, size_t nframes, uint64_t count);

/*
 * The same with the time the samples stand for given (wall mode: off-CPU
 * intervals are measured, not sampled); profile__add counts period_ns per
 * sample. Either count or ns may be 0. 0, -ENOMEM or -EOVERFLOW.
 */
int profile__add_timed(struct profile *p, const struct profile_labels *labels,
		       const struct profile_frame *frames, size_t nframes, uint64_t count,
		       uint64_t ns);

/* Totals. */
uint64_t profile__total_ns(const struct profile *p);
uint64_t profile__total_count(const struct profile *p);
size_t profile__sample_count(const struct profile *p);    /* distinct (labels, stack) */
size_t profile__function_count(const struct profile *p);  /* distinct (name, file, start_line) */
size_t profile__location_count(const struct profile *p);  /* distinct (function, line) */
size_t profile__thread_count(const struct profile *p);    /* distinct (pid, tid) */

/*
 * Iteration, for writers. Ids are dense and 1-based: functions 1..function_count,
 * locations 1..location_count, in first-seen order.
 */
const struct profile_frame *profile__function(const struct profile *p, size_t function_id);
/* A location is one function at one line. */
size_t profile__location_function(const struct profile *p, size_t location_id);
int64_t profile__location_line(const struct profile *p, size_t location_id);
/* Native locations: their address and mapping id (0 for Python ones). */
uint64_t profile__location_address(const struct profile *p, size_t location_id);
size_t profile__location_mapping(const struct profile *p, size_t location_id);
/* Mappings 1..mapping_count, in first-seen order. */
size_t profile__mapping_count(const struct profile *p);
const struct profile_mapping *profile__mapping(const struct profile *p, size_t mapping_id);

/* Sample i in 0..sample_count-1: its labels, location ids (leaf first) and count. */
const struct profile_labels *profile__sample_labels(const struct profile *p, size_t i);
const size_t *profile__sample_locations(const struct profile *p, size_t i, size_t *n);
uint64_t profile__sample_value(const struct profile *p, size_t i);
uint64_t profile__sample_ns(const struct profile *p, size_t i);

#endif
