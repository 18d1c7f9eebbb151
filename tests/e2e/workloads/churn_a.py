# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A short-lived process for test_churn.py; the twin of churn_b.py.

The two files are the same code but for the names alpha/bravo (of the same
length), so under one interpreter with address randomization off their code
objects land at the same addresses, with the same first lines: a profiler
that knew code objects by pid and address alone would give the frames of one
process the names of the other when a pid is reused.

usage: churn_a.py wall|cpu SECONDS   prints "code ADDRESS" (of alpha_hot's
       code object), burns SECONDS of wall-clock or CPU time in alpha_hot,
       then exits 0.
"""
import sys
import time


def alpha_hot(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003  # HOT
    return acc


def alpha_main(clock, seconds):
    print("code %x" % id(alpha_hot.__code__), flush=True)
    end = clock() + seconds
    while clock() < end:
        alpha_hot(2000)  # CALL-HOT


CLOCK = time.monotonic if sys.argv[1] == "wall" else time.process_time
alpha_main(CLOCK, float(sys.argv[2]))  # CALL-MAIN
