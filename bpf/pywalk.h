/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Python frame walk, written once as plain functions over a memory-read
 * primitive so that the same code runs in the BPF program (reading the
 * sampled task with bpf_probe_read_user) and in userspace tests (reading a
 * live or recorded process image).
 *
 * The includer defines, before including this file:
 *   PYWALK_READ(dst, size, addr)  copy `size` bytes of target memory at
 *                                 `addr`; 0 on success, negative on fault.
 *   PYWALK_INLINE                 function qualifier.
 * and may define:
 *   PYWALK_OPAQUE(v)              hide v's value range from the compiler so a
 *                                 following mask is kept for the verifier.
 *
 * All state lives in `struct pywalk` (in BPF: a per-CPU map value, since it
 * is far larger than the 512-byte BPF stack).
 */
#ifndef PYBPF_PYWALK_H
#define PYBPF_PYWALK_H

#include "pybpf_abi.h"
#define PYHASH_INLINE static PYWALK_INLINE
#include "pyhash.h"

#ifndef PYWALK_OPAQUE
#define PYWALK_OPAQUE(v) ((void)0)
#endif

/*
 * Loads of a field copied from the target into a window (it may lie at any
 * offset there). The default copies bytewise; a target whose loads need no
 * alignment (BPF JITed on x86-64, where the verifier does not demand it)
 * defines these as plain loads: the BPF backend would otherwise expand each
 * 8-byte field into 8 byte loads and 14 shifts and ors, on every frame.
 */
#ifndef PYWALK_LOAD64
#define PYWALK_LOAD64(p) pywalk__load64(p)
#define PYWALK_LOAD32(p) pywalk__load32(p)
#endif

/* Window buffer: offsets and lengths are masked with PYWALK_WIN_MASK before
 * use, so a buffer of PYWALK_WIN_MASK + 1 + 8 bytes is never over-read. */
#define PYWALK_WIN_MASK 255u
#define PYWALK_BUF_SIZE (PYWALK_WIN_MASK + 1 + 8)

/*
 * Frame window. From 3.11 on, a thread's frames lie one after another in its
 * data-stack chunk, each caller below its callee. Reading the rest of the
 * innermost frame's page with it brings in the callers that share the page,
 * so one read serves many frames instead of one read per frame (each read
 * has a fixed cost far above its per-byte cost). The window never starts
 * below the page of the frame being read, so it touches no page the frame
 * itself does not.
 */
#define PYWALK_PAGE_SIZE 4096ull
#define PYWALK_FWIN_MASK 4095u
#define PYWALK_FWIN_SIZE (PYWALK_FWIN_MASK + 1 + PYWALK_WIN_MASK + 1 + 8)

/*
 * Code window. Each read from the target has a fixed cost well above that of
 * copying a few KiB more, and code objects compiled together lie near one
 * another, so a code object's identity is read with the rest of its aligned
 * half-page block up to the end of its page: the next code object the walk
 * needs is often in it already. Only within one walk, like `recent`. Where
 * code objects lie apart, the copying is wasted: after PYWALK_CWIN_WASTED
 * windows in a row that served only the object they were read for, the next
 * PYWALK_CWIN_PLAIN identities are read alone, then a window is tried again.
 */
#define PYWALK_CWIN_SIZE 4096u
#define PYWALK_CWIN_WASTED 2u
#define PYWALK_CWIN_PLAIN 8u

/* Code objects already checked in this walk (recursion and wrappers repeat
 * them), direct-mapped by address. Only within one walk: the frames that
 * reference them keep them alive while it runs. */
#define PYWALK_RECENT 8u

/*
 * Code-object identities kept across samples, per CPU: 2-way sets by address.
 * An entry is trusted only while a count that moves whenever a code object
 * can have been replaced still equals its value at the start of the sample
 * that read the identity:
 *   3.14+  code objects freed by the thread's interpreter
 *          (PyInterpreterState._code_object_generation, bumped by code_dealloc);
 *   3.12   code objects created, process-wide (_Py_next_func_version, bumped
 *          by every code object's init; it stops at 0 when it wraps, and 0
 *          turns the cache off).
 * While the count stands still the address still holds the same object; once
 * it moves, every entry is read again. Where there is no such count (3.11,
 * 3.13, stripped 3.12) or it cannot be read, the cache is not used.
 */
#define PYWALK_CCACHE_SETS 256u

struct pywalk_ccache_entry {
	__u64 code;   /* code object address, 0 = empty */
	__u64 interp; /* interpreter whose count validated it */
	__u64 freed;  /* that count when the identity was read */
	__u32 gen;    /* process registration */
	__u32 ident;  /* pyhash__code_ident */
};

enum pywalk_result {
	PYWALK_CONTINUE = 0,
	PYWALK_DONE = 1,
};

struct pywalk {
	struct pybpf_proc proc;   /* copy of the process description */
	__u64 frame;              /* next frame to visit, 0 when done */
	__u64 hash;               /* running stack hash */
	__u64 tstate;             /* current candidate / result of the thread search */
	__u64 interp;             /* interpreter being searched */
	__u64 want_thread_id;     /* pthread_self() of the sampled thread */
	__u32 err;                /* counter id of the first fault, 0 if none */
	__u32 cycle_steps;        /* Brent's cycle detection on the frame chain: */
	__u64 cycle_mark;	  /* a frame seen earlier, compared with each next one */
	__u32 cycle_power;
	__u32 fwin_len;	 /* bytes valid in fwin, 0 when empty */
	__u64 fwin_base; /* target address of fwin[0] */
	__u32 fwin_at;	 /* offset in fwin of the frame being visited */
	__u32 pad;
	__u64 recent_code[PYWALK_RECENT];
	__u32 recent_ident[PYWALK_RECENT];
	__u64 entry[PYBPF_MAX_FRAMES / 64]; /* frames that begin an eval-loop activation */
	__u32 ccache_on;		    /* set by pywalk__ccache_begin for this sample */
	__u32 pad2;
	__u64 ccache_interp; /* interpreter of the walked thread (0 for a process-wide count) */
	__u64 ccache_freed;  /* the count (see above), read this sample */
	/* stack.frames as the walks on this CPU left them: the first memo_depth
	 * slots hold identities read while the count was memo_freed (memo_gen,
	 * memo_interp): see pywalk__ccache_end. */
	__u32 memo_gen;
	__u32 memo_depth; /* 0 = none */
	/* slots usable by this walk (0 when the count moved) */
	__u32 memo_use;
	__u32 pad4;
	__u64 memo_interp;
	__u64 memo_freed;
	/* bytes of each frame the walk uses (set by pywalk__start) */
	__u32 frame_size;
	/* a code object's identity read: first offset and length (0 = the
	 * layout cannot be read) */
	__u32 code_lo;
	__u32 code_len;
	__u32 cwin_len;	   /* bytes valid in cwin, 0 when empty */
	__u64 cwin_base;   /* target address of cwin[0] */
	__u32 cwin_at;	   /* offset in cwin of the identity being read */
	__u32 cwin_hits;   /* identities the window in cwin served after its own */
	__u32 cwin_wasted; /* windows in a row that served none */
	__u32 pad3;
	struct pybpf_stack stack; /* result, innermost frame first */
	__u8 buf[PYWALK_BUF_SIZE];
	__u8 fwin[PYWALK_FWIN_SIZE];
	__u8 cwin[PYWALK_CWIN_SIZE + PYWALK_WIN_MASK + 1 + 8];
	struct pywalk_ccache_entry ccache[2 * PYWALK_CCACHE_SETS]; /* kept between walks */
};

static PYWALK_INLINE __u64 pywalk__load64(const __u8 *p)
{
	__u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static PYWALK_INLINE __u32 pywalk__load32(const __u8 *p)
{
	__u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static PYWALK_INLINE __u64 pywalk__u64(const struct pywalk *w, __u32 off)
{
	return PYWALK_LOAD64(w->buf + (off & PYWALK_WIN_MASK));
}

static PYWALK_INLINE __u32 pywalk__u32(const struct pywalk *w, __u32 off)
{
	return PYWALK_LOAD32(w->buf + (off & PYWALK_WIN_MASK));
}

/* Field at `off` of the frame at `at` in the frame window. */
static PYWALK_INLINE __u64 pywalk__fwin_u64(const struct pywalk *w, __u64 at, __u32 off)
{
	return PYWALK_LOAD64(w->fwin + (at & PYWALK_FWIN_MASK) + (off & PYWALK_WIN_MASK));
}

/* Field at `off` of the frame being visited (see pywalk__frame_fill). */
static PYWALK_INLINE __u64 pywalk__frame_u64(const struct pywalk *w, __u32 off)
{
	return pywalk__fwin_u64(w, w->fwin_at, off);
}

static PYWALK_INLINE __u32 pywalk__frame_u32(const struct pywalk *w, __u32 off)
{
	return PYWALK_LOAD32(w->fwin + (w->fwin_at & PYWALK_FWIN_MASK) + (off & PYWALK_WIN_MASK));
}

static PYWALK_INLINE __u8 pywalk__frame_u8(const struct pywalk *w, __u32 off)
{
	return w->fwin[(w->fwin_at & PYWALK_FWIN_MASK) + (off & PYWALK_WIN_MASK)];
}

static PYWALK_INLINE __u32 pywalk__max(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

static PYWALK_INLINE __u32 pywalk__min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/* Read `len` (< PYWALK_WIN_MASK) bytes at `addr` into w->buf. */
static PYWALK_INLINE int pywalk__fill(struct pywalk *w, __u64 addr, __u32 len)
{
	if (len > PYWALK_WIN_MASK)
		return -1;
	PYWALK_OPAQUE(len);
	return PYWALK_READ(w->buf, len & PYWALK_WIN_MASK, addr);
}

/*
 * Make the `size` (< PYWALK_WIN_MASK) bytes of the frame at `addr` readable
 * with pywalk__frame_u*: from the window if it holds them, else by one read,
 * which on the data-stack frame model also takes in the frame's page below
 * it (its callers).
 */
static PYWALK_INLINE int pywalk__frame_fill(struct pywalk *w, __u64 addr, __u32 size)
{
	__u64 start = addr;
	__u32 len = size;

	if (size > PYWALK_WIN_MASK)
		return -1;
	if (w->fwin_len && addr >= w->fwin_base && addr - w->fwin_base < PYWALK_FWIN_MASK &&
	    addr - w->fwin_base + size <= w->fwin_len) {
		w->fwin_at = (__u32)(addr - w->fwin_base);
		return 0;
	}
	if (w->proc.off.frame_model == FRAME_MODEL_INTERP) {
		__u64 below = addr & (PYWALK_PAGE_SIZE - 1);

		len = (__u32)(below + size > PYWALK_FWIN_MASK ? PYWALK_FWIN_MASK : below + size);
		start = addr + size - len;
	}
	w->fwin_len = 0;
	PYWALK_OPAQUE(len);
	len &= PYWALK_FWIN_MASK;
	if (len < size || PYWALK_READ(w->fwin, len, start))
		return -1;
	w->fwin_base = start;
	w->fwin_len = len;
	w->fwin_at = (__u32)(addr - start);
	return 0;
}

static PYWALK_INLINE void pywalk__fail(struct pywalk *w, __u32 counter)
{
	if (!w->err)
		w->err = counter;
}

/*
 * Start a walk at `frame`: reset the walk state and work out, once per walk
 * rather than once per frame, how much of a frame and of a code object the
 * layout needs read.
 */
static PYWALK_INLINE void pywalk__start(struct pywalk *w, __u64 frame)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 size = pywalk__max(pywalk__max(o->frame_previous, o->frame_code), o->frame_instr) + 8;
	__u32 lo = pywalk__min(o->code_firstlineno, o->code_filename);
	__u32 hi = pywalk__max(o->code_firstlineno, o->code_filename) + 8;

	if (o->frame_owner != PYBPF_OFF_NONE)
		size = pywalk__max(size, o->frame_owner + 1);
	if (o->frame_is_entry)
		size = pywalk__max(size, o->frame_is_entry + 1u);
	if (o->frame_tlbc_index != PYBPF_OFF_NONE)
		size = pywalk__max(size, o->frame_tlbc_index + 4);
	w->frame_size = size;
	if (w->proc.code_type_addr) {
		lo = pywalk__min(lo, o->object_type);
		hi = pywalk__max(hi, o->object_type + 8);
	}
	w->code_lo = lo;
	w->code_len = hi - lo > PYWALK_WIN_MASK - 8 ? 0 : hi - lo;

	w->stack.depth = 0;
	w->stack.flags = 0;
	w->hash = pyhash__stack_seed(w->proc.gen);
	w->frame = frame;
	w->fwin_len = 0;
	w->cwin_len = 0;
	w->cwin_hits = 0;
	w->cwin_wasted = 0;
	for (__u32 i = 0; i < PYWALK_RECENT; i++)
		w->recent_code[i] = 0;
	for (__u32 i = 0; i < PYBPF_MAX_FRAMES / 64; i++)
		w->entry[i] = 0;
	w->cycle_mark = 0;
	w->cycle_steps = 0;
	w->cycle_power = 1;
}

/* Empty the stack being built: before anything of the walk is read. */
static PYWALK_INLINE void pywalk__reset(struct pywalk *w)
{
	w->stack.depth = 0;
	w->stack.flags = 0;
	w->frame = 0;
	w->hash = pyhash__stack_seed(w->proc.gen);
}

/* Start at what the thread state's frame field (tstate_frame) holds: p. */
static PYWALK_INLINE int pywalk__begin_at(struct pywalk *w, __u64 p)
{
	const struct pybpf_offsets *o = &w->proc.off;

	if (p && o->cframe_current_frame != PYBPF_OFF_NONE) {
		if (PYWALK_READ(&p, sizeof(p), p + o->cframe_current_frame)) {
			pywalk__fail(w, CNT_READ_TSTATE);
			return -1;
		}
	}
	pywalk__start(w, p);
	return 0;
}

/* Start a walk of the thread whose state is w->tstate, given what its
 * frame field holds: p, already read. */
static PYWALK_INLINE int pywalk__begin_from(struct pywalk *w, __u64 p)
{
	pywalk__reset(w);
	return pywalk__begin_at(w, p);
}

/* Start a walk of the thread whose state is w->tstate. */
static PYWALK_INLINE int pywalk__begin(struct pywalk *w)
{
	__u64 p;

	pywalk__reset(w);
	if (PYWALK_READ(&p, sizeof(p), w->tstate + w->proc.off.tstate_frame)) {
		pywalk__fail(w, CNT_READ_TSTATE);
		return -1;
	}
	return pywalk__begin_at(w, p);
}

/*
 * Before a walk: use the cross-sample cache if the process has a count (see
 * above) and it reads. `interp` is the walked thread's interpreter, 0 if
 * unknown. An offset of 0 means no count (offset 0 is never that field).
 */
static PYWALK_INLINE void pywalk__ccache_begin(struct pywalk *w, __u64 interp)
{
	__u16 off = w->proc.off.interp_code_gen;
	__u32 created = 0;

	w->ccache_on = 0;
	w->memo_use = 0;
	w->ccache_interp = interp;
	if (off && off != PYBPF_OFF_NONE && interp &&
	    !PYWALK_READ(&w->ccache_freed, sizeof(w->ccache_freed), interp + off)) {
		w->ccache_on = 1;
	} else if (w->proc.code_count_addr &&
		   !PYWALK_READ(&created, sizeof(created), w->proc.code_count_addr) && created) {
		w->ccache_interp = 0;
		w->ccache_freed = created;
		w->ccache_on = 1;
	}
	if (w->ccache_on && w->memo_gen == w->proc.gen && w->memo_interp == w->ccache_interp &&
	    w->memo_freed == w->ccache_freed)
		w->memo_use = w->memo_depth;
}

/*
 * After a walk: what the stack slots now hold. A slot is trusted by a later
 * walk while the count it was validated under stands still: the slots this
 * walk wrote, and those beyond them that an earlier walk under the same count
 * wrote.
 */
static PYWALK_INLINE void pywalk__ccache_end(struct pywalk *w)
{
	__u32 depth = w->stack.depth;

	if (!w->ccache_on) {
		/* slots [0, depth) now hold identities no count validated */
		if (depth)
			w->memo_depth = 0;
		return;
	}
	if (w->memo_use && depth < w->memo_depth)
		depth = w->memo_depth;
	w->memo_gen = w->proc.gen;
	w->memo_interp = w->ccache_interp;
	w->memo_freed = w->ccache_freed;
	w->memo_depth = depth;
}

static PYWALK_INLINE __u32 pywalk__ccache_set(__u64 code)
{
	return (__u32)((code >> 4) ^ (code >> 13)) & (PYWALK_CCACHE_SETS - 1);
}

/* 1 and *ident if `code` has an entry validated by this sample's count. */
static PYWALK_INLINE int pywalk__ccache_get(const struct pywalk *w, __u64 code, __u32 *ident)
{
	__u32 i = 2 * pywalk__ccache_set(code);

	for (__u32 way = 0; way < 2; way++) {
		const struct pywalk_ccache_entry *e =
		    &w->ccache[(i + way) & (2 * PYWALK_CCACHE_SETS - 1)];

		if (e->code == code && e->gen == w->proc.gen && e->interp == w->ccache_interp &&
		    e->freed == w->ccache_freed) {
			*ident = e->ident;
			return 1;
		}
	}
	return 0;
}

/* Remember an identity read in this sample: the newest entry of a set is way 0. */
static PYWALK_INLINE void pywalk__ccache_put(struct pywalk *w, __u64 code, __u32 ident)
{
	__u32 i = 2 * pywalk__ccache_set(code) & (2 * PYWALK_CCACHE_SETS - 1);
	struct pywalk_ccache_entry *e = &w->ccache[i];

	if (e->code != code)
		w->ccache[(i + 1) & (2 * PYWALK_CCACHE_SETS - 1)] = *e;
	e->code = code;
	e->interp = w->ccache_interp;
	e->freed = w->ccache_freed;
	e->gen = w->proc.gen;
	e->ident = ident;
}

/*
 * Make the `len` (< PYWALK_WIN_MASK) bytes at `addr` readable with
 * pywalk__code_u64: from the code window if it holds them, else by reading
 * the aligned block around them (clipped to their page), or only them when
 * they cross it.
 */
static PYWALK_INLINE int pywalk__code_fill(struct pywalk *w, __u64 addr, __u32 len)
{
	__u64 start = addr & ~(__u64)(PYWALK_CWIN_SIZE / 2 - 1);
	__u32 n = PYWALK_CWIN_SIZE;

	if (len > PYWALK_WIN_MASK)
		return -1;
	if (w->cwin_len && addr >= w->cwin_base && addr - w->cwin_base < PYWALK_CWIN_SIZE &&
	    addr - w->cwin_base + len <= w->cwin_len) {
		w->cwin_at = (__u32)(addr - w->cwin_base);
		w->cwin_hits++;
		return 0;
	}
	if (w->cwin_len > len)
		w->cwin_wasted = w->cwin_hits ? 0 : w->cwin_wasted + 1;
	else if (w->cwin_wasted >= PYWALK_CWIN_WASTED + PYWALK_CWIN_PLAIN - 1)
		w->cwin_wasted = 0; /* try a window again */
	else if (w->cwin_wasted >= PYWALK_CWIN_WASTED)
		w->cwin_wasted++;
	w->cwin_hits = 0;
	if ((start & (PYWALK_PAGE_SIZE - 1)) + n > PYWALK_PAGE_SIZE)
		n = (__u32)(PYWALK_PAGE_SIZE - (start & (PYWALK_PAGE_SIZE - 1)));
	if (addr + len > start + n || w->cwin_wasted >= PYWALK_CWIN_WASTED) {
		start = addr;
		n = len;
	}
	w->cwin_len = 0;
	PYWALK_OPAQUE(n);
	n &= 2 * PYWALK_CWIN_SIZE - 1;
	if (n > PYWALK_CWIN_SIZE || PYWALK_READ(w->cwin, n, start))
		return -1;
	w->cwin_base = start;
	w->cwin_len = n;
	w->cwin_at = (__u32)(addr - start);
	return 0;
}

/*
 * The data-stack frame model: the code objects of the frames after the
 * current one that the frame window already holds are known before they are
 * visited. On a code-window miss for `code`, the read covers it and those of
 * the next PYWALK_CWIN_AHEAD frames that fit with it in PYWALK_CWIN_SIZE
 * bytes, and nothing else: a blind block around it copied 40 KB per walk
 * of 50 distinct functions on 3.11 (each read's cost grows with its bytes),
 * a span of the objects the walk will need copies about a quarter of that
 * in fewer reads. A span that cannot be read (a gap between two mappings)
 * falls back to the one object.
 */
#define PYWALK_CWIN_AHEAD 16u

static PYWALK_INLINE int pywalk__code_fill_ahead(struct pywalk *w, __u64 code)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u64 lo = code, hi = code, p = w->frame, start;
	__u32 n;

	if (w->cwin_len && code + w->code_lo >= w->cwin_base &&
	    code + w->code_lo - w->cwin_base < PYWALK_CWIN_SIZE &&
	    code + w->code_lo - w->cwin_base + w->code_len <= w->cwin_len) {
		w->cwin_at = (__u32)(code + w->code_lo - w->cwin_base);
		return 0;
	}
	for (__u32 k = 0; k < PYWALK_CWIN_AHEAD; k++) {
		__u64 at = p - w->fwin_base, c, nlo, nhi;

		/* w->frame is the next frame to visit; only frames the window
		 * holds whole are looked at. */
		if (!p || p < w->fwin_base || at + w->frame_size > w->fwin_len)
			break;
		c = pywalk__fwin_u64(w, at, o->frame_code) & o->executable_mask;
		p = pywalk__fwin_u64(w, at, o->frame_previous);
		if (!c)
			continue;
		nlo = c < lo ? c : lo;
		nhi = c > hi ? c : hi;
		if (nhi - nlo + w->code_len <= PYWALK_CWIN_SIZE) {
			lo = nlo;
			hi = nhi;
		}
	}
	w->cwin_len = 0;
	start = lo + w->code_lo;
	n = (__u32)(hi - lo) + w->code_len;
	PYWALK_OPAQUE(n);
	n &= 2 * PYWALK_CWIN_SIZE - 1;
	if (n > PYWALK_CWIN_SIZE || (hi != lo && PYWALK_READ(w->cwin, n, start))) {
		start = code + w->code_lo;
		n = w->code_len;
		PYWALK_OPAQUE(n);
		n &= PYWALK_WIN_MASK;
		if (PYWALK_READ(w->cwin, n, start))
			return -1;
	} else if (hi == lo && PYWALK_READ(w->cwin, n, start)) {
		return -1;
	}
	w->cwin_base = start;
	w->cwin_len = n;
	w->cwin_at = (__u32)(code + w->code_lo - start);
	return 0;
}

/* Field at `off` of the identity fields read by pywalk__code_fill. */
static PYWALK_INLINE __u64 pywalk__code_u64(const struct pywalk *w, __u32 off)
{
	return PYWALK_LOAD64(w->cwin + (w->cwin_at & (PYWALK_CWIN_SIZE - 1)) +
			     (off & PYWALK_WIN_MASK));
}

/* Read a code object's identity (pyhash__code_ident); 1 if it is not a code object. */
static PYWALK_INLINE int pywalk__code_ident(struct pywalk *w, __u64 code, __u32 *ident)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 lo = w->code_lo;
	__u64 fn;
	__u32 fl;

	if (!w->code_len)
		return -1;
	if (o->frame_model == FRAME_MODEL_INTERP ? pywalk__code_fill_ahead(w, code)
						 : pywalk__code_fill(w, code + lo, w->code_len))
		return -1;
	if (w->proc.code_type_addr &&
	    pywalk__code_u64(w, o->object_type - lo) != w->proc.code_type_addr)
		return 1; /* not a code object: a shim or C-stack entry */
	fl = (__u32)pywalk__code_u64(w, o->code_firstlineno - lo);
	fn = pywalk__code_u64(w, o->code_filename - lo);
	*ident = pyhash__code_ident(fl, fn);
	return 0;
}

/*
 * Visit one frame: record it (unless it is not user code) and move to the
 * previous one. Returns PYWALK_DONE when the walk has ended.
 */
static PYWALK_INLINE int pywalk__step(struct pywalk *w)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 depth = w->stack.depth;
	__u32 slot, ident = 0;
	__u64 code, prev;
	__s32 instr;
	int rc;

	if (!w->frame)
		return PYWALK_DONE;
	if (depth >= PYBPF_MAX_FRAMES) {
		w->stack.flags |= STACK_F_TRUNCATED;
		return PYWALK_DONE;
	}

	if (pywalk__frame_fill(w, w->frame, w->frame_size)) {
		pywalk__fail(w, CNT_READ_FRAME);
		w->stack.flags |= STACK_F_READ_ERROR;
		return PYWALK_DONE;
	}
	prev = pywalk__frame_u64(w, o->frame_previous);
	code = pywalk__frame_u64(w, o->frame_code) & w->proc.off.executable_mask;
	if (o->frame_model == FRAME_MODEL_INTERP) {
		__u64 base = code + o->code_adaptive;

		/* 3.14 free-threaded: the thread may run a private copy of the
		 * bytecode, co_tlbc->entries[frame->tlbc_index]. */
		if (o->frame_tlbc_index != PYBPF_OFF_NONE && code) {
			__s32 idx = (__s32)pywalk__frame_u32(w, o->frame_tlbc_index);
			__u64 tlbc = 0, entry = 0;

			if (idx > 0 &&
			    !PYWALK_READ(&tlbc, sizeof(tlbc), code + o->code_tlbc) && tlbc &&
			    !PYWALK_READ(&entry, sizeof(entry), tlbc + 8 + 8 * (__u64)(__u32)idx) &&
			    entry)
				base = entry;
		}
		instr = (__s32)(pywalk__frame_u64(w, o->frame_instr) - base);
	} else {
		instr = (__s32)pywalk__frame_u32(w, o->frame_instr);
	}
	w->frame = prev;

	/* A frame chain read while frames are being torn down can loop. */
	if (prev && prev == w->cycle_mark) {
		pywalk__fail(w, CNT_BAD_FRAME);
		w->stack.flags |= STACK_F_READ_ERROR;
		w->frame = 0;
	} else if (++w->cycle_steps == w->cycle_power) {
		w->cycle_mark = prev;
		w->cycle_power <<= 1;
		w->cycle_steps = 0;
	}

	if (o->frame_owner != PYBPF_OFF_NONE &&
	    pywalk__frame_u8(w, o->frame_owner) >= o->frame_owner_skip_min) {
		/* Shim frame owned by the C stack: the frame recorded before it
		 * began an activation of the evaluation loop. */
		if (depth)
			w->entry[((depth - 1) / 64) & (PYBPF_MAX_FRAMES / 64 - 1)] |=
			    1ull << ((depth - 1) & 63);
		return PYWALK_CONTINUE;
	}
	if (!code)
		return PYWALK_CONTINUE;

	/* With the cross-sample cache on, the slot this frame is about to take
	 * (the frame at this depth in the last walk) is tried first, then the
	 * cache, which serves repeats within the walk as well; without it, the
	 * code objects of this walk are kept in `recent`. */
	slot = (__u32)(code >> 4) & (PYWALK_RECENT - 1);
	if (w->ccache_on) {
		const struct pybpf_frame *old = &w->stack.frames[depth & (PYBPF_MAX_FRAMES - 1)];

		rc = 0;
		if (depth < w->memo_use && old->code == code) {
			ident = old->ident;
		} else if (!pywalk__ccache_get(w, code, &ident)) {
			rc = pywalk__code_ident(w, code, &ident);
			if (rc == 0)
				pywalk__ccache_put(w, code, ident);
		}
	} else if (w->recent_code[slot] == code) {
		ident = w->recent_ident[slot];
		rc = 0;
	} else {
		rc = pywalk__code_ident(w, code, &ident);
		if (rc == 0) {
			w->recent_code[slot] = code;
			w->recent_ident[slot] = ident;
		}
	}
	if (rc != 0) {
		/* Not a code object (C-stack shims were skipped above), or not
		 * readable: a frame being torn down. What lies beyond it cannot be
		 * trusted; keep the frames so far. */
		pywalk__fail(w, rc > 0 ? CNT_BAD_FRAME : CNT_READ_CODE);
		w->stack.flags |= STACK_F_READ_ERROR;
		w->frame = 0;
		return PYWALK_DONE;
	}

	w->stack.frames[depth & (PYBPF_MAX_FRAMES - 1)].code = code;
	w->stack.frames[depth & (PYBPF_MAX_FRAMES - 1)].ident = ident;
	w->stack.frames[depth & (PYBPF_MAX_FRAMES - 1)].instr = instr;
	if (o->frame_is_entry && pywalk__frame_u8(w, o->frame_is_entry))
		w->entry[(depth / 64) & (PYBPF_MAX_FRAMES / 64 - 1)] |= 1ull << (depth & 63);
	w->stack.depth = depth + 1;
	w->hash = pyhash__stack_frame(w->hash, code, ident, instr);
	return PYWALK_CONTINUE;
}

/* Final hash of the recorded stack, including its flags. */
static PYWALK_INLINE __u64 pywalk__stack_hash(const struct pywalk *w)
{
	return pyhash__stack_end(w->hash, w->stack.flags, w->stack.depth);
}

/*
 * The GIL of interpreter interp (unused when the GIL is in _PyRuntime): its
 * address in *gil (0 when the build has none) and the thread state holding
 * it in *holder (0 when it is not locked). Returns 0, negative when
 * unreadable.
 */
static PYWALK_INLINE int pywalk__gil_holder(struct pywalk *w, __u64 interp, __u64 *gil,
					    __u64 *holder)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 hi = pywalk__max(o->gil_locked + 4, o->gil_last_holder + 8);
	__u64 addr = 0;

	*gil = 0;
	*holder = 0;
	if (o->gil_model == GIL_IN_RUNTIME) {
		addr = w->proc.runtime_addr + o->gil_offset;
	} else if (o->gil_model == GIL_PTR_IN_INTERP) {
		if (!interp || PYWALK_READ(&addr, sizeof(addr), interp + o->gil_offset))
			return -1;
	}
	if (!addr)
		return 0;
	*gil = addr;
	if (hi > PYWALK_WIN_MASK || pywalk__fill(w, addr, hi))
		return -1;
	if ((__s32)pywalk__u32(w, o->gil_locked) > 0)
		*holder = pywalk__u64(w, o->gil_last_holder);
	return 0;
}

/*
 * The GIL of the thread whose state is w->tstate: its address in *gil
 * (0 when the build has none), and whether that thread holds it now.
 * Returns 1 held, 0 not held or no GIL, negative when unreadable.
 */
static PYWALK_INLINE int pywalk__gil(struct pywalk *w, __u64 *gil)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u64 interp = 0, holder;

	*gil = 0;
	if (o->gil_model == GIL_PTR_IN_INTERP &&
	    PYWALK_READ(&interp, sizeof(interp), w->tstate + o->tstate_interp))
		return -1;
	if (pywalk__gil_holder(w, interp, gil, &holder))
		return -1;
	return *gil && holder == w->tstate;
}

/* Begin searching the interpreters' thread lists. */
static PYWALK_INLINE int pywalk__threads_begin(struct pywalk *w)
{
	const struct pybpf_offsets *o = &w->proc.off;

	w->tstate = 0;
	w->interp = 0;
	if (PYWALK_READ(&w->interp, sizeof(w->interp),
			w->proc.runtime_addr + o->runtime_interp_head)) {
		pywalk__fail(w, CNT_READ_RUNTIME);
		return -1;
	}
	if (w->interp && PYWALK_READ(&w->tstate, sizeof(w->tstate),
				     w->interp + o->interp_threads_head)) {
		pywalk__fail(w, CNT_READ_RUNTIME);
		return -1;
	}
	return 0;
}

/*
 * One step of the thread search: compare the candidate thread state with the
 * wanted thread, then move to the next thread (or the next interpreter).
 * PYWALK_DONE with w->tstate set = found; with w->tstate = 0 = not found.
 */
static PYWALK_INLINE int pywalk__threads_step(struct pywalk *w)
{
	const struct pybpf_offsets *o = &w->proc.off;
	__u32 lo = pywalk__min(o->tstate_next, o->tstate_thread_id);
	__u32 hi = pywalk__max(o->tstate_next, o->tstate_thread_id) + 8;

	if (!w->tstate) {
		/* This interpreter's list is exhausted: move to the next one
		 * (one interpreter per step keeps the step loop-free). */
		if (!w->interp)
			return PYWALK_DONE;
		if (PYWALK_READ(&w->interp, sizeof(w->interp), w->interp + o->interp_next) ||
		    (w->interp && PYWALK_READ(&w->tstate, sizeof(w->tstate),
					      w->interp + o->interp_threads_head))) {
			pywalk__fail(w, CNT_READ_RUNTIME);
			w->tstate = 0;
			return PYWALK_DONE;
		}
		return w->interp ? PYWALK_CONTINUE : PYWALK_DONE;
	}
	if (pywalk__fill(w, w->tstate + lo, hi - lo)) {
		pywalk__fail(w, CNT_READ_TSTATE);
		w->tstate = 0;
		return PYWALK_DONE;
	}
	if (pywalk__u64(w, o->tstate_thread_id - lo) == w->want_thread_id)
		return PYWALK_DONE;
	w->tstate = pywalk__u64(w, o->tstate_next - lo);
	return PYWALK_CONTINUE;
}

#endif /* PYBPF_PYWALK_H */
