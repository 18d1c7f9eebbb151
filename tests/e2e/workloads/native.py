# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""C calls with the GIL released, C->Python re-entry, generators, coroutines.

Threads (each names itself in the kernel like threads.py, prints
"thread NAME NATIVE_ID", then works until the process is killed):
  n-zlib   zlib_work(): zlib.compress of a 1 MiB buffer, ~0.1 s of C per call
           with the GIL released (line ZLIB-CALL)
  n-sha    sha_work(): hashlib.sha256 of a 32 MiB buffer, likewise (SHA-CALL)
  n-async  asyncio.run(async_main()); async_main awaits coro_hot, which burns
           CPU (CORO-HOT) and yields to the event loop between rounds
  main     rounds of by_sorted() (sorted() calling sort_key, SORT-HOT),
           by_map() (map() calling map_fn, MAP-HOT), by_gen() (sum() over
           gen_values, GEN-HOT): Python called back from C code; and
           by_init() (Boxed(...) running Boxed.__init__, INIT-HOT: from 3.13
           on, a specialised class call runs __init__ above an internal
           "__init__" cleanup frame, which is no user code).

So the Python stacks under the C boundary are known: e.g. sort_key <-
by_sorted (CALL-SORTED) <- main (MAIN-SORTED) <- <module> (CALL-MAIN), with
nothing between sort_key and by_sorted (the C function sorted() is not a
Python frame, and the interpreter's shim/entry frames are not user code).

usage: native.py   prints the thread lines, then "ready".
"""
import asyncio
import hashlib
import os
import sys
import threading
import zlib

import threadnames
from threadnames import say

ZLIB_BUF = os.urandom(1 << 20)  # incompressible: deflate works hard, ~0.1 s
SHA_BUF = os.urandom(1 << 20) * 32  # 32 MiB
KEYS = list(range(60))
started = threading.Semaphore(0)


def announce():
    threadnames.announce()
    started.release()


# ---- C code with the GIL released


def zlib_work():
    return len(zlib.compress(ZLIB_BUF, 6))  # ZLIB-CALL


def sha_work():
    return hashlib.sha256(SHA_BUF).digest()  # SHA-CALL


def zlib_thread():
    announce()
    while True:
        zlib_work()


def sha_thread():
    announce()
    while True:
        sha_work()


# ---- a coroutine


async def coro_hot():
    acc = 0
    while True:
        for i in range(5000):
            acc = (acc * 31 + i) % 1000003  # CORO-HOT
        await asyncio.sleep(0)


async def async_main():
    await coro_hot()  # AWAIT-CORO


def async_thread():
    announce()
    asyncio.run(async_main())


# ---- Python called back from C


def sort_key(x):
    acc = x
    for i in range(300):
        acc = (acc * 31 + i) % 1000003  # SORT-HOT
    return acc


def map_fn(x):
    acc = x
    for i in range(300):
        acc = (acc * 37 + i) % 1000033  # MAP-HOT
    return acc


def gen_values(n):
    for k in range(n):
        acc = k
        for i in range(300):
            acc = (acc * 41 + i) % 1000037  # GEN-HOT
        yield acc


class Boxed:
    def __init__(self, x):
        acc = x
        for i in range(300):
            acc = (acc * 43 + i) % 1000039  # INIT-HOT
        self.value = acc


def by_init():
    out = []
    for k in KEYS:
        out.append(Boxed(k))  # CALL-INIT
    return out


def by_sorted():
    return sorted(KEYS, key=sort_key)  # CALL-SORTED


def by_map():
    return list(map(map_fn, KEYS))  # CALL-MAP


def by_gen():
    return sum(gen_values(len(KEYS)))  # CALL-GEN


def main():
    # Warm up first, alone (lets 3.11+ specialise the loops): once the other
    # threads run, an older GIL can starve this one for tens of seconds.
    for _ in range(20):
        by_sorted()
        by_map()
        by_gen()
        by_init()
    threads = [threading.Thread(target=fn, name=name, daemon=True)
               for name, fn in (("n-zlib", zlib_thread), ("n-sha", sha_thread),
                                ("n-async", async_thread))]
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    say("ready")
    # zlib and hashlib take the GIL back for every output block they grow;
    # at the default 5 ms switch interval the GIL-bound threads starved them
    # (3.8: n-zlib had 0.02 CPU-s per second, the CPU run took 40 s).
    sys.setswitchinterval(0.0005)
    while True:
        by_sorted()  # MAIN-SORTED
        by_map()  # MAIN-MAP
        by_gen()  # MAIN-GEN
        by_init()  # MAIN-INIT


if __name__ == "__main__":
    main()  # CALL-MAIN
