// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Verifier acceptance: the BPF object loads on this kernel with the map
 * sizes the CLI uses, attaches to every online CPU, and its counters move.
 * Needs root (CAP_BPF + CAP_PERFMON); skipped otherwise.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler.h"
#include "test.h"

static int on_event(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static void burn_ms(long ms)
{
	struct timespec t0, t;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void burn_us(long us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* A sampler with the map sizes of a small run, attached to every CPU. */
static struct sampler *new_attached(int *events)
{
	struct sampler_opts opts = {.rate_hz = 999,
				    .max_procs = 128,
				    .max_stacks = 256,
				    .max_counts = 1024,
				    .on_event = on_event,
				    .ctx = events};
	struct sampler *s = sampler__new(&opts);

	CHECK(s != NULL);
	if (s && sampler__attach(s) != 0) {
		CHECK(0);
		sampler__free(s);
		s = NULL;
	}
	return s;
}

static void test_load_attach_count(void)
{
	__u64 counters[CNT__MAX];
	int events = 0;
	struct sampler *s = new_attached(&events);

	if (!s)
		return;
	CHECK(sampler__cpus(s) >= 1);
	burn_ms(300);
	CHECK_EQ_INT(sampler__poll(s, 0), 0);
	CHECK_EQ_INT(sampler__counters(s, counters), 0);
	/* ~300 ms of this thread's CPU at 999 Hz: far more than 10 ticks. */
	CHECK(counters[CNT_SAMPLES] >= 10);
	CHECK(counters[CNT_NOT_PYTHON] >= 10);
	CHECK_EQ_INT(counters[CNT_PY_SAMPLES], 0);
	sampler__free(s);
}

/*
 * The targets bitmap: a registered process's ticks reach the procs lookup,
 * an unregistered one's leave at the bitmap, and the exit program clears
 * the bit of a registered process that exits.
 */
static void test_targets_bitmap(void)
{
	struct pybpf_proc proc = {0}; /* no interpreter: the walk fails, counted */
	__u64 a[CNT__MAX], b[CNT__MAX];
	int events = 0, status = 0;
	struct sampler *s = new_attached(&events);
	pid_t child;

	if (!s)
		return;
	CHECK_EQ_INT(sampler__is_target(s, getpid()), 0);
	CHECK_EQ_INT(sampler__is_target(s, 0), 0);

	CHECK_EQ_INT(sampler__add_proc(s, getpid(), &proc), 0);
	CHECK_EQ_INT(sampler__is_target(s, getpid()), 1);
	CHECK_EQ_INT(sampler__counters(s, a), 0);
	burn_ms(300);
	CHECK_EQ_INT(sampler__counters(s, b), 0);
	CHECK(b[CNT_PY_SAMPLES] - a[CNT_PY_SAMPLES] >= 10);

	CHECK_EQ_INT(sampler__remove_proc(s, getpid()), 0);
	CHECK_EQ_INT(sampler__is_target(s, getpid()), 0);
	CHECK_EQ_INT(sampler__counters(s, a), 0);
	burn_ms(300);
	CHECK_EQ_INT(sampler__counters(s, b), 0);
	CHECK_EQ_INT(b[CNT_PY_SAMPLES] - a[CNT_PY_SAMPLES], 0);
	CHECK(b[CNT_NOT_PYTHON] - a[CNT_NOT_PYTHON] >= 10);

	/* A registered process that exits: the exit program clears its bit. */
	child = fork();
	if (child == 0) {
		usleep(200000);
		_exit(0);
	}
	CHECK(child > 0);
	CHECK_EQ_INT(sampler__add_proc(s, child, &proc), 0);
	CHECK_EQ_INT(sampler__is_target(s, child), 1);
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	CHECK_EQ_INT(sampler__is_target(s, child), 0);
	sampler__free(s);
}

/* A child that sleeps 300 us and works 100 us, over and over, until killed. */
static pid_t start_sleeper(void)
{
	pid_t child = fork();

	if (child == 0) {
		for (;;) {
			struct timespec nap = {0, 300000};

			nanosleep(&nap, NULL);
			burn_us(100);
		}
	}
	return child;
}

static __u64 tick_at_wake_during(struct sampler *s, int ms)
{
	__u64 a[CNT__MAX], b[CNT__MAX];

	CHECK_EQ_INT(sampler__counters(s, a), 0);
	usleep((useconds_t)ms * 1000);
	CHECK_EQ_INT(sampler__counters(s, b), 0);
	return b[CNT_TICK_AT_WAKE] - a[CNT_TICK_AT_WAKE];
}

/*
 * tick_at_wake: a tick on a non-target (here idle) while a woken target
 * waits in that CPU's run queue to take over. A sleeper that is not registered never moves it; a
 * registered one that wakes ~2,500 times a second on an otherwise idle CPU
 * does (its wake-up timer and a tick share a timer interrupt now and then:
 * ~2-4 % of wake-ups on this VM). Up to eight 1 s tries, since the node's
 * other work can keep the CPUs busy for a while.
 */
static void test_tick_at_wake(void)
{
	struct pybpf_proc proc = {0};
	int events = 0, status = 0, ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	struct sampler *s = new_attached(&events);
	pid_t child;
	__u64 got = 0;

	if (!s)
		return;
	if (ncpus < 1)
		ncpus = 1;
	child = start_sleeper();
	CHECK(child > 0);
	if (child <= 0)
		goto out_free;
	CHECK_EQ_INT(tick_at_wake_during(s, 500), 0);
	CHECK_EQ_INT(sampler__add_proc(s, child, &proc), 0);
	/* Each try on the next CPU. It failed once in CI (three 1 s tries,
	 * right after the build, not reproduced in 6 runs since); a candidate
	 * cause: a mostly idle CPU's cpu-clock timer can go quiet on this VM
	 * (BENCHMARKS.md, "sixth round"), leaving no tick to land on idle. */
	for (int try = 0; try < 8 && !got; try++) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(try % ncpus, &one);
		sched_setaffinity(child, sizeof(one), &one); /* best effort */
		got = tick_at_wake_during(s, 1000);
	}
	CHECK(got > 0);
	kill(child, SIGKILL);
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
out_free:
	sampler__free(s);
}

/*
 * Wall mode --native loads (two kernel-stack maps chosen by generation, the
 * user registers' cs read), and its maps take turns: hold, drain and flip
 * succeed, and a reference no map or copy holds names no frames.
 */
static void test_wall_native_kstacks(void)
{
	struct sampler_opts opts = {.rate_hz = 99,
				    .wall = true,
				    .max_procs = 128,
				    .max_stacks = 256,
				    .max_counts = 1024,
				    .native = true,
				    .native_ring_bytes = 1 << 20,
				    .kstacks_max = 16,
				    .on_event = on_event};
	int events = 0;
	struct sampler *s;
	__u64 ips[PYBPF_KSTACK_MAX];
	uint64_t expired;
	size_t kept;

	opts.ctx = &events;
	s = sampler__new(&opts);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(sampler__attach(s), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(sampler__kstacks_hold(s), 0);
		CHECK_EQ_INT(sampler__poll(s, 0), 0);
		CHECK_EQ_INT(sampler__kstacks_flip(s), 0);
	}
	CHECK_EQ_INT(sampler__kstack(s, 0, ips, PYBPF_KSTACK_MAX), 0);
	CHECK_EQ_INT(sampler__kstack(s, PYBPF_KSTACK_REF(0, 3), ips, PYBPF_KSTACK_MAX), 0);
	sampler__kstacks_stats(s, &kept, &expired);
	CHECK_EQ_INT(kept, 0);
	CHECK_EQ_INT(expired, 1);
	sampler__free(s);
}

int main(void)
{
	static const struct test_case cases[] = {TEST(test_load_attach_count),
						 TEST(test_targets_bitmap), TEST(test_tick_at_wake),
						 TEST(test_wall_native_kstacks)};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return TEST_SKIP_CODE;
	}
	return test_run(cases, sizeof(cases) / sizeof(cases[0]));
}
