/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Wall mode --native: the native frames of off-CPU stacks. The kernel
 * sends the user stack of a thread that leaves the CPU in a system call
 * once per off-CPU stack key; it is unwound and merged with the Python
 * stack then, and kept here under that key, so that every off-CPU total
 * drained later with the key is named from it. An entry holds the merged
 * order (splice items) and copies of its native frames; the Python frames
 * are named at drain time from the stack the total comes with.
 *
 * Entries not used for max_idle prune calls are dropped; at most
 * OFFNATIVE_MAX entries are held (a new key beyond that is not stored).
 */
#ifndef PYBPF_OFFNATIVE_H
#define PYBPF_OFFNATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "splice.h"

#define OFFNATIVE_MAX 65536

struct offnative;

/* A stored stack: items[0..nitems) innermost first; an item of kind
 * SPLICE_NATIVE indexes native[], one of kind SPLICE_PYTHON the Python
 * frames of the stack it was stored for. Valid until the next set/prune. */
struct offnative_entry {
	const struct splice_item *items;
	size_t nitems;
	const struct profile_frame *native;
	size_t nnative;
};

/* NULL with errno set. */
struct offnative *offnative__new(void);
void offnative__free(struct offnative *c);

/*
 * Store (replacing) the merged stack of `key`, copying native[0..nnative)
 * with their strings and mappings. 0, -ENOSPC (full) or -ENOMEM.
 */
int offnative__set(struct offnative *c, uint64_t key, const struct splice_item *items,
		   size_t nitems, const struct profile_frame *native, size_t nnative);

/* The stack stored for key (marked used): 1 found, 0 not. */
int offnative__get(struct offnative *c, uint64_t key, struct offnative_entry *out);

/* Once per output interval: drop entries unused for more than max_idle calls. */
void offnative__prune(struct offnative *c, uint32_t max_idle);

size_t offnative__size(const struct offnative *c);

#endif
