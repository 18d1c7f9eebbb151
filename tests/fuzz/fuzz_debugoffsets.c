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

#include "fuzz_pyinfo.h"
#include "pyinfo.h"
#include "pyoffsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pyinfo info;
	struct pybpf_offsets off;

	if (size < 2)
		return 0;
	/* Flag 4: the ELF's Py_Version agrees with the block's version word (a
	 * real interpreter), so the layout is read past the version check. */
	fuzz_pyinfo__init(&info, data[0], data[1] & 1, data + 2, size - 2, data[1] & 4);
	info.runtime_size = data[1] & 2 ? info.debug_len : 0;
	(void)pyoffsets__get(&info, &off);
	return 0;
}
