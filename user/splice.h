/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Merge a native stack with the Python stack of the same sample (--native).
 *
 * Each native frame of the interpreter's evaluation loop
 * (_PyEval_EvalFrameDefault, including its .cold part) is replaced by the
 * Python frames that activation was running: one frame before 3.11, from
 * 3.11 on the frames down to the one marked as the activation's first
 * (3.11 is_entry, 3.12+ the frame above a C-stack shim). Every other native
 * frame stays. Pure functions: no I/O, no allocation.
 */
#ifndef PYBPF_SPLICE_H
#define PYBPF_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Is this symbol the evaluation loop (or a split-off part of it)? */
bool splice__is_eval(const char *name);

enum splice_kind {
	SPLICE_NATIVE = 0, /* index into the native frames */
	SPLICE_PYTHON = 1, /* index into the Python frames */
};

struct splice_item {
	enum splice_kind kind;
	uint32_t index;
};

struct splice_in {
	const bool *is_eval; /* per native frame, innermost first */
	size_t nnative;
	size_t npython; /* Python frames, innermost first */
	/* Bit i set: Python frame i is an activation's first (outermost) frame.
	 * NULL when every frame is its own activation (before 3.11). */
	const uint64_t *entry;
};

/*
 * Write the merged stack, innermost first, into out (room for
 * nnative + npython items). When the native stack holds more
 * evaluation-loop frames than the Python stack has activations, the
 * innermost of them are entering or leaving a call (their frame is not yet
 * or no longer the thread's current one): they, like evaluation-loop frames
 * with no activation left, are kept as native frames. Python frames left
 * over when
 * the native frames end (an unwind cut short by the size of the stack
 * copy) go below them, so no Python frame is ever lost. Returns the number
 * written.
 */
size_t splice__merge(const struct splice_in *in, struct splice_item *out);

#endif
