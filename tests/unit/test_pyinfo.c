// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pyinfo__inspect against real interpreters. Each child prints the true
 * address of _PyRuntime (ctypes), of PyCode_Type (id(CodeType)) and its
 * version, then sleeps while we inspect it.
 *
 * Interpreters: PYBPF_TEST_PYTHONS (space-separated paths) if set and not
 * empty, else the Debian and pyenv 3.11 builds. Absent ones are skipped.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elffile.h"
#include "pyinfo.h"
#include "test.h"

#define DEBIAN_PY "/usr/bin/python3.11"
#define PYENV_PY "/root/.pyenv/versions/3.11.7/bin/python3.11"

static const char report_script[] =
    "import ctypes, os, sys, sysconfig, types\n"
    "rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime'))\n"
    "exe, shared = os.readlink('/proc/self/exe'), -1\n"
    "for line in open('/proc/self/maps'):\n"
    "    f = line.split(None, 5)\n"
    "    lo, hi = (int(x, 16) for x in f[0].split('-'))\n"
    "    if lo <= rt < hi:\n"
    "        shared = int(len(f) < 6 or f[5].rstrip('\\n') != exe)\n"
    "ft = int(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))\n"
    "v = sys.version_info\n"
    "print(rt, id(types.CodeType), v[0], v[1], v[2], sys.hexversion, shared, ft, flush=True)\n"
    "import time\n"
    "time.sleep(120)\n";

/*
 * Without ctypes (it needs the _PyRuntime symbol): no address, rest as
 * above. (sysconfig's Py_ENABLE_SHARED is no ground truth for "shared":
 * Debian builds libpython too but links /usr/bin/python3.11 statically.)
 */
static const char plain_script[] =
    "import sys, types\n"
    "v = sys.version_info\n"
    "print(0, id(types.CodeType), v[0], v[1], v[2], sys.hexversion, 0, 0, flush=True)\n"
    "import time\n"
    "time.sleep(120)\n";

struct child {
	pid_t pid;
	unsigned long long runtime, code_type;
	unsigned int major, minor, micro;
	unsigned long long hexversion;
	int shared, free_threaded;
};

static char tmpdir[] = "/tmp/pybpf-test-pyinfo-XXXXXX";
static int tmpdir_made;

static const char *tmp_path(const char *name)
{
	static char buf[PATH_MAX];

	if (!tmpdir_made) {
		if (!mkdtemp(tmpdir))
			return NULL;
		tmpdir_made = 1;
	}
	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

/* Start `python -I -c script` and read its report line (10 s at most). */
static int child_start(const char *python, const char *script, struct child *c)
{
	char line[512];
	size_t len = 0;
	int fds[2], n;

	memset(c, 0, sizeof(*c));
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (c->pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execl(python, python, "-I", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		r = read(fds[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(line, '\n', len))
			break;
	}
	close(fds[0]);
	line[len] = '\0';
	n = sscanf(line, "%llu %llu %u %u %u %llu %d %d", &c->runtime, &c->code_type, &c->major,
		   &c->minor, &c->micro, &c->hexversion, &c->shared, &c->free_threaded);
	if (n != 8) {
		fprintf(stderr, "  %s: bad report line \"%s\"\n", python, line);
		return -EPROTO;
	}
	return 0;
}

static void child_stop(struct child *c)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	c->pid = 0;
}

/* Inspect a running child and compare with what it reported. */
static void check_child(const char *label, const struct child *c, int check_runtime)
{
	struct pyinfo info;
	int err = pyinfo__inspect("/proc", c->pid, &info);

	fprintf(stderr,
		"  %s: err %d, %u.%u.%u hex 0x%08x ft %d runtime 0x%" PRIx64
		" (true 0x%llx) size %" PRIu64 " PyCode_Type 0x%" PRIx64
		" (true 0x%llx) shared %d in %s\n",
		label, err, info.major, info.minor, info.micro, info.hexversion, info.free_threaded,
		info.runtime_addr, c->runtime, info.runtime_size, info.code_type_addr, c->code_type,
		info.shared, info.binary);
	CHECK_EQ_INT(err, 0);
	if (err)
		return;
	if (check_runtime)
		CHECK_EQ_INT(info.runtime_addr, c->runtime);
	CHECK(info.runtime_size > 0);
	CHECK_EQ_INT(info.code_type_addr, c->code_type);
	CHECK_EQ_INT(info.major, c->major);
	CHECK_EQ_INT(info.minor, c->minor);
	CHECK_EQ_INT(info.micro, c->micro);
	/* PY_VERSION_HEX is known from Py_Version (3.11+); before that it is 0 */
	if (c->minor >= 11)
		CHECK_EQ_INT(info.hexversion, c->hexversion);
	else
		CHECK_EQ_INT(info.hexversion, 0);
	CHECK_EQ_INT(info.free_threaded, c->free_threaded);
	CHECK(info.binary[0] == '/');
}

static void run_interpreter(const char *python)
{
	struct child c;
	struct pyinfo info;
	int err;

	if (access(python, X_OK) != 0) {
		fprintf(stderr, "skip: %s absent\n", python);
		return;
	}
	err = child_start(python, report_script, &c);
	CHECK_EQ_INT(err, 0);
	if (err == 0) {
		check_child(python, &c, 1);
		if (pyinfo__inspect("/proc", c.pid, &info) == 0) {
			CHECK_EQ_INT(info.shared, c.shared);
			if (info.shared)
				CHECK(strstr(info.binary, "libpython") != NULL);
			else
				CHECK(strstr(info.binary, "python") != NULL);
		}
	}
	child_stop(&c);
}

static void interpreters(void)
{
	const char *env = getenv("PYBPF_TEST_PYTHONS");
	char *list, *save = NULL, *tok;

	if (!env || !*env) {
		run_interpreter(DEBIAN_PY);
		run_interpreter(PYENV_PY);
		return;
	}
	list = strdup(env);
	CHECK(list != NULL);
	for (tok = list ? strtok_r(list, " \t", &save) : NULL; tok;
	     tok = strtok_r(NULL, " \t", &save))
		run_interpreter(tok);
	free(list);
}

static void self_is_not_python(void)
{
	struct pyinfo info;

	CHECK_EQ_INT(pyinfo__inspect("/proc", getpid(), &info), -ENOEXEC);
}

static void dead_process(void)
{
	struct pyinfo info;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid < 0)
		return;
	if (pid == 0)
		_exit(0);
	CHECK_EQ_INT(waitpid(pid, NULL, 0), pid);
	CHECK_EQ_INT(pyinfo__inspect("/proc", pid, &info), -ESRCH);
	CHECK_EQ_INT(pyinfo__inspect("/proc", INT_MAX, &info), -ESRCH);
}

/* Only where some process hides its maps from us (pid 1 in some sandboxes). */
static void permission_denied(void)
{
	struct pyinfo info;
	FILE *f = fopen("/proc/1/maps", "r");

	if (f || errno != EACCES) {
		if (f)
			fclose(f);
		fprintf(stderr, "skip: /proc/1/maps is readable here\n");
		return;
	}
	CHECK_EQ_INT(pyinfo__inspect("/proc", 1, &info), -EACCES);
}

static int copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", from, to, to);
	return system(cmd);
}

/* `strip` removes .symtab, not .dynsym: _PyRuntime stays findable. */
static void stripped_copy(void)
{
	char cmd[2 * PATH_MAX + 32];
	struct elf_file *ef;
	struct child c;
	const char *path;
	uint64_t addr, size;
	int has_section;

	if (access(DEBIAN_PY, X_OK) != 0 || system("command -v strip >/dev/null") != 0) {
		fprintf(stderr, "skip: %s or strip absent\n", DEBIAN_PY);
		return;
	}
	path = tmp_path("python-stripped");
	CHECK(path != NULL);
	if (!path)
		return;
	snprintf(cmd, sizeof(cmd), "strip -o '%s' '%s'", path, DEBIAN_PY);
	CHECK_EQ_INT(system(cmd), 0);
	ef = elf_file__open(path);
	CHECK(ef != NULL);
	if (!ef)
		return;
	has_section = elf_file__section(ef, ".PyRuntime", &addr, &size) == 0;
	fprintf(stderr, "  stripped copy: .PyRuntime section %s\n",
		has_section ? "present" : "absent");
	elf_file__close(ef);
	CHECK_EQ_INT(child_start(path, report_script, &c), 0);
	if (c.pid > 0)
		check_child("stripped copy", &c, 1);
	child_stop(&c);
	unlink(path);
}

/* Rename one NUL-delimited name in the file (it must occur exactly once). */
static int rename_symbol(unsigned char *data, size_t len, const char *name)
{
	size_t n = strlen(name), i, hits = 0, at = 0;

	for (i = 0; i + n + 2 <= len; i++) {
		if (data[i] == '\0' && memcmp(data + i + 1, name, n) == 0 &&
		    data[i + n + 1] == '\0') {
			hits++;
			at = i + n; /* last character of the name */
		}
	}
	if (hits != 1)
		return -1;
	data[at] = 'X';
	return 0;
}

/*
 * No symbols at all: a copy of the Debian python whose dynamic symbols
 * _PyRuntime, Py_Version and Py_GetVersion are renamed. The runtime must
 * come from the .PyRuntime section and the version from .rodata.
 */
static void no_symbols(void)
{
	unsigned char *data = NULL;
	struct elf_file *ef;
	struct child c = {0};
	struct pyinfo info;
	uint64_t sec_addr = 0, sec_size = 0;
	const char *path;
	struct stat st;
	FILE *f;
	int err;

	if (access(DEBIAN_PY, R_OK) != 0 || stat(DEBIAN_PY, &st) != 0) {
		fprintf(stderr, "skip: %s absent\n", DEBIAN_PY);
		return;
	}
	ef = elf_file__open(DEBIAN_PY);
	CHECK(ef != NULL);
	if (!ef)
		return;
	err = elf_file__section(ef, ".PyRuntime", &sec_addr, &sec_size);
	CHECK(elf_file__type(ef) == ET_EXEC);
	elf_file__close(ef);
	if (err) {
		fprintf(stderr, "skip: %s has no .PyRuntime section\n", DEBIAN_PY);
		return;
	}
	data = malloc((size_t)st.st_size);
	f = fopen(DEBIAN_PY, "rb");
	CHECK(data && f && fread(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
	if (f)
		fclose(f);
	if (!data || rename_symbol(data, (size_t)st.st_size, "_PyRuntime") ||
	    rename_symbol(data, (size_t)st.st_size, "Py_Version") ||
	    rename_symbol(data, (size_t)st.st_size, "Py_GetVersion")) {
		fprintf(stderr, "skip: symbol names not unique in %s\n", DEBIAN_PY);
		goto out;
	}
	path = tmp_path("python-nosym");
	f = path ? fopen(path, "wb") : NULL;
	CHECK(f != NULL);
	if (!f)
		goto out;
	CHECK(fwrite(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
	fclose(f);
	chmod(path, 0755);

	err = child_start(path, plain_script, &c);
	CHECK_EQ_INT(err, 0);
	if (err == 0) {
		err = pyinfo__inspect("/proc", c.pid, &info);
		fprintf(stderr,
			"  no symbols: err %d, %u.%u.%u hex 0x%x runtime 0x%" PRIx64
			" size 0x%" PRIx64 "\n",
			err, info.major, info.minor, info.micro, info.hexversion, info.runtime_addr,
			info.runtime_size);
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_INT(info.runtime_addr, sec_addr);
		CHECK_EQ_INT(info.runtime_size, sec_size);
		CHECK_EQ_INT(info.major, c.major);
		CHECK_EQ_INT(info.minor, c.minor);
		CHECK_EQ_INT(info.micro, c.micro);
		CHECK_EQ_INT(info.hexversion, 0); /* only the string was there */
		CHECK_EQ_INT(info.code_type_addr, c.code_type);
		CHECK_EQ_INT(info.shared, 0);
	}
	child_stop(&c);
	unlink(path);
out:
	free(data);
}

/* The binary is deleted while it runs: read through map_files. */
static void deleted_binary(const char *python, const char *name)
{
	struct child c = {0};
	const char *path;
	char kept[PATH_MAX];

	if (access(python, X_OK) != 0) {
		fprintf(stderr, "skip: %s absent\n", python);
		return;
	}
	path = tmp_path(name);
	CHECK(path != NULL);
	if (!path)
		return;
	snprintf(kept, sizeof(kept), "%s", path);
	CHECK_EQ_INT(copy_file(python, kept), 0);
	CHECK_EQ_INT(child_start(kept, report_script, &c), 0);
	CHECK_EQ_INT(unlink(kept), 0);
	if (c.pid > 0) {
		struct pyinfo info;

		check_child("deleted copy", &c, 1);
		if (pyinfo__inspect("/proc", c.pid, &info) == 0)
			CHECK(strstr(info.binary, " (deleted)") != NULL);
	}
	child_stop(&c);
}

static void deleted_executable(void)
{
	deleted_binary(DEBIAN_PY, "python-deleted");
}

/* ---- static cases: a fixture /proc whose PID/root points at "/" ---- */

#define FX_PID 4242
#define FX_BASE 0x7f0000000000ull

static int write_all(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int err = 0;

	if (!f)
		return -1;
	if (fwrite(data, 1, len, f) != len)
		err = -1;
	if (fclose(f) != 0)
		err = -1;
	return err;
}

static void *read_all(const char *path, size_t *len)
{
	struct stat st;
	void *data;
	FILE *f;

	if (stat(path, &st) != 0 || st.st_size <= 0)
		return NULL;
	data = malloc((size_t)st.st_size);
	f = fopen(path, "rb");
	if (!data || !f || fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(data);
		data = NULL;
	}
	if (f)
		fclose(f);
	*len = (size_t)st.st_size;
	return data;
}

/* Rename every NUL-delimited occurrence of `name` (.dynstr and .strtab). */
static int rename_all(unsigned char *data, size_t len, const char *name)
{
	size_t n = strlen(name), i;
	int hits = 0;

	for (i = 0; i + n + 2 <= len; i++) {
		if (data[i] == '\0' && memcmp(data + i + 1, name, n) == 0 &&
		    data[i + n + 1] == '\0') {
			data[i + n] = 'X';
			hits++;
		}
	}
	return hits;
}

/*
 * A fixture proc tree for one fake process mapping `files` (exe first if
 * `exe` is set) at FX_BASE + i * 256 MiB; PID/root links to "/".
 */
static const char *fixture_proc(const char *const *files, size_t nfiles, const char *exe)
{
	static char proc[512];
	char dir[600], path[2048], maps[8192] = "";
	size_t i, used = 0;

	if (!tmp_path(""))
		return NULL;
	snprintf(proc, sizeof(proc), "%.400s/proc", tmpdir);
	snprintf(dir, sizeof(dir), "%s/%d", proc, FX_PID);
	snprintf(path, sizeof(path), "rm -rf '%s' && mkdir -p '%s'", proc, dir);
	if (system(path) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/root", dir);
	if (symlink("/", path) != 0)
		return NULL;
	if (exe) {
		snprintf(path, sizeof(path), "%s/exe", dir);
		if (symlink(exe, path) != 0)
			return NULL;
	}
	for (i = 0; i < nfiles; i++) {
		struct stat st;
		unsigned long long base = FX_BASE + i * 0x10000000ull;

		if (stat(files[i], &st) != 0)
			st.st_ino = 99;
		/* a read-only first segment and the code segment after it */
		used += (size_t)snprintf(maps + used, sizeof(maps) - used,
					 "%llx-%llx r--p 00000000 fd:01 %llu    %s\n"
					 "%llx-%llx r-xp 00001000 fd:01 %llu    %s\n",
					 base, base + 0x1000, (unsigned long long)st.st_ino,
					 files[i], base + 0x1000, base + 0x200000,
					 (unsigned long long)st.st_ino, files[i]);
		if (used >= sizeof(maps))
			return NULL;
	}
	used += (size_t)snprintf(maps + used, sizeof(maps) - used,
				 "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0   [stack]\n");
	snprintf(path, sizeof(path), "%s/maps", dir);
	if (write_all(path, maps, strlen(maps)) != 0)
		return NULL;
	return proc;
}

static void fixture_cleanup(void)
{
	char cmd[PATH_MAX + 32];

	if (!tmpdir_made)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/proc'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
}

struct fallback_case {
	const char *lib;       /* pyenv libpython */
	const char *rename[2]; /* symbols hidden from pyinfo */
	unsigned int minor, micro;
	uint32_t hexversion;	 /* expected; 0 when only the string is left */
	int patch_free_threaded; /* set the debug-offsets flag to 1 */
};

/* Hide the version symbols of a libpython copy: pyinfo must fall back. */
static void run_fallback(const struct fallback_case *fc)
{
	const char *files[1];
	unsigned char *data;
	struct elf_file *ef;
	struct pyinfo info;
	uint64_t rt = 0, size;
	char copy[PATH_MAX];
	const char *proc;
	size_t len = 0, i;
	int err;

	if (access(fc->lib, R_OK) != 0) {
		fprintf(stderr, "skip: %s absent\n", fc->lib);
		return;
	}
	ef = elf_file__open(fc->lib);
	CHECK(ef != NULL);
	if (!ef)
		return;
	CHECK_EQ_INT(elf_file__symbol(ef, "_PyRuntime", &rt, &size), 0);
	elf_file__close(ef);

	data = read_all(fc->lib, &len);
	CHECK(data != NULL);
	if (!data)
		return;
	for (i = 0; i < 2 && fc->rename[i]; i++)
		CHECK(rename_all(data, len, fc->rename[i]) > 0);
	if (fc->patch_free_threaded) {
		/* "xdebugpy" also occurs as a plain string: take the one followed by a version */
		unsigned char *cookie = data, *hit = NULL;
		uint64_t v;

		while ((cookie = memmem(cookie, len - (size_t)(cookie - data), "xdebugpy", 8)) &&
		       (size_t)(cookie - data) + 24 <= len) {
			memcpy(&v, cookie + 8, sizeof(v));
			if (v >> 24 == 3) {
				hit = cookie;
				break;
			}
			cookie += 8;
		}
		CHECK(hit != NULL);
		if (hit)
			hit[16] = 1;
	}
	snprintf(copy, sizeof(copy), "%s", tmp_path("libpython-copy.so"));
	CHECK_EQ_INT(write_all(copy, data, len), 0);
	free(data);

	files[0] = copy;
	proc = fixture_proc(files, 1, "/nonexistent/exe");
	CHECK(proc != NULL);
	if (!proc)
		goto out;
	err = pyinfo__inspect(proc, FX_PID, &info);
	fprintf(stderr,
		"  %s without %s%s%s%s: err %d, %u.%u.%u hex 0x%x ft %d runtime 0x%" PRIx64 "\n",
		fc->lib, fc->rename[0], fc->rename[1] ? " and " : "",
		fc->rename[1] ? fc->rename[1] : "", fc->patch_free_threaded ? " (ft flag set)" : "",
		err, info.major, info.minor, info.micro, info.hexversion, info.free_threaded,
		info.runtime_addr);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_INT(info.runtime_addr, FX_BASE + rt);
	CHECK_EQ_INT(info.major, 3);
	CHECK_EQ_INT(info.minor, fc->minor);
	CHECK_EQ_INT(info.micro, fc->micro);
	CHECK_EQ_INT(info.hexversion, fc->hexversion);
	CHECK_EQ_INT(info.free_threaded, fc->patch_free_threaded);
	CHECK_EQ_INT(info.shared, 1);
	CHECK_EQ_STR(info.binary, copy);
out:
	unlink(copy);
	fixture_cleanup();
}

static void version_fallbacks(void)
{
	static const struct fallback_case cases[] = {
	    /* the PY_VERSION string, tail-merged by the linker, in .rodata */
	    {"/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0",
	     {"Py_GetVersion"},
	     8,
	     18,
	     0,
	     0},
	    {"/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0",
	     {"Py_GetVersion"},
	     10,
	     13,
	     0,
	     0},
	    /* the string through Py_GetVersion's code */
	    {"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", {"Py_Version"}, 11, 7, 0, 0},
	    {"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0",
	     {"Py_Version", "Py_GetVersion"},
	     11,
	     7,
	     0,
	     0},
	    /* the debug offsets */
	    {"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0",
	     {"Py_Version", "Py_GetVersion"},
	     13,
	     0,
	     0x030d00f0,
	     0},
	    {"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0",
	     {"Py_Version"},
	     13,
	     0,
	     0x030d00f0,
	     1},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_fallback(&cases[i]);
}

/* The executable wins over a libpython that is also mapped; non-Python files are not. */
static void fixture_candidates(void)
{
	const char *both[] = {"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", DEBIAN_PY};
	const char *none[] = {"/bin/true", "/nonexistent/libpython3.11.so", "/dev/null"};
	struct pyinfo info;
	const char *proc;
	int err;

	if (access(both[0], R_OK) != 0 || access(both[1], R_OK) != 0) {
		fprintf(stderr, "skip: %s or %s absent\n", both[0], both[1]);
	} else {
		proc = fixture_proc(both, 2, DEBIAN_PY);
		CHECK(proc != NULL);
		err = proc ? pyinfo__inspect(proc, FX_PID, &info) : -1;
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_STR(info.binary, DEBIAN_PY);
		CHECK_EQ_INT(info.shared, 0);
		CHECK_EQ_INT(info.minor, 11);
		/* without the exe link the library, mapped first, is taken */
		proc = fixture_proc(both, 2, NULL);
		err = proc ? pyinfo__inspect(proc, FX_PID, &info) : -1;
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_STR(info.binary, both[0]);
		CHECK_EQ_INT(info.shared, 1);
		CHECK_EQ_INT(info.micro, 7);
	}
	proc = fixture_proc(none, 3, "/bin/true");
	CHECK(proc != NULL);
	if (proc)
		CHECK_EQ_INT(pyinfo__inspect(proc, FX_PID, &info), -ENOEXEC);
	fixture_cleanup();
}

static void cleanup(void)
{
	if (tmpdir_made)
		CHECK_EQ_INT(rmdir(tmpdir), 0);
}

/* The verdict cache skips files known not to be Python, and still finds Python. */
static void verdict_cache(void)
{
	const char *python = "/root/.pyenv/versions/3.11.7/bin/python3.11";
	struct pyinfo_cache *cache = pyinfo_cache__new();
	struct pyinfo info;
	struct child c;
	size_t known;

	CHECK(cache != NULL);
	if (!cache)
		return;
	CHECK_EQ_INT(pyinfo__inspect_cached("/proc", getpid(), cache, &info), -ENOEXEC);
	known = pyinfo_cache__size(cache);
	CHECK(known >= 1); /* this test binary, libc... */
	CHECK_EQ_INT(pyinfo__inspect_cached("/proc", getpid(), cache, &info), -ENOEXEC);
	CHECK_EQ_INT(pyinfo_cache__size(cache), known);
	if (access(python, X_OK) == 0 && child_start(python, report_script, &c) == 0) {
		/* Its executable has no runtime (cached as such), its libpython has. */
		for (int round = 0; round < 2; round++) {
			CHECK_EQ_INT(pyinfo__inspect_cached("/proc", c.pid, cache, &info), 0);
			CHECK_EQ_INT(info.runtime_addr, c.runtime);
		}
		child_stop(&c);
	} else {
		fprintf(stderr, "  skip: %s\n", python);
	}
	pyinfo_cache__free(cache);
	pyinfo_cache__free(NULL);
}

/*
 * A fixture process mapping `path` with maps inode `ino`; when `mf_target`
 * is set, PID/map_files/START-END links to it (the kernel's link is to the
 * mapped file itself, whatever `path` names now).
 */
static const char *fixture_one(const char *name, const char *path, unsigned long long ino,
			       const char *mf_target)
{
	static char proc[512];
	char dir[600], cmd[2048], maps[1024];
	int n;

	if (!tmp_path(""))
		return NULL;
	snprintf(proc, sizeof(proc), "%.400s/%s", tmpdir, name);
	snprintf(dir, sizeof(dir), "%s/%d", proc, FX_PID);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s/map_files'", proc, dir);
	if (system(cmd) != 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "%s/root", dir);
	if (symlink("/", cmd) != 0)
		return NULL;
	if (mf_target) {
		snprintf(cmd, sizeof(cmd), "%s/map_files/%llx-%llx", dir, FX_BASE,
			 FX_BASE + 0x1000);
		if (symlink(mf_target, cmd) != 0)
			return NULL;
	}
	n = snprintf(maps, sizeof(maps),
		     "%llx-%llx r--p 00000000 fd:01 %llu    %s\n"
		     "%llx-%llx r-xp 00001000 fd:01 %llu    %s\n",
		     FX_BASE, FX_BASE + 0x1000, ino, path, FX_BASE + 0x1000, FX_BASE + 0x200000,
		     ino, path);
	snprintf(cmd, sizeof(cmd), "%s/maps", dir);
	if (n < 0 || (size_t)n >= sizeof(maps) || write_all(cmd, maps, (size_t)n) != 0)
		return NULL;
	return proc;
}

static void fixture_one_cleanup(const char *proc)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", proc);
	CHECK_EQ_INT(system(cmd), 0);
}

/*
 * A target's mapped path now a symbolic link to a host file (here a real
 * libpython, so that reading it would be visible as "Python found"): the
 * agent must not follow it. It used to, when map_files was unavailable:
 * the inode differed and the path was opened anyway as a last resort.
 */
static void symlink_to_host_file(void)
{
	const char *lib = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0";
	char link[PATH_MAX];
	struct pyinfo info;
	const char *proc;

	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "skip: %s absent\n", lib);
		return;
	}
	snprintf(link, sizeof(link), "%s", tmp_path("libpython-link.so"));
	unlink(link);
	CHECK_EQ_INT(symlink(lib, link), 0);
	proc = fixture_one("proc-link", link, 99, NULL);
	CHECK(proc != NULL);
	if (proc) {
		CHECK_EQ_INT(pyinfo__inspect(proc, FX_PID, &info), -ENOEXEC);
		fixture_one_cleanup(proc);
	}
	/* A link in a directory component is refused the same way. */
	snprintf(link, sizeof(link), "%s", tmp_path("libdir"));
	unlink(link);
	CHECK_EQ_INT(symlink("/root/.pyenv/versions/3.11.7/lib", link), 0);
	strncat(link, "/libpython3.11.so.1.0", sizeof(link) - strlen(link) - 1);
	proc = fixture_one("proc-dirlink", link, 99, NULL);
	CHECK(proc != NULL);
	if (proc) {
		CHECK_EQ_INT(pyinfo__inspect(proc, FX_PID, &info), -ENOEXEC);
		fixture_one_cleanup(proc);
	}
	unlink(tmp_path("libdir"));
	unlink(tmp_path("libpython-link.so"));
}

/*
 * The verdict cache must describe the file actually read. A target maps a
 * non-Python file, then makes its path a link to the host's libpython: the
 * agent reads the mapped file (map_files) and must not record libpython
 * as "not Python", or every real interpreter using it would be skipped.
 */
static void cache_not_poisoned_by_link(void)
{
	const char *lib = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0";
	const char *other = "/proc/self/exe"; /* this test: an ELF without a runtime */
	struct pyinfo_cache *cache = pyinfo_cache__new();
	char link[PATH_MAX], self[PATH_MAX];
	struct pyinfo info;
	struct stat st;
	const char *proc;
	ssize_t n;

	CHECK(cache != NULL);
	if (!cache || access(lib, R_OK) != 0 || stat(lib, &st) != 0) {
		fprintf(stderr, "skip: %s absent\n", lib);
		pyinfo_cache__free(cache);
		return;
	}
	n = readlink(other, self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n > 0 ? n : 0] = '\0';
	snprintf(link, sizeof(link), "%s", tmp_path("swapped.so"));
	unlink(link);
	CHECK_EQ_INT(symlink(lib, link), 0);
	proc = fixture_one("proc-poison", link, 99, self);
	CHECK(proc != NULL);
	if (proc) {
		CHECK_EQ_INT(pyinfo__inspect_cached(proc, FX_PID, cache, &info), -ENOEXEC);
		fixture_one_cleanup(proc);
	}
	/* A process that really maps libpython is still found. */
	proc = fixture_one("proc-real", lib, (unsigned long long)st.st_ino, NULL);
	CHECK(proc != NULL);
	if (proc) {
		CHECK_EQ_INT(pyinfo__inspect_cached(proc, FX_PID, cache, &info), 0);
		CHECK_EQ_INT(info.minor, 11);
		fixture_one_cleanup(proc);
	}
	unlink(link);
	pyinfo_cache__free(cache);
}

TEST_MAIN(TEST(interpreters), TEST(self_is_not_python), TEST(dead_process), TEST(permission_denied),
	  TEST(stripped_copy), TEST(no_symbols), TEST(deleted_executable), TEST(version_fallbacks),
	  TEST(fixture_candidates), TEST(verdict_cache), TEST(symlink_to_host_file),
	  TEST(cache_not_poisoned_by_link), TEST(cleanup))
