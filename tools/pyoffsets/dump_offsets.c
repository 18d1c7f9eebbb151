/*
 * Print the struct offsets pybpf-prof's tables need, as CPython's own
 * compiler sees them. Build against the headers of one interpreter:
 *
 *   tools/pyoffsets/dump.sh /path/to/python3.X
 *
 * and compare with the table for that version in user/pyoffsets.c.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX >= 0x030b0000
#include <internal/pycore_frame.h>
#endif
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#else
#include <internal/pycore_pystate.h> /* 3.8: runtime and interpreter state */
#endif
#if PY_VERSION_HEX < 0x030b0000
#include <frameobject.h>
#endif

#define P(name, expr) printf("%-32s %zu\n", name, (size_t)(expr))

int main(void)
{
	printf("version %s hex 0x%08x\n", PY_VERSION, (unsigned)PY_VERSION_HEX);
	P("runtime.interpreters_head", offsetof(_PyRuntimeState, interpreters.head));
	P("sizeof(_PyRuntimeState)", sizeof(_PyRuntimeState));
	P("interp.next", offsetof(PyInterpreterState, next));
#if PY_VERSION_HEX >= 0x030b0000
	P("interp.threads_head", offsetof(PyInterpreterState, threads.head));
#else
	P("interp.threads_head", offsetof(PyInterpreterState, tstate_head));
#endif
	P("tstate.next", offsetof(PyThreadState, next));
	P("tstate.thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030b0000
	P("tstate.native_thread_id", offsetof(PyThreadState, native_thread_id));
#endif
#if PY_VERSION_HEX >= 0x030d0000
	P("tstate.current_frame", offsetof(PyThreadState, current_frame));
#elif PY_VERSION_HEX >= 0x030b0000
	P("tstate.cframe", offsetof(PyThreadState, cframe));
	P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
#else
	P("tstate.frame", offsetof(PyThreadState, frame));
#endif
#if PY_VERSION_HEX >= 0x030b0000
	P("frame.previous", offsetof(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX >= 0x030d0000
	P("frame.executable", offsetof(_PyInterpreterFrame, f_executable));
	P("frame.instr_ptr", offsetof(_PyInterpreterFrame, instr_ptr));
#else
	P("frame.code", offsetof(_PyInterpreterFrame, f_code));
	P("frame.prev_instr", offsetof(_PyInterpreterFrame, prev_instr));
#endif
	P("frame.owner", offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX < 0x030c0000
	P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
	P("code.co_code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
	P("code.co_qualname", offsetof(PyCodeObject, co_qualname));
	P("code.co_linetable", offsetof(PyCodeObject, co_linetable));
#else
	P("frame.f_back", offsetof(PyFrameObject, f_back));
	P("frame.f_code", offsetof(PyFrameObject, f_code));
	P("frame.f_lasti", offsetof(PyFrameObject, f_lasti));
	P("code.co_name(as qualname)", offsetof(PyCodeObject, co_name));
#if PY_VERSION_HEX >= 0x030a0000
	P("code.co_linetable", offsetof(PyCodeObject, co_linetable));
#else
	P("code.co_lnotab", offsetof(PyCodeObject, co_lnotab));
#endif
#endif
	P("code.co_firstlineno", offsetof(PyCodeObject, co_firstlineno));
	P("code.co_filename", offsetof(PyCodeObject, co_filename));
	P("code.co_name", offsetof(PyCodeObject, co_name));
	P("object.ob_type", offsetof(PyObject, ob_type));
	P("bytes.ob_size", offsetof(PyVarObject, ob_size));
	P("bytes.ob_sval", offsetof(PyBytesObject, ob_sval));
	P("unicode.length", offsetof(PyASCIIObject, length));
	P("unicode.state", offsetof(PyASCIIObject, state));
	P("sizeof(PyASCIIObject)", sizeof(PyASCIIObject));
	P("sizeof(PyCompactUnicodeObject)", sizeof(PyCompactUnicodeObject));
	/* `dump --locals` (user/pylocals.c) */
#if PY_VERSION_HEX >= 0x030b0000
	P("frame.localsplus", offsetof(_PyInterpreterFrame, localsplus));
	P("code.co_nlocalsplus", offsetof(PyCodeObject, co_nlocalsplus));
	P("code.co_localsplusnames", offsetof(PyCodeObject, co_localsplusnames));
	P("code.co_localspluskinds", offsetof(PyCodeObject, co_localspluskinds));
#else
	P("frame.f_localsplus", offsetof(PyFrameObject, f_localsplus));
	P("code.co_nlocals", offsetof(PyCodeObject, co_nlocals));
	P("code.co_varnames", offsetof(PyCodeObject, co_varnames));
#endif
	P("tuple.ob_item", offsetof(PyTupleObject, ob_item));
	P("type.tp_name", offsetof(PyTypeObject, tp_name));
#if PY_VERSION_HEX >= 0x030c0000
	P("long.lv_tag", offsetof(PyLongObject, long_value.lv_tag));
	P("long.ob_digit", offsetof(PyLongObject, long_value.ob_digit));
#else
	P("long.ob_size", offsetof(PyVarObject, ob_size));
	P("long.ob_digit", offsetof(PyLongObject, ob_digit));
#endif
	P("float.ob_fval", offsetof(PyFloatObject, ob_fval));
	P("cell.ob_ref", offsetof(PyCellObject, ob_ref));
	return 0;
}
