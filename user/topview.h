/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `pybpf-prof top`: the hottest Python lines, per process, over the last
 * interval and since the start. Fed one profile per interval; renders a
 * screen (ANSI, sized to the terminal) or plain text. No terminal I/O here:
 * the CLI owns the terminal and writes what this renders.
 *
 * A row is one line of code of one function in one process: own samples
 * (the line was the innermost frame) and total samples (it was anywhere on
 * the stack, counted once per sample).
 */
#ifndef PYBPF_TOPVIEW_H
#define PYBPF_TOPVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;
struct topview;

enum topview_sort {
	TOPVIEW_SORT_OWN = 0,
	TOPVIEW_SORT_TOTAL,
};

/* What the header shows besides the counts topview keeps itself. */
struct topview_status {
	const char *mode;     /* "cpu", "wall"... */
	double samples_per_s; /* over the last interval */
	uint64_t drops;	      /* samples lost or degraded in the last interval */
	size_t processes;     /* Python processes followed now */
	const char *clock;    /* "HH:MM:SS" */
};

struct topview_opts {
	enum topview_sort sort;
	bool since_start;   /* false: the last interval */
	const char *filter; /* substring of process name, service or pid; NULL/"" = all */
	bool paused;
	bool ansi;	    /* full screen with escapes; else plain text */
	int rows, cols;	    /* screen size (ansi); plain text: rows = rows of the table */
	const char *prompt; /* a line being typed (filter), or NULL */
};

struct topview *topview__new(void);
void topview__free(struct topview *tv);

/* Add one interval's profile: it becomes "the last interval" and is added
 * to "since start". 0 or -ENOMEM. */
int topview__add(struct topview *tv, const struct profile *p, double interval_s);

/* Render the view into f. 0 or -errno. */
int topview__render(const struct topview *tv, const struct topview_opts *o,
		    const struct topview_status *st, FILE *f);

/* Threads seen in the last interval. */
size_t topview__threads(const struct topview *tv);

#endif
