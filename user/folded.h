/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Collapsed-stack output ("root;...;leaf count" per line) for flamegraph.pl
 * and speedscope. Each line starts with the container ("container ID", only
 * for processes in one), the process ("comm (pid)") and
 * thread ("tid N" or its name) as the two outermost frames; a Python frame
 * is written "name (file:line)". ';' and newlines inside names are replaced
 * so that the line structure cannot be broken.
 */
#ifndef PYBPF_FOLDED_H
#define PYBPF_FOLDED_H

struct profile;

/* Write all samples to fd. 0 or -errno. */
int folded__write(const struct profile *p, int fd);

#endif
