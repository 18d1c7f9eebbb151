/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A service name for a Python process, from its command line: the module
 * of `python -m celery ...`, the script of `python /srv/api/server.py`, or
 * the program of `gunicorn: worker [app]` / `/usr/local/bin/uvicorn ...`.
 * Used to name pushed profiles and as the `service` label.
 */
#ifndef PYBPF_SERVICE_H
#define PYBPF_SERVICE_H

#include <stddef.h>
#include <sys/types.h>

/* From argv (argc entries); `comm` is the fallback. Writes a name made of
 * [A-Za-z0-9._-] (other bytes become '_'), never empty. */
void service__from_argv(const char *const *argv, int argc, const char *comm, char *out,
			size_t len);

/* The same for a process, reading <proc>/PID/cmdline. 0 or -errno (out is
 * then the sanitized comm). */
int service__name(const char *proc, pid_t pid, const char *comm, char *out, size_t len);

#endif
