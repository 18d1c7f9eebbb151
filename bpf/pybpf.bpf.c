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
/* x86-64: unaligned loads are fine, and the verifier does not demand alignment there */
#define PYWALK_LOAD64(p) (*(const __u64 *)(const void *)(p))
#define PYWALK_LOAD32(p) (*(const __u32 *)(const void *)(p))
#include "pywalk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A thread with no thread state is searched again after 10 ms, then after
 * twice as long each time, up to 1 s: an interpreter that is starting up
 * gets its thread state within milliseconds, a native thread never does. */
const volatile __u64 tstate_retry_min_ns = 10000000ull;
const volatile __u32 tstate_retry_max_shift = 7; /* 10 ms << 7 = 1.28 s */
/* Wall mode: samples carry a thread state, and the scheduler programs count
 * off-CPU time. */
const volatile __u32 wall_mode = 0;
/* --gil: only threads holding the GIL are recorded. */
const volatile __u32 gil_only = 0;
/* The time one cpu-clock sample stands for. */
const volatile __u64 period_ns = 10101010ull;
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

/* One bit per tgid (pybpf_abi.h): a tick on a task that is not a target
 * leaves after one array lookup, which the verifier inlines. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512); /* sized from kernel.pid_max by userspace */
	__type(key, __u32);
	__type(value, __u64);
} targets SEC(".maps");

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
	__type(value, struct pybpf_count_val);
} counts SEC(".maps");

/* Wall mode: threads of targets that are off CPU, by host tid. Not
 * preallocated: an entry being closed by pybpf_close_offcpu while its thread
 * switches in stays valid memory until every reader is done. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pybpf_offcpu);
} offcpu SEC(".maps");

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

/* Wall mode --native: kernel stacks at switch-out, in the map of the
 * current generation (kstack_gen & 1); one entry each unless both
 * (userspace sizes them). Userspace clears the other map before it moves
 * kstack_gen on (user/kstacks.h). */
struct kstack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PYBPF_KSTACK_MAX * sizeof(__u64));
};
struct kstack_map kstacks0 SEC(".maps");
struct kstack_map kstacks1 SEC(".maps");

/* Set by userspace: the generation of the kernel stacks stored now. */
volatile __u32 kstack_gen;

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

/* Per-CPU; the sampling and scheduler programs never interrupt one another
 * (the scheduler runs them with interrupts off): a plain increment is exact
 * for them (the off-CPU closer, run on demand, may rarely lose one). */
static __always_inline void count(enum pybpf_counter id)
{
	__u32 zero = 0;
	struct counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c && id < CNT__MAX)
		c->c[id]++;
}

/* Could tgid be a target? false: certainly not (its bit is clear). */
static __always_inline bool maybe_target(__u32 tgid)
{
	__u32 word = pybpf_target_word(tgid);
	__u64 *bits = bpf_map_lookup_elem(&targets, &word);

	return !bits || (*bits & pybpf_target_bit(tgid));
}

/* How deep the wake-up check descends through group scheduling entities. */
#define WAKE_GROUP_DEPTH 8
/* need_resched: TIF_NEED_RESCHED is bit 3 of x86's own flags (bit 4 there,
 * TIF_NEED_RESCHED_LAZY, asks for it at the next scheduler tick) and bit 4 of
 * the generic TIF bits (bit 3 there, TIF_MEMDIE, is rare): either will do. */
#define TIF_RESCHED_MASK ((1ul << 3) | (1ul << 4))

/* The wait tick_at_wake counted last on this CPU: one count per wait. */
struct wake_seen {
	__u32 tid;
	__u32 pad;
	__u64 switches; /* the thread's nvcsw + nivcsw then */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wake_seen);
} wake_seen SEC(".maps");

/*
 * A tick that lands on a task that is not a target (idle, most often) while
 * a woken target thread waits in this CPU's run queue to take over as soon as
 * the interrupt returns. The target's wake-up timer and the tick expired in
 * one timer interrupt, the wake-up first (a late timer interrupt on a VM), so
 * the target starts right after the tick: the tick its run would have
 * received goes to the task it replaces. Counted, not sampled (the target is
 * not running). `current` has need_resched set; the leftmost entity of the
 * CPU's root CFS queue is followed down through group queues to a task.
 */
static __always_inline void tick_at_wake(struct task_struct *cur)
{
	struct sched_entity *se = NULL;
	struct task_struct *task;
	struct rb_node *node;
	struct cfs_rq *cfs;
	struct wake_seen *seen;
	__u32 tgid, tid, zero = 0;
	__u64 switches;
	struct rq *rq;

	if (!(cur->thread_info.flags & TIF_RESCHED_MASK))
		return;
	rq = BPF_CORE_READ(cur, se.cfs_rq, rq);
	if (!rq)
		return;
	cfs = (void *)rq + bpf_core_field_offset(struct rq, cfs);
	for (int i = 0; i < WAKE_GROUP_DEPTH && cfs; i++) {
		node = BPF_CORE_READ(cfs, tasks_timeline.rb_leftmost);
		if (!node)
			return;
		se = (void *)node - bpf_core_field_offset(struct sched_entity, run_node);
		cfs = BPF_CORE_READ(se, my_q);
	}
	if (cfs || !se)
		return;
	task = (void *)se - bpf_core_field_offset(struct task_struct, se);
	tgid = BPF_CORE_READ(task, tgid);
	if (!tgid || !maybe_target(tgid) || !bpf_map_lookup_elem(&procs, &tgid))
		return;
	/* A target kept waiting over several ticks (current not preemptible)
	 * is counted once: its switch counts change when it runs and sleeps. */
	seen = bpf_map_lookup_elem(&wake_seen, &zero);
	if (!seen)
		return;
	tid = BPF_CORE_READ(task, pid);
	switches = BPF_CORE_READ(task, nvcsw) + BPF_CORE_READ(task, nivcsw);
	if (seen->tid == tid && seen->switches == switches)
		return;
	seen->tid = tid;
	seen->switches = switches;
	count(CNT_TICK_AT_WAKE);
}

/* The process is gone or changed image: not a target any more. */
static __always_inline void forget_target(__u32 tgid)
{
	__u32 word = pybpf_target_word(tgid);
	__u64 *bits = bpf_map_lookup_elem(&targets, &word);

	if (bits)
		__sync_fetch_and_and(bits, ~pybpf_target_bit(tgid));
}

static __always_inline struct pywalk *walk_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* ctx: an int set to 1 once the search has ended (found or not). */
static int threads_cb(__u32 i __attribute__((unused)), void *ctx)
{
	struct pywalk *w = walk_state();
	int r = w ? pywalk__threads_step(w) : PYWALK_DONE;

	if (r == PYWALK_DONE)
		*(int *)ctx = 1;
	return r;
}

static int frames_cb(__u32 i __attribute__((unused)), void *ctx __attribute__((unused)))
{
	struct pywalk *w = walk_state();

	return w ? pywalk__step(w) : PYWALK_DONE;
}

/*
 * Read the thread id of the thread state at `tstate` and, when the span from
 * it to the frame field fits the window, the frame field in the same read:
 * *frame_ok is then 1 and *frame what it holds (see pywalk__begin_from).
 * Returns 0, or a negative errno if the read failed.
 */
static __always_inline int read_tstate_head(struct pywalk *w, __u64 tstate, __u64 *thread_id,
					    __u64 *frame, int *frame_ok)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 lo = pywalk__min(o->tstate_thread_id, o->tstate_frame);
	__u32 hi = pywalk__max(o->tstate_thread_id, o->tstate_frame) + 8;
	int err;

	if (hi - lo > PYWALK_WIN_MASK) { /* 3.13+: the two fields lie apart */
		/* read into a slot of its own: the caller's copy can stay in a
		 * register on the common path */
		__u64 id;

		err = bpf_probe_read_user(&id, sizeof(id), (void *)(tstate + o->tstate_thread_id));
		*thread_id = id;
		return err;
	}
	err = pywalk__fill(w, tstate + lo, hi - lo);
	if (err)
		return err;
	*thread_id = pywalk__u64(w, o->tstate_thread_id - lo);
	*frame = pywalk__u64(w, o->tstate_frame - lo);
	*frame_ok = 1;
	return 0;
}

/*
 * Find the thread state of the sampled thread: cached, checked on use. In
 * the common case the check's read also brings the thread's frame field:
 * *frame_ok is then 1 and *frame what it holds (see read_tstate_head).
 */
static __always_inline __u64 find_tstate(struct pywalk *w, __u32 tid, __u64 *frame, int *frame_ok)
{
	struct pybpf_thread_key key = { .gen = w->proc.gen, .tid = tid };
	struct pybpf_thread_val val = {};
	struct pybpf_thread_val *cached;
	__u64 thread_id, now;

	*frame_ok = 0;
	cached = bpf_map_lookup_elem(&threads, &key);
	if (cached && cached->tstate &&
	    !read_tstate_head(w, cached->tstate, &thread_id, frame, frame_ok) &&
	    thread_id == w->want_thread_id) {
		w->interp = cached->interp;
		return cached->tstate; /* the common case: cached and still valid */
	}
	*frame_ok = 0; /* the frame read, if any, was of another thread's state */
	now = bpf_ktime_get_ns();
	if (cached) {
		__u32 shift = cached->misses < tstate_retry_max_shift ? cached->misses
								      : tstate_retry_max_shift;

		if (!cached->tstate && now - cached->checked_ns < (tstate_retry_min_ns << (shift & 31)))
			return 0;
	}

	count(CNT_TSTATE_CACHE_MISS);
	if (pywalk__threads_begin(w) == 0) {
		int ended = 0;

		bpf_loop(PYBPF_MAX_THREADS, threads_cb, &ended, 0);
		if (!ended) {
			/* Out of steps (a list that loops, or a longer one): w->tstate
			 * is the next candidate, not the thread's own. */
			count(CNT_THREAD_WALK_LIMIT);
			w->tstate = 0;
		}
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

/* Send the names and line table of one code object to userspace; -1 when
 * the ring buffer had no room (the event is lost, not sent). */
static __always_inline int capture_code(struct pywalk *w, const struct pybpf_frame *f)
{
	const struct pybpf_offsets *o = &w->proc.off;
	struct pybpf_code_event *ev;
	__u64 qualname = 0, filename = 0, linetable = 0, size = 0;
	int bad = 0;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(CNT_CODE_RINGBUF_FULL);
		return -1;
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
	return 0;
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
	/* A lost event leaves it unknown, so that the next new stack with it
	 * sends it again: marked known, it was never sent, and once its
	 * process exited (or freed it) userspace could not name it. */
	if (!capture_code(w, f))
		bpf_map_update_elem(&known_code, &key, &f->ident, BPF_ANY);
	return PYWALK_CONTINUE;
}

/* Add to a (process, thread, stack, state) total. */
static __always_inline void add_count(const struct pybpf_count_key *key, __u64 n, __u64 ns)
{
	struct pybpf_count_val one = {.count = n, .ns = ns}, *v;
	long err;

	v = bpf_map_lookup_elem(&counts, key);
	if (!v) {
		err = bpf_map_update_elem(&counts, key, &one, BPF_NOEXIST);
		if (!err) {
			count(CNT_STACKS_RECORDED);
			return;
		}
		v = err == -17 /* EEXIST: another CPU won */ ? bpf_map_lookup_elem(&counts, key)
							     : NULL;
		if (!v) {
			count(CNT_COUNTS_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->count, n);
	__sync_fetch_and_add(&v->ns, ns);
	count(CNT_STACKS_RECORDED);
}

/* Put the walked stack in the stacks map under `hash` (naming its new code
 * objects); *added tells whether this call stored it. 0 when the map is
 * full, else hash. The code events go first: once the stack is in the map
 * another CPU can count it, and userspace takes a count's code events from
 * the ring before it names the count's stack. */
static __always_inline __u64 store_stack_as(struct pywalk *w, __u64 hash, bool *added)
{
	long err;

	*added = false;
	if (bpf_map_lookup_elem(&stacks, &hash))
		return hash;
	if (w->stack.depth)
		bpf_loop(PYBPF_MAX_FRAMES, capture_cb, NULL, 0);
	err = bpf_map_update_elem(&stacks, &hash, &w->stack, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU won */) {
		count(CNT_STACKS_FULL);
		return 0;
	}
	*added = !err;
	return hash;
}

/* The same under the walked stack's own hash. */
static __always_inline __u64 store_stack(struct pywalk *w)
{
	bool added;

	return store_stack_as(w, pywalk__stack_hash(w), &added);
}

/* Set up the walk of a thread of a registered process and walk it. */
static __always_inline struct pywalk *walk_thread(const struct pybpf_proc *proc,
						  struct task_struct *task, __u32 tid)
{
	struct pywalk *w = walk_state();
	__u64 frame = 0;
	int frame_ok;

	if (!w) {
		count(CNT_SCRATCH);
		return NULL;
	}
	__builtin_memcpy(&w->proc, proc, sizeof(w->proc));
	w->err = 0;
	w->stack.depth = 0;
	w->stack.flags = 0;
	w->hash = pyhash__stack_seed(w->proc.gen);

	/* pthread_self() of the thread is its fs base (x86-64, glibc and musl). */
	w->want_thread_id = task->thread.fsbase;
	w->tstate = find_tstate(w, tid, &frame, &frame_ok);
	if (!w->tstate) {
		count(CNT_NO_TSTATE);
		w->stack.flags = STACK_F_NO_TSTATE;
	} else if ((frame_ok ? pywalk__begin_from(w, frame) : pywalk__begin(w)) == 0) {
		pywalk__ccache_begin(w, w->interp);
		bpf_loop(PYBPF_MAX_FRAMES + 1, frames_cb, NULL, 0);
		pywalk__ccache_end(w);
		if (w->stack.flags & STACK_F_TRUNCATED)
			count(CNT_TRUNCATED);
		if (!w->stack.depth)
			count(CNT_EMPTY_STACK);
	}
	if (w->err)
		count(w->err);
	return w;
}

/*
 * Does the walked thread hold the GIL? 1 yes (or the build has none), 0 no;
 * *gil is the GIL's address, 0 without one.
 */
static __always_inline int holds_gil(struct pywalk *w, __u64 *gil)
{
	int held;

	*gil = 0;
	if (!w->tstate)
		return 0; /* a native thread never holds it */
	held = pywalk__gil(w, gil);
	return !*gil || held > 0;
}

/*
 * Copy the top of the user stack from addr up: one read when all of it is
 * mapped, else page by page up to the first unreadable page (a stack that
 * is shallower than the buffer ends at the top of its mapping).
 */
static __always_inline __u32 copy_stack_from(struct pybpf_native_event *ev, __u64 addr)
{
	__u32 off = 0;

	if (!bpf_probe_read_user(ev->ustack, PYBPF_USTACK_MAX, (void *)addr))
		return PYBPF_USTACK_MAX;
	for (int i = 0; i < PYBPF_USTACK_MAX / 4096 + 1; i++) {
		__u32 chunk = 4096 - (__u32)((addr + off) & 4095);

		if (off >= PYBPF_USTACK_MAX - 4096) {
			ev->flags |= NATIVE_F_STACK_CUT;
			break;
		}
		if (bpf_probe_read_user(ev->ustack + (off & (PYBPF_USTACK_MAX - 1)),
					chunk & 4095 ?: 4096, (void *)(addr + off))) {
			ev->flags |= NATIVE_F_STACK_CUT;
			break;
		}
		off += chunk;
	}
	return off;
}

/* The user stack for unwinding: from a little below sp (see
 * PYBPF_USTACK_BELOW), else, when that is not readable, from sp. */
static __always_inline __u32 copy_user_stack(struct pybpf_native_event *ev, __u64 sp)
{
	__u32 n = copy_stack_from(ev, sp - PYBPF_USTACK_BELOW);

	if (n > PYBPF_USTACK_BELOW) {
		ev->flags |= NATIVE_F_BELOW_SP;
		return n;
	}
	ev->flags &= ~NATIVE_F_STACK_CUT;
	return copy_stack_from(ev, sp);
}

/* A native event for the walked stack, header and Python stack filled
 * in; NULL when the ring buffer is full. */
static __always_inline struct pybpf_native_event *native_event_begin(struct pywalk *w, __u32 tid)
{
	struct pybpf_native_event *ev = bpf_ringbuf_reserve(&native_events, sizeof(*ev), 0);

	if (!ev)
		return NULL;
	ev->type = EVENT_NATIVE;
	ev->gen = w->proc.gen;
	ev->tid = tid;
	ev->flags = 0;
	ev->ustack_len = 0;
	ev->kstack_len = 0;
	ev->ip = ev->sp = ev->bp = 0;
	ev->offcpu_stack = 0;
	bpf_probe_read_kernel(ev->entry, sizeof(ev->entry), w->entry);
	bpf_probe_read_kernel(&ev->stack, sizeof(ev->stack), &w->stack);
	return ev;
}

/* Userspace takes native events in batches, every 100 ms: wake it only
 * when the ring is a quarter full. */
static __always_inline void native_event_submit(struct pybpf_native_event *ev)
{
	bpf_ringbuf_submit(ev, bpf_ringbuf_query(&native_events, BPF_RB_AVAIL_DATA) >
				       native_ring_bytes / 4
				   ? BPF_RB_FORCE_WAKEUP
				   : BPF_RB_NO_WAKEUP);
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
	ev = native_event_begin(w, tid);
	if (!ev) {
		count(CNT_NATIVE_LOST);
		return -1;
	}
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
	native_event_submit(ev);
	count(CNT_STACKS_RECORDED);
	return 0;
}

SEC("perf_event")
int pybpf_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct pybpf_count_key key = {.tid = tid};
	struct task_struct *task;
	struct pybpf_proc *proc;
	struct pywalk *w;
	__u64 gil;
	int held;

	count(CNT_SAMPLES);
	/* Idle (tgid 0), kernel threads and every other non-target: their bit is clear. */
	if (!maybe_target(tgid)) {
		count(CNT_NOT_PYTHON);
		tick_at_wake(bpf_get_current_task_btf());
		return 0;
	}
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc) {
		count(CNT_NOT_PYTHON);
		return 0;
	}
	count(CNT_PY_SAMPLES);
	task = bpf_get_current_task_btf();
	w = walk_thread(proc, task, tid);
	if (!w)
		return 0;
	if (wall_mode || gil_only) {
		held = holds_gil(w, &gil);
		if (gil_only && !held) {
			count(CNT_NOT_GIL_HOLDER);
			return 0;
		}
		if (wall_mode)
			key.state = held ? STATE_RUNNING : STATE_RUNNING_NOGIL;
	}
	if (native_mode && !record_native(ctx, w, tid, task))
		return 0;
	key.gen = w->proc.gen;
	key.stack = store_stack(w);
	if (key.stack)
		add_count(&key, 1, period_ns);
	return 0;
}

/*
 * Wall mode. A target thread leaving the CPU is still `current`, so its
 * Python stack can be read: it is stored with what the thread waits for,
 * and the time until it runs again is added to its total when it does.
 */

#define TASK_DEAD_STATE 0x80 /* TASK_DEAD: the thread's last switch */
#define SYSCALL_FUTEX 202    /* x86-64 */

/* The wait of a thread that leaves the CPU in state prev_state. */
static __always_inline __u16 wait_of(struct task_struct *task, unsigned int prev_state,
				     __u64 *futex_addr)
{
	struct pt_regs *regs;
	long nr;

	*futex_addr = 0;
	if (prev_state == 0) /* TASK_RUNNING */
		return WAIT_PREEMPTED;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return WAIT_OTHER;
	/* A system call's entry saved the user rip in rcx and rflags in r11
	 * (the syscall instruction does that); an exception's did not. */
	nr = (long)BPF_CORE_READ(regs, orig_ax);
	if (nr < 0 || nr >= WAIT_SYSCALL_MAX - WAIT_SYSCALL ||
	    BPF_CORE_READ(regs, cx) != BPF_CORE_READ(regs, ip) ||
	    BPF_CORE_READ(regs, r11) != BPF_CORE_READ(regs, flags))
		return WAIT_OTHER;
	if (nr == SYSCALL_FUTEX)
		*futex_addr = BPF_CORE_READ(regs, di);
	return (__u16)(WAIT_SYSCALL + nr);
}

/*
 * Wall mode --native: the kernel stack of a thread leaving the CPU, and for
 * one in a system call its user stack. The user registers saved at the
 * system call's entry and the Python stack key the interval (so its stack
 * is stored under a hash of all three): the first time that key is stored
 * the user stack is sent to be unwound once, and every later interval with
 * the same key is named from that unwind. Returns the stacks-map key, 0
 * when the map is full.
 */
static __always_inline __u64 store_offcpu_native(void *ctx, struct pywalk *w, __u32 tid,
						 struct task_struct *prev, struct pybpf_offcpu *e)
{
	struct pybpf_native_event *ev;
	struct pt_regs *uregs;
	__u64 hash = pywalk__stack_hash(w), ip = 0, sp = 0, bp = 0;
	bool added;
	__u32 gen;
	long id;

	gen = kstack_gen;
	id = gen & 1 ? bpf_get_stackid(ctx, &kstacks1, 0) : bpf_get_stackid(ctx, &kstacks0, 0);
	if (id >= 0)
		e->kstack = PYBPF_KSTACK_REF(gen, id);
	else
		count(CNT_KSTACK_LOST);
	/* Preempted: the user ip differs at every switch, so every one would
	 * send a user stack. Python frames only. */
	if (e->wait == WAIT_PREEMPTED || e->wait == WAIT_NONE)
		return store_stack(w);
	/* In a system call, or asleep outside one (a page fault, stopped by a
	 * signal): the registers saved at the kernel's entry from user mode. */
	uregs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (uregs && (BPF_CORE_READ(uregs, cs) & 3) == 3) {
		ip = BPF_CORE_READ(uregs, ip);
		sp = BPF_CORE_READ(uregs, sp);
		bp = BPF_CORE_READ(uregs, bp);
	}
	if (!sp)
		return store_stack(w);
	hash = pyhash__mix(pyhash__mix(hash, ip), sp);
	hash = store_stack_as(w, hash, &added);
	if (!added)
		return hash;
	ev = native_event_begin(w, tid);
	if (!ev) {
		count(CNT_OFFCPU_NATIVE_LOST);
		return hash;
	}
	ev->flags = NATIVE_F_OFFCPU | NATIVE_F_USER_REGS;
	ev->offcpu_stack = hash;
	ev->ip = ip;
	ev->sp = sp;
	ev->bp = bp;
	ev->ustack_len = copy_user_stack(ev, sp);
	native_event_submit(ev);
	return hash;
}

static __always_inline void switch_out(void *ctx, struct task_struct *prev, unsigned int prev_state)
{
	__u32 tgid = prev->tgid, tid = prev->pid;
	struct pybpf_offcpu e = {};
	struct pybpf_proc *proc;
	struct pywalk *w;
	__u64 gil, futex;
	int held;

	if ((prev_state & TASK_DEAD_STATE) || !maybe_target(tgid))
		return;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc)
		return;
	count(CNT_SWITCH_OUT);
	w = walk_thread(proc, prev, tid);
	if (!w)
		return;
	held = holds_gil(w, &gil);
	if (gil_only && !held) {
		count(CNT_NOT_GIL_HOLDER);
		return;
	}
	e.gen = w->proc.gen;
	e.state = STATE_BLOCKED;
	e.wait = wait_of(prev, prev_state, &futex);
	/* Waiting on the GIL's condition variable or mutex. */
	if (gil && futex >= gil && futex - gil < w->proc.off.gil_size)
		e.state = STATE_GIL_WAIT;
	e.stack = native_mode ? store_offcpu_native(ctx, w, tid, prev, &e) : store_stack(w);
	if (!e.stack)
		return;
	e.run_ns = prev->se.sum_exec_runtime;
	e.since_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&offcpu, &tid, &e, BPF_ANY))
		count(CNT_OFFCPU_FULL);
}

/* Count the part of an off-CPU interval not counted yet, up to now. */
static __always_inline void close_offcpu(__u32 tid, const struct pybpf_offcpu *e, __u64 since,
					 __u64 now)
{
	struct pybpf_count_key key = {.gen = e->gen,
				      .tid = tid,
				      .stack = e->stack,
				      .state = e->state,
				      .wait = e->wait,
				      .kstack = e->kstack};

	if (now > since) {
		add_count(&key, 1, now - since);
		count(CNT_OFFCPU_CLOSED);
	}
}

static __always_inline void switch_in(struct task_struct *next)
{
	__u32 tid = next->pid;
	struct pybpf_offcpu *e, copy;
	__u64 since;

	/* Only threads of targets leave entries (an entry left by a process
	 * no longer registered is dropped as stale by pybpf_close_offcpu). */
	if (!maybe_target(next->tgid))
		return;
	e = bpf_map_lookup_elem(&offcpu, &tid);
	if (!e)
		return;
	/* The closer may be splitting this interval at the same moment: whoever
	 * swaps since_ns first counts up to its own now. */
	since = __sync_lock_test_and_set(&e->since_ns, 0);
	__builtin_memcpy(&copy, e, sizeof(copy));
	bpf_map_delete_elem(&offcpu, &tid);
	if (copy.run_ns != next->se.sum_exec_runtime) {
		count(CNT_OFFCPU_STALE); /* it ran meanwhile: not what was recorded */
		return;
	}
	if (since)
		close_offcpu(tid, &copy, since, bpf_ktime_get_ns());
}

/* sched_switch(bool preempt, prev, next, unsigned int prev_state) */
SEC("tp_btf/sched_switch")
int pybpf_switch(__u64 *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];

	if (!wall_mode)
		return 0;
	switch_out(ctx, prev, (unsigned int)ctx[3]);
	switch_in(next);
	return 0;
}

/*
 * Run by userspace at the end of each profile: count every open off-CPU
 * interval up to now, so a thread asleep for the whole run is in it, and
 * restart it from now. Entries whose thread ran or exited meanwhile are
 * dropped.
 */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

static long close_cb(struct bpf_map *map, __u32 *tid, struct pybpf_offcpu *e, void *ctx)
{
	struct task_struct *task = bpf_task_from_pid((s32)*tid);
	__u64 run = 0, since, now;

	(void)ctx;
	if (task) {
		run = task->se.sum_exec_runtime;
		bpf_task_release(task);
	}
	if (!task || run != e->run_ns) {
		bpf_map_delete_elem(map, tid);
		count(CNT_OFFCPU_STALE);
		return 0;
	}
	now = bpf_ktime_get_ns();
	since = __sync_lock_test_and_set(&e->since_ns, now);
	if (since)
		close_offcpu(*tid, e, since, now);
	return 0;
}

SEC("syscall")
int pybpf_close_offcpu(void *ctx)
{
	(void)ctx;
	bpf_for_each_map_elem(&offcpu, close_cb, NULL, 0);
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
	forget_target(tgid);
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
	forget_target(tgid);
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->type = EVENT_EXIT;
	ev->pid = tgid;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
