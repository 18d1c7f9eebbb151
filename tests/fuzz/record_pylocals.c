// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Seed recorder for fuzz_pylocals: snapshot a live interpreter's threads
 * (threadsnap), read each frame's locals with pylocals__read over a reader
 * that logs every region read, and write one fuzz_pylocals input per frame
 * that has locals, so the fuzzer starts from real frames.
 *
 * Usage: record_pylocals PYTHON SCRIPT OUT   (SCRIPT: tests/fuzz/data/locals.py)
 * Writes OUT.0, OUT.1, ... Exit status 0 written, 77 interpreter not
 * readable (skipped), 1 error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memread.h"
#include "pychild.h"
#include "pyinfo.h"
#include "pylocals.h"
#include "threadsnap.h"

#define MAX_SEEDS 16

static FILE *rec_out;

static int rec_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	uint16_t n = (uint16_t)len;
	int err = memread(pid, addr, buf, len);

	if (!err && rec_out && len <= UINT16_MAX) {
		fwrite(&addr, sizeof(addr), 1, rec_out);
		fwrite(&n, sizeof(n), 1, rec_out);
		fwrite(buf, 1, len, rec_out);
	}
	return err;
}

/* fuzz_pylocals's header: minor, flags, debug block, frame, code. */
static void rec_header(const struct pyinfo *info, uint64_t frame, uint64_t code)
{
	uint8_t minor = (uint8_t)info->minor, flags = info->free_threaded ? 1 : 0;
	uint16_t dlen = (uint16_t)info->debug_len;

	fwrite(&minor, 1, 1, rec_out);
	fwrite(&flags, 1, 1, rec_out);
	fwrite(&dlen, sizeof(dlen), 1, rec_out);
	fwrite(info->debug, 1, dlen, rec_out);
	fwrite(&frame, sizeof(frame), 1, rec_out);
	fwrite(&code, sizeof(code), 1, rec_out);
}

int main(int argc, char **argv)
{
	struct threadsnap_thread *th = NULL;
	struct threadsnap *ts = NULL;
	struct pylocals *pl = NULL;
	struct child c = {0};
	struct pyinfo info;
	char line[64], path[4096];
	size_t n = 0, seeds = 0;
	int rc = 77;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PYTHON SCRIPT OUT\n", argv[0]);
		return 2;
	}
	if (spawn(argv[1], argv[2], &c))
		return 1;
	if (!fgets(line, sizeof(line), c.out) || strncmp(line, "ready", 5))
		goto out_reap;
	ts = threadsnap__new("/proc", c.pid, &info);
	if (!ts)
		goto out_reap;
	if (threadsnap__take(ts, &th, &n))
		goto out_free;
	rc = 1;
	for (size_t i = 0; i < n && seeds < MAX_SEEDS; i++) {
		for (uint32_t j = 0; j < th[i].stack.depth && seeds < MAX_SEEDS; j++) {
			struct pylocal *v = NULL;
			size_t nv = 0;

			/* A new reader per frame: its type-name cache starts empty,
			 * so each seed holds every type name its values need. */
			pylocals__free(pl);
			pl = pylocals__new(c.pid, threadsnap__info(ts), &threadsnap__proc(ts)->off);
			if (!pl)
				goto out_free;
			pylocals__set_reader(pl, rec_read);
			snprintf(path, sizeof(path), "%s.%zu", argv[3], seeds);
			rec_out = fopen(path, "we");
			if (!rec_out)
				goto out_free;
			rec_header(threadsnap__info(ts), th[i].frame_addr[j],
				   th[i].stack.frames[j].code);
			if (pylocals__read(pl, th[i].frame_addr[j], th[i].stack.frames[j].code, &v,
					   &nv) ||
			    !nv) {
				fclose(rec_out);
				rec_out = NULL;
				remove(path);
				continue;
			}
			pylocals__free_list(v, nv);
			if (fclose(rec_out))
				goto out_free;
			rec_out = NULL;
			seeds++;
		}
	}
	rc = seeds ? 0 : 1;
	fprintf(stderr, "record_pylocals: %s: %zu frames with locals\n", argv[1], seeds);
out_free:
	free(th);
	pylocals__free(pl);
	threadsnap__free(ts);
out_reap:
	reap(&c);
	return rc;
}
