// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * BPF-logic test: the walker's cross-sample code-object cache (bpf/pywalk.h)
 * over a constructed memory image: three frames on one data-stack page, their
 * code objects, and an interpreter whose count of freed code objects the test
 * moves. A code object replaced at the same address while the count moves is
 * read again and named by its new identity; while the count stands still the
 * walk reads no code object twice.
 */
#include <stdint.h>
#include <string.h>

#include "test.h"

#define IMG_BASE 0x100000ull
#define IMG_SIZE 0x10000u
static uint8_t img[IMG_SIZE];
static unsigned code_reads; /* reads that touched a code object */
static uint64_t hole_lo, hole_hi; /* a range no read may cover */

static uint64_t code_stride = 0x1000; /* bytes between the code objects */
#define CODE_AT(i) (IMG_BASE + 0x8000 + code_stride * (i))
#define FRAME_AT(i) (IMG_BASE + 0x1f00 - 0x80 * (i)) /* callers below callees */
#define INTERP IMG_BASE + 0x6000
#define CODE_TYPE 0xc0de7e9eull

static int img_read(void *dst, uint64_t size, uint64_t addr)
{
	if (addr < IMG_BASE || addr - IMG_BASE > IMG_SIZE || size > IMG_SIZE - (addr - IMG_BASE) ||
	    (addr < hole_hi && addr + size > hole_lo))
		return -1;
	if (addr >= CODE_AT(0) && addr < CODE_AT(3))
		code_reads++;
	memcpy(dst, img + (addr - IMG_BASE), size);
	return 0;
}

#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) img_read((dst), (size), (addr))
#include "pywalk.h"

enum {
	O_CODE = 0,
	O_PREV = 8,
	O_INSTR = 16,
	C_TYPE = 8,
	C_FIRSTLINE = 32,
	C_FILENAME = 40,
	C_ADAPTIVE = 64,
	I_FREED = 24
};

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(img + (addr - IMG_BASE), &v, sizeof(v));
}

static void put32(uint64_t addr, uint32_t v)
{
	memcpy(img + (addr - IMG_BASE), &v, sizeof(v));
}

static void make_code(int i, uint32_t firstlineno, uint64_t filename)
{
	put64(CODE_AT(i) + C_TYPE, CODE_TYPE);
	put32(CODE_AT(i) + C_FIRSTLINE, firstlineno);
	put64(CODE_AT(i) + C_FILENAME, filename);
}

static void build_image(void)
{
	memset(img, 0, sizeof(img));
	for (int i = 0; i < 3; i++) {
		make_code(i, 10 + 10 * (uint32_t)i, 0x7000 + (uint64_t)i);
		put64(FRAME_AT(i) + O_CODE, CODE_AT(i));
		put64(FRAME_AT(i) + O_PREV, i < 2 ? FRAME_AT(i + 1) : 0);
		put64(FRAME_AT(i) + O_INSTR, CODE_AT(i) + C_ADAPTIVE + 2 * (uint64_t)i);
	}
	put64(INTERP + I_FREED, 5);
}

static void init_walker(struct pywalk *w, uint32_t gen, uint16_t interp_code_gen)
{
	struct pybpf_offsets *o = &w->proc.off;

	w->proc.gen = gen;
	w->proc.code_type_addr = CODE_TYPE;
	memset(o, 0, sizeof(*o));
	o->frame_model = FRAME_MODEL_INTERP;
	o->frame_code = O_CODE;
	o->frame_previous = O_PREV;
	o->frame_instr = O_INSTR;
	o->frame_owner = PYBPF_OFF_NONE;
	o->frame_tlbc_index = PYBPF_OFF_NONE;
	o->code_tlbc = PYBPF_OFF_NONE;
	o->code_adaptive = C_ADAPTIVE;
	o->code_firstlineno = C_FIRSTLINE;
	o->code_filename = C_FILENAME;
	o->object_type = C_TYPE;
	o->executable_mask = ~0ull;
	o->interp_code_gen = interp_code_gen;
}

/* One sample: walk from the innermost frame; returns the code reads it made. */
static unsigned walk(struct pywalk *w)
{
	unsigned before = code_reads;

	w->err = 0;
	pywalk__start(w, FRAME_AT(0));
	pywalk__ccache_begin(w, INTERP);
	for (int steps = 0; steps <= PYBPF_MAX_FRAMES; steps++)
		if (pywalk__step(w) == PYWALK_DONE)
			break;
	pywalk__ccache_end(w);
	CHECK_EQ_INT(w->err, 0);
	CHECK_EQ_INT(w->stack.depth, 3);
	return code_reads - before;
}

static uint32_t ident_of(uint32_t firstlineno, uint64_t filename)
{
	return pyhash__code_ident(firstlineno, filename);
}

static void test_replaced_code_object_read_again(void)
{
	static struct pywalk w;

	build_image();
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, I_FREED);

	CHECK_EQ_INT(walk(&w), 3); /* first sight: every code object read */
	CHECK(w.ccache_on);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(20, 0x7001));
	CHECK_EQ_INT(walk(&w), 0); /* count unchanged: all from the cache */
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(20, 0x7001));

	/* The middle code object is freed (the count moves) and a different one
	 * is allocated at its address: it is read again and named anew. */
	make_code(1, 99, 0x7abc);
	put64(INTERP + I_FREED, 6);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));
	CHECK_EQ_INT(w.stack.frames[0].ident, ident_of(10, 0x7000));
	CHECK_EQ_INT(walk(&w), 0);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));

	/* Another registration (process) never uses these entries. */
	w.proc.gen = 2;
	CHECK_EQ_INT(walk(&w), 3);
	/* Nor does a thread of another interpreter, with its own count. */
	w.proc.gen = 1;
	put64(INTERP + 0x100 + I_FREED, 6);
	{
		unsigned before = code_reads;

		w.err = 0;
		pywalk__start(&w, FRAME_AT(0));
		pywalk__ccache_begin(&w, INTERP + 0x100);
		while (pywalk__step(&w) != PYWALK_DONE)
			;
		CHECK_EQ_INT(code_reads - before, 3);
	}
}

static void test_no_count_no_cache(void)
{
	static struct pywalk w;

	build_image();
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, 0); /* the interpreter has no count (before 3.14) */
	CHECK_EQ_INT(walk(&w), 3);
	CHECK(!w.ccache_on);
	make_code(1, 99, 0x7abc); /* replaced, nothing counted: still read */
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));

	/* A count that cannot be read turns the cache off for that sample. */
	init_walker(&w, 1, I_FREED);
	w.ccache_on = 1;
	pywalk__ccache_begin(&w, IMG_BASE + IMG_SIZE + 0x1000);
	CHECK(!w.ccache_on);
}

/* 3.12: one process-wide count of created code objects, 0 once it wrapped. */
static void test_created_count(void)
{
	static struct pywalk w;

	build_image();
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, 0);
	w.proc.code_count_addr = IMG_BASE + 0x6800;
	put32(IMG_BASE + 0x6800, 1000);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK(w.ccache_on);
	CHECK_EQ_INT(walk(&w), 0);
	make_code(2, 77, 0x7def); /* a new code object at the same address */
	put32(IMG_BASE + 0x6800, 1001);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(77, 0x7def));
	put32(IMG_BASE + 0x6800, 0); /* wrapped: creations no longer counted */
	CHECK_EQ_INT(walk(&w), 3);
	CHECK(!w.ccache_on);
	CHECK_EQ_INT(walk(&w), 3);
}

static void test_set_collisions_keep_both_ways(void)
{
	static struct pywalk w;
	uint32_t ident = 0;
	uint64_t a = 0x5550000, b, c;

	memset(&w, 0, sizeof(w));
	w.proc.gen = 7;
	w.ccache_on = 1;
	w.ccache_interp = INTERP;
	w.ccache_freed = 1;
	/* three addresses of one set: the two newest stay */
	b = a + ((uint64_t)PYWALK_CCACHE_SETS << 4) * 2 * (1u << 9);
	c = b + ((uint64_t)PYWALK_CCACHE_SETS << 4) * 2 * (1u << 9);
	CHECK_EQ_INT(pywalk__ccache_set(a) == pywalk__ccache_set(b), 1);
	CHECK_EQ_INT(pywalk__ccache_set(b) == pywalk__ccache_set(c), 1);
	pywalk__ccache_put(&w, a, 11);
	pywalk__ccache_put(&w, b, 22);
	CHECK(pywalk__ccache_get(&w, a, &ident) && ident == 11);
	CHECK(pywalk__ccache_get(&w, b, &ident) && ident == 22);
	pywalk__ccache_put(&w, c, 33);
	CHECK(!pywalk__ccache_get(&w, a, &ident));
	CHECK(pywalk__ccache_get(&w, c, &ident) && ident == 33);
	w.ccache_freed = 2; /* a code object freed: nothing is trusted */
	CHECK(!pywalk__ccache_get(&w, b, &ident));
	CHECK(!pywalk__ccache_get(&w, c, &ident));
}

/*
 * The slots the last walk on this CPU left in stack.frames are tried before
 * the cache: trusted only under the count (and process, interpreter) they
 * were read under, and never after a walk without a count wrote over them.
 */
static void test_last_walk_slots(void)
{
	static struct pywalk w;

	build_image();
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, I_FREED);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.memo_depth, 3);
	/* Same count: the slots alone name the stack (cache emptied). */
	memset(w.ccache, 0, sizeof(w.ccache));
	CHECK_EQ_INT(walk(&w), 0);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(20, 0x7001));

	/* Freed and replaced at the same address, the count moves: the slot is
	 * not trusted, the object is read again and named anew. */
	make_code(1, 99, 0x7abc);
	put64(INTERP + I_FREED, 6);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));
	memset(w.ccache, 0, sizeof(w.ccache));
	CHECK_EQ_INT(walk(&w), 0);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));

	/* Another process without a count walks the same addresses (holding
	 * other objects there) over the slots: process 1 must not take them. */
	init_walker(&w, 2, 0);
	make_code(1, 55, 0x7555);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(55, 0x7555));
	CHECK_EQ_INT(w.memo_depth, 0);
	init_walker(&w, 1, I_FREED);
	make_code(1, 99, 0x7abc); /* process 1's object at that address */
	memset(w.ccache, 0, sizeof(w.ccache));
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));

	/* Nor slots another counted process left, under an equal count. */
	init_walker(&w, 3, I_FREED);
	make_code(1, 66, 0x7666);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.memo_gen, 3);
	init_walker(&w, 1, I_FREED);
	make_code(1, 99, 0x7abc);
	memset(w.ccache, 0, sizeof(w.ccache));
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));

	/* A shallower walk keeps the deeper slots of the same count usable. */
	w.err = 0;
	pywalk__start(&w, FRAME_AT(2));
	pywalk__ccache_begin(&w, INTERP);
	while (pywalk__step(&w) != PYWALK_DONE)
		;
	pywalk__ccache_end(&w);
	CHECK_EQ_INT(w.stack.depth, 1);
	CHECK_EQ_INT(w.memo_depth, 3);
}

/*
 * Code objects that lie close together are read in one go (the code window),
 * but only within one walk: one replaced at the same address before the next
 * walk is read again and named anew, with or without a count.
 */
static void test_code_window(void)
{
	static struct pywalk w;

	code_stride = 0x100;
	for (uint16_t count = 0; count <= I_FREED; count += I_FREED) {
		build_image();
		memset(&w, 0, sizeof(w));
		init_walker(&w, 1, count);
		CHECK_EQ_INT(walk(&w), 1); /* three code objects, one read */
		CHECK_EQ_INT(w.stack.frames[0].ident, ident_of(10, 0x7000));
		CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(20, 0x7001));
		CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(30, 0x7002));
		make_code(1, 99, 0x7abc);
		put64(INTERP + I_FREED, 6);
		CHECK_EQ_INT(walk(&w), 1);
		CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(99, 0x7abc));
		CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(30, 0x7002));
	}
	/* Identity fields that cross the block's page are read alone. */
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, 0);
	pywalk__start(&w, 0);
	CHECK_EQ_INT(pywalk__code_fill(&w, IMG_BASE + 0x2ff0, 0x30), 0);
	CHECK_EQ_INT(w.cwin_base, IMG_BASE + 0x2ff0);
	CHECK_EQ_INT(w.cwin_len, 0x30);
	CHECK_EQ_INT(pywalk__code_fill(&w, IMG_BASE + 0x2e00, 0x30), 0);
	CHECK_EQ_INT(w.cwin_base, IMG_BASE + 0x2800);
	CHECK_EQ_INT(w.cwin_len, 0x800); /* the block clipped at the page's end */
	CHECK_EQ_INT(pywalk__code_fill(&w, IMG_BASE + 0x2f00, 0x30), 0);
	CHECK_EQ_INT(w.cwin_at, 0x700); /* from the window */

	/* Code objects a page apart: too far for one read, each is read alone. */
	code_stride = 0x1000;
	build_image();
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, 0);
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.cwin_len, w.code_len);
	CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(30, 0x7002));

	/* Heap frames (3.8-3.10) show no frames ahead: after two windows that
	 * served nothing else, identities are read alone for PYWALK_CWIN_PLAIN
	 * reads, then a window is tried again. */
	pywalk__start(&w, 0);
	for (uint32_t i = 0; i < PYWALK_CWIN_WASTED + PYWALK_CWIN_PLAIN + 1; i++) {
		CHECK_EQ_INT(pywalk__code_fill(&w, IMG_BASE + 0x1000 * (i % 8) + 0x10, 0x30), 0);
		CHECK_EQ_INT(w.cwin_len,
			     i < PYWALK_CWIN_WASTED || i == PYWALK_CWIN_WASTED + PYWALK_CWIN_PLAIN
				 ? 0x1000
				 : 0x30);
	}
}

/*
 * Data-stack frames: a code-window miss reads the span of the code objects
 * that the frames already in the frame window will need, in any order, and
 * nothing around it; a span that cannot be read falls back to the object.
 */
static void test_code_span_ahead(void)
{
	static struct pywalk w;

	code_stride = 0x100;
	build_image();
	/* callers' code objects out of address order: 1, 2, 0 */
	put64(FRAME_AT(0) + O_CODE, CODE_AT(1));
	put64(FRAME_AT(1) + O_CODE, CODE_AT(2));
	put64(FRAME_AT(2) + O_CODE, CODE_AT(0));
	memset(&w, 0, sizeof(w));
	init_walker(&w, 1, 0);
	CHECK_EQ_INT(walk(&w), 1);
	CHECK_EQ_INT(w.cwin_base, CODE_AT(0) + C_TYPE);
	CHECK_EQ_INT(w.cwin_len, 2 * code_stride + w.code_len); /* the span, no more */
	CHECK_EQ_INT(w.stack.frames[0].ident, ident_of(20, 0x7001));
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(30, 0x7002));
	CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(10, 0x7000));

	/* Unreadable bytes between two objects: each is read alone, right. */
	hole_lo = CODE_AT(1) + 0x80;
	hole_hi = hole_lo + 0x10;
	CHECK_EQ_INT(walk(&w), 3);
	CHECK_EQ_INT(w.stack.frames[0].ident, ident_of(20, 0x7001));
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(30, 0x7002));
	CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(10, 0x7000));
	hole_lo = hole_hi = 0;

	/* One object replaced at the same address between walks is read
	 * again: the span lives for one walk only. */
	make_code(2, 77, 0x7777);
	CHECK_EQ_INT(walk(&w), 1);
	CHECK_EQ_INT(w.stack.frames[1].ident, ident_of(77, 0x7777));

	/* The frame being visited is not looked ahead of beyond the window:
	 * a caller outside it costs its own read later. */
	put64(FRAME_AT(1) + O_PREV, IMG_BASE + 0x3000);
	put64(IMG_BASE + 0x3000 + O_CODE, CODE_AT(0));
	put64(IMG_BASE + 0x3000 + O_PREV, 0);
	put64(IMG_BASE + 0x3000 + O_INSTR, CODE_AT(0) + C_ADAPTIVE);
	w.err = 0;
	pywalk__start(&w, FRAME_AT(0));
	pywalk__ccache_begin(&w, INTERP);
	while (pywalk__step(&w) != PYWALK_DONE)
		;
	CHECK_EQ_INT(w.err, 0);
	CHECK_EQ_INT(w.stack.depth, 3);
	CHECK_EQ_INT(w.stack.frames[2].ident, ident_of(10, 0x7000));
	code_stride = 0x1000;
}

TEST_MAIN(TEST(test_replaced_code_object_read_again), TEST(test_code_window),
	  TEST(test_code_span_ahead), TEST(test_last_walk_slots), TEST(test_no_count_no_cache),
	  TEST(test_created_count), TEST(test_set_collisions_keep_both_ways))
