// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for atomic output files (user/outfile.c). Each test uses its own temp directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outfile.h"
#include "test.h"

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
	strcpy(d->path, "/tmp/test_outfile.XXXXXX");
	if (!mkdtemp(d->path)) {
		perror("mkdtemp");
		exit(1);
	}
}

/* Remove the directory and the plain files in it. */
static void tmpdir_remove(struct tmpdir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dir), e->d_name, 0);
	}
	if (dir)
		closedir(dir);
	rmdir(d->path);
}

static char *join(const struct tmpdir *d, const char *name)
{
	static char buf[4][512];
	static int next;
	char *out = buf[next++ % 4];

	snprintf(out, sizeof(buf[0]), "%s/%s", d->path, name);
	return out;
}

/* Number of entries in the directory; *hidden counts those starting with '.'. */
static int count_entries(const char *path, int *hidden)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	int n = 0;

	*hidden = 0;
	while (dir && (e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (e->d_name[0] == '.')
			(*hidden)++;
	}
	if (dir)
		closedir(dir);
	return n;
}

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, content, strlen(content)), (long long)strlen(content));
	close(fd);
}

/* The whole file as a string, or NULL. Caller frees. */
static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *buf = calloc(1, 4096);
	ssize_t n;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	n = read(fd, buf, 4095);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool write_str(struct outfile *f, const char *s)
{
	return write(outfile__fd(f), s, strlen(s)) == (ssize_t)strlen(s);
}

static void test_commit_atomic(void)
{
	struct tmpdir d;
	const char *path;
	struct outfile *f;
	struct stat st;
	mode_t old_umask = umask(022);
	char *content;
	int hidden;

	tmpdir_make(&d);
	path = join(&d, "profile.pb.gz");
	CHECK_EQ_INT(outfile__check(path, false), 0);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 0); /* the probe is gone */

	f = outfile__open(path, false);
	CHECK(f != NULL);
	if (!f)
		goto out;
	/* only the temp file exists until commit */
	CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
	CHECK_EQ_INT(hidden, 1);
	CHECK(access(path, F_OK) != 0);
	CHECK(write_str(f, "hello"));
	CHECK(access(path, F_OK) != 0);

	CHECK_EQ_INT(outfile__commit(f), 0);
	content = read_file(path);
	CHECK_EQ_STR(content, "hello");
	free(content);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
	CHECK_EQ_INT(hidden, 0);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0644);
out:
	umask(old_umask);
	tmpdir_remove(&d);
}

static void test_refuse_overwrite(void)
{
	struct tmpdir d;
	const char *path;
	struct outfile *f;
	char *content;
	int hidden;

	tmpdir_make(&d);
	path = join(&d, "out");
	write_file(path, "old");
	CHECK_EQ_INT(outfile__check(path, false), -EEXIST);

	/* a file that shows up after the check is not replaced either */
	f = outfile__open(path, false);
	CHECK(f != NULL);
	if (f) {
		CHECK(write_str(f, "new"));
		CHECK_EQ_INT(outfile__commit(f), -EEXIST);
	}
	content = read_file(path);
	CHECK_EQ_STR(content, "old");
	free(content);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
	CHECK_EQ_INT(hidden, 0);

	/* a dangling symlink is an existing entry too */
	CHECK(symlink("nowhere", join(&d, "link")) == 0);
	CHECK_EQ_INT(outfile__check(join(&d, "link"), false), -EEXIST);
	tmpdir_remove(&d);
}

static void test_overwrite_forced(void)
{
	struct tmpdir d;
	const char *path;
	struct outfile *f;
	char *content;
	int hidden;

	tmpdir_make(&d);
	path = join(&d, "out");
	write_file(path, "old content");
	CHECK_EQ_INT(outfile__check(path, true), 0);
	f = outfile__open(path, true);
	CHECK(f != NULL);
	if (f) {
		CHECK(write_str(f, "new"));
		CHECK_EQ_INT(outfile__commit(f), 0);
	}
	content = read_file(path);
	CHECK_EQ_STR(content, "new");
	free(content);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
	CHECK_EQ_INT(hidden, 0);

	/* never rename over a device, even when forced */
	CHECK_EQ_INT(outfile__check("/dev/null", true), -EINVAL);
	CHECK_EQ_INT(outfile__check("/dev/null", false), -EEXIST);
	tmpdir_remove(&d);
}

static void test_missing_dir(void)
{
	struct tmpdir d;
	struct outfile *f;

	tmpdir_make(&d);
	CHECK_EQ_INT(outfile__check(join(&d, "no/such/dir/out"), false), -ENOENT);
	CHECK_EQ_INT(outfile__check(join(&d, "no/out"), true), -ENOENT);
	errno = 0;
	f = outfile__open(join(&d, "no/out"), false);
	CHECK(f == NULL);
	CHECK_EQ_INT(errno, ENOENT);
	CHECK_EQ_INT(outfile__check("", false), -ENOENT);

	/* a path component that is a file */
	write_file(join(&d, "file"), "x");
	CHECK_EQ_INT(outfile__check(join(&d, "file/out"), false), -ENOTDIR);
	tmpdir_remove(&d);
}

static void test_dir_as_path(void)
{
	struct tmpdir d;
	char slash[128];
	struct outfile *f;
	int hidden;

	tmpdir_make(&d);
	CHECK(mkdir(join(&d, "sub"), 0755) == 0);
	CHECK_EQ_INT(outfile__check(join(&d, "sub"), false), -EISDIR);
	CHECK_EQ_INT(outfile__check(join(&d, "sub"), true), -EISDIR);
	snprintf(slash, sizeof(slash), "%s/", d.path);
	CHECK_EQ_INT(outfile__check(slash, true), -EISDIR);
	CHECK_EQ_INT(outfile__check(join(&d, "."), true), -EISDIR);
	CHECK_EQ_INT(outfile__check("/", true), -EISDIR);
	/* through a symlink to a directory */
	CHECK(symlink("sub", join(&d, "link")) == 0);
	CHECK_EQ_INT(outfile__check(join(&d, "link"), true), -EISDIR);

	errno = 0;
	f = outfile__open(join(&d, "sub"), true);
	CHECK(f == NULL);
	CHECK_EQ_INT(errno, EISDIR);
	errno = 0;
	f = outfile__open(slash, true);
	CHECK(f == NULL);
	CHECK_EQ_INT(errno, EISDIR);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 2);
	CHECK_EQ_INT(hidden, 0);
	unlink(join(&d, "link"));
	rmdir(join(&d, "sub"));
	tmpdir_remove(&d);
}

/*
 * Read-only directory. As root, permission bits do not stop writes, so the
 * test mounts a read-only tmpfs in a private mount namespace (skipped if
 * that is not allowed); otherwise a 0555 directory must give -EACCES.
 * Exit status of the child: 0 pass, 1 fail, 2 skipped.
 */
static int readonly_child(const char *dir)
{
	char path[512], existing[512];
	struct outfile *f;
	int fails = 0;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
		return 2;
	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(existing, sizeof(existing), "%s/existing", dir);
	if (close(open(existing, O_WRONLY | O_CREAT, 0644)) < 0 ||
	    mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return 2;

	fails += outfile__check(path, false) != -EROFS;
	fails += outfile__check(path, true) != -EROFS;
	fails += outfile__check(existing, true) != -EROFS;
	fails += outfile__check(existing, false) != -EEXIST;
	errno = 0;
	f = outfile__open(path, false);
	fails += f != NULL || errno != EROFS;
	outfile__abort(f);
	return fails ? 1 : 0;
}

static void test_readonly_dir(void)
{
	struct tmpdir d;
	int status = -1;
	pid_t child;

	tmpdir_make(&d);
	if (geteuid() != 0) {
		CHECK(chmod(d.path, 0555) == 0);
		CHECK_EQ_INT(outfile__check(join(&d, "out"), false), -EACCES);
		CHECK(outfile__open(join(&d, "out"), false) == NULL);
		CHECK_EQ_INT(errno, EACCES);
		chmod(d.path, 0755);
		tmpdir_remove(&d);
		return;
	}
	child = fork();
	if (child == 0)
		_exit(readonly_child(d.path));
	CHECK(child > 0 && waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		fprintf(stderr, "note: read-only mount not permitted here, EROFS case skipped\n");
	else
		CHECK_EQ_INT(WEXITSTATUS(status), 0);
	tmpdir_remove(&d);
}

static void test_abort(void)
{
	struct tmpdir d;
	struct outfile *f;
	int hidden;

	tmpdir_make(&d);
	f = outfile__open(join(&d, "out"), false);
	CHECK(f != NULL);
	if (f) {
		CHECK(write_str(f, "partial"));
		CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
		outfile__abort(f);
	}
	CHECK_EQ_INT(count_entries(d.path, &hidden), 0);
	outfile__abort(NULL);

	/* a failed commit leaves nothing behind either */
	write_file(join(&d, "out"), "old");
	f = outfile__open(join(&d, "out"), false);
	if (f)
		CHECK_EQ_INT(outfile__commit(f), -EEXIST);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 1);
	CHECK_EQ_INT(hidden, 0);
	tmpdir_remove(&d);
}

/* Relative paths, and names too long to prefix and suffix as they are. */
static void test_names(void)
{
	struct tmpdir d;
	char cwd[512], longname[256];
	struct outfile *f;
	char *content;
	int hidden;

	tmpdir_make(&d);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(d.path) == 0);
	CHECK_EQ_INT(outfile__check("rel.txt", false), 0);
	f = outfile__open("rel.txt", false);
	CHECK(f != NULL);
	if (f) {
		CHECK(write_str(f, "r"));
		CHECK_EQ_INT(outfile__commit(f), 0);
	}
	CHECK(chdir(cwd) == 0);
	content = read_file(join(&d, "rel.txt"));
	CHECK_EQ_STR(content, "r");
	free(content);

	memset(longname, 'n', 255);
	longname[255] = '\0';
	CHECK_EQ_INT(outfile__check(join(&d, longname), false), 0);
	f = outfile__open(join(&d, longname), false);
	CHECK(f != NULL);
	if (f) {
		CHECK(write_str(f, "long"));
		CHECK_EQ_INT(outfile__commit(f), 0);
	}
	content = read_file(join(&d, longname));
	CHECK_EQ_STR(content, "long");
	free(content);
	CHECK_EQ_INT(count_entries(d.path, &hidden), 2);
	CHECK_EQ_INT(hidden, 0);
	tmpdir_remove(&d);
}

TEST_MAIN(TEST(test_commit_atomic), TEST(test_refuse_overwrite), TEST(test_overwrite_forced),
	  TEST(test_missing_dir), TEST(test_dir_as_path), TEST(test_readonly_dir), TEST(test_abort),
	  TEST(test_names))
