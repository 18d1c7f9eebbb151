# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Threads whose wall time is known by construction, for wall mode.

usage: wall.py SCENARIO...   starts the threads of each scenario, prints
"thread NAME TID" for each (TID: the kernel's thread id), then "ready",
then runs until killed.

  alternate  a thread that computes for 50 ms (pure Python) then sleeps 50 ms;
             after each round it prints "alt WALLCLOCK COMPUTE_S NAP_S", the
             wall time spent in each so far (a loaded machine stretches the
             computing half: the loop only sees its deadline when it runs)
  blocked    a thread in queue.get and one in socket.recv, both forever
  recv       a thread looping on socket.recv of a TCP connection on 127.0.0.1
             (in wait_tcp), and one sending it a byte every 20 ms
  gil        two threads looping in pure Python (they share the GIL)
  zlib       a thread compressing with zlib (the GIL released)
  phases     a thread asleep in time.sleep(5 ms) (in wait_sleep) for the first
             PHASE_S seconds after "ready", then in select() (in wait_select)
             with a 5 ms timeout: two kernel stacks, one after the other
"""
import os
import queue
import select
import socket
import sys
import threading
import time
import zlib

PERIOD = 0.05
PHASE_S = 5.0
ready_at = []
started = threading.Semaphore(0)
out_lock = threading.Lock()
keep = []


def say(text):
    with out_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def announce(name):
    tid = threading.get_native_id() if hasattr(threading, "get_native_id") else os.getpid()
    say("thread %s %d" % (name, tid))
    started.release()


def compute(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x


def nap(seconds):
    time.sleep(seconds)


def alternate():
    announce("alternate")
    spent = [0.0, 0.0]
    while True:
        t0 = time.perf_counter()
        compute(PERIOD)
        t1 = time.perf_counter()
        nap(PERIOD)
        t2 = time.perf_counter()
        spent[0] += t1 - t0
        spent[1] += t2 - t1
        say("alt %.6f %.6f %.6f" % (time.time(), spent[0], spent[1]))


def wait_queue(q):
    announce("queue")
    q.get()


def wait_socket(sock):
    announce("socket")
    sock.recv(1)


def wait_tcp(sock):
    return sock.recv(1)


def receive(sock):
    announce("recv")
    while True:
        wait_tcp(sock)


def send_every(sock, seconds):
    announce("sender")
    while True:
        time.sleep(seconds)
        sock.send(b"x")


def tcp_pair():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    b = socket.create_connection(srv.getsockname())
    a, _ = srv.accept()
    srv.close()
    return a, b


def spin(name):
    announce(name)
    x = 0
    while True:
        x += 1


def compress():
    announce("zlib")
    data = os.urandom(1 << 16) * 64
    while True:
        zlib.compress(data, 9)


def wait_sleep():
    time.sleep(0.005)


def wait_select(r):
    select.select([r], [], [], 0.005)


def phases():
    r, w = os.pipe()
    keep.extend([r, w])
    announce("phases")
    while not ready_at or time.monotonic() < ready_at[0] + PHASE_S:
        wait_sleep()
    while True:
        wait_select(r)


def main():
    threads = []
    for scenario in sys.argv[1:]:
        if scenario == "alternate":
            threads.append(threading.Thread(target=alternate))
        elif scenario == "blocked":
            q = queue.Queue()
            a, b = socket.socketpair()
            keep.extend([q, a, b])
            threads.append(threading.Thread(target=wait_queue, args=(q,)))
            threads.append(threading.Thread(target=wait_socket, args=(a,)))
        elif scenario == "recv":
            a, b = tcp_pair()
            keep.extend([a, b])
            threads.append(threading.Thread(target=receive, args=(a,)))
            threads.append(threading.Thread(target=send_every, args=(b, 0.02)))
        elif scenario == "gil":
            threads.append(threading.Thread(target=spin, args=("spin1",)))
            threads.append(threading.Thread(target=spin, args=("spin2",)))
        elif scenario == "zlib":
            threads.append(threading.Thread(target=compress))
        elif scenario == "phases":
            threads.append(threading.Thread(target=phases))
        else:
            sys.exit("unknown scenario %s" % scenario)
    for t in threads:
        t.daemon = True
        t.start()
    for _ in threads:
        started.acquire()
    ready_at.append(time.monotonic())
    say("ready")
    while True:
        time.sleep(3600)


main()
