# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A process that would hide between the ticks of a fixed-phase sampler.

    sleeper.py RATE_HZ SECONDS [SLACK_US]

It works ~200 us, then sleeps (timer slack SLACK_US, default the kernel's
50 us) for a little under
a whole number of the sampler's periods (~50 ms). A tick's interrupt also
runs every sleep whose slack window it falls in, so on ticks of one fixed
phase each wake-up happens right after a tick, the work ends long before
the next one, and the next wake-up falls in a tick's slack window again:
the process is never sampled. Ticks whose phase moves at random see it in
proportion to its CPU time. Prints "ready", then loops for SECONDS.
"""
import ctypes
import sys
import time

rate, seconds = int(sys.argv[1]), float(sys.argv[2])
SLACK_S = (float(sys.argv[3]) if len(sys.argv) > 3 else 50.0) * 1e-6
WORK_S = 200e-6
PERIOD_S = (10 ** 9 // rate) / 1e9  # the sampler's nominal period, in whole ns
TICKS = max(1, round(0.05 / PERIOD_S))
# A cycle (wake-up latency + work + sleep) then ends about half the slack
# before a tick: ~30 us for the wake-up and the loop's own overhead.
SLEEP_S = TICKS * PERIOD_S - WORK_S - SLACK_S / 2 - 30e-6

if len(sys.argv) > 3:
    ctypes.CDLL(None).prctl(29, int(SLACK_S * 1e9), 0, 0, 0)  # PR_SET_TIMERSLACK


def work(until):
    n = 0
    while time.perf_counter() < until:
        n += 1
    return n


print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    work(time.perf_counter() + WORK_S)
    time.sleep(SLEEP_S)
