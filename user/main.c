// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pybpf-prof: the command line. The only place that prints or decides exit
 * codes; everything else is in the library modules.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "config.h"
#include "counters.h"
#include "dither.h"
#include "dump.h"
#include "launch.h"
#include "outdir.h"
#include "outfile.h"
#include "pprofread.h"
#include "procfs.h"
#include "profile.h"
#include "pyoffsets.h"
#include "push.h"
#include "session.h"
#include "topview.h"
#include "writer.h"

/* Open files the agent raises its soft limit to, at most. */
#define NOFILE_MAX 65536

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static volatile sig_atomic_t stop_signal;
static int verbosity;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die_msg(const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr); /* one line, even with the pusher's thread logging */
	fputs("pybpf-prof: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void session_log(void *ctx, enum session_log_level level, const char *fmt, va_list ap)
{
	(void)ctx;
	if ((int)level > verbosity)
		return;
	flockfile(stderr);
	fputs("pybpf-prof: ", stderr);
	vfprintf(stderr, fmt, ap);
	funlockfile(stderr);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (verbosity < 2 && level != LIBBPF_WARN)
		return 0;
	if (verbosity < 1)
		return 0; /* load failures are reported by us, in one line */
	return vfprintf(stderr, fmt, ap);
}

/* Effective capabilities of this process: 0 when it has what BPF profiling
 * needs, else the name of what is missing. */
static const char *missing_capability(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {};
	__u64 eff;

	if (syscall(SYS_capget, &hdr, data))
		return "CAP_BPF and CAP_PERFMON";
	eff = ((__u64)data[1].effective << 32) | data[0].effective;
	if (eff & (1ull << CAP_SYS_ADMIN))
		return NULL;
	if (!(eff & (1ull << CAP_BPF)) && !(eff & (1ull << CAP_PERFMON)))
		return "CAP_BPF and CAP_PERFMON";
	if (!(eff & (1ull << CAP_BPF)))
		return "CAP_BPF";
	if (!(eff & (1ull << CAP_PERFMON)))
		return "CAP_PERFMON";
	return NULL;
}

static int output_error(const char *path, int err)
{
	switch (err) {
	case -EEXIST:
		die_msg("output %s exists (use --force to overwrite)", path);
		break;
	case -ENOENT:
		die_msg("output %s: directory does not exist", path);
		break;
	case -EISDIR:
		die_msg("output %s is a directory", path);
		break;
	default:
		die_msg("output %s is not writable: %s", path, strerror(-err));
	}
	return EXIT_OUTPUT;
}

static int write_profile(const struct profile *p, const char *path, const struct writer_opts *wo,
			 bool overwrite)
{
	struct outfile *f = outfile__open(path, overwrite);
	int err;

	if (!f)
		return -errno;
	err = writer__write(wo, p, outfile__fd(f));
	if (err) {
		outfile__abort(f);
		return err;
	}
	return outfile__commit(f);
}

/* Write the profile; if the requested path fails at the end of a run, save
 * it next to the system's temporary files rather than lose it. */
static int save(const struct config *cfg, const struct profile *p)
{
	char fallback[256];
	const char *tmp = getenv("TMPDIR");
	int err = write_profile(p, cfg->output, &cfg->write, cfg->force);

	if (!err)
		return EXIT_OK;
	output_error(cfg->output, err);
	snprintf(fallback, sizeof(fallback), "%s/pybpf-prof-%d%s", tmp && *tmp ? tmp : "/tmp",
		 (int)getpid(), writer__suffix(cfg->format));
	if (!write_profile(p, fallback, &cfg->write, false))
		die_msg("profile saved to %s instead", fallback);
	return EXIT_OUTPUT;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One line on the Python processes that were found but not profiled. */
static void skipped_summary(const struct session_stats *st)
{
	static const char *const why[SESSION_SKIP__MAX] = {
	    [SESSION_SKIP_VERSION] = "unsupported CPython version",
	    [SESSION_SKIP_LAYOUT] = "interpreter structs not matching their version",
	    [SESSION_SKIP_OTHER] = "not readable",
	};
	size_t total = 0;
	bool first = true;

	if (st->skipped[SESSION_SKIP_UNKNOWN])
		fprintf(stderr,
			"pybpf-prof: %zu process%s could not be looked at (not known to be Python; "
			"-vv names them)\n",
			st->skipped[SESSION_SKIP_UNKNOWN],
			st->skipped[SESSION_SKIP_UNKNOWN] == 1 ? "" : "es");
	for (int i = 0; i < SESSION_SKIP_UNKNOWN; i++)
		total += st->skipped[i];
	if (!total)
		return;
	fprintf(stderr, "pybpf-prof: %zu Python process%s not profiled: ", total,
		total == 1 ? "" : "es");
	for (int i = 0; i < SESSION_SKIP_UNKNOWN; i++) {
		if (!st->skipped[i])
			continue;
		fprintf(stderr, "%s%zu %s", first ? "" : ", ", st->skipped[i], why[i]);
		first = false;
	}
	fputs(".\n", stderr);
}

static void summary(const struct config *cfg, struct session *s, double secs)
{
	struct session_stats st;
	bool any = false;

	session__stats(s, &st);
	flockfile(stderr); /* the lines below stay whole while the pusher's thread logs */
	fprintf(stderr,
		"pybpf-prof: %.1f s at %u Hz on %u CPUs: %llu samples from %zu Python "
		"process%s",
		secs, cfg->rate_hz, st.cpus, (unsigned long long)st.samples, st.processes,
		st.processes == 1 ? "" : "es");
	if (cfg->interval_s == 0) /* a daemon's profiles were already reported one by one */
		fprintf(stderr, ", %zu thread%s", st.threads, st.threads == 1 ? "" : "s");
	fprintf(stderr, " (%.1f samples/s); %llu code objects",
		secs > 0 ? (double)st.samples / secs : 0.0, (unsigned long long)st.code_objects);
	if (st.bpf_run_cnt)
		fprintf(stderr, "; BPF %.2f us/run", (double)st.bpf_run_ns / st.bpf_run_cnt / 1e3);
	fputs(". ", stderr);
	for (unsigned int i = 0; i < CNT__MAX; i++) {
		if (!counter__is_drop(i) || !st.counters[i])
			continue;
		fprintf(stderr, "%s%s=%llu", any ? ", " : "Dropped or degraded: ", counter__name(i),
			(unsigned long long)st.counters[i]);
		any = true;
	}
	if (st.lost_stacks) {
		fprintf(stderr, "%sstack_lost=%llu",
			any ? ", " : "Dropped or degraded: ", (unsigned long long)st.lost_stacks);
		any = true;
	}
	if (st.unresolved_frames) {
		fprintf(stderr, "%sunnamed_frames=%llu", any ? ", " : "Dropped or degraded: ",
			(unsigned long long)st.unresolved_frames);
		any = true;
	}
	fputs(any ? ".\n" : "No samples dropped.\n", stderr);
	if (st.counters[CNT_TICKS_MISSED])
		fprintf(
		    stderr,
		    "pybpf-prof: the kernel did not deliver %llu of %llu cpu-clock ticks (%.2f%%); "
		    "not a drop: ticks skipped on an idle CPU cost no samples, ticks skipped "
		    "on a busy one (late timers) cost the running processes that share\n",
		    (unsigned long long)st.counters[CNT_TICKS_MISSED],
		    (unsigned long long)(st.counters[CNT_TICKS_MISSED] + st.counters[CNT_SAMPLES]),
		    100.0 * (double)st.counters[CNT_TICKS_MISSED] /
			(double)(st.counters[CNT_TICKS_MISSED] + st.counters[CNT_SAMPLES]));
	skipped_summary(&st);
	if (cfg->native)
		fprintf(
		    stderr,
		    "pybpf-prof: native: %llu samples unwound, %.1f native frames per sample, "
		    "%llu addresses named in %llu processes, %llu samples not unwound, "
		    "%llu sessions closed at the cap\n",
		    (unsigned long long)st.native_samples,
		    st.native_samples ? (double)st.native_frames / st.native_samples : 0.0,
		    (unsigned long long)st.native_symbols, (unsigned long long)st.native_processes,
		    (unsigned long long)st.native_failed, (unsigned long long)st.native_evicted);
	if (cfg->native && st.native_bus_faults)
		fprintf(stderr,
			"pybpf-prof: native: %llu pages of files truncated by their processes "
			"while being read were read as zeros\n",
			(unsigned long long)st.native_bus_faults);
	if (cfg->native && cfg->mode == MODE_WALL)
		fprintf(stderr,
			"pybpf-prof: native: %zu kernel stacks kept, %llu off-CPU totals whose "
			"kernel stack was gone, %llu kernel stacks not stored "
			"(offcpu_kernel_stack_lost)\n",
			st.kstacks_kept, (unsigned long long)st.kstacks_expired,
			(unsigned long long)st.counters[CNT_KSTACK_LOST]);
	if (verbosity && st.timer_restarts)
		fprintf(stderr, "pybpf-prof: cpu-clock timers restarted %llu times at random\n",
			(unsigned long long)st.timer_restarts);
	if (verbosity) {
		fputs("pybpf-prof: counters:", stderr);
		for (unsigned int i = 0; i < CNT__MAX; i++)
			fprintf(stderr, " %s=%llu", counter__name(i),
				(unsigned long long)st.counters[i]);
		fputc('\n', stderr);
	}
	funlockfile(stderr);
}

/* -v: one line per push request, from the pusher's thread. */
static void on_push_result(void *arg, const struct push_result *r)
{
	(void)arg;
	if (!verbosity)
		return;
	if (r->outcome == PUSH_SENT)
		fprintf(stderr,
			"pybpf-prof: push %s: HTTP %ld in %.0f ms (%llu samples, %zu bytes%s)\n",
			r->service, r->status, r->latency_ms, (unsigned long long)r->samples,
			r->bytes, r->attempt > 1 ? ", after retries" : "");
	else
		fprintf(stderr, "pybpf-prof: push %s: attempt %u failed after %.0f ms: %s; %s\n",
			r->service, r->attempt, r->latency_ms, r->error,
			r->outcome == PUSH_RETRY ? "will retry" : "dropped");
}

/* The pusher of --push; NULL after saying why. */
static struct pusher *pusher_start(const struct config *cfg)
{
	struct push_opts po = {.url = cfg->push_url,
			       .headers = cfg->push_headers,
			       .nheaders = cfg->npush_headers,
			       .max_queue_bytes = 64u << 20,
			       .timeout_s = 10,
			       .sample_rate_hz = cfg->rate_hz,
			       .on_result = on_push_result};
	struct pusher *p = pusher__new(&po);

	if (!p && errno == ELIBACC)
		die_msg("cannot push: libcurl (libcurl.so.4) is not installed; install it "
			"(Debian: libcurl4) or leave out --push");
	else if (!p)
		die_msg("cannot start pushing to %s: %s", cfg->push_url, strerror(errno));
	return p;
}

/* Stop pushing (drain for at most drain_s) and say what was delivered. */
static void push_finish(struct pusher *p, unsigned int drain_s)
{
	struct push_stats ps;

	if (!p)
		return;
	pusher__stop(p, drain_s);
	pusher__stats(p, &ps);
	fprintf(stderr,
		"pybpf-prof: pushed %llu profile%s (%llu samples, %llu bytes); %llu failed "
		"attempt%s, %llu dropped, %llu unsent%s%s\n",
		(unsigned long long)ps.sent, ps.sent == 1 ? "" : "s",
		(unsigned long long)ps.sent_samples, (unsigned long long)ps.sent_bytes,
		(unsigned long long)ps.failed, ps.failed == 1 ? "" : "s",
		(unsigned long long)ps.dropped, (unsigned long long)ps.queued,
		ps.last_error[0] ? "; last error: " : "", ps.last_error);
	pusher__free(p, 0);
}

static void host_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1))
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
}

/* One-shot mode with --push: send the profile, wait for the answers. */
static int push_once(const struct config *cfg, const struct profile *p)
{
	struct pusher *pusher;
	char host[256];

	host_name(host, sizeof(host));
	pusher = pusher_start(cfg);
	if (!pusher)
		return EXIT_FAILURE_INTERNAL;
	if (pusher__push(pusher, p, host, profile__meta(p)->time_ns,
			 profile__meta(p)->time_ns + profile__meta(p)->duration_ns))
		die_msg("out of memory queueing the push");
	push_finish(pusher, 30);
	return EXIT_OK;
}

/* Resident set size of this process, bytes. */
static uint64_t self_rss(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct daemon {
	const struct config *cfg;
	struct session *session;
	struct outdir *outdir;
	struct pusher *pusher;
	char host[256];
	unsigned long interval;
	__u64 prev[CNT__MAX];
	double prev_cpu_s;
	struct timespec prev_t;
	/* The newest interval that could not be written (full or missing
	 * directory), retried before each later one; one at most. */
	struct profile *unwritten;
	unsigned long unwritten_interval;
};

/* Try again to write the interval kept by emit_interval. */
static void retry_unwritten(struct daemon *d)
{
	char path[4096] = "";
	int err;

	if (!d->unwritten)
		return;
	err = outdir__write(d->outdir, d->unwritten, profile__meta(d->unwritten)->time_ns, path,
			    sizeof(path));
	if (err)
		return;
	fprintf(stderr, "pybpf-prof: interval %lu: written late, %s\n", d->unwritten_interval,
		path);
	profile__free(d->unwritten);
	d->unwritten = NULL;
}

/* One line per interval: what was collected, what it cost, where it went. */
static void report_interval(struct daemon *d, const struct profile *p, const char *path, int werr)
{
	struct session_stats st;
	struct timespec now;
	double cpu = self_cpu_s(), wall;
	bool any = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	wall = (double)(now.tv_sec - d->prev_t.tv_sec) +
	       (double)(now.tv_nsec - d->prev_t.tv_nsec) / 1e9;
	session__stats(d->session, &st);
	flockfile(stderr); /* one line, even with the pusher's thread logging */
	fprintf(stderr,
		"pybpf-prof: interval %lu: %llu samples, %zu threads, %zu processes profiled so "
		"far; agent CPU %.2f%% of a core, RSS %.1f MiB",
		d->interval, (unsigned long long)profile__total_count(p), profile__thread_count(p),
		st.processes, wall > 0 ? 100.0 * (cpu - d->prev_cpu_s) / wall : 0.0,
		(double)self_rss() / (1 << 20));
	for (unsigned int i = 0; i < CNT__MAX; i++) {
		if (!counter__is_drop(i) || st.counters[i] == d->prev[i])
			continue;
		fprintf(stderr, "%s%s=%llu", any ? ", " : "; dropped: ", counter__name(i),
			(unsigned long long)(st.counters[i] - d->prev[i]));
		any = true;
	}
	if (path && !werr)
		fprintf(stderr, "; wrote %s", path);
	else if (d->outdir)
		fprintf(stderr, "; NOT written (%s), will retry next interval", strerror(-werr));
	if (d->pusher) {
		struct push_stats ps;

		pusher__stats(d->pusher, &ps);
		fprintf(stderr, "; push: %llu sent, %llu queued, %llu dropped%s%s",
			(unsigned long long)ps.sent, (unsigned long long)ps.queued,
			(unsigned long long)ps.dropped, ps.last_error[0] ? ", last error: " : "",
			ps.last_error);
	}
	fputc('\n', stderr);
	funlockfile(stderr);
	memcpy(d->prev, st.counters, sizeof(d->prev));
	d->prev_cpu_s = cpu;
	d->prev_t = now;
}

/* End the interval: write and/or queue its profile. */
static void emit_interval(struct daemon *d)
{
	struct profile *p = NULL;
	char path[4096] = "";
	int err = session__rotate(d->session, &p);

	if (err && !p) {
		die_msg("interval %lu: %s; its samples carry over to the next", d->interval,
			strerror(-err));
		return;
	}
	d->interval++;
	if (d->outdir) {
		retry_unwritten(d);
		err = outdir__write(d->outdir, p, profile__meta(p)->time_ns, path, sizeof(path));
	}
	if (d->pusher && pusher__push(d->pusher, p, d->host, profile__meta(p)->time_ns,
				      profile__meta(p)->time_ns + profile__meta(p)->duration_ns))
		die_msg("interval %lu: out of memory queueing the push", d->interval);
	report_interval(d, p, d->outdir ? path : NULL, d->outdir ? err : 0);
	if (d->outdir && err) {
		/* Kept for the next interval's write; an older one still waiting
		 * gives way (memory stays bounded). */
		if (d->unwritten)
			die_msg("interval %lu: not written, dropped for the newer interval %lu",
				d->unwritten_interval, d->interval);
		profile__free(d->unwritten);
		d->unwritten = p;
		d->unwritten_interval = d->interval;
		p = NULL;
	}
	profile__free(p);
	/* Give the pages of this interval's peak back to the kernel: RSS then
	 * follows what the agent holds, not the largest interval it ever had. */
	malloc_trim(0);
}

/* Always-on mode: a profile per interval until a signal (or --duration). */
static int run_daemon(const struct config *cfg, struct session *s, const struct timespec *t0)
{
	struct outdir_opts oo = {.dir = cfg->output_dir,
				 .max_files = cfg->max_files,
				 .max_bytes = cfg->max_bytes,
				 .write = &cfg->write};
	struct daemon d = {.cfg = cfg, .session = s};
	double next = cfg->interval_s;
	int rc = EXIT_OK;

	host_name(d.host, sizeof(d.host));
	oo.host = d.host;
	if (cfg->output_dir) {
		d.outdir = outdir__new(&oo);
		if (!d.outdir) {
			die_msg("out of memory");
			return EXIT_FAILURE_INTERNAL;
		}
		if (access(cfg->output_dir, W_OK | X_OK))
			die_msg("warning: %s is not writable now (%s); will retry every interval",
				cfg->output_dir, strerror(errno));
	}
	if (cfg->push_url) {
		d.pusher = pusher_start(cfg);
		if (!d.pusher) {
			rc = EXIT_FAILURE_INTERNAL;
			goto out;
		}
	}
	d.prev_cpu_s = self_cpu_s();
	d.prev_t = *t0;
	while (!stop_signal) {
		double t = elapsed_s(t0);
		double until = next - t;
		int err;

		if (cfg->duration_s > 0 && t >= cfg->duration_s)
			break;
		if (until <= 0) {
			emit_interval(&d);
			/* Fell behind (suspended, overloaded): restart the schedule. */
			next = next + cfg->interval_s > t ? next + cfg->interval_s
							  : t + cfg->interval_s;
			continue;
		}
		err = session__step(s, until > 0.1 ? 100 : (int)(until * 1000) + 1);
		if (err)
			die_msg("sampling: %s", strerror(-err));
	}
	/* The partial last interval is written too, and one left unwritten. */
	emit_interval(&d);
	if (d.outdir)
		retry_unwritten(&d);
	if (d.unwritten)
		die_msg("interval %lu: could not be written before exit", d.unwritten_interval);
	profile__free(d.unwritten);
out:
	push_finish(d.pusher, 5);
	outdir__free(d.outdir);
	return rc;
}

/* One line and the exit code for a --pid that cannot be a target. */
static int target_error(pid_t pid, int err, const struct pyinfo *info)
{
	char v[32];

	switch (err) {
	case 0:
		return EXIT_OK;
	case -ESRCH:
		die_msg("pid %d: no such process", (int)pid);
		return EXIT_PID_NOT_FOUND;
	case -ENOEXEC:
		die_msg("pid %d is not a CPython process", (int)pid);
		return EXIT_NOT_PYTHON;
	case -ENOTSUP:
		die_msg("pid %d runs Python %s, which is not supported: this pybpf-prof "
			"reads CPython 3.8 to 3.%u",
			(int)pid, pyinfo__version_str(info, v, sizeof(v)),
			pyoffsets__newest_minor());
		return EXIT_UNSUPPORTED_PYTHON;
	case -EPROTO:
		die_msg("pid %d runs Python %s, whose interpreter structs do not match the "
			"layout this pybpf-prof knows%s; not profiled",
			(int)pid, pyinfo__version_str(info, v, sizeof(v)),
			info->minor > pyoffsets__newest_minor() ? " (newer than this build)" : "");
		return EXIT_UNSUPPORTED_PYTHON;
	default:
		die_msg("pid %d: cannot inspect: %s", (int)pid, strerror(-err));
		return err == -EACCES || err == -EPERM ? EXIT_NO_PRIVILEGE : EXIT_FAILURE_INTERNAL;
	}
}

static int add_pids(const struct config *cfg, struct session *s)
{
	for (size_t i = 0; i < cfg->npids; i++) {
		struct pyinfo info;
		int rc =
		    target_error(cfg->pids[i], session__add_pid(s, cfg->pids[i], &info), &info);

		if (rc)
			return rc;
	}
	return EXIT_OK;
}

/* ---- dump --------------------------------------------------------------- */

struct dump_list {
	const struct config *cfg;
	struct dump_proc **v;
	size_t n, cap;
	int rc; /* first error's exit code */
};

static int dump_one(pid_t pid, void *arg)
{
	struct dump_list *l = arg;
	struct dump_opts opts = {.locals = l->cfg->locals};
	struct dump_proc *d;
	struct pyinfo info;

	if (pid == getpid())
		return 0;
	memset(&info, 0, sizeof(info));
	d = dump__take("/proc", pid, &opts, &info);
	if (!d) {
		int err = -errno;

		/* --all-pythons: whatever is not a Python we can read is skipped
		 * (said with -v). */
		if (l->cfg->all_pythons && err != -ENOMEM) {
			if (verbosity && err != -ENOEXEC && err != -ESRCH)
				die_msg("skipping pid %d: %s", (int)pid, strerror(-err));
			return 0;
		}
		if (err == -ENOMEM)
			return err;
		if (!l->rc || !l->cfg->all_pythons) {
			int rc = target_error(pid, err, &info);

			if (!l->rc)
				l->rc = rc;
		}
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct dump_proc **v = reallocarray(l->v, cap, sizeof(*v));

		if (!v) {
			dump__free(d);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = d;
	return 0;
}

static int run_dump(const struct config *cfg)
{
	struct dump_list l = {.cfg = cfg};
	int err = 0;

	if (cfg->all_pythons)
		err = procfs__pids("/proc", dump_one, &l);
	for (size_t i = 0; !err && i < cfg->npids; i++)
		err = dump_one(cfg->pids[i], &l);
	if (err) {
		die_msg("dump: %s", strerror(-err));
		l.rc = EXIT_FAILURE_INTERNAL;
	} else if (cfg->json) {
		dump__write_json(stdout, (const struct dump_proc *const *)l.v, l.n);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			if (i)
				fputc('\n', stdout);
			dump__write_text(stdout, l.v[i]);
		}
	}
	if (cfg->all_pythons && !l.n && !err)
		die_msg("no CPython process found");
	if (fflush(stdout) && !l.rc)
		l.rc = EXIT_OUTPUT;
	for (size_t i = 0; i < l.n; i++)
		dump__free(l.v[i]);
	free(l.v);
	return l.rc;
}

/* Privileges and kernel support for sampling: 0 or the exit code (said). */
static int can_sample(void)
{
	const char *cap = missing_capability();

	if (cap) {
		die_msg("not privileged: %s required (run as root or grant them)", cap);
		return EXIT_NO_PRIVILEGE;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		die_msg("kernel has no BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF=y is "
			"required");
		return EXIT_NO_BTF;
	}
	return EXIT_OK;
}

/* Load the BPF side: 0 or the exit code (said). */
static int open_session(const struct session_opts *opts, struct session **out)
{
	int err;

	libbpf_set_print(libbpf_log);
	*out = session__new(opts);
	if (*out)
		return EXIT_OK;
	err = errno;
	if (err == EPERM || err == EACCES) {
		die_msg("not privileged: loading BPF was refused (%s); CAP_BPF and "
			"CAP_PERFMON are required",
			strerror(err));
		return EXIT_NO_PRIVILEGE;
	}
	die_msg("cannot load the BPF program: %s (run with -vv for the verifier log)",
		strerror(err));
	return EXIT_FAILURE_INTERNAL;
}

/*
 * The soft limit on open files up to the hard one (at most NOFILE_MAX): a
 * systemd service starts with 1024, and --native holds the open files of
 * every profiled process's modules (UNWIND_MAX_PROCS sessions of 3-5 fds);
 * running out would also fail the next profile's write.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_MAX ? NOFILE_MAX : rl.rlim_max;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want; /* the hard limit is left as it is */
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int run(const struct config *cfg)
{
	struct session_opts opts = {
	    .rate_hz = cfg->rate_hz,
	    .all_pythons = cfg->all_pythons,
	    .native = cfg->native,
	    .kernel_stacks = cfg->kernel_stacks,
	    .subprocesses = cfg->subprocesses || cfg->program,
	    .wall = cfg->mode == MODE_WALL,
	    .gil_only = cfg->gil_only,
	    .dither_ticks = cfg->fixed_phase ? 0 : DITHER_MEAN_TICKS,
	    .proc_root = "/proc",
	    .log = session_log,
	};
	struct sigaction sa = {.sa_handler = on_signal};
	struct launch prog = {.pid = 0, .go_fd = -1};
	int forwarded = 0;
	struct timespec t0;
	struct session *s;
	int rc, err;

	if (cfg->program) {
		err = launch__check(cfg->program[0]);
		if (err == -ENOENT) {
			die_msg("%s: command not found", cfg->program[0]);
			return EXIT_PROGRAM_NOT_FOUND;
		}
		if (err) {
			die_msg("%s: not executable", cfg->program[0]);
			return EXIT_PROGRAM_NOT_EXECUTABLE;
		}
	}
	rc = can_sample();
	if (rc)
		return rc;
	if (cfg->interval_s == 0) {
		err = outfile__check(cfg->output, cfg->force);
		if (err)
			return output_error(cfg->output, err);
	}
	rc = open_session(&opts, &s);
	if (rc)
		return rc;
	rc = add_pids(cfg, s);
	if (rc)
		goto out;
	if (cfg->program) {
		/* Held before its exec: it and its descendants are profiled from
		 * their exec on, as children of this process's tree. */
		err = launch__start(&prog, cfg->program);
		if (!err)
			err = session__add_root(s, getpid());
		if (err) {
			die_msg("cannot start %s: %s", cfg->program[0], strerror(-err));
			rc = EXIT_FAILURE_INTERNAL;
			goto out;
		}
	}

	raise_nofile(); /* after the launched program forked: it keeps its own */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = session__start(s);
	if (err) {
		die_msg("cannot start sampling: %s", strerror(-err));
		rc = err == -EACCES || err == -EPERM ? EXIT_NO_PRIVILEGE : EXIT_FAILURE_INTERNAL;
		goto out;
	}
	if (cfg->program && launch__release(&prog)) {
		die_msg("cannot start %s", cfg->program[0]);
		rc = EXIT_FAILURE_INTERNAL;
		goto out;
	}
	if (verbosity)
		fprintf(stderr, "pybpf-prof: sampling at %u Hz%s\n", cfg->rate_hz,
			cfg->duration_s > 0 ? "" : "; Ctrl-C to stop");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cfg->interval_s > 0) {
		rc = run_daemon(cfg, s, &t0);
		summary(cfg, s, elapsed_s(&t0));
		goto out;
	}
	for (;;) {
		double left = cfg->duration_s > 0 ? cfg->duration_s - elapsed_s(&t0) : 0.1;
		int timeout = left > 0.1 ? 100 : (int)(left * 1000);

		if (stop_signal && cfg->program && !forwarded) {
			/* The program decides when the run ends: pass the signal on
			 * (a second one stops at once). */
			forwarded = stop_signal;
			stop_signal = 0;
			launch__signal(&prog, forwarded);
		}
		if (stop_signal || left <= 0)
			break;
		err = session__step(s, timeout);
		if (err) {
			die_msg("sampling failed: %s; writing what was collected", strerror(-err));
			break;
		}
		if (cfg->program) {
			if (launch__poll(&prog))
				break;
			continue;
		}
		if (session__targets_gone(s)) {
			if (verbosity)
				fprintf(stderr, "pybpf-prof: every target has exited\n");
			break;
		}
	}
	err = session__finish(s);
	if (err)
		die_msg("collecting the last samples failed: %s", strerror(-err));
	rc = save(cfg, session__profile(s));
	summary(cfg, s, elapsed_s(&t0));
	if (!rc)
		fprintf(stderr, "pybpf-prof: wrote %s\n", cfg->output);
	if (cfg->push_url) {
		int prc = push_once(cfg, session__profile(s));

		rc = rc ? rc : prc;
	}
	if (cfg->program && prog.exited) {
		fprintf(stderr, "pybpf-prof: %s exited with code %d\n", cfg->program[0],
			launch__exit_code(&prog));
		if (!rc)
			rc = launch__exit_code(&prog);
	}
out:
	launch__abort(&prog);
	session__free(s);
	return rc;
}

/* `convert IN`: a saved pprof in another format. Unreadable input exits 2
 * and writes nothing; "-o -" or no -o writes to standard output, IN "-"
 * reads standard input. */
static int convert(const struct config *cfg)
{
	struct profile *p = NULL;
	char why[256];
	int err, rc = EXIT_OK;

	err = pprofread__file(strcmp(cfg->input, "-") ? cfg->input : "/dev/stdin", &p, why,
			      sizeof(why));
	if (err == -ENOMEM) {
		die_msg("%s: out of memory", cfg->input);
		return EXIT_FAILURE_INTERNAL;
	}
	if (err) {
		die_msg("%s: %s", cfg->input, why[0] ? why : strerror(-err));
		return EXIT_USAGE;
	}
	if (!cfg->output || strcmp(cfg->output, "-") == 0) {
		err = writer__write(&cfg->write, p, STDOUT_FILENO);
		if (err) {
			die_msg("writing to standard output: %s", strerror(-err));
			rc = EXIT_OUTPUT;
		}
	} else {
		err = write_profile(p, cfg->output, &cfg->write, cfg->force);
		if (err)
			rc = output_error(cfg->output, err);
	}
	profile__free(p);
	return rc;
}

/* ---- top ---------------------------------------------------------------- */

static struct termios top_saved_tty;
static bool top_tty_raw;
static volatile sig_atomic_t top_resized;

static void top_on_winch(int sig)
{
	(void)sig;
	top_resized = 1;
}

/* Leave the full screen and give the terminal back as it was. Safe to call
 * twice (also from atexit). */
static void top_restore_terminal(void)
{
	if (!top_tty_raw)
		return;
	top_tty_raw = false;
	fputs("\x1b[?25h\x1b[?1049l", stdout);
	fflush(stdout);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved_tty);
}

static int top_raw_terminal(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &top_saved_tty))
		return -errno;
	raw = top_saved_tty;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw))
		return -errno;
	top_tty_raw = true;
	atexit(top_restore_terminal);
	fputs("\x1b[?1049h\x1b[?25l\x1b[2J", stdout); /* alternate screen, no cursor */
	return 0;
}

static void top_size(struct topview_opts *o)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		o->rows = ws.ws_row;
		o->cols = ws.ws_col;
	} else {
		o->rows = 24;
		o->cols = 80;
	}
}

struct top_state {
	struct topview_opts o;
	char filter[64];
	char typing[64];
	bool prompting;
	bool quit;
};

/* One key; true when the screen should be drawn again now. */
static bool top_key(struct top_state *t, char c)
{
	size_t n = strlen(t->typing);

	if (t->prompting) {
		if (c == '\r' || c == '\n') {
			memcpy(t->filter, t->typing, sizeof(t->filter));
			t->prompting = false;
		} else if (c == 27) {
			t->prompting = false; /* Esc: keep the old filter */
		} else if ((c == 127 || c == 8) && n) {
			t->typing[n - 1] = '\0';
		} else if (c >= 32 && c < 127 && n + 1 < sizeof(t->typing)) {
			t->typing[n] = c;
			t->typing[n + 1] = '\0';
		}
		return true;
	}
	switch (c) {
	case 'q':
	case 'Q':
		t->quit = true;
		return false;
	case 'o':
		t->o.sort = TOPVIEW_SORT_OWN;
		return true;
	case 't':
		t->o.sort = TOPVIEW_SORT_TOTAL;
		return true;
	case 'a':
	case 'l':
		t->o.since_start = !t->o.since_start;
		return true;
	case 'p':
	case ' ':
		t->o.paused = !t->o.paused;
		return true;
	case 'f':
	case '/':
		t->prompting = true;
		t->typing[0] = '\0';
		return true;
	default:
		return false;
	}
}

static void top_draw(struct top_state *t, const struct topview *tv, const struct topview_status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	t->o.filter = t->filter;
	t->o.prompt = t->prompting ? t->typing : NULL;
	topview__render(tv, &t->o, st, f);
	if (!t->o.ansi)
		fputc('\n', f);
	fclose(f);
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
	free(buf);
}

static int run_top(const struct config *cfg)
{
	struct session_opts opts = {
	    .rate_hz = cfg->rate_hz,
	    .all_pythons = cfg->all_pythons,
	    .subprocesses = cfg->subprocesses,
	    .native = cfg->native,
	    .dither_ticks = cfg->fixed_phase ? 0 : DITHER_MEAN_TICKS,
	    .proc_root = "/proc",
	    .log = session_log,
	};
	struct sigaction sa = {.sa_handler = on_signal}, sw = {.sa_handler = top_on_winch};
	struct top_state t = {.o = {.sort = TOPVIEW_SORT_OWN}};
	struct topview_status st = {.mode = "cpu"};
	struct timespec t0;
	double prev_at = 0, next_at = 0.5;
	__u64 prev_drops = 0;
	struct topview *tv;
	struct session *s;
	int rc, err;

	rc = can_sample();
	if (rc)
		return rc;
	t.o.ansi = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	top_size(&t.o);
	if (!t.o.ansi)
		t.o.rows = 20; /* plain text: the 20 hottest each second */
	rc = open_session(&opts, &s);
	if (rc)
		return rc;
	tv = topview__new();
	if (!tv) {
		die_msg("out of memory");
		rc = EXIT_FAILURE_INTERNAL;
		goto out;
	}
	rc = add_pids(cfg, s);
	if (rc)
		goto out;
	raise_nofile();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&sw.sa_mask);
	sigaction(SIGWINCH, &sw, NULL);
	err = session__start(s);
	if (err) {
		die_msg("cannot start sampling: %s", strerror(-err));
		rc = err == -EACCES || err == -EPERM ? EXIT_NO_PRIVILEGE : EXIT_FAILURE_INTERNAL;
		goto out;
	}
	if (t.o.ansi && top_raw_terminal()) {
		t.o.ansi = false;
		t.o.rows = 20;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A first screen at once, the first numbers after half a second, then
	 * every second. */
	top_draw(&t, tv, &st);
	while (!stop_signal && !t.quit) {
		bool redraw = false;
		char keys[32];
		ssize_t nk;

		if (cfg->duration_s > 0 && elapsed_s(&t0) >= cfg->duration_s)
			break;
		err = session__step(s, 50);
		if (err) {
			die_msg("sampling failed: %s", strerror(-err));
			rc = EXIT_FAILURE_INTERNAL;
			break;
		}
		if (t.o.ansi) {
			while ((nk = read(STDIN_FILENO, keys, sizeof(keys))) > 0)
				for (ssize_t i = 0; i < nk; i++)
					redraw |= top_key(&t, keys[i]);
		}
		if (top_resized) {
			top_resized = 0;
			top_size(&t.o);
			fputs("\x1b[2J", stdout);
			redraw = true;
		}
		if (elapsed_s(&t0) >= next_at) {
			struct session_stats ss;
			struct profile *p = NULL;
			double secs = elapsed_s(&t0) - prev_at;
			__u64 drops = 0;
			time_t now = time(NULL);
			struct tm tm;
			char clock_buf[16];

			prev_at = elapsed_s(&t0);
			next_at = prev_at + 1.0;
			err = session__rotate(s, &p);
			if (p) {
				if (!t.o.paused && topview__add(tv, p, secs))
					die_msg("out of memory");
				st.samples_per_s = (double)profile__total_count(p) / secs;
				profile__free(p);
			}
			session__stats(s, &ss);
			for (unsigned int i = 0; i < CNT__MAX; i++)
				if (counter__is_drop(i))
					drops += ss.counters[i];
			st.drops = drops - prev_drops;
			prev_drops = drops;
			st.processes = ss.processes_alive;
			localtime_r(&now, &tm);
			strftime(clock_buf, sizeof(clock_buf), "%H:%M:%S", &tm);
			st.clock = clock_buf;
			redraw = !t.o.paused;
		}
		if (redraw)
			top_draw(&t, tv, &st);
	}
out:
	top_restore_terminal();
	topview__free(tv);
	session__free(s);
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[256];

	if (config__parse(&cfg, argc, argv, err, sizeof(err))) {
		die_msg("%s (see --help)", err);
		return EXIT_USAGE;
	}
	if (cfg.help) {
		fputs(config__usage(cfg.command), stdout);
		return EXIT_OK;
	}
	if (cfg.version) {
		printf("pybpf-prof %s\n", PYBPF_VERSION);
		return EXIT_OK;
	}
	verbosity = cfg.verbose;
	switch (cfg.command) {
	case CMD_CONVERT:
		return convert(&cfg);
	case CMD_DUMP:
		return run_dump(&cfg);
	case CMD_TOP:
		return run_top(&cfg);
	case CMD_RECORD:
	default:
		return run(&cfg);
	}
}
