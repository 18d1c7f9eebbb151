// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "hashmap.h"
#include "procfs.h"
#include "pyoffsets.h"
#include "service.h"

/* A process younger than this that is not Python yet may still be loading
 * its libpython (shared builds map it after exec): look again later. */
#define YOUNG_NS 3000000000ull

/* What we concluded about a process that is not registered. */
struct seen {
	uint64_t start_time;
	uint64_t recheck_until_ns; /* CLOCK_BOOTTIME; 0 = never look again */
};

/* A process that exec'd and was not (yet) Python: shared-libpython builds
 * map libpython a few milliseconds after exec. Looked at again soon, so
 * even processes that live a few hundred milliseconds are profiled. */
struct pending {
	pid_t pid;
	unsigned int attempt;
	uint64_t start_time;
	uint64_t exec_ns; /* CLOCK_BOOTTIME */
};

#define PENDING_MAX 256
static const uint64_t retry_ms[] = { 2, 10, 30, 80, 200, 500 };

struct thread_key {
	__u32 gen;
	__s32 tid;
};

struct registry {
	const char *proc;
	struct registry_ops ops;
	void *ctx;
	bool explicit_only;
	struct registry_proc **procs; /* index gen - 1 */
	size_t nprocs, cap;
	size_t alive;
	struct hashmap *by_pid;	 /* pid -> registry_proc (alive only) */
	struct hashmap *seen;	 /* pid -> struct seen (not registered) */
	struct hashmap *threads; /* thread_key -> char * */
	struct pending pending[PENDING_MAX];
	size_t npending;
};

static int free_value(const void *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	free(value);
	return 0;
}

struct registry *registry__new(const char *proc_root, const struct registry_ops *ops, void *ctx)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->proc = proc_root;
	r->ops = *ops;
	r->ctx = ctx;
	r->by_pid = hashmap__new(sizeof(pid_t));
	r->seen = hashmap__new(sizeof(pid_t));
	r->threads = hashmap__new(sizeof(struct thread_key));
	if (!r->by_pid || !r->seen || !r->threads) {
		registry__free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

void registry__free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nprocs; i++)
		free(r->procs[i]);
	free(r->procs);
	hashmap__free(r->by_pid);
	if (r->seen)
		hashmap__each(r->seen, free_value, NULL);
	hashmap__free(r->seen);
	if (r->threads)
		hashmap__each(r->threads, free_value, NULL);
	hashmap__free(r->threads);
	free(r);
}

void registry__set_explicit(struct registry *r, bool explicit_only)
{
	r->explicit_only = explicit_only;
}

static void forget_seen(struct registry *r, pid_t pid)
{
	free(hashmap__remove(r->seen, &pid));
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* When a process that started at `start_time` (clock ticks since boot)
 * stops being young. */
static uint64_t young_until(uint64_t start_time)
{
	static long ticks_per_s;

	if (!ticks_per_s)
		ticks_per_s = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	return start_time * (1000000000ull / (uint64_t)ticks_per_s) + YOUNG_NS;
}

/* Remember that pid is not (yet) a Python we profile; look again on ticks
 * until recheck_until_ns (0: never). */
static void note_seen(struct registry *r, pid_t pid, uint64_t start_time, uint64_t recheck_until_ns)
{
	struct seen *s = hashmap__get(r->seen, &pid);

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || hashmap__set(r->seen, &pid, s)) {
			free(s);
			return;
		}
	}
	s->start_time = start_time;
	s->recheck_until_ns = recheck_until_ns;
}

static void drop(struct registry *r, struct registry_proc *p)
{
	if (!p->alive)
		return;
	p->alive = false;
	r->alive--;
	hashmap__remove(r->by_pid, &p->pid);
	if (r->ops.on_remove)
		r->ops.on_remove(r->ctx, p);
}

/* Inspect pid and register it if it is a CPython we can read. */
static int inspect(struct registry *r, pid_t pid, uint64_t start_time, struct pyinfo *info_out)
{
	struct registry_proc *p = calloc(1, sizeof(*p));
	struct registry_proc **grown;
	int err;

	if (!p)
		return -ENOMEM;
	err = pyinfo__inspect(r->proc, pid, &p->info);
	if (info_out)
		*info_out = p->info;
	if (err)
		goto out_free;
	err = pyoffsets__get(&p->info, &p->off);
	if (err)
		goto out_free;
	if (r->nprocs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;

		grown = realloc(r->procs, cap * sizeof(*grown));
		if (!grown) {
			err = -ENOMEM;
			goto out_free;
		}
		r->procs = grown;
		r->cap = cap;
	}
	p->gen = (__u32)r->nprocs + 1;
	p->pid = pid;
	p->start_time = start_time;
	p->alive = true;
	if (procfs__comm(r->proc, pid, 0, p->comm, sizeof(p->comm)))
		snprintf(p->comm, sizeof(p->comm), "%d", (int)pid);
	if (container__id(r->proc, pid, p->container, sizeof(p->container)))
		p->container[0] = '\0';
	service__name(r->proc, pid, p->comm, p->service, sizeof(p->service));
	err = hashmap__set(r->by_pid, &pid, p);
	if (err)
		goto out_free;
	if (r->ops.on_add) {
		err = r->ops.on_add(r->ctx, p);
		if (err) {
			hashmap__remove(r->by_pid, &pid);
			goto out_free;
		}
	}
	r->procs[r->nprocs++] = p;
	r->alive++;
	forget_seen(r, pid);
	return 0;

out_free:
	free(p);
	return err;
}

int registry__add_pid(struct registry *r, pid_t pid, struct pyinfo *info)
{
	uint64_t start_time;
	int err;

	memset(info, 0, sizeof(*info));
	if (hashmap__get(r->by_pid, &pid))
		return 0;
	err = procfs__start_time(r->proc, pid, &start_time);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	return inspect(r, pid, start_time, info);
}

/* Look at one pid during a scan. */
static int scan_pid(pid_t pid, void *arg)
{
	struct registry *r = arg;
	struct registry_proc *p = hashmap__get(r->by_pid, &pid);
	struct seen *s = hashmap__get(r->seen, &pid);
	struct pyinfo info;
	uint64_t start_time;
	int err;

	if (procfs__start_time(r->proc, pid, &start_time))
		return 0; /* gone already */
	if (p) {
		if (p->start_time == start_time)
			return 0;
		drop(r, p); /* PID reused */
	}
	if (r->explicit_only)
		return 0;
	if (s && s->start_time == start_time && boottime_ns() >= s->recheck_until_ns)
		return 0;
	err = inspect(r, pid, start_time, &info);
	if (err == -ENOEXEC || err == -ESRCH) {
		note_seen(r, pid, start_time,
			  s && s->start_time == start_time ? s->recheck_until_ns
							   : young_until(start_time));
	} else if (err) {
		note_seen(r, pid, start_time, 0);
		if (r->ops.on_skip)
			r->ops.on_skip(r->ctx, pid, err, &info);
	}
	return 0;
}

struct check_ctx {
	struct registry *r;
	pid_t dead[256];
	size_t ndead;
};

static int check_alive(const void *key, void *value, void *arg)
{
	struct check_ctx *c = arg;
	struct registry_proc *p = value;
	uint64_t start_time;

	(void)key;
	if (c->ndead < sizeof(c->dead) / sizeof(c->dead[0]) &&
	    (procfs__start_time(c->r->proc, p->pid, &start_time) || start_time != p->start_time))
		c->dead[c->ndead++] = p->pid;
	return 0;
}

int registry__tick(struct registry *r)
{
	struct check_ctx c = {.r = r};

	hashmap__each(r->by_pid, check_alive, &c);
	for (size_t i = 0; i < c.ndead; i++) {
		struct registry_proc *p = hashmap__get(r->by_pid, &c.dead[i]);

		if (p)
			drop(r, p);
	}
	if (r->explicit_only)
		return 0;
	return procfs__pids(r->proc, scan_pid, r);
}

void registry__on_exec(struct registry *r, pid_t pid)
{
	struct registry_proc *p = hashmap__get(r->by_pid, &pid);
	uint64_t start_time;

	if (p)
		drop(r, p); /* the image it described is gone */
	forget_seen(r, pid);
	if (r->explicit_only && !p)
		return;
	if (procfs__start_time(r->proc, pid, &start_time))
		return;
	/* A static build is found now; a shared-libpython build has not mapped
	 * libpython yet: look again soon, then on the next ticks. */
	if (inspect(r, pid, start_time, NULL) == 0)
		return;
	note_seen(r, pid, start_time, boottime_ns() + YOUNG_NS);
	if (r->npending < PENDING_MAX)
		r->pending[r->npending++] = (struct pending){
			.pid = pid, .start_time = start_time, .exec_ns = boottime_ns()};
}

static uint64_t pending_due(const struct pending *p)
{
	return p->exec_ns + retry_ms[p->attempt] * 1000000ull;
}

int registry__retry_pending(struct registry *r)
{
	uint64_t now = boottime_ns(), next = UINT64_MAX, start_time;
	size_t i = 0;

	while (i < r->npending) {
		struct pending *p = &r->pending[i];
		bool done;

		if (pending_due(p) > now) {
			i++;
			continue;
		}
		done = hashmap__get(r->by_pid, &p->pid) ||
		       procfs__start_time(r->proc, p->pid, &start_time) ||
		       start_time != p->start_time ||
		       inspect(r, p->pid, start_time, NULL) == 0 ||
		       ++p->attempt == sizeof(retry_ms) / sizeof(retry_ms[0]);
		if (done)
			*p = r->pending[--r->npending];
		else
			i++;
	}
	for (i = 0; i < r->npending; i++)
		if (pending_due(&r->pending[i]) < next)
			next = pending_due(&r->pending[i]);
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

void registry__on_exit(struct registry *r, pid_t pid)
{
	struct registry_proc *p = hashmap__get(r->by_pid, &pid);

	if (p)
		drop(r, p);
	forget_seen(r, pid);
}

const struct registry_proc *registry__by_gen(const struct registry *r, __u32 gen)
{
	if (!gen || gen > r->nprocs)
		return NULL;
	return r->procs[gen - 1];
}

const char *registry__thread_name(struct registry *r, __u32 gen, pid_t tid)
{
	struct thread_key key = {.gen = gen, .tid = tid};
	const struct registry_proc *p = registry__by_gen(r, gen);
	char buf[64], *name = hashmap__get(r->threads, &key);

	if (name || !p || !p->alive)
		return name;
	if (procfs__comm(r->proc, p->pid, tid, buf, sizeof(buf)))
		return NULL;
	name = strdup(buf);
	if (name && hashmap__set(r->threads, &key, name)) {
		free(name);
		name = NULL;
	}
	return name;
}

size_t registry__total(const struct registry *r)
{
	return r->nprocs;
}

size_t registry__alive(const struct registry *r)
{
	return r->alive;
}
