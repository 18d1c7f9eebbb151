/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map a bytecode offset to a source line, for every line-table format
 * CPython has used:
 *   3.8-3.9  co_lnotab            (byte offset / line deltas)
 *   3.10     co_linetable         (PEP 626 format)
 *   3.11+    co_linetable         (location table, Objects/locations.md)
 * Pure functions over bytes copied from the target: bounds-checked, no
 * allocation, safe on garbage.
 */
#ifndef PYBPF_LINETABLE_H
#define PYBPF_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

enum linetable_format {
	LINETABLE_LNOTAB = 1,   /* 3.8, 3.9 */
	LINETABLE_310 = 2,      /* 3.10 */
	LINETABLE_LOCATIONS = 3, /* 3.11 and later */
};

/* The format used by CPython major.minor, or 0 if none is known. */
enum linetable_format linetable__format_for(unsigned int major, unsigned int minor);

/*
 * Line executing at `byte_offset` (offset in bytes into the code's bytecode:
 * for 3.11+ the offset of the instruction in co_code_adaptive, i.e.
 * 2 * code-unit index). firstlineno is co_firstlineno.
 * Returns the line (> 0), or 0 when the table has no line for that offset
 * (or is malformed / cut short).
 */
int64_t linetable__line(enum linetable_format fmt, const uint8_t *table, size_t len,
			int64_t firstlineno, int64_t byte_offset);

#endif
