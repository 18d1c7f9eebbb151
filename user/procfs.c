// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Readers of /proc/PID/{maps,stat,comm,task}. The proc root is a
 * parameter so that tests can point it at a fixture tree.
 *
 * A missing /proc/PID entry is reported as -ESRCH: the process is gone.
 */
#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/openat2.h>
#include <linux/types.h>

/* PROCMAP_QUERY (Linux 6.11 UAPI), for headers older than the kernel. */
#ifndef PROCMAP_QUERY
struct procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};
#define PROCMAP_QUERY _IOWR(0x66, 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
#endif

/* stat lines are short, but comm is read from untrusted input in tests */
#define PROCFS_STAT_MAX 8192

static int procfs__path(char *buf, size_t len, const char *proc, pid_t pid, const char *what)
{
	int n = snprintf(buf, len, "%s/%d/%s", proc, (int)pid, what);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ENOENT on a per-process file means the process has gone. */
static int procfs__errno(int err)
{
	return err == ENOENT ? -ESRCH : -err;
}

/* Read a small file whole into buf (NUL-terminated). */
static int procfs__slurp(const char *path, char *buf, size_t cap, size_t *lenp)
{
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return procfs__errno(errno);
	while (len < cap - 1) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = procfs__errno(errno);
			goto out_close_fd;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
out_close_fd:
	close(fd);
	return err;
}

/* Consume hex digits at *p (at least one, at most 64 bits). */
static bool procfs__hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;

	while (isxdigit((unsigned char)*s)) {
		int d =
		    isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);

		if (x >> 60)
			return false;
		x = (x << 4) | (uint64_t)d;
		s++;
		n++;
	}
	if (n == 0)
		return false;
	*v = x;
	*p = s;
	return true;
}

/* Consume decimal digits at *p (at least one, no sign, no overflow). */
static bool procfs__dec(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;

	while (isdigit((unsigned char)*s)) {
		uint64_t d = (uint64_t)(*s - '0');

		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
		s++;
		n++;
	}
	if (n == 0)
		return false;
	*v = x;
	*p = s;
	return true;
}

static bool procfs__expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/*
 * One maps line: "start-end perms offset major:minor inode [path]".
 * Everything after the inode and its padding is the path, verbatim:
 * it may contain spaces and ends in " (deleted)" for unlinked files.
 */
static bool procfs__parse_mapping(const char *line, struct procfs_mapping *m)
{
	const char *p = line;
	uint64_t dev_major, dev_minor;
	size_t plen;

	memset(m, 0, offsetof(struct procfs_mapping, path) + 1);
	if (!procfs__hex(&p, &m->start) || !procfs__expect(&p, '-') || !procfs__hex(&p, &m->end) ||
	    !procfs__expect(&p, ' '))
		return false;
	if (m->end < m->start)
		return false;
	if (p[0] == 'r')
		m->perms |= PROCFS_R;
	else if (p[0] != '-')
		return false;
	if (p[1] == 'w')
		m->perms |= PROCFS_W;
	else if (p[1] != '-')
		return false;
	if (p[2] == 'x')
		m->perms |= PROCFS_X;
	else if (p[2] != '-')
		return false;
	if (p[3] != 'p' && p[3] != 's')
		return false;
	p += 4;
	if (!procfs__expect(&p, ' ') || !procfs__hex(&p, &m->offset) || !procfs__expect(&p, ' ') ||
	    !procfs__hex(&p, &dev_major) || !procfs__expect(&p, ':') ||
	    !procfs__hex(&p, &dev_minor) || !procfs__expect(&p, ' ') || !procfs__dec(&p, &m->inode))
		return false;
	if (*p != '\0' && *p != '\n' && *p != ' ')
		return false;
	while (*p == ' ')
		p++;
	plen = strcspn(p, "\n");
	if (plen >= sizeof(m->path))
		plen = sizeof(m->path) - 1; /* longer than PATH_MAX: keep a prefix */
	memcpy(m->path, p, plen);
	m->path[plen] = '\0';
	return true;
}

int procfs__maps(const char *proc, pid_t pid, procfs_mapping_cb cb, void *arg)
{
	char path[PATH_MAX];
	struct procfs_mapping *m;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int err;

	err = procfs__path(path, sizeof(path), proc, pid, "maps");
	if (err)
		goto out;
	m = malloc(sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto out;
	}
	f = fopen(path, "re");
	if (!f) {
		err = procfs__errno(errno);
		goto out_free_mapping;
	}
	for (;;) {
		errno = 0;
		if (getline(&line, &cap, f) < 0) {
			if (ferror(f))
				err = procfs__errno(errno ? errno : EIO);
			break;
		}
		/* A line we cannot parse is skipped, not fatal: the rest is still useful. */
		if (!procfs__parse_mapping(line, m))
			continue;
		err = cb(m, arg);
		if (err)
			break;
	}
	free(line);
	fclose(f);
out_free_mapping:
	free(m);
out:
	return err;
}

static uint64_t procfs__mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

/* Distinct files a digest tells apart; a process with more gets -E2BIG. */
#define PROCFS_DIGEST_FILES 256

struct procfs_file_id {
	uint64_t dev, ino;
};

static int procfs__file_id_cmp(const void *a, const void *b)
{
	const struct procfs_file_id *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return (x->ino > y->ino) - (x->ino < y->ino);
}

int procfs__open_maps(const char *proc, pid_t pid)
{
	char path[PATH_MAX];
	int fd, err;

	err = procfs__path(path, sizeof(path), proc, pid, "maps");
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? procfs__errno(errno) : fd;
}

int procfs__code_files_digest(int maps_fd, uint64_t *digest)
{
	struct procfs_file_id *ids;
	struct procmap_query q;
	uint64_t h = 0, addr = 0;
	size_t n = 0, i;
	int err = 0;

	ids = malloc(PROCFS_DIGEST_FILES * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (;;) {
		struct procfs_file_id id;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_VMA_EXECUTABLE |
				PROCMAP_QUERY_FILE_BACKED_VMA;
		q.query_addr = addr;
		if (ioctl(maps_fd, PROCMAP_QUERY, &q) != 0) {
			/* ENOENT: no mapping at or above addr, the end. */
			if (errno != ENOENT)
				err = errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP
									 : procfs__errno(errno);
			break;
		}
		if (q.vma_end <= addr) {
			err = -EIO; /* the kernel did not move forward */
			break;
		}
		addr = q.vma_end;
		/* A file mapped as code again (node remaps part of its own text)
		 * is the same file: the digest is of the set. */
		id.dev = (uint64_t)q.dev_major << 32 | q.dev_minor;
		id.ino = q.inode;
		for (i = 0; i < n; i++)
			if (ids[i].dev == id.dev && ids[i].ino == id.ino)
				break;
		if (i < n)
			continue;
		if (n == PROCFS_DIGEST_FILES) {
			err = -E2BIG;
			break;
		}
		ids[n++] = id;
	}
	if (err)
		goto out_free_ids;
	qsort(ids, n, sizeof(*ids), procfs__file_id_cmp);
	for (i = 0; i < n; i++)
		h = procfs__mix(procfs__mix(h, ids[i].dev), ids[i].ino);
	*digest = procfs__mix(h, n);
out_free_ids:
	free(ids);
	return err;
}

int procfs__start_time(const char *proc, pid_t pid, uint64_t *ticks)
{
	char path[PATH_MAX];
	const char *p;
	char *buf;
	size_t len;
	int field, err;

	err = procfs__path(path, sizeof(path), proc, pid, "stat");
	if (err)
		goto out;
	buf = malloc(PROCFS_STAT_MAX);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	err = procfs__slurp(path, buf, PROCFS_STAT_MAX, &len);
	if (err)
		goto out_free_buf;
	/* comm (field 2) is in parentheses and may itself contain ") (": the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p) {
		err = -EINVAL;
		goto out_free_buf;
	}
	p++;
	for (field = 3; field < 22; field++) {
		if (*p != ' ') {
			err = -EINVAL;
			goto out_free_buf;
		}
		p++;
		p += strcspn(p, " \n");
	}
	if (!procfs__expect(&p, ' ') || !procfs__dec(&p, ticks) || (*p != ' ' && *p != '\n' && *p))
		err = -EINVAL;
out_free_buf:
	free(buf);
out:
	return err;
}

int procfs__comm(const char *proc, pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[PATH_MAX], comm[256];
	size_t n;
	int err, r;

	if (!buf || len == 0) {
		err = -EINVAL;
		goto out;
	}
	if (tid > 0)
		r = snprintf(path, sizeof(path), "%s/%d/task/%d/comm", proc, (int)pid, (int)tid);
	else
		r = snprintf(path, sizeof(path), "%s/%d/comm", proc, (int)pid);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = procfs__slurp(path, comm, sizeof(comm), &n);
	if (err)
		goto out;
	if (n > 0 && comm[n - 1] == '\n')
		comm[--n] = '\0';
	if (n >= len) {
		/* A truncated copy, but say so. */
		n = len - 1;
		err = -ERANGE;
	}
	memcpy(buf, comm, n);
	buf[n] = '\0';
out:
	return err;
}

/* A directory entry that is a positive decimal pid, nothing else. */
static bool procfs__pid_name(const char *name, pid_t *pid)
{
	const char *p = name;
	uint64_t v;

	if (name[0] < '1' || name[0] > '9')
		return false;
	if (!procfs__dec(&p, &v) || *p != '\0' || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

static int procfs__list(const char *dir, bool gone_is_esrch, procfs_pid_cb cb, void *arg)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	d = opendir(dir);
	if (!d)
		return gone_is_esrch ? procfs__errno(errno) : -errno;
	for (;;) {
		pid_t pid;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				err = -errno;
			break;
		}
		if (!procfs__pid_name(de->d_name, &pid))
			continue;
		err = cb(pid, arg);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

int procfs__pids(const char *proc, procfs_pid_cb cb, void *arg)
{
	return procfs__list(proc, false, cb, arg);
}

int procfs__tids(const char *proc, pid_t pid, procfs_pid_cb cb, void *arg)
{
	char path[PATH_MAX];
	int err;

	err = procfs__path(path, sizeof(path), proc, pid, "task");
	if (err)
		return err;
	return procfs__list(path, true, cb, arg);
}

int procfs__exists(const char *proc, pid_t pid)
{
	char path[PATH_MAX];
	struct stat st;
	int n;

	if (pid <= 0)
		return 0;
	n = snprintf(path, sizeof(path), "%s/%d", proc, (int)pid);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) != 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	return S_ISDIR(st.st_mode) ? 1 : 0;
}

int procfs__ppid(const char *proc, pid_t pid, pid_t *ppid)
{
	char path[PATH_MAX], buf[PROCFS_STAT_MAX];
	const char *p;
	uint64_t v;
	size_t len;
	int err;

	err = procfs__path(path, sizeof(path), proc, pid, "stat");
	if (err)
		return err;
	err = procfs__slurp(path, buf, sizeof(buf), &len);
	if (err)
		return err;
	/* "pid (comm) S ppid ...": comm may hold ") ", the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -EINVAL;
	p += 4;
	if (!procfs__dec(&p, &v) || *p != ' ' || v > INT_MAX)
		return -EINVAL;
	*ppid = (pid_t)v;
	return 0;
}

int procfs__cmdline(const char *proc, pid_t pid, char *buf, size_t len)
{
	char path[PATH_MAX];
	size_t n;
	int err;

	if (!buf || len < 2)
		return -EINVAL;
	err = procfs__path(path, sizeof(path), proc, pid, "cmdline");
	if (err)
		return err;
	err = procfs__slurp(path, buf, len, &n);
	if (err)
		return err;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return 0;
}

/* fd if it is a regular file, else closed and -ENOEXEC (never read devices,
 * FIFOs and the like). */
static int procfs__regular_only(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOEXEC;
	}
	return fd;
}

int procfs__open_map_file(const char *proc, pid_t pid, uint64_t start, uint64_t end)
{
	char path[PATH_MAX];
	int n, fd;

	n = snprintf(path, sizeof(path), "%s/%d/map_files/%" PRIx64 "-%" PRIx64, proc, (int)pid,
		     start, end);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	return procfs__regular_only(fd);
}

int procfs__open_in_root(const char *proc, pid_t pid, const char *path, bool *no_openat2)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_NOFOLLOW),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	char root[PATH_MAX];
	int rootfd, fd, err;

	*no_openat2 = false;
	err = procfs__path(root, sizeof(root), proc, pid, "root");
	if (err)
		return err;
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG)) {
		/* No openat2 (or a seccomp filter refusing it). */
		*no_openat2 = true;
		fd = openat(rootfd, path[0] == '/' ? path + 1 : path, flags | O_NOFOLLOW);
	}
	err = fd < 0 ? -errno : 0;
	close(rootfd);
	if (err)
		return err;
	return procfs__regular_only(fd);
}
