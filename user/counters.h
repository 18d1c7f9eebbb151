/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Display names of the BPF counters (enum pybpf_counter). */
#ifndef PYBPF_COUNTERS_H
#define PYBPF_COUNTERS_H

#include "pybpf_abi.h"

/* Short snake_case name; "?" for an unknown id. */
const char *counter__name(unsigned int id);
/* True for counters that mean a sample was lost or degraded. */
int counter__is_drop(unsigned int id);

#endif
