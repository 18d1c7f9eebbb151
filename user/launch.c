// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A regular file we may execute: 0, -ENOENT or -EACCES. */
static int launch__file(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return errno == EACCES ? -EACCES : -ENOENT;
	if (!S_ISREG(st.st_mode) || access(path, X_OK))
		return -EACCES;
	return 0;
}

int launch__check(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];
	int err = -ENOENT;

	if (!*name)
		return -ENOENT;
	if (strchr(name, '/'))
		return launch__file(name);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		int r;

		if (n == 0)
			r = snprintf(buf, sizeof(buf), "./%s", name);
		else
			r = snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (r > 0 && (size_t)r < sizeof(buf)) {
			int e = launch__file(buf);

			if (!e)
				return 0;
			if (e == -EACCES)
				err = -EACCES; /* keep looking, as execvp does */
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return err;
}

int launch__start(struct launch *l, char *const argv[])
{
	int fds[2];

	memset(l, 0, sizeof(*l));
	l->go_fd = -1;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	/* Orphaned descendants are re-parented to us: they stay in the tree. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	l->pid = fork();
	if (l->pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (l->pid == 0) {
		char go;
		ssize_t n;

		close(fds[1]);
		do
			n = read(fds[0], &go, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127); /* the profiler gave up before letting it run */
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[0]);
	l->go_fd = fds[1];
	return 0;
}

int launch__release(struct launch *l)
{
	ssize_t n;

	if (l->go_fd < 0)
		return -EINVAL;
	do
		n = write(l->go_fd, "g", 1);
	while (n < 0 && errno == EINTR);
	close(l->go_fd);
	l->go_fd = -1;
	return n == 1 ? 0 : -EPIPE;
}

bool launch__poll(struct launch *l)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == l->pid) {
			l->exited = true;
			l->status = status;
		}
	}
	return l->exited;
}

int launch__exit_code(const struct launch *l)
{
	if (WIFEXITED(l->status))
		return WEXITSTATUS(l->status);
	if (WIFSIGNALED(l->status))
		return 128 + WTERMSIG(l->status);
	return 1;
}

void launch__signal(const struct launch *l, int sig)
{
	if (l->pid > 0 && !l->exited)
		kill(l->pid, sig);
}

void launch__abort(struct launch *l)
{
	if (l->go_fd >= 0) {
		close(l->go_fd); /* the held child exits without running */
		l->go_fd = -1;
		if (l->pid > 0)
			waitpid(l->pid, &l->status, 0);
		l->exited = true;
	}
}
