/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where CPython keeps what the frame walk needs, per interpreter version.
 * 3.8-3.12: tables written from each version's headers (checked with
 * tools/pyoffsets/dump.sh). One place answers "which versions do we read".
 */
#ifndef PYBPF_PYOFFSETS_H
#define PYBPF_PYOFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "pybpf_abi.h"

struct pyinfo;

/* Offsets for the interpreter described by info: 0, or -ENOTSUP. */
int pyoffsets__get(const struct pyinfo *info, struct pybpf_offsets *off);

/* Is major.minor (free-threaded or not) one we can read? */
bool pyoffsets__supported(unsigned int major, unsigned int minor, bool free_threaded);

/* Convert the `instr` recorded in a pybpf_frame to a byte offset into the
 * bytecode, the unit linetable__line takes. Negative = before the first
 * instruction. */
int64_t pyoffsets__byte_offset(unsigned int major, unsigned int minor, int32_t instr);

#endif
