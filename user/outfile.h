/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Atomic output files: data is written to a temporary file in the target's
 * directory, fsync'ed, then renamed over the final name, so no reader ever
 * sees a half-written profile under its final name.
 */
#ifndef PYBPF_OUTFILE_H
#define PYBPF_OUTFILE_H

#include <stdbool.h>

struct outfile;

/*
 * Check early (before profiling) that `path` can be written: its directory
 * exists and is writable, and `path` does not exist unless `overwrite`.
 * 0, -EEXIST, -ENOENT, -EACCES, -EISDIR or another -errno.
 */
int outfile__check(const char *path, bool overwrite);

/* Create the temporary file. NULL with errno set on failure. */
struct outfile *outfile__open(const char *path, bool overwrite);
/* File descriptor to write the content to. */
int outfile__fd(const struct outfile *f);
/* fsync + rename into place (refusing to replace unless overwrite). 0 or -errno.
 * Frees f in every case. */
int outfile__commit(struct outfile *f);
/* Remove the temporary file and free f. Accepts NULL. */
void outfile__abort(struct outfile *f);

#endif
