// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: compact-string code units from a target decoded to UTF-8.
 * Input: kind (1 byte), output size (1 byte), the code units.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pystr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int kinds[] = {1, 2, 4, 0, 3, 8};
	size_t outlen, n;
	uint8_t *units;
	char *out;
	int r;

	if (size < 2)
		return 0;
	outlen = data[1];
	n = size - 2;
	units = malloc(n ? n : 1);
	out = malloc(outlen ? outlen : 1);
	if (!units || !out)
		abort();
	memcpy(units, data + 2, n);
	r = pystr__to_utf8(kinds[data[0] % 6], units, n, out, outlen);
	if (r >= 0 && outlen && ((size_t)r >= outlen || out[r] != '\0'))
		abort(); /* the result must be NUL-terminated and within outlen */
	free(out);
	free(units);
	return 0;
}
