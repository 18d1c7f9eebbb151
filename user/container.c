// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "container.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Prefixes runtimes put before the id in a cgroup directory name. */
static const char *const id_prefixes[] = {
	"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-", "",
};

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int copy_out(const char *s, size_t n, char *out, size_t len)
{
	if (!n || n >= len)
		return -ENOENT;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* One path component: a runtime's container id, or a named container. */
static int component_id(const char *c, size_t n, const char *parent, size_t pn, char *out,
			size_t len)
{
	if (n > 6 && memcmp(c + n - 6, ".scope", 6) == 0)
		n -= 6;
	for (size_t i = 0; i < sizeof(id_prefixes) / sizeof(id_prefixes[0]); i++) {
		size_t p = strlen(id_prefixes[i]);

		if (n == p + 64 && memcmp(c, id_prefixes[i], p) == 0 && all_hex(c + p, 64))
			return copy_out(c + p, 64, out, len);
	}
	/* systemd-nspawn / machined: machine-<name>.scope */
	if (n > 8 && memcmp(c, "machine-", 8) == 0)
		return copy_out(c + 8, n - 8, out, len);
	/* LXC: /lxc/<name> or /lxc.payload.<name> */
	if (n > 12 && memcmp(c, "lxc.payload.", 12) == 0)
		return copy_out(c + 12, n - 12, out, len);
	if (pn == 3 && memcmp(parent, "lxc", 3) == 0)
		return copy_out(c, n, out, len);
	return -ENOENT;
}

int container__id_from_cgroup(const char *path, char *out, size_t len)
{
	const char *end = path + strlen(path);

	/* Innermost component first: nested runtimes name the container last. */
	while (end > path) {
		const char *start = end, *pend, *pstart;

		while (start > path && start[-1] != '/')
			start--;
		pend = start > path ? start - 1 : path;
		pstart = pend;
		while (pstart > path && pstart[-1] != '/')
			pstart--;
		if (end > start && component_id(start, (size_t)(end - start), pstart,
						(size_t)(pend - pstart), out, len) == 0)
			return 0;
		end = start > path ? start - 1 : path;
	}
	return -ENOENT;
}

int container__id(const char *proc, pid_t pid, char *out, size_t len)
{
	char path[64], line[4096];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/cgroup", proc, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* cgroup v2 "0::/path", or v1 "N:controllers:/path": the first that names one. */
	while (err && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		p = p ? strchr(p + 1, ':') : NULL;
		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		err = container__id_from_cgroup(p + 1, out, len);
	}
	fclose(f);
	return err;
}
