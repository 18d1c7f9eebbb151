// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pybpf-prof: the command line. The only place that prints or decides exit
 * codes; everything else is in the library modules.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "config.h"
#include "counters.h"
#include "folded.h"
#include "outfile.h"
#include "pprof.h"
#include "profile.h"
#include "session.h"

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

	fputs("pybpf-prof: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void session_log(void *ctx, enum session_log_level level, const char *fmt, va_list ap)
{
	(void)ctx;
	if ((int)level > verbosity)
		return;
	fputs("pybpf-prof: ", stderr);
	vfprintf(stderr, fmt, ap);
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

static int write_profile(const struct profile *p, const char *path, enum output_format fmt,
			 bool overwrite)
{
	struct outfile *f = outfile__open(path, overwrite);
	int err;

	if (!f)
		return -errno;
	err = fmt == FORMAT_FOLDED ? folded__write(p, outfile__fd(f))
				   : pprof__write_gz(p, outfile__fd(f));
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
	int err = write_profile(p, cfg->output, cfg->format, cfg->force);

	if (!err)
		return EXIT_OK;
	output_error(cfg->output, err);
	snprintf(fallback, sizeof(fallback), "%s/pybpf-prof-%d.%s", tmp && *tmp ? tmp : "/tmp",
		 (int)getpid(), cfg->format == FORMAT_FOLDED ? "folded" : "pb.gz");
	if (!write_profile(p, fallback, cfg->format, false))
		die_msg("profile saved to %s instead", fallback);
	return EXIT_OUTPUT;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void summary(const struct config *cfg, struct session *s, double secs)
{
	struct session_stats st;
	bool any = false;

	session__stats(s, &st);
	fprintf(stderr,
		"pybpf-prof: %.1f s at %u Hz on %u CPUs: %llu samples from %zu Python "
		"process%s, %zu thread%s (%.1f samples/s); %llu code objects",
		secs, cfg->rate_hz, st.cpus, (unsigned long long)st.samples, st.processes,
		st.processes == 1 ? "" : "es", st.threads, st.threads == 1 ? "" : "s",
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
	if (verbosity) {
		fputs("pybpf-prof: counters:", stderr);
		for (unsigned int i = 0; i < CNT__MAX; i++)
			fprintf(stderr, " %s=%llu", counter__name(i),
				(unsigned long long)st.counters[i]);
		fputc('\n', stderr);
	}
}

static int add_pids(const struct config *cfg, struct session *s)
{
	for (size_t i = 0; i < cfg->npids; i++) {
		struct pyinfo info;
		int err = session__add_pid(s, cfg->pids[i], &info);

		switch (err) {
		case 0:
			break;
		case -ESRCH:
			die_msg("pid %d: no such process", (int)cfg->pids[i]);
			return EXIT_PID_NOT_FOUND;
		case -ENOEXEC:
			die_msg("pid %d is not a CPython process", (int)cfg->pids[i]);
			return EXIT_NOT_PYTHON;
		case -ENOTSUP:
			die_msg("pid %d runs Python %u.%u.%u%s, which is not supported",
				(int)cfg->pids[i], info.major, info.minor, info.micro,
				info.free_threaded ? " (free-threaded)" : "");
			return EXIT_UNSUPPORTED_PYTHON;
		default:
			die_msg("pid %d: cannot inspect: %s", (int)cfg->pids[i], strerror(-err));
			return err == -EACCES || err == -EPERM ? EXIT_NO_PRIVILEGE
							       : EXIT_FAILURE_INTERNAL;
		}
	}
	return EXIT_OK;
}

static int run(const struct config *cfg)
{
	struct session_opts opts = {
	    .rate_hz = cfg->rate_hz,
	    .all_pythons = cfg->all_pythons,
	    .proc_root = "/proc",
	    .log = session_log,
	};
	struct sigaction sa = {.sa_handler = on_signal};
	struct timespec t0;
	struct session *s;
	const char *cap;
	int rc, err;

	cap = missing_capability();
	if (cap) {
		die_msg("not privileged: %s required (run as root or grant them)", cap);
		return EXIT_NO_PRIVILEGE;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		die_msg("kernel has no BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF=y is "
			"required");
		return EXIT_NO_BTF;
	}
	err = outfile__check(cfg->output, cfg->force);
	if (err)
		return output_error(cfg->output, err);

	libbpf_set_print(libbpf_log);
	s = session__new(&opts);
	if (!s) {
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
	rc = add_pids(cfg, s);
	if (rc)
		goto out;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = session__start(s);
	if (err) {
		die_msg("cannot start sampling: %s", strerror(-err));
		rc = err == -EACCES || err == -EPERM ? EXIT_NO_PRIVILEGE : EXIT_FAILURE_INTERNAL;
		goto out;
	}
	if (verbosity)
		fprintf(stderr, "pybpf-prof: sampling at %u Hz%s\n", cfg->rate_hz,
			cfg->duration_s > 0 ? "" : "; Ctrl-C to stop");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_signal) {
		double left = cfg->duration_s > 0 ? cfg->duration_s - elapsed_s(&t0) : 0.1;
		int timeout = left > 0.1 ? 100 : (int)(left * 1000);

		if (left <= 0)
			break;
		err = session__step(s, timeout);
		if (err) {
			die_msg("sampling failed: %s; writing what was collected", strerror(-err));
			break;
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
out:
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
		fputs(config__usage(), stdout);
		return EXIT_OK;
	}
	if (cfg.version) {
		printf("pybpf-prof %s\n", PYBPF_VERSION);
		return EXIT_OK;
	}
	verbosity = cfg.verbose;
	return run(&cfg);
}
