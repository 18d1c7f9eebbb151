// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "topview.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "hashmap.h"
#include "profile.h"

/* Interned strings: one copy of each function, file and process name. */
struct str_key {
	uint64_t hash;
	uint64_t len;
};

struct str_node {
	struct str_node *next; /* same hash and length */
	char s[];
};

/* A row: (function, file, line, process). */
struct row_key {
	const char *name, *file; /* interned */
	int64_t line;
	int64_t pid;
};

struct row {
	struct row_key key;
	const char *comm, *service; /* interned */
	uint64_t own_last, total_last, own_all, total_all;
	uint64_t stamp; /* last sample that counted it in total */
};

struct topview {
	struct hashmap *strs; /* str_key -> str_node list */
	struct hashmap *rows; /* row_key -> row */
	uint64_t stamp;
	uint64_t samples_last, samples_all;
	uint64_t period_ns;
	double secs_all, secs_last;
	size_t threads_last, intervals;
};

static uint64_t topview__hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static const char *topview__intern(struct topview *tv, const char *s)
{
	struct str_key k;
	struct str_node *head, *n;
	size_t len;

	if (!s)
		s = "";
	len = strlen(s);
	k = (struct str_key){.hash = topview__hash(s, len), .len = len};
	head = hashmap__get(tv->strs, &k);
	for (n = head; n; n = n->next)
		if (!memcmp(n->s, s, len))
			return n->s;
	n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memcpy(n->s, s, len + 1);
	n->next = head;
	if (hashmap__set(tv->strs, &k, n)) {
		free(n);
		return NULL;
	}
	return n->s;
}

struct topview *topview__new(void)
{
	struct topview *tv = calloc(1, sizeof(*tv));

	if (!tv)
		return NULL;
	tv->strs = hashmap__new(sizeof(struct str_key));
	tv->rows = hashmap__new(sizeof(struct row_key));
	if (!tv->strs || !tv->rows) {
		topview__free(tv);
		errno = ENOMEM;
		return NULL;
	}
	return tv;
}

static int topview__free_str(const void *key, void *value, void *arg)
{
	struct str_node *n = value;

	(void)key;
	(void)arg;
	while (n) {
		struct str_node *next = n->next;

		free(n);
		n = next;
	}
	return 0;
}

static int topview__free_row(const void *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	free(value);
	return 0;
}

void topview__free(struct topview *tv)
{
	if (!tv)
		return;
	if (tv->strs)
		hashmap__each(tv->strs, topview__free_str, NULL);
	if (tv->rows)
		hashmap__each(tv->rows, topview__free_row, NULL);
	hashmap__free(tv->strs);
	hashmap__free(tv->rows);
	free(tv);
}

static int topview__clear_last(const void *key, void *value, void *arg)
{
	struct row *r = value;

	(void)key;
	(void)arg;
	r->own_last = 0;
	r->total_last = 0;
	return 0;
}

static struct row *topview__row(struct topview *tv, const struct profile_frame *f, int64_t line,
				const struct profile_labels *l)
{
	struct row_key k;
	struct row *r;

	memset(&k, 0, sizeof(k));
	k.name = topview__intern(tv, f->name);
	k.file = topview__intern(tv, f->file);
	k.line = line;
	k.pid = l->pid;
	if (!k.name || !k.file)
		return NULL;
	r = hashmap__get(tv->rows, &k);
	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->key = k;
	r->comm = topview__intern(tv, l->comm);
	r->service = topview__intern(tv, l->service);
	if (!r->comm || !r->service || hashmap__set(tv->rows, &k, r)) {
		free(r);
		return NULL;
	}
	return r;
}

int topview__add(struct topview *tv, const struct profile *p, double interval_s)
{
	size_t n = profile__sample_count(p);

	hashmap__each(tv->rows, topview__clear_last, NULL);
	tv->samples_last = 0;
	tv->period_ns = profile__meta(p)->period_ns;
	tv->secs_last = interval_s;
	tv->secs_all += interval_s;
	tv->threads_last = profile__thread_count(p);
	tv->intervals++;
	for (size_t i = 0; i < n; i++) {
		const struct profile_labels *l = profile__sample_labels(p, i);
		uint64_t c = profile__sample_value(p, i);
		size_t nlocs;
		const size_t *locs = profile__sample_locations(p, i, &nlocs);

		tv->stamp++;
		tv->samples_last += c;
		tv->samples_all += c;
		for (size_t j = 0; j < nlocs; j++) {
			const struct profile_frame *f =
			    profile__function(p, profile__location_function(p, locs[j]));
			struct row *r = topview__row(tv, f, profile__location_line(p, locs[j]), l);

			if (!r)
				return -ENOMEM;
			if (j == 0) {
				r->own_last += c;
				r->own_all += c;
			}
			if (r->stamp != tv->stamp) {
				r->stamp = tv->stamp;
				r->total_last += c;
				r->total_all += c;
			}
		}
	}
	return 0;
}

size_t topview__threads(const struct topview *tv)
{
	return tv->threads_last;
}

/* ---- rendering ---------------------------------------------------------- */

struct pick {
	const struct topview_opts *o;
	const struct row **v;
	size_t n, cap;
	int err;
};

static uint64_t own_of(const struct row *r, bool all)
{
	return all ? r->own_all : r->own_last;
}

static uint64_t total_of(const struct row *r, bool all)
{
	return all ? r->total_all : r->total_last;
}

static bool topview__matches(const struct row *r, const char *filter)
{
	char pid[24];

	if (!filter || !*filter)
		return true;
	snprintf(pid, sizeof(pid), "%" PRId64, r->key.pid);
	return strstr(r->comm, filter) || strstr(r->service, filter) || !strcmp(pid, filter);
}

static int topview__collect(const void *key, void *value, void *arg)
{
	struct pick *pk = arg;
	const struct row *r = value;

	(void)key;
	if (!total_of(r, pk->o->since_start) || !topview__matches(r, pk->o->filter))
		return 0;
	if (array__reserve((void **)&pk->v, &pk->cap, pk->n + 1, sizeof(*pk->v))) {
		pk->err = -ENOMEM;
		return 1;
	}
	pk->v[pk->n++] = r;
	return 0;
}

static const struct topview_opts *sort_opts; /* qsort has no context argument */

static int topview__cmp(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	bool all = sort_opts->since_start;
	uint64_t kx = sort_opts->sort == TOPVIEW_SORT_OWN ? own_of(x, all) : total_of(x, all);
	uint64_t ky = sort_opts->sort == TOPVIEW_SORT_OWN ? own_of(y, all) : total_of(y, all);
	uint64_t tx = sort_opts->sort == TOPVIEW_SORT_OWN ? total_of(x, all) : own_of(x, all);
	uint64_t ty = sort_opts->sort == TOPVIEW_SORT_OWN ? total_of(y, all) : own_of(y, all);
	int c;

	if (kx != ky)
		return kx < ky ? 1 : -1;
	if (tx != ty)
		return tx < ty ? 1 : -1;
	c = strcmp(x->key.name, y->key.name);
	if (c)
		return c;
	return x->key.line < y->key.line ? -1 : x->key.line > y->key.line;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* Write at most `width` display columns of s (bytes; UTF-8 continuation
 * bytes do not count), padded with spaces to width when pad. */
static void put_cols(FILE *f, const char *s, int width, bool pad)
{
	int cols = 0;

	for (; *s && cols < width; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20)
			c = '?';
		fputc(c, f);
		if ((c & 0xc0) != 0x80)
			cols++;
	}
	while (pad && cols++ < width)
		fputc(' ', f);
}

/* "name (file:line)" in at most width columns: a long file name loses its
 * start first, so the line stays visible. */
static void fmt_function(char *out, size_t len, const char *name, const char *file, int64_t line,
			 int width)
{
	char tail[32];
	int room;

	snprintf(tail, sizeof(tail), ":%" PRId64 ")", line);
	room = width - (int)strlen(name) - 2 - (int)strlen(tail);
	if ((int)strlen(file) <= room || room < 6)
		snprintf(out, len, "%s (%s%s", name, file, tail);
	else
		snprintf(out, len, "%s (...%s%s", name, file + strlen(file) - (room - 3), tail);
}

int topview__render(const struct topview *tv, const struct topview_opts *o,
		    const struct topview_status *st, FILE *f)
{
	struct pick pk = {.o = o};
	bool all = o->since_start;
	uint64_t samples = all ? tv->samples_all : tv->samples_last;
	int cols = o->cols >= 40 ? o->cols : 80;
	int func_w, proc_w, table_rows;
	char line[512];

	hashmap__each(tv->rows, topview__collect, &pk);
	if (pk.err)
		return pk.err;
	sort_opts = o;
	if (pk.n)
		qsort(pk.v, pk.n, sizeof(*pk.v), topview__cmp);

	if (o->ansi)
		fputs("\x1b[H", f); /* home; each line is cleared to its end */
	snprintf(line, sizeof(line),
		 "pybpf-prof top (%s) %s  %.0f samples/s  %zu processes  %zu threads  %" PRIu64
		 " drops",
		 st->mode ? st->mode : "cpu", st->clock ? st->clock : "", st->samples_per_s,
		 st->processes, tv->threads_last, st->drops);
	put_cols(f, line, cols - 1, false);
	fputs(o->ansi ? "\x1b[K\n" : "\n", f);
	snprintf(line, sizeof(line),
		 "%s, %s%s%s%s  [o]wn [t]otal [a]ll/last [f]ilter [p]ause [q]uit",
		 all ? "since start" : "last second",
		 o->sort == TOPVIEW_SORT_OWN ? "by own" : "by total",
		 o->filter && *o->filter ? ", filter: " : "", o->filter ? o->filter : "",
		 o->paused ? ", PAUSED" : "");
	put_cols(f, line, cols - 1, false);
	fputs(o->ansi ? "\x1b[K\n" : "\n", f);
	if (o->prompt) {
		snprintf(line, sizeof(line), "filter (process, service or pid; Enter applies): %s",
			 o->prompt);
		put_cols(f, line, cols - 1, false);
	}
	fputs(o->ansi ? "\x1b[K\n" : "\n", f);

	/* OWN% TOTAL% OWN(s) TOTAL(s) PROCESS FUNCTION (FILE:LINE) */
	/* 32 columns of numbers, the process, a space, the function; the last
	 * column stays empty (no automatic wrap on any terminal). */
	proc_w = cols >= 100 ? 24 : 14;
	func_w = cols - 32 - proc_w - 1 - 1;
	if (o->ansi)
		fputs("\x1b[7m", f);
	snprintf(line, sizeof(line), "%6s %6s %7s %8s  %-*s %s", "OWN%", "TOTAL%", "OWN(s)",
		 "TOTAL(s)", proc_w, "PROCESS", "FUNCTION (FILE:LINE)");
	put_cols(f, line, cols - 1, o->ansi);
	fputs(o->ansi ? "\x1b[0m\x1b[K\n" : "\n", f);

	table_rows = o->ansi ? o->rows - 5 : o->rows;
	if (table_rows < 1)
		table_rows = 1;
	for (size_t i = 0; i < pk.n && (int)i < table_rows; i++) {
		const struct row *r = pk.v[i];
		double own = (double)own_of(r, all), total = (double)total_of(r, all);
		double per = (double)tv->period_ns / 1e9;
		char proc[96], func[640];

		snprintf(proc, sizeof(proc), "%s:%" PRId64, r->service[0] ? r->service : r->comm,
			 r->key.pid);
		if (r->key.line > 0)
			fmt_function(func, sizeof(func), r->key.name, base_name(r->key.file),
				     r->key.line, func_w);
		else if (r->key.file[0])
			snprintf(func, sizeof(func), "%s (%s)", r->key.name,
				 base_name(r->key.file));
		else
			snprintf(func, sizeof(func), "%s", r->key.name);
		fprintf(f, "%5.1f%% %5.1f%% %7.2f %8.2f  ", samples ? 100.0 * own / samples : 0.0,
			samples ? 100.0 * total / samples : 0.0, own * per, total * per);
		put_cols(f, proc, proc_w, true);
		fputc(' ', f);
		put_cols(f, func, func_w, false);
		fputs(o->ansi ? "\x1b[K\n" : "\n", f);
	}
	if (!pk.n) {
		fputs(samples ? "(no function matches the filter)" : "(no Python samples yet)", f);
		fputs(o->ansi ? "\x1b[K\n" : "\n", f);
	}
	if (o->ansi)
		fputs("\x1b[J", f); /* clear the rest of the screen */
	free(pk.v);
	return ferror(f) ? -EIO : 0;
}
