// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Daemon output directory.
 *
 * File names are "pybpf-<host>-<YYYYmmddTHHMMSS>Z-<seq><suffix>" (the
 * format's suffix, ".pb.gz" for pprof) with a
 * zero-padded seq, so plain byte order of the names is time order. seq
 * restarts at 0 for every new second; a name that is already taken (a
 * restarted agent writing within the same second) moves on to the next seq.
 *
 * Ownership is decided by the exact shape of the name, not by a prefix:
 * with host "web" the files of host "web-2" in the same directory
 * ("pybpf-web-2-...") are not ours. Temporary files of outfile.h are
 * ".<final name>.XXXXXX"; those of ours older than STALE_TMP_S are left
 * over by a crash and are removed.
 *
 * Retention runs after each write and is best effort: a file that cannot
 * be deleted now is tried again at the next write.
 *
 * Names never go back in time: when the wall clock is stepped backwards,
 * the next names keep the last stamp used (seq goes on; one second more when
 * seq would run out of its digits), so that byte order stays write order and
 * retention still deletes the oldest intervals, not the newest. "The last
 * stamp used" includes the files a previous agent left: before its first
 * write an outdir takes the newest of our names already in the directory as
 * its last one, so an agent restarted after a backward step does not name
 * files that sort before the older ones (and see them deleted first). The
 * name's stamp is thus the UTC start of the interval, or, while the clock is
 * behind the newest name in the directory, that name's stamp. The profile
 * itself keeps the clock's own start time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outdir.h"
#include "outfile.h"
#include "writer.h"

#define NAME_PREFIX "pybpf-"
#define STAMP_LEN 16 /* YYYYmmddTHHMMSSZ */
#define SEQ_DIGITS 4
#define HOST_MAX 64
#define NAME_ATTEMPTS 64
#define STALE_TMP_S 300
#define TMP_RANDOM_LEN 6 /* outfile.c's ".<base>.XXXXXX" */
#define SEQ_LIMIT 10000	 /* 10^SEQ_DIGITS: a larger seq would no longer sort */

struct outdir {
	char *dir;
	char host[HOST_MAX + 1];
	uint64_t max_files;
	uint64_t max_bytes;
	char last_stamp[STAMP_LEN + 1];
	int64_t last_sec;      /* the second last_stamp names; valid when last_stamp[0] */
	unsigned int next_seq; /* first seq to try for last_stamp */
	bool seeded;	       /* the directory's newest name has been read */
	struct writer_opts write;
	const char *suffix; /* the format's, e.g. ".pb.gz" */
};

struct entry {
	char *name;
	uint64_t size;
};

/* Keep [A-Za-z0-9.-]; anything else becomes '-'. Never empty. */
static void host_sanitize(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; in && in[n] && n + 1 < outlen; n++) {
		char c = in[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-';

		out[n] = ok ? c : '-';
	}
	out[n] = '\0';
	if (!n)
		snprintf(out, outlen, "unknown");
}

struct outdir *outdir__new(const struct outdir_opts *opts)
{
	struct outdir *d;

	if (!opts || !opts->dir || !*opts->dir) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dir = strdup(opts->dir);
	if (!d->dir) {
		free(d);
		return NULL;
	}
	host_sanitize(opts->host, d->host, sizeof(d->host));
	d->max_files = opts->max_files;
	d->max_bytes = opts->max_bytes;
	if (opts->write)
		d->write = *opts->write;
	d->suffix = writer__suffix(d->write.format);
	return d;
}

void outdir__free(struct outdir *d)
{
	if (!d)
		return;
	free(d->dir);
	free(d);
}

/* The UTC second holding ns (rounded down). */
static int64_t ns_to_sec(int64_t ns)
{
	int64_t sec = ns / 1000000000;

	if (ns % 1000000000 < 0)
		sec--;
	return sec;
}

/* "YYYYmmddTHHMMSSZ" of a UTC second. */
static int stamp_format(int64_t sec, char out[STAMP_LEN + 1])
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, STAMP_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != STAMP_LEN)
		return -EOVERFLOW;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

/*
 * Length of our final name at the start of s ("pybpf-<host>-<stamp>-<seq>.pb.gz"),
 * or 0 if s does not start with one.
 */
static size_t our_name_len(const struct outdir *d, const char *s)
{
	size_t hlen = strlen(d->host), plen = strlen(NAME_PREFIX), i, digits;
	const char *p = s, *stamp;

	if (strncmp(p, NAME_PREFIX, plen) || strncmp(p + plen, d->host, hlen) ||
	    p[plen + hlen] != '-')
		return 0;
	stamp = p + plen + hlen + 1;
	if (strnlen(stamp, STAMP_LEN) < STAMP_LEN || !all_digits(stamp, 8) || stamp[8] != 'T' ||
	    !all_digits(stamp + 9, 6) || stamp[15] != 'Z' || stamp[16] != '-')
		return 0;
	p = stamp + STAMP_LEN + 1;
	for (digits = 0; p[digits] >= '0' && p[digits] <= '9'; digits++)
		;
	if (digits < SEQ_DIGITS || strncmp(p + digits, d->suffix, strlen(d->suffix)))
		return 0;
	i = (size_t)(p - s) + digits + strlen(d->suffix);
	return i;
}

static bool is_our_file(const struct outdir *d, const char *name)
{
	size_t n = our_name_len(d, name);

	return n && name[n] == '\0';
}

/* outfile.c's temporary name for one of our files: ".<our name>.XXXXXX". */
static bool is_our_tmp(const struct outdir *d, const char *name)
{
	size_t n;

	if (name[0] != '.')
		return false;
	n = our_name_len(d, name + 1);
	return n && name[1 + n] == '.' && strlen(name + 2 + n) == TMP_RANDOM_LEN;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * List our files (sorted by name, i.e. by time) and remove our stale
 * temporary files on the way. 0 or -errno.
 */
static int scan(const struct outdir *d, DIR *dir, struct entry **out, size_t *nout)
{
	struct entry *v = NULL, *grown;
	size_t n = 0, cap = 0;
	time_t now = time(NULL);
	struct dirent *e;
	struct stat st;
	int fd = dirfd(dir), err = 0;

	for (;;) {
		errno = 0;
		e = readdir(dir);
		if (!e) {
			err = errno ? -errno : 0;
			break;
		}
		if (is_our_tmp(d, e->d_name)) {
			if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && now - st.st_mtime > STALE_TMP_S)
				unlinkat(fd, e->d_name, 0);
			continue;
		}
		if (!is_our_file(d, e->d_name))
			continue;
		/* Gone meanwhile, or not a plain file: not ours to count or delete. */
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = reallocarray(v, cap, sizeof(*v));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			v = grown;
		}
		v[n].name = strdup(e->d_name);
		if (!v[n].name) {
			err = -ENOMEM;
			break;
		}
		v[n].size = (uint64_t)st.st_size;
		n++;
	}
	if (err) {
		entries_free(v, n);
		return err;
	}
	if (n)
		qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	*nout = n;
	return 0;
}

/* Delete the oldest of our files beyond the limits, never `keep`. 0 or -errno. */
static int retention(const struct outdir *d, const char *keep)
{
	struct entry *v = NULL;
	uint64_t files = 0, bytes = 0;
	size_t n = 0;
	DIR *dir;
	int err;

	dir = opendir(d->dir);
	if (!dir)
		return -errno;
	err = scan(d, dir, &v, &n);
	if (err)
		goto out_close_dir;

	for (size_t i = 0; i < n; i++) {
		files++;
		bytes += v[i].size;
	}
	for (size_t i = 0; i < n; i++) {
		bool over = (d->max_files && files > d->max_files) ||
			    (d->max_bytes && bytes > d->max_bytes);

		if (!over)
			break;
		if (keep && !strcmp(v[i].name, keep))
			continue;
		if (unlinkat(dirfd(dir), v[i].name, 0) < 0 && errno != ENOENT) {
			err = -errno;
			continue;
		}
		files--;
		bytes -= v[i].size;
	}
	entries_free(v, n);
out_close_dir:
	closedir(dir);
	return err;
}

/*
 * Take the newest of our names in the directory as the last one written, so
 * that no name of ours sorts before it. Once done (an empty directory
 * included), never again: from then on this outdir's own names are the
 * newest. A directory that cannot be read now is tried at the next write.
 */
static void seed_from_dir(struct outdir *d)
{
	size_t plen = strlen(NAME_PREFIX), hlen = strlen(d->host), n = 0;
	struct entry *v = NULL;
	const char *stamp;
	unsigned long seq;
	struct tm tm = {0};
	time_t sec;
	DIR *dir;

	dir = opendir(d->dir);
	if (!dir)
		return;
	if (scan(d, dir, &v, &n))
		goto out_close_dir;
	d->seeded = true;
	if (!n)
		goto out_free;
	/* our_name_len() checked the shape: stamp, '-', at least SEQ_DIGITS digits. */
	stamp = v[n - 1].name + plen + hlen + 1;
	if (!strptime(stamp, "%Y%m%dT%H%M%SZ", &tm))
		goto out_free;
	sec = timegm(&tm);
	seq = strtoul(stamp + STAMP_LEN + 1, NULL, 10);
	seq = seq < SEQ_LIMIT ? seq + 1 : SEQ_LIMIT;
	/* A stamp of ours from before (the directory was missing then) may be newer. */
	if (d->last_stamp[0] && (int64_t)sec < d->last_sec)
		goto out_free;
	if (d->last_stamp[0] && (int64_t)sec == d->last_sec && seq < d->next_seq)
		goto out_free;
	memcpy(d->last_stamp, stamp, STAMP_LEN);
	d->last_stamp[STAMP_LEN] = '\0';
	d->last_sec = (int64_t)sec;
	d->next_seq = (unsigned int)seq;
out_free:
	entries_free(v, n);
out_close_dir:
	closedir(dir);
}

/* Encode the profile into a new file under exactly `path`. 0 or -errno. */
static int write_one(const struct outdir *d, const char *path, const struct profile *p)
{
	struct outfile *f;
	int err;

	f = outfile__open(path, false);
	if (!f)
		return -errno;
	err = writer__write(&d->write, p, outfile__fd(f));
	if (err) {
		outfile__abort(f);
		return err;
	}
	return outfile__commit(f);
}

int outdir__write(struct outdir *d, const struct profile *p, int64_t start_ns, char *path,
		  size_t pathlen)
{
	char stamp[STAMP_LEN + 1], *full = NULL;
	const char *name = NULL;
	struct stat st;
	unsigned int seq;
	int64_t sec;
	int err, len;

	if (!d->seeded)
		seed_from_dir(d);
	sec = ns_to_sec(start_ns);
	if (d->last_stamp[0] && sec <= d->last_sec) {
		/* The same second, or the clock went back: after the last name. */
		sec = d->last_sec;
		if (d->next_seq + NAME_ATTEMPTS > SEQ_LIMIT)
			sec++;
	}
	err = stamp_format(sec, stamp);
	if (err)
		return err;
	if (strcmp(stamp, d->last_stamp)) {
		memcpy(d->last_stamp, stamp, sizeof(stamp));
		d->last_sec = sec;
		d->next_seq = 0;
	}

	err = -EEXIST;
	for (int attempt = 0; attempt < NAME_ATTEMPTS && err == -EEXIST; attempt++) {
		seq = d->next_seq++;
		free(full);
		len = asprintf(&full, "%s/" NAME_PREFIX "%s-%s-%0*u%s", d->dir, d->host, stamp,
			       SEQ_DIGITS, seq, d->suffix);
		if (len < 0) {
			full = NULL;
			err = -ENOMEM;
			break;
		}
		name = strrchr(full, '/') + 1;
		/* Cheap check first; the commit refuses to replace a late arrival anyway. */
		if (lstat(full, &st) == 0)
			continue;
		if (errno != ENOENT) {
			err = -errno;
			break;
		}
		err = write_one(d, full, p);
	}

	if (!err && path && pathlen)
		snprintf(path, pathlen, "%s", full);
	/* Also after a failed write: the limits may free the room that was missing. */
	if (err != -ENOENT && err != -ENOMEM)
		retention(d, err ? NULL : name);
	free(full);
	return err;
}
