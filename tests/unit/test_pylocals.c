// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pylocals: the locals of a frame read from a fake memory image laid out as
 * 3.11 and 3.12 lay out code objects, tuples, str, int and type objects
 * (offsets from pyoffsets and pylocals' own tables), for what a target's
 * memory can claim: ints too long to print, a digit count of INT64_MIN,
 * a type whose name cannot be read.
 */
#include <errno.h>
#include <stdbool.h>

#include "pyinfo.h"
#include "pylocals.h"
#include "pyoffsets.h"
#include "test.h"

#define BASE 0x10000ull
#define MEM_SIZE 0x10000u

static uint8_t mem[MEM_SIZE];

static int fake_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	(void)pid;
	if (addr < BASE || addr - BASE > MEM_SIZE || len > MEM_SIZE - (addr - BASE))
		return -EFAULT;
	memcpy(buf, mem + (addr - BASE), len);
	return 0;
}

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(mem + (addr - BASE), &v, sizeof(v));
}

/* The object layout of 3.11 and 3.12 (tools/pyoffsets/dump.sh). */
#define CODE_NAMES 96
#define CODE_KINDS 104
#define FRAME_LOCALSPLUS 72
#define TUPLE_SIZE 16
#define TUPLE_ITEM 24
#define TP_NAME 24
#define LONG_SIZE 16
#define LONG_DIGIT 24

struct image {
	struct pybpf_offsets off;
	uint64_t next; /* where the next object goes */
	uint64_t int_type;
};

static uint64_t alloc(struct image *im, size_t size)
{
	uint64_t a = im->next;

	im->next += (size + 15) & ~(size_t)15;
	return a;
}

static uint64_t type_named(struct image *im, const char *name)
{
	uint64_t t = alloc(im, 64), s = alloc(im, strlen(name) + 1);

	memcpy(mem + (s - BASE), name, strlen(name) + 1);
	put64(t + TP_NAME, s);
	return t;
}

static uint64_t ascii_str(struct image *im, const char *s)
{
	uint64_t o = alloc(im, im->off.unicode_ascii_data + strlen(s) + 1);
	uint32_t state = (1u << im->off.unicode_kind_shift) | (1u << im->off.unicode_compact_bit) |
			 (1u << im->off.unicode_ascii_bit);

	put64(o + im->off.unicode_length, strlen(s));
	memcpy(mem + (o + im->off.unicode_state - BASE), &state, sizeof(state));
	memcpy(mem + (o + im->off.unicode_ascii_data - BASE), s, strlen(s));
	return o;
}

/* A frame of code whose locals are named names[i] and hold values[i]. */
static void frame_of(struct image *im, const char *const *names, const uint64_t *values, size_t n,
		     uint64_t *frame, uint64_t *code)
{
	uint64_t tuple = alloc(im, TUPLE_ITEM + 8 * n), kinds = alloc(im, 64 + n);

	*code = alloc(im, 256);
	*frame = alloc(im, FRAME_LOCALSPLUS + 8 * n);
	put64(*code + CODE_NAMES, tuple);
	put64(*code + CODE_KINDS, kinds);
	put64(tuple + TUPLE_SIZE, n);
	for (size_t i = 0; i < n; i++) {
		put64(tuple + TUPLE_ITEM + 8 * i, ascii_str(im, names[i]));
		mem[kinds + im->off.bytes_data + i - BASE] = 0x20; /* plain local */
		put64(*frame + FRAME_LOCALSPLUS + 8 * i, values[i]);
	}
}

static struct pylocals *open_image(struct image *im, unsigned int minor)
{
	struct pyinfo info = {.major = 3, .minor = minor};
	struct pylocals *l;

	memset(mem, 0, sizeof(mem));
	memset(im, 0, sizeof(*im));
	im->next = BASE + 16;
	if (pyoffsets__get(&info, &im->off))
		return NULL;
	im->int_type = type_named(im, "int");
	l = pylocals__new(0, &info, &im->off);
	CHECK(l != NULL);
	if (l)
		pylocals__set_reader(l, fake_read);
	return l;
}

static uint64_t int_obj(struct image *im, uint64_t size_word, const uint32_t *digits, size_t n)
{
	uint64_t o = alloc(im, LONG_DIGIT + 4 * n);

	put64(o + im->off.object_type, im->int_type);
	put64(o + LONG_SIZE, size_word);
	if (n)
		memcpy(mem + (o + LONG_DIGIT - BASE), digits, 4 * n);
	return o;
}

/* Read a frame whose locals hold values[0..n) (n <= 4) into out, then
 * close l. How many locals were read; -errno if the frame was not. */
static int read_values(struct image *im, struct pylocals *l, const uint64_t *values, size_t n,
		       char (*out)[PYLOCALS_VALUE_MAX])
{
	static const char *const names[] = {"a", "b", "c", "d"};
	struct pylocal *v = NULL;
	uint64_t frame, code;
	size_t nv = 0;
	int err;

	frame_of(im, names, values, n, &frame, &code);
	err = pylocals__read(l, frame, code, &v, &nv);
	for (size_t i = 0; !err && i < nv; i++) {
		CHECK_EQ_STR(v[i].name, names[i]);
		snprintf(out[i], PYLOCALS_VALUE_MAX, "%s", v[i].value ? v[i].value : "(unbound)");
	}
	pylocals__free_list(v, nv);
	pylocals__free(l);
	return err ? err : (int)nv;
}

/* -(2**1079): 325 digits, more than a value holds. It used to be shown cut
 * to its first 318 digits, a different number; now it is named by size. */
static void test_int_too_long_to_print(void)
{
	char out[2][PYLOCALS_VALUE_MAX];
	uint32_t digits[36] = {0}, seven = 7;
	uint64_t values[2];
	struct image im;
	struct pylocals *l = open_image(&im, 12);

	if (!l)
		return;
	digits[35] = 1u << 29;
	values[0] = int_obj(&im, 36u << 3 | 2, digits, 36); /* lv_tag: 36 digits, negative */
	values[1] = int_obj(&im, 1u << 3, &seven, 1);
	CHECK_EQ_INT(read_values(&im, l, values, 2, out), 2);
	CHECK_EQ_STR(out[0], "<int of 1080 bits>");
	CHECK_EQ_STR(out[1], "7");
}

static void test_fmt_int_bounded(void)
{
	uint32_t digits[2] = {0, 1}; /* 2**30 = 1073741824 */
	char out[11];

	pylocals__fmt_int(digits, 2, 0, out, sizeof(out));
	CHECK_EQ_STR(out, "1073741824");
	pylocals__fmt_int(digits, 2, 1, out, sizeof(out)); /* "-1073741824" does not fit */
	CHECK_EQ_STR(out, "<int of 60");
}

/* 3.11's ob_size of INT64_MIN: negating it was undefined behaviour. */
static void test_int_size_int64_min(void)
{
	char out[1][PYLOCALS_VALUE_MAX], want[64];
	uint64_t values[1];
	struct image im;
	struct pylocals *l = open_image(&im, 11);

	if (!l)
		return;
	values[0] = int_obj(&im, 1ull << 63, NULL, 0);
	CHECK_EQ_INT(read_values(&im, l, values, 1, out), 1);
	snprintf(want, sizeof(want), "<int at 0x%" PRIx64 ">", values[0]);
	CHECK_EQ_STR(out[0], want);
}

/* Two values of one type whose name cannot be read: both say so. The
 * second used to be shown as "< at 0x...>" (a cached empty name). */
static void test_unreadable_type_cached(void)
{
	char out[2][PYLOCALS_VALUE_MAX], want[64];
	uint64_t values[2], bad_type;
	struct image im;
	struct pylocals *l = open_image(&im, 12);

	if (!l)
		return;
	bad_type = alloc(&im, 64);
	put64(bad_type + TP_NAME, 0xdead0000ull); /* outside the image */
	for (int i = 0; i < 2; i++) {
		values[i] = alloc(&im, 32);
		put64(values[i] + im.off.object_type, bad_type);
	}
	CHECK_EQ_INT(read_values(&im, l, values, 2, out), 2);
	for (int i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "<unreadable at 0x%" PRIx64 ">", values[i]);
		CHECK_EQ_STR(out[i], want);
	}
}

/* The value of an object whose type's name starts `left` bytes before the
 * end of readable memory and holds `name` (not NUL-terminated if it fills
 * the rest): "unreadable" for "<unreadable at 0x...>". */
static void value_of_type_at_end(const char *name, size_t left, char *out)
{
	char vals[1][PYLOCALS_VALUE_MAX];
	uint64_t values[1], type;
	struct image im;
	struct pylocals *l = open_image(&im, 12);

	strcpy(out, "?");
	if (!l)
		return;
	type = alloc(&im, 64);
	memcpy(mem + MEM_SIZE - left, name, strlen(name) < left ? strlen(name) + 1 : left);
	put64(type + TP_NAME, BASE + MEM_SIZE - left);
	values[0] = alloc(&im, 32);
	put64(values[0] + im.off.object_type, type);
	if (read_values(&im, l, values, 1, vals) == 1)
		strcpy(out, strncmp(vals[0], "<unreadable at", 14) ? vals[0] : "unreadable");
}

/* A type name near the end of readable memory is read with a shorter read;
 * one with no NUL in all that could be read is not a name (it used to be
 * taken whole, as a type named "xxx...": "<xxx... at 0x...>"). */
static void test_type_name_at_end_of_memory(void)
{
	char out[PYLOCALS_VALUE_MAX];

	value_of_type_at_end("NoneType", 12, out);
	CHECK_EQ_STR(out, "None");
	value_of_type_at_end("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 30, out);
	CHECK_EQ_STR(out, "unreadable");
}

int main(void)
{
	static const struct test_case cases[] = {
	    TEST(test_int_too_long_to_print),	   TEST(test_fmt_int_bounded),
	    TEST(test_int_size_int64_min),	   TEST(test_unreadable_type_cached),
	    TEST(test_type_name_at_end_of_memory),
	};

	return test_run(cases, sizeof(cases) / sizeof(cases[0]));
}
