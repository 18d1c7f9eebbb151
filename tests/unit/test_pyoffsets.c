// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The 3.13+ layouts read from _Py_DebugOffsets: every such interpreter on
 * the machine is accepted with its own version's layout and passes the live
 * check; a block whose fields moved (a word inserted, as 3.15 did to 3.14's)
 * or that is read with another version's layout is refused, never read with
 * a guessed layout; a version newer than this build is read with the newest
 * layout only when its block validates with it.
 *
 * Interpreters: PYBPF_TEST_PYTHONS (space-separated paths) if set and not
 * empty, else the 3.13+ ones found under pyenv, /opt/pythons and
 * /opt/pythons-next. Older ones in the list are skipped (they use tables).
 */
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyinfo.h"
#include "pyoffsets.h"
#include "test.h"

static const char *const default_globs[] = {
    "/root/.pyenv/versions/3.1[3-9]*/bin/python3",
    "/opt/pythons/*/bin/python3",
    "/opt/pythons-next/*/bin/python3",
};

/* Start `python` sleeping; its pid once it has printed "ready", or -1. */
static pid_t start_python(const char *python)
{
	char line[64] = "";
	int out[2];
	pid_t pid;
	FILE *f;

	if (pipe(out))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		execl(python, python, "-c",
		      "import time; print('ready', flush=True); time.sleep(60)", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "ready", 5) != 0) {
		if (f)
			fclose(f);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	fclose(f);
	return pid;
}

/* Label the block (and the version) as 3.<minor>. */
static void relabel(struct pyinfo *info, unsigned int minor)
{
	uint64_t v = 0x03000000u | (minor << 16) | 0xa0u; /* 3.<minor>.0a0 */

	info->minor = minor;
	info->micro = 0;
	info->hexversion = (uint32_t)v;
	memcpy(info->debug + 8, &v, sizeof(v));
}

/* A word inserted into the block at word `at`, as a new field would be. */
static void insert_word(struct pyinfo *info, size_t at)
{
	memmove(info->debug + (at + 1) * 8, info->debug + at * 8, info->debug_len - (at + 1) * 8);
	memset(info->debug + at * 8, 0, 8);
}

static void check_interpreter(const char *python)
{
	struct pybpf_offsets off;
	struct pyinfo info, alt;
	unsigned int newest = pyoffsets__newest_minor();
	pid_t pid = start_python(python);
	int err;

	CHECK(pid > 0);
	if (pid <= 0)
		return;
	err = pyinfo__inspect("/proc", pid, &info);
	CHECK_EQ_INT(err, 0);
	if (err || info.minor < 13) {
		if (!err)
			fprintf(stderr, "skip: %s: Python 3.%u uses a table\n", python, info.minor);
		goto out_kill;
	}
	fprintf(stderr, "%s: Python %u.%u.%u%s\n", python, info.major, info.minor, info.micro,
		info.free_threaded ? "t" : "");

	/* Its own layout (or, if newer than this build, the newest one). */
	err = pyoffsets__get(&info, &off);
	if (info.minor <= newest) {
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_INT(pyoffsets__check_live(&info, pid), 0);
		CHECK(off.frame_previous == 8 && off.frame_code == 0);
	} else {
		fprintf(stderr, "  3.%u is newer than this build (3.%u): %s\n", info.minor, newest,
			err ? "refused" : "read with the newest layout");
		CHECK(err == 0 || err == -EPROTO);
		if (!err)
			CHECK_EQ_INT(pyoffsets__check_live(&info, pid), 0);
	}

	/* A field inserted into thread_state (word 24 lies inside it in every
	 * 3.13+ layout): everything after it moved, so it must not validate. */
	alt = info;
	insert_word(&alt, 24);
	CHECK_EQ_INT(pyoffsets__get(&alt, &off), -EPROTO);

	/* Read as every other known version: refused (a newer version read with
	 * the newest layout does fit that layout when called by its name). */
	for (unsigned int m = 13; m <= newest; m++) {
		if (m == info.minor || (info.minor > newest && m == newest && !err))
			continue;
		alt = info;
		relabel(&alt, m);
		CHECK_EQ_INT(pyoffsets__get(&alt, &off), -EPROTO);
	}

	/* Called a version newer than this build: read with the newest layout,
	 * which must fit only the newest version's block. */
	alt = info;
	relabel(&alt, newest + 1);
	err = pyoffsets__get(&alt, &off);
	if (info.minor == newest) {
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_INT(pyoffsets__check_live(&alt, pid), 0);
	} else if (info.minor < newest) {
		CHECK_EQ_INT(err, -EPROTO);
	}

	/* The live check rejects a process that is not what the block says. */
	alt = info;
	CHECK(pyoffsets__check_live(&alt, getpid()) != 0);

out_kill:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void every_interpreter(void)
{
	const char *env = getenv("PYBPF_TEST_PYTHONS");
	unsigned int n = 0;

	if (env && *env) {
		char *list = strdup(env), *save = NULL;

		CHECK(list != NULL);
		for (char *t = list ? strtok_r(list, " \t", &save) : NULL; t;
		     t = strtok_r(NULL, " \t", &save), n++)
			check_interpreter(t);
		free(list);
	} else {
		for (size_t g = 0; g < sizeof(default_globs) / sizeof(default_globs[0]); g++) {
			glob_t gl;

			if (glob(default_globs[g], 0, NULL, &gl) != 0)
				continue;
			for (size_t i = 0; i < gl.gl_pathc; i++, n++)
				check_interpreter(gl.gl_pathv[i]);
			globfree(&gl);
		}
	}
	if (!n)
		fprintf(stderr, "skip: no 3.13+ interpreter on this machine\n");
}

/* Versions with no layout at all are refused with -ENOTSUP. */
static void unknown_versions(void)
{
	struct pybpf_offsets off;
	struct pyinfo info;

	memset(&info, 0, sizeof(info));
	info.major = 3;
	info.minor = 7;
	CHECK_EQ_INT(pyoffsets__get(&info, &off), -ENOTSUP);
	CHECK(!pyoffsets__supported(3, 7, false));
	info.minor = 12;
	info.free_threaded = true;
	CHECK_EQ_INT(pyoffsets__get(&info, &off), -ENOTSUP);
	info.free_threaded = false;
	CHECK_EQ_INT(pyoffsets__get(&info, &off), 0);
	/* 3.13+ without a debug block (or a wrong cookie) cannot be read. */
	info.minor = 13;
	CHECK_EQ_INT(pyoffsets__get(&info, &off), -ENOTSUP);
	info.debug_len = 64;
	memcpy(info.debug, "xdebugpz", 8);
	CHECK_EQ_INT(pyoffsets__get(&info, &off), -ENOTSUP);
	/* A truncated block does not validate. */
	memcpy(info.debug, "xdebugpy", 8);
	CHECK_EQ_INT(pyoffsets__get(&info, &off), -EPROTO);
	CHECK(pyoffsets__supported(3, 15, true));
	CHECK(!pyoffsets__supported(3, pyoffsets__newest_minor() + 1, false));
}

static void version_strings(void)
{
	struct pyinfo info = {.major = 3, .minor = 15, .micro = 0, .hexversion = 0x030f00c1};
	char buf[32];

	CHECK_EQ_STR(pyinfo__version_str(&info, buf, sizeof(buf)), "3.15.0rc1");
	info.free_threaded = true;
	CHECK_EQ_STR(pyinfo__version_str(&info, buf, sizeof(buf)), "3.15.0rc1t");
	info = (struct pyinfo){.major = 3, .minor = 16, .hexversion = 0x031000a0};
	CHECK_EQ_STR(pyinfo__version_str(&info, buf, sizeof(buf)), "3.16.0a0");
	info = (struct pyinfo){.major = 3, .minor = 11, .micro = 2, .hexversion = 0x030b02f0};
	CHECK_EQ_STR(pyinfo__version_str(&info, buf, sizeof(buf)), "3.11.2");
	info.hexversion = 0; /* version from a string only */
	CHECK_EQ_STR(pyinfo__version_str(&info, buf, sizeof(buf)), "3.11.2");
}

TEST_MAIN(TEST(every_interpreter), TEST(unknown_versions), TEST(version_strings))
