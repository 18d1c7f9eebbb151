/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json):
 * one "sampled" profile per thread of each process, named
 * "comm (pid) thread", unit "none" and weights in samples. A frame is one
 * location: the function's name, its file and the line executing; frames
 * are shared by all profiles.
 */
#ifndef PYBPF_SPEEDSCOPE_H
#define PYBPF_SPEEDSCOPE_H

struct profile;

/* 0 or -errno. */
int speedscope__write(const struct profile *p, int fd);

#endif
