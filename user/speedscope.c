// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * speedscope writer (speedscope.h). Frames are the profile's locations in
 * id order (frame index = location id - 1); each sample is written root
 * first, as the format wants, with its count as weight.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "outbuf.h"
#include "profile.h"
#include "speedscope.h"
#include "writer.h"

static void write_frames(struct outbuf *b, const struct profile *p)
{
	outbuf__puts(b, "\"shared\":{\"frames\":[");
	for (size_t id = 1; id <= profile__location_count(p); id++) {
		const struct profile_frame *f =
		    profile__function(p, profile__location_function(p, id));
		int64_t line = profile__location_line(p, id);

		outbuf__puts(b, id > 1 ? ",\n{\"name\":\"" : "\n{\"name\":\"");
		outbuf__json_text(b, f->name && *f->name ? f->name : "?");
		outbuf__puts(b, "\"");
		if (f->file && *f->file) {
			outbuf__puts(b, ",\"file\":\"");
			outbuf__json_text(b, f->file);
			outbuf__puts(b, "\"");
		}
		if (line > 0)
			outbuf__printf(b, ",\"line\":%" PRId64, line);
		outbuf__puts(b, "}");
	}
	outbuf__puts(b, "]}");
}

static void write_profile(struct outbuf *b, const struct profile *p, const size_t *idx, size_t n)
{
	const struct profile_labels *l = profile__sample_labels(p, idx[0]);
	char pname[256], tname[256];
	uint64_t total = 0;

	for (size_t k = 0; k < n; k++)
		total += profile__sample_value(p, idx[k]);
	outbuf__puts(b, "{\"type\":\"sampled\",\"name\":\"");
	if (writer__process_name(l, pname, sizeof(pname)))
		outbuf__json_text(b, pname);
	else
		outbuf__puts(b, "all samples");
	if (writer__thread_name(l, tname, sizeof(tname))) {
		outbuf__puts(b, " ");
		outbuf__json_text(b, tname);
	}
	outbuf__printf(b, "\",\"unit\":\"none\",\"startValue\":0,\"endValue\":%" PRIu64, total);
	outbuf__puts(b, ",\"samples\":[");
	for (size_t k = 0; k < n; k++) {
		size_t nlocs;
		const size_t *locs = profile__sample_locations(p, idx[k], &nlocs);

		outbuf__puts(b, k ? ",\n[" : "\n[");
		for (size_t j = nlocs; j > 0; j--)
			outbuf__printf(b, j < nlocs ? ",%zu" : "%zu", locs[j - 1] - 1);
		outbuf__puts(b, "]");
	}
	outbuf__puts(b, "],\"weights\":[");
	for (size_t k = 0; k < n; k++)
		outbuf__printf(b, k ? ",%" PRIu64 : "%" PRIu64, profile__sample_value(p, idx[k]));
	outbuf__puts(b, "]}");
}

int speedscope__write(const struct profile *p, int fd)
{
	struct sample_groups groups;
	struct outbuf *b;
	int err;

	err = writer__group(p, GROUP_THREAD, &groups);
	if (err)
		return err;
	b = malloc(sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto out_free;
	}
	outbuf__init(b, fd);
	outbuf__puts(b, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n");
	write_frames(b, p);
	outbuf__puts(b, ",\n\"profiles\":[");
	for (size_t g = 0; g < groups.ngroups; g++) {
		if (g)
			outbuf__puts(b, ",\n");
		write_profile(b, p, groups.order + groups.start[g],
			      groups.start[g + 1] - groups.start[g]);
	}
	if (!groups.ngroups) /* the importer wants at least one profile */
		outbuf__puts(b, "{\"type\":\"sampled\",\"name\":\"no samples\",\"unit\":\"none\","
				"\"startValue\":0,\"endValue\":0,\"samples\":[],\"weights\":[]}");
	outbuf__puts(b, "],\n\"name\":\"pybpf-prof\",\"activeProfileIndex\":0,");
	outbuf__puts(b, "\"exporter\":\"pybpf-prof " PYBPF_VERSION "\"}\n");
	err = outbuf__finish(b);
out_free:
	writer__group_free(&groups);
	free(b);
	return err;
}
