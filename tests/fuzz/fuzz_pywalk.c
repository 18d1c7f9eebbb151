// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: the frame walker of bpf/pywalk.h (the code the BPF program runs)
 * over a fake memory image. PYWALK_READ reads from the input as a sparse
 * address space; a read not wholly inside one region faults.
 *
 * Input (little endian):
 *   struct pybpf_offsets            layout the walker uses
 *   u64 runtime, code_type, want_thread_id, gen
 *   then regions: u64 address, u16 length, that many bytes
 * tests/fuzz/record_pywalk.c records such images from live interpreters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_regions.h"
#include "pybpf_abi.h"

#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) fuzz_regions__read((dst), (size), (addr))
#include "pywalk.h"

#define FUZZ_HEADER (sizeof(struct pybpf_offsets) + 4 * 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pywalk w;
	const uint8_t *end = data + size;
	uint64_t hdr[4];
	int steps;

	if (size < FUZZ_HEADER)
		return 0;
	memset(&w, 0, sizeof(w));
	memcpy(&w.proc.off, data, sizeof(w.proc.off));
	memcpy(hdr, data + sizeof(w.proc.off), sizeof(hdr));
	w.proc.runtime_addr = hdr[0];
	w.proc.code_type_addr = hdr[1];
	w.want_thread_id = hdr[2];
	w.proc.gen = hdr[3];

	fuzz_regions__parse(data + FUZZ_HEADER, end);

	/* The same bounded loops as the BPF program. */
	if (pywalk__threads_begin(&w) == 0) {
		for (steps = 0; steps < PYBPF_MAX_THREADS; steps++)
			if (pywalk__threads_step(&w) == PYWALK_DONE)
				break;
		if (steps == PYBPF_MAX_THREADS)
			w.tstate = 0; /* out of steps: not found, as in the BPF program */
	}
	if (!w.tstate)
		w.tstate = w.want_thread_id; /* walk from a given thread state anyway */
	if (pywalk__begin(&w) == 0) {
		for (steps = 0; steps <= PYBPF_MAX_FRAMES; steps++)
			if (pywalk__step(&w) == PYWALK_DONE)
				break;
	}
	if (w.stack.depth > PYBPF_MAX_FRAMES)
		abort();
	(void)pywalk__stack_hash(&w);
	return 0;
}
