// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A program that becomes a Python process late: 2 s of plain C work, then
 * dlopen() of a shared libpython, Py_Initialize and 4 s of CPU time in the
 * Python function late_spin(); exit status that of PyRun_SimpleString (0).
 *
 * usage: late_dlopen LIBPYTHON   prints "python" once initialised, "done" at the end
 */
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static const char code[] = "import time\n"
			   "def late_spin():\n"
			   "    end = time.process_time() + 4\n"
			   "    while time.process_time() < end:\n"
			   "        sum(i * i for i in range(10000))\n"
			   "late_spin()\n";

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	volatile unsigned long sink = 0;
	double end = now() + 2;
	void (*init)(void), (*fin)(void);
	int (*run)(const char *);
	void *h;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LIBPYTHON\n", argv[0]);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	while (now() < end)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
	h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	*(void **)&init = dlsym(h, "Py_Initialize");
	*(void **)&run = dlsym(h, "PyRun_SimpleString");
	*(void **)&fin = dlsym(h, "Py_Finalize");
	if (!init || !run || !fin)
		return 1;
	init();
	printf("python\n");
	fflush(stdout);
	rc = run(code);
	fin();
	printf("done\n");
	return rc;
}
