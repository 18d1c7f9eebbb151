// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Buffered fd output with a sticky error (outbuf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outbuf.h"

void outbuf__init(struct outbuf *b, int fd)
{
	b->fd = fd;
	b->err = 0;
	b->used = 0;
}

static void flush(struct outbuf *b)
{
	size_t off = 0;

	while (!b->err && off < b->used) {
		ssize_t n = write(b->fd, b->data + off, b->used - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			b->err = -errno;
		else if (n == 0)
			b->err = -EIO;
		else
			off += (size_t)n;
	}
	b->used = 0;
}

void outbuf__put(struct outbuf *b, const char *s, size_t n)
{
	while (n && !b->err) {
		size_t room = sizeof(b->data) - b->used, take = n < room ? n : room;

		memcpy(b->data + b->used, s, take);
		b->used += take;
		s += take;
		n -= take;
		if (b->used == sizeof(b->data))
			flush(b);
	}
}

void outbuf__puts(struct outbuf *b, const char *s)
{
	outbuf__put(b, s, strlen(s));
}

void outbuf__printf(struct outbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		if (!b->err)
			b->err = -EINVAL; /* only short, fixed formats are printed */
		return;
	}
	outbuf__put(b, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void outbuf__json_text(struct outbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p && !b->err) {
		size_t n = utf8_len(p);
		unsigned char c = *p;

		if (!n) {
			outbuf__puts(b, "\\ufffd");
			p++;
		} else if (n > 1) {
			outbuf__put(b, (const char *)p, n);
			p += n;
		} else {
			if (c == '"' || c == '\\')
				outbuf__printf(b, "\\%c", c);
			else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&')
				outbuf__printf(b, "\\u%04x", c);
			else
				outbuf__put(b, (const char *)p, 1);
			p++;
		}
	}
}

void outbuf__xml_text(struct outbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p && !b->err) {
		size_t n = utf8_len(p);
		unsigned char c = *p;

		if (!n || (n == 1 && (c < 0x20 || c == 0x7f))) {
			outbuf__puts(b, n ? " " : "\xef\xbf\xbd");
			p++;
			continue;
		}
		if (c == '<')
			outbuf__puts(b, "&lt;");
		else if (c == '>')
			outbuf__puts(b, "&gt;");
		else if (c == '&')
			outbuf__puts(b, "&amp;");
		else if (c == '"')
			outbuf__puts(b, "&quot;");
		else
			outbuf__put(b, (const char *)p, n);
		p += n;
	}
}

void outbuf__line_text(struct outbuf *b, const char *s)
{
	while (*s && !b->err) {
		size_t n = 0;

		while (s[n] && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f)
			n++;
		outbuf__put(b, s, n);
		s += n;
		if (*s) {
			outbuf__put(b, " ", 1);
			s++;
		}
	}
}

int outbuf__finish(struct outbuf *b)
{
	flush(b);
	return b->err;
}
