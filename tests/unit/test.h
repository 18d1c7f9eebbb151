/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Minimal unit-test support: CHECK* record a failure and continue,
 * TEST_MAIN runs the listed cases and exits non-zero on any failure.
 */
#ifndef PYBPF_TEST_H
#define PYBPF_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			test_failures++;                                               \
		}                                                                      \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                             \
	do {                                                                           \
		long long a_ = (long long)(a), b_ = (long long)(b);                    \
		if (a_ != b_) {                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, a_, b_);                             \
			test_failures++;                                               \
		}                                                                      \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                             \
	do {                                                                           \
		const char *a_ = (a), *b_ = (b);                                       \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                               \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",  \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",        \
				b_ ? b_ : "(null)");                                   \
			test_failures++;                                               \
		}                                                                      \
	} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TEST(fn) { #fn, fn }

static inline int test_run(const struct test_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int before = test_failures;

		cases[i].fn();
		fprintf(stderr, "%s %s\n", test_failures == before ? "ok  " : "FAIL", cases[i].name);
	}
	return test_failures ? 1 : 0;
}

#define TEST_MAIN(...)                                                                 \
	int main(void)                                                                 \
	{                                                                              \
		static const struct test_case cases_[] = { __VA_ARGS__ };              \
		return test_run(cases_, sizeof(cases_) / sizeof(cases_[0]));           \
	}

/* Skip the whole test program (ctest counts exit code 77 only if SKIP_RETURN_CODE is set). */
#define TEST_SKIP_CODE 77

#endif
