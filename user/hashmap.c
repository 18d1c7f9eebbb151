// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	void *value; /* NULL: empty */
	uint64_t hash;
	unsigned char key[HASHMAP_MAX_KEY];
};

struct hashmap {
	size_t key_size;
	size_t cap; /* power of two */
	size_t size;
	struct slot *slots;
};

static uint64_t hash_key(const void *key, size_t n)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32;
	return h;
}

struct hashmap *hashmap__new(size_t key_size)
{
	struct hashmap *m;

	if (!key_size || key_size > HASHMAP_MAX_KEY) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->key_size = key_size;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void hashmap__free(struct hashmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

void hashmap__free_all(struct hashmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].value)
			free(m->slots[i].value);
	hashmap__free(m);
}

static struct slot *find(const struct hashmap *m, const void *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->slots[i];

		if (!s->value)
			return s;
		if (s->hash == h && memcmp(s->key, key, m->key_size) == 0)
			return s;
	}
}

static int grow(struct hashmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	struct slot *slots = calloc(old_cap * 2, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	m->slots = slots;
	m->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].value)
			*find(m, old[i].key, old[i].hash) = old[i];
	free(old);
	return 0;
}

void *hashmap__get(const struct hashmap *m, const void *key)
{
	return find(m, key, hash_key(key, m->key_size))->value;
}

int hashmap__set(struct hashmap *m, const void *key, void *value)
{
	uint64_t h = hash_key(key, m->key_size);
	struct slot *s;

	if (!value)
		return -EINVAL;
	if ((m->size + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	s = find(m, key, h);
	if (!s->value) {
		m->size++;
		s->hash = h;
		memcpy(s->key, key, m->key_size);
	}
	s->value = value;
	return 0;
}

void *hashmap__remove(struct hashmap *m, const void *key)
{
	size_t mask = m->cap - 1;
	struct slot *s = find(m, key, hash_key(key, m->key_size));
	void *value = s->value;
	size_t i, j;

	if (!value)
		return NULL;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	i = (size_t)(s - m->slots);
	for (j = (i + 1) & mask; m->slots[j].value; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;

		/* Move j back to i when i lies cyclically in [home, j). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].value = NULL;
	m->size--;
	return value;
}

size_t hashmap__size(const struct hashmap *m)
{
	return m->size;
}

int hashmap__each(const struct hashmap *m, hashmap_cb cb, void *arg)
{
	for (size_t i = 0; i < m->cap; i++) {
		int rc;

		if (!m->slots[i].value)
			continue;
		rc = cb(m->slots[i].key, m->slots[i].value, arg);
		if (rc)
			return rc;
	}
	return 0;
}
