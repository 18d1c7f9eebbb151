# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Forks two children (os.fork, no exec); all three burn CPU, each in its own
function, then the parent waits for them and exits with a given code.

usage: forker.py CPU_SECONDS EXIT_CODE   prints "child N PID" per child.
"""
import os
import sys
import time


def burn(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n


def parent_work(seconds):
    return burn(seconds)


def child_work(seconds):
    return burn(seconds)


seconds, code = float(sys.argv[1]), int(sys.argv[2])
children = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        child_work(seconds)
        os._exit(0)
    children.append(pid)
    print("child %d %d" % (i, pid), flush=True)
parent_work(seconds)
for pid in children:
    os.waitpid(pid, 0)
sys.exit(code)
