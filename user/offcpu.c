// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "offcpu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pyhash.h"
#include "pyinfo.h"
#include "taskinfo.h"
#include "threadsnap.h"

__u64 offcpu__stack_hash(__u32 gen, const struct pybpf_stack *stack)
{
	__u64 h = pyhash__stack_seed(gen);

	for (__u32 i = 0; i < stack->depth && i < PYBPF_MAX_FRAMES; i++)
		h = pyhash__stack_frame(h, stack->frames[i].code, stack->frames[i].ident,
					stack->frames[i].instr);
	return pyhash__stack_end(h, stack->flags, stack->depth);
}

__u16 offcpu__wait(long nr)
{
	if (nr < 0 || nr >= WAIT_SYSCALL_MAX - WAIT_SYSCALL)
		return WAIT_OTHER;
	return (__u16)(WAIT_SYSCALL + nr);
}

int offcpu__parse_schedstat(const char *text, __u64 *run_ns)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	*run_ns = v;
	return 0;
}

static int read_run_ns(const char *proc, pid_t pid, pid_t tid, __u64 *run_ns)
{
	char path[128], buf[128];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%d/task/%d/schedstat", proc, (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		err = -errno;
		goto out_close;
	}
	buf[n] = '\0';
	err = offcpu__parse_schedstat(buf, run_ns);
out_close:
	close(fd);
	return err;
}

struct run_time {
	pid_t tid;
	__u64 run_ns;
};

/* CPU time of every thread of pid, read before the stacks are: a thread
 * that runs after this has another. *out is malloc'ed. */
static int read_run_times(const char *proc, pid_t pid, struct run_time **out, size_t *n)
{
	struct run_time *v = NULL, *grown;
	size_t len = 0, cap = 0;
	char path[128];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%d/task", proc, (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(dir))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (end == de->d_name || *end || tid <= 0)
			continue;
		if (len == cap) {
			cap = cap ? 2 * cap : 16;
			grown = reallocarray(v, cap, sizeof(*v));
			if (!grown) {
				err = -ENOMEM;
				goto out_close;
			}
			v = grown;
		}
		v[len].tid = (pid_t)tid;
		if (!read_run_ns(proc, pid, (pid_t)tid, &v[len].run_ns))
			len++;
	}
	*out = v;
	*n = len;
	v = NULL;
out_close:
	free(v);
	closedir(dir);
	return err;
}

int offcpu__snapshot(const char *proc, pid_t pid, __u32 gen, __u64 since_ns, offcpu_add_fn add,
		     void *ctx)
{
	struct threadsnap_thread *th = NULL;
	struct run_time *rt = NULL;
	struct threadsnap *ts;
	struct pyinfo info;
	size_t n = 0, nrt = 0;
	int added = 0, err;

	ts = threadsnap__new(proc, pid, &info);
	if (!ts)
		return -errno;
	threadsnap__only_asleep(ts);
	err = read_run_times(proc, pid, &rt, &nrt);
	if (!err)
		err = threadsnap__take(ts, &th, &n);
	if (err)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		struct pybpf_offcpu e = {.gen = gen, .state = STATE_BLOCKED, .since_ns = since_ns};
		struct pybpf_stack *st = &th[i].stack;
		struct taskinfo ti;
		size_t j;

		if (!th[i].tid)
			continue; /* a thread state without an OS thread */
		for (j = 0; j < nrt && rt[j].tid != th[i].tid; j++)
			;
		if (j == nrt || taskinfo__read(proc, pid, th[i].tid, &ti) ||
		    taskinfo__on_cpu(&ti) || ti.state == 'Z' || ti.state == 'X')
			continue; /* started meanwhile, or running: the kernel sees it */
		e.run_ns = rt[j].run_ns;
		e.wait = offcpu__wait(ti.syscall);
		if (th[i].status == THREADSNAP_NO_PYTHON) {
			st->depth = 0;
			st->flags = STACK_F_NO_TSTATE;
		} else if (th[i].status != THREADSNAP_OK) {
			st->flags |= STACK_F_READ_ERROR;
		}
		e.stack = offcpu__stack_hash(gen, st);
		err = add(ctx, (__u32)th[i].tid, &e, st);
		if (err == -ENOMEM)
			goto out_free;
		if (!err)
			added++;
	}
	err = 0;
out_free:
	free(th);
	free(rt);
	threadsnap__free(ts);
	return err ? err : added;
}
