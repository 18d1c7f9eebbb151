// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "unwind.h"

#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "elffile.h"
#include "hashmap.h"
#include "monoclock.h"
#include "procfs.h"

/* A module list is re-read at most this often per process (dlopen). */
#define RELOAD_MIN_NS 1000000000ull
/* A process that could not be opened is not tried again for this long;
 * the verdicts are kept in a small direct-mapped table. */
#define RETRY_NS 1000000000ull
#define FAILED_SLOTS 256
/* Symbols cached per process; the cache starts over beyond this. */
#define MAX_SYMS 65536
/* A mapped file with a compressed section inflating beyond this is not
 * read: libdw would allocate what the section's header claims. */
#define UNWIND_INFLATE_MAX (64ull << 20)

struct umod {
	struct unwind_module m;
	struct umod *next;
};

struct usym {
	uint32_t gen; /* module list it was resolved against (uproc.gen) */
	char *name;   /* NULL: no symbol */
	const struct unwind_module *mod;
};

struct uproc {
	struct unwinder *u;
	pid_t pid;
	Dwfl *dwfl;
	uint64_t loaded_ns;		 /* when the module list was last read */
	uint32_t gen;			 /* module list reads so far */
	uint32_t last_used;		 /* unwinder epoch */
	uint64_t touched;		 /* unwinder's unwind count at its last use */
	struct hashmap *syms;		 /* pc -> struct usym */
	struct umod *mods;		 /* every module seen, kept until the process goes */
	const struct unwind_sample *cur; /* sample being unwound */
};

struct unwinder {
	char proc_root[PATH_MAX];
	struct hashmap *procs; /* pid -> struct uproc */
	struct {
		pid_t pid;
		int err;
		uint64_t at;
	} failed[FAILED_SLOTS];
	uint32_t epoch;
	uint64_t unwinds; /* every call, for least-recently-used order */
	size_t max_procs; /* UNWIND_MAX_PROCS, unless a test says otherwise */
	struct unwind_stats st;
};

/* libdwfl's find_elf callback has no argument of ours: the process whose
 * modules are being opened. */
static struct uproc *opening;

/* Where host debuginfo is looked up, by build id only. */
#define DEBUG_BUILD_ID_DIR "/usr/lib/debug/.build-id/"
/* Build ids longer than this are not believed (20 bytes in practice). */
#define BUILD_ID_MAX 64
/* Symbol names are cut to this many bytes. */
#define NAME_MAX_LEN 4096

/*
 * Address range and inode of the first mapping of `name` in the process's
 * maps (under the unwinder's proc root). 0 or -ENOENT.
 */
static int find_mapping(const struct uproc *p, const char *name, uint64_t *start, uint64_t *end,
			uint64_t *inode)
{
	unsigned long long lo, hi, ino;
	char line[PATH_MAX + 128];
	int at, err = -ENOENT;
	FILE *f;

	if (snprintf(line, sizeof(line), "%s/%d/maps", p->u->proc_root, (int)p->pid) >=
	    (int)sizeof(line))
		return -ENAMETOOLONG;
	f = fopen(line, "re");
	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llx-%llx %*s %*s %*s %llu %n", &lo, &hi, &ino, &at) != 3 ||
		    strcmp(line + at, name))
			continue;
		*start = lo;
		*end = hi;
		*inode = ino;
		err = 0;
	}
	fclose(f);
	return err;
}

/*
 * Open a file the process maps, as that process sees it, and never
 * anything else: the mapping itself (map_files), else its path under the
 * process's own root without following any link (procfs__open_in_root; on
 * kernels without openat2 only if it is the mapped inode). Never the
 * host's file at that path: a process owns its file system and could put
 * a link or a FIFO there. Files whose headers would make libelf or libdw
 * allocate without bound are refused (elf_file__check_fd). An fd
 * (path set to what it was opened as) or -errno.
 */
static int open_module(const struct uproc *p, const char *name, char *path, size_t len)
{
	uint64_t start = 0, end = 0, inode = 0;
	bool no_openat2 = false;
	struct stat st;
	int fd, err, n = 0;

	err = find_mapping(p, name, &start, &end, &inode);
	if (err)
		return err;
	fd = procfs__open_map_file(p->u->proc_root, p->pid, start, end);
	if (fd >= 0) {
		n = snprintf(path, len, "%s/%d/map_files/%" PRIx64 "-%" PRIx64, p->u->proc_root,
			     (int)p->pid, start, end);
	} else if (fd != -ENOEXEC) {
		fd = procfs__open_in_root(p->u->proc_root, p->pid, name, &no_openat2);
		if (fd >= 0 && no_openat2 && (fstat(fd, &st) || (uint64_t)st.st_ino != inode)) {
			close(fd);
			fd = -ENOEXEC;
		}
		if (fd >= 0)
			n = snprintf(path, len, "%s/%d/root%s", p->u->proc_root, (int)p->pid, name);
	}
	if (fd < 0)
		return fd;
	if (n < 0 || (size_t)n >= len) {
		close(fd);
		return -ENAMETOOLONG;
	}
	err = elf_file__check_fd(fd, UNWIND_INFLATE_MAX);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The vdso, from the agent's own: the kernel maps the same image into
 * every 64-bit process, and the target's copy is its memory to forge
 * (libdwfl would read as much of it as the forged headers say).
 */
static Elf *own_vdso(void)
{
	static char *image;
	static size_t size;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);

	if (!image && eh && !memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_shoff &&
	    eh->e_shentsize == sizeof(Elf64_Shdr) && eh->e_shnum < 256) {
		size = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
		if (size <= (1u << 20))
			image = malloc(size);
		if (image)
			memcpy(image, eh, size);
	}
	return image ? elf_memory(image, size) : NULL;
}

/* libdwfl's find_elf: open_module for files, the agent's vdso for the
 * vdso, nothing else (never a path as the host resolves it). */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	char path[PATH_MAX];
	int fd;

	(void)mod;
	(void)userdata;
	(void)base;
	*elfp = NULL;
	if (!strncmp(name, "[vdso: ", 7)) {
		*elfp = own_vdso();
		return -1;
	}
	if (!opening || name[0] != '/')
		return -1;
	fd = open_module(opening, name, path, sizeof(path));
	if (fd < 0)
		return -1;
	*file_name = strdup(path);
	return fd;
}

/*
 * libdwfl's find_debuginfo: the host's debuginfo for the module's build id,
 * DEBUG_BUILD_ID_DIR/xx/rest.debug, if it carries that very build id.
 * Nothing else: libdwfl's standard search follows the module's
 * .gnu_debuglink, a name the target chose, in the target's directories
 * (through links to host files, or into a FIFO that blocks the open
 * forever) and hashes whatever it finds there whole. The build id is hex
 * (no path can be made of it) and /usr/lib/debug is the host's own.
 * Separate DWARF of dwz (.gnu_debugaltlink) is not looked up: names come
 * from the debug file's .symtab.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	char path[sizeof(DEBUG_BUILD_ID_DIR) + 2 * BUILD_ID_MAX + 8];
	const unsigned char *bits;
	const void *found;
	GElf_Addr vaddr;
	size_t at;
	Elf *elf;
	int len, fd, n;

	(void)userdata;
	(void)modname;
	(void)base;
	(void)debuglink_file;
	(void)debuglink_crc;
	/* The second call is for a debug file's dwz file: not looked up. */
	if (file_name && !strncmp(file_name, DEBUG_BUILD_ID_DIR, strlen(DEBUG_BUILD_ID_DIR)))
		return -1;
	len = dwfl_module_build_id(mod, &bits, &vaddr);
	if (len < 2 || len > BUILD_ID_MAX)
		return -1;
	at = (size_t)snprintf(path, sizeof(path), "%s%02x/", DEBUG_BUILD_ID_DIR, bits[0]);
	for (int i = 1; i < len; i++)
		at += (size_t)snprintf(path + at, sizeof(path) - at, "%02x", bits[i]);
	snprintf(path + at, sizeof(path) - at, ".debug");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	n = elf ? (int)dwelf_elf_gnu_build_id(elf, &found) : -1;
	if (n != len || memcmp(found, bits, (size_t)len)) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -1;
	}
	elf_end(elf);
	*debuginfo_file_name = strdup(path);
	return fd;
}

static char *debuginfo_path; /* unused: find_debuginfo knows its one place */

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	struct uproc *p = dwfl_arg;

	(void)dwfl;
	if (*thread_argp || !p->cur)
		return 0;
	*thread_argp = p;
	return p->cur->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg, void **thread_argp)
{
	struct uproc *p = dwfl_arg;

	(void)dwfl;
	*thread_argp = p;
	return p->cur && p->cur->tid == tid;
}

/* Only the copied stack is readable: the unwind never touches the live process. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct uproc *p = dwfl_arg;
	const struct unwind_sample *s = p->cur;

	uint64_t base = s && s->stack_addr ? s->stack_addr : (s ? s->sp : 0);

	(void)dwfl;
	if (!s || addr < base || addr - base > s->stack_len ||
	    s->stack_len - (addr - base) < sizeof(*result))
		return false;
	memcpy(result, (const char *)s->stack + (addr - base), sizeof(*result));
	return true;
}

/* DWARF x86-64 register numbers: 6 = rbp, 7 = rsp. */
static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct uproc *p = thread_arg;
	Dwarf_Word regs[2] = {p->cur->bp, p->cur->sp};

	if (!dwfl_thread_state_registers(thread, 6, 2, regs))
		return false;
	dwfl_thread_state_register_pc(thread, p->cur->ip);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static int free_sym(const void *key, void *value, void *arg)
{
	struct usym *sym = value;

	(void)key;
	(void)arg;
	free(sym->name);
	free(sym);
	return 0;
}

static void clear_syms(struct uproc *p)
{
	hashmap__each(p->syms, free_sym, NULL);
	hashmap__free(p->syms);
	p->syms = hashmap__new(sizeof(uint64_t));
}

static void uproc_free(struct uproc *p)
{
	struct umod *m, *next;

	if (!p)
		return;
	if (p->dwfl)
		dwfl_end(p->dwfl);
	if (p->syms) {
		hashmap__each(p->syms, free_sym, NULL);
		hashmap__free(p->syms);
	}
	for (m = p->mods; m; m = next) {
		next = m->next;
		free((char *)m->m.path);
		free((char *)m->m.build_id);
		free(m);
	}
	free(p);
}

/* (Re)read the process's module list from PROC_ROOT/PID/maps: libdwfl's
 * own reader for the real /proc (it also finds the vDSO, through auxv),
 * the file itself under another root (tests, fuzzers). 0 or -errno. */
static int reload(struct uproc *p)
{
	char path[PATH_MAX];
	FILE *f;
	int err;

	p->loaded_ns = monoclock__ns();
	p->u->st.reloads++;
	dwfl_report_begin_add(p->dwfl);
	if (!strcmp(p->u->proc_root, "/proc")) {
		err = dwfl_linux_proc_report(p->dwfl, p->pid);
	} else if (snprintf(path, sizeof(path), "%s/%d/maps", p->u->proc_root, (int)p->pid) >=
		   (int)sizeof(path)) {
		err = ENAMETOOLONG;
	} else if (!(f = fopen(path, "re"))) {
		err = errno;
	} else {
		err = dwfl_linux_proc_maps_report(p->dwfl, f);
		fclose(f);
	}
	if (dwfl_report_end(p->dwfl, NULL, NULL) != 0 && !err)
		err = EINVAL;
	p->gen++; /* addresses that had no module may have one now */
	return err > 0 ? -err : (err < 0 ? -EINVAL : 0);
}

static int find_oldest(const void *key, void *value, void *arg)
{
	const struct uproc *p = value, **oldest = arg;

	(void)key;
	if (!*oldest || p->touched < (*oldest)->touched)
		*oldest = p;
	return 0;
}

/* Make room for one more session: close the least recently used one if
 * max_procs are open. */
static void evict_one(struct unwinder *u)
{
	const struct uproc *oldest = NULL;

	if (hashmap__size(u->procs) < u->max_procs)
		return;
	hashmap__each(u->procs, find_oldest, &oldest);
	if (oldest) {
		unwinder__forget(u, oldest->pid);
		u->st.evicted++;
	}
}

static struct uproc *uproc_get(struct unwinder *u, pid_t pid, int *err)
{
	int32_t key = pid;
	struct uproc *p = hashmap__get(u->procs, &key);

	if (p)
		return p;
	if (u->failed[pid % FAILED_SLOTS].pid == pid &&
	    monoclock__ns() - u->failed[pid % FAILED_SLOTS].at < RETRY_NS) {
		*err = u->failed[pid % FAILED_SLOTS].err;
		return NULL;
	}
	evict_one(u);
	p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->u = u;
	p->pid = pid;
	p->syms = hashmap__new(sizeof(uint64_t));
	p->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!p->syms || !p->dwfl) {
		*err = -ENOMEM;
		goto out_free;
	}
	opening = p;
	*err = reload(p);
	if (!*err && !dwfl_attach_state(p->dwfl, NULL, pid, &thread_callbacks, p))
		*err = -ENOEXEC;
	opening = NULL;
	if (*err)
		goto out_free;
	if (hashmap__set(u->procs, &key, p)) {
		*err = -ENOMEM;
		goto out_free;
	}
	u->st.processes++;
	return p;

out_free:
	uproc_free(p);
	u->failed[pid % FAILED_SLOTS].pid = pid;
	u->failed[pid % FAILED_SLOTS].err = *err;
	u->failed[pid % FAILED_SLOTS].at = monoclock__ns();
	return NULL;
}

struct walk {
	struct unwind_frame *out;
	size_t max, n;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation) || !pc)
		return DWARF_CB_ABORT;
	/* A caller's pc is a return address: name the call instruction. */
	w->out[w->n].pc = activation ? pc : pc - 1;
	w->out[w->n].name = NULL;
	w->out[w->n].module = NULL;
	return ++w->n < w->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

static const struct unwind_module *module_of(struct uproc *p, Dwfl_Module *mod)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	Dwarf_Addr start, end;
	const char *name = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
	struct umod *m;
	char *hex;
	int len;

	for (m = p->mods; m; m = m->next)
		if (m->m.start == start && m->m.limit == end && name && !strcmp(m->m.path, name))
			return &m->m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	len = dwfl_module_build_id(mod, &bits, &vaddr);
	if (len > BUILD_ID_MAX)
		len = 0; /* not a real one */
	hex = calloc(1, len > 0 ? 2 * (size_t)len + 1 : 1);
	m->m.path = strdup(name ? name : "?");
	if (!hex || !m->m.path) {
		free(hex);
		free((char *)m->m.path);
		free(m);
		return NULL;
	}
	for (int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	m->m.build_id = hex;
	m->m.start = start;
	m->m.limit = end;
	m->m.offset = 0;
	m->next = p->mods;
	p->mods = m;
	return &m->m;
}

/* Length of a symbol name without its version, at most NAME_MAX_LEN. */
static size_t name_len(const char *name)
{
	size_t n = strnlen(name, NAME_MAX_LEN);
	const char *at = memchr(name, '@', n);

	return at ? (size_t)(at - name) : n;
}

/* Name pc, from the cache or libdwfl. */
static void symbolize(struct uproc *p, struct unwind_frame *f)
{
	struct usym *sym = hashmap__get(p->syms, &f->pc);
	Dwfl_Module *mod;
	const char *name = NULL;
	GElf_Off off;
	GElf_Sym s;

	if (sym && !sym->mod && sym->gen != p->gen) {
		/* In no module when cached, and the list was read again since:
		 * look again (such an entry holds no name another frame uses). */
		hashmap__remove(p->syms, &f->pc);
		free_sym(NULL, sym, NULL);
		sym = NULL;
	}
	if (!sym) {
		mod = dwfl_addrmodule(p->dwfl, f->pc);
		if (!mod && monoclock__ns() - p->loaded_ns > RELOAD_MIN_NS) {
			reload(p);
			mod = dwfl_addrmodule(p->dwfl, f->pc);
		}
		if (mod)
			name = dwfl_module_addrinfo(mod, f->pc, &off, &s, NULL, NULL, NULL);
		sym = calloc(1, sizeof(*sym));
		if (!sym)
			return;
		/* "memcpy@@GLIBC_2.14": the symbol version is not part of the
		 * name; a name longer than NAME_MAX_LEN is cut there. */
		sym->name = name ? strndup(name, name_len(name)) : NULL;
		sym->mod = mod ? module_of(p, mod) : NULL;
		sym->gen = p->gen;
		if (!p->syms || hashmap__set(p->syms, &f->pc, sym)) {
			f->name = NULL;
			f->module = sym->mod;
			free_sym(NULL, sym, NULL);
			return;
		}
	}
	f->name = sym->name;
	f->module = sym->mod;
}

static int unwind_one(struct unwinder *u, const struct unwind_sample *s, struct unwind_frame *out,
		      size_t max, size_t *n)
{
	struct walk w = {.out = out, .max = max};
	/* bytes of the copy below sp */
	uint64_t below = s->stack_addr && s->stack_addr < s->sp ? s->sp - s->stack_addr : 0;
	struct uproc *p;
	int err = 0;

	*n = 0;
	if (!max)
		return 0;
	p = uproc_get(u, s->pid, &err);
	if (!p)
		return err;
	p->last_used = u->epoch;
	p->touched = ++u->unwinds;
	p->cur = s;
	opening = p;
	dwfl_getthread_frames(p->dwfl, s->tid, frame_cb, &w);
	if (!w.n) {
		/* No frame at all: pc outside every module known; a new one? */
		if (!dwfl_addrmodule(p->dwfl, s->ip) &&
		    monoclock__ns() - p->loaded_ns > RELOAD_MIN_NS) {
			reload(p);
			dwfl_getthread_frames(p->dwfl, s->tid, frame_cb, &w);
		}
	}
	/* Stopped at the first frame: a PLT stub or a function's first
	 * instruction, whose CFI libdwfl did not follow. There the return
	 * address is the word at sp: try from the caller, if it lies in a
	 * known object. */
	if (w.n == 1 && w.max > 1 && below < s->stack_len && s->stack_len - below >= 16) {
		struct unwind_sample caller = *s;
		uint64_t ra;

		memcpy(&ra, (const char *)s->stack + below, sizeof(ra));
		caller.ip = ra;
		caller.sp = s->sp + 8;
		caller.stack_addr = s->sp - below; /* the same copy, read from the new sp on */
		if (ra && dwfl_addrmodule(p->dwfl, ra)) {
			struct walk w2 = {.out = out + 1, .max = max - 1};

			p->cur = &caller;
			dwfl_getthread_frames(p->dwfl, s->tid, frame_cb, &w2);
			if (w2.n)
				out[1].pc = ra - 1; /* a return address, like any caller's */
			w.n += w2.n;
			p->cur = s;
		}
	}
	/* Bound the cache before naming: the names handed out for this sample
	 * must stay valid until the next call. */
	if (p->syms && hashmap__size(p->syms) + w.n > MAX_SYMS)
		clear_syms(p);
	for (size_t i = 0; i < w.n; i++)
		symbolize(p, &out[i]);
	opening = NULL;
	p->cur = NULL;
	u->st.unwinds++;
	u->st.frames += w.n;
	*n = w.n;
	return 0;
}

/*
 * libdwfl maps the files a target maps. A target that owns one (a .so of
 * its own) can truncate it while it is mapped here: the next read of a
 * page past its new end is a SIGBUS, which would kill the agent. While
 * this thread is inside libdwfl (in_libdw), such a fault (BUS_ADRERR) gets
 * a page of zeros mapped over the page it hit, and the read goes on: the
 * file reads as zeros past its end, which libdw takes as malformed CFI or
 * symbols (both fuzzed). Any other SIGBUS goes to the handler there was
 * before (by default: the process dies, as it would have).
 */
static _Thread_local volatile sig_atomic_t in_libdw;
static volatile sig_atomic_t bus_faults;
static struct sigaction bus_prev;
static long bus_page;
static unsigned bus_users; /* unwinders alive: the handler is installed while > 0 */

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	if (in_libdw && si->si_code == BUS_ADRERR && bus_page > 0) {
		uintptr_t page = (uintptr_t)si->si_addr & ~((uintptr_t)bus_page - 1);

		if (mmap((void *)page, (size_t)bus_page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
			bus_faults++;
			return;
		}
	}
	/* Not ours: the fault happens again under the previous handler. */
	sigaction(SIGBUS, &bus_prev, NULL);
}

static void bus_guard_hold(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};

	if (bus_users++)
		return;
	bus_page = sysconf(_SC_PAGESIZE);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &bus_prev);
}

static void bus_guard_release(void)
{
	if (bus_users && !--bus_users)
		sigaction(SIGBUS, &bus_prev, NULL);
}

int unwinder__unwind(struct unwinder *u, const struct unwind_sample *s, struct unwind_frame *out,
		     size_t max, size_t *n)
{
	int err;

	in_libdw = 1;
	err = unwind_one(u, s, out, max, n);
	in_libdw = 0;
	return err;
}

struct unwinder *unwinder__new(const char *proc_root)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	/* Debuginfo comes from the local disk only: never let libdw fetch
	 * it over the network (debuginfod) in the middle of a sample. */
	unsetenv("DEBUGINFOD_URLS");
	snprintf(u->proc_root, sizeof(u->proc_root), "%s", proc_root);
	u->max_procs = UNWIND_MAX_PROCS;
	u->procs = hashmap__new(sizeof(int32_t));
	if (!u->procs) {
		free(u);
		return NULL;
	}
	bus_guard_hold();
	return u;
}

static int free_proc(const void *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	uproc_free(value);
	return 0;
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	hashmap__each(u->procs, free_proc, NULL);
	hashmap__free(u->procs);
	free(u);
	bus_guard_release();
}

void unwinder__forget(struct unwinder *u, pid_t pid)
{
	int32_t key = pid;
	struct uproc *p = hashmap__remove(u->procs, &key);

	if (p) {
		uproc_free(p);
		u->st.processes--;
	}
}

struct idle {
	struct unwinder *u;
	uint32_t max_idle;
	int32_t pids[64];
	size_t n;
};

static int find_idle(const void *key, void *value, void *arg)
{
	struct idle *c = arg;
	struct uproc *p = value;

	if (c->u->epoch - p->last_used > c->max_idle) {
		memcpy(&c->pids[c->n++], key, sizeof(int32_t));
		if (c->n == sizeof(c->pids) / sizeof(c->pids[0]))
			return 1;
	}
	return 0;
}

void unwinder__prune(struct unwinder *u, uint32_t max_idle)
{
	struct idle c = {.u = u, .max_idle = max_idle};
	int more;

	u->epoch++;
	do {
		c.n = 0;
		more = hashmap__each(u->procs, find_idle, &c);
		for (size_t i = 0; i < c.n; i++)
			unwinder__forget(u, c.pids[i]);
	} while (more);
}

static int count_syms(const void *key, void *value, void *arg)
{
	const struct uproc *p = value;

	(void)key;
	*(uint64_t *)arg += p->syms ? hashmap__size(p->syms) : 0;
	return 0;
}

void unwinder__set_max_procs(struct unwinder *u, size_t n)
{
	u->max_procs = n ? n : 1;
}

void unwinder__stats(const struct unwinder *u, struct unwind_stats *st)
{
	*st = u->st;
	st->bus_faults = (uint64_t)bus_faults;
	st->symbols = 0;
	hashmap__each(u->procs, count_syms, &st->symbols);
}

void unwind__unknown_name(const struct unwind_frame *f, char *buf, size_t len)
{
	const char *base;

	if (!f->module) {
		snprintf(buf, len, "[unknown+0x%llx]", (unsigned long long)f->pc);
		return;
	}
	base = strrchr(f->module->path, '/');
	base = base ? base + 1 : f->module->path;
	snprintf(buf, len, "[%s+0x%llx]", base,
		 (unsigned long long)(f->pc - f->module->start + f->module->offset));
}
