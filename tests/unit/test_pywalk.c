// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * BPF-logic test: the frame walk of bpf/pywalk.h (the same code the BPF
 * program runs) executed in userspace over a live interpreter's memory,
 * read with process_vm_readv. The interpreter parks a thread in a known
 * 150-deep recursion; the walk must find that thread's state from the
 * runtime, record every frame, and the symbolizer must name them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memread.h"
#include "profile.h"
#include "pyinfo.h"
#include "pyoffsets.h"
#include "symbolizer.h"
#include "pychild.h"
#include "test.h"

static pid_t walk_pid;
#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) memread(walk_pid, (addr), (dst), (size))
#include "pywalk.h"

static void walk_one(const char *python, const char *script)
{
	unsigned long long runtime = 0, ident = 0, depth = 0, hexversion = 0;
	long long first_line = 0, parked_line = 0;
	static struct pywalk w;
	struct symbolizer *sym;
	struct symbolizer_proc sp;
	struct pyinfo info;
	struct child c;
	int descend = 0, steps;

	if (access(python, X_OK)) {
		fprintf(stderr, "skip: %s not installed\n", python);
		return;
	}
	CHECK_EQ_INT(spawn(python, script, &c), 0);
	if (fscanf(c.out, "%llu %llu %llu %llu %lld %lld", &runtime, &ident, &depth, &hexversion,
		   &first_line, &parked_line) != 6) {
		fprintf(stderr, "skip: %s: not an interpreter pybpf-prof reads (< 3.8)\n", python);
		reap(&c);
		return;
	}
	walk_pid = c.pid;
	CHECK_EQ_INT(pyinfo__inspect("/proc", c.pid, &info), 0);
	CHECK_EQ_INT(info.runtime_addr, runtime);
	if (!pyoffsets__supported(info.major, info.minor, info.free_threaded)) {
		fprintf(stderr, "skip: %s: Python %u.%u has no offsets table\n", python, info.major,
			info.minor);
		reap(&c);
		return;
	}
	memset(&w, 0, sizeof(w));
	w.proc.gen = 1;
	w.proc.runtime_addr = info.runtime_addr;
	w.proc.code_type_addr = info.code_type_addr;
	CHECK_EQ_INT(pyoffsets__get(&info, &w.proc.off), 0);
	w.want_thread_id = ident;

	/* Thread search, bounded like the BPF program's loop. */
	CHECK_EQ_INT(pywalk__threads_begin(&w), 0);
	for (steps = 0; steps < PYBPF_MAX_THREADS; steps++)
		if (pywalk__threads_step(&w) == PYWALK_DONE)
			break;
	CHECK(w.tstate != 0);
	CHECK_EQ_INT(w.err, 0);

	CHECK_EQ_INT(pywalk__begin(&w), 0);
	for (steps = 0; steps <= PYBPF_MAX_FRAMES; steps++)
		if (pywalk__step(&w) == PYWALK_DONE)
			break;
	CHECK_EQ_INT(w.err, 0);
	CHECK_EQ_INT(w.stack.flags, 0);
	/* descend x (DEPTH+1), park, Thread.run, _bootstrap_inner, _bootstrap. */
	CHECK(w.stack.depth >= depth + 2);

	sym = symbolizer__new();
	sp = (struct symbolizer_proc){ .gen = 1, .pid = c.pid, .alive = true,
				       .major = info.major, .minor = info.minor,
				       .off = &w.proc.off };
	for (__u32 i = 0; i < w.stack.depth; i++) {
		struct profile_frame f;

		CHECK(w.stack.frames[i].ident != 0);
		CHECK_EQ_INT(symbolizer__frame(sym, &sp, &w.stack.frames[i], &f), 0);
		if (i == 0) {
			/* The leaf is the parked call: Parker.descend (3.11+) on the stdin line. */
			CHECK(strstr(f.name, "descend") != NULL);
			CHECK(strstr(f.file, "parked.py") != NULL);
			CHECK_EQ_INT(f.line, parked_line);
			CHECK_EQ_INT(f.start_line, first_line);
		}
		if (strstr(f.name, "descend"))
			descend++;
		if (i == depth + 1)
			CHECK_EQ_STR(f.name, "park");
		if (info.minor >= 11 && i == 0)
			CHECK_EQ_STR(f.name, "Parker.descend");
	}
	CHECK_EQ_INT(descend, depth + 1);
	fprintf(stderr, "%s: Python %u.%u.%u, %u frames walked and named\n", python, info.major,
		info.minor, info.micro, w.stack.depth);
	symbolizer__free(sym);
	reap(&c);
}

static void test_walk_live_interpreters(void)
{
	for_each_python(walk_one, "parked.py");
}

TEST_MAIN(TEST(test_walk_live_interpreters))
