// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "dump.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "procfs.h"
#include "profile.h"
#include "symbolizer.h"
#include "taskinfo.h"
#include "monoclock.h"

struct dump_priv {
	struct symbolizer *sym;
};

const char *dump__state_name(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'D':
		return "disk-wait";
	case 'T':
		return "stopped";
	case 't':
		return "traced";
	case 'Z':
		return "zombie";
	case 'X':
		return "dead";
	case 'I':
		return "idle";
	default:
		return "unknown";
	}
}

/* Name the frames of one thread, and read their locals. */
static int dump__frames(struct dump_proc *d, const struct threadsnap_thread *th,
			const struct symbolizer_proc *sp, struct pylocals *pl,
			struct dump_thread *out)
{
	struct dump_priv *priv = d->priv;

	out->frames = calloc(th->stack.depth ? th->stack.depth : 1, sizeof(*out->frames));
	if (!out->frames)
		return -ENOMEM;
	for (__u32 i = 0; i < th->stack.depth; i++) {
		struct dump_frame *f = &out->frames[out->nframes];
		struct profile_frame pf;

		if (symbolizer__frame(priv->sym, sp, &th->stack.frames[i], &pf) ==
		    SYMBOLIZER_INTERNAL)
			continue;
		f->name = pf.name;
		f->file = pf.file;
		f->line = pf.line;
		if (pl && pylocals__read(pl, th->frame_addr[i], th->stack.frames[i].code,
					 &f->locals, &f->nlocals)) {
			f->locals = NULL;
			f->nlocals = 0;
		}
		out->nframes++;
	}
	out->truncated = th->stack.flags & STACK_F_TRUNCATED;
	return 0;
}

struct dump_proc *dump__take(const char *proc, pid_t pid, const struct dump_opts *opts,
			     struct pyinfo *info)
{
	struct threadsnap_thread *th = NULL;
	struct pylocals *pl = NULL;
	struct symbolizer_proc sp;
	struct threadsnap *ts;
	struct dump_priv *priv;
	struct dump_proc *d;
	uint64_t t0 = monoclock__ns(), gil = 0;
	bool gil_known = false;
	size_t n = 0;
	int err;

	ts = threadsnap__new(proc, pid, info);
	if (!ts)
		return NULL;
	d = calloc(1, sizeof(*d));
	priv = calloc(1, sizeof(*priv));
	if (!d || !priv) {
		free(priv);
		err = -ENOMEM;
		goto out_free_ts;
	}
	d->priv = priv;
	priv->sym = symbolizer__new();
	if (!priv->sym) {
		err = -ENOMEM;
		goto out_free_ts;
	}
	d->pid = pid;
	d->info = *threadsnap__info(ts);
	if (procfs__comm(proc, pid, 0, d->comm, sizeof(d->comm)) && errno != ERANGE)
		d->comm[0] = '\0';
	if (procfs__ppid(proc, pid, &d->ppid))
		d->ppid = 0;
	if (procfs__cmdline(proc, pid, d->cmdline, sizeof(d->cmdline)))
		d->cmdline[0] = '\0';
	if (opts && opts->locals) {
		pl = pylocals__new(pid, &d->info, &threadsnap__proc(ts)->off);
		if (!pl && errno == ENOMEM) {
			err = -ENOMEM;
			goto out_free_ts;
		}
	}
	err = threadsnap__take(ts, &th, &n);
	if (err)
		goto out_free_locals;
	gil_known = threadsnap__gil_holder(ts, &gil) == 0;
	d->threads = calloc(n ? n : 1, sizeof(*d->threads));
	if (!d->threads) {
		err = -ENOMEM;
		goto out_free_th;
	}
	sp = (struct symbolizer_proc){.gen = 1,
				      .pid = pid,
				      .alive = true,
				      .major = d->info.major,
				      .minor = d->info.minor,
				      .off = &threadsnap__proc(ts)->off};
	for (size_t i = 0; i < n; i++) {
		struct dump_thread *t = &d->threads[d->nthreads];
		struct taskinfo ti;

		t->tid = th[i].tid;
		t->ns_tid = th[i].ns_tid;
		t->status = th[i].status;
		t->gil = !gil_known ? -1 : th[i].tstate && th[i].tstate == gil;
		t->state = '?';
		t->syscall = TASKINFO_SYSCALL_UNKNOWN;
		if (th[i].tid && !taskinfo__read(proc, pid, th[i].tid, &ti)) {
			t->state = ti.state;
			t->syscall = ti.syscall;
			memcpy(t->name, ti.name, sizeof(t->name));
		}
		d->nthreads++;
		err = dump__frames(d, &th[i], &sp, pl, t);
		if (err)
			goto out_free_th;
	}
	d->took_ns = monoclock__ns() - t0;
out_free_th:
	free(th);
out_free_locals:
	pylocals__free(pl);
out_free_ts:
	threadsnap__free(ts);
	if (err) {
		dump__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void dump__free(struct dump_proc *d)
{
	struct dump_priv *priv;

	if (!d)
		return;
	priv = d->priv;
	for (size_t i = 0; i < d->nthreads; i++) {
		for (size_t j = 0; j < d->threads[i].nframes; j++)
			pylocals__free_list(d->threads[i].frames[j].locals,
					    d->threads[i].frames[j].nlocals);
		free(d->threads[i].frames);
	}
	free(d->threads);
	if (priv)
		symbolizer__free(priv->sym);
	free(priv);
	free(d);
}

/* ---- text --------------------------------------------------------------- */

/* "running (on CPU)", "sleeping in futex", ... */
static void dump__activity(const struct dump_thread *t, char *buf, size_t len)
{
	const char *sc = taskinfo__syscall_name(t->syscall);

	if (t->state == 'R')
		snprintf(buf, len, "running (on CPU)");
	else if (sc)
		snprintf(buf, len, "%s in %s()", dump__state_name(t->state), sc);
	else if (t->syscall >= 0)
		snprintf(buf, len, "%s in syscall %ld", dump__state_name(t->state), t->syscall);
	else
		snprintf(buf, len, "%s", dump__state_name(t->state));
}

int dump__write_text(FILE *f, const struct dump_proc *d)
{
	fprintf(f, "Process %d: %s\n", (int)d->pid, d->cmdline[0] ? d->cmdline : d->comm);
	fprintf(f, "Python %u.%u.%u%s (%s), parent %d\n", d->info.major, d->info.minor,
		d->info.micro, d->info.free_threaded ? " free-threaded" : "", d->info.binary,
		(int)d->ppid);
	for (size_t i = 0; i < d->nthreads; i++) {
		const struct dump_thread *t = &d->threads[i];
		char act[96];

		fputc('\n', f);
		if (!t->tid) {
			fprintf(f, "Thread state without a running OS thread (%s)\n",
				threadsnap__status_name(t->status));
		} else {
			dump__activity(t, act, sizeof(act));
			fprintf(f, "Thread %d \"%s\"", (int)t->tid, t->name);
			if (t->ns_tid != t->tid)
				fprintf(f, " (%d in its namespace)", (int)t->ns_tid);
			fprintf(f, ": %s%s", act, t->gil == 1 ? ", holds the GIL" : "");
			if (t->status == THREADSNAP_TORN)
				fputs(", stack changing while read (partial)", f);
			else if (t->status == THREADSNAP_SKIPPED)
				fputs(", stack not read (time budget spent)", f);
			fputc('\n', f);
		}
		if (t->status == THREADSNAP_NO_PYTHON)
			fputs("    (no Python thread state: a native thread)\n", f);
		else if (!t->nframes)
			fputs("    (no Python frames)\n", f);
		for (size_t j = 0; j < t->nframes; j++) {
			const struct dump_frame *fr = &t->frames[j];

			fprintf(f, "    %s (%s:%" PRId64 ")\n", fr->name, fr->file, fr->line);
			for (size_t k = 0; k < fr->nlocals; k++)
				fprintf(f, "        %s = %s\n", fr->locals[k].name,
					fr->locals[k].value ? fr->locals[k].value : "<unbound>");
		}
		if (t->truncated)
			fputs("    [truncated: deeper frames not shown]\n", f);
	}
	return ferror(f) ? -EIO : 0;
}

/* ---- JSON --------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_thread(FILE *f, const struct dump_thread *t)
{
	const char *sc = taskinfo__syscall_name(t->syscall);

	fprintf(f, "{\"tid\": %d, \"ns_tid\": %d, \"name\": ", (int)t->tid, (int)t->ns_tid);
	json_str(f, t->name);
	fprintf(f, ", \"state\": \"%s\", \"on_cpu\": %s, \"syscall\": ", dump__state_name(t->state),
		t->state == 'R' ? "true" : "false");
	if (sc)
		json_str(f, sc);
	else if (t->syscall >= 0)
		fprintf(f, "\"%ld\"", t->syscall);
	else
		fputs("null", f);
	fprintf(f, ", \"gil\": %s", t->gil < 0 ? "null" : t->gil ? "true" : "false");
	fprintf(f, ", \"status\": \"%s\", \"truncated\": %s, \"frames\": [",
		threadsnap__status_name(t->status), t->truncated ? "true" : "false");
	for (size_t j = 0; j < t->nframes; j++) {
		const struct dump_frame *fr = &t->frames[j];

		fputs(j ? ", {\"function\": " : "{\"function\": ", f);
		json_str(f, fr->name);
		fputs(", \"file\": ", f);
		json_str(f, fr->file);
		fprintf(f, ", \"line\": %" PRId64, fr->line);
		if (fr->locals) {
			fputs(", \"locals\": {", f);
			for (size_t k = 0; k < fr->nlocals; k++) {
				fputs(k ? ", " : "", f);
				json_str(f, fr->locals[k].name);
				fputs(": ", f);
				if (fr->locals[k].value)
					json_str(f, fr->locals[k].value);
				else
					fputs("null", f);
			}
			fputc('}', f);
		}
		fputc('}', f);
	}
	fputs("]}", f);
}

int dump__write_json(FILE *f, const struct dump_proc *const *procs, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		const struct dump_proc *d = procs[i];

		fprintf(f, "%s{\"pid\": %d, \"ppid\": %d, \"comm\": ", i ? ",\n " : "", (int)d->pid,
			(int)d->ppid);
		json_str(f, d->comm);
		fputs(", \"cmdline\": ", f);
		json_str(f, d->cmdline);
		fprintf(f, ", \"python\": \"%u.%u.%u%s\", \"binary\": ", d->info.major,
			d->info.minor, d->info.micro, d->info.free_threaded ? "t" : "");
		json_str(f, d->info.binary);
		fputs(", \"threads\": [", f);
		for (size_t t = 0; t < d->nthreads; t++) {
			fputs(t ? ", " : "", f);
			json_thread(f, &d->threads[t]);
		}
		fputs("]}", f);
	}
	fputs("]\n", f);
	return ferror(f) ? -EIO : 0;
}
