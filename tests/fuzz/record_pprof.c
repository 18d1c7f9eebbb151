// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Seed writer for fuzz_pprofread: stacks recorded from a real interpreter
 * (tests/fuzz/gen_seeds.py), one sample per input line,
 *   COUNT <TAB> NAME|FILE|LINE|START <TAB> ...   (innermost frame first)
 * written as a profile by the pprof encoder, plain (OUT.pb) and gzipped
 * (OUT.pb.gz).
 *
 * Usage: record_pprof OUT < stacks.txt
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pprof.h"
#include "profile.h"

#define MAX_FRAMES 256

static int write_all(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct profile_meta meta = {.period_ns = 10000000, .time_ns = 1, .duration_ns = 1000000000};
	static struct profile_frame frames[MAX_FRAMES];
	struct profile_labels labels = {.pid = 4242, .tid = 4243, .comm = "python3"};
	char line[65536], path[4096];
	struct profile *p;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUT < stacks.txt\n", argv[0]);
		return 2;
	}
	p = profile__new(&meta);
	if (!p)
		return 1;
	while (fgets(line, sizeof(line), stdin)) {
		char *save = NULL, *tok = strtok_r(line, "\t\n", &save);
		unsigned long long count = tok ? strtoull(tok, NULL, 10) : 0;
		size_t n = 0;

		while ((tok = strtok_r(NULL, "\t\n", &save)) && n < MAX_FRAMES) {
			char *fsave = NULL;
			const char *name = strtok_r(tok, "|", &fsave);
			const char *file = strtok_r(NULL, "|", &fsave);
			const char *ln = strtok_r(NULL, "|", &fsave);
			const char *start = strtok_r(NULL, "|", &fsave);

			if (!name || !file || !ln || !start)
				break;
			frames[n].name = name;
			frames[n].file = file;
			frames[n].line = strtoll(ln, NULL, 10);
			frames[n].start_line = strtoll(start, NULL, 10);
			n++;
		}
		if (n && count && profile__add(p, &labels, frames, n, count))
			goto out_free;
	}
	snprintf(path, sizeof(path), "%s.pb", argv[1]);
	if (pprof__encode(p, &buf, &len) || write_all(path, buf, len))
		goto out_free;
	snprintf(path, sizeof(path), "%s.pb.gz", argv[1]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out_free;
	rc = pprof__write_gz(p, fd) ? 1 : 0;
	close(fd);
out_free:
	free(buf);
	profile__free(p);
	return rc;
}
