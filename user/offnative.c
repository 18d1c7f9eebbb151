// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "offnative.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* One allocation: the header, then items, frames, mappings and strings. */
struct stored {
	uint32_t used_epoch;
	struct offnative_entry e;
};

struct offnative {
	struct hashmap *map; /* key -> struct stored */
	uint32_t epoch;
};

struct offnative *offnative__new(void)
{
	struct offnative *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->map = hashmap__new(sizeof(uint64_t));
	if (!c->map) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

void offnative__free(struct offnative *c)
{
	if (!c)
		return;
	hashmap__free_all(c->map);
	free(c);
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Copy s to *pool (advancing it); NULL stays NULL. */
static const char *put_str(char **pool, const char *s)
{
	size_t n = str_size(s);
	char *out = *pool;

	if (!s)
		return NULL;
	memcpy(out, s, n);
	*pool += n;
	return out;
}

int offnative__set(struct offnative *c, uint64_t key, const struct splice_item *items,
		   size_t nitems, const struct profile_frame *native, size_t nnative)
{
	struct stored *old = hashmap__get(c->map, &key), *st;
	struct splice_item *it;
	struct profile_frame *fr;
	struct profile_mapping *mp;
	size_t size = sizeof(*st) + nitems * sizeof(*it) + nnative * (sizeof(*fr) + sizeof(*mp));
	char *pool;

	if (!old && hashmap__size(c->map) >= OFFNATIVE_MAX)
		return -ENOSPC;
	for (size_t i = 0; i < nnative; i++) {
		size += str_size(native[i].name) + str_size(native[i].file);
		if (native[i].mapping)
			size += str_size(native[i].mapping->file) +
				str_size(native[i].mapping->build_id);
	}
	st = malloc(size);
	if (!st)
		return -ENOMEM;
	it = (struct splice_item *)(st + 1);
	fr = (struct profile_frame *)(it + nitems);
	mp = (struct profile_mapping *)(fr + nnative);
	pool = (char *)(mp + nnative);
	if (nitems)
		memcpy(it, items, nitems * sizeof(*it));
	for (size_t i = 0; i < nnative; i++) {
		fr[i] = native[i];
		fr[i].name = put_str(&pool, native[i].name);
		fr[i].file = put_str(&pool, native[i].file);
		if (native[i].mapping) {
			mp[i] = *native[i].mapping;
			mp[i].file = put_str(&pool, native[i].mapping->file);
			mp[i].build_id = put_str(&pool, native[i].mapping->build_id);
			fr[i].mapping = &mp[i];
		}
	}
	st->used_epoch = c->epoch;
	st->e = (struct offnative_entry){
	    .items = it, .nitems = nitems, .native = fr, .nnative = nnative};
	if (hashmap__set(c->map, &key, st)) {
		free(st);
		return -ENOMEM;
	}
	free(old);
	return 0;
}

int offnative__get(struct offnative *c, uint64_t key, struct offnative_entry *out)
{
	struct stored *st = hashmap__get(c->map, &key);

	if (!st)
		return 0;
	st->used_epoch = c->epoch;
	*out = st->e;
	return 1;
}

struct idle {
	uint32_t epoch, max_idle;
	uint64_t *keys;
	size_t n;
};

static int collect_idle(const void *key, void *value, void *arg)
{
	struct idle *idle = arg;
	const struct stored *st = value;

	if (idle->epoch - st->used_epoch > idle->max_idle)
		memcpy(&idle->keys[idle->n++], key, sizeof(uint64_t));
	return 0;
}

void offnative__prune(struct offnative *c, uint32_t max_idle)
{
	struct idle idle = {.epoch = c->epoch, .max_idle = max_idle};
	size_t n = hashmap__size(c->map);

	c->epoch++;
	idle.keys = n ? malloc(n * sizeof(*idle.keys)) : NULL;
	if (!idle.keys)
		return; /* nothing held, or no memory: try at the next call */
	hashmap__each(c->map, collect_idle, &idle);
	for (size_t i = 0; i < idle.n; i++)
		free(hashmap__remove(c->map, &idle.keys[i]));
	free(idle.keys);
}

size_t offnative__size(const struct offnative *c)
{
	return hashmap__size(c->map);
}
