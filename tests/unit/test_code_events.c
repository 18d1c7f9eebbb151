// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A stack's code events reach userspace before any count of that stack: a
 * drain that no poll preceded still delivers, for every frame of every
 * stack, after the code event of that frame's code object (keyed like the
 * symbolizer: registration, address, identity). Before, collect() polled and
 * then drained, and a count taken in between was named before its events;
 * when the code object was already freed (a module's code once exec has run
 * it) or the process gone, the frame was "[unknown]". The child compiles
 * and runs new code all the time. Needs root (BPF); skipped otherwise.
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
	struct pybpf_proc bp = {.gen = p->gen,
				.runtime_addr = p->info.runtime_addr,
				.code_type_addr = p->info.code_type_addr,
				.code_count_addr = p->info.code_count_addr,
				.off = p->off};

	(void)ctx;
	bp.off.frame_is_entry = 0;
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

static void drain_without_poll(const char *python, const char *script)
{
	__u64 before[CNT__MAX], after[CNT__MAX];
	struct child c;
	struct pyinfo info;
	char line[64];
	size_t frames = t.frames, missing = t.missing;

	if (spawn(python, script, &c))
		return;
	if (!fgets(line, sizeof(line), c.out) || strncmp(line, "ready", 5)) {
		fprintf(stderr, "  %s: no ready line: skipped\n", python);
		reap(&c);
		return;
	}
	if (registry__add_pid(t.registry, c.pid, &info)) {
		fprintf(stderr, "  %s: not profiled here: skipped\n", python);
		reap(&c);
		return;
	}
	CHECK_EQ_INT(sampler__counters(t.sampler, before), 0);
	for (int i = 0; i < DRAINS; i++) {
		usleep(DRAIN_EVERY_MS * 1000);
		CHECK_EQ_INT(sampler__drain(t.sampler, on_sample, NULL), 0);
	}
	CHECK_EQ_INT(sampler__counters(t.sampler, after), 0);
	reap(&c);
	fprintf(stderr, "  %s: %zu frames, %zu before their code event\n", python,
		t.frames - frames, t.missing - missing);
	CHECK_EQ_INT(after[CNT_CODE_RINGBUF_FULL] - before[CNT_CODE_RINGBUF_FULL], 0);
	/* ~0.5 s of one CPU at 999 Hz, a few frames each: hundreds */
	CHECK(t.frames - frames >= 50);
	CHECK_EQ_INT(t.missing - missing, 0);
}

static void test_code_events_before_counts(void)
{
	struct sampler_opts opts = {.rate_hz = 999,
				    .max_procs = 128,
				    .max_stacks = 16384,
				    .max_counts = 16384,
				    .on_event = on_event};
	struct registry_ops ops = {.on_add = on_add};

	t.codes = hashmap__new(sizeof(struct code_key));
	t.sampler = sampler__new(&opts);
	t.registry = registry__new("/proc", &ops, NULL);
	CHECK(t.codes && t.sampler && t.registry);
	if (!t.codes || !t.sampler || !t.registry)
		goto out;
	CHECK_EQ_INT(sampler__attach(t.sampler), 0);
	for_each_python(drain_without_poll, "codechurn.py");
	CHECK_EQ_INT(t.add_failed, 0);
out:
	registry__free(t.registry);
	sampler__free(t.sampler);
	hashmap__free(t.codes);
}

int main(void)
{
	static const struct test_case cases[] = {TEST(test_code_events_before_counts)};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return TEST_SKIP_CODE;
	}
	return test_run(cases, sizeof(cases) / sizeof(cases[0]));
}
