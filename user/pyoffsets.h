/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where CPython keeps what the frame walk needs, per interpreter version.
 * 3.8-3.12: tables written from each version's headers (checked with
 * tools/pyoffsets/dump.sh); 3.13+: the interpreter's own _Py_DebugOffsets,
 * read with the field order of its version written down in pyoffsets.c.
 * One place answers "which versions do we read".
 */
#ifndef PYBPF_PYOFFSETS_H
#define PYBPF_PYOFFSETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"

struct pyinfo;

/*
 * Offsets for the interpreter described by info: 0; -ENOTSUP a version we
 * have no layout for; -EPROTO a 3.13+ `_Py_DebugOffsets` block that does
 * not validate against the layout of its version (or, for a version newer
 * than this build knows, against the newest layout).
 */
int pyoffsets__get(const struct pyinfo *info, struct pybpf_offsets *off);

/*
 * Check the layout against the running process: the runtime's first
 * interpreter and its newest thread state must point back at each other.
 * 0 (also when the runtime is not initialised yet and the version is one
 * this build knows); -EAGAIN not initialised yet, and the version is newer
 * than this build; -EINPROGRESS the live structs do not match now: either
 * the process was caught mid-change (libpython being mapped, the runtime
 * or a thread being set up) or they never will (a layout that does not
 * fit): look again, and take it as a mismatch if it stays so; -ESRCH gone.
 */
int pyoffsets__check_live(const struct pyinfo *info, pid_t pid);

/* Is major.minor (free-threaded or not) one we have a layout for? */
bool pyoffsets__supported(unsigned int major, unsigned int minor, bool free_threaded);

/* The newest minor version of 3.x this build has a layout for. */
unsigned int pyoffsets__newest_minor(void);

/* Convert the `instr` recorded in a pybpf_frame to a byte offset into the
 * bytecode, the unit linetable__line takes. Negative = before the first
 * instruction. */
int64_t pyoffsets__byte_offset(unsigned int major, unsigned int minor, int32_t instr);

#endif
