// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "pyoffsets.h"

#include <errno.h>
#include <stddef.h>

#include "pyinfo.h"

#define NONE PYBPF_OFF_NONE

/* Object and string layout shared by the default (not free-threaded) builds. */
#define OBJ_DEFAULT                                                                                \
	.object_type = 8, .bytes_size = 16, .bytes_data = 32, .unicode_length = 16,                \
	.unicode_state = 32, .unicode_kind_shift = 2, .unicode_compact_bit = 5,                    \
	.unicode_ascii_bit = 6, .executable_mask = ~0ull
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
 * pycore_interp.h, pycore_runtime.h, Include/cpython/code.h ...), read with offsetof by
 * tools/pyoffsets/dump.sh.
 */
static const struct version_table tables[] = {
    /* 3.9 (3.9.18 headers): PyFrameObject, f_lasti in bytes. */
    {9,
     {.runtime_interp_head = 32,
      .interp_next = 0,
      .interp_threads_head = 8,
      .tstate_next = 8,
      .tstate_thread_id = 176,
      .tstate_frame = 24,
      .cframe_current_frame = NONE,
      .frame_model = FRAME_MODEL_OBJECT,
      .frame_previous = 24,
      .frame_code = 32,
      .frame_instr = 104,
      .frame_owner = NONE,
      .frame_owner_skip_min = 0,
      .code_adaptive = 0,
      .code_firstlineno = 40,
      .code_filename = 104,
      .code_qualname = 112,
      .code_linetable = 120,
      OBJ_DEFAULT,
      STR_WSTR}},
    /* 3.10 (3.10.13 headers): PyFrameObject, f_lasti in code units. */
    {10,
     {.runtime_interp_head = 32,
      .interp_next = 0,
      .interp_threads_head = 8,
      .tstate_next = 8,
      .tstate_thread_id = 176,
      .tstate_frame = 24,
      .cframe_current_frame = NONE,
      .frame_model = FRAME_MODEL_OBJECT,
      .frame_previous = 24,
      .frame_code = 32,
      .frame_instr = 96,
      .frame_owner = NONE,
      .frame_owner_skip_min = 0,
      .code_adaptive = 0,
      .code_firstlineno = 40,
      .code_filename = 104,
      .code_qualname = 112,
      .code_linetable = 120,
      OBJ_DEFAULT,
      STR_WSTR}},
    /* 3.11 (3.11.2 Debian and 3.11.7 pyenv headers agree): _PyInterpreterFrame
     * reached through tstate->cframe->current_frame; prev_instr. */
    {11,
     {.runtime_interp_head = 40,
      .interp_next = 0,
      .interp_threads_head = 16,
      .tstate_next = 8,
      .tstate_thread_id = 152,
      .tstate_frame = 56,
      .cframe_current_frame = 8,
      .frame_model = FRAME_MODEL_INTERP,
      .frame_previous = 48,
      .frame_code = 32,
      .frame_instr = 56,
      .frame_owner = 69,
      .frame_owner_skip_min = 3,
      .code_adaptive = 184,
      .code_firstlineno = 72,
      .code_filename = 112,
      .code_qualname = 128,
      .code_linetable = 136,
      OBJ_DEFAULT,
      STR_WSTR}},
    /* 3.12 (3.12.1 headers): owner FRAME_OWNED_BY_CSTACK (3) marks shim frames. */
    {12,
     {.runtime_interp_head = 40,
      .interp_next = 0,
      .interp_threads_head = 72,
      .tstate_next = 8,
      .tstate_thread_id = 136,
      .tstate_frame = 56,
      .cframe_current_frame = 0,
      .frame_model = FRAME_MODEL_INTERP,
      .frame_previous = 8,
      .frame_code = 0,
      .frame_instr = 56,
      .frame_owner = 70,
      .frame_owner_skip_min = 3,
      .code_adaptive = 192,
      .code_firstlineno = 68,
      .code_filename = 112,
      .code_qualname = 128,
      .code_linetable = 136,
      OBJ_DEFAULT,
      STR_NOWSTR}},
};

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
	return find_table(major, minor, free_threaded) != NULL;
}

int pyoffsets__get(const struct pyinfo *info, struct pybpf_offsets *off)
{
	const struct version_table *t = find_table(info->major, info->minor, info->free_threaded);

	if (!t)
		return -ENOTSUP;
	*off = t->off;
	return 0;
}

int64_t pyoffsets__byte_offset(unsigned int major, unsigned int minor, int32_t instr)
{
	/* 3.10 counts f_lasti in 2-byte code units; 3.8/3.9 in bytes; 3.11+
	 * frames already give a byte distance from co_code_adaptive. */
	if (major == 3 && minor == 10)
		return (int64_t)instr * 2;
	return instr;
}
