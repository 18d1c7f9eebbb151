/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Read another process's memory without stopping it (process_vm_readv). */
#ifndef PYBPF_MEMREAD_H
#define PYBPF_MEMREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Copy exactly len bytes at addr in pid. 0, -EFAULT (partial/unmapped), -ESRCH or -errno. */
int memread(pid_t pid, uint64_t addr, void *buf, size_t len);

/* A reader with memread's contract, for a module that can be given another
 * one (a test's or fuzzer's memory image) instead of memread. */
typedef int memread_fn(pid_t pid, uint64_t addr, void *buf, size_t len);

#endif
