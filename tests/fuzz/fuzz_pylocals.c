// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: the locals reader of `dump --locals` (user/pylocals.c) over a
 * fake memory image: names, kinds and values of a frame, whatever the
 * target's memory claims (digit counts, string lengths, type pointers).
 * Whatever it reads, what it returns stays within the bounds pylocals.h
 * states; the harness aborts otherwise.
 *
 * The layout comes from the version and _Py_DebugOffsets block in the input
 * through pyoffsets__get and pylocals__new, as `dump` gets it from a target.
 *
 * Input (little endian):
 *   u8 minor, u8 flags (1: free-threaded), u16 n, n bytes of _Py_DebugOffsets
 *   u64 frame, u64 code
 *   then regions: u64 address, u16 length, that many bytes
 * tests/fuzz/record_pylocals.c records such inputs from live interpreters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_pyinfo.h"
#include "fuzz_regions.h"
#include "pyinfo.h"
#include "pylocals.h"
#include "pyoffsets.h"

static int fuzz_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	(void)pid;
	return fuzz_regions__read(buf, len, addr) ? -14 /* -EFAULT */ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pyinfo info;
	const uint8_t *p = data, *end = data + size;
	struct pybpf_offsets off;
	struct pylocals *l;
	struct pylocal *v = NULL;
	uint64_t frame, code;
	uint16_t dlen;
	size_t n = 0;

	if (size < 4)
		return 0;
	memcpy(&dlen, p + 2, 2);
	if ((size_t)(end - p - 4) < dlen || dlen > PYINFO_DEBUG_MAX)
		return 0;
	/* A 3.13+ block: the ELF's Py_Version agrees with its version word, as
	 * in a real interpreter (else pyoffsets__get refuses it). */
	fuzz_pyinfo__init(&info, p[0], p[1] & 1, p + 4, dlen, true);
	p += 4 + dlen;
	if ((size_t)(end - p) < 16 || pyoffsets__get(&info, &off))
		return 0;
	memcpy(&frame, p, 8);
	memcpy(&code, p + 8, 8);
	p += 16;

	fuzz_regions__parse(p, end);

	l = pylocals__new(0, &info, &off);
	if (!l)
		return 0;
	pylocals__set_reader(l, fuzz_read);
	if (pylocals__read(l, frame, code, &v, &n) == 0) {
		if (n > PYLOCALS_MAX)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (!v[i].name || strlen(v[i].name) > 4 * PYLOCALS_STR_MAX)
				abort();
			if (v[i].value && strlen(v[i].value) >= PYLOCALS_VALUE_MAX)
				abort();
		}
	} else if (v || n) {
		abort(); /* a failed read returns nothing */
	}
	pylocals__free_list(v, n);
	pylocals__free(l);
	return 0;
}
