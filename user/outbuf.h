/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Buffered output to a file descriptor for the text-like writers (text
 * table, speedscope JSON, SVG). The first error sticks: later calls are
 * no-ops and outbuf__finish returns it, so writers check once at the end.
 */
#ifndef PYBPF_OUTBUF_H
#define PYBPF_OUTBUF_H

#include <stddef.h>

struct outbuf {
	int fd;
	int err;
	size_t used;
	char data[64 * 1024];
};

void outbuf__init(struct outbuf *b, int fd);
void outbuf__put(struct outbuf *b, const char *s, size_t n);
void outbuf__puts(struct outbuf *b, const char *s);
void outbuf__printf(struct outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * s as the body of a JSON string (no quotes): '"', '\\' and control
 * characters escaped, '<', '>' and '&' as \u escapes (safe inside XML and
 * HTML script text), bytes that are not valid UTF-8 as U+FFFD.
 */
void outbuf__json_text(struct outbuf *b, const char *s);
/* s as XML character data: '<', '>', '&', '"' escaped, invalid UTF-8 and
 * control characters replaced. */
void outbuf__xml_text(struct outbuf *b, const char *s);
/* s with control characters (newlines included) as spaces, so that one
 * name cannot break a line-oriented output. */
void outbuf__line_text(struct outbuf *b, const char *s);
/* Write out what is buffered. 0 or the first -errno. */
int outbuf__finish(struct outbuf *b);

#endif
