# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""For test_code_events.c: new code all the time. Each round compiles a
module of its own, with a function of its own, and runs it with exec: new
code objects and new stacks at every sample, and each module's code is
freed as soon as it has run (as an import's is). Prints "ready", then runs
until killed (30 s at most)."""
import sys
import time

print("ready", flush=True)
end = time.monotonic() + 30
i = 0
while time.monotonic() < end:
    i += 1
    src = ("def churn_%d(n):\n"
           "    t = 0\n"
           "    for k in range(n):\n"
           "        t += k\n"
           "    return t\n"
           "churn_%d(5000)\n" % (i, i))
    exec(compile(src, "<churn %d>" % i, "exec"), {})
sys.exit(0)
