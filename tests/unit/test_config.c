// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of the command-line parser (user/config.c). */
#include "config.h"
#include "test.h"

#include <errno.h>

#define MAX_ARGS 200

static struct config cfg;
static char err[256];

/* Parse a NULL-terminated list of arguments (argv[0] is added). */
static int parse_v(const char *const *args)
{
	static char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"pybpf-prof";
	for (size_t i = 0; args[i] && argc < MAX_ARGS + 1; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	memset(err, 'X', sizeof(err)); /* catch a missing terminator */
	err[sizeof(err) - 1] = '\0';
	return config__parse(&cfg, argc, argv, err, sizeof(err));
}

#define PARSE(...) parse_v((const char *const[]){__VA_ARGS__, NULL})

/* The call fails with -EINVAL and a one-line message containing `needle`. */
#define CHECK_BAD(needle, ...)                                                                     \
	do {                                                                                       \
		CHECK_EQ_INT(PARSE(__VA_ARGS__), -EINVAL);                                         \
		if (!strstr(err, (needle))) {                                                      \
			fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__,          \
				__LINE__, err, (needle));                                          \
			test_failures++;                                                           \
		}                                                                                  \
		CHECK(strchr(err, '\n') == NULL);                                                  \
		CHECK(err[0] != '\0');                                                             \
	} while (0)

static void test_defaults(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons"), 0);
	CHECK_EQ_STR(err, "");
	CHECK(cfg.all_pythons);
	CHECK_EQ_INT(cfg.npids, 0);
	CHECK(cfg.duration_s == 0.0);
	CHECK_EQ_INT(cfg.rate_hz, 99);
	CHECK_EQ_STR(cfg.output, "profile.pb.gz");
	CHECK(!cfg.force);
	CHECK_EQ_INT(cfg.format, FORMAT_PPROF);
	CHECK_EQ_INT(cfg.verbose, 0);
	CHECK(!cfg.help);
	CHECK(!cfg.version);
}

static void test_all_options(void)
{
	CHECK_EQ_INT(PARSE("--pid", "123", "--duration", "2.5", "--rate", "250", "-o", "out.pb.gz",
			   "--force", "--format", "pprof", "-v", "--verbose", "-vv"),
		     0);
	CHECK(!cfg.all_pythons);
	CHECK_EQ_INT(cfg.npids, 1);
	CHECK_EQ_INT(cfg.pids[0], 123);
	CHECK(cfg.duration_s == 2.5);
	CHECK_EQ_INT(cfg.rate_hz, 250);
	CHECK_EQ_STR(cfg.output, "out.pb.gz");
	CHECK(cfg.force);
	CHECK_EQ_INT(cfg.format, FORMAT_PPROF);
	CHECK_EQ_INT(cfg.verbose, 4);
}

static void test_equals_forms(void)
{
	CHECK_EQ_INT(
	    PARSE("--pid=7", "--duration=30", "--rate=1", "--output=a b", "--format=folded"), 0);
	CHECK_EQ_INT(cfg.npids, 1);
	CHECK_EQ_INT(cfg.pids[0], 7);
	CHECK(cfg.duration_s == 30.0);
	CHECK_EQ_INT(cfg.rate_hz, 1);
	CHECK_EQ_STR(cfg.output, "a b");
	CHECK_EQ_INT(cfg.format, FORMAT_FOLDED);

	CHECK_EQ_INT(PARSE("--all-pythons", "-ofile"), 0);
	CHECK_EQ_STR(cfg.output, "file");
}

static void test_repeated_pids(void)
{
	CHECK_EQ_INT(PARSE("--pid", "1", "--pid", "4194304", "--pid", "42"), 0);
	CHECK_EQ_INT(cfg.npids, 3);
	CHECK_EQ_INT(cfg.pids[0], 1);
	CHECK_EQ_INT(cfg.pids[1], 4194304);
	CHECK_EQ_INT(cfg.pids[2], 42);

	/* the same pid twice is one target */
	CHECK_EQ_INT(PARSE("--pid", "42", "--pid", "42"), 0);
	CHECK_EQ_INT(cfg.npids, 1);
}

static void test_max_pids(void)
{
	static char bufs[CONFIG_MAX_PIDS + 1][16];
	const char *args[2 * (CONFIG_MAX_PIDS + 1) + 1];
	size_t n = 0;

	for (int i = 0; i < CONFIG_MAX_PIDS; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "%d", 1000 + i);
		args[n++] = "--pid";
		args[n++] = bufs[i];
	}
	args[n] = NULL;
	CHECK_EQ_INT(parse_v(args), 0);
	CHECK_EQ_INT(cfg.npids, CONFIG_MAX_PIDS);
	CHECK_EQ_INT(cfg.pids[CONFIG_MAX_PIDS - 1], 1000 + CONFIG_MAX_PIDS - 1);

	snprintf(bufs[CONFIG_MAX_PIDS], sizeof(bufs[0]), "%d", 5000);
	args[n++] = "--pid";
	args[n++] = bufs[CONFIG_MAX_PIDS];
	args[n] = NULL;
	CHECK_EQ_INT(parse_v(args), -EINVAL);
	CHECK(strstr(err, "at most 64") != NULL);
}

static void test_output_default_follows_format(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons", "--format", "folded"), 0);
	CHECK_EQ_STR(cfg.output, "profile.folded");
	/* the format decides even when it comes last */
	CHECK_EQ_INT(PARSE("--format", "pprof", "--all-pythons", "--format", "folded"), 0);
	CHECK_EQ_STR(cfg.output, "profile.folded");
	CHECK_EQ_INT(PARSE("--format", "folded", "--all-pythons", "--format", "pprof"), 0);
	CHECK_EQ_STR(cfg.output, "profile.pb.gz");
	/* an explicit -o is kept whatever the format */
	CHECK_EQ_INT(PARSE("--all-pythons", "-o", "x.txt", "--format", "folded"), 0);
	CHECK_EQ_STR(cfg.output, "x.txt");
	/* the last -o wins */
	CHECK_EQ_INT(PARSE("--all-pythons", "-o", "a", "--output", "b"), 0);
	CHECK_EQ_STR(cfg.output, "b");
}

static void test_duration(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "30"), 0);
	CHECK(cfg.duration_s == 30.0);
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "0.25"), 0);
	CHECK(cfg.duration_s == 0.25);
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", ".5"), 0);
	CHECK(cfg.duration_s == 0.5);
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "1e2"), 0);
	CHECK(cfg.duration_s == 100.0);
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "31536000"), 0); /* one year */
	CHECK(cfg.duration_s == 31536000.0);
	/* the last one wins */
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "3", "--duration", "4"), 0);
	CHECK(cfg.duration_s == 4.0);
}

static void test_bad_duration(void)
{
	CHECK_BAD("--duration: '0' is not a positive number", "--all-pythons", "--duration", "0");
	CHECK_BAD("--duration: '0.0'", "--all-pythons", "--duration", "0.0");
	CHECK_BAD("--duration: '-1'", "--all-pythons", "--duration", "-1");
	CHECK_BAD("--duration: 'abc'", "--all-pythons", "--duration", "abc");
	CHECK_BAD("--duration: '5s'", "--all-pythons", "--duration", "5s");
	CHECK_BAD("--duration: ''", "--all-pythons", "--duration", "");
	CHECK_BAD("--duration: ' 5'", "--all-pythons", "--duration", " 5");
	CHECK_BAD("--duration: '5 '", "--all-pythons", "--duration", "5 ");
	CHECK_BAD("--duration: '+5'", "--all-pythons", "--duration", "+5");
	CHECK_BAD("--duration: 'inf'", "--all-pythons", "--duration", "inf");
	CHECK_BAD("--duration: 'nan'", "--all-pythons", "--duration", "nan");
	CHECK_BAD("--duration: '0x10'", "--all-pythons", "--duration", "0x10");
	CHECK_BAD("--duration: '1e999'", "--all-pythons", "--duration", "1e999");
	CHECK_BAD("--duration: '1e-999'", "--all-pythons", "--duration", "1e-999");
	CHECK_BAD("--duration: '31536000.5'", "--all-pythons", "--duration", "31536000.5");
	CHECK_BAD("--duration: '.'", "--all-pythons", "--duration", ".");
	CHECK_BAD("--duration: '1.2.3'", "--all-pythons", "--duration", "1.2.3");
}

static void test_rate(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons", "--rate", "1"), 0);
	CHECK_EQ_INT(cfg.rate_hz, 1);
	CHECK_EQ_INT(PARSE("--all-pythons", "--rate", "10000"), 0);
	CHECK_EQ_INT(cfg.rate_hz, 10000);
	CHECK_EQ_INT(PARSE("--all-pythons", "--rate", "0099"), 0);
	CHECK_EQ_INT(cfg.rate_hz, 99);
}

static void test_mode(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons"), 0);
	CHECK_EQ_INT(cfg.mode, MODE_CPU);
	CHECK(!cfg.gil_only);
	CHECK_EQ_INT(PARSE("--all-pythons", "--mode", "wall", "--gil"), 0);
	CHECK_EQ_INT(cfg.mode, MODE_WALL);
	CHECK(cfg.gil_only);
	CHECK_EQ_INT(PARSE("--all-pythons", "--mode=wall", "--mode", "cpu"), 0);
	CHECK_EQ_INT(cfg.mode, MODE_CPU);
	CHECK_BAD("--mode: 'off' is not one of cpu, wall", "--all-pythons", "--mode", "off");
	CHECK_BAD("--mode: 'Wall' is not one of cpu, wall", "--all-pythons", "--mode", "Wall");
}

static void test_kernel_stacks(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons", "--mode", "wall", "--native"), 0);
	CHECK_EQ_INT(cfg.kernel_stacks, 0);
	CHECK_EQ_INT(PARSE("--all-pythons", "--mode", "wall", "--native", "--kernel-stacks", "1"),
		     0);
	CHECK_EQ_INT(cfg.kernel_stacks, 1);
	CHECK_EQ_INT(PARSE("--all-pythons", "--kernel-stacks=32768"), 0);
	CHECK_EQ_INT(cfg.kernel_stacks, 32768);
	CHECK_BAD("--kernel-stacks: '3' is not a power of two from 1 to 32768", "--all-pythons",
		  "--kernel-stacks", "3");
	CHECK_BAD("--kernel-stacks: '65536'", "--all-pythons", "--kernel-stacks", "65536");
	CHECK_BAD("--kernel-stacks: '0'", "--all-pythons", "--kernel-stacks", "0");
	CHECK_BAD("--kernel-stacks: '-8'", "--all-pythons", "--kernel-stacks", "-8");
}

static void test_bad_rate(void)
{
	CHECK_BAD("--rate: '0' is not an integer in 1..10000", "--all-pythons", "--rate", "0");
	CHECK_BAD("--rate: '10001' is not an integer in 1..10000", "--all-pythons", "--rate",
		  "10001");
	CHECK_BAD("--rate: '-5' is not an integer in 1..10000", "--all-pythons", "--rate", "-5");
	CHECK_BAD("--rate: 'fast' is not an integer", "--all-pythons", "--rate", "fast");
	CHECK_BAD("--rate: '99hz' is not an integer", "--all-pythons", "--rate", "99hz");
	CHECK_BAD("--rate: '9.9' is not an integer", "--all-pythons", "--rate", "9.9");
	CHECK_BAD("--rate: '' is not an integer", "--all-pythons", "--rate", "");
	CHECK_BAD("--rate: ' 99' is not an integer", "--all-pythons", "--rate", " 99");
	CHECK_BAD("--rate: '+99' is not an integer", "--all-pythons", "--rate", "+99");
	CHECK_BAD("--rate: '0x10' is not an integer", "--all-pythons", "--rate", "0x10");
	CHECK_BAD("--rate: '99999999999999999999999' is not an integer", "--all-pythons", "--rate",
		  "99999999999999999999999");
}

static void test_bad_pid(void)
{
	CHECK_BAD("--pid: '0' is not a process id", "--pid", "0");
	CHECK_BAD("--pid: '-1' is not a process id", "--pid", "-1");
	CHECK_BAD("--pid: 'abc' is not a process id", "--pid", "abc");
	CHECK_BAD("--pid: '12x' is not a process id", "--pid", "12x");
	CHECK_BAD("--pid: '' is not a process id", "--pid", "");
	CHECK_BAD("--pid: '4194305' is not a process id", "--pid", "4194305");
	CHECK_BAD("--pid: '99999999999999999999' is not a process id", "--pid",
		  "99999999999999999999");
	CHECK_BAD("--pid: '1.5'", "--pid", "1.5");
}

static void test_bad_format(void)
{
	CHECK_BAD("--format: 'json' is not one of pprof, folded", "--all-pythons", "--format",
		  "json");
	CHECK_BAD("--format: 'PPROF'", "--all-pythons", "--format", "PPROF");
	CHECK_BAD("--format: ''", "--all-pythons", "--format", "");
}

static void test_empty_output(void)
{
	CHECK_BAD("empty file name", "--all-pythons", "-o", "");
	CHECK_BAD("empty file name", "--all-pythons", "--output=");
}

static void test_unknown_option(void)
{
	CHECK_BAD("unknown option '--bogus'", "--all-pythons", "--bogus");
	CHECK_BAD("unknown option '--bogus'", "--all-pythons", "--bogus=1");
	CHECK_BAD("unknown option '-x'", "--all-pythons", "-x");
	CHECK_BAD("unknown option '-x'", "--all-pythons", "-vx");
	/* a flag given a value it does not take */
	CHECK_BAD("option '--force' does not take an argument", "--all-pythons", "--force=yes");
	/* abbreviations: unique ones work, ambiguous ones are refused */
	CHECK_EQ_INT(PARSE("--all", "--dur", "2"), 0);
	CHECK(cfg.all_pythons);
	CHECK(cfg.duration_s == 2.0);
	CHECK_BAD("ambiguous option '--ver'", "--all-pythons", "--ver");
	CHECK_BAD("ambiguous option '--f'", "--all-pythons", "--f");
}

static void test_missing_argument(void)
{
	CHECK_BAD("option '--pid' requires an argument", "--pid");
	CHECK_BAD("option '--rate' requires an argument", "--all-pythons", "--rate");
	CHECK_BAD("option '--duration' requires an argument", "--all-pythons", "--duration");
	CHECK_BAD("option '--format' requires an argument", "--all-pythons", "--format");
	CHECK_BAD("option '--output' requires an argument", "--all-pythons", "--output");
	CHECK_BAD("option '-o' requires an argument", "--all-pythons", "-o");
	CHECK_BAD("option '-o' requires an argument", "--all-pythons", "-vo");
}

static void test_targets(void)
{
	CHECK_BAD("nothing to profile: give --all-pythons or --pid PID", "--rate", "10");
	CHECK_EQ_INT(parse_v((const char *const[]){NULL}), -EINVAL);
	CHECK(strstr(err, "nothing to profile") != NULL);
	CHECK_BAD("--all-pythons and --pid are exclusive", "--all-pythons", "--pid", "1");
	CHECK_BAD("--all-pythons and --pid are exclusive", "--pid", "1", "--all-pythons");
}

static void test_positional(void)
{
	CHECK_BAD("unexpected argument 'foo'", "--all-pythons", "foo");
	CHECK_BAD("unexpected argument 'foo'", "foo", "--all-pythons");
	CHECK_BAD("unexpected argument '123'", "--pid", "1", "123");
	CHECK_BAD("unexpected argument '--rate'", "--all-pythons", "--", "--rate");
}

static void test_first_error_wins(void)
{
	CHECK_BAD("--rate: '0'", "--rate", "0", "--duration", "x");
	CHECK(strstr(err, "duration") == NULL);
	/* an option error is reported rather than the missing target */
	CHECK_BAD("--rate: 'x'", "--rate", "x");
}

static void test_help_version(void)
{
	CHECK_EQ_INT(PARSE("--help"), 0);
	CHECK(cfg.help);
	CHECK_EQ_STR(err, "");
	CHECK_EQ_INT(PARSE("-h"), 0);
	CHECK(cfg.help);
	CHECK_EQ_INT(PARSE("--version"), 0);
	CHECK(cfg.version);
	CHECK(!cfg.help);
	CHECK_EQ_INT(PARSE("-V"), 0);
	CHECK(cfg.version);
	/* no target needed, and other mistakes on the line do not matter */
	CHECK_EQ_INT(PARSE("--all-pythons", "--pid", "3", "--help"), 0);
	CHECK(cfg.help);
	CHECK_EQ_INT(PARSE("--rate", "0", "--bogus", "stray", "--version"), 0);
	CHECK(cfg.version);
	CHECK_EQ_STR(err, "");
}

static void test_repeated_calls(void)
{
	/* getopt state is reset: the same argv parses the same way twice */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(PARSE("-v", "--pid", "9", "-v"), 0);
		CHECK_EQ_INT(cfg.verbose, 2);
		CHECK_EQ_INT(cfg.npids, 1);
		CHECK_EQ_INT(cfg.pids[0], 9);
	}
	/* a call that stopped in the middle of a short-option group does not leak into the next */
	CHECK_BAD("unknown option '-x'", "--all-pythons", "-xv");
	CHECK_EQ_INT(PARSE("--all-pythons"), 0);
	CHECK_EQ_INT(cfg.verbose, 0);
	/* nothing of an earlier call survives */
	CHECK_EQ_INT(PARSE("--pid", "5", "--force", "--format", "folded", "--rate", "7"), 0);
	CHECK_EQ_INT(PARSE("--all-pythons"), 0);
	CHECK_EQ_INT(cfg.npids, 0);
	CHECK(!cfg.force);
	CHECK_EQ_INT(cfg.format, FORMAT_PPROF);
	CHECK_EQ_INT(cfg.rate_hz, 99);
}

static void test_null_err_buffer(void)
{
	char *argv[] = {(char *)"pybpf-prof", (char *)"--rate", (char *)"0", NULL};
	char small[8];

	CHECK_EQ_INT(config__parse(&cfg, 3, argv, NULL, 0), -EINVAL);
	/* truncated, but terminated */
	CHECK_EQ_INT(config__parse(&cfg, 3, argv, small, sizeof(small)), -EINVAL);
	CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
}

static void test_usage(void)
{
	const char *u = config__usage(CMD_RECORD);

	CHECK(u != NULL);
	CHECK(strstr(u, "Usage: pybpf-prof") != NULL);
	static const char *const needles[] = {
	    "--all-pythons", "--pid PID",	  "--duration SECONDS",
	    "--rate HZ",     "-o, --output FILE", "--force",
	    "--format",	     "-v, --verbose",	  "-h, --help",
	    "-V, --version", "profile.pb.gz",	  "profile.folded",
	    "Exit codes",    "CAP_BPF",		  "/sys/kernel/btf/vmlinux",
	    "not CPython",   "--force",
	};
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
		if (!strstr(u, needles[i])) {
			fprintf(stderr, "usage lacks \"%s\"\n", needles[i]);
			test_failures++;
		}
	}
	/* every exit code is listed, one per line */
	for (int code = EXIT_OK; code <= EXIT_OUTPUT; code++) {
		char line[8];

		snprintf(line, sizeof(line), "\n  %d  ", code);
		if (!strstr(u, line)) {
			fprintf(stderr, "usage lacks exit code %d\n", code);
			test_failures++;
		}
	}
	/* ends with a newline, no line wider than 80 columns */
	CHECK(u[strlen(u) - 1] == '\n');
	for (const char *p = u; *p;) {
		size_t n = strcspn(p, "\n");

		CHECK(n <= 80);
		p += n + (p[n] == '\n');
	}
}

static void test_daemon_options(void)
{
	CHECK_EQ_INT(PARSE("--all-pythons", "--interval", "60", "--output-dir", "/var/lib/p",
			   "--max-files", "1440", "--max-bytes", "500M", "--push",
			   "http://pyroscope:4040", "--push-header", "X-Scope-OrgID: t1",
			   "--push-header", "Authorization: Bearer x"),
		     0);
	CHECK(cfg.interval_s == 60.0);
	CHECK_EQ_STR(cfg.output_dir, "/var/lib/p");
	CHECK_EQ_INT(cfg.max_files, 1440);
	CHECK_EQ_INT(cfg.max_bytes, 500ull << 20);
	CHECK_EQ_STR(cfg.push_url, "http://pyroscope:4040");
	CHECK_EQ_INT(cfg.npush_headers, 2);
	CHECK_EQ_STR(cfg.push_headers[1], "Authorization: Bearer x");
	CHECK_EQ_INT(PARSE("--all-pythons", "--interval", "1", "--push", "https://h/"), 0);
	CHECK_EQ_INT(
	    PARSE("--all-pythons", "--interval", "5", "--output-dir", "d", "--max-bytes", "2G"), 0);
	CHECK_EQ_INT(cfg.max_bytes, 2ull << 30);
}

static void test_bad_daemon_options(void)
{
	CHECK_BAD("--interval", "--all-pythons", "--interval", "0.5", "--output-dir", "d");
	CHECK_BAD("--interval", "--all-pythons", "--interval", "x", "--output-dir", "d");
	CHECK_BAD("needs --output-dir", "--all-pythons", "--interval", "10");
	CHECK_BAD("need --interval", "--all-pythons", "--output-dir", "d");
	CHECK_EQ_INT(PARSE("--all-pythons", "--push", "http://x"), 0); /* one profile, pushed */
	CHECK_BAD("needs --push", "--all-pythons", "--push-header", "A: b");
	/* one-shot: the file in any format, the push in pprof */
	CHECK_EQ_INT(PARSE("--all-pythons", "--push", "http://x", "--format", "folded"), 0);
	CHECK_BAD("use --output-dir", "--all-pythons", "--interval", "10", "--output-dir", "d",
		  "-o", "f.pb.gz");
	CHECK_BAD("--push sends pprof", "--all-pythons", "--interval", "10", "--push", "http://x",
		  "--format", "folded");
	CHECK_BAD("--max-files", "--all-pythons", "--interval", "10", "--output-dir", "d",
		  "--max-files", "10K");
	CHECK_BAD("--max-bytes", "--all-pythons", "--interval", "10", "--output-dir", "d",
		  "--max-bytes", "12Q");
	CHECK_BAD("--max-bytes", "--all-pythons", "--interval", "10", "--output-dir", "d",
		  "--max-bytes", "99999999999999999999G");
	CHECK_BAD("--push", "--all-pythons", "--interval", "10", "--push", "ftp://x");
	CHECK_BAD("--push-header", "--all-pythons", "--interval", "10", "--push", "http://x",
		  "--push-header", "no colon");
	CHECK_BAD("--push-header", "--all-pythons", "--interval", "10", "--push", "http://x",
		  "--push-header", "A: b\r\nEvil: 1");
	CHECK_BAD("empty directory", "--all-pythons", "--interval", "10", "--output-dir", "");
}

static void test_file_formats(void)
{
	static const char *const names[][2] = {{"svg", "profile.svg"},
					       {"speedscope", "profile.speedscope.json"},
					       {"text", "profile.txt"}};

	for (size_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(PARSE("--all-pythons", "--format", names[i][0]), 0);
		CHECK_EQ_STR(cfg.output, names[i][1]);
		CHECK_EQ_STR(writer__format_name(cfg.write.format), names[i][0]);
	}
	CHECK_EQ_INT(PARSE("--all-pythons", "--format", "text", "--sort", "own", "--limit", "20",
			   "--per-process"),
		     0);
	CHECK_EQ_INT(cfg.write.sort, SORT_OWN);
	CHECK_EQ_INT(cfg.write.limit, 20);
	CHECK(cfg.write.per_process);
	/* Interval files in any format. */
	CHECK_EQ_INT(
	    PARSE("--all-pythons", "--interval", "10", "--output-dir", "d", "--format", "svg"), 0);
	CHECK_EQ_INT(cfg.write.format, FORMAT_SVG);
	CHECK_BAD("need --format text", "--all-pythons", "--sort", "own");
	CHECK_BAD("need --format text", "--all-pythons", "--format", "svg", "--limit", "3");
	CHECK_BAD("--sort", "--all-pythons", "--format", "text", "--sort", "self");
	CHECK_BAD("--limit", "--all-pythons", "--format", "text", "--limit", "0");
	CHECK_BAD("--limit", "--all-pythons", "--format", "text", "--limit", "5x");
	CHECK_BAD("not one of", "--all-pythons", "--format", "png");
}

static void test_convert(void)
{
	CHECK_EQ_INT(PARSE("convert", "in.pb.gz", "-o", "out.svg", "--format", "svg"), 0);
	CHECK_EQ_INT(cfg.command, CMD_CONVERT);
	CHECK_EQ_STR(cfg.input, "in.pb.gz");
	CHECK_EQ_STR(cfg.output, "out.svg");
	CHECK_EQ_INT(cfg.write.format, FORMAT_SVG);
	/* No -o: standard output. */
	CHECK_EQ_INT(PARSE("convert", "--format", "text", "--limit", "5", "in.pb.gz"), 0);
	CHECK(cfg.output == NULL);
	CHECK_EQ_INT(cfg.write.limit, 5);
	CHECK_BAD("give the pprof file", "convert", "--format", "text");
	CHECK_BAD("unexpected argument 'b'", "convert", "a", "b");
	CHECK_BAD("convert takes", "convert", "a", "--all-pythons");
	CHECK_BAD("convert takes", "convert", "a", "--interval", "5");
	/* "convert" anywhere but first is just an argument. */
	CHECK_BAD("unexpected argument 'convert'", "--all-pythons", "convert");
}

static void test_commands(void)
{
	/* No command word: record, as before. */
	CHECK_EQ_INT(PARSE("--all-pythons", "--duration", "30"), 0);
	CHECK_EQ_INT(cfg.command, CMD_RECORD);
	CHECK(cfg.program == NULL);
	CHECK_EQ_INT(PARSE("record", "--all-pythons", "--duration", "30"), 0);
	CHECK_EQ_INT(cfg.command, CMD_RECORD);
	CHECK(cfg.all_pythons);
	CHECK(cfg.duration_s == 30.0);

	/* record -- PROGRAM ARGS: options after PROGRAM are its own. */
	CHECK_EQ_INT(PARSE("record", "--rate", "200", "--", "python3", "app.py", "--rate", "x"), 0);
	CHECK(cfg.program != NULL);
	if (cfg.program) {
		CHECK_EQ_STR(cfg.program[0], "python3");
		CHECK_EQ_STR(cfg.program[1], "app.py");
		CHECK_EQ_STR(cfg.program[2], "--rate");
		CHECK_EQ_STR(cfg.program[3], "x");
		CHECK(cfg.program[4] == NULL);
	}
	CHECK_EQ_INT(cfg.rate_hz, 200);
	CHECK(!cfg.all_pythons && cfg.npids == 0);
	CHECK_EQ_INT(PARSE("record", "-o", "p.pb.gz", "python3", "-c", "pass"), 0);
	CHECK(cfg.program && !strcmp(cfg.program[1], "-c"));
	CHECK_BAD("do not apply", "record", "--all-pythons", "--", "python3");
	CHECK_BAD("do not apply", "record", "--pid", "5", "--", "python3");
	CHECK_BAD("--interval", "record", "--interval", "5", "--output-dir", "/tmp", "--",
		  "python3");
	CHECK_BAD("nothing to profile", "record");
	CHECK_BAD("nothing to profile", "record", "--");
	/* Without the word `record` no program is taken (unchanged behaviour). */
	CHECK_BAD("unexpected argument 'python3'", "--", "python3");

	/* --subprocesses */
	CHECK_EQ_INT(PARSE("--pid", "5", "--subprocesses"), 0);
	CHECK(cfg.subprocesses);
	CHECK_BAD("--subprocesses needs --pid", "--all-pythons", "--subprocesses");

	/* dump */
	CHECK_EQ_INT(PARSE("dump", "--pid", "7", "--pid", "8", "--json", "--locals"), 0);
	CHECK_EQ_INT(cfg.command, CMD_DUMP);
	CHECK_EQ_INT(cfg.npids, 2);
	CHECK(cfg.json && cfg.locals);
	CHECK_EQ_INT(PARSE("dump", "--all-pythons"), 0);
	CHECK(cfg.all_pythons && !cfg.json && !cfg.locals);
	CHECK_BAD("nothing to dump", "dump");
	CHECK_BAD("--rate does not apply to 'dump'", "dump", "--pid", "7", "--rate", "9");
	CHECK_BAD("--output does not apply to 'dump'", "dump", "--pid", "7", "-o", "x");
	CHECK_BAD("--subprocesses does not apply to 'dump'", "dump", "--pid", "7",
		  "--subprocesses");
	CHECK_BAD("unexpected argument 'x'", "dump", "--pid", "7", "x");
	CHECK_BAD("--json does not apply to 'record'", "--all-pythons", "--json");
	CHECK_BAD("--locals does not apply to 'top'", "top", "--locals");

	/* top: the whole machine unless --pid */
	CHECK_EQ_INT(PARSE("top"), 0);
	CHECK_EQ_INT(cfg.command, CMD_TOP);
	CHECK(cfg.all_pythons);
	CHECK_EQ_INT(PARSE("top", "--pid", "3", "--subprocesses", "--rate", "49"), 0);
	CHECK(!cfg.all_pythons && cfg.subprocesses && cfg.rate_hz == 49);
	CHECK_BAD("--format does not apply to 'top'", "top", "--format", "folded");

	/* --help of a command */
	CHECK_EQ_INT(PARSE("dump", "--help"), 0);
	CHECK(cfg.help && cfg.command == CMD_DUMP);
	CHECK(strstr(config__usage(CMD_DUMP), "--locals") != NULL);
	CHECK(strstr(config__usage(CMD_TOP), "q quit") != NULL);
	CHECK_EQ_STR(config__command_name(CMD_TOP), "top");
	CHECK_EQ_STR(config__command_name(CMD_CONVERT), "convert");
	/* A command word is only a command in first place. */
	CHECK_BAD("unexpected argument 'dump'", "--all-pythons", "dump");
}

TEST_MAIN(TEST(test_defaults), TEST(test_all_options), TEST(test_equals_forms),
	  TEST(test_repeated_pids), TEST(test_max_pids), TEST(test_output_default_follows_format),
	  TEST(test_duration), TEST(test_bad_duration), TEST(test_rate), TEST(test_mode),
	  TEST(test_bad_rate), TEST(test_bad_pid), TEST(test_bad_format), TEST(test_empty_output),
	  TEST(test_unknown_option), TEST(test_missing_argument), TEST(test_targets),
	  TEST(test_positional), TEST(test_first_error_wins), TEST(test_help_version),
	  TEST(test_repeated_calls), TEST(test_null_err_buffer), TEST(test_usage),
	  TEST(test_daemon_options), TEST(test_bad_daemon_options), TEST(test_file_formats),
	  TEST(test_convert), TEST(test_commands), TEST(test_kernel_stacks))
