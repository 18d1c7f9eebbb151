// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Bytecode offset -> source line, for the three line-table encodings CPython
 * has shipped since 3.8. Written from the format descriptions
 * (Objects/lnotab_notes.txt for 3.8-3.10, Objects/locations.md for 3.11+)
 * and checked against co_lines()/co_positions()/dis.findlinestarts() of real
 * interpreters by tests/unit/test_linetable.c.
 *
 * The tables come from another process's memory and may be stale, cut short
 * or plain garbage: every read is bounds-checked, the running line number is
 * kept inside a sane range, and anything that does not decode gives 0.
 */
#include <stdbool.h>

#include "linetable.h"

/*
 * Lines are C ints in CPython. Keeping the running value within +-2^40 leaves
 * room for any real table while making signed overflow impossible: each step
 * adds at most 2^41 (the longest varint accepted below).
 */
#define LINE_LIMIT ((int64_t)1 << 40)

/* Varints longer than this many 6-bit chunks (42 bits) are treated as garbage. */
#define VARINT_MAX_CHUNKS 7

enum linetable_format linetable__format_for(unsigned int major, unsigned int minor)
{
	enum linetable_format fmt = 0;

	if (major != 3)
		goto out;
	if (minor == 8 || minor == 9)
		fmt = LINETABLE_LNOTAB;
	else if (minor == 10)
		fmt = LINETABLE_310;
	else if (minor >= 11)
		/* Unchanged from 3.11 through 3.15 (Objects/locations.md); a newer
		 * version is profiled only if its layout validates (pyoffsets.c),
		 * and is assumed to keep this format. */
		fmt = LINETABLE_LOCATIONS;
out:
	return fmt;
}

/* Add delta to *line; false if the result leaves [-LINE_LIMIT, LINE_LIMIT]. */
static bool line_add(int64_t *line, int64_t delta)
{
	int64_t next = *line + delta; /* both operands are within 2^42: no overflow */

	if (next < -LINE_LIMIT || next > LINE_LIMIT)
		return false;
	*line = next;
	return true;
}

static int64_t line_result(int64_t line)
{
	return line > 0 ? line : 0;
}

/*
 * 3.8 / 3.9 co_lnotab (Objects/lnotab_notes.txt of CPython 3.8):
 * a sequence of (address increment, line increment) byte pairs, both
 * relative to the previous pair, starting from address 0 and co_firstlineno.
 * The address increment is unsigned, the line increment a signed byte (since
 * 3.6). Large jumps are split over several pairs with a zero in the other
 * half. The line of an offset is that of the last pair boundary at or before
 * it; there is no end marker, so offsets past the table keep the last line.
 */
static int64_t lnotab_line(const uint8_t *table, size_t len, int64_t line, uint64_t offset)
{
	uint64_t addr = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += table[i];
		if (addr > offset)
			break;
		if (!line_add(&line, (int8_t)table[i + 1]))
			return 0;
	}
	return line_result(line);
}

/*
 * 3.10 co_linetable (PEP 626, Objects/lnotab_notes.txt of CPython 3.10):
 * (byte count, line delta) pairs. Each pair covers the byte range
 * [end, end + count) directly after the previous one; the line delta is a
 * signed byte added to the running line, except -128 which marks the range
 * as having no line and leaves the running line alone. Offsets beyond the
 * last range have no line.
 */
static int64_t pep626_line(const uint8_t *table, size_t len, int64_t line, uint64_t offset)
{
	uint64_t end = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		int8_t ldelta = (int8_t)table[i + 1];
		bool has_line = ldelta != -128;

		end += table[i];
		if (has_line && !line_add(&line, ldelta))
			return 0;
		/* Ranges are contiguous from 0, so the first end past offset is ours. */
		if (offset < end)
			return has_line ? line_result(line) : 0;
	}
	return 0;
}

/*
 * Unsigned varint of the 3.11+ location table: little-endian 6-bit chunks,
 * bit 6 set on every chunk but the last. Advances *pos; false if the table
 * ends first, a byte with bit 7 set (the next entry) interrupts it, or it is
 * longer than any real value.
 */
static bool read_varint(const uint8_t *table, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t val = 0;
	unsigned int shift = 0;

	for (unsigned int chunk = 0; chunk < VARINT_MAX_CHUNKS; chunk++) {
		uint8_t b;

		if (*pos >= len)
			return false;
		b = table[(*pos)++];
		if (b & 0x80)
			return false;
		val |= (uint64_t)(b & 0x3f) << shift;
		shift += 6;
		if (!(b & 0x40)) {
			*out = val;
			return true;
		}
	}
	return false;
}

/* Signed varint: the unsigned value holds magnitude << 1 | sign. */
static bool read_svarint(const uint8_t *table, size_t len, size_t *pos, int64_t *out)
{
	uint64_t u;

	if (!read_varint(table, len, pos, &u))
		return false;
	*out = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return true;
}

/* Location-entry codes, Objects/locations.md of CPython 3.11 (unchanged to 3.14). */
enum {
	LOC_SHORT_LAST = 9, /* 0-9: short form, same line, one column byte */
	LOC_ONE_LINE0 = 10, /* 10-12: line delta 0/1/2, start and end column bytes */
	LOC_ONE_LINE2 = 12,
	LOC_NO_COLUMNS = 13, /* signed varint line delta */
	LOC_LONG = 14,	     /* signed varint line delta, end line, two columns */
	LOC_NONE = 15,	     /* no location; running line unchanged */
};

/*
 * 3.11+ location table. Each entry starts with a byte with bit 7 set:
 * bits 3-6 are the code, bits 0-2 the number of code units covered minus
 * one; the payload bytes that follow have bit 7 clear. Only the line delta
 * matters here: it is relative to the previous entry's start line (initially
 * co_firstlineno) and the rest of the payload is skipped by scanning for the
 * next entry's first byte.
 */
static int64_t locations_line(const uint8_t *table, size_t len, int64_t line, uint64_t offset)
{
	uint64_t unit = offset / 2; /* offsets are in bytes, entries count 2-byte code units */
	uint64_t start = 0;
	size_t pos = 0;

	while (pos < len) {
		uint8_t first = table[pos++];
		unsigned int code = (first >> 3) & 15;
		unsigned int units = (first & 7) + 1;
		int64_t delta = 0;

		if (!(first & 0x80))
			return 0; /* not at an entry boundary: not a location table */

		if (code == LOC_NO_COLUMNS || code == LOC_LONG) {
			if (!read_svarint(table, len, &pos, &delta))
				return 0;
		} else if (code >= LOC_ONE_LINE0 && code <= LOC_ONE_LINE2) {
			delta = code - LOC_ONE_LINE0;
		}
		/* short forms (0-9) and LOC_NONE leave the line where it is */
		if (!line_add(&line, delta))
			return 0;

		start += units;
		if (unit < start)
			return code == LOC_NONE ? 0 : line_result(line);

		while (pos < len && !(table[pos] & 0x80))
			pos++;
	}
	return 0;
}

int64_t linetable__line(enum linetable_format fmt, const uint8_t *table, size_t len,
			int64_t firstlineno, int64_t byte_offset)
{
	uint64_t offset = byte_offset < 0 ? 0 : (uint64_t)byte_offset;
	int64_t line = 0;

	if (!table)
		len = 0;
	if (firstlineno < -LINE_LIMIT || firstlineno > LINE_LIMIT)
		goto out;

	switch (fmt) {
	case LINETABLE_LNOTAB:
		line = lnotab_line(table, len, firstlineno, offset);
		break;
	case LINETABLE_310:
		line = pep626_line(table, len, firstlineno, offset);
		break;
	case LINETABLE_LOCATIONS:
		line = locations_line(table, len, firstlineno, offset);
		break;
	}
out:
	return line;
}
