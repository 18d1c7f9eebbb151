# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A real interpreter whose thread list loops on itself for a while
(workloads/threadcycle.c): the only thread state's `next` points at
itself while a native thread of the process burns CPU, then it is mended.

  usage: threadcycle.py THREADCYCLE.so SECONDS [GO_FILE]

Prints "ready", runs cycle_spin() (Python, profiled as usual), waits for
GO_FILE if given, holds the loop for SECONDS, runs cycle_spin() again,
prints "done" and exits 0.
"""
import ctypes
import os
import sys
import time


def cycle_spin(seconds):
    end = time.process_time() + seconds
    acc = 0
    while time.process_time() < end:
        acc += sum(i * i for i in range(5000))
    return acc


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.threadcycle_hold.restype = ctypes.c_int
    lib.threadcycle_hold.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double]
    get = ctypes.pythonapi.PyThreadState_Get
    get.restype = ctypes.c_void_p
    tstate = get()
    # PyThreadState starts with prev, next, interp (3.8 to 3.14): one thread,
    # so both links are NULL; check that before writing anything.
    prev, nxt = (ctypes.c_void_p.from_address(tstate + off).value for off in (0, 8))
    if prev or nxt:
        sys.exit("unexpected thread state links: %r %r" % (prev, nxt))
    print("ready", flush=True)
    if len(sys.argv) > 3:
        while not os.path.exists(sys.argv[3]):
            time.sleep(0.05)
    cycle_spin(0.5)
    rc = lib.threadcycle_hold(tstate + 8, tstate, float(sys.argv[2]))
    if rc:
        sys.exit("threadcycle_hold: %d" % rc)
    cycle_spin(0.5)
    print("done", flush=True)


main()
