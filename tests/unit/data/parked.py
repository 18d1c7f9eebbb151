# A thread parked in a known Python stack, for the frame-walker tests.
# Prints "<runtime address> <thread ident> <depth> <hexversion> <first line
# of descend> <line where it parks>" then waits for stdin to close.
import ctypes
import sys
import threading

if sys.version_info < (3, 8):
    print("unsupported", flush=True)  # pybpf-prof reads 3.8 and later
    sys.exit(0)

DEPTH = 150
ready = threading.Event()
info = {}


class Parker:
    def descend(self, n):
        if n == 0:
            info["ident"] = threading.get_ident()
            ready.set()
            sys.stdin.read()  # PARKED: until the test closes stdin
            return 0
        return self.descend(n - 1) + 1


def park():
    Parker().descend(DEPTH)


t = threading.Thread(target=park, name="parked")
t.start()
ready.wait()
addr = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
with open(__file__) as src:
    parked_line = 1 + [i for i, l in enumerate(src) if "# PARKED" in l][0]
print(addr, info["ident"], DEPTH, sys.hexversion,
      Parker.descend.__code__.co_firstlineno, parked_line, flush=True)
t.join()
