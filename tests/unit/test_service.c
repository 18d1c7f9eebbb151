// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <unistd.h>

#include "service.h"
#include "test.h"

static void expect(const char *want, const char *comm, int argc, const char *const *argv)
{
	char out[64];

	service__from_argv(argv, argc, comm, out, sizeof(out));
	CHECK_EQ_STR(out, want);
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__ })
#define N(...) ((int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(const char *)))
#define EXPECT(want, ...) expect(want, "comm", N(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_interpreter_forms(void)
{
	EXPECT("server", "/usr/bin/python3.11", "/srv/api/server.py", "--port", "80");
	EXPECT("celery", "python3", "-m", "celery", "-A", "proj", "worker");
	EXPECT("uvicorn", "python", "-u", "-X", "dev", "-muvicorn.main", "app:app");
	EXPECT("http", "python3.13t", "-W", "ignore", "-m", "http.server");
	EXPECT("python-c", "/usr/bin/python3", "-c", "print(1)");
	EXPECT("myapp", "python3", "/opt/myapp/__main__.py");
	EXPECT("job", "pypy3", "-O", "job.py");
	EXPECT("python3.11", "/usr/bin/python3.11");
}

static void test_programs(void)
{
	EXPECT("gunicorn", "gunicorn: worker [app:app]");
	EXPECT("celery", "/usr/local/bin/celery", "-A", "proj", "worker");
	EXPECT("uwsgi", "uwsgi --ini app.ini"); /* setproctitle-style single string */
}

static void test_fallback(void)
{
	char out[64];

	service__from_argv(NULL, 0, "py worker", out, sizeof(out));
	CHECK_EQ_STR(out, "py_worker");
	service__from_argv(NULL, 0, "", out, sizeof(out));
	CHECK_EQ_STR(out, "python");
	CHECK(service__name("/proc", getpid(), "x", out, sizeof(out)) == 0);
	CHECK_EQ_STR(out, "test_service");
	CHECK(service__name("/proc", -1, "fallback", out, sizeof(out)) < 0);
	CHECK_EQ_STR(out, "fallback");
}

TEST_MAIN(TEST(test_interpreter_forms), TEST(test_programs), TEST(test_fallback))
