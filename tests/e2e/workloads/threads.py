# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Three named threads, each spinning in its own hot function.

Each thread names itself in the kernel too (prctl PR_SET_NAME, what
/proc/PID/task/TID/comm shows), the same as its threading name, then prints
"thread NAME NATIVE_ID" and spins. The main thread only sleeps.

usage: threads.py [SECONDS]   prints "ready" once all threads run, then runs
                              SECONDS (default 60) and prints "done".
"""
import sys
import threading
import time

from threadnames import announce, say

stop = False
started = threading.Semaphore(0)


def hot_alpha():
    acc = 0
    while not stop:
        for i in range(5000):
            acc = (acc * 31 + i) % 1000003  # HOT-ALPHA
    return acc


def hot_beta():
    acc = 0
    while not stop:
        for i in range(5000):
            acc = (acc * 37 + i) % 1000033  # HOT-BETA
    return acc


def hot_gamma():
    acc = 0
    while not stop:
        for i in range(5000):
            acc = (acc * 41 + i) % 1000037  # HOT-GAMMA
    return acc


def worker(fn):
    announce()
    started.release()
    fn()


def main(seconds):
    threads = [threading.Thread(target=worker, args=(fn,), name=name, daemon=True)
               for name, fn in (("w-alpha", hot_alpha), ("w-beta", hot_beta),
                                ("w-gamma", hot_gamma))]
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    time.sleep(0.2)
    say("ready")
    time.sleep(seconds)
    global stop
    stop = True
    for t in threads:
        t.join()
    say("done")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
