/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Is this process a CPython interpreter, and where is its runtime?
 * Decided from ELF contents of the executable and the mapped libpython
 * (read through /proc/PID/root so containers work), never from names.
 */
#ifndef PYBPF_PYINFO_H
#define PYBPF_PYINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PYINFO_DEBUG_MAX 1024

struct pyinfo {
	unsigned int major, minor, micro; /* interpreter version, e.g. 3.11.7 */
	uint32_t hexversion;    /* PY_VERSION_HEX when known (Py_Version / debug offsets), else 0 */
	bool free_threaded;     /* 3.13+ "t" build */
	uint64_t runtime_addr;  /* address of _PyRuntime in the target (load bias applied) */
	uint64_t runtime_size;  /* size of _PyRuntime when known, else 0 */
	uint64_t code_type_addr; /* address of PyCode_Type in the target, 0 if unknown */
	uint64_t code_count_addr; /* 3.12: address of _Py_next_func_version (u32), 0 if unknown */
	char binary[4096];      /* the ELF that holds _PyRuntime, as named in maps */
	bool shared;            /* _PyRuntime is in a shared libpython */
	/* 3.13+: the _Py_DebugOffsets block at the start of _PyRuntime, read
	 * from the ELF file (equal to the live bytes); debug_len 0 if absent. */
	size_t debug_len;
	uint8_t debug[PYINFO_DEBUG_MAX];
};

/* "3.15.0rc1", "3.16.0a0", "3.13.5t": the version as people write it
 * (release level from hexversion when known, "t" for free-threaded). */
const char *pyinfo__version_str(const struct pyinfo *info, char *buf, size_t size);

/*
 * Inspect one process. `proc` is the proc root ("/proc").
 * 0 on success; -ESRCH process gone; -ENOEXEC not Python; -EACCES no
 * permission to read it; other -errno on failure.
 */
int pyinfo__inspect(const char *proc, pid_t pid, struct pyinfo *info);

/*
 * The runtime, version and debug offsets of one opened ELF file whose load
 * bias (0 for non-PIE executables) is `bias`; binary and shared are left
 * empty. 0, -ENOENT no _PyRuntime, -ENOTSUP version unknown, -ENOMEM.
 * pyinfo__inspect uses it on each candidate file; tests and fuzzers call
 * it on files they made.
 */
struct elf_file;
int pyinfo__from_elf(const struct elf_file *ef, uint64_t bias, struct pyinfo *info);

/*
 * Files found not to hold a CPython runtime, by device, inode, size and
 * mtime, so that every new process of a large non-Python program does not
 * cost a symbol search again. Bounded (cleared when full).
 */
struct pyinfo_cache;
struct pyinfo_cache *pyinfo_cache__new(void);
void pyinfo_cache__free(struct pyinfo_cache *c);
size_t pyinfo_cache__size(const struct pyinfo_cache *c);

/* pyinfo__inspect, skipping files the cache knows (cache may be NULL). */
int pyinfo__inspect_cached(const char *proc, pid_t pid, struct pyinfo_cache *cache,
			   struct pyinfo *info);

#endif
