# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Many threads, few of them hot.

Starts IDLE idle threads (blocked on an Event: never on CPU) and HOT hot
threads, each spinning in its own function hot_0 .. hot_3; the hot ones are
started at spread-out positions among the idle ones (first, middle, last),
so they sit at different depths of the interpreter's thread list. Each hot
thread names itself (threading name and kernel comm "m-hot-K"), prints
"thread m-hot-K NATIVE_ID" and waits until all threads run (starting 200
threads is slow enough without four of them spinning); then the hot ones
spin and the main thread prints "ready" and sleeps.

usage: manythreads.py [IDLE]   (default 200 - HOT idle threads)
"""
import sys
import threading

from threadnames import announce, say

HOT = 4
started = threading.Semaphore(0)
never = threading.Event()
go = threading.Event()  # set once every thread runs: hot ones spin from then on


def spin(mul, mod):
    acc = 0
    while True:
        for i in range(5000):
            acc = (acc * mul + i) % mod  # HOT-SPIN


def hot_0():
    spin(31, 1000003)  # CALL-SPIN-0


def hot_1():
    spin(37, 1000033)  # CALL-SPIN-1


def hot_2():
    spin(41, 1000037)  # CALL-SPIN-2


def hot_3():
    spin(43, 1000039)  # CALL-SPIN-3


def hot_worker(fn):
    announce()
    started.release()
    go.wait()
    fn()


def idle_worker():
    started.release()
    never.wait()


def main(idle):
    hot = [hot_0, hot_1, hot_2, hot_3]
    # hot thread k is started after idle * k / (HOT - 1) idle threads
    at = {idle * k // (HOT - 1): k for k in range(HOT)}
    threads = []
    for i in range(idle + 1):
        if i in at:
            k = at[i]
            threads.append(threading.Thread(target=hot_worker, args=(hot[k],),
                                            name="m-hot-%d" % k, daemon=True))
            threads[-1].start()
        if i < idle:
            threads.append(threading.Thread(target=idle_worker, name="m-idle-%d" % i,
                                            daemon=True))
            threads[-1].start()
    for _ in threads:
        started.acquire()
    go.set()
    say("ready %d" % (threading.active_count()))
    never.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200 - HOT)
