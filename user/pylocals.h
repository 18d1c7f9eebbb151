/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Local variables of a live Python frame, read from userspace: the names
 * from the code object (co_varnames before 3.11, co_localsplusnames with
 * co_localspluskinds from 3.11), the values from the frame's fast locals
 * (f_localsplus / localsplus). Values of simple types are formatted like
 * Python's repr (int, float, bool, None, short str and bytes); anything
 * else as "<type at 0xADDR>".
 */
#ifndef PYBPF_PYLOCALS_H
#define PYBPF_PYLOCALS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memread.h"
#include "pybpf_abi.h"

struct pyinfo;
struct pylocals;

struct pylocal {
	char *name;
	char *value; /* NULL: not bound yet (unassigned local) */
};

/* Strings longer than this (characters, or bytes of a bytes object) are
 * cut ("...") when shown. */
#define PYLOCALS_STR_MAX 64
/* Bounds of what pylocals__read returns, whatever the target's memory
 * holds: at most PYLOCALS_MAX locals per frame, each value shorter than
 * PYLOCALS_VALUE_MAX bytes, each name at most PYLOCALS_STR_MAX characters
 * (4 * PYLOCALS_STR_MAX bytes of UTF-8). */
#define PYLOCALS_MAX 256
#define PYLOCALS_VALUE_MAX 320

/* NULL with errno ENOTSUP (version whose layout is unknown) or ENOMEM. */
struct pylocals *pylocals__new(pid_t pid, const struct pyinfo *info,
			       const struct pybpf_offsets *off);
void pylocals__free(struct pylocals *l);
/* Read the target's memory with `read` instead of memread (tests, fuzzers). */
void pylocals__set_reader(struct pylocals *l, memread_fn *read);

/*
 * Locals of the frame at `frame` running `code` (threadsnap frame address
 * and the recorded code object). *out is malloc'ed; free it with
 * pylocals__free_list. 0, or -EFAULT when the frame could not be read.
 */
int pylocals__read(struct pylocals *l, uint64_t frame, uint64_t code, struct pylocal **out,
		   size_t *n);
void pylocals__free_list(struct pylocal *v, size_t n);

/* Formatting, exposed for tests. Each writes a NUL-terminated string. */
/* An int from CPython's 30-bit digits (least significant first). */
void pylocals__fmt_int(const uint32_t *digits, size_t ndigits, int negative, char *out, size_t len);
/* A float as repr() shows it (shortest round-trip form). */
void pylocals__fmt_float(double v, char *out, size_t len);
/* A str's UTF-8 text as a quoted literal; `cut` appends "..." after it. */
void pylocals__fmt_str(const char *utf8, int cut, char *out, size_t len);
/* bytes as b'...'. */
void pylocals__fmt_bytes(const uint8_t *data, size_t n, int cut, char *out, size_t len);

#endif
