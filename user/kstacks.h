/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Wall mode --native: the kernel stacks that off-CPU intervals left the CPU
 * with, by reference (PYBPF_KSTACK_REF: map generation and id).
 *
 * The BPF program stores each new kernel stack in the stack-trace map of
 * the current generation (kstacks[gen & 1]). A stack-trace map's id is a
 * slot picked by hashing the stack, so an id freed and taken again may
 * name another stack: ids are never reused within a generation. Instead
 * the generations take turns: kstacks__flip ends the current one, and the
 * map of the one before it is cleared and becomes the next one's. A
 * reference of the current or the previous generation is read from its
 * map (and kept here, so it is read once); one of an older generation
 * only from what is kept here, which is every reference resolved or held
 * during the last flip period; anything else resolves to no frames, never
 * to another stack's.
 *
 * The caller's cycle, with the kernel writing into the current map:
 *   kstacks__hold(ref) for each open off-CPU interval (they may be counted
 *     after the previous map is cleared);
 *   drain the counts, naming each with kstacks__get;
 *   kstacks__flip: clear the map it names, then tell BPF the new generation.
 * Kept stacks not resolved or held during a whole flip period are dropped,
 * so what is kept is bounded by what two periods and the open intervals use.
 */
#ifndef PYBPF_KSTACKS_H
#define PYBPF_KSTACKS_H

#include <stddef.h>
#include <stdint.h>

struct kstacks;

/* Read stack `id` of map `map` (0 or 1) into ips (innermost first, at most
 * max): the number of entries, 0 if the slot is empty, or -errno. */
typedef int (*kstacks_read_fn)(void *ctx, unsigned int map, uint32_t id, uint64_t *ips, size_t max);

/* NULL with errno set. */
struct kstacks *kstacks__new(kstacks_read_fn read, void *ctx);
void kstacks__free(struct kstacks *k);

/* The generation the BPF program is to use now (16 bits). */
uint32_t kstacks__gen(const struct kstacks *k);

/* The stack `ref` names, into ips (at most max entries): the number of
 * entries, 0 when ref is 0 or no longer known. */
size_t kstacks__get(struct kstacks *k, uint32_t ref, uint64_t *ips, size_t max);

/* An open interval references `ref`: keep its stack past the next flip.
 * 0 or -ENOMEM. */
int kstacks__hold(struct kstacks *k, uint32_t ref);

/* End the current generation. *clear is set to the map to empty before
 * the BPF program is given the new generation (kstacks__gen). 0 or -errno. */
int kstacks__flip(struct kstacks *k, unsigned int *clear);

/* Stacks kept; references resolved to nothing (too old, or cleared). */
size_t kstacks__size(const struct kstacks *k);
uint64_t kstacks__expired(const struct kstacks *k);

#endif
