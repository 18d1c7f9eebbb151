# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Synthetic pprof profiles of a chosen shape, for the flame graph's size test
(tests/e2e/test_files.py) and the output-format benchmark
(tools/bench/formats.py). Standard library only."""
import gzip
import random


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7f | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field(num, payload):
    if isinstance(payload, int):
        return _varint(num << 3) + _varint(payload)
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def synthetic_pprof(nstacks, nsamples, depth=20, nfuncs=400, seed=1):
    """A pprof with `nstacks` distinct stacks (random paths through `nfuncs` functions,
    `depth` deep, sharing prefixes as real programs do) and `nsamples` samples."""
    rnd = random.Random(seed)
    strings = ["", "samples", "count", "pid", "comm", "python3"]
    out = bytearray()
    out += _field(1, _field(1, 1) + _field(2, 2))
    for f in range(nfuncs):
        strings.append("module%d.function_%d" % (f % 37, f))
        strings.append("/srv/app/module%d.py" % (f % 37))
        out += _field(5, _field(1, f + 1) + _field(2, len(strings) - 2) +
                      _field(4, len(strings) - 1) + _field(5, f + 10))
        out += _field(4, _field(1, f + 1) + _field(4, _field(1, f + 1) + _field(2, f + 12)))
    stacks = set()
    while len(stacks) < nstacks:
        trunk = rnd.randrange(8)
        stacks.add(tuple([trunk + 1] + [rnd.randrange(nfuncs) + 1 for _ in range(depth - 1)]))
    per = nsamples // nstacks
    for i, st in enumerate(sorted(stacks)):
        locs = b"".join(_varint(l) for l in reversed(st))
        label = _field(3, _field(1, 3) + _field(3, 1000 + i % 4)) + \
            _field(3, _field(1, 4) + _field(2, 5))
        out += _field(2, _field(1, locs) + _field(2, _varint(per)) + label)
    for s in strings:
        out += _field(6, s.encode())
    return gzip.compress(bytes(out))
