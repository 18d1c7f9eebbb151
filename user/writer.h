/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Output formats: one entry point that writes a profile (profile.h) in any
 * of them, used alike by a recording run, the interval mode and `convert`.
 * Also the display names of a sample's process and thread that the
 * flame-graph-like writers share.
 */
#ifndef PYBPF_WRITER_H
#define PYBPF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct profile;
struct profile_labels;

enum output_format {
	FORMAT_PPROF = 0,
	FORMAT_FOLDED = 1,
	FORMAT_SVG = 2,
	FORMAT_SPEEDSCOPE = 3,
	FORMAT_TEXT = 4,
	FORMAT__COUNT,
};

enum text_sort {
	SORT_TOTAL = 0,
	SORT_OWN = 1,
};

struct writer_opts {
	enum output_format format;
	/* --format text only */
	enum text_sort sort;
	size_t limit;	  /* rows per table, 0 = all */
	bool per_process; /* one table per process */
};

/* "pprof", "folded", ... -> format. 0 or -EINVAL. */
int writer__parse_format(const char *name, enum output_format *fmt);
const char *writer__format_name(enum output_format fmt);
/* File name suffix, e.g. ".pb.gz", ".speedscope.json". */
const char *writer__suffix(enum output_format fmt);

/* Write p to fd in o->format. 0 or -errno. */
int writer__write(const struct writer_opts *o, const struct profile *p, int fd);

/*
 * "comm (pid)" ("pid N" without a comm) into buf; false when the sample
 * carries no process at all (pid 0 and no comm: a foreign pprof).
 */
bool writer__process_name(const struct profile_labels *l, char *buf, size_t len);
/* "name (tid N)", or "tid N"; false when there is neither. */
bool writer__thread_name(const struct profile_labels *l, char *buf, size_t len);

enum group_by {
	GROUP_ALL = 0,	   /* one group */
	GROUP_PROCESS = 1, /* (pid, comm) */
	GROUP_THREAD = 2,  /* (pid, comm, tid, thread name) */
};

/* Sample indices in groups: order[start[g] .. start[g + 1]) are group g's,
 * groups numbered in first-seen order, samples in profile order. */
struct sample_groups {
	size_t ngroups;
	size_t *order; /* profile__sample_count entries */
	size_t *start; /* ngroups + 1 entries */
};

/* 0 or -ENOMEM. */
int writer__group(const struct profile *p, enum group_by by, struct sample_groups *g);
void writer__group_free(struct sample_groups *g);

#endif
