# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What every benchmark workload shares: the unit of work and the start protocol.

A workload starts, prints `READY <pid>` on stdout and waits for one line on
stdin, so the harness can attach a profiler before any measured work begins.
It then does its work and prints one JSON line with what it measured itself.
"""
import json
import os
import resource
import sys
import time


def spin(n):
    """Pure-Python busy work: n iterations of integer arithmetic."""
    x = 0
    for i in range(n):
        x += i ^ (i >> 3)
    return x


def handshake(wait=True):
    print("READY %d" % os.getpid(), flush=True)
    if wait:
        sys.stdin.readline()


def proc_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def report(**kw):
    print(json.dumps(kw), flush=True)


now = time.perf_counter
