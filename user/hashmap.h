/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Open-addressing hash map from a fixed-size binary key (the bytes of a
 * small struct; zero its padding) to a pointer. The map copies keys and
 * never owns values.
 */
#ifndef PYBPF_HASHMAP_H
#define PYBPF_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap;

/* key_size in 1..HASHMAP_MAX_KEY. NULL with errno set. */
#define HASHMAP_MAX_KEY 32
struct hashmap *hashmap__new(size_t key_size);
void hashmap__free(struct hashmap *m);
/* free() every value, then the map (for maps that own malloc'ed values). */
void hashmap__free_all(struct hashmap *m);

/* Value for key, or NULL. */
void *hashmap__get(const struct hashmap *m, const void *key);
/* Insert or replace (value must not be NULL). 0 or -ENOMEM. */
int hashmap__set(struct hashmap *m, const void *key, void *value);
/* Remove; returns the old value or NULL. */
void *hashmap__remove(struct hashmap *m, const void *key);
size_t hashmap__size(const struct hashmap *m);

/* Visit every entry (order unspecified); the callback must not modify the
 * map. Stops early when cb returns non-zero, and returns that value. */
typedef int (*hashmap_cb)(const void *key, void *value, void *arg);
int hashmap__each(const struct hashmap *m, hashmap_cb cb, void *arg);

#endif
