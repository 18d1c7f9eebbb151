# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A thread 49 Python frames deep that sleeps 0.2 ms in a loop for 40 s: many target switches."""
import time, sys
def f(n):
    if n == 0:
        t = time.monotonic() + 40
        while time.monotonic() < t:
            time.sleep(0.0002)
        return
    f(n - 1)
f(int(sys.argv[1]))
