/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one header for everything that crosses the BPF/userspace line:
 * map keys and values, ring-buffer records, the per-process interpreter
 * description and the ids of every drop/diagnostic counter.
 *
 * Fixed-width types only; every struct size is pinned below so that a
 * change on one side that the other does not see fails the build.
 */
#ifndef PYBPF_ABI_H
#define PYBPF_ABI_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* Deepest Python stack kept; deeper stacks keep their innermost
 * PYBPF_MAX_FRAMES frames and carry STACK_F_TRUNCATED. Power of two. */
#define PYBPF_MAX_FRAMES 256
/* Threads examined per interpreter when looking for a thread's state. */
#define PYBPF_MAX_THREADS 1024
/* Interpreters examined per process (main + sub-interpreters). */
#define PYBPF_MAX_INTERPS 8

/* Bytes of a code object's names and line table copied at first sight. */
#define PYBPF_QUALNAME_MAX 256
#define PYBPF_FILENAME_MAX 512
#define PYBPF_LINETABLE_MAX 4096

/* Marks an offset that this interpreter version does not have. */
#define PYBPF_OFF_NONE 0xffffu

/* How a version chains its frames. */
enum pybpf_frame_model {
	/* 3.8-3.10: PyFrameObject, f_back, f_lasti is an int index. */
	FRAME_MODEL_OBJECT = 1,
	/* 3.11+: _PyInterpreterFrame, previous, a pointer into the bytecode. */
	FRAME_MODEL_INTERP = 2,
};

/*
 * Where things live inside one CPython build. Filled by userspace from a
 * per-version table (3.8-3.12) or from _Py_DebugOffsets (3.13+). Offsets
 * are bytes from the start of the named struct; PYBPF_OFF_NONE = absent.
 */
struct pybpf_offsets {
	__u16 runtime_interp_head;   /* _PyRuntime.interpreters.head */
	__u16 interp_next;           /* PyInterpreterState.next */
	__u16 interp_threads_head;   /* PyInterpreterState.threads.head */
	__u16 tstate_next;           /* PyThreadState.next */
	__u16 tstate_thread_id;      /* PyThreadState.thread_id (pthread_self) */
	__u16 tstate_frame;          /* .frame (<=3.10), .cframe (3.11-3.12), .current_frame (3.13+) */
	__u16 cframe_current_frame;  /* _PyCFrame.current_frame, NONE when tstate_frame is the frame */
	__u16 frame_model;           /* enum pybpf_frame_model */
	__u16 frame_previous;        /* f_back / previous */
	__u16 frame_code;            /* f_code / f_executable */
	__u16 frame_instr;           /* f_lasti (int) / prev_instr / instr_ptr (pointer) */
	__u16 frame_owner;           /* owner byte, NONE before 3.11 */
	__u16 frame_owner_skip_min;  /* frames whose owner is >= this are not user code */
	__u16 code_adaptive;         /* co_code_adaptive (start of bytecode), INTERP model */
	__u16 code_firstlineno;      /* int */
	__u16 code_filename;         /* PyUnicodeObject * */
	__u16 code_qualname;         /* co_qualname (3.11+) or co_name */
	__u16 code_linetable;        /* PyBytesObject *: co_linetable or co_lnotab */
	__u16 object_type;           /* ob_type */
	__u16 bytes_size;            /* PyVarObject.ob_size of a bytes object */
	__u16 bytes_data;            /* PyBytesObject.ob_sval */
	__u16 unicode_length;        /* PyASCIIObject.length (code points) */
	__u16 unicode_state;         /* PyASCIIObject.state (32 bits) */
	__u16 unicode_ascii_data;    /* data of a compact ASCII string */
	__u16 unicode_compact_data;  /* data of a compact non-ASCII string */
	__u16 frame_tlbc_index;      /* int32 index into co_tlbc (3.14 free-threaded), else NONE */
	__u16 code_tlbc;             /* _PyCodeArray *co_tlbc (3.14 free-threaded), else NONE */
	__u8 unicode_kind_shift;     /* kind = (state >> shift) & 7 */
	__u8 unicode_compact_bit;
	__u8 unicode_ascii_bit;
	__u8 frame_is_entry;         /* is_entry bool (3.11 only): an eval-loop activation's first frame; 0 = none */
	__u16 interp_code_gen;       /* PyInterpreterState._code_object_generation (3.14+), 0 = none */
	__u64 executable_mask;       /* applied to frame_code (3.14 tagged refs); ~0 otherwise */
	/* The GIL (wall mode's thread states, --gil). gil_offset: GIL_IN_RUNTIME,
	 * of the GIL in _PyRuntime; GIL_PTR_IN_INTERP, of the pointer to it in
	 * PyInterpreterState. */
	__u32 gil_offset;
	__u16 gil_model;             /* enum pybpf_gil_model */
	__u16 tstate_interp;         /* PyThreadState.interp */
	__u16 gil_locked;            /* int, in struct _gil_runtime_state */
	__u16 gil_last_holder;       /* PyThreadState *, in struct _gil_runtime_state */
	__u16 gil_size;              /* sizeof(struct _gil_runtime_state): a futex in it = GIL wait */
	__u16 pad1;
};
_Static_assert(sizeof(struct pybpf_offsets) == 88, "pybpf_offsets layout");

/* Where a version keeps its GIL. */
enum pybpf_gil_model {
	GIL_NONE = 0,          /* free-threaded build, or not known: no GIL states */
	GIL_IN_RUNTIME = 1,    /* 3.8-3.11: _PyRuntime.ceval.gil */
	GIL_PTR_IN_INTERP = 2, /* 3.12+: tstate->interp->ceval.gil points to it */
};

/* Value of the procs map, keyed by host tgid. */
struct pybpf_proc {
	__u32 gen;            /* unique id of this registration; never reused in a run */
	__u32 flags;          /* reserved */
	__u64 runtime_addr;   /* address of _PyRuntime in the target */
	__u64 code_type_addr; /* &PyCode_Type, 0 to skip the type check */
	struct pybpf_offsets off;
	__u64 code_count_addr; /* 3.12: _Py_next_func_version (u32, counts created code objects), or 0 */
};
_Static_assert(sizeof(struct pybpf_proc) == 120, "pybpf_proc layout");

/* One Python frame as recorded at sample time. */
struct pybpf_frame {
	__u64 code;   /* code object address */
	__u32 ident;  /* hash of (co_firstlineno, co_filename pointer): detects reuse */
	__s32 instr;  /* OBJECT model: f_lasti; INTERP model: byte offset from co_code_adaptive */
};
_Static_assert(sizeof(struct pybpf_frame) == 16, "pybpf_frame layout");

enum pybpf_stack_flags {
	STACK_F_TRUNCATED = 1u << 0, /* deeper than PYBPF_MAX_FRAMES */
	STACK_F_NO_TSTATE = 1u << 1, /* thread of a Python process without a thread state */
	STACK_F_READ_ERROR = 1u << 2, /* the walk stopped on a fault; frames so far kept */
};

/* Value of the stacks map, keyed by a 64-bit hash of (gen, frames). */
struct pybpf_stack {
	__u32 depth;  /* frames used, innermost first */
	__u32 flags;  /* enum pybpf_stack_flags */
	struct pybpf_frame frames[PYBPF_MAX_FRAMES];
};
_Static_assert(sizeof(struct pybpf_stack) == 8 + 16 * PYBPF_MAX_FRAMES, "pybpf_stack layout");

/* What a thread was doing (wall mode; STATE_NONE in cpu mode). */
enum pybpf_state {
	STATE_NONE = 0,
	STATE_RUNNING = 1,       /* on CPU holding the GIL, or a build without one */
	STATE_RUNNING_NOGIL = 2, /* on CPU, GIL released (C code) */
	STATE_GIL_WAIT = 3,      /* off CPU waiting to take the GIL */
	STATE_BLOCKED = 4,       /* off CPU otherwise */
	STATE__MAX,
};

/* What an off-CPU thread waited in: WAIT_SYSCALL + the syscall number, or one of these. */
enum pybpf_wait {
	WAIT_NONE = 0,      /* on CPU */
	WAIT_PREEMPTED = 1, /* runnable, but another task got the CPU */
	WAIT_OTHER = 2,     /* asleep in the kernel outside a system call (e.g. a page fault) */
	WAIT_SYSCALL = 16,
	WAIT_SYSCALL_MAX = 1024, /* syscall numbers at or above this are WAIT_OTHER */
};

/* Key of the counts map. */
struct pybpf_count_key {
	__u32 gen;    /* process registration */
	__u32 tid;    /* host thread id */
	__u64 stack;  /* key into the stacks map */
	__u16 state;  /* enum pybpf_state */
	__u16 wait;   /* enum pybpf_wait */
	__u32 kstack; /* wall mode --native, off CPU: PYBPF_KSTACK_REF, 0: none */
};
_Static_assert(sizeof(struct pybpf_count_key) == 24, "pybpf_count_key layout");

/* Value of the counts map: on-CPU samples weigh one sampling period each;
 * off-CPU intervals their measured length. */
struct pybpf_count_val {
	__u64 count;  /* samples, or off-CPU intervals */
	__u64 ns;     /* time they stand for */
};
_Static_assert(sizeof(struct pybpf_count_val) == 16, "pybpf_count_val layout");

/* Value of the off-CPU map (wall mode), keyed by host tid: a thread that
 * left the CPU, where it was and since when. */
struct pybpf_offcpu {
	__u32 gen;
	__u16 state;     /* STATE_GIL_WAIT or STATE_BLOCKED */
	__u16 wait;
	__u64 stack;     /* key into the stacks map */
	__u64 since_ns;  /* CLOCK_MONOTONIC start of what is not counted yet; 0 while closing */
	__u64 run_ns;    /* the task's total CPU time then: unchanged while it stays off CPU */
	__u32 kstack;	 /* --native: PYBPF_KSTACK_REF at switch-out, 0 = none */
	__u32 pad;
};
_Static_assert(sizeof(struct pybpf_offcpu) == 40, "pybpf_offcpu layout");

/* Key/value of the thread-state cache. */
struct pybpf_thread_key {
	__u32 gen;
	__u32 tid;
};
_Static_assert(sizeof(struct pybpf_thread_key) == 8, "pybpf_thread_key layout");

struct pybpf_thread_val {
	__u64 tstate;   /* 0: none found at `checked_ns` */
	__u64 checked_ns;
	__u32 misses;   /* searches in a row that found none: the next waits longer */
	__u32 pad;
	__u64 interp;   /* interpreter the thread state was found in */
};
_Static_assert(sizeof(struct pybpf_thread_val) == 32, "pybpf_thread_val layout");

/* Key of the known-code map (value: struct pybpf_frame.ident last captured). */
struct pybpf_code_key {
	__u32 gen;
	__u32 pad;
	__u64 code;
};
_Static_assert(sizeof(struct pybpf_code_key) == 16, "pybpf_code_key layout");

/* A string copied out of a PyUnicodeObject: raw code units of `kind` bytes each. */
struct pybpf_str {
	__u32 kind;     /* 1, 2 or 4 bytes per code point; 0 = could not be read */
	__u32 nbytes;   /* bytes copied into the buffer */
	__u32 length;   /* code points in the original string */
	__u32 pad;
};
_Static_assert(sizeof(struct pybpf_str) == 16, "pybpf_str layout");

enum pybpf_event_type {
	EVENT_CODE = 1, /* struct pybpf_code_event */
	EVENT_EXEC = 2, /* struct pybpf_proc_event: a task called exec */
	EVENT_EXIT = 3, /* struct pybpf_proc_event: a thread-group leader exited */
	EVENT_NATIVE = 4, /* struct pybpf_native_event: one --native sample */
};

struct pybpf_proc_event {
	__u32 type;
	__u32 pid;
};
_Static_assert(sizeof(struct pybpf_proc_event) == 8, "pybpf_proc_event layout");

/*
 * Ring-buffer record sent the first time a (process, code object, ident)
 * is seen in a stack: everything needed to name its frames, so they can be
 * named after the process has exited.
 */
struct pybpf_code_event {
	__u32 type;          /* EVENT_CODE */
	__u32 gen;
	__u64 code;
	__u32 ident;
	__s32 firstlineno;
	struct pybpf_str qualname;
	struct pybpf_str filename;
	__u32 linetable_nbytes;  /* bytes copied */
	__u32 linetable_size;    /* bytes in the original; > nbytes when cut */
	__u8 qualname_data[PYBPF_QUALNAME_MAX];
	__u8 filename_data[PYBPF_FILENAME_MAX];
	__u8 linetable_data[PYBPF_LINETABLE_MAX];
};
_Static_assert(sizeof(struct pybpf_code_event) ==
		       24 + 2 * 16 + 8 + PYBPF_QUALNAME_MAX + PYBPF_FILENAME_MAX + PYBPF_LINETABLE_MAX,
	       "pybpf_code_event layout");

/* --native: bytes of user stack copied from the sampled sp, kernel frames kept. */
#define PYBPF_USTACK_MAX 16384
/* The copy starts this far below sp (NATIVE_F_BELOW_SP): a function
 * sampled in its epilogue has popped registers whose CFI still reads them
 * from their slots, now just below sp (and leaf code may use the 128-byte
 * red zone). */
#define PYBPF_USTACK_BELOW 128
#define PYBPF_KSTACK_MAX 64

/*
 * Wall mode --native: a kernel stack at switch-out is referenced (the
 * kstack field of struct pybpf_count_key and struct pybpf_offcpu) as the
 * generation of the stack-trace map it is in (16 bits; the map is
 * kstacks[gen & 1]) and its id in that map + 1 (0 = no kernel stack).
 * Userspace sets the generation (kstack_gen) and clears the map of the
 * previous one when it moves on (user/kstacks.h).
 */
#define PYBPF_KSTACK_REF(gen, id) ((__u32)(((0xffffu & (gen)) << 16) | (0xffffu & ((id) + 1))))
#define PYBPF_KSTACK_REF_GEN(ref) ((__u32)((ref) >> 16))
#define PYBPF_KSTACK_REF_ID(ref) ((__u32)((0xffffu & (ref)) - 1))
/* Entries of each kernel-stack map at most: ids + 1 fit in 16 bits. */
#define PYBPF_KSTACKS_MAX_ENTRIES 32768

enum pybpf_native_flags {
	NATIVE_F_USER_REGS = 1u << 0, /* ip/sp/bp are the thread's user registers */
	NATIVE_F_STACK_CUT = 1u << 1, /* the user stack copy stopped at an unreadable page */
	/* Wall mode: not a sample but the user stack of a thread leaving the
	 * CPU in a system call, sent the first time its `offcpu_stack` (the
	 * stacks-map key of its off-CPU totals) is stored; no kernel stack. */
	NATIVE_F_OFFCPU = 1u << 2,
	/* ustack holds user memory from sp - PYBPF_USTACK_BELOW, else from sp. */
	NATIVE_F_BELOW_SP = 1u << 3,
};

/*
 * One --native sample, sent as is (not aggregated in the kernel): the user
 * registers and the top of the user stack for unwinding in userspace, the
 * kernel stack, and the Python stack with the frames that begin an
 * evaluation-loop activation marked in `entry` (bit i = frames[i]; 3.11:
 * is_entry, 3.12+: the frame above a C-stack shim; before 3.11 every frame
 * is one activation and no bit is set).
 */
struct pybpf_native_event {
	__u32 type;        /* EVENT_NATIVE */
	__u32 gen;
	__u32 tid;
	__u32 flags;       /* enum pybpf_native_flags */
	__u32 ustack_len;  /* bytes of ustack valid, from sp (or below it: NATIVE_F_BELOW_SP) up */
	__u32 kstack_len;  /* entries of kstack valid, innermost first */
	__u64 ip, sp, bp;
	__u64 offcpu_stack; /* NATIVE_F_OFFCPU: key of the stack in the counts map, else 0 */
	__u64 entry[PYBPF_MAX_FRAMES / 64];
	__u64 kstack[PYBPF_KSTACK_MAX];
	struct pybpf_stack stack;
	__u8 ustack[PYBPF_USTACK_MAX];
};
_Static_assert(sizeof(struct pybpf_native_event) ==
		   56 + 8 * (PYBPF_MAX_FRAMES / 64) + 8 * PYBPF_KSTACK_MAX +
		       sizeof(struct pybpf_stack) + PYBPF_USTACK_MAX,
	       "pybpf_native_event layout");

/*
 * The targets bitmap: bit (tgid % 64) of word (tgid / 64) is set for every
 * registered process (userspace sets it after the `procs` entry, clears it
 * after removing the entry; the exec/exit programs clear it). A clear bit
 * means "not a target" without a hash lookup; a set bit is only a hint and
 * `procs` decides. Sized from kernel.pid_max at load; a tgid beyond it goes
 * to `procs` directly.
 */
#define PYBPF_PID_LIMIT (1u << 22) /* PID_MAX_LIMIT on 64-bit */
static inline __u32 pybpf_target_word(__u32 tgid)
{
	return tgid / 64;
}
static inline __u64 pybpf_target_bit(__u32 tgid)
{
	return 1ull << (tgid % 64);
}
static inline __u32 pybpf_target_words(__u64 pid_max)
{
	if (pid_max < 64 || pid_max > PYBPF_PID_LIMIT)
		pid_max = PYBPF_PID_LIMIT;
	return (__u32)((pid_max + 63) / 64);
}

/*
 * Per-CPU counters. Every path that loses or degrades a sample bumps one;
 * names for display live in user/counters.c, in the same order.
 */
enum pybpf_counter {
	CNT_SAMPLES = 0,	/* perf events handled (all CPUs, all tasks) */
	CNT_NOT_PYTHON,		/* task not a registered process (incl. idle, kernel threads) */
	CNT_PY_SAMPLES,		/* samples of registered processes */
	CNT_STACKS_RECORDED,	/* samples added to the counts map */
	CNT_NO_TSTATE,		/* no thread state for the thread */
	CNT_TSTATE_CACHE_MISS,	/* thread list walked to find a thread state */
	CNT_THREAD_WALK_LIMIT,	/* list longer than PYBPF_MAX_THREADS */
	CNT_READ_RUNTIME,	/* fault reading _PyRuntime / interpreter */
	CNT_READ_TSTATE,	/* fault reading a thread state */
	CNT_READ_FRAME,		/* fault reading a frame */
	CNT_READ_CODE,		/* fault reading a code object */
	CNT_TRUNCATED,		/* stack deeper than PYBPF_MAX_FRAMES */
	CNT_EMPTY_STACK,	/* thread state but no Python frame */
	CNT_STACKS_FULL,	/* stacks map full: sample lost */
	CNT_COUNTS_FULL,	/* counts map full: sample lost */
	CNT_CODE_CAPTURED,	/* code events sent */
	CNT_CODE_RINGBUF_FULL,	/* code event lost: ring buffer full */
	CNT_CODE_READ_FAIL,	/* code event sent with a field unreadable */
	CNT_SCRATCH,		/* per-CPU scratch unavailable (should never happen) */
	CNT_BAD_FRAME,		/* frame chain left mid-change: not a code object, or a loop */
	CNT_NATIVE_LOST,	/* --native: ring buffer full, sample kept without native frames */
	CNT_NATIVE_NO_REGS,	/* --native: user registers unavailable (kernel thread) */
	CNT_SWITCH_OUT,		/* wall mode: a target thread left the CPU */
	CNT_OFFCPU_CLOSED,	/* wall mode: off-CPU intervals counted */
	CNT_OFFCPU_FULL,	/* wall mode: off-CPU map full, an interval lost */
	CNT_OFFCPU_STALE,	/* wall mode: a start-of-run entry found stale, dropped */
	CNT_NOT_GIL_HOLDER,	/* --gil: sample of a thread not holding the GIL, left out */
	CNT_KSTACK_LOST,	/* wall mode --native: kernel stack at switch-out not stored */
	CNT_OFFCPU_NATIVE_LOST, /* wall mode --native: user stack at switch-out not sent */
	CNT_TICK_AT_WAKE,	/* tick on a non-target while a woken target waited to take over */
	/* Not bumped in BPF: filled in by userspace from the perf events' own
	 * counts (cpu-clock periods elapsed on each CPU minus CNT_SAMPLES
	 * there): ticks the kernel never delivered (timer overrun, throttling). */
	CNT_TICKS_MISSED,
	CNT__MAX,
};

#endif /* PYBPF_ABI_H */
