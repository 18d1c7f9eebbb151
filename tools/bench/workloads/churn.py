# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Process churn, as on a busy node: start a short-lived program RATE times a
second (fork+exec, wait for it), until SECONDS have passed.

    churn.py --rate 50 --seconds 10 [--exe /bin/true] [--arg ARG ...]

Prints READY and waits for a line on stdin before it starts (common.py);
at the end one JSON line with how many it started.
"""
import argparse
import os
import time

from common import handshake, now, report

ap = argparse.ArgumentParser()
ap.add_argument("--rate", type=float, default=50.0)
ap.add_argument("--seconds", type=float, default=10.0)
ap.add_argument("--exe", default="/bin/true")
ap.add_argument("--arg", action="append", default=[], help="argument of the program (repeatable)")
args = ap.parse_args()

handshake()
t0 = now()
n = 0
while now() - t0 < args.seconds:
    pid = os.posix_spawn(args.exe, [args.exe] + args.arg, os.environ)
    os.waitpid(pid, 0)
    n += 1
    delay = t0 + n / args.rate - now()
    if delay > 0:
        time.sleep(delay)
report(started=n, wall=now() - t0)
