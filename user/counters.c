// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "counters.h"

static const struct {
	const char *name;
	int drop;
} counters[CNT__MAX] = {
    [CNT_SAMPLES] = {"samples", 0},
    [CNT_NOT_PYTHON] = {"not_python", 0},
    [CNT_PY_SAMPLES] = {"python_samples", 0},
    [CNT_STACKS_RECORDED] = {"recorded", 0},
    [CNT_NO_TSTATE] = {"no_thread_state", 1},
    [CNT_TSTATE_CACHE_MISS] = {"thread_lookups", 0},
    [CNT_THREAD_WALK_LIMIT] = {"thread_walk_limit", 1},
    [CNT_READ_RUNTIME] = {"read_fault_runtime", 1},
    [CNT_READ_TSTATE] = {"read_fault_thread", 1},
    [CNT_READ_FRAME] = {"read_fault_frame", 1},
    [CNT_READ_CODE] = {"read_fault_code", 1},
    [CNT_TRUNCATED] = {"truncated", 1},
    [CNT_EMPTY_STACK] = {"no_python_frames", 1},
    [CNT_STACKS_FULL] = {"stack_map_full", 1},
    [CNT_COUNTS_FULL] = {"count_map_full", 1},
    [CNT_CODE_CAPTURED] = {"code_objects_sent", 0},
    [CNT_CODE_RINGBUF_FULL] = {"code_event_lost", 1},
    [CNT_CODE_READ_FAIL] = {"code_read_fault", 1},
    [CNT_SCRATCH] = {"no_scratch", 1},
    [CNT_BAD_FRAME] = {"torn_frame_chain", 1},
    [CNT_NATIVE_LOST] = {"native_event_lost", 1},
    [CNT_NATIVE_NO_REGS] = {"native_no_user_regs", 1},
    [CNT_SWITCH_OUT] = {"switch_outs", 0},
    [CNT_OFFCPU_CLOSED] = {"offcpu_counted", 0},
    [CNT_OFFCPU_FULL] = {"offcpu_map_full", 1},
    [CNT_OFFCPU_STALE] = {"offcpu_stale", 0},
    [CNT_NOT_GIL_HOLDER] = {"not_gil_holder", 0},
    [CNT_KSTACK_LOST] = {"offcpu_kernel_stack_lost", 1},
    [CNT_OFFCPU_NATIVE_LOST] = {"offcpu_native_lost", 1},
    [CNT_TICK_AT_WAKE] = {"tick_at_wake", 0},
    [CNT_TICKS_MISSED] = {"ticks_missed", 0},
};

_Static_assert(sizeof(counters) / sizeof(counters[0]) == CNT__MAX, "a name per counter");

const char *counter__name(unsigned int id)
{
	return id < CNT__MAX && counters[id].name ? counters[id].name : "?";
}

int counter__is_drop(unsigned int id)
{
	return id < CNT__MAX && counters[id].drop;
}
