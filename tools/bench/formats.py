#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What each output format costs: `pybpf-prof convert` of synthetic pprof
profiles (100,000 samples over N distinct 20-deep stacks, the shape of
tests/e2e/synthpprof.py) into every format, with the file size, the wall
time (median of --runs) and the peak RSS of the converting process.

usage: tools/bench/formats.py [--prof build/pybpf-prof] [--stacks 1000,5000,20000]
                              [--samples 100000] [--runs 3]

Prints a Markdown table (the one in BENCHMARKS.md). Needs no root: convert
reads files only. Standard library only.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from synthpprof import synthetic_pprof  # noqa: E402

FORMATS = (("pprof", ".pb.gz"), ("folded", ".folded"), ("text", ".txt"),
           ("speedscope", ".speedscope.json"), ("svg", ".svg"))


def convert_once(prof, src, fmt, out):
    """Wall seconds and peak RSS (KiB) of one convert."""
    t0 = time.monotonic()
    p = subprocess.Popen([prof, "convert", str(src), "-o", str(out), "--format", fmt, "--force"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    took = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode != 0:
        sys.exit("convert --format %s failed (%d): %s" % (fmt, p.returncode, err))
    return took, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prof", default=str(ROOT / "build" / "pybpf-prof"))
    ap.add_argument("--stacks", default="1000,5000,20000")
    ap.add_argument("--samples", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="pybpf-formats-") as tmp:
        tmp = Path(tmp)
        print("| stacks | input | format | size | time (median of %d) | peak RSS |" % args.runs)
        print("|---:|---:|---|---:|---:|---:|")
        for n in (int(x) for x in args.stacks.split(",")):
            src = tmp / ("syn%d.pb.gz" % n)
            src.write_bytes(synthetic_pprof(n, args.samples))
            for fmt, suffix in FORMATS:
                out = tmp / ("out" + suffix)
                times, rss = [], []
                for _ in range(args.runs):
                    t, r = convert_once(args.prof, src, fmt, out)
                    times.append(t)
                    rss.append(r)
                print("| %d | %.0f KiB | %s | %.0f KiB | %.3f s | %.1f MiB |" % (
                    n, src.stat().st_size / 1024, fmt, out.stat().st_size / 1024,
                    statistics.median(times), max(rss) / 1024))
    print("\nload average at the end: %.2f %.2f %.2f on %d CPUs"
          % (os.getloadavg() + (os.cpu_count(),)))


if __name__ == "__main__":
    main()
