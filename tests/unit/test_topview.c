// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `top`'s aggregation and rendering (user/topview.c) over hand-made profiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "test.h"
#include "topview.h"

static struct profile *interval(uint64_t hot, uint64_t cold)
{
	struct profile_meta m = {.period_ns = 10000000};
	struct profile *p = profile__new(&m);
	struct profile_labels a = {.pid = 11, .tid = 11, .comm = "python3", .service = "api"};
	struct profile_labels b = {.pid = 22, .tid = 23, .comm = "celery", .service = "worker"};
	/* leaf first; "run" twice on the stack (recursion) counts once in total */
	struct profile_frame hot_stack[] = {
	    {.name = "hot", .file = "/srv/api/app.py", .line = 7, .start_line = 5},
	    {.name = "run", .file = "/srv/api/app.py", .line = 20, .start_line = 18},
	    {.name = "run", .file = "/srv/api/app.py", .line = 20, .start_line = 18},
	    {.name = "<module>", .file = "/srv/api/app.py", .line = 30, .start_line = 1},
	};
	struct profile_frame cold_stack[] = {
	    {.name = "crunch",
	     .file = "/srv/jobs/a_very_long_directory_name/worker_module.py",
	     .line = 1234,
	     .start_line = 1200},
	    {.name = "<module>", .file = "/srv/jobs/main.py", .line = 3, .start_line = 1},
	};

	CHECK(p != NULL);
	if (hot)
		CHECK_EQ_INT(profile__add(p, &a, hot_stack, 4, hot), 0);
	if (cold)
		CHECK_EQ_INT(profile__add(p, &b, cold_stack, 2, cold), 0);
	return p;
}

static char *render(const struct topview *tv, const struct topview_opts *o)
{
	struct topview_status st = {
	    .mode = "cpu", .samples_per_s = 99, .processes = 2, .clock = "12:00:00"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_EQ_INT(topview__render(tv, o, &st, f), 0);
	fclose(f);
	return buf;
}

/* The n-th table row (0-based) of a rendering, or "". */
static const char *row(const char *screen, int n, char *out, size_t len)
{
	const char *p = strstr(screen, "FUNCTION (FILE:LINE)");

	out[0] = '\0';
	if (!p)
		return out;
	p = strchr(p, '\n');
	for (int i = 0; p && i < n; i++)
		p = strchr(p + 1, '\n');
	if (!p)
		return out;
	p++;
	snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
	return out;
}

static void test_own_total_and_intervals(void)
{
	struct topview *tv = topview__new();
	struct topview_opts o = {.sort = TOPVIEW_SORT_OWN, .rows = 10, .cols = 80};
	struct profile *p1 = interval(30, 10), *p2 = interval(0, 50);
	char r[256], *s;

	CHECK_EQ_INT(topview__add(tv, p1, 1.0), 0);
	s = render(tv, &o);
	CHECK(strstr(row(s, 0, r, sizeof(r)), "hot (app.py:7)") != NULL);
	CHECK(strstr(r, " 75.0%  75.0%") != NULL);
	CHECK(strstr(r, "api:11") != NULL);
	CHECK(strstr(row(s, 1, r, sizeof(r)), "crunch (") != NULL);
	/* a long file name keeps its line */
	CHECK(strstr(r, "worker_module.py:1234)") != NULL);
	free(s);

	o.sort = TOPVIEW_SORT_TOTAL;
	s = render(tv, &o);
	/* run is on every hot sample once, though twice on the stack */
	CHECK(strstr(s, "  0.0%  75.0%    0.00     0.30  api:11         run (app.py:20)") != NULL);
	free(s);

	/* Second interval: only the worker ran. */
	CHECK_EQ_INT(topview__add(tv, p2, 1.0), 0);
	o.sort = TOPVIEW_SORT_OWN;
	s = render(tv, &o);
	CHECK(strstr(row(s, 0, r, sizeof(r)), "crunch") != NULL);
	CHECK(strstr(r, "100.0% 100.0%") != NULL);
	CHECK(strstr(s, "hot (app.py") == NULL); /* nothing in the last second */
	CHECK(strstr(s, "last second, by own") != NULL);
	free(s);
	o.since_start = true;
	s = render(tv, &o);
	CHECK(strstr(row(s, 0, r, sizeof(r)), "crunch") != NULL); /* 60 of 90 */
	CHECK(strstr(r, " 66.7%") != NULL);
	CHECK(strstr(row(s, 1, r, sizeof(r)), "hot (app.py:7)") != NULL);
	CHECK(strstr(s, "since start") != NULL);
	free(s);

	/* Filter by service, then by pid. */
	o.filter = "api";
	s = render(tv, &o);
	CHECK(strstr(s, "crunch") == NULL && strstr(s, "hot (app.py:7)") != NULL);
	CHECK(strstr(s, "filter: api") != NULL);
	free(s);
	o.filter = "22";
	s = render(tv, &o);
	CHECK(strstr(s, "crunch") != NULL && strstr(s, "hot (") == NULL);
	free(s);
	o.filter = "nomatch";
	s = render(tv, &o);
	CHECK(strstr(s, "(no function matches the filter)") != NULL);
	free(s);
	profile__free(p1);
	profile__free(p2);
	topview__free(tv);
}

static void test_screen_fits(void)
{
	struct topview *tv = topview__new();
	struct topview_opts o = {.sort = TOPVIEW_SORT_OWN,
				 .ansi = true,
				 .rows = 24,
				 .cols = 80,
				 .paused = true,
				 .prompt = "ap"};
	struct profile *p = interval(5, 5);
	char *s, *line, *save = NULL;
	int lines = 0;

	s = render(tv, &o);
	CHECK(strstr(s, "(no Python samples yet)") != NULL);
	free(s);
	CHECK_EQ_INT(topview__add(tv, p, 1.0), 0);
	s = render(tv, &o);
	CHECK(strncmp(s, "\x1b[H", 3) == 0);
	CHECK(strstr(s, "PAUSED") != NULL);
	CHECK(strstr(s, "filter (process, service or pid; Enter applies): ap") != NULL);
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int cols = 0;

		/* visible columns: escapes do not count */
		for (const char *c = line; *c; c++) {
			if (*c == '\x1b') {
				while (*c &&
				       !((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')))
					c++;
				continue;
			}
			cols++;
		}
		CHECK(cols <= 79);
		lines++;
	}
	CHECK(lines <= 24);
	free(s);
	profile__free(p);
	topview__free(tv);
}

TEST_MAIN(TEST(test_own_total_and_intervals), TEST(test_screen_fits))
