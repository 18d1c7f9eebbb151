# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Spins in Python for DELAY seconds (so the profiler has unwound the process
before), then loads a C extension (bz2: _bz2 and libbz2) and compresses in a
loop: native code that was not mapped when the process was first unwound.

usage: lateload.py DELAY   prints "ready", then "loaded" after DELAY s."""
import os
import sys
import time

DATA = os.urandom(1 << 18)


def bz_loop():
    import bz2  # LATE-IMPORT

    print("loaded", flush=True)
    while True:
        bz2.compress(DATA, 9)


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


print("ready", flush=True)
spin(float(sys.argv[1]))
bz_loop()
