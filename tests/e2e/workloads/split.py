# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Known CPU split: Split.heavy does exactly 3x the work of Split.light.

Both methods run the same loop body (the lines marked HOT-*) on the same
small integers; heavy runs it 3 * UNIT times per call and light UNIT times,
and main calls them alternately. So of the samples that land in either
method, 75 % are in heavy and 25 % in light, and the hot line of each is its
loop body.

usage: split.py [SECONDS]   prints "ready" once warmed up, then runs for SECONDS
                            of its own CPU time (default 60), so it does the same
                            work however busy the machine, and prints
                            "done rounds=N".
"""
import sys
import time

UNIT = 20000  # loop iterations in one work unit (about 1 ms)


class Split:
    def heavy(self, n):
        acc = 0
        for i in range(3 * n):
            acc = (acc * 31 + i) % 1000003  # HOT-HEAVY
        return acc

    def light(self, n):
        acc = 0
        for i in range(n):
            acc = (acc * 31 + i) % 1000003  # HOT-LIGHT
        return acc


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    s = Split()
    for _ in range(20):  # warm up: let the interpreter specialise both loops
        s.heavy(UNIT)
        s.light(UNIT)
    print("ready", flush=True)
    deadline = time.process_time() + seconds
    rounds = 0
    while time.process_time() < deadline:
        s.heavy(UNIT)  # CALL-HEAVY
        s.light(UNIT)  # CALL-LIGHT
        rounds += 1
    print("done rounds=%d" % rounds, flush=True)


if __name__ == "__main__":
    main()  # CALL-MAIN
