// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "sampler.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dither.h"
#include "hashmap.h"
#include "kstacks.h"
#include "pybpf.skel.h"
#include "monoclock.h"

#define DRAIN_BATCH 1024
/* Wall mode --native: distinct kernel stacks at switch-out, per map
 * generation (two maps of about 4 MiB each). */
#define KSTACKS_MAX 8192

struct sampler {
	struct pybpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links; /* one per CPU */
	int *perf_fds;
	int ncpus;
	unsigned int attached;
	struct bpf_link *exec_link, *exit_link, *switch_link;
	bool wall;
	unsigned int rate_hz;
	struct hashmap *stacks; /* stack hash -> struct cached_stack */
	uint32_t epoch;          /* sampler__prune calls */
	struct pybpf_count_key *keys;
	struct pybpf_count_val *values;
	__u32 max_counts;
	int batch_ok; /* 1 works, 0 untried, -1 unsupported */
	bool native;
	struct kstacks *kstacks; /* wall mode --native */
	struct dither *dither;   /* NULL: the timers keep their phase */
	uint64_t restarts;       /* timer restarts done */
};

void sampler__free(struct sampler *s)
{
	if (!s)
		return;
	dither__free(s->dither);
	for (int i = 0; s->links && i < s->ncpus; i++)
		bpf_link__destroy(s->links[i]);
	for (int i = 0; s->perf_fds && i < s->ncpus; i++)
		if (s->perf_fds[i] >= 0)
			close(s->perf_fds[i]);
	kstacks__free(s->kstacks);
	bpf_link__destroy(s->exec_link);
	bpf_link__destroy(s->exit_link);
	bpf_link__destroy(s->switch_link);
	ring_buffer__free(s->rb);
	pybpf__destroy(s->skel);
	hashmap__free_all(s->stacks);
	free(s->links);
	free(s->perf_fds);
	free(s->keys);
	free(s->values);
	free(s);
}

/* kernel.pid_max, or 0 when unreadable (the bitmap then covers every pid). */
static __u64 pid_max(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	unsigned long long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static int read_kstack(void *ctx, unsigned int map, uint32_t id, uint64_t *ips, size_t max)
{
	struct sampler *s = ctx;
	struct bpf_map *m = map ? s->skel->maps.kstacks1 : s->skel->maps.kstacks0;
	__u64 buf[PYBPF_KSTACK_MAX] = {0};
	size_t n = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(m), &id, buf))
		return errno == ENOENT ? 0 : -errno;
	while (n < PYBPF_KSTACK_MAX && n < max && buf[n]) {
		ips[n] = buf[n];
		n++;
	}
	return (int)n;
}

struct sampler *sampler__new(const struct sampler_opts *opts)
{
	struct sampler *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	if (!s)
		goto out_err;
	s->rate_hz = opts->rate_hz;
	s->wall = opts->wall;
	s->max_counts = opts->max_counts;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		err = s->ncpus ? s->ncpus : -ENODEV;
		goto out_err;
	}
	s->links = calloc(s->ncpus, sizeof(*s->links));
	s->perf_fds = malloc(s->ncpus * sizeof(*s->perf_fds));
	s->stacks = hashmap__new(sizeof(__u64));
	s->keys = calloc(DRAIN_BATCH, sizeof(*s->keys));
	s->values = calloc(DRAIN_BATCH, sizeof(*s->values));
	if (!s->links || !s->perf_fds || !s->stacks || !s->keys || !s->values)
		goto out_err;
	for (int i = 0; i < s->ncpus; i++)
		s->perf_fds[i] = -1;
	if (opts->dither_ticks) {
		uint64_t seed = 0;

		/* Any seed will do; a different one per run is better. */
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
			seed = monoclock__ns() ^ (uint64_t)getpid();
		s->dither = dither__new((unsigned int)s->ncpus, 1000000000ull / opts->rate_hz,
					opts->dither_ticks, seed, monoclock__ns());
		if (!s->dither) {
			err = -errno;
			goto out_err;
		}
	}

	s->skel = pybpf__open();
	if (!s->skel) {
		err = -errno;
		goto out_err;
	}
	bpf_map__set_max_entries(s->skel->maps.procs, opts->max_procs);
	bpf_map__set_max_entries(s->skel->maps.targets, pybpf_target_words(pid_max()));
	bpf_map__set_max_entries(s->skel->maps.stacks, opts->max_stacks);
	bpf_map__set_max_entries(s->skel->maps.counts, opts->max_counts);
	if (opts->native) {
		s->native = true;
		s->skel->rodata->native_mode = true;
		s->skel->rodata->native_ring_bytes = opts->native_ring_bytes;
		bpf_map__set_max_entries(s->skel->maps.native_events, opts->native_ring_bytes);
	}
	s->skel->rodata->wall_mode = opts->wall;
	s->skel->rodata->gil_only = opts->gil_only;
	s->skel->rodata->period_ns = 1000000000ull / opts->rate_hz;
	/* cpu mode loads nothing it does not use. */
	bpf_program__set_autoload(s->skel->progs.pybpf_switch, opts->wall);
	bpf_program__set_autoload(s->skel->progs.pybpf_close_offcpu, opts->wall);
	if (!opts->wall)
		bpf_map__set_max_entries(s->skel->maps.offcpu, 1);
	if (opts->wall && opts->native) {
		__u32 n = opts->kstacks_max ? opts->kstacks_max : KSTACKS_MAX;

		bpf_map__set_max_entries(s->skel->maps.kstacks0, n);
		bpf_map__set_max_entries(s->skel->maps.kstacks1, n);
		s->kstacks = kstacks__new(read_kstack, s);
		if (!s->kstacks)
			goto out_err;
	}
	err = pybpf__load(s->skel);
	if (err)
		goto out_err;
	s->rb =
	    ring_buffer__new(bpf_map__fd(s->skel->maps.events), opts->on_event, opts->ctx, NULL);
	if (!s->rb) {
		err = -errno;
		goto out_err;
	}
	if (opts->native) {
		err = ring_buffer__add(s->rb, bpf_map__fd(s->skel->maps.native_events),
				       opts->on_event, opts->ctx);
		if (err)
			goto out_err;
	}
	return s;

out_err:
	sampler__free(s);
	errno = -err;
	return NULL;
}

/* Parse a CPU list such as "0-3,5" into online[0..n). 0 or -errno. */
static int online_cpus(bool **online, int *n)
{
	char buf[4096];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	bool *mask = NULL;
	int max = 0, err = 0;
	char *p, *end;

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		err = -EIO;
		goto out_close;
	}
	mask = calloc(4096, sizeof(*mask));
	if (!mask) {
		err = -ENOMEM;
		goto out_close;
	}
	for (p = buf; *p && *p != '\n';) {
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p || lo < 0 || lo >= 4096)
			goto out_inval;
		p = end;
		if (*p == '-') {
			hi = strtol(p + 1, &end, 10);
			if (end == p + 1 || hi < lo || hi >= 4096)
				goto out_inval;
			p = end;
		}
		for (long c = lo; c <= hi; c++)
			mask[c] = true;
		if (hi + 1 > max)
			max = (int)hi + 1;
		if (*p == ',')
			p++;
	}
	*online = mask;
	*n = max;
	mask = NULL;
	goto out_close;
out_inval:
	err = -EINVAL;
out_close:
	free(mask);
	fclose(f);
	return err;
}

static int perf_event_open(struct perf_event_attr *attr, int cpu)
{
	return (int)syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int sampler__attach(struct sampler *s)
{
	struct perf_event_attr attr = {
	    .type = PERF_TYPE_SOFTWARE,
	    .size = sizeof(attr),
	    .config = PERF_COUNT_SW_CPU_CLOCK,
	    .sample_period = 1000000000ull / s->rate_hz,
	};
	bool *online = NULL;
	int n_online = 0, err;

	err = online_cpus(&online, &n_online);
	if (err)
		return err;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		if (cpu >= n_online || !online[cpu])
			continue;
		s->perf_fds[cpu] = perf_event_open(&attr, cpu);
		if (s->perf_fds[cpu] < 0) {
			err = -errno;
			if (err == -ENODEV)
				continue; /* went offline meanwhile */
			goto out;
		}
		s->links[cpu] =
		    bpf_program__attach_perf_event(s->skel->progs.pybpf_sample, s->perf_fds[cpu]);
		if (!s->links[cpu]) {
			err = -errno;
			goto out;
		}
		s->attached++;
	}
	s->exec_link = bpf_program__attach(s->skel->progs.pybpf_exec);
	if (!s->exec_link) {
		err = -errno;
		goto out;
	}
	s->exit_link = bpf_program__attach(s->skel->progs.pybpf_exit);
	if (!s->exit_link) {
		err = -errno;
		goto out;
	}
	if (s->wall) {
		s->switch_link = bpf_program__attach(s->skel->progs.pybpf_switch);
		if (!s->switch_link) {
			err = -errno;
			goto out;
		}
	}
	err = s->attached ? 0 : -ENODEV;
out:
	free(online);
	return err;
}

unsigned int sampler__cpus(const struct sampler *s)
{
	return s->attached;
}

int sampler__dither(struct sampler *s, uint64_t now_ns, uint64_t *next_ns)
{
	__u64 period;

	*next_ns = UINT64_MAX;
	if (!s->dither)
		return 0;
	period = dither__timer_period_ns(s->dither);
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		if (!dither__due(s->dither, (unsigned int)cpu, now_ns) || s->perf_fds[cpu] < 0)
			continue;
		/* Setting the period restarts the timer: its next tick comes one
		 * period from now. */
		if (ioctl(s->perf_fds[cpu], PERF_EVENT_IOC_PERIOD, &period)) {
			int err = -errno;

			dither__free(s->dither);
			s->dither = NULL;
			return err;
		}
		s->restarts++;
	}
	*next_ns = dither__next_ns(s->dither);
	return 0;
}

/*
 * Set or clear pid's bit in the targets bitmap. Only this (single-threaded)
 * side sets bits; the BPF exec/exit programs clear them. A clear racing with
 * this read-modify-write can at worst leave a bit set, which only costs the
 * BPF program a `procs` lookup that misses.
 */
static int mark_target(struct sampler *s, pid_t pid, bool on)
{
	int fd = bpf_map__fd(s->skel->maps.targets);
	__u32 word = pybpf_target_word((__u32)pid);
	__u64 bits = 0;

	if (bpf_map_lookup_elem(fd, &word, &bits))
		return errno == ENOENT ? 0 : -errno; /* beyond the bitmap: procs decides */
	bits = on ? bits | pybpf_target_bit((__u32)pid) : bits & ~pybpf_target_bit((__u32)pid);
	if (bpf_map_update_elem(fd, &word, &bits, BPF_ANY))
		return -errno;
	return 0;
}

int sampler__add_proc(struct sampler *s, pid_t pid, const struct pybpf_proc *proc)
{
	__u32 key = (__u32)pid;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.procs), &key, proc, BPF_ANY))
		return -errno;
	/* After the entry: a set bit must never miss its procs entry's samples. */
	return mark_target(s, pid, true);
}

int sampler__remove_proc(struct sampler *s, pid_t pid)
{
	__u32 key = (__u32)pid;

	if (bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &key) && errno != ENOENT)
		return -errno;
	return mark_target(s, pid, false);
}

int sampler__is_target(const struct sampler *s, pid_t pid)
{
	__u32 word = pybpf_target_word((__u32)pid);
	__u64 bits = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.targets), &word, &bits))
		return errno == ENOENT ? 1 : -errno;
	return (bits & pybpf_target_bit((__u32)pid)) != 0;
}

int sampler__poll(struct sampler *s, int timeout_ms)
{
	int n = ring_buffer__poll(s->rb, timeout_ms);

	/* --native samples do not wake us up one by one (see record_native):
	 * take whatever is there, in one batch. */
	if (n >= 0 && s->native)
		n = ring_buffer__consume(s->rb);
	return n == -EINTR ? 0 : (n < 0 ? n : 0);
}

/* A stack copied out of the kernel, trimmed to its depth. */
struct cached_stack {
	uint32_t used_epoch;
	uint32_t pad;
	struct pybpf_stack st; /* only st.frames[0..depth) are allocated */
};

/* The stack for a hash: from our copy, else copied from the kernel. Kernel
 * entries we hold a copy of are deleted by sampler__prune. */
static const struct pybpf_stack *stack_for(struct sampler *s, __u64 hash)
{
	int fd = bpf_map__fd(s->skel->maps.stacks);
	struct cached_stack *c = hashmap__get(s->stacks, &hash), *tmp;
	size_t size;

	if (c) {
		c->used_epoch = s->epoch;
		return &c->st;
	}
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return NULL;
	if (bpf_map_lookup_elem(fd, &hash, &tmp->st) || tmp->st.depth > PYBPF_MAX_FRAMES) {
		free(tmp);
		return NULL;
	}
	size = offsetof(struct cached_stack, st.frames) + tmp->st.depth * sizeof(tmp->st.frames[0]);
	c = realloc(tmp, size);
	if (!c)
		c = tmp;
	c->used_epoch = s->epoch;
	if (hashmap__set(s->stacks, &hash, c)) {
		free(c);
		return NULL;
	}
	return &c->st;
}

/*
 * Hand over n totals just taken from the kernel, after the ring buffer's
 * events: the BPF program submits a new stack's code events before it counts
 * the stack, so those of every total taken are in the ring by now, while a
 * poll before the drain misses the ones sent in between (their code objects
 * could then only be read from memory, where a module's code run by exec is
 * already freed and an exited process is gone). The totals are delivered
 * even when consuming fails; its error is returned.
 */
static int deliver(struct sampler *s, __u32 n, sampler_sample_cb cb, void *arg)
{
	int err = n ? ring_buffer__consume(s->rb) : 0;

	for (__u32 i = 0; i < n; i++)
		cb(&s->keys[i], &s->values[i], stack_for(s, s->keys[i].stack), arg);
	return err == -EINTR ? 0 : (err < 0 ? err : 0);
}

/* Fallback for kernels without batch operations on hash maps. */
static int drain_iter(struct sampler *s, int fd, sampler_sample_cb cb, void *arg)
{
	struct pybpf_count_key key;
	__u32 n = 0;
	int err = 0, e;

	/* Every key found is deleted, so the first key is always a new one. */
	while (!bpf_map_get_next_key(fd, NULL, &key)) {
		if (bpf_map_lookup_elem(fd, &key, &s->values[n]) == 0)
			s->keys[n++] = key;
		if (bpf_map_delete_elem(fd, &key))
			return -errno;
		if (n == DRAIN_BATCH) {
			e = deliver(s, n, cb, arg);
			err = err ? err : e;
			n = 0;
		}
	}
	e = deliver(s, n, cb, arg);
	return err ? err : e;
}

int sampler__drain(struct sampler *s, sampler_sample_cb cb, void *arg)
{
	int fd = bpf_map__fd(s->skel->maps.counts);
	struct pybpf_count_key out_batch;
	bool first = true;
	int err = 0, ring_err = 0, e;

	if (s->batch_ok < 0)
		return drain_iter(s, fd, cb, arg);
	for (;;) {
		__u32 n = DRAIN_BATCH;

		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &out_batch, &out_batch,
						      s->keys, s->values, &n, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			if (first && (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP)) {
				s->batch_ok = -1;
				return drain_iter(s, fd, cb, arg);
			}
			return err;
		}
		s->batch_ok = 1;
		first = false;
		e = deliver(s, n, cb, arg);
		ring_err = ring_err ? ring_err : e;
		if (err) /* ENOENT: that was the last batch */
			return ring_err;
	}
}

struct idle_stacks {
	uint32_t epoch, max_idle;
	__u64 *hashes;
	size_t n, cap;
};

static int idle_stacks__push(struct idle_stacks *c, __u64 hash)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		__u64 *h = realloc(c->hashes, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		c->hashes = h;
		c->cap = cap;
	}
	c->hashes[c->n++] = hash;
	return 0;
}

static int collect_idle(const void *key, void *value, void *arg)
{
	struct idle_stacks *c = arg;
	const struct cached_stack *cs = value;
	__u64 hash;

	if (c->epoch - cs->used_epoch <= c->max_idle)
		return 0;
	memcpy(&hash, key, sizeof(hash));
	return idle_stacks__push(c, hash);
}

int sampler__prune(struct sampler *s, uint32_t max_idle)
{
	struct idle_stacks c = {.epoch = s->epoch, .max_idle = max_idle};
	int fd = bpf_map__fd(s->skel->maps.stacks);
	__u64 key, next;
	bool first = true;
	int err = hashmap__each(s->stacks, collect_idle, &c);

	for (size_t i = 0; i < c.n; i++)
		free(hashmap__remove(s->stacks, &c.hashes[i]));
	/* Free kernel entries we hold a copy of (a stack sampled again is
	 * re-inserted by the BPF program before it is counted). Keys are
	 * collected first: deleting while iterating restarts the iteration. */
	c.n = 0;
	while (!err && !bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		key = next;
		first = false;
		if (hashmap__get(s->stacks, &key))
			err = idle_stacks__push(&c, key);
	}
	for (size_t i = 0; i < c.n; i++)
		bpf_map_delete_elem(fd, &c.hashes[i]);
	free(c.hashes);
	s->epoch++;
	return err;
}

int sampler__close_offcpu(struct sampler *s)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (!s->wall)
		return 0;
	if (bpf_prog_test_run_opts(bpf_program__fd(s->skel->progs.pybpf_close_offcpu), &opts))
		return -errno;
	return 0;
}

int sampler__add_offcpu(struct sampler *s, __u32 tid, const struct pybpf_offcpu *e,
			const struct pybpf_stack *stack)
{
	struct cached_stack *c;
	size_t size;

	if (!s->wall)
		return 0;
	/* Our copy names the stack at drain time; the kernel need not have it. */
	if (!hashmap__get(s->stacks, &e->stack)) {
		size = offsetof(struct cached_stack, st.frames) +
		       stack->depth * sizeof(stack->frames[0]);
		c = malloc(size);
		if (!c)
			return -ENOMEM;
		memcpy(&c->st, stack,
		       offsetof(struct pybpf_stack, frames) +
			   stack->depth * sizeof(stack->frames[0]));
		c->used_epoch = s->epoch;
		if (hashmap__set(s->stacks, &e->stack, c)) {
			free(c);
			return -ENOMEM;
		}
	}
	/* Only if the kernel has not seen it switch since. */
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.offcpu), &tid, e, BPF_NOEXIST))
		return -errno;
	return 0;
}

int sampler__kstack(struct sampler *s, __u32 ref, __u64 *ips, size_t max)
{
	return s->kstacks ? (int)kstacks__get(s->kstacks, ref, (uint64_t *)ips, max) : 0;
}

int sampler__kstacks_hold(struct sampler *s)
{
	int fd, err = 0;
	__u32 tid, next;
	struct pybpf_offcpu e;
	bool first = true;

	if (!s->kstacks)
		return 0;
	fd = bpf_map__fd(s->skel->maps.offcpu);
	while (!err && !bpf_map_get_next_key(fd, first ? NULL : &tid, &next)) {
		tid = next;
		first = false;
		if (!bpf_map_lookup_elem(fd, &tid, &e))
			err = kstacks__hold(s->kstacks, e.kstack);
	}
	return err;
}

int sampler__kstacks_flip(struct sampler *s)
{
	unsigned int clear;
	struct bpf_map *m;
	__u32 id, next;
	bool first = true;
	int fd, err;

	if (!s->kstacks)
		return 0;
	err = kstacks__flip(s->kstacks, &clear);
	if (err)
		return err;
	m = clear ? s->skel->maps.kstacks1 : s->skel->maps.kstacks0;
	fd = bpf_map__fd(m);
	while (!bpf_map_get_next_key(fd, first ? NULL : &id, &next)) {
		id = next;
		first = false;
		bpf_map_delete_elem(fd, &id);
	}
	s->skel->bss->kstack_gen = kstacks__gen(s->kstacks);
	return 0;
}

void sampler__kstacks_stats(const struct sampler *s, size_t *kept, uint64_t *expired)
{
	*kept = s->kstacks ? kstacks__size(s->kstacks) : 0;
	*expired = s->kstacks ? kstacks__expired(s->kstacks) : 0;
}

int sampler__counters(const struct sampler *s, __u64 out[CNT__MAX])
{
	int ncpus = s->ncpus;
	__u64 *vals = calloc((size_t)ncpus, sizeof(__u64) * CNT__MAX);
	__u32 zero = 0;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(__u64) * CNT__MAX);
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.counters), &zero, vals)) {
		err = -errno;
		goto out;
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		__u64 ns = 0, periods;

		for (int i = 0; i < CNT__MAX; i++)
			out[i] += vals[cpu * CNT__MAX + i];
		/* The cpu-clock event counts the ns it has been enabled on this
		 * CPU: that many periods should have run the program. */
		if (s->perf_fds[cpu] < 0 || read(s->perf_fds[cpu], &ns, sizeof(ns)) != sizeof(ns))
			continue;
		periods = ns / (1000000000ull / s->rate_hz);
		if (periods > vals[cpu * CNT__MAX + CNT_SAMPLES])
			out[CNT_TICKS_MISSED] += periods - vals[cpu * CNT__MAX + CNT_SAMPLES];
	}
out:
	free(vals);
	return err;
}

int sampler__prog_stats(const struct sampler *s, __u64 *run_ns, __u64 *run_cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(s->skel->progs.pybpf_sample), &info, &len))
		return -errno;
	*run_ns = info.run_time_ns;
	*run_cnt = info.run_cnt;
	return 0;
}

uint64_t sampler__restarts(const struct sampler *s)
{
	return s->restarts;
}
