// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "kstacks.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "pybpf_abi.h"

/* A kept stack not resolved or held for this many flips is dropped. */
#define KSTACKS_IDLE_FLIPS 2

struct kstack_entry {
	uint32_t used; /* k->flips when last resolved or held */
	uint32_t n;
	uint64_t ips[];
};

struct kstacks {
	kstacks_read_fn read;
	void *ctx;
	struct hashmap *kept; /* ref -> struct kstack_entry */
	uint32_t gen, prev_gen;
	bool has_prev;
	uint32_t flips;
	uint64_t expired;
};

struct kstacks *kstacks__new(kstacks_read_fn read, void *ctx)
{
	struct kstacks *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->read = read;
	k->ctx = ctx;
	k->kept = hashmap__new(sizeof(uint32_t));
	if (!k->kept) {
		free(k);
		return NULL;
	}
	return k;
}

void kstacks__free(struct kstacks *k)
{
	if (!k)
		return;
	hashmap__free_all(k->kept);
	free(k);
}

uint32_t kstacks__gen(const struct kstacks *k)
{
	return k->gen;
}

/* The kept entry of ref, read from its map first if that still holds it;
 * NULL when unknown (or out of memory). */
static struct kstack_entry *lookup(struct kstacks *k, uint32_t ref)
{
	uint32_t gen = PYBPF_KSTACK_REF_GEN(ref);
	struct kstack_entry *e = hashmap__get(k->kept, &ref);
	uint64_t ips[PYBPF_KSTACK_MAX];
	int n;

	if (e) {
		e->used = k->flips;
		return e;
	}
	if (gen != k->gen && (!k->has_prev || gen != k->prev_gen))
		return NULL;
	n = k->read(k->ctx, gen & 1, PYBPF_KSTACK_REF_ID(ref), ips, PYBPF_KSTACK_MAX);
	if (n <= 0)
		return NULL;
	e = malloc(sizeof(*e) + (size_t)n * sizeof(e->ips[0]));
	if (!e)
		return NULL;
	e->used = k->flips;
	e->n = (uint32_t)n;
	memcpy(e->ips, ips, (size_t)n * sizeof(e->ips[0]));
	if (hashmap__set(k->kept, &ref, e)) {
		free(e);
		return NULL;
	}
	return e;
}

size_t kstacks__get(struct kstacks *k, uint32_t ref, uint64_t *ips, size_t max)
{
	struct kstack_entry *e;
	size_t n;

	if (!ref)
		return 0;
	e = lookup(k, ref);
	if (!e) {
		k->expired++;
		return 0;
	}
	n = e->n < max ? e->n : max;
	memcpy(ips, e->ips, n * sizeof(ips[0]));
	return n;
}

int kstacks__hold(struct kstacks *k, uint32_t ref)
{
	errno = 0;
	if (!ref || lookup(k, ref))
		return 0;
	/* Not known (a cleared slot: nothing to keep) or out of memory. */
	return errno == ENOMEM ? -ENOMEM : 0;
}

struct flip_scan {
	uint32_t flips, candidate;
	uint32_t *idle;
	size_t nidle, cap;
	bool taken;
	int err;
};

static int scan_entry(const void *key, void *value, void *arg)
{
	struct flip_scan *f = arg;
	const struct kstack_entry *e = value;
	uint32_t ref;

	memcpy(&ref, key, sizeof(ref));
	if (f->flips - e->used > KSTACKS_IDLE_FLIPS) {
		if (f->nidle == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 64;
			uint32_t *idle = realloc(f->idle, cap * sizeof(*idle));

			if (!idle) {
				f->err = -ENOMEM;
				return 1;
			}
			f->idle = idle;
			f->cap = cap;
		}
		f->idle[f->nidle++] = ref;
	} else if (PYBPF_KSTACK_REF_GEN(ref) == f->candidate) {
		f->taken = true;
	}
	return 0;
}

int kstacks__flip(struct kstacks *k, unsigned int *clear)
{
	struct flip_scan f = {.flips = k->flips + 1};
	uint32_t candidate = (k->gen + 1) & 0xffff;
	int err = 0;

	/* Drop what went unused; the next generation must not be one that a
	 * kept stack still has (a reference older than 65536 generations). */
	for (unsigned int tries = 0; tries < 0x8000; tries++) {
		f.candidate = candidate;
		f.taken = k->has_prev && candidate == k->prev_gen;
		f.nidle = 0;
		hashmap__each(k->kept, scan_entry, &f);
		if (f.err) {
			err = f.err;
			goto out_free_idle;
		}
		for (size_t i = 0; i < f.nidle; i++)
			free(hashmap__remove(k->kept, &f.idle[i]));
		if (!f.taken)
			break;
		candidate = (candidate + 2) & 0xffff;
	}
	if (f.taken) {
		err = -EBUSY;
		goto out_free_idle;
	}
	k->flips++;
	k->prev_gen = k->gen;
	k->has_prev = true;
	k->gen = candidate;
	*clear = candidate & 1;
out_free_idle:
	free(f.idle);
	return err;
}

size_t kstacks__size(const struct kstacks *k)
{
	return hashmap__size(k->kept);
}

uint64_t kstacks__expired(const struct kstacks *k)
{
	return k->expired;
}
