# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The hot loop is at module level: its only Python frame is "<module>".
#
# usage: module_loop.py [SECONDS]   prints "ready" once warmed up, then runs
#                                   SECONDS (default 60) and prints "done".
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
acc = 0
for i in range(100000):  # warm up
    acc = (acc * 31 + i) % 1000003
print("ready", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for i in range(20000):
        acc = (acc * 31 + i) % 1000003  # HOT-MODULE
print("done", flush=True)
