# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""For test_code_events.c: 1200 distinct functions, each sleeping briefly (a
switch-out: a new stack in wall mode). Prints "ready"; on the line "1" on
stdin calls each from `first`, on "2" each again from `second` (new stacks,
the same code objects), printing "done" after each."""
import sys
import time

fns = []
for i in range(1200):
    ns = {}
    exec(compile("def flood_%d(nap):\n    nap(0.0001)\n" % i, "<codeflood>", "exec"), ns)
    fns.append(ns["flood_%d" % i])


def first():
    for f in fns:
        f(time.sleep)


def second():
    for f in fns:
        f(time.sleep)


print("ready", flush=True)
for line in sys.stdin:
    {"1": first, "2": second}[line.strip()]()
    print("done", flush=True)
