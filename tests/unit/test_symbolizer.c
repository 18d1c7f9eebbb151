// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Symbolizer: naming frames from code events, identity keys, and leaving
 * out the interpreter's own frames.
 */
#include <errno.h>
#include <string.h>

#include "profile.h"
#include "symbolizer.h"
#include "test.h"

static void set_str(struct pybpf_str *s, __u8 *dst, size_t cap, const char *text)
{
	size_t n = strlen(text);

	if (n > cap)
		n = cap;
	memcpy(dst, text, n);
	s->kind = 1;
	s->nbytes = (__u32)n;
	s->length = (__u32)n;
}

static void event(struct pybpf_code_event *ev, __u64 code, __u32 ident, const char *qualname,
		  const char *filename, __s32 firstlineno)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = EVENT_CODE;
	ev->gen = 1;
	ev->code = code;
	ev->ident = ident;
	ev->firstlineno = firstlineno;
	set_str(&ev->qualname, ev->qualname_data, sizeof(ev->qualname_data), qualname);
	set_str(&ev->filename, ev->filename_data, sizeof(ev->filename_data), filename);
}

static int name_at(struct symbolizer *s, unsigned int minor, __u64 code, __u32 ident,
		   __s32 instr, struct profile_frame *out)
{
	struct pybpf_offsets off = {0};
	struct symbolizer_proc p = {.gen = 1, .pid = 1, .alive = false, .major = 3,
				    .minor = minor, .off = &off};
	struct pybpf_frame f = {.code = code, .ident = ident, .instr = instr};

	return symbolizer__frame(s, &p, &f, out);
}

static int name(struct symbolizer *s, unsigned int minor, __u64 code, __u32 ident,
		struct profile_frame *out)
{
	return name_at(s, minor, code, ident, 0, out);
}

static void test_names_by_identity(void)
{
	static struct pybpf_code_event ev;
	struct symbolizer *s = symbolizer__new();
	struct profile_frame f;

	CHECK(s != NULL);
	event(&ev, 0x1000, 7, "Split.heavy", "/srv/app.py", 12);
	CHECK_EQ_INT(symbolizer__add_event(s, &ev), 0);
	CHECK_EQ_INT(name(s, 11, 0x1000, 7, &f), 0);
	CHECK_EQ_STR(f.name, "Split.heavy");
	CHECK_EQ_STR(f.file, "/srv/app.py");
	CHECK_EQ_INT(f.start_line, 12);
	/* The same address with another identity is another code object. */
	CHECK_EQ_INT(name(s, 11, 0x1000, 8, &f), -ENOENT);
	CHECK_EQ_STR(f.name, "[unknown]");
	symbolizer__free(s);
}

static void test_init_cleanup_frame_left_out(void)
{
	static struct pybpf_code_event ev;
	struct symbolizer *s = symbolizer__new();
	struct profile_frame f;

	CHECK(s != NULL);
	event(&ev, 0x2000, 1, "__init__", "__init__", 0);
	CHECK_EQ_INT(symbolizer__add_event(s, &ev), 0);
	event(&ev, 0x3000, 2, "__init__", "/srv/app.py", 30);
	CHECK_EQ_INT(symbolizer__add_event(s, &ev), 0);

	/* 3.13 and 3.14: the interpreter's init-cleanup frame is not the program's. */
	CHECK_EQ_INT(name(s, 13, 0x2000, 1, &f), SYMBOLIZER_INTERNAL);
	CHECK_EQ_INT(name(s, 14, 0x2000, 1, &f), SYMBOLIZER_INTERNAL);
	/* A user's __init__ is kept, and before 3.13 there is no such frame. */
	CHECK_EQ_INT(name(s, 13, 0x3000, 2, &f), 0);
	CHECK_EQ_STR(f.name, "__init__");
	CHECK_EQ_INT(name(s, 12, 0x2000, 1, &f), 0);
	symbolizer__free(s);
}

/* A generator or coroutine created but not started has not executed its first
 * instruction: 3.10's f_lasti is -1, 3.11/3.12's prev_instr one code unit
 * before the bytecode. Its line is its first line, whatever the table says;
 * so is the line of an instruction the table gives none. */
static void test_unstarted_frame_on_first_line(void)
{
	static struct pybpf_code_event ev;
	struct symbolizer *s = symbolizer__new();
	struct profile_frame f;

	CHECK(s != NULL);
	event(&ev, 0x4000, 3, "fresh_gen", "/srv/app.py", 18);
	CHECK_EQ_INT(symbolizer__add_event(s, &ev), 0);
	CHECK_EQ_INT(name_at(s, 10, 0x4000, 3, -1, &f), 0);
	CHECK_EQ_INT(f.line, 18);
	CHECK_EQ_INT(name_at(s, 12, 0x4000, 3, -2, &f), 0);
	CHECK_EQ_INT(f.line, 18);
	CHECK_EQ_INT(f.start_line, 18);
	/* An empty (complete) line table: no instruction has a line. */
	CHECK_EQ_INT(name_at(s, 12, 0x4000, 3, 4, &f), 0);
	CHECK_EQ_INT(f.line, 18);
	symbolizer__free(s);
}

TEST_MAIN(TEST(test_names_by_identity), TEST(test_init_cleanup_frame_left_out),
	  TEST(test_unstarted_frame_on_first_line))
