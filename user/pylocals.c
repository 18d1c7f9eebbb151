// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Local variables of a live frame.
 *
 * Where they are, per version:
 *   3.8-3.10  PyFrameObject.f_localsplus[0 .. len(co_varnames)), names in
 *             the tuple co_varnames (cells and free variables follow in
 *             the array; they are not shown).
 *   3.11+     _PyInterpreterFrame.localsplus[0 .. len(co_localsplusnames)),
 *             one kind byte each in co_localspluskinds: 0x20 local, 0x40
 *             cell, 0x80 free (the slot holds a cell object: its content is
 *             shown), 0x10 hidden (3.12+ inlined comprehension temporaries,
 *             skipped). 3.14 slots are _PyStackRefs: low 2 bits are tags.
 * Offsets: tables from each version's headers for 3.8-3.12 (checked with
 * tools/pyoffsets/dump.sh, whose output includes them), _Py_DebugOffsets
 * word indices for 3.13, 3.14 and 3.15 (free-threaded builds included).
 */
#include "pylocals.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memread.h"
#include "pyinfo.h"
#include "pystr.h"

#define PYLOCALS_INT_DIGITS 36 /* ints of up to 1080 bits are printed */
#define PYLOCALS_TYPES 64      /* type names cached */

#define KIND_HIDDEN 0x10
#define KIND_CELL 0x40
#define KIND_FREE 0x80

struct locals_off {
	uint16_t frame_localsplus; /* f_localsplus / localsplus */
	uint16_t code_names;	   /* co_varnames / co_localsplusnames (tuple) */
	uint16_t code_kinds;	   /* co_localspluskinds (bytes), 0 before 3.11 */
	uint16_t object_size;	   /* sizeof(PyObject): a cell's content follows it */
	uint16_t tuple_size, tuple_item;
	uint16_t type_name; /* tp_name (const char *) */
	uint16_t long_size; /* ob_size (<= 3.11) / lv_tag (3.12+) */
	uint16_t long_digit;
	uint16_t float_val;
	bool lv_tag;	/* 3.12+ compact int layout */
	bool stackrefs; /* 3.14+: tagged slots */
};

/* 3.8-3.12, default builds (tools/pyoffsets/dump.sh). */
static const struct {
	unsigned int minor;
	struct locals_off off;
} tables[] = {
    {8, {360, 72, 0, 16, 16, 24, 24, 16, 24, 16, false, false}},
    {9, {360, 72, 0, 16, 16, 24, 24, 16, 24, 16, false, false}},
    {10, {352, 72, 0, 16, 16, 24, 24, 16, 24, 16, false, false}},
    {11, {72, 96, 104, 16, 16, 24, 24, 16, 24, 16, false, false}},
    {12, {72, 96, 104, 16, 16, 24, 24, 16, 24, 16, true, false}},
};

/* 3.13+: index of each u64 in _Py_DebugOffsets (Include/internal/
 * pycore_runtime.h in 3.13, pycore_debug_offsets.h later). */
enum {
	W_LOCALSPLUS,
	W_NAMES,
	W_KINDS,
	W_OBJ_SIZE,
	W_TUPLE_ITEM,
	W_TUPLE_SIZE,
	W_TP_NAME,
	W_FLOAT,
	W_LV_TAG,
	W_DIGIT,
	W__COUNT
};
static const struct {
	unsigned int minor;
	unsigned char word[W__COUNT];
} dbg_words[] = {
    {13, {32, 41, 42, 44, 51, 52, 47, 60, 62, 63}},
    {14, {35, 46, 47, 50, 57, 58, 53, 70, 72, 73}},
    {15, {43, 54, 55, 58, 69, 70, 61, 82, 84, 85}},
};

struct type_name {
	uint64_t type;
	char name[48];
};

struct pylocals {
	pid_t pid;
	memread_fn *read; /* memread, unless a test gave another */
	struct pybpf_offsets off;
	struct locals_off lo;
	struct type_name types[PYLOCALS_TYPES];
	size_t ntypes;
};

static int pylocals__from_debug(const struct pyinfo *info, struct locals_off *lo)
{
	uint16_t *dst[W__COUNT] = {
	    [W_LOCALSPLUS] = &lo->frame_localsplus,
	    [W_NAMES] = &lo->code_names,
	    [W_KINDS] = &lo->code_kinds,
	    [W_OBJ_SIZE] = &lo->object_size,
	    [W_TUPLE_ITEM] = &lo->tuple_item,
	    [W_TUPLE_SIZE] = &lo->tuple_size,
	    [W_TP_NAME] = &lo->type_name,
	    [W_FLOAT] = &lo->float_val,
	    [W_LV_TAG] = &lo->long_size,
	    [W_DIGIT] = &lo->long_digit,
	};

	for (size_t i = 0; i < sizeof(dbg_words) / sizeof(dbg_words[0]); i++) {
		if (dbg_words[i].minor != info->minor)
			continue;
		for (int w = 0; w < W__COUNT; w++) {
			size_t pos = (size_t)dbg_words[i].word[w] * 8;
			uint64_t v;

			if (pos + 8 > info->debug_len)
				return -ENOTSUP;
			memcpy(&v, info->debug + pos, sizeof(v));
			if (v == 0 || v > 4096)
				return -ENOTSUP;
			*dst[w] = (uint16_t)v;
		}
		lo->lv_tag = true;
		lo->stackrefs = info->minor >= 14;
		return 0;
	}
	return -ENOTSUP;
}

struct pylocals *pylocals__new(pid_t pid, const struct pyinfo *info,
			       const struct pybpf_offsets *off)
{
	struct pylocals *l = calloc(1, sizeof(*l));
	int err = -ENOTSUP;

	if (!l)
		return NULL;
	l->pid = pid;
	l->read = memread;
	l->off = *off;
	if (info->major == 3 && info->minor >= 13) {
		err = pylocals__from_debug(info, &l->lo);
	} else if (info->major == 3 && !info->free_threaded) {
		for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
			if (tables[i].minor == info->minor) {
				l->lo = tables[i].off;
				err = 0;
			}
	}
	if (err) {
		free(l);
		errno = -err;
		return NULL;
	}
	return l;
}

void pylocals__free(struct pylocals *l)
{
	free(l);
}

void pylocals__set_reader(struct pylocals *l, memread_fn *read)
{
	l->read = read;
}

void pylocals__free_list(struct pylocal *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

/* ---- formatting --------------------------------------------------------- */

void pylocals__fmt_int(const uint32_t *digits, size_t ndigits, int negative, char *out, size_t len)
{
	/* Base 2^30 digits -> base 10^9 limbs (least significant first). */
	uint32_t dec[PYLOCALS_INT_DIGITS * 2];
	size_t ndec = 0, pos = 0;

	if (!len)
		return;
	if (ndigits > PYLOCALS_INT_DIGITS) {
		snprintf(out, len, "<int of %zu bits>", ndigits * 30);
		return;
	}
	for (size_t i = ndigits; i-- > 0;) {
		uint64_t carry = digits[i] & 0x3fffffffu;

		for (size_t j = 0; j < ndec; j++) {
			uint64_t v = ((uint64_t)dec[j] << 30) + carry;

			dec[j] = (uint32_t)(v % 1000000000u);
			carry = v / 1000000000u;
		}
		while (carry) {
			dec[ndec++] = (uint32_t)(carry % 1000000000u);
			carry /= 1000000000u;
		}
	}
	if (!ndec) {
		snprintf(out, len, "0");
		return;
	}
	/* Never a number cut short: too long for out, it is not shown. */
	if ((negative ? 1 : 0) + snprintf(NULL, 0, "%" PRIu32, dec[ndec - 1]) + 9 * (ndec - 1) >=
	    len) {
		snprintf(out, len, "<int of %zu bits>", ndigits * 30);
		return;
	}
	if (negative)
		pos += (size_t)snprintf(out + pos, len - pos, "-");
	pos += (size_t)snprintf(out + pos, pos < len ? len - pos : 0, "%" PRIu32, dec[ndec - 1]);
	for (size_t j = ndec - 1; j-- > 0 && pos < len;)
		pos += (size_t)snprintf(out + pos, len - pos, "%09" PRIu32, dec[j]);
}

void pylocals__fmt_float(double v, char *out, size_t len)
{
	char buf[64];

	if (v != v) {
		snprintf(out, len, "nan");
		return;
	}
	if (v > DBL_MAX || v < -DBL_MAX) {
		snprintf(out, len, v > 0 ? "inf" : "-inf");
		return;
	}
	/* Shortest form that reads back as the same double, as repr() does. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	snprintf(out, len, "%s", buf);
}

/* Append one escaped byte/char sequence, keeping room for the tail. */
static size_t pylocals__put(char *out, size_t len, size_t pos, const char *s, size_t n)
{
	if (pos + n + 5 >= len) /* quote, "...", NUL */
		return pos;
	memcpy(out + pos, s, n);
	return pos + n;
}

static size_t pylocals__escape(char *out, size_t len, size_t pos, unsigned char c, char quote,
			       bool bytes)
{
	char esc[8];

	if (c == '\\' || c == (unsigned char)quote) {
		esc[0] = '\\';
		esc[1] = (char)c;
		return pylocals__put(out, len, pos, esc, 2);
	}
	if (c == '\n')
		return pylocals__put(out, len, pos, "\\n", 2);
	if (c == '\t')
		return pylocals__put(out, len, pos, "\\t", 2);
	if (c == '\r')
		return pylocals__put(out, len, pos, "\\r", 2);
	if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		return pylocals__put(out, len, pos, esc, 4);
	}
	esc[0] = (char)c;
	return pylocals__put(out, len, pos, esc, 1);
}

static void pylocals__quoted(const uint8_t *s, size_t n, bool bytes, int cut, char *out, size_t len)
{
	bool single = memchr(s, '\'', n) != NULL, dbl = memchr(s, '"', n) != NULL;
	char quote = single && !dbl ? '"' : '\'';
	size_t pos = 0;

	if (len < 8) {
		if (len)
			out[0] = '\0';
		return;
	}
	if (bytes)
		out[pos++] = 'b';
	out[pos++] = quote;
	for (size_t i = 0; i < n; i++)
		pos = pylocals__escape(out, len, pos, s[i], quote, bytes);
	out[pos++] = quote;
	if (cut) {
		memcpy(out + pos, "...", 3);
		pos += 3;
	}
	out[pos] = '\0';
}

void pylocals__fmt_str(const char *utf8, int cut, char *out, size_t len)
{
	pylocals__quoted((const uint8_t *)utf8, strlen(utf8), false, cut, out, len);
}

void pylocals__fmt_bytes(const uint8_t *data, size_t n, int cut, char *out, size_t len)
{
	pylocals__quoted(data, n, true, cut, out, len);
}

/* ---- reading ------------------------------------------------------------ */

static int pylocals__u64(const struct pylocals *l, uint64_t addr, uint64_t *v)
{
	return l->read(l->pid, addr, v, sizeof(*v));
}

/* A type's tp_name, cached by type address. */
static const char *pylocals__type_name(struct pylocals *l, uint64_t type)
{
	struct type_name *t;
	uint64_t name;
	size_t n;
	bool ok = false;

	for (size_t i = 0; i < l->ntypes; i++)
		if (l->types[i].type == type)
			return l->types[i].name[0] ? l->types[i].name : NULL;
	t = &l->types[l->ntypes < PYLOCALS_TYPES ? l->ntypes++ : PYLOCALS_TYPES - 1];
	memset(t, 0, sizeof(*t));
	t->type = type;
	if (pylocals__u64(l, type + l->lo.type_name, &name) || !name)
		return NULL;
	/* The name may end near the end of a mapping: read less if needed. A
	 * failed read may have copied part: only a whole read counts. */
	for (n = sizeof(t->name) - 1; n >= 8; n /= 2) {
		ok = l->read(l->pid, name, t->name, n) == 0;
		if (ok)
			break;
	}
	t->name[ok ? n : 0] = '\0';
	if (!ok || !t->name[0] || strlen(t->name) == n) {
		t->name[0] = '\0'; /* cached as unreadable: no NUL in what was read */
		return NULL;
	}
	return t->name;
}

/* A compact str as UTF-8 (at most PYLOCALS_STR_MAX characters). */
static int pylocals__str(const struct pylocals *l, uint64_t obj, char *out, size_t len, int *cut)
{
	const struct pybpf_offsets *o = &l->off;
	uint8_t raw[PYLOCALS_STR_MAX * 4];
	uint64_t length;
	uint32_t state, kind;
	size_t n;

	if (pylocals__u64(l, obj + o->unicode_length, &length) ||
	    l->read(l->pid, obj + o->unicode_state, &state, sizeof(state)))
		return -EFAULT;
	kind = (state >> o->unicode_kind_shift) & 7;
	if (!((state >> o->unicode_compact_bit) & 1) || (kind != 1 && kind != 2 && kind != 4))
		return -ENOTSUP;
	*cut = length > PYLOCALS_STR_MAX;
	n = (size_t)(*cut ? PYLOCALS_STR_MAX : length) * kind;
	if (l->read(l->pid,
		    obj + (((state >> o->unicode_ascii_bit) & 1) ? o->unicode_ascii_data
								 : o->unicode_compact_data),
		    raw, n))
		return -EFAULT;
	return pystr__to_utf8(kind, raw, n, out, len) < 0 ? -EINVAL : 0;
}

static int pylocals__int(const struct pylocals *l, uint64_t obj, bool is_bool, char *out,
			 size_t len)
{
	uint32_t digits[PYLOCALS_INT_DIGITS];
	uint64_t size;
	size_t ndigits;
	int negative;

	if (pylocals__u64(l, obj + l->lo.long_size, &size))
		return -EFAULT;
	if (l->lo.lv_tag) {
		/* lv_tag: digit count << 3 | sign (0 positive, 1 zero, 2 negative). */
		ndigits = (size_t)(size >> 3);
		negative = (size & 3) == 2;
		if ((size & 3) == 1)
			ndigits = 0;
	} else {
		int64_t s = (int64_t)size;

		negative = s < 0;
		ndigits = s < 0 ? (size_t)0 - (size_t)s : (size_t)s; /* INT64_MIN too */
	}
	if (ndigits > SIZE_MAX / 30)
		return -EINVAL; /* more digits than any int can have */
	if (ndigits > PYLOCALS_INT_DIGITS) {
		pylocals__fmt_int(NULL, ndigits, negative, out, len);
		return 0;
	}
	if (ndigits && l->read(l->pid, obj + l->lo.long_digit, digits, ndigits * sizeof(digits[0])))
		return -EFAULT;
	if (is_bool)
		snprintf(out, len, ndigits && digits[0] ? "True" : "False");
	else
		pylocals__fmt_int(digits, ndigits, negative, out, len);
	return 0;
}

/* repr-like text of the object at obj. */
static void pylocals__value(struct pylocals *l, uint64_t obj, char *out, size_t len)
{
	char utf8[PYLOCALS_STR_MAX * 4 + 1];
	const char *tn = NULL;
	uint64_t type = 0;
	int rc = -ENOTSUP, cut = 0;

	if (pylocals__u64(l, obj + l->off.object_type, &type) ||
	    !(tn = pylocals__type_name(l, type))) {
		snprintf(out, len, "<unreadable at 0x%" PRIx64 ">", obj);
		return;
	}
	if (!strcmp(tn, "NoneType")) {
		snprintf(out, len, "None");
		rc = 0;
	} else if (!strcmp(tn, "int") || !strcmp(tn, "bool")) {
		rc = pylocals__int(l, obj, tn[0] == 'b', out, len);
	} else if (!strcmp(tn, "float")) {
		double v;

		rc = l->read(l->pid, obj + l->lo.float_val, &v, sizeof(v));
		if (!rc)
			pylocals__fmt_float(v, out, len);
	} else if (!strcmp(tn, "str")) {
		rc = pylocals__str(l, obj, utf8, sizeof(utf8), &cut);
		if (!rc)
			pylocals__fmt_str(utf8, cut, out, len);
	} else if (!strcmp(tn, "bytes")) {
		uint64_t size;
		uint8_t data[PYLOCALS_STR_MAX];

		rc = pylocals__u64(l, obj + l->off.bytes_size, &size);
		if (!rc) {
			cut = size > PYLOCALS_STR_MAX;
			rc = l->read(l->pid, obj + l->off.bytes_data, data,
				     cut ? PYLOCALS_STR_MAX : size);
		}
		if (!rc)
			pylocals__fmt_bytes(data, cut ? PYLOCALS_STR_MAX : size, cut, out, len);
	}
	if (rc)
		snprintf(out, len, "<%s at 0x%" PRIx64 ">", tn, obj);
}

/* What a cell variable's slot holds: the cell once the function has
 * started (its content, 0 if empty), the value itself before. */
static uint64_t pylocals__cell(struct pylocals *l, uint64_t obj)
{
	uint64_t type = 0, content = 0;
	const char *tn;

	if (pylocals__u64(l, obj + l->off.object_type, &type) ||
	    !(tn = pylocals__type_name(l, type)) || strcmp(tn, "cell"))
		return obj;
	if (pylocals__u64(l, obj + l->lo.object_size, &content))
		return obj;
	return content;
}

/* The name at index i of a names tuple. */
static char *pylocals__name(struct pylocals *l, uint64_t names, size_t i)
{
	char utf8[PYLOCALS_STR_MAX * 4 + 1];
	uint64_t s;
	int cut;

	if (pylocals__u64(l, names + l->lo.tuple_item + 8 * i, &s) ||
	    pylocals__str(l, s, utf8, sizeof(utf8), &cut))
		return strdup("?");
	return strdup(utf8);
}

int pylocals__read(struct pylocals *l, uint64_t frame, uint64_t code, struct pylocal **out,
		   size_t *n)
{
	uint8_t kinds[PYLOCALS_MAX];
	uint64_t slots[PYLOCALS_MAX];
	uint64_t names = 0, kinds_obj = 0, count = 0;
	struct pylocal *v = NULL;
	size_t nv = 0;
	int err = -EFAULT;

	*out = NULL;
	*n = 0;
	if (pylocals__u64(l, code + l->lo.code_names, &names) || !names ||
	    pylocals__u64(l, names + l->lo.tuple_size, &count))
		goto out;
	if (count > PYLOCALS_MAX)
		count = PYLOCALS_MAX;
	memset(kinds, 0, sizeof(kinds));
	if (l->lo.code_kinds &&
	    (pylocals__u64(l, code + l->lo.code_kinds, &kinds_obj) || !kinds_obj ||
	     l->read(l->pid, kinds_obj + l->off.bytes_data, kinds, count)))
		goto out;
	if (count && l->read(l->pid, frame + l->lo.frame_localsplus, slots, count * 8))
		goto out;
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		char value[PYLOCALS_VALUE_MAX];
		uint64_t obj = slots[i];
		bool bound = true;

		if (kinds[i] & KIND_HIDDEN)
			continue;
		if (l->lo.stackrefs && (obj & 3) == 3) {
			/* 3.14+ tagged small int, not an object */
			snprintf(value, sizeof(value), "%" PRId64, (int64_t)obj >> 2);
		} else {
			if (l->lo.stackrefs)
				obj &= ~(uint64_t)3;
			if (obj && (kinds[i] & (KIND_CELL | KIND_FREE)))
				obj = pylocals__cell(l, obj);
			if (obj)
				pylocals__value(l, obj, value, sizeof(value));
			else
				bound = false; /* not assigned yet */
		}
		v[nv].name = pylocals__name(l, names, i);
		v[nv].value = bound ? strdup(value) : NULL;
		nv++;
		if (!v[nv - 1].name || (bound && !v[nv - 1].value)) {
			err = -ENOMEM;
			goto out;
		}
	}
	*out = v;
	*n = nv;
	v = NULL;
	err = 0;
out:
	pylocals__free_list(v, nv);
	return err;
}
