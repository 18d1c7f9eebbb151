#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Where a fleet's ticks go: a kernel trace of a fleet under pybpf-prof.

    tools/bench/fleet_trace.py [--n 50] [--seconds 10] [--rate 999] [--prof build/pybpf-prof]
                               [--python /usr/bin/python3.11] [--out DIR]

Starts N processes of workloads/fleet.py (1 ms of work, then N/0.5 - 1 ms
asleep, as bench.py's fleets), pybpf-prof --rate RATE on them, and
`perf record -a` of sched_switch and hrtimer_expire_entry for --seconds. The
agent's cpu-clock timers are the perf_swevent_hrtimer timers whose intervals
are mostly one period (1001 us at 999 Hz). From the trace it prints:
- ticks that fired while a fleet process was current, against the fleet's
  on-CPU time between its sched_switches × 999 Hz (what the kernel delivered
  to the fleet, whatever the BPF program does with it);
- when fleet processes start running, relative to the last tick on that CPU
  (uniform if unrelated to the ticks), in 10 us bins;
- ticks on a task not of the fleet (idle, most often) followed within 40 us
  by a fleet process starting there, split by whether the fleet process's wake-up timer (hrtimer_wakeup)
  ran just before the tick in the same interrupt, or after it;
and the agent's own summary (its tick_at_wake counter). Needs root and
perf (tools/bench/deps.sh).
"""
import argparse
import bisect
import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WL = os.path.join(ROOT, "tools", "bench", "workloads")
PER_S = 1.0 / 999
RX = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)$")


@contextlib.contextmanager
def fleet_under_agent(a, rate, out, **popen):
    """a.n processes of fleet.py (as bench.py's fleets: 1 ms of work, then
    a.n/0.5 - 1 ms asleep, for a.seconds + 60 s) and, 2 s later, a.prof
    --rate RATE -o OUT -v on them (Popen keywords `popen`). Yields (pids,
    agent); on leaving, the agent gets SIGINT (it writes OUT) unless it has
    ended, and the fleet is killed."""
    sleep_ms = getattr(a, "sleep_ms", None) or max(1.0, a.n / 0.5 - 1)
    fleet = [subprocess.Popen([a.python, "fleet.py", "--busy-ms", "1", "--sleep-ms", str(sleep_ms),
                               "--seconds", str(a.seconds + 60)], cwd=WL) for _ in range(a.n)]
    pids = [p.pid for p in fleet]
    agent = None
    try:
        time.sleep(2)
        argv = [a.prof, "--rate", str(rate), "-o", out, "--force", "-v"] + getattr(a, "agent_args", "").split()
        for p in pids:
            argv += ["--pid", str(p)]
        agent = subprocess.Popen(argv, **popen)
        yield pids, agent
        if agent.poll() is None:
            agent.send_signal(signal.SIGINT)
        agent.wait(60)
    finally:
        if agent and agent.poll() is None:
            agent.kill()
        for p in fleet:
            p.kill()
        for p in fleet:
            p.wait()


def record(a):
    data = os.path.join(a.out, "trace.data")
    with open(os.path.join(a.out, "agent.txt"), "w") as log, \
            fleet_under_agent(a, a.rate, os.path.join(a.out, "fleet.pb.gz"), stdout=log,
                              stderr=subprocess.STDOUT) as (pids, _):
        with open(os.path.join(a.out, "pids.txt"), "w") as f:
            f.write(" ".join(map(str, pids)))
        time.sleep(4)
        subprocess.run(["perf", "record", "-q", "-e", "sched:sched_switch", "-e",
                        "timer:hrtimer_expire_entry", "-m", "4096", "-a", "-o", data, "--",
                        "sleep", str(a.seconds)], check=True)
    with open(os.path.join(a.out, "trace.txt"), "w") as f:
        subprocess.run(["perf", "script", "-i", data], stdout=f, stderr=subprocess.DEVNULL, check=True)
    return set(pids)


def parse(path):
    ev = []
    for line in open(path):
        m = RX.match(line)
        if not m:
            continue
        _, _, cpu, ts, name, rest = m.groups()
        if name == "sched:sched_switch":
            nm = re.search(r"prev_pid=(\d+).*next_pid=(\d+)", rest)
            ev.append((float(ts), int(cpu), "sw", int(nm.group(1)), int(nm.group(2))))
        elif name == "timer:hrtimer_expire_entry":
            fn = re.search(r"function=(\S+)", rest).group(1)
            ev.append((float(ts), int(cpu), "ht", fn, re.search(r"hrtimer=(\S+)", rest).group(1)))
    ev.sort(key=lambda e: e[0])
    return ev


def agent_timers(ev):
    by = collections.defaultdict(list)
    for e in ev:
        if e[2] == "ht" and e[3] == "perf_swevent_hrtimer":
            by[(e[1], e[4])].append(e[0])
    agent = {}
    for (cpu, addr), ts in sorted(by.items(), key=lambda kv: -len(kv[1])):
        if len(ts) > 100 and cpu not in agent:
            # most intervals one period (a CPU's timer may skip while it idles)
            gaps = [b - x for x, b in zip(ts, ts[1:])]
            if sum(abs(g - PER_S) < 15e-6 for g in gaps) > 0.3 * len(gaps):
                agent[cpu] = addr
    return agent


def analyse(ev, pids):
    agent = agent_timers(ev)
    t0, t1 = ev[0][0] + 0.05, ev[-1][0] - 0.05
    cur, since, last = {}, {}, {}
    run = 0.0
    runs = []  # (cpu, start, end) of each fleet run inside the window
    ticks = collections.Counter()
    phase = []
    for e in ev:
        t, cpu = e[0], e[1]
        if e[2] == "sw":
            prev, nxt = e[3], e[4]
            if cur.get(cpu) == prev and prev in pids and since.get(cpu) and t0 <= since[cpu] and t <= t1:
                run += t - since[cpu]
                runs.append((cpu, since[cpu], t))
            cur[cpu] = nxt
            since[cpu] = t if nxt in pids else None
            if nxt in pids and t0 <= t <= t1 and cpu in last:
                phase.append(t - last[cpu])
        elif e[3] == "perf_swevent_hrtimer" and agent.get(cpu) == e[4]:
            last[cpu] = t
            if t0 <= t <= t1:
                c = cur.get(cpu)
                ticks["fleet" if c in pids else "idle" if c == 0 else "other"] += 1
    # non-fleet ticks right before a fleet process starts on that CPU
    woke = collections.Counter()
    per_cpu = collections.defaultdict(list)
    for e in ev:
        per_cpu[e[1]].append(e)
    for cpu, es in per_cpu.items():
        c = None
        for i, e in enumerate(es):
            if e[2] == "sw":
                c = e[4]
                continue
            if e[3] != "perf_swevent_hrtimer" or agent.get(cpu) != e[4] or c in pids or c is None or not t0 <= e[0] <= t1:
                continue
            j = next((k for k in range(i + 1, len(es)) if es[k][2] == "sw"), None)
            if j is None or es[j][4] not in pids or es[j][0] - e[0] > 40e-6:
                continue
            if any(x[2] == "ht" and x[3] == "hrtimer_wakeup" and e[0] - x[0] < 15e-6 for x in es[max(0, i - 5):i]):
                woke["before"] += 1
            elif any(x[2] == "ht" and x[3] == "hrtimer_wakeup" for x in es[i + 1:j]):
                woke["after"] += 1
            else:
                woke["neither"] += 1
    return {"window_s": t1 - t0, "agent_timers": agent, "ticks": dict(ticks), "fleet_on_cpu_s": run,
            "expected": run / PER_S, "phase": phase, "woke": dict(woke),
            "by_start": runs_by_start(ev, agent, runs)}


def runs_by_start(ev, agent, runs):
    """Each fleet run's ticks, expected (its length × rate) against received,
    summed by where the run started in the tick period of its CPU (100 us
    bins; 'silent': no tick in the period before). Where the shortfall sits."""
    ticks = collections.defaultdict(list)
    for e in ev:
        if e[2] == "ht" and e[3] == "perf_swevent_hrtimer" and agent.get(e[1]) == e[4]:
            ticks[e[1]].append(e[0])
    out = collections.defaultdict(lambda: [0, 0.0, 0])
    for cpu, a, b in runs:
        t = ticks[cpu]
        i, j = bisect.bisect_left(t, a), bisect.bisect_right(t, b)
        since = a - t[i - 1] if i else None
        key = "silent" if since is None or since > 1.5 * PER_S else \
            "%4d-%4d us" % (since * 1e4 // 1 * 100, since * 1e4 // 1 * 100 + 100)
        o = out[key]
        o[0] += 1
        o[1] += (b - a) / PER_S
        o[2] += j - i
    return dict(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sleep-ms", type=float, help="each fleet process's sleep (default: N/0.5 - 1, as bench.py)")
    ap.add_argument("--agent-args", default="", help="more pybpf-prof options, e.g. --fixed-phase")
    ap.add_argument("--rate", type=int, default=999, help="the agent's --rate (with --again: the recorded one)")
    ap.add_argument("--prof", default=os.path.join(ROOT, "build", "pybpf-prof"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--out", default="/tmp/pybpf-fleet-trace")
    ap.add_argument("--again", action="store_true", help="analyse the trace in --out again")
    a = ap.parse_args()
    global PER_S
    PER_S = 1.0 / a.rate
    os.makedirs(a.out, exist_ok=True)
    if a.again:
        pids = set(int(x) for x in open(os.path.join(a.out, "pids.txt")).read().split())
    else:
        pids = record(a)
    r = analyse(parse(os.path.join(a.out, "trace.txt")), pids)
    got, exp = r["ticks"].get("fleet", 0), r["expected"]
    print("window %.2f s; agent timers %s; ticks %s" % (r["window_s"], r["agent_timers"], r["ticks"]))
    print("fleet of %d: on CPU %.3f s -> %.0f ticks expected; %d fired on it (%.1f%%); short by %.0f"
          % (a.n, r["fleet_on_cpu_s"], exp, got, 100 * got / max(1, exp), exp - got))
    h = collections.Counter(int(p * 1e5) for p in r["phase"] if p < PER_S)
    bins = int(PER_S * 1e5)
    print("fleet processes starting, by time since the last tick on that CPU (10 us bins; %.0f per bin "
          "if unrelated): first 100 us %s, last 100 us %s" % (len(r["phase"]) / (PER_S * 1e5),
                                                             [h[i] for i in range(10)],
                                                             [h[i] for i in range(bins - 10, bins + 1)]))
    print("fleet runs by when they started after their CPU's last tick: runs, ticks expected, received, short")
    for k, (n, e, g) in sorted(r["by_start"].items()):
        print("  %-12s %5d %7.1f %5d %7.1f" % (k, n, e, g, e - g))
    w = r["woke"]
    print("ticks on a non-fleet task followed within 40 us by a fleet process starting there: its wake-up timer ran "
          "before the tick in the same interrupt %d, after it %d, neither %d"
          % (w.get("before", 0), w.get("after", 0), w.get("neither", 0)))
    for line in open(os.path.join(a.out, "agent.txt")):
        if "samples from" in line or "counters:" in line:
            print(line.rstrip() if "counters:" not in line else
                  "agent: " + " ".join(x for x in line.split() if x.split("=")[0] in
                                       ("python_samples", "recorded", "tick_at_wake", "ticks_missed")))


if __name__ == "__main__":
    sys.exit(main())
