// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the collapsed-stack writer (user/folded.c). Documented
 * output order: lines sorted bytewise by stack text, equal texts merged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "folded.h"
#include "profile.h"
#include "test.h"

static const struct profile_meta meta = {.period_ns = 10000000};

/* Write the profile to a temp file and return its content, NUL-terminated. */
static char *folded_text(const struct profile *p, int *err)
{
	char path[] = "/tmp/test_folded.XXXXXX";
	int fd = mkstemp(path);
	size_t cap = 4096, len = 0;
	char *buf;
	ssize_t n;

	*err = -EIO;
	if (fd < 0)
		return NULL;
	unlink(path);
	*err = folded__write(p, fd);
	lseek(fd, 0, SEEK_SET);
	buf = malloc(cap);
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	if (buf)
		buf[len] = '\0';
	close(fd);
	return buf;
}

static void add(struct profile *p, int64_t pid, int64_t tid, const char *comm, const char *thread,
		const struct profile_frame *frames, size_t n, uint64_t count)
{
	struct profile_labels l = {.pid = pid, .tid = tid, .comm = comm, .thread_name = thread};

	CHECK_EQ_INT(profile__add(p, &l, frames, n, count), 0);
}

static void test_exact_text(void)
{
	struct profile *p = profile__new(&meta);
	/* leaf first, as the profile stores them */
	struct profile_frame s1[] = {
	    {"Worker.run", "/srv/app/worker.py", 41, 30, 0, 0, NULL},
	    {"main", "/srv/app/main.py", 9, 5, 0, 0, NULL},
	    {"<module>", "/srv/app/main.py", 20, 1, 0, 0, NULL},
	};
	struct profile_frame s2[] = {
	    {"<lambda>", "/srv/app/main.py", 0, 0, 0, 0, NULL},
	    {"<module>", "/srv/app/main.py", 20, 1, 0, 0, NULL},
	};
	struct profile_frame s3[] = {{"run", "t.py", 2, 1, 0, 0, NULL}};
	struct profile_frame s4[] = {{"a;b\tc", "dir;x/f\r.py", 3, 1, 0, 0, NULL}};
	struct profile_frame s5[] = {{NULL, NULL, 0, 0, 0, 0, NULL}};
	struct profile_frame s6[] = {{"[truncated]", "", 0, 0, 0, 0, NULL}, {"", NULL, 12, 0, 0, 0, NULL}};
	const char *expected =
	    "app (9);Worker;run (t.py:2) 3\n"
	    "pid 5;tid 6;? 1\n"
	    "pid 5;tid 6;? (?:12);[truncated] 2\n"
	    "pid 5;tid 6;a,b c (dir,x/f .py:3) 4\n"
	    "pid 77;w,1 x;<module> (/srv/app/main.py:20);<lambda> (/srv/app/main.py) 1\n"
	    "python3 (4242);MainThread;<module> (/srv/app/main.py:20);main (/srv/app/main.py:9);"
	    "Worker.run (/srv/app/worker.py:41) 7\n"
	    "python3 (4242);tid 4250 5\n"
	    "python3 (4242);tid 4250;<module> (/srv/app/main.py:20);main (/srv/app/main.py:9);"
	    "Worker.run (/srv/app/worker.py:41) 2\n";
	char *text;
	int err;

	add(p, 4242, 4242, "python3", "MainThread", s1, 3, 7);
	add(p, 4242, 4250, "python3", NULL, s1, 3, 2);
	add(p, 77, 78, NULL, "w;1\nx", s2, 2, 1);
	add(p, 4242, 4250, "python3", NULL, NULL, 0, 5);
	/* two threads of the same name: one line */
	add(p, 9, 10, "app", "Worker", s3, 1, 1);
	add(p, 9, 11, "app", "Worker", s3, 1, 2);
	/* empty comm and thread name fall back to ids */
	add(p, 5, 6, "", "", s4, 1, 4);
	add(p, 5, 6, "", NULL, s5, 1, 1);
	add(p, 5, 6, NULL, NULL, s6, 2, 2);

	text = folded_text(p, &err);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(text, expected);
	free(text);
	profile__free(p);
}

static void test_empty(void)
{
	struct profile *p = profile__new(&meta);
	char *text;
	int err;

	text = folded_text(p, &err);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(text, "");
	free(text);
	profile__free(p);
}

/* A process in a container gets the container as its outermost frame. */
static void test_container_frame(void)
{
	struct profile *p = profile__new(&meta);
	struct profile_labels l = {
	    .pid = 9, .tid = 10, .comm = "gunicorn", .thread_name = "gunicorn", .container = "c0ffee"};
	struct profile_frame f = {"handle", "/app/x.py", 12, 10, 0, 0, NULL};
	char *text;
	int err;

	CHECK_EQ_INT(profile__add(p, &l, &f, 1, 3), 0);
	text = folded_text(p, &err);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(text, "container c0ffee;gunicorn (9);gunicorn;handle (/app/x.py:12) 3\n");
	free(text);
	profile__free(p);
}

/* Escaping can make two distinct samples print alike: they are merged. */
static void test_merge_after_escaping(void)
{
	struct profile *p = profile__new(&meta);
	struct profile_frame a[] = {{"x;y", "f.py", 1, 1, 0, 0, NULL}};
	struct profile_frame b[] = {{"x,y", "f.py", 1, 1, 0, 0, NULL}};
	char *text;
	int err;

	add(p, 1, 1, "c", NULL, a, 1, 3);
	add(p, 1, 1, "c", NULL, b, 1, 4);
	CHECK_EQ_INT(profile__sample_count(p), 2);
	text = folded_text(p, &err);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(text, "c (1);tid 1;x,y (f.py:1) 7\n");
	free(text);
	profile__free(p);
}

/* Output far larger than the write buffer: every line intact, sorted, counts add up. */
static void test_large(void)
{
	enum { N = 3000 };
	struct profile *p = profile__new(&meta);
	uint64_t total = 0, sum = 0;
	size_t lines = 0;
	const char *prev = NULL, *line;
	size_t prev_len = 0;
	char *text;
	bool ok = true;
	int err;

	for (int i = 0; i < N; i++) {
		char name[200];
		struct profile_frame fr[4];

		snprintf(name, sizeof(name), "function_with_a_rather_long_name_%05d_%0120d",
			 (i * 7919) % N, i);
		for (int j = 0; j < 4; j++)
			fr[j] = (struct profile_frame){name, "/some/long/path/module.py", j + 1, 1, 0, 0, NULL};
		add(p, 100, 100 + i % 4, "python3", NULL, fr, 4, (uint64_t)i + 1);
		total += (uint64_t)i + 1;
	}

	text = folded_text(p, &err);
	CHECK_EQ_INT(err, 0);
	CHECK(text && strlen(text) > 3 * 64 * 1024);
	for (line = text; text && *line; lines++) {
		const char *nl = strchr(line, '\n');
		const char *sp;
		size_t len;

		if (!nl) {
			ok = false;
			break;
		}
		sp = memrchr(line, ' ', (size_t)(nl - line));
		if (!sp) {
			ok = false;
			break;
		}
		sum += strtoull(sp + 1, NULL, 10);
		len = (size_t)(sp - line);
		if (prev) {
			int c = memcmp(prev, line, prev_len < len ? prev_len : len);

			if (c > 0 || (c == 0 && prev_len >= len))
				ok = false;
		}
		prev = line;
		prev_len = len;
		line = nl + 1;
	}
	CHECK(ok);
	CHECK_EQ_INT(lines, N);
	CHECK_EQ_INT(sum, total);
	free(text);
	profile__free(p);
}

static void test_write_error(void)
{
	struct profile *p = profile__new(&meta);
	struct profile_frame fr[] = {{"f", "f.py", 1, 1, 0, 0, NULL}};
	int fd = open("/dev/null", O_RDONLY);

	add(p, 1, 1, "c", NULL, fr, 1, 1);
	CHECK_EQ_INT(folded__write(p, fd), -EBADF);
	close(fd);
	profile__free(p);
}

TEST_MAIN(TEST(test_exact_text), TEST(test_empty), TEST(test_container_frame), TEST(test_merge_after_escaping),
	  TEST(test_large), TEST(test_write_error))
