# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""zlib.compress of 1 MiB in a loop (C with the GIL released); prints "ready"."""
import os
import sys
import zlib

DATA = os.urandom(1 << 19) + b"ab" * (1 << 18)


def compress_loop():
    while True:
        zlib.compress(DATA, 6)


print("ready", flush=True)
sys.stdout.close()
compress_loop()
