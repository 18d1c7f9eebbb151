/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests that read live interpreters: start a Python script with pipes
 * on stdin/stdout, stop it, and run a check over every interpreter on the
 * machine (or PYBPF_TEST_PYTHONS).
 */
#ifndef PYBPF_PYCHILD_H
#define PYBPF_PYCHILD_H

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct child {
	pid_t pid;
	FILE *out;    /* the script's stdout */
	int stdin_fd; /* closing it tells the script to end */
};

static inline int spawn(const char *python, const char *script, struct child *c)
{
	int in[2], out[2];

	if (pipe(in) || pipe(out))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(python, python, script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->stdin_fd = in[1];
	c->out = fdopen(out[0], "r");
	return c->out ? 0 : -errno;
}

static inline void reap(struct child *c)
{
	close(c->stdin_fd);
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	fclose(c->out);
}

/* One thread the script (data/threads.py) reports. */
struct child_thread {
	char name[32];
	int tid;
	int line;
};

/* Read the script's "NAME TID LINE" lines up to "end": how many (at most max). */
static inline size_t read_threads(struct child *c, struct child_thread *exp, size_t max)
{
	size_t n = 0;
	char word[32];

	while (n < max && fscanf(c->out, "%31s", word) == 1 && strcmp(word, "end") != 0) {
		if (!strcmp(word, "unsupported"))
			break;
		snprintf(exp[n].name, sizeof(exp[n].name), "%s", word);
		if (fscanf(c->out, "%d %d", &exp[n].tid, &exp[n].line) != 2)
			break;
		n++;
	}
	return n;
}

/* Call fn(python, script) for each interpreter: PYBPF_TEST_PYTHONS, else
 * Debian's, pyenv's and local builds in /opt/pythons. `data` is a file
 * under tests/unit/data. */
static inline void for_each_python(void (*fn)(const char *python, const char *script),
				   const char *data)
{
	static const char *const globs[] = {
	    "/usr/bin/python3.[0-9]*[0-9]",
	    "/root/.pyenv/versions/3.*/bin/python3",
	    "/opt/pythons/*/bin/python3",
	};
	const char *src = getenv("PYBPF_SOURCE_DIR");
	const char *list = getenv("PYBPF_TEST_PYTHONS");
	char script[4096], *copy, *tok, *save = NULL;

	snprintf(script, sizeof(script), "%s/tests/unit/data/%s", src ? src : ".", data);
	if (list && *list) {
		copy = strdup(list);
		for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok;
		     tok = strtok_r(NULL, " ", &save))
			fn(tok, script);
		free(copy);
		return;
	}
	for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++) {
		glob_t g;

		if (glob(globs[i], 0, NULL, &g))
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++)
			fn(g.gl_pathv[j], script);
		globfree(&g);
	}
}

#endif
