# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A Python run from a copy of its interpreter that, once started, replaces
that copy by a symbolic link to another file (a host file the profiler must
never open): /proc/PID/maps then names "EXE (deleted)", and opening that
path, or /proc/PID/root + that path, would follow the link.

usage: selfswap.py SECONDS LINK_TO   prints "ready", burns SECONDS of CPU
                                     time in swapped_spin(), prints "done".
"""
import os
import sys
import time


def swapped_spin(seconds):
    end = time.process_time() + seconds
    acc = 0
    while time.process_time() < end:
        acc += sum(i * i for i in range(5000))
    return acc


exe = os.path.realpath(sys.executable)
os.unlink(exe)
os.symlink(sys.argv[2], exe)
print("ready", os.getpid(), flush=True)
swapped_spin(float(sys.argv[1]))
print("done", flush=True)
