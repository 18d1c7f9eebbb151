// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: the 3.13+ _Py_DebugOffsets block as pyinfo copies it from a
 * target's ELF file, turned into walker offsets by pyoffsets__get.
 * Input: minor version (1 byte), flags (1 byte: 1 free-threaded, 2 a
 * _PyRuntime size to check, 4 the ELF's version agrees with the block's),
 * the block.
 */
#include <stdint.h>
#include <string.h>

#include "pyinfo.h"
#include "pyoffsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pyinfo info;
	struct pybpf_offsets off;

	if (size < 2)
		return 0;
	memset(&info, 0, sizeof(info));
	info.major = 3;
	info.minor = data[0];
	info.free_threaded = data[1] & 1;
	info.hexversion = 0x03000000u | ((uint32_t)data[0] << 16);
	info.runtime_addr = 0x7f0000001000ull;
	info.debug_len = size - 2 < PYINFO_DEBUG_MAX ? size - 2 : PYINFO_DEBUG_MAX;
	memcpy(info.debug, data + 2, info.debug_len);
	/* Flag 4: the ELF's Py_Version agrees with the block's version word (a
	 * real interpreter), so the layout is read past the version check. */
	if ((data[1] & 4) && info.debug_len >= 16) {
		uint64_t v;

		memcpy(&v, info.debug + 8, sizeof(v));
		info.hexversion = (uint32_t)v;
	}
	info.runtime_size = data[1] & 2 ? info.debug_len : 0;
	(void)pyoffsets__get(&info, &off);
	return 0;
}
