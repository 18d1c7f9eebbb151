// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Splicing Python frames into native stacks, and naming kernel frames. */
#include <stdio.h>
#include <string.h>

#include "kallsyms.h"
#include "splice.h"
#include "test.h"
#include "unwind.h"

#define N(i)                                                                                       \
	{                                                                                          \
		SPLICE_NATIVE, i                                                                   \
	}
#define P(i)                                                                                       \
	{                                                                                          \
		SPLICE_PYTHON, i                                                                   \
	}

static void check_merge(const struct splice_in *in, const struct splice_item *want, size_t nwant)
{
	struct splice_item out[64];
	size_t n = splice__merge(in, out);

	CHECK_EQ_INT(n, nwant);
	for (size_t i = 0; i < n && i < nwant; i++) {
		CHECK_EQ_INT(out[i].kind, want[i].kind);
		CHECK_EQ_INT(out[i].index, want[i].index);
	}
}

static void test_is_eval(void)
{
	CHECK(splice__is_eval("_PyEval_EvalFrameDefault"));
	CHECK(splice__is_eval("_PyEval_EvalFrameDefault.cold"));
	CHECK(splice__is_eval("_PyEval_EvalFrameDefault.part.0"));
	CHECK(!splice__is_eval("_PyEval_EvalFrameDefaultX"));
	CHECK(!splice__is_eval("_PyEval_EvalFrame"));
	CHECK(!splice__is_eval("PyEval_EvalCode"));
	CHECK(!splice__is_eval(NULL));
}

/* 3.11+: sorted(key=f) -- the key function's activation is above list_sort,
 * the caller's (two frames, the outer one its entry) below it. */
static void test_reentry(void)
{
	/* native, innermost first: deflate-like leaf, eval(f), vectorcall,
	 * list_sort, eval(caller, module), main */
	bool is_eval[] = {false, true, false, false, true, false};
	uint64_t entry[4] = {0};
	struct splice_in in = {.is_eval = is_eval, .nnative = 6, .npython = 3, .entry = entry};
	const struct splice_item want[] = {N(0), P(0), N(2), N(3), P(1), P(2), N(5)};

	entry[0] = 1u << 0 | 1u << 2; /* f begins its activation; so does <module> */
	check_merge(&in, want, sizeof(want) / sizeof(want[0]));
}

/* Before 3.11 every Python frame is one activation (entry == NULL). */
static void test_one_frame_per_activation(void)
{
	bool is_eval[] = {false, true, false, true, true, false};
	struct splice_in in = {.is_eval = is_eval, .nnative = 6, .npython = 3, .entry = NULL};
	const struct splice_item want[] = {N(0), P(0), N(2), P(1), P(2), N(5)};

	check_merge(&in, want, sizeof(want) / sizeof(want[0]));
}

/* The innermost eval frame is entering a call whose frame is not current
 * yet: it stays native, the Python frames go to the right activations. */
static void test_more_evals_than_activations(void)
{
	bool is_eval[] = {true, false, true, false};
	uint64_t entry[4] = {1u << 1};
	struct splice_in in = {.is_eval = is_eval, .nnative = 4, .npython = 2, .entry = entry};
	const struct splice_item want[] = {N(0), N(1), P(0), P(1), N(3)};

	check_merge(&in, want, sizeof(want) / sizeof(want[0]));
}

/* A native unwind cut short: Python frames left over go below. */
static void test_cut_native_stack(void)
{
	bool is_eval[] = {false, true};
	uint64_t entry[4] = {1u << 0 | 1u << 3};
	struct splice_in in = {.is_eval = is_eval, .nnative = 2, .npython = 4, .entry = entry};
	const struct splice_item want[] = {N(0), P(0), P(1), P(2), P(3)};

	check_merge(&in, want, sizeof(want) / sizeof(want[0]));
}

/* No native frames at all (registers unavailable): the Python stack as is. */
static void test_no_native(void)
{
	struct splice_in in = {.is_eval = NULL, .nnative = 0, .npython = 2, .entry = NULL};
	const struct splice_item want[] = {P(0), P(1)};

	check_merge(&in, want, sizeof(want) / sizeof(want[0]));
}

/* Activations spanning a 64-frame word of the entry bitmap. */
static void test_deep_activation(void)
{
	bool is_eval[] = {true, false, true};
	uint64_t entry[4] = {0, 1ull << (69 - 64), 0, 0};
	struct splice_in in = {.is_eval = is_eval, .nnative = 3, .npython = 100, .entry = entry};
	struct splice_item out[128];
	size_t n = splice__merge(&in, out);

	CHECK_EQ_INT(n, 101u);
	for (size_t i = 0; i < 70; i++)
		CHECK(out[i].kind == SPLICE_PYTHON && out[i].index == i);
	CHECK(out[70].kind == SPLICE_NATIVE && out[70].index == 1);
	for (size_t i = 71; i < 101; i++)
		CHECK(out[i].kind == SPLICE_PYTHON && out[i].index == i - 1);
}

static void test_kallsyms(void)
{
	static const char text[] = "0000000000000000 A fixed_percpu_data\n"
				   "ffffffff81000000 T _stext\n"
				   "ffffffff81002000 t read_zero\n"
				   "ffffffff81001000 T do_syscall_64\n"
				   "ffffffff81003000 D some_data\n"
				   "ffffffffc0000000 t mod_fn\t[mymod]\n"
				   "garbage line\n";
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct kallsyms *k;

	CHECK(f != NULL);
	k = kallsyms__parse(f);
	fclose(f);
	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_EQ_INT(kallsyms__count(k), 4u); /* data symbols and address 0 left out */
	CHECK(kallsyms__name(k, 0xffffffff80ffffffull) == NULL);
	CHECK_EQ_STR(kallsyms__name(k, 0xffffffff81000000ull), "_stext");
	CHECK_EQ_STR(kallsyms__name(k, 0xffffffff81001234ull), "do_syscall_64");
	CHECK_EQ_STR(kallsyms__name(k, 0xffffffff81002fffull), "read_zero");
	CHECK_EQ_STR(kallsyms__name(k, 0xffffffffc0000010ull), "mod_fn");
	kallsyms__free(k);

	/* addresses hidden by kptr_restrict: all zero */
	f = fmemopen((void *)"0000000000000000 T _stext\n", 26, "r");
	CHECK(kallsyms__parse(f) == NULL);
	fclose(f);
}

static void test_unknown_name(void)
{
	struct unwind_module m = {.path = "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
				  .build_id = "",
				  .start = 0x7f0000000000ull,
				  .limit = 0x7f0000020000ull,
				  .offset = 0};
	struct unwind_frame fr = {.pc = 0x7f000000627bull, .name = NULL, .module = &m};
	char buf[96];

	unwind__unknown_name(&fr, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "[libz.so.1.2.13+0x627b]");
	fr.module = NULL;
	unwind__unknown_name(&fr, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "[unknown+0x7f000000627b]");
}

TEST_MAIN(TEST(test_is_eval), TEST(test_reentry), TEST(test_one_frame_per_activation),
	  TEST(test_more_evals_than_activations), TEST(test_cut_native_stack), TEST(test_no_native),
	  TEST(test_deep_activation), TEST(test_kallsyms), TEST(test_unknown_name))
