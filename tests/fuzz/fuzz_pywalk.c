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

#include "pybpf_abi.h"

#define FUZZ_MAX_REGIONS 4096

struct region {
	uint64_t addr;
	const uint8_t *bytes;
	size_t len;
};

static struct region regions[FUZZ_MAX_REGIONS];
static size_t nregions;

static int fuzz_read(void *dst, uint64_t size, uint64_t addr)
{
	size_t i;

	for (i = 0; i < nregions; i++) {
		const struct region *r = &regions[i];

		if (addr >= r->addr && addr - r->addr <= r->len &&
		    size <= r->len - (addr - r->addr)) {
			memcpy(dst, r->bytes + (addr - r->addr), size);
			return 0;
		}
	}
	return -1;
}

#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) fuzz_read((dst), (size), (addr))
#include "pywalk.h"

#define FUZZ_HEADER (sizeof(struct pybpf_offsets) + 4 * 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pywalk w;
	const uint8_t *p, *end = data + size;
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

	nregions = 0;
	for (p = data + FUZZ_HEADER; end - p >= 10 && nregions < FUZZ_MAX_REGIONS;) {
		struct region *r = &regions[nregions++];
		uint16_t len;

		memcpy(&r->addr, p, 8);
		memcpy(&len, p + 8, 2);
		p += 10;
		r->len = (size_t)(end - p) < len ? (size_t)(end - p) : len;
		r->bytes = p;
		p += r->len;
	}

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
