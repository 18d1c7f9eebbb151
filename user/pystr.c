// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CPython compact string data -> UTF-8.
 *
 * Since CPython 3.3 (PEP 393) a str stores one fixed-width code unit per
 * character: 1 byte (Latin-1, which includes ASCII), 2 bytes (UCS-2) or
 * 4 bytes (UCS-4), in the interpreter's native byte order. The bytes here
 * were copied out of a profiled process on the same machine, so they are
 * read in host order. Surrogates never pair up in this representation:
 * each one is a lone code point and, like anything above U+10FFFF, is not
 * encodable in UTF-8, so it becomes U+FFFD.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "pystr.h"

#define REPLACEMENT_CHAR 0xfffdu

static uint32_t read_unit(unsigned int kind, const uint8_t *p)
{
	uint32_t cp = p[0];

	if (kind == 2) {
		uint16_t u;

		memcpy(&u, p, sizeof(u));
		cp = u;
	} else if (kind == 4) {
		memcpy(&cp, p, sizeof(cp));
	}
	return cp;
}

/* UTF-8 encoding of cp into buf (4 bytes); returns its length. */
static size_t utf8_encode(uint32_t cp, uint8_t *buf)
{
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = REPLACEMENT_CHAR;

	if (cp < 0x80) {
		buf[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (uint8_t)(0xc0 | cp >> 6);
		buf[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (uint8_t)(0xe0 | cp >> 12);
		buf[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		buf[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (uint8_t)(0xf0 | cp >> 18);
	buf[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	buf[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	buf[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

int pystr__to_utf8(unsigned int kind, const uint8_t *data, size_t nbytes, char *out, size_t outlen)
{
	size_t written = 0, units;

	if ((kind != 1 && kind != 2 && kind != 4) || (!data && nbytes) || (!out && outlen))
		return -EINVAL;
	if (outlen == 0)
		return 0;
	/* The count is returned as an int: never produce more than INT_MAX bytes. */
	if (outlen > (size_t)INT_MAX + 1)
		outlen = (size_t)INT_MAX + 1;

	units = nbytes / kind; /* a trailing partial unit is dropped */
	for (size_t i = 0; i < units; i++) {
		uint8_t buf[4];
		size_t n = utf8_encode(read_unit(kind, data + i * kind), buf);

		if (n >= outlen - written) /* keep one byte for the NUL */
			break;
		memcpy(out + written, buf, n);
		written += n;
	}
	out[written] = '\0';
	return (int)written;
}
