// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hashmap against a reference array under random inserts and removals. */
#include <stdint.h>
#include <stdlib.h>

#include "hashmap.h"
#include "test.h"

#define N 5000

static int count_cb(const void *key, void *value, void *arg)
{
	(void)key;
	(void)value;
	(*(size_t *)arg)++;
	return 0;
}

static void test_random_ops(void)
{
	static char present[N];
	struct hashmap *m = hashmap__new(sizeof(uint64_t));
	size_t live = 0, visited = 0;
	unsigned int seed = 12345;

	CHECK(m != NULL);
	for (int round = 0; round < 200000; round++) {
		uint64_t k = (uint64_t)(rand_r(&seed) % N) * 0x10001;
		size_t idx = (size_t)(k / 0x10001);

		if (rand_r(&seed) % 3) {
			CHECK_EQ_INT(hashmap__set(m, &k, &present[idx]), 0);
			live += !present[idx];
			present[idx] = 1;
		} else {
			void *v = hashmap__remove(m, &k);

			CHECK(v == (present[idx] ? &present[idx] : NULL));
			live -= present[idx];
			present[idx] = 0;
		}
	}
	CHECK_EQ_INT(hashmap__size(m), live);
	for (size_t i = 0; i < N; i++) {
		uint64_t k = (uint64_t)i * 0x10001;

		CHECK(hashmap__get(m, &k) == (present[i] ? &present[i] : NULL));
	}
	hashmap__each(m, count_cb, &visited);
	CHECK_EQ_INT(visited, live);
	hashmap__free(m);
}

static void test_bad_key_size(void)
{
	CHECK(hashmap__new(0) == NULL);
	CHECK(hashmap__new(HASHMAP_MAX_KEY + 1) == NULL);
	hashmap__free(NULL);
}

/* Values owned by the map go with it (LeakSanitizer checks). */
static void test_free_all(void)
{
	struct hashmap *m = hashmap__new(sizeof(uint32_t));

	CHECK(m != NULL);
	for (uint32_t k = 0; k < 100; k++) {
		uint32_t *v = malloc(sizeof(*v));

		CHECK(v != NULL);
		*v = k;
		CHECK_EQ_INT(hashmap__set(m, &k, v), 0);
	}
	for (uint32_t k = 0; k < 100; k += 2)
		free(hashmap__remove(m, &k));
	CHECK_EQ_INT(hashmap__size(m), 50);
	hashmap__free_all(m);
	hashmap__free_all(NULL);
}

TEST_MAIN(TEST(test_random_ops), TEST(test_bad_key_size), TEST(test_free_all))
