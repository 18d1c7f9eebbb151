/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * All runtime configuration, filled in one place by the argument parser,
 * and the documented process exit codes.
 */
#ifndef PYBPF_CONFIG_H
#define PYBPF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "writer.h"

#define PYBPF_VERSION "0.1.0"

/* Exit codes (documented in README and --help). */
enum pybpf_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_INTERNAL = 1, /* unexpected failure (BPF load/attach error, out of memory) */
	EXIT_USAGE = 2,            /* bad command line */
	EXIT_NO_PRIVILEGE = 3,     /* missing CAP_BPF / CAP_PERFMON (or root) */
	EXIT_NO_BTF = 4,           /* kernel without /sys/kernel/btf/vmlinux */
	EXIT_PID_NOT_FOUND = 5,    /* --pid names no running process */
	EXIT_NOT_PYTHON = 6,       /* --pid names a process that is not CPython */
	EXIT_UNSUPPORTED_PYTHON = 7, /* --pid names a CPython version we cannot read */
	EXIT_OUTPUT = 8,           /* output path not writable, exists without --force, write failed */
};

/* What to do: the first word of the command line (none = record). */
enum pybpf_command {
	CMD_RECORD = 0, /* profile for a while and write a profile (the default) */
	CMD_DUMP,	/* print every thread's stack now */
	CMD_TOP,	/* live view of the hottest functions */
	CMD_CONVERT,	/* rewrite a saved pprof in another format */
	CMD__COUNT,
};

/* record -- PROGRAM: exit codes when PROGRAM cannot be started (as a shell's). */
#define EXIT_PROGRAM_NOT_EXECUTABLE 126
#define EXIT_PROGRAM_NOT_FOUND 127

enum profile_mode {
	MODE_CPU = 0,  /* on-CPU samples only */
	MODE_WALL = 1, /* on-CPU samples and off-CPU time */
};

#define CONFIG_MAX_PIDS 64
#define CONFIG_MAX_HEADERS 16

struct config {
	enum pybpf_command command;
	bool all_pythons;          /* --all-pythons */
	pid_t pids[CONFIG_MAX_PIDS]; /* --pid PID (repeatable) */
	size_t npids;
	double duration_s;         /* --duration SECONDS; 0 = until SIGINT/SIGTERM */
	unsigned int rate_hz;      /* --rate HZ, 1..10000, default 99 */
	bool fixed_phase;          /* --fixed-phase: never restart the cpu-clock timers */
	const char *output;	   /* -o/--output FILE; default "profile" + the format's suffix */
	bool force;                /* --force: overwrite an existing output */
	enum output_format format; /* --format pprof|folded|svg|speedscope|text */
	struct writer_opts write;  /* format and its options (--sort, --limit, --per-process) */
	/* `pybpf-prof convert IN [-o OUT]`: rewrite a saved pprof in another format. */
	const char *input;	   /* IN */
	char default_output[32];   /* storage for the default -o */
	bool native;               /* --native: native and kernel frames too */
	/* --kernel-stacks: entries of each kernel-stack map, 0: the default */
	unsigned int kernel_stacks;
	enum profile_mode mode;    /* --mode cpu|wall */
	bool gil_only;             /* --gil: only threads holding the GIL */
	int verbose;               /* -v, repeatable */
	/* Daemon mode: one profile per interval, to a directory and/or a server. */
	double interval_s;         /* --interval SECONDS; 0 = one profile at the end */
	const char *output_dir;    /* --output-dir DIR */
	unsigned long long max_files; /* --max-files N (0 = unlimited) */
	unsigned long long max_bytes; /* --max-bytes SIZE[K|M|G] (0 = unlimited) */
	const char *push_url;      /* --push URL (Pyroscope-compatible /ingest) */
	const char *push_headers[CONFIG_MAX_HEADERS]; /* --push-header 'Name: value' */
	size_t npush_headers;
	/* Process trees. */
	bool subprocesses; /* --subprocesses: the --pid processes and all their descendants */
	char **program;	   /* record [options] -- PROGRAM ARGS: NULL-terminated, or NULL */
	/* dump */
	bool json;		   /* --json */
	bool locals;		   /* --locals */
	bool help;                 /* --help: print usage, exit 0 */
	bool version;              /* --version: print version, exit 0 */
};

/*
 * Parse argv into *cfg (defaults applied first). On a bad command line
 * returns -EINVAL and writes a one-line message (no trailing newline) into
 * err. getopt state is reset, so it can be called repeatedly (tests).
 */
int config__parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Usage text for --help (of one command). */
const char *config__usage(enum pybpf_command cmd);

/* The command's name as typed ("record", "dump", "top", "convert"). */
const char *config__command_name(enum pybpf_command cmd);

#endif
