// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 64

static void sanitize(const char *s, size_t n, char *out, size_t len)
{
	size_t j = 0;

	if (!len)
		return;
	for (size_t i = 0; i < n && s[i] && j + 1 < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[j++] = ok ? c : '_';
	}
	if (!j && len > 6)
		j = (size_t)snprintf(out, len, "python");
	out[j] = '\0';
}

static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* python, python3, python3.11, python3.13t, pythonw, pypy3... */
static bool is_interpreter(const char *arg0)
{
	const char *b = base(arg0);

	if (strncmp(b, "python", 6) && strncmp(b, "pypy", 4))
		return false;
	for (b += b[1] == 'y' && b[2] == 'p' ? 4 : 6; *b; b++)
		if (!((*b >= '0' && *b <= '9') || *b == '.' || *b == 'd' || *b == 'm' || *b == 't' ||
		      *b == 'w'))
			return false;
	return true;
}

/* Interpreter options that consume the next argument. */
static bool takes_value(const char *opt)
{
	return !strcmp(opt, "-X") || !strcmp(opt, "-W") || !strcmp(opt, "--check-hash-based-pycs");
}

/* A script path: its file name without .py; __main__.py names its directory. */
static void from_script(const char *path, char *out, size_t len)
{
	const char *b = base(path);
	size_t n = strlen(b);

	if (!strcmp(b, "__main__.py") && b > path) {
		const char *end = b - 1, *start = end;

		while (start > path && start[-1] != '/')
			start--;
		sanitize(start, (size_t)(end - start), out, len);
		return;
	}
	if (n > 3 && !strcmp(b + n - 3, ".py"))
		n -= 3;
	sanitize(b, n, out, len);
}

void service__from_argv(const char *const *argv, int argc, const char *comm, char *out,
			size_t len)
{
	int i;

	if (argc <= 0 || !argv[0] || !*argv[0]) {
		sanitize(comm ? comm : "", comm ? strlen(comm) : 0, out, len);
		return;
	}
	if (!is_interpreter(argv[0])) {
		/* "gunicorn: worker [app]" (setproctitle) or /usr/local/bin/celery */
		const char *b = base(argv[0]);

		sanitize(b, strcspn(b, ": "), out, len);
		return;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-m") && i + 1 < argc) {
			sanitize(argv[i + 1], strcspn(argv[i + 1], "."), out, len);
			return;
		}
		if (!strncmp(a, "-m", 2) && a[2]) {
			sanitize(a + 2, strcspn(a + 2, "."), out, len);
			return;
		}
		if (!strcmp(a, "-c") || (!strncmp(a, "-c", 2) && a[2])) {
			sanitize("python-c", 8, out, len);
			return;
		}
		if (takes_value(a)) {
			i++;
			continue;
		}
		if (a[0] == '-' && a[1])
			continue;
		if (!strcmp(a, "-"))
			break;
		from_script(a, out, len);
		return;
	}
	sanitize(base(argv[0]), strlen(base(argv[0])), out, len);
}

int service__name(const char *proc, pid_t pid, const char *comm, char *out, size_t len)
{
	char path[64], buf[4096];
	const char *argv[MAX_ARGS];
	int fd, argc = 0, err = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/cmdline", proc, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out_fallback;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (n <= 0)
		goto out_fallback;
	buf[n] = '\0';
	for (ssize_t off = 0; off < n && argc < MAX_ARGS; off += (ssize_t)strlen(buf + off) + 1)
		argv[argc++] = buf + off;
	service__from_argv(argv, argc, comm, out, len);
	return 0;

out_fallback:
	service__from_argv(NULL, 0, comm, out, len);
	return err ? err : -ENOENT;
}
