/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Daemon output: one profile per interval in a directory (gzipped pprof,
 * or another format of writer.h with its suffix), written
 * atomically (outfile.h) under a name that sorts by time and carries the
 * host name, with retention limits that delete the oldest of our files.
 */
#ifndef PYBPF_OUTDIR_H
#define PYBPF_OUTDIR_H

#include <stddef.h>
#include <stdint.h>

struct outdir;
struct profile;
struct writer_opts;

struct outdir_opts {
	const char *dir;       /* must exist */
	const char *host;      /* host name put into file names (sanitized) */
	uint64_t max_files;    /* 0 = unlimited */
	uint64_t max_bytes;    /* 0 = unlimited; total of our files in dir */
	const struct writer_opts *write; /* format of the files; NULL = pprof */
};

/* NULL with errno set (ENOMEM; the directory is checked by outdir__write). */
struct outdir *outdir__new(const struct outdir_opts *opts);
void outdir__free(struct outdir *d);

/*
 * Write one interval's profile as
 *   <dir>/pybpf-<host>-<YYYYmmddTHHMMSS>Z-<seq>.pb.gz (or the format's suffix)
 * (UTC start of the interval; seq makes names unique within a second and
 * keeps them sorting by time; after the wall clock went back, the last
 * stamp used, so that names keep sorting in write order), then delete the
 * oldest pybpf-<host>-*<suffix> files beyond the limits (never the one just
 * written). The written path goes to `path` when non-NULL. 0 or -errno
 * (-ENOSPC, -EACCES, -EROFS, -ENOENT...): nothing half-written is left
 * under a final name.
 */
int outdir__write(struct outdir *d, const struct profile *p, int64_t start_ns, char *path,
		  size_t pathlen);

#endif
