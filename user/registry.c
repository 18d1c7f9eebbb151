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
 * its libpython (shared builds map it after exec, an embedding program may
 * dlopen it seconds later): look again on the scans until then. Past the
 * first look these are digests of the files mapped as code (~10 us). */
#define YOUNG_NS 10000000000ull

/* A look that fails may have caught the process mid-change: its libpython
 * half mapped by dlopen, its runtime or a thread being set up. Such a
 * process is looked at again on the next scans (each look at least this
 * long after the last one stays possible), up to LOOKS_MAX failed looks;
 * only then is it reported, once, and left alone. */
#define LOOK_AGAIN_NS 2500000000ull
#define LOOKS_MAX 3

/* What we concluded about a process that is not registered. */
struct seen {
	uint64_t start_time;
	uint64_t epoch;		   /* last scan that saw the pid */
	uint64_t recheck_until_ns; /* CLOCK_BOOTTIME; 0 = never look again */
	uint64_t code_digest;	   /* its code mappings when last found not Python */
	bool code_known;	   /* code_digest is set */
	unsigned int failed;	   /* looks that failed (not "not Python") */
};

/* A process that exec'd and was not (yet) Python: shared-libpython builds
 * map libpython a few milliseconds after exec. Looked at again soon, so
 * even processes that live a few hundred milliseconds are profiled. */
struct pending {
	pid_t pid;
	unsigned int attempt;
	uint64_t start_time;
	uint64_t exec_ns; /* CLOCK_BOOTTIME */
	int maps_fd;	  /* its /proc/PID/maps, opened at exec; -1 if not */
};

#define PENDING_MAX 256
static const uint64_t retry_ms[] = {2, 10, 30, 80, 200, 500};

struct thread_key {
	__u32 gen;
	__s32 tid;
};

struct registry {
	const char *proc;
	struct registry_ops ops;
	void *ctx;
	bool explicit_only;
	bool tree;		   /* follow descendants of the roots */
	struct hashmap *tree_pids; /* pid -> start time: roots and their known descendants */
	struct hashmap *by_gen;	 /* gen -> registry_proc (alive, and exited until pruned) */
	__u32 last_gen;		 /* gens are never reused within a run */
	size_t total;		 /* registrations since the start */
	size_t alive;
	struct hashmap *by_pid;	 /* pid -> registry_proc (alive only) */
	struct hashmap *seen;	 /* pid -> struct seen (not registered) */
	struct hashmap *threads; /* thread_key -> char * */
	struct pyinfo_cache *elf_verdicts; /* files known not to hold a runtime */
	struct pending pending[PENDING_MAX];
	size_t npending;
	bool no_digest; /* procfs__code_files_digest unsupported here */
	uint64_t epoch; /* scans done */
};

/* Keys collected during hashmap__each, removed afterwards. */
struct key_list {
	unsigned char *keys;
	size_t size, n, cap;
};

static int key_list__push(struct key_list *l, const void *key)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		unsigned char *k = realloc(l->keys, cap * l->size);

		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->cap = cap;
	}
	memcpy(l->keys + l->n++ * l->size, key, l->size);
	return 0;
}

static const void *key_list__at(const struct key_list *l, size_t i)
{
	return l->keys + i * l->size;
}

void registry_proc__bpf(const struct registry_proc *p, bool native, struct pybpf_proc *out)
{
	*out = (struct pybpf_proc){
	    .gen = p->gen,
	    .runtime_addr = p->info.runtime_addr,
	    /* Every frame's code must be a code object: a chain read mid-change stops there. */
	    .code_type_addr = p->info.code_type_addr,
	    /* Lets the walker keep code identities between samples (3.12). */
	    .code_count_addr = p->info.code_count_addr,
	    .off = p->off,
	};
	if (!native)
		out->off.frame_is_entry = 0;
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
	r->by_gen = hashmap__new(sizeof(__u32));
	r->seen = hashmap__new(sizeof(pid_t));
	r->threads = hashmap__new(sizeof(struct thread_key));
	r->tree_pids = hashmap__new(sizeof(pid_t));
	r->elf_verdicts = pyinfo_cache__new();
	if (!r->by_pid || !r->by_gen || !r->seen || !r->threads || !r->tree_pids ||
	    !r->elf_verdicts) {
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
	hashmap__free_all(r->by_gen);
	hashmap__free(r->by_pid); /* the same values as by_gen */
	hashmap__free_all(r->seen);
	hashmap__free_all(r->threads);
	hashmap__free_all(r->tree_pids);
	pyinfo_cache__free(r->elf_verdicts);
	for (size_t i = 0; i < r->npending; i++)
		if (r->pending[i].maps_fd >= 0)
			close(r->pending[i].maps_fd);
	free(r);
}

void registry__set_explicit(struct registry *r, bool explicit_only)
{
	r->explicit_only = explicit_only;
}

void registry__set_tree(struct registry *r, bool tree)
{
	r->tree = tree;
}

/* Remember pid (started at start_time) as part of a followed tree. */
static int tree_add(struct registry *r, pid_t pid, uint64_t start_time)
{
	uint64_t *v = hashmap__get(r->tree_pids, &pid);
	int err;

	if (v) {
		*v = start_time;
		return 0;
	}
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	*v = start_time;
	err = hashmap__set(r->tree_pids, &pid, v);
	if (err)
		free(v);
	return err;
}

int registry__add_root(struct registry *r, pid_t pid)
{
	uint64_t start_time;
	int err = procfs__start_time(r->proc, pid, &start_time);

	if (err)
		return err == -ENOENT ? -ESRCH : err;
	return tree_add(r, pid, start_time);
}

/* Is pid a descendant of a root (or one)? Walks up the parents until a
 * known member, and remembers the way up as members. */
#define TREE_MAX_DEPTH 64
static bool in_tree(struct registry *r, pid_t pid)
{
	pid_t chain[TREE_MAX_DEPTH];
	uint64_t starts[TREE_MAX_DEPTH];
	size_t n = 0;
	pid_t cur = pid;

	while (cur > 0 && n < TREE_MAX_DEPTH) {
		uint64_t *known = hashmap__get(r->tree_pids, &cur);
		uint64_t start_time;

		if (procfs__start_time(r->proc, cur, &start_time))
			return false;
		if (known && *known == start_time) {
			for (size_t i = 0; i < n; i++)
				tree_add(r, chain[i], starts[i]);
			return true;
		}
		chain[n] = cur;
		starts[n++] = start_time;
		if (procfs__ppid(r->proc, cur, &cur))
			return false;
	}
	return false;
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
	if (s->start_time != start_time) {
		s->code_known = false;
		s->failed = 0;
	}
	s->start_time = start_time;
	s->recheck_until_ns = recheck_until_ns;
	s->epoch = r->epoch;
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
	int err;

	if (!p)
		return -ENOMEM;
	err = pyinfo__inspect_cached(r->proc, pid, r->elf_verdicts, &p->info);
	if (info_out)
		*info_out = p->info;
	if (err)
		goto out_free;
	err = pyoffsets__get(&p->info, &p->off);
	if (err)
		goto out_free;
	err = pyoffsets__check_live(&p->info, pid);
	if (err)
		goto out_free;
	p->gen = r->last_gen + 1;
	p->pid = pid;
	if (procfs__ppid(r->proc, pid, &p->ppid))
		p->ppid = 0;
	p->start_time = start_time;
	p->alive = true;
	if (procfs__comm(r->proc, pid, 0, p->comm, sizeof(p->comm)))
		snprintf(p->comm, sizeof(p->comm), "%d", (int)pid);
	if (container__id(r->proc, pid, p->container, sizeof(p->container)))
		p->container[0] = '\0';
	service__name(r->proc, pid, p->comm, p->service, sizeof(p->service));
	err = hashmap__set(r->by_gen, &p->gen, p);
	if (err)
		goto out_free;
	err = hashmap__set(r->by_pid, &pid, p);
	if (err)
		goto out_unindex_gen;
	if (r->ops.on_add) {
		err = r->ops.on_add(r->ctx, p);
		if (err)
			goto out_unindex_pid;
	}
	r->last_gen = p->gen;
	r->total++;
	r->alive++;
	forget_seen(r, pid);
	return 0;

out_unindex_pid:
	hashmap__remove(r->by_pid, &pid);
out_unindex_gen:
	hashmap__remove(r->by_gen, &p->gen);
out_free:
	free(p);
	return err;
}

/*
 * inspect() a process that is not registered, unless it still maps the same
 * code as when it was last found not to be Python: a runtime lives in a file
 * mapped as code (the executable or a libpython), so that verdict stands.
 * A look costs a read of its maps and an open per mapped file (~0.1 ms for
 * node.js), the digest of its code files a tenth of that; retries after an
 * exec and the scans of young processes mostly find nothing new mapped.
 * maps_fd: the process's maps (procfs__open_maps), -1 to open it here.
 * Kernels without the digest (before 6.11) always look. -ESRCH when the
 * process behind maps_fd is gone.
 */
static int inspect_unless_same(struct registry *r, pid_t pid, uint64_t start_time, int maps_fd,
			       struct pyinfo *info_out)
{
	struct seen *s = hashmap__get(r->seen, &pid);
	int fd = maps_fd, err = -EOPNOTSUPP;
	uint64_t digest = 0, now_start;

	if (!r->no_digest) {
		if (fd < 0)
			fd = procfs__open_maps(r->proc, pid);
		err = fd >= 0 ? procfs__code_files_digest(fd, &digest) : fd;
		if (fd >= 0 && maps_fd < 0)
			close(fd);
		if (err == -EOPNOTSUPP)
			r->no_digest = true;
	}
	if (err == -ESRCH)
		return err;
	if (!err && s && s->start_time == start_time && s->code_known && s->code_digest == digest) {
		if (info_out)
			memset(info_out, 0, sizeof(*info_out));
		return -ENOEXEC;
	}
	/* Only a digest read through maps_fd tells that pid is still the
	 * process of start_time. */
	if (err && maps_fd >= 0 &&
	    (procfs__start_time(r->proc, pid, &now_start) || now_start != start_time))
		return -ESRCH;
	if (err) {
		/* No digest: look, and remember nothing. */
		return inspect(r, pid, start_time, info_out);
	}
	err = inspect(r, pid, start_time, info_out);
	if (err == -ENOEXEC) {
		/* The digest was taken before the look: a library mapped in
		 * between changes the next digest, so it is looked at then. */
		note_seen(r, pid, start_time,
			  s && s->start_time == start_time ? s->recheck_until_ns
							   : young_until(start_time));
		s = hashmap__get(r->seen, &pid);
		if (s) {
			s->code_digest = digest;
			s->code_known = true;
		}
	}
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
	err = inspect(r, pid, start_time, info);
	if (!err && r->tree)
		err = tree_add(r, pid, start_time);
	return err == -EAGAIN || err == -EINPROGRESS ? -EPROTO : err;
}

/* Look at one pid during a scan. */
static int scan_pid(pid_t pid, void *arg)
{
	struct registry *r = arg;
	struct registry_proc *p = hashmap__get(r->by_pid, &pid);
	struct seen *s = hashmap__get(r->seen, &pid);
	uint64_t start_time, recheck, now;
	struct pyinfo info = {0};
	unsigned int failed;
	int err;

	if (procfs__start_time(r->proc, pid, &start_time))
		return 0; /* gone already */
	if (s)
		s->epoch = r->epoch;
	if (p) {
		if (p->start_time == start_time)
			return 0;
		drop(r, p); /* PID reused */
	}
	if (r->explicit_only && !(r->tree && in_tree(r, pid)))
		return 0;
	if (s && s->start_time == start_time && boottime_ns() >= s->recheck_until_ns)
		return 0;
	recheck = s && s->start_time == start_time ? s->recheck_until_ns : young_until(start_time);
	failed = s && s->start_time == start_time ? s->failed : 0;
	err = inspect_unless_same(r, pid, start_time, -1, &info);
	if (!err || err == -ENOEXEC || err == -ESRCH) {
		if (err)
			note_seen(r, pid, start_time, recheck);
		return 0;
	}
	/* What the files say (a version without a layout, a debug-offsets block
	 * that does not fit) holds however often it is read: reported now. */
	if (err != -ENOTSUP && err != -EPROTO && ++failed < LOOKS_MAX) {
		/* -EAGAIN: a runtime too new to trust before it is initialised;
		 * the rest: maybe a look mid-change. Look again. */
		now = boottime_ns();
		note_seen(r, pid, start_time,
			  recheck > now + LOOK_AGAIN_NS ? recheck : now + LOOK_AGAIN_NS);
	} else {
		/* A runtime still not initialised stays unreported, as long as
		 * it is young (it may yet start). */
		note_seen(r, pid, start_time, err == -EAGAIN ? recheck : 0);
		if (err != -EAGAIN && r->ops.on_skip)
			r->ops.on_skip(r->ctx, pid, err == -EINPROGRESS ? -EPROTO : err, &info);
	}
	s = hashmap__get(r->seen, &pid);
	if (s)
		s->failed = failed;
	return 0;
}

struct check_ctx {
	const struct registry *r;
	struct key_list dead; /* pids */
};

static int check_alive(const void *key, void *value, void *arg)
{
	struct check_ctx *c = arg;
	const struct registry_proc *p = value;
	uint64_t start_time;

	if (procfs__start_time(c->r->proc, p->pid, &start_time) || start_time != p->start_time)
		return key_list__push(&c->dead, key);
	return 0;
}

struct stale_seen {
	uint64_t epoch;
	struct key_list list;
};

static int collect_stale_seen(const void *key, void *value, void *arg)
{
	struct stale_seen *c = arg;
	const struct seen *s = value;

	return s->epoch == c->epoch ? 0 : key_list__push(&c->list, key);
}

/* Drop verdicts about pids the last scan did not find (they exited). */
static int forget_unseen(struct registry *r)
{
	struct stale_seen c = {.epoch = r->epoch, .list = {.size = sizeof(pid_t)}};
	int err = hashmap__each(r->seen, collect_stale_seen, &c);

	for (size_t i = 0; i < c.list.n; i++)
		free(hashmap__remove(r->seen, key_list__at(&c.list, i)));
	free(c.list.keys);
	return err;
}

static int collect_gone_tree(const void *key, void *value, void *arg)
{
	struct check_ctx *c = arg;
	const pid_t *pid = key;
	const uint64_t *start = value;
	uint64_t start_time;

	if (procfs__start_time(c->r->proc, *pid, &start_time) || start_time != *start)
		return key_list__push(&c->dead, key);
	return 0;
}

/* Forget tree members that exited (their pid may be reused by a stranger). */
static int prune_tree(struct registry *r)
{
	struct check_ctx c = {.r = r, .dead = {.size = sizeof(pid_t)}};
	int err = hashmap__each(r->tree_pids, collect_gone_tree, &c);

	for (size_t i = 0; i < c.dead.n; i++)
		free(hashmap__remove(r->tree_pids, key_list__at(&c.dead, i)));
	free(c.dead.keys);
	return err;
}

int registry__tick(struct registry *r)
{
	struct check_ctx c = {.r = r, .dead = {.size = sizeof(pid_t)}};
	int err = hashmap__each(r->by_pid, check_alive, &c);

	for (size_t i = 0; i < c.dead.n; i++) {
		struct registry_proc *p = hashmap__get(r->by_pid, key_list__at(&c.dead, i));

		if (p)
			drop(r, p);
	}
	free(c.dead.keys);
	if (!err && r->tree)
		err = prune_tree(r);
	if (err || (r->explicit_only && !r->tree))
		return err;
	r->epoch++;
	err = procfs__pids(r->proc, scan_pid, r);
	if (!err)
		err = forget_unseen(r);
	return err;
}

void registry__on_exec(struct registry *r, pid_t pid)
{
	struct registry_proc *p = hashmap__get(r->by_pid, &pid);
	uint64_t start_time;
	int maps_fd = -1, err;

	if (p)
		drop(r, p); /* the image it described is gone */
	forget_seen(r, pid);
	if (r->explicit_only && !p && !(r->tree && in_tree(r, pid)))
		return;
	/* Opened before start_time is read: if the PID is reused in between,
	 * the fd is the old process's, and its first query says it is gone. */
	if (!r->no_digest)
		maps_fd = procfs__open_maps(r->proc, pid);
	if (procfs__start_time(r->proc, pid, &start_time))
		goto out_close_maps;
	/* A static build is found now; a shared-libpython build has not mapped
	 * libpython yet: look again soon, then on the next ticks. */
	err = inspect_unless_same(r, pid, start_time, maps_fd, NULL);
	if (err == 0 || err == -ESRCH)
		goto out_close_maps;
	note_seen(r, pid, start_time, boottime_ns() + YOUNG_NS);
	if (r->npending < PENDING_MAX) {
		r->pending[r->npending++] = (struct pending){
		    .pid = pid,
		    .start_time = start_time,
		    .exec_ns = boottime_ns(),
		    .maps_fd = r->no_digest ? -1 : maps_fd,
		};
		if (!r->no_digest)
			maps_fd = -1; /* the pending entry owns it */
	}
out_close_maps:
	if (maps_fd >= 0)
		close(maps_fd);
}

static uint64_t pending_due(const struct pending *p)
{
	return p->exec_ns + retry_ms[p->attempt] * 1000000ull;
}

/* Look at a pending process again: true once it is registered or gone. */
static bool pending_look(struct registry *r, const struct pending *p)
{
	uint64_t start_time;
	int err;

	/* Through its maps fd, the digest also tells the process is still
	 * there (inspect_unless_same reads the start time when it cannot). */
	if (p->maps_fd < 0 &&
	    (procfs__start_time(r->proc, p->pid, &start_time) || start_time != p->start_time))
		return true;
	err = inspect_unless_same(r, p->pid, p->start_time, p->maps_fd, NULL);
	return err == 0 || err == -ESRCH;
}

int registry__retry_pending(struct registry *r)
{
	uint64_t now = boottime_ns(), next = UINT64_MAX;
	size_t i = 0;

	while (i < r->npending) {
		struct pending *p = &r->pending[i];
		bool done;

		if (pending_due(p) > now) {
			i++;
			continue;
		}
		done = hashmap__get(r->by_pid, &p->pid) || pending_look(r, p) ||
		       ++p->attempt == sizeof(retry_ms) / sizeof(retry_ms[0]);
		if (done) {
			if (p->maps_fd >= 0)
				close(p->maps_fd);
			*p = r->pending[--r->npending];
		} else {
			i++;
		}
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
	return hashmap__get(r->by_gen, &gen);
}

static int collect_dead_proc(const void *key, void *value, void *arg)
{
	const struct registry_proc *p = value;

	return p->alive ? 0 : key_list__push(arg, key);
}

struct thread_prune {
	const struct registry *r;
	struct key_list list;
};

static int collect_dead_thread(const void *key, void *value, void *arg)
{
	struct thread_prune *t = arg;
	const struct thread_key *k = key;

	(void)value;
	return registry__by_gen(t->r, k->gen) ? 0 : key_list__push(&t->list, key);
}

int registry__prune(struct registry *r, void (*forget)(void *ctx, __u32 gen), void *ctx)
{
	struct key_list dead = {.size = sizeof(__u32)};
	struct thread_prune threads = {.r = r, .list = {.size = sizeof(struct thread_key)}};
	int err = hashmap__each(r->by_gen, collect_dead_proc, &dead);

	for (size_t i = 0; i < dead.n; i++) {
		__u32 gen;

		memcpy(&gen, key_list__at(&dead, i), sizeof(gen));
		free(hashmap__remove(r->by_gen, &gen));
		if (forget)
			forget(ctx, gen);
	}
	if (!err)
		err = hashmap__each(r->threads, collect_dead_thread, &threads);
	for (size_t i = 0; i < threads.list.n; i++)
		free(hashmap__remove(r->threads, key_list__at(&threads.list, i)));
	free(dead.keys);
	free(threads.list.keys);
	return err;
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
	return r->total;
}

size_t registry__alive(const struct registry *r)
{
	return r->alive;
}
