// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A stack's code events reach userspace before any count of that stack: a
 * drain that no poll preceded still delivers, for every frame of every
 * stack, after the code event of that frame's code object (keyed like the
 * symbolizer: registration, address, identity). Before, collect() polled and
 * then drained, and a count taken in between was named before its events;
 * when the code object was already freed (a module's code once exec has run
 * it) or the process gone, the frame was "[unknown]". The child compiles
 * and runs new code all the time. And an event lost to a full ring buffer
 * is sent again (test_lost_events_sent_again). Needs root (BPF); skipped
 * otherwise.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hashmap.h"
#include "pychild.h"
#include "registry.h"
#include "sampler.h"
#include "test.h"

#define DRAINS 5
#define DRAIN_EVERY_MS 100
/* Frames wanted from one child: it may get little CPU on a loaded machine,
 * so drains go on (up to MAX_DRAINS) until that many arrived. */
#define MIN_FRAMES 50
#define MAX_DRAINS 600

struct code_key {
	__u32 gen;
	__u32 ident;
	__u64 code;
};

static struct {
	struct sampler *sampler;
	struct registry *registry;
	struct hashmap *codes; /* code_key -> (void *)1: events received */
	size_t frames;	       /* frames delivered (with an identity) */
	size_t missing;	       /* of those, delivered before their code event */
	int add_failed;
} t;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct pybpf_code_event *ev = data;
	struct code_key k;
	__u32 type;

	(void)ctx;
	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type != EVENT_CODE || size < sizeof(*ev))
		return 0;
	k = (struct code_key){.gen = ev->gen, .ident = ev->ident, .code = ev->code};
	if (hashmap__set(t.codes, &k, (void *)1))
		t.add_failed = 1;
	return 0;
}

static int on_add(void *ctx, const struct registry_proc *p)
{
	struct pybpf_proc bp;

	(void)ctx;
	registry_proc__bpf(p, false, &bp);
	return sampler__add_proc(t.sampler, p->pid, &bp);
}

static void on_sample(const struct pybpf_count_key *key, const struct pybpf_count_val *val,
		      const struct pybpf_stack *stack, void *arg)
{
	(void)val;
	(void)arg;
	if (!stack)
		return;
	for (__u32 i = 0; i < stack->depth && i < PYBPF_MAX_FRAMES; i++) {
		const struct pybpf_frame *f = &stack->frames[i];
		struct code_key k = {.gen = key->gen, .ident = f->ident, .code = f->code};

		if (!f->ident)
			continue; /* not read at sample time: never sent */
		t.frames++;
		if (!hashmap__get(t.codes, &k))
			t.missing++;
	}
}

/* Start the script and register it; false (and a line why) if it cannot be. */
static bool start_child(const char *python, const char *script, struct child *c)
{
	struct pyinfo info;
	char line[64];

	if (spawn(python, script, c))
		return false;
	if (!fgets(line, sizeof(line), c->out) || strncmp(line, "ready", 5) ||
	    registry__add_pid(t.registry, c->pid, &info)) {
		fprintf(stderr, "  %s: not profiled here: skipped\n", python);
		reap(c);
		return false;
	}
	return true;
}

/* A sampler with these options and a registry feeding it; false if not. */
static bool setup(bool wall, unsigned int rate_hz)
{
	struct sampler_opts opts = {.rate_hz = rate_hz,
				    .wall = wall,
				    .max_procs = 128,
				    .max_stacks = 16384,
				    .max_counts = 16384,
				    .on_event = on_event};
	static const struct registry_ops ops = {.on_add = on_add};

	memset(&t, 0, sizeof(t));
	t.codes = hashmap__new(sizeof(struct code_key));
	t.sampler = sampler__new(&opts);
	t.registry = registry__new("/proc", &ops, NULL);
	CHECK(t.codes && t.sampler && t.registry);
	if (!t.codes || !t.sampler || !t.registry)
		return false;
	CHECK_EQ_INT(sampler__attach(t.sampler), 0);
	return true;
}

static void teardown(void)
{
	CHECK_EQ_INT(t.add_failed, 0);
	registry__free(t.registry);
	sampler__free(t.sampler);
	hashmap__free(t.codes);
}

static void drain_without_poll(const char *python, const char *script)
{
	__u64 before[CNT__MAX], after[CNT__MAX];
	struct child c;
	size_t frames = t.frames, missing = t.missing;

	if (!start_child(python, script, &c))
		return;
	CHECK_EQ_INT(sampler__counters(t.sampler, before), 0);
	for (int i = 0; i < DRAINS || (t.frames - frames < MIN_FRAMES && i < MAX_DRAINS); i++) {
		usleep(DRAIN_EVERY_MS * 1000);
		CHECK_EQ_INT(sampler__drain(t.sampler, on_sample, NULL), 0);
	}
	CHECK_EQ_INT(sampler__counters(t.sampler, after), 0);
	reap(&c);
	fprintf(stderr, "  %s: %zu frames, %zu before their code event\n", python,
		t.frames - frames, t.missing - missing);
	CHECK_EQ_INT(after[CNT_CODE_RINGBUF_FULL] - before[CNT_CODE_RINGBUF_FULL], 0);
	/* ~0.5 s of one CPU at 999 Hz, a few frames each: hundreds */
	CHECK(t.frames - frames >= MIN_FRAMES);
	CHECK_EQ_INT(t.missing - missing, 0);
}

static void test_code_events_before_counts(void)
{
	if (setup(false, 999))
		for_each_python(drain_without_poll, "codechurn.py");
	teardown();
}

static void discard(const struct pybpf_count_key *key, const struct pybpf_count_val *val,
		    const struct pybpf_stack *stack, void *arg)
{
	(void)key;
	(void)val;
	(void)stack;
	(void)arg;
}

/*
 * A code event lost to a full ring buffer is sent again with the next new
 * stack that has the code object: 1200 code objects first run while nothing
 * reads the ring (it holds ~850 events), then again from another caller
 * while it is read; the child is gone before that drain, so only events can
 * name its frames. Wall mode: every sleep is a new stack. One interpreter:
 * the first of PYBPF_TEST_PYTHONS, else pyenv's 3.11.7.
 */
static void test_lost_events_sent_again(void)
{
	__u64 before[CNT__MAX], after[CNT__MAX];
	const char *list = getenv("PYBPF_TEST_PYTHONS"), *src = getenv("PYBPF_SOURCE_DIR");
	char script[4096], python[4096] = "/root/.pyenv/versions/3.11.7/bin/python3", line[64];
	struct child c;

	if (list && *list)
		snprintf(python, sizeof(python), "%.*s", (int)strcspn(list, " "), list);
	snprintf(script, sizeof(script), "%s/tests/unit/data/codeflood.py", src ? src : ".");
	if (access(python, X_OK)) {
		fprintf(stderr, "  no %s: skipped\n", python);
		return;
	}
	if (!setup(true, 99) || !start_child(python, script, &c))
		goto out;
	CHECK_EQ_INT(sampler__counters(t.sampler, before), 0);
	CHECK_EQ_INT(write(c.stdin_fd, "1\n", 2), 2);
	CHECK(fgets(line, sizeof(line), c.out) && !strncmp(line, "done", 4));
	CHECK_EQ_INT(sampler__counters(t.sampler, after), 0);
	CHECK(after[CNT_CODE_RINGBUF_FULL] - before[CNT_CODE_RINGBUF_FULL] >= 100);
	CHECK_EQ_INT(sampler__drain(t.sampler, discard, NULL), 0);

	CHECK_EQ_INT(write(c.stdin_fd, "2\n", 2), 2);
	for (int i = 0; i < 40 && sampler__poll(t.sampler, 50) == 0; i++)
		;
	CHECK(fgets(line, sizeof(line), c.out) && !strncmp(line, "done", 4));
	reap(&c);
	CHECK_EQ_INT(sampler__drain(t.sampler, on_sample, NULL), 0);
	fprintf(stderr, "  %s: %zu frames, %zu without their code event\n", python, t.frames,
		t.missing);
	CHECK(t.frames >= 500);
	CHECK_EQ_INT(t.missing, 0);
out:
	teardown();
}

int main(void)
{
	static const struct test_case cases[] = {TEST(test_code_events_before_counts),
						 TEST(test_lost_events_sent_again)};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return TEST_SKIP_CODE;
	}
	return test_run(cases, sizeof(cases) / sizeof(cases[0]));
}
