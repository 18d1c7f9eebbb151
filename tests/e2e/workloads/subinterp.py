# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A hot function in a sub-interpreter, next to one in the main interpreter.

Thread "s-sub" creates a sub-interpreter with whatever API this version has
(3.14 concurrent.interpreters, 3.13 _interpreters, 3.12 _xxsubinterpreters)
and runs subinterp_code.py in it: sub_hot() spins there (SUB-HOT). The main
thread spins in main_hot() (MAIN-HOT). Prints "thread s-sub NATIVE_ID",
"api NAME", then "ready" once sub_hot runs; exits 3 with "no-api" when the
version offers no sub-interpreters.

usage: subinterp.py [SECONDS]   (sub_hot stops after SECONDS, default 60)
"""
import os
import sys
import threading
import time

from threadnames import announce, say

CODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "subinterp_code.py")


def run_in_subinterpreter(source):
    try:
        from concurrent import interpreters  # 3.14
        say("api concurrent.interpreters")
        interpreters.create().exec(source)
        return
    except ImportError:
        pass
    try:
        import _interpreters as low  # 3.13
        name = "_interpreters"
    except ImportError:
        try:
            import _xxsubinterpreters as low  # 3.12
            name = "_xxsubinterpreters"
        except ImportError:
            say("no-api")
            os._exit(3)
    say("api " + name)
    low.run_string(low.create(), source)


def sub_thread(seconds):
    announce()
    source = ("P = %r\nSECONDS = %r\n"
              "exec(compile(open(P).read(), P, 'exec'), {'__name__': 'subhot', 'SECONDS': SECONDS})\n"
              % (CODE, seconds))
    run_in_subinterpreter(source)


def main_hot():
    acc = 0
    while True:
        for i in range(5000):
            acc = (acc * 31 + i) % 1000003  # MAIN-HOT


def main(seconds):
    threading.Thread(target=sub_thread, args=(seconds,), name="s-sub", daemon=True).start()
    time.sleep(0.5)
    say("ready")
    main_hot()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
