# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A code object whose name claims to be gigabytes long.

The function spin() gets a fresh qualified name string whose length field
is then overwritten (ctypes) with 2**31 - 1: whoever reads the name from
outside must bound the read. Python itself never looks at the name while
the function runs; the real length is put back before exit.

usage: hugename.py SECONDS   prints "ready" then burns SECONDS of CPU time
                             in spin(), prints "done" and exits 0.
"""
import ctypes
import sys
import time

PREFIX = "hostile_name_"
HUGE = 2**31 - 1


def spin(seconds):
    end = time.process_time() + seconds
    acc = 0
    while time.process_time() < end:
        for i in range(20000):
            acc = (acc * 31 + i) % 1000003  # HOT
    return acc


def length_offset(s):
    """Offset of the length field in the str object (differs by build)."""
    for off in range(8, 64, 8):
        if ctypes.c_ssize_t.from_address(id(s) + off).value == len(s):
            return off
    raise SystemExit("length field not found")


name = "".join([PREFIX, "x" * 23])  # a new, non-interned string of length 36
code = spin.__code__
if hasattr(code, "co_qualname"):
    code = code.replace(co_name=name, co_qualname=name)
else:
    code = code.replace(co_name=name)
spin.__code__ = code
off = length_offset(name)
field = ctypes.c_ssize_t.from_address(id(name) + off)
real = field.value
field.value = HUGE
print("ready", flush=True)
try:
    spin(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
finally:
    field.value = real
print("done", flush=True)
