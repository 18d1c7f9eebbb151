# A thread parked in a known Python stack, for the frame-walker tests.
# Prints "<runtime address> <thread ident> <depth> <hexversion>" then waits
# for stdin to close.
import ctypes
import sys
import threading

DEPTH = 150
ready = threading.Event()
info = {}


class Parker:
    def descend(self, n):
        if n == 0:
            info["ident"] = threading.get_ident()
            ready.set()
            sys.stdin.read()  # parked here until the test closes stdin
            return 0
        return self.descend(n - 1) + 1


def park():
    Parker().descend(DEPTH)


t = threading.Thread(target=park, name="parked")
t.start()
ready.wait()
addr = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
print(addr, info["ident"], DEPTH, sys.hexversion, flush=True)
t.join()
