# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs inside a sub-interpreter (see subinterp.py): spins in sub_hot for
# SECONDS (set by the caller), printing "sub-running" first.
import time

SECONDS = globals()["SECONDS"]  # given by subinterp.py


def sub_hot(deadline):
    acc = 0
    while time.monotonic() < deadline:
        for i in range(5000):
            acc = (acc * 37 + i) % 1000033  # SUB-HOT
    return acc


print("sub-running", flush=True)
sub_hot(time.monotonic() + SECONDS)  # CALL-SUB-HOT
