/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Hashes computed identically in BPF and userspace: the stack hash and the
 * identity of a code object (so userspace can re-check, when it reads a code
 * object itself, that it is the one the sample saw).
 */
#ifndef PYBPF_PYHASH_H
#define PYBPF_PYHASH_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#ifndef PYHASH_INLINE
#define PYHASH_INLINE static inline
#endif

PYHASH_INLINE __u64 pyhash__mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return h;
}

/* The stack hash: seeded with the process registration, one step per frame
 * (innermost first), finished with the flags and depth. */
PYHASH_INLINE __u64 pyhash__stack_seed(__u32 gen)
{
	return pyhash__mix(0x5eed, gen);
}

PYHASH_INLINE __u64 pyhash__stack_frame(__u64 h, __u64 code, __u32 ident, __s32 instr)
{
	return pyhash__mix(pyhash__mix(h, code), ((__u64)ident << 32) | (__u32)instr);
}

PYHASH_INLINE __u64 pyhash__stack_end(__u64 h, __u32 flags, __u32 depth)
{
	return pyhash__mix(h, ((__u64)flags << 32) | depth);
}

/* Identity of a code object: its first line and its filename pointer. Two
 * code objects that occupy one address over time (one freed, another
 * allocated) almost never share both. Never 0: 0 means "not read". */
PYHASH_INLINE __u32 pyhash__code_ident(__u32 firstlineno, __u64 filename)
{
	return (__u32)pyhash__mix(firstlineno, filename) | 1;
}

#endif
