// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Command-line parsing into struct config. Nothing here prints: errors are
 * returned as -EINVAL with a one-line message for the CLI to show.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pybpf_abi.h"

#define DEFAULT_RATE_HZ 99u
#define MIN_RATE_HZ 1L
#define MAX_RATE_HZ 10000L
#define MAX_DURATION_S (365.0 * 24 * 3600) /* one year */
#define MAX_PID 4194304L		   /* PID_MAX_LIMIT on 64-bit kernels */
#define MAX_VERBOSE 16

#define MAX_LIMIT 1000000000L

/* Values of long-only options: above any char, so they never clash with short options. */
enum {
	OPT_ALL_PYTHONS = 256,
	OPT_PID,
	OPT_DURATION,
	OPT_RATE,
	OPT_FORCE,
	OPT_FORMAT,
	OPT_INTERVAL,
	OPT_OUTPUT_DIR,
	OPT_MAX_FILES,
	OPT_MAX_BYTES,
	OPT_PUSH,
	OPT_PUSH_HEADER,
	OPT_SORT,
	OPT_LIMIT,
	OPT_PER_PROCESS,
	OPT_SUBPROCESSES,
	OPT_JSON,
	OPT_LOCALS,
	OPT_NATIVE,
	OPT_KERNEL_STACKS,
	OPT_MODE,
	OPT_GIL,
	OPT_FIXED_PHASE,
};

/* Leading ':' makes getopt report a missing argument as ':' instead of '?'.
 * `record` parses with a '+' in front: options end at PROGRAM. */
static const char short_opts[] = ":ho:vV";
static const char short_opts_record[] = "+:ho:vV";

static const struct option long_opts[] = {
    {"all-pythons", no_argument, NULL, OPT_ALL_PYTHONS},
    {"pid", required_argument, NULL, OPT_PID},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, OPT_FORCE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"max-files", required_argument, NULL, OPT_MAX_FILES},
    {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"push", required_argument, NULL, OPT_PUSH},
    {"push-header", required_argument, NULL, OPT_PUSH_HEADER},
    {"sort", required_argument, NULL, OPT_SORT},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"per-process", no_argument, NULL, OPT_PER_PROCESS},
    {"subprocesses", no_argument, NULL, OPT_SUBPROCESSES},
    {"json", no_argument, NULL, OPT_JSON},
    {"locals", no_argument, NULL, OPT_LOCALS},
    {"native", no_argument, NULL, OPT_NATIVE},
    {"kernel-stacks", required_argument, NULL, OPT_KERNEL_STACKS},
    {"mode", required_argument, NULL, OPT_MODE},
    {"gil", no_argument, NULL, OPT_GIL},
    {"fixed-phase", no_argument, NULL, OPT_FIXED_PHASE},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

#define USAGE_EXIT_CODES                                                                           \
	"Exit codes:\n"                                                                            \
	"  0  success\n"                                                                           \
	"  1  unexpected failure (BPF load/attach error, out of memory)\n"                         \
	"  2  bad command line\n"                                                                  \
	"  3  missing CAP_BPF / CAP_PERFMON (or root); dump: may not read the process\n"           \
	"  4  kernel without /sys/kernel/btf/vmlinux\n"                                            \
	"  5  --pid names no running process\n"                                                    \
	"  6  --pid names a process that is not CPython\n"                                         \
	"  7  --pid names a CPython version we cannot read\n"                                      \
	"  8  output path not writable, exists without --force, write failed\n"                    \
	"  record -- PROGRAM: PROGRAM's own exit code (128+N if killed by signal N);\n"            \
	"  126 PROGRAM not executable, 127 PROGRAM not found\n"

static const char usage_record[] =
    /* "  or:" lines: help2man makes each a synopsis of the man page */
    "Usage: pybpf-prof [record] (--all-pythons | --pid PID...) [options]\n"
    "  or:  pybpf-prof record [options] -- PROGRAM [ARGS...]\n"
    "  or:  pybpf-prof dump (--pid PID... | --all-pythons) [--json] [--locals]\n"
    "  or:  pybpf-prof top [--all-pythons | --pid PID... [--subprocesses]]\n"
    "  or:  pybpf-prof convert IN.pb.gz [-o OUT] [--format FORMAT] [text options]\n"
    "\n"
    "Sample the Python stacks of running CPython processes with BPF on CPU-clock\n"
    "perf events (no ptrace, the targets are never paused) and write a profile.\n"
    "`pybpf-prof COMMAND --help` describes dump and top.\n"
    "\n"
    "Targets (exactly one kind):\n"
    "      --all-pythons      every CPython process on the machine, including\n"
    "                         processes started while profiling\n"
    "      --pid PID          this process; repeat for several (at most 64)\n"
    "      --subprocesses     with --pid: also every descendant of those processes,\n"
    "                         including ones started while profiling\n"
    "      -- PROGRAM ARGS    (record) run PROGRAM and profile it and its\n"
    "                         descendants until it exits; exits with its exit code\n"
    "\n"
    "Options:\n"
    "      --duration SECONDS stop after SECONDS (decimals allowed, at most one\n"
    "                         year); default: until SIGINT (Ctrl-C) or SIGTERM\n"
    "      --rate HZ          samples per second per CPU, 1..10000 (default 99)\n"
    "      --fixed-phase      keep each CPU's ticks on one phase (default: move\n"
    "                         it at random every ~16 ticks, so that a process\n"
    "                         that sleeps on a period cannot hide between ticks)\n"
    "  -o, --output FILE      output file (default profile.pb.gz, or with\n"
    "                         --format: profile.folded, profile.svg,\n"
    "                         profile.speedscope.json, profile.txt)\n"
    "      --force            overwrite FILE if it exists\n"
    "      --format FORMAT    pprof (gzipped protobuf, default), folded\n"
    "                         (collapsed stacks for flamegraph.pl), svg (an\n"
    "                         interactive flame graph for any browser),\n"
    "                         speedscope (JSON for speedscope.app) or text\n"
    "                         (a table of functions like pstats)\n"
    "      --mode MODE        cpu (default): where CPU time goes; wall: where\n"
    "                         wall-clock time goes, on and off CPU, with labels\n"
    "                         state (running, running_nogil, gil_wait, blocked)\n"
    "                         and wait (the syscall blocked in, or preempted)\n"
    "      --gil              only threads holding the GIL (who holds it)\n"
    "      --sort own|total   text: order rows by own or total samples (total)\n"
    "      --limit N          text: at most N rows per table (default all)\n"
    "      --per-process      text: one table per process\n"
    "      --native           also native (C) and kernel frames, merged with the\n"
    "                         Python ones (unwound from a copy of the stack)\n"
    "      --kernel-stacks N  --mode wall --native: distinct kernel stacks each\n"
    "                         of the two kernel-stack maps holds (a power of\n"
    "                         two, 1-32768; default 8192)\n"
    "\n"
    "convert IN: read a pprof profile (gzipped or not; ours or any other with\n"
    "function names, e.g. Go's) and write it with --format to -o OUT (default\n"
    "standard output). A file that is not a readable pprof exits with 2.\n"
    "      --push URL         also send the profile to a Pyroscope-compatible\n"
    "                         server (URL/ingest) as pprof, one per service\n"
    "      --push-header 'NAME: VALUE'  add a header to pushes (repeatable)\n"
    "\n"
    "Always-on mode (one profile per interval, until SIGTERM/SIGINT):\n"
    "      --interval SECONDS write or push a profile every SECONDS (at least 1)\n"
    "      --output-dir DIR   write each as DIR/pybpf-<host>-<UTC time>-<n>.pb.gz\n"
    "                         (or the --format's suffix)\n"
    "      --max-files N      keep at most N such files (oldest deleted first)\n"
    "      --max-bytes SIZE   keep at most SIZE bytes of them (K, M, G suffixes)\n"
    "      --push URL         send each to a Pyroscope-compatible server\n"
    "                         (URL/ingest), one profile per service\n"
    "\n"
    "  -v, --verbose          more diagnostics on stderr (each push: its status\n"
    "                         and latency); repeat for more\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version and exit\n"
    "\n" USAGE_EXIT_CODES;

static const char usage_dump[] =
    "Usage: pybpf-prof dump (--pid PID... | --all-pythons) [--json] [--locals]\n"
    "\n"
    "Print what every thread of the processes is doing now: its Python stack\n"
    "(function, file, line), name, native thread id, whether it is on a CPU and\n"
    "the system call it is blocked in. The processes are not stopped (their\n"
    "memory is read as they run; a read that changed under us is retried).\n"
    "Needs the right to read the processes' memory (root, or CAP_SYS_PTRACE).\n"
    "\n"
    "      --pid PID          this process; repeat for several\n"
    "      --all-pythons      every CPython process on the machine\n"
    "      --json             one JSON array of processes instead of text\n"
    "      --locals           each frame's local variables (values of int, float,\n"
    "                         bool, None, short str and bytes)\n"
    "  -h, --help             show this help and exit\n"
    "\n" USAGE_EXIT_CODES;

static const char usage_top[] =
    "Usage: pybpf-prof top [--all-pythons | --pid PID... [--subprocesses]]\n"
    "                      [--rate HZ] [--fixed-phase] [--duration SECONDS]\n"
    "\n"
    "A live view of the functions using the most CPU, refreshed every second\n"
    "(default: every Python process on the machine). Keys: o/t sort by own or\n"
    "total time, a switch between the last second and since start, f filter by\n"
    "process or service (Enter applies, empty clears), p pause, q quit. When\n"
    "stdout is not a terminal, a plain-text table is printed every second.\n"
    "\n"
    "      --all-pythons      every CPython process (the default)\n"
    "      --pid PID          only this process; repeat for several\n"
    "      --subprocesses     with --pid: also their descendants\n"
    "      --rate HZ          samples per second per CPU, 1..10000 (default 99)\n"
    "      --fixed-phase      keep each CPU's ticks on one phase (see record --help)\n"
    "      --duration SECONDS quit after SECONDS\n"
    "  -h, --help             show this help and exit\n"
    "\n" USAGE_EXIT_CODES;

static const char *const command_names[CMD__COUNT] = {
    [CMD_RECORD] = "record",
    [CMD_DUMP] = "dump",
    [CMD_TOP] = "top",
    [CMD_CONVERT] = "convert",
};

const char *config__command_name(enum pybpf_command cmd)
{
	return cmd < CMD__COUNT ? command_names[cmd] : "?";
}

const char *config__usage(enum pybpf_command cmd)
{
	switch (cmd) {
	case CMD_DUMP:
		return usage_dump;
	case CMD_TOP:
		return usage_top;
	default:
		return usage_record;
	}
}

/* Which commands take an option (bit per command); options not listed are
 * common to all. convert checks its own (check_convert). */
#define C(cmd) (1u << (cmd))
static const struct {
	int val;
	unsigned int cmds;
} option_commands[] = {
    {OPT_ALL_PYTHONS, C(CMD_RECORD) | C(CMD_DUMP) | C(CMD_TOP)},
    {OPT_DURATION, C(CMD_RECORD) | C(CMD_TOP)},
    {OPT_RATE, C(CMD_RECORD) | C(CMD_TOP)},
    {'o', C(CMD_RECORD)},
    {OPT_FORCE, C(CMD_RECORD)},
    {OPT_FORMAT, C(CMD_RECORD)},
    {OPT_INTERVAL, C(CMD_RECORD)},
    {OPT_OUTPUT_DIR, C(CMD_RECORD)},
    {OPT_MAX_FILES, C(CMD_RECORD)},
    {OPT_MAX_BYTES, C(CMD_RECORD)},
    {OPT_PUSH, C(CMD_RECORD)},
    {OPT_PUSH_HEADER, C(CMD_RECORD)},
    {OPT_SORT, C(CMD_RECORD)},
    {OPT_LIMIT, C(CMD_RECORD)},
    {OPT_PER_PROCESS, C(CMD_RECORD)},
    {OPT_SUBPROCESSES, C(CMD_RECORD) | C(CMD_TOP)},
    {OPT_JSON, C(CMD_DUMP)},
    {OPT_LOCALS, C(CMD_DUMP)},
    {OPT_MODE, C(CMD_RECORD)},
    {OPT_GIL, C(CMD_RECORD)},
    {OPT_FIXED_PHASE, C(CMD_RECORD) | C(CMD_TOP)},
    {OPT_KERNEL_STACKS, C(CMD_RECORD)},
};

static bool option_allowed(int val, enum pybpf_command cmd)
{
	if (cmd == CMD_CONVERT)
		return true;
	for (size_t i = 0; i < sizeof(option_commands) / sizeof(option_commands[0]); i++)
		if (option_commands[i].val == val)
			return option_commands[i].cmds & C(cmd);
	return true;
}

/* Keep the first error only: it is the one the user should fix first. */
static void set_err(char *err, size_t errlen, bool *have_err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(char *err, size_t errlen, bool *have_err, const char *fmt, ...)
{
	va_list ap;

	if (*have_err)
		return;
	*have_err = true;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Decimal integer in [min, max]: digits only (no sign, no blanks, nothing after). */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (!is_digit(s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Positive decimal number of seconds, at most max: "30", "2.5", ".5", "1e3".
 * Hex floats, "inf", "nan", signs and blanks are refused.
 */
static int parse_seconds(const char *s, double max, double *out)
{
	char *end = NULL;
	double v;

	if (!is_digit(s[0]) && !(s[0] == '.' && is_digit(s[1])))
		return -EINVAL;
	if (strpbrk(s, "xXpP"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || !(v > 0.0) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A size in bytes with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, unsigned long long *out)
{
	unsigned long long v, mult = 1;
	char *end = NULL;

	if (!is_digit(s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		mult = 1ull << 10;
	else if (*end == 'M' || *end == 'm')
		mult = 1ull << 20;
	else if (*end == 'G' || *end == 'g')
		mult = 1ull << 30;
	if (mult > 1)
		end++;
	if (*end != '\0' || v > ULLONG_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

/* "--name" of a long option as typed, without any "=value" part. */
static void long_opt_text(const char *arg, char *buf, size_t len)
{
	size_t n = strcspn(arg, "=");

	if (n >= len)
		n = len - 1;
	memcpy(buf, arg, n);
	buf[n] = '\0';
}

static const char *opt_name(int val)
{
	for (const struct option *o = long_opts; o->name; o++) {
		if (o->val == val)
			return o->name;
	}
	return "?";
}

/* How many long options start with the typed "--name" (an abbreviation). */
static int count_prefix_matches(const char *text)
{
	size_t n = strlen(text + 2);
	int matches = 0;

	for (const struct option *o = long_opts; o->name; o++) {
		if (n > 0 && strncmp(o->name, text + 2, n) == 0)
			matches++;
	}
	return matches;
}

static bool is_known_val(int val)
{
	return val >= OPT_ALL_PYTHONS ||
	       (val > 0 && val < 256 && val != ':' && strchr(short_opts, val) != NULL);
}

static void add_pid(struct config *cfg, pid_t pid, char *err, size_t errlen, bool *have_err)
{
	for (size_t i = 0; i < cfg->npids; i++) {
		if (cfg->pids[i] == pid)
			return; /* the same process twice is still one target */
	}
	if (cfg->npids >= CONFIG_MAX_PIDS) {
		set_err(err, errlen, have_err, "--pid: at most %d processes", CONFIG_MAX_PIDS);
		return;
	}
	cfg->pids[cfg->npids++] = pid;
}

/* What a profiling run needs besides well-formed options. */
static void check_record(struct config *cfg, int argc, char **argv, bool named, char *err,
			 size_t errlen, bool *have_err)
{
	/* `record ... PROGRAM ARGS` (after "--" or the first non-option). */
	if (!*have_err && optind < argc && named)
		cfg->program = &argv[optind];
	else if (!*have_err && optind < argc)
		set_err(err, errlen, have_err, "unexpected argument '%s'", argv[optind]);
	if (!*have_err && cfg->program && (cfg->all_pythons || cfg->npids > 0))
		set_err(err, errlen, have_err,
			"record -- PROGRAM profiles PROGRAM: --all-pythons and --pid do not apply");
	if (!*have_err && cfg->program && cfg->interval_s > 0)
		set_err(err, errlen, have_err, "record -- PROGRAM does not take --interval");
	if (!*have_err && cfg->all_pythons && cfg->npids > 0)
		set_err(err, errlen, have_err, "--all-pythons and --pid are exclusive");
	if (!*have_err && cfg->subprocesses && cfg->npids == 0)
		set_err(err, errlen, have_err, "--subprocesses needs --pid PID");
	if (!*have_err && !cfg->all_pythons && cfg->npids == 0 && !cfg->program)
		set_err(
		    err, errlen, have_err,
		    "nothing to profile: give --all-pythons or --pid PID (or record -- PROGRAM)");
	if (!*have_err && cfg->interval_s > 0 && !cfg->output_dir && !cfg->push_url)
		set_err(err, errlen, have_err, "--interval needs --output-dir DIR or --push URL");
	if (!*have_err && cfg->interval_s == 0 &&
	    (cfg->output_dir || cfg->max_files || cfg->max_bytes))
		set_err(err, errlen, have_err,
			"--output-dir, --max-files and --max-bytes need --interval SECONDS");
	if (!*have_err && cfg->npush_headers && !cfg->push_url)
		set_err(err, errlen, have_err, "--push-header needs --push URL");
	if (!*have_err && cfg->interval_s > 0 && cfg->output)
		set_err(err, errlen, have_err,
			"-o/--output writes one profile: with --interval use --output-dir");
	if (!*have_err && cfg->interval_s > 0 && cfg->push_url && !cfg->output_dir &&
	    cfg->format != FORMAT_PPROF)
		set_err(err, errlen, have_err,
			"--push sends pprof: --format applies to --output-dir");
}

/* dump and top: processes to look at, nothing else on the line. */
static void check_view(struct config *cfg, int argc, char **argv, char *err, size_t errlen,
		       bool *have_err)
{
	if (!*have_err && optind < argc)
		set_err(err, errlen, have_err, "unexpected argument '%s'", argv[optind]);
	if (!*have_err && cfg->all_pythons && cfg->npids > 0)
		set_err(err, errlen, have_err, "--all-pythons and --pid are exclusive");
	if (!*have_err && cfg->subprocesses && cfg->npids == 0)
		set_err(err, errlen, have_err, "--subprocesses needs --pid PID");
	/* top watches the whole machine unless told otherwise. */
	if (!*have_err && cfg->command == CMD_TOP && cfg->npids == 0)
		cfg->all_pythons = true;
	if (!*have_err && !cfg->all_pythons && cfg->npids == 0)
		set_err(err, errlen, have_err, "nothing to dump: give --pid PID or --all-pythons");
}

/* convert takes one input file and no profiling options. */
static void check_convert(struct config *cfg, int argc, char **argv, char *err, size_t errlen,
			  bool *have_err)
{
	if (!*have_err && optind >= argc)
		set_err(err, errlen, have_err, "convert: give the pprof file to read");
	if (!*have_err && optind + 1 < argc)
		set_err(err, errlen, have_err, "unexpected argument '%s'", argv[optind + 1]);
	if (!*have_err &&
	    (cfg->all_pythons || cfg->npids || cfg->duration_s > 0 ||
	     cfg->rate_hz != DEFAULT_RATE_HZ || cfg->interval_s > 0 || cfg->output_dir ||
	     cfg->push_url || cfg->max_files || cfg->max_bytes || cfg->npush_headers))
		set_err(
		    err, errlen, have_err,
		    "convert takes -o, --format, --force, --sort, --limit and --per-process only");
	if (!*have_err)
		cfg->input = argv[optind];
}

int config__parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	bool have_err = false, named_command = false;
	char text[64];
	long lval;
	double dval;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->rate_hz = DEFAULT_RATE_HZ;
	cfg->format = FORMAT_PPROF;
	if (err && errlen)
		err[0] = '\0';
	/* A command word first; without one the command is record. The word is
	 * skipped: getopt then sees only its options. */
	if (argc > 1 && argv[1][0] != '-') {
		for (int i = 0; i < CMD__COUNT; i++)
			if (strcmp(argv[1], command_names[i]) == 0) {
				cfg->command = (enum pybpf_command)i;
				named_command = true;
			}
		if (named_command) {
			argc--;
			argv++;
		}
	}

	optind = 0; /* glibc: full re-initialisation, so repeated calls work */
	opterr = 0; /* library code never prints */

	while ((c = getopt_long(argc, argv,
				named_command && cfg->command == CMD_RECORD ? short_opts_record
									    : short_opts,
				long_opts, NULL)) != -1) {
		if (c != ':' && c != '?' && !option_allowed(c, cfg->command)) {
			set_err(err, errlen, &have_err, "--%s does not apply to '%s'", opt_name(c),
				command_names[cfg->command]);
			continue;
		}
		switch (c) {
		case OPT_ALL_PYTHONS:
			cfg->all_pythons = true;
			break;
		case OPT_PID:
			if (parse_long(optarg, 1, MAX_PID, &lval) < 0)
				set_err(err, errlen, &have_err,
					"--pid: '%s' is not a process id in 1..%ld", optarg,
					MAX_PID);
			else
				add_pid(cfg, (pid_t)lval, err, errlen, &have_err);
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, MAX_DURATION_S, &dval) < 0)
				set_err(err, errlen, &have_err,
					"--duration: '%s' is not a positive number of seconds "
					"(at most %.0f)",
					optarg, MAX_DURATION_S);
			else
				cfg->duration_s = dval;
			break;
		case OPT_RATE:
			if (parse_long(optarg, MIN_RATE_HZ, MAX_RATE_HZ, &lval) < 0)
				set_err(err, errlen, &have_err,
					"--rate: '%s' is not an integer in %ld..%ld", optarg,
					MIN_RATE_HZ, MAX_RATE_HZ);
			else
				cfg->rate_hz = (unsigned int)lval;
			break;
		case 'o':
			if (optarg[0] == '\0')
				set_err(err, errlen, &have_err, "-o/--output: empty file name");
			else
				cfg->output = optarg;
			break;
		case OPT_FORCE:
			cfg->force = true;
			break;
		case OPT_FORMAT:
			if (writer__parse_format(optarg, &cfg->format))
				set_err(
				    err, errlen, &have_err,
				    "--format: '%s' is not one of pprof, folded, svg, speedscope, "
				    "text",
				    optarg);
			break;
		case OPT_SORT:
			if (strcmp(optarg, "own") == 0)
				cfg->write.sort = SORT_OWN;
			else if (strcmp(optarg, "total") == 0)
				cfg->write.sort = SORT_TOTAL;
			else
				set_err(err, errlen, &have_err, "--sort: '%s' is not own or total",
					optarg);
			break;
		case OPT_LIMIT:
			if (parse_long(optarg, 1, MAX_LIMIT, &lval) < 0)
				set_err(err, errlen, &have_err,
					"--limit: '%s' is not a number of rows in 1..%ld", optarg,
					MAX_LIMIT);
			else
				cfg->write.limit = (size_t)lval;
			break;
		case OPT_PER_PROCESS:
			cfg->write.per_process = true;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "cpu") == 0)
				cfg->mode = MODE_CPU;
			else if (strcmp(optarg, "wall") == 0)
				cfg->mode = MODE_WALL;
			else
				set_err(err, errlen, &have_err,
					"--mode: '%s' is not one of cpu, wall", optarg);
			break;
		case OPT_GIL:
			cfg->gil_only = true;
			break;
		case OPT_FIXED_PHASE:
			cfg->fixed_phase = true;
			break;
		case OPT_INTERVAL:
			if (parse_seconds(optarg, MAX_DURATION_S, &dval) < 0 || dval < 1.0)
				set_err(err, errlen, &have_err,
					"--interval: '%s' is not a number of seconds >= 1", optarg);
			else
				cfg->interval_s = dval;
			break;
		case OPT_OUTPUT_DIR:
			if (optarg[0] == '\0')
				set_err(err, errlen, &have_err,
					"--output-dir: empty directory name");
			else
				cfg->output_dir = optarg;
			break;
		case OPT_MAX_FILES:
			if (parse_size(optarg, &cfg->max_files) < 0 || strpbrk(optarg, "KkMmGg"))
				set_err(err, errlen, &have_err,
					"--max-files: '%s' is not a whole number", optarg);
			break;
		case OPT_MAX_BYTES:
			if (parse_size(optarg, &cfg->max_bytes) < 0)
				set_err(err, errlen, &have_err,
					"--max-bytes: '%s' is not a size (e.g. 500M)", optarg);
			break;
		case OPT_PUSH:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				set_err(err, errlen, &have_err,
					"--push: '%s' is not an http:// or https:// URL", optarg);
			else
				cfg->push_url = optarg;
			break;
		case OPT_NATIVE:
			cfg->native = true;
			break;
		case OPT_KERNEL_STACKS:
			if (parse_long(optarg, 1, PYBPF_KSTACKS_MAX_ENTRIES, &lval) < 0 ||
			    (lval & (lval - 1)))
				set_err(err, errlen, &have_err,
					"--kernel-stacks: '%s' is not a power of two from 1 to %d",
					optarg, PYBPF_KSTACKS_MAX_ENTRIES);
			else
				cfg->kernel_stacks = (unsigned int)lval;
			break;
		case OPT_PUSH_HEADER:
			if (strpbrk(optarg, "\r\n"))
				set_err(err, errlen, &have_err,
					"--push-header: a header must be one line, 'Name: value'");
			else if (!strchr(optarg, ':') || optarg[0] == ':')
				set_err(err, errlen, &have_err,
					"--push-header: '%s' is not 'Name: value'", optarg);
			else if (cfg->npush_headers == CONFIG_MAX_HEADERS)
				set_err(err, errlen, &have_err, "--push-header: at most %d headers",
					CONFIG_MAX_HEADERS);
			else
				cfg->push_headers[cfg->npush_headers++] = optarg;
			break;
		case OPT_SUBPROCESSES:
			cfg->subprocesses = true;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_LOCALS:
			cfg->locals = true;
			break;
		case 'v':
			if (cfg->verbose < MAX_VERBOSE)
				cfg->verbose++;
			break;
		case 'h':
			cfg->help = true;
			break;
		case 'V':
			cfg->version = true;
			break;
		case ':':
			/* Long options are consumed whole: argv[optind - 1] is the one typed. */
			if (optopt >= OPT_ALL_PYTHONS ||
			    (optind > 0 && optind <= argc &&
			     strncmp(argv[optind - 1], "--", 2) == 0)) {
				set_err(err, errlen, &have_err,
					"option '--%s' requires an argument", opt_name(optopt));
			} else {
				set_err(err, errlen, &have_err, "option '-%c' requires an argument",
					optopt);
			}
			break;
		case '?':
		default:
			if (optopt != 0 && !is_known_val(optopt)) {
				/* an unknown short option, e.g. -x */
				set_err(err, errlen, &have_err, "unknown option '-%c'", optopt);
			} else if (optind > 0 && optind <= argc) {
				long_opt_text(argv[optind - 1], text, sizeof(text));
				if (optopt != 0)
					/* a known long option given "=value" it does not take */
					set_err(err, errlen, &have_err,
						"option '%s' does not take an argument", text);
				else if (strncmp(text, "--", 2) == 0 &&
					 count_prefix_matches(text) > 1)
					set_err(err, errlen, &have_err, "ambiguous option '%s'",
						text);
				else
					set_err(err, errlen, &have_err, "unknown option '%s'",
						text);
			} else {
				set_err(err, errlen, &have_err, "bad command line");
			}
			break;
		}
	}

	/* --help and --version win over everything else on the line. */
	if (cfg->help || cfg->version) {
		if (err && errlen)
			err[0] = '\0';
		return 0;
	}

	switch (cfg->command) {
	case CMD_CONVERT:
		check_convert(cfg, argc, argv, err, errlen, &have_err);
		break;
	case CMD_DUMP:
	case CMD_TOP:
		check_view(cfg, argc, argv, err, errlen, &have_err);
		break;
	default:
		check_record(cfg, argc, argv, named_command, err, errlen, &have_err);
	}
	if (!have_err && cfg->format != FORMAT_TEXT &&
	    (cfg->write.sort != SORT_TOTAL || cfg->write.limit || cfg->write.per_process))
		set_err(err, errlen, &have_err,
			"--sort, --limit and --per-process need --format text");
	if (have_err)
		return -EINVAL;

	cfg->write.format = cfg->format;
	if (!cfg->output && cfg->command == CMD_RECORD) {
		snprintf(cfg->default_output, sizeof(cfg->default_output), "profile%s",
			 writer__suffix(cfg->format));
		cfg->output = cfg->default_output;
	}
	return 0;
}
