// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flame graph writer (flamesvg.h).
 *
 * The samples are merged into a call tree (root, process, thread, frames
 * outermost first), a node per distinct path, found through a hash map on
 * (parent node, frame). The tree goes out depth first with each node's
 * children sorted by name, as three numbers per node (depth, frame index,
 * samples); frames go out once each as [name, file, line]. The script
 * (flamesvg.js, embedded at build time) lays it out in the browser.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "flamesvg.h"
#include "flamesvg_js.h"
#include "hashmap.h"
#include "outbuf.h"
#include "profile.h"
#include "writer.h"

#define ROW_PX 17
#define TOP_PX 48 /* title and buttons, then hover details and search result */
#define BOTTOM_PX 10

/* A frame of the graph: a profile location, a process, a thread or the root. */
struct gframe {
	const char *name;
	const char *file;
	int64_t line;
	int kind; /* 1 for process and thread frames */
};

struct node {
	size_t frame;
	uint64_t total;
	size_t first_child; /* index + 1; 0 = none */
	size_t next_sibling;
	unsigned int depth;
};

struct child_key {
	size_t parent;
	size_t frame;
};

struct tree {
	struct gframe *frames;
	size_t nframes;
	char **names; /* owned process and thread names */
	size_t nnames;
	struct node *nodes;
	size_t nnodes, cap;
	struct hashmap *index;
	unsigned int max_depth;
};

static int tree_child(struct tree *t, size_t parent, size_t frame, size_t *out)
{
	struct child_key k;
	void *v;
	struct node *nd;

	memset(&k, 0, sizeof(k));
	k.parent = parent;
	k.frame = frame;
	v = hashmap__get(t->index, &k);
	if (v) {
		*out = (size_t)(uintptr_t)v - 1;
		return 0;
	}
	if (array__reserve((void **)&t->nodes, &t->cap, t->nnodes + 1, sizeof(*t->nodes)))
		return -ENOMEM;
	if (hashmap__set(t->index, &k, (void *)(uintptr_t)(t->nnodes + 1)))
		return -ENOMEM;
	nd = &t->nodes[t->nnodes];
	*nd = (struct node){.frame = frame, .depth = t->nodes[parent].depth + 1};
	nd->next_sibling = t->nodes[parent].first_child;
	t->nodes[parent].first_child = t->nnodes + 1;
	if (nd->depth > t->max_depth)
		t->max_depth = nd->depth;
	*out = t->nnodes++;
	return 0;
}

/* Frames for every process (or thread) group, named after its first sample. */
static int add_group_frames(struct tree *t, const struct profile *p, const struct sample_groups *g,
			    bool thread, size_t *first_frame)
{
	*first_frame = t->nframes;
	for (size_t k = 0; k < g->ngroups; k++) {
		const struct profile_labels *l = profile__sample_labels(p, g->order[g->start[k]]);
		char buf[512];
		bool have = thread ? writer__thread_name(l, buf, sizeof(buf))
				   : writer__process_name(l, buf, sizeof(buf));
		char *name = strdup(have ? buf : "");

		if (!name)
			return -ENOMEM;
		t->names[t->nnames++] = name;
		t->frames[t->nframes++] = (struct gframe){.name = name, .kind = 1};
	}
	return 0;
}

static int build(struct tree *t, const struct profile *p)
{
	size_t nsamples = profile__sample_count(p), nlocs = profile__location_count(p);
	struct sample_groups procs = {0}, threads = {0};
	size_t proc0, thread0, *pgroup = NULL, *tgroup = NULL, root;
	int err;

	err = writer__group(p, GROUP_PROCESS, &procs);
	if (!err)
		err = writer__group(p, GROUP_THREAD, &threads);
	if (err)
		goto out_free;
	err = -ENOMEM;
	t->frames = calloc(nlocs + procs.ngroups + threads.ngroups + 1, sizeof(*t->frames));
	t->names = calloc(procs.ngroups + threads.ngroups + 1, sizeof(*t->names));
	pgroup = calloc(nsamples + 1, sizeof(*pgroup));
	tgroup = calloc(nsamples + 1, sizeof(*tgroup));
	t->index = hashmap__new(sizeof(struct child_key));
	if (!t->frames || !t->names || !pgroup || !tgroup || !t->index)
		goto out_free;
	for (size_t id = 1; id <= nlocs; id++) {
		const struct profile_frame *f =
		    profile__function(p, profile__location_function(p, id));

		t->frames[t->nframes++] = (struct gframe){
		    .name = f->name && *f->name ? f->name : "?",
		    .file = f->file,
		    .line = profile__location_line(p, id),
		};
	}
	err = add_group_frames(t, p, &procs, false, &proc0);
	if (!err)
		err = add_group_frames(t, p, &threads, true, &thread0);
	if (err)
		goto out_free;
	root = t->nframes;
	t->frames[t->nframes++] = (struct gframe){.name = "all"};
	for (size_t k = 0; k < procs.ngroups; k++)
		for (size_t j = procs.start[k]; j < procs.start[k + 1]; j++)
			pgroup[procs.order[j]] = k;
	for (size_t k = 0; k < threads.ngroups; k++)
		for (size_t j = threads.start[k]; j < threads.start[k + 1]; j++)
			tgroup[threads.order[j]] = k;

	t->nodes = calloc(1024, sizeof(*t->nodes));
	if (!t->nodes)
		goto out_free;
	t->cap = 1024;
	t->nodes[0] = (struct node){.frame = root};
	t->nnodes = 1;
	err = 0;
	for (size_t i = 0; i < nsamples && !err; i++) {
		uint64_t c = profile__sample_value(p, i);
		size_t n, cur = 0;
		const size_t *locs = profile__sample_locations(p, i, &n);

		t->nodes[0].total += c;
		if (*t->frames[proc0 + pgroup[i]].name) {
			err = tree_child(t, cur, proc0 + pgroup[i], &cur);
			if (!err)
				t->nodes[cur].total += c;
		}
		if (!err && *t->frames[thread0 + tgroup[i]].name) {
			err = tree_child(t, cur, thread0 + tgroup[i], &cur);
			if (!err)
				t->nodes[cur].total += c;
		}
		for (size_t j = n; j > 0 && !err; j--) {
			err = tree_child(t, cur, locs[j - 1] - 1, &cur);
			if (!err)
				t->nodes[cur].total += c;
		}
	}
out_free:
	free(pgroup);
	free(tgroup);
	writer__group_free(&procs);
	writer__group_free(&threads);
	return err;
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->frames);
	free(t->nodes);
	hashmap__free(t->index);
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* Children in name order; written in reverse onto the stack (see emit). */
static int cmp_child_desc(const void *a, const void *b, void *data)
{
	const struct tree *t = data;
	const struct gframe *x = &t->frames[t->nodes[*(const size_t *)a].frame];
	const struct gframe *y = &t->frames[t->nodes[*(const size_t *)b].frame];
	int r = cmp_str(x->name, y->name);

	if (!r)
		r = cmp_str(x->file, y->file);
	if (!r)
		r = (x->line > y->line) - (x->line < y->line);
	return -r;
}

static void emit_frames(struct outbuf *b, const struct tree *t)
{
	outbuf__puts(b, "var PYBPF_FRAMES=[");
	for (size_t i = 0; i < t->nframes; i++) {
		const struct gframe *f = &t->frames[i];

		outbuf__puts(b, i ? ",\n[\"" : "\n[\"");
		outbuf__json_text(b, f->name);
		outbuf__puts(b, "\",\"");
		outbuf__json_text(b, f->file ? f->file : "");
		outbuf__printf(b, "\",%" PRId64 "%s]", f->line, f->kind ? ",1" : "");
	}
	outbuf__puts(b, "];\n");
}

/* Depth-first, children sorted by name: "depth,frame,samples" per node. */
static int emit_nodes(struct outbuf *b, const struct tree *t)
{
	size_t *stack = malloc(t->nnodes * sizeof(*stack)), sp = 0, count = 0;

	if (!stack)
		return -ENOMEM;
	outbuf__puts(b, "var PYBPF_NODES=[");
	stack[sp++] = 0;
	while (sp) {
		size_t i = stack[--sp], first = sp;
		const struct node *nd = &t->nodes[i];

		outbuf__printf(b, "%s%u,%zu,%" PRIu64, count ? "," : "", nd->depth, nd->frame,
			       nd->total);
		if (++count % 16 == 0)
			outbuf__puts(b, "\n");
		for (size_t c = nd->first_child; c; c = t->nodes[c - 1].next_sibling)
			stack[sp++] = c - 1;
		qsort_r(stack + first, sp - first, sizeof(*stack), cmp_child_desc, (void *)t);
	}
	outbuf__puts(b, "];\n");
	free(stack);
	return 0;
}

static void emit_skeleton(struct outbuf *b, const struct profile *p, const struct tree *t)
{
	unsigned int height = TOP_PX + (t->max_depth + 1) * ROW_PX + BOTTOM_PX;

	outbuf__puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
	outbuf__printf(b,
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"pybpf-flame\" "
		       "width=\"100%%\" height=\"%u\" font-family=\"Verdana, sans-serif\" "
		       "font-size=\"12\">\n",
		       height);
	outbuf__puts(b, "<title>pybpf-prof flame graph</title>\n");
	outbuf__puts(b, "<style>.frame text{pointer-events:none;fill:#000}"
			".frame:hover rect{stroke:#000;stroke-width:0.8}"
			".button{fill:#2255aa;cursor:pointer;text-decoration:underline}"
			"</style>\n");
	outbuf__puts(b,
		     "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#fbfbf6\"/>\n");
	outbuf__printf(
	    b, "<text x=\"10\" y=\"20\" font-size=\"15\">pybpf-prof: %" PRIu64 " samples</text>\n",
	    profile__total_count(p));
	outbuf__puts(b, "<g id=\"pybpf-buttons\" transform=\"translate(1190,0)\">"
			"<text id=\"pybpf-search\" class=\"button\" x=\"0\" y=\"20\" "
			"text-anchor=\"end\">Search</text>"
			"<text id=\"pybpf-clear\" class=\"button\" x=\"-64\" y=\"20\" "
			"text-anchor=\"end\">Clear</text>"
			"<text id=\"pybpf-reset\" class=\"button\" x=\"-120\" y=\"20\" "
			"text-anchor=\"end\">Reset zoom</text></g>\n");
	outbuf__puts(b, "<g id=\"pybpf-frames\"></g>\n");
	outbuf__puts(b, "<text id=\"pybpf-details\" x=\"10\" y=\"40\"> </text>\n");
	outbuf__puts(b, "<text id=\"pybpf-matched\" x=\"1190\" y=\"40\" text-anchor=\"end\" "
			"fill=\"#aa22aa\"></text>\n");
}

int flamesvg__write(const struct profile *p, int fd)
{
	struct tree t = {0};
	struct outbuf *b = malloc(sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	err = build(&t, p);
	if (err)
		goto out_free;
	outbuf__init(b, fd);
	emit_skeleton(b, p, &t);
	outbuf__puts(b, "<script type=\"text/javascript\"><![CDATA[\n");
	emit_frames(b, &t);
	err = emit_nodes(b, &t);
	if (err)
		goto out_free;
	outbuf__puts(b, flamesvg_js);
	outbuf__puts(b, "]]></script>\n</svg>\n");
	err = outbuf__finish(b);
out_free:
	tree_free(&t);
	free(b);
	return err;
}
