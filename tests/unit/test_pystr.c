// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pystr__to_utf8: PEP 393 code units (Latin-1 / UCS-2 / UCS-4) -> UTF-8. */
#include <errno.h>
#include <stdbool.h>

#include "pystr.h"
#include "test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Host-order code units, as CPython stores them. */
static size_t ucs2(uint8_t *dst, const uint16_t *cp, size_t n)
{
	memcpy(dst, cp, n * 2);
	return n * 2;
}

static size_t ucs4(uint8_t *dst, const uint32_t *cp, size_t n)
{
	memcpy(dst, cp, n * 4);
	return n * 4;
}

static void test_ascii(void)
{
	char out[32];

	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"hello", 5, out, sizeof(out)), 5);
	CHECK_EQ_STR(out, "hello");
	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"", 0, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	/* data may be NULL when there is nothing to read */
	CHECK_EQ_INT(pystr__to_utf8(4, NULL, 0, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
}

static void test_latin1(void)
{
	static const uint8_t cafe[] = {'c', 'a', 'f', 0xe9};
	static const uint8_t edges[] = {0x7f, 0x80, 0xff};
	char out[32];

	CHECK_EQ_INT(pystr__to_utf8(1, cafe, sizeof(cafe), out, sizeof(out)), 5);
	CHECK_EQ_STR(out, "caf\xc3\xa9");
	CHECK_EQ_INT(pystr__to_utf8(1, edges, sizeof(edges), out, sizeof(out)), 5);
	CHECK_EQ_STR(out, "\x7f\xc2\x80\xc3\xbf");
}

static void test_ucs2(void)
{
	static const uint16_t cjk[] = {0x4e2d, 0x6587, 'x', 0x07ff, 0xffff};
	uint8_t data[64];
	char out[32];
	size_t n = ucs2(data, cjk, ARRAY_SIZE(cjk));

	CHECK_EQ_INT(pystr__to_utf8(2, data, n, out, sizeof(out)), 3 + 3 + 1 + 2 + 3);
	CHECK_EQ_STR(out, "\xe4\xb8\xad\xe6\x96\x87x\xdf\xbf\xef\xbf\xbf");
	/* A trailing odd byte is not a code unit. */
	CHECK_EQ_INT(pystr__to_utf8(2, data, 3, out, sizeof(out)), 3);
	CHECK_EQ_STR(out, "\xe4\xb8\xad");
}

static void test_ucs4(void)
{
	static const uint32_t emoji[] = {0x1f600, 'a', 0x10000, 0x10ffff};
	uint8_t data[64];
	char out[32];
	size_t n = ucs4(data + 1, emoji, ARRAY_SIZE(emoji)); /* deliberately misaligned */

	CHECK_EQ_INT(pystr__to_utf8(4, data + 1, n, out, sizeof(out)), 4 + 1 + 4 + 4);
	CHECK_EQ_STR(out, "\xf0\x9f\x98\x80"
			  "a"
			  "\xf0\x90\x80\x80"
			  "\xf4\x8f\xbf\xbf");
}

static void test_invalid_code_points(void)
{
	/* Lone surrogates, and a "pair" that PEP 393 strings store as two code points. */
	static const uint16_t s2[] = {'a', 0xd800, 'b', 0xdfff, 0xd83d, 0xde00};
	static const uint32_t s4[] = {0xdc00, 0x110000, 0xffffffff, 0x80000000, 'z'};
	uint8_t data[64];
	char out[64];
	size_t n;

	n = ucs2(data, s2, ARRAY_SIZE(s2));
	CHECK_EQ_INT(pystr__to_utf8(2, data, n, out, sizeof(out)), 1 + 3 + 1 + 3 + 3 + 3);
	CHECK_EQ_STR(out, "a\xef\xbf\xbd"
			  "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");

	n = ucs4(data, s4, ARRAY_SIZE(s4));
	CHECK_EQ_INT(pystr__to_utf8(4, data, n, out, sizeof(out)), 4 * 3 + 1);
	CHECK_EQ_STR(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
}

static void test_truncation(void)
{
	/* 'a' (1 byte), U+00E9 (2), U+4E2D (3), U+1F600 (4) */
	static const uint32_t mix[] = {'a', 0xe9, 0x4e2d, 0x1f600};
	static const struct {
		size_t outlen;
		int ret;
		const char *want;
	} cases[] = {
	    {1, 0, ""},
	    {2, 1, "a"},
	    {3, 1, "a"}, /* U+00E9 and its NUL do not fit */
	    {4, 3, "a\xc3\xa9"},
	    {6, 3, "a\xc3\xa9"},
	    {7, 6, "a\xc3\xa9\xe4\xb8\xad"},
	    {10, 6, "a\xc3\xa9\xe4\xb8\xad"},
	    {11, 10, "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"},
	    {64, 10, "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"},
	};
	uint8_t data[16];
	size_t n = ucs4(data, mix, ARRAY_SIZE(mix));

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[64];

		memset(out, 'X', sizeof(out));
		CHECK_EQ_INT(pystr__to_utf8(4, data, n, out, cases[i].outlen), cases[i].ret);
		CHECK_EQ_STR(out, cases[i].want);
		/* nothing written past outlen */
		for (size_t k = cases[i].outlen; k < sizeof(out); k++)
			CHECK(out[k] == 'X');
	}
}

static void test_outlen_zero(void)
{
	char out[4] = {'X', 'X', 'X', 'X'};

	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"abc", 3, out, 0), 0);
	CHECK(out[0] == 'X');
	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"abc", 3, NULL, 0), 0);
	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"abc", 3, out, 1), 0);
	CHECK(out[0] == '\0' && out[1] == 'X');
}

static void test_bad_arguments(void)
{
	char out[8];

	CHECK_EQ_INT(pystr__to_utf8(0, (const uint8_t *)"a", 1, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(pystr__to_utf8(3, (const uint8_t *)"abc", 3, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(pystr__to_utf8(8, (const uint8_t *)"abcdefgh", 8, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(pystr__to_utf8(1, NULL, 1, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(pystr__to_utf8(1, (const uint8_t *)"a", 1, NULL, 8), -EINVAL);
}

/* Strict UTF-8 decoder (shortest form, no surrogates) used to check the encoder. */
static int utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	int n;
	uint32_t v;

	if (len == 0)
		return -1;
	if (s[0] < 0x80)
		n = 1, v = s[0];
	else if ((s[0] & 0xe0) == 0xc0)
		n = 2, v = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, v = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, v = s[0] & 0x07;
	else
		return -1;
	if ((size_t)n > len)
		return -1;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	return n;
}

static void test_every_code_point(void)
{
	unsigned int bad = 0;

	for (uint32_t cp = 0; cp <= 0x110100; cp++) {
		uint32_t want = (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ? 0xfffd : cp;
		uint32_t got = 0;
		uint8_t data[4];
		char out[8];
		int n;

		memcpy(data, &cp, sizeof(cp));
		n = pystr__to_utf8(4, data, sizeof(data), out, sizeof(out));
		if (n <= 0 || n > 4 || utf8_decode((const uint8_t *)out, (size_t)n, &got) != n ||
		    got != want || out[n] != '\0') {
			if (bad++ < 10)
				fprintf(stderr, "U+%04X: n=%d decoded U+%04X\n", cp, n, got);
		}
		if (cp < 0x10000) {
			uint16_t u = (uint16_t)cp;
			char out2[8];

			memcpy(data, &u, sizeof(u));
			if (pystr__to_utf8(2, data, 2, out2, sizeof(out2)) != n ||
			    memcmp(out, out2, (size_t)n + 1) != 0)
				bad++;
		}
		if (cp < 0x100) {
			uint8_t b = (uint8_t)cp;
			char out1[8];

			if (pystr__to_utf8(1, &b, 1, out1, sizeof(out1)) != n ||
			    memcmp(out, out1, (size_t)n + 1) != 0)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

TEST_MAIN(TEST(test_ascii), TEST(test_latin1), TEST(test_ucs2), TEST(test_ucs4),
	  TEST(test_invalid_code_points), TEST(test_truncation), TEST(test_outlen_zero),
	  TEST(test_bad_arguments), TEST(test_every_code_point))
