/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A self-contained interactive flame graph: one SVG file with its script
 * and data inline (no network). Levels from the top: all samples, then
 * each process ("comm (pid)"), then each thread, then the Python frames
 * from the outermost down. Click to zoom, Search (or Ctrl-F) to highlight
 * matching frames with their share, hover for function, file:line,
 * samples and share, Reset zoom (or Escape). The data is one entry per
 * node of the merged call tree, so the file grows linearly with the
 * number of distinct stacks.
 */
#ifndef PYBPF_FLAMESVG_H
#define PYBPF_FLAMESVG_H

struct profile;

/* 0 or -errno. */
int flamesvg__write(const struct profile *p, int fd);

#endif
