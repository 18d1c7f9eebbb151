# A thread parked in frames whose locals hold one value of each kind
# pylocals formats (ints small, negative, huge; floats; str of each width,
# long and quoted; bytes; bool; None; cells; an unbound local; other types),
# for the seeds of fuzz_pylocals. Prints "ready" then waits for stdin to close.
import sys
import threading

ready = threading.Event()


def rich(a, b=2.5, *args, **kw):
    small, neg, zero = 7, -12345678901234567890, 0
    big, huge, lim = 2**200, 2**2000, -(2**1079)
    f, tiny, nan, inf = 0.1, 1e-300, float("nan"), float("-inf")
    s, lat, cjk, emoji = "hello", "caf\u00e9", "\u540d\u524d", "snake \U0001f40d"
    long_s, quoted = "x" * 200, "it's \"q\"\n\t\\"
    by, long_by = b"\x00ab'\xff", bytes(range(256))
    yes, no, nothing = True, False, None
    lst, d, t = [1, 2], {"k": 1}, (1,)
    cell = [small]

    def inner():
        return cell, a

    vals = [x for x in (1,)]  # 3.12+: an inlined comprehension's hidden local
    ready.set()
    sys.stdin.read()  # parked
    unbound = 1
    return inner, vals, unbound


def outer(depth):
    if depth:
        return outer(depth - 1)
    return rich("arg", 3.0, 4, k=5)


t = threading.Thread(target=outer, args=(3,), name="parked")
t.start()
ready.wait()
print("ready", flush=True)
t.join()
