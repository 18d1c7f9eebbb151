# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A parent that starts children once told to (SIGUSR1): two forks
(no exec) and one new interpreter (subprocess, exec'd); every child burns CPU
in its own function; the parent itself only sleeps.

Prints "ready" at start, then "child KIND PID" per child; runs until killed.
"""
import os
import signal
import subprocess
import sys
import time


def forked_child():
    n = 0
    while True:
        n += 1


signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
print("ready", flush=True)
signal.sigwait([signal.SIGUSR1])
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
for i in range(2):
    pid = os.fork()
    if pid == 0:
        forked_child()
        os._exit(0)
    print("child fork %d" % pid, flush=True)
code = "def exec_child():\n    n = 0\n    while True:\n        n += 1\nexec_child()\n"
p = subprocess.Popen([sys.executable, "-c", code])
print("child exec %d" % p.pid, flush=True)
while True:
    time.sleep(100)
