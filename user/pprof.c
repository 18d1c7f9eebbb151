// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof writer: a hand-rolled protobuf encoder for the few messages of
 * profile.proto we need, and a gzip stream on top.
 *
 * Layout of the output, in this order: sample_type x2, sample*, mapping,
 * location*, function*, time_nanos, duration_nanos, period_type, period,
 * string_table*.
 * Strings get their table index when first used; the table is emitted last
 * (protobuf does not care about field order), entry 0 being "".
 * Fields equal to their default (0, "") are left out, as proto3 does.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pprof.h"
#include "pprof_proto.h"
#include "profile.h"

/* Fixed string table entries, in index order. */
enum {
	STR_EMPTY,
	STR_SAMPLES,
	STR_COUNT,
	STR_CPU,
	STR_NANOSECONDS,
	STR_PID,
	STR_TID,
	STR_PPID,
	STR_COMM,
	STR_THREAD_NAME,
	STR_CONTAINER,
	STR_SERVICE,
	STR_MAIN_MAPPING,
	STR_WALL,
	STR_STATE,
	STR_WAIT,
	STR_NFIXED,
};
static const char *const fixed_strings[STR_NFIXED] = {
    [STR_EMPTY] = "",
    [STR_SAMPLES] = "samples",
    [STR_COUNT] = "count",
    [STR_CPU] = "cpu",
    [STR_NANOSECONDS] = "nanoseconds",
    [STR_PID] = "pid",
    [STR_TID] = "tid",
    [STR_PPID] = "ppid",
    [STR_COMM] = "comm",
    [STR_THREAD_NAME] = "thread_name",
    [STR_CONTAINER] = "container_id",
    [STR_SERVICE] = "service",
    [STR_MAIN_MAPPING] = "python",
    [STR_WALL] = "wall",
    [STR_STATE] = "state",
    [STR_WAIT] = "wait",
};

/* The one mapping every Python location belongs to (see encode_main_mapping). */
#define MAIN_MAPPING_ID 1

/* pprof id of a profile mapping (--native objects come after the main
 * mapping); profile mapping 0 (none: a Python location) is the main one. */
static uint64_t pprof_mapping_id(size_t profile_mapping)
{
	return profile_mapping ? profile_mapping + MAIN_MAPPING_ID : MAIN_MAPPING_ID;
}

#define GZ_CHUNK (64 * 1024)

/* Growable output buffer; the first failure sticks and later appends are no-ops. */
struct pbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;
};

struct strtab_slot {
	uint64_t hash;
	size_t idx; /* index + 1; 0 = empty */
};

/* String table under construction: borrowed pointers, hash index by content. */
struct strtab {
	const char **strs;
	size_t len;
	size_t cap;
	struct strtab_slot *slots; /* power-of-two count, load <= 1/2 */
	size_t nslots;
};

/* ---- buffer and wire format ---- */

static bool pbuf_reserve(struct pbuf *b, size_t extra)
{
	size_t cap;
	uint8_t *data;

	if (b->err)
		return false;
	if (b->cap - b->len >= extra)
		return true;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->err = -ENOMEM;
		return false;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < extra)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data) {
		b->err = -ENOMEM;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

static void pb_bytes(struct pbuf *b, const void *src, size_t len)
{
	if (!len || !pbuf_reserve(b, len))
		return;
	memcpy(b->data + b->len, src, len);
	b->len += len;
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
	if (!pbuf_reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

static void pb_tag(struct pbuf *b, unsigned int field, unsigned int wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

static size_t tag_size(unsigned int field)
{
	return varint_size((uint64_t)field << 3);
}

/* A varint field, left out when 0. int64 values go out as their two's complement. */
static void pb_uint_field(struct pbuf *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

static size_t uint_field_size(unsigned int field, uint64_t v)
{
	return v ? tag_size(field) + varint_size(v) : 0;
}

/* Start a length-delimited field whose payload (`len` bytes) follows. */
static void pb_len_field(struct pbuf *b, unsigned int field, size_t len)
{
	pb_tag(b, field, WIRE_LEN);
	pb_varint(b, len);
}

/* A length-delimited field whose payload was built in `msg`. */
static void pb_message(struct pbuf *b, unsigned int field, const struct pbuf *msg)
{
	if (msg->err) {
		if (!b->err)
			b->err = msg->err;
		return;
	}
	pb_len_field(b, field, msg->len);
	pb_bytes(b, msg->data, msg->len);
}

/* ---- string table ---- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static int strtab_grow_index(struct strtab *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 1024;
	struct strtab_slot *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->nslots; i++) {
		size_t pos;

		if (!t->slots[i].idx)
			continue;
		pos = t->slots[i].hash & (nslots - 1);
		while (slots[pos].idx)
			pos = (pos + 1) & (nslots - 1);
		slots[pos] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* Entry 0 is "", as profile.proto requires; it is found without the index. */
static int strtab_init(struct strtab *t)
{
	t->cap = 256;
	t->strs = calloc(t->cap, sizeof(*t->strs));
	if (!t->strs)
		return -ENOMEM;
	t->strs[t->len++] = "";
	return 0;
}

/* Index of s in the table, adding it if new; NULL and "" are 0. -ENOMEM on failure. */
static int64_t strtab_index(struct strtab *t, const char *s)
{
	uint64_t hash;
	size_t pos;

	if (!s || !*s)
		return STR_EMPTY;
	if ((t->len + 1) * 2 > t->nslots && strtab_grow_index(t))
		return -ENOMEM;
	hash = str_hash(s);
	pos = hash & (t->nslots - 1);
	while (t->slots[pos].idx) {
		size_t i = t->slots[pos].idx - 1;

		if (t->slots[pos].hash == hash && strcmp(t->strs[i], s) == 0)
			return (int64_t)i;
		pos = (pos + 1) & (t->nslots - 1);
	}
	if (t->len == t->cap) {
		size_t cap = t->cap * 2;
		const char **strs = reallocarray(t->strs, cap, sizeof(*strs));

		if (!strs)
			return -ENOMEM;
		t->strs = strs;
		t->cap = cap;
	}
	t->strs[t->len] = s;
	t->slots[pos].idx = ++t->len;
	t->slots[pos].hash = hash;
	return (int64_t)(t->len - 1);
}

static void strtab_free(struct strtab *t)
{
	free(t->strs);
	free(t->slots);
}

/* ---- messages ---- */

static void encode_value_type(struct pbuf *b, unsigned int field, int64_t type, int64_t unit)
{
	size_t len = uint_field_size(VALUE_TYPE_TYPE, (uint64_t)type) +
		     uint_field_size(VALUE_TYPE_UNIT, (uint64_t)unit);

	pb_len_field(b, field, len);
	pb_uint_field(b, VALUE_TYPE_TYPE, (uint64_t)type);
	pb_uint_field(b, VALUE_TYPE_UNIT, (uint64_t)unit);
}

/* Label{key, str} or Label{key, num}: exactly one of str/num is meaningful. */
static void encode_label(struct pbuf *b, int64_t key, int64_t str, int64_t num)
{
	size_t len = uint_field_size(LABEL_KEY, (uint64_t)key) +
		     uint_field_size(LABEL_STR, (uint64_t)str) +
		     uint_field_size(LABEL_NUM, (uint64_t)num);

	pb_len_field(b, SAMPLE_LABEL, len);
	pb_uint_field(b, LABEL_KEY, (uint64_t)key);
	pb_uint_field(b, LABEL_STR, (uint64_t)str);
	pb_uint_field(b, LABEL_NUM, (uint64_t)num);
}

/* One Sample message into msg (cleared first). */
static int encode_sample(struct pbuf *msg, struct strtab *strs, const struct profile *p, size_t i)
{
	const struct profile_labels *labels = profile__sample_labels(p, i);
	uint64_t count = profile__sample_value(p, i);
	uint64_t ns = profile__sample_ns(p, i);
	int64_t values[2] = {
	    count > INT64_MAX ? INT64_MAX : (int64_t)count,
	    ns > INT64_MAX ? INT64_MAX : (int64_t)ns,
	};
	const size_t *locs;
	size_t nlocs, len = 0;
	int64_t comm, thread_name, container, service, state, wait;

	comm = labels->comm ? strtab_index(strs, labels->comm) : 0;
	thread_name = labels->thread_name ? strtab_index(strs, labels->thread_name) : 0;
	container = labels->container ? strtab_index(strs, labels->container) : 0;
	service = labels->service ? strtab_index(strs, labels->service) : 0;
	state = labels->state ? strtab_index(strs, labels->state) : 0;
	wait = labels->wait ? strtab_index(strs, labels->wait) : 0;
	if (comm < 0 || thread_name < 0 || container < 0 || service < 0 || state < 0 || wait < 0)
		return -ENOMEM;

	msg->len = 0;
	locs = profile__sample_locations(p, i, &nlocs);
	if (nlocs) {
		for (size_t j = 0; j < nlocs; j++)
			len += varint_size(locs[j]);
		pb_len_field(msg, SAMPLE_LOCATION_ID, len);
		for (size_t j = 0; j < nlocs; j++)
			pb_varint(msg, locs[j]);
	}

	len = varint_size((uint64_t)values[0]) + varint_size((uint64_t)values[1]);
	pb_len_field(msg, SAMPLE_VALUE, len);
	pb_varint(msg, (uint64_t)values[0]);
	pb_varint(msg, (uint64_t)values[1]);

	encode_label(msg, STR_PID, 0, labels->pid);
	encode_label(msg, STR_TID, 0, labels->tid);
	if (labels->ppid > 0)
		encode_label(msg, STR_PPID, 0, labels->ppid);
	if (labels->comm)
		encode_label(msg, STR_COMM, comm, 0);
	if (labels->thread_name)
		encode_label(msg, STR_THREAD_NAME, thread_name, 0);
	if (labels->container)
		encode_label(msg, STR_CONTAINER, container, 0);
	if (labels->service)
		encode_label(msg, STR_SERVICE, service, 0);
	if (labels->state)
		encode_label(msg, STR_STATE, state, 0);
	if (labels->wait)
		encode_label(msg, STR_WAIT, wait, 0);
	return msg->err;
}

/*
 * Mapping{id 1, filename "python", has_functions/filenames/line_numbers}.
 * pprof tools take the first mapping as the main binary and, when it has
 * no file name and is not marked symbolized, warn "Main binary filename not
 * available"; these locations are symbolized already, so nothing is looked up.
 */
static void encode_main_mapping(struct pbuf *b)
{
	size_t len = uint_field_size(MAPPING_ID, MAIN_MAPPING_ID) +
		     uint_field_size(MAPPING_FILENAME, STR_MAIN_MAPPING) +
		     uint_field_size(MAPPING_HAS_FUNCTIONS, 1) +
		     uint_field_size(MAPPING_HAS_FILENAMES, 1) +
		     uint_field_size(MAPPING_HAS_LINE_NUMBERS, 1);

	pb_len_field(b, PROFILE_MAPPING, len);
	pb_uint_field(b, MAPPING_ID, MAIN_MAPPING_ID);
	pb_uint_field(b, MAPPING_FILENAME, STR_MAIN_MAPPING);
	pb_uint_field(b, MAPPING_HAS_FUNCTIONS, 1);
	pb_uint_field(b, MAPPING_HAS_FILENAMES, 1);
	pb_uint_field(b, MAPPING_HAS_LINE_NUMBERS, 1);
}

/* Location{id, mapping_id, address, line: [Line{function_id, line}]}: Python
 * locations are in the main mapping and have no address, native ones
 * (--native) carry their object's mapping and their address. */
static void encode_location(struct pbuf *b, const struct profile *p, size_t id)
{
	uint64_t function_id = profile__location_function(p, id);
	uint64_t line = (uint64_t)profile__location_line(p, id);
	uint64_t mapping_id = pprof_mapping_id(profile__location_mapping(p, id));
	uint64_t address = profile__location_address(p, id);
	size_t line_len =
	    uint_field_size(LINE_FUNCTION_ID, function_id) + uint_field_size(LINE_LINE, line);
	size_t len = uint_field_size(LOCATION_ID, id) +
		     uint_field_size(LOCATION_MAPPING_ID, mapping_id) +
		     uint_field_size(LOCATION_ADDRESS, address) + tag_size(LOCATION_LINE) +
		     varint_size(line_len) + line_len;

	pb_len_field(b, PROFILE_LOCATION, len);
	pb_uint_field(b, LOCATION_ID, id);
	pb_uint_field(b, LOCATION_MAPPING_ID, mapping_id);
	pb_uint_field(b, LOCATION_ADDRESS, address);
	pb_len_field(b, LOCATION_LINE, line_len);
	pb_uint_field(b, LINE_FUNCTION_ID, function_id);
	pb_uint_field(b, LINE_LINE, line);
}

/*
 * Function{id, name, filename, start_line}. system_name stays empty: pprof
 * shortens names as C++ when system_name equals name, which would turn
 * "<module>" into "<unknown>".
 */
static int encode_function(struct pbuf *b, struct strtab *strs, const struct profile *p, size_t id)
{
	const struct profile_frame *f = profile__function(p, id);
	int64_t name = strtab_index(strs, f->name);
	int64_t file = strtab_index(strs, f->file);
	size_t len;

	if (name < 0 || file < 0)
		return -ENOMEM;
	len = uint_field_size(FUNCTION_ID, id) + uint_field_size(FUNCTION_NAME, (uint64_t)name) +
	      uint_field_size(FUNCTION_FILENAME, (uint64_t)file) +
	      uint_field_size(FUNCTION_START_LINE, (uint64_t)f->start_line);
	pb_len_field(b, PROFILE_FUNCTION, len);
	pb_uint_field(b, FUNCTION_ID, id);
	pb_uint_field(b, FUNCTION_NAME, (uint64_t)name);
	pb_uint_field(b, FUNCTION_FILENAME, (uint64_t)file);
	pb_uint_field(b, FUNCTION_START_LINE, (uint64_t)f->start_line);
	return b->err;
}

/* Mapping{id, memory_start, memory_limit, file_offset, filename, build_id,
 * has_functions} of a native object: frames are named already. */
static int encode_mapping(struct pbuf *b, struct strtab *strs, const struct profile *p,
			  size_t profile_id)
{
	const struct profile_mapping *m = profile__mapping(p, profile_id);
	uint64_t id = pprof_mapping_id(profile_id);
	int64_t file = strtab_index(strs, m->file);
	int64_t build_id = strtab_index(strs, m->build_id);
	size_t len;

	if (file < 0 || build_id < 0)
		return -ENOMEM;
	len = uint_field_size(MAPPING_ID, id) + uint_field_size(MAPPING_MEMORY_START, m->start) +
	      uint_field_size(MAPPING_MEMORY_LIMIT, m->limit) +
	      uint_field_size(MAPPING_FILE_OFFSET, m->offset) +
	      uint_field_size(MAPPING_FILENAME, (uint64_t)file) +
	      uint_field_size(MAPPING_BUILD_ID, (uint64_t)build_id) +
	      uint_field_size(MAPPING_HAS_FUNCTIONS, 1);
	pb_len_field(b, PROFILE_MAPPING, len);
	pb_uint_field(b, MAPPING_ID, id);
	pb_uint_field(b, MAPPING_MEMORY_START, m->start);
	pb_uint_field(b, MAPPING_MEMORY_LIMIT, m->limit);
	pb_uint_field(b, MAPPING_FILE_OFFSET, m->offset);
	pb_uint_field(b, MAPPING_FILENAME, (uint64_t)file);
	pb_uint_field(b, MAPPING_BUILD_ID, (uint64_t)build_id);
	pb_uint_field(b, MAPPING_HAS_FUNCTIONS, 1);
	return b->err;
}

int pprof__encode(const struct profile *p, uint8_t **buf, size_t *len)
{
	const struct profile_meta *meta = profile__meta(p);
	struct strtab strs = {0};
	struct pbuf out = {0}, msg = {0};
	int err = 0;

	err = strtab_init(&strs);
	if (err)
		goto out_free;
	for (size_t i = STR_EMPTY + 1; i < STR_NFIXED; i++) {
		/* Distinct strings into a fresh table: each lands at index i. */
		if (strtab_index(&strs, fixed_strings[i]) < 0) {
			err = -ENOMEM;
			goto out_free;
		}
	}

	encode_value_type(&out, PROFILE_SAMPLE_TYPE, STR_SAMPLES, STR_COUNT);
	encode_value_type(&out, PROFILE_SAMPLE_TYPE, meta->wall ? STR_WALL : STR_CPU,
			  STR_NANOSECONDS);

	for (size_t i = 0; i < profile__sample_count(p); i++) {
		err = encode_sample(&msg, &strs, p, i);
		if (err)
			goto out_free;
		pb_message(&out, PROFILE_SAMPLE, &msg);
	}
	encode_main_mapping(&out);
	for (size_t id = 1; id <= profile__mapping_count(p); id++) {
		err = encode_mapping(&out, &strs, p, id);
		if (err)
			goto out_free;
	}
	for (size_t id = 1; id <= profile__location_count(p); id++)
		encode_location(&out, p, id);
	for (size_t id = 1; id <= profile__function_count(p); id++) {
		err = encode_function(&out, &strs, p, id);
		if (err)
			goto out_free;
	}

	pb_uint_field(&out, PROFILE_TIME_NANOS, (uint64_t)meta->time_ns);
	pb_uint_field(&out, PROFILE_DURATION_NANOS, (uint64_t)meta->duration_ns);
	encode_value_type(&out, PROFILE_PERIOD_TYPE, meta->wall ? STR_WALL : STR_CPU,
			  STR_NANOSECONDS);
	pb_uint_field(&out, PROFILE_PERIOD,
		      meta->period_ns > INT64_MAX ? INT64_MAX : meta->period_ns);

	for (size_t i = 0; i < strs.len; i++) {
		size_t slen = strlen(strs.strs[i]);

		pb_len_field(&out, PROFILE_STRING_TABLE, slen);
		pb_bytes(&out, strs.strs[i], slen);
	}
	err = out.err;
	if (err)
		goto out_free;

	*buf = out.data;
	*len = out.len;
	out.data = NULL;
out_free:
	free(out.data);
	free(msg.data);
	strtab_free(&strs);
	return err;
}

/* ---- gzip output ---- */

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int zlib_errno(int zret)
{
	return zret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
}

int pprof__write_gz(const struct profile *p, int fd)
{
	uint8_t *raw = NULL, *chunk = NULL;
	size_t raw_len, fed = 0;
	z_stream zs = {0};
	int err, zret;

	err = pprof__encode(p, &raw, &raw_len);
	if (err)
		goto out_free_raw;
	chunk = malloc(GZ_CHUNK);
	if (!chunk) {
		err = -ENOMEM;
		goto out_free_raw;
	}
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
	zret = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (zret != Z_OK) {
		err = zlib_errno(zret);
		goto out_free_chunk;
	}

	do {
		int flush;

		/* avail_in is a uInt: feed huge inputs in pieces. */
		if (!zs.avail_in && fed < raw_len) {
			size_t piece = raw_len - fed < UINT_MAX ? raw_len - fed : UINT_MAX;

			zs.next_in = raw + fed;
			zs.avail_in = (uInt)piece;
			fed += piece;
		}
		flush = fed == raw_len ? Z_FINISH : Z_NO_FLUSH;
		zs.next_out = chunk;
		zs.avail_out = GZ_CHUNK;
		zret = deflate(&zs, flush);
		/* Z_BUF_ERROR (no progress) cannot happen with a fresh output chunk. */
		if (zret != Z_OK && zret != Z_STREAM_END) {
			err = zlib_errno(zret);
			goto out_deflate_end;
		}
		err = write_all(fd, chunk, GZ_CHUNK - zs.avail_out);
		if (err)
			goto out_deflate_end;
	} while (zret != Z_STREAM_END);

out_deflate_end:
	deflateEnd(&zs);
out_free_chunk:
	free(chunk);
out_free_raw:
	free(raw);
	return err;
}
