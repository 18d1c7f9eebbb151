// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: an ELF file from the input, read as pyinfo reads a mapped file of
 * a target (symbols, sections, segments, the CPython runtime, version and
 * the _Py_DebugOffsets block), then the offsets derived from it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elffile.h"
#include "pyinfo.h"
#include "pyoffsets.h"

static const char *const names[] = {
    "_PyRuntime", "Py_Version", "PyCode_Type", "Py_GetVersion", "_Py_DecRefShared", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int memfd = -1;
	struct pybpf_offsets off;
	struct elf_file *ef;
	static struct pyinfo info;
	uint64_t addr, len, vaddr, offset;
	uint8_t buf[64];
	size_t i;
	int fd;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_elf", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
	}
	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	fd = dup(memfd);
	if (fd < 0)
		abort();
	ef = elf_file__open_fd(fd);
	if (!ef)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (elf_file__symbol(ef, names[i], &addr, &len) == 0)
			(void)elf_file__read(ef, addr, buf,
					     len < sizeof(buf) ? (size_t)len : sizeof(buf));
	}
	if (elf_file__section(ef, ".PyRuntime", &addr, &len) == 0)
		(void)elf_file__read(ef, addr + len - 1, buf, sizeof(buf));
	(void)elf_file__first_load(ef, &vaddr, &offset);
	(void)elf_file__type(ef);
	if (pyinfo__from_elf(ef, 0x1000, &info) == 0)
		(void)pyoffsets__get(&info, &off);
	elf_file__close(ef);
	return 0;
}
