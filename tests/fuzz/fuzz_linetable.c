// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: line tables of every format (3.8 lnotab, 3.10 linetable, 3.11+
 * location table) as copied from a target, looked up at many offsets.
 * Input: format (1 byte), co_firstlineno (4 bytes), offset step (2 bytes),
 * the table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum linetable_format fmt;
	int32_t first;
	uint16_t step;
	uint8_t *table;
	size_t len;
	int64_t off, stride, end;

	if (size < 7)
		return 0;
	fmt = (enum linetable_format)(data[0] % 4);
	memcpy(&first, data + 1, sizeof(first));
	memcpy(&step, data + 5, sizeof(step));
	len = size - 7;
	/* An exact-size heap copy, so that ASan sees any read past the end. */
	table = malloc(len ? len : 1);
	if (!table)
		abort();
	memcpy(table, data + 7, len);
	(void)linetable__line(fmt, table, len, first, -2);
	(void)linetable__line(fmt, table, len, first, INT64_MAX);
	(void)linetable__line(fmt, table, len, first, INT64_MIN);
	/* At most ~256 lookups per input: each one decodes the table from its start. */
	end = (int64_t)len * 8 + 16;
	stride = step ? step : 2;
	if (stride < end / 256)
		stride = end / 256;
	for (off = 0; off <= end; off += stride)
		(void)linetable__line(fmt, table, len, first, off);
	free(table);
	return 0;
}
