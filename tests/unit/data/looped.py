# A real interpreter whose thread list comes back on itself, for the
# thread-snapshot test: after the main thread state comes a forged copy of
# it (no OS thread: its ids zeroed) whose `next` points to itself. Nothing
# in the process walks the list afterwards: the main thread only waits in
# read() for stdin to close, and the test kills the process.
# Prints "ready <native tid of the main thread>" or "unsupported".
import ctypes
import sys
import threading

if sys.version_info < (3, 8):
    print("unsupported", flush=True)
    sys.exit(0)

SPAN = 512  # bytes of the thread state copied (its ids lie well inside)
ptr = ctypes.c_void_p
get = ctypes.pythonapi.PyThreadState_Get
get.restype = ptr
main = get()
fake = ctypes.create_string_buffer(4096)
ctypes.memmove(fake, main, SPAN)
words = (ctypes.c_uint64 * (SPAN // 8)).from_buffer(fake)
for i, w in enumerate(words):
    if i >= 2 and w in (threading.get_ident(), threading.get_native_id()):
        words[i] = 0
# PyThreadState starts with prev, next in every version 3.8-3.15.
words[0] = main
words[1] = ctypes.addressof(fake)
ptr.from_address(main + 8).value = ctypes.addressof(fake)
print("ready", threading.get_native_id(), flush=True)
sys.stdin.read()
