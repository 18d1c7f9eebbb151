# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""CPU-bound fixed work, in T threads at a chosen Python stack depth.

    cpu.py --units U [--threads T] [--depth D] [--unit N] [--chunk C]
    cpu.py --seconds S ...            (run for a time instead of fixed work)
    cpu.py --distinct ...             (every level a different function)
    cpu.py --via-c K ...              (every K-th level called through C: map())

The work is U units of `spin(N)` in total, split evenly over T threads. Each
thread recurses until its stack is D Python frames deep (counting the
interpreter's own thread bootstrap frames) and does C units there, returns
all the way up, and descends again, so every sample sees a stack D deep.
By default one function recurses; with --distinct each level is its own
function (its own code object), as in a stack of framework layers.

Output: one JSON line: wall (s) and process CPU (s) of the measured part,
units done, the depth reached.
"""
import argparse
import sys
import threading

from common import handshake, now, proc_cpu, report, spin

ap = argparse.ArgumentParser()
ap.add_argument("--units", type=int, default=0)
ap.add_argument("--seconds", type=float, default=0.0)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--depth", type=int, default=5)
ap.add_argument("--unit", type=int, default=10000)
ap.add_argument("--chunk", type=int, default=10)
ap.add_argument("--no-wait", action="store_true")
ap.add_argument("--distinct", action="store_true")
ap.add_argument("--via-c", type=int, default=0)
args = ap.parse_args()
sys.setrecursionlimit(max(1000, args.depth + 100))

depth_seen = []
units_done = [0] * args.threads


def frames_here():
    f, n = sys._getframe(1), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def descend(k, chunk):
    if k > 0 and args.via_c and k % args.via_c == 0:
        # Python -> C (list, map) -> Python: native frames between the two
        return list(map(descend, [k - 1], [chunk]))[0]
    if k > 0:
        return descend(k - 1, chunk)
    if not depth_seen:
        depth_seen.append(frames_here() + 1)  # + spin()
    for _ in range(chunk):
        spin(args.unit)
    return chunk


def distinct_chain(n):
    """level_0 .. level_{n-1}, each calling the next, the last calling descend(0)."""
    ns = {"descend": descend}
    src = ["def level_%d(chunk):\n    return %s(chunk)\n"
           % (i, "level_%d" % (i + 1) if i + 1 < n else "descend_leaf") for i in range(n)]
    src.append("def descend_leaf(chunk):\n    return descend(0, chunk)\n")
    exec("".join(src), ns)
    return ns["level_0"] if n else (lambda chunk: descend(0, chunk))


def worker(idx, units, deadline):
    base = frames_here()  # this frame and its callers
    k = max(0, args.depth - base - 2)  # descend(0) and spin() are two more
    if args.distinct:
        chain = distinct_chain(max(0, k - 1))  # descend_leaf is one more
        go = chain
    else:
        go = lambda c: descend(k, c)  # noqa: E731
    done = 0
    while (units and done < units) or (deadline and now() < deadline):
        c = args.chunk if not units else min(args.chunk, units - done)
        done += go(c)
    units_done[idx] = done


def main():
    handshake(wait=not args.no_wait)
    per = args.units // args.threads if args.units else 0
    c0, t0 = proc_cpu(), now()
    deadline = t0 + args.seconds if args.seconds else 0
    if args.threads == 1:
        worker(0, per, deadline)
    else:
        ts = [threading.Thread(target=worker, args=(i, per, deadline), name="worker-%d" % i)
              for i in range(args.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    t1, c1 = now(), proc_cpu()
    report(wall=t1 - t0, cpu=c1 - c0, units=sum(units_done), threads=args.threads,
           depth=depth_seen[0] if depth_seen else 0)


main()
