// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "symbolizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "linetable.h"
#include "memread.h"
#include "profile.h"
#include "pyhash.h"
#include "pyoffsets.h"
#include "pystr.h"

/* Limits for reads from a live process. */
#define MEM_STR_MAX_CHARS 4096
#define MEM_LINETABLE_MAX (1u << 20)

struct code_key {
	__u32 gen;
	__u32 ident;
	__u64 code;
};

struct code_info {
	char *qualname;
	char *filename;
	__s32 firstlineno;
	bool linetable_cut;    /* the event carried only a prefix of the table */
	bool linetable_reread; /* a full read from memory was already tried */
	bool init_cleanup;     /* named like 3.13+'s _Py_InitCleanup (see below) */
	uint32_t used_epoch;    /* last symbolizer__prune period it named a frame in */
	__u8 *linetable;
	size_t linetable_len;
};

struct symbolizer {
	struct hashmap *codes; /* code_key -> code_info */
	struct symbolizer_stats stats;
	uint32_t epoch;
};

static void code_info__free(struct code_info *ci)
{
	if (!ci)
		return;
	free(ci->qualname);
	free(ci->filename);
	free(ci->linetable);
	free(ci);
}

static int free_entry(const void *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	code_info__free(value);
	return 0;
}

struct symbolizer *symbolizer__new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->codes = hashmap__new(sizeof(struct code_key));
	if (!s->codes) {
		free(s);
		return NULL;
	}
	return s;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	hashmap__each(s->codes, free_entry, NULL);
	hashmap__free(s->codes);
	free(s);
}

/* UTF-8 copy of a string's code units; "?" when it could not be read. */
static char *utf8_dup(unsigned int kind, const __u8 *data, size_t nbytes, size_t length)
{
	size_t cap = nbytes * 4 / (kind ? kind : 1) + 8;
	bool cut = kind && nbytes / kind < length;
	char *out;
	int n;

	if (!kind)
		return strdup("?");
	out = malloc(cap + 4);
	if (!out)
		return NULL;
	n = pystr__to_utf8(kind, data, nbytes, out, cap);
	if (n < 0) {
		free(out);
		return strdup("?");
	}
	if (cut)
		memcpy(out + n, "...", 4);
	return out;
}

static int insert(struct symbolizer *s, const struct code_key *key, struct code_info *ci)
{
	struct code_info *old = hashmap__get(s->codes, key);
	int err;

	ci->init_cleanup = ci->qualname && ci->filename && !strcmp(ci->qualname, "__init__") &&
			   !strcmp(ci->filename, "__init__");
	err = hashmap__set(s->codes, key, ci);

	if (err)
		return err;
	if (old)
		code_info__free(old);
	else
		s->stats.codes++;
	return 0;
}

int symbolizer__add_event(struct symbolizer *s, const struct pybpf_code_event *ev)
{
	struct code_key key = {.gen = ev->gen, .ident = ev->ident, .code = ev->code};
	struct code_info *ci = calloc(1, sizeof(*ci));
	size_t nlt = ev->linetable_nbytes;
	int err = -ENOMEM;

	if (!ci)
		return -ENOMEM;
	if (nlt > PYBPF_LINETABLE_MAX)
		nlt = PYBPF_LINETABLE_MAX;
	ci->firstlineno = ev->firstlineno;
	ci->qualname = utf8_dup(ev->qualname.kind, ev->qualname_data,
				ev->qualname.nbytes > PYBPF_QUALNAME_MAX ? PYBPF_QUALNAME_MAX
									 : ev->qualname.nbytes,
				ev->qualname.length);
	ci->filename = utf8_dup(ev->filename.kind, ev->filename_data,
				ev->filename.nbytes > PYBPF_FILENAME_MAX ? PYBPF_FILENAME_MAX
									 : ev->filename.nbytes,
				ev->filename.length);
	ci->linetable = malloc(nlt ? nlt : 1);
	if (!ci->qualname || !ci->filename || !ci->linetable)
		goto out_free;
	memcpy(ci->linetable, ev->linetable_data, nlt);
	ci->linetable_len = nlt;
	ci->linetable_cut = ev->linetable_size > nlt;
	ci->used_epoch = s->epoch;
	err = insert(s, &key, ci);
	if (err)
		goto out_free;
	s->stats.from_events++;
	return 0;

out_free:
	code_info__free(ci);
	return err;
}

/* Read a compact str object from the process; NULL on failure. */
static char *mem_str(const struct symbolizer_proc *p, __u64 obj)
{
	const struct pybpf_offsets *o = p->off;
	__u64 length = 0;
	__u32 state = 0, kind;
	__u8 *raw = NULL;
	char *out = NULL;
	size_t nbytes;

	if (!obj || memread(p->pid, obj + o->unicode_length, &length, sizeof(length)) ||
	    memread(p->pid, obj + o->unicode_state, &state, sizeof(state)))
		return NULL;
	kind = (state >> o->unicode_kind_shift) & 7;
	if (!((state >> o->unicode_compact_bit) & 1) || (kind != 1 && kind != 2 && kind != 4))
		return NULL;
	nbytes = (length > MEM_STR_MAX_CHARS ? MEM_STR_MAX_CHARS : length) * kind;
	raw = malloc(nbytes ? nbytes : 1);
	if (!raw)
		return NULL;
	if (memread(p->pid,
		    obj + (((state >> o->unicode_ascii_bit) & 1) ? o->unicode_ascii_data
								 : o->unicode_compact_data),
		    raw, nbytes) == 0)
		out = utf8_dup(kind, raw, nbytes, length);
	free(raw);
	return out;
}

/* Read a bytes object's content; 0 or -errno. */
static int mem_bytes(const struct symbolizer_proc *p, __u64 obj, __u8 **data, size_t *len)
{
	__u64 size = 0;
	__u8 *buf;

	if (!obj || memread(p->pid, obj + p->off->bytes_size, &size, sizeof(size)))
		return -EFAULT;
	if (size > MEM_LINETABLE_MAX)
		return -E2BIG;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	if (memread(p->pid, obj + p->off->bytes_data, buf, size)) {
		free(buf);
		return -EFAULT;
	}
	*data = buf;
	*len = size;
	return 0;
}

/* Read a code object from the live process, checking it is the one sampled. */
static struct code_info *mem_code(const struct symbolizer_proc *p, const struct pybpf_frame *f)
{
	const struct pybpf_offsets *o = p->off;
	__u64 filename = 0, qualname = 0, linetable = 0;
	struct code_info *ci;
	__s32 firstlineno = 0;

	if (memread(p->pid, f->code + o->code_firstlineno, &firstlineno, sizeof(firstlineno)) ||
	    memread(p->pid, f->code + o->code_filename, &filename, sizeof(filename)) ||
	    memread(p->pid, f->code + o->code_qualname, &qualname, sizeof(qualname)) ||
	    memread(p->pid, f->code + o->code_linetable, &linetable, sizeof(linetable)))
		return NULL;
	/* ident 0: the sample could not read the code; accept what is there now. */
	if (f->ident && pyhash__code_ident((__u32)firstlineno, filename) != f->ident)
		return NULL;
	ci = calloc(1, sizeof(*ci));
	if (!ci)
		return NULL;
	ci->firstlineno = firstlineno;
	ci->qualname = mem_str(p, qualname);
	ci->filename = mem_str(p, filename);
	if (!ci->qualname || !ci->filename ||
	    mem_bytes(p, linetable, &ci->linetable, &ci->linetable_len)) {
		code_info__free(ci);
		return NULL;
	}
	ci->linetable_reread = true;
	return ci;
}

/* The event carried a cut line table and this offset lies past it: try the full one. */
static void reread_linetable(const struct symbolizer_proc *p, const struct pybpf_frame *f,
			     struct code_info *ci)
{
	__u64 linetable = 0;
	__u8 *data;
	size_t len;

	ci->linetable_reread = true;
	if (!p->alive ||
	    memread(p->pid, f->code + p->off->code_linetable, &linetable, sizeof(linetable)) ||
	    mem_bytes(p, linetable, &data, &len))
		return;
	free(ci->linetable);
	ci->linetable = data;
	ci->linetable_len = len;
	ci->linetable_cut = false;
}

/*
 * 3.13+ run a specialised class call's __init__ above a frame of a static
 * code object, _Py_InitCleanup (Python/specialize.c), that checks __init__
 * returned None. It is the interpreter's, not the program's: its name and
 * file are both "__init__", which no code object compiled from a file has.
 */
static bool is_interpreter_internal(const struct symbolizer_proc *p, const struct code_info *ci)
{
	return ci->init_cleanup && (p->major > 3 || (p->major == 3 && p->minor >= 13));
}

int symbolizer__frame(struct symbolizer *s, const struct symbolizer_proc *p,
		      const struct pybpf_frame *f, struct profile_frame *out)
{
	struct code_key key = {.gen = p->gen, .ident = f->ident, .code = f->code};
	enum linetable_format fmt = linetable__format_for(p->major, p->minor);
	struct code_info *ci = hashmap__get(s->codes, &key);
	int64_t offset, line;

	if (!ci && p->alive) {
		ci = mem_code(p, f);
		if (ci && insert(s, &key, ci)) {
			code_info__free(ci);
			ci = NULL;
		}
		if (ci)
			s->stats.from_memory++;
	}
	if (!ci) {
		s->stats.unresolved++;
		out->name = "[unknown]";
		out->file = "";
		out->line = 0;
		out->start_line = 0;
		return -ENOENT;
	}

	ci->used_epoch = s->epoch;
	if (is_interpreter_internal(p, ci))
		return SYMBOLIZER_INTERNAL;

	/* A frame that has not run its first instruction yet (a generator or
	 * coroutine just created) is on its first line, as CPython's
	 * PyCode_Addr2Line says for a negative offset. */
	offset = pyoffsets__byte_offset(p->major, p->minor, f->instr);
	if (offset < 0)
		line = ci->firstlineno;
	else
		line = linetable__line(fmt, ci->linetable, ci->linetable_len, ci->firstlineno,
				       offset);
	if (!line && ci->linetable_cut && !ci->linetable_reread) {
		reread_linetable(p, f, ci);
		line =
		    linetable__line(fmt, ci->linetable, ci->linetable_len, ci->firstlineno, offset);
	}
	/* Instructions the compiler gave no line (3.10's GEN_START, a
	 * coroutine's prologue) belong to the function's first line. */
	if (!line && !ci->linetable_cut)
		line = ci->firstlineno;
	if (!line)
		s->stats.no_line++;
	out->name = ci->qualname;
	out->file = ci->filename;
	out->line = line;
	out->start_line = ci->firstlineno;
	return 0;
}

struct prune {
	const struct symbolizer *s;
	bool (*keep_gen)(void *ctx, __u32 gen);
	void *ctx;
	uint32_t max_idle;
	struct code_key *dead;
	size_t n, cap;
};

static int collect_prunable(const void *key, void *value, void *arg)
{
	struct prune *p = arg;
	const struct code_key *k = key;
	const struct code_info *ci = value;

	if (p->keep_gen(p->ctx, k->gen) && p->s->epoch - ci->used_epoch <= p->max_idle)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct code_key *d = realloc(p->dead, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		p->dead = d;
		p->cap = cap;
	}
	p->dead[p->n++] = *k;
	return 0;
}

int symbolizer__prune(struct symbolizer *s, bool (*keep_gen)(void *ctx, __u32 gen), void *ctx,
		      uint32_t max_idle)
{
	struct prune p = {.s = s, .keep_gen = keep_gen, .ctx = ctx, .max_idle = max_idle};
	int err = hashmap__each(s->codes, collect_prunable, &p);

	for (size_t i = 0; i < p.n; i++) {
		code_info__free(hashmap__remove(s->codes, &p.dead[i]));
		s->stats.codes--;
	}
	free(p.dead);
	s->epoch++;
	return err;
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->stats;
}
