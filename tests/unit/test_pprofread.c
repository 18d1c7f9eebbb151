// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the pprof reader (user/pprofread.c): our own encoding read
 * back (plain and gzipped) equals the profile it came from; hand-built
 * protobufs in the shapes other producers use (packed and unpacked ids,
 * inlined lines, address-only locations, several sample types); and
 * malformed input of every kind fails cleanly with -EBADMSG: every prefix
 * of a valid profile and of its gzip, wrong wire types, huge lengths,
 * overlong varints, dangling references, bad string indexes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pprof.h"
#include "pprofread.h"
#include "profile.h"
#include "test.h"

#include <zlib.h>

/* ---- a small protobuf builder ---- */

struct pb {
	uint8_t data[1 << 16];
	size_t len;
};

static void pb_varint(struct pb *b, uint64_t v)
{
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

static void pb_uint(struct pb *b, unsigned int field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned int field, const void *data, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void pb_msg(struct pb *b, unsigned int field, const struct pb *m)
{
	pb_bytes(b, field, m->data, m->len);
}

static void pb_str(struct pb *b, const char *s)
{
	pb_bytes(b, 6, s, strlen(s));
}

static void pb_value_type(struct pb *b, unsigned int field, uint64_t type, uint64_t unit)
{
	struct pb m = {0};

	pb_uint(&m, 1, type);
	pb_uint(&m, 2, unit);
	pb_msg(b, field, &m);
}

static void pb_function(struct pb *b, uint64_t id, uint64_t name, uint64_t file, uint64_t start)
{
	struct pb m = {0};

	pb_uint(&m, 1, id);
	pb_uint(&m, 2, name);
	pb_uint(&m, 4, file);
	pb_uint(&m, 5, start);
	pb_msg(b, 5, &m);
}

/* Location with up to two lines (function id, line); nlines 0 = address only. */
static void pb_location(struct pb *b, uint64_t id, uint64_t addr, size_t nlines,
			const uint64_t (*lines)[2])
{
	struct pb m = {0};

	pb_uint(&m, 1, id);
	if (addr)
		pb_uint(&m, 3, addr);
	for (size_t i = 0; i < nlines; i++) {
		struct pb l = {0};

		pb_uint(&l, 1, lines[i][0]);
		pb_uint(&l, 2, lines[i][1]);
		pb_msg(&m, 4, &l);
	}
	pb_msg(b, 4, &m);
}

/* Sample: locations (leaf first) packed or not, values packed. */
static void pb_sample(struct pb *b, const uint64_t *locs, size_t nlocs, const int64_t *values,
		      size_t nvalues, bool packed)
{
	struct pb m = {0}, ids = {0}, vals = {0};

	for (size_t i = 0; i < nlocs; i++) {
		if (packed)
			pb_varint(&ids, locs[i]);
		else
			pb_uint(&m, 1, locs[i]);
	}
	if (packed && nlocs)
		pb_msg(&m, 1, &ids);
	for (size_t i = 0; i < nvalues; i++)
		pb_varint(&vals, (uint64_t)values[i]);
	pb_msg(&m, 2, &vals);
	pb_msg(b, 2, &m);
}

/*
 * A profile like a Go CPU profile: types samples/count and cpu/nanoseconds,
 * strings: 0 "", 1 samples, 2 count, 3 cpu, 4 nanoseconds, 5 main.main,
 * 6 main.go, 7 main.work, 8 runtime.inlined.
 */
static void go_like(struct pb *b, bool packed)
{
	static const uint64_t l1[][2] = {{3, 20}, {2, 10}}; /* inlined: 3 into 2 */
	static const uint64_t l2[][2] = {{1, 5}};
	const uint64_t s1[] = {1, 2}, s2[] = {2}, s3[] = {3, 2};
	const int64_t v1[] = {7, 70000000}, v2[] = {3, 30000000}, v3[] = {1, 10000000};

	b->len = 0;
	pb_value_type(b, 1, 1, 2);
	pb_value_type(b, 1, 3, 4);
	pb_sample(b, s1, 2, v1, 2, packed);
	pb_sample(b, s2, 1, v2, 2, packed);
	pb_sample(b, s3, 2, v3, 2, packed);
	pb_location(b, 1, 0x401000, 2, l1);
	pb_location(b, 2, 0x402000, 1, l2);
	pb_location(b, 3, 0x403000, 0, NULL);
	pb_function(b, 1, 5, 6, 4);
	pb_function(b, 2, 7, 6, 9);
	pb_function(b, 3, 8, 6, 19);
	pb_uint(b, 9, 1700000000000000000ull);
	pb_uint(b, 10, 1000000000);
	pb_value_type(b, 11, 3, 4);
	pb_uint(b, 12, 10000000);
	pb_str(b, "");
	pb_str(b, "samples");
	pb_str(b, "count");
	pb_str(b, "cpu");
	pb_str(b, "nanoseconds");
	pb_str(b, "main.main");
	pb_str(b, "main.go");
	pb_str(b, "main.work");
	pb_str(b, "runtime.inlined");
}

static const struct profile_frame *frame_of(const struct profile *p, size_t loc)
{
	return profile__function(p, profile__location_function(p, loc));
}

static void test_go_like(void)
{
	for (int packed = 0; packed < 2; packed++) {
		struct pb b;
		struct profile *p = NULL;
		char why[128];
		const size_t *locs;
		size_t n;
		int err;

		go_like(&b, packed);
		err = pprofread__parse(b.data, b.len, &p, why, sizeof(why));
		CHECK_EQ_INT(err, 0);
		if (err) {
			fprintf(stderr, "why: %s\n", why);
			continue;
		}
		CHECK_EQ_INT(profile__total_count(p), 11); /* the samples/count value */
		CHECK_EQ_INT(profile__sample_count(p), 3);
		CHECK_EQ_INT(profile__meta(p)->period_ns, 10000000);
		CHECK_EQ_INT(profile__meta(p)->duration_ns, 1000000000);
		/* Sample 0: location 1 (two lines, inlined first) then location 2. */
		locs = profile__sample_locations(p, 0, &n);
		CHECK_EQ_INT(n, 3);
		if (n == 3) {
			CHECK_EQ_STR(frame_of(p, locs[0])->name, "runtime.inlined");
			CHECK_EQ_INT(profile__location_line(p, locs[0]), 20);
			CHECK_EQ_STR(frame_of(p, locs[1])->name, "main.work");
			CHECK_EQ_STR(frame_of(p, locs[2])->name, "main.main");
			CHECK_EQ_STR(frame_of(p, locs[2])->file, "main.go");
			CHECK_EQ_INT(frame_of(p, locs[2])->start_line, 4);
		}
		/* Sample 2: an address-only location is named by its address. */
		locs = profile__sample_locations(p, 2, &n);
		CHECK_EQ_INT(n, 2);
		if (n == 2)
			CHECK_EQ_STR(frame_of(p, locs[0])->name, "0x403000");
		CHECK_EQ_INT(profile__sample_labels(p, 0)->pid, 0);
		CHECK(profile__sample_labels(p, 0)->comm == NULL);
		profile__free(p);
	}
}

/* Without a "samples" type: default_sample_type, else the last type. */
static void test_value_choice(void)
{
	const uint64_t s[] = {1};
	const int64_t v[] = {5, 9};
	static const uint64_t l[][2] = {{1, 1}};
	struct profile *p = NULL;
	struct pb b = {0};

	for (int with_default = 0; with_default < 2; with_default++) {
		b.len = 0;
		pb_value_type(&b, 1, 1, 2); /* alloc_objects/count */
		pb_value_type(&b, 1, 3, 4); /* alloc_space/bytes */
		pb_sample(&b, s, 1, v, 2, true);
		pb_location(&b, 1, 0, 1, l);
		pb_function(&b, 1, 5, 0, 0);
		if (with_default)
			pb_uint(&b, 14, 1);
		pb_str(&b, "");
		pb_str(&b, "alloc_objects");
		pb_str(&b, "count");
		pb_str(&b, "alloc_space");
		pb_str(&b, "bytes");
		pb_str(&b, "f");
		CHECK_EQ_INT(pprofread__parse(b.data, b.len, &p, NULL, 0), 0);
		if (p)
			CHECK_EQ_INT(profile__total_count(p), with_default ? 5 : 9);
		profile__free(p);
		p = NULL;
	}
}

static struct profile *sample_profile(void)
{
	struct profile_meta meta = {
	    .period_ns = 10101010, .time_ns = 1700000000123456789, .duration_ns = 5000000000};
	struct profile *p = profile__new(&meta);
	struct profile_frame fr[3] = {
	    {.name = "leaf", .file = "/app/a.py", .line = 12, .start_line = 10},
	    {.name = "Class.mid", .file = "/app/b.py", .line = 40, .start_line = 30},
	    {.name = "<module>", .file = "/app/main.py", .line = 3, .start_line = 1},
	};
	struct profile_frame pseudo = {.name = "[no Python frames]"};
	struct profile_labels l1 = {.pid = 100,
				    .tid = 101,
				    .comm = "python3",
				    .thread_name = "MainThread",
				    .service = "app"};
	struct profile_labels l2 = {
	    .pid = 200, .tid = 200, .comm = "worker", .container = "abc123"};

	CHECK(p != NULL);
	CHECK_EQ_INT(profile__add(p, &l1, fr, 3, 50), 0);
	CHECK_EQ_INT(profile__add(p, &l1, fr + 1, 2, 7), 0);
	CHECK_EQ_INT(profile__add(p, &l2, fr, 3, 3), 0);
	CHECK_EQ_INT(profile__add(p, &l2, &pseudo, 1, 2), 0);
	return p;
}

static void check_same(const struct profile *a, const struct profile *b)
{
	CHECK_EQ_INT(profile__total_count(a), profile__total_count(b));
	CHECK_EQ_INT(profile__sample_count(a), profile__sample_count(b));
	CHECK_EQ_INT(profile__function_count(a), profile__function_count(b));
	CHECK_EQ_INT(profile__location_count(a), profile__location_count(b));
	CHECK_EQ_INT(profile__meta(a)->period_ns, profile__meta(b)->period_ns);
	CHECK_EQ_INT(profile__meta(a)->time_ns, profile__meta(b)->time_ns);
	CHECK_EQ_INT(profile__meta(a)->duration_ns, profile__meta(b)->duration_ns);
	for (size_t i = 0; i < profile__sample_count(a) && i < profile__sample_count(b); i++) {
		const struct profile_labels *x = profile__sample_labels(a, i);
		const struct profile_labels *y = profile__sample_labels(b, i);
		size_t na, nb;
		const size_t *la = profile__sample_locations(a, i, &na);
		const size_t *lb = profile__sample_locations(b, i, &nb);

		CHECK_EQ_INT(profile__sample_value(a, i), profile__sample_value(b, i));
		CHECK_EQ_INT(x->pid, y->pid);
		CHECK_EQ_INT(x->tid, y->tid);
		CHECK((x->comm == NULL) == (y->comm == NULL));
		CHECK((x->container == NULL) == (y->container == NULL));
		CHECK((x->service == NULL) == (y->service == NULL));
		if (x->comm && y->comm)
			CHECK_EQ_STR(x->comm, y->comm);
		CHECK_EQ_INT(na, nb);
		for (size_t j = 0; j < na && j < nb; j++) {
			const struct profile_frame *fa = frame_of(a, la[j]),
						   *fb = frame_of(b, lb[j]);

			CHECK_EQ_STR(fa->name, fb->name);
			CHECK((fa->file == NULL) == (fb->file == NULL));
			if (fa->file && fb->file)
				CHECK_EQ_STR(fa->file, fb->file);
			CHECK_EQ_INT(fa->start_line, fb->start_line);
			CHECK_EQ_INT(profile__location_line(a, la[j]),
				     profile__location_line(b, lb[j]));
		}
	}
}

static int gz_bytes(const struct profile *p, uint8_t **buf, size_t *len)
{
	char path[] = "/tmp/test_pprofread.XXXXXX";
	int fd = mkstemp(path);
	off_t size;
	int err;

	if (fd < 0)
		return -errno;
	unlink(path);
	err = pprof__write_gz(p, fd);
	size = lseek(fd, 0, SEEK_END);
	*buf = malloc((size_t)size);
	*len = (size_t)size;
	if (!err && *buf && pread(fd, *buf, (size_t)size, 0) != size)
		err = -EIO;
	close(fd);
	return err;
}

static void test_roundtrip(void)
{
	struct profile *p = sample_profile(), *q = NULL;
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len, gz_len;

	CHECK_EQ_INT(pprof__encode(p, &raw, &raw_len), 0);
	CHECK_EQ_INT(pprofread__parse(raw, raw_len, &q, NULL, 0), 0);
	if (q)
		check_same(p, q);
	profile__free(q);
	q = NULL;
	CHECK_EQ_INT(gz_bytes(p, &gz, &gz_len), 0);
	CHECK_EQ_INT(pprofread__parse(gz, gz_len, &q, NULL, 0), 0);
	if (q)
		check_same(p, q);
	profile__free(q);
	free(raw);
	free(gz);
	profile__free(p);
}

/* Every strict prefix of the protobuf and of its gzip: a clean result, never a crash. */
static void test_prefixes(void)
{
	struct profile *p = sample_profile(), *q;
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len, gz_len;
	char why[128];

	CHECK_EQ_INT(pprof__encode(p, &raw, &raw_len), 0);
	CHECK_EQ_INT(gz_bytes(p, &gz, &gz_len), 0);
	for (size_t n = 0; n < raw_len; n++) {
		int err;

		q = NULL;
		err = pprofread__parse(raw, n, &q, why, sizeof(why));
		/* A cut at a field boundary can still be a valid (smaller) message,
		 * but never one with every sample. */
		CHECK(err == -EBADMSG || (err == 0 && q));
		if (err == -EBADMSG)
			CHECK(why[0] != '\0');
		profile__free(q);
	}
	for (size_t n = 0; n < gz_len; n++) {
		int err;

		q = NULL;
		err = pprofread__parse(gz, n, &q, why, sizeof(why));
		CHECK_EQ_INT(err, -EBADMSG);
		CHECK(q == NULL);
		if (n > 10 && err == -EBADMSG)
			CHECK(strstr(why, "gzip") != NULL);
	}
	free(raw);
	free(gz);
	profile__free(p);
}

static void expect_bad(const void *data, size_t len, const char *what)
{
	struct profile *q = NULL;
	char why[128];
	int err = pprofread__parse(data, len, &q, why, sizeof(why));

	if (err != -EBADMSG)
		fprintf(stderr, "%s: err %d\n", what, err);
	CHECK_EQ_INT(err, -EBADMSG);
	CHECK(q == NULL);
	CHECK(why[0] != '\0');
	profile__free(q);
}

/* Messages that are protobuf but no valid profile: each builder writes one
 * after a first sample type (unless it says otherwise); the string table's
 * empty first string is appended after it. */
static void bad_wire_type(struct pb *b)
{
	/* sample_type sent as a varint: wrong wire type for a message. */
	b->len = 0;
	pb_uint(b, 1, 5);
}

static void bad_function_id_wire_type(struct pb *b)
{
	struct pb f = {0};

	pb_bytes(&f, 1, "x", 1);
	pb_msg(b, 5, &f);
}

static void bad_string_table(struct pb *b)
{
	pb_str(b, "x"); /* not the empty string first */
}

static void bad_dangling_location(struct pb *b)
{
	const int64_t v[] = {1};
	const uint64_t s[] = {9};

	pb_sample(b, s, 1, v, 1, true);
}

static void bad_dangling_function(struct pb *b)
{
	static const uint64_t l[][2] = {{7, 1}};

	pb_location(b, 1, 0, 1, l);
}

static void bad_string_index(struct pb *b)
{
	b->len = 0;
	pb_value_type(b, 1, 99, 0);
}

static void bad_value_count(struct pb *b)
{
	const int64_t v[] = {1};

	pb_value_type(b, 1, 0, 0); /* two sample types, one value */
	pb_sample(b, NULL, 0, v, 1, true);
}

static void bad_duplicate_ids(struct pb *b)
{
	pb_location(b, 1, 0x10, 0, NULL);
	pb_location(b, 1, 0x20, 0, NULL);
}

static void bad_negative_value(struct pb *b)
{
	const int64_t neg[] = {-5};

	pb_sample(b, NULL, 0, neg, 1, true);
}

static void test_malformed(void)
{
	static const char text[] = "this is a text file, not a profile\n";
	static const uint8_t huge_len[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	static const uint8_t long_varint[] = {0x48, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t group[] = {0x0b, 0x0c};
	static const uint8_t field0[] = {0x02, 0x00};
	static const uint8_t gz_magic_only[] = {0x1f, 0x8b, 0x08, 0x00};
	static const struct {
		const char *what;
		void (*build)(struct pb *b);
	} built[] = {
	    {"wrong wire type", bad_wire_type},
	    {"function id wire type", bad_function_id_wire_type},
	    {"string table", bad_string_table},
	    {"dangling location", bad_dangling_location},
	    {"dangling function", bad_dangling_function},
	    {"string index", bad_string_index},
	    {"value count", bad_value_count},
	    {"duplicate ids", bad_duplicate_ids},
	    {"negative value", bad_negative_value},
	};
	static struct pb b;

	expect_bad("", 0, "empty");
	expect_bad(text, sizeof(text) - 1, "text");
	expect_bad(huge_len, sizeof(huge_len), "huge length");
	expect_bad(long_varint, sizeof(long_varint), "overlong varint");
	expect_bad(group, sizeof(group), "group wire type");
	expect_bad(field0, sizeof(field0), "field 0");
	expect_bad(gz_magic_only, sizeof(gz_magic_only), "gzip header only");
	for (size_t i = 0; i < sizeof(built) / sizeof(built[0]); i++) {
		b.len = 0;
		pb_value_type(&b, 1, 0, 0);
		built[i].build(&b);
		pb_str(&b, "");
		expect_bad(b.data, b.len, built[i].what);
	}
}

/* A stack deeper than the cap keeps its innermost frames and is marked. */
static void test_deep_stack(void)
{
	static const uint64_t l[][2] = {{1, 3}};
	const int64_t v[] = {1};
	struct pb *b = calloc(1, sizeof(*b));
	uint64_t *ids = calloc(PPROFREAD_MAX_DEPTH + 100, sizeof(*ids));
	struct profile *p = NULL;
	const size_t *locs;
	size_t n;

	for (size_t i = 0; i < PPROFREAD_MAX_DEPTH + 100; i++)
		ids[i] = 1;
	pb_value_type(b, 1, 0, 0);
	pb_sample(b, ids, PPROFREAD_MAX_DEPTH + 100, v, 1, true);
	pb_location(b, 1, 0, 1, l);
	pb_function(b, 1, 1, 0, 0);
	pb_str(b, "");
	pb_str(b, "f");
	CHECK_EQ_INT(pprofread__parse(b->data, b->len, &p, NULL, 0), 0);
	if (p) {
		locs = profile__sample_locations(p, 0, &n);
		CHECK_EQ_INT(n, PPROFREAD_MAX_DEPTH);
		CHECK_EQ_STR(frame_of(p, locs[n - 1])->name, "[truncated]");
		CHECK_EQ_STR(frame_of(p, locs[0])->name, "f");
	}
	profile__free(p);
	free(ids);
	free(b);
}

static void test_file(void)
{
	struct profile *q = NULL;
	char why[128];

	CHECK_EQ_INT(pprofread__file("/nonexistent/x.pb.gz", &q, why, sizeof(why)), -ENOENT);
	CHECK(why[0] != '\0');
	CHECK_EQ_INT(pprofread__file("/proc/self/status", &q, why, sizeof(why)), -EBADMSG);
	CHECK(q == NULL);
}

/* A small gzip that inflates past the limit stops at the limit with -E2BIG. */
static void test_gzip_bomb(void)
{
	size_t chunk = 1 << 20, total = (size_t)PPROFREAD_MAX_BYTES + chunk, cap = 4 << 20;
	uint8_t *zeros = calloc(1, chunk), *gz = malloc(cap);
	z_stream zs = {0};
	struct profile *p = NULL;
	char why[128];
	size_t fed = 0;
	int zret = Z_OK;

	CHECK(zeros && gz);
	if (!zeros || !gz)
		goto out;
	CHECK_EQ_INT(
	    deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	zs.next_out = gz;
	zs.avail_out = (uInt)cap;
	while (zret != Z_STREAM_END) {
		if (!zs.avail_in && fed < total) {
			zs.next_in = zeros;
			zs.avail_in = (uInt)chunk;
			fed += chunk;
		}
		zret = deflate(&zs, fed == total ? Z_FINISH : Z_NO_FLUSH);
		if (zret != Z_OK && zret != Z_STREAM_END)
			break;
	}
	CHECK_EQ_INT(zret, Z_STREAM_END);
	CHECK(zs.total_out < cap / 2); /* a few hundred KiB on disk */
	CHECK_EQ_INT(pprofread__parse(gz, zs.total_out, &p, why, sizeof(why)), -E2BIG);
	CHECK(p == NULL);
	CHECK(strstr(why, "MiB") != NULL);
	deflateEnd(&zs);
out:
	free(zeros);
	free(gz);
}

TEST_MAIN(TEST(test_go_like), TEST(test_value_choice), TEST(test_roundtrip), TEST(test_prefixes),
	  TEST(test_malformed), TEST(test_deep_stack), TEST(test_file), TEST(test_gzip_bomb))
