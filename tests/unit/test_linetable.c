// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * linetable__line() against
 *   - hand-built tables for each format, written from the format notes;
 *   - vectors recorded from real interpreters (linetable_vectors.h);
 *   - every interpreter found on this machine, live, through
 *     linetable_dump.py (PYBPF_TEST_PYTHONS, else /usr/bin/python3.11 and
 *     /root/.pyenv/versions/3.8+);
 *   - truncated, random and hostile tables, which must decode to 0 or a line
 *     without reading out of bounds (the test runs under ASan + UBSan).
 */
#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linetable.h"
#include "linetable_vectors.h"
#include "test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Report at most this many mismatches per table / interpreter in detail. */
#define MAX_REPORTS 20

/* ---- format selection ---- */

static void test_format_for(void)
{
	CHECK_EQ_INT(linetable__format_for(3, 8), LINETABLE_LNOTAB);
	CHECK_EQ_INT(linetable__format_for(3, 9), LINETABLE_LNOTAB);
	CHECK_EQ_INT(linetable__format_for(3, 10), LINETABLE_310);
	CHECK_EQ_INT(linetable__format_for(3, 11), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(3, 12), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(3, 13), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(3, 14), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(3, 7), 0);
	CHECK_EQ_INT(linetable__format_for(3, 15), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(3, 16), LINETABLE_LOCATIONS);
	CHECK_EQ_INT(linetable__format_for(2, 7), 0);
	CHECK_EQ_INT(linetable__format_for(4, 0), 0);
}

/* ---- hand-built tables ---- */

struct expect {
	int64_t offset;
	int64_t line;
};

static void check_table(enum linetable_format fmt, const uint8_t *table, size_t len, int64_t first,
			const struct expect *ex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t got = linetable__line(fmt, table, len, first, ex[i].offset);

		if (got != ex[i].line) {
			fprintf(stderr,
				"format %d offset %" PRId64 ": got %" PRId64 ", want %" PRId64 "\n",
				(int)fmt, ex[i].offset, got, ex[i].line);
			test_failures++;
		}
	}
}

static void test_lnotab_handmade(void)
{
	/* (addr incr, signed line incr) pairs, CPython 3.8 lnotab_notes.txt */
	/* clang-format off */
	static const uint8_t t[] = {
		6, 1,     /* from 6: 11 */
		4, 0xfe,  /* from 10: 9 */
		255, 0,   /* 255-byte stretch, still 9 */
		10, 3,    /* from 275: 12 */
		0, 127,   /* a 200-line jump split in two: from 275 + 0 ... */
		6, 73,    /* ... then from 281: 12 + 127 + 73 = 212 */
	};
	static const struct expect ex[] = {
		{ -2, 10 }, { 0, 10 }, { 4, 10 }, { 5, 10 }, { 6, 11 }, { 8, 11 },
		{ 10, 9 },  { 264, 9 }, { 270, 9 }, { 274, 9 }, { 275, 139 },
		{ 280, 139 }, { 281, 212 }, { 1000000, 212 }, { INT64_MAX, 212 },
	};
	/* clang-format on */

	check_table(LINETABLE_LNOTAB, t, sizeof(t), 10, ex, ARRAY_SIZE(ex));
	/* An empty lnotab: everything is on the first line. */
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, t, 0, 42, 100), 42);
	/* Odd length: the dangling byte is ignored. */
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, t, 3, 10, 100), 11);
}

static void test_pep626_handmade(void)
{
	/* (byte count, line delta; -128 = no line), CPython 3.10 lnotab_notes.txt */
	/* clang-format off */
	static const uint8_t t[] = {
		4, 0,     /* [0, 4): 20 */
		6, 2,     /* [4, 10): 22 */
		2, 0x80,  /* [10, 12): no line, running line stays 22 */
		4, 0xff,  /* [12, 16): 21 */
		0, 5,     /* empty range, running line 26 */
		2, 0,     /* [16, 18): 26 */
		254, 0,   /* [18, 272): 26 */
	};
	static const struct expect ex[] = {
		{ -2, 20 }, { 0, 20 }, { 2, 20 }, { 4, 22 },  { 8, 22 },   { 10, 0 },
		{ 11, 0 },  { 12, 21 }, { 14, 21 }, { 16, 26 }, { 270, 26 }, { 272, 0 },
		{ 1 << 20, 0 }, { INT64_MAX, 0 },
	};
	/* clang-format on */

	check_table(LINETABLE_310, t, sizeof(t), 20, ex, ARRAY_SIZE(ex));
}

static void test_locations_handmade(void)
{
	/* Entry layout per CPython 3.11 Objects/locations.md. */
	/* clang-format off */
	static const uint8_t t[] = {
		0x81, 0x05,             /* code 0 (short), 2 units: 100 */
		0xd8, 0x04, 0x08,       /* code 11 (one line, +1), 1 unit: 101 */
		0xea, 0x0b,             /* code 13 (no columns), 3 units, -5: 96 */
		0xf8,                   /* code 15 (none), 1 unit: no line, stays 96 */
		0xf1, 0x50, 0x06,       /* code 14 (long), 2 units, +200 (varint 400): 296 */
		0x00, 0x01, 0x02,       /*   end line delta, column + 1, end column + 1 */
		0xd0, 0x00, 0x01,       /* code 10 (one line, +0), 1 unit: 296 */
		0xe0, 0x03, 0x04,       /* code 12 (one line, +2), 1 unit: 298 */
		0xcf, 0x7f,             /* code 9 (short), 8 units: 298 */
		0xe8, 0x01,             /* code 13, 1 unit, svarint 0x01 = -0: 298 */
	};
	static const struct expect ex[] = {
		{ -2, 100 }, { 0, 100 }, { 1, 100 }, { 2, 100 }, { 3, 100 }, { 4, 101 },
		{ 6, 96 },   { 8, 96 },  { 10, 96 }, { 12, 0 },  { 13, 0 },  { 14, 296 },
		{ 16, 296 }, { 18, 296 }, { 20, 298 }, { 22, 298 }, { 36, 298 }, { 38, 298 },
		{ 40, 0 },   { 1 << 20, 0 }, { INT64_MAX, 0 },
	};
	/* clang-format on */

	check_table(LINETABLE_LOCATIONS, t, sizeof(t), 100, ex, ARRAY_SIZE(ex));
}

static void test_locations_varints(void)
{
	/* Three-chunk varint: +70000 -> unsigned 140000 = 0x222e0. */
	static const uint8_t big[] = {0xe8, 0x60, 0x4b, 0x22, 0x80, 0x00};
	/* Negative three-chunk varint: -70000 -> unsigned 140001. */
	static const uint8_t neg[] = {0xe8, 0x61, 0x4b, 0x22};
	/* A varint cut off by the next entry's first byte, then by the end. */
	static const uint8_t cut[] = {0x80, 0x00, 0xe8, 0x41, 0x80};
	static const uint8_t cut_end[] = {0x80, 0x00, 0xe8, 0x41};
	/* A run of continuation chunks longer than any real value. */
	static const uint8_t huge[] = {0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
				       0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f};
	/* Payload bytes before the first entry: not a location table. */
	static const uint8_t headless[] = {0x05, 0x80, 0x00};

	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, big, sizeof(big), 1, 0), 70001);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, big, sizeof(big), 1, 2), 70001);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, neg, sizeof(neg), 70001, 0), 1);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, neg, sizeof(neg), 5, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, cut, sizeof(cut), 7, 0), 7);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, cut, sizeof(cut), 7, 2), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, cut_end, sizeof(cut_end), 7, 2), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, huge, sizeof(huge), 7, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, headless, sizeof(headless), 7, 0), 0);
}

/* ---- vectors recorded from real interpreters ---- */

/* Expand a vector's (count, line) runs; returns the number of offsets or -ENOMEM. */
static long vector_lines(const struct linetable_vector *v, int32_t **out)
{
	size_t n = 0;
	int32_t *lines;

	for (size_t r = 0; r < v->n_runs; r++)
		n += (size_t)v->runs[2 * r];
	lines = calloc(n ? n : 1, sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	n = 0;
	for (size_t r = 0; r < v->n_runs; r++)
		for (int32_t k = 0; k < v->runs[2 * r]; k++)
			lines[n++] = v->runs[2 * r + 1];
	*out = lines;
	return (long)n;
}

static void test_recorded_vectors(void)
{
	size_t checked = 0, per_format[4] = {0};

	for (size_t i = 0; i < ARRAY_SIZE(linetable_vectors); i++) {
		const struct linetable_vector *v = &linetable_vectors[i];
		enum linetable_format fmt = linetable__format_for(v->major, v->minor);
		int32_t *lines = NULL;
		long n = vector_lines(v, &lines);
		int reports = 0;

		CHECK(fmt != 0);
		CHECK(n > 0);
		for (long k = 0; k < n; k++) {
			int64_t got =
			    linetable__line(fmt, v->table, v->table_len, v->firstlineno, 2 * k);
			/* Odd offsets fall inside the same instruction. */
			int64_t odd =
			    linetable__line(fmt, v->table, v->table_len, v->firstlineno, 2 * k + 1);

			if ((got != lines[k] || odd != lines[k]) && reports++ < MAX_REPORTS) {
				fprintf(stderr,
					"%u.%u %s offset %ld: got %" PRId64 "/%" PRId64
					", want %d\n",
					v->major, v->minor, v->name, 2 * k, got, odd, lines[k]);
			}
			if (got != lines[k] || odd != lines[k])
				test_failures++;
		}
		if (n > 0)
			CHECK_EQ_INT(
			    linetable__line(fmt, v->table, v->table_len, v->firstlineno, -2),
			    lines[0]);
		checked += n > 0 ? (size_t)n : 0;
		if (fmt > 0 && fmt < 4 && n > 0)
			per_format[fmt] += (size_t)n;
		free(lines);
	}
	fprintf(stderr,
		"recorded vectors: %zu tables, %zu offsets (lnotab %zu, 3.10 %zu, "
		"locations %zu)\n",
		ARRAY_SIZE(linetable_vectors), checked, per_format[LINETABLE_LNOTAB],
		per_format[LINETABLE_310], per_format[LINETABLE_LOCATIONS]);
	CHECK(per_format[LINETABLE_LNOTAB] > 0);
	CHECK(per_format[LINETABLE_310] > 0);
	CHECK(per_format[LINETABLE_LOCATIONS] > 0);
}

/* ---- live interpreters ---- */

struct dump_state {
	const char *python;
	unsigned int major, minor;
	enum linetable_format fmt;
	uint8_t *table;
	size_t table_len, table_cap;
	int64_t firstlineno;
	char *id;
	size_t codes, offsets;
	int reports;
	bool bad;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_code_record(struct dump_state *st, char *rec)
{
	char *save = NULL, *id, *first, *hex, *end;
	size_t n;

	id = strtok_r(rec, " \n", &save);
	first = strtok_r(NULL, " \n", &save);
	hex = strtok_r(NULL, " \n", &save);
	if (!id || !first || !hex)
		return -EINVAL;
	free(st->id);
	st->id = strdup(id);
	if (!st->id)
		return -ENOMEM;
	errno = 0;
	st->firstlineno = strtoll(first, &end, 10);
	if (errno || *end)
		return -EINVAL;
	st->table_len = 0;
	if (strcmp(hex, "-") == 0)
		return 0;
	n = strlen(hex);
	if (n % 2)
		return -EINVAL;
	if (n / 2 > st->table_cap) {
		uint8_t *t = realloc(st->table, n / 2);

		if (!t)
			return -ENOMEM;
		st->table = t;
		st->table_cap = n / 2;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		st->table[st->table_len++] = (uint8_t)(hi << 4 | lo);
	}
	st->codes++;
	return 0;
}

static int check_offset_record(struct dump_state *st, const char *rec)
{
	long long off, want;
	int64_t got, got_odd;

	if (!st->id || sscanf(rec, "%lld %lld", &off, &want) != 2)
		return -EINVAL;
	got = linetable__line(st->fmt, st->table, st->table_len, st->firstlineno, off);
	got_odd = linetable__line(st->fmt, st->table, st->table_len, st->firstlineno, off + 1);
	if (got != want || got_odd != want) {
		if (st->reports++ < MAX_REPORTS)
			fprintf(stderr,
				"%s (%u.%u) %s offset %lld: got %" PRId64 "/%" PRId64
				", want %lld\n",
				st->python, st->major, st->minor, st->id, off, got, got_odd, want);
		test_failures++;
	}
	if (off == 0) {
		/* Before the first instruction reads as the first instruction. */
		got = linetable__line(st->fmt, st->table, st->table_len, st->firstlineno, -2);
		if (got != want) {
			fprintf(stderr, "%s %s offset -2: got %" PRId64 ", want %lld\n", st->python,
				st->id, got, want);
			test_failures++;
		}
	}
	st->offsets++;
	return 0;
}

/* Feed one line of linetable_dump.py output. */
static int dump_line(struct dump_state *st, char *line)
{
	int err = 0;

	if (line[0] == 'V' && line[1] == ' ') {
		if (sscanf(line + 2, "%u %u", &st->major, &st->minor) != 2)
			err = -EINVAL;
		st->fmt = linetable__format_for(st->major, st->minor);
	} else if (line[0] == 'C' && line[1] == ' ') {
		err = st->fmt ? parse_code_record(st, line + 2) : -EINVAL;
	} else if (line[0] == 'O' && line[1] == ' ') {
		err = st->fmt ? check_offset_record(st, line + 2) : -EINVAL;
	} else {
		err = -EINVAL;
	}
	return err;
}

/* Run `python -I script`, check its output; 0, 1 when skipped, or a negative errno. */
static int run_interpreter(const char *python, const char *script)
{
	struct dump_state st = {.python = python};
	int fds[2], status = 0, err = 0;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = NULL;
	pid_t pid;

	if (pipe(fds))
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(python, python, "-I", script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (!f) {
		err = -errno;
		close(fds[0]);
		goto out_wait;
	}
	while (getline(&line, &cap, f) > 0) {
		int e;

		line[strcspn(line, "\n")] = '\0';
		e = dump_line(&st, line);
		if (e && !err) {
			fprintf(stderr, "%s: bad dump line \"%.60s\"\n", python, line);
			err = e;
		}
	}
	fclose(f);
out_wait:
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		fprintf(stderr, "%s: linetable_dump.py failed (status 0x%x)\n", python, status);
		err = -ECHILD;
	}
	if (!err && st.major && !st.fmt) {
		fprintf(stderr, "%s: Python %u.%u has no supported line table, skipped\n", python,
			st.major, st.minor);
		err = 1;
	} else if (!err) {
		fprintf(stderr, "%s (%u.%u): %zu code objects, %zu offsets checked\n", python,
			st.major, st.minor, st.codes, st.offsets);
		if (st.codes == 0 || st.offsets == 0)
			err = -ENODATA;
	}
	free(line);
	free(st.table);
	free(st.id);
	return err;
}

/* Version of a pyenv install from ".../versions/X.Y.Z/bin/python3"; false if unknown. */
static bool pyenv_version(const char *path, unsigned int *major, unsigned int *minor)
{
	const char *v = strstr(path, "/versions/");

	return v && sscanf(v + strlen("/versions/"), "%u.%u", major, minor) == 2;
}

static void script_path(char *buf, size_t len)
{
	const char *src = getenv("PYBPF_SOURCE_DIR");

	if (src && *src) {
		snprintf(buf, len, "%s/tests/unit/linetable_dump.py", src);
	} else {
		const char *slash = strrchr(__FILE__, '/');
		int dirlen = slash ? (int)(slash - __FILE__) : 1;

		snprintf(buf, len, "%.*s/linetable_dump.py", dirlen, slash ? __FILE__ : ".");
	}
}

static void run_checked(const char *python, const char *script, int *ran)
{
	int err = run_interpreter(python, script);

	if (err < 0) {
		fprintf(stderr, "%s: %s\n", python, strerror(-err));
		test_failures++;
	} else if (err == 0) {
		(*ran)++;
	}
}

static void test_live_interpreters(void)
{
	const char *env = getenv("PYBPF_TEST_PYTHONS");
	char script[4096];
	int ran = 0;

	script_path(script, sizeof(script));
	if (access(script, R_OK)) {
		fprintf(stderr, "%s: %s\n", script, strerror(errno));
		test_failures++;
		return;
	}

	if (env && *env) {
		char *list = strdup(env), *save = NULL;

		CHECK(list != NULL);
		if (!list)
			return;
		for (char *p = strtok_r(list, " \t", &save); p; p = strtok_r(NULL, " \t", &save))
			run_checked(p, script, &ran);
		free(list);
	} else {
		glob_t g;

		if (access("/usr/bin/python3.11", X_OK) == 0)
			run_checked("/usr/bin/python3.11", script, &ran);
		if (glob("/root/.pyenv/versions/*/bin/python3", 0, NULL, &g) == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++) {
				unsigned int major, minor;

				if (!pyenv_version(g.gl_pathv[i], &major, &minor) || major != 3 ||
				    minor < 8)
					continue;
				run_checked(g.gl_pathv[i], script, &ran);
			}
			globfree(&g);
		}
	}
	if (!ran)
		fprintf(stderr, "no Python interpreters found: live comparison not run\n");
}

/* ---- hostile input ---- */

/* xorshift64: a fixed, libc-independent random stream. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Anything other than 0 or a line reachable from the table is garbage. */
static bool plausible(int64_t line, int64_t first, size_t len)
{
	/* Per byte a table can move the line by at most 2^41 (long varints). */
	return line == 0 || (line > 0 && line <= first + (int64_t)(len + 1) * ((int64_t)1 << 41));
}

static const enum linetable_format all_formats[] = {
    LINETABLE_LNOTAB,
    LINETABLE_310,
    LINETABLE_LOCATIONS,
};

static const int64_t probe_offsets[] = {
    -2, -1, 0, 1, 2, 6, 100, 4096, 1 << 20, INT32_MAX, INT64_MAX - 1, INT64_MAX, INT64_MIN,
};

/* Run every format on a heap copy of exactly len bytes, so ASan sees any overread. */
static void probe(const uint8_t *bytes, size_t len, int64_t first)
{
	uint8_t *copy = malloc(len ? len : 1);

	CHECK(copy != NULL);
	if (!copy)
		return;
	if (len)
		memcpy(copy, bytes, len);
	for (size_t f = 0; f < ARRAY_SIZE(all_formats); f++) {
		for (size_t o = 0; o < ARRAY_SIZE(probe_offsets); o++) {
			int64_t got =
			    linetable__line(all_formats[f], copy, len, first, probe_offsets[o]);

			if (!plausible(got, first, len)) {
				fprintf(stderr,
					"format %d len %zu offset %" PRId64 ": %" PRId64 "\n",
					(int)all_formats[f], len, probe_offsets[o], got);
				test_failures++;
			}
		}
	}
	free(copy);
}

static void test_malformed(void)
{
	static const uint8_t ones[64] = {[0 ... 63] = 0xff};
	uint8_t buf[512];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	/* Empty tables, NULL tables, nonsense formats and first lines. */
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, NULL, 0, 5, 0), 5);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, NULL, 100, 5, 0), 5);
	CHECK_EQ_INT(linetable__line(LINETABLE_310, NULL, 100, 5, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, NULL, 100, 5, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_310, ones, 0, 5, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, ones, 0, 5, 0), 0);
	CHECK_EQ_INT(linetable__line(0, ones, sizeof(ones), 5, 0), 0);
	CHECK_EQ_INT(linetable__line(99, ones, sizeof(ones), 5, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, NULL, 0, INT64_MAX, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, NULL, 0, INT64_MIN, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, NULL, 0, -3, 0), 0);

	/* All 0xff: lnotab counts down, 3.10 runs of -1, locations all "no location". */
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, ones, sizeof(ones), 1000, 0), 1000);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, ones, sizeof(ones), 1000, 255), 999);
	CHECK_EQ_INT(linetable__line(LINETABLE_LNOTAB, ones, sizeof(ones), 10, 255 * 20), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_310, ones, sizeof(ones), 1000, 0), 999);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, ones, sizeof(ones), 1000, 0), 0);
	CHECK_EQ_INT(linetable__line(LINETABLE_LOCATIONS, ones, sizeof(ones), 1000, 1 << 20), 0);
	for (size_t len = 0; len <= sizeof(ones); len++)
		probe(ones, len, 1000);

	/* Every prefix of every recorded table: 0 or the full table's answer. */
	for (size_t i = 0; i < ARRAY_SIZE(linetable_vectors); i++) {
		const struct linetable_vector *v = &linetable_vectors[i];
		enum linetable_format fmt = linetable__format_for(v->major, v->minor);
		int32_t *lines = NULL;
		long n = vector_lines(v, &lines);
		size_t step = v->table_len > 400 ? v->table_len / 53 : 1;

		for (size_t len = 0; len <= v->table_len && n > 0; len += step) {
			uint8_t *copy = malloc(len ? len : 1);

			CHECK(copy != NULL);
			if (!copy)
				break;
			if (len)
				memcpy(copy, v->table, len);
			for (long k = 0; k < n; k += (n > 200 ? 11 : 1)) {
				int64_t got =
				    linetable__line(fmt, copy, len, v->firstlineno, 2 * k);
				/* lnotab has no end marker: a cut table yields a real but earlier
				 * line. */
				bool ok = fmt == LINETABLE_LNOTAB
					      ? plausible(got, v->firstlineno, len)
					      : (got == 0 || got == lines[k]);

				if (!ok) {
					fprintf(stderr,
						"%u.%u %s cut to %zu, offset %ld: %" PRId64
						" (full table: %d)\n",
						v->major, v->minor, v->name, len, 2 * k, got,
						lines[k]);
					test_failures++;
				}
			}
			probe(copy, len, v->firstlineno);
			free(copy);
		}
		free(lines);
	}

	/* Random bytes, and random bytes with the high bit forced on the first byte. */
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rng_next(&seed) % sizeof(buf));

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rng_next(&seed);
		if (round % 2 && len)
			buf[0] |= 0x80;
		probe(buf, len, (int64_t)(rng_next(&seed) % 100000));
	}
}

TEST_MAIN(TEST(test_format_for), TEST(test_lnotab_handmade), TEST(test_pep626_handmade),
	  TEST(test_locations_handmade), TEST(test_locations_varints), TEST(test_recorded_vectors),
	  TEST(test_live_interpreters), TEST(test_malformed))
