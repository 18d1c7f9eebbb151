// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-thread /proc parsing: namespaced TID, state, system call and its name. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pychild.h"
#include "taskinfo.h"
#include "test.h"

static void test_nspid(void)
{
	pid_t t = 0;

	CHECK_EQ_INT(taskinfo__parse_nspid("Name:\tpython3\nNSpid:\t4242\nNSpgid:\t1\n", &t), 0);
	CHECK_EQ_INT(t, 4242);
	/* In a container: host id first, innermost last. */
	CHECK_EQ_INT(taskinfo__parse_nspid("Tgid:\t9\nNSpid:\t12345\t7\t3\n", &t), 0);
	CHECK_EQ_INT(t, 3);
	CHECK_EQ_INT(taskinfo__parse_nspid("NSpid:\t12345 7", &t), 0);
	CHECK_EQ_INT(t, 7);
	CHECK_EQ_INT(taskinfo__parse_nspid("Name:\tx\n", &t), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_nspid("NSpid:\t\n", &t), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_nspid("NSpid:\t12x\n", &t), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_nspid("NSpid:\t-4\n", &t), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_nspid("NSpid:\t99999999999999\n", &t), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_nspid("", &t), -EINVAL);
}

static void test_state(void)
{
	char s = 0;

	CHECK_EQ_INT(taskinfo__parse_state("12 (python3) S 1 12 12 0", &s), 0);
	CHECK_EQ_INT(s, 'S');
	/* A thread name with spaces and parentheses. */
	CHECK_EQ_INT(taskinfo__parse_state("12 (a) R (b) x) R 1 2", &s), 0);
	CHECK_EQ_INT(s, 'R');
	CHECK_EQ_INT(taskinfo__parse_state("12 (py) D", &s), 0);
	CHECK_EQ_INT(s, 'D');
	CHECK_EQ_INT(taskinfo__parse_state("12 (py)", &s), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_state("12 (py) ", &s), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_state("12 python S", &s), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_state("", &s), -EINVAL);
}

static void test_syscall(void)
{
	long nr = 0;

	CHECK_EQ_INT(taskinfo__parse_syscall("running\n", &nr), 0);
	CHECK_EQ_INT(nr, TASKINFO_NO_SYSCALL);
	CHECK_EQ_INT(taskinfo__parse_syscall("-1 0x7ffc 0x7f00\n", &nr), 0);
	CHECK_EQ_INT(nr, TASKINFO_NO_SYSCALL);
	CHECK_EQ_INT(taskinfo__parse_syscall("202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n", &nr), 0);
	CHECK_EQ_INT(nr, 202);
	CHECK_EQ_INT(taskinfo__parse_syscall("0\n", &nr), 0);
	CHECK_EQ_INT(nr, 0);
	CHECK_EQ_INT(taskinfo__parse_syscall("x 1\n", &nr), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_syscall("12x\n", &nr), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_syscall("-7 0x1\n", &nr), -EINVAL);
	CHECK_EQ_INT(taskinfo__parse_syscall("", &nr), -EINVAL);
}

static void test_syscall_names(void)
{
	CHECK_EQ_STR(taskinfo__syscall_name(0), "read");
	CHECK_EQ_STR(taskinfo__syscall_name(1), "write");
	CHECK_EQ_STR(taskinfo__syscall_name(7), "poll");
	CHECK_EQ_STR(taskinfo__syscall_name(45), "recvfrom");
	CHECK_EQ_STR(taskinfo__syscall_name(202), "futex");
	CHECK_EQ_STR(taskinfo__syscall_name(230), "clock_nanosleep");
	CHECK_EQ_STR(taskinfo__syscall_name(281), "epoll_pwait");
	CHECK(taskinfo__syscall_name(-1) == NULL);
	CHECK(taskinfo__syscall_name(100000) == NULL);
	/* Numbers the table has no name for (the gap before io_uring_setup). */
	CHECK(taskinfo__syscall_name(400) == NULL);
}

static void test_sched_pair(void)
{
	char st = 0;
	long nr = 0;

	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) S 1", "202 0x1 0x2\n", &st, &nr), 0);
	CHECK_EQ_INT(st, 'S');
	CHECK_EQ_INT(nr, 202);
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) R 1", "running\n", &st, &nr), 0);
	CHECK_EQ_INT(st, 'R');
	CHECK_EQ_INT(nr, TASKINFO_NO_SYSCALL);
	/* Blocked outside a system call (a page fault, stopped). */
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) T 1", "-1 0x7ffc 0x7f00\n", &st, &nr), 0);
	CHECK_EQ_INT(nr, TASKINFO_NO_SYSCALL);
	/* No syscall file (no permission): whatever stat says. */
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) R 1", NULL, &st, &nr), 0);
	CHECK_EQ_INT(nr, TASKINFO_SYSCALL_UNKNOWN);
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) S 1", "garbage\n", &st, &nr), 0);
	CHECK_EQ_INT(nr, TASKINFO_SYSCALL_UNKNOWN);
	/* Read at two instants with a switch between them. */
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) R 1", "202 0x1\n", &st, &nr), -EAGAIN);
	CHECK_EQ_INT(taskinfo__parse_sched("7 (py) S 1", "running\n", &st, &nr), -EAGAIN);
	CHECK_EQ_INT(taskinfo__parse_sched("7 py S", "running\n", &st, &nr), -EINVAL);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void test_read_fixture(void)
{
	char root[] = "/tmp/pybpf-taskinfo-XXXXXX", dir[512];
	struct taskinfo ti;

	CHECK(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/100", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/100/task", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/100/task/101", root);
	mkdir(dir, 0755);
	put(dir, "stat", "101 (worker (x)) D 1 100 100 0\n");
	put(dir, "status", "Name:\tworker\nNSpid:\t101\t5\n");
	put(dir, "comm", "worker (x)\n");
	put(dir, "syscall", "45 0x3 0x7f 0x10 0x0 0x0 0x0 0x7ffd 0x7f12\n");
	CHECK_EQ_INT(taskinfo__read(root, 100, 101, &ti), 0);
	CHECK_EQ_INT(ti.tid, 101);
	CHECK_EQ_INT(ti.ns_tid, 5);
	CHECK_EQ_INT(ti.state, 'D');
	CHECK_EQ_INT(ti.syscall, 45);
	CHECK_EQ_STR(ti.name, "worker (x)");
	CHECK(!taskinfo__on_cpu(&ti));
	/* No permission for syscall: unknown, the rest still read. */
	snprintf(dir, sizeof(dir), "%s/100/task/101/syscall", root);
	unlink(dir);
	CHECK_EQ_INT(taskinfo__read(root, 100, 101, &ti), 0);
	CHECK_EQ_INT(ti.syscall, TASKINFO_SYSCALL_UNKNOWN);
	/* A pair that disagrees however often it is read: stat decides. */
	snprintf(dir, sizeof(dir), "%s/100/task/101", root);
	put(dir, "syscall", "running\n");
	CHECK_EQ_INT(taskinfo__read(root, 100, 101, &ti), 0);
	CHECK_EQ_INT(ti.state, 'D');
	CHECK_EQ_INT(ti.syscall, TASKINFO_SYSCALL_UNKNOWN);
	put(dir, "stat", "101 (worker (x)) R 1 100 100 0\n");
	put(dir, "syscall", "202 0x1 0x2\n");
	CHECK_EQ_INT(taskinfo__read(root, 100, 101, &ti), 0);
	CHECK_EQ_INT(ti.state, 'R');
	CHECK_EQ_INT(ti.syscall, TASKINFO_NO_SYSCALL);
	CHECK_EQ_INT(taskinfo__read(root, 100, 102, &ti), -ESRCH);
	CHECK_EQ_INT(taskinfo__read(root, 7, 7, &ti), -ESRCH);

	/* This very thread, live. */
	CHECK_EQ_INT(taskinfo__read("/proc", getpid(), getpid(), &ti), 0);
	CHECK_EQ_INT(ti.state, 'R');
	CHECK(taskinfo__on_cpu(&ti));

	snprintf(dir, sizeof(dir), "rm -rf %s", root);
	CHECK_EQ_INT(system(dir), 0);
}

/* A thread of this process that keeps switching between running and a
 * short sleep: the case where state and syscall read at two instants
 * disagreed ("running" in clock_nanosleep, seen by `dump` as a spinner in a
 * system call). */
static atomic_int flip_stop;
static atomic_int flip_tid;

static void *flipper(void *arg)
{
	const struct timespec nap = {.tv_nsec = 20000};
	volatile unsigned long n = 0;

	(void)arg;
	atomic_store(&flip_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&flip_stop)) {
		for (int i = 0; i < 20000; i++)
			n = n + 1;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static void test_live_switching(void)
{
	int running = 0, asleep = 0;
	struct taskinfo ti;
	pthread_t t;

	CHECK_EQ_INT(pthread_create(&t, NULL, flipper, NULL), 0);
	while (!atomic_load(&flip_tid))
		usleep(1000);
	for (int i = 0; i < 3000; i++) {
		CHECK_EQ_INT(taskinfo__read("/proc", getpid(), atomic_load(&flip_tid), &ti), 0);
		if (ti.state == 'R') {
			running++;
			CHECK_EQ_INT(ti.syscall, TASKINFO_NO_SYSCALL);
		} else {
			asleep++;
			CHECK_EQ_INT(ti.state, 'S');
			CHECK(ti.syscall == SYS_clock_nanosleep || ti.syscall == SYS_nanosleep ||
			      ti.syscall == TASKINFO_SYSCALL_UNKNOWN);
		}
	}
	atomic_store(&flip_stop, 1);
	pthread_join(t, NULL);
	fprintf(stderr, "switching thread: %d reads running, %d asleep\n", running, asleep);
	CHECK(running + asleep == 3000);
}

/* The threads of a live interpreter (tests/unit/data/threads.py): the
 * spinner runs in no system call, the others sleep in theirs. */
static void python_threads(const char *python, const char *script)
{
	struct child_thread exp[8];
	struct taskinfo ti;
	struct child c;
	size_t n;

	if (access(python, X_OK))
		return;
	CHECK_EQ_INT(spawn(python, script, &c), 0);
	n = read_threads(&c, exp, 8);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ_INT(taskinfo__read("/proc", c.pid, exp[i].tid, &ti), 0);
			CHECK_EQ_INT(ti.ns_tid, exp[i].tid);
			if (ti.state == 'R')
				CHECK_EQ_INT(ti.syscall, TASKINFO_NO_SYSCALL);
			else if (strcmp(exp[i].name, "spinner") != 0)
				CHECK(ti.syscall >= 0 || ti.syscall == TASKINFO_SYSCALL_UNKNOWN);
			/* main blocks in read; on its way there it may still wait in
			 * futex for the GIL the spinner holds */
			if (!strcmp(exp[i].name, "main") && ti.state == 'S')
				CHECK(ti.syscall == SYS_read || ti.syscall == SYS_futex ||
				      ti.syscall == TASKINFO_SYSCALL_UNKNOWN);
		}
		usleep(5000);
	}
	reap(&c);
	if (n)
		CHECK_EQ_INT(taskinfo__read("/proc", c.pid, exp[0].tid, &ti), -ESRCH);
}

static void test_live_python(void)
{
	for_each_python(python_threads, "threads.py");
}

TEST_MAIN(TEST(test_nspid), TEST(test_state), TEST(test_syscall), TEST(test_syscall_names),
	  TEST(test_sched_pair), TEST(test_read_fixture), TEST(test_live_switching),
	  TEST(test_live_python))
