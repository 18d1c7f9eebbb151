/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sparse address space of the memory-image fuzzers (fuzz_pywalk,
 * fuzz_pylocals): regions "u64 address, u16 length, that many bytes" to the
 * end of the input. A read not wholly inside one region faults, as a read
 * across an unmapped page does.
 */
#ifndef PYBPF_FUZZ_REGIONS_H
#define PYBPF_FUZZ_REGIONS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_MAX_REGIONS 4096

struct fuzz_region {
	uint64_t addr;
	const uint8_t *bytes;
	size_t len;
};

static struct fuzz_region fuzz_regions[FUZZ_MAX_REGIONS];
static size_t fuzz_nregions;

static inline void fuzz_regions__parse(const uint8_t *p, const uint8_t *end)
{
	fuzz_nregions = 0;
	while (end - p >= 10 && fuzz_nregions < FUZZ_MAX_REGIONS) {
		struct fuzz_region *r = &fuzz_regions[fuzz_nregions++];
		uint16_t len;

		memcpy(&r->addr, p, 8);
		memcpy(&len, p + 8, 2);
		p += 10;
		r->len = (size_t)(end - p) < len ? (size_t)(end - p) : len;
		r->bytes = p;
		p += r->len;
	}
}

/* 0, or -1 when [addr, addr + len) is not inside one region. */
static inline int fuzz_regions__read(void *dst, uint64_t len, uint64_t addr)
{
	for (size_t i = 0; i < fuzz_nregions; i++) {
		const struct fuzz_region *r = &fuzz_regions[i];

		if (addr >= r->addr && addr - r->addr <= r->len &&
		    len <= r->len - (addr - r->addr)) {
			memcpy(dst, r->bytes + (addr - r->addr), len);
			return 0;
		}
	}
	return -1;
}

#endif
