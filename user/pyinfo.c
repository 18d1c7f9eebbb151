// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Find the CPython runtime of a process from the ELF files it maps.
 *
 * Candidates are the main executable, then every other regular file
 * mapped with an executable segment; the first that defines _PyRuntime
 * (symbol, or the .PyRuntime section of stripped builds) wins. Files are
 * read through /proc/PID/root so that other mount namespaces work, and
 * through /proc/PID/map_files when the file was deleted or replaced.
 *
 * Version, in order of trust:
 *   3.11+  Py_Version (PY_VERSION_HEX as a const unsigned long);
 *   3.13+  the _Py_DebugOffsets header at the start of _PyRuntime:
 *          "xdebugpy", u64 version, u64 free_threaded, runtime size...;
 *   older  the PY_VERSION string. On x86-64 it is found through the
 *          RIP-relative loads in Py_GetVersion() (the string is often
 *          tail-merged by the linker into a longer one, such as the build
 *          directory "/tmp/.../Python-3.8.18", so it need not start after
 *          a NUL); else by scanning .rodata.
 *
 * Errors: -ESRCH gone, -EACCES not allowed to look, -ENOEXEC no CPython
 * runtime, -ENOTSUP runtime found (binary and addresses filled in) but the
 * version could not be determined.
 */
#include "pyinfo.h"

#include "array.h"
#include "hashmap.h"

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elffile.h"
#include "procfs.h"

#define PYINFO_DELETED " (deleted)"
#define PYINFO_COOKIE "xdebugpy"
#define PYINFO_MIN_MINOR 7	      /* _PyRuntime appeared in 3.7 */
#define PYINFO_MAX_MINOR 30	      /* keeps e.g. SQLite's "3.40.1" out of string matches */
#define PYINFO_RODATA_MAX (64u << 20) /* larger .rodata is not scanned */
#define PYINFO_FUNC_MAX 1024u	      /* bytes of Py_GetVersion examined */
#define PYINFO_MAX_CANDIDATES 8

struct pyinfo_map {
	uint64_t start, end, offset;
	size_t file; /* index into pyinfo_scan.files */
};

struct pyinfo_file {
	char *path; /* as shown in maps */
	uint64_t inode;
	bool exec; /* has an executable mapping */
	bool is_exe;
};

struct pyinfo_scan {
	struct pyinfo_map *maps;
	size_t nmaps, maps_cap;
	struct pyinfo_file *files;
	size_t nfiles, files_cap;
};

/* ---- collecting the maps ------------------------------------------------ */

static int pyinfo__find_or_add_file(struct pyinfo_scan *s, const struct procfs_mapping *m,
				    size_t *idx)
{
	struct pyinfo_file *f;
	size_t i;
	int err;

	for (i = s->nfiles; i-- > 0;) {
		if (s->files[i].inode == m->inode && strcmp(s->files[i].path, m->path) == 0) {
			*idx = i;
			return 0;
		}
	}
	err = array__reserve((void **)&s->files, &s->files_cap, s->nfiles + 1, sizeof(*s->files));
	if (err)
		return err;
	f = &s->files[s->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(m->path);
	if (!f->path)
		return -ENOMEM;
	f->inode = m->inode;
	*idx = s->nfiles++;
	return 0;
}

static int pyinfo__collect(const struct procfs_mapping *m, void *arg)
{
	struct pyinfo_scan *s = arg;
	struct pyinfo_map *pm;
	size_t file;
	int err;

	/* Only file-backed mappings: anonymous ones, [heap], [vdso]... are skipped. */
	if (m->path[0] != '/' || m->inode == 0)
		return 0;
	err = pyinfo__find_or_add_file(s, m, &file);
	if (err)
		return err;
	err = array__reserve((void **)&s->maps, &s->maps_cap, s->nmaps + 1, sizeof(*s->maps));
	if (err)
		return err;
	pm = &s->maps[s->nmaps++];
	pm->start = m->start;
	pm->end = m->end;
	pm->offset = m->offset;
	pm->file = file;
	if (m->perms & PROCFS_X)
		s->files[file].exec = true;
	return 0;
}

static void pyinfo__scan_free(struct pyinfo_scan *s)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		free(s->files[i].path);
	free(s->files);
	free(s->maps);
}

static const struct pyinfo_map *pyinfo__first_map(const struct pyinfo_scan *s, size_t file)
{
	size_t i;

	for (i = 0; i < s->nmaps; i++)
		if (s->maps[i].file == file)
			return &s->maps[i];
	return NULL;
}

/* ---- opening a mapped file ---------------------------------------------- */

static bool pyinfo__is_deleted(const char *path)
{
	size_t n = strlen(path), d = strlen(PYINFO_DELETED);

	return n > d && strcmp(path + n - d, PYINFO_DELETED) == 0;
}

/* A failure to open a file, as pyinfo reports it; EACCES outranks the rest. */
static int pyinfo__open_error(int prev, int err)
{
	if (prev == -EACCES)
		return prev;
	return err == EPERM || err == EACCES ? -EACCES : -err;
}

/*
 * Open one mapped file as the target sees it, returning an fd.
 * First its map_files entry: the mapped file itself, whatever its path now
 * names. Else its path under the target's root, opened without following
 * links (procfs__open_in_root), when the file opened is the mapped inode. As a last resort, with
 * openat2 only, the file at that path even with another inode (overlay
 * file systems may show a different inode number than maps): a regular
 * file the target's own root names there, reached through no link.
 */
static int pyinfo__open_file(const char *proc, pid_t pid, const struct pyinfo_scan *s, size_t file,
			     int *out)
{
	const struct pyinfo_file *f = &s->files[file];
	const struct pyinfo_map *m = pyinfo__first_map(s, file);
	bool no_openat2 = false;
	struct stat st;
	int fd, err = -ENOENT;

	if (!m)
		goto out;
	fd = procfs__open_map_file(proc, pid, m->start, m->end);
	if (fd >= 0)
		goto out_found;
	if (fd == -ENOEXEC) {
		err = fd;
		goto out;
	}
	err = pyinfo__open_error(err, -fd);

	if (pyinfo__is_deleted(f->path) || f->path[0] != '/')
		goto out;
	fd = procfs__open_in_root(proc, pid, f->path, &no_openat2);
	if (fd < 0) {
		err = fd == -ENOEXEC || fd == -ELOOP ? -ENOEXEC : pyinfo__open_error(err, -fd);
		goto out;
	}
	if (fstat(fd, &st) == 0 && ((uint64_t)st.st_ino == f->inode || !no_openat2))
		goto out_found;
	close(fd);
	err = -ENOEXEC;
	goto out;

out_found:
	*out = fd;
	err = 0;
out:
	return err;
}

/* ---- addresses ----------------------------------------------------------- */

/* Link-time address and size of _PyRuntime: the symbol, else the section. */
static int pyinfo__runtime(const struct elf_file *ef, uint64_t *addr, uint64_t *size)
{
	uint64_t saddr, ssize;

	if (elf_file__symbol(ef, "_PyRuntime", addr, size) == 0) {
		if (*size == 0 && elf_file__section(ef, ".PyRuntime", &saddr, &ssize) == 0 &&
		    saddr == *addr)
			*size = ssize;
		return 0;
	}
	return elf_file__section(ef, ".PyRuntime", addr, size);
}

/*
 * Load bias of a file: 0 for ET_EXEC. For ET_DYN, the mapping of the first
 * PT_LOAD (file offset equal to its aligned offset) starts at bias plus its
 * aligned vaddr. If no mapping has exactly that offset (segment alignment
 * larger than the page size), the lowest-offset mapping is used: every
 * mapping of a segment keeps start - offset == bias + vaddr - offset.
 */
static int pyinfo__bias(const struct elf_file *ef, const struct pyinfo_scan *s, size_t file,
			uint64_t *bias)
{
	const struct pyinfo_map *best = NULL;
	uint64_t vaddr, offset;
	size_t i;
	int err;

	if (elf_file__type(ef) == ET_EXEC) {
		*bias = 0;
		return 0;
	}
	err = elf_file__first_load(ef, &vaddr, &offset);
	if (err)
		return err;
	for (i = 0; i < s->nmaps; i++) {
		const struct pyinfo_map *m = &s->maps[i];

		if (m->file != file)
			continue;
		if (m->offset == offset) {
			*bias = m->start - vaddr;
			return 0;
		}
		if (!best || m->offset < best->offset)
			best = m;
	}
	if (!best)
		return -ENOENT;
	*bias = best->start - best->offset - (vaddr - offset);
	return 0;
}

/* ---- version --------------------------------------------------------------- */

static void pyinfo__set_hex(struct pyinfo *info, uint32_t hex)
{
	info->hexversion = hex;
	info->major = hex >> 24;
	info->minor = (hex >> 16) & 0xff;
	info->micro = (hex >> 8) & 0xff;
}

const char *pyinfo__version_str(const struct pyinfo *info, char *buf, size_t size)
{
	static const char *const level[16] = {[0xa] = "a", [0xb] = "b", [0xc] = "rc"};
	unsigned int lv = (info->hexversion >> 4) & 0xf, serial = info->hexversion & 0xf;
	char rel[8] = "";

	if (info->hexversion && level[lv])
		snprintf(rel, sizeof(rel), "%s%u", level[lv], serial);
	snprintf(buf, size, "%u.%u.%u%s%s", info->major, info->minor, info->micro, rel,
		 info->free_threaded ? "t" : "");
	return buf;
}

static bool pyinfo__plausible_hex(uint64_t hex)
{
	return hex <= UINT32_MAX && (hex >> 24) == 3 && ((hex >> 16) & 0xff) >= PYINFO_MIN_MINOR;
}

/* Parse an unsigned decimal of 1-3 digits at *p. */
static bool pyinfo__small_dec(const char **p, const char *end, unsigned int *v)
{
	unsigned int x = 0;
	int n = 0;

	while (*p < end && isdigit((unsigned char)**p) && n < 3) {
		x = x * 10 + (unsigned int)(**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0 || (*p < end && isdigit((unsigned char)**p)))
		return false;
	*v = x;
	return true;
}

/*
 * Is [s, end) "3.<minor>.<micro>" with an optional release suffix
 * ("a1", "b2", "rc1") and/or a trailing '+', immediately followed by NUL?
 */
static bool pyinfo__version_string(const char *s, const char *end, unsigned int *minor,
				   unsigned int *micro)
{
	const char *p = s;
	unsigned int serial;

	if (end - p < 6 || p[0] != '3' || p[1] != '.')
		return false;
	p += 2;
	if (!pyinfo__small_dec(&p, end, minor) || p >= end || *p != '.')
		return false;
	p++;
	if (!pyinfo__small_dec(&p, end, micro) || p >= end)
		return false;
	if (*p == 'a' || *p == 'b' || (*p == 'r' && p + 1 < end && p[1] == 'c')) {
		p += *p == 'r' ? 2 : 1;
		if (!pyinfo__small_dec(&p, end, &serial) || p >= end)
			return false;
	}
	if (*p == '+' && ++p >= end)
		return false;
	return *p == '\0' && *minor >= PYINFO_MIN_MINOR && *minor <= PYINFO_MAX_MINOR;
}

struct pyinfo_versions {
	unsigned int minor[PYINFO_MAX_CANDIDATES], micro[PYINFO_MAX_CANDIDATES];
	size_t n;
	bool overflow;
};

static void pyinfo__versions_add(struct pyinfo_versions *v, unsigned int minor, unsigned int micro)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->minor[i] == minor && v->micro[i] == micro)
			return;
	if (v->n == PYINFO_MAX_CANDIDATES) {
		v->overflow = true;
		return;
	}
	v->minor[v->n] = minor;
	v->micro[v->n] = micro;
	v->n++;
}

/* Exactly one distinct version among the candidates? */
static bool pyinfo__versions_pick(const struct pyinfo_versions *v, struct pyinfo *info)
{
	if (v->n != 1 || v->overflow)
		return false;
	info->major = 3;
	info->minor = v->minor[0];
	info->micro = v->micro[0];
	return true;
}

/*
 * PY_VERSION through Py_GetVersion(), which passes it to snprintf: look at
 * every RIP-relative LEA (REX.W 8D /r with mod 00, r/m 101) in the function
 * and keep the targets that hold a version string.
 */
#if defined(__x86_64__)
static int pyinfo__version_from_code(const struct elf_file *ef, struct pyinfo *info)
{
	struct pyinfo_versions found = {0};
	uint64_t faddr, fsize;
	unsigned char *code = NULL;
	size_t len, i;
	int err = -ENOENT;

	if (elf_file__symbol(ef, "Py_GetVersion", &faddr, &fsize) != 0)
		goto out;
	len = fsize > 0 && fsize < PYINFO_FUNC_MAX ? (size_t)fsize : PYINFO_FUNC_MAX;
	code = malloc(len);
	if (!code) {
		err = -ENOMEM;
		goto out;
	}
	/* Shrink the window if the function sits at the end of its segment. */
	while (len >= 7 && elf_file__read(ef, faddr, code, len) != 0)
		len /= 2;
	for (i = 0; len >= 7 && i <= len - 7; i++) {
		char str[32];
		unsigned int minor, micro;
		int32_t disp;
		uint64_t target;
		size_t n;

		if ((code[i] != 0x48 && code[i] != 0x4c) || code[i + 1] != 0x8d ||
		    (code[i + 2] & 0xc7) != 0x05)
			continue;
		memcpy(&disp, code + i + 3, sizeof(disp));
		target = faddr + i + 7 + (uint64_t)(int64_t)disp;
		for (n = sizeof(str); n >= 8; n /= 2)
			if (elf_file__read(ef, target, str, n) == 0)
				break;
		if (n >= 8 && pyinfo__version_string(str, str + n, &minor, &micro))
			pyinfo__versions_add(&found, minor, micro);
	}
	if (pyinfo__versions_pick(&found, info))
		err = 0;
out:
	free(code);
	return err;
}
#else
/* The instruction pattern above is x86-64 only; other targets use .rodata. */
static int pyinfo__version_from_code(const struct elf_file *ef, struct pyinfo *info)
{
	(void)ef;
	(void)info;
	return -ENOENT;
}
#endif

/*
 * PY_VERSION in .rodata: NUL-delimited strings that are a version. A
 * whole string is preferred; failing that, the tail of a longer string
 * (the linker merges "3.8.18" into ".../Python-3.8.18") starting after a
 * character that cannot precede a version number.
 */
static int pyinfo__version_from_rodata(const struct elf_file *ef, struct pyinfo *info)
{
	struct pyinfo_versions whole = {0}, tail = {0};
	uint64_t addr, size;
	char *buf = NULL;
	size_t i, start;
	int err;

	err = elf_file__section(ef, ".rodata", &addr, &size);
	if (err)
		goto out;
	if (size == 0 || size > PYINFO_RODATA_MAX) {
		err = -ENOENT;
		goto out;
	}
	buf = malloc((size_t)size);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	err = elf_file__read(ef, addr, buf, (size_t)size);
	if (err)
		goto out_free_buf;
	for (start = 0, i = 0; i < size; i++) {
		unsigned int minor, micro;
		size_t p;

		if (buf[i] != '\0')
			continue;
		if (pyinfo__version_string(buf + start, buf + i + 1, &minor, &micro))
			pyinfo__versions_add(&whole, minor, micro);
		for (p = start + 1; p + 5 <= i; p++) {
			unsigned char prev = (unsigned char)buf[p - 1];

			if (buf[p] != '3' || isalnum(prev) || prev == '.' || prev == '_')
				continue;
			if (pyinfo__version_string(buf + p, buf + i + 1, &minor, &micro))
				pyinfo__versions_add(&tail, minor, micro);
		}
		start = i + 1;
	}
	err = pyinfo__versions_pick(&whole, info) ||
		      (whole.n == 0 && pyinfo__versions_pick(&tail, info))
		  ? 0
		  : -ENOENT;
out_free_buf:
	free(buf);
out:
	return err;
}

/*
 * Fill version and free_threaded. `rt` is the link-time address of
 * _PyRuntime and `rt_size` its size (0 if unknown).
 */
static int pyinfo__version(const struct elf_file *ef, uint64_t rt, uint64_t rt_size,
			   struct pyinfo *info)
{
	unsigned char dbg[32];
	uint64_t addr, size, dbg_version = 0, dbg_ft = 0, dbg_rt_size = 0;
	bool have_dbg = false;
	uint32_t hex;
	int err;

	/* Py_Version is an unsigned long; its low 4 bytes (little endian) hold the value. */
	if (elf_file__symbol(ef, "Py_Version", &addr, &size) == 0 && size >= sizeof(hex) &&
	    elf_file__read(ef, addr, &hex, sizeof(hex)) == 0 && pyinfo__plausible_hex(hex))
		pyinfo__set_hex(info, hex);

	if (elf_file__read(ef, rt, dbg, sizeof(dbg)) == 0 &&
	    memcmp(dbg, PYINFO_COOKIE, sizeof(PYINFO_COOKIE) - 1) == 0) {
		memcpy(&dbg_version, dbg + 8, sizeof(dbg_version));
		memcpy(&dbg_ft, dbg + 16, sizeof(dbg_ft));
		memcpy(&dbg_rt_size, dbg + 24, sizeof(dbg_rt_size));
		have_dbg = pyinfo__plausible_hex(dbg_version) &&
			   (info->hexversion == 0 || info->hexversion == dbg_version);
	}
	if (have_dbg && info->hexversion == 0)
		pyinfo__set_hex(info, (uint32_t)dbg_version);
	if (have_dbg) {
		size_t n = rt_size && rt_size < PYINFO_DEBUG_MAX ? rt_size : PYINFO_DEBUG_MAX;

		if (elf_file__read(ef, rt, info->debug, n) == 0)
			info->debug_len = n;
	}

	if (info->hexversion == 0) {
		err = pyinfo__version_from_code(ef, info);
		if (err == -ENOENT)
			err = pyinfo__version_from_rodata(ef, info);
		if (err)
			return err == -ENOMEM ? err : -ENOTSUP;
	}

	/*
	 * Free-threaded builds exist from 3.13. The debug offsets carry a
	 * free_threaded word (seen at offset 16 from 3.13.0 on), trusted when
	 * the runtime size that follows it matches. Otherwise look for a
	 * function only Py_GIL_DISABLED builds define.
	 */
	if (info->major == 3 && info->minor >= 13) {
		if (have_dbg && dbg_ft <= 1 && (rt_size == 0 || dbg_rt_size == rt_size))
			info->free_threaded = dbg_ft == 1;
		else
			info->free_threaded =
			    elf_file__symbol(ef, "_Py_DecRefShared", NULL, NULL) == 0;
	}
	return 0;
}

/* ---- the inspection --------------------------------------------------------- */

int pyinfo__from_elf(const struct elf_file *ef, uint64_t bias, struct pyinfo *info)
{
	uint64_t rt, rt_size, code_type;
	int err;

	err = pyinfo__runtime(ef, &rt, &rt_size);
	if (err)
		return err;
	memset(info, 0, sizeof(*info));
	info->runtime_addr = rt + bias;
	info->runtime_size = rt_size;
	if (elf_file__symbol(ef, "PyCode_Type", &code_type, NULL) == 0)
		info->code_type_addr = code_type + bias;
	err = pyinfo__version(ef, rt, rt_size, info);
	/* 3.12 counts created code objects in one global (3.14+ count freed ones
	 * per interpreter, found through the debug offsets). Local symbol: only
	 * unstripped builds have it. */
	if (!err && info->major == 3 && info->minor == 12 &&
	    elf_file__symbol(ef, "_Py_next_func_version", &code_type, NULL) == 0)
		info->code_count_addr = code_type + bias;
	return err;
}

static int pyinfo__read_exe(const char *proc, pid_t pid, char *buf, size_t len)
{
	char link[PATH_MAX];
	ssize_t n;
	int r;

	buf[0] = '\0';
	r = snprintf(link, sizeof(link), "%s/%d/exe", proc, (int)pid);
	if (r < 0 || (size_t)r >= sizeof(link))
		return -ENAMETOOLONG;
	n = readlink(link, buf, len - 1);
	if (n < 0) {
		buf[0] = '\0';
		return -errno;
	}
	buf[n] = '\0';
	return 0;
}

/* ---- verdict cache ------------------------------------------------------- */

/* A file is identified by where it is and what it is: device, inode, size
 * and modification time. Replacing a binary changes at least one. */
struct pyinfo_file_key {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

#define PYINFO_CACHE_MAX 65536

struct pyinfo_cache {
	struct hashmap *not_python; /* pyinfo_file_key -> marker */
};

struct pyinfo_cache *pyinfo_cache__new(void)
{
	struct pyinfo_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->not_python = hashmap__new(sizeof(struct pyinfo_file_key));
	if (!c->not_python) {
		free(c);
		return NULL;
	}
	return c;
}

void pyinfo_cache__free(struct pyinfo_cache *c)
{
	if (!c)
		return;
	hashmap__free(c->not_python);
	free(c);
}

size_t pyinfo_cache__size(const struct pyinfo_cache *c)
{
	return hashmap__size(c->not_python);
}

static void pyinfo__file_key(const struct stat *st, struct pyinfo_file_key *key)
{
	memset(key, 0, sizeof(*key));
	key->dev = st->st_dev;
	key->ino = st->st_ino;
	key->size = (uint64_t)st->st_size;
	key->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void pyinfo__cache_not_python(struct pyinfo_cache *cache, const struct pyinfo_file_key *key)
{
	if (hashmap__size(cache->not_python) >= PYINFO_CACHE_MAX) {
		hashmap__free(cache->not_python);
		cache->not_python = hashmap__new(sizeof(*key));
	}
	if (cache->not_python)
		hashmap__set(cache->not_python, key, cache);
}

/*
 * Does `file` hold the runtime? 0 and info filled, -ENOENT if it is not
 * CPython, or the error that prevented reading it. The cache is keyed by
 * the identity of the file actually opened (fstat), so that a path the
 * target changes cannot get another file marked "not Python".
 */
static int pyinfo__try_file(const char *proc, pid_t pid, const struct pyinfo_scan *s, size_t file,
			    struct pyinfo_cache *cache, struct pyinfo *info)
{
	const struct pyinfo_file *f = &s->files[file];
	struct pyinfo_file_key key;
	struct elf_file *ef = NULL;
	bool keyed = false;
	struct stat st;
	uint64_t bias;
	int fd, err;

	err = pyinfo__open_file(proc, pid, s, file, &fd);
	if (err == -ENOEXEC)
		err = -ENOENT;
	if (err)
		goto out;
	if (cache && cache->not_python && fstat(fd, &st) == 0) {
		pyinfo__file_key(&st, &key);
		keyed = true;
		/* A file already found not to hold a runtime is not read again:
		 * big non-Python binaries (node, JVMs) cost a symbol search. */
		if (hashmap__get(cache->not_python, &key)) {
			close(fd);
			err = -ENOENT;
			goto out;
		}
	}
	ef = elf_file__open_fd(fd);
	if (!ef) {
		err = errno == ENOMEM ? -ENOMEM : -ENOENT;
		goto out_cache;
	}
	err = pyinfo__bias(ef, s, file, &bias);
	if (err)
		goto out_close_elf;
	err = pyinfo__from_elf(ef, bias, info);
	if (err == 0 || err == -ENOTSUP) {
		snprintf(info->binary, sizeof(info->binary), "%s", f->path);
		info->shared = !f->is_exe;
	}
out_close_elf:
	elf_file__close(ef);
out_cache:
	if (keyed && err == -ENOENT)
		pyinfo__cache_not_python(cache, &key);
out:
	return err;
}

int pyinfo__inspect(const char *proc, pid_t pid, struct pyinfo *info)
{
	return pyinfo__inspect_cached(proc, pid, NULL, info);
}

int pyinfo__inspect_cached(const char *proc, pid_t pid, struct pyinfo_cache *cache,
			   struct pyinfo *info)
{
	struct pyinfo_scan scan = {0};
	char *exe;
	size_t i, pass;
	bool denied = false;
	int err;

	memset(info, 0, sizeof(*info));
	exe = malloc(PATH_MAX);
	if (!exe) {
		err = -ENOMEM;
		goto out;
	}
	/* No exe link: a kernel thread, a zombie or a vanished process; maps will tell. */
	err = pyinfo__read_exe(proc, pid, exe, PATH_MAX);
	if (err == -EACCES || err == -EPERM) {
		denied = true;
		exe[0] = '\0';
	}

	err = procfs__maps(proc, pid, pyinfo__collect, &scan);
	if (err == -EPERM)
		err = -EACCES;
	if (err)
		goto out_free_scan;
	for (i = 0; i < scan.nfiles; i++)
		if (exe[0] && strcmp(scan.files[i].path, exe) == 0)
			scan.files[i].is_exe = true;

	/* Pass 0: the executable. Pass 1: the other files with code. */
	err = -ENOEXEC;
	for (pass = 0; pass < 2 && err == -ENOEXEC; pass++) {
		for (i = 0; i < scan.nfiles; i++) {
			const struct pyinfo_file *f = &scan.files[i];
			int r;

			if (pass == 0 ? !f->is_exe : (f->is_exe || !f->exec))
				continue;
			/* An unreadable or odd file only rules that file out. */
			r = pyinfo__try_file(proc, pid, &scan, i, cache, info);
			if (r == 0 || r == -ENOMEM || r == -ENOTSUP) {
				err = r;
				break;
			}
			if (r == -EACCES)
				denied = true;
		}
	}
	if (err == -ENOEXEC) {
		memset(info, 0, sizeof(*info));
		if (procfs__exists(proc, pid) == 0)
			err = -ESRCH;
		else if (denied)
			err = -EACCES;
	}
out_free_scan:
	pyinfo__scan_free(&scan);
	free(exe);
out:
	return err;
}
