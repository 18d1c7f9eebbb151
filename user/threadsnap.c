// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Python stacks of a live process's threads, read from userspace with the
 * BPF program's frame walker (bpf/pywalk.h) over process_vm_readv.
 *
 * Thread state -> OS thread. The kernel names threads by TID; CPython's
 * thread states carry:
 *   3.11+  native_thread_id: the TID in the process's own PID namespace.
 *          It follows thread_id (`unsigned long thread_id, native_thread_id`)
 *          in every version from 3.11 to 3.15.
 *   older  only thread_id = pthread_self(), the address of the C library's
 *          thread descriptor, which holds the TID at an offset that depends
 *          on the C library build. It is calibrated per process: the offset
 *          (< 2048, 4-aligned) at which every thread state's descriptor
 *          holds a distinct TID of the process, one of them the main
 *          thread's (whose TID is the PID). Found with two or more thread
 *          states it is kept; with one it is used but looked for again on
 *          the next call.
 *
 * Consistency. The target runs while it is read: a walk that faulted or
 * met a frame being torn down (STACK_F_READ_ERROR), or whose thread's
 * innermost frame was a different one after the walk than before, is
 * repeated (THREADSNAP_ATTEMPTS times, yielding the CPU in between).
 */
#include "threadsnap.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memread.h"
#include "monoclock.h"
#include "procfs.h"
#include "pyinfo.h"
#include "pyoffsets.h"
#include "taskinfo.h"

/* The walker reads through this; `w` is the struct pywalk in scope at
 * every read site, embedded in struct snapwalk. */
static int threadsnap__read(const void *w, void *dst, size_t size, __u64 addr);
#define PYWALK_INLINE inline
#define PYWALK_READ(dst, size, addr) threadsnap__read(w, (dst), (size), (addr))
#include "pywalk.h"

#define THREADSNAP_ATTEMPTS 8
#define THREADSNAP_PTHREAD_SPAN 2048
#define THREADSNAP_CALIBRATE_MAX 8
/* Thread states visited per process (the BPF side's bounds). */
#define THREADSNAP_MAX_TSTATES (PYBPF_MAX_INTERPS * PYBPF_MAX_THREADS)
/* Walker steps per stack: frames kept plus skipped shim frames. */
#define THREADSNAP_MAX_STEPS (2 * PYBPF_MAX_FRAMES + 16)

struct snapwalk {
	struct pywalk w; /* first: threadsnap__read converts back */
	pid_t pid;
};

struct threadsnap {
	char proc[256];
	pid_t pid;
	struct pyinfo info;
	struct snapwalk sw;
	bool native_ids;      /* 3.11+: tstate has native_thread_id */
	int pthread_tid_off;  /* < 3.11: TID offset in struct pthread, -1 unknown */
	bool pthread_checked; /* that offset was confirmed by two or more threads */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: the current snapshot's budget */
	bool gone;	      /* the process exited while being read */
	bool only_asleep;     /* threadsnap__only_asleep: running threads not walked */
};

/* A thread state as found in the lists. */
struct tstate_ref {
	uint64_t addr;
	uint64_t thread_id;
	pid_t ns_tid; /* 0 unknown */
};

/* An OS thread. */
struct task_ref {
	pid_t tid, ns_tid;
};

static int threadsnap__read(const void *w, void *dst, size_t size, __u64 addr)
{
	const struct snapwalk *sw = (const struct snapwalk *)w;

	return memread(sw->pid, addr, dst, size);
}

struct threadsnap *threadsnap__new(const char *proc, pid_t pid, struct pyinfo *info)
{
	struct threadsnap *ts;
	int err;

	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	if (strlen(proc) >= sizeof(ts->proc)) {
		err = ENAMETOOLONG;
		goto out_free_ts;
	}
	strcpy(ts->proc, proc);
	ts->pid = pid;
	ts->pthread_tid_off = -1;
	err = -pyinfo__inspect(proc, pid, &ts->info);
	if (info)
		*info = ts->info;
	if (err)
		goto out_free_ts;
	if (!pyoffsets__supported(ts->info.major, ts->info.minor, ts->info.free_threaded) ||
	    pyoffsets__get(&ts->info, &ts->sw.w.proc.off)) {
		err = ENOTSUP;
		goto out_free_ts;
	}
	ts->sw.pid = pid;
	ts->sw.w.proc.gen = 1;
	ts->sw.w.proc.runtime_addr = ts->info.runtime_addr;
	ts->sw.w.proc.code_type_addr = ts->info.code_type_addr;
	ts->native_ids = ts->info.major > 3 || (ts->info.major == 3 && ts->info.minor >= 11);
	return ts;
out_free_ts:
	free(ts);
	errno = err;
	return NULL;
}

void threadsnap__free(struct threadsnap *ts)
{
	free(ts);
}

pid_t threadsnap__pid(const struct threadsnap *ts)
{
	return ts->pid;
}

const struct pyinfo *threadsnap__info(const struct threadsnap *ts)
{
	return &ts->info;
}

const struct pybpf_proc *threadsnap__proc(const struct threadsnap *ts)
{
	return &ts->sw.w.proc;
}

const char *threadsnap__status_name(enum threadsnap_status s)
{
	switch (s) {
	case THREADSNAP_OK:
		return "ok";
	case THREADSNAP_TORN:
		return "torn";
	case THREADSNAP_NO_PYTHON:
		return "no-python";
	case THREADSNAP_NO_THREAD:
		return "no-thread";
	case THREADSNAP_UNREADABLE:
		return "unreadable";
	case THREADSNAP_SKIPPED:
		return "skipped";
	case THREADSNAP_ON_CPU:
		return "on-cpu";
	}
	return "?";
}

/* ---- OS threads --------------------------------------------------------- */

struct task_list {
	const char *proc;
	pid_t pid;
	struct task_ref *v;
	size_t n, cap;
};

static int threadsnap__add_task(pid_t tid, void *arg)
{
	struct task_list *l = arg;
	struct taskinfo ti;
	int err;

	err = taskinfo__read(l->proc, l->pid, tid, &ti);
	if (err == -ESRCH)
		return 0; /* exited meanwhile */
	if (err)
		return err;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct task_ref *v = reallocarray(l->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].tid = tid;
	l->v[l->n].ns_tid = ti.ns_tid;
	l->n++;
	return 0;
}

static int threadsnap__cmp_task(const void *a, const void *b)
{
	const struct task_ref *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

static int threadsnap__tasks(struct threadsnap *ts, struct task_list *l)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->proc = ts->proc;
	l->pid = ts->pid;
	err = procfs__tids(ts->proc, ts->pid, threadsnap__add_task, l);
	if (!err && !l->n)
		err = -ESRCH;
	if (err) {
		free(l->v);
		l->v = NULL;
		return err;
	}
	qsort(l->v, l->n, sizeof(*l->v), threadsnap__cmp_task);
	return 0;
}

static bool threadsnap__has_ns_tid(const struct task_list *l, pid_t ns_tid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].ns_tid == ns_tid)
			return true;
	return false;
}

static pid_t threadsnap__main_ns_tid(const struct task_list *l, pid_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].tid == pid)
			return l->v[i].ns_tid;
	return 0;
}

/* ---- thread states ------------------------------------------------------ */

/* Every thread state of every interpreter, with its thread_id. */
/*
 * A linked list read from a live (or hostile) process may loop. Brent's
 * cycle finding over the addresses visited: one saved address, replaced at
 * each power of two steps, meets itself again within two laps of a loop.
 */
struct loop_check {
	uint64_t mark;
	size_t since_mark, power;
	bool looped;
};

static bool threadsnap__seen_again(struct loop_check *c, uint64_t addr)
{
	if (c->mark && addr == c->mark) {
		c->looped = true;
		return true;
	}
	if (++c->since_mark >= c->power) {
		c->mark = addr;
		c->since_mark = 0;
		c->power *= 2;
	}
	return false;
}

/* Keep the first of each address (after a loop: at most two laps of it). */
static size_t threadsnap__unique(struct tstate_ref *v, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < kept && v[j].addr != v[i].addr; j++)
			;
		if (j == kept)
			v[kept++] = v[i];
	}
	return kept;
}

static int threadsnap__tstates(struct threadsnap *ts, struct tstate_ref **out, size_t *n)
{
	struct pywalk *w = &ts->sw.w;
	const struct pybpf_offsets *o = &w->proc.off;
	struct tstate_ref *v = NULL;
	struct loop_check loop = {.power = 1};
	size_t cnt = 0, cap = 0;
	int err = 0;

	w->err = 0;
	w->want_thread_id = UINT64_MAX; /* matches none: visit all */
	if (pywalk__threads_begin(w)) {
		err = -EFAULT;
		goto out;
	}
	for (size_t steps = 0; steps < THREADSNAP_MAX_TSTATES + PYBPF_MAX_INTERPS; steps++) {
		uint64_t t = w->tstate;
		uint64_t ids[2] = {0, 0};

		if (t && threadsnap__seen_again(&loop, t))
			break; /* the list came back on itself: read mid-update, or forged */
		if (t) {
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct tstate_ref *nv = reallocarray(v, ncap, sizeof(*nv));

				if (!nv) {
					err = -ENOMEM;
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			if (memread(ts->pid, t + o->tstate_thread_id, ids,
				    ts->native_ids ? 16 : 8) == 0) {
				v[cnt].addr = t;
				v[cnt].thread_id = ids[0];
				v[cnt].ns_tid = ts->native_ids && ids[1] && ids[1] <= INT_MAX
						    ? (pid_t)ids[1]
						    : 0;
				cnt++;
			}
		}
		if (pywalk__threads_step(w) == PYWALK_DONE)
			break;
	}
	if (!cnt && w->err) {
		err = procfs__exists(ts->proc, ts->pid) == 1 ? -EFAULT : -ESRCH;
		goto out;
	}
	if (loop.looped)
		cnt = threadsnap__unique(v, cnt);
	*out = v;
	*n = cnt;
	v = NULL;
out:
	free(v);
	return err;
}

/*
 * Before 3.11: find where the C library's thread descriptor keeps the TID
 * (see the top of this file). Leaves pthread_tid_off -1 if nothing fits.
 */
static void threadsnap__calibrate(struct threadsnap *ts, const struct tstate_ref *t, size_t nt,
				  const struct task_list *tasks)
{
	uint8_t(*bufs)[THREADSNAP_PTHREAD_SPAN] = calloc(THREADSNAP_CALIBRATE_MAX, sizeof(*bufs));
	pid_t main_ns = threadsnap__main_ns_tid(tasks, ts->pid);
	size_t nb = 0;

	ts->pthread_tid_off = -1;
	if (!bufs)
		return;
	for (size_t i = 0; i < nt && nb < THREADSNAP_CALIBRATE_MAX; i++)
		if (t[i].thread_id &&
		    !memread(ts->pid, t[i].thread_id, bufs[nb], THREADSNAP_PTHREAD_SPAN))
			nb++;
	for (size_t off = 0; nb && off + 4 <= THREADSNAP_PTHREAD_SPAN; off += 4) {
		bool fits = true, has_main = false;
		int32_t vals[THREADSNAP_CALIBRATE_MAX];

		for (size_t b = 0; b < nb && fits; b++) {
			memcpy(&vals[b], bufs[b] + off, sizeof(vals[b]));
			fits = vals[b] > 0 && threadsnap__has_ns_tid(tasks, vals[b]);
			for (size_t c = 0; c < b && fits; c++)
				fits = vals[c] != vals[b];
			has_main |= vals[b] == main_ns;
		}
		if (fits && (has_main || nb >= 2)) {
			ts->pthread_tid_off = (int)off;
			ts->pthread_checked = nb >= 2;
			break;
		}
	}
	free(bufs);
}

/* Fill ns_tid of thread states that lack it (before 3.11). */
static void threadsnap__resolve_ids(struct threadsnap *ts, struct tstate_ref *t, size_t nt,
				    const struct task_list *tasks)
{
	if (ts->native_ids)
		return;
	if (!ts->pthread_checked)
		threadsnap__calibrate(ts, t, nt, tasks);
	if (ts->pthread_tid_off < 0)
		return;
	for (size_t i = 0; i < nt; i++) {
		int32_t v = 0;

		if (t[i].thread_id &&
		    !memread(ts->pid, t[i].thread_id + (uint64_t)ts->pthread_tid_off, &v,
			     sizeof(v)) &&
		    v > 0)
			t[i].ns_tid = v;
	}
}

/* ---- stacks ------------------------------------------------------------- */

static void threadsnap__start_budget(struct threadsnap *ts)
{
	ts->deadline_ns = monoclock__ns() + THREADSNAP_BUDGET_MS * 1000000ULL;
	ts->gone = false;
}

/* Whether another walk of a torn or unreadable stack is worth it. */
static bool threadsnap__retry(struct threadsnap *ts, unsigned int attempts)
{
	if (attempts >= THREADSNAP_ATTEMPTS || monoclock__ns() >= ts->deadline_ns)
		return false;
	if (procfs__exists(ts->proc, ts->pid) != 1) {
		ts->gone = true;
		return false;
	}
	return true;
}

/* A thread with no OS thread cannot be mid-change: it is walked once. */
static void threadsnap__walk(struct threadsnap *ts, struct threadsnap_thread *th, bool once)
{
	struct pywalk *w = &ts->sw.w;

	th->stack.depth = 0;
	th->stack.flags = 0;
	th->status = THREADSNAP_UNREADABLE;
	for (th->attempts = 1;; th->attempts++) {
		struct timespec pause = {.tv_nsec = 20000L * th->attempts};
		uint64_t top;
		bool complete = false;

		if (th->attempts > 1) {
			if (once || !threadsnap__retry(ts, th->attempts - 1))
				break;
			sched_yield();
			nanosleep(&pause, NULL);
		}
		w->err = 0;
		w->tstate = th->tstate;
		if (pywalk__begin(w))
			continue; /* thread state unreadable (exiting?) */
		top = w->frame;
		for (int steps = 0; steps < THREADSNAP_MAX_STEPS; steps++) {
			uint64_t frame = w->frame;
			__u32 depth = w->stack.depth;

			if (pywalk__step(w) == PYWALK_DONE) {
				complete = true;
			}
			if (w->stack.depth > depth)
				th->frame_addr[depth] = frame;
			if (complete)
				break;
		}
		th->stack.depth = w->stack.depth;
		th->stack.flags = w->stack.flags;
		memcpy(th->stack.frames, w->stack.frames,
		       (size_t)w->stack.depth * sizeof(th->stack.frames[0]));
		th->status = THREADSNAP_TORN;
		if (!complete || (th->stack.flags & STACK_F_READ_ERROR))
			continue;
		/* Innermost frame still the same: the stack did not move under us. */
		if (pywalk__begin(w) || w->frame != top)
			continue;
		th->status = THREADSNAP_OK;
		return;
	}
	th->attempts--; /* the loop left on the walk it did not make */
}

/* Running or runnable now (a thread that cannot be read counts as running). */
static bool threadsnap__on_cpu(const struct threadsnap *ts, pid_t tid)
{
	struct taskinfo ti;

	return taskinfo__read(ts->proc, ts->pid, tid, &ti) || taskinfo__on_cpu(&ti);
}

void threadsnap__only_asleep(struct threadsnap *ts)
{
	ts->only_asleep = true;
}

static void threadsnap__fill(struct threadsnap *ts, struct threadsnap_thread *th, pid_t tid,
			     pid_t ns_tid, const struct tstate_ref *t)
{
	th->tid = tid;
	th->ns_tid = ns_tid;
	th->stack.depth = 0;
	th->stack.flags = 0;
	th->attempts = 0;
	if (!t) {
		th->tstate = 0;
		th->thread_id = 0;
		th->status = THREADSNAP_NO_PYTHON;
		th->stack.flags = STACK_F_NO_TSTATE;
		return;
	}
	th->tstate = t->addr;
	th->thread_id = t->thread_id;
	if (ts->gone || monoclock__ns() >= ts->deadline_ns) {
		th->status = THREADSNAP_SKIPPED;
		return;
	}
	if (ts->only_asleep && tid && threadsnap__on_cpu(ts, tid)) {
		th->status = THREADSNAP_ON_CPU;
		return;
	}
	threadsnap__walk(ts, th, !tid);
	if (!tid && th->status == THREADSNAP_OK)
		th->status = THREADSNAP_NO_THREAD;
}

static const struct tstate_ref *threadsnap__find(const struct tstate_ref *t, size_t nt,
						 pid_t ns_tid)
{
	for (size_t i = 0; i < nt; i++)
		if (t[i].ns_tid && t[i].ns_tid == ns_tid)
			return &t[i];
	return NULL;
}

int threadsnap__take(struct threadsnap *ts, struct threadsnap_thread **out, size_t *n)
{
	struct threadsnap_thread *v = NULL;
	struct tstate_ref *t = NULL;
	struct task_list tasks;
	size_t nt = 0, cnt = 0;
	int err;

	threadsnap__start_budget(ts);
	err = threadsnap__tasks(ts, &tasks);
	if (err)
		goto out;
	err = threadsnap__tstates(ts, &t, &nt);
	if (err)
		goto out_free_tasks;
	threadsnap__resolve_ids(ts, t, nt, &tasks);
	v = calloc(tasks.n + nt, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out_free_tstates;
	}
	for (size_t i = 0; i < tasks.n; i++)
		threadsnap__fill(ts, &v[cnt++], tasks.v[i].tid, tasks.v[i].ns_tid,
				 threadsnap__find(t, nt, tasks.v[i].ns_tid));
	for (size_t i = 0; i < nt; i++)
		if (!t[i].ns_tid || !threadsnap__has_ns_tid(&tasks, t[i].ns_tid))
			threadsnap__fill(ts, &v[cnt++], 0, t[i].ns_tid, &t[i]);
	if (ts->gone) {
		err = -ESRCH;
		goto out_free_tstates;
	}
	*out = v;
	*n = cnt;
	v = NULL;
out_free_tstates:
	free(t);
out_free_tasks:
	free(tasks.v);
out:
	free(v);
	return err;
}

/* ---- the GIL ------------------------------------------------------------ */

/* The main interpreter's GIL, where the walker finds it (pyoffsets). */
int threadsnap__gil_holder(struct threadsnap *ts, uint64_t *tstate)
{
	struct pywalk *w = &ts->sw.w;
	__u64 interp = 0, gil, holder;

	*tstate = 0;
	if (w->proc.off.gil_model == GIL_NONE)
		return -ENOTSUP; /* free-threaded, or not known for this version */
	if (w->proc.off.gil_model == GIL_PTR_IN_INTERP &&
	    memread(ts->pid, w->proc.runtime_addr + w->proc.off.runtime_interp_head, &interp,
		    sizeof(interp)))
		return -EFAULT;
	if (pywalk__gil_holder(w, interp, &gil, &holder))
		return -EFAULT;
	*tstate = holder;
	return 0;
}

int threadsnap__thread(struct threadsnap *ts, pid_t tid, struct threadsnap_thread *out)
{
	struct task_list tasks = {0};
	struct tstate_ref *t = NULL;
	struct taskinfo ti;
	size_t nt = 0;
	int err;

	threadsnap__start_budget(ts);
	err = taskinfo__read(ts->proc, ts->pid, tid, &ti);
	if (err)
		goto out;
	err = threadsnap__tstates(ts, &t, &nt);
	if (err)
		goto out;
	if (!ts->native_ids && !ts->pthread_checked) {
		/* Calibration compares with every thread of the process. */
		err = threadsnap__tasks(ts, &tasks);
		if (err)
			goto out_free_tstates;
	}
	threadsnap__resolve_ids(ts, t, nt, &tasks);
	threadsnap__fill(ts, out, tid, ti.ns_tid, threadsnap__find(t, nt, ti.ns_tid));
	if (ts->gone)
		err = -ESRCH;
	free(tasks.v);
out_free_tstates:
	free(t);
out:
	return err;
}
