# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Dump line tables and the interpreter's own offset -> line answers.

Compiles a fixed set of sample sources and, for every code object (walking
co_consts recursively), prints the raw line table and the line the running
interpreter reports for every instruction offset. tests/unit/test_linetable.c
feeds the table to linetable__line() and compares; gen_linetable_vectors.py
turns a subset into checked-in C vectors.

Runs unchanged on CPython 3.8 through 3.14. Ground truth per version:
  3.11+     co_positions(): one entry per code unit (offset = 2 * index),
            line None -> 0; one extra offset just past the table -> 0.
  3.10      co_lines(): byte ranges; an offset outside every range or with a
            None line -> 0; one extra offset at len(co_code).
  3.8, 3.9  dis.findlinestarts(): an offset has the line of the last line
            start at or before it (no past-the-end offset: lnotab has no end).

Usage: python linetable_dump.py [SAMPLE ...]   (default: every sample)
Older interpreters (< 3.8) print only the V record.

Output, one record per line, space separated:
  V <major> <minor>
  C <id> <co_firstlineno> <table as lowercase hex, or - when empty>
  O <byte offset> <expected line>      (for the preceding C record)
"""

import dis
import sys
import types


def gen_long_function():
    # > 300 lines, a 200-line blank gap, lines wider than 127 columns and a
    # for loop whose body spans more than 127 lines (large negative jumps).
    out = ["def long_function(a, b):", "    total = 0"]
    for i in range(320):
        if i % 40 == 7:
            out.append("    for j in range(a):")
            out.append("        total += j * %d" % i)
            for _ in range(140):
                out.append("")
            out.append("        total -= (j +")
            out.append("                  %d)" % i)
        elif i % 50 == 13:
            out.append("    x%d = " % i + " + ".join("a" for _ in range(70)))
        elif i % 60 == 21:
            for _ in range(200):
                out.append("")
            out.append("    total += b")
        elif i % 3 == 0:
            out.append("    if total > %d:" % i)
            out.append("        total = (total *")
            out.append("                 %d) %% 1000003" % (i + 1))
        else:
            out.append("    total += a * %d - b" % i)
    out.append("    return total")
    return "\n".join(out) + "\n"


BASIC = '''\
import os


def decorator(fn):
    return fn


@decorator
@decorator
def outer(x, y=lambda q: q + 1):
    def inner(z):
        return [i * z for i in range(x)
                if i % 2]

    total = 0
    for i in range(x):
        if i > 3:
            total += inner(i)
        else:
            total -= y(i)
    while total > 100:
        total //= 3
    else:
        total += 1
    try:
        total = total / (x -
                         x)
    except ZeroDivisionError as exc:
        total = -1
    except (TypeError,
            ValueError):
        raise
    finally:
        total += 2
    d = {k: v
         for k, v in
         zip("ab", "cd")}
    s = {c for c in "hello"}
    g = (c.upper()
         for c in "xyz")
    return (total +
            len(d) +
            len(s) +
            len(list(g)))


class Klass(object):
    attr = [n for n in range(3)]

    def method(self,
               a,
               b):
        with open(os.devnull) as f:
            return f.read(a) or b

    @staticmethod
    def gen():
        yield 1
        yield from range(3)


async def coro(aw):
    async with aw as v:
        await v
    async for item in aw:
        return item


f = lambda: 0
h = lambda a, b: (a +
                  b)


def empty():
    pass


def call_order(f, a, b):
    # The call's line comes back up after the argument lines.
    return f(
        a,
        b,
    )


def one_line_wide(a):
    return [a, a + 1, a + 2, a * 3, a - 4, a // 5, a % 6, a ** 7, -a, ~a, a << 1, a >> 1, a & 3, a | 4, a ^ 5, a, a + 1, a + 2, a * 3, a - 4, a // 5, a % 6, a ** 7, -a, ~a, a << 1, a >> 1, a & 3, a | 4, a ^ 5, a, a + 1, a + 2, a * 3, a - 4, a // 5, a % 6, a ** 7, -a, ~a, a << 1, a >> 1, a & 3, a | 4, a ^ 5, a, a + 1, a + 2, a * 3, a - 4, a // 5, a % 6, a ** 7, -a, ~a, a << 1, a >> 1, a & 3, a | 4, a ^ 5]


def walrus(it):
    if (n := len(it)) > 10:
        return n
    return f"{n!r:>{n}} {it}"
'''

# Blank-line gaps wider than 127 lines (split lnotab pairs, multi-byte
# varints), a far-away co_firstlineno and a negative jump of > 128 lines.
GAPS = (
    "a = 1\n"
    + "\n" * 130
    + "b = 2\n"
    + "\n" * 300
    + "c = (a +\n"
    + "\n" * 200
    + "     b)\n"
    + "\n" * 70000
    + "def far(x):\n"
    + "    y = x + 1\n"
    + "\n" * 5000
    + "    return y\n"
    + "d = max(\n"
    + "    a,\n"
    + "\n" * 150
    + "    b)\n"
)

MATCH = '''\
def matcher(cmd):
    match cmd.split():
        case [action]:
            return action
        case [action, obj]:
            return (action,
                    obj)
        case _:
            return None
'''

# (name, source, minimum (major, minor))
SAMPLES = [
    ("basic", BASIC, (3, 8)),
    ("long", gen_long_function(), (3, 8)),
    ("gaps", GAPS, (3, 8)),
    ("match", MATCH, (3, 10)),
]


def line_table(code):
    if sys.version_info >= (3, 10):
        return code.co_linetable
    return code.co_lnotab


def expected_lines(code):
    """[(byte offset, line)] from the interpreter's own decoder."""
    out = []
    if sys.version_info >= (3, 11):
        n = 0
        for pos in code.co_positions():
            out.append((2 * n, pos[0] or 0))
            n += 1
        out.append((2 * n, 0))
    elif sys.version_info >= (3, 10):
        ranges = list(code.co_lines())
        for off in range(0, len(code.co_code) + 1, 2):
            line = 0
            for start, end, lno in ranges:
                if start <= off < end:
                    line = lno or 0
                    break
            out.append((off, line))
    else:
        starts = list(dis.findlinestarts(code))
        for off in range(0, len(code.co_code), 2):
            line = 0
            for start, lno in starts:
                if start > off:
                    break
                line = lno
            out.append((off, line))
    return out


def walk(code, ident, emit):
    table = line_table(code)
    emit("C %s %d %s" % (ident, code.co_firstlineno,
                         table.hex() if table else "-"))
    for off, line in expected_lines(code):
        emit("O %d %d" % (off, line))
    seen = {}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            name = const.co_name.replace(" ", "_")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = "%s#%d" % (name, seen[name])
            walk(const, ident + "/" + name, emit)


def main(argv):
    wanted = set(argv[1:])
    lines = ["V %d %d" % sys.version_info[:2]]
    if sys.version_info[:2] < (3, 8):
        # Not a supported target: report the version only, the C side skips it.
        sys.stdout.write(lines[0] + "\n")
        return 0
    for name, src, minimum in SAMPLES:
        if wanted and name not in wanted:
            continue
        if sys.version_info[:2] < minimum:
            continue
        code = compile(src, "<%s>" % name, "exec")
        walk(code, name + ":" + code.co_name, lines.append)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
