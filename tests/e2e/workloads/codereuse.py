# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Code objects freed and others allocated at the same addresses, all the time.

Each generation compiles a fresh function gen_<i> (its own code object, first
line i + 1 of the pseudo-file "codereuse_gen.py"), runs it for SPIN seconds of
CPU, and drops it, so its code object is freed before the next generation is
compiled; the allocator then often hands the next code object the same
address. A profiler that kept a code object's identity across samples without
noticing the free would name gen_<i> as an older generation.

usage: codereuse.py   prints "ready", then one line per generation:
                      "gen <i> <id of its code object>", until killed.
"""
import sys
import time

SPIN = 0.03  # CPU seconds per generation
TEMPLATE = "def gen_%d():\n    end = clock() + SPIN\n    while clock() < end:  # GEN-SPIN\n        pass\n"


def generation(i):
    ns = {"clock": time.thread_time, "SPIN": SPIN}
    exec(compile("\n" * i + TEMPLATE % i, "codereuse_gen.py", "exec"), ns)
    fn = ns.pop("gen_%d" % i)
    addr = id(fn.__code__)
    fn()
    return addr


def main():
    print("ready", flush=True)
    i = 0
    while True:
        addr = generation(i)
        sys.stdout.write("gen %d %d\n" % (i, addr))
        sys.stdout.flush()
        i += 1


main()
