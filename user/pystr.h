/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Convert the raw code units of a CPython compact string (kind 1 = Latin-1,
 * 2 = UCS-2, 4 = UCS-4) to NUL-terminated UTF-8. Invalid code points
 * (surrogates, > U+10FFFF) become U+FFFD. Output is cut at a character
 * boundary when `outlen` is too small.
 */
#ifndef PYBPF_PYSTR_H
#define PYBPF_PYSTR_H

#include <stddef.h>
#include <stdint.h>

/* Returns the number of bytes written (excluding NUL), or -EINVAL for a bad kind. */
int pystr__to_utf8(unsigned int kind, const uint8_t *data, size_t nbytes, char *out, size_t outlen);

#endif
