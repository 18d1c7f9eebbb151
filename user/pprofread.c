// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof reader (pprofread.h).
 *
 * The protobuf is walked with a bounds-checked cursor, three times over
 * the top-level message:
 *   1. count the repeated fields and the string bytes, read the scalars;
 *   2. copy the string table (NUL-terminated, into one arena), read the
 *      sample types, functions and locations into arrays sized by step 1;
 *      sort functions and locations by id, resolve every reference;
 *   3. turn each sample into frames (leaf first) and add it to the profile.
 * Every allocation is bounded by the input size or by the limits in the
 * header. Field numbers are those of profile.proto.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "array.h"
#include "pprof_proto.h"
#include "pprofread.h"
#include "profile.h"

#define ADDR_NAME_LEN 24 /* "0x" + 16 hex digits + NUL, rounded up */

struct cur {
	const uint8_t *p;
	const uint8_t *end;
};

struct func {
	uint64_t id;
	uint64_t name, system_name, file; /* string indexes */
	uint64_t start_line;		  /* an int64 on the wire */
};

struct line {
	uint64_t func_id; /* resolved to an index into funcs after sorting */
	size_t func;
	uint64_t line; /* an int64 on the wire */
};

struct loc {
	uint64_t id;
	uint64_t address;
	size_t line_off;
	size_t nlines;
};

struct value_type {
	uint64_t type, unit;
};

struct reader {
	char *why;
	size_t whylen;

	const char **strs;
	size_t nstrs;
	char *arena;
	size_t arena_len;

	struct value_type *types;
	size_t ntypes;
	struct value_type period_type;
	uint64_t period, default_type;
	int64_t time_ns, duration_ns;
	size_t value_index;

	struct func *funcs;
	size_t nfuncs;
	struct loc *locs;
	size_t nlocs;
	struct line *lines;
	size_t nlines, lines_cap;
	size_t nsamples;

	uint64_t frames_total;
	struct profile_frame *frames; /* PPROFREAD_MAX_DEPTH */
	char (*addr_names)[ADDR_NAME_LEN];
};

static int fail(struct reader *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (r->why && r->whylen && !r->why[0]) {
		va_start(ap, fmt);
		vsnprintf(r->why, r->whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- wire format ---- */

static int rd_varint(struct cur *c, uint64_t *v)
{
	uint64_t val = 0;

	for (unsigned int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (c->p == c->end)
			return -EBADMSG;
		b = *c->p++;
		if (shift == 63 && b > 1)
			return -EBADMSG;
		val |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = val;
			return 0;
		}
	}
	return -EBADMSG;
}

static int rd_tag(struct cur *c, uint64_t *field, unsigned int *wire)
{
	uint64_t tag;

	if (rd_varint(c, &tag))
		return -EBADMSG;
	*field = tag >> 3;
	*wire = (unsigned int)(tag & 7);
	return *field == 0 || *field > 0x1fffffff ? -EBADMSG : 0;
}

static int rd_len(struct cur *c, struct cur *sub)
{
	uint64_t n;

	if (rd_varint(c, &n) || n > (uint64_t)(c->end - c->p))
		return -EBADMSG;
	sub->p = c->p;
	sub->end = c->p + n;
	c->p += n;
	return 0;
}

static int skip_field(struct cur *c, unsigned int wire)
{
	struct cur sub;
	uint64_t v;
	size_t n;

	switch (wire) {
	case WIRE_VARINT:
		return rd_varint(c, &v);
	case WIRE_LEN:
		return rd_len(c, &sub);
	case WIRE_I64:
		n = 8;
		break;
	case WIRE_I32:
		n = 4;
		break;
	default:
		return -EBADMSG; /* groups (3, 4) are not used by profile.proto */
	}
	if ((size_t)(c->end - c->p) < n)
		return -EBADMSG;
	c->p += n;
	return 0;
}

/* A singular varint field. */
static int rd_uint(struct cur *c, unsigned int wire, uint64_t *v)
{
	return wire == WIRE_VARINT ? rd_varint(c, v) : -EBADMSG;
}

/* A singular embedded message. */
static int rd_msg(struct cur *c, unsigned int wire, struct cur *sub)
{
	return wire == WIRE_LEN ? rd_len(c, sub) : -EBADMSG;
}

/*
 * One element (unpacked) or all elements (packed) of a repeated varint
 * field: calls fn for each. Stops at fn's first non-zero return.
 */
static int rd_repeated(struct cur *c, unsigned int wire, int (*fn)(void *ctx, uint64_t v),
		       void *ctx)
{
	struct cur sub;
	uint64_t v;
	int err;

	if (wire == WIRE_VARINT)
		return rd_varint(c, &v) ? -EBADMSG : fn(ctx, v);
	if (wire != WIRE_LEN || rd_len(c, &sub))
		return -EBADMSG;
	while (sub.p < sub.end) {
		if (rd_varint(&sub, &v))
			return -EBADMSG;
		err = fn(ctx, v);
		if (err)
			return err;
	}
	return 0;
}

/* A varint field of a message and where its value goes. */
struct scalar {
	uint64_t field;
	uint64_t *dst;
};

/*
 * Read a message: the varint fields listed in want into their places, the
 * length-delimited field sub_field (if not 0) through on_sub, everything
 * else skipped.
 */
static int rd_fields(struct cur *msg, const struct scalar *want, size_t nwant, uint64_t sub_field,
		     int (*on_sub)(void *ctx, struct cur *sub), void *ctx)
{
	uint64_t field;
	unsigned int wire;
	struct cur sub;

	while (msg->p < msg->end) {
		int err = rd_tag(msg, &field, &wire);
		size_t i;

		if (err)
			return err;
		for (i = 0; i < nwant && want[i].field != field; i++)
			;
		if (i < nwant)
			err = rd_uint(msg, wire, want[i].dst);
		else if (sub_field && field == sub_field) {
			err = rd_msg(msg, wire, &sub);
			if (!err)
				err = on_sub(ctx, &sub);
		} else
			err = skip_field(msg, wire);
		if (err)
			return err;
	}
	return 0;
}

static int rd_value_type(struct cur *msg, struct value_type *vt)
{
	const struct scalar want[] = {{VALUE_TYPE_TYPE, &vt->type}, {VALUE_TYPE_UNIT, &vt->unit}};

	return rd_fields(msg, want, 2, 0, NULL, NULL);
}

/* ---- pass 1: counts and scalars ---- */

static int pass_counts(struct reader *r, struct cur c)
{
	uint64_t field;
	unsigned int wire;
	struct cur sub;
	int err = 0;

	while (c.p < c.end && !err) {
		err = rd_tag(&c, &field, &wire);
		if (err)
			break;
		switch (field) {
		case PROFILE_SAMPLE_TYPE:
		case PROFILE_SAMPLE:
		case PROFILE_LOCATION:
		case PROFILE_FUNCTION:
		case PROFILE_STRING_TABLE:
			err = rd_msg(&c, wire, &sub);
			if (err)
				break;
			if (field == PROFILE_SAMPLE_TYPE)
				r->ntypes++;
			else if (field == PROFILE_SAMPLE)
				r->nsamples++;
			else if (field == PROFILE_LOCATION)
				r->nlocs++;
			else if (field == PROFILE_FUNCTION)
				r->nfuncs++;
			else {
				r->nstrs++;
				r->arena_len += (size_t)(sub.end - sub.p) + 1;
			}
			break;
		case PROFILE_PERIOD_TYPE:
			err = rd_msg(&c, wire, &sub);
			if (!err)
				err = rd_value_type(&sub, &r->period_type);
			break;
		case PROFILE_TIME_NANOS:
		case PROFILE_DURATION_NANOS:
		case PROFILE_PERIOD:
		case PROFILE_DEFAULT_SAMPLE_TYPE: {
			uint64_t v;

			err = rd_uint(&c, wire, &v);
			if (field == PROFILE_TIME_NANOS)
				r->time_ns = (int64_t)v;
			else if (field == PROFILE_DURATION_NANOS)
				r->duration_ns = (int64_t)v;
			else if (field == PROFILE_PERIOD)
				r->period = v;
			else
				r->default_type = v;
			break;
		}
		default:
			err = skip_field(&c, wire);
		}
	}
	if (err)
		return fail(r, -EBADMSG, "not a pprof profile (malformed protobuf)");
	return 0;
}

/* ---- pass 2: strings, sample types, functions, locations ---- */

static int rd_function(struct cur *msg, struct func *f)
{
	const struct scalar want[] = {
	    {FUNCTION_ID, &f->id},
	    {FUNCTION_NAME, &f->name},
	    {FUNCTION_SYSTEM_NAME, &f->system_name},
	    {FUNCTION_FILENAME, &f->file},
	    {FUNCTION_START_LINE, &f->start_line},
	};

	return rd_fields(msg, want, 5, 0, NULL, NULL);
}

static int add_line(void *ctx, struct cur *msg)
{
	struct reader *r = ctx;
	struct line ln = {0};
	const struct scalar want[] = {{LINE_FUNCTION_ID, &ln.func_id}, {LINE_LINE, &ln.line}};
	int err = rd_fields(msg, want, 2, 0, NULL, NULL);

	if (!err)
		err = array__reserve((void **)&r->lines, &r->lines_cap, r->nlines + 1,
				     sizeof(*r->lines));
	if (err)
		return err;
	r->lines[r->nlines++] = ln;
	return 0;
}

static int rd_location(struct reader *r, struct cur *msg, struct loc *l)
{
	const struct scalar want[] = {{LOCATION_ID, &l->id}, {LOCATION_ADDRESS, &l->address}};
	int err;

	l->line_off = r->nlines;
	err = rd_fields(msg, want, 2, LOCATION_LINE, add_line, r);
	l->nlines = r->nlines - l->line_off;
	return err;
}

static int pass_tables(struct reader *r, struct cur c)
{
	size_t ntypes = 0, nfuncs = 0, nlocs = 0, arena_off = 0;
	uint64_t field;
	unsigned int wire;
	struct cur sub;
	int err = 0;

	r->nstrs = 0;
	while (c.p < c.end && !err) {
		err = rd_tag(&c, &field, &wire);
		if (!err && field != PROFILE_SAMPLE_TYPE && field != PROFILE_FUNCTION &&
		    field != PROFILE_LOCATION && field != PROFILE_STRING_TABLE) {
			err = skip_field(&c, wire);
			continue;
		}
		if (!err)
			err = rd_msg(&c, wire, &sub);
		if (err)
			break;
		if (field == PROFILE_SAMPLE_TYPE) {
			err = rd_value_type(&sub, &r->types[ntypes++]);
		} else if (field == PROFILE_FUNCTION) {
			err = rd_function(&sub, &r->funcs[nfuncs++]);
		} else if (field == PROFILE_LOCATION) {
			err = rd_location(r, &sub, &r->locs[nlocs++]);
		} else {
			size_t n = (size_t)(sub.end - sub.p);

			memcpy(r->arena + arena_off, sub.p, n);
			r->arena[arena_off + n] = '\0';
			r->strs[r->nstrs++] = r->arena + arena_off;
			arena_off += n + 1;
		}
	}
	if (err == -ENOMEM)
		return fail(r, err, "out of memory");
	if (err)
		return fail(r, -EBADMSG, "not a pprof profile (malformed protobuf)");
	return 0;
}

static int cmp_func(const void *a, const void *b)
{
	const struct func *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_loc(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static const struct func *find_func(const struct reader *r, uint64_t id)
{
	struct func key = {.id = id};

	return bsearch(&key, r->funcs, r->nfuncs, sizeof(*r->funcs), cmp_func);
}

static const struct loc *find_loc(const struct reader *r, uint64_t id)
{
	struct loc key = {.id = id};

	return bsearch(&key, r->locs, r->nlocs, sizeof(*r->locs), cmp_loc);
}

static bool str_ok(const struct reader *r, uint64_t idx)
{
	return idx < r->nstrs;
}

/* Check every reference and pick the sample value to read. */
static int resolve(struct reader *r)
{
	if (!r->nstrs || r->strs[0][0])
		return fail(r, -EBADMSG,
			    "not a pprof profile (its string table does not start with \"\")");
	if (!r->ntypes)
		return fail(r, -EBADMSG, "not a pprof profile (no sample types)");
	for (size_t i = 0; i < r->ntypes; i++) {
		if (!str_ok(r, r->types[i].type) || !str_ok(r, r->types[i].unit))
			return fail(r, -EBADMSG, "malformed pprof: string index out of range");
	}
	if (!str_ok(r, r->period_type.type) || !str_ok(r, r->period_type.unit) ||
	    !str_ok(r, r->default_type))
		return fail(r, -EBADMSG, "malformed pprof: string index out of range");

	r->value_index = r->ntypes - 1;
	for (size_t i = 0; i < r->ntypes; i++) {
		if (r->default_type && r->types[i].type == r->default_type)
			r->value_index = i;
	}
	for (size_t i = 0; i < r->ntypes; i++) {
		if (strcmp(r->strs[r->types[i].type], "samples") == 0) {
			r->value_index = i;
			break;
		}
	}

	qsort(r->funcs, r->nfuncs, sizeof(*r->funcs), cmp_func);
	for (size_t i = 0; i < r->nfuncs; i++) {
		const struct func *f = &r->funcs[i];

		if (!f->id || (i && f->id == r->funcs[i - 1].id))
			return fail(r, -EBADMSG,
				    "malformed pprof: function id %" PRIu64
				    " is zero or not unique",
				    f->id);
		if (!str_ok(r, f->name) || !str_ok(r, f->system_name) || !str_ok(r, f->file))
			return fail(r, -EBADMSG, "malformed pprof: string index out of range");
	}
	for (size_t i = 0; i < r->nlines; i++) {
		const struct func *f = find_func(r, r->lines[i].func_id);

		if (!f)
			return fail(r, -EBADMSG,
				    "malformed pprof: a line names function %" PRIu64
				    ", which does not exist",
				    r->lines[i].func_id);
		r->lines[i].func = (size_t)(f - r->funcs);
	}
	qsort(r->locs, r->nlocs, sizeof(*r->locs), cmp_loc);
	for (size_t i = 0; i < r->nlocs; i++) {
		if (!r->locs[i].id || (i && r->locs[i].id == r->locs[i - 1].id))
			return fail(r, -EBADMSG,
				    "malformed pprof: location id %" PRIu64
				    " is zero or not unique",
				    r->locs[i].id);
	}
	return 0;
}

/* ---- pass 3: samples ---- */

struct sample_ctx {
	struct reader *r;
	size_t nframes;
	bool truncated;
	size_t nvalues;
	uint64_t value;
	bool negative;
};

static int on_location(void *ctx, uint64_t id)
{
	struct sample_ctx *s = ctx;
	struct reader *r = s->r;
	const struct loc *l = find_loc(r, id);
	size_t n;

	if (!l)
		return fail(r, -EBADMSG,
			    "malformed pprof: a sample names location %" PRIu64
			    ", which does not exist",
			    id);
	if (s->truncated)
		return 0;
	n = l->nlines ? l->nlines : 1;
	for (size_t j = 0; j < n; j++) {
		struct profile_frame *fr;

		if (s->nframes == PPROFREAD_MAX_DEPTH - 1) {
			s->truncated = true;
			r->frames[s->nframes++] = (struct profile_frame){.name = "[truncated]"};
			break;
		}
		fr = &r->frames[s->nframes];
		if (l->nlines) {
			const struct line *ln = &r->lines[l->line_off + j];
			const struct func *f = &r->funcs[ln->func];
			const char *name = r->strs[f->name];

			if (!*name)
				name = r->strs[f->system_name];
			*fr = (struct profile_frame){
			    .name = *name ? name : "?",
			    .file = *r->strs[f->file] ? r->strs[f->file] : NULL,
			    .line = (int64_t)ln->line,
			    .start_line = (int64_t)f->start_line,
			};
		} else {
			snprintf(r->addr_names[s->nframes], ADDR_NAME_LEN, "0x%" PRIx64,
				 l->address);
			*fr = (struct profile_frame){.name = r->addr_names[s->nframes]};
		}
		s->nframes++;
	}
	return 0;
}

static int on_value(void *ctx, uint64_t v)
{
	struct sample_ctx *s = ctx;

	if (s->nvalues == s->r->value_index) {
		s->value = v;
		s->negative = (int64_t)v < 0;
	}
	s->nvalues++;
	return 0;
}

static int rd_label(struct reader *r, struct cur *msg, struct profile_labels *labels)
{
	uint64_t key = 0, str = 0, num = 0;
	const struct scalar want[] = {{LABEL_KEY, &key}, {LABEL_STR, &str}, {LABEL_NUM, &num}};
	const char *k;
	int err = rd_fields(msg, want, 3, 0, NULL, NULL);

	if (err)
		return err;
	if (!str_ok(r, key) || !str_ok(r, str))
		return fail(r, -EBADMSG, "malformed pprof: string index out of range");
	k = r->strs[key];
	if (strcmp(k, "pid") == 0)
		labels->pid = (int64_t)num;
	else if (strcmp(k, "tid") == 0)
		labels->tid = (int64_t)num;
	else if (strcmp(k, "ppid") == 0)
		labels->ppid = (int64_t)num;
	else if (strcmp(k, "comm") == 0)
		labels->comm = r->strs[str];
	else if (strcmp(k, "thread_name") == 0)
		labels->thread_name = r->strs[str];
	else if (strcmp(k, "container_id") == 0)
		labels->container = r->strs[str];
	else if (strcmp(k, "service") == 0)
		labels->service = r->strs[str];
	return 0;
}

static int rd_sample(struct reader *r, struct cur *msg, struct profile *p)
{
	struct sample_ctx s = {.r = r};
	struct profile_labels labels = {0};
	uint64_t field;
	unsigned int wire;
	struct cur sub;
	int err = 0;

	while (msg->p < msg->end && !err) {
		err = rd_tag(msg, &field, &wire);
		if (err)
			break;
		if (field == SAMPLE_LOCATION_ID)
			err = rd_repeated(msg, wire, on_location, &s);
		else if (field == SAMPLE_VALUE)
			err = rd_repeated(msg, wire, on_value, &s);
		else if (field == SAMPLE_LABEL) {
			err = rd_msg(msg, wire, &sub);
			if (!err)
				err = rd_label(r, &sub, &labels);
		} else
			err = skip_field(msg, wire);
	}
	if (err)
		return fail(r, -EBADMSG, "not a pprof profile (malformed sample)");
	if (s.nvalues != r->ntypes)
		return fail(r, -EBADMSG, "malformed pprof: a sample has %zu values for %zu types",
			    s.nvalues, r->ntypes);
	if (s.negative)
		return fail(r, -EBADMSG, "pprof with negative sample values is not supported");
	r->frames_total += s.nframes;
	if (r->frames_total > PPROFREAD_MAX_FRAMES)
		return fail(r, -E2BIG, "profile too large (over %u frames in all samples)",
			    PPROFREAD_MAX_FRAMES);
	err = profile__add(p, &labels, r->frames, s.nframes, s.value);
	if (err == -EOVERFLOW)
		return fail(r, -EBADMSG, "malformed pprof: sample values overflow");
	if (err)
		return fail(r, err, "out of memory");
	return 0;
}

struct samples_ctx {
	struct reader *r;
	struct profile *p;
};

static int on_sample(void *ctx, struct cur *msg)
{
	struct samples_ctx *c = ctx;

	return rd_sample(c->r, msg, c->p);
}

static int pass_samples(struct reader *r, struct cur c, struct profile *p)
{
	struct samples_ctx ctx = {.r = r, .p = p};
	int err = rd_fields(&c, NULL, 0, PROFILE_SAMPLE, on_sample, &ctx);

	return err ? fail(r, err, "not a pprof profile (malformed protobuf)") : 0;
}

static int alloc_tables(struct reader *r)
{
	r->strs = calloc(r->nstrs ? r->nstrs : 1, sizeof(*r->strs));
	r->arena = malloc(r->arena_len ? r->arena_len : 1);
	r->types = calloc(r->ntypes ? r->ntypes : 1, sizeof(*r->types));
	r->funcs = calloc(r->nfuncs ? r->nfuncs : 1, sizeof(*r->funcs));
	r->locs = calloc(r->nlocs ? r->nlocs : 1, sizeof(*r->locs));
	r->frames = calloc(PPROFREAD_MAX_DEPTH, sizeof(*r->frames));
	r->addr_names = calloc(PPROFREAD_MAX_DEPTH, sizeof(*r->addr_names));
	if (!r->strs || !r->arena || !r->types || !r->funcs || !r->locs || !r->frames ||
	    !r->addr_names)
		return fail(r, -ENOMEM, "out of memory");
	return 0;
}

static void reader_free(struct reader *r)
{
	free(r->strs);
	free(r->arena);
	free(r->types);
	free(r->funcs);
	free(r->locs);
	free(r->lines);
	free(r->frames);
	free(r->addr_names);
}

static int parse_protobuf(struct reader *r, const uint8_t *data, size_t len, struct profile **out)
{
	struct cur c = {.p = data, .end = data + len};
	struct profile_meta meta = {0};
	struct profile *p = NULL;
	int err;

	if (!len)
		return fail(r, -EBADMSG, "not a pprof profile (empty)");
	err = pass_counts(r, c);
	if (!err)
		err = alloc_tables(r);
	if (!err)
		err = pass_tables(r, c);
	if (!err)
		err = resolve(r);
	if (err)
		return err;

	if (strcmp(r->strs[r->period_type.unit], "nanoseconds") == 0)
		meta.period_ns = r->period;
	meta.time_ns = r->time_ns;
	meta.duration_ns = r->duration_ns;
	p = profile__new(&meta);
	if (!p)
		return fail(r, -ENOMEM, "out of memory");
	err = pass_samples(r, c, p);
	if (err) {
		profile__free(p);
		return err;
	}
	*out = p;
	return 0;
}

/* ---- gzip ---- */

static bool is_gzip(const uint8_t *data, size_t len)
{
	return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

/* Gunzip (one or more members) into a new buffer of at most PPROFREAD_MAX_BYTES. */
static int gunzip(struct reader *r, const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
	z_stream zs = {0};
	uint8_t *buf = NULL;
	size_t cap = 0, used = 0;
	int err = 0, zret;

	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return fail(r, -ENOMEM, "out of memory");
	zs.next_in = (Bytef *)data;
	for (;;) {
		size_t in_left = len - (size_t)((const uint8_t *)zs.next_in - data);

		if (!zs.avail_in && in_left)
			zs.avail_in = in_left < UINT32_MAX ? (uInt)in_left : UINT32_MAX;
		if (used == cap) {
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			uint8_t *grown;

			if (cap >= PPROFREAD_MAX_BYTES) {
				err = fail(r, -E2BIG, "profile larger than %u MiB uncompressed",
					   PPROFREAD_MAX_BYTES >> 20);
				break;
			}
			if (ncap > PPROFREAD_MAX_BYTES)
				ncap = PPROFREAD_MAX_BYTES;
			grown = realloc(buf, ncap);
			if (!grown) {
				err = fail(r, -ENOMEM, "out of memory");
				break;
			}
			buf = grown;
			cap = ncap;
		}
		zs.next_out = buf + used;
		zs.avail_out = (uInt)(cap - used < UINT32_MAX ? cap - used : UINT32_MAX);
		zret = inflate(&zs, Z_NO_FLUSH);
		used = (size_t)(zs.next_out - buf);
		if (zret == Z_STREAM_END) {
			in_left = len - (size_t)((const uint8_t *)zs.next_in - data);
			if (!in_left)
				break;
			if (!is_gzip(zs.next_in, in_left)) {
				err = fail(r, -EBADMSG,
					   "not a pprof profile (data after the gzip stream)");
				break;
			}
			inflateReset(&zs);
			continue;
		}
		if (zret == Z_MEM_ERROR) {
			err = fail(r, -ENOMEM, "out of memory");
			break;
		}
		if (zret == Z_DATA_ERROR || zret == Z_NEED_DICT || zret == Z_STREAM_ERROR) {
			err = fail(r, -EBADMSG, "corrupt gzip data");
			break;
		}
		if (zret == Z_BUF_ERROR && zs.avail_out) {
			/* No progress with output room left: the input ended early. */
			err = fail(r, -EBADMSG, "truncated gzip data");
			break;
		}
		if (!zs.avail_in && len == (size_t)((const uint8_t *)zs.next_in - data) &&
		    zs.avail_out) {
			err = fail(r, -EBADMSG, "truncated gzip data");
			break;
		}
	}
	inflateEnd(&zs);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*outlen = used;
	return 0;
}

int pprofread__parse(const void *data, size_t len, struct profile **out, char *why, size_t whylen)
{
	struct reader r = {.why = why, .whylen = whylen};
	uint8_t *raw = NULL;
	size_t raw_len = len;
	int err;

	if (why && whylen)
		why[0] = '\0';
	if (!out || (len && !data))
		return -EINVAL;
	if (is_gzip(data, len)) {
		err = gunzip(&r, data, len, &raw, &raw_len);
		if (err)
			return err;
		data = raw;
	} else if (len > PPROFREAD_MAX_BYTES) {
		return fail(&r, -E2BIG, "profile larger than %u MiB", PPROFREAD_MAX_BYTES >> 20);
	}
	err = parse_protobuf(&r, data, raw_len, out);
	reader_free(&r);
	free(raw);
	return err;
}

int pprofread__file(const char *path, struct profile **out, char *why, size_t whylen)
{
	struct reader r = {.why = why, .whylen = whylen};
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, err = 0;

	if (why && whylen)
		why[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(&r, -errno, "%s", strerror(errno));
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			uint8_t *grown;

			if (cap > PPROFREAD_MAX_BYTES) {
				err = fail(&r, -E2BIG, "file larger than %u MiB",
					   PPROFREAD_MAX_BYTES >> 20);
				goto out_free;
			}
			grown = realloc(buf, ncap);
			if (!grown) {
				err = fail(&r, -ENOMEM, "out of memory");
				goto out_free;
			}
			buf = grown;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = fail(&r, -errno, "%s", strerror(errno));
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	err = pprofread__parse(buf, len, out, why, whylen);
out_free:
	free(buf);
	close(fd);
	return err;
}
