// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the text table, speedscope and SVG writers (and writer.c):
 * each output is decoded back here and its totals compared with the
 * profile's; the table's own/total counts, sort orders, --limit and
 * per-process tables; escaping of hostile names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flamesvg.h"
#include "profile.h"
#include "speedscope.h"
#include "textreport.h"
#include "writer.h"
#include "test.h"

/* Write with fn into a temporary file and return its content (NUL-terminated). */
static char *capture(const struct writer_opts *o, const struct profile *p)
{
	char path[] = "/tmp/test_writers.XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL;
	off_t size;

	if (fd < 0)
		return NULL;
	unlink(path);
	if (writer__write(o, p, fd) == 0) {
		size = lseek(fd, 0, SEEK_END);
		buf = calloc(1, (size_t)size + 1);
		if (buf && pread(fd, buf, (size_t)size, 0) != size) {
			free(buf);
			buf = NULL;
		}
	}
	close(fd);
	return buf;
}

/*
 * Process 100 (python3): main -> a -> b x 6, main -> a x 3, main -> rec -> rec -> rec x 4
 * Process 200 (worker, 2 threads): main -> b x 5 (tid 201), main x 2 (tid 202)
 */
static struct profile *sample_profile(void)
{
	struct profile_meta meta = {.period_ns = 10000000};
	struct profile *p = profile__new(&meta);
	struct profile_frame main_ = {
	    .name = "main", .file = "/app/m.py", .line = 5, .start_line = 1};
	struct profile_frame a = {.name = "a", .file = "/app/m.py", .line = 12, .start_line = 10};
	struct profile_frame b = {.name = "b", .file = "/app/m.py", .line = 22, .start_line = 20};
	struct profile_frame rec = {.name = "rec", .file = "/app/r.py", .line = 3, .start_line = 2};
	struct profile_labels p1 = {
	    .pid = 100, .tid = 100, .comm = "python3", .thread_name = "MainThread"};
	struct profile_labels p2a = {.pid = 200, .tid = 201, .comm = "worker"};
	struct profile_labels p2b = {.pid = 200, .tid = 202, .comm = "worker"};
	struct profile_frame s1[] = {b, a, main_}, s2[] = {a, main_}, s3[] = {rec, rec, rec, main_};
	struct profile_frame s4[] = {b, main_}, s5[] = {main_};

	CHECK_EQ_INT(profile__add(p, &p1, s1, 3, 6), 0);
	CHECK_EQ_INT(profile__add(p, &p1, s2, 2, 3), 0);
	CHECK_EQ_INT(profile__add(p, &p1, s3, 4, 4), 0);
	CHECK_EQ_INT(profile__add(p, &p2a, s4, 2, 5), 0);
	CHECK_EQ_INT(profile__add(p, &p2b, s5, 1, 2), 0);
	return p;
}

/* The row of the table for function name: own and total, or false. */
static bool row(const char *text, const char *name, uint64_t *own, uint64_t *total)
{
	char pat[64];
	const char *line = text;

	snprintf(pat, sizeof(pat), "  %s ", name);
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		const char *hit = strstr(line, pat);

		if (line[0] != '#' && hit && (!nl || hit < nl)) {
			double op, tp;

			return sscanf(line, "%" SCNu64 " %lf%% %" SCNu64 " %lf%%", own, &op, total,
				      &tp) == 4;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

static size_t count_rows(const char *text)
{
	size_t n = 0;

	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');

		if (*l != '#' && *l != '\n' && strncmp(l, "       own", 10) != 0)
			n++;
		l = nl ? nl + 1 : NULL;
	}
	return n;
}

static void test_text(void)
{
	struct profile *p = sample_profile();
	struct writer_opts o = {.format = FORMAT_TEXT};
	char *t = capture(&o, p);
	uint64_t own, total, sum_own = 0;
	const char *names[] = {"main", "a", "b", "rec"};
	const uint64_t want_own[] = {2, 3, 11, 4}, want_total[] = {20, 9, 11, 4};

	CHECK(t != NULL);
	if (!t)
		return;
	for (size_t i = 0; i < 4; i++) {
		CHECK(row(t, names[i], &own, &total));
		CHECK_EQ_INT(own, want_own[i]);
		CHECK_EQ_INT(total, want_total[i]); /* rec recurses, counted once */
		sum_own += own;
	}
	CHECK_EQ_INT(sum_own, profile__total_count(p));
	CHECK(strstr(t, "/app/m.py:10") != NULL);
	CHECK(strstr(t, "# pybpf-prof: 20 samples, 0.20 s of CPU (one sample per 10.00 ms)\n") !=
	      NULL);
	/* Sorted by total: main first; by own: b first. */
	CHECK(strstr(t, "  main ") < strstr(t, "  b "));
	free(t);

	o.sort = SORT_OWN;
	t = capture(&o, p);
	CHECK(t && strstr(t, "  b ") < strstr(t, "  main "));
	free(t);

	o.limit = 2;
	t = capture(&o, p);
	CHECK_EQ_INT(count_rows(t), 2);
	CHECK(t && strstr(t, "first 2 shown") != NULL);
	free(t);

	o = (struct writer_opts){.format = FORMAT_TEXT, .per_process = true};
	t = capture(&o, p);
	CHECK(t && strstr(t, "# process python3 (100)") != NULL);
	CHECK(t && strstr(t, "# process worker (200)") != NULL);
	CHECK(t && strstr(t, "# 13 samples") != NULL);
	CHECK(t && strstr(t, "# 7 samples") != NULL);
	CHECK_EQ_INT(count_rows(t), 4 + 2);
	free(t);
	profile__free(p);
}

/* Sum of the numbers in every "weights":[...] array. */
static uint64_t speedscope_weights(const char *t, size_t *profiles)
{
	uint64_t sum = 0;

	*profiles = 0;
	for (const char *w = strstr(t, "\"weights\":["); w; w = strstr(w, "\"weights\":[")) {
		char *end;

		w += strlen("\"weights\":[");
		(*profiles)++;
		while (*w && *w != ']') {
			sum += strtoull(w, &end, 10);
			w = *end == ',' ? end + 1 : end;
		}
	}
	return sum;
}

static void test_speedscope(void)
{
	struct profile *p = sample_profile();
	struct writer_opts o = {.format = FORMAT_SPEEDSCOPE};
	char *t = capture(&o, p);
	size_t nprof;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(strncmp(t, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\"",
		      62) == 0);
	CHECK_EQ_INT(speedscope_weights(t, &nprof), profile__total_count(p));
	CHECK_EQ_INT(nprof, 3); /* one per thread */
	CHECK(strstr(t, "\"name\":\"python3 (100) MainThread (tid 100)\"") != NULL);
	CHECK(strstr(t, "\"name\":\"worker (200) tid 202\"") != NULL);
	CHECK(strstr(t, "{\"name\":\"a\",\"file\":\"/app/m.py\",\"line\":12}") != NULL);
	/* Root first: frames are locations in first-seen order (b, a, main). */
	CHECK(strstr(t, "\"samples\":[\n[2,1,0]") != NULL);
	free(t);
	profile__free(p);
}

/* Decode PYBPF_NODES: totals of the root and of its depth-1 children. */
static void svg_totals(const char *t, uint64_t *root, uint64_t *level1, size_t *nodes)
{
	const char *s = strstr(t, "var PYBPF_NODES=[");

	*root = *level1 = 0;
	*nodes = 0;
	if (!s)
		return;
	s += strlen("var PYBPF_NODES=[");
	while (*s && *s != ']') {
		char *end;
		unsigned long depth = strtoul(s, &end, 10);
		uint64_t total;

		strtoul(end + 1, &end, 10);
		total = strtoull(end + 1, &end, 10);
		if (depth == 0)
			*root += total;
		if (depth == 1)
			*level1 += total;
		(*nodes)++;
		s = end;
		while (*s == ',' || *s == '\n')
			s++;
	}
}

static void test_svg(void)
{
	struct profile *p = sample_profile();
	struct writer_opts o = {.format = FORMAT_SVG};
	char *t = capture(&o, p);
	uint64_t root, level1;
	size_t nodes;
	const char *cdata;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(strncmp(t, "<?xml", 5) == 0);
	CHECK(strstr(t, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
	svg_totals(t, &root, &level1, &nodes);
	CHECK_EQ_INT(root, profile__total_count(p));
	CHECK_EQ_INT(level1, profile__total_count(p)); /* processes under the root */
	/* root, 2 processes, 3 threads; python3: main, a, b, rec x3; worker: 2x main, b */
	CHECK_EQ_INT(nodes, 1 + 2 + 3 + 6 + 3);
	CHECK(strstr(t, "[\"python3 (100)\",\"\",0,1]") != NULL);
	/* The CDATA section ends exactly once, at the end of the script. */
	cdata = strstr(t, "]]>");
	CHECK(cdata && strstr(cdata + 3, "]]>") == NULL);
	CHECK(strstr(t, "</svg>\n") != NULL);
	free(t);
	profile__free(p);
}

/* Names with quotes, markup, a CDATA end and invalid UTF-8 cannot break the files. */
static void test_hostile_names(void)
{
	struct profile *p = profile__new(&(struct profile_meta){0});
	struct profile_frame f = {
	    .name = "x\"]]></script><b>&\xff\x01", .file = "a\\b.py", .line = 1};
	struct profile_labels l = {.pid = 1, .tid = 1, .comm = "c</svg>"};
	struct writer_opts o = {.format = FORMAT_SVG};
	char *t;

	CHECK_EQ_INT(profile__add(p, &l, &f, 1, 1), 0);
	t = capture(&o, p);
	CHECK(
	    t &&
	    strstr(t, "x\\\"]]\\u003e\\u003c/script\\u003e\\u003cb\\u003e\\u0026\\ufffd\\u0001") !=
		NULL);
	CHECK(t && strstr(strstr(t, "]]>") + 3, "]]>") == NULL);
	CHECK(t && strstr(t, "a\\\\b.py") != NULL);
	free(t);
	o.format = FORMAT_SPEEDSCOPE;
	t = capture(&o, p);
	CHECK(t && strstr(t, "\"name\":\"x\\\"]]\\u003e") != NULL);
	free(t);
	/* The table keeps one row per line. */
	o.format = FORMAT_TEXT;
	t = capture(&o, p);
	CHECK(t && strstr(t, "x\"]]></script><b>&\xff ") != NULL);
	CHECK(t && strchr(t, '\x01') == NULL);
	CHECK_EQ_INT(count_rows(t), 1);
	free(t);
	profile__free(p);
}

static void test_formats(void)
{
	enum output_format f;

	for (int i = 0; i < FORMAT__COUNT; i++) {
		CHECK_EQ_INT(writer__parse_format(writer__format_name((enum output_format)i), &f),
			     0);
		CHECK_EQ_INT(f, i);
	}
	CHECK_EQ_INT(writer__parse_format("png", &f), -EINVAL);
	CHECK_EQ_STR(writer__suffix(FORMAT_SPEEDSCOPE), ".speedscope.json");
	CHECK_EQ_STR(writer__suffix(FORMAT_PPROF), ".pb.gz");
}

/* An empty profile still gives valid, loadable files. */
static void test_empty(void)
{
	struct profile *p = profile__new(&(struct profile_meta){0});

	for (int i = 0; i < FORMAT__COUNT; i++) {
		struct writer_opts o = {.format = (enum output_format)i};
		char *t = capture(&o, p);

		CHECK(t != NULL);
		free(t);
	}
	profile__free(p);
}

TEST_MAIN(TEST(test_text), TEST(test_speedscope), TEST(test_svg), TEST(test_hostile_names),
	  TEST(test_formats), TEST(test_empty))
