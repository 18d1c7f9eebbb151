#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A fleet's samples against rate × CPU time, over several sampling rates.

    tools/bench/fleet_rates.py [--n 50] [--seconds 10] [--rounds 2]
                               [--rates 985,995,999,1000,1005,1013,1021]
                               [--prof build/pybpf-prof] [--python /usr/bin/python3.11]

For each round and rate: N processes of workloads/fleet.py (as bench.py's
fleets: 1 ms of work, N/0.5 - 1 ms asleep), pybpf-prof --rate R --pid ... on
them; the fleet's CPU time (/proc/PID/task/*/schedstat) from the agent's
"sampling at" line to its SIGINT, and the samples its summary reports. One
line per run, then per rate the pooled share. A fleet whose processes wake
on a fixed period meets a fixed-period sampler: how far from 100 % a rate
lands shows how much of the fleet row is that interplay rather than ticks
the agent lost. --n is at most 64 (pybpf-prof takes 64 --pid). Needs root.
"""
import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import time

from fleet_trace import ROOT, fleet_under_agent


def cpu_ns(pids):
    total = 0
    for p in pids:
        for tid in os.listdir("/proc/%d/task" % p):
            with open("/proc/%d/task/%s/schedstat" % (p, tid)) as f:
                total += int(f.read().split()[0])
    return total


def one(a, rate):
    with fleet_under_agent(a, rate, a.out, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           text=True) as (pids, agent):
        head = []
        for line in agent.stderr:
            head.append(line)
            if "sampling at" in line:
                break
        c0 = cpu_ns(pids)
        time.sleep(a.seconds)
        c1 = cpu_ns(pids)
        agent.send_signal(signal.SIGINT)
        err = "".join(head) + agent.stderr.read()
    m = re.search(r"(\d+) samples from", err)
    if not m:
        raise SystemExit("pybpf-prof printed no summary:\n" + err)
    w = re.search(r"tick_at_wake=(\d+)", err)
    return int(m.group(1)), rate * (c1 - c0) / 1e9, int(w.group(1)) if w else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sleep-ms", type=float, help="each fleet process's sleep (default: N/0.5 - 1, as bench.py)")
    ap.add_argument("--agent-args", default="", help="more pybpf-prof options, e.g. --fixed-phase")
    ap.add_argument("--rates", default="985,995,999,1000,1005,1013,1021")
    ap.add_argument("--prof", default=os.path.join(ROOT, "build", "pybpf-prof"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--out", default="/tmp/pybpf-fleet-rates.pb.gz", help="the profile of the last run")
    a = ap.parse_args()
    if not 1 <= a.n <= 64:
        ap.error("--n: 1 to 64 (pybpf-prof takes at most 64 --pid)")
    rates = [int(r) for r in a.rates.split(",")]
    pooled = collections.defaultdict(lambda: [0, 0.0, 0])
    for rnd in range(a.rounds):
        for rate in rates:
            got, exp, woke = one(a, rate)
            pooled[rate][0] += got
            pooled[rate][1] += exp
            pooled[rate][2] += woke
            print("round %d, %4d Hz: %5d samples / %7.1f expected = %5.1f%%, tick_at_wake %d (%.1f%%)  (load %s)" % (
                rnd + 1, rate, got, exp, 100 * got / max(exp, 1), woke, 100 * woke / max(exp, 1),
                os.getloadavg()[0]), flush=True)
    for rate in rates:
        got, exp, woke = pooled[rate]
        print("fleet of %d, %4d Hz, pooled: %d / %.0f = %.1f%%; with tick_at_wake %.1f%%" % (
            a.n, rate, got, exp, 100 * got / max(exp, 1), 100 * (got + woke) / max(exp, 1)))


if __name__ == "__main__":
    sys.exit(main())
