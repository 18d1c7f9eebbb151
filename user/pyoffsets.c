// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "pyoffsets.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "memread.h"
#include "pyinfo.h"

#define NONE PYBPF_OFF_NONE

/* Object and string layout shared by the default (not free-threaded) builds. */
#define OBJ_DEFAULT                                                                                \
	.object_type = 8, .bytes_size = 16, .bytes_data = 32, .unicode_length = 16,                \
	.unicode_state = 32, .unicode_kind_shift = 2, .unicode_compact_bit = 5,                    \
	.unicode_ascii_bit = 6, .executable_mask = ~0ull, .frame_tlbc_index = NONE,                \
	.code_tlbc = NONE
/* The GIL struct (Include/internal/pycore_gil.h, the same from 3.8 to 3.14
 * without Py_GIL_DISABLED): interval, last_holder, locked, switch_number,
 * cond, mutex, switch_cond, switch_mutex. tstate->interp is at 16 in all. */
#define GIL_STRUCT .tstate_interp = 16, .gil_last_holder = 8, .gil_locked = 16, .gil_size = 208
/* 3.8-3.11: _PyRuntime.ceval.gil, embedded. */
#define GIL_RUNTIME(off) .gil_model = GIL_IN_RUNTIME, .gil_offset = (off), GIL_STRUCT
/* 3.12: PyInterpreterState.ceval.gil, a pointer. */
#define GIL_INTERP(off) .gil_model = GIL_PTR_IN_INTERP, .gil_offset = (off), GIL_STRUCT
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
#define FRAMEOBJECT_38_310(lasti, gil)                                                      \
	.runtime_interp_head = 32, .interp_next = 0, .interp_threads_head = 8,             \
	.tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,                     \
	.cframe_current_frame = NONE, .frame_model = FRAME_MODEL_OBJECT,                   \
	.frame_previous = 24, .frame_code = 32, .frame_instr = (lasti),                   \
	.frame_owner = NONE, .frame_owner_skip_min = 0, .code_adaptive = 0,                \
	.code_firstlineno = 40, .code_filename = 104, .code_qualname = 112 /* co_name */,  \
	.code_linetable = 120, OBJ_DEFAULT, STR_WSTR, GIL_RUNTIME(gil)

static const struct version_table tables[] = {
	/* 3.8 (3.8.18) and 3.9 (3.9.18): PyFrameObject chain, f_lasti in bytes at 104. */
	{ 8, { FRAMEOBJECT_38_310(104, 1152) } },
	{ 9, { FRAMEOBJECT_38_310(104, 352) } },
	/* 3.10 (3.10.13): f_lasti moved to 96 and counts 2-byte code units. */
	{ 10, { FRAMEOBJECT_38_310(96, 352) } },
	/* 3.11 (3.11.2 Debian and 3.11.7 pyenv agree): _PyInterpreterFrame reached
	 * through tstate->cframe->current_frame; prev_instr; no shim frames. */
	{ 11, { .runtime_interp_head = 40, .interp_next = 0, .interp_threads_head = 16,
		.tstate_next = 8, .tstate_thread_id = 152, .tstate_frame = 56,
		.cframe_current_frame = 8, .frame_model = FRAME_MODEL_INTERP,
		.frame_previous = 48, .frame_code = 32, .frame_instr = 56,
		.frame_owner = 69, .frame_owner_skip_min = 3, .frame_is_entry = 68,
		.code_adaptive = 184,
		.code_firstlineno = 72, .code_filename = 112, .code_qualname = 128,
		.code_linetable = 136, OBJ_DEFAULT, STR_WSTR, GIL_RUNTIME(360) } },
	/* 3.12 (3.12.1): owner FRAME_OWNED_BY_CSTACK (3) marks shim frames. */
	{ 12, { .runtime_interp_head = 40, .interp_next = 0, .interp_threads_head = 72,
		.tstate_next = 8, .tstate_thread_id = 136, .tstate_frame = 56,
		.cframe_current_frame = 0, .frame_model = FRAME_MODEL_INTERP,
		.frame_previous = 8, .frame_code = 0, .frame_instr = 56,
		.frame_owner = 70, .frame_owner_skip_min = 3, .code_adaptive = 192,
		.code_firstlineno = 68, .code_filename = 112, .code_qualname = 128,
		.code_linetable = 136, OBJ_DEFAULT, STR_NOWSTR, GIL_INTERP(384) } },
};
/* clang-format on */

/*
 * 3.13+: the interpreter describes itself in _Py_DebugOffsets, at the start
 * of _PyRuntime: a cookie, the version, then blocks of u64 offsets. The
 * block has no size or field names of its own, and fields are inserted
 * between minor versions (3.14 added tlbc and generation fields, 3.15
 * base_frame, holds_gil, err_stackitem, heap_type_object...), so each minor
 * version's struct is written down here field by field, in its order, from
 * Include/internal/pycore_runtime.h (3.13) or pycore_debug_offsets.h (3.14+).
 * A layout is used only if the block passes validate_layout() (and, when
 * the process runs, pyoffsets__check_live()).
 */
/* clang-format off */
enum dbg_field {
	D_ = 0, /* a word we do not use */
	D_COOKIE, D_VERSION, D_FREE_THREADED,
	D_RT_SIZE, D_RT_INTERP_HEAD,
	D_IS_SIZE, D_IS_NEXT, D_IS_THREADS_HEAD, D_IS_CODE_GEN, D_IS_CEVAL_GIL, D_IS_GIL,
	D_IS_GIL_LOCKED, D_IS_GIL_HOLDER,
	D_TS_SIZE, D_TS_NEXT, D_TS_INTERP, D_TS_CURRENT_FRAME, D_TS_THREAD_ID,
	D_TS_NATIVE_THREAD_ID,
	D_FR_SIZE, D_FR_PREVIOUS, D_FR_EXECUTABLE, D_FR_INSTR_PTR, D_FR_OWNER, D_FR_TLBC_INDEX,
	D_CO_SIZE, D_CO_FILENAME, D_CO_QUALNAME, D_CO_LINETABLE, D_CO_FIRSTLINENO, D_CO_ADAPTIVE,
	D_CO_TLBC,
	D_OB_SIZE, D_OB_TYPE,
	D_BY_SIZE, D_BY_OB_SIZE, D_BY_OB_SVAL,
	D_UNI_SIZE, D_UNI_STATE, D_UNI_LENGTH, D_UNI_ASCII_SIZE, D_UNI_COMPACT_SIZE,
	D__COUNT,
};

/* The blocks 3.13 to 3.15 share word for word. */
#define DBG_HEAD D_COOKIE, D_VERSION, D_FREE_THREADED, /* runtime_state */ D_RT_SIZE, D_, D_RT_INTERP_HEAD
#define DBG_CODE_313 /* size filename name qualname linetable firstlineno argcount localsplusnames localspluskinds co_code_adaptive */ \
	D_CO_SIZE, D_CO_FILENAME, D_, D_CO_QUALNAME, D_CO_LINETABLE, D_CO_FIRSTLINENO, D_, D_, D_, D_CO_ADAPTIVE
#define DBG_LIST_DICT_FLOAT_LONG /* list: size ob_item ob_size; dict: size ma_keys ma_values; float; long */ \
	D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_
#define DBG_BYTES D_BY_SIZE, D_BY_OB_SIZE, D_BY_OB_SVAL
/* clang-format on */

struct dbg_struct {
	unsigned int minor;
	const unsigned char *fields; /* enum dbg_field per u64 word, in struct order */
	size_t nfields;
};

/* clang-format off */
static const unsigned char dbg_313[] = {
	DBG_HEAD,
	/* interpreter_state: size id next threads_head gc imports_modules sysdict builtins
	 * ceval_gil gil_runtime_state gil_runtime_state_{enabled,locked,holder} */
	D_IS_SIZE, D_, D_IS_NEXT, D_IS_THREADS_HEAD, D_, D_, D_, D_, D_IS_CEVAL_GIL, D_IS_GIL, D_,
	D_IS_GIL_LOCKED, D_IS_GIL_HOLDER,
	/* thread_state: size prev next interp current_frame thread_id native_thread_id
	 * datastack_chunk status */
	D_TS_SIZE, D_, D_TS_NEXT, D_TS_INTERP, D_TS_CURRENT_FRAME, D_TS_THREAD_ID,
	D_TS_NATIVE_THREAD_ID, D_, D_,
	/* interpreter_frame: size previous executable instr_ptr localsplus owner */
	D_FR_SIZE, D_FR_PREVIOUS, D_FR_EXECUTABLE, D_FR_INSTR_PTR, D_, D_FR_OWNER,
	DBG_CODE_313,
	/* pyobject: size ob_type; type_object: size tp_name tp_repr tp_flags; tuple: size ob_item ob_size */
	D_OB_SIZE, D_OB_TYPE, D_, D_, D_, D_, D_, D_, D_,
	DBG_LIST_DICT_FLOAT_LONG, DBG_BYTES,
	/* unicode_object: size state length asciiobject_size */
	D_UNI_SIZE, D_UNI_STATE, D_UNI_LENGTH, D_UNI_ASCII_SIZE,
};

/* 3.14 (3.14.7): interpreter_state gains threads_main, code_object_generation,
 * tlbc_generation; interpreter_frame stackpointer, tlbc_index; code_object
 * co_tlbc; a set_object block. */
#define DBG_INTERP_314 /* size id next threads_head threads_main gc imports_modules sysdict builtins ceval_gil \
	gil_runtime_state gil_runtime_state_{enabled,locked,holder} code_object_generation tlbc_generation */ \
	D_IS_SIZE, D_, D_IS_NEXT, D_IS_THREADS_HEAD, D_, D_, D_, D_, D_, D_IS_CEVAL_GIL, D_IS_GIL, D_, \
	D_IS_GIL_LOCKED, D_IS_GIL_HOLDER, D_IS_CODE_GEN, D_
#define DBG_FRAME_314 /* size previous executable instr_ptr localsplus owner stackpointer tlbc_index */ \
	D_FR_SIZE, D_FR_PREVIOUS, D_FR_EXECUTABLE, D_FR_INSTR_PTR, D_, D_FR_OWNER, D_, D_FR_TLBC_INDEX
#define DBG_CODE_314 DBG_CODE_313, D_CO_TLBC
#define DBG_TUPLE_LIST_SET_DICT_FLOAT_LONG /* tuple 3, list 3, set 4, dict 3, float 2, long 3 */ \
	D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, D_
static const unsigned char dbg_314[] = {
	DBG_HEAD, DBG_INTERP_314,
	/* thread_state: as 3.13 */
	D_TS_SIZE, D_, D_TS_NEXT, D_TS_INTERP, D_TS_CURRENT_FRAME, D_TS_THREAD_ID,
	D_TS_NATIVE_THREAD_ID, D_, D_,
	DBG_FRAME_314, DBG_CODE_314,
	/* pyobject; type_object: size tp_name tp_repr tp_flags */
	D_OB_SIZE, D_OB_TYPE, D_, D_, D_, D_,
	DBG_TUPLE_LIST_SET_DICT_FLOAT_LONG, DBG_BYTES,
	D_UNI_SIZE, D_UNI_STATE, D_UNI_LENGTH, D_UNI_ASCII_SIZE,
};

/* 3.15 (branch 3.15 at rc1+dev, f71fbc558a30): thread_state gains base_frame,
 * last_profiled_frame, last_profiled_frame_seq after current_frame and
 * holds_gil, gil_requested, current_exception, exc_state after status; an
 * err_stackitem block follows it; type_object gains tp_basicsize and
 * tp_dictoffset, then a heap_type_object block; unicode_object gains
 * compactunicodeobject_size. */
static const unsigned char dbg_315[] = {
	DBG_HEAD, DBG_INTERP_314,
	/* thread_state: size prev next interp current_frame base_frame last_profiled_frame
	 * last_profiled_frame_seq thread_id native_thread_id datastack_chunk status holds_gil
	 * gil_requested current_exception exc_state */
	D_TS_SIZE, D_, D_TS_NEXT, D_TS_INTERP, D_TS_CURRENT_FRAME, D_, D_, D_, D_TS_THREAD_ID,
	D_TS_NATIVE_THREAD_ID, D_, D_, D_, D_, D_, D_,
	/* err_stackitem: exc_value */
	D_,
	DBG_FRAME_314, DBG_CODE_314,
	/* pyobject; type_object: size tp_name tp_repr tp_flags tp_basicsize tp_dictoffset;
	 * heap_type_object: size ht_cached_keys */
	D_OB_SIZE, D_OB_TYPE, D_, D_, D_, D_, D_, D_, D_, D_,
	DBG_TUPLE_LIST_SET_DICT_FLOAT_LONG, DBG_BYTES,
	D_UNI_SIZE, D_UNI_STATE, D_UNI_LENGTH, D_UNI_ASCII_SIZE, D_UNI_COMPACT_SIZE,
};
/* clang-format on */

#define DBG_STRUCT(m, a)                                                                           \
	{                                                                                          \
		(m), (a), sizeof(a)                                                                \
	}
/* Oldest first; the last is the newest version this build knows. */
static const struct dbg_struct dbg_structs[] = {
    DBG_STRUCT(13, dbg_313),
    DBG_STRUCT(14, dbg_314),
    DBG_STRUCT(15, dbg_315),
};
#define DBG_NSTRUCTS (sizeof(dbg_structs) / sizeof(dbg_structs[0]))
#define DBG_NEWEST (dbg_structs[DBG_NSTRUCTS - 1].minor)

#define DBG_COOKIE "xdebugpy"

/* The debug block decoded with one layout: each field's value, or NONE_VAL. */
#define NONE_VAL UINT64_MAX
struct dbg_values {
	uint64_t v[D__COUNT];
};

static int decode(const struct pyinfo *info, const struct dbg_struct *st, struct dbg_values *out)
{
	for (size_t f = 0; f < D__COUNT; f++)
		out->v[f] = NONE_VAL;
	if (st->nfields * 8 > info->debug_len)
		return -EPROTO;
	for (size_t w = 0; w < st->nfields; w++)
		if (st->fields[w] != D_)
			memcpy(&out->v[st->fields[w]], info->debug + w * 8, sizeof(uint64_t));
	return 0;
}

/* Is `f` present, and a field inside a block of `size` bytes? */
static bool inside(const struct dbg_values *d, enum dbg_field f, enum dbg_field size)
{
	return d->v[f] != NONE_VAL && d->v[size] != NONE_VAL && d->v[f] < d->v[size];
}

/*
 * The block carries no size and no names, so a layout that does not match
 * (fields inserted by a version or patch release we do not know) would read
 * every later offset from the wrong word. Check what must hold for any
 * CPython whose layout this is: the recorded runtime size is the real one,
 * every block's size is plausible and its fields lie inside it, and the
 * object header facts that have not changed since 3.11 (a frame starts with
 * its executable, then `previous`; ob_type follows the refcount(s)).
 */
static int validate_layout(const struct pyinfo *info, const struct dbg_values *d)
{
	static const struct {
		enum dbg_field field, size;
	} in_block[] = {
	    {D_RT_INTERP_HEAD, D_RT_SIZE},  {D_IS_NEXT, D_IS_SIZE},
	    {D_IS_THREADS_HEAD, D_IS_SIZE}, {D_TS_NEXT, D_TS_SIZE},
	    {D_TS_INTERP, D_TS_SIZE},	    {D_TS_CURRENT_FRAME, D_TS_SIZE},
	    {D_TS_THREAD_ID, D_TS_SIZE},    {D_TS_NATIVE_THREAD_ID, D_TS_SIZE},
	    {D_FR_PREVIOUS, D_FR_SIZE},	    {D_FR_INSTR_PTR, D_FR_SIZE},
	    {D_FR_OWNER, D_FR_SIZE},	    {D_CO_FILENAME, D_CO_SIZE},
	    {D_CO_QUALNAME, D_CO_SIZE},	    {D_CO_LINETABLE, D_CO_SIZE},
	    {D_CO_FIRSTLINENO, D_CO_SIZE},  {D_CO_ADAPTIVE, D_CO_SIZE},
	    {D_OB_TYPE, D_OB_SIZE},	    {D_BY_OB_SIZE, D_BY_SIZE},
	    {D_BY_OB_SVAL, D_BY_SIZE},	    {D_UNI_STATE, D_UNI_SIZE},
	    {D_UNI_LENGTH, D_UNI_SIZE},	    {D_UNI_ASCII_SIZE, D_UNI_SIZE},
	};
	uint64_t header = info->free_threaded ? 32 : 16; /* sizeof(PyObject) */

	if (memcmp(info->debug, DBG_COOKIE, 8) != 0 ||
	    (info->hexversion && d->v[D_VERSION] != info->hexversion) ||
	    d->v[D_FREE_THREADED] != (info->free_threaded ? 1 : 0) ||
	    (info->runtime_size && d->v[D_RT_SIZE] != info->runtime_size))
		return -EPROTO;
	for (size_t i = 0; i < sizeof(in_block) / sizeof(in_block[0]); i++)
		if (!inside(d, in_block[i].field, in_block[i].size) ||
		    d->v[in_block[i].field] >= NONE)
			return -EPROTO;
	if (d->v[D_FR_EXECUTABLE] != 0 || d->v[D_FR_PREVIOUS] != 8 || d->v[D_OB_SIZE] != header ||
	    d->v[D_OB_TYPE] != header - 8 || d->v[D_BY_OB_SIZE] != header ||
	    d->v[D_BY_OB_SVAL] <= d->v[D_BY_OB_SIZE] ||
	    d->v[D_UNI_ASCII_SIZE] <= d->v[D_UNI_STATE] ||
	    d->v[D_UNI_ASCII_SIZE] >= d->v[D_UNI_SIZE] ||
	    (d->v[D_UNI_COMPACT_SIZE] != NONE_VAL &&
	     (d->v[D_UNI_COMPACT_SIZE] <= d->v[D_UNI_ASCII_SIZE] ||
	      d->v[D_UNI_COMPACT_SIZE] >= d->v[D_UNI_SIZE])))
		return -EPROTO;
	if (info->free_threaded && info->minor >= 14 &&
	    (!inside(d, D_FR_TLBC_INDEX, D_FR_SIZE) || !inside(d, D_CO_TLBC, D_CO_SIZE)))
		return -EPROTO;
	return 0;
}

/*
 * The layout of this interpreter's debug block: its own minor version's,
 * or for a version newer than this build, the newest one it knows if the
 * block validates with it (checked again against the live process).
 * -ENOTSUP: no layout for this version; -EPROTO: the block does not
 * validate with the layout.
 */
static int dbg_decode(const struct pyinfo *info, struct dbg_values *d)
{
	const struct dbg_struct *st = NULL;
	int err;

	if (info->major != 3 || info->minor < 13 || info->debug_len < 32 ||
	    memcmp(info->debug, DBG_COOKIE, 8) != 0)
		return -ENOTSUP;
	for (size_t i = 0; i < DBG_NSTRUCTS; i++)
		if (dbg_structs[i].minor == info->minor)
			st = &dbg_structs[i];
	if (!st && info->minor > DBG_NEWEST)
		st = &dbg_structs[DBG_NSTRUCTS - 1];
	if (!st)
		return -ENOTSUP;
	err = decode(info, st, d);
	return err ? err : validate_layout(info, d);
}

/* One decoded offset into the ABI's u16 (NONE when absent). */
static __u16 off16(const struct dbg_values *d, enum dbg_field f)
{
	return d->v[f] < NONE ? (__u16)d->v[f] : NONE;
}

static int from_debug_offsets(const struct pyinfo *info, struct pybpf_offsets *off)
{
	struct dbg_values d;
	int err = dbg_decode(info, &d);

	if (err)
		return err;
	memset(off, 0, sizeof(*off));
	off->runtime_interp_head = off16(&d, D_RT_INTERP_HEAD);
	off->tstate_interp = off16(&d, D_TS_INTERP);
	/* The GIL: interp->ceval.gil points to it; the block gives locked and
	 * last_holder inside the interpreter's own embedded GIL (_gil). A
	 * free-threaded build has none to wait for. */
	if (!info->free_threaded && inside(&d, D_IS_CEVAL_GIL, D_IS_SIZE) &&
	    inside(&d, D_IS_GIL_LOCKED, D_IS_SIZE) && inside(&d, D_IS_GIL_HOLDER, D_IS_SIZE) &&
	    d.v[D_IS_GIL] < d.v[D_IS_GIL_LOCKED] && d.v[D_IS_GIL] < d.v[D_IS_GIL_HOLDER] &&
	    d.v[D_IS_GIL_LOCKED] - d.v[D_IS_GIL] < 256 && d.v[D_IS_GIL_HOLDER] - d.v[D_IS_GIL] < 256) {
		off->gil_model = GIL_PTR_IN_INTERP;
		off->gil_offset = (__u32)d.v[D_IS_CEVAL_GIL];
		off->gil_locked = (__u16)(d.v[D_IS_GIL_LOCKED] - d.v[D_IS_GIL]);
		off->gil_last_holder = (__u16)(d.v[D_IS_GIL_HOLDER] - d.v[D_IS_GIL]);
		off->gil_size = 208; /* unchanged since 3.8 (pycore_gil.h) */
	}
	off->interp_next = off16(&d, D_IS_NEXT);
	off->interp_threads_head = off16(&d, D_IS_THREADS_HEAD);
	/* Count of freed code objects (3.14+): lets the walker keep code
	 * identities between samples. 0 = none; also when out of the block. */
	if (d.v[D_IS_CODE_GEN] != NONE_VAL && d.v[D_IS_CODE_GEN] > 0 &&
	    d.v[D_IS_CODE_GEN] + 8 <= d.v[D_IS_SIZE] && d.v[D_IS_CODE_GEN] < NONE)
		off->interp_code_gen = (__u16)d.v[D_IS_CODE_GEN];
	off->tstate_next = off16(&d, D_TS_NEXT);
	off->tstate_frame = off16(&d, D_TS_CURRENT_FRAME);
	off->tstate_thread_id = off16(&d, D_TS_THREAD_ID);
	off->frame_previous = off16(&d, D_FR_PREVIOUS);
	off->frame_code = off16(&d, D_FR_EXECUTABLE);
	off->frame_instr = off16(&d, D_FR_INSTR_PTR);
	off->frame_owner = off16(&d, D_FR_OWNER);
	off->code_filename = off16(&d, D_CO_FILENAME);
	off->code_qualname = off16(&d, D_CO_QUALNAME);
	off->code_linetable = off16(&d, D_CO_LINETABLE);
	off->code_firstlineno = off16(&d, D_CO_FIRSTLINENO);
	off->code_adaptive = off16(&d, D_CO_ADAPTIVE);
	off->object_type = off16(&d, D_OB_TYPE);
	off->bytes_size = off16(&d, D_BY_OB_SIZE);
	off->bytes_data = off16(&d, D_BY_OB_SVAL);
	off->unicode_state = off16(&d, D_UNI_STATE);
	off->unicode_length = off16(&d, D_UNI_LENGTH);
	off->unicode_ascii_data = off16(&d, D_UNI_ASCII_SIZE);
	/* Per-thread bytecode copies: free-threaded 3.14+ only (0 in other builds). */
	off->frame_tlbc_index = info->free_threaded ? off16(&d, D_FR_TLBC_INDEX) : NONE;
	off->code_tlbc = info->free_threaded ? off16(&d, D_CO_TLBC) : NONE;
	off->cframe_current_frame = NONE;
	off->frame_model = FRAME_MODEL_INTERP;
	/* Not in the debug block: facts per version (see the notes in pyoffsets.h).
	 * Owner >= 3 is a C-stack shim (3.13 CSTACK 3; 3.14 INTERPRETER 3, CSTACK 4;
	 * 3.15 INTERPRETER 3, no CSTACK). */
	off->frame_owner_skip_min = 3;
	/* Non-ASCII compact data follows PyCompactUnicodeObject (3.15 records its
	 * size); before, it is PyUnicodeObject less its last field, the data
	 * pointer union, 8 bytes. */
	off->unicode_compact_data = d.v[D_UNI_COMPACT_SIZE] != NONE_VAL
					? off16(&d, D_UNI_COMPACT_SIZE)
					: (__u16)(d.v[D_UNI_SIZE] - 8);
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
	if (find_table(major, minor, free_threaded))
		return true;
	for (size_t i = 0; i < DBG_NSTRUCTS; i++)
		if (major == 3 && dbg_structs[i].minor == minor)
			return true;
	return false;
}

unsigned int pyoffsets__newest_minor(void)
{
	return DBG_NEWEST;
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

static int read_ptr(pid_t pid, uint64_t addr, uint64_t *out)
{
	return memread(pid, addr, out, sizeof(*out));
}

int pyoffsets__check_live(const struct pyinfo *info, pid_t pid)
{
	bool newer = info->major == 3 && info->minor > DBG_NEWEST;
	uint64_t interp, tstate, back, tid;
	struct dbg_values d;
	int err;

	if (find_table(info->major, info->minor, info->free_threaded))
		return 0;
	err = dbg_decode(info, &d);
	if (err)
		return err;
	/* _PyRuntime -> first interpreter -> its newest thread, whose `interp`
	 * must point back; its native thread id must be a plausible TID. A
	 * process caught mid-change fails this too: its libpython's data not
	 * mapped yet (dlopen in progress: the runtime unreadable, or a stale
	 * word where interpreters.head will be), or a thread state linked in
	 * before its thread runs and sets its id (Py_Initialize, a thread
	 * start): -EINPROGRESS, for the caller to look again. */
	err = read_ptr(pid, info->runtime_addr + d.v[D_RT_INTERP_HEAD], &interp);
	if (err)
		return err == -ESRCH ? -ESRCH : -EINPROGRESS;
	if (!interp)
		return newer ? -EAGAIN : 0;
	if (read_ptr(pid, interp + d.v[D_IS_THREADS_HEAD], &tstate))
		return -EINPROGRESS;
	if (!tstate)
		return newer ? -EAGAIN : 0;
	if (read_ptr(pid, tstate + d.v[D_TS_INTERP], &back) || back != interp ||
	    memread(pid, tstate + d.v[D_TS_NATIVE_THREAD_ID], &tid, sizeof(tid)) || tid == 0 ||
	    tid > (1u << 22))
		return -EINPROGRESS;
	return 0;
}

int64_t pyoffsets__byte_offset(unsigned int major, unsigned int minor, int32_t instr)
{
	/* 3.10 counts f_lasti in 2-byte code units; 3.8/3.9 in bytes; 3.11+
	 * frames already give a byte distance from the start of the bytecode. */
	if (major == 3 && minor == 10)
		return (int64_t)instr * 2;
	return instr;
}
