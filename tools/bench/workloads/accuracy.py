# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Ground truth for profiler accuracy: CPU time per function, measured by the
workload itself with time.thread_time() around every call.

    accuracy.py --scenario py   --seconds S
        one thread; f(), g(), h() do the same loop with work in the ratio 6:3:1.
    accuracy.py --scenario gil  --seconds S
        main thread: f() and g() in Python, ratio 2:1;
        a second thread in C code with the GIL released: c_zlib() calls
        zlib.compress on a 1 MiB buffer, c_sha() hashlib.sha256 on 8 MiB,
        alternately.

Every sample of a profiler should fall into one of these functions (their
callers only loop), so its share of each is comparable with the truth:
cpu[name] / sum(cpu). Output: one JSON line {"cpu": {name: seconds}, ...}.
"""
import argparse
import hashlib
import os
import threading
import time
import zlib

from common import handshake, now, report, spin

ap = argparse.ArgumentParser()
ap.add_argument("--scenario", choices=("py", "gil"), required=True)
ap.add_argument("--seconds", type=float, default=5.0)
ap.add_argument("--unit", type=int, default=10000)
args = ap.parse_args()

cpu = {}
calls = {}
tt = time.thread_time


def f(n):
    return spin(n)


def g(n):
    return spin(n)


def h(n):
    return spin(n)


def c_zlib(buf):
    return zlib.compress(buf, 6)


def c_sha(buf):
    return hashlib.sha256(buf).digest()


def timed(fn, arg):
    t0 = tt()
    fn(arg)
    d = tt() - t0
    cpu[fn.__name__] = cpu.get(fn.__name__, 0.0) + d
    calls[fn.__name__] = calls.get(fn.__name__, 0) + 1


def python_loop(plan, deadline):
    u = args.unit
    while now() < deadline:
        for fn, k in plan:
            timed(fn, k * u)


def c_loop(deadline):
    rnd = os.urandom(1 << 16)
    # compressible but not trivially: random 64 KiB blocks, repeated with a twist
    zbuf = b"".join(bytes([i]) + rnd[i:] + rnd[:i] for i in range(16))[: 1 << 20]
    hbuf = os.urandom(8 << 20)
    while now() < deadline:
        timed(c_zlib, zbuf)
        timed(c_sha, hbuf)


def main():
    handshake()
    t0 = now()
    deadline = t0 + args.seconds
    if args.scenario == "py":
        python_loop([(f, 6), (g, 3), (h, 1)], deadline)
    else:
        c = threading.Thread(target=c_loop, args=(deadline,), name="c-worker")
        c.start()
        python_loop([(f, 2), (g, 1)], deadline)
        c.join()
    report(scenario=args.scenario, wall=now() - t0, cpu=cpu, calls=calls)


main()
