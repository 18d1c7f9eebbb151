# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Without --native, is the BPF program slower than before --native existed?

    tools/bench/native_ab.py BEFORE_BINARY AFTER_BINARY [ROUNDS]

Alternates the two binaries (ROUNDS times each, default 3) on bench.py's
cost workload (one cpu.py per CPU, 50 distinct Python frames, 999 Hz, 6 s
window after 1 s) and prints BPF time per run and per Python sample (all
runs' BPF time / Python samples, an upper bound) for each. Run as root with
tools/bench/deps.sh done; BEFORE_BINARY is a build of an earlier commit.
"""
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

before, after = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
a = types.SimpleNamespace(quick=False, prof=after, pprofcheck=os.path.join(root, "build/pprofcheck"),
                          python=os.environ.get("BENCH_PYTHON", "/usr/bin/python3.11"),
                          venv=os.environ.get("BENCH_VENV", "/opt/pybpf-bench/venv"),
                          out=os.environ.get("BENCH_OUT", "/tmp/pybpf-bench/native-ab"),
                          keep=False, rounds=1, units=1)
env = bench.Env(a)
fd = bench.bpf_stats_fd()  # statistics on for the whole run
print("binary  us/run  us/python-sample(upper bound)  runs  python-samples")
for i in range(rounds):
    for tag, path in (("before", before), ("after", after)):
        r = bench.cost_run(env, "ab-%s-%d" % (tag, i), 50, 1, 6, 999, prof_path=path,
                           distinct=True, warmup=1)
        py = r["counters"].get("CNT_PY_SAMPLES", 0)
        print("%-7s %6.3f  %6.2f  %6d  %5d" % (tag, r["run_ns"] / max(1, r["run_cnt"]) / 1e3,
                                             r["run_ns"] / max(1, py) / 1e3, r["run_cnt"], py),
              flush=True)
