/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pyinfo a fuzz input describes, as pyinfo__from_elf would fill it for
 * an interpreter: 3.minor, free-threaded or not, the 3.13+ _Py_DebugOffsets
 * block copied from the input. With `version_from_block` the ELF's
 * Py_Version agrees with the block's version word (a real interpreter);
 * else the version is 3.minor.0, which pyoffsets__get refuses for a real
 * block. Shared by fuzz_debugoffsets and fuzz_pylocals.
 */
#ifndef PYBPF_FUZZ_PYINFO_H
#define PYBPF_FUZZ_PYINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pyinfo.h"

static inline void fuzz_pyinfo__init(struct pyinfo *info, uint8_t minor, bool free_threaded,
				     const uint8_t *block, size_t len, bool version_from_block)
{
	memset(info, 0, sizeof(*info));
	info->major = 3;
	info->minor = minor;
	info->free_threaded = free_threaded;
	info->hexversion = 0x03000000u | ((uint32_t)minor << 16);
	info->runtime_addr = 0x7f0000001000ull;
	info->debug_len = len < PYINFO_DEBUG_MAX ? len : PYINFO_DEBUG_MAX;
	memcpy(info->debug, block, info->debug_len);
	if (version_from_block && info->debug_len >= 16) {
		uint64_t version;

		memcpy(&version, info->debug + 8, sizeof(version));
		info->hexversion = (uint32_t)version;
	}
}

#endif
