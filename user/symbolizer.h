/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Names Python frames: (process, code object, identity, instruction) ->
 * qualified name, file, first line and the exact line.
 *
 * Code objects are learned from the BPF program's code events (copied at
 * first sight, so they survive the process), or, when an event was lost,
 * read from the live process and accepted only if their identity matches
 * the one recorded at sample time. Entries are keyed by (registration,
 * address, identity): reused memory never names a frame wrongly.
 */
#ifndef PYBPF_SYMBOLIZER_H
#define PYBPF_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybpf_abi.h"

struct symbolizer;
struct profile_frame;

/* What the symbolizer needs to know about the process a frame came from. */
struct symbolizer_proc {
	__u32 gen;
	pid_t pid;
	bool alive;                       /* may read its memory */
	unsigned int major, minor;
	const struct pybpf_offsets *off;
};

struct symbolizer_stats {
	uint64_t codes;          /* code objects known now */
	uint64_t from_events;    /* learned from BPF code events */
	uint64_t from_memory;    /* read from the live process */
	uint64_t unresolved;     /* frames that could not be named */
	uint64_t no_line;        /* frames named but without a line */
};

struct symbolizer *symbolizer__new(void);
void symbolizer__free(struct symbolizer *s);

/* Learn a code object from a BPF code event. 0 or -ENOMEM. */
int symbolizer__add_event(struct symbolizer *s, const struct pybpf_code_event *ev);

/* symbolizer__frame: the frame is the interpreter's own, not the program's. */
#define SYMBOLIZER_INTERNAL 1

/*
 * Name one frame. Strings in *out stay valid until symbolizer__free.
 * Returns 0; SYMBOLIZER_INTERNAL when the frame belongs to the interpreter
 * (3.13+'s init-cleanup frame) and is left out of the stack (*out is not
 * set); or -ENOENT when the code object is unknown (out is then a
 * placeholder frame "[unknown]" so the sample is still counted).
 */
int symbolizer__frame(struct symbolizer *s, const struct symbolizer_proc *p,
		      const struct pybpf_frame *f, struct profile_frame *out);

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

/*
 * Bound memory: forget code objects of processes keep_gen rejects (exited)
 * and those that named no frame during the last max_idle calls. Called once
 * per output interval. 0 or -ENOMEM (then only part was freed).
 */
int symbolizer__prune(struct symbolizer *s, bool (*keep_gen)(void *ctx, __u32 gen), void *ctx,
		      uint32_t max_idle);

#endif
