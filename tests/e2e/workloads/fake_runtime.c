// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A hostile "Python" for the end-to-end tests: not an interpreter, but it
 * exports the symbols pybpf-prof looks for, filled with what an attacker
 * likes. It burns CPU for SECONDS (so it is sampled), then exits 0.
 *
 * usage: fake_runtime MODE SECONDS [FILE [LINK_TO]]
 *   garbage  _PyRuntime full of random bytes, Py_Version 3.11.7
 *   cycle    3.11 layout: the interpreter list and the thread list loop on
 *            themselves, frames point at themselves
 *   debug    (built with -DFAKE_DEBUG) 3.13 Py_Version and a "xdebugpy"
 *            _Py_DebugOffsets header followed by garbage, in the file too
 *   map      as garbage, and FILE mapped executable (a huge or truncated
 *            ELF); built with -DFAKE_PLAIN the program itself exports no
 *            CPython symbol, so the agent looks at FILE; with LINK_TO,
 *            FILE is then replaced by a symbolic link to LINK_TO (maps
 *            shows "FILE (deleted)"; opening that path would follow it)
 * Prints "ready" once set up.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RUNTIME_SIZE 4096

#ifdef FAKE_PLAIN
/* Built with -DFAKE_PLAIN: no CPython symbols at all (for "map"). */
#define Py_Version fake_version
#define _PyRuntime fake_runtime
#endif

#ifdef FAKE_DEBUG
/* Built with -DFAKE_DEBUG: what the agent reads from the file is a 3.13
 * interpreter with a _Py_DebugOffsets block of garbage after its header. */
unsigned long Py_Version = 0x030d00f0; /* 3.13.0 final */
unsigned char _PyRuntime[RUNTIME_SIZE]
    __attribute__((aligned(64))) = {'x',
				    'd',
				    'e',
				    'b',
				    'u',
				    'g',
				    'p',
				    'y',
				    0xf0,
				    0x00,
				    0x0d,
				    0x03,
				    [24 ... RUNTIME_SIZE - 1] = 0xa5};
#else
unsigned long Py_Version = 0x030b07f0; /* 3.11.7 final */
unsigned char _PyRuntime[RUNTIME_SIZE] __attribute__((aligned(64))) = {1};
#endif

static void put64(unsigned char *base, size_t off, uint64_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static unsigned char blob[65536] __attribute__((aligned(64)));
	volatile uint64_t sink = 0;
	uint64_t rt = (uint64_t)(uintptr_t)_PyRuntime, b = (uint64_t)(uintptr_t)blob;
	double end;
	size_t i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s garbage|cycle|debug|map SECONDS [FILE]\n", argv[0]);
		return 2;
	}
	srandom((unsigned int)getpid());
	if (strcmp(argv[1], "debug"))
		for (i = 0; i < RUNTIME_SIZE; i++)
			_PyRuntime[i] = (unsigned char)random();
	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)random();
	if (!strcmp(argv[1], "cycle")) {
		/* 3.11: runtime->interpreters.head at 40; interp->next 0,
		 * interp->threads.head 16; tstate->next 8, ->cframe 56;
		 * cframe->current_frame 8; frame->previous 48, ->f_code 32. */
		memset(_PyRuntime, 0, RUNTIME_SIZE);
		put64(_PyRuntime, 40, b);	  /* interpreter = blob */
		put64(blob, 0, b);		  /* interp->next = itself */
		put64(blob, 16, b + 1024);	  /* first thread state */
		put64(blob, 1024 + 8, b + 1024);  /* tstate->next = itself */
		put64(blob, 1024 + 56, b + 2048); /* cframe */
		put64(blob, 2048 + 8, b + 4096);  /* current frame */
		put64(blob, 4096 + 48, b + 4096); /* frame->previous = itself */
		put64(blob, 4096 + 32, rt);	  /* f_code: not a code object */
	} else if (!strcmp(argv[1], "debug")) {
		/* the block as built, live too */
	} else if (!strcmp(argv[1], "map")) {
		int fd = argc > 3 ? open(argv[3], O_RDONLY | O_CLOEXEC) : -1;

		if (fd < 0 ||
		    mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) {
			perror("map");
			return 1;
		}
		close(fd);
		if (argc > 4 && (unlink(argv[3]) || symlink(argv[4], argv[3]))) {
			perror("link");
			return 1;
		}
	} else if (strcmp(argv[1], "garbage")) {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	end = now() + atof(argv[2]);
	while (now() < end)
		for (i = 0; i < 100000; i++)
			sink += i * rt;
	printf("done\n");
	return 0;
}
