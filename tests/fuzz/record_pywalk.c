// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Seed recorder for fuzz_pywalk: walk a live interpreter's parked thread
 * with bpf/pywalk.h over process_vm_readv and write every region the walk
 * read, in fuzz_pywalk's input format, so the fuzzer starts from a real
 * memory image.
 *
 * Usage: record_pywalk PYTHON SCRIPT OUT   (SCRIPT: tests/unit/data/parked.py)
 * Exit status 0 written, 77 interpreter not readable (skipped), 1 error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memread.h"
#include "pychild.h"
#include "pyinfo.h"
#include "pyoffsets.h"

static pid_t rec_pid;
static FILE *rec_out;

static int rec_read(void *dst, uint64_t size, uint64_t addr)
{
	uint16_t len = (uint16_t)size;
	int err = memread(rec_pid, addr, dst, size);

	if (err == 0 && size <= UINT16_MAX) {
		fwrite(&addr, sizeof(addr), 1, rec_out);
		fwrite(&len, sizeof(len), 1, rec_out);
		fwrite(dst, 1, size, rec_out);
	}
	return err;
}

#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) rec_read((dst), (size), (addr))
#include "pywalk.h"

int main(int argc, char **argv)
{
	unsigned long long runtime, ident, depth, hexversion;
	long long first_line, parked_line;
	static struct pywalk w;
	struct pyinfo info;
	struct child c = {0};
	uint64_t hdr[4];
	int steps, rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PYTHON SCRIPT OUT\n", argv[0]);
		return 2;
	}
	if (spawn(argv[1], argv[2], &c))
		return 1;
	if (fscanf(c.out, "%llu %llu %llu %llu %lld %lld", &runtime, &ident, &depth, &hexversion,
		   &first_line, &parked_line) != 6 ||
	    pyinfo__inspect("/proc", c.pid, &info) || pyoffsets__get(&info, &w.proc.off)) {
		rc = 77;
		goto out_reap;
	}
	rec_pid = c.pid;
	rec_out = fopen(argv[3], "we");
	if (!rec_out)
		goto out_reap;
	w.proc.gen = 1;
	w.proc.runtime_addr = info.runtime_addr;
	w.proc.code_type_addr = info.code_type_addr;
	w.want_thread_id = ident;
	hdr[0] = w.proc.runtime_addr;
	hdr[1] = w.proc.code_type_addr;
	hdr[2] = w.want_thread_id;
	hdr[3] = w.proc.gen;
	fwrite(&w.proc.off, sizeof(w.proc.off), 1, rec_out);
	fwrite(hdr, sizeof(hdr), 1, rec_out);
	if (pywalk__threads_begin(&w) == 0)
		for (steps = 0; steps < PYBPF_MAX_THREADS; steps++)
			if (pywalk__threads_step(&w) == PYWALK_DONE)
				break;
	if (w.tstate && pywalk__begin(&w) == 0)
		for (steps = 0; steps <= PYBPF_MAX_FRAMES; steps++)
			if (pywalk__step(&w) == PYWALK_DONE)
				break;
	rc = fclose(rec_out) == 0 && w.stack.depth > 0 ? 0 : 1;
	fprintf(stderr, "record_pywalk: %s: %u frames\n", argv[1], w.stack.depth);
out_reap:
	reap(&c);
	return rc;
}
