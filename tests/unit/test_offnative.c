// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The off-CPU native stack cache of wall mode --native. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "offnative.h"
#include "test.h"

static void test_set_get_copies(void)
{
	struct offnative *c = offnative__new();
	struct splice_item items[] = {
	    {SPLICE_NATIVE, 0}, {SPLICE_NATIVE, 1}, {SPLICE_PYTHON, 0}, {SPLICE_PYTHON, 1}};
	char name0[] = "__recv", file0[] = "/lib/libc.so.6", bid[] = "abcd";
	struct profile_mapping m = {
	    .file = file0, .build_id = bid, .start = 0x1000, .limit = 0x9000, .offset = 0x200};
	struct profile_frame native[2] = {
	    {.name = name0,
	     .file = file0,
	     .kind = PROFILE_FRAME_NATIVE,
	     .address = 0x1234,
	     .mapping = &m},
	    {.name = "sock_recv_impl", .file = "", .kind = PROFILE_FRAME_NATIVE, .address = 0x5678},
	};
	struct offnative_entry e;

	CHECK(c != NULL);
	CHECK_EQ_INT(offnative__get(c, 42, &e), 0);
	CHECK_EQ_INT(offnative__set(c, 42, items, 4, native, 2), 0);
	/* the strings are copies: the caller's buffers may change */
	memset(name0, 'x', sizeof(name0) - 1);
	memset(file0, 'y', sizeof(file0) - 1);
	memset(bid, 'z', sizeof(bid) - 1);
	m.start = 0;
	CHECK_EQ_INT(offnative__get(c, 42, &e), 1);
	CHECK_EQ_INT(e.nitems, 4);
	CHECK_EQ_INT(e.nnative, 2);
	CHECK_EQ_INT(e.items[2].kind, SPLICE_PYTHON);
	CHECK_EQ_INT(e.items[3].index, 1);
	CHECK_EQ_STR(e.native[0].name, "__recv");
	CHECK_EQ_STR(e.native[0].file, "/lib/libc.so.6");
	CHECK(e.native[0].mapping != NULL);
	CHECK_EQ_STR(e.native[0].mapping->file, "/lib/libc.so.6");
	CHECK_EQ_STR(e.native[0].mapping->build_id, "abcd");
	CHECK_EQ_INT(e.native[0].mapping->start, 0x1000);
	CHECK_EQ_INT(e.native[0].address, 0x1234);
	CHECK_EQ_STR(e.native[1].name, "sock_recv_impl");
	CHECK(e.native[1].mapping == NULL);

	/* replaced by a later unwind of the same key */
	CHECK_EQ_INT(offnative__set(c, 42, items + 2, 2, NULL, 0), 0);
	CHECK_EQ_INT(offnative__get(c, 42, &e), 1);
	CHECK_EQ_INT(e.nitems, 2);
	CHECK_EQ_INT(e.nnative, 0);
	CHECK_EQ_INT(offnative__size(c), 1);
	offnative__free(c);
}

static void test_prune_idle(void)
{
	struct offnative *c = offnative__new();
	struct splice_item it = {SPLICE_PYTHON, 0};
	struct offnative_entry e;

	CHECK_EQ_INT(offnative__set(c, 1, &it, 1, NULL, 0), 0);
	CHECK_EQ_INT(offnative__set(c, 2, &it, 1, NULL, 0), 0);
	/* unused at 3 prune calls: still held (max_idle 2 means "more than 2") */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(offnative__get(c, 1, &e), 1); /* key 1 stays in use */
		offnative__prune(c, 2);
	}
	CHECK_EQ_INT(offnative__get(c, 1, &e), 1);
	CHECK_EQ_INT(offnative__get(c, 2, &e), 0);
	CHECK_EQ_INT(offnative__size(c), 1);
	offnative__prune(c, 0);
	offnative__prune(c, 0);
	offnative__prune(c, 0);
	CHECK_EQ_INT(offnative__size(c), 0);
	offnative__prune(c, 0); /* empty: nothing to do */
	offnative__free(c);
	offnative__free(NULL);
}

static void test_bounded(void)
{
	struct offnative *c = offnative__new();
	struct splice_item it = {SPLICE_PYTHON, 0};

	for (uint64_t k = 0; k < OFFNATIVE_MAX; k++)
		if (offnative__set(c, k, &it, 1, NULL, 0))
			break;
	CHECK_EQ_INT(offnative__size(c), OFFNATIVE_MAX);
	CHECK_EQ_INT(offnative__set(c, OFFNATIVE_MAX, &it, 1, NULL, 0), -ENOSPC);
	/* a key held may still be replaced */
	CHECK_EQ_INT(offnative__set(c, 7, &it, 1, NULL, 0), 0);
	offnative__free(c);
}

TEST_MAIN(TEST(test_set_get_copies), TEST(test_prune_idle), TEST(test_bounded))
