// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Collapsed-stack writer.
 *
 * One line per distinct stack text:
 *
 *   [container ID;]comm (pid);thread;root (file:line);...;leaf (file:line) count
 *
 * - container frame: only for processes in a container (from the cgroup path);
 * - process frame: "comm (pid)", or "pid N" when comm is absent or empty;
 * - thread frame: the thread name, or "tid N" when it is absent or empty;
 * - Python frame: "name (file:line)"; "name (file)" when the line is
 *   unknown (0); just "name" when neither file nor line is known (pseudo
 *   frames such as "[truncated]"); a missing name, or a missing file with a
 *   known line, is written "?";
 * - native and kernel frame (--native): just the name; kernel functions
 *   end in "_[k]" (as in Linux perf's collapsed stacks);
 * - inside any frame, ';' becomes ',' and control characters (newlines
 *   included) become ' ', so a frame can neither split nor end a line;
 * - count is the number of samples; in a wall-time profile, microseconds
 *   of wall time (lines under 1 us are left out).
 *
 * Samples whose text comes out equal (e.g. two threads with the same name)
 * are merged into one line, and lines are sorted bytewise by their stack
 * text, so the output does not depend on the order samples arrived in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "folded.h"
#include "profile.h"

#define OUT_CHUNK (64 * 1024)

/* All stack texts, back to back (not NUL-terminated), and one entry per sample. */
struct text {
	char *data;
	size_t len;
	size_t cap;
};

struct line {
	size_t off;
	size_t len;
	uint64_t count;
};

static int text_reserve(struct text *t, size_t extra)
{
	size_t cap;
	char *data;

	if (t->cap - t->len >= extra)
		return 0;
	if (extra > SIZE_MAX / 2 - t->len)
		return -ENOMEM;
	cap = t->cap ? t->cap : OUT_CHUNK;
	while (cap - t->len < extra)
		cap *= 2;
	data = realloc(t->data, cap);
	if (!data)
		return -ENOMEM;
	t->data = data;
	t->cap = cap;
	return 0;
}

static int text_raw(struct text *t, const char *s, size_t n)
{
	int err = text_reserve(t, n);

	if (err)
		return err;
	memcpy(t->data + t->len, s, n);
	t->len += n;
	return 0;
}

/* Append user-controlled s with ';' and control characters replaced. */
static int text_escaped(struct text *t, const char *s)
{
	size_t n = strlen(s);
	int err = text_reserve(t, n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ';')
			c = ',';
		else if (c < 0x20 || c == 0x7f)
			c = ' ';
		t->data[t->len++] = (char)c;
	}
	return 0;
}

/* Append plain ASCII formatted text (numbers and fixed punctuation only). */
static int text_printf(struct text *t, const char *fmt, int64_t v)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), fmt, v);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return text_raw(t, tmp, (size_t)n);
}

static int text_frame(struct text *t, const struct profile *p, size_t location_id)
{
	const struct profile_frame *f =
	    profile__function(p, profile__location_function(p, location_id));
	int64_t line = profile__location_line(p, location_id);
	const char *name = f && f->name && *f->name ? f->name : "?";
	const char *file =
	    f && f->file && *f->file && f->kind == PROFILE_FRAME_PYTHON ? f->file : NULL;
	int err;

	err = text_escaped(t, name);
	if (err || (!file && !line))
		return err;
	err = text_raw(t, " (", 2);
	if (!err)
		err = text_escaped(t, file ? file : "?");
	if (!err && line)
		err = text_printf(t, ":%" PRId64, line);
	if (!err)
		err = text_raw(t, ")", 1);
	return err;
}

/* The stack text of sample i: process, thread, then frames root first. */
static int text_sample(struct text *t, const struct profile *p, size_t i)
{
	const struct profile_labels *l = profile__sample_labels(p, i);
	const size_t *locs;
	size_t n;
	int err = 0;

	if (l->container && *l->container) {
		err = text_raw(t, "container ", 10);
		if (!err)
			err = text_escaped(t, l->container);
		if (!err)
			err = text_raw(t, ";", 1);
	}
	if (err)
		return err;
	if (l->comm && *l->comm) {
		err = text_escaped(t, l->comm);
		if (!err)
			err = text_printf(t, " (%" PRId64 ")", l->pid);
	} else {
		err = text_printf(t, "pid %" PRId64, l->pid);
	}
	if (!err)
		err = text_raw(t, ";", 1);
	if (!err && l->thread_name && *l->thread_name)
		err = text_escaped(t, l->thread_name);
	else if (!err)
		err = text_printf(t, "tid %" PRId64, l->tid);

	locs = profile__sample_locations(p, i, &n);
	for (size_t j = n; j > 0 && !err; j--) {
		err = text_raw(t, ";", 1);
		if (!err)
			err = text_frame(t, p, locs[j - 1]);
	}
	return err;
}

static int line_cmp(const void *a, const void *b, void *data)
{
	const struct line *x = a, *y = b;
	const char *base = data;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(base + x->off, base + y->off, n);

	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static bool line_eq(const struct text *t, const struct line *x, const struct line *y)
{
	return x->len == y->len && memcmp(t->data + x->off, t->data + y->off, x->len) == 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the merged lines through a fixed-size buffer. */
static int write_lines(int fd, const struct text *t, const struct line *lines, size_t nlines,
		       uint64_t unit)
{
	char *out = malloc(OUT_CHUNK);
	size_t used = 0;
	int err = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < nlines && !err; i++) {
		const struct line *l = &lines[i];
		char count[32];
		int n = snprintf(count, sizeof(count), " %" PRIu64 "\n", l->count / unit);
		const char *parts[2] = {t->data + l->off, count};
		size_t lens[2] = {l->len, (size_t)n};

		if (l->count < unit)
			continue;
		for (size_t k = 0; k < 2 && !err; k++) {
			const char *src = parts[k];
			size_t left = lens[k];

			while (left && !err) {
				size_t take = OUT_CHUNK - used < left ? OUT_CHUNK - used : left;

				memcpy(out + used, src, take);
				used += take;
				src += take;
				left -= take;
				if (used == OUT_CHUNK) {
					err = write_all(fd, out, used);
					used = 0;
				}
			}
		}
	}
	if (!err)
		err = write_all(fd, out, used);
	free(out);
	return err;
}

int folded__write(const struct profile *p, int fd)
{
	size_t nsamples = profile__sample_count(p), nlines = 0;
	bool wall = profile__meta(p)->wall;
	struct text text = {0};
	struct line *lines;
	int err = 0;

	lines = calloc(nsamples ? nsamples : 1, sizeof(*lines));
	if (!lines)
		return -ENOMEM;

	for (size_t i = 0; i < nsamples; i++) {
		size_t off = text.len;

		err = text_sample(&text, p, i);
		if (err)
			goto out_free;
		lines[i] = (struct line){.off = off,
					 .len = text.len - off,
					 .count = wall ? profile__sample_ns(p, i)
						       : profile__sample_value(p, i)};
	}

	if (nsamples)
		qsort_r(lines, nsamples, sizeof(*lines), line_cmp, text.data);
	/* Merge equal neighbours; counts cannot overflow, their sum is the profile total
	 * (of samples or of nanoseconds). */
	for (size_t i = 0; i < nsamples; i++) {
		if (nlines && line_eq(&text, &lines[nlines - 1], &lines[i]))
			lines[nlines - 1].count += lines[i].count;
		else
			lines[nlines++] = lines[i];
	}

	err = write_lines(fd, &text, lines, nlines, wall ? 1000 : 1);
out_free:
	free(text.data);
	free(lines);
	return err;
}
