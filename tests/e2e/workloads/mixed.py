# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Python calling C calling Python, for --native (native and kernel frames).

Threads (each names itself in the kernel, prints "thread NAME NATIVE_ID",
then works until the process is killed):
  m-zlib    compress_loop(): zlib.compress of 1 MiB, C with the GIL released
  m-sort    sort_loop(): sorted(KEYS, key=sort_key): Python called from C
  m-ctypes  ctypes_loop(): libc qsort with a ctypes callback cmp_cb
  m-gc      gc_loop(): gc.collect() over many reference cycles
  m-sys     read_loop(): os.read of 1 MiB from /dev/zero: CPU time in the kernel

usage: mixed.py   prints the thread lines, then "ready".
"""
import ctypes
import gc
import os
import sys
import threading
import zlib

PR_SET_NAME = 15
ZLIB_BUF = os.urandom(1 << 19) + b"ab" * (1 << 18)  # 1 MiB, half compressible
KEYS = list(range(5000))
out_lock = threading.Lock()
announced = threading.Semaphore(0)
LIBC = ctypes.CDLL("libc.so.6")
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def say(text):
    with out_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def announce(name):
    LIBC.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    say("thread %s %d" % (name, threading.get_native_id()))
    announced.release()


def compress_loop():
    announce("m-zlib")
    while True:
        zlib.compress(ZLIB_BUF, 6)  # ZLIB-CALL


def sort_key(x):
    return -x  # SORT-KEY


def sort_loop():
    announce("m-sort")
    while True:
        sorted(KEYS, key=sort_key)  # SORT-CALL


def cmp_cb(a, b):
    return a[0] - b[0]  # CMP-CB


def ctypes_loop():
    announce("m-ctypes")
    arr = (ctypes.c_int * 2000)(*range(2000, 0, -1))
    cb = CMP(cmp_cb)
    while True:
        LIBC.qsort(arr, len(arr), ctypes.sizeof(ctypes.c_int), cb)  # QSORT-CALL
        arr[0], arr[-1] = arr[-1], arr[0]


class Cycle:
    def __init__(self):
        self.me = self


def gc_loop():
    announce("m-gc")
    gc.disable()
    junk = [Cycle() for _ in range(50000)]
    while True:
        gc.collect()  # GC-CALL
        junk = [Cycle() for _ in range(2000)]
    return junk


def read_loop():
    announce("m-sys")
    fd = os.open("/dev/zero", os.O_RDONLY)
    while True:
        os.read(fd, 1 << 20)  # READ-CALL


def main():
    # Three of the threads take the GIL back thousands of times a second (each
    # qsort callback, each return from read() or compress()); with the default
    # 5 ms switch interval the GIL-bound sort and gc threads starve them (3.12:
    # m-ctypes and m-sys got 0.03 CPU-s per second, 1.5 CPU-s took 50 s). At
    # 0.5 ms each gets 0.12 or more.
    sys.setswitchinterval(0.0005)
    loops = (compress_loop, sort_loop, ctypes_loop, gc_loop, read_loop)
    for fn in loops:
        threading.Thread(target=fn, daemon=True).start()
    for _ in loops:
        announced.acquire()
    say("ready")
    threading.Event().wait()


main()
