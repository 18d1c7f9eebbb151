// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the daemon output directory (user/outdir.c): names that sort
 * by time, uniqueness, retention by count and by bytes, files that are not
 * ours, stale temporary files, and the failures (missing, read-only and full
 * directory) that must leave nothing behind. Each test has its own directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "outdir.h"
#include "profile.h"
#include "writer.h"
#include "test.h"

/* 2024-01-02T03:04:05Z */
#define T0_NS (1704164645LL * 1000000000LL)
#define SEC_NS 1000000000LL

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
	strcpy(d->path, "/tmp/test_outdir.XXXXXX");
	if (!mkdtemp(d->path)) {
		perror("mkdtemp");
		exit(1);
	}
}

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

static char *join(const char *dir, const char *name)
{
	static char buf[4][512];
	static int next;
	char *out = buf[next++ % 4];

	snprintf(out, sizeof(buf[0]), "%s/%s", dir, name);
	return out;
}

static void touch(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, (off_t)size) == 0);
		close(fd);
	}
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Names in the directory, sorted, joined by ' '. Caller frees. */
static char *listing(const char *path)
{
	struct dirent **list;
	size_t cap = 1, len = 0;
	char *out;
	int n = scandir(path, &list, NULL, alphasort);

	if (n < 0)
		return strdup("<error>");
	for (int i = 0; i < n; i++)
		cap += strlen(list[i]->d_name) + 1;
	out = calloc(1, cap);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;

		if (out && strcmp(name, ".") && strcmp(name, "..")) {
			len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", name);
		}
		free(list[i]);
	}
	free(list);
	return out;
}

static int count_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	int n = 0;

	while (dir && (e = readdir(dir)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (dir)
		closedir(dir);
	return n;
}

/*
 * A profile with `nframes` distinct functions, named from a seeded
 * pseudo-random sequence so that large ones do not compress well.
 */
static struct profile *make_profile(size_t nframes, unsigned int seed)
{
	struct profile_meta meta = {
	    .period_ns = 10101010, .time_ns = T0_NS, .duration_ns = 60 * SEC_NS};
	struct profile_labels labels = {
	    .pid = 42, .tid = 42, .comm = "python3", .thread_name = "MainThread"};
	struct profile *p = profile__new(&meta);
	uint64_t x = seed * 2654435761u + 1;

	if (!p)
		return NULL;
	for (size_t i = 0; i < nframes; i++) {
		char name[48], file[48];
		struct profile_frame f;

		for (size_t k = 0; k < sizeof(name) - 1; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			name[k] = (char)('A' + x % 58);
		}
		name[sizeof(name) - 1] = '\0';
		snprintf(file, sizeof(file), "/srv/app/mod%zu.py", i);
		f = (struct profile_frame){
		    .name = name, .file = file, .line = (int64_t)i + 2, .start_line = 1};
		if (profile__add(p, &labels, &f, 1, i + 1)) {
			profile__free(p);
			return NULL;
		}
	}
	return p;
}

/* The file is a gzip stream that inflates to a non-empty buffer starting
 * with a protobuf sample_type field (field 1, length-delimited). */
static bool looks_like_pprof(const char *path)
{
	gzFile gz = gzopen(path, "rb");
	unsigned char buf[64];
	int n;

	if (!gz)
		return false;
	n = gzread(gz, buf, sizeof(buf));
	gzclose(gz);
	return n > 2 && buf[0] == 0x0a;
}

static struct outdir *open_dir(const char *dir, const char *host, uint64_t max_files,
			       uint64_t max_bytes)
{
	struct outdir_opts o = {
	    .dir = dir, .host = host, .max_files = max_files, .max_bytes = max_bytes};
	struct outdir *d = outdir__new(&o);

	CHECK(d != NULL);
	return d;
}

static void test_names_sort_by_time(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(3, 1);
	struct outdir *d;
	char path[512], *list;
	char expect[1024];

	tmpdir_make(&t);
	d = open_dir(t.path, "web 01/a_b", 0, 0);
	if (!d || !p)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + SEC_NS / 2, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-web-01-a-b-20240102T030405Z-0000.pb.gz"));
	CHECK(looks_like_pprof(path));
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 2 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-web-01-a-b-20240102T030407Z-0000.pb.gz"));
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 61 * SEC_NS, NULL, 0), 0);
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 3600 * SEC_NS * 24 * 40, NULL, 0), 0);
	list = listing(t.path);
	snprintf(expect, sizeof(expect), "%s %s %s %s",
		 "pybpf-web-01-a-b-20240102T030405Z-0000.pb.gz",
		 "pybpf-web-01-a-b-20240102T030407Z-0000.pb.gz",
		 "pybpf-web-01-a-b-20240102T030506Z-0000.pb.gz",
		 "pybpf-web-01-a-b-20240211T030405Z-0000.pb.gz");
	CHECK_EQ_STR(list, expect);
	free(list);
	outdir__free(d);

	/* no host at all still gives a well-formed name */
	d = open_dir(t.path, "", 0, 0);
	if (d) {
		CHECK_EQ_INT(outdir__write(d, p, T0_NS, path, sizeof(path)), 0);
		CHECK_EQ_STR(path, join(t.path, "pybpf-unknown-20240102T030405Z-0000.pb.gz"));
	}
out:
	outdir__free(d);
	outdir__free(NULL);
	profile__free(p);
	tmpdir_remove(&t);
}

/*
 * Two writes with the clock an hour behind the newest name in `dir`,
 * pybpf-h-20240102T030407Z-0000: they follow it, seq 1 and 2.
 */
static void write_an_hour_back(struct outdir *d, const struct profile *p, const char *dir)
{
	char path[512];

	CHECK_EQ_INT(outdir__write(d, p, T0_NS - 3600 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(dir, "pybpf-h-20240102T030407Z-0001.pb.gz"));
	CHECK_EQ_INT(outdir__write(d, p, T0_NS - 3599 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(dir, "pybpf-h-20240102T030407Z-0002.pb.gz"));
}

/*
 * The wall clock stepped back an hour between writes: the next names follow
 * the last one (same stamp, next seq) so that they still sort in write
 * order, and retention deletes the oldest intervals written, not the newest.
 */
static void test_clock_stepped_back(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(3, 1);
	struct outdir *d;
	char path[512], *list, expect[1024];

	tmpdir_make(&t);
	d = open_dir(t.path, "h", 3, 0);
	if (!d || !p)
		goto out;
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * SEC_NS, NULL, 0), 0);
	write_an_hour_back(d, p, t.path);
	list = listing(t.path);
	snprintf(expect, sizeof(expect), "%s %s %s", "pybpf-h-20240102T030407Z-0000.pb.gz",
		 "pybpf-h-20240102T030407Z-0001.pb.gz", "pybpf-h-20240102T030407Z-0002.pb.gz");
	CHECK_EQ_STR(list, expect);
	free(list);
	/* Once the clock passes the last name again, names are its own. */
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 10 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030415Z-0000.pb.gz"));
out:
	outdir__free(d);
	profile__free(p);
	tmpdir_remove(&t);
}

/*
 * A new agent (a new outdir on the same directory) started after the clock
 * stepped back: its names follow the newest name already there, so they
 * sort after the older files and retention deletes those, not the new ones.
 * Names of another host do not count; a seq at its limit moves the stamp
 * one second on.
 */
static void test_restart_after_clock_stepped_back(void)
{
	struct tmpdir t, t2;
	struct profile *p = make_profile(3, 1);
	struct outdir *d = NULL;
	char path[512], *list, expect[1024];

	tmpdir_make(&t);
	tmpdir_make(&t2);
	if (!p)
		goto out;
	d = open_dir(t.path, "h", 3, 0);
	for (int i = 0; d && i < 3; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * SEC_NS, NULL, 0), 0);
	outdir__free(d);
	touch(join(t.path, "pybpf-other-20991231T000000Z-0000.pb.gz"), 10);

	d = open_dir(t.path, "h", 3, 0);
	if (!d)
		goto out;
	write_an_hour_back(d, p, t.path);
	list = listing(t.path);
	snprintf(expect, sizeof(expect), "%s %s %s %s", "pybpf-h-20240102T030407Z-0000.pb.gz",
		 "pybpf-h-20240102T030407Z-0001.pb.gz", "pybpf-h-20240102T030407Z-0002.pb.gz",
		 "pybpf-other-20991231T000000Z-0000.pb.gz");
	CHECK_EQ_STR(list, expect);
	free(list);
	/* Once the clock passes the newest name, names are its own again. */
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 10 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030415Z-0000.pb.gz"));
	outdir__free(d);
	/* A restart with the clock ahead of every name: the clock's own stamp. */
	d = open_dir(t.path, "h", 3, 0);
	if (!d)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 20 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030425Z-0000.pb.gz"));
	outdir__free(d);

	touch(join(t2.path, "pybpf-h-20240102T030500Z-9999.pb.gz"), 10);
	d = open_dir(t2.path, "h", 0, 0);
	if (!d)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t2.path, "pybpf-h-20240102T030501Z-0000.pb.gz"));
out:
	outdir__free(d);
	profile__free(p);
	tmpdir_remove(&t);
	tmpdir_remove(&t2);
}

static void test_unique_within_second(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(2, 2);
	struct outdir *d, *d2;
	char path[512], *list;

	tmpdir_make(&t);
	d = open_dir(t.path, "h", 0, 0);
	d2 = open_dir(t.path, "h", 0, 0);
	if (!d || !d2 || !p)
		goto out;
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * 1000, NULL, 0), 0);
	/* a restarted agent (new handle) in the same second does not collide */
	CHECK_EQ_INT(outdir__write(d2, p, T0_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030405Z-0003.pb.gz"));
	list = listing(t.path);
	CHECK_EQ_STR(list,
		     "pybpf-h-20240102T030405Z-0000.pb.gz pybpf-h-20240102T030405Z-0001.pb.gz "
		     "pybpf-h-20240102T030405Z-0002.pb.gz pybpf-h-20240102T030405Z-0003.pb.gz");
	free(list);
	/* the next second starts again at 0 */
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030406Z-0000.pb.gz"));
	/* a short path buffer is cut, not overrun */
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + SEC_NS, path, 8), 0);
	CHECK_EQ_INT(strlen(path), 7);
out:
	outdir__free(d);
	outdir__free(d2);
	profile__free(p);
	tmpdir_remove(&t);
}

/* Files that look almost like ours: never counted, never deleted. */
static const char *const foreign[] = {
    "pybpf-other-20200101T000000Z-0000.pb.gz",
    "pybpf-h-2-20200101T000000Z-0000.pb.gz", /* host "h-2", not "h" */
    "pybpf-h-20200101T000000Z-0000.pb.gz.bak",
    "pybpf-h-20200101T000000Z-00.pb.gz",
    "pybpf-h-2020010XT000000Z-0000.pb.gz",
    "xpybpf-h-20200101T000000Z-0000.pb.gz",
    "notes.txt",
};

static void test_retention_count(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(4, 3);
	struct outdir *d, *d2 = NULL;
	char *list, path[512];

	tmpdir_make(&t);
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		touch(join(t.path, foreign[i]), 100000);
	/* an old one of ours, as a symlink: not a file of ours to delete */
	CHECK(symlink("notes.txt", join(t.path, "pybpf-h-20100101T000000Z-0000.pb.gz")) == 0);
	d = open_dir(t.path, "h", 3, 0);
	if (!d || !p)
		goto out;
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * 60 * SEC_NS, path, sizeof(path)), 0);
	list = listing(t.path);
	CHECK(strstr(list, "pybpf-h-20240102T030405Z-0000.pb.gz") == NULL);
	CHECK(strstr(list, "pybpf-h-20240102T030505Z-0000.pb.gz") == NULL);
	CHECK(strstr(list, "pybpf-h-20240102T030605Z-0000.pb.gz") != NULL);
	CHECK(strstr(list, "pybpf-h-20240102T030705Z-0000.pb.gz") != NULL);
	CHECK(strstr(list, "pybpf-h-20240102T030805Z-0000.pb.gz") != NULL);
	free(list);
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		CHECK(exists(join(t.path, foreign[i])));
	CHECK(exists(join(t.path, "pybpf-h-20100101T000000Z-0000.pb.gz")));
	CHECK_EQ_INT(count_entries(t.path), 3 + 1 + (int)(sizeof(foreign) / sizeof(foreign[0])));

	/*
	 * The file just written is kept even when it is the oldest: a second
	 * agent on the directory wrote a newer one since this one's first write.
	 */
	outdir__free(d);
	d = open_dir(t.path, "h", 1, 0);
	d2 = open_dir(t.path, "h", 1, 0);
	if (!d || !d2)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 5 * 60 * SEC_NS, NULL, 0), 0);
	CHECK_EQ_INT(outdir__write(d2, p, T0_NS + 3600 * SEC_NS, NULL, 0), 0);
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 6 * 60 * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T031005Z-0000.pb.gz"));
	CHECK(exists(path));
	list = listing(t.path);
	CHECK(strstr(list, "pybpf-h-20240102T040405Z-0000.pb.gz") == NULL);
	free(list);
out:
	outdir__free(d);
	outdir__free(d2);
	profile__free(p);
	tmpdir_remove(&t);
}

static void test_retention_bytes(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(200, 4);
	struct outdir *d;
	char path[512], first[512];
	struct stat st;
	uint64_t size;

	tmpdir_make(&t);
	touch(join(t.path, foreign[0]), 1 << 20);
	/* measure one file */
	d = open_dir(t.path, "h", 0, 0);
	if (!d || !p)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS, first, sizeof(first)), 0);
	CHECK(stat(first, &st) == 0);
	size = (uint64_t)st.st_size;
	CHECK(size > 1000);
	outdir__free(d);

	/* room for two and a half: the two newest stay */
	d = open_dir(t.path, "h", 0, size * 5 / 2);
	if (!d)
		goto out;
	for (int i = 1; i <= 4; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * SEC_NS, path, sizeof(path)), 0);
	CHECK(!exists(first));
	CHECK(!exists(join(t.path, "pybpf-h-20240102T030406Z-0000.pb.gz")));
	CHECK(!exists(join(t.path, "pybpf-h-20240102T030407Z-0000.pb.gz")));
	CHECK(exists(join(t.path, "pybpf-h-20240102T030408Z-0000.pb.gz")));
	CHECK(exists(join(t.path, "pybpf-h-20240102T030409Z-0000.pb.gz")));
	CHECK(exists(join(t.path, foreign[0]))); /* 1 MiB, but not ours */
	outdir__free(d);

	/* a limit below one file: only the one just written survives */
	d = open_dir(t.path, "h", 10, 1);
	if (!d)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 10 * SEC_NS, path, sizeof(path)), 0);
	CHECK(exists(path));
	CHECK_EQ_INT(count_entries(t.path), 2);
out:
	outdir__free(d);
	profile__free(p);
	tmpdir_remove(&t);
}

static void set_age(const char *path, int seconds)
{
	struct timeval tv[2];

	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= seconds;
	tv[1] = tv[0];
	CHECK(utimes(path, tv) == 0);
}

static void test_stale_temp_files(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(2, 5);
	struct outdir *d;
	const char *stale = ".pybpf-h-20240102T030405Z-0000.pb.gz.AbC123";
	const char *fresh = ".pybpf-h-20240102T030406Z-0000.pb.gz.XyZ789";
	const char *other = ".pybpf-other-20240102T030405Z-0000.pb.gz.AbC123";
	const char *odd = ".pybpf-h-20240102T030405Z-0000.pb.gz.toolong1";

	tmpdir_make(&t);
	touch(join(t.path, stale), 10);
	touch(join(t.path, fresh), 10);
	touch(join(t.path, other), 10);
	touch(join(t.path, odd), 10);
	set_age(join(t.path, stale), 3600);
	set_age(join(t.path, other), 3600);
	set_age(join(t.path, odd), 3600);
	d = open_dir(t.path, "h", 0, 0);
	if (!d || !p)
		goto out;
	CHECK_EQ_INT(outdir__write(d, p, T0_NS + 100 * SEC_NS, NULL, 0), 0);
	CHECK(!exists(join(t.path, stale)));
	CHECK(exists(join(t.path, fresh))); /* may be another writer's, in progress */
	CHECK(exists(join(t.path, other)));
	CHECK(exists(join(t.path, odd)));
	CHECK_EQ_INT(count_entries(t.path), 4);
out:
	outdir__free(d);
	profile__free(p);
	tmpdir_remove(&t);
}

static void test_missing_dir(void)
{
	struct tmpdir t;
	struct profile *p = make_profile(2, 6);
	struct outdir *d;
	struct outdir_opts bad = {.dir = NULL};
	char path[512] = "untouched";

	tmpdir_make(&t);
	d = open_dir(join(t.path, "gone"), "h", 2, 0);
	if (d && p) {
		CHECK_EQ_INT(outdir__write(d, p, T0_NS, path, sizeof(path)), -ENOENT);
		CHECK_EQ_STR(path, "untouched");
		/* created later: the next interval is written */
		CHECK(mkdir(join(t.path, "gone"), 0755) == 0);
		CHECK_EQ_INT(outdir__write(d, p, T0_NS, path, sizeof(path)), 0);
		CHECK(exists(path));
		unlink(path);
		rmdir(join(t.path, "gone"));
	}
	outdir__free(d);
	errno = 0;
	CHECK(outdir__new(&bad) == NULL);
	CHECK_EQ_INT(errno, EINVAL);
	profile__free(p);
	tmpdir_remove(&t);
}

/*
 * The failure cases that need a mount of their own: run in a child with a
 * private mount namespace. Exit status: 0 pass, 1 fail, 2 not permitted here.
 */
static int private_tmpfs(const char *dir, const char *opts)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, opts) < 0)
		return -1;
	return 0;
}

static int readonly_child(const char *dir)
{
	struct profile *p = make_profile(3, 7);
	struct outdir *d;
	char path[512] = "";
	int fails = 0;

	if (!p || private_tmpfs(dir, "size=64k") < 0)
		return 2;
	touch(join(dir, "pybpf-h-20200101T000000Z-0000.pb.gz"), 10);
	if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return 2;
	d = open_dir(dir, "h", 0, 1); /* a limit the old file exceeds: deleting fails too */
	if (!d)
		return 1;
	fails += outdir__write(d, p, T0_NS, path, sizeof(path)) != -EROFS;
	fails += path[0] != '\0';
	fails += count_entries(dir) != 1;
	outdir__free(d);
	profile__free(p);
	return fails ? 1 : 0;
}

static int full_child(const char *dir)
{
	struct profile *big = make_profile(3000, 8), *small = make_profile(2, 9);
	struct outdir *d;
	char path[512] = "", *list;
	int fails = 0, err;

	if (!big || !small || private_tmpfs(dir, "size=64k") < 0)
		return 2;
	d = open_dir(dir, "h", 0, 0);
	if (!d)
		return 1;
	err = outdir__write(d, big, T0_NS, path, sizeof(path));
	if (err != -ENOSPC) {
		fprintf(stderr, "full: write gave %d, not -ENOSPC\n", err);
		fails++;
	}
	list = listing(dir);
	if (!list || *list) {
		fprintf(stderr, "full: left behind: \"%s\"\n", list ? list : "?");
		fails++;
	}
	free(list);
	/* a profile that fits still goes through afterwards */
	fails += outdir__write(d, small, T0_NS + SEC_NS, path, sizeof(path)) != 0;
	fails += !looks_like_pprof(path);
	fails += count_entries(dir) != 1;
	outdir__free(d);
	profile__free(big);
	profile__free(small);
	return fails ? 1 : 0;
}

static void run_child(int (*fn)(const char *), const char *what)
{
	struct tmpdir t;
	int status = -1;
	pid_t child;

	if (geteuid() != 0) {
		fprintf(stderr, "note: not root, %s case skipped\n", what);
		return;
	}
	tmpdir_make(&t);
	child = fork();
	if (child == 0)
		_exit(fn(t.path));
	CHECK(child > 0 && waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		fprintf(stderr, "note: private tmpfs not permitted here, %s case skipped\n", what);
	else
		CHECK_EQ_INT(WEXITSTATUS(status), 0);
	CHECK_EQ_INT(count_entries(t.path), 0); /* the mount was the child's alone */
	tmpdir_remove(&t);
}

static void test_readonly_dir(void)
{
	run_child(readonly_child, "read-only");
}

static void test_disk_full(void)
{
	run_child(full_child, "disk-full");
}

/* Another format: its suffix, its content, and retention that counts only
 * files of that format (pprof files of the same host are left alone). */
static void test_format_suffix(void)
{
	struct writer_opts w = {.format = FORMAT_SVG};
	struct outdir_opts o = {.max_files = 2, .write = &w};
	struct tmpdir t;
	struct profile *p = make_profile(3, 2);
	struct outdir *d;
	char path[512], head[6] = "", *list;
	FILE *f;

	tmpdir_make(&t);
	o.dir = t.path;
	o.host = "h";
	touch(join(t.path, "pybpf-h-20200101T000000Z-0000.pb.gz"), 1000);
	d = outdir__new(&o);
	CHECK(d != NULL);
	if (!d || !p)
		goto out;
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(outdir__write(d, p, T0_NS + i * SEC_NS, path, sizeof(path)), 0);
	CHECK_EQ_STR(path, join(t.path, "pybpf-h-20240102T030407Z-0000.svg"));
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fread(head, 1, 5, f) == 5);
		fclose(f);
	}
	CHECK_EQ_STR(head, "<?xml");
	list = listing(t.path);
	CHECK_EQ_STR(list, "pybpf-h-20200101T000000Z-0000.pb.gz pybpf-h-20240102T030406Z-0000.svg "
			   "pybpf-h-20240102T030407Z-0000.svg");
	free(list);
out:
	outdir__free(d);
	profile__free(p);
	tmpdir_remove(&t);
}

TEST_MAIN(TEST(test_names_sort_by_time), TEST(test_format_suffix), TEST(test_unique_within_second),
	  TEST(test_clock_stepped_back), TEST(test_restart_after_clock_stepped_back),
	  TEST(test_retention_count), TEST(test_retention_bytes), TEST(test_stale_temp_files),
	  TEST(test_missing_dir), TEST(test_readonly_dir), TEST(test_disk_full))
