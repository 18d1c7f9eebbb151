// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for the in-memory profile (user/profile.c). */
#include <errno.h>
#include <stdio.h>

#include "profile.h"
#include "test.h"

static const struct profile_meta meta = {
    .period_ns = 10000000,
    .time_ns = 1700000000000000000,
    .duration_ns = 5000000000,
};

static struct profile *new_profile(void)
{
	struct profile *p = profile__new(&meta);

	CHECK(p != NULL);
	if (!p)
		exit(1);
	return p;
}

static void test_empty(void)
{
	struct profile *p = new_profile();
	size_t n = 123;

	CHECK_EQ_INT(profile__total_count(p), 0);
	CHECK_EQ_INT(profile__sample_count(p), 0);
	CHECK_EQ_INT(profile__function_count(p), 0);
	CHECK_EQ_INT(profile__location_count(p), 0);
	CHECK(profile__function(p, 0) == NULL);
	CHECK(profile__function(p, 1) == NULL);
	CHECK(profile__sample_labels(p, 0) == NULL);
	CHECK(profile__sample_locations(p, 0, &n) == NULL);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(profile__location_function(p, 1), 0);
	profile__free(p);
	profile__free(NULL);
}

static void test_meta(void)
{
	struct profile *p = new_profile();
	struct profile_meta m = meta;

	CHECK_EQ_INT(profile__meta(p)->period_ns, meta.period_ns);
	CHECK_EQ_INT(profile__meta(p)->time_ns, meta.time_ns);
	m.duration_ns = 42;
	profile__set_meta(p, &m);
	CHECK_EQ_INT(profile__meta(p)->duration_ns, 42);
	CHECK_EQ_INT(profile__meta(p)->period_ns, meta.period_ns);
	profile__free(p);

	p = profile__new(NULL);
	CHECK(p != NULL);
	if (p)
		CHECK_EQ_INT(profile__meta(p)->period_ns, 0);
	profile__free(p);
}

/* Two stacks sharing frames: functions and locations are deduplicated, ids first-seen. */
static void test_dedupe_ids(void)
{
	struct profile *p = new_profile();
	struct profile_labels l = {.pid = 10, .tid = 11, .comm = "python3"};
	/* leaf first */
	struct profile_frame s1[] = {
	    {"leaf", "a.py", 5, 3, 0, 0, NULL},
	    {"mid", "a.py", 12, 10, 0, 0, NULL},
	    {"<module>", "main.py", 1, 1, 0, 0, NULL},
	};
	struct profile_frame s2[] = {
	    {"leaf", "a.py", 6, 3, 0, 0, NULL},  /* same function, other line */
	    {"mid", "a.py", 12, 10, 0, 0, NULL}, /* same location */
	    {"mid", "b.py", 12, 10, 0, 0, NULL}, /* other file: other function */
	    {"<module>", "main.py", 1, 1, 0, 0, NULL},
	};
	const struct profile_frame *f;
	const size_t *locs;
	size_t n;

	CHECK_EQ_INT(profile__add(p, &l, s1, 3, 1), 0);
	CHECK_EQ_INT(profile__add(p, &l, s2, 4, 2), 0);

	CHECK_EQ_INT(profile__function_count(p), 4);
	CHECK_EQ_INT(profile__location_count(p), 5);
	CHECK_EQ_INT(profile__sample_count(p), 2);
	CHECK_EQ_INT(profile__total_count(p), 3);

	/* functions in first-seen order: leaf, mid(a), <module>, mid(b) */
	f = profile__function(p, 1);
	CHECK_EQ_STR(f->name, "leaf");
	CHECK_EQ_STR(f->file, "a.py");
	CHECK_EQ_INT(f->start_line, 3);
	CHECK_EQ_STR(profile__function(p, 2)->name, "mid");
	CHECK_EQ_STR(profile__function(p, 3)->name, "<module>");
	CHECK_EQ_STR(profile__function(p, 4)->file, "b.py");
	CHECK(profile__function(p, 5) == NULL);

	/* locations: (1,5) (2,12) (3,1) (1,6) (4,12) */
	CHECK_EQ_INT(profile__location_function(p, 1), 1);
	CHECK_EQ_INT(profile__location_line(p, 1), 5);
	CHECK_EQ_INT(profile__location_function(p, 4), 1);
	CHECK_EQ_INT(profile__location_line(p, 4), 6);
	CHECK_EQ_INT(profile__location_function(p, 5), 4);
	CHECK_EQ_INT(profile__location_line(p, 5), 12);
	CHECK_EQ_INT(profile__location_function(p, 6), 0);

	locs = profile__sample_locations(p, 0, &n);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_INT(locs[0], 1);
		CHECK_EQ_INT(locs[1], 2);
		CHECK_EQ_INT(locs[2], 3);
	}
	locs = profile__sample_locations(p, 1, &n);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_EQ_INT(locs[0], 4);
		CHECK_EQ_INT(locs[1], 2);
		CHECK_EQ_INT(locs[2], 5);
		CHECK_EQ_INT(locs[3], 3);
	}
	CHECK_EQ_INT(profile__sample_value(p, 0), 1);
	CHECK_EQ_INT(profile__sample_value(p, 1), 2);
	profile__free(p);
}

/* Strings are copied: the caller's buffers may change after profile__add. */
static void test_strings_copied(void)
{
	struct profile *p = new_profile();
	char name[16] = "func", file[16] = "f.py", comm[16] = "worker";
	struct profile_labels l = {.pid = 1, .tid = 1, .comm = comm, .thread_name = comm};
	struct profile_frame fr = {name, file, 7, 1, 0, 0, NULL};

	CHECK_EQ_INT(profile__add(p, &l, &fr, 1, 1), 0);
	strcpy(name, "XXXX");
	strcpy(file, "YYYY");
	strcpy(comm, "ZZZZ");
	CHECK_EQ_STR(profile__function(p, 1)->name, "func");
	CHECK_EQ_STR(profile__function(p, 1)->file, "f.py");
	CHECK_EQ_STR(profile__sample_labels(p, 0)->comm, "worker");
	CHECK_EQ_STR(profile__sample_labels(p, 0)->thread_name, "worker");
	profile__free(p);
}

/* Merge only on equal labels and equal stacks; NULL differs from "". */
static void test_merge_labels(void)
{
	struct profile *p = new_profile();
	struct profile_frame fr[] = {{"f", "f.py", 2, 1, 0, 0, NULL}, {"g", "g.py", 9, 8, 0, 0, NULL}};
	struct profile_labels base = {.pid = 100, .tid = 101, .comm = "py", .thread_name = NULL};
	struct profile_labels l;
	const struct profile_labels *got;

	CHECK_EQ_INT(profile__add(p, &base, fr, 2, 1), 0);
	CHECK_EQ_INT(profile__add(p, &base, fr, 2, 4), 0); /* merged */
	CHECK_EQ_INT(profile__sample_count(p), 1);
	CHECK_EQ_INT(profile__sample_value(p, 0), 5);

	l = base;
	l.tid = 102;
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	l = base;
	l.pid = 99;
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	l = base;
	l.comm = NULL;
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	l = base;
	l.comm = "";
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	l = base;
	l.thread_name = "";
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	l = base;
	l.thread_name = "py";
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 1), 0);
	/* same labels, other stack (shorter) */
	CHECK_EQ_INT(profile__add(p, &base, fr, 1, 1), 0);
	/* same labels, stack with the frames swapped */
	{
		struct profile_frame sw[] = {fr[1], fr[0]};

		CHECK_EQ_INT(profile__add(p, &base, sw, 2, 1), 0);
	}
	CHECK_EQ_INT(profile__sample_count(p), 9);
	CHECK_EQ_INT(profile__total_count(p), 13);
	/* the same stacks again all merge */
	l = base;
	l.comm = NULL;
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 10), 0);
	l.comm = "";
	CHECK_EQ_INT(profile__add(p, &l, fr, 2, 100), 0);
	CHECK_EQ_INT(profile__sample_count(p), 9);
	CHECK_EQ_INT(profile__sample_value(p, 3), 11);
	CHECK_EQ_INT(profile__sample_value(p, 4), 101);

	got = profile__sample_labels(p, 3);
	CHECK(got->comm == NULL);
	CHECK(got->thread_name == NULL);
	got = profile__sample_labels(p, 4);
	CHECK_EQ_STR(got->comm, "");
	got = profile__sample_labels(p, 5);
	CHECK_EQ_STR(got->thread_name, "");
	CHECK_EQ_STR(got->comm, "py");
	got = profile__sample_labels(p, 2);
	CHECK_EQ_INT(got->pid, 99);
	CHECK_EQ_INT(got->tid, 101);
	CHECK(profile__sample_labels(p, 9) == NULL);
	profile__free(p);
}

/* Recursion, empty stacks, NULL frame strings, zero counts, bad arguments. */
static void test_edge_cases(void)
{
	struct profile *p = new_profile();
	struct profile_labels l = {.pid = 1, .tid = 2};
	struct profile_frame rec[] = {
	    {"fib", "fib.py", 3, 1, 0, 0, NULL},
	    {"fib", "fib.py", 3, 1, 0, 0, NULL},
	    {"fib", "fib.py", 3, 1, 0, 0, NULL},
	    {"fib", "fib.py", 5, 1, 0, 0, NULL},
	};
	struct profile_frame nul[] = {{NULL, NULL, 0, 0, 0, 0, NULL}, {NULL, "x.py", 0, 0, 0, 0, NULL}};
	const size_t *locs;
	size_t n;

	CHECK_EQ_INT(profile__add(p, &l, rec, 4, 1), 0);
	CHECK_EQ_INT(profile__function_count(p), 1);
	CHECK_EQ_INT(profile__location_count(p), 2);
	locs = profile__sample_locations(p, 0, &n);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_EQ_INT(locs[0], 1);
		CHECK_EQ_INT(locs[2], 1);
		CHECK_EQ_INT(locs[3], 2);
	}

	/* an empty stack is a stack too, and merges with itself */
	CHECK_EQ_INT(profile__add(p, &l, NULL, 0, 2), 0);
	CHECK_EQ_INT(profile__add(p, &l, NULL, 0, 3), 0);
	CHECK_EQ_INT(profile__sample_count(p), 2);
	profile__sample_locations(p, 1, &n);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(profile__sample_value(p, 1), 5);

	CHECK_EQ_INT(profile__add(p, &l, nul, 2, 1), 0);
	CHECK_EQ_INT(profile__function_count(p), 3);
	CHECK(profile__function(p, 2)->name == NULL);
	CHECK(profile__function(p, 2)->file == NULL);
	CHECK(profile__function(p, 3)->name == NULL);
	CHECK_EQ_STR(profile__function(p, 3)->file, "x.py");

	/* zero samples add nothing */
	CHECK_EQ_INT(profile__add(p, &l, rec, 1, 0), 0);
	CHECK_EQ_INT(profile__sample_count(p), 3);
	CHECK_EQ_INT(profile__total_count(p), 7);

	CHECK_EQ_INT(profile__add(p, NULL, rec, 1, 1), -EINVAL);
	CHECK_EQ_INT(profile__add(p, &l, NULL, 1, 1), -EINVAL);
	CHECK_EQ_INT(profile__add(p, &l, rec, 1, UINT64_MAX), -EOVERFLOW);
	CHECK_EQ_INT(profile__total_count(p), 7);
	CHECK_EQ_INT(profile__sample_count(p), 3);
	profile__free(p);
}

/* 1e5 distinct functions and samples, then every one of them again. */
static void test_many(void)
{
	enum { N = 100000 };
	struct profile *p = new_profile();
	char name[32], file[32];
	int ok = 1;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			struct profile_labels l = {.pid = 7, .tid = 7 + i % 3, .comm = "python3"};
			struct profile_frame fr[2] = {
			    {name, file, i, i, 0, 0, NULL},
			    {"<module>", "main.py", 1, 1, 0, 0, NULL},
			};

			snprintf(name, sizeof(name), "f%d", i);
			snprintf(file, sizeof(file), "m%d.py", i % 100);
			if (profile__add(p, &l, fr, 2, 1 + round) != 0)
				ok = 0;
		}
	}
	CHECK(ok);
	CHECK_EQ_INT(profile__function_count(p), N + 1);
	CHECK_EQ_INT(profile__location_count(p), N + 1);
	CHECK_EQ_INT(profile__sample_count(p), N);
	CHECK_EQ_INT(profile__total_count(p), 3 * N);

	for (size_t i = 0; i < N && ok; i++) {
		const size_t *locs;
		size_t n, fid;
		const struct profile_frame *f;

		snprintf(name, sizeof(name), "f%zu", i);
		locs = profile__sample_locations(p, i, &n);
		fid = profile__location_function(p, locs[0]);
		f = profile__function(p, fid);
		if (n != 2 || profile__sample_value(p, i) != 3 || strcmp(f->name, name) != 0 ||
		    f->start_line != (int64_t)i ||
		    profile__sample_labels(p, i)->tid != 7 + (int64_t)(i % 3))
			ok = 0;
	}
	CHECK(ok);
	profile__free(p);
}

static void test_thread_count(void)
{
	struct profile_meta m = {.period_ns = 1};
	struct profile *p = profile__new(&m);
	struct profile_frame f[2] = {{"a", "x.py", 1, 1, 0, 0, NULL}, {"b", "x.py", 2, 2, 0, 0, NULL}};
	struct profile_labels l = {.pid = 1, .tid = 1};

	CHECK_EQ_INT(profile__thread_count(p), 0);
	CHECK_EQ_INT(profile__add(p, &l, f, 1, 1), 0);
	CHECK_EQ_INT(profile__add(p, &l, f + 1, 1, 1), 0); /* same thread, other stack */
	l.tid = 2;
	CHECK_EQ_INT(profile__add(p, &l, f, 1, 1), 0);
	l.pid = 2; /* same tid number in another process */
	CHECK_EQ_INT(profile__add(p, &l, f, 1, 1), 0);
	CHECK_EQ_INT(profile__thread_count(p), 3);
	profile__free(p);
}

TEST_MAIN(TEST(test_thread_count), TEST(test_empty), TEST(test_meta), TEST(test_dedupe_ids), TEST(test_strings_copied),
	  TEST(test_merge_labels), TEST(test_edge_cases), TEST(test_many))
