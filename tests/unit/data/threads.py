# Threads parked in known Python functions, for the thread-snapshot test.
# Prints one line per thread "<function> <native tid> <line>" then "end",
# and keeps running until stdin closes.
import sys
import threading
import time

if sys.version_info < (3, 8):
    print("unsupported", flush=True)  # pybpf-prof reads 3.8 and later
    sys.exit(0)

lock = threading.Lock()
lock.acquire()
ready = []
started = threading.Barrier(4)


def line_of(marker):
    with open(__file__) as src:
        return 1 + [i for i, l in enumerate(src) if marker in l and "line_of" not in l][0]


def sleeper():
    ready.append(("sleeper", threading.get_native_id(), line_of("# SLEEP")))
    started.wait()
    while True:
        time.sleep(100)  # SLEEP


def waiter():
    ready.append(("waiter", threading.get_native_id(), line_of("# WAIT")))
    started.wait()
    lock.acquire()  # WAIT


def spinner():
    ready.append(("spinner", threading.get_native_id(), 0))
    started.wait()
    n = 0
    while True:
        n += 1


for f in (sleeper, waiter, spinner):
    threading.Thread(target=f, name=f.__name__, daemon=True).start()
started.wait()
time.sleep(0.2)
for name, tid, line in ready:
    print(name, tid, line)
print("main", threading.get_native_id(), line_of("# STDIN"))
print("end", flush=True)
sys.stdin.read()  # STDIN
