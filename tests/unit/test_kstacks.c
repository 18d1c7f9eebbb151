// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The kernel stacks of wall mode --native: generations of two stack-trace
 * maps taking turns, against a fake of the two maps that, like the
 * kernel's, gives a new stack the slot its hash picks (here: its first
 * address modulo the size) and refuses it when that slot is taken. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kstacks.h"
#include "pybpf_abi.h"
#include "test.h"

#define SLOTS 4

struct fake {
	uint64_t stack[2][SLOTS]; /* one-frame stacks; 0 = empty slot */
	unsigned int reads;
};

static int fake_read(void *ctx, unsigned int map, uint32_t id, uint64_t *ips, size_t max)
{
	struct fake *f = ctx;

	f->reads++;
	if (map > 1 || id >= SLOTS || !max)
		return -EINVAL;
	if (!f->stack[map][id])
		return 0;
	ips[0] = f->stack[map][id];
	return 1;
}

/* What the BPF program does at a switch-out: the stack's reference, or 0
 * when its slot holds another stack (offcpu_kernel_stack_lost). */
static uint32_t fake_store(struct fake *f, const struct kstacks *k, uint64_t ip)
{
	uint32_t gen = kstacks__gen(k), id = (uint32_t)(ip % SLOTS);
	uint64_t *slot = &f->stack[gen & 1][id];

	if (*slot && *slot != ip)
		return 0;
	*slot = ip;
	return PYBPF_KSTACK_REF(gen, id);
}

/* The caller's flip: the map named is emptied before BPF sees the new generation. */
static void flip(struct fake *f, struct kstacks *k)
{
	unsigned int clear = 9;

	CHECK_EQ_INT(kstacks__flip(k, &clear), 0);
	CHECK(clear <= 1);
	CHECK_EQ_INT(clear, kstacks__gen(k) & 1);
	memset(f->stack[clear], 0, sizeof(f->stack[clear]));
}

static uint64_t get1(struct kstacks *k, uint32_t ref)
{
	uint64_t ip = 0;

	return kstacks__get(k, ref, &ip, 1) == 1 ? ip : 0;
}

static void test_ref_encoding(void)
{
	uint32_t r = PYBPF_KSTACK_REF(0x1234, 8191);

	CHECK_EQ_INT(PYBPF_KSTACK_REF_GEN(r), 0x1234);
	CHECK_EQ_INT(PYBPF_KSTACK_REF_ID(r), 8191);
	CHECK(PYBPF_KSTACK_REF(0, 0) != 0); /* 0 is "no kernel stack" */
	CHECK_EQ_INT(PYBPF_KSTACK_REF_ID(PYBPF_KSTACK_REF(7, PYBPF_KSTACKS_MAX_ENTRIES - 1)),
		     PYBPF_KSTACKS_MAX_ENTRIES - 1);
}

/* A map that would be full for good gets room again at each flip: every
 * period's new stacks are stored and named. */
static void test_full_map_recovers(void)
{
	struct fake f = {0};
	struct kstacks *k = kstacks__new(fake_read, &f);
	uint64_t ip = 100;

	CHECK(k != NULL);
	for (int period = 0; period < 50; period++) {
		uint32_t refs[SLOTS];

		/* SLOTS new stacks, one per slot: the map is full */
		for (int i = 0; i < SLOTS; i++, ip++) {
			refs[i] = fake_store(&f, k, ip);
			CHECK(refs[i] != 0);
		}
		CHECK_EQ_INT(fake_store(&f, k, ip + SLOTS), 0); /* lost: full */
		for (int i = 0; i < SLOTS; i++)
			CHECK_EQ_INT(get1(k, refs[i]), ip - SLOTS + (uint64_t)i);
		flip(&f, k);
	}
	/* bounded: what the last periods resolved, not all 200 stacks */
	CHECK(kstacks__size(k) <= 3 * SLOTS);
	CHECK_EQ_INT(kstacks__expired(k), 0);
	kstacks__free(k);
}

/* An interval opened long ago keeps its stack while it is held, though its
 * slot was cleared and taken by another stack in a later generation. */
static void test_held_survives_reuse(void)
{
	struct fake f = {0};
	struct kstacks *k = kstacks__new(fake_read, &f);
	uint32_t open = fake_store(&f, k, 4), other, late;

	CHECK(open != 0);
	for (int period = 0; period < 10; period++) {
		CHECK_EQ_INT(kstacks__hold(k, open), 0);
		flip(&f, k);
		/* same slot (8 % 4 == 4 % 4), another stack */
		other = fake_store(&f, k, 8);
		CHECK(other != 0 && other != open);
		CHECK_EQ_INT(get1(k, other), 8);
	}
	CHECK_EQ_INT(get1(k, open), 4);
	/* not held any more: dropped after its idle flips, then named as nothing
	 * (never as the slot's new stack) */
	for (int period = 0; period < 4; period++)
		flip(&f, k);
	late = fake_store(&f, k, 12);
	CHECK(late != 0);
	CHECK_EQ_INT(get1(k, open), 0);
	CHECK_EQ_INT(kstacks__expired(k), 1);
	CHECK_EQ_INT(get1(k, late), 12);
	kstacks__free(k);
}

/* Counted after the flip that cleared its map: named from the copy taken
 * when it was held or resolved, not read again. */
static void test_previous_generation(void)
{
	struct fake f = {0};
	struct kstacks *k = kstacks__new(fake_read, &f);
	uint32_t a = fake_store(&f, k, 5), b = fake_store(&f, k, 6);
	unsigned int reads;

	CHECK_EQ_INT(get1(k, a), 5);
	flip(&f, k); /* a, b: previous generation, still in their map */
	CHECK_EQ_INT(get1(k, b), 6);
	reads = f.reads;
	CHECK_EQ_INT(get1(k, a), 5);
	CHECK_EQ_INT(f.reads, reads); /* kept: one read per stack */
	CHECK_EQ_INT(kstacks__hold(k, b), 0);
	flip(&f, k); /* their map is cleared */
	CHECK_EQ_INT(get1(k, a), 5);
	CHECK_EQ_INT(get1(k, b), 6);
	CHECK_EQ_INT(get1(k, 0), 0);
	CHECK_EQ_INT(kstacks__expired(k), 0);
	/* an id of the current generation whose slot is empty */
	CHECK_EQ_INT(get1(k, PYBPF_KSTACK_REF(kstacks__gen(k), 3)), 0);
	CHECK_EQ_INT(kstacks__expired(k), 1);
	kstacks__free(k);
	kstacks__free(NULL);
}

/* 65536 generations on, a kept stack's generation number is skipped. */
static void test_generation_wraps(void)
{
	struct fake f = {0};
	struct kstacks *k = kstacks__new(fake_read, &f);
	uint32_t open = fake_store(&f, k, 7), gen0 = kstacks__gen(k);

	for (uint32_t i = 0; i < 0x10000 + 10; i++) {
		CHECK_EQ_INT(kstacks__hold(k, open), 0);
		flip(&f, k);
		CHECK(kstacks__gen(k) != gen0);
	}
	CHECK_EQ_INT(get1(k, open), 7);
	kstacks__free(k);
}

TEST_MAIN(TEST(test_ref_encoding), TEST(test_full_map_recovers), TEST(test_held_survives_reuse),
	  TEST(test_previous_generation), TEST(test_generation_wraps))
