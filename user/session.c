// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "array.h"
#include "hashmap.h"
#include "kallsyms.h"
#include "profile.h"
#include "pyoffsets.h"
#include "registry.h"
#include "sampler.h"
#include "splice.h"
#include "symbolizer.h"
#include "offcpu.h"
#include "offnative.h"
#include "unwind.h"
#include "taskinfo.h"
#include "monoclock.h"

/* How often processes are rescanned and the kernel's aggregates drained. */
#define TICK_NS 1000000000ull

/* Code objects and stacks that were not seen for this many intervals are
 * forgotten (and learned again if they come back). */
#define IDLE_INTERVALS 10
/* Wall mode --native: collections (one a second, and one per interval)
 * between two generations of the kernel-stack maps. */
#define KSTACKS_FLIP_COLLECTS 5

/* Kernel map sizes. */
#define MAX_PROCS 8192
#define MAX_STACKS 16384
#define MAX_COUNTS 65536

/* --native: ring buffer of samples (about 21 KiB each) and the deepest
 * native stack kept. */
#define NATIVE_RING_BYTES (16u << 20)
#define NATIVE_MAX_FRAMES 128
#define NATIVE_OUT_MAX (PYBPF_KSTACK_MAX + NATIVE_MAX_FRAMES + PYBPF_MAX_FRAMES + 2)

/* Scratch space for naming one --native sample. */
struct native_scratch {
	struct unwind_frame uframes[NATIVE_MAX_FRAMES];
	bool is_eval[NATIVE_MAX_FRAMES];
	char unknown[NATIVE_MAX_FRAMES][96];
	char kname[PYBPF_KSTACK_MAX][160];
	struct profile_frame py[PYBPF_MAX_FRAMES];
	bool py_internal[PYBPF_MAX_FRAMES];
	struct splice_item items[NATIVE_MAX_FRAMES + PYBPF_MAX_FRAMES];
	struct profile_frame out[NATIVE_OUT_MAX];
	struct profile_mapping maps[NATIVE_MAX_FRAMES];
	struct profile_frame native[NATIVE_MAX_FRAMES]; /* by index of uframes */
	__u64 kips[PYBPF_KSTACK_MAX];
	struct profile_mapping kernel_map;
};

struct session {
	struct session_opts opts;
	struct registry *registry;
	struct symbolizer *symbolizer;
	struct sampler *sampler;
	struct profile *profile;
	uint64_t next_tick_ns;
	uint64_t next_dither_ns;    /* the sampler's next timer restart */
	uint64_t start_ns;	    /* CLOCK_MONOTONIC start of the current interval */
	struct timespec start_wall; /* the same instant, wall clock */
	uint64_t lost_stacks;
	uint64_t rotated_samples; /* samples handed over by session__rotate */
	uint64_t collects;	  /* collect() calls */
	bool had_targets;
	bool started;
	/* Wall mode: processes registered before the start, whose sleeping
	 * threads are looked at once sampling runs. */
	struct {
		pid_t pid;
		__u32 gen;
	} * early;
	size_t nearly, early_cap;
	size_t skipped[SESSION_SKIP__MAX];
	/* Binaries already reported as unreadable: one warning each, not one per process. */
	char *warned[SESSION_WARNED_MAX];
	size_t nwarned;
	struct profile_frame frames[PYBPF_MAX_FRAMES + 1];
	/* --native */
	struct unwinder *unwinder;
	struct kallsyms *kallsyms; /* NULL when /proc/kallsyms hides addresses */
	struct native_scratch *ns;
	struct offnative *offnative; /* wall mode --native */
	uint64_t native_samples, native_failed;
	char syscall_buf[32];
};

static void say(struct session *s, enum session_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!s->opts.log)
		return;
	va_start(ap, fmt);
	s->opts.log(s->opts.log_ctx, level, fmt, ap);
	va_end(ap);
}

static int add_offcpu(void *ctx, __u32 tid, const struct pybpf_offcpu *e,
		      const struct pybpf_stack *stack)
{
	struct session *s = ctx;
	int err = sampler__add_offcpu(s->sampler, tid, e, stack);

	return err == -EEXIST ? 1 : err; /* it switched meanwhile: the kernel has it */
}

/* Wall mode: count the threads of a process that sleep now from since_ns on. */
static void offcpu_snapshot(struct session *s, pid_t pid, __u32 gen, uint64_t since_ns)
{
	int n = offcpu__snapshot(s->opts.proc_root, pid, gen, since_ns, add_offcpu, s);

	if (n < 0)
		say(s, SESSION_DEBUG, "pid %d: sleeping threads not read: %s\n", (int)pid,
		    strerror(-n));
	else
		say(s, SESSION_DEBUG, "pid %d: %d thread%s off CPU\n", (int)pid, n,
		    n == 1 ? "" : "s");
}

/* Wall mode: a process registered before the start is looked at then. */
static int remember_early(struct session *s, pid_t pid, __u32 gen)
{
	int err =
	    array__reserve((void **)&s->early, &s->early_cap, s->nearly + 1, sizeof(*s->early));

	if (err)
		return err;
	s->early[s->nearly].pid = pid;
	s->early[s->nearly].gen = gen;
	s->nearly++;
	return 0;
}

static int on_add(void *ctx, const struct registry_proc *p)
{
	struct session *s = ctx;
	struct pybpf_proc bp;
	char v[32];
	int err;

	registry_proc__bpf(p, s->opts.native, &bp);
	err = sampler__add_proc(s->sampler, p->pid, &bp);

	if (!err)
		say(s, SESSION_INFO, "profiling pid %d (%s): Python %s, %s%s%s\n", (int)p->pid,
		    p->comm, pyinfo__version_str(&p->info, v, sizeof(v)), p->info.binary,
		    p->container[0] ? ", container " : "", p->container);
	/* With --gil only threads holding the GIL count: one asleep since
	 * before does not (it released the GIL to sleep). */
	if (!err && s->opts.wall && !s->opts.gil_only) {
		if (s->started)
			offcpu_snapshot(s, p->pid, p->gen, monoclock__ns());
		else
			err = remember_early(s, p->pid, p->gen);
	}
	return err;
}

static void on_remove(void *ctx, const struct registry_proc *p)
{
	struct session *s = ctx;

	sampler__remove_proc(s->sampler, p->pid);
	if (s->unwinder)
		unwinder__forget(s->unwinder, p->pid);
	say(s, SESSION_INFO, "pid %d (%s) exited or exec'd\n", (int)p->pid, p->comm);
}

/* First time this binary is reported? Remembers it (bounded: past the
 * limit every process is reported). */
static bool first_warning(struct session *s, const char *binary)
{
	for (size_t i = 0; i < s->nwarned; i++)
		if (strcmp(s->warned[i], binary) == 0)
			return false;
	if (s->nwarned < SESSION_WARNED_MAX) {
		s->warned[s->nwarned] = strdup(binary);
		if (s->warned[s->nwarned])
			s->nwarned++;
	}
	return true;
}

static void on_skip(void *ctx, pid_t pid, int err, const struct pyinfo *info)
{
	struct session *s = ctx;
	char v[32];

	if (err == -ENOTSUP) {
		s->skipped[SESSION_SKIP_VERSION]++;
		if (first_warning(s, info->binary))
			say(s, SESSION_WARN,
			    "not profiling Python %s (%s, first seen in pid %d): this pybpf-prof "
			    "reads CPython 3.8 to 3.%u\n",
			    pyinfo__version_str(info, v, sizeof(v)), info->binary, (int)pid,
			    pyoffsets__newest_minor());
	} else if (err == -EPROTO) {
		s->skipped[SESSION_SKIP_LAYOUT]++;
		if (first_warning(s, info->binary))
			say(s, SESSION_WARN,
			    "not profiling Python %s (%s, first seen in pid %d): its interpreter "
			    "structs do not match the layout pybpf-prof knows%s\n",
			    pyinfo__version_str(info, v, sizeof(v)), info->binary, (int)pid,
			    info->minor > pyoffsets__newest_minor()
				? " (it is newer than this build)"
				: "");
	} else {
		/* Without a version, nothing says this process runs Python. */
		s->skipped[info->major ? SESSION_SKIP_OTHER : SESSION_SKIP_UNKNOWN]++;
		say(s, SESSION_DEBUG, "skipping pid %d: %s\n", (int)pid, strerror(-err));
	}
}

/* A pseudo-frame for samples without Python frames. */
static void pseudo(struct profile_frame *f, const char *name)
{
	f->name = name;
	f->file = "";
	f->line = 0;
	f->start_line = 0;
}

/*
 * The pseudo-frame of a stack without Python frames: a native thread, a
 * walk that faulted before its first frame (frames unmapped or being torn
 * down: the thread was in Python, its stack could not be read), or a
 * thread outside Python code (start-up, shutdown).
 */
static const char *empty_stack_name(__u32 flags)
{
	if (flags & STACK_F_NO_TSTATE)
		return "[thread without Python state]";
	if (flags & STACK_F_READ_ERROR)
		return "[stack unreadable]";
	return "[no Python frames]";
}

/* Labels of a sample of process p, thread tid. */
static void labels_of(struct session *s, const struct registry_proc *p, __u32 tid,
		      struct profile_labels *labels)
{
	*labels = (struct profile_labels){.pid = p->pid, .tid = tid, .ppid = p->ppid};
	labels->comm = p->comm;
	labels->container = p->container[0] ? p->container : NULL;
	labels->service = p->service;
	labels->thread_name = registry__thread_name(s->registry, p->gen, (pid_t)tid);
}

static struct symbolizer_proc symbolizer_proc_of(const struct registry_proc *p)
{
	return (struct symbolizer_proc){.gen = p->gen,
					.pid = p->pid,
					.alive = p->alive,
					.major = p->info.major,
					.minor = p->info.minor,
					.off = &p->off};
}

/* Kernel frames, innermost first, into out. Off CPU (`offcpu`), the
 * frames above the scheduler (the tracepoint's and BPF's own) are left out. */
static size_t kernel_frames(struct session *s, const __u64 *ips, size_t nips, bool offcpu,
			    struct profile_frame *out)
{
	struct native_scratch *ns = s->ns;
	size_t n = 0, first = 0;

	if (nips > PYBPF_KSTACK_MAX)
		nips = PYBPF_KSTACK_MAX;
	for (size_t i = 0; offcpu && s->kallsyms && i < nips; i++) {
		const char *name = kallsyms__name(s->kallsyms, ips[i]);

		if (name && !strcmp(name, "__schedule")) {
			first = i;
			break;
		}
	}
	for (size_t i = first; i < nips; i++) {
		const char *name = s->kallsyms ? kallsyms__name(s->kallsyms, ips[i]) : NULL;

		if (name)
			snprintf(ns->kname[i], sizeof(ns->kname[i]), "%s_[k]", name);
		else
			snprintf(ns->kname[i], sizeof(ns->kname[i]), "[kernel+0x%llx]_[k]",
				 (unsigned long long)ips[i]);
		out[n] = (struct profile_frame){.name = ns->kname[i],
						.file = ns->kernel_map.file,
						.kind = PROFILE_FRAME_KERNEL,
						.address = ips[i],
						.mapping = &ns->kernel_map};
		n++;
	}
	return n;
}

/* The profile frame of native frame k of the unwind in ns. */
static struct profile_frame native_frame(struct native_scratch *ns, size_t k)
{
	struct unwind_frame *f = &ns->uframes[k];
	struct profile_frame out;

	if (!f->name) {
		unwind__unknown_name(f, ns->unknown[k], sizeof(ns->unknown[k]));
		f->name = ns->unknown[k];
	}
	out = (struct profile_frame){.name = f->name,
				     .file = f->module ? f->module->path : "",
				     .kind = PROFILE_FRAME_NATIVE,
				     .address = f->pc};
	if (f->module) {
		ns->maps[k] = (struct profile_mapping){.file = f->module->path,
						       .build_id = f->module->build_id,
						       .start = f->module->start,
						       .limit = f->module->limit,
						       .offset = f->module->offset};
		out.mapping = &ns->maps[k];
	}
	return out;
}

/* One --native sample: kernel frames, then native ones with the Python
 * frames spliced in place of the evaluation loop's. */
static void on_native(struct session *s, const struct pybpf_native_event *ev)
{
	const struct registry_proc *p = registry__by_gen(s->registry, ev->gen);
	struct native_scratch *ns = s->ns;
	struct unwind_sample us;
	struct profile_labels labels;
	struct symbolizer_proc sp;
	struct splice_in in = {.is_eval = ns->is_eval};
	__u32 depth = ev->stack.depth < PYBPF_MAX_FRAMES ? ev->stack.depth : PYBPF_MAX_FRAMES;
	size_t nu = 0, n, nitems;

	if (!p || !ns)
		return;
	labels_of(s, p, ev->tid, &labels);
	sp = symbolizer_proc_of(p);
	n = kernel_frames(s, ev->kstack, ev->kstack_len, false, ns->out);

	if (ev->flags & NATIVE_F_USER_REGS) {
		us = (struct unwind_sample){.pid = p->pid,
					    .tid = (pid_t)ev->tid,
					    .ip = ev->ip,
					    .sp = ev->sp,
					    .bp = ev->bp,
					    .stack = ev->ustack,
					    .stack_len = ev->ustack_len,
					    .stack_addr = ev->flags & NATIVE_F_BELOW_SP
							      ? ev->sp - PYBPF_USTACK_BELOW
							      : ev->sp};
		if (unwinder__unwind(s->unwinder, &us, ns->uframes, NATIVE_MAX_FRAMES, &nu))
			s->native_failed++;
	}
	for (size_t i = 0; i < nu; i++)
		ns->is_eval[i] = splice__is_eval(ns->uframes[i].name);
	for (__u32 i = 0; i < depth; i++)
		ns->py_internal[i] = symbolizer__frame(s->symbolizer, &sp, &ev->stack.frames[i],
						       &ns->py[i]) == SYMBOLIZER_INTERNAL;
	in.nnative = nu;
	in.npython = depth;
	/* Before 3.11 every Python frame is one activation of the loop. */
	in.entry = p->off.frame_model == FRAME_MODEL_OBJECT ? NULL : (const uint64_t *)ev->entry;
	nitems = splice__merge(&in, ns->items);
	if (ev->flags & NATIVE_F_OFFCPU) {
		/* Not a sample: the user stack of an off-CPU stack key, kept
		 * until totals with that key are drained. */
		for (size_t k = 0; k < nu; k++)
			ns->native[k] = native_frame(ns, k);
		if (s->offnative && offnative__set(s->offnative, ev->offcpu_stack, ns->items,
						   nitems, ns->native, nu))
			s->native_failed++;
		return;
	}
	for (size_t i = 0; i < nitems; i++) {
		size_t k = ns->items[i].index;

		if (ns->items[i].kind == SPLICE_PYTHON) {
			if (!ns->py_internal[k])
				ns->out[n++] = ns->py[k];
			continue;
		}
		ns->out[n++] = native_frame(ns, k);
	}
	if (ev->stack.flags & STACK_F_TRUNCATED)
		pseudo(&ns->out[n++], "[truncated]");
	if (!n)
		pseudo(&ns->out[n++], empty_stack_name(ev->stack.flags));
	s->native_samples++;
	if (profile__add(s->profile, &labels, ns->out, n, 1))
		say(s, SESSION_WARN, "out of memory adding samples\n");
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;
	__u32 type;

	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == EVENT_CODE && size >= sizeof(struct pybpf_code_event)) {
		if (symbolizer__add_event(s->symbolizer, data))
			say(s, SESSION_WARN, "out of memory storing a code object\n");
	} else if (type == EVENT_NATIVE && size >= sizeof(struct pybpf_native_event)) {
		on_native(s, data);
	} else if ((type == EVENT_EXEC || type == EVENT_EXIT) &&
		   size >= sizeof(struct pybpf_proc_event)) {
		const struct pybpf_proc_event *ev = data;

		/* With --pid, an exec means the process is no longer the one asked for. */
		if (type == EVENT_EXEC && (s->opts.all_pythons || s->opts.subprocesses))
			registry__on_exec(s->registry, (pid_t)ev->pid);
		else
			registry__on_exit(s->registry, (pid_t)ev->pid);
	}
	return 0;
}

void session__free(struct session *s)
{
	if (!s)
		return;
	sampler__free(s->sampler);
	unwinder__free(s->unwinder);
	kallsyms__free(s->kallsyms);
	free(s->ns);
	offnative__free(s->offnative);
	registry__free(s->registry);
	symbolizer__free(s->symbolizer);
	profile__free(s->profile);
	for (size_t i = 0; i < s->nwarned; i++)
		free(s->warned[i]);
	free(s->early);
	free(s);
}

struct session *session__new(const struct session_opts *opts)
{
	struct registry_ops ops = {.on_add = on_add, .on_remove = on_remove, .on_skip = on_skip};
	struct sampler_opts sopts = {
	    .rate_hz = opts->rate_hz,
	    .wall = opts->wall,
	    .gil_only = opts->gil_only,
	    .max_procs = MAX_PROCS,
	    .max_stacks = MAX_STACKS,
	    .max_counts = MAX_COUNTS,
	    .on_event = on_event,
	    .native = opts->native,
	    .native_ring_bytes = NATIVE_RING_BYTES,
	    .kstacks_max = opts->kernel_stacks,
	    .dither_ticks = opts->dither_ticks,
	};
	struct profile_meta meta = {.period_ns = 1000000000ull / opts->rate_hz, .wall = opts->wall};
	struct session *s = calloc(1, sizeof(*s));
	int err = ENOMEM;

	if (!s)
		goto out_err;
	s->opts = *opts;
	sopts.ctx = s;
	s->registry = registry__new(opts->proc_root, &ops, s);
	s->symbolizer = symbolizer__new();
	s->profile = profile__new(&meta);
	if (!s->registry || !s->symbolizer || !s->profile)
		goto out_err;
	registry__set_explicit(s->registry, !opts->all_pythons);
	if (opts->native) {
		s->unwinder = unwinder__new(opts->proc_root);
		s->ns = malloc(sizeof(*s->ns));
		if (!s->unwinder || !s->ns)
			goto out_err;
		if (opts->wall) {
			s->offnative = offnative__new();
			if (!s->offnative)
				goto out_err;
		}
		/* Without kernel symbols, kernel frames keep their addresses. */
		s->kallsyms = kallsyms__load("/proc/kallsyms");
		s->ns->kernel_map = (struct profile_mapping){.file = "[kernel.kallsyms]",
							     .build_id = "",
							     .start = 0xffff800000000000ull,
							     .limit = UINT64_MAX};
	}
	registry__set_tree(s->registry, opts->subprocesses);
	s->sampler = sampler__new(&sopts);
	if (!s->sampler) {
		err = errno;
		goto out_err;
	}
	return s;

out_err:
	session__free(s);
	errno = err;
	return NULL;
}

int session__add_pid(struct session *s, pid_t pid, struct pyinfo *info)
{
	int err = registry__add_pid(s->registry, pid, info);

	if (!err)
		s->had_targets = true;
	return err;
}

int session__add_root(struct session *s, pid_t pid)
{
	int err = registry__add_root(s->registry, pid);

	if (!err)
		s->had_targets = true;
	return err;
}

int session__start(struct session *s)
{
	int err;

	/* Find the processes running now before the clock starts: on a busy
	 * node the first scan is the longest one. */
	if (s->opts.all_pythons || s->opts.subprocesses) {
		err = registry__tick(s->registry);
		if (err)
			return err;
	}
	err = sampler__attach(s->sampler);
	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &s->start_wall);
	s->start_ns = monoclock__ns();
	s->next_tick_ns = s->start_ns + TICK_NS;
	/* No restart is due yet: this only learns when the first one is. The
	 * thread's wake-ups for them must not be run early by a tick's
	 * interrupt (user/dither.h): a 1 ns timer slack. */
	sampler__dither(s->sampler, s->start_ns, &s->next_dither_ns);
	if (s->next_dither_ns != UINT64_MAX)
		prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);
	s->started = true;
	for (size_t i = 0; i < s->nearly; i++)
		offcpu_snapshot(s, s->early[i].pid, s->early[i].gen, s->start_ns);
	s->nearly = 0;
	return 0;
}

static const char *const state_names[STATE__MAX] = {
    [STATE_RUNNING] = "running",
    [STATE_RUNNING_NOGIL] = "running_nogil",
    [STATE_GIL_WAIT] = "gil_wait",
    [STATE_BLOCKED] = "blocked",
};

/* The `wait` label of an off-CPU total. */
static const char *wait_name(struct session *s, __u16 wait)
{
	const char *name;

	switch (wait) {
	case WAIT_NONE:
		return NULL;
	case WAIT_PREEMPTED:
		return "preempted";
	case WAIT_OTHER:
		return "kernel";
	default:
		name = wait < WAIT_SYSCALL ? NULL : taskinfo__syscall_name(wait - WAIT_SYSCALL);
		if (name)
			return name;
		snprintf(s->syscall_buf, sizeof(s->syscall_buf), "syscall_%d", wait - WAIT_SYSCALL);
		return s->syscall_buf;
	}
}

/*
 * Wall mode --native, an off-CPU total: its kernel stack, then the native
 * frames unwound when its key was first stored, with the Python frames of
 * `stack` in their places (Python frames alone when there are none: the
 * thread was preempted, or its user stack was not sent).
 */
static void on_offcpu_native(struct session *s, const struct pybpf_count_key *key,
			     const struct pybpf_count_val *val, const struct pybpf_stack *stack,
			     const struct symbolizer_proc *sp, const struct profile_labels *labels)
{
	struct native_scratch *ns = s->ns;
	struct offnative_entry e = {0};
	__u32 depth = stack->depth < PYBPF_MAX_FRAMES ? stack->depth : PYBPF_MAX_FRAMES;
	size_t n, nk = (size_t)sampler__kstack(s->sampler, key->kstack, ns->kips, PYBPF_KSTACK_MAX);

	n = kernel_frames(s, ns->kips, nk, true, ns->out);
	for (__u32 i = 0; i < depth; i++)
		ns->py_internal[i] = symbolizer__frame(s->symbolizer, sp, &stack->frames[i],
						       &ns->py[i]) == SYMBOLIZER_INTERNAL;
	if (!s->offnative || !offnative__get(s->offnative, key->stack, &e)) {
		for (__u32 i = 0; i < depth; i++)
			if (!ns->py_internal[i])
				ns->out[n++] = ns->py[i];
	}
	for (size_t i = 0; i < e.nitems; i++) {
		size_t k = e.items[i].index;

		if (e.items[i].kind == SPLICE_PYTHON) {
			if (k < depth && !ns->py_internal[k])
				ns->out[n++] = ns->py[k];
		} else if (k < e.nnative) {
			ns->out[n++] = e.native[k];
		}
	}
	if (stack->flags & STACK_F_TRUNCATED)
		pseudo(&ns->out[n++], "[truncated]");
	if (!n)
		pseudo(&ns->out[n++], empty_stack_name(stack->flags));
	if (profile__add_timed(s->profile, labels, ns->out, n, val->count, val->ns))
		say(s, SESSION_WARN, "out of memory adding samples\n");
}

static void on_sample(const struct pybpf_count_key *key, const struct pybpf_count_val *val,
		      const struct pybpf_stack *stack, void *arg)
{
	struct session *s = arg;
	__u64 count = val->count;
	const struct registry_proc *p = registry__by_gen(s->registry, key->gen);
	struct profile_labels labels;
	struct symbolizer_proc sp;
	size_t n = 0;

	if (!p)
		return; /* cannot happen: gens come from the registry */
	labels_of(s, p, key->tid, &labels);
	sp = symbolizer_proc_of(p);
	labels.state = key->state < STATE__MAX ? state_names[key->state] : NULL;
	labels.wait = wait_name(s, key->wait);

	if (s->offnative && stack &&
	    (key->state == STATE_BLOCKED || key->state == STATE_GIL_WAIT)) {
		on_offcpu_native(s, key, val, stack, &sp, &labels);
		return;
	}
	if (!stack) {
		s->lost_stacks += count;
		pseudo(&s->frames[n++], "[stack lost]");
	} else if (!stack->depth) {
		pseudo(&s->frames[n++], empty_stack_name(stack->flags));
	} else {
		for (__u32 i = 0; i < stack->depth && i < PYBPF_MAX_FRAMES; i++)
			if (symbolizer__frame(s->symbolizer, &sp, &stack->frames[i],
					      &s->frames[n]) != SYMBOLIZER_INTERNAL)
				n++;
		if (!n)
			pseudo(&s->frames[n++], "[no Python frames]");
		if (stack->flags & STACK_F_TRUNCATED)
			pseudo(&s->frames[n++], "[truncated]");
	}
	if (profile__add_timed(s->profile, &labels, s->frames, n, count, val->ns))
		say(s, SESSION_WARN, "out of memory adding samples\n");
}

/* Move what the kernel aggregated into the profile. Code events first, so
 * every stack's code objects are known before the stack is named. With
 * `close`, off-CPU time up to now is counted first (the end of a profile). */
static int collect(struct session *s, bool close)
{
	int err = close ? sampler__close_offcpu(s->sampler) : 0;
	/* Wall mode --native: every few collections the kernel-stack maps move
	 * on a generation (user/kstacks.h), so they never fill for good. */
	bool flip = ++s->collects % KSTACKS_FLIP_COLLECTS == 0;

	if (err)
		say(s, SESSION_WARN, "counting open off-CPU time failed: %s\n", strerror(-err));
	if (flip && (err = sampler__kstacks_hold(s->sampler)))
		say(s, SESSION_WARN, "keeping kernel stacks: %s\n", strerror(-err));
	err = sampler__poll(s->sampler, 0);
	if (err)
		return err;
	err = sampler__drain(s->sampler, on_sample, s);
	if (!err && flip && (err = sampler__kstacks_flip(s->sampler)))
		say(s, SESSION_WARN, "clearing kernel stacks: %s\n", strerror(-err));
	return err;
}

int session__step(struct session *s, int timeout_ms)
{
	int due = registry__retry_pending(s->registry);
	uint64_t now;
	int err;

	if (due >= 0 && due < timeout_ms)
		timeout_ms = due;
	/* A timer restart is due: poll until the millisecond before it. */
	now = monoclock__ns();
	if (s->next_dither_ns < now + (uint64_t)timeout_ms * 1000000ull)
		timeout_ms =
		    s->next_dither_ns <= now ? 0 : (int)((s->next_dither_ns - now) / 1000000);
	err = sampler__poll(s->sampler, timeout_ms);
	if (err)
		return err;
	registry__retry_pending(s->registry);
	now = monoclock__ns();
	if (s->next_dither_ns < now + 1000000) {
		/* then restart at the time drawn (user/dither.h) */
		if (s->next_dither_ns > now) {
			struct timespec at = {.tv_sec = (time_t)(s->next_dither_ns / 1000000000ull),
					      .tv_nsec = (long)(s->next_dither_ns % 1000000000ull)};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
			now = monoclock__ns();
		}
		err = sampler__dither(s->sampler, now, &s->next_dither_ns);
		if (err)
			say(s, SESSION_WARN,
			    "cannot restart the cpu-clock timers (%s): their ticks keep one phase "
			    "from now on\n",
			    strerror(-err));
	}
	if (now < s->next_tick_ns)
		return 0;
	s->next_tick_ns = now + TICK_NS;
	/* Drain before the scan: names of processes that just exited can still
	 * be read from memory when an event was lost. */
	err = collect(s, false);
	if (err)
		return err;
	return registry__tick(s->registry);
}

bool session__targets_gone(const struct session *s)
{
	return !s->opts.all_pythons && s->had_targets && registry__alive(s->registry) == 0;
}

/* Stamp the profile with the current interval's start and length. */
static void close_interval(struct session *s)
{
	struct profile_meta meta = *profile__meta(s->profile);

	meta.time_ns = (int64_t)s->start_wall.tv_sec * 1000000000ll + s->start_wall.tv_nsec;
	meta.duration_ns = (int64_t)(monoclock__ns() - s->start_ns);
	profile__set_meta(s->profile, &meta);
}

int session__finish(struct session *s)
{
	int err = collect(s, true);

	close_interval(s);
	return err;
}

static bool gen_known(void *ctx, __u32 gen)
{
	struct session *s = ctx;

	return registry__by_gen(s->registry, gen) != NULL;
}

int session__rotate(struct session *s, struct profile **out)
{
	struct profile_meta meta = {.period_ns = profile__meta(s->profile)->period_ns,
				    .wall = profile__meta(s->profile)->wall};
	int err = collect(s, true);
	struct profile *next;

	close_interval(s);
	next = profile__new(&meta);
	if (!next)
		return -ENOMEM; /* keep collecting into the current profile */
	*out = s->profile;
	s->rotated_samples += profile__total_count(s->profile);
	s->profile = next;
	clock_gettime(CLOCK_REALTIME, &s->start_wall);
	s->start_ns = monoclock__ns();
	/* Everything of the processes that exited has been collected: forget them. */
	registry__prune(s->registry, NULL, NULL);
	symbolizer__prune(s->symbolizer, gen_known, s, IDLE_INTERVALS);
	sampler__prune(s->sampler, IDLE_INTERVALS);
	if (s->unwinder)
		unwinder__prune(s->unwinder, IDLE_INTERVALS);
	if (s->offnative)
		offnative__prune(s->offnative, IDLE_INTERVALS);
	return err;
}

struct profile *session__profile(struct session *s)
{
	return s->profile;
}

void session__stats(struct session *s, struct session_stats *st)
{
	struct symbolizer_stats sy;

	memset(st, 0, sizeof(*st));
	sampler__counters(s->sampler, st->counters);
	symbolizer__stats(s->symbolizer, &sy);
	st->samples = s->rotated_samples + profile__total_count(s->profile);
	st->lost_stacks = s->lost_stacks;
	st->unresolved_frames = sy.unresolved;
	st->frames_without_line = sy.no_line;
	st->code_objects = sy.codes;
	st->processes = registry__total(s->registry);
	st->processes_alive = registry__alive(s->registry);
	memcpy(st->skipped, s->skipped, sizeof(st->skipped));
	st->threads = profile__thread_count(s->profile);
	st->cpus = sampler__cpus(s->sampler);
	sampler__prog_stats(s->sampler, &st->bpf_run_ns, &st->bpf_run_cnt);
	if (s->unwinder) {
		struct unwind_stats us;

		unwinder__stats(s->unwinder, &us);
		st->native_samples = s->native_samples;
		st->native_failed = s->native_failed;
		st->native_frames = us.frames;
		st->native_symbols = us.symbols;
		st->native_processes = us.processes;
		st->native_evicted = us.evicted;
		st->native_bus_faults = us.bus_faults;
	}
	sampler__kstacks_stats(s->sampler, &st->kstacks_kept, &st->kstacks_expired);
	st->timer_restarts = sampler__restarts(s->sampler);
}
