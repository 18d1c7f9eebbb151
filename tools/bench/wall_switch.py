#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What wall mode's tp_btf/sched_switch program costs per context switch.

  sudo tools/bench/wall_switch.py [--prof build/pybpf-prof] [--python PY]

1. Non-target switches: a C ping-pong (workloads/pingpong.c, ~200k round
   trips/s) while pybpf-prof --mode wall profiles an idle Python: BPF run
   time per run of the switch program (kernel.bpf_stats_enabled), and the
   ping-pong's rate with and without the agent.
2. Target switches: workloads/deep_sleeper.py (49 frames, sleeping 0.2 ms
   in a loop) profiled in wall mode: the switch program's mean run time over
   all switches while it runs (its switch-outs walk the stack).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def progs():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"]: p for p in json.loads(out)}


def delta(a, b, name):
    for i, p in b.items():
        if p.get("name") == name and i in a and p.get("run_cnt", 0) > a[i].get("run_cnt", 0):
            n = p["run_cnt"] - a[i]["run_cnt"]
            return n, (p["run_time_ns"] - a[i]["run_time_ns"]) / n / 1e3
    return 0, float("nan")


def pingpong(binary, n):
    out = subprocess.run([binary, str(n)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prof", default=os.path.join(HERE, "..", "..", "build", "pybpf-prof"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="wallsw-")
    pp = os.path.join(tmp, "pingpong")
    subprocess.run(["cc", "-O2", "-o", pp, os.path.join(HERE, "workloads", "pingpong.c")],
                   check=True)
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        base = [pingpong(pp, 300000) for _ in range(args.rounds)]
        idle = subprocess.Popen([args.python, "-c", "import time; time.sleep(600)"])
        agent = subprocess.Popen([args.prof, "--mode", "wall", "--pid", str(idle.pid), "-o",
                                  os.path.join(tmp, "idle.pb.gz")], stderr=subprocess.DEVNULL)
        time.sleep(4)
        print("non-target switches (C ping-pong, agent in wall mode on an idle Python):")
        for r in range(args.rounds):
            a = progs()
            rate = pingpong(pp, 300000)
            n, us = delta(a, progs(), "pybpf_switch")
            print("  round %d: %.0f round trips/s with the agent, switch program %.3f us/run"
                  " over %d runs" % (r + 1, rate, us, n))
        agent.send_signal(2)
        agent.wait()
        idle.kill()
        after = [pingpong(pp, 300000) for _ in range(args.rounds)]
        print("  without the agent: %s round trips/s before, %s after (a loaded machine moves "
              "these far more than the agent does)" % (
                  ", ".join("%.0f" % x for x in base), ", ".join("%.0f" % x for x in after)))
        print("target switches (%s, 49 frames deep, sleeping 0.2 ms in a loop):" % args.python)
        t = subprocess.Popen([args.python, os.path.join(HERE, "workloads", "deep_sleeper.py"),
                              "47"])
        agent = subprocess.Popen([args.prof, "--mode", "wall", "--pid", str(t.pid), "-o",
                                  os.path.join(tmp, "deep.pb.gz")], stderr=subprocess.DEVNULL)
        time.sleep(4)
        for r in range(args.rounds):
            a = progs()
            time.sleep(5)
            n, us = delta(a, progs(), "pybpf_switch")
            print("  round %d: switch program %.3f us/run over %d runs (%.0f/s)"
                  % (r + 1, us, n, n / 5))
        agent.send_signal(2)
        agent.wait()
        t.kill()
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])


if __name__ == "__main__":
    main()
