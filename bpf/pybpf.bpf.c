// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel side of pybpf-prof.
 *
 * pybpf_sample runs on every cpu-clock tick of every CPU. For a task of a
 * registered Python process it finds the thread's PyThreadState, walks the
 * Python frames (bpf/pywalk.h), and aggregates: the stack goes into `stacks`
 * under its hash, the sample into `counts` under (process, thread, hash).
 * The first time a code object shows up in a new stack its names and line
 * table are copied to the `events` ring buffer, so userspace can name it even
 * after the process is gone.
 *
 * Two tracepoints tell userspace about exec and exit so registrations never
 * outlive the image they describe.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define PYWALK_INLINE __always_inline
#define PYWALK_OPAQUE(v) asm volatile("" : "+r"(v))
#define PYWALK_READ(dst, size, addr) bpf_probe_read_user((dst), (size), (const void *)(addr))
#include "pywalk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A thread with no thread state is searched again after 10 ms, then after
 * twice as long each time, up to 1 s: an interpreter that is starting up
 * gets its thread state within milliseconds, a native thread never does. */
const volatile __u64 tstate_retry_min_ns = 10000000ull;
const volatile __u32 tstate_retry_max_shift = 7; /* 10 ms << 7 = 1.28 s */
/* --native: each sample goes to `native_events` with registers, user and
 * kernel stacks instead of being aggregated here. */
const volatile bool native_mode = false;
const volatile __u32 native_ring_bytes = 4096;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct pybpf_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pybpf_thread_key);
	__type(value, struct pybpf_thread_val);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct pybpf_stack);
} stacks SEC(".maps");

/* Not preallocated: userspace deletes entries while samples increment them,
 * and an element freed here is only reused after an RCU grace period, so a
 * late increment can never land on another key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pybpf_count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pybpf_code_key);
	__type(value, __u32);
} known_code SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* --native samples; sized by userspace (one page when --native is off). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} native_events SEC(".maps");

/* --native: Python stacks whose code objects were already sent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} native_seen SEC(".maps");

struct counters {
	__u64 c[CNT__MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pywalk);
} scratch SEC(".maps");

/* Per-CPU, and only the sampling program counts (perf_event programs do not
 * nest on a CPU): a plain increment is exact. */
static __always_inline void count(enum pybpf_counter id)
{
	__u32 zero = 0;
	struct counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c && id < CNT__MAX)
		c->c[id]++;
}

static __always_inline struct pywalk *walk_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static int threads_cb(__u32 i __attribute__((unused)), void *ctx __attribute__((unused)))
{
	struct pywalk *w = walk_state();

	return w ? pywalk__threads_step(w) : PYWALK_DONE;
}

static int frames_cb(__u32 i __attribute__((unused)), void *ctx __attribute__((unused)))
{
	struct pywalk *w = walk_state();

	return w ? pywalk__step(w) : PYWALK_DONE;
}

/* Find the thread state of the sampled thread: cached, checked on use. */
static __always_inline __u64 find_tstate(struct pywalk *w, __u32 tid)
{
	struct pybpf_thread_key key = { .gen = w->proc.gen, .tid = tid };
	struct pybpf_thread_val val = {};
	struct pybpf_thread_val *cached;
	__u64 thread_id = 0, now;

	cached = bpf_map_lookup_elem(&threads, &key);
	if (cached && cached->tstate &&
	    !bpf_probe_read_user(&thread_id, sizeof(thread_id),
				 (void *)(cached->tstate + w->proc.off.tstate_thread_id)) &&
	    thread_id == w->want_thread_id) {
		w->interp = cached->interp;
		return cached->tstate; /* the common case: cached and still valid */
	}
	now = bpf_ktime_get_ns();
	if (cached) {
		__u32 shift = cached->misses < tstate_retry_max_shift ? cached->misses
								      : tstate_retry_max_shift;

		if (!cached->tstate && now - cached->checked_ns < (tstate_retry_min_ns << (shift & 31)))
			return 0;
	}

	count(CNT_TSTATE_CACHE_MISS);
	if (pywalk__threads_begin(w) == 0) {
		long n = bpf_loop(PYBPF_MAX_THREADS, threads_cb, NULL, 0);

		if (n >= PYBPF_MAX_THREADS && w->tstate == 0)
			count(CNT_THREAD_WALK_LIMIT);
	}
	val.tstate = w->tstate;
	val.interp = w->tstate ? w->interp : 0;
	val.checked_ns = now;
	val.misses = val.tstate ? 0 : (cached && !cached->tstate ? cached->misses + 1 : 0);
	bpf_map_update_elem(&threads, &key, &val, BPF_ANY);
	return val.tstate;
}

/* Copy a compact PyUnicodeObject's code units; returns 0 or -1. */
static __always_inline int read_str(struct pywalk *w, __u64 obj, struct pybpf_str *s, __u8 *dst,
				    __u32 cap)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 hdr = pywalk__max(o->unicode_length, o->unicode_state) + 8;
	__u32 state, kind, nbytes;
	__u64 length;

	s->kind = 0;
	s->nbytes = 0;
	s->length = 0;
	if (!obj || pywalk__fill(w, obj, hdr))
		return -1;
	length = pywalk__u64(w, o->unicode_length);
	state = pywalk__u32(w, o->unicode_state);
	kind = (state >> o->unicode_kind_shift) & 7;
	if (!((state >> o->unicode_compact_bit) & 1) || (kind != 1 && kind != 2 && kind != 4))
		return -1;
	nbytes = length > cap ? cap : (__u32)length * kind;
	if (nbytes > cap)
		nbytes = cap;
	PYWALK_OPAQUE(nbytes);
	nbytes &= 2 * cap - 1; /* cap is a power of two: no-op, but bounds it for the verifier */
	if (bpf_probe_read_user(dst, nbytes,
				(void *)(obj + (((state >> o->unicode_ascii_bit) & 1)
							? o->unicode_ascii_data
							: o->unicode_compact_data))))
		return -1;
	s->kind = kind;
	s->nbytes = nbytes;
	s->length = length > 0xffffffffull ? 0xffffffffu : (__u32)length;
	return 0;
}

/* Send the names and line table of one code object to userspace. */
static __always_inline void capture_code(struct pywalk *w, const struct pybpf_frame *f)
{
	const struct pybpf_offsets *o = &w->proc.off;
	struct pybpf_code_event *ev;
	__u64 qualname = 0, filename = 0, linetable = 0, size = 0;
	int bad = 0;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(CNT_CODE_RINGBUF_FULL);
		return;
	}
	ev->type = EVENT_CODE;
	ev->gen = w->proc.gen;
	ev->code = f->code;
	ev->ident = f->ident;
	ev->firstlineno = 0;
	ev->linetable_nbytes = 0;
	ev->linetable_size = 0;
	bad |= bpf_probe_read_user(&ev->firstlineno, sizeof(ev->firstlineno),
				   (void *)(f->code + o->code_firstlineno)) != 0;
	bad |= bpf_probe_read_user(&qualname, 8, (void *)(f->code + o->code_qualname)) != 0;
	bad |= bpf_probe_read_user(&filename, 8, (void *)(f->code + o->code_filename)) != 0;
	bad |= bpf_probe_read_user(&linetable, 8, (void *)(f->code + o->code_linetable)) != 0;
	bad |= read_str(w, qualname, &ev->qualname, ev->qualname_data, PYBPF_QUALNAME_MAX) != 0;
	bad |= read_str(w, filename, &ev->filename, ev->filename_data, PYBPF_FILENAME_MAX) != 0;
	if (linetable &&
	    !bpf_probe_read_user(&size, sizeof(size), (void *)(linetable + o->bytes_size))) {
		__u32 n = size > PYBPF_LINETABLE_MAX ? PYBPF_LINETABLE_MAX : (__u32)size;

		PYWALK_OPAQUE(n);
		if (n > PYBPF_LINETABLE_MAX)
			n = PYBPF_LINETABLE_MAX;
		if (!bpf_probe_read_user(ev->linetable_data, n, (void *)(linetable + o->bytes_data))) {
			ev->linetable_nbytes = n;
			ev->linetable_size = size > 0xffffffffull ? 0xffffffffu : (__u32)size;
		} else {
			bad = 1;
		}
	} else {
		bad = 1;
	}
	if (bad)
		count(CNT_CODE_READ_FAIL);
	bpf_ringbuf_submit(ev, 0);
	count(CNT_CODE_CAPTURED);
}

static int capture_cb(__u32 i, void *ctx __attribute__((unused)))
{
	struct pywalk *w = walk_state();
	struct pybpf_code_key key = {};
	const struct pybpf_frame *f;
	__u32 *known;

	if (!w || i >= w->stack.depth)
		return PYWALK_DONE;
	f = &w->stack.frames[i & (PYBPF_MAX_FRAMES - 1)];
	if (!f->ident)
		return PYWALK_CONTINUE; /* code object unreadable at sample time */
	key.gen = w->proc.gen;
	key.code = f->code;
	known = bpf_map_lookup_elem(&known_code, &key);
	if (known && *known == f->ident)
		return PYWALK_CONTINUE;
	capture_code(w, f);
	bpf_map_update_elem(&known_code, &key, &f->ident, BPF_ANY);
	return PYWALK_CONTINUE;
}

static __always_inline void record(struct pywalk *w, __u32 tid)
{
	struct pybpf_count_key key = { .gen = w->proc.gen, .tid = tid };
	__u64 one = 1, *n;
	long err;

	key.stack = pywalk__stack_hash(w);
	if (!bpf_map_lookup_elem(&stacks, &key.stack)) {
		err = bpf_map_update_elem(&stacks, &key.stack, &w->stack, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST: another CPU won */) {
			count(CNT_STACKS_FULL);
			return;
		}
		if (!err && w->stack.depth)
			bpf_loop(PYBPF_MAX_FRAMES, capture_cb, NULL, 0);
	}

	n = bpf_map_lookup_elem(&counts, &key);
	if (n) {
		__sync_fetch_and_add(n, 1);
	} else {
		err = bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
		if (err == -17) {
			n = bpf_map_lookup_elem(&counts, &key);
			if (n)
				__sync_fetch_and_add(n, 1);
		} else if (err) {
			count(CNT_COUNTS_FULL);
			return;
		}
	}
	count(CNT_STACKS_RECORDED);
}

/*
 * Copy the top of the user stack from sp up: one read when all of it is
 * mapped, else page by page up to the first unreadable page (a stack that
 * is shallower than the buffer ends at the top of its mapping).
 */
static __always_inline __u32 copy_user_stack(struct pybpf_native_event *ev, __u64 sp)
{
	__u32 off = 0;

	if (!bpf_probe_read_user(ev->ustack, PYBPF_USTACK_MAX, (void *)sp))
		return PYBPF_USTACK_MAX;
	for (int i = 0; i < PYBPF_USTACK_MAX / 4096 + 1; i++) {
		__u32 chunk = 4096 - (__u32)((sp + off) & 4095);

		if (off >= PYBPF_USTACK_MAX - 4096) {
			ev->flags |= NATIVE_F_STACK_CUT;
			break;
		}
		if (bpf_probe_read_user(ev->ustack + (off & (PYBPF_USTACK_MAX - 1)), chunk & 4095 ?: 4096,
					(void *)(sp + off))) {
			ev->flags |= NATIVE_F_STACK_CUT;
			break;
		}
		off += chunk;
	}
	return off;
}

/* --native: send the sample with what userspace needs to unwind it.
 * Returns 0, or -1 when it could not be sent (then it is aggregated). */
static __always_inline int record_native(struct bpf_perf_event_data *ctx, struct pywalk *w,
					 __u32 tid, struct task_struct *task)
{
	struct pybpf_native_event *ev;
	struct pt_regs *uregs;
	__u64 hash, cs;
	__u8 one = 1;
	long n;

	hash = pywalk__stack_hash(w);
	if (w->stack.depth && !bpf_map_lookup_elem(&native_seen, &hash)) {
		bpf_loop(PYBPF_MAX_FRAMES, capture_cb, NULL, 0);
		bpf_map_update_elem(&native_seen, &hash, &one, BPF_ANY);
	}
	ev = bpf_ringbuf_reserve(&native_events, sizeof(*ev), 0);
	if (!ev) {
		count(CNT_NATIVE_LOST);
		return -1;
	}
	ev->type = EVENT_NATIVE;
	ev->gen = w->proc.gen;
	ev->tid = tid;
	ev->flags = 0;
	ev->ustack_len = 0;
	ev->ip = ev->sp = ev->bp = 0;
	bpf_probe_read_kernel(ev->entry, sizeof(ev->entry), w->entry);
	bpf_probe_read_kernel(&ev->stack, sizeof(ev->stack), &w->stack);
	n = bpf_get_stack(ctx, ev->kstack, sizeof(ev->kstack), 0);
	ev->kstack_len = n > 0 ? (__u32)n / 8 : 0;

	/* The thread's user registers: those of the sample when it hit user
	 * mode, else those saved when the thread entered the kernel. */
	/* The context is read in whole 8-byte words; cs shares its word with padding. */
	cs = *(volatile __u64 *)&ctx->regs.cs;
	if ((cs & 3) == 3) {
		ev->ip = ctx->regs.ip;
		ev->sp = ctx->regs.sp;
		ev->bp = ctx->regs.bp;
	} else if (!(task->flags & 0x00200000 /* PF_KTHREAD */)) {
		uregs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (uregs) {
			ev->ip = BPF_CORE_READ(uregs, ip);
			ev->sp = BPF_CORE_READ(uregs, sp);
			ev->bp = BPF_CORE_READ(uregs, bp);
		}
	}
	if (ev->sp) {
		ev->flags |= NATIVE_F_USER_REGS;
		ev->ustack_len = copy_user_stack(ev, ev->sp);
	} else {
		count(CNT_NATIVE_NO_REGS);
	}
	/* Userspace takes the samples in batches, every 100 ms: wake it only
	 * when the ring is a quarter full. */
	bpf_ringbuf_submit(ev, bpf_ringbuf_query(&native_events, BPF_RB_AVAIL_DATA) >
				       native_ring_bytes / 4
				   ? BPF_RB_FORCE_WAKEUP
				   : BPF_RB_NO_WAKEUP);
	count(CNT_STACKS_RECORDED);
	return 0;
}

SEC("perf_event")
int pybpf_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct task_struct *task;
	struct pybpf_proc *proc;
	struct pywalk *w;

	count(CNT_SAMPLES);
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc) {
		count(CNT_NOT_PYTHON);
		return 0;
	}
	count(CNT_PY_SAMPLES);
	w = walk_state();
	if (!w) {
		count(CNT_SCRATCH);
		return 0;
	}
	__builtin_memcpy(&w->proc, proc, sizeof(w->proc));
	w->err = 0;
	w->stack.depth = 0;
	w->stack.flags = 0;
	w->hash = pyhash__mix(0x5eed, w->proc.gen);

	/* pthread_self() of the running thread is its fs base (x86-64, glibc and musl). */
	task = bpf_get_current_task_btf();
	w->want_thread_id = task->thread.fsbase;
	w->tstate = find_tstate(w, tid);
	if (!w->tstate) {
		count(CNT_NO_TSTATE);
		w->stack.flags = STACK_F_NO_TSTATE;
	} else if (pywalk__begin(w) == 0) {
		pywalk__ccache_begin(w, w->interp);
		bpf_loop(PYBPF_MAX_FRAMES + 1, frames_cb, NULL, 0);
		if (w->stack.flags & STACK_F_TRUNCATED)
			count(CNT_TRUNCATED);
		if (!w->stack.depth)
			count(CNT_EMPTY_STACK);
	}
	if (w->err)
		count(w->err);
	if (native_mode && !record_native(ctx, w, tid, task))
		return 0;
	record(w, tid);
	return 0;
}

/* BTF tracepoints: they attach without tracefs. */
SEC("tp_btf/sched_process_exec")
int pybpf_exec(__u64 *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	__u32 tgid = p->tgid;
	struct pybpf_proc_event *ev;

	/* The old image is gone: never walk it with the old description. */
	bpf_map_delete_elem(&procs, &tgid);
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->type = EVENT_EXEC;
	ev->pid = tgid;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int pybpf_exit(__u64 *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	__u32 tgid = p->tgid;
	struct pybpf_proc_event *ev;

	if (p->pid != p->tgid)
		return 0; /* a thread, not the process */
	if (bpf_map_delete_elem(&procs, &tgid))
		return 0; /* not one of ours */
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->type = EVENT_EXIT;
	ev->pid = tgid;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
