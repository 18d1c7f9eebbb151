# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""One member of a fleet of mostly idle Python processes (the scale test).

    fleet.py --busy-ms B --sleep-ms S --seconds T

Loops: about B ms of Python work at a few frames of depth, then S ms asleep,
until T seconds have passed (or stdin closes, when --stdin is given).
"""
import argparse
import time

from common import spin

ap = argparse.ArgumentParser()
ap.add_argument("--busy-ms", type=float, default=1.0)
ap.add_argument("--sleep-ms", type=float, default=50.0)
ap.add_argument("--seconds", type=float, default=60.0)
ap.add_argument("--timer-slack-ns", type=int, default=0,
                help="prctl(PR_SET_TIMERSLACK) first (0: keep the default, 50 us)")
args = ap.parse_args()
if args.timer_slack_ns:
    import ctypes
    ctypes.CDLL(None).prctl(29, args.timer_slack_ns, 0, 0, 0)  # PR_SET_TIMERSLACK

ITER_PER_MS = 9000  # spin() iterations per ms, roughly


def handle_request():
    return spin(int(args.busy_ms * ITER_PER_MS))


def serve():
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        handle_request()
        time.sleep(args.sleep_ms / 1000.0)


serve()
