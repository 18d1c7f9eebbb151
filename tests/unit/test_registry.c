// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The registry's handling of an exec, on live processes: a process that is
 * not Python when it execs and maps a libpython later is still registered
 * (the retries look again when its code files change, and only then), and
 * a process that exits leaves nothing behind (no pending entry, no fd).
 * A process caught while its runtime is being set up (a thread state
 * linked in before its thread set its id, as in Py_Initialize) is looked
 * at again, and reported once only if it stays so.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"
#include "test.h"

/* Registrations of the test's child (a scan registers the machine's other
 * Pythons too). */
struct added {
	pid_t pid;
	int n;
	unsigned int minor;
	int skips, skip_err;
};

static int on_add(void *ctx, const struct registry_proc *p)
{
	struct added *a = ctx;

	if (p->pid == a->pid) {
		a->n++;
		a->minor = p->info.minor;
	}
	return 0;
}

static void on_skip(void *ctx, pid_t pid, int err, const struct pyinfo *info)
{
	struct added *a = ctx;

	(void)info;
	if (pid == a->pid) {
		a->skips++;
		a->skip_err = err;
	}
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Retry until nothing is pending or `a` saw a registration: how many calls. */
static int drive_retries(struct registry *r, const struct added *a, int n0)
{
	int calls = 0, due;

	do {
		due = registry__retry_pending(r);
		calls++;
		if (due > 0)
			sleep_ms(due);
	} while (due >= 0 && a->n == n0 && calls < 1000);
	return calls;
}

/* The end of a test: the registry, the child (if still there), the pipes. */
static void finish(struct registry *r, pid_t pid, const int *fds, size_t nfds)
{
	registry__free(r);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* A shared libpython of any version on the machine, or NULL. */
static const char *find_libpython(char *buf, size_t len)
{
	static const char *const globs[] = {
	    "/root/.pyenv/versions/3.1[0-9]*/lib/libpython3.*.so.1.0",
	    "/opt/pythons/*/lib/libpython3.*.so.1.0",
	    "/usr/lib/*/libpython3.*.so.1.0",
	};

	for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++) {
		glob_t g;

		if (glob(globs[i], 0, NULL, &g))
			continue;
		snprintf(buf, len, "%s", g.gl_pathv[0]);
		globfree(&g);
		return buf;
	}
	return NULL;
}

static void late_libpython(void)
{
	struct registry_ops ops = {.on_add = on_add};
	struct added a = {0};
	char lib[4096], c = 'x';
	int go[2], ready[2];
	struct registry *r;
	pid_t pid;

	if (!find_libpython(lib, sizeof(lib))) {
		fprintf(stderr, "  (no shared libpython on this machine: skipped)\n");
		return;
	}
	CHECK_EQ_INT(pipe(go), 0);
	CHECK_EQ_INT(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		/* Not Python until told to map libpython (as a loader or dlopen
		 * would, after the exec event). */
		if (read(go[0], &c, 1) != 1 || !dlopen(lib, RTLD_NOW | RTLD_LOCAL))
			_exit(1);
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		(void)read(go[0], &c, 1);
		_exit(0);
	}
	CHECK(pid > 0);
	a.pid = pid;
	r = registry__new("/proc", &ops, &a);
	CHECK(r != NULL);
	if (pid <= 0 || !r)
		goto out;
	registry__on_exec(r, pid);
	CHECK_EQ_INT(a.n, 0);
	/* The first retries (2 and 10 ms after the exec) find nothing new. */
	for (int i = 0; i < 2; i++) {
		int due = registry__retry_pending(r);

		CHECK(due >= 0);
		sleep_ms(due > 0 ? due : 1);
	}
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(write(go[1], &c, 1), 1);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1);
	/* libpython is mapped now: a later retry registers it. Under a heavy
	 * load the retries (the last 500 ms after the exec) may all be over
	 * before the child got there; the periodic scan, which looks again at
	 * young processes, must then find it. */
	drive_retries(r, &a, 0);
	if (a.n == 0)
		CHECK_EQ_INT(registry__tick(r), 0);
	CHECK_EQ_INT(a.n, 1);
	CHECK(a.minor >= 8);
out:
	finish(r, pid, (int[]){go[0], go[1], ready[0], ready[1]}, 4);
}

/* A non-Python process that execs and exits: not registered, and its
 * pending entry (and the maps fd it holds) is gone after the retries. */
static void exec_then_exit(void)
{
	struct registry_ops ops = {.on_add = on_add};
	struct added a = {0};
	struct registry *r = registry__new("/proc", &ops, &a);
	int fds = open_fds(), go[2];
	char c = 'x';
	pid_t pid;

	CHECK(r != NULL);
	CHECK_EQ_INT(pipe(go), 0);
	fds += 2;
	pid = fork();
	if (pid == 0) {
		(void)read(go[0], &c, 1);
		_exit(0);
	}
	CHECK(pid > 0);
	a.pid = pid;
	if (!r || pid <= 0)
		goto out;
	registry__on_exec(r, pid);
	CHECK(registry__retry_pending(r) >= 0);
	CHECK(open_fds() >= fds);
	CHECK_EQ_INT(write(go[1], &c, 1), 1);
	waitpid(pid, NULL, 0);
	pid = 0;
	drive_retries(r, &a, 0);
	CHECK_EQ_INT(registry__retry_pending(r), -1);
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(open_fds(), fds);
out:
	finish(r, pid, go, 2);
}

/*
 * A child that maps a 3.13 libpython and links in, where Py_Initialize
 * does, an interpreter whose newest thread state has no thread id yet
 * (CPython sets it once that thread runs); on 'b' it sets the id. Word
 * indices are those of 3.13's _Py_DebugOffsets block.
 */
#define W313_INTERP_HEAD 5
#define W313_THREADS_HEAD 9
#define W313_TS_INTERP 22
#define W313_TS_NATIVE_TID 25

static void half_initialised_child(const char *lib, int go, int ready)
{
	static uint64_t interp[4096], tstate[512];
	uint64_t *rt;
	void *h;
	char c;

	if (read(go, &c, 1) != 1 || !(h = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) ||
	    !(rt = dlsym(h, "_PyRuntime")) || memcmp(rt, "xdebugpy", 8) ||
	    rt[W313_THREADS_HEAD] >= sizeof(interp) || rt[W313_TS_NATIVE_TID] >= sizeof(tstate) ||
	    rt[W313_TS_INTERP] >= sizeof(tstate))
		_exit(1);
	tstate[rt[W313_TS_INTERP] / 8] = (uint64_t)(uintptr_t)interp;
	interp[rt[W313_THREADS_HEAD] / 8] = (uint64_t)(uintptr_t)tstate;
	rt[rt[W313_INTERP_HEAD] / 8] = (uint64_t)(uintptr_t)interp;
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(1);
	if (c == 'b')
		tstate[rt[W313_TS_NATIVE_TID] / 8] = (uint64_t)syscall(SYS_gettid);
	if (write(ready, &c, 1) != 1)
		_exit(1);
	(void)read(go, &c, 1);
	_exit(0);
}

/* bind: whether the child's thread gets its id after the first scans. */
static void runtime_mid_init(bool bind)
{
	struct registry_ops ops = {.on_add = on_add, .on_skip = on_skip};
	struct added a = {0};
	int go[2], ready[2];
	struct registry *r = NULL;
	char lib[4096], c = bind ? 'b' : 'x';
	glob_t g;
	pid_t pid;

	if (glob("/root/.pyenv/versions/3.13*/lib/libpython3.13.so.1.0", 0, NULL, &g)) {
		fprintf(stderr, "  (no shared libpython 3.13 on this machine: skipped)\n");
		return;
	}
	snprintf(lib, sizeof(lib), "%s", g.gl_pathv[0]);
	globfree(&g);
	CHECK_EQ_INT(pipe(go), 0);
	CHECK_EQ_INT(pipe(ready), 0);
	pid = fork();
	if (pid == 0)
		half_initialised_child(lib, go[0], ready[1]);
	CHECK(pid > 0);
	/* A child that fails closes its end: no read below waits for ever. */
	close(go[0]);
	close(ready[1]);
	go[0] = ready[1] = -1;
	a.pid = pid;
	r = registry__new("/proc", &ops, &a);
	CHECK(r != NULL);
	if (pid <= 0 || !r)
		goto out;
	/* Only the child's tree is scanned, not the machine's other Pythons. */
	registry__set_explicit(r, true);
	registry__set_tree(r, true);
	CHECK_EQ_INT(registry__add_root(r, pid), 0);
	CHECK_EQ_INT(write(go[1], &c, 1), 1);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1);
	/* Caught mid-initialisation: neither registered nor written off. */
	for (int i = 0; i < 2; i++)
		CHECK_EQ_INT(registry__tick(r), 0);
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(a.skips, 0);
	c = bind ? 'b' : 'x';
	CHECK_EQ_INT(write(go[1], &c, 1), 1);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(registry__tick(r), 0);
	if (bind) {
		/* Its thread runs now: the next look registers it. */
		CHECK_EQ_INT(a.n, 1);
		CHECK_EQ_INT(a.minor, 13);
		CHECK_EQ_INT(a.skips, 0);
	} else {
		/* It stays so: reported once, as a layout that does not fit. */
		CHECK_EQ_INT(a.n, 0);
		CHECK_EQ_INT(a.skips, 1);
		CHECK_EQ_INT(a.skip_err, -EPROTO);
	}
out:
	finish(r, pid, (int[]){go[0], go[1], ready[0], ready[1]}, 4);
}

static void runtime_mid_init_then_ready(void)
{
	runtime_mid_init(true);
}

static void runtime_never_ready_reported_once(void)
{
	runtime_mid_init(false);
}

TEST_MAIN(TEST(late_libpython), TEST(exec_then_exit), TEST(runtime_mid_init_then_ready),
	  TEST(runtime_never_ready_reported_once))
