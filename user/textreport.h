/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A pstats-like table: one row per function (name, file:first line) with
 * its own samples (the function was the innermost frame) and total samples
 * (it was anywhere on the stack, counted once per sample however often it
 * recurses), each also as a share of all samples. Sorted by total (or own)
 * descending; one table for the whole profile or one per process.
 */
#ifndef PYBPF_TEXTREPORT_H
#define PYBPF_TEXTREPORT_H

#include <stdbool.h>
#include <stddef.h>

struct profile;

struct text_opts {
	bool by_own;	  /* sort by own samples instead of total */
	size_t limit;	  /* rows per table, 0 = all */
	bool per_process; /* one table per process, in first-seen order */
};

/* 0 or -errno. */
int textreport__write(const struct profile *p, const struct text_opts *o, int fd);

#endif
