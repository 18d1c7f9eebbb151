# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the threaded workloads share: whole lines of output from many
threads, and a thread named in the kernel after itself.

The workloads import it from their own directory (a script's directory is
the first entry of sys.path), so a copy of a workload elsewhere needs this
file next to it (test_containers.py copies it with them).
"""
import ctypes
import ctypes.util
import sys
import threading

PR_SET_NAME = 15  # prctl: the name /proc/PID/task/TID/comm shows (15 bytes)
_out_lock = threading.Lock()
_libc = None


def say(text):
    """One whole line per write: threads must not interleave their output."""
    with _out_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def set_kernel_thread_name(name):
    """Name the calling thread in the kernel (nothing where prctl is missing)."""
    global _libc
    try:
        if _libc is None:
            try:
                _libc = ctypes.CDLL("libc.so.6")
            except OSError:  # not glibc: ask the slow way (runs ldconfig)
                _libc = ctypes.CDLL(ctypes.util.find_library("c"))
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def announce(name=None):
    """Name the calling thread in the kernel (after its threading name unless
    `name` is given) and print "thread NAME NATIVE_ID"."""
    name = name or threading.current_thread().name
    set_kernel_thread_name(name)
    say("thread %s %d" % (name, threading.get_native_id()))
