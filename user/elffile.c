// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ELF queries on top of libelf.
 *
 * The file is opened with ELF_C_READ rather than ELF_C_READ_MMAP: libelf
 * then reads what it needs with pread() and checks every section and
 * table against the file size, so a truncated file or one that shrinks
 * while we look at it yields an error instead of SIGBUS. Segment bytes
 * are read with pread() by elf_file__read() for the same reason.
 */
#include "elffile.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct elf_load {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;
	uint64_t align;
};

struct elf_file {
	int fd;
	Elf *elf;
	int type;
	uint64_t file_size;
	size_t shstrndx;
	bool have_shstrndx;
	Elf_Scn *dynsym;
	Elf_Scn *symtab;
	Elf_Scn *gnu_hash; /* .gnu.hash of .dynsym (64-bit little-endian files only), or NULL */
	struct elf_load *loads;
	size_t nloads;
};

static int elf_file__load_phdrs(struct elf_file *ef)
{
	size_t phnum, i;

	if (elf_getphdrnum(ef->elf, &phnum) != 0)
		return 0; /* no usable program headers: reads will fail */
	if (phnum == 0)
		return 0;
	ef->loads = calloc(phnum, sizeof(*ef->loads));
	if (!ef->loads)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct elf_load *l;

		if (!gelf_getphdr(ef->elf, (int)i, &ph))
			continue;
		if (ph.p_type != PT_LOAD)
			continue;
		l = &ef->loads[ef->nloads++];
		l->vaddr = ph.p_vaddr;
		l->memsz = ph.p_memsz;
		l->offset = ph.p_offset;
		/* Bytes past p_memsz are not part of the image even if the file has them. */
		l->filesz = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
		l->align = ph.p_align;
	}
	return 0;
}

/*
 * Is this table small enough to read? libelf reads a section whole on first
 * use, and a hostile file can be sparse: a few kilobytes on disk whose
 * section headers claim a 2 GiB string table of zeros would cost 2 GiB of
 * memory and seconds of reading per process. Tables over ELF_FILE_TABLE_MAX
 * (with their linked string table) are treated as absent.
 */
static bool elf_file__table_ok(const struct elf_file *ef, Elf_Scn *scn, bool with_link)
{
	GElf_Shdr sh, lsh;
	Elf_Scn *link;

	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_size > ELF_FILE_TABLE_MAX)
		return false;
	if (!with_link)
		return true;
	link = elf_getscn(ef->elf, sh.sh_link);
	return !link || (gelf_getshdr(link, &lsh) && lsh.sh_size <= ELF_FILE_TABLE_MAX);
}

static void elf_file__find_symtabs(struct elf_file *ef)
{
	const char *ident = elf_getident(ef->elf, NULL);
	bool le64 = ident && ident[EI_CLASS] == ELFCLASS64 && ident[EI_DATA] == ELFDATA2LSB;
	Elf_Scn *scn = NULL, *gnu_hash = NULL;
	size_t gnu_hash_link = 0;

	ef->have_shstrndx = elf_getshdrstrndx(ef->elf, &ef->shstrndx) == 0 &&
			    elf_file__table_ok(ef, elf_getscn(ef->elf, ef->shstrndx), false);
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM && !ef->dynsym) {
			if (elf_file__table_ok(ef, scn, true))
				ef->dynsym = scn;
		} else if (sh.sh_type == SHT_SYMTAB && !ef->symtab) {
			if (elf_file__table_ok(ef, scn, true))
				ef->symtab = scn;
		} else if (sh.sh_type == SHT_GNU_HASH && !gnu_hash &&
			   elf_file__table_ok(ef, scn, false)) {
			gnu_hash = scn;
			gnu_hash_link = sh.sh_link;
		}
	}
	/* Used only if it indexes the .dynsym we search. */
	if (le64 && gnu_hash && ef->dynsym && gnu_hash_link == elf_ndxscn(ef->dynsym))
		ef->gnu_hash = gnu_hash;
}

/* One section header, in either class; false if unreadable. */
static bool elf_file__pread_shdr(int fd, bool is64, uint64_t off, Elf64_Shdr *sh)
{
	Elf32_Shdr s32;

	if (is64)
		return pread(fd, sh, sizeof(*sh), (off_t)off) == (ssize_t)sizeof(*sh);
	if (pread(fd, &s32, sizeof(s32), (off_t)off) != (ssize_t)sizeof(s32))
		return false;
	*sh = (Elf64_Shdr){.sh_name = s32.sh_name,
			   .sh_type = s32.sh_type,
			   .sh_flags = s32.sh_flags,
			   .sh_offset = s32.sh_offset,
			   .sh_size = s32.sh_size,
			   .sh_link = s32.sh_link,
			   .sh_info = s32.sh_info};
	return true;
}

/* Inflated size of a SHF_COMPRESSED section (its Chdr); false if unreadable. */
static bool elf_file__inflated_size(int fd, bool is64, const Elf64_Shdr *sh, uint64_t *size)
{
	Elf64_Chdr c64;
	Elf32_Chdr c32;

	if (is64) {
		if (pread(fd, &c64, sizeof(c64), (off_t)sh->sh_offset) != (ssize_t)sizeof(c64))
			return false;
		*size = c64.ch_size;
		return true;
	}
	if (pread(fd, &c32, sizeof(c32), (off_t)sh->sh_offset) != (ssize_t)sizeof(c32))
		return false;
	*size = c32.ch_size;
	return true;
}

int elf_file__check_fd(int fd, uint64_t inflate_max)
{
	unsigned char ident[EI_NIDENT];
	uint64_t shoff, shnum, phnum, size;
	Elf64_Ehdr eh;
	Elf32_Ehdr e32;
	Elf64_Shdr sh;
	size_t shentsize;
	bool is64;

	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG) || ident[EI_DATA] != ELFDATA2LSB ||
	    (ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32))
		return -ENOEXEC;
	is64 = ident[EI_CLASS] == ELFCLASS64;
	if (is64) {
		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
			return -ENOEXEC;
		shoff = eh.e_shoff;
		shnum = eh.e_shnum;
		phnum = eh.e_phnum;
		shentsize = eh.e_shentsize;
	} else {
		if (pread(fd, &e32, sizeof(e32), 0) != (ssize_t)sizeof(e32))
			return -ENOEXEC;
		shoff = e32.e_shoff;
		shnum = e32.e_shnum;
		phnum = e32.e_phnum;
		shentsize = e32.e_shentsize;
	}
	if (!shoff)
		return phnum == PN_XNUM ? -ENOEXEC : 0;
	if (shentsize != (is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)))
		return -ENOEXEC;
	/* Extended numbering: the real counts are in section header 0. */
	if ((shnum == 0 || phnum == PN_XNUM) && !elf_file__pread_shdr(fd, is64, shoff, &sh))
		return -ENOEXEC;
	if (shnum == 0)
		shnum = sh.sh_size;
	if (phnum == PN_XNUM)
		phnum = sh.sh_info;
	if (shnum > ELF_FILE_SECTIONS_MAX || phnum > ELF_FILE_SECTIONS_MAX)
		return -ENOEXEC;
	if (!inflate_max)
		return 0;
	for (uint64_t i = 1; i < shnum; i++) {
		if (!elf_file__pread_shdr(fd, is64, shoff + i * shentsize, &sh))
			return -EIO;
		if (sh.sh_type == SHT_NOBITS)
			continue;
		if (sh.sh_flags & SHF_COMPRESSED) {
			if (!elf_file__inflated_size(fd, is64, &sh, &size))
				return -EIO;
			if (size > inflate_max)
				return -EFBIG;
		}
	}
	return 0;
}

struct elf_file *elf_file__open(const char *path)
{
	/* O_NONBLOCK: a FIFO or device must not hang us; it is rejected below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return NULL;
	return elf_file__open_fd(fd);
}

struct elf_file *elf_file__open_fd(int fd)
{
	struct elf_file *ef;
	struct stat st;
	GElf_Ehdr eh;
	int err;

	ef = calloc(1, sizeof(*ef));
	if (!ef) {
		err = ENOMEM;
		close(fd);
		goto out;
	}
	ef->fd = fd;
	if (fstat(ef->fd, &st) != 0) {
		err = errno;
		goto out_close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? EISDIR : ENOEXEC;
		goto out_close_fd;
	}
	ef->file_size = (uint64_t)st.st_size;
	if (elf_file__check_fd(fd, 0)) {
		err = ENOEXEC; /* more headers than libelf should allocate for */
		goto out_close_fd;
	}

	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = ENOSYS;
		goto out_close_fd;
	}
	ef->elf = elf_begin(ef->fd, ELF_C_READ, NULL);
	if (!ef->elf) {
		err = ENOEXEC;
		goto out_close_fd;
	}
	if (elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &eh)) {
		err = ENOEXEC;
		goto out_end_elf;
	}
	ef->type = eh.e_type;

	err = -elf_file__load_phdrs(ef);
	if (err)
		goto out_end_elf;
	elf_file__find_symtabs(ef);
	return ef;

out_end_elf:
	free(ef->loads);
	elf_end(ef->elf);
out_close_fd:
	close(ef->fd);
	free(ef);
out:
	errno = err;
	return NULL;
}

void elf_file__close(struct elf_file *ef)
{
	if (!ef)
		return;
	free(ef->loads);
	elf_end(ef->elf);
	close(ef->fd);
	free(ef);
}

int elf_file__type(const struct elf_file *ef)
{
	return ef->type;
}

/* Symbol `index` of table `scn` if it is defined and named `name`. */
static int elf_file__symbol_at(const struct elf_file *ef, Elf_Data *syms, size_t strndx,
			       size_t index, const char *name, uint64_t *addr, uint64_t *size)
{
	GElf_Sym sym;
	const char *sname;

	if (index > INT32_MAX || !gelf_getsym(syms, (int)index, &sym) ||
	    sym.st_shndx == SHN_UNDEF || sym.st_name == 0)
		return -ENOENT;
	sname = elf_strptr(ef->elf, strndx, sym.st_name);
	if (!sname || strcmp(sname, name) != 0)
		return -ENOENT;
	if (addr)
		*addr = sym.st_value;
	if (size)
		*size = sym.st_size;
	return 0;
}

static uint32_t gnu_hash(const char *name)
{
	uint32_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = h * 33 + *p;
	return h;
}

/*
 * Look `name` up in .dynsym through its GNU hash table: a Bloom filter,
 * then one hash bucket's chain, instead of a scan of every symbol (a large
 * program such as node has 185k). Every index and length is checked
 * against the section sizes: the file is untrusted. 0, -ENOENT (not
 * there), or -EINVAL (the table is unusable: the caller scans instead).
 */
static int elf_file__symbol_gnu_hash(const struct elf_file *ef, const char *name, uint64_t *addr,
				     uint64_t *size)
{
	Elf_Data *hd = elf_rawdata(ef->gnu_hash, NULL), *syms = elf_getdata(ef->dynsym, NULL);
	size_t entsize = gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT), nsyms, words;
	uint32_t nbuckets, symoffset, bloom_size, bloom_shift, h = gnu_hash(name), idx;
	const uint8_t *base;
	const uint32_t *buckets, *chain;
	uint64_t bloom, mask;
	GElf_Shdr dsh;

	if (!hd || !hd->d_buf || hd->d_size < 16 || !syms || !entsize ||
	    !gelf_getshdr(ef->dynsym, &dsh))
		return -EINVAL;
	base = hd->d_buf;
	memcpy(&nbuckets, base, 4);
	memcpy(&symoffset, base + 4, 4);
	memcpy(&bloom_size, base + 8, 4);
	memcpy(&bloom_shift, base + 12, 4);
	nsyms = syms->d_size / entsize;
	words = (hd->d_size - 16) / 4; /* u32 words after the header */
	if (!nbuckets || !bloom_size || (uint64_t)bloom_size * 2 + nbuckets > words ||
	    symoffset > nsyms)
		return -EINVAL;
	memcpy(&bloom, base + 16 + (size_t)((h / 64) % bloom_size) * 8, 8);
	mask = (1ull << (h % 64)) | (1ull << ((h >> (bloom_shift % 32)) % 64));
	if ((bloom & mask) != mask)
		return -ENOENT;
	buckets = (const uint32_t *)(base + 16 + (size_t)bloom_size * 8);
	chain = buckets + nbuckets;
	idx = buckets[h % nbuckets];
	if (idx < symoffset)
		return -ENOENT; /* empty bucket */
	/* The chain of a bucket runs until an entry with the low bit set. */
	for (; idx < nsyms; idx++) {
		size_t c = (size_t)nbuckets + (idx - symoffset);
		uint32_t ch;

		if (c >= words - (size_t)bloom_size * 2)
			return -EINVAL;
		ch = chain[idx - symoffset];
		if ((ch | 1) == (h | 1) &&
		    elf_file__symbol_at(ef, syms, dsh.sh_link, idx, name, addr, size) == 0)
			return 0;
		if (ch & 1)
			return -ENOENT;
	}
	return -EINVAL;
}

/* Can `name` be in this symbol table at all? A memmem over its string
 * table is far cheaper than reading every symbol. */
static bool elf_file__may_hold(const struct elf_file *ef, Elf_Scn *scn, const char *name)
{
	GElf_Shdr sh;
	Elf_Scn *strscn;
	Elf_Data *d;

	if (!scn || !gelf_getshdr(scn, &sh) || !(strscn = elf_getscn(ef->elf, sh.sh_link)))
		return true;
	d = elf_getdata(strscn, NULL);
	if (!d || !d->d_buf)
		return true;
	/* With its terminating NUL: a symbol may name the tail of a longer string. */
	return memmem(d->d_buf, d->d_size, name, strlen(name) + 1) != NULL;
}

/* Look `name` up in one symbol table by scanning it; defined symbols only. */
static int elf_file__symbol_in(const struct elf_file *ef, Elf_Scn *scn, const char *name,
			       uint64_t *addr, uint64_t *size)
{
	GElf_Shdr sh;
	Elf_Data *data;
	size_t entsize;

	if (!scn || !gelf_getshdr(scn, &sh))
		return -ENOENT;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf)
		return -ENOENT;
	entsize = gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT);
	if (entsize == 0)
		return -ENOENT;
	for (size_t i = 0; i < data->d_size / entsize; i++)
		if (elf_file__symbol_at(ef, data, sh.sh_link, i, name, addr, size) == 0)
			return 0;
	return -ENOENT;
}

int elf_file__symbol(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size)
{
	int err = -EINVAL;

	if (ef->gnu_hash)
		err = elf_file__symbol_gnu_hash(ef, name, addr, size);
	if (err == -EINVAL)
		err = elf_file__symbol_in(ef, ef->dynsym, name, addr, size);
	if (err == 0)
		return 0;
	if (!elf_file__may_hold(ef, ef->symtab, name))
		return -ENOENT;
	return elf_file__symbol_in(ef, ef->symtab, name, addr, size);
}

int elf_file__section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size)
{
	Elf_Scn *scn = NULL;

	if (!ef->have_shstrndx)
		return -ENOENT;
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *sname;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(ef->elf, ef->shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, name) != 0)
			continue;
		if (addr)
			*addr = sh.sh_addr;
		if (size)
			*size = sh.sh_size;
		return 0;
	}
	return -ENOENT;
}

int elf_file__read(const struct elf_file *ef, uint64_t addr, void *buf, size_t len)
{
	const struct elf_load *l = NULL;
	uint64_t rel, in_file;
	size_t i, from_file;

	for (i = 0; i < ef->nloads; i++) {
		const struct elf_load *c = &ef->loads[i];

		/* addr + len <= vaddr + memsz, written so that nothing overflows */
		if (addr >= c->vaddr && addr - c->vaddr <= c->memsz &&
		    len <= c->memsz - (addr - c->vaddr)) {
			l = c;
			break;
		}
	}
	if (!l)
		return -ENOENT;

	rel = addr - l->vaddr;
	in_file = rel < l->filesz ? l->filesz - rel : 0;
	from_file = in_file < len ? (size_t)in_file : len;
	if (from_file > 0) {
		uint64_t off = l->offset + rel;
		size_t done = 0;

		if (off < l->offset || off > ef->file_size || from_file > ef->file_size - off)
			return -EIO; /* segment claims bytes the file does not have */
		while (done < from_file) {
			ssize_t n = pread(ef->fd, (char *)buf + done, from_file - done,
					  (off_t)(off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -EIO;
			done += (size_t)n;
		}
	}
	memset((char *)buf + from_file, 0, len - from_file);
	return 0;
}

int elf_file__first_load(const struct elf_file *ef, uint64_t *vaddr, uint64_t *offset)
{
	const struct elf_load *first = NULL;
	uint64_t mask = ~(uint64_t)0;
	size_t i;

	for (i = 0; i < ef->nloads; i++) {
		if (!first || ef->loads[i].vaddr < first->vaddr)
			first = &ef->loads[i];
	}
	if (!first)
		return -ENOENT;
	/* p_align 0 and 1 mean "no alignment"; a non-power of two is malformed: ignore it. */
	if (first->align > 1 && (first->align & (first->align - 1)) == 0)
		mask = ~(first->align - 1);
	*vaddr = first->vaddr & mask;
	*offset = first->offset & mask;
	return 0;
}
