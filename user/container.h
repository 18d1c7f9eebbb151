/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container a process runs in, from its cgroup path (the path in
 * /proc/PID/cgroup): Docker, containerd/CRI (Kubernetes), CRI-O, Podman,
 * LXC and systemd-nspawn name their cgroups after the container.
 */
#ifndef PYBPF_CONTAINER_H
#define PYBPF_CONTAINER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Container id in a cgroup path such as
 * "/kubepods.slice/.../cri-containerd-<64 hex>.scope": 0 and the id in out,
 * or -ENOENT when the path names no container (host processes).
 */
int container__id_from_cgroup(const char *path, char *out, size_t len);

/* The same for a process: reads <proc>/PID/cgroup. 0, -ENOENT or -errno. */
int container__id(const char *proc, pid_t pid, char *out, size_t len);

#endif
