// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * In-memory aggregate behind profile.h.
 *
 * Five tables, each a dense array (id = index + 1) plus an open-addressing
 * hash index over it:
 *   strings    interned copies, stored in never-moving blocks so pointers
 *              handed out stay valid; equal content => equal pointer
 *   functions  (name, file, start_line, kind), keyed on interned pointers
 *   mappings   (file, build id, start, limit, offset) of native frames
 *   locations  (function id, line, mapping id, address)
 *   stacks     sequences of location ids, stored back to back in one array
 *   samples    (pid, tid, comm, thread_name, stack id) -> count
 *
 * profile__add is all-or-nothing: it first reserves room for the worst case
 * (every string, function and location of the call being new), and only then
 * inserts, which cannot fail any more. A failed call leaves the profile
 * exactly as it was.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

#include "array.h"

#define STR_BLOCK_MIN (64 * 1024)
#define HTAB_MIN_CAP 64

struct str_block {
	struct str_block *next;
	size_t used;
	size_t cap;
	char data[];
};

/* One hash index slot: id 0 marks an empty slot. */
struct htab_slot {
	uint64_t hash;
	size_t id;
};

/* Linear probing, capacity a power of two, load factor at most 1/2. */
struct htab {
	struct htab_slot *slots;
	size_t cap;
	size_t len;
};

struct location {
	size_t function_id;
	int64_t line;
	size_t mapping_id; /* 0: none */
	uint64_t address;
};

struct stack {
	size_t off; /* into profile.stack_locs */
	size_t n;
};

struct sample {
	struct profile_labels labels; /* comm/thread_name point to interned strings */
	size_t stack_id;
	uint64_t count;
	uint64_t ns;
};

struct profile {
	struct profile_meta meta;
	uint64_t total;
	uint64_t total_ns;

	struct str_block *blocks;
	const char **strs;
	size_t nstrs, strs_cap;
	struct htab str_idx;

	struct profile_frame *funcs; /* line is always 0 */
	size_t nfuncs, funcs_cap;
	struct htab func_idx;

	struct profile_mapping *maps;
	size_t nmaps, maps_cap;
	struct htab map_idx;

	struct location *locs;
	size_t nlocs, locs_cap;
	struct htab loc_idx;

	size_t *stack_locs;
	size_t stack_locs_len, stack_locs_cap;
	struct stack *stacks;
	size_t nstacks, stacks_cap;
	struct htab stack_idx;

	struct sample *samples;
	size_t nsamples, samples_cap;
	struct htab sample_idx;
};

/* ---- hashing ---- */

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return hash_mix(h, 0);
}

static uint64_t hash_ptr(uint64_t h, const void *ptr)
{
	return hash_mix(h, (uint64_t)(uintptr_t)ptr);
}

/* ---- hash index ---- */

/* Grow so that `extra` more entries keep the load factor at most 1/2. */
static int htab_reserve(struct htab *t, size_t extra)
{
	struct htab_slot *slots;
	size_t new_cap, need, mask;

	if (extra > SIZE_MAX / 2 - t->len)
		return -ENOMEM;
	need = (t->len + extra) * 2;
	if (need <= t->cap)
		return 0;
	new_cap = t->cap ? t->cap : HTAB_MIN_CAP;
	while (new_cap < need) {
		if (new_cap > SIZE_MAX / 2)
			return -ENOMEM;
		new_cap *= 2;
	}
	slots = calloc(new_cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;

	mask = new_cap - 1;
	for (size_t i = 0; i < t->cap; i++) {
		size_t pos;

		if (!t->slots[i].id)
			continue;
		pos = t->slots[i].hash & mask;
		while (slots[pos].id)
			pos = (pos + 1) & mask;
		slots[pos] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = new_cap;
	return 0;
}

typedef bool (*htab_eq_fn)(const struct profile *p, size_t id, const void *key);

/*
 * Find the slot holding an entry equal to `key`, or the empty slot where it
 * belongs. The table must have been reserved (cap > 0, never full).
 */
static struct htab_slot *htab_find(const struct profile *p, const struct htab *t, uint64_t hash,
				   htab_eq_fn eq, const void *key)
{
	size_t mask = t->cap - 1;
	size_t pos = hash & mask;

	while (t->slots[pos].id) {
		if (t->slots[pos].hash == hash && eq(p, t->slots[pos].id, key))
			break;
		pos = (pos + 1) & mask;
	}
	return &t->slots[pos];
}

static void htab_fill(struct htab *t, struct htab_slot *slot, uint64_t hash, size_t id)
{
	slot->hash = hash;
	slot->id = id;
	t->len++;
}

/* ---- strings ---- */

/* Make sure the current block can take `bytes` more bytes. */
static int strings_reserve(struct profile *p, size_t bytes)
{
	struct str_block *b = p->blocks;
	size_t cap;

	if (!bytes || (b && b->cap - b->used >= bytes))
		return 0;
	cap = bytes > STR_BLOCK_MIN ? bytes : STR_BLOCK_MIN;
	if (cap > SIZE_MAX - sizeof(*b))
		return -ENOMEM;
	b = malloc(sizeof(*b) + cap);
	if (!b)
		return -ENOMEM;
	b->next = p->blocks;
	b->used = 0;
	b->cap = cap;
	p->blocks = b;
	return 0;
}

static bool string_eq(const struct profile *p, size_t id, const void *key)
{
	return strcmp(p->strs[id - 1], key) == 0;
}

/* The interned copy of s (NULL for NULL). Room must have been reserved. */
static const char *string_intern(struct profile *p, const char *s)
{
	struct htab_slot *slot;
	struct str_block *b;
	uint64_t hash;
	size_t len;
	char *copy;

	if (!s)
		return NULL;
	hash = hash_str(s);
	slot = htab_find(p, &p->str_idx, hash, string_eq, s);
	if (slot->id)
		return p->strs[slot->id - 1];

	len = strlen(s) + 1;
	b = p->blocks;
	copy = b->data + b->used;
	memcpy(copy, s, len);
	b->used += len;
	p->strs[p->nstrs++] = copy;
	htab_fill(&p->str_idx, slot, hash, p->nstrs);
	return copy;
}

/* ---- functions, locations, stacks, samples ---- */

/* Key of a function: name and file are interned pointers. */
static bool function_eq(const struct profile *p, size_t id, const void *key)
{
	const struct profile_frame *a = &p->funcs[id - 1], *b = key;

	return a->name == b->name && a->file == b->file && a->start_line == b->start_line &&
	       a->kind == b->kind;
}

static size_t function_intern(struct profile *p, const struct profile_frame *frame)
{
	struct profile_frame key = {
	    .name = string_intern(p, frame->name),
	    .file = string_intern(p, frame->file),
	    .start_line = frame->start_line,
	    .kind = frame->kind,
	};
	struct htab_slot *slot;
	uint64_t hash;

	hash = hash_ptr(hash_ptr(0, key.name), key.file);
	hash = hash_mix(hash_mix(hash, (uint64_t)key.start_line), key.kind);
	slot = htab_find(p, &p->func_idx, hash, function_eq, &key);
	if (slot->id)
		return slot->id;
	p->funcs[p->nfuncs++] = key;
	htab_fill(&p->func_idx, slot, hash, p->nfuncs);
	return p->nfuncs;
}

static bool mapping_eq(const struct profile *p, size_t id, const void *key)
{
	const struct profile_mapping *a = &p->maps[id - 1], *b = key;

	return a->file == b->file && a->build_id == b->build_id && a->start == b->start &&
	       a->limit == b->limit && a->offset == b->offset;
}

/* Id of the mapping (0 for none). */
static size_t mapping_intern(struct profile *p, const struct profile_mapping *m)
{
	struct profile_mapping key;
	struct htab_slot *slot;
	uint64_t hash;

	if (!m)
		return 0;
	key = (struct profile_mapping){
	    .file = string_intern(p, m->file ? m->file : ""),
	    .build_id = string_intern(p, m->build_id ? m->build_id : ""),
	    .start = m->start,
	    .limit = m->limit,
	    .offset = m->offset,
	};
	hash = hash_ptr(hash_ptr(4, key.file), key.build_id);
	hash = hash_mix(hash_mix(hash_mix(hash, key.start), key.limit), key.offset);
	slot = htab_find(p, &p->map_idx, hash, mapping_eq, &key);
	if (slot->id)
		return slot->id;
	p->maps[p->nmaps++] = key;
	htab_fill(&p->map_idx, slot, hash, p->nmaps);
	return p->nmaps;
}

static bool location_eq(const struct profile *p, size_t id, const void *key)
{
	const struct location *a = &p->locs[id - 1], *b = key;

	return a->function_id == b->function_id && a->line == b->line &&
	       a->mapping_id == b->mapping_id && a->address == b->address;
}

static size_t location_intern(struct profile *p, const struct profile_frame *frame)
{
	struct location key = {
	    .function_id = function_intern(p, frame),
	    .line = frame->line,
	    .mapping_id = mapping_intern(p, frame->mapping),
	    .address = frame->address,
	};
	struct htab_slot *slot;
	uint64_t hash;

	hash = hash_mix(hash_mix(1, key.function_id), (uint64_t)key.line);
	hash = hash_mix(hash_mix(hash, key.mapping_id), key.address);
	slot = htab_find(p, &p->loc_idx, hash, location_eq, &key);
	if (slot->id)
		return slot->id;
	p->locs[p->nlocs++] = key;
	htab_fill(&p->loc_idx, slot, hash, p->nlocs);
	return p->nlocs;
}

/* A candidate stack: its location ids sit just past the stored ones. */
static bool stack_eq(const struct profile *p, size_t id, const void *key)
{
	const struct stack *a = &p->stacks[id - 1], *b = key;

	if (a->n != b->n)
		return false;
	if (!a->n)
		return true;
	return memcmp(p->stack_locs + a->off, p->stack_locs + b->off,
		      a->n * sizeof(*p->stack_locs)) == 0;
}

static size_t stack_intern(struct profile *p, const struct profile_frame *frames, size_t nframes)
{
	struct stack key = {.off = p->stack_locs_len, .n = nframes};
	struct htab_slot *slot;
	uint64_t hash = hash_mix(2, nframes);

	/* Write the candidate in the reserved tail; keep it only if new. */
	for (size_t i = 0; i < nframes; i++) {
		size_t loc = location_intern(p, &frames[i]);

		p->stack_locs[key.off + i] = loc;
		hash = hash_mix(hash, loc);
	}
	slot = htab_find(p, &p->stack_idx, hash, stack_eq, &key);
	if (slot->id)
		return slot->id;
	p->stack_locs_len += nframes;
	p->stacks[p->nstacks++] = key;
	htab_fill(&p->stack_idx, slot, hash, p->nstacks);
	return p->nstacks;
}

static bool sample_eq(const struct profile *p, size_t id, const void *key)
{
	const struct sample *a = &p->samples[id - 1], *b = key;

	return a->stack_id == b->stack_id && a->labels.pid == b->labels.pid &&
	       a->labels.tid == b->labels.tid && a->labels.ppid == b->labels.ppid &&
	       a->labels.comm == b->labels.comm && a->labels.thread_name == b->labels.thread_name &&
	       a->labels.container == b->labels.container && a->labels.service == b->labels.service &&
	       a->labels.state == b->labels.state && a->labels.wait == b->labels.wait;
}

/* Add the size of s's copy (if any) to *bytes; true on overflow. */
static bool add_copy_size(size_t *bytes, const char *s)
{
	return s && __builtin_add_overflow(*bytes, strlen(s) + 1, bytes);
}

/* Worst case of one profile__add: everything in it is new. */
static int profile_reserve(struct profile *p, const struct profile_labels *labels,
			   const struct profile_frame *frames, size_t nframes)
{
	size_t nstrings = 4 * nframes + 6, bytes = 0;
	bool overflow;
	int err;

	/* Short-circuits on overflow, which fails the call anyway. */
	overflow =
	    add_copy_size(&bytes, labels->comm) || add_copy_size(&bytes, labels->thread_name) ||
	    add_copy_size(&bytes, labels->container) || add_copy_size(&bytes, labels->service) ||
	    add_copy_size(&bytes, labels->state) || add_copy_size(&bytes, labels->wait);
	for (size_t i = 0; i < nframes && !overflow; i++)
		overflow =
		    add_copy_size(&bytes, frames[i].name) ||
		    add_copy_size(&bytes, frames[i].file) ||
		    (frames[i].mapping &&
		     (add_copy_size(&bytes,
				    frames[i].mapping->file ? frames[i].mapping->file : "") ||
		      add_copy_size(
			  &bytes, frames[i].mapping->build_id ? frames[i].mapping->build_id : "")));
	if (overflow)
		return -ENOMEM;

	err = strings_reserve(p, bytes);
	if (!err)
		err = array__reserve((void **)&p->strs, &p->strs_cap, p->nstrs + nstrings,
				     sizeof(*p->strs));
	if (!err)
		err = htab_reserve(&p->str_idx, nstrings);
	if (!err)
		err = array__reserve((void **)&p->funcs, &p->funcs_cap, p->nfuncs + nframes,
				     sizeof(*p->funcs));
	if (!err)
		err = htab_reserve(&p->func_idx, nframes);
	if (!err)
		err = array__reserve((void **)&p->maps, &p->maps_cap, p->nmaps + nframes,
				     sizeof(*p->maps));
	if (!err)
		err = htab_reserve(&p->map_idx, nframes);
	if (!err)
		err = array__reserve((void **)&p->locs, &p->locs_cap, p->nlocs + nframes,
				     sizeof(*p->locs));
	if (!err)
		err = htab_reserve(&p->loc_idx, nframes);
	if (!err)
		err = array__reserve((void **)&p->stack_locs, &p->stack_locs_cap,
				     p->stack_locs_len + nframes, sizeof(*p->stack_locs));
	if (!err)
		err = array__reserve((void **)&p->stacks, &p->stacks_cap, p->nstacks + 1,
				     sizeof(*p->stacks));
	if (!err)
		err = htab_reserve(&p->stack_idx, 1);
	if (!err)
		err = array__reserve((void **)&p->samples, &p->samples_cap, p->nsamples + 1,
				     sizeof(*p->samples));
	if (!err)
		err = htab_reserve(&p->sample_idx, 1);
	return err;
}

int profile__add(struct profile *p, const struct profile_labels *labels,
		 const struct profile_frame *frames, size_t nframes, uint64_t count)
{
	uint64_t ns;

	if (p && __builtin_mul_overflow(count, p->meta.period_ns, &ns))
		ns = UINT64_MAX;
	return profile__add_timed(p, labels, frames, nframes, count, p ? ns : 0);
}

int profile__add_timed(struct profile *p, const struct profile_labels *labels,
		       const struct profile_frame *frames, size_t nframes, uint64_t count,
		       uint64_t ns)
{
	struct htab_slot *slot;
	struct sample key;
	uint64_t hash;
	int err;

	if (!p || !labels || (nframes && !frames))
		return -EINVAL;
	if (!count && !ns)
		return 0;
	/* Every sample's count is bounded by the total, so this covers both. */
	if (count > UINT64_MAX - p->total || ns > UINT64_MAX - p->total_ns)
		return -EOVERFLOW;
	if (nframes > SIZE_MAX / 4)
		return -ENOMEM;

	err = profile_reserve(p, labels, frames, nframes);
	if (err)
		return err;

	/* From here on nothing can fail. */
	key.labels.pid = labels->pid;
	key.labels.tid = labels->tid;
	key.labels.ppid = labels->ppid;
	key.labels.comm = string_intern(p, labels->comm);
	key.labels.thread_name = string_intern(p, labels->thread_name);
	key.labels.container = string_intern(p, labels->container);
	key.labels.service = string_intern(p, labels->service);
	key.labels.state = string_intern(p, labels->state);
	key.labels.wait = string_intern(p, labels->wait);
	key.stack_id = stack_intern(p, frames, nframes);
	key.count = 0;
	key.ns = 0;
	hash = hash_mix(hash_mix(3, key.stack_id), (uint64_t)key.labels.pid);
	hash = hash_mix(hash, (uint64_t)key.labels.tid);
	hash = hash_ptr(hash_ptr(hash_ptr(hash, key.labels.comm), key.labels.thread_name),
			key.labels.container);
	hash = hash_ptr(hash_ptr(hash_ptr(hash, key.labels.service), key.labels.state),
			key.labels.wait);

	slot = htab_find(p, &p->sample_idx, hash, sample_eq, &key);
	if (!slot->id) {
		p->samples[p->nsamples++] = key;
		htab_fill(&p->sample_idx, slot, hash, p->nsamples);
	}
	p->samples[slot->id - 1].count += count;
	p->samples[slot->id - 1].ns += ns;
	p->total += count;
	p->total_ns += ns;
	return 0;
}

/* ---- lifecycle ---- */

struct profile *profile__new(const struct profile_meta *meta)
{
	struct profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (meta)
		p->meta = *meta;
	return p;
}

void profile__free(struct profile *p)
{
	struct str_block *b, *next;

	if (!p)
		return;
	for (b = p->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(p->strs);
	free(p->str_idx.slots);
	free(p->funcs);
	free(p->func_idx.slots);
	free(p->maps);
	free(p->map_idx.slots);
	free(p->locs);
	free(p->loc_idx.slots);
	free(p->stack_locs);
	free(p->stacks);
	free(p->stack_idx.slots);
	free(p->samples);
	free(p->sample_idx.slots);
	free(p);
}

void profile__set_meta(struct profile *p, const struct profile_meta *meta)
{
	p->meta = *meta;
}

const struct profile_meta *profile__meta(const struct profile *p)
{
	return &p->meta;
}

/* ---- totals and iteration ---- */

uint64_t profile__total_count(const struct profile *p)
{
	return p->total;
}

size_t profile__sample_count(const struct profile *p)
{
	return p->nsamples;
}

size_t profile__function_count(const struct profile *p)
{
	return p->nfuncs;
}

size_t profile__location_count(const struct profile *p)
{
	return p->nlocs;
}

static int cmp_thread(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

size_t profile__thread_count(const struct profile *p)
{
	int64_t *pairs = malloc(p->nsamples * 2 * sizeof(*pairs) + 1);
	size_t n = 0;

	if (!pairs)
		return 0;
	for (size_t i = 0; i < p->nsamples; i++) {
		pairs[2 * i] = p->samples[i].labels.pid;
		pairs[2 * i + 1] = p->samples[i].labels.tid;
	}
	qsort(pairs, p->nsamples, 2 * sizeof(*pairs), cmp_thread);
	for (size_t i = 0; i < p->nsamples; i++)
		n += i == 0 || cmp_thread(&pairs[2 * i], &pairs[2 * (i - 1)]) != 0;
	free(pairs);
	return n;
}

/* The function's name, file and start_line; its line is 0. NULL if out of range. */
const struct profile_frame *profile__function(const struct profile *p, size_t function_id)
{
	if (!function_id || function_id > p->nfuncs)
		return NULL;
	return &p->funcs[function_id - 1];
}

/* 0 if out of range. */
size_t profile__location_function(const struct profile *p, size_t location_id)
{
	if (!location_id || location_id > p->nlocs)
		return 0;
	return p->locs[location_id - 1].function_id;
}

/* 0 if out of range. */
int64_t profile__location_line(const struct profile *p, size_t location_id)
{
	if (!location_id || location_id > p->nlocs)
		return 0;
	return p->locs[location_id - 1].line;
}

/* 0 if out of range. */
uint64_t profile__location_address(const struct profile *p, size_t location_id)
{
	if (!location_id || location_id > p->nlocs)
		return 0;
	return p->locs[location_id - 1].address;
}

/* 0 if out of range or none. */
size_t profile__location_mapping(const struct profile *p, size_t location_id)
{
	if (!location_id || location_id > p->nlocs)
		return 0;
	return p->locs[location_id - 1].mapping_id;
}

size_t profile__mapping_count(const struct profile *p)
{
	return p->nmaps;
}

/* NULL if out of range. */
const struct profile_mapping *profile__mapping(const struct profile *p, size_t mapping_id)
{
	if (!mapping_id || mapping_id > p->nmaps)
		return NULL;
	return &p->maps[mapping_id - 1];
}

/* NULL if out of range. */
const struct profile_labels *profile__sample_labels(const struct profile *p, size_t i)
{
	if (i >= p->nsamples)
		return NULL;
	return &p->samples[i].labels;
}

/* *n is 0 for an empty stack or an index out of range (the result may then be NULL). */
const size_t *profile__sample_locations(const struct profile *p, size_t i, size_t *n)
{
	const struct stack *s;

	if (i >= p->nsamples) {
		*n = 0;
		return NULL;
	}
	s = &p->stacks[p->samples[i].stack_id - 1];
	*n = s->n;
	return s->n ? p->stack_locs + s->off : NULL;
}

/* 0 if out of range. */
uint64_t profile__sample_ns(const struct profile *p, size_t i)
{
	return i < p->nsamples ? p->samples[i].ns : 0;
}

uint64_t profile__total_ns(const struct profile *p)
{
	return p->total_ns;
}

uint64_t profile__sample_value(const struct profile *p, size_t i)
{
	if (i >= p->nsamples)
		return 0;
	return p->samples[i].count;
}
