// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* procfs readers on this process and on a fixture /proc tree. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "test.h"

#define FIXTURE_PID 4242

/* ---- this process ---- */

struct self_maps {
	char exe[PATH_MAX];
	uintptr_t code; /* an address inside our own text */
	int lines, found_exe, code_hit, heap, stack;
};

static int self_maps_cb(const struct procfs_mapping *m, void *arg)
{
	struct self_maps *s = arg;

	s->lines++;
	CHECK(m->start < m->end);
	if (strcmp(m->path, s->exe) == 0) {
		s->found_exe = 1;
		if (s->code >= m->start && s->code < m->end) {
			s->code_hit = 1;
			CHECK(m->perms & PROCFS_X);
			CHECK(m->perms & PROCFS_R);
			CHECK(m->inode != 0);
		}
	}
	if (strcmp(m->path, "[heap]") == 0)
		s->heap = 1;
	if (strcmp(m->path, "[stack]") == 0)
		s->stack = 1;
	return 0;
}

static void maps_self(void)
{
	struct self_maps s = {0};
	ssize_t n = readlink("/proc/self/exe", s.exe, sizeof(s.exe) - 1);

	CHECK(n > 0);
	if (n <= 0)
		return;
	s.exe[n] = '\0';
	s.code = (uintptr_t)&maps_self;
	CHECK_EQ_INT(procfs__maps("/proc", getpid(), self_maps_cb, &s), 0);
	CHECK(s.lines > 5);
	CHECK(s.found_exe);
	CHECK(s.code_hit);
	CHECK(s.stack);
}

static int stop_at_three(const struct procfs_mapping *m, void *arg)
{
	int *n = arg;

	(void)m;
	return ++*n == 3 ? 77 : 0;
}

static void maps_stop_and_errors(void)
{
	int n = 0;

	CHECK_EQ_INT(procfs__maps("/proc", getpid(), stop_at_three, &n), 77);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(procfs__maps("/proc", INT_MAX, stop_at_three, &n), -ESRCH);
}

static void start_time_self(void)
{
	uint64_t ticks = 0, again = 0, init = 0;
	char buf[1024];
	unsigned long long want = 0;
	FILE *f;
	char *p;

	CHECK_EQ_INT(procfs__start_time("/proc", getpid(), &ticks), 0);
	CHECK(ticks > 0);
	CHECK_EQ_INT(procfs__start_time("/proc", getpid(), &again), 0);
	CHECK_EQ_INT(again, ticks);
	/* pid 1 started before us */
	if (procfs__start_time("/proc", 1, &init) == 0)
		CHECK(init <= ticks);
	CHECK_EQ_INT(procfs__start_time("/proc", INT_MAX, &ticks), -ESRCH);

	/* Independent reading: our comm has no spaces, so sscanf is enough. */
	f = fopen("/proc/self/stat", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		CHECK(p && sscanf(p + 2,
				  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				  "%*d %*d %*d %*d %llu",
				  &want) == 1);
		CHECK_EQ_INT(again, want);
	}
	fclose(f);
}

static void comm_self(void)
{
	char comm[64], want[64] = "", small[4];
	FILE *f = fopen("/proc/self/comm", "r");

	CHECK(f != NULL);
	if (f) {
		if (fgets(want, sizeof(want), f))
			want[strcspn(want, "\n")] = '\0';
		fclose(f);
	}
	CHECK_EQ_INT(procfs__comm("/proc", getpid(), 0, comm, sizeof(comm)), 0);
	CHECK_EQ_STR(comm, want);
	CHECK_EQ_STR(comm, "test_procfs");
	CHECK_EQ_INT(procfs__comm("/proc", getpid(), gettid(), comm, sizeof(comm)), 0);
	CHECK_EQ_STR(comm, want);
	CHECK_EQ_INT(procfs__comm("/proc", getpid(), 0, small, sizeof(small)), -ERANGE);
	CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
	CHECK_EQ_INT(procfs__comm("/proc", INT_MAX, 0, comm, sizeof(comm)), -ESRCH);
}

struct find_pid {
	pid_t want;
	int found, count;
};

static int find_pid_cb(pid_t pid, void *arg)
{
	struct find_pid *f = arg;

	CHECK(pid > 0);
	f->count++;
	if (pid == f->want)
		f->found = 1;
	return 0;
}

static void pids_and_tids_self(void)
{
	struct find_pid p = {.want = getpid()}, t = {.want = gettid()};

	CHECK_EQ_INT(procfs__pids("/proc", find_pid_cb, &p), 0);
	CHECK(p.found);
	CHECK(p.count > 1);
	CHECK_EQ_INT(procfs__tids("/proc", getpid(), find_pid_cb, &t), 0);
	CHECK(t.found);
	CHECK_EQ_INT(procfs__tids("/proc", INT_MAX, find_pid_cb, &t), -ESRCH);
	CHECK_EQ_INT(procfs__exists("/proc", getpid()), 1);
	CHECK_EQ_INT(procfs__exists("/proc", INT_MAX), 0);
	CHECK_EQ_INT(procfs__exists("/proc", 0), 0);
}

/* ---- fixture ---- */

static char fixture[] = "/tmp/pybpf-test-procfs-XXXXXX";
static int fixture_made;

static int put(const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fixture, rel);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(content, f);
	return fclose(f);
}

static int mkdir_rel(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fixture, rel);
	return mkdir(path, 0755);
}

static const char fixture_maps[] =
    "55d0c0a00000-55d0c0a28000 r--p 00000000 fd:01 1311  /usr/bin/my prog\n"
    "55d0c0a28000-55d0c0b00000 r-xp 00028000 fd:01 1311  /usr/bin/my prog\n"
    "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n"
    "7f0000001000-7f0000002000 rw-s 00000000 00:00 0\n"
    "7f1000000000-7f1000100000 r-xp 00100000 08:02 987654321                  "
    "/opt/lib/libpython3.11.so.1.0 (deleted)\n"
    "this line is garbage and is skipped\n"
    "7f2000000000-7f2000001000 rwxp 0000ffff 103:0a 5                  /a  b   c\n"
    "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0                          [stack]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

static const char fixture_stat[] =
    "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 "
    "987654321 12345678 900 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

static int build_fixture(void)
{
	if (fixture_made)
		return 0;
	if (!mkdtemp(fixture))
		return -1;
	fixture_made = 1;
	if (mkdir_rel("4242") || mkdir_rel("4242/task") || mkdir_rel("4242/task/4242") ||
	    mkdir_rel("4242/task/4250") || mkdir_rel("17") || mkdir_rel("self") || mkdir_rel("0") ||
	    mkdir_rel("12ab") || mkdir_rel("0012") || mkdir_rel("99999999999999999999"))
		return -1;
	if (put("4242/maps", fixture_maps) || put("4242/stat", fixture_stat) ||
	    put("4242/comm", "a) b (c\n") || put("4242/task/4250/comm", "worker 1\n") ||
	    put("17/stat", "17 (x) R 1") || put("4242/task/4242/comm", "a) b (c\n"))
		return -1;
	return 0;
}

static struct procfs_mapping fx_maps[16];
static int fx_n;

static int collect_cb(const struct procfs_mapping *m, void *arg)
{
	(void)arg;
	if (fx_n < 16)
		fx_maps[fx_n] = *m;
	fx_n++;
	return 0;
}

static void fixture_maps_parse(void)
{
	CHECK_EQ_INT(build_fixture(), 0);
	fx_n = 0;
	CHECK_EQ_INT(procfs__maps(fixture, FIXTURE_PID, collect_cb, NULL), 0);
	CHECK_EQ_INT(fx_n, 9);
	if (fx_n != 9)
		return;
	CHECK_EQ_INT(fx_maps[0].start, 0x55d0c0a00000);
	CHECK_EQ_INT(fx_maps[0].end, 0x55d0c0a28000);
	CHECK_EQ_INT(fx_maps[0].perms, PROCFS_R);
	CHECK_EQ_INT(fx_maps[0].inode, 1311);
	CHECK_EQ_STR(fx_maps[0].path, "/usr/bin/my prog");
	CHECK_EQ_INT(fx_maps[1].offset, 0x28000);
	CHECK_EQ_INT(fx_maps[1].perms, PROCFS_R | PROCFS_X);
	CHECK_EQ_STR(fx_maps[2].path, "[heap]");
	CHECK_EQ_INT(fx_maps[2].perms, PROCFS_R | PROCFS_W);
	CHECK_EQ_STR(fx_maps[3].path, "");
	CHECK_EQ_INT(fx_maps[3].perms, 0);
	CHECK_EQ_INT(fx_maps[3].inode, 0);
	CHECK_EQ_STR(fx_maps[4].path, "");
	CHECK_EQ_STR(fx_maps[5].path, "/opt/lib/libpython3.11.so.1.0 (deleted)");
	CHECK_EQ_INT(fx_maps[5].offset, 0x100000);
	CHECK_EQ_INT(fx_maps[5].inode, 987654321);
	CHECK_EQ_STR(fx_maps[6].path, "/a  b   c");
	CHECK_EQ_INT(fx_maps[6].perms, PROCFS_R | PROCFS_W | PROCFS_X);
	CHECK_EQ_INT(fx_maps[6].offset, 0xffff);
	CHECK_EQ_STR(fx_maps[7].path, "[stack]");
	CHECK_EQ_INT(fx_maps[8].start, 0xffffffffff600000ull);
	CHECK_EQ_STR(fx_maps[8].path, "[vsyscall]");
	CHECK_EQ_INT(fx_maps[8].perms, PROCFS_X);
}

static void fixture_stat_comm(void)
{
	uint64_t ticks = 0;
	char comm[32];

	CHECK_EQ_INT(build_fixture(), 0);
	CHECK_EQ_INT(procfs__start_time(fixture, FIXTURE_PID, &ticks), 0);
	CHECK_EQ_INT(ticks, 987654321);
	CHECK_EQ_INT(procfs__comm(fixture, FIXTURE_PID, 0, comm, sizeof(comm)), 0);
	CHECK_EQ_STR(comm, "a) b (c");
	CHECK_EQ_INT(procfs__comm(fixture, FIXTURE_PID, 4250, comm, sizeof(comm)), 0);
	CHECK_EQ_STR(comm, "worker 1");
	/* a stat line that ends early */
	CHECK_EQ_INT(procfs__start_time(fixture, 17, &ticks), -EINVAL);
	CHECK_EQ_INT(procfs__start_time(fixture, 18, &ticks), -ESRCH);
}

static int sum_cb(pid_t pid, void *arg)
{
	long long *sum = arg;

	*sum += pid;
	return 0;
}

static void fixture_pids(void)
{
	long long sum = 0;

	CHECK_EQ_INT(build_fixture(), 0);
	/* only "4242" and "17": not "self", "0", "12ab", "0012" or the overflowing one */
	CHECK_EQ_INT(procfs__pids(fixture, sum_cb, &sum), 0);
	CHECK_EQ_INT(sum, 4242 + 17);
	sum = 0;
	CHECK_EQ_INT(procfs__tids(fixture, FIXTURE_PID, sum_cb, &sum), 0);
	CHECK_EQ_INT(sum, 4242 + 4250);
	CHECK_EQ_INT(procfs__exists(fixture, FIXTURE_PID), 1);
	CHECK_EQ_INT(procfs__exists(fixture, 4243), 0);
}

/* Map `path` as code (one page), or NULL. */
static void *map_code(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void code_files_digest_self(void)
{
	uint64_t d0, d1, d2, d3;
	void *other, *again;
	int fd = procfs__open_maps("/proc", getpid()), err;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	err = procfs__code_files_digest(fd, &d0);
	if (err == -EOPNOTSUPP) {
		fprintf(stderr, "  (no PROCMAP_QUERY on this kernel: digest not checked)\n");
		goto out_close_fd;
	}
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_INT(procfs__code_files_digest(fd, &d1), 0);
	CHECK(d0 == d1);
	/* A file not mapped as code yet changes it... */
	other = map_code("/bin/true");
	CHECK(other != NULL);
	CHECK_EQ_INT(procfs__code_files_digest(fd, &d2), 0);
	CHECK(d2 != d0);
	/* ...one mapped as code again elsewhere does not (node remaps its own text)... */
	again = map_code("/proc/self/exe");
	CHECK(again != NULL);
	CHECK_EQ_INT(procfs__code_files_digest(fd, &d3), 0);
	CHECK(d3 == d2);
	/* ...and unmapping it all gives the first digest back. */
	if (other)
		munmap(other, 4096);
	if (again)
		munmap(again, 4096);
	CHECK_EQ_INT(procfs__code_files_digest(fd, &d3), 0);
	CHECK(d3 == d0);
out_close_fd:
	close(fd);
}

/* The maps fd follows the process, not the PID: once it execs or exits,
 * queries on the fd say it is gone. */
static void code_files_digest_gone(void)
{
	char link[64], exe[PATH_MAX];
	int go[2], fd, tries;
	uint64_t d;
	pid_t pid;

	CHECK_EQ_INT(pipe(go), 0);
	for (int exits = 0; exits < 2; exits++) {
		char c = 'x';

		pid = fork();
		if (pid == 0) {
			if (read(go[0], &c, 1) != 1)
				_exit(1);
			if (exits)
				_exit(0);
			execl("/bin/sleep", "sleep", "10", (char *)NULL);
			_exit(127);
		}
		CHECK(pid > 0);
		if (pid <= 0)
			break;
		fd = procfs__open_maps("/proc", pid);
		CHECK(fd >= 0);
		if (procfs__code_files_digest(fd, &d) == -EOPNOTSUPP) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(fd);
			break;
		}
		CHECK_EQ_INT(write(go[1], &c, 1), 1);
		if (exits) {
			waitpid(pid, NULL, 0);
		} else {
			/* until the exec has happened */
			snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
			for (tries = 0; tries < 500; tries++) {
				ssize_t n = readlink(link, exe, sizeof(exe) - 1);

				if (n > 6 && memcmp(exe + n - 6, "/sleep", 6) == 0)
					break;
				nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
			}
			CHECK(tries < 500);
		}
		CHECK_EQ_INT(procfs__code_files_digest(fd, &d), -ESRCH);
		close(fd);
		if (!exits) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	close(go[0]);
	close(go[1]);
}

/* A fixture's maps is a regular file: no digest, the caller reads maps. */
static void fixture_no_digest(void)
{
	uint64_t d;
	int fd;

	CHECK_EQ_INT(build_fixture(), 0);
	fd = procfs__open_maps(fixture, FIXTURE_PID);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ_INT(procfs__code_files_digest(fd, &d), -EOPNOTSUPP);
		close(fd);
	}
	CHECK_EQ_INT(procfs__open_maps(fixture, 4243), -ESRCH);
}

static void fixture_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (!fixture_made)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture);
	CHECK_EQ_INT(system(cmd), 0);
}

TEST_MAIN(TEST(maps_self), TEST(maps_stop_and_errors), TEST(start_time_self), TEST(comm_self),
	  TEST(pids_and_tids_self), TEST(fixture_maps_parse), TEST(fixture_stat_comm),
	  TEST(fixture_pids), TEST(code_files_digest_self), TEST(code_files_digest_gone),
	  TEST(fixture_no_digest), TEST(fixture_cleanup))
