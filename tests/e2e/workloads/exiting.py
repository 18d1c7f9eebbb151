# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A short-lived process: it exits while the profiler still runs.

Spins in Ephemeral.burn until it gets SIGUSR1 (or SECONDS pass), then keeps
spinning for LINGER seconds more of its own CPU time (the same work however
busy the machine), prints "exiting" and exits 0. The profiler
must still name its frames after it is gone.

usage: exiting.py [SECONDS]   prints "ready", then waits for SIGUSR1 at most
                              SECONDS (default 60).
"""
import signal
import sys
import time

LINGER = 1.5
deadline = None


def on_usr1(signum, frame):
    global deadline
    deadline = time.process_time() + LINGER


class Ephemeral:
    def burn(self):
        acc = 0
        for i in range(20000):
            acc = (acc * 31 + i) % 1000003  # HOT-EXITING
        return acc


def main(seconds):
    global deadline
    signal.signal(signal.SIGUSR1, on_usr1)
    e = Ephemeral()
    for _ in range(20):  # warm up
        e.burn()
    deadline = time.process_time() + seconds
    print("ready", flush=True)
    while time.process_time() < deadline:
        e.burn()
    print("exiting", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
