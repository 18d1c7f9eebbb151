// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: the --native unwinder (user/unwind.c) over ELF files and a stack
 * from the input: elfutils' libdwfl reads each file's program and section
 * headers, CFI (.eh_frame, .eh_frame_hdr, .debug_frame) and symbols
 * (.symtab, .dynsym), unwinds the stack image from the given registers and
 * names the frames. The files are mapped in a fake proc root
 * (ROOT/PID/maps and ROOT/PID/map_files/START-END), as a target's own
 * binaries are.
 *
 * Input (little endian):
 *   u64 ip, sp, bp        registers at the sample
 *   u8 n                  files (at most FUZZ_MAX_MODS)
 *   n times: u64 start, u64 end, u32 len, len bytes of ELF file
 *   the rest              the stack, from sp up
 * gen_seeds.py makes such inputs from a live interpreter's thread blocked
 * in a system call, with cut-down copies of its libc, libpython and
 * executable. FUZZ_UNWIND_PRINT=1 prints the frames (to check a seed).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unwind.h"

#define FUZZ_MAX_MODS 4
#define FUZZ_PID 4242
#define FUZZ_FRAMES 64

static char root[64], dir[128];

static int fuzz_init(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(root, sizeof(root), "%s/fuzz-unwind.XXXXXX", tmp);
	if (!mkdtemp(root))
		return -1;
	snprintf(dir, sizeof(dir), "%s/%d", root, FUZZ_PID);
	if (mkdir(dir, 0700))
		return -1;
	snprintf(dir, sizeof(dir), "%s/%d/map_files", root, FUZZ_PID);
	return mkdir(dir, 0700);
}

/* At exit: each input's files are removed after it, the rest here. */
static void fuzz_cleanup(void)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%d/maps", root, FUZZ_PID);
	unlink(path);
	rmdir(dir);
	snprintf(path, sizeof(path), "%s/%d", root, FUZZ_PID);
	rmdir(path);
	rmdir(root);
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = fd < 0 || (len && write(fd, data, len) != (ssize_t)len);

	if (fd >= 0 && close(fd))
		err = 1;
	return err ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const uint8_t *p = data, *end = data + size;
	char files[FUZZ_MAX_MODS][192], maps[FUZZ_MAX_MODS * 128], path[192];
	struct unwind_frame out[FUZZ_FRAMES];
	struct unwind_sample s = {.pid = FUZZ_PID, .tid = FUZZ_PID};
	struct unwinder *u;
	size_t nmods = 0, mlen = 0, n = 0;
	unsigned int want;

	if (!ready) {
		if (fuzz_init())
			abort();
		atexit(fuzz_cleanup);
		ready = true;
	}
	if (size < 25)
		return 0;
	memcpy(&s.ip, p, 8);
	memcpy(&s.sp, p + 8, 8);
	memcpy(&s.bp, p + 16, 8);
	want = p[24];
	p += 25;
	for (; nmods < want && nmods < FUZZ_MAX_MODS && end - p >= 20; nmods++) {
		uint64_t start, limit;
		uint32_t len;

		memcpy(&start, p, 8);
		memcpy(&limit, p + 8, 8);
		memcpy(&len, p + 16, 4);
		p += 20;
		if ((size_t)(end - p) < len)
			len = (uint32_t)(end - p);
		/* Page-aligned, non-empty ranges below the top of user space. */
		start &= 0x7ffffffff000ull;
		limit &= 0x7ffffffff000ull;
		if (limit <= start)
			limit = start + 0x1000;
		snprintf(files[nmods], sizeof(files[nmods]), "%s/%d/map_files/%llx-%llx", root,
			 FUZZ_PID, (unsigned long long)start, (unsigned long long)limit);
		if (write_file(files[nmods], p, len))
			abort();
		mlen += (size_t)snprintf(maps + mlen, sizeof(maps) - mlen,
					 "%llx-%llx r-xp 00000000 08:01 %zu /fuzz/m%zu.so\n",
					 (unsigned long long)start, (unsigned long long)limit,
					 nmods + 1, nmods);
		p += len;
	}
	s.stack = p;
	s.stack_len = (size_t)(end - p);
	snprintf(path, sizeof(path), "%s/%d/maps", root, FUZZ_PID);
	if (write_file(path, maps, mlen))
		abort();

	u = unwinder__new(root);
	if (!u)
		abort();
	if (unwinder__unwind(u, &s, out, FUZZ_FRAMES, &n) == 0) {
		if (n > FUZZ_FRAMES)
			abort();
		for (size_t i = 0; i < n; i++) {
			char name[256];

			unwind__unknown_name(&out[i], name, sizeof(name));
			if (out[i].module && (!out[i].module->path || !out[i].module->build_id))
				abort();
			if (getenv("FUZZ_UNWIND_PRINT"))
				fprintf(stderr, "#%zu %#llx %s %s\n", i,
					(unsigned long long)out[i].pc,
					out[i].name ? out[i].name : "?", name);
		}
	}
	unwinder__free(u);
	for (size_t i = 0; i < nmods; i++)
		unlink(files[i]);
	return 0;
}
