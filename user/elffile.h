/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Read-only queries on an ELF file with libelf: symbols (dynamic and
 * static tables), sections and the bytes at a virtual address. Safe on
 * malformed or truncated input: every failure is an error, never a crash.
 */
#ifndef PYBPF_ELFFILE_H
#define PYBPF_ELFFILE_H

#include <stddef.h>
#include <stdint.h>

struct elf_file;

/* Symbol, string and hash tables larger than this are not read (treated as
 * absent): a sparse file can claim gigabytes of them at no cost to its maker. */
#define ELF_FILE_TABLE_MAX (128ull << 20)

/*
 * Check an ELF's headers with pread() alone, before any ELF library looks
 * at it: libelf allocates per section header the file claims (a sparse
 * file can claim millions at no cost), and libdw inflates a compressed
 * section to the size its header claims. Refuses more than
 * ELF_FILE_SECTIONS_MAX section or program headers, and, when inflate_max
 * is not 0, a compressed section (SHF_COMPRESSED) inflating beyond it.
 * 0, -ENOEXEC (not ELF, malformed, too many headers), -EFBIG (a section
 * inflating too far) or -EIO.
 */
#define ELF_FILE_SECTIONS_MAX 65536u
int elf_file__check_fd(int fd, uint64_t inflate_max);

/* Open by path. NULL with errno set (ENOENT, ENOEXEC for not-an-ELF, ...). */
struct elf_file *elf_file__open(const char *path);
/* The same over an open file descriptor, which the handle then owns (it is
 * closed on failure too). Only regular files are accepted. */
struct elf_file *elf_file__open_fd(int fd);
void elf_file__close(struct elf_file *ef);

/* ET_EXEC (non-PIE executable) or ET_DYN (PIE or shared object). */
int elf_file__type(const struct elf_file *ef);

/* Value (st_value, a link-time virtual address) and size of a symbol,
 * searched in .dynsym then .symtab. 0 or -ENOENT. */
int elf_file__symbol(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size);

/* Link-time address and size of a section by name. 0 or -ENOENT. */
int elf_file__section(const struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size);

/* Copy `len` bytes at link-time virtual address `addr` from the file
 * (PT_LOAD segments; bytes beyond p_filesz are zero). 0, -ENOENT or -EIO. */
int elf_file__read(const struct elf_file *ef, uint64_t addr, void *buf, size_t len);

/* File offset and vaddr of the PT_LOAD segment with file offset 0... used to
 * compute the load bias: bias = mapping start - (segment vaddr - segment offset
 * rounded down to the page). Returns the lowest PT_LOAD p_vaddr & ~(align-1)
 * via *vaddr and its p_offset via *offset. 0 or -ENOENT. */
int elf_file__first_load(const struct elf_file *ef, uint64_t *vaddr, uint64_t *offset);

#endif
