// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unwinding and naming a real stack: this test's own, copied the way the
 * BPF program copies a sampled thread's (registers + the top of the stack). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "unwind.h"

#define STACK_COPY 16384

__attribute__((used)) static unsigned char stack_copy[STACK_COPY];
static struct unwind_sample sample;

/* Bytes mapped from sp up to the end of its mapping, at most STACK_COPY
 * (the BPF program stops at the first unreadable page the same way). */
static size_t stack_room(uint64_t sp)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long long lo, hi;
	char line[512];
	size_t room = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && sp >= lo && sp < hi)
			room = hi - sp < STACK_COPY ? hi - sp : STACK_COPY;
	if (f)
		fclose(f);
	return room;
}

/* Not instrumented: it reads the caller frames' ASan redzones on purpose. */
__attribute__((noinline, no_sanitize_address)) static void copy_stack(const unsigned char *sp,
								      size_t len)
{
	for (size_t i = 0; i < len; i++)
		stack_copy[i] = ((const volatile unsigned char *)sp)[i];
}

__attribute__((noinline)) void unwind_test_leaf(void)
{
	uint64_t ip, sp, bp;

	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	size_t len = stack_room(sp);

	copy_stack((const unsigned char *)sp, len);
	sample = (struct unwind_sample){.pid = getpid(),
					.tid = (pid_t)syscall(SYS_gettid),
					.ip = ip,
					.sp = sp,
					.bp = bp,
					.stack = stack_copy,
					.stack_len = len};
}

__attribute__((noinline)) void unwind_test_mid(int depth)
{
	if (depth)
		unwind_test_mid(depth - 1);
	else
		unwind_test_leaf();
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

__attribute__((noinline)) void unwind_test_top(void)
{
	unwind_test_mid(3);
	__asm__ volatile("" ::: "memory");
}

/*
 * A function sampled in its epilogue, after it popped rbp: its CFI still
 * says rbp is saved at CFA-16, a slot now 8 bytes below sp, and its caller
 * (built with frame pointers) finds its own CFA from rbp. Only a copy that
 * starts below sp lets the unwind go on past the caller. The copy is made
 * at the point the sample stands for: 128 bytes below sp, `len` (rdi)
 * bytes, by rep movsb (which touches no stack).
 */
extern char unwind_test_epilogue_at[];
void unwind_test_epilogue(size_t len);
__attribute__((used)) static volatile uint64_t epilogue_sp;
__asm__(".text\n"
	".globl unwind_test_epilogue\n"
	".type unwind_test_epilogue, @function\n"
	"unwind_test_epilogue:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"xor %ebp, %ebp\n" /* rbp used as a scratch register */
	"pop %rbp\n"
	".cfi_def_cfa_offset 8\n"
	".globl unwind_test_epilogue_at\n"
	"unwind_test_epilogue_at:\n"
	"mov %rsp, epilogue_sp(%rip)\n"
	"mov %rdi, %rcx\n"
	"lea -128(%rsp), %rsi\n"
	"lea stack_copy(%rip), %rdi\n"
	"rep movsb\n"
	"ret\n"
	".cfi_endproc\n"
	".size unwind_test_epilogue, .-unwind_test_epilogue\n");

__attribute__((noinline)) void unwind_test_epilogue_caller(void)
{
	uint64_t sp, bp;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	/* the copy starts 128 + 8 (return address) bytes below this sp */
	unwind_test_epilogue(stack_room(sp) - 256);
	__asm__ volatile("mov %%rbp, %0" : "=r"(bp)); /* callee-saved: rbp at the sample */
	sample = (struct unwind_sample){.pid = getpid(),
					.tid = (pid_t)syscall(SYS_gettid),
					.ip = (uint64_t)unwind_test_epilogue_at,
					.sp = epilogue_sp,
					.bp = bp,
					.stack = stack_copy,
					.stack_len = stack_room(sp) - 256,
					.stack_addr = epilogue_sp - 128};
}

static int index_of(const struct unwind_frame *f, size_t n, const char *name, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (f[i].name && !strcmp(f[i].name, name))
			return (int)i;
	return -1;
}

static void test_unwind_own_stack(void)
{
	struct unwinder *u = unwinder__new("/proc");
	struct unwind_frame frames[64];
	struct unwind_stats st;
	size_t n = 0;
	int leaf, mid, top;

	CHECK(u != NULL);
	if (!u)
		return;
	unwind_test_top();
	CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
	leaf = index_of(frames, n, "unwind_test_leaf", 0);
	mid = index_of(frames, n, "unwind_test_mid", 0);
	top = index_of(frames, n, "unwind_test_top", 0);
	CHECK_EQ_INT(leaf, 0);
	CHECK_EQ_INT(mid, 1);
	/* four activations of unwind_test_mid between leaf and top */
	CHECK_EQ_INT(top, 5);
	CHECK(index_of(frames, n, "main", 0) > top);
	CHECK(frames[0].module != NULL && frames[0].module->path[0] == '/');
	CHECK(frames[0].module && frames[0].pc >= frames[0].module->start &&
	      frames[0].pc < frames[0].module->limit);

	/* A copy cut short: the unwind stops, what was found is kept. */
	sample.stack_len = 64;
	CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
	CHECK(n >= 1 && n < 6);
	CHECK(n >= 1 && frames[0].name && !strcmp(frames[0].name, "unwind_test_leaf"));

	unwinder__stats(u, &st);
	CHECK_EQ_INT(st.processes, 1);
	CHECK(st.symbols > 0);
	unwinder__forget(u, getpid());
	unwinder__stats(u, &st);
	CHECK_EQ_INT(st.processes, 0);
	unwinder__free(u);
}

/* Children that wait (a copy of this process: the sample taken here is
 * valid in each of them) until killed. */
static void spawn_waiters(pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			pause();
			_exit(0);
		}
	}
}

static void reap_waiters(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
}

static size_t unwind_as(struct unwinder *u, pid_t pid)
{
	struct unwind_frame frames[64];
	size_t n = 0;

	sample.pid = pid;
	sample.tid = pid;
	CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
	return n;
}

/* At most max_procs sessions: a new process closes the least recently
 * used one. */
static void test_session_cap(void)
{
	struct unwinder *u = unwinder__new("/proc");
	struct unwind_stats st;
	pid_t kids[3];

	CHECK(u != NULL);
	if (!u)
		return;
	unwinder__set_max_procs(u, 2);
	unwind_test_top();
	spawn_waiters(kids, 3);
	CHECK(unwind_as(u, kids[0]) > 5);
	CHECK(unwind_as(u, kids[1]) > 5);
	CHECK(unwind_as(u, kids[0]) > 5); /* kids[1] is now the least recent */
	CHECK(unwind_as(u, kids[2]) > 5);
	unwinder__stats(u, &st);
	CHECK_EQ_INT(st.processes, 2);
	CHECK_EQ_INT(st.evicted, 1);
	CHECK(unwind_as(u, kids[0]) > 5); /* kept: no session opened */
	unwinder__stats(u, &st);
	CHECK_EQ_INT(st.evicted, 1);
	CHECK(unwind_as(u, kids[1]) > 5); /* closed before: opened again */
	unwinder__stats(u, &st);
	CHECK_EQ_INT(st.processes, 2);
	CHECK_EQ_INT(st.evicted, 2);
	reap_waiters(kids, 3);
	unwinder__free(u);
}

static void test_unwind_epilogue(void)
{
	struct unwinder *u = unwinder__new("/proc");
	struct unwind_frame frames[64];
	size_t n = 0;

	CHECK(u != NULL);
	if (!u)
		return;
	unwind_test_epilogue_caller();
	CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
	CHECK_EQ_INT(index_of(frames, n, "unwind_test_epilogue", 0), 0);
	CHECK_EQ_INT(index_of(frames, n, "unwind_test_epilogue_caller", 0), 1);
	CHECK(index_of(frames, n, "test_unwind_epilogue", 0) == 2);
	CHECK(index_of(frames, n, "main", 0) > 2);

	/* The same copy seen from sp up, as before: rbp is lost at the caller. */
	sample.stack = stack_copy + 128;
	sample.stack_len -= 128;
	sample.stack_addr = 0;
	CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
	fprintf(stderr, "  from sp: %zu frames (the caller's CFA is rbp-based: 2)\n", n);
	unwinder__free(u);
}

static void test_gone_process(void)
{
	struct unwinder *u = unwinder__new("/proc");
	struct unwind_frame frames[4];
	struct unwind_sample s = {.pid = 0x3ffffff, .tid = 0x3ffffff, .ip = 1, .sp = 8};
	size_t n = 1;

	CHECK(unwinder__unwind(u, &s, frames, 4, &n) < 0);
	CHECK_EQ_INT(n, 0);
	unwinder__free(u);
}

static char root_exe[PATH_MAX];

/* ROOT/PID/maps with this test's executable only, and its map_files links
 * as the kernel makes them. 0 or -1. (Its buffers are kept off the stack
 * the unwind copies.) */
__attribute__((noinline)) static int fake_root_of_exe(const char *root)
{
	char path[PATH_MAX + 64], line[PATH_MAX + 128], link[PATH_MAX + 64], target[PATH_MAX + 64];
	ssize_t len = readlink("/proc/self/exe", root_exe, sizeof(root_exe) - 1);
	FILE *in, *out;
	int at, err = 0;

	if (len <= 0)
		return -1;
	root_exe[len] = '\0';
	snprintf(path, sizeof(path), "%s/%d", root, (int)getpid());
	if (mkdir(path, 0700))
		return -1;
	snprintf(path, sizeof(path), "%s/%d/map_files", root, (int)getpid());
	if (mkdir(path, 0700))
		return -1;
	snprintf(path, sizeof(path), "%s/%d/maps", root, (int)getpid());
	in = fopen("/proc/self/maps", "r");
	out = fopen(path, "w");
	while (in && out && fgets(line, sizeof(line), in)) {
		unsigned long long lo, hi;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &at) != 2 ||
		    strcmp(line + at, root_exe))
			continue;
		fprintf(out, "%s\n", line);
		snprintf(link, sizeof(link), "%s/%d/map_files/%llx-%llx", root, (int)getpid(), lo,
			 hi);
		snprintf(target, sizeof(target), "/proc/self/map_files/%llx-%llx", lo, hi);
		err |= symlink(target, link);
	}
	if (!in || !out)
		err = -1;
	if (in)
		fclose(in);
	if (out && fclose(out))
		err = -1;
	return err ? -1 : 0;
}

/* A proc root of our own that maps only this test's executable: the module
 * list comes from it, so every frame up to main is in the executable and
 * main's caller in libc is in no module. It used to come from /proc
 * whatever the root (libc's frames were named). */
static void test_fake_proc_root(void)
{
	char root[] = "/tmp/unwind-root.XXXXXX", rm[64];
	struct unwind_frame frames[64];
	struct unwinder *u;
	size_t n = 0;
	int main_at;

	CHECK(mkdtemp(root) != NULL && fake_root_of_exe(root) == 0);
	u = unwinder__new(root);
	CHECK(u != NULL);
	if (u) {
		unwind_test_top();
		CHECK_EQ_INT(unwinder__unwind(u, &sample, frames, 64, &n), 0);
		CHECK_EQ_INT(index_of(frames, n, "unwind_test_leaf", 0), 0);
		CHECK_EQ_INT(index_of(frames, n, "unwind_test_top", 0), 5);
		main_at = index_of(frames, n, "main", 0);
		CHECK(main_at > 5);
		for (int i = 0; i < (int)n; i++)
			if (i <= main_at)
				CHECK(frames[i].module &&
				      !strcmp(frames[i].module->path, root_exe));
			else
				CHECK(!frames[i].module && !frames[i].name);
		unwinder__free(u);
	}
	snprintf(rm, sizeof(rm), "rm -rf '%s'", root);
	CHECK(system(rm) == 0);
}

/* ---- a hostile process's files: a fake proc root ------------------------ */

/*
 * <dir>/proc/PID/{maps,root/...} for this very process, with no map_files
 * (as for an agent without CAP_SYS_ADMIN): the unwinder must then open
 * this test's executable through root/, as the process names it, and
 * nothing else. <dir>/secret stands for a host file (a copy of the
 * executable: if it were opened, names would come out of it).
 */
struct fake_root {
	char dir[64], proc[96], secret[128];
	char exe[PATH_MAX];	    /* this test's executable */
	char in_root[PATH_MAX * 2]; /* the same path under proc/PID/root */
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[PATH_MAX * 6];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static bool fake_root_make(struct fake_root *f)
{
	ssize_t n = readlink("/proc/self/exe", f->exe, sizeof(f->exe) - 1);

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_unwind.XXXXXX");
	if (n <= 0 || !mkdtemp(f->dir))
		return false;
	f->exe[n] = '\0';
	snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
	snprintf(f->secret, sizeof(f->secret), "%s/secret", f->dir);
	snprintf(f->in_root, sizeof(f->in_root), "%s/%d/root%s", f->proc, (int)getpid(), f->exe);
	return sh("mkdir -p '%s' && cp /proc/%d/maps '%s/%d/maps' && cp '%s' '%s' && chmod 600 "
		  "'%s'",
		  f->in_root, (int)getpid(), f->proc, (int)getpid(), f->exe, f->secret,
		  f->secret) == 0 &&
	       rmdir(f->in_root) == 0;
}

static void fake_root_remove(struct fake_root *f)
{
	sh("rm -rf '%s'", f->dir);
}

/* inotify watch for opens of one file. */
static int watch_opens(const char *path)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd >= 0 && inotify_add_watch(fd, path, IN_OPEN | IN_ACCESS) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Events seen (on a watched file they carry no name: one header each). */
static int opens_seen(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	return n > 0 ? (int)((size_t)n / sizeof(struct inotify_event)) : 0;
}

/* Unwind this test's own stack against the fake root: the frames found,
 * and whether the leaf was named. */
static size_t unwind_in(const struct fake_root *f, bool *named)
{
	struct unwinder *u = unwinder__new(f->proc);
	struct unwind_frame frames[64];
	size_t n = 0;

	*named = false;
	if (!u)
		return 0;
	unwind_test_top();
	unwinder__unwind(u, &sample, frames, 64, &n);
	*named = index_of(frames, n, "unwind_test_leaf", 0) == 0;
	unwinder__free(u);
	return n;
}

static void test_fake_root_regular_file(void)
{
	struct fake_root f;
	bool named;

	CHECK(fake_root_make(&f));
	/* The executable, a regular file at its path in the process's root:
	 * found there without map_files. */
	CHECK_EQ_INT(sh("cp '%s' '%s'", f.exe, f.in_root), 0);
	CHECK(unwind_in(&f, &named) >= 5);
	CHECK(named);
	fake_root_remove(&f);
}

static void test_fake_root_link_to_host_file(void)
{
	struct fake_root f;
	bool named;
	int w;

	CHECK(fake_root_make(&f));
	/* The path as the process names it is a link to a host file: an
	 * absolute link resolves against the agent's root. Never opened, nor
	 * the host's own file at that path (libdwfl's default). */
	CHECK_EQ_INT(symlink(f.secret, f.in_root), 0);
	w = watch_opens(f.secret);
	CHECK(w >= 0);
	unwind_in(&f, &named);
	CHECK(!named);
	CHECK_EQ_INT(opens_seen(w), 0);
	close(w);
	fake_root_remove(&f);
}

static void alarm_hang(int sig)
{
	static const char msg[] = "test_unwind: hung on a debuglink FIFO\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

/*
 * The executable in the process's root has no .symtab and a
 * .gnu_debuglink naming "dbg.debug" (a name the process chooses): next to
 * it, that name is a link to the host file, then a FIFO. libdwfl's own
 * search opened the first (through the link) and blocked forever on the
 * second; only debuginfo by build id from the host's /usr/lib/debug is
 * looked up now.
 */
static void test_fake_root_debuglink(void)
{
	char dbg[PATH_MAX * 2 + 16], *slash;
	struct fake_root f;
	bool named;
	int w;

	if (sh("command -v objcopy >/dev/null") != 0) {
		fprintf(stderr, "  no objcopy: skipped\n");
		return;
	}
	CHECK(fake_root_make(&f));
	snprintf(dbg, sizeof(dbg), "%s", f.in_root);
	slash = strrchr(dbg, '/');
	snprintf(slash + 1, sizeof(dbg) - (size_t)(slash + 1 - dbg), "dbg.debug");
	CHECK_EQ_INT(
	    sh("cd '%s' && : > dbg.debug && objcopy --strip-all --add-gnu-debuglink=dbg.debug "
	       "'%s' '%s' && rm dbg.debug",
	       f.dir, f.exe, f.in_root),
	    0);
	CHECK_EQ_INT(symlink(f.secret, dbg), 0);
	w = watch_opens(f.secret);
	CHECK(w >= 0);
	CHECK(unwind_in(&f, &named) >= 5); /* CFI is in the stripped file */
	CHECK_EQ_INT(opens_seen(w), 0);
	close(w);

	CHECK_EQ_INT(unlink(dbg), 0);
	CHECK_EQ_INT(mkfifo(dbg, 0600), 0);
	signal(SIGALRM, alarm_hang);
	alarm(60);
	CHECK(unwind_in(&f, &named) >= 5);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	fake_root_remove(&f);
}

/*
 * Files that claim more than they should be read for: the executable's
 * .symtab, .shstrtab or .eh_frame claiming 2 GiB (a sparse 3 GiB file), then
 * the same file with no section headers, where libdw finds .eh_frame
 * through PT_GNU_EH_FRAME and, from an Elf that is not mapped, reads the
 * whole file (elf_rawfile). libdwfl maps the files today, so the claims
 * cost nothing; a switch to pread-based libelf (ELF_C_READ, against the
 * SIGBUS of a file truncated while mapped) read 2 to 5 GB here. The
 * unwinder's peak RSS stays far below. In a child, for its RSS.
 */
static const char huge_py[] =
    "import struct,sys\n"
    "p,mode=sys.argv[1],sys.argv[2]\n"
    "d=bytearray(open(p,'rb').read())\n"
    "so,=struct.unpack_from('<Q',d,0x28)\n"
    "es,n,sx=struct.unpack_from('<HHH',d,0x3a)\n"
    "nm,=struct.unpack_from('<Q',d,so+sx*es+0x18)\n"
    "for i in range(n):\n"
    "  h=so+i*es; k,=struct.unpack_from('<I',d,h)\n"
    "  if d[nm+k:d.index(0,nm+k)]==b'.'+mode.encode():\n"
    "    struct.pack_into('<QQ',d,h+0x18,1<<30,2<<30)\n"
    "if mode=='noshdr':\n"
    "  struct.pack_into('<Q',d,0x28,0); struct.pack_into('<HHH',d,0x3a,0,0,0)\n"
    "f=open(p,'wb'); f.write(d); f.truncate((3<<30)+4096)\n";

static void test_fake_root_huge_claims(void)
{
	static const char *const modes[] = {"symtab", "shstrtab", "eh_frame", "noshdr"};
	struct fake_root f;

	if (sh("command -v python3 >/dev/null") != 0) {
		fprintf(stderr, "  no python3: skipped\n");
		return;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char script[160];
		int status = 0;
		pid_t child;
		FILE *py;

		CHECK(fake_root_make(&f));
		snprintf(script, sizeof(script), "%s/huge.py", f.dir);
		py = fopen(script, "w");
		CHECK(py && fputs(huge_py, py) >= 0 && fclose(py) == 0);
		CHECK_EQ_INT(sh("cp '%s' '%s' && python3 '%s' '%s' %s", f.exe, f.in_root, script,
				f.in_root, modes[i]),
			     0);
		fflush(NULL);
		child = fork();
		if (child == 0) {
			struct unwinder *u = unwinder__new(f.proc);
			struct unwind_frame frames[64];
			struct rusage ru;
			size_t n = 0;

			unwind_test_top();
			sample.pid = getppid();
			if (!u || unwinder__unwind(u, &sample, frames, 64, &n))
				_exit(10);
			getrusage(RUSAGE_SELF, &ru);
			fprintf(stderr, "  %s: %zu frames, peak RSS %ld KiB\n", modes[i], n,
				ru.ru_maxrss);
			unwinder__free(u);
			_exit(ru.ru_maxrss < (512l << 10) ? 0 : 11);
		}
		CHECK(child > 0 && waitpid(child, &status, 0) == child);
		CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
		fake_root_remove(&f);
	}
}

/*
 * The process truncates a file it maps while the agent has it open. libdwfl
 * used to mmap it: the next read of a page past the new end (CFI or
 * symbols of a function not looked up yet) was a SIGBUS that killed the
 * agent. Such a page now reads as zeros: the unwind goes on, names may be
 * lost, and the unwinder counts the fault.
 * In a child, so that a SIGBUS is reported as one.
 */
static void truncated_child(const struct fake_root *f)
{
	struct unwinder *u = unwinder__new(f->proc);
	struct unwind_frame frames[64];
	struct unwind_stats st;
	size_t n = 0;

	if (!u)
		_exit(10);
	/* The fake root is the parent's: the same mappings as this child's. */
	unwind_test_top();
	sample.pid = getppid();
	if (unwinder__unwind(u, &sample, frames, 64, &n) ||
	    index_of(frames, n, "unwind_test_leaf", 0) != 0)
		_exit(11); /* the copy was not used at all */
	if (truncate(f->in_root, 0))
		_exit(12);
	unwind_test_epilogue_caller();
	sample.pid = getppid();
	if (unwinder__unwind(u, &sample, frames, 64, &n))
		_exit(13);
	fprintf(stderr, "  after truncation: %zu frames, leaf %s\n", n,
		n && frames[0].name ? frames[0].name : "unnamed");
	unwinder__stats(u, &st);
	if (!st.bus_faults)
		_exit(14); /* the truncated pages were never read: the test proves nothing */
	unwinder__free(u);
	_exit(0);
}

static void test_fake_root_truncated_while_open(void)
{
	struct fake_root f;
	int status = 0;
	pid_t child;

	CHECK(fake_root_make(&f));
	CHECK_EQ_INT(sh("cp '%s' '%s'", f.exe, f.in_root), 0);
	fflush(NULL);
	child = fork();
	CHECK(child >= 0);
	if (child == 0)
		truncated_child(&f);
	CHECK(waitpid(child, &status, 0) == child);
	if (WIFSIGNALED(status))
		fprintf(stderr, "  the unwinder died of signal %d (%s)\n", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	CHECK(WIFEXITED(status));
	CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	fake_root_remove(&f);
}

TEST_MAIN(TEST(test_unwind_own_stack), TEST(test_unwind_epilogue), TEST(test_gone_process),
	  TEST(test_session_cap), TEST(test_fake_proc_root), TEST(test_fake_root_regular_file),
	  TEST(test_fake_root_link_to_host_file), TEST(test_fake_root_debuglink),
	  TEST(test_fake_root_huge_claims), TEST(test_fake_root_truncated_while_open))
