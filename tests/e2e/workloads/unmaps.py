# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A target that takes away, mid-sample, the memory holding its own Python
frames and code objects, then puts it back (workloads/unmapper.c):

  usage: unmaps.py UNMAPPER.so ROUNDS [SECONDS [GO_FILE [sleep]]]

Each round has four windows of SECONDS (default 0.6) spent in C while the
pages are gone: the current frame's pages with mprotect(PROT_NONE), the
code object's pages likewise, then both with munmap (put back with mmap at
the same address and the saved bytes). Between windows it runs Python
(normal_work). Prints "ready", "window KIND HOW" for each, then "done" and
exits 0: returning through the frames proves they came back intact.
With GO_FILE, the windows start once that file exists. With "sleep", the
windows are spent asleep (off CPU) instead.
"""
import os
import ctypes
import sys
import time

HOW = {"mprotect": 0, "munmap": 1}


def frame_memory():
    """Address of the caller's frame memory: the _PyInterpreterFrame in the
    thread's data stack on 3.11+ (PyFrameObject.f_frame, after
    PyObject_HEAD, whose size is object.__basicsize__, and f_back), else
    the PyFrameObject itself."""
    frame = sys._getframe(1)
    if sys.version_info >= (3, 11):
        addr = ctypes.c_void_p.from_address(id(frame) + object.__basicsize__ + 8).value
    else:
        addr = id(frame)
    # The code object is named in the first words (f_code, f_executable,
    # tagged on 3.14): a check that this is the frame and not a guess.
    words = (ctypes.c_uint64 * 12).from_address(addr)
    code = id(frame.f_code)
    if not any(w & ~7 == code for w in words):
        sys.exit("frame memory not found at %#x" % addr)
    return addr


def hide(lib, kind, how, seconds, asleep):
    if kind == "frame":
        base = frame_memory()
    else:
        base = id(hide.__code__)
    addrs = (ctypes.c_ulong * 2)(base, base + 160)  # the struct may straddle two pages
    rc = lib.unmapper_hold(addrs, 2, HOW[how] | (2 if asleep else 0), ctypes.c_double(seconds))
    if rc != 0:
        sys.exit("unmapper_hold(%s, %s): %d" % (kind, how, rc))
    return rc


def normal_work(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += sum(i * i for i in range(2000))
    return n


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.unmapper_hold.restype = ctypes.c_int
    rounds = int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.6
    print("ready", flush=True)
    if len(sys.argv) > 4:
        while not os.path.exists(sys.argv[4]):
            time.sleep(0.05)
    asleep = sys.argv[5:6] == ["sleep"]
    for _ in range(rounds):
        for how in ("mprotect", "munmap"):
            for kind in ("frame", "code"):
                normal_work(0.3)
                hide(lib, kind, how, seconds, asleep)
                print("window", kind, how, flush=True)
    normal_work(0.3)
    print("done", flush=True)


main()
