// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-thread /proc readers: task/TID/{status,stat,syscall,comm}.
 *
 * The syscall file needs the right to ptrace-read the thread (root here);
 * without it the syscall stays TASKINFO_SYSCALL_UNKNOWN.
 */
#include "taskinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Generated at build time from <sys/syscall.h>: "[nr] = \"name\"," lines. */
static const char *const syscall_names[] = {
#include "syscall_names.h"
};

#define TASKINFO_FILE_MAX 4096
/* Reads of the stat + syscall pair before the later one decides (taskinfo__read_sched). */
#define TASKINFO_SCHED_READS 2

/* Read <proc>/PID/task/TID/<what> whole (NUL-terminated). 0, -ESRCH or -errno. */
static int taskinfo__slurp(const char *proc, pid_t pid, pid_t tid, const char *what, char *buf,
			   size_t cap)
{
	char path[PATH_MAX];
	size_t len = 0;
	int fd, n, err = 0;

	n = snprintf(path, sizeof(path), "%s/%d/task/%d/%s", proc, (int)pid, (int)tid, what);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno == ESRCH || errno == ENOENT ? -ESRCH : -errno;
			goto out_close_fd;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
out_close_fd:
	close(fd);
	return err;
}

/* Strict decimal (optionally negative) at *p; advances *p. */
static int taskinfo__long(const char **p, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(*p, &end, 10);
	if (end == *p || errno)
		return -EINVAL;
	*p = end;
	return 0;
}

int taskinfo__parse_nspid(const char *status, pid_t *ns_tid)
{
	const char *line = status;
	long v, last = -1;

	while (line && *line) {
		if (!strncmp(line, "NSpid:", 6)) {
			const char *p = line + 6;

			for (;;) {
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p == '\n' || !*p)
					break;
				if (taskinfo__long(&p, &v) || v <= 0 || v > INT_MAX)
					return -EINVAL;
				last = v;
			}
			if (last < 0)
				return -EINVAL;
			*ns_tid = (pid_t)last;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -EINVAL;
}

int taskinfo__parse_state(const char *stat, char *state)
{
	/* The name is in parentheses and may contain anything: the state
	 * follows the LAST ')'. */
	const char *p = strrchr(stat, ')');

	if (!p || p[1] != ' ' || !p[2] || p[2] == ' ' || p[2] == '\n')
		return -EINVAL;
	*state = p[2];
	return 0;
}

int taskinfo__parse_syscall(const char *text, long *nr)
{
	const char *p = text;
	long v;

	if (!strncmp(text, "running", 7)) {
		*nr = TASKINFO_NO_SYSCALL;
		return 0;
	}
	if (taskinfo__long(&p, &v) || v < -1 || (*p != ' ' && *p != '\n' && *p))
		return -EINVAL;
	*nr = v < 0 ? TASKINFO_NO_SYSCALL : v;
	return 0;
}

const char *taskinfo__syscall_name(long nr)
{
	if (nr < 0 || (unsigned long)nr >= sizeof(syscall_names) / sizeof(syscall_names[0]))
		return NULL;
	return syscall_names[nr];
}

int taskinfo__parse_sched(const char *stat, const char *syscall, char *state, long *nr)
{
	bool running;
	int err;

	err = taskinfo__parse_state(stat, state);
	if (err)
		return err;
	*nr = TASKINFO_SYSCALL_UNKNOWN;
	if (!syscall || taskinfo__parse_syscall(syscall, nr)) {
		*nr = TASKINFO_SYSCALL_UNKNOWN;
		return 0;
	}
	/* The kernel writes "running" for a task whose state is TASK_RUNNING
	 * (on a CPU or waiting for one), and numbers only for one that stayed
	 * off the CPU while it looked. */
	running = !strncmp(syscall, "running", 7);
	return running == (*state == 'R') ? 0 : -EAGAIN;
}

/*
 * State and system call as of one instant. They come from two files read
 * one after the other; a thread that starts or stops running between the
 * reads would be reported running inside a system call, or asleep in none.
 * A pair that disagrees is read again; if it still does (the thread keeps
 * switching), stat, the later read, decides, and the system call is left
 * out unless stat says the thread runs (then it is in none).
 */
static void taskinfo__read_sched(const char *proc, pid_t pid, pid_t tid, struct taskinfo *out)
{
	char stat[TASKINFO_FILE_MAX], sys[TASKINFO_FILE_MAX];
	int err = -EAGAIN;

	for (int attempt = 0; attempt < TASKINFO_SCHED_READS && err == -EAGAIN; attempt++) {
		bool have_sys = !taskinfo__slurp(proc, pid, tid, "syscall", sys, sizeof(sys));

		if (taskinfo__slurp(proc, pid, tid, "stat", stat, sizeof(stat)))
			return; /* state '?', syscall unknown */
		err =
		    taskinfo__parse_sched(stat, have_sys ? sys : NULL, &out->state, &out->syscall);
	}
	if (err == -EAGAIN)
		out->syscall = out->state == 'R' ? TASKINFO_NO_SYSCALL : TASKINFO_SYSCALL_UNKNOWN;
	else if (err) {
		out->state = '?';
		out->syscall = TASKINFO_SYSCALL_UNKNOWN;
	}
}

int taskinfo__read(const char *proc, pid_t pid, pid_t tid, struct taskinfo *out)
{
	char buf[TASKINFO_FILE_MAX];
	size_t n;
	int err;

	memset(out, 0, sizeof(*out));
	out->tid = tid;
	out->ns_tid = tid;
	out->state = '?';
	out->syscall = TASKINFO_SYSCALL_UNKNOWN;

	err = taskinfo__slurp(proc, pid, tid, "status", buf, sizeof(buf));
	if (err)
		return err;
	/* Kernels before 4.1 have no NSpid: no namespaces to translate. */
	taskinfo__parse_nspid(buf, &out->ns_tid);
	if (!taskinfo__slurp(proc, pid, tid, "comm", buf, sizeof(buf))) {
		n = strcspn(buf, "\n");
		if (n >= sizeof(out->name))
			n = sizeof(out->name) - 1;
		memcpy(out->name, buf, n);
		out->name[n] = '\0';
	}
	taskinfo__read_sched(proc, pid, tid, out);
	return 0;
}
