// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the pprof writer (user/pprof.c): encode, decode back with a
 * small protobuf reader written here, and compare with the profile. The gzip
 * output is inflated and compared with the plain encoding. If
 * PYBPF_PPROFCHECK names an executable, a written profile is also run
 * through it (google/pprof's own parser).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "pprof.h"
#include "profile.h"
#include "test.h"

extern char **environ;

/* ---- a minimal protobuf wire reader ---- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/*
 * Next field: its number, and either its varint value (wire type 0) or its
 * payload as a sub-reader (wire type 2). Other wire types are not produced
 * by the writer and count as malformed. false at the end or on error.
 */
static bool rd_field(struct rd *r, unsigned int *field, unsigned int *wire, uint64_t *v,
		     struct rd *sub)
{
	uint64_t key, len;

	if (r->bad || r->p >= r->end)
		return false;
	key = rd_varint(r);
	*field = (unsigned int)(key >> 3);
	*wire = (unsigned int)(key & 7);
	if (*wire == 0) {
		*v = rd_varint(r);
	} else if (*wire == 2) {
		len = rd_varint(r);
		if (!r->bad && len > (uint64_t)(r->end - r->p))
			r->bad = true;
		if (r->bad)
			return false;
		sub->p = r->p;
		sub->end = r->p + len;
		sub->bad = false;
		r->p += len;
	} else {
		r->bad = true;
	}
	return !r->bad;
}

/* A repeated scalar, packed (wire 2) or not (wire 0), appended to *arr. */
static void rd_repeated(struct rd *r, unsigned int wire, uint64_t v, struct rd *sub, uint64_t **arr,
			size_t *n)
{
	if (wire == 0) {
		*arr = realloc(*arr, (*n + 1) * sizeof(**arr));
		(*arr)[(*n)++] = v;
		return;
	}
	while (sub->p < sub->end && !sub->bad) {
		uint64_t x = rd_varint(sub);

		*arr = realloc(*arr, (*n + 1) * sizeof(**arr));
		(*arr)[(*n)++] = x;
	}
	if (sub->bad)
		r->bad = true;
}

/* ---- decoded profile ---- */

struct d_label {
	int64_t key, str, num, num_unit;
};

struct d_sample {
	uint64_t *locs;
	size_t nlocs;
	uint64_t *values;
	size_t nvalues;
	struct d_label labels[8];
	size_t nlabels;
};

struct d_line {
	uint64_t function_id;
	int64_t line;
};

struct d_location {
	uint64_t id, mapping_id, address;
	struct d_line lines[4];
	size_t nlines;
	bool is_folded;
};

struct d_function {
	uint64_t id;
	int64_t name, system_name, filename, start_line;
};

struct d_value_type {
	int64_t type, unit;
};

struct decoded {
	char **strs;
	size_t nstrs;
	struct d_value_type sample_types[4];
	size_t nsample_types;
	struct d_sample *samples;
	size_t nsamples;
	struct d_location *locs;
	size_t nlocs;
	struct d_function *funcs;
	size_t nfuncs;
	size_t nmappings;
	int64_t time_nanos, duration_nanos, period;
	struct d_value_type period_type;
	bool has_period_type;
	int64_t default_sample_type;
	size_t ncomments;
	int64_t drop_frames, keep_frames;
};

static struct d_value_type decode_value_type(struct rd *r, bool *bad)
{
	struct d_value_type vt = {0};
	unsigned int field, wire;
	uint64_t v;
	struct rd sub;

	while (rd_field(r, &field, &wire, &v, &sub)) {
		if (field == 1 && wire == 0)
			vt.type = (int64_t)v;
		else if (field == 2 && wire == 0)
			vt.unit = (int64_t)v;
		else
			*bad = true;
	}
	if (r->bad)
		*bad = true;
	return vt;
}

static void decode_label(struct rd *r, struct d_label *l, bool *bad)
{
	unsigned int field, wire;
	uint64_t v;
	struct rd sub;

	memset(l, 0, sizeof(*l));
	while (rd_field(r, &field, &wire, &v, &sub)) {
		if (wire != 0)
			*bad = true;
		else if (field == 1)
			l->key = (int64_t)v;
		else if (field == 2)
			l->str = (int64_t)v;
		else if (field == 3)
			l->num = (int64_t)v;
		else if (field == 4)
			l->num_unit = (int64_t)v;
		else
			*bad = true;
	}
	if (r->bad)
		*bad = true;
}

static void decode_sample(struct rd *r, struct d_sample *s, bool *bad)
{
	unsigned int field, wire;
	uint64_t v;
	struct rd sub;

	memset(s, 0, sizeof(*s));
	while (rd_field(r, &field, &wire, &v, &sub)) {
		if (field == 1)
			rd_repeated(r, wire, v, &sub, &s->locs, &s->nlocs);
		else if (field == 2)
			rd_repeated(r, wire, v, &sub, &s->values, &s->nvalues);
		else if (field == 3 && wire == 2 && s->nlabels < 8)
			decode_label(&sub, &s->labels[s->nlabels++], bad);
		else
			*bad = true;
	}
	if (r->bad)
		*bad = true;
}

static void decode_location(struct rd *r, struct d_location *l, bool *bad)
{
	unsigned int field, wire, f2, w2;
	uint64_t v, v2;
	struct rd sub, sub2;

	memset(l, 0, sizeof(*l));
	while (rd_field(r, &field, &wire, &v, &sub)) {
		if (field == 1 && wire == 0) {
			l->id = v;
		} else if (field == 2 && wire == 0) {
			l->mapping_id = v;
		} else if (field == 3 && wire == 0) {
			l->address = v;
		} else if (field == 5 && wire == 0) {
			l->is_folded = v != 0;
		} else if (field == 4 && wire == 2 && l->nlines < 4) {
			struct d_line *ln = &l->lines[l->nlines++];

			while (rd_field(&sub, &f2, &w2, &v2, &sub2)) {
				if (f2 == 1 && w2 == 0)
					ln->function_id = v2;
				else if (f2 == 2 && w2 == 0)
					ln->line = (int64_t)v2;
				else
					*bad = true;
			}
			if (sub.bad)
				*bad = true;
		} else {
			*bad = true;
		}
	}
	if (r->bad)
		*bad = true;
}

static void decode_function(struct rd *r, struct d_function *f, bool *bad)
{
	unsigned int field, wire;
	uint64_t v;
	struct rd sub;

	memset(f, 0, sizeof(*f));
	while (rd_field(r, &field, &wire, &v, &sub)) {
		if (wire != 0)
			*bad = true;
		else if (field == 1)
			f->id = v;
		else if (field == 2)
			f->name = (int64_t)v;
		else if (field == 3)
			f->system_name = (int64_t)v;
		else if (field == 4)
			f->filename = (int64_t)v;
		else if (field == 5)
			f->start_line = (int64_t)v;
		else
			*bad = true;
	}
	if (r->bad)
		*bad = true;
}

/* Returns false if the data is malformed or has fields the writer should not produce. */
static bool decode(const uint8_t *buf, size_t len, struct decoded *d)
{
	struct rd r = {buf, buf + len, false}, sub;
	unsigned int field, wire;
	bool bad = false;
	uint64_t v;

	memset(d, 0, sizeof(*d));
	while (rd_field(&r, &field, &wire, &v, &sub)) {
		switch (field) {
		case 1:
			if (wire != 2 || d->nsample_types == 4)
				bad = true;
			else
				d->sample_types[d->nsample_types++] = decode_value_type(&sub, &bad);
			break;
		case 2:
			d->samples = realloc(d->samples, (d->nsamples + 1) * sizeof(*d->samples));
			decode_sample(&sub, &d->samples[d->nsamples++], &bad);
			bad |= wire != 2;
			break;
		case 3:
			d->nmappings++;
			break;
		case 4:
			d->locs = realloc(d->locs, (d->nlocs + 1) * sizeof(*d->locs));
			decode_location(&sub, &d->locs[d->nlocs++], &bad);
			bad |= wire != 2;
			break;
		case 5:
			d->funcs = realloc(d->funcs, (d->nfuncs + 1) * sizeof(*d->funcs));
			decode_function(&sub, &d->funcs[d->nfuncs++], &bad);
			bad |= wire != 2;
			break;
		case 6:
			if (wire != 2) {
				bad = true;
				break;
			}
			d->strs = realloc(d->strs, (d->nstrs + 1) * sizeof(*d->strs));
			d->strs[d->nstrs++] =
			    strndup((const char *)sub.p, (size_t)(sub.end - sub.p));
			break;
		case 7:
			d->drop_frames = (int64_t)v;
			break;
		case 8:
			d->keep_frames = (int64_t)v;
			break;
		case 9:
			d->time_nanos = (int64_t)v;
			break;
		case 10:
			d->duration_nanos = (int64_t)v;
			break;
		case 11:
			d->has_period_type = true;
			d->period_type = decode_value_type(&sub, &bad);
			break;
		case 12:
			d->period = (int64_t)v;
			break;
		case 13:
			d->ncomments++;
			break;
		case 14:
			d->default_sample_type = (int64_t)v;
			break;
		default:
			bad = true;
		}
	}
	return !r.bad && !bad && r.p == r.end;
}

static void decoded_free(struct decoded *d)
{
	for (size_t i = 0; i < d->nstrs; i++)
		free(d->strs[i]);
	for (size_t i = 0; i < d->nsamples; i++) {
		free(d->samples[i].locs);
		free(d->samples[i].values);
	}
	free(d->strs);
	free(d->samples);
	free(d->locs);
	free(d->funcs);
}

/* String at index i, or NULL when out of range. */
static const char *str_at(const struct decoded *d, int64_t i)
{
	return i >= 0 && (size_t)i < d->nstrs ? d->strs[i] : NULL;
}

/* The string label `key` of a sample, NULL if absent; *count says how many there were. */
static const char *label_str(const struct decoded *d, const struct d_sample *s, const char *key,
			     int *count)
{
	const char *found = NULL;

	*count = 0;
	for (size_t i = 0; i < s->nlabels; i++) {
		const char *k = str_at(d, s->labels[i].key);

		if (k && !strcmp(k, key) && s->labels[i].str) {
			found = str_at(d, s->labels[i].str);
			(*count)++;
		}
	}
	return found;
}

/* The sample has the string label `key` once, valued `want`; none if want is NULL. */
static void check_label_str(const struct decoded *d, const struct d_sample *s, const char *key,
			    const char *want)
{
	int count;
	const char *found = label_str(d, s, key, &count);

	if (count != (want ? 1 : 0))
		fprintf(stderr, "label %s: %d values\n", key, count);
	CHECK_EQ_INT(count, want ? 1 : 0);
	if (want)
		CHECK_EQ_STR(found, want);
}

static bool label_num(const struct decoded *d, const struct d_sample *s, const char *key,
		      int64_t *num)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		const char *k = str_at(d, s->labels[i].key);

		if (k && !strcmp(k, key) && !s->labels[i].str) {
			*num = s->labels[i].num;
			return true;
		}
	}
	return false;
}

/* ---- fixtures ---- */

static const struct profile_meta meta = {
    .period_ns = 10101010,
    .time_ns = 1700000000123456789,
    .duration_ns = 3000000001,
};

static struct profile *sample_profile(void)
{
	struct profile *p = profile__new(&meta);
	struct profile_labels l1 = {
	    .pid = 4242, .tid = 4242, .comm = "python3", .thread_name = "MainThread"};
	struct profile_labels l2 = {
	    .pid = 4242, .tid = 4250, .comm = "python3", .thread_name = NULL};
	struct profile_labels l3 = {.pid = 77,
				    .tid = 78,
				    .comm = NULL,
				    .thread_name = "w;1\nx",
				    .container = "0123abcd",
				    .service = "api"};
	struct profile_frame s1[] = {
	    {"Worker.run", "/srv/app/worker.py", 41, 30, 0, 0, NULL},
	    {"main", "/srv/app/main.py", 9, 5, 0, 0, NULL},
	    {"<module>", "/srv/app/main.py", 20, 1, 0, 0, NULL},
	};
	struct profile_frame s2[] = {
	    {"<lambda>", "/srv/app/main.py", 0, 0, 0, 0, NULL},
	    {"<module>", "/srv/app/main.py", 20, 1, 0, 0, NULL},
	};

	if (!p)
		return NULL;
	if (profile__add(p, &l1, s1, 3, 7) || profile__add(p, &l2, s1, 3, 2) ||
	    profile__add(p, &l3, s2, 2, 1) || profile__add(p, &l1, s1, 3, 1) ||
	    profile__add(p, &l2, NULL, 0, 5)) {
		profile__free(p);
		return NULL;
	}
	return p;
}

/* Check a decoded encoding against the profile it came from. */
static void check_against(const struct decoded *d, const struct profile *p)
{
	uint64_t period = profile__meta(p)->period_ns;

	CHECK(d->nstrs >= 1);
	if (d->nstrs)
		CHECK_EQ_STR(d->strs[0], "");
	/* no duplicates in the string table */
	for (size_t i = 0; i < d->nstrs; i++)
		for (size_t j = i + 1; j < d->nstrs; j++)
			CHECK(strcmp(d->strs[i], d->strs[j]) != 0);

	CHECK_EQ_INT(d->nsample_types, 2);
	if (d->nsample_types == 2) {
		CHECK_EQ_STR(str_at(d, d->sample_types[0].type), "samples");
		CHECK_EQ_STR(str_at(d, d->sample_types[0].unit), "count");
		CHECK_EQ_STR(str_at(d, d->sample_types[1].type),
			     profile__meta(p)->wall ? "wall" : "cpu");
		CHECK_EQ_STR(str_at(d, d->sample_types[1].unit), "nanoseconds");
	}
	CHECK(d->has_period_type);
	CHECK_EQ_STR(str_at(d, d->period_type.type), profile__meta(p)->wall ? "wall" : "cpu");
	CHECK_EQ_STR(str_at(d, d->period_type.unit), "nanoseconds");
	CHECK_EQ_INT(d->period, period);
	CHECK_EQ_INT(d->time_nanos, profile__meta(p)->time_ns);
	CHECK_EQ_INT(d->duration_nanos, profile__meta(p)->duration_ns);
	CHECK_EQ_INT(d->nmappings, 1); /* the main mapping */
	CHECK_EQ_INT(d->ncomments, 0);
	CHECK_EQ_INT(d->drop_frames, 0);
	CHECK_EQ_INT(d->keep_frames, 0);

	CHECK_EQ_INT(d->nfuncs, profile__function_count(p));
	for (size_t i = 0; i < d->nfuncs && i < profile__function_count(p); i++) {
		const struct d_function *df = &d->funcs[i];
		const struct profile_frame *f = profile__function(p, i + 1);

		CHECK_EQ_INT(df->id, i + 1);
		CHECK_EQ_STR(str_at(d, df->name), f->name ? f->name : "");
		CHECK_EQ_STR(str_at(d, df->filename), f->file ? f->file : "");
		CHECK_EQ_INT(df->system_name, 0);
		CHECK_EQ_INT(df->start_line, f->start_line);
	}

	CHECK_EQ_INT(d->nlocs, profile__location_count(p));
	for (size_t i = 0; i < d->nlocs && i < profile__location_count(p); i++) {
		const struct d_location *dl = &d->locs[i];

		CHECK_EQ_INT(dl->id, i + 1);
		CHECK_EQ_INT(dl->mapping_id, 1);
		CHECK_EQ_INT(dl->address, 0);
		CHECK(!dl->is_folded);
		CHECK_EQ_INT(dl->nlines, 1);
		CHECK_EQ_INT(dl->lines[0].function_id, profile__location_function(p, i + 1));
		CHECK_EQ_INT(dl->lines[0].line, profile__location_line(p, i + 1));
	}

	CHECK_EQ_INT(d->nsamples, profile__sample_count(p));
	for (size_t i = 0; i < d->nsamples && i < profile__sample_count(p); i++) {
		const struct d_sample *ds = &d->samples[i];
		const struct profile_labels *l = profile__sample_labels(p, i);
		uint64_t count = profile__sample_value(p, i);
		const size_t *locs;
		size_t n;
		int64_t num;

		CHECK_EQ_INT(ds->nvalues, 2);
		if (ds->nvalues == 2) {
			CHECK_EQ_INT(ds->values[0], count);
			CHECK_EQ_INT(ds->values[1], profile__sample_ns(p, i));
		}
		locs = profile__sample_locations(p, i, &n);
		CHECK_EQ_INT(ds->nlocs, n);
		for (size_t j = 0; j < n && j < ds->nlocs; j++)
			CHECK_EQ_INT(ds->locs[j], locs[j]);

		CHECK(label_num(d, ds, "pid", &num));
		CHECK_EQ_INT(num, l->pid);
		CHECK(label_num(d, ds, "tid", &num));
		CHECK_EQ_INT(num, l->tid);
		check_label_str(d, ds, "comm", l->comm);
		check_label_str(d, ds, "thread_name", l->thread_name);
		check_label_str(d, ds, "container_id", l->container);
		check_label_str(d, ds, "service", l->service);
		check_label_str(d, ds, "state", l->state);
		check_label_str(d, ds, "wait", l->wait);
		CHECK_EQ_INT(ds->nlabels, 2 + !!l->comm + !!l->thread_name + !!l->container +
					      !!l->service + !!l->state + !!l->wait);
		for (size_t j = 0; j < ds->nlabels; j++)
			CHECK_EQ_INT(ds->labels[j].num_unit, 0);
	}
}

/* ---- tests ---- */

static void test_encode_decode(void)
{
	struct profile *p = sample_profile();
	struct decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool module_seen = false;

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ_INT(pprof__encode(p, &buf, &len), 0);
	CHECK(decode(buf, len, &d));
	check_against(&d, p);

	/* spot checks independent of the profile accessors */
	CHECK_EQ_INT(d.nsamples, 4);
	CHECK_EQ_INT(d.nfuncs, 4);
	CHECK_EQ_INT(d.nlocs, 4);
	if (d.nsamples == 4) {
		CHECK_EQ_INT(d.samples[0].values[0], 8);
		CHECK_EQ_INT(d.samples[0].values[1], 8 * 10101010LL);
		CHECK_EQ_INT(d.samples[0].nlocs, 3);
		CHECK_EQ_INT(d.samples[0].locs[0], 1); /* leaf first */
		CHECK_EQ_INT(d.samples[0].locs[2], 3);
		CHECK_EQ_INT(d.samples[3].nlocs, 0);
		CHECK_EQ_INT(d.samples[3].values[0], 5);
	}
	for (size_t i = 0; i < d.nfuncs; i++) {
		if (!strcmp(str_at(&d, d.funcs[i].name), "<module>")) {
			module_seen = true;
			CHECK_EQ_STR(str_at(&d, d.funcs[i].filename), "/srv/app/main.py");
			CHECK_EQ_INT(d.funcs[i].start_line, 1);
			CHECK_EQ_INT(d.funcs[i].system_name, 0);
		}
	}
	CHECK(module_seen);
	decoded_free(&d);
	free(buf);
	profile__free(p);
}

static void test_empty_profile(void)
{
	struct profile *p = profile__new(&meta);
	struct decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;

	CHECK_EQ_INT(pprof__encode(p, &buf, &len), 0);
	CHECK(len > 0);
	CHECK(decode(buf, len, &d));
	check_against(&d, p);
	CHECK_EQ_INT(d.nsamples, 0);
	decoded_free(&d);
	free(buf);
	profile__free(p);
}

/* Strings that are also label values or file names appear once; NULL names are "". */
static void test_strings_and_defaults(void)
{
	struct profile_meta m = {.period_ns = 1000000000, .time_ns = 0, .duration_ns = 0};
	struct profile *p = profile__new(&m);
	struct profile_labels l = {.pid = 1, .tid = 2, .comm = "samples", .thread_name = "x.py"};
	struct profile_frame fr[] = {{"x.py", "x.py", 0, 0, 0, 0, NULL}, {NULL, NULL, 3, 0, 0, 0, NULL}};
	struct decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;

	CHECK_EQ_INT(profile__add(p, &l, fr, 2, (uint64_t)1 << 40), 0);
	CHECK_EQ_INT(pprof__encode(p, &buf, &len), 0);
	CHECK(decode(buf, len, &d));
	CHECK_EQ_INT(d.time_nanos, 0);
	CHECK_EQ_INT(d.duration_nanos, 0);
	CHECK_EQ_INT(d.period, 1000000000);
	/* "", 15 fixed strings, "x.py"; "samples" is shared with the sample type */
	CHECK_EQ_INT(d.nstrs, 17);
	CHECK_EQ_INT(d.nfuncs, 2);
	if (d.nfuncs == 2) {
		CHECK_EQ_INT(d.funcs[1].name, 0);
		CHECK_EQ_INT(d.funcs[1].filename, 0);
		CHECK_EQ_INT(d.funcs[0].name, d.funcs[0].filename);
	}
	/* count * period overflows int64: saturated */
	if (d.nsamples == 1 && d.samples[0].nvalues == 2) {
		CHECK_EQ_INT(d.samples[0].values[0], (int64_t)1 << 40);
		CHECK_EQ_INT(d.samples[0].values[1], INT64_MAX);
	}
	decoded_free(&d);
	free(buf);
	profile__free(p);
}

/* A profile whose gzip output is well over one 64 KiB chunk and a pipe buffer. */
static struct profile *big_profile(void)
{
	struct profile *p = profile__new(&meta);
	uint64_t x = 88172645463325252ULL;

	if (!p)
		return NULL;
	for (int i = 0; i < 20000; i++) {
		char name[64], file[64];
		struct profile_labels l = {
		    .pid = 1000 + i % 7, .tid = 2000 + i % 13, .comm = "python3"};
		struct profile_frame fr[3] = {
		    {name, file, i % 300, i % 50, 0, 0, NULL},
		    {"helper", "lib.py", i % 17, 1, 0, 0, NULL},
		    {"<module>", "main.py", 1, 1, 0, 0, NULL},
		};

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(name, sizeof(name), "fn_%016llx", (unsigned long long)x);
		snprintf(file, sizeof(file), "/m/%llx.py", (unsigned long long)(x >> 40));
		if (profile__add(p, &l, fr, 3, 1 + (x & 7))) {
			profile__free(p);
			return NULL;
		}
	}
	return p;
}

static uint8_t *gunzip(const uint8_t *in, size_t in_len, size_t *out_len)
{
	z_stream zs = {0};
	size_t cap = 1 << 20, len = 0;
	uint8_t *out = malloc(cap);
	int ret = Z_OK;

	if (!out || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	zs.next_in = (uint8_t *)in;
	zs.avail_in = (uInt)in_len;
	while (ret == Z_OK) {
		if (cap == len) {
			cap *= 2;
			out = realloc(out, cap);
		}
		zs.next_out = out + len;
		zs.avail_out = (uInt)(cap - len);
		ret = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
	}
	/* the whole input must be one gzip member */
	if (ret != Z_STREAM_END || zs.avail_in != 0) {
		free(out);
		out = NULL;
	}
	inflateEnd(&zs);
	*out_len = len;
	return out;
}

static uint8_t *read_fd(int fd, size_t *len)
{
	size_t cap = 4096;
	uint8_t *buf = malloc(cap);
	ssize_t n;

	*len = 0;
	while (buf && (n = read(fd, buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	return buf;
}

static void check_gz_matches(const uint8_t *gz, size_t gz_len, const struct profile *p)
{
	uint8_t *plain = NULL, *raw;
	size_t plain_len = 0, raw_len = 0;

	CHECK(gz_len > 2 && gz[0] == 0x1f && gz[1] == 0x8b);
	raw = gunzip(gz, gz_len, &raw_len);
	CHECK(raw != NULL);
	CHECK_EQ_INT(pprof__encode(p, &plain, &plain_len), 0);
	CHECK_EQ_INT(raw_len, plain_len);
	CHECK(raw && plain && raw_len == plain_len && memcmp(raw, plain, raw_len) == 0);
	free(raw);
	free(plain);
}

static void test_gz_file(void)
{
	struct profile *p = sample_profile();
	char path[] = "/tmp/test_pprof.XXXXXX";
	int fd = mkstemp(path);
	uint8_t *gz;
	size_t gz_len;

	CHECK(p != NULL && fd >= 0);
	if (!p || fd < 0)
		return;
	unlink(path);
	CHECK_EQ_INT(pprof__write_gz(p, fd), 0);
	lseek(fd, 0, SEEK_SET);
	gz = read_fd(fd, &gz_len);
	check_gz_matches(gz, gz_len, p);
	free(gz);
	close(fd);
	profile__free(p);
}

/* Through a pipe, with a reader slower than the writer: many partial writes. */
static void test_gz_pipe(void)
{
	struct profile *p = big_profile();
	int pfd[2], status = -1;
	uint8_t *gz;
	size_t gz_len;
	pid_t child;

	CHECK(p != NULL);
	if (!p || pipe(pfd) < 0)
		return;
	fcntl(pfd[1], F_SETPIPE_SZ, 4096);
	child = fork();
	if (child == 0) {
		close(pfd[0]);
		_exit(pprof__write_gz(p, pfd[1]) == 0 ? 0 : 1);
	}
	close(pfd[1]);
	gz = read_fd(pfd[0], &gz_len);
	close(pfd[0]);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(gz_len > 128 * 1024);
	check_gz_matches(gz, gz_len, p);
	free(gz);
	profile__free(p);
}

static void test_gz_errors(void)
{
	struct profile *p = sample_profile();
	int pfd[2];
	int fd = open("/dev/null", O_RDONLY);

	CHECK_EQ_INT(pprof__write_gz(p, fd), -EBADF);
	close(fd);
	CHECK_EQ_INT(pprof__write_gz(p, -1), -EBADF);

	/* reader gone: EPIPE (with SIGPIPE ignored) */
	signal(SIGPIPE, SIG_IGN);
	if (pipe(pfd) == 0) {
		close(pfd[0]);
		CHECK_EQ_INT(pprof__write_gz(p, pfd[1]), -EPIPE);
		close(pfd[1]);
	}
	signal(SIGPIPE, SIG_DFL);
	profile__free(p);
}

/* Run the profile through google/pprof's parser when the checker is available. */
static void test_pprofcheck(void)
{
	const char *checker = getenv("PYBPF_PPROFCHECK");
	char path[] = "/tmp/test_pprof_e2e.XXXXXX.pb.gz";
	char out[] = "/tmp/test_pprof_e2e.XXXXXX.json";
	struct profile *p;
	posix_spawn_file_actions_t fa;
	char *argv[3];
	int fd, ofd, status = -1;
	pid_t pid;
	uint8_t *json;
	size_t json_len;

	if (!checker || access(checker, X_OK) != 0)
		return;
	p = sample_profile();
	fd = mkstemps(path, 6);
	ofd = mkstemps(out, 5);
	CHECK(p && fd >= 0 && ofd >= 0);
	if (!p || fd < 0 || ofd < 0)
		goto out;
	CHECK_EQ_INT(pprof__write_gz(p, fd), 0);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, STDOUT_FILENO);
	argv[0] = (char *)checker;
	argv[1] = path;
	argv[2] = NULL;
	CHECK_EQ_INT(posix_spawn(&pid, checker, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	lseek(ofd, 0, SEEK_SET);
	json = read_fd(ofd, &json_len);
	CHECK(json && memmem(json, json_len, "\"function\":\"<module>\"", 21) != NULL);
	CHECK(json && memmem(json, json_len, "\"thread_name\":[\"MainThread\"]", 28) != NULL);
	free(json);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (ofd >= 0) {
		close(ofd);
		unlink(out);
	}
	profile__free(p);
}

/* Wall mode: wall/nanoseconds, measured times, state and wait labels. */
static void test_wall(void)
{
	struct profile_meta m = {.period_ns = 10000000, .wall = 1, .duration_ns = 3000000000};
	struct profile *p = profile__new(&m);
	struct profile_frame fr[] = {{"nap", "/a.py", 3, 2, 0, 0, NULL},
				     {"main", "/a.py", 9, 8, 0, 0, NULL}};
	struct profile_labels on = {.pid = 1, .tid = 2, .comm = "python3", .state = "running"};
	struct profile_labels off = {
	    .pid = 1, .tid = 2, .comm = "python3", .state = "blocked", .wait = "clock_nanosleep"};
	struct decoded d;
	uint8_t *buf = NULL;
	size_t len = 0;

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ_INT(profile__add(p, &on, fr + 1, 1, 3), 0);		    /* 3 samples */
	CHECK_EQ_INT(profile__add_timed(p, &off, fr, 2, 1, 1234567890), 0); /* one interval */
	CHECK_EQ_INT(profile__add_timed(p, &off, fr, 2, 1, 10), 0);	    /* merged */
	CHECK_EQ_INT(profile__add_timed(p, &off, fr, 2, 0, 5), 0);	    /* time only */
	CHECK_EQ_INT(profile__sample_count(p), 2);
	CHECK_EQ_INT(profile__total_count(p), 5);
	CHECK_EQ_INT(profile__total_ns(p), 30000000 + 1234567905);
	CHECK_EQ_INT(pprof__encode(p, &buf, &len), 0);
	CHECK(decode(buf, len, &d));
	check_against(&d, p);
	CHECK_EQ_INT(d.nsample_types, 2);
	CHECK_EQ_STR(str_at(&d, d.sample_types[0].type), "samples");
	CHECK_EQ_STR(str_at(&d, d.sample_types[1].type), "wall");
	CHECK_EQ_STR(str_at(&d, d.sample_types[1].unit), "nanoseconds");
	CHECK_EQ_STR(str_at(&d, d.period_type.type), "wall");
	if (d.nsamples == 2) {
		CHECK_EQ_INT(d.samples[0].values[1], 30000000);
		CHECK_EQ_INT(d.samples[1].values[0], 2);
		CHECK_EQ_INT(d.samples[1].values[1], 1234567905);
	}
	decoded_free(&d);
	free(buf);
	profile__free(p);
}

TEST_MAIN(TEST(test_encode_decode), TEST(test_empty_profile), TEST(test_strings_and_defaults),
	  TEST(test_wall), TEST(test_gz_file), TEST(test_gz_pipe), TEST(test_gz_errors),
	  TEST(test_pprofcheck))
