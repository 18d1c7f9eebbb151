# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Deep stacks: recurse() calls itself DEPTH times and burns CPU at the bottom.

Almost every sample is taken in the bottom call, so its stack is, leaf
first: DEPTH + 1 frames of recurse (the leaf on line HOT-LEAF or the loop
header LOOP-LEAF, the others on line RECURSE-CALL), then main (line MAIN-CALL), then <module>
(line MODULE-CALL).

usage: recursion.py [SECONDS]   prints "ready" once warmed up, then runs
                                SECONDS (default 60) and prints "done".
"""
import sys
import time

DEPTH = 200  # recursive calls below the first recurse() frame
BURN = 200000  # loop iterations at the bottom (about 10 ms)


def recurse(depth):
    if depth > 0:
        return recurse(depth - 1)  # RECURSE-CALL
    acc = 0
    for i in range(BURN):  # LOOP-LEAF
        acc = (acc * 31 + i) % 1000003  # HOT-LEAF
    return acc


def main(seconds):
    for _ in range(3):  # warm up
        recurse(DEPTH)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    calls = 0
    while time.monotonic() < deadline:
        recurse(DEPTH)  # MAIN-CALL
        calls += 1
    print("done calls=%d" % calls, flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)  # MODULE-CALL
