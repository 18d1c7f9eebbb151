// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Text table writer (textreport.h). Samples are visited group by group
 * (one group, or one per process); per group every function touched gets
 * its own/total sums, using a per-function stamp so that a function seen
 * twice in one stack counts once toward total.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbuf.h"
#include "profile.h"
#include "textreport.h"
#include "writer.h"

#define NAME_COL_MIN 8
#define NAME_COL_MAX 48

struct fsum {
	uint64_t own, total;
	size_t stamp;	    /* 1 + last sample counted in total */
	size_t group_stamp; /* 1 + last group that touched it */
};

struct sort_ctx {
	const struct profile *p;
	const struct fsum *sums;
	bool by_own;
};

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return (a < b) - (a > b);
}

static int cmp_row(const void *a, const void *b, void *data)
{
	const struct sort_ctx *c = data;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct fsum *fx = &c->sums[x], *fy = &c->sums[y];
	const struct profile_frame *px = profile__function(c->p, x);
	const struct profile_frame *py = profile__function(c->p, y);
	int r = c->by_own ? cmp_u64_desc(fx->own, fy->own) : cmp_u64_desc(fx->total, fy->total);

	if (!r)
		r = c->by_own ? cmp_u64_desc(fx->total, fy->total) : cmp_u64_desc(fx->own, fy->own);
	if (!r)
		r = strcmp(px->name ? px->name : "", py->name ? py->name : "");
	if (!r)
		r = strcmp(px->file ? px->file : "", py->file ? py->file : "");
	return r ? r : (x > y) - (x < y);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void write_table(struct outbuf *b, const struct profile *p, const struct text_opts *o,
			const struct fsum *sums, size_t *rows, size_t nrows, uint64_t samples)
{
	struct sort_ctx ctx = {.p = p, .sums = sums, .by_own = o->by_own};
	size_t shown = o->limit && o->limit < nrows ? o->limit : nrows;
	int width = NAME_COL_MIN;

	qsort_r(rows, nrows, sizeof(*rows), cmp_row, &ctx);
	for (size_t i = 0; i < shown; i++) {
		const char *name = profile__function(p, rows[i])->name;
		size_t len = name ? strlen(name) : 1;

		if ((int)len > width)
			width = len > NAME_COL_MAX ? NAME_COL_MAX : (int)len;
	}
	outbuf__printf(b, "# %" PRIu64 " samples, %zu functions; sorted by %s samples", samples,
		       nrows, o->by_own ? "own" : "total");
	if (shown < nrows)
		outbuf__printf(b, "; first %zu shown", shown);
	outbuf__puts(b, "\n");
	outbuf__printf(b, "%10s %7s %10s %7s  %-*s  %s\n", "own", "own%", "total", "total%", width,
		       "function", "file:line");
	for (size_t i = 0; i < shown; i++) {
		const struct fsum *s = &sums[rows[i]];
		const struct profile_frame *f = profile__function(p, rows[i]);
		const char *name = f->name && *f->name ? f->name : "?";
		int pad = width - (int)strlen(name);

		outbuf__printf(b, "%10" PRIu64 " %6.2f%% %10" PRIu64 " %6.2f%%  ", s->own,
			       pct(s->own, samples), s->total, pct(s->total, samples));
		outbuf__line_text(b, name);
		outbuf__printf(b, "%*s  ", pad > 0 ? pad : 0, "");
		if (f->file && *f->file) {
			outbuf__line_text(b, f->file);
			if (f->start_line)
				outbuf__printf(b, ":%" PRId64, f->start_line);
		} else {
			outbuf__puts(b, "-");
		}
		outbuf__puts(b, "\n");
	}
}

/* "# pybpf-prof: N samples", and the CPU time they stand for when the period is known. */
static void write_header(struct outbuf *b, const struct profile *p)
{
	uint64_t n = profile__total_count(p), period = profile__meta(p)->period_ns;

	outbuf__printf(b, "# pybpf-prof: %" PRIu64 " samples", n);
	if (period)
		outbuf__printf(b, ", %.2f s of CPU (one sample per %.2f ms)",
			       (double)n * (double)period / 1e9, (double)period / 1e6);
	outbuf__puts(b, "\n");
}

int textreport__write(const struct profile *p, const struct text_opts *o, int fd)
{
	size_t nfuncs = profile__function_count(p), *rows;
	struct sample_groups groups;
	struct fsum *sums;
	struct outbuf *b;
	int err;

	err = writer__group(p, o->per_process ? GROUP_PROCESS : GROUP_ALL, &groups);
	if (err)
		return err;
	rows = calloc(nfuncs + 1, sizeof(*rows));
	sums = calloc(nfuncs + 1, sizeof(*sums));
	b = malloc(sizeof(*b));
	if (!rows || !sums || !b) {
		err = -ENOMEM;
		goto out_free;
	}
	outbuf__init(b, fd);
	write_header(b, p);
	for (size_t g = 0; g < groups.ngroups; g++) {
		size_t nrows = 0;
		uint64_t samples = 0;

		for (size_t k = groups.start[g]; k < groups.start[g + 1]; k++) {
			size_t i = groups.order[k], n;
			const size_t *locs = profile__sample_locations(p, i, &n);
			uint64_t c = profile__sample_value(p, i);

			samples += c;
			for (size_t j = 0; j < n; j++) {
				size_t f = profile__location_function(p, locs[j]);
				struct fsum *s = &sums[f];

				if (s->group_stamp != g + 1) {
					*s = (struct fsum){.group_stamp = g + 1};
					rows[nrows++] = f;
				}
				if (j == 0)
					s->own += c;
				if (s->stamp != i + 1) {
					s->total += c;
					s->stamp = i + 1;
				}
			}
		}
		if (o->per_process) {
			const struct profile_labels *l =
			    profile__sample_labels(p, groups.order[groups.start[g]]);
			char name[256];

			if (!writer__process_name(l, name, sizeof(name)))
				snprintf(name, sizeof(name), "(no process label)");
			outbuf__puts(b, g ? "\n# process " : "# process ");
			outbuf__line_text(b, name);
			outbuf__puts(b, "\n");
		}
		write_table(b, p, o, sums, rows, nrows, samples);
	}
	err = outbuf__finish(b);
out_free:
	writer__group_free(&groups);
	free(rows);
	free(sums);
	free(b);
	return err;
}
