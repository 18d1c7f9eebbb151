/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel symbols from /proc/kallsyms (text symbols only), for naming the
 * kernel frames of --native samples.
 */
#ifndef PYBPF_KALLSYMS_H
#define PYBPF_KALLSYMS_H

#include <stdint.h>
#include <stdio.h>

struct kallsyms;

/* Read a kallsyms-format stream. NULL with errno set (ENOENT: no text
 * symbol with a non-zero address, e.g. hidden by kptr_restrict). */
struct kallsyms *kallsyms__parse(FILE *f);
/* kallsyms__parse of a file, normally "/proc/kallsyms". */
struct kallsyms *kallsyms__load(const char *path);
void kallsyms__free(struct kallsyms *k);

/* Name of the function containing addr (the nearest symbol at or below
 * it), or NULL when addr lies below the first symbol. */
const char *kallsyms__name(const struct kallsyms *k, uint64_t addr);
size_t kallsyms__count(const struct kallsyms *k);

#endif
