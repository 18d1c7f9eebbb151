# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Measures its own progress, to show that profiling does not stop or slow it.

Runs fixed work units (unit(), under a millisecond each) and every TICK seconds
prints "tick MONOTONIC UNITS CPU": the CLOCK_MONOTONIC time at the end of
the interval, the units done in it and the CPU time the thread has used so
far. The test compares the rates (per wall second and per CPU second) while
the profiler runs with the rates before it started.

usage: progress.py [SECONDS]   prints "ready", then runs SECONDS (default 60)
                               or until SIGUSR1, and prints
                               "done units=N rate=UNITS_PER_S".
"""
import signal
import sys
import time

TICK = 0.1
stop = False


def on_usr1(signum, frame):
    global stop
    stop = True


def unit():
    acc = 0
    for i in range(5000):
        acc = (acc * 31 + i) % 1000003  # HOT-PROGRESS
    return acc


def main(seconds):
    signal.signal(signal.SIGUSR1, on_usr1)
    for _ in range(100):  # warm up
        unit()
    print("ready", flush=True)
    start = time.monotonic()
    deadline = start + seconds
    next_tick = start + TICK
    done = units = 0
    while True:
        unit()
        units += 1
        now = time.monotonic()
        if now >= next_tick:
            print("tick %.6f %d %.6f" % (now, units, time.thread_time()), flush=True)
            done += units
            units = 0
            next_tick = now + TICK
            if now >= deadline or stop:
                break
    print("done units=%d rate=%.1f" % (done, done / (time.monotonic() - start)), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
