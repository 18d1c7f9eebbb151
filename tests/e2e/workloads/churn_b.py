# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A short-lived process for test_churn.py; the twin of churn_a.py.

The two files are the same code but for the names alpha/bravo (of the same
length), so under one interpreter with address randomization off their code
objects land at the same addresses, with the same first lines: a profiler
that knew code objects by pid and address alone would give the frames of one
process the names of the other when a pid is reused.

usage: churn_b.py wall|cpu SECONDS   prints "code ADDRESS" (of bravo_hot's
       code object), burns SECONDS of wall-clock or CPU time in bravo_hot,
       then exits 0.
"""
import sys
import time


def bravo_hot(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003  # HOT
    return acc


def bravo_main(clock, seconds):
    print("code %x" % id(bravo_hot.__code__), flush=True)
    end = clock() + seconds
    while clock() < end:
        bravo_hot(2000)  # CALL-HOT


CLOCK = time.monotonic if sys.argv[1] == "wall" else time.process_time
bravo_main(CLOCK, float(sys.argv[2]))  # CALL-MAIN
