// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Format dispatch (writer.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flamesvg.h"
#include "folded.h"
#include "hashmap.h"
#include "pprof.h"
#include "profile.h"
#include "speedscope.h"
#include "textreport.h"
#include "writer.h"

static const struct {
	const char *name;
	const char *suffix;
} formats[FORMAT__COUNT] = {
    [FORMAT_PPROF] = {"pprof", ".pb.gz"}, [FORMAT_FOLDED] = {"folded", ".folded"},
    [FORMAT_SVG] = {"svg", ".svg"},	  [FORMAT_SPEEDSCOPE] = {"speedscope", ".speedscope.json"},
    [FORMAT_TEXT] = {"text", ".txt"},
};

int writer__parse_format(const char *name, enum output_format *fmt)
{
	for (int i = 0; i < FORMAT__COUNT; i++) {
		if (strcmp(name, formats[i].name) == 0) {
			*fmt = (enum output_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *writer__format_name(enum output_format fmt)
{
	return fmt < FORMAT__COUNT ? formats[fmt].name : "?";
}

const char *writer__suffix(enum output_format fmt)
{
	return fmt < FORMAT__COUNT ? formats[fmt].suffix : "";
}

int writer__write(const struct writer_opts *o, const struct profile *p, int fd)
{
	struct text_opts to;

	switch (o->format) {
	case FORMAT_PPROF:
		return pprof__write_gz(p, fd);
	case FORMAT_FOLDED:
		return folded__write(p, fd);
	case FORMAT_SVG:
		return flamesvg__write(p, fd);
	case FORMAT_SPEEDSCOPE:
		return speedscope__write(p, fd);
	case FORMAT_TEXT:
		to = (struct text_opts){.by_own = o->sort == SORT_OWN,
					.limit = o->limit,
					.per_process = o->per_process};
		return textreport__write(p, &to, fd);
	default:
		return -EINVAL;
	}
}

bool writer__process_name(const struct profile_labels *l, char *buf, size_t len)
{
	if (l->comm && *l->comm)
		snprintf(buf, len, "%s (%" PRId64 ")", l->comm, l->pid);
	else if (l->pid)
		snprintf(buf, len, "pid %" PRId64, l->pid);
	else
		return false;
	return true;
}

bool writer__thread_name(const struct profile_labels *l, char *buf, size_t len)
{
	if (l->thread_name && *l->thread_name)
		snprintf(buf, len, "%s (tid %" PRId64 ")", l->thread_name, l->tid);
	else if (l->tid)
		snprintf(buf, len, "tid %" PRId64, l->tid);
	else
		return false;
	return true;
}

struct group_key {
	int64_t pid, tid;
	const char *comm, *thread_name; /* interned by the profile: equal text, equal pointer */
};

int writer__group(const struct profile *p, enum group_by by, struct sample_groups *g)
{
	size_t nsamples = profile__sample_count(p), n = 0, *group;
	struct hashmap *m = NULL;
	int err = -ENOMEM;

	memset(g, 0, sizeof(*g));
	group = calloc(nsamples + 1, sizeof(*group));
	g->order = calloc(nsamples + 1, sizeof(*g->order));
	if (!group || !g->order)
		goto out_free;
	m = hashmap__new(sizeof(struct group_key));
	if (!m)
		goto out_free;
	err = 0;
	for (size_t i = 0; i < nsamples && !err; i++) {
		const struct profile_labels *l = profile__sample_labels(p, i);
		struct group_key k;
		void *v;

		memset(&k, 0, sizeof(k));
		if (by != GROUP_ALL) {
			k.pid = l->pid;
			k.comm = l->comm;
		}
		if (by == GROUP_THREAD) {
			k.tid = l->tid;
			k.thread_name = l->thread_name;
		}
		v = hashmap__get(m, &k);
		if (!v) {
			v = (void *)(uintptr_t)++n;
			err = hashmap__set(m, &k, v);
		}
		group[i] = (size_t)(uintptr_t)v - 1;
	}
	if (err)
		goto out_free;
	err = -ENOMEM;
	g->start = calloc(n + 2, sizeof(*g->start));
	if (!g->start)
		goto out_free;
	/* Counting sort by group; stable, so samples keep their order. */
	for (size_t i = 0; i < nsamples; i++)
		g->start[group[i] + 1]++;
	for (size_t k = 0; k < n; k++)
		g->start[k + 1] += g->start[k];
	for (size_t i = 0; i < nsamples; i++)
		g->order[g->start[group[i]]++] = i;
	for (size_t k = n; k > 0; k--)
		g->start[k] = g->start[k - 1];
	g->start[0] = 0;
	g->ngroups = n;
	err = 0;
out_free:
	hashmap__free(m);
	free(group);
	if (err)
		writer__group_free(g);
	return err;
}

void writer__group_free(struct sample_groups *g)
{
	free(g->order);
	free(g->start);
	memset(g, 0, sizeof(*g));
}
