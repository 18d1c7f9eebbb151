/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Encode a profile as a gzipped pprof protobuf (profile.proto of
 * github.com/google/pprof): sample types samples/count and cpu/nanoseconds,
 * period type cpu/nanoseconds, labels pid/tid (numeric), comm/thread_name (strings),
 * one main mapping ("python", symbolized) that every location belongs to.
 */
#ifndef PYBPF_PPROF_H
#define PYBPF_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct profile;

/* Serialize to an uncompressed protobuf. *buf is malloc'ed. 0 or -errno. */
int pprof__encode(const struct profile *p, uint8_t **buf, size_t *len);

/* Serialize, gzip and write everything to fd. 0 or -errno. */
int pprof__write_gz(const struct profile *p, int fd);

#endif
