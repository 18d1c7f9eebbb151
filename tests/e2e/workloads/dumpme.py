# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Five threads, each doing one kind of thing forever, for `pybpf-prof dump`:
sleeping (time.sleep), blocked in socket.recv, a pure-Python loop, in
zlib.compress (GIL released), waiting on a lock; and a sixth parked in
time.sleep with known local variables. Each thread names itself in the
kernel (prctl) after its function. Prints "thread NAME NATIVE_ID" per
thread, then "ready"; runs until killed.
"""
import os
import socket
import threading
import time
import zlib

from threadnames import announce, say

started = threading.Barrier(7)
lock = threading.Lock()
lock.acquire()  # never released: the waiter waits for ever
sock_a, sock_b = socket.socketpair()
data = bytes(range(256)) * 4096 + os.urandom(1 << 18)


def named(name):
    announce(name)
    started.wait()


def sleeper():
    named("sleeper")
    while True:
        time.sleep(100)  # SLEEP


def receiver():
    named("receiver")
    sock_a.recv(16)  # RECV


def spinner():
    named("spinner")
    n = 0
    while True:  # SPIN_FIRST
        n += 1  # SPIN_LAST


def compressor():
    named("compressor")
    while True:
        zlib.compress(data, 9)  # COMPRESS


def waiter():
    named("waiter")
    lock.acquire()  # WAIT


def with_locals():
    an_int = 4242
    a_str = "hello dump"
    a_float = 2.5
    a_none = None
    a_neg = -7
    named("with_locals")
    time.sleep(100000)  # LOCALS
    return an_int, a_str, a_float, a_none, a_neg


for f in (sleeper, receiver, spinner, compressor, waiter, with_locals):
    threading.Thread(target=f, name=f.__name__, daemon=True).start()
started.wait()
say("ready")
while True:
    time.sleep(100)  # MAIN
