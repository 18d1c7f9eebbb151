// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "pyoffsets.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "pyinfo.h"

#define NONE PYBPF_OFF_NONE

/* Object and string layout shared by the default (not free-threaded) builds. */
#define OBJ_DEFAULT                                                                                \
	.object_type = 8, .bytes_size = 16, .bytes_data = 32, .unicode_length = 16,                \
	.unicode_state = 32, .unicode_kind_shift = 2, .unicode_compact_bit = 5,                    \
	.unicode_ascii_bit = 6, .executable_mask = ~0ull, .frame_tlbc_index = NONE,          \
	.code_tlbc = NONE
/* <= 3.11: PyASCIIObject still has wstr (48 bytes), PyCompactUnicodeObject 72. */
#define STR_WSTR .unicode_ascii_data = 48, .unicode_compact_data = 72
/* 3.12+: wstr removed. */
#define STR_NOWSTR .unicode_ascii_data = 40, .unicode_compact_data = 56

struct version_table {
	unsigned int minor;
	struct pybpf_offsets off;
};

/*
 * Values from each version's headers (Include/internal/pycore_frame.h,
 * pycore_interp.h, pycore_runtime.h, Include/cpython/code.h ...), read with
 * offsetof by tools/pyoffsets/dump.sh against the interpreter named.
 */
/* clang-format off */
#define FRAMEOBJECT_38_310(lasti)                                                          \
	.runtime_interp_head = 32, .interp_next = 0, .interp_threads_head = 8,             \
	.tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,                     \
	.cframe_current_frame = NONE, .frame_model = FRAME_MODEL_OBJECT,                   \
	.frame_previous = 24, .frame_code = 32, .frame_instr = (lasti),                   \
	.frame_owner = NONE, .frame_owner_skip_min = 0, .code_adaptive = 0,                \
	.code_firstlineno = 40, .code_filename = 104, .code_qualname = 112 /* co_name */,  \
	.code_linetable = 120, OBJ_DEFAULT, STR_WSTR

static const struct version_table tables[] = {
	/* 3.8 (3.8.18) and 3.9 (3.9.18): PyFrameObject chain, f_lasti in bytes at 104. */
	{ 8, { FRAMEOBJECT_38_310(104) } },
	{ 9, { FRAMEOBJECT_38_310(104) } },
	/* 3.10 (3.10.13): f_lasti moved to 96 and counts 2-byte code units. */
	{ 10, { FRAMEOBJECT_38_310(96) } },
	/* 3.11 (3.11.2 Debian and 3.11.7 pyenv agree): _PyInterpreterFrame reached
	 * through tstate->cframe->current_frame; prev_instr; no shim frames. */
	{ 11, { .runtime_interp_head = 40, .interp_next = 0, .interp_threads_head = 16,
		.tstate_next = 8, .tstate_thread_id = 152, .tstate_frame = 56,
		.cframe_current_frame = 8, .frame_model = FRAME_MODEL_INTERP,
		.frame_previous = 48, .frame_code = 32, .frame_instr = 56,
		.frame_owner = 69, .frame_owner_skip_min = 3, .code_adaptive = 184,
		.code_firstlineno = 72, .code_filename = 112, .code_qualname = 128,
		.code_linetable = 136, OBJ_DEFAULT, STR_WSTR } },
	/* 3.12 (3.12.1): owner FRAME_OWNED_BY_CSTACK (3) marks shim frames. */
	{ 12, { .runtime_interp_head = 40, .interp_next = 0, .interp_threads_head = 72,
		.tstate_next = 8, .tstate_thread_id = 136, .tstate_frame = 56,
		.cframe_current_frame = 0, .frame_model = FRAME_MODEL_INTERP,
		.frame_previous = 8, .frame_code = 0, .frame_instr = 56,
		.frame_owner = 70, .frame_owner_skip_min = 3, .code_adaptive = 192,
		.code_firstlineno = 68, .code_filename = 112, .code_qualname = 128,
		.code_linetable = 136, OBJ_DEFAULT, STR_NOWSTR } },
};
/* clang-format on */

/*
 * 3.13+: the interpreter describes itself in _Py_DebugOffsets, at the start
 * of _PyRuntime: a cookie, the version, then blocks of u64 offsets. Which
 * u64 holds which offset changed between 3.13 and 3.14 (fields were added
 * inside blocks), so each minor version has an index table. A later minor
 * is read with the newest table and accepted only if it validates.
 */
enum dbg_field {
	D_RT_SIZE, D_RT_INTERP_HEAD, D_IS_NEXT, D_IS_THREADS_HEAD, D_TS_NEXT, D_TS_CURRENT_FRAME,
	D_TS_THREAD_ID, D_FR_PREVIOUS, D_FR_EXECUTABLE, D_FR_INSTR_PTR, D_FR_OWNER,
	D_FR_TLBC_INDEX, D_CO_FILENAME, D_CO_QUALNAME, D_CO_LINETABLE, D_CO_FIRSTLINENO,
	D_CO_ADAPTIVE, D_CO_TLBC, D_OB_TYPE, D_BY_OB_SIZE, D_BY_OB_SVAL, D_UNI_SIZE, D_UNI_STATE,
	D_UNI_LENGTH, D_UNI_ASCII_SIZE, D__COUNT,
};

struct dbg_layout {
	unsigned int minor;
	unsigned char word[D__COUNT]; /* index of the u64 holding the field; 0 = absent */
};

static const struct dbg_layout dbg_layouts[] = {
	/* 3.13.0 Include/internal/pycore_runtime.h */
	{ 13,
	  { [D_RT_SIZE] = 3, [D_RT_INTERP_HEAD] = 5, [D_IS_NEXT] = 8, [D_IS_THREADS_HEAD] = 9,
	    [D_TS_NEXT] = 21, [D_TS_CURRENT_FRAME] = 23, [D_TS_THREAD_ID] = 24,
	    [D_FR_PREVIOUS] = 29, [D_FR_EXECUTABLE] = 30, [D_FR_INSTR_PTR] = 31,
	    [D_FR_OWNER] = 33, [D_FR_TLBC_INDEX] = 0, [D_CO_FILENAME] = 35, [D_CO_QUALNAME] = 37,
	    [D_CO_LINETABLE] = 38, [D_CO_FIRSTLINENO] = 39, [D_CO_ADAPTIVE] = 43, [D_CO_TLBC] = 0,
	    [D_OB_TYPE] = 45, [D_BY_OB_SIZE] = 65, [D_BY_OB_SVAL] = 66, [D_UNI_SIZE] = 67,
	    [D_UNI_STATE] = 68, [D_UNI_LENGTH] = 69, [D_UNI_ASCII_SIZE] = 70 } },
	/* 3.14.7 Include/internal/pycore_debug_offsets.h: threads_main,
	 * code_object_generation, tlbc_generation, stackpointer, tlbc_index,
	 * co_tlbc and set_object were added. */
	{ 14,
	  { [D_RT_SIZE] = 3, [D_RT_INTERP_HEAD] = 5, [D_IS_NEXT] = 8, [D_IS_THREADS_HEAD] = 9,
	    [D_TS_NEXT] = 24, [D_TS_CURRENT_FRAME] = 26, [D_TS_THREAD_ID] = 27,
	    [D_FR_PREVIOUS] = 32, [D_FR_EXECUTABLE] = 33, [D_FR_INSTR_PTR] = 34,
	    [D_FR_OWNER] = 36, [D_FR_TLBC_INDEX] = 38, [D_CO_FILENAME] = 40, [D_CO_QUALNAME] = 42,
	    [D_CO_LINETABLE] = 43, [D_CO_FIRSTLINENO] = 44, [D_CO_ADAPTIVE] = 48, [D_CO_TLBC] = 49,
	    [D_OB_TYPE] = 51, [D_BY_OB_SIZE] = 75, [D_BY_OB_SVAL] = 76, [D_UNI_SIZE] = 77,
	    [D_UNI_STATE] = 78, [D_UNI_LENGTH] = 79, [D_UNI_ASCII_SIZE] = 80 } },
};

#define DBG_COOKIE "xdebugpy"

static const struct dbg_layout *dbg_layout_for(unsigned int minor)
{
	const struct dbg_layout *newest = &dbg_layouts[sizeof(dbg_layouts) / sizeof(dbg_layouts[0]) - 1];

	for (size_t i = 0; i < sizeof(dbg_layouts) / sizeof(dbg_layouts[0]); i++)
		if (dbg_layouts[i].minor == minor)
			return &dbg_layouts[i];
	return minor > newest->minor ? newest : NULL;
}

/* One u64 of the debug block as an offset that fits the ABI's u16. */
static int dbg_get(const struct pyinfo *info, const struct dbg_layout *l, enum dbg_field f,
		   __u16 *out)
{
	size_t pos = (size_t)l->word[f] * 8;
	uint64_t v;

	if (!l->word[f]) {
		*out = NONE;
		return 0;
	}
	if (pos + 8 > info->debug_len)
		return -ENOTSUP;
	memcpy(&v, info->debug + pos, sizeof(v));
	if (v >= NONE)
		return -ENOTSUP;
	*out = (__u16)v;
	return 0;
}

static int from_debug_offsets(const struct pyinfo *info, struct pybpf_offsets *off)
{
	const struct dbg_layout *l = dbg_layout_for(info->minor);
	struct { enum dbg_field f; __u16 *dst; } map[] = {
		{ D_RT_INTERP_HEAD, &off->runtime_interp_head },
		{ D_IS_NEXT, &off->interp_next },
		{ D_IS_THREADS_HEAD, &off->interp_threads_head },
		{ D_TS_NEXT, &off->tstate_next },
		{ D_TS_CURRENT_FRAME, &off->tstate_frame },
		{ D_TS_THREAD_ID, &off->tstate_thread_id },
		{ D_FR_PREVIOUS, &off->frame_previous },
		{ D_FR_EXECUTABLE, &off->frame_code },
		{ D_FR_INSTR_PTR, &off->frame_instr },
		{ D_FR_OWNER, &off->frame_owner },
		{ D_FR_TLBC_INDEX, &off->frame_tlbc_index },
		{ D_CO_FILENAME, &off->code_filename },
		{ D_CO_QUALNAME, &off->code_qualname },
		{ D_CO_LINETABLE, &off->code_linetable },
		{ D_CO_FIRSTLINENO, &off->code_firstlineno },
		{ D_CO_ADAPTIVE, &off->code_adaptive },
		{ D_CO_TLBC, &off->code_tlbc },
		{ D_OB_TYPE, &off->object_type },
		{ D_BY_OB_SIZE, &off->bytes_size },
		{ D_BY_OB_SVAL, &off->bytes_data },
		{ D_UNI_STATE, &off->unicode_state },
		{ D_UNI_LENGTH, &off->unicode_length },
		{ D_UNI_ASCII_SIZE, &off->unicode_ascii_data },
	};
	__u16 uni_size;
	uint64_t version, rt_size;
	int err;

	if (!l || info->debug_len < 64 || memcmp(info->debug, DBG_COOKIE, 8) != 0)
		return -ENOTSUP;
	memcpy(&version, info->debug + 8, sizeof(version));
	if (info->hexversion && version != info->hexversion)
		return -ENOTSUP;
	/* The block has no size of its own: the runtime size it records must
	 * equal the real one, or this is not the layout we think it is. */
	memcpy(&rt_size, info->debug + (size_t)l->word[D_RT_SIZE] * 8, sizeof(rt_size));
	if (info->runtime_size && rt_size != info->runtime_size)
		return -ENOTSUP;

	memset(off, 0, sizeof(*off));
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		err = dbg_get(info, l, map[i].f, map[i].dst);
		if (err)
			return err;
	}
	err = dbg_get(info, l, D_UNI_SIZE, &uni_size);
	if (err)
		return err;
	off->cframe_current_frame = NONE;
	off->frame_model = FRAME_MODEL_INTERP;
	/* Not in the debug block: facts per version (see the notes in pyoffsets.h).
	 * Owner >= 3 is a C-stack shim (3.13 CSTACK 3; 3.14 INTERPRETER 3, CSTACK 4). */
	off->frame_owner_skip_min = 3;
	/* Non-ASCII compact data follows PyCompactUnicodeObject: the last field of
	 * PyUnicodeObject is the data pointer union, 8 bytes. */
	off->unicode_compact_data = (__u16)(uni_size - 8);
	/* 3.14 tags _PyStackRef: the low two bits are flags. */
	off->executable_mask = info->minor >= 14 ? ~3ull : ~0ull;
	/* PyASCIIObject.state bit fields: 3.14 free-threaded widened `interned`
	 * to a byte, moving kind/compact/ascii up. */
	if (info->minor >= 14 && info->free_threaded) {
		off->unicode_kind_shift = 8;
		off->unicode_compact_bit = 11;
		off->unicode_ascii_bit = 12;
	} else {
		off->unicode_kind_shift = 2;
		off->unicode_compact_bit = 5;
		off->unicode_ascii_bit = 6;
	}
	return 0;
}

static const struct version_table *find_table(unsigned int major, unsigned int minor,
					      bool free_threaded)
{
	if (major != 3 || free_threaded)
		return NULL;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (tables[i].minor == minor)
			return &tables[i];
	return NULL;
}

bool pyoffsets__supported(unsigned int major, unsigned int minor, bool free_threaded)
{
	return find_table(major, minor, free_threaded) != NULL ||
	       (major == 3 && minor >= 13 && dbg_layout_for(minor) != NULL);
}

int pyoffsets__get(const struct pyinfo *info, struct pybpf_offsets *off)
{
	const struct version_table *t = find_table(info->major, info->minor, info->free_threaded);

	if (t) {
		*off = t->off;
		return 0;
	}
	if (info->major == 3 && info->minor >= 13)
		return from_debug_offsets(info, off);
	return -ENOTSUP;
}

int64_t pyoffsets__byte_offset(unsigned int major, unsigned int minor, int32_t instr)
{
	/* 3.10 counts f_lasti in 2-byte code units; 3.8/3.9 in bytes; 3.11+
	 * frames already give a byte distance from the start of the bytecode. */
	if (major == 3 && minor == 10)
		return (int64_t)instr * 2;
	return instr;
}
