# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A real interpreter running native code of a hostile shared object.

  usage: nspin.py LIB SECONDS [LINK_TO]

Loads LIB (workloads/nspin.c, or a copy made hostile), then, with LINK_TO,
replaces LIB's path by a symbolic link to LINK_TO (the mapping stays).
Prints "ready PID", calls nspin(SECONDS) from the Python function
native_call, prints "done" and exits 0.
"""
import ctypes
import os
import sys


def native_call(lib, seconds):
    return lib.nspin(seconds)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.nspin.argtypes = [ctypes.c_double]
    lib.nspin.restype = ctypes.c_ulong
    if len(sys.argv) > 3:
        os.unlink(sys.argv[1])
        os.symlink(sys.argv[3], sys.argv[1])
    print("ready", os.getpid(), flush=True)
    native_call(lib, float(sys.argv[2]))
    print("done", flush=True)


if __name__ == "__main__":
    main()
