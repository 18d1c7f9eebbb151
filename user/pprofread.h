/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof reader: a gzipped or plain profile.proto (github.com/google/pprof)
 * into the in-memory profile (profile.h) that every writer takes.
 *
 * The input is untrusted. Everything is bounds-checked; the decompressed
 * size, the frames of one sample and the frames of the whole profile are
 * capped (below), so a small hostile file cannot make it allocate without
 * bound. Nothing here prints.
 *
 * What is read: one sample value per sample (the "samples" type if there
 * is one, else default_sample_type, else the last type); each location's
 * lines (inlined frames expanded, innermost first) as frames with the
 * function's name, file and start line; a location without lines becomes
 * a frame named by its address; the labels pybpf-prof writes (pid, tid,
 * comm, thread_name, container_id, service), other labels are ignored;
 * time, duration and a nanosecond period.
 */
#ifndef PYBPF_PPROFREAD_H
#define PYBPF_PPROFREAD_H

#include <stddef.h>
#include <stdint.h>

struct profile;

#define PPROFREAD_MAX_BYTES (256u << 20) /* protobuf, after gunzip */
#define PPROFREAD_MAX_DEPTH 4096	 /* frames of one sample; deeper: "[truncated]" */
#define PPROFREAD_MAX_FRAMES (64u << 20) /* frames of all samples together */

/*
 * Parse `len` bytes (gzip when they start with its magic). On success
 * *out is a new profile (profile__free). Errors: -EBADMSG (not a pprof
 * profile, or a malformed one), -E2BIG (over a limit above), -ENOMEM;
 * `why` (if non-NULL) then gets a short lowercase reason, no newline.
 */
int pprofread__parse(const void *data, size_t len, struct profile **out, char *why, size_t whylen);

/* Read and parse a file. Also -errno of open/read; -E2BIG for a file over the limit. */
int pprofread__file(const char *path, struct profile **out, char *why, size_t whylen);

#endif
