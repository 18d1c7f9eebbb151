// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzzer: the /proc readers (procfs, container) over a fake proc root whose
 * files hold the input: PID/maps, PID/stat, PID/comm, PID/task/TID/comm and
 * PID/cgroup all get the same bytes, and every reader parses them. The
 * cgroup path parser also gets the input directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "procfs.h"

#define FUZZ_PID 4242
#define FUZZ_TID 4243

static char root[64];

static const char *const files[] = {"maps", "stat", "comm", "cgroup", "task/4243/comm"};

static int count_mapping(const struct procfs_mapping *m, void *arg)
{
	size_t *n = arg;

	if (m->end < m->start || strlen(m->path) >= sizeof(m->path))
		abort();
	return ++*n > 100000;
}

static int count_pid(pid_t pid, void *arg)
{
	(void)pid;
	(void)arg;
	return 0;
}

static void write_file(const char *name, const uint8_t *data, size_t size)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%d/%s", root, FUZZ_PID, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

static void setup(void)
{
	char path[256];
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/fuzzproc.XXXXXX", tmp && *tmp ? tmp : "/dev/shm");
	if (!mkdtemp(root))
		abort();
	snprintf(path, sizeof(path), "%s/%d", root, FUZZ_PID);
	if (mkdir(path, 0700))
		abort();
	snprintf(path, sizeof(path), "%s/%d/task", root, FUZZ_PID);
	if (mkdir(path, 0700))
		abort();
	snprintf(path, sizeof(path), "%s/%d/task/%d", root, FUZZ_PID, FUZZ_TID);
	if (mkdir(path, 0700))
		abort();
}

static void cleanup(void)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%d/%s", root, FUZZ_PID, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%d/task/%d", root, FUZZ_PID, FUZZ_TID);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/%d/task", root, FUZZ_PID);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/%d", root, FUZZ_PID);
	rmdir(path);
	rmdir(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char comm[16], id[80], *path;
	uint64_t ticks;
	size_t i, n = 0;

	if (!root[0]) {
		setup();
		atexit(cleanup);
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		write_file(files[i], data, size);
	(void)procfs__maps(root, FUZZ_PID, count_mapping, &n);
	(void)procfs__start_time(root, FUZZ_PID, &ticks);
	(void)procfs__comm(root, FUZZ_PID, 0, comm, sizeof(comm));
	(void)procfs__comm(root, FUZZ_PID, FUZZ_TID, comm, sizeof(comm));
	(void)procfs__tids(root, FUZZ_PID, count_pid, NULL);
	(void)procfs__exists(root, FUZZ_PID);
	(void)container__id(root, FUZZ_PID, id, sizeof(id));

	/* The cgroup path parser on its own, as an exact-size string. */
	path = malloc(size + 1);
	if (!path)
		abort();
	memcpy(path, data, size);
	path[size] = '\0';
	(void)container__id_from_cgroup(path, id, sizeof(id));
	(void)container__id_from_cgroup(path, id, 1);
	free(path);
	return 0;
}
