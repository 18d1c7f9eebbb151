// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Atomic output files.
 *
 * The temporary file is ".<base>.XXXXXX" (random suffix, created O_EXCL) in
 * the target's directory, so the final rename never crosses a filesystem.
 * All name operations are relative to one directory fd opened up front.
 *
 * Committing without overwrite must never replace a file that appeared in
 * the meantime; in order of preference:
 *   1. renameat2(RENAME_NOREPLACE);
 *   2. linkat() to the final name (fails with EEXIST), then unlink the temp;
 *   3. on filesystems with neither, reserve the final name with an empty
 *      O_EXCL file and rename over that: a reader may briefly see an empty
 *      file, but nobody else's file is ever replaced.
 * After the rename the directory is fsync'ed so the new entry is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

#define TMP_SUFFIX_LEN 6
#define TMP_ATTEMPTS 100

struct outfile {
	int dirfd;
	int fd;
	char *base;    /* final name inside the directory */
	char *tmpname; /* temporary name inside the directory */
	bool overwrite;
};

/*
 * Split path into a malloc'ed directory ("." when there is none) and a
 * pointer to the last component inside path. 0 or -errno.
 */
static int path_split(const char *path, char **dir, const char **base)
{
	const char *slash;

	if (!path || !*path)
		return -ENOENT;
	slash = strrchr(path, '/');
	if (!slash) {
		*dir = strdup(".");
		*base = path;
	} else if (slash == path) {
		*dir = strdup("/");
		*base = slash + 1;
	} else {
		*dir = strndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	return *dir ? 0 : -ENOMEM;
}

/* The last component names a directory (or nothing): "dir/", ".", "..". */
static bool base_is_dir(const char *base)
{
	return !*base || !strcmp(base, ".") || !strcmp(base, "..");
}

static int dir_open(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Create ".<base>.XXXXXX" exclusively in dirfd. The base part is cut short
 * if needed to keep the name within NAME_MAX. Returns the fd, or -errno.
 */
static int tmp_create(int dirfd, const char *base, char **name_out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t base_len = strlen(base);
	size_t max_base = NAME_MAX - 2 - TMP_SUFFIX_LEN;
	char *name, *suffix;
	int fd = -EEXIST;

	if (base_len > max_base)
		base_len = max_base;
	name = malloc(base_len + TMP_SUFFIX_LEN + 3);
	if (!name)
		return -ENOMEM;
	name[0] = '.';
	memcpy(name + 1, base, base_len);
	name[base_len + 1] = '.';
	suffix = name + base_len + 2;

	for (int attempt = 0; attempt < TMP_ATTEMPTS && fd == -EEXIST; attempt++) {
		unsigned char rnd[TMP_SUFFIX_LEN];
		/* Requests this small are never cut short. */
		ssize_t n = getrandom(rnd, sizeof(rnd), 0);

		if (n != (ssize_t)sizeof(rnd)) {
			fd = n < 0 ? -errno : -EIO;
			break;
		}
		for (size_t i = 0; i < TMP_SUFFIX_LEN; i++)
			suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
		suffix[TMP_SUFFIX_LEN] = '\0';

		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		free(name);
	else
		*name_out = name;
	return fd;
}

int outfile__check(const char *path, bool overwrite)
{
	const char *base;
	struct stat st;
	char *dir, *probe;
	int dirfd, fd, err;

	err = path_split(path, &dir, &base);
	if (err)
		return err;

	dirfd = dir_open(dir);
	if (dirfd < 0) {
		err = dirfd;
		goto out_free_dir;
	}
	if (base_is_dir(base)) {
		err = -EISDIR;
		goto out_close_dir;
	}

	/*
	 * Any entry under the name counts as existing (a dangling symlink too:
	 * the final rename would replace it); its kind is judged by what a
	 * symlink points to.
	 */
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		struct stat target;

		if (S_ISLNK(st.st_mode) && fstatat(dirfd, base, &target, 0) == 0)
			st = target;
		if (S_ISDIR(st.st_mode)) {
			err = -EISDIR;
			goto out_close_dir;
		}
		if (!overwrite) {
			err = -EEXIST;
			goto out_close_dir;
		}
		/* Renaming over a device, fifo or socket is never what was meant. */
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			err = -EINVAL;
			goto out_close_dir;
		}
	} else if (errno != ENOENT) {
		err = -errno;
		goto out_close_dir;
	}

	if (faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		err = -errno;
		goto out_close_dir;
	}
	/* root passes permission checks: a real create catches read-only mounts. */
	fd = tmp_create(dirfd, base, &probe);
	if (fd < 0) {
		err = fd;
		goto out_close_dir;
	}
	close(fd);
	if (unlinkat(dirfd, probe, 0) < 0)
		err = -errno;
	free(probe);

out_close_dir:
	close(dirfd);
out_free_dir:
	free(dir);
	return err;
}

struct outfile *outfile__open(const char *path, bool overwrite)
{
	struct outfile *f;
	const char *base;
	struct stat st;
	char *dir;
	int err;

	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->overwrite = overwrite;
	f->fd = -1;

	err = path_split(path, &dir, &base);
	if (err)
		goto out_free_f;
	if (base_is_dir(base)) {
		err = -EISDIR;
		goto out_free_dir;
	}
	f->base = strdup(base);
	if (!f->base) {
		err = -ENOMEM;
		goto out_free_dir;
	}
	f->dirfd = dir_open(dir);
	if (f->dirfd < 0) {
		err = f->dirfd;
		goto out_free_base;
	}
	/* No rename could ever put a file there: say so now, not at commit. */
	if (fstatat(f->dirfd, base, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out_close_dir;
	}
	f->fd = tmp_create(f->dirfd, base, &f->tmpname);
	if (f->fd < 0) {
		err = f->fd;
		goto out_close_dir;
	}
	free(dir);
	return f;

out_close_dir:
	close(f->dirfd);
out_free_base:
	free(f->base);
out_free_dir:
	free(dir);
out_free_f:
	free(f);
	errno = -err;
	return NULL;
}

int outfile__fd(const struct outfile *f)
{
	return f->fd;
}

/* Filesystem cannot do this kind of link/rename at all (as opposed to a real failure). */
static bool unsupported(int err)
{
	return err == EINVAL || err == ENOSYS || err == EPERM || err == EOPNOTSUPP ||
	       err == ENOTSUP;
}

/* Move the temp file to the final name without ever replacing an existing file. */
static int rename_noreplace(struct outfile *f)
{
	int fd;

	if (renameat2(f->dirfd, f->tmpname, f->dirfd, f->base, RENAME_NOREPLACE) == 0)
		return 0;
	if (!unsupported(errno))
		return -errno;

	if (linkat(f->dirfd, f->tmpname, f->dirfd, f->base, 0) == 0) {
		/* The data is in place; a stale temp name is only cosmetic. */
		unlinkat(f->dirfd, f->tmpname, 0);
		return 0;
	}
	if (!unsupported(errno))
		return -errno;

	fd = openat(f->dirfd, f->base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	close(fd);
	if (renameat(f->dirfd, f->tmpname, f->dirfd, f->base) < 0) {
		int err = -errno;

		unlinkat(f->dirfd, f->base, 0);
		return err;
	}
	return 0;
}

int outfile__commit(struct outfile *f)
{
	int fd = f->fd, err = 0;

	f->fd = -1;
	if (fsync(fd) < 0) {
		err = -errno;
		close(fd);
		goto out_abort;
	}
	if (close(fd) < 0) {
		err = -errno;
		goto out_abort;
	}

	if (f->overwrite) {
		if (renameat(f->dirfd, f->tmpname, f->dirfd, f->base) < 0)
			err = -errno;
	} else {
		err = rename_noreplace(f);
	}
	if (err)
		goto out_abort;

	/* The file is in place now; a failure here means it may not survive a crash. */
	if (fsync(f->dirfd) < 0)
		err = -errno;
	free(f->tmpname);
	f->tmpname = NULL;
out_abort:
	outfile__abort(f);
	return err;
}

void outfile__abort(struct outfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmpname)
		unlinkat(f->dirfd, f->tmpname, 0);
	close(f->dirfd);
	free(f->tmpname);
	free(f->base);
	free(f);
}
