// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elf_file on real binaries of this machine and on malformed input.
 * Cases whose binary is absent print "skip: ..." and pass.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gelf.h>
#include <libelf.h>

#include "elffile.h"
#include "test.h"

#define DEBIAN_PY "/usr/bin/python3.11"
#define PYENV_PY "/root/.pyenv/versions/3.11.7/bin/python3.11"
#define PYENV_LIB "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
#define TRUE_BIN "/bin/true"

#ifndef MUTATION_ROUNDS
#define MUTATION_ROUNDS 400
#endif

static char tmpdir[] = "/tmp/pybpf-test-elf-XXXXXX";
static int tmpdir_made;

static int have(const char *path)
{
	if (access(path, R_OK) == 0)
		return 1;
	fprintf(stderr, "skip: %s absent\n", path);
	return 0;
}

static const char *tmp_path(const char *name)
{
	static char buf[256];

	if (!tmpdir_made) {
		if (!mkdtemp(tmpdir))
			return NULL;
		tmpdir_made = 1;
	}
	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

/* sys.hexversion as the interpreter itself reports it. */
static long long python_hexversion(const char *python)
{
	char cmd[512], line[64] = "";
	long long v = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -I -c 'import sys; print(sys.hexversion)'", python);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fgets(line, sizeof(line), p))
		v = strtoll(line, NULL, 10);
	pclose(p);
	return v;
}

/* Write `len` bytes of `data` to a fresh file in the temp dir. */
static const char *write_file(const char *name, const void *data, size_t len)
{
	const char *path = tmp_path(name);
	FILE *f;

	if (!path)
		return NULL;
	f = fopen(path, "wb");
	if (!f)
		return NULL;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	return path;
}

static void *read_whole(const char *path, size_t *len)
{
	struct stat st;
	void *buf = NULL;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)st.st_size;
	}
	fclose(f);
	return buf;
}

/* Every query on an opened (possibly malformed) file: must not crash. */
static void poke(struct elf_file *ef)
{
	uint64_t a = 0, s = 0, v = 0, o = 0;
	char buf[64];

	(void)elf_file__type(ef);
	(void)elf_file__symbol(ef, "_PyRuntime", &a, &s);
	(void)elf_file__symbol(ef, "main", &a, &s);
	(void)elf_file__section(ef, ".PyRuntime", &a, &s);
	(void)elf_file__section(ef, ".rodata", &a, &s);
	(void)elf_file__section(ef, ".text", &a, &s);
	if (elf_file__first_load(ef, &v, &o) == 0) {
		(void)elf_file__read(ef, v, buf, sizeof(buf));
		(void)elf_file__read(ef, v + 4096, buf, sizeof(buf));
	}
	(void)elf_file__read(ef, 0, buf, sizeof(buf));
	(void)elf_file__read(ef, UINT64_MAX - 8, buf, sizeof(buf));
	(void)elf_file__read(ef, a, buf, sizeof(buf));
}

static void debian_python(void)
{
	struct elf_file *ef;
	uint64_t addr, size, saddr, ssize, vaddr, offset;
	uint32_t hex = 0;
	long long want;

	if (!have(DEBIAN_PY))
		return;
	ef = elf_file__open(DEBIAN_PY);
	CHECK(ef != NULL);
	if (!ef)
		return;
	CHECK_EQ_INT(elf_file__type(ef), ET_EXEC);
	CHECK_EQ_INT(elf_file__symbol(ef, "_PyRuntime", &addr, &size), 0);
	CHECK(size > 0);
	/* Debian's build has the section too, at the same place. */
	CHECK_EQ_INT(elf_file__section(ef, ".PyRuntime", &saddr, &ssize), 0);
	CHECK_EQ_INT(saddr, addr);
	CHECK_EQ_INT(ssize, size);
	CHECK_EQ_INT(elf_file__symbol(ef, "Py_Version", &addr, &size), 0);
	CHECK_EQ_INT(size, 8);
	CHECK_EQ_INT(elf_file__read(ef, addr, &hex, sizeof(hex)), 0);
	want = python_hexversion(DEBIAN_PY);
	fprintf(stderr, "  %s: Py_Version 0x%08x, sys.hexversion 0x%08llx\n", DEBIAN_PY, hex, want);
	CHECK_EQ_INT(hex, want);
	CHECK_EQ_INT(hex >> 16, 0x030b);
	/* Non-PIE: linked at 0x400000, first segment at file offset 0. */
	CHECK_EQ_INT(elf_file__first_load(ef, &vaddr, &offset), 0);
	CHECK_EQ_INT(vaddr, 0x400000);
	CHECK_EQ_INT(offset, 0);
	CHECK_EQ_INT(elf_file__symbol(ef, "no_such_symbol_anywhere", &addr, &size), -ENOENT);
	CHECK_EQ_INT(elf_file__section(ef, ".no_such_section", &addr, &size), -ENOENT);
	elf_file__close(ef);
}

static void read_semantics(void)
{
	struct elf_file *ef;
	uint64_t bss, bss_size, vaddr, offset;
	unsigned char buf[64], zero[64] = {0};
	unsigned char magic[4];

	if (!have(DEBIAN_PY))
		return;
	ef = elf_file__open(DEBIAN_PY);
	CHECK(ef != NULL);
	if (!ef)
		return;
	/* The first segment starts with the ELF header itself. */
	CHECK_EQ_INT(elf_file__first_load(ef, &vaddr, &offset), 0);
	CHECK_EQ_INT(elf_file__read(ef, vaddr, magic, sizeof(magic)), 0);
	CHECK(memcmp(magic, ELFMAG, SELFMAG) == 0);
	/* .bss is beyond p_filesz: zero-filled. */
	CHECK_EQ_INT(elf_file__section(ef, ".bss", &bss, &bss_size), 0);
	memset(buf, 0xa5, sizeof(buf));
	CHECK_EQ_INT(elf_file__read(ef, bss, buf, sizeof(buf)), 0);
	CHECK(memcmp(buf, zero, sizeof(buf)) == 0);
	/* Unmapped addresses and a read running past the end of the segment. */
	CHECK_EQ_INT(elf_file__read(ef, 0x1000, buf, 8), -ENOENT);
	CHECK_EQ_INT(elf_file__read(ef, UINT64_MAX - 3, buf, 8), -ENOENT);
	CHECK_EQ_INT(elf_file__read(ef, bss + bss_size - 4, buf, 64), -ENOENT);
	elf_file__close(ef);
}

static void pyenv_libpython(void)
{
	struct elf_file *ef;
	uint64_t addr, size, saddr, ssize, vaddr, offset;
	uint32_t hex = 0;

	if (!have(PYENV_LIB))
		return;
	ef = elf_file__open(PYENV_LIB);
	CHECK(ef != NULL);
	if (!ef)
		return;
	CHECK_EQ_INT(elf_file__type(ef), ET_DYN);
	CHECK_EQ_INT(elf_file__symbol(ef, "_PyRuntime", &addr, &size), 0);
	CHECK_EQ_INT(elf_file__section(ef, ".PyRuntime", &saddr, &ssize), 0);
	CHECK_EQ_INT(saddr, addr);
	CHECK_EQ_INT(elf_file__symbol(ef, "Py_Version", &addr, &size), 0);
	CHECK_EQ_INT(elf_file__read(ef, addr, &hex, sizeof(hex)), 0);
	if (access(PYENV_PY, X_OK) == 0)
		CHECK_EQ_INT(hex, python_hexversion(PYENV_PY));
	CHECK_EQ_INT(hex >> 16, 0x030b);
	CHECK_EQ_INT(elf_file__symbol(ef, "PyCode_Type", &addr, &size), 0);
	CHECK_EQ_INT(elf_file__first_load(ef, &vaddr, &offset), 0);
	CHECK_EQ_INT(vaddr, 0);
	CHECK_EQ_INT(offset, 0);
	elf_file__close(ef);
}

static void not_python(void)
{
	struct elf_file *ef;
	uint64_t addr, size;

	if (!have(TRUE_BIN))
		return;
	ef = elf_file__open(TRUE_BIN);
	CHECK(ef != NULL);
	if (!ef)
		return;
	CHECK_EQ_INT(elf_file__symbol(ef, "_PyRuntime", &addr, &size), -ENOENT);
	CHECK_EQ_INT(elf_file__section(ef, ".PyRuntime", &addr, &size), -ENOENT);
	/* Undefined (imported) symbols do not count. */
	CHECK_EQ_INT(elf_file__symbol(ef, "exit", &addr, &size), -ENOENT);
	elf_file__close(ef);
}

static void open_errors(void)
{
	struct elf_file *ef;
	unsigned char junk[100];
	unsigned int seed = 12345;
	const char *path;
	size_t i;

	errno = 0;
	ef = elf_file__open("/nonexistent/pybpf/file");
	CHECK(ef == NULL);
	CHECK_EQ_INT(errno, ENOENT);

	path = write_file("empty", "", 0);
	CHECK(path != NULL);
	errno = 0;
	ef = elf_file__open(path);
	CHECK(ef == NULL);
	CHECK_EQ_INT(errno, ENOEXEC);

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(rand_r(&seed) >> 7);
	path = write_file("random", junk, sizeof(junk));
	CHECK(path != NULL);
	errno = 0;
	ef = elf_file__open(path);
	CHECK(ef == NULL);
	CHECK_EQ_INT(errno, ENOEXEC);

	errno = 0;
	ef = elf_file__open("/tmp");
	CHECK(ef == NULL);
	CHECK_EQ_INT(errno, EISDIR);

	errno = 0;
	ef = elf_file__open("/dev/null");
	CHECK(ef == NULL);
	CHECK_EQ_INT(errno, ENOEXEC);
}

/* Copies of the Debian python cut at several lengths. */
static void truncated(void)
{
	static const size_t cuts[] = {16, 63, 64, 1000, 4096, 0 /* middle */};
	unsigned char *data;
	size_t len = 0, i;
	uint64_t rt = 0, rt_size = 0;
	struct elf_file *whole;

	if (!have(DEBIAN_PY))
		return;
	whole = elf_file__open(DEBIAN_PY);
	CHECK(whole != NULL);
	if (whole) {
		CHECK_EQ_INT(elf_file__symbol(whole, "_PyRuntime", &rt, &rt_size), 0);
		elf_file__close(whole);
	}
	data = read_whole(DEBIAN_PY, &len);
	CHECK(data != NULL);
	if (!data)
		return;
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t cut = cuts[i] ? cuts[i] : len / 2;
		const char *path = write_file("truncated", data, cut);
		struct elf_file *ef;
		char buf[16];

		CHECK(path != NULL);
		if (!path)
			continue;
		ef = elf_file__open(path);
		if (!ef) {
			CHECK(errno != 0);
			continue;
		}
		poke(ef);
		/* The program headers survive past 1000 bytes; the data segment does not. */
		if (cut >= 1000 && rt)
			CHECK_EQ_INT(elf_file__read(ef, rt, buf, sizeof(buf)), -EIO);
		elf_file__close(ef);
	}
	free(data);
}

static void put16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Hand-made headers: absurd section and segment counts and offsets. */
static void crafted_headers(void)
{
	unsigned char *data;
	size_t len = 0;
	struct {
		const char *what;
		uint64_t shoff, phoff;
		uint16_t shnum, phnum, shstrndx;
	} cases[] = {
	    {"shnum 65535 past the end", 4096, 64, 0xffff, 1, 1},
	    {"extended shnum (0) at offset 64", 64, 64, 0, 1, 0xffff},
	    {"shoff beyond the file", UINT64_MAX - 63, 64, 3, 1, 1},
	    {"phoff beyond the file", 0, UINT64_MAX - 55, 0, 0xffff, 0},
	    {"shstrndx out of range", 64, 64, 2, 1, 0xfffe},
	};
	size_t i;

	if (!have(TRUE_BIN))
		return;
	data = read_whole(TRUE_BIN, &len);
	CHECK(data != NULL && len > 8192);
	if (!data || len <= 8192)
		goto out;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *copy = malloc(len);
		const char *path;
		struct elf_file *ef;

		if (!copy)
			break;
		memcpy(copy, data, len);
		put64(copy + offsetof(Elf64_Ehdr, e_shoff), cases[i].shoff);
		put64(copy + offsetof(Elf64_Ehdr, e_phoff), cases[i].phoff);
		put16(copy + offsetof(Elf64_Ehdr, e_shnum), cases[i].shnum);
		put16(copy + offsetof(Elf64_Ehdr, e_phnum), cases[i].phnum);
		put16(copy + offsetof(Elf64_Ehdr, e_shstrndx), cases[i].shstrndx);
		/* a section header at 64 claiming a huge table */
		put64(copy + 64 + offsetof(Elf64_Shdr, sh_size), UINT64_MAX / 2);
		path = write_file("crafted", copy, len);
		ef = path ? elf_file__open(path) : NULL;
		if (ef) {
			poke(ef);
			elf_file__close(ef);
		}
		fprintf(stderr, "  crafted: %s: %s\n", cases[i].what, ef ? "opened" : "rejected");
		free(copy);
	}
out:
	free(data);
}

/* Random byte flips in the headers and tables of /bin/true. */
static void mutations(void)
{
	unsigned char *data, *copy;
	unsigned int seed = 42;
	size_t len = 0, round;
	int opened = 0;

	if (!have(TRUE_BIN))
		return;
	data = read_whole(TRUE_BIN, &len);
	CHECK(data != NULL);
	if (!data)
		return;
	copy = malloc(len);
	CHECK(copy != NULL);
	for (round = 0; copy && round < MUTATION_ROUNDS; round++) {
		const char *path;
		struct elf_file *ef;
		int flips = 1 + rand_r(&seed) % 16, k;

		memcpy(copy, data, len);
		for (k = 0; k < flips; k++) {
			/* Mostly the ELF header and the tables at the ends of the file. */
			size_t at;

			switch (rand_r(&seed) % 3) {
			case 0:
				at = (size_t)rand_r(&seed) % 64;
				break;
			case 1:
				at = len - 1 - (size_t)rand_r(&seed) % (len < 4096 ? len : 4096);
				break;
			default:
				at = (size_t)rand_r(&seed) % len;
				break;
			}
			copy[at] = (unsigned char)rand_r(&seed);
		}
		path = write_file("mutant", copy, len);
		if (!path)
			break;
		ef = elf_file__open(path);
		if (ef) {
			opened++;
			poke(ef);
			elf_file__close(ef);
		}
	}
	fprintf(stderr, "  mutations: %d rounds, %d opened, none crashed\n", MUTATION_ROUNDS,
		opened);
	free(copy);
	free(data);
}

/*
 * The .gnu.hash lookup finds exactly what a scan of .dynsym finds, for
 * every defined symbol of real binaries (node, when installed, has 185k
 * symbols), and names that are absent are absent. Then the hash section's
 * bytes are mutated: lookups may fail but never crash or read outside it.
 */
static void hash_lookup(const char *path)
{
	struct elf_file *ef;
	Elf *elf;
	Elf_Scn *scn = NULL, *dynsym = NULL, *hash = NULL;
	GElf_Shdr sh, hsh;
	Elf_Data *d;
	size_t n, checked = 0, entsize;
	unsigned char *data, *copy;
	size_t len = 0;
	unsigned int seed = 7;
	struct stat st;
	int fd;

	if (!have(path))
		return;
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	CHECK(elf != NULL);
	while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
		if (sh.sh_type == SHT_GNU_HASH)
			hash = scn;
	}
	CHECK(dynsym != NULL && hash != NULL);
	ef = elf_file__open(path);
	CHECK(ef != NULL);
	if (!dynsym || !hash || !ef)
		goto out;
	gelf_getshdr(dynsym, &sh);
	d = elf_getdata(dynsym, NULL);
	entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
	n = d->d_size / entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym sym, first;
		const char *name;
		uint64_t addr = 0;

		if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_name)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		CHECK_EQ_INT(elf_file__symbol(ef, name, &addr, NULL), 0);
		/* The first defined symbol of that name, as a scan would find it. */
		for (size_t j = 1; j <= i; j++) {
			const char *nj;

			if (gelf_getsym(d, (int)j, &first) && first.st_shndx != SHN_UNDEF &&
			    first.st_name && (nj = elf_strptr(elf, sh.sh_link, first.st_name)) &&
			    strcmp(nj, name) == 0)
				break;
		}
		if (addr != first.st_value) {
			fprintf(stderr, "%s: %s at %#llx, scan says %#llx\n", path, name,
				(unsigned long long)addr, (unsigned long long)first.st_value);
			test_failures++;
		}
		if (++checked >= 3000)
			break; /* the inner scan is quadratic; 3000 symbols are plenty */
	}
	CHECK_EQ_INT(elf_file__symbol(ef, "_PyRuntime_not_a_symbol", NULL, NULL), -ENOENT);
	fprintf(stderr, "  %s: %zu symbols found through .gnu.hash as a scan finds them\n", path,
		checked);
	elf_file__close(ef);
	ef = NULL;

	/* Mutate the hash section only (of files small enough to rewrite 100 times). */
	gelf_getshdr(hash, &hsh);
	data = stat(path, &st) == 0 && st.st_size < (8 << 20) ? read_whole(path, &len) : NULL;
	copy = data ? malloc(len) : NULL;
	for (int round = 0; copy && round < 100; round++) {
		const char *mpath;

		memcpy(copy, data, len);
		for (int k = 0; k < 1 + rand_r(&seed) % 8; k++)
			copy[hsh.sh_offset + (size_t)rand_r(&seed) % hsh.sh_size] =
			    (unsigned char)rand_r(&seed);
		mpath = write_file("mutant", copy, len);
		if (!mpath)
			break;
		ef = elf_file__open(mpath);
		if (ef) {
			int r = elf_file__symbol(ef, "PyCode_Type", NULL, NULL);

			CHECK(r == 0 || r == -ENOENT);
			elf_file__symbol(ef, "_PyRuntime", NULL, NULL);
			elf_file__close(ef);
			ef = NULL;
		}
	}
	free(copy);
	free(data);
out:
	elf_file__close(ef);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
}

static void gnu_hash_lookup(void)
{
	hash_lookup("/usr/bin/python3.11");
	hash_lookup("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0");
	hash_lookup("/usr/bin/node");
}

/*
 * A sparse file with a real ELF at its start whose section `which` now
 * claims 2 GiB at offset 1 GiB (zeros on read, nothing on disk): a hostile
 * target can map such a file. Reading symbols must neither allocate nor
 * read the claimed size (it used to read all of it: 2 GiB of memory).
 */
static void huge_sparse_table(const char *src, const char *which, const char *sym)
{
	const char *path = tmp_path("huge");
	unsigned char *data;
	struct elf_file *ef;
	struct rusage before, after;
	Elf64_Ehdr *eh;
	size_t len = 0, i;
	uint64_t addr;
	int fd, found = 0;

	if (!have(src) || !path)
		return;
	data = read_whole(src, &len);
	CHECK(data != NULL && len > sizeof(*eh));
	if (!data)
		return;
	eh = (Elf64_Ehdr *)data;
	CHECK(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= len);
	for (i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr *sh = (Elf64_Shdr *)(data + eh->e_shoff) + i;
		Elf64_Shdr *names = (Elf64_Shdr *)(data + eh->e_shoff) + eh->e_shstrndx;

		if (strcmp((char *)data + names->sh_offset + sh->sh_name, which) == 0) {
			sh->sh_offset = 1ull << 30;
			sh->sh_size = 2ull << 30;
			found = 1;
		}
	}
	CHECK(found);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	CHECK_EQ_INT(ftruncate(fd, (3ll << 30) + 4096), 0);
	close(fd);
	free(data);

	getrusage(RUSAGE_SELF, &before);
	ef = elf_file__open(path);
	CHECK(ef != NULL);
	if (ef) {
		(void)elf_file__symbol(ef, sym, &addr, NULL);
		(void)elf_file__symbol(ef, "no_such_symbol_anywhere", &addr, NULL);
		(void)elf_file__section(ef, ".text", &addr, NULL);
		elf_file__close(ef);
	}
	getrusage(RUSAGE_SELF, &after);
	/* ru_maxrss is in KiB; 128 MiB of slack for the tables really read. */
	CHECK(after.ru_maxrss - before.ru_maxrss < 256 * 1024);
	unlink(path);
}

static void huge_sparse_tables(void)
{
	huge_sparse_table(PYENV_LIB, ".strtab", "_PyRuntime");
	huge_sparse_table(PYENV_LIB, ".symtab", "_PyRuntime");
	huge_sparse_table(PYENV_LIB, ".dynstr", "Py_Version");
	huge_sparse_table(PYENV_LIB, ".dynsym", "Py_Version");
	huge_sparse_table(PYENV_LIB, ".shstrtab", "Py_Version");
	huge_sparse_table(DEBIAN_PY, ".dynstr", "_PyRuntime");
}

/* A copy of `src` in the temp dir, whose section headers are then changed
 * by `edit` (given the file's bytes); the file is extended (sparsely) to
 * `size` bytes if larger. The path, or NULL. */
static const char *edited_copy(const char *src, void (*edit)(unsigned char *, size_t),
			       uint64_t size)
{
	const char *path = tmp_path("edited");
	unsigned char *data;
	size_t len = 0;
	int fd, ok;

	if (!have(src) || !path)
		return NULL;
	data = read_whole(src, &len);
	if (!data || len < sizeof(Elf64_Ehdr)) {
		free(data);
		return NULL;
	}
	edit(data, len);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, data, len) == (ssize_t)len &&
	     (size <= len || ftruncate(fd, (off_t)size) == 0);
	if (fd >= 0)
		close(fd);
	free(data);
	return ok ? path : NULL;
}

/* Extended numbering: e_shnum 0, the count (50 million) in section 0. */
static void claim_many_sections(unsigned char *data, size_t len)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)data;

	if (eh->e_shoff + sizeof(Elf64_Shdr) <= len) {
		((Elf64_Shdr *)(data + eh->e_shoff))->sh_size = 50000000;
		eh->e_shnum = 0;
	}
}

/* The last section claims to be compressed, inflating to 1 TiB. */
static void claim_huge_inflation(unsigned char *data, size_t len)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)data;
	Elf64_Shdr *sh = (Elf64_Shdr *)(data + eh->e_shoff) + eh->e_shnum - 1;
	Elf64_Chdr ch = {.ch_type = ELFCOMPRESS_ZLIB, .ch_size = 1ull << 40, .ch_addralign = 1};

	if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) <= len &&
	    sh->sh_offset + sizeof(ch) <= len && sh->sh_size >= sizeof(ch)) {
		sh->sh_flags |= SHF_COMPRESSED;
		memcpy(data + sh->sh_offset, &ch, sizeof(ch));
	}
}

/*
 * Headers that would make libelf or libdw allocate without bound, refused
 * from a pread of the headers before libelf is called: 50 million section
 * headers in a sparse 3.2 GB file (libelf allocates a descriptor for each),
 * a compressed section inflating to 1 TiB. The untouched file passes.
 */
static void headers_checked_first(void)
{
	struct rusage before, after;
	const char *path;
	int fd;

	if (!have(DEBIAN_PY))
		return;
	fd = open(DEBIAN_PY, O_RDONLY | O_CLOEXEC);
	CHECK_EQ_INT(elf_file__check_fd(fd, 64 << 20), 0);
	close(fd);

	path = edited_copy(DEBIAN_PY, claim_many_sections, 50000000ull * 64 + (64ull << 20));
	CHECK(path != NULL);
	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		CHECK_EQ_INT(elf_file__check_fd(fd, 0), -ENOEXEC);
		close(fd);
		getrusage(RUSAGE_SELF, &before);
		errno = 0;
		CHECK(elf_file__open(path) == NULL);
		CHECK_EQ_INT(errno, ENOEXEC);
		getrusage(RUSAGE_SELF, &after);
		CHECK(after.ru_maxrss - before.ru_maxrss < 64 * 1024);
		unlink(path);
	}

	path = edited_copy(DEBIAN_PY, claim_huge_inflation, 0);
	CHECK(path != NULL);
	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		CHECK_EQ_INT(elf_file__check_fd(fd, 64 << 20), -EFBIG);
		CHECK_EQ_INT(elf_file__check_fd(fd, 0), 0); /* counts only */
		close(fd);
		unlink(path);
	}
}

static void cleanup(void)
{
	static const char *names[] = {"empty", "random", "truncated", "crafted", "mutant"};
	char buf[256];
	size_t i;

	if (!tmpdir_made)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", tmpdir, names[i]);
		unlink(buf);
	}
	CHECK_EQ_INT(rmdir(tmpdir), 0);
}

TEST_MAIN(TEST(debian_python), TEST(read_semantics), TEST(pyenv_libpython), TEST(not_python),
	  TEST(open_errors), TEST(truncated), TEST(crafted_headers), TEST(mutations),
	  TEST(gnu_hash_lookup), TEST(huge_sparse_tables), TEST(headers_checked_first),
	  TEST(cleanup))
