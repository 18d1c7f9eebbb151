/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Native stacks of --native samples: unwinds a copy of the top of a
 * thread's user stack with the DWARF CFI of the binaries it runs
 * (.eh_frame, .debug_frame), through elfutils' libdwfl, and names the
 * frames (.symtab, else .dynsym, else the host's debuginfo for the build
 * id under /usr/lib/debug/.build-id, never one a .gnu_debuglink names).
 * Binaries are opened through /proc/PID/map_files, else at their path
 * under /proc/PID/root without following links (procfs__open_in_root),
 * so processes in containers work and a target's links never reach a
 * host file; libraries dlopen'ed later are picked up when an address
 * falls outside every known module.
 *
 * One libdwfl session per process, created at its first sample, freed when
 * the process goes (unwinder__forget) or stays unused (unwinder__prune).
 * Not thread-safe.
 */
#ifndef PYBPF_UNWIND_H
#define PYBPF_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct unwinder;

/* The object a frame's address lies in. Strings live as long as the unwinder. */
struct unwind_module {
	const char *path;      /* as mapped in the process (inside its container) */
	const char *build_id;  /* lowercase hex, "" if none */
	uint64_t start, limit; /* address range in the process */
	uint64_t offset;       /* file offset mapped at start */
};

struct unwind_frame {
	uint64_t pc;	  /* of the instruction (return address - 1 for callers) */
	const char *name; /* function, NULL if no symbol covers pc */
	const struct unwind_module *module; /* NULL if pc is in no known object */
};

struct unwind_sample {
	pid_t pid, tid;
	uint64_t ip, sp, bp; /* user registers at the sample */
	const void *stack;   /* copy of user memory at [stack_addr, stack_addr + stack_len) */
	size_t stack_len;
	uint64_t stack_addr; /* 0: sp */
};

struct unwind_stats {
	uint64_t processes; /* libdwfl sessions open */
	uint64_t symbols;   /* cached (process, pc) -> name */
	uint64_t unwinds;
	uint64_t frames;
	uint64_t reloads; /* module lists re-read (dlopen, first sample) */
	uint64_t evicted; /* sessions closed to stay within UNWIND_MAX_PROCS */
	uint64_t
	    bus_faults; /* pages of files truncated under libdwfl read as zeros (process-wide) */
};

/* libdwfl sessions held at once (each holds the open files of its process's
 * modules, 3-5 fds, and their tables): beyond this, the least recently
 * used one is closed to open a new one. */
#define UNWIND_MAX_PROCS 512

/* proc_root: normally "/proc". NULL with errno set. */
struct unwinder *unwinder__new(const char *proc_root);
void unwinder__free(struct unwinder *u);

/*
 * Unwind one sample into out[0..max), innermost first; *n frames written.
 * 0 (even when the unwind stopped early: the frames so far are kept), or
 * -errno when nothing could be done (-ESRCH: process gone before its first
 * sample, -ENOMEM).
 */
int unwinder__unwind(struct unwinder *u, const struct unwind_sample *s, struct unwind_frame *out,
		     size_t max, size_t *n);

/* The process exited or exec'd: drop its session. */
void unwinder__forget(struct unwinder *u, pid_t pid);

/* Once per output interval: drop sessions unused for max_idle intervals. */
void unwinder__prune(struct unwinder *u, uint32_t max_idle);

void unwinder__stats(const struct unwinder *u, struct unwind_stats *st);

/* Sessions held at once (UNWIND_MAX_PROCS unless set; tests). */
void unwinder__set_max_procs(struct unwinder *u, size_t n);

/* "[libfoo.so+0x1234]" for a frame without a symbol (file offset in the object). */
void unwind__unknown_name(const struct unwind_frame *f, char *buf, size_t len);

#endif
