// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * threadsnap over live interpreters: a process with threads parked in
 * known functions (sleeping, waiting on a lock, spinning, reading stdin).
 * Every OS thread must be listed, tied to its Python thread state (by
 * native_thread_id on 3.11+, by the calibrated pthread TID offset before),
 * with the right innermost function and line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"
#include "pyinfo.h"
#include "symbolizer.h"
#include "threadsnap.h"
#include "pychild.h"
#include "test.h"

struct expect {
	char name[32];
	int tid;
	int line;
};

/* Every thread but the spinner on its expected line. */
static bool all_parked(const struct threadsnap_thread *th, size_t n, const struct expect *exp,
		       size_t nexp, struct symbolizer *sym, const struct symbolizer_proc *sp)
{
	for (size_t e = 0; e < nexp; e++) {
		struct profile_frame f;
		bool found = false;

		if (!exp[e].line)
			continue;
		for (size_t i = 0; i < n; i++)
			if (th[i].tid == exp[e].tid && th[i].stack.depth &&
			    symbolizer__frame(sym, sp, &th[i].stack.frames[0], &f) == 0 &&
			    f.line == exp[e].line)
				found = true;
		if (!found)
			return false;
	}
	return true;
}

static pid_t spinner_tid(const struct expect *exp, size_t nexp)
{
	for (size_t e = 0; e < nexp; e++)
		if (!strcmp(exp[e].name, "spinner"))
			return exp[e].tid;
	return 0;
}

static void snap_one(const char *python, const char *script)
{
	struct expect exp[8];
	struct threadsnap_thread *th = NULL;
	struct symbolizer *sym;
	struct symbolizer_proc sp;
	struct threadsnap *ts;
	struct pyinfo info;
	struct child c;
	size_t n = 0, nexp = 0;
	char word[32];

	if (access(python, X_OK)) {
		fprintf(stderr, "skip: %s not installed\n", python);
		return;
	}
	CHECK_EQ_INT(spawn(python, script, &c), 0);
	while (nexp < 8 && fscanf(c.out, "%31s", word) == 1 && strcmp(word, "end") != 0) {
		if (!strcmp(word, "unsupported"))
			break;
		snprintf(exp[nexp].name, sizeof(exp[nexp].name), "%s", word);
		if (fscanf(c.out, "%d %d", &exp[nexp].tid, &exp[nexp].line) != 2)
			break;
		nexp++;
	}
	if (nexp != 4) {
		fprintf(stderr, "skip: %s: not an interpreter pybpf-prof reads\n", python);
		reap(&c);
		return;
	}
	ts = threadsnap__new("/proc", c.pid, &info);
	if (!ts && errno == ENOTSUP) {
		fprintf(stderr, "skip: %s: Python %u.%u not supported\n", python, info.major,
			info.minor);
		reap(&c);
		return;
	}
	CHECK(ts != NULL);
	if (!ts) {
		reap(&c);
		return;
	}
	sym = symbolizer__new();
	sp = (struct symbolizer_proc){.gen = 1,
				      .pid = c.pid,
				      .alive = true,
				      .major = info.major,
				      .minor = info.minor,
				      .off = &threadsnap__proc(ts)->off};
	/* On a busy machine a thread may not have reached its parking call
	 * yet when the script reports: look again until all have. */
	for (int tries = 0; tries < 50; tries++) {
		free(th);
		th = NULL;
		CHECK_EQ_INT(threadsnap__take(ts, &th, &n), 0);
		if (all_parked(th, n, exp, nexp, sym, &sp))
			break;
		usleep(200000);
	}
	CHECK_EQ_INT(n, 4);
	for (size_t e = 0; e < nexp; e++) {
		const struct threadsnap_thread *t = NULL;
		struct profile_frame f;

		for (size_t i = 0; i < n; i++)
			if (th[i].tid == exp[e].tid)
				t = &th[i];
		CHECK(t != NULL);
		if (!t)
			continue;
		CHECK_EQ_INT(t->ns_tid, exp[e].tid);
		CHECK(t->tstate != 0);
		CHECK(t->stack.depth >= 1);
		if (strcmp(exp[e].name, "spinner") != 0) {
			/* Parked threads never change: read first time. */
			CHECK_EQ_INT(t->status, THREADSNAP_OK);
			CHECK_EQ_INT(t->attempts, 1);
		}
		if (!t->stack.depth)
			continue;
		CHECK(t->frame_addr[0] != 0);
		CHECK_EQ_INT(symbolizer__frame(sym, &sp, &t->stack.frames[0], &f), 0);
		if (!strcmp(exp[e].name, "main")) {
			CHECK_EQ_STR(f.name, "<module>");
		} else {
			CHECK_EQ_STR(f.name, exp[e].name);
		}
		if (exp[e].line)
			CHECK_EQ_INT(f.line, exp[e].line);
	}
	fprintf(stderr, "%s: Python %u.%u.%u, %zu threads read\n", python, info.major, info.minor,
		info.micro, n);
	free(th);

	/* One thread by TID. */
	{
		static struct threadsnap_thread one;

		CHECK_EQ_INT(threadsnap__thread(ts, exp[0].tid, &one), 0);
		CHECK_EQ_INT(one.tid, exp[0].tid);
		CHECK(one.stack.depth >= 1);
		CHECK_EQ_INT(threadsnap__thread(ts, 999999999, &one), -ESRCH);
	}

	/* Only sleeping threads: a thread seen running is not walked. The
	 * spinner always is (running or waiting for a CPU: nobody else wants
	 * the GIL); a parked thread too at times on a loaded machine (seen
	 * under load 50: woken, then waiting for a CPU). */
	threadsnap__only_asleep(ts);
	{
		int on_cpu = 0;

		for (int round = 0; round < 20; round++) {
			th = NULL;
			CHECK_EQ_INT(threadsnap__take(ts, &th, &n), 0);
			for (size_t i = 0; i < n; i++) {
				if (th[i].status == THREADSNAP_ON_CPU) {
					CHECK_EQ_INT(th[i].attempts, 0);
					CHECK_EQ_INT(th[i].stack.depth, 0);
					on_cpu += th[i].tid == spinner_tid(exp, nexp);
				} else if (th[i].tid != spinner_tid(exp, nexp)) {
					/* read, or left for the budget on a loaded machine */
					CHECK(th[i].status == THREADSNAP_OK ||
					      th[i].status == THREADSNAP_SKIPPED);
				}
			}
			free(th);
		}
		CHECK(on_cpu > 0);
		CHECK_EQ_STR(threadsnap__status_name(THREADSNAP_ON_CPU), "on-cpu");
	}
	symbolizer__free(sym);
	threadsnap__free(ts);
	reap(&c);

	/* A dead process. */
	errno = 0;
	CHECK(threadsnap__new("/proc", c.pid, NULL) == NULL);
	CHECK_EQ_INT(errno, ESRCH);
}

static void test_threads_of_live_interpreters(void)
{
	for_each_python(snap_one, "threads.py");
}

/*
 * A thread list that loops (forged by data/looped.py, see there): the
 * snapshot ends, lists the main thread and the forged state once, and walks
 * the forged one once (it has no OS thread to be changing its stack).
 */
static void snap_looped(const char *python, const char *script)
{
	struct threadsnap_thread *th = NULL;
	struct threadsnap *ts;
	struct pyinfo info;
	struct child c;
	char word[32];
	int tid = 0;
	size_t n = 0;

	if (access(python, X_OK)) {
		fprintf(stderr, "skip: %s not installed\n", python);
		return;
	}
	CHECK_EQ_INT(spawn(python, script, &c), 0);
	if (fscanf(c.out, "%31s %d", word, &tid) != 2 || strcmp(word, "ready") != 0) {
		fprintf(stderr, "skip: %s: not an interpreter pybpf-prof reads\n", python);
		reap(&c);
		return;
	}
	ts = threadsnap__new("/proc", c.pid, &info);
	if (!ts) {
		CHECK_EQ_INT(errno, ENOTSUP);
		reap(&c);
		return;
	}
	CHECK_EQ_INT(threadsnap__take(ts, &th, &n), 0);
	CHECK_EQ_INT(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (th[i].tid) {
			CHECK_EQ_INT(th[i].tid, tid);
			CHECK_EQ_INT(th[i].status, THREADSNAP_OK);
			CHECK(th[i].stack.depth >= 1);
		} else {
			CHECK(th[i].tstate != 0);
			CHECK(th[i].attempts <= 1);
		}
	}
	fprintf(stderr, "%s: Python %u.%u.%u, looped list read as %zu threads\n", python,
		info.major, info.minor, info.micro, n);
	free(th);
	threadsnap__free(ts);
	reap(&c);
}

static void test_thread_list_with_a_loop(void)
{
	for_each_python(snap_looped, "looped.py");
}

static void test_not_python(void)
{
	errno = 0;
	CHECK(threadsnap__new("/proc", getpid(), NULL) == NULL);
	CHECK_EQ_INT(errno, ENOEXEC);
}

TEST_MAIN(TEST(test_threads_of_live_interpreters), TEST(test_thread_list_with_a_loop),
	  TEST(test_not_python))
