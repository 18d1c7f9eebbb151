/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Small readers of /proc. The root of the proc file system is a parameter
 * (normally "/proc") so that tests can point it at a fixture directory.
 */
#ifndef PYBPF_PROCFS_H
#define PYBPF_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procfs_mapping {
	uint64_t start, end;   /* address range */
	uint64_t offset;       /* file offset of start */
	uint32_t perms;        /* PROCFS_R|W|X */
	uint64_t inode;
	char path[4096];       /* as shown in maps; "" for anonymous */
};

#define PROCFS_R 1u
#define PROCFS_W 2u
#define PROCFS_X 4u

/* Callback per mapping; return non-zero to stop (that value is returned). */
typedef int (*procfs_mapping_cb)(const struct procfs_mapping *m, void *arg);

/* Iterate /proc/PID/maps. 0, the callback's value, or -errno (-ESRCH if gone). */
int procfs__maps(const char *proc, pid_t pid, procfs_mapping_cb cb, void *arg);

/* Open /proc/PID/maps: an fd, or -errno (-ESRCH if gone). The fd follows
 * that process, not the PID: once it exits or execs, queries on the fd fail
 * with -ESRCH even if the PID is reused. */
int procfs__open_maps(const char *proc, pid_t pid);

/*
 * A 64-bit digest of the set of files a process maps as code (device and
 * inode of each), from the PROCMAP_QUERY ioctl (Linux 6.11+) on an fd from
 * procfs__open_maps: about 10 us for node.js, where reading its maps as
 * text costs 60-70 us. Equal digests mean no other file was mapped as code
 * in between (a file mapped again elsewhere counts once). 0; -EOPNOTSUPP
 * when the kernel (or a proc fixture) has no such ioctl; -ESRCH when the
 * process is gone or has exec'd; -E2BIG beyond 256 files; other -errno.
 */
int procfs__code_files_digest(int maps_fd, uint64_t *digest);

/* Process start time in clock ticks since boot (field 22 of stat). 0 or -errno. */
int procfs__start_time(const char *proc, pid_t pid, uint64_t *ticks);

/* Command name (comm of the thread group leader, or of a thread if tid > 0). */
int procfs__comm(const char *proc, pid_t pid, pid_t tid, char *buf, size_t len);

/* Call cb for every numeric entry of /proc (pid) or /proc/PID/task (tid). */
typedef int (*procfs_pid_cb)(pid_t pid, void *arg);
int procfs__pids(const char *proc, procfs_pid_cb cb, void *arg);
int procfs__tids(const char *proc, pid_t pid, procfs_pid_cb cb, void *arg);

/* Parent process id (field 4 of stat). 0 or -errno (-ESRCH if gone). */
int procfs__ppid(const char *proc, pid_t pid, pid_t *ppid);

/* Command line, arguments joined by spaces (cut to len - 1 bytes); "" for
 * kernel threads and zombies. 0 or -errno. */
int procfs__cmdline(const char *proc, pid_t pid, char *buf, size_t len);

/*
 * Opening a file a process maps, as that process sees it, when the process
 * may be hostile: it owns its file system and could point a path at any
 * file of the host (/etc/shadow) through a link, or put a FIFO there to
 * hang the reader. Both return a regular file only (-ENOEXEC for anything
 * else, opened with O_NONBLOCK so that opening a FIFO cannot block).
 *
 * procfs__open_map_file: <proc>/PID/map_files/START-END, the very file
 * mapped there whatever its path names now (needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE). An fd or -errno.
 *
 * procfs__open_in_root: `path` (absolute, as the process names it) under
 * <proc>/PID/root, never following a link: openat2() with RESOLVE_IN_ROOT
 * keeps every ".." inside that root and RESOLVE_NO_SYMLINKS refuses links
 * altogether (paths in maps are already resolved: a link in one means it
 * was changed since). Kernels without openat2 get O_NOFOLLOW on the last
 * component only, and *no_openat2 is set: the caller must then insist on
 * the mapped inode. Never the host's file at that path. An fd, or -errno
 * (-ELOOP for a link, -ENOEXEC for a non-regular file).
 */
int procfs__open_map_file(const char *proc, pid_t pid, uint64_t start, uint64_t end);
int procfs__open_in_root(const char *proc, pid_t pid, const char *path, bool *no_openat2);

/* Does the process exist (kill(pid, 0) semantics through /proc)? */
int procfs__exists(const char *proc, pid_t pid);

#endif
