#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""pybpf-prof benchmarks: overhead, cost per sample, accuracy and scale,
side by side with py-spy. Standard library only; run as root.

    bench.py [--quick] [--sections slowdown,cost,accuracy,scale,where]
             [--python /usr/bin/python3.11] [--venv DIR] [--out DIR]
             [--rounds N] [--prof build/pybpf-prof]

Normally started by tools/bench/run.sh, which installs py-spy, flask,
gunicorn, wrk and perf first. Writes OUT/results.json (every raw
measurement) and OUT/report.md (the tables), and prints the report.

Sections
  slowdown  fixed-work targets timed with no profiler, pybpf-prof at 99/999 Hz
            and py-spy at 100/1000 Hz (blocking and --nonblocking); rounds
            interleaved, configuration order rotated each round.
  cost      BPF run time per sample vs stack depth and thread count (from
            kernel.bpf_stats_enabled), agent CPU and peak RSS, samples
            achieved vs requested, drops by reason.
  accuracy  workloads that measure their own CPU split per function
            (time.thread_time), profiled by pybpf-prof and py-spy at once.
  scale     50 and 200 mostly idle Python processes: attach time, agent CPU,
            samples lost.
  where     where the time goes: the cost of a sample split into perf-event
            delivery, the BPF program's fixed part and its per-frame part;
            perf profile of the agent.
"""
import argparse
import ctypes
import collections
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WL = HERE / "workloads"
ABI_H = REPO / "bpf" / "pybpf_abi.h"
CLK_TCK = os.sysconf("SC_CLK_TCK")

LIVE = []  # every process we started and have not reaped: killed on the way out


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A child process with its output read line by line in the background,
    each line stamped with the time it arrived."""

    def __init__(self, argv, stdin=False, merge=False, cwd=None, env=None, new_session=False,
                 watch_hwm=None, on_line=None):
        self.argv = [str(a) for a in argv]
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            text=True, cwd=cwd, env=env, start_new_session=new_session, bufsize=1)
        self.pid = self.p.pid
        self.on_line = on_line
        self.lines = []  # (seconds since start, stream, line)
        self.cond = threading.Condition()
        self.rusage = None
        self.returncode = None
        self.t_end = None
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, "out"), daemon=True)]
        if not merge:
            self.readers.append(
                threading.Thread(target=self._read, args=(self.p.stderr, "err"), daemon=True))
        for r in self.readers:
            r.start()
        # Peak RSS: ru_maxrss of a child is useless here (Linux carries the
        # parent's high-water mark across fork+exec), so VmHWM is polled
        # until the process exits, faster once it has been told to stop.
        self.hwm_kb = None
        self.stopping = False
        if watch_hwm:
            threading.Thread(target=self._watch_hwm, args=(watch_hwm,), daemon=True).start()
        LIVE.append(self)

    def _watch_hwm(self, interval):
        path = "/proc/%d/status" % self.pid
        while self.returncode is None:
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            kb = int(line.split()[1])
                            self.hwm_kb = max(self.hwm_kb or 0, kb)
                            break
                    else:
                        return  # zombie: no memory any more
            except (OSError, ValueError):
                return
            time.sleep(0.002 if self.stopping else interval)

    def _read(self, f, name):
        for line in f:
            if self.on_line:
                self.on_line(line)
            with self.cond:
                self.lines.append((time.monotonic() - self.t0, name, line.rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern, timeout, stream=None):
        """First line matching the regex: (time, match), or None at timeout/exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for t, s, line in self.lines[seen:]:
                    m = rx.search(line)
                    if m and (stream is None or s == stream):
                        return t, m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.exited() and not any(r.is_alive() for r in self.readers)):
                    return None
                self.cond.wait(min(left, 0.2))

    def exited(self):
        """Has it exited? Without reaping it (Popen.poll would, and take its
        rusage with it)."""
        if self.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def reap(self, timeout):
        """Wait for exit (wait4, for its rusage); None on timeout."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            try:
                pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: no rusage then
                self.returncode = self.p.returncode if self.p.returncode is not None else -1
                self.t_end = time.monotonic() - self.t0
                break
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru
                self.t_end = time.monotonic() - self.t0
                self.p.returncode = self.returncode
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        for r in self.readers:
            r.join(5)
        if self in LIVE:
            LIVE.remove(self)
        return self.returncode

    def stop(self, sig=signal.SIGINT, timeout=60):
        self.stopping = True
        self.send_signal(sig)
        if self.reap(timeout) is None:
            self.send_signal(signal.SIGKILL)
            self.reap(10)
        return self.returncode

    def text(self, stream=None):
        return "\n".join(l for _, s, l in self.lines if stream is None or s == stream)

    @property
    def cpu_s(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    @property
    def maxrss_mb(self):
        return self.hwm_kb / 1024.0 if self.hwm_kb else None


def kill_all():
    for p in list(LIVE):
        try:
            if not p.exited():
                os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass
        try:
            p.reap(5)
        except ChildProcessError:
            pass


def proc_cpu_s(pid):
    """utime+stime of a whole process (all threads, reaped ones too), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu_ns(pid):
    """CPU time of a process, ns: the sum of /proc/PID/task/*/schedstat (the
    scheduler's own clock, precise, but live threads only) or /proc/PID/stat
    (exited threads too, but in 10 ms ticks), whichever is larger."""
    st = proc_cpu_s(pid)
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    return max(total, int(st * 1e9) if st is not None else 0)


def settle(pid, quiet_s=0.005, window=0.1, max_wait=5.0):
    """Wait until a process has gone quiet: less than quiet_s of CPU in each of
    two consecutive windows (a profiler's start-up work is over). Returns the
    time waited."""
    t0 = time.monotonic()
    last = proc_cpu_ns(pid)
    calm = 0
    while last is not None and time.monotonic() - t0 < max_wait and calm < 2:
        time.sleep(window)
        now_ = proc_cpu_ns(pid)
        if now_ is None:
            break
        calm = calm + 1 if now_ - last < quiet_s * 1e9 else 0
        last = now_
    return time.monotonic() - t0


def sysctl_get(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


def sysctl_set(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


def sh(cmd, timeout=60):
    try:
        return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True,
                              timeout=timeout).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(%s)" % e


# --------------------------------------------------------------------------
# The profilers


def counter_names():
    """Counter ids in the order of enum pybpf_counter (bpf/pybpf_abi.h)."""
    text = ABI_H.read_text()
    body = re.search(r"enum pybpf_counter\s*{(.*?)};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [n for n in re.findall(r"\b(CNT_[A-Z_]+)\b", body) if n != "CNT__MAX"]


SUMMARY_RX = re.compile(
    r"pybpf-prof: ([\d.]+) s at (\d+) Hz on (\d+) CPUs: (\d+) samples from (\d+) Python "
    r"process(?:es)?, (\d+) threads? \(([\d.]+) samples/s\); (\d+) code objects"
    r"(?:; BPF ([\d.]+) us/run)?\. (.*)$")


class PyBpf:
    """pybpf-prof as a child process, with -v so that it says when it has
    attached and to which processes."""

    def __init__(self, env, rate, out, pids=None, duration=None, extra=(), watch_pids=None,
                 prof=None):
        argv = [prof or env.prof] + (["--all-pythons"] if not pids else
                             [a for p in pids for a in ("--pid", str(p))])
        argv += ["--rate", str(rate), "-o", out, "--force", "-v"]
        if duration:
            argv += ["--duration", str(duration)]
        argv += list(extra)
        self.env, self.rate, self.out = env, rate, out
        # CPU time of watched processes at the moment they are registered
        self.watch_pids = set(watch_pids or ())
        self.reg_cpu_ns = {}
        self.proc = Proc(argv, watch_hwm=0.02, on_line=self._on_line if watch_pids else None)
        self.t_started = None
        self.summary = {}

    def _on_line(self, line):
        m = re.search(r"profiling pid (\d+) \(", line)
        if m and int(m.group(1)) in self.watch_pids:
            self.reg_cpu_ns.setdefault(int(m.group(1)), proc_cpu_ns(int(m.group(1))))

    def wait_started(self, timeout=60):
        r = self.proc.wait_line(r"sampling at \d+ Hz", timeout)
        if not r:
            raise RuntimeError("pybpf-prof did not start:\n" + self.proc.text())
        self.t_started = r[0]
        return r[0]

    def wait_pid(self, pid, timeout=30):
        r = self.proc.wait_line(r"profiling pid %d \(" % pid, timeout)
        if not r:
            raise RuntimeError("pybpf-prof did not register pid %d:\n%s" % (pid, self.proc.text()))
        return r[0]

    def registered(self):
        """{pid: seconds since launch} of every 'profiling pid' line so far."""
        out = {}
        with self.proc.cond:
            lines = list(self.proc.lines)
        for t, _, line in lines:
            m = re.search(r"profiling pid (\d+) \(", line)
            if m:
                out.setdefault(int(m.group(1)), t)
        return out

    def prog_fdinfo(self):
        """{name: {prog_id, run_time_ns, run_cnt}} of the BPF programs this
        process holds, read from its own fds (no guessing among other loaders)."""
        progs, maps = {}, {}
        fddir = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(fddir):
            try:
                link = os.readlink(os.path.join(fddir, fd))
                if "bpf-prog" not in link and "bpf-map" not in link:
                    continue
                with open("/proc/%d/fdinfo/%s" % (self.proc.pid, fd)) as f:
                    info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            except OSError:
                continue
            info = {k.strip(): v.strip() for k, v in info.items()}
            if "prog_id" in info and "bpf-prog" in link:
                progs[int(info["prog_id"])] = info
            elif "map_id" in info:
                maps[int(info["map_id"])] = info
        return progs, maps

    def memlock_bytes(self):
        """Locked kernel memory of this agent's BPF maps and programs: the
        sum of `memlock` in /proc/PID/fdinfo, each object once."""
        progs, maps = self.prog_fdinfo()
        return sum(int(i.get("memlock", 0)) for i in list(progs.values()) + list(maps.values()))

    def bpf_snapshot(self):
        """run_time_ns/run_cnt of pybpf_sample (bpftool prog show) and the
        per-CPU counters map summed (bpftool map dump)."""
        progs, maps = self.prog_fdinfo()
        snap = {"t": time.monotonic()}
        for pid_ in progs:
            j = json.loads(sh(["bpftool", "prog", "show", "id", str(pid_), "-j"]) or "{}")
            if j.get("name") == "pybpf_sample":
                snap["run_time_ns"] = j.get("run_time_ns", 0)
                snap["run_cnt"] = j.get("run_cnt", 0)
                snap["prog_id"] = pid_
        names = counter_names()
        mem = 0
        for mid in maps:
            j = json.loads(sh(["bpftool", "map", "show", "id", str(mid), "-j"]) or "{}")
            mem += int(j.get("bytes_memlock", 0))
            if j.get("name") != "counters":
                continue
            dump = json.loads(sh(["bpftool", "map", "dump", "id", str(mid), "-j"]) or "[]")
            tot = [0] * len(names)
            for ent in dump:
                for v in ent.get("values", []):
                    raw = bytes(int(b, 16) for b in v["value"])
                    for i in range(min(len(names), len(raw) // 8)):
                        tot[i] += int.from_bytes(raw[8 * i:8 * i + 8], "little")
            snap["counters"] = dict(zip(names, tot))
        snap["map_bytes"] = mem
        return snap

    def stop(self, timeout=120):
        self.proc.stop(signal.SIGINT, timeout)
        return self.finish()

    def wait(self, timeout):
        if self.proc.reap(timeout) is None:
            self.proc.stop(signal.SIGINT, 60)
        return self.finish()

    def finish(self):
        text = self.proc.text()
        s = {"rc": self.proc.returncode, "agent_cpu_s": self.proc.cpu_s,
             "agent_maxrss_mb": self.proc.maxrss_mb, "agent_wall_s": self.proc.t_end}
        for line in text.splitlines():
            m = SUMMARY_RX.search(line)
            if m:
                s.update(duration_s=float(m.group(1)), samples=int(m.group(4)),
                         processes=int(m.group(5)), threads=int(m.group(6)),
                         code_objects=int(m.group(8)),
                         bpf_us_per_run=float(m.group(9)) if m.group(9) else None,
                         drops_line=m.group(10))
            m = re.search(r"native: (\d+) samples unwound, ([0-9.]+) native frames per sample",
                          line)
            if m:
                s["native_frames_per_sample"] = float(m.group(2))
            if line.startswith("pybpf-prof: counters:"):
                s["counters"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
        if "samples" not in s:
            s["stderr"] = text[-2000:]
        self.summary = s
        return s

    def samples_by_pid(self):
        """{pid: {samples, stacks: [(count, [function names leaf first])]}} from the pprof output."""
        return read_pprof(self.env, self.out)


def read_pprof(env, path):
    out = collections.defaultdict(lambda: {"samples": 0, "stacks": []})
    try:
        j = json.loads(subprocess.run([env.pprofcheck, path], capture_output=True, text=True,
                                      timeout=120, check=True).stdout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError, OSError) as e:
        log("cannot read %s: %s" % (path, e))
        return {}
    for s in j.get("samples", []):
        pid = s.get("num_labels", {}).get("pid", [0])[0]
        n = s["values"][0]
        d = out[pid]
        d["samples"] += n
        d["stacks"].append((n, [f["function"] for f in s.get("frames", [])]))
    return dict(out)


PYSPY_FRAME = re.compile(r"^(.*) \(([^()]*):(\d+)\)$")


class PySpy:
    def __init__(self, env, rate, out, pid, nonblocking=False, subprocesses=False, duration=None,
                 hwm_interval=0.02, native=False):
        argv = [env.pyspy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                "-o", out]
        if native:
            argv.append("--native")
        if nonblocking:
            argv.append("--nonblocking")
        if subprocesses:
            argv.append("--subprocesses")
        if duration:
            argv += ["--duration", str(int(duration))]
        self.env, self.rate, self.out = env, rate, out
        self.proc = Proc(argv, merge=True, watch_hwm=hwm_interval)
        self.summary = {}

    def wait_started(self, timeout=30):
        r = self.proc.wait_line(r"Sampling process", timeout)
        if not r:
            raise RuntimeError("py-spy did not start:\n" + self.proc.text())
        return r[0]

    def stop(self, timeout=60):
        self.proc.stop(signal.SIGINT, timeout)
        return self.finish()

    def wait(self, timeout):
        """py-spy ends by itself when its target exits."""
        self.proc.stopping = True
        if self.proc.reap(timeout) is None:
            self.proc.stop(signal.SIGINT, 60)
        return self.finish()

    def finish(self):
        text = self.proc.text()
        s = {"rc": self.proc.returncode, "agent_cpu_s": self.proc.cpu_s,
             "agent_maxrss_mb": self.proc.maxrss_mb, "agent_wall_s": self.proc.t_end}
        m = re.search(r"Samples: (\d+) Errors: (\d+)", text)
        if m:
            s["samples"], s["errors"] = int(m.group(1)), int(m.group(2))
        else:
            s["stderr"] = text[-2000:]
        self.summary = s
        return s

    def stacks(self):
        """[(count, [function names leaf first])] from the raw (folded) output."""
        out = []
        try:
            lines = Path(self.out).read_text().splitlines()
        except OSError:
            return out
        for line in lines:
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            funcs = []
            for fr in stack.split(";"):
                m = PYSPY_FRAME.match(fr)
                if m and not fr.startswith(("thread (", "process ")):
                    funcs.append(m.group(1))
            out.append((int(n), funcs[::-1]))
        return out


# --------------------------------------------------------------------------
# Configurations


class Config:
    def __init__(self, name, kind, rate=0, nonblocking=False):
        self.name, self.kind, self.rate, self.nonblocking = name, kind, rate, nonblocking

    def __repr__(self):
        return self.name


CONFIGS = [
    Config("none", "none"),
    Config("pybpf-prof 99 Hz", "pybpf", 99),
    Config("pybpf-prof 999 Hz", "pybpf", 999),
    Config("py-spy 100 Hz", "pyspy", 100),
    Config("py-spy 1000 Hz", "pyspy", 1000),
    Config("py-spy 100 Hz --nonblocking", "pyspy", 100, True),
    Config("py-spy 1000 Hz --nonblocking", "pyspy", 1000, True),
]


def start_profiler(env, cfg, target_pid, tag, wait_pids=None, subprocesses=False):
    """Start cfg's profiler on the node (pybpf-prof --all-pythons) or on
    target_pid (py-spy) and return once it is sampling that target."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "pybpf":
        prof = PyBpf(env, cfg.rate, env.tmp("%s.pb.gz" % tag))
        prof.wait_started()
        for p in wait_pids or [target_pid]:
            prof.wait_pid(p)
        return prof
    prof = PySpy(env, cfg.rate, env.tmp("%s.txt" % tag), target_pid, nonblocking=cfg.nonblocking,
                 subprocesses=subprocesses)
    prof.wait_started()
    return prof


# --------------------------------------------------------------------------
# Workloads


class Workload:
    """A workload of tools/bench/workloads that waits for GO (see common.py)."""

    def __init__(self, env, script, args, cpus=None):
        argv = [env.python, str(WL / script)] + [str(a) for a in args]
        if cpus is not None:
            argv = ["taskset", "-c", str(cpus)] + argv
        self.proc = Proc(argv, stdin=True, cwd=str(WL))
        r = self.proc.wait_line(r"^READY (\d+)", 30, stream="out")
        if not r:
            raise RuntimeError("workload did not start: %s\n%s" % (argv, self.proc.text()))
        self.pid = int(r[1].group(1))

    def go(self):
        self.proc.send("GO\n")

    def result(self, timeout):
        r = self.proc.wait_line(r"^\{", timeout, stream="out")
        if not r:
            self.proc.stop(signal.SIGKILL, 10)
            raise RuntimeError("workload gave no result:\n" + self.proc.text())
        line = [l for _, s, l in self.proc.lines if s == "out" and l.startswith("{")][0]
        self.proc.reap(30)
        return json.loads(line)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------
# 1. Slowdown


def cpu_workloads(env):
    u = env.units
    return [
        ("single thread", "cpu.py", ["--units", u, "--depth", 10], "1"),
        ("8 threads", "cpu.py", ["--units", u, "--threads", 8, "--depth", 10], None),
        ("deep recursion (150 frames)", "cpu.py", ["--units", u, "--depth", 150], "1"),
    ]


def run_cpu_once(env, wl, cfg, tag):
    name, script, args, cpus = wl
    w = Workload(env, script, args, cpus)
    prof = start_profiler(env, cfg, w.pid, tag)
    if prof is not None:
        if cfg.kind == "pybpf":
            settle(prof.proc.pid)  # its start-up scan of every Python on the node is over
        startup_ns = proc_cpu_ns(prof.proc.pid)
    w.go()
    res = w.result(timeout=env.run_timeout)
    rec = {"wall": res["wall"], "cpu": res["cpu"], "units": res["units"]}
    if prof is not None:
        end_ns = proc_cpu_ns(prof.proc.pid)
        rec["agent_startup_cpu_s"] = startup_ns / 1e9 if startup_ns is not None else None
        rec["agent_steady_cpu_frac"] = ((end_ns - startup_ns) / 1e9 / res["wall"]
                                        if end_ns is not None and startup_ns is not None else None)
        if cfg.kind == "pybpf":
            s = prof.stop()
            by = prof.samples_by_pid()
            s["target_samples"] = by.get(w.pid, {}).get("samples", 0)
            # requested: one per 1/rate s of the target's CPU time
            s["target_requested"] = cfg.rate * res["cpu"]
        else:
            s = prof.wait(60)
            s["target_samples"] = sum(n for n, _ in prof.stacks())
            # py-spy samples on the wall clock, each active thread per tick:
            # only a single thread has a clear number to expect
            s["target_requested"] = cfg.rate * res["wall"] if res["threads"] == 1 else None
        rec["prof"] = s
    return rec


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_PCT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def parse_wrk(text):
    out = {}
    m = WRK_RPS.search(text)
    if m:
        out["rps"] = float(m.group(1))
    for p, v, unit in WRK_PCT.findall(text):
        out["p%s_ms" % p] = float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    return out


def run_flask_once(env, cfg, tag):
    port = free_port()
    g = Proc([env.venv_bin("gunicorn"), "-w", "4", "-b", "127.0.0.1:%d" % port, "--chdir",
              str(WL), "--log-level", "warning", "flask_app:app"], new_session=True)
    url = "http://127.0.0.1:%d/" % port
    try:
        deadline = time.monotonic() + 30
        while True:
            workers = children_of(g.pid)
            if len(workers) >= 4:
                try:
                    with socket.create_connection(("127.0.0.1", port), 0.5):
                        break
                except OSError:
                    pass
            if time.monotonic() > deadline or g.exited():
                raise RuntimeError("gunicorn did not start:\n" + g.text())
            time.sleep(0.1)
        subprocess.run(["wrk", "-t2", "-c8", "-d1s", url], capture_output=True, timeout=30)
        prof = start_profiler(env, cfg, g.pid, tag, wait_pids=[g.pid] + workers, subprocesses=True)
        if prof is not None:
            if cfg.kind == "pyspy":
                time.sleep(1.0)  # py-spy finds the subprocesses on its own schedule
            else:
                settle(prof.proc.pid)
            startup_ns = proc_cpu_ns(prof.proc.pid)
        t0 = time.monotonic()
        out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % env.flask_s, "--latency", url],
                             capture_output=True, text=True, timeout=env.flask_s + 60).stdout
        rec = parse_wrk(out)
        if prof is not None:
            end_ns = proc_cpu_ns(prof.proc.pid)
            rec["agent_startup_cpu_s"] = startup_ns / 1e9 if startup_ns is not None else None
            rec["agent_steady_cpu_frac"] = ((end_ns - startup_ns) / 1e9 / (time.monotonic() - t0)
                                            if end_ns is not None and startup_ns is not None else None)
            rec["prof"] = prof.stop()
        return rec
    finally:
        try:
            os.killpg(g.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if g.reap(20) is None:
            try:
                os.killpg(g.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            g.reap(10)


def section_slowdown(env, R):
    sysctl_set("kernel.bpf_stats_enabled", 0)
    workloads = cpu_workloads(env) + [("flask + gunicorn (4 workers), wrk", None, None, None)]
    runs = R.setdefault("slowdown", {})
    for r in range(env.rounds):
        k = r % len(CONFIGS)
        order = CONFIGS[k:] + CONFIGS[:k]
        for wl in workloads:
            wname = wl[0]
            for cfg in order:
                tag = "slow-%d-%s-%s" % (r, re.sub(r"\W+", "_", wname), re.sub(r"\W+", "_", cfg.name))
                try:
                    if wl[1] is None:
                        rec = run_flask_once(env, cfg, tag)
                    else:
                        rec = run_cpu_once(env, wl, cfg, tag)
                except Exception as e:  # one failed run must not lose the others
                    log("slowdown %s / %s round %d failed: %s" % (wname, cfg, r, e))
                    kill_all()
                    rec = {"error": str(e)[:2000]}
                rec["round"] = r
                runs.setdefault(wname, {}).setdefault(cfg.name, []).append(rec)
                log("slowdown r%d %-40s %-30s %s" % (r, wname, cfg.name, short(rec)))
        env.save(R)


def short(rec):
    if "error" in rec:
        return "ERROR"
    parts = []
    for k in ("wall", "rps", "p99_ms"):
        if k in rec:
            parts.append("%s=%.3f" % (k, rec[k]))
    p = rec.get("prof")
    if p:
        if rec.get("agent_steady_cpu_frac") is not None:
            parts.append("agent=%.2f%%" % (100 * rec["agent_steady_cpu_frac"]))
        if rec.get("agent_startup_cpu_s") is not None:
            parts.append("startup=%.3fs" % rec["agent_startup_cpu_s"])
        if p.get("target_samples") is not None:
            parts.append("samples=%d/%s" % (p["target_samples"], fmt(p.get("target_requested"), "%.0f")))
    return " ".join(parts)


# --------------------------------------------------------------------------
# 2. Cost per sample


def cost_run(env, label, depth, threads, seconds, rate, idle=False, prof_path=None,
             distinct=False, extra=(), via_c=0, warmup=None):
    """One copy of cpu.py pinned to each CPU, pybpf-prof --pid on all of them,
    BPF statistics on. With every CPU busy with a target, nearly every tick is
    a Python sample, so the correction for not-Python ticks stays small even
    on a loaded machine. Returns windowed (steady-state) numbers from bpftool
    snapshots plus the whole-run summary."""
    args = ["--seconds", seconds + 30, "--threads", threads, "--depth", depth]
    if distinct:
        args.append("--distinct")
    if via_c:
        args += ["--via-c", via_c]
    ws = [Workload(env, "cpu.py", args, cpus=str(c)) for c in range(os.cpu_count() or 1)]
    pids = [w.pid for w in ws]
    prof = PyBpf(env, rate, env.tmp("cost-%s.pb.gz" % label), pids=pids, prof=prof_path,
                 extra=extra)
    try:
        prof.wait_started()
        if not idle:
            for w in ws:
                w.go()
        # past the first sight of every code object and thread
        time.sleep(warmup if warmup is not None else min(1.0, seconds / 4))
        a, ca, aa = prof.bpf_snapshot(), fleet_cpu_ns(pids), proc_cpu_ns(prof.proc.pid)
        time.sleep(seconds)
        b, cb, ab = prof.bpf_snapshot(), fleet_cpu_ns(pids), proc_cpu_ns(prof.proc.pid)
        s = prof.stop()
    finally:
        for w in ws:
            w.proc.stop(signal.SIGKILL, 10)
    d = {k: b["counters"][k] - a.get("counters", {}).get(k, 0) for k in b.get("counters", {})}
    rec = {"label": label, "depth": depth, "threads": threads, "rate": rate, "idle": idle,
           "distinct": distinct, "copies": len(ws),
           "window_s": b["t"] - a["t"], "run_ns": b["run_time_ns"] - a["run_time_ns"],
           "run_cnt": b["run_cnt"] - a["run_cnt"], "counters": d, "map_bytes": b["map_bytes"],
           "target_cpu_s": (cb - ca) / 1e9,
           "agent_window_cpu_s": (ab - aa) / 1e9 if aa is not None and ab is not None else None,
           "summary": s}
    return rec


def section_cost(env, R):
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    out = R.setdefault("cost", [])
    secs = env.cost_s
    # "distinct": every frame a different function, so no code object
    # repeats within a stack (the recursion rows repeat one).
    plan = [("idle", 10, 1, True, False)] + \
           [("depth %d" % d, d, 1, False, False) for d in (10, 50, 150)] + \
           [("depth %d distinct" % d, d, 1, False, True) for d in (50, 150)] + \
           [("%d threads" % t, 10, t, False, False) for t in (8, 32)] + \
           [("8 threads, depth 150", 150, 8, False, False)]
    try:
        for rate in env.cost_rates:
            for label, depth, threads, idle, distinct in plan:
                try:
                    rec = cost_run(env, "%s-%d" % (label.replace(" ", ""), rate), depth, threads,
                                   secs, rate, idle, distinct=distinct)
                    rec["label"] = label
                except Exception as e:
                    log("cost %s failed: %s" % (label, e))
                    kill_all()
                    rec = {"label": label, "rate": rate, "error": str(e)[:2000]}
                out.append(rec)
                log("cost %-22s %4d Hz: %s" % (label, rate, cost_line(rec)))
            env.save(R)
    finally:
        sysctl_set("kernel.bpf_stats_enabled", old)


def bpf_stats_fd():
    """BPF_ENABLE_STATS: run-time statistics stay on while this fd is open,
    whatever others do with the kernel.bpf_stats_enabled sysctl meanwhile."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(16)  # enable_stats.type = BPF_STATS_RUN_TIME (0)
    fd = libc.syscall(321, 32, attr, 16)  # bpf(BPF_ENABLE_STATS, ...), x86-64
    return fd if fd >= 0 else None


def section_native(env, R):
    """--native against the default mode on the same targets: one cpu.py
    pinned to each CPU (two busy targets here), 50 Python frames with every
    12th level called through map() (about 30 native frames), 99 Hz."""
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    stats_fd = bpf_stats_fd()
    out = R.setdefault("native", [])
    try:
        # --native names each new address once (libdwfl's symbol search) and
        # parses CFI on first use: the window starts after 5 s of warm-up.
        for rate, label, extra in ((99, "python only", ()), (99, "--native", ("--native",)),
                                   (999, "python only", ()), (999, "--native", ("--native",))):
            try:
                rec = cost_run(env, "native-%s-%d" % ("on" if extra else "off", rate), 50, 1,
                               2 * env.cost_s, rate, extra=extra, via_c=12, warmup=5)
                rec["label"] = label
            except Exception as e:
                log("native %s failed: %s" % (label, e))
                kill_all()
                rec = {"label": label, "rate": rate, "error": str(e)[:2000]}
            out.append(rec)
            log("native %-12s: %s" % (label, cost_line(rec)))
        if env.pyspy and os.path.exists(env.pyspy):
            try:
                rec = pyspy_native_run(env, env.cost_s)
            except Exception as e:
                log("py-spy --native failed: %s" % e)
                kill_all()
                rec = {"label": "py-spy --native", "rate": 99, "error": str(e)[:2000]}
            out.append(rec)
            log("native py-spy: %s" % rec)
        env.save(R)
    finally:
        if stats_fd is not None:
            os.close(stats_fd)
        sysctl_set("kernel.bpf_stats_enabled", old)


def pyspy_native_run(env, seconds, rate=99):
    """The same targets as section_native under py-spy --native, one py-spy
    per target (py-spy follows one process): agent CPU over a window."""
    args = ["--seconds", seconds + 30, "--threads", 1, "--depth", 50, "--via-c", 12]
    ws = [Workload(env, "cpu.py", args, cpus=str(c)) for c in range(os.cpu_count() or 1)]
    spies = []
    try:
        for w in ws:
            spies.append(PySpy(env, rate, env.tmp("pyspy-native-%d.txt" % w.pid), w.pid,
                               native=True))
        for sp in spies:
            sp.wait_started()
        for w in ws:
            w.go()
        time.sleep(min(1.0, seconds / 4))
        t0 = time.monotonic()
        a = sum(proc_cpu_ns(sp.proc.pid) or 0 for sp in spies)
        ta = fleet_cpu_ns([w.pid for w in ws])
        time.sleep(seconds)
        b = sum(proc_cpu_ns(sp.proc.pid) or 0 for sp in spies)
        tb = fleet_cpu_ns([w.pid for w in ws])
        t1 = time.monotonic()
        sums = [sp.stop() for sp in spies]
    finally:
        for sp in spies:
            sp.proc.stop(signal.SIGKILL, 10)
        for w in ws:
            w.proc.stop(signal.SIGKILL, 10)
    return {"label": "py-spy --native (one per target)", "rate": rate, "window_s": t1 - t0,
            "agent_window_cpu_s": (b - a) / 1e9, "target_cpu_s": (tb - ta) / 1e9,
            "samples": sum(x.get("samples", 0) for x in sums),
            "errors": sum(x.get("errors", 0) for x in sums),
            "agent_maxrss_mb": max((x.get("agent_maxrss_mb") or 0) for x in sums)}


def report_native(R):
    if not R.get("native"):
        return ""
    rows = ["### 7. --native against Python-only, same targets\n",
            "| mode | Hz | window s | samples | target CPU s | BPF us/run | agent CPU (% of a core) "
            "| agent CPU added per sample; projected for 2 busy targets | agent peak RSS MB "
            "| BPF maps MB (memlock) | native frames/sample |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for rec in R["native"]:
        if "error" in rec:
            rows.append("| %s | – | error: %s |" % (rec["label"], rec["error"][:80]))
            continue
        if rec["label"].startswith("py-spy"):
            # py-spy samples each target 99 times a wall-clock second, busy or not
            rows.append("| %s | %d | %.1f | %d in the run (errors %d) | %.2f | – | %.2f%% "
                        "| %.0f us; %.2f%% (it samples on wall-clock time) | %.1f | – | – |" % (
                            rec["label"], rec["rate"], rec["window_s"], rec["samples"],
                            rec["errors"], rec["target_cpu_s"],
                            rec["agent_window_cpu_s"] / rec["window_s"] * 100,
                            rec["agent_window_cpu_s"] / rec["window_s"] / (2 * rec["rate"]) * 1e6,
                            rec["agent_window_cpu_s"] / rec["window_s"] * 100,
                            rec["agent_maxrss_mb"]))
            continue
        s = rec["summary"]
        agent = rec["agent_window_cpu_s"] / rec["window_s"] * 100 \
            if rec.get("agent_window_cpu_s") is not None else float("nan")
        nf = s.get("native_frames_per_sample")
        n = rec["counters"].get("CNT_PY_SAMPLES", 0)
        agent_s = rec["agent_window_cpu_s"]
        # Against the Python-only run at the same rate: what each --native
        # sample adds, and the projection for two targets busy all the time
        # (2 x rate samples/s): the Python-only agent's own CPU share plus
        # that many added samples.
        base = next((b for b in R["native"] if b["label"] == "python only"
                     and b.get("rate") == rec["rate"] and "error" not in b), None)
        if rec["label"] == "--native" and base:
            base_pct = base["agent_window_cpu_s"] / base["window_s"]
            extra_us = (agent_s - base_pct * rec["window_s"]) / max(1, n) * 1e6
            proj = "%.0f us; %.2f%%" % (extra_us, (base_pct + extra_us * 2 * rec["rate"] / 1e6)
                                      * 100)
        else:
            proj = "–"
        rows.append("| %s | %d | %.1f | %d | %.2f | %s | %.2f%% | %s | %.1f | %.1f | %s |" % (
            rec["label"], rec["rate"], rec["window_s"], n, rec["target_cpu_s"],
            "%.2f" % (rec["run_ns"] / rec["run_cnt"] / 1e3) if rec["run_cnt"] else "–",
            agent_s / rec["window_s"] * 100, proj, s.get("agent_maxrss_mb") or 0,
            rec["map_bytes"] / 1e6, "%.1f" % nf if nf is not None else "–"))
    return "\n".join(rows)


def cost_line(rec):
    if "error" in rec:
        return "ERROR"
    c = rec["counters"]
    return "runs=%d py=%d us/run=%.2f agent=%.3fs" % (
        rec["run_cnt"], c.get("CNT_PY_SAMPLES", 0), rec["run_ns"] / max(1, rec["run_cnt"]) / 1e3,
        rec["summary"].get("agent_cpu_s") or 0)


# --------------------------------------------------------------------------
# 3. Accuracy


def shares(stacks, cats):
    """Samples per category (innermost frame that names one), and the rest
    with its most frequent stacks."""
    n = collections.Counter()
    other = collections.Counter()
    for count, funcs in stacks:
        for fn in funcs:
            if fn in cats:
                n[fn] += count
                break
        else:
            n["(other)"] += count
            other[";".join(reversed(funcs)) or "(no frames)"] += count
    return n, other.most_common(3)


ACC_CONFIGS = [
    ("pybpf-prof 99 Hz + py-spy 100 Hz", 99, 100, False),
    ("pybpf-prof 999 Hz + py-spy 1000 Hz", 999, 1000, False),
    ("pybpf-prof 99 Hz + py-spy 100 Hz --nonblocking", 99, 100, True),
]


def section_accuracy(env, R):
    sysctl_set("kernel.bpf_stats_enabled", 0)
    out = R.setdefault("accuracy", [])
    for r in range(env.acc_rounds):
        for scenario in ("py", "gil"):
            for cname, brate, srate, nb in ACC_CONFIGS:
                tag = "acc-%d-%s-%d-%d-%d" % (r, scenario, brate, srate, nb)
                try:
                    rec = acc_run(env, scenario, brate, srate, nb, tag)
                except Exception as e:
                    log("accuracy %s %s failed: %s" % (scenario, cname, e))
                    kill_all()
                    rec = {"error": str(e)[:2000]}
                rec.update(round=r, scenario=scenario, config=cname)
                out.append(rec)
                log("accuracy r%d %-4s %-48s %s" % (r, scenario, cname, acc_line(rec)))
        env.save(R)


def acc_run(env, scenario, brate, srate, nonblocking, tag):
    w = Workload(env, "accuracy.py", ["--scenario", scenario, "--seconds", env.acc_s])
    b = PyBpf(env, brate, env.tmp(tag + ".pb.gz"))
    try:
        b.wait_started()
        b.wait_pid(w.pid)
        s = PySpy(env, srate, env.tmp(tag + ".txt"), w.pid, nonblocking=nonblocking)
        s.wait_started()
    except Exception:
        w.proc.stop(signal.SIGKILL, 10)
        raise
    w.go()
    res = w.result(timeout=env.acc_s + 120)
    ss = s.wait(60)
    bs = b.stop()
    truth = res["cpu"]
    cats = set(truth)
    tot = sum(truth.values())
    rec = {"truth_cpu": truth, "truth_share": {k: v / tot for k, v in truth.items()},
           "wall": res["wall"], "pybpf_summary": bs, "pyspy_summary": ss}
    for name, stacks in (("pybpf", b.samples_by_pid().get(w.pid, {}).get("stacks", [])),
                         ("pyspy", s.stacks())):
        n, other = shares(stacks, cats)
        inside = sum(v for k, v in n.items() if k in cats)
        rec[name] = {"samples": dict(n), "in_categories": inside, "other_top": other,
                     "share": {k: (n.get(k, 0) / inside if inside else None) for k in cats}}
        if inside:
            errs = {k: 100 * (rec[name]["share"][k] - rec["truth_share"][k]) for k in cats}
            rec[name]["error_pp"] = errs
            rec[name]["max_abs_error_pp"] = max(abs(e) for e in errs.values())
            # what pure sampling noise allows: 95% interval of the largest category
            p = max(rec["truth_share"].values())
            rec[name]["noise95_pp"] = 196 * (p * (1 - p) / inside) ** 0.5
    return rec


def acc_line(rec):
    if "error" in rec:
        return "ERROR"
    return "pybpf max err %.2f pp (%d samples), py-spy max err %.2f pp (%d samples)" % (
        rec["pybpf"].get("max_abs_error_pp", float("nan")), rec["pybpf"]["in_categories"],
        rec["pyspy"].get("max_abs_error_pp", float("nan")), rec["pyspy"]["in_categories"])


# --------------------------------------------------------------------------
# 4. Scale


def start_fleet(env, n, seconds, load=0.5):
    """n processes that together keep `load` CPUs busy (1 ms of work each time)."""
    procs = []
    sleep_ms = max(1.0, n / load - 1)
    for _ in range(n):
        procs.append(Proc([env.python, str(WL / "fleet.py"), "--busy-ms", 1, "--sleep-ms", sleep_ms,
                           "--seconds", seconds], cwd=str(WL)))
    # each has started when its interpreter has run a little; give them time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(proc_cpu_s(p.pid) and proc_cpu_s(p.pid) > 0.01 for p in procs):
            break
        time.sleep(0.2)
    return procs


def section_scale(env, R):
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    out = R.setdefault("scale", [])
    try:
        for n in env.scale_ns:
            fleet = start_fleet(env, n, env.scale_s * 6 + 120)
            pids = [p.pid for p in fleet]
            try:
                time.sleep(1)
                for rate in (99, 999):
                    rec = {"n": n, "tool": "pybpf-prof", "rate": rate}
                    try:
                        rec.update(scale_pybpf(env, pids, rate, "scale-%d-%d" % (n, rate)))
                    except Exception as e:
                        log("scale %d %d failed: %s" % (n, rate, e))
                        rec["error"] = str(e)[:2000]
                    out.append(rec)
                    log("scale n=%d pybpf %d Hz: %s" % (n, rate, scale_line(rec)))
                if n <= env.pyspy_fleet_max:
                    rec = {"n": n, "tool": "py-spy (one per process)", "rate": 100}
                    try:
                        rec.update(scale_pyspy(env, pids, 100, "scale-pyspy-%d" % n))
                    except Exception as e:
                        log("scale py-spy %d failed: %s" % (n, e))
                        rec["error"] = str(e)[:2000]
                    out.append(rec)
                    log("scale n=%d py-spy 100 Hz: %s" % (n, scale_line(rec)))
            finally:
                for p in fleet:
                    p.stop(signal.SIGKILL, 10)
            env.save(R)
        churn = R.setdefault("churn", [])
        for label, exe, args, per_s in CHURN:
            if not os.access(exe, os.X_OK):
                continue
            for rate in (99,):
                try:
                    rec = churn_run(env, exe, args, per_s, rate)
                    rec["symbols"] = elf_symbol_count(exe)
                except Exception as e:
                    log("churn %s failed: %s" % (label, e))
                    kill_all()
                    rec = {"error": str(e)[:2000]}
                rec.update(label=label, rate=rate)
                churn.append(rec)
                log("churn %-16s %d/s at %d Hz: %s" % (label, per_s, rate, churn_line(rec)))
        env.save(R)
    finally:
        sysctl_set("kernel.bpf_stats_enabled", old)


# (label, program, arguments, starts per second)
CHURN = [
    ("/bin/true", "/bin/true", [], 20),
    ("python3.11 -c pass (a Python)", "/usr/bin/python3.11", ["-c", "pass"], 5),
    ("node, alive 300 ms (a big symbol table)", "/usr/bin/node", ["-e", "setTimeout(()=>{},300)"], 2),
]


def elf_symbol_count(path):
    """Entries in an ELF file's .dynsym and .symtab (what a symbol search scans)."""
    import struct
    try:
        with open(os.path.realpath(path), "rb") as f:
            hdr = f.read(64)
            if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
                return None
            shoff, = struct.unpack_from("<Q", hdr, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", hdr, 0x3a)
            f.seek(shoff)
            sh = f.read(shentsize * shnum)
        n = 0
        for i in range(shnum):
            typ, = struct.unpack_from("<I", sh, i * shentsize + 4)
            size, = struct.unpack_from("<Q", sh, i * shentsize + 0x20)
            entsize, = struct.unpack_from("<Q", sh, i * shentsize + 0x38)
            if typ in (2, 11) and entsize:  # SHT_SYMTAB, SHT_DYNSYM
                n += size // entsize
        return n
    except (OSError, struct.error):
        return None


def forks_total():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def churn_run(env, exe, args, per_s, rate, prof=None):
    """Agent CPU per exec on the node: pybpf-prof --all-pythons while a driver
    starts `exe` per_s times a second; against the same window length idle."""
    b = PyBpf(env, rate, env.tmp("churn.pb.gz"), prof=prof)
    try:
        b.wait_started()
        settle(b.proc.pid)
        # idle window first: the agent's cost without the churn
        a0, f0, t0 = proc_cpu_ns(b.proc.pid), forks_total(), time.monotonic()
        time.sleep(env.churn_s)
        a1, f1, t1 = proc_cpu_ns(b.proc.pid), forks_total(), time.monotonic()
        argv = ["--arg=" + x for x in args]
        w = Workload(env, "churn.py", ["--rate", per_s, "--seconds", env.churn_s, "--exe", exe] + argv)
        b.wait_pid(w.pid)
        settle(b.proc.pid)
        a2, f2 = proc_cpu_ns(b.proc.pid), forks_total()
        w.go()
        res = w.result(env.churn_s + 60)
        time.sleep(1.0)  # retries of the last ones (up to 0.8 s after exec)
        a3, f3 = proc_cpu_ns(b.proc.pid), forks_total()
        s = b.stop()
    except Exception:
        b.proc.stop(signal.SIGKILL, 10)
        raise
    idle_cpu = (a1 - a0) / 1e9 / (t1 - t0)
    busy_cpu = (a3 - a2) / 1e9
    return {"started": res["started"], "wall": res["wall"],
            "idle_agent_frac": idle_cpu, "idle_forks_per_s": (f1 - f0) / (t1 - t0),
            "churn_agent_cpu_s": busy_cpu, "churn_forks": f3 - f2,
            "churn_agent_frac": busy_cpu / (res["wall"] + 1.0),
            "agent_ms_per_exec": 1e3 * (busy_cpu - idle_cpu * (res["wall"] + 1.0)) / max(1, res["started"]),
            "summary": s}


def churn_line(rec):
    if "error" in rec:
        return "ERROR"
    return "%d started; agent %.2f%% of a core idle, %.2f%% with churn: %.2f ms CPU per exec" % (
        rec["started"], 100 * rec["idle_agent_frac"], 100 * rec["churn_agent_frac"], rec["agent_ms_per_exec"])


def fleet_cpu_ns(pids):
    return sum(proc_cpu_ns(p) or 0 for p in pids)


def schedstat_ns(pid):
    """CPU time of a process's live threads from /proc/PID/task/*/schedstat
    (the scheduler's own ns clock), or None."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def freeze(pids, sig, timeout=10.0):
    """SIGSTOP (or SIGCONT) every pid; after SIGSTOP wait until each is stopped
    (state T), so that its CPU time no longer moves."""
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    left = list(pids) if sig == signal.SIGSTOP else []
    while left and time.monotonic() < deadline:
        still = []
        for p in left:
            try:
                with open("/proc/%d/stat" % p) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        still.append(p)
            except (OSError, IndexError):
                pass
        left = still
        if left:
            time.sleep(0.02)
    return not left


def scale_pybpf(env, pids, rate, tag, prof=None):
    """pybpf-prof --all-pythons over the fleet: time to attach to all of it,
    then a steady-state window: agent CPU, samples recorded vs the fleet's CPU
    time × rate, drops (BPF counters, bpftool deltas).

    The fleet is stopped (SIGSTOP) while the agent starts and registers it,
    continued for the window only, and stopped again before the agent stops:
    its samples in the profile and its CPU time (schedstat) then cover exactly
    the same interval."""
    if not freeze(pids, signal.SIGSTOP):
        raise RuntimeError("the fleet did not stop")
    b = PyBpf(env, rate, env.tmp(tag + ".pb.gz"), watch_pids=pids, prof=prof)
    try:
        started = b.wait_started(120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reg = b.registered()
            if all(p in reg for p in pids):
                break
            time.sleep(0.05)
        reg = b.registered()
        startup_cpu = proc_cpu_ns(b.proc.pid)
        settle(b.proc.pid)
        reg_cpu = {p: schedstat_ns(p) for p in pids}
        freeze(pids, signal.SIGCONT)
        a_snap, a_fleet, a_agent = b.bpf_snapshot(), fleet_cpu_ns(pids), proc_cpu_ns(b.proc.pid)
        time.sleep(env.scale_s)
        b_snap, b_fleet, b_agent = b.bpf_snapshot(), fleet_cpu_ns(pids), proc_cpu_ns(b.proc.pid)
        if not freeze(pids, signal.SIGSTOP):
            raise RuntimeError("the fleet did not stop")
        end_cpu = {p: schedstat_ns(p) for p in pids}
        memlock = b.memlock_bytes()
        rss_kb = proc_status_kb(b.proc.pid, "VmRSS")
        s = b.stop()
    except Exception:
        b.proc.stop(signal.SIGKILL, 10)
        raise
    finally:
        freeze(pids, signal.SIGCONT)
    window = b_snap["t"] - a_snap["t"]
    d = {k: b_snap["counters"][k] - a_snap.get("counters", {}).get(k, 0) for k in b_snap.get("counters", {})}
    missing = [p for p in pids if p not in reg]
    fleet_cpu = (b_fleet - a_fleet) / 1e9
    # the fleet's samples in the profile, against its CPU time from each
    # process's registration to the stop (other Pythons on the node excluded)
    by = b.samples_by_pid()
    got = sum(by.get(p, {}).get("samples", 0) for p in pids)
    since_reg = sum(end_cpu[p] - reg_cpu[p] for p in pids
                    if end_cpu.get(p) is not None and reg_cpu.get(p) is not None) / 1e9
    sc = s.get("counters", {})
    return {"fleet_samples": got, "fleet_expected": rate * since_reg,"ready_s": started,
            "all_registered_s": max(reg[p] for p in pids if p in reg) if reg else None,
            "registered": len(pids) - len(missing), "missing": len(missing),
            "startup_cpu_s": startup_cpu / 1e9 if startup_cpu is not None else None,
            "window_s": window, "agent_window_cpu_s": (b_agent - a_agent) / 1e9,
            "fleet_cpu_s": fleet_cpu, "samples": d.get("CNT_STACKS_RECORDED", 0),
            "expected": rate * fleet_cpu, "counters": d,
            "memlock_bytes": memlock, "rss_mb": rss_kb / 1024.0 if rss_kb else None,
            "ticks_missed": sc.get("ticks_missed"), "ticks": sc.get("samples"),
            # ticks that went to idle at a target's wake-up (None: a build without the counter)
            "tick_at_wake": d.get("CNT_TICK_AT_WAKE") if "CNT_TICK_AT_WAKE" in b_snap.get("counters", {})
            and "tick_at_wake" in sc else None,
            "bpf_runs": b_snap["run_cnt"] - a_snap["run_cnt"],
            "bpf_us_per_run": (b_snap["run_time_ns"] - a_snap["run_time_ns"]) /
                              max(1, b_snap["run_cnt"] - a_snap["run_cnt"]) / 1e3,
            "drops": {k.replace("CNT_", "").lower(): v for k, v in d.items() if v and k in DROP_COUNTERS},
            "summary": s}


DROP_COUNTERS = {"CNT_NO_TSTATE", "CNT_THREAD_WALK_LIMIT", "CNT_READ_RUNTIME", "CNT_READ_TSTATE",
                 "CNT_READ_FRAME", "CNT_READ_CODE", "CNT_TRUNCATED", "CNT_EMPTY_STACK",
                 "CNT_STACKS_FULL", "CNT_COUNTS_FULL", "CNT_CODE_RINGBUF_FULL",
                 "CNT_CODE_READ_FAIL", "CNT_SCRATCH"}


def scale_pyspy(env, pids, rate, tag):
    """One py-spy per process (it attaches to one process): time until all
    sample, then the same steady-state window."""
    t0 = time.monotonic()
    spies = [PySpy(env, rate, env.tmp("%s-%d.txt" % (tag, p)), p, nonblocking=True,
                   hwm_interval=0.5) for p in pids]
    try:
        starts = []
        for sp in spies:
            r = sp.proc.wait_line(r"Sampling process", 120)
            starts.append(r[0] + (sp.proc.t0 - t0) if r else None)
        a_fleet, a_agent, ta = fleet_cpu_ns(pids), fleet_cpu_ns([sp.proc.pid for sp in spies]), time.monotonic()
        time.sleep(env.scale_s)
        b_fleet, b_agent, tb = fleet_cpu_ns(pids), fleet_cpu_ns([sp.proc.pid for sp in spies]), time.monotonic()
        sums = [sp.stop() for sp in spies]
    except Exception:
        for sp in spies:
            sp.proc.stop(signal.SIGKILL, 10)
        raise
    ok = [x for x in starts if x is not None]
    return {"ready_s": min(ok) if ok else None, "all_registered_s": max(ok) if ok else None,
            "registered": len(ok), "missing": len(starts) - len(ok),
            "window_s": tb - ta, "agent_window_cpu_s": (b_agent - a_agent) / 1e9,
            "fleet_cpu_s": (b_fleet - a_fleet) / 1e9,
            "samples_total": sum(x.get("samples", 0) for x in sums),
            "errors": sum(x.get("errors", 0) for x in sums),
            "summary": {"agent_cpu_s": sum(x.get("agent_cpu_s") or 0 for x in sums),
                        "agent_maxrss_mb": sum(x.get("agent_maxrss_mb") or 0 for x in sums),
                        "agent_wall_s": time.monotonic() - t0}}


def scale_line(rec):
    if "error" in rec:
        return "ERROR"
    return "all attached at %.2fs (%d missing); steady: agent %.2f%% of a core, %s samples (expected %s)" % (
        rec["all_registered_s"] or -1, rec["missing"], 100 * rec["agent_window_cpu_s"] / rec["window_s"],
        rec.get("samples", "-"), fmt(rec.get("expected"), "%.0f"))


# --------------------------------------------------------------------------
# 5. Where the time goes


# Variants of the BPF program, built from a copy of the tree, to split the
# cost of a sample. Each is (name, [(text in bpf/ sources, replacement)]).
ABLATIONS = [
    ("as built", []),
    ("return right after the procs lookup",
     [("pybpf.bpf.c", "\tcount(CNT_PY_SAMPLES);\n", "\tcount(CNT_PY_SAMPLES);\n\treturn 0;\n")]),
    ("no frame walk (thread state found, empty stack recorded)",
     [("pybpf.bpf.c", "bpf_loop(PYBPF_MAX_FRAMES + 1, frames_cb, NULL, 0);", "(void)frames_cb;")]),
    ("frame walk without the code-object read",
     [("pywalk.h", "rc = pywalk__code_ident(w, code, &ident);",
       "rc = 0; ident = 1; (void)pywalk__code_ident;")]),
    ("walk but no record (no map updates)",
     [("pybpf.bpf.c", "\trecord(w, tid);\n", "\t(void)record;\n")]),
]


def build_variant(env, i, patches, ref="HEAD"):
    """The committed tree (git archive of `ref`: a consistent snapshot even
    while the work tree is being edited), the patches applied, pybpf-prof
    built. Returns its path, or raises."""
    root = Path(env.tmp("variant-%s" % i))
    root.mkdir(parents=True, exist_ok=True)
    arch = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-xf", "-", "-C", str(root)], input=arch, check=True)
    for fname, old, new in patches:
        path = root / "bpf" / fname
        text = path.read_text()
        if text.count(old) != 1:
            raise RuntimeError("patch no longer applies to bpf/%s: %r" % (fname, old))
        path.write_text(text.replace(old, new))
    for cmd in (["cmake", "-S", str(root), "-B", str(root / "build"), "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], ["ninja", "-C", str(root / "build"), "pybpf-prof"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode:
            raise RuntimeError("build failed: %s\n%s" % (" ".join(cmd), (r.stdout + r.stderr)[-3000:]))
    return str(root / "build" / "pybpf-prof")


def section_ablate(env, R):
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    out = R.setdefault("ablation", [])
    try:
        for i, (name, patches) in enumerate(ABLATIONS):
            try:
                prof = build_variant(env, i, patches)
            except Exception as e:
                log("variant %r: %s" % (name, e))
                out.append({"variant": name, "error": str(e)[:2000]})
                continue
            for label, depth, idle in (("idle", 10, True), ("depth 10", 10, False),
                                       ("depth 150", 150, False)):
                try:
                    rec = cost_run(env, "abl%d-%s" % (i, label.replace(" ", "")), depth, 1,
                                   env.cost_s, 999, idle, prof_path=prof)
                except Exception as e:
                    log("variant %r %s: %s" % (name, label, e))
                    kill_all()
                    rec = {"error": str(e)[:2000]}
                rec.update(variant=name, label=label)
                out.append(rec)
                log("ablation %-55s %-9s %s" % (name, label, cost_line(rec)))
            env.save(R)
    finally:
        sysctl_set("kernel.bpf_stats_enabled", old)


def ab_cost_plan(pythons):
    """(python, label, depth, idle) of the before/after cost rows: the idle
    row (for the not-Python correction, once) and 50/150 distinct functions
    on each interpreter."""
    for py in pythons:
        for label, depth, idle in (("idle", 10, True), ("depth 50 distinct", 50, False),
                                   ("depth 150 distinct", 150, False)):
            if not idle or py == pythons[0]:
                yield py, label, depth, idle


def section_abcost(env, R):
    """Before/after cost per sample, interleaved: the build of git ref
    --before against --prof, on the distinct-function rows (and the idle row
    each needs for its not-Python correction), for every --pythons
    interpreter, over --rounds rounds whose order alternates."""
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    out = R.setdefault("abcost", [])
    builds = [("before " + env.before, build_variant(env, "before", [], env.before)),
              ("after", env.prof)]
    R["abcost_builds"] = [b[0] for b in builds]
    pythons = env.pythons or [env.python]
    default_python = env.python
    try:
        for rnd in range(env.rounds):
            order = builds if rnd % 2 == 0 else builds[::-1]
            for py, label, depth, idle in ab_cost_plan(pythons):
                env.python = py
                for tag, prof in order:
                    try:
                        rec = cost_run(env, "ab-%s-%d" % (label.replace(" ", ""), rnd), depth, 1,
                                       env.cost_s, 999, idle, prof_path=prof, distinct=not idle)
                    except Exception as e:
                        log("abcost %s %s: %s" % (tag, label, e))
                        kill_all()
                        rec = {"error": str(e)[:2000]}
                    rec.update(build=tag, label=label, round=rnd, python=py)
                    out.append(rec)
                    log("abcost r%d %-14s %-20s %-28s %s" % (rnd, tag, label, py, cost_line(rec)))
            env.save(R)
    finally:
        env.python = default_python
        sysctl_set("kernel.bpf_stats_enabled", old)


# --------------------------------------------------------------------------
# Issue 12: every row of it, before/after, interleaved, in one command

CHURN_NODE = ("node, alive 300 ms (a big symbol table)", "/usr/bin/node",
              ["-e", "setTimeout(()=>{},300)"], 2)


def prog_stats(b, name):
    """(run_cnt, run_time_ns) of the agent's own BPF program `name` (its fds,
    never a global search by name: other engineers' agents are loaded too)."""
    progs, _ = b.prog_fdinfo()
    for pid_, info in progs.items():
        j = json.loads(sh(["bpftool", "prog", "show", "id", str(pid_), "-j"]) or "{}")
        if j.get("name") == name:
            return int(info.get("run_cnt", 0)), int(info.get("run_time_ns", 0))
    return 0, 0


def wall_switch_run(env, prof, pingpong, rounds=3):
    """Wall mode's sched_switch program on switches of non-targets: a C
    ping-pong while pybpf-prof --mode wall profiles an idle Python."""
    idle = Proc([env.python, "-c", "import time; time.sleep(600)"])
    b = PyBpf(env, 99, env.tmp("wall-idle.pb.gz"), pids=[idle.pid], prof=prof,
              extra=("--mode", "wall"))
    try:
        b.wait_started()
        b.wait_pid(idle.pid)
        settle(b.proc.pid)
        n0, t0 = prog_stats(b, "pybpf_switch")
        rates = []
        for _ in range(rounds):
            out = subprocess.run([pingpong, "200000"], capture_output=True, text=True,
                                 check=True).stdout
            rates.append(float(out.split()[0]))
        n1, t1 = prog_stats(b, "pybpf_switch")
        s = b.stop()
    finally:
        idle.stop(signal.SIGKILL, 10)
    return {"switch_runs": n1 - n0, "switch_ns": t1 - t0,
            "switch_us_per_run": (t1 - t0) / max(1, n1 - n0) / 1e3,
            "pingpong_per_s": median(rates), "summary": s}


def build_exec_cost(prof):
    """tools/bench/exec_cost.c linked against the libpybpf_core.a next to a
    build's pybpf-prof (the registry code of that build). Its path."""
    bdir = Path(prof).parent
    src = bdir.parent
    out = bdir / "exec_cost"
    libs = subprocess.run(["pkg-config", "--libs", "libbpf", "libelf", "libdw", "zlib", "libcurl"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-I", str(src / "user"), "-I", str(src / "bpf"),
                    "-I", str(bdir), "-o", str(out), str(HERE / "exec_cost.c"),
                    str(bdir / "libpybpf_core.a")] + libs + ["-lm"], check=True)
    return str(out)


def exec_cost_run(exe, args, n=12):
    out = subprocess.run([exe, str(n), CHURN_NODE[1]] + CHURN_NODE[2], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def section_issue12(env, R):
    """Issue 12's rows, the build of git ref --before against --prof,
    interleaved (the order alternates each round): BPF us per Python sample at
    50/150 distinct functions on each --pythons interpreter, the not-target
    tick (idle row), wall mode's non-target switch, fleets of 1/50/200 mostly
    idle processes at 999 Hz (samples/expected, locked kernel memory, RSS),
    and agent CPU per exec of node.js."""
    old = sysctl_get("kernel.bpf_stats_enabled")
    sysctl_set("kernel.bpf_stats_enabled", 1)
    out = R.setdefault("issue12", [])
    builds = [("before " + env.before, build_variant(env, "before", [], env.before)),
              ("after", env.prof)]
    R["issue12_builds"] = [b[0] for b in builds]
    pythons = env.pythons or [env.python]
    ec = {prof: build_exec_cost(prof) for _, prof in builds}
    pp = env.tmp("pingpong")
    subprocess.run(["cc", "-O2", "-o", pp, str(WL / "pingpong.c")], check=True)

    def run(kind, tag, fn, **info):
        try:
            rec = fn()
        except Exception as e:
            log("issue12 %s %s %s: %s" % (kind, tag, info, e))
            kill_all()
            rec = {"error": str(e)[:2000]}
        rec.update(kind=kind, build=tag, **info)
        out.append(rec)
        log("issue12 %-6s %-16s %s: %s" % (kind, tag, info, {k: v for k, v in rec.items() if k in (
            "switch_us_per_run", "fleet_samples", "fleet_expected", "memlock_bytes", "rss_mb",
            "agent_ms_per_exec", "run_cnt", "run_ns", "first_ms", "median_ms", "error")}))

    # BENCH_ISSUE12_PARTS=cost,wall,fleet,churn: a subset, while working on one row
    parts = os.environ.get("BENCH_ISSUE12_PARTS", "cost,wall,fleet,churn").split(",")
    try:
        for rnd in range(env.rounds):
            order = builds if rnd % 2 == 0 else builds[::-1]
            for py, label, depth, idle in ab_cost_plan(pythons) if "cost" in parts else ():
                env.python = py
                for tag, prof in order:
                    run("cost", tag, lambda: cost_run(
                        env, "i12-%s-%d" % (label.replace(" ", ""), rnd), depth, 1, env.cost_s,
                        999, idle, prof_path=prof, distinct=not idle),
                        label=label, round=rnd, python=py, idle=idle)
            env.python = pythons[0]
            for tag, prof in order if "wall" in parts else ():
                run("wall", tag, lambda: wall_switch_run(env, prof, pp), round=rnd)
            for n in (1,) + tuple(env.scale_ns) if "fleet" in parts else ():
                fleet = start_fleet(env, n, 600)
                pids = [p.pid for p in fleet]
                try:
                    time.sleep(1)
                    for tag, prof in order:
                        run("fleet", tag, lambda: scale_pybpf(env, pids, 999, "i12-%d" % n, prof=prof),
                            n=n, round=rnd)
                finally:
                    for p in fleet:
                        p.stop(signal.SIGKILL, 10)
            label, exe, args, per_s = CHURN_NODE
            if os.access(exe, os.X_OK) and "churn" in parts:
                for tag, prof in order:
                    run("exec", tag, lambda: exec_cost_run(ec[prof], args), round=rnd)
                for tag, prof in order:
                    run("churn", tag, lambda: churn_run(env, exe, args, per_s, 99, prof=prof),
                        label=label, round=rnd, symbols=elf_symbol_count(exe))
            env.save(R)
    finally:
        env.python = pythons[0]
        sysctl_set("kernel.bpf_stats_enabled", old)


def report_issue12(R):
    A = R.get("issue12")
    if not A:
        return ""
    builds = R.get("issue12_builds", [])
    ok = [r for r in A if "error" not in r]

    def cell(xs, spec="%.2f"):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "–"
        return "%s (%s)" % (spec % median(xs), " / ".join(spec % x for x in xs))

    def pooled(recs):
        got = sum(r["fleet_samples"] for r in recs if r.get("fleet_expected"))
        exp = sum(r["fleet_expected"] for r in recs if r.get("fleet_expected"))
        if not exp:
            return "–"
        return "%d / %.0f = %.1f%% ± %.1f" % (got, exp, 100.0 * got / exp, 196.0 / exp ** 0.5)

    idle = {b: [r["run_ns"] / r["run_cnt"] / 1e3 for r in ok
                if r["kind"] == "cost" and r.get("idle") and r["build"] == b and r.get("run_cnt")]
            for b in builds}
    rows = []
    per = collections.OrderedDict()
    for r in ok:
        if r["kind"] != "cost" or r.get("idle") or not idle.get(r["build"]):
            continue
        py = r["counters"].get("CNT_PY_SAMPLES", 0)
        if py:
            ns = (r["run_ns"] - median(idle[r["build"]]) * 1e3 * (r["run_cnt"] - py)) / py
            per.setdefault((r["label"], r["python"]), {}).setdefault(r["build"], []).append(ns / 1e3)
    for (label, py), by in per.items():
        rows.append(["BPF us per Python sample, %s, %s (≤ %s)" % (
            label, py, "3" if label.startswith("depth 50 ") else "8")] + [cell(by.get(b, [])) for b in builds])
    rows.append(["filter path: us per run of a tick on a non-target (≤ 0.25)"] +
                [cell(idle[b], "%.3f") for b in builds])
    rows.append(["wall mode: us per run of sched_switch, non-target switches (≤ 0.1)"] +
                [cell([r["switch_us_per_run"] for r in ok if r["kind"] == "wall" and r["build"] == b],
                      "%.3f") for b in builds])
    ns = sorted({r["n"] for r in ok if r["kind"] == "fleet"})
    for n in ns:
        fl = {b: [r for r in ok if r["kind"] == "fleet" and r["n"] == n and r["build"] == b]
              for b in builds}
        rows.append(["fleet of %d, 999 Hz: samples / rate × CPU time, %% (≥ 99)" % n] +
                    [cell([100.0 * r["fleet_samples"] / r["fleet_expected"] for r in fl[b]
                           if r.get("fleet_expected")], "%.1f") for b in builds])
        rows.append(["fleet of %d: all rounds pooled, samples / expected (± 95%% Poisson noise)" % n] +
                    [pooled(fl[b]) for b in builds])
        rows.append(["fleet of %d: ticks on a non-target while a woken target waited to take over (agent's "
                     "`tick_at_wake`, window, node-wide), %% of expected" % n] +
                    [cell([100.0 * r["tick_at_wake"] / r["fleet_expected"] for r in fl[b]
                           if r.get("fleet_expected") and r.get("tick_at_wake") is not None], "%.1f")
                     for b in builds])
        rows.append(["fleet of %d: (samples + `tick_at_wake`) / rate × CPU time, %%" % n] +
                    [cell([100.0 * (r["fleet_samples"] + r["tick_at_wake"]) / r["fleet_expected"]
                           for r in fl[b] if r.get("fleet_expected") and r.get("tick_at_wake") is not None],
                          "%.1f") for b in builds])
        rows.append(["fleet of %d: cpu-clock ticks the kernel did not deliver, %% (agent's "
                     "`ticks_missed`, whole run, node-wide)" % n] +
                    [cell([100.0 * r["ticks_missed"] / (r["ticks_missed"] + r["ticks"]) for r in fl[b]
                           if r.get("ticks_missed") is not None and r.get("ticks")], "%.2f")
                     for b in builds])
        rows.append(["fleet of %d: locked kernel memory MB (BPF maps + programs)" % n] +
                    [cell([r["memlock_bytes"] / 2**20 for r in fl[b] if r.get("memlock_bytes")], "%.1f")
                     for b in builds])
        rows.append(["fleet of %d: agent RSS MB (≤ 50 at 200)" % n] +
                    [cell([r.get("rss_mb") for r in fl[b]], "%.1f") for b in builds])
    ex = {b: [r for r in ok if r["kind"] == "exec" and r["build"] == b] for b in builds}
    rows.append(["churn, the agent's exec handling alone (exec_cost): CPU ms per exec of node.js "
                 "already seen (≤ 0.5)"] + [cell([r["median_ms"] for r in ex[b]]) for b in builds])
    rows.append(["churn, exec_cost: CPU ms for the first exec of node.js (its verdict not cached)"] +
                [cell([r["first_ms"] for r in ex[b]]) for b in builds])
    rows.append(["churn: agent CPU ms per exec of node.js, whole agent minus its idle window "
                 "(the node's other churn makes this noisy)"] +
                [cell([r["agent_ms_per_exec"] for r in ok if r["kind"] == "churn" and r["build"] == b])
                 for b in builds])
    errs = [r for r in A if "error" in r]
    return "\n".join(["## Issue 12, before/after (interleaved)\n",
                      table(["row (target)"] + ["%s: median (each round)" % b for b in builds], rows),
                      "\nEach round runs every row with both builds, alternating which goes first. "
                      "Per-sample cost: (run_time_ns − not-target runs × that build's idle ns/run) / "
                      "Python samples, one target pinned to each CPU. Filter path: the idle row "
                      "(pybpf-prof --pid on two processes that never run). Wall: "
                      "tools/bench/workloads/pingpong.c while --mode wall profiles an idle Python. "
                      "Fleets: --all-pythons; memory from /proc/PID/fdinfo `memlock` of the agent's "
                      "BPF maps and programs, RSS from /proc/PID/status. exec_cost "
                      "(tools/bench/exec_cost.c, linked with each build's registry) times "
                      "registry__on_exec and the retries after it with its own thread CPU clock, "
                      "for 12 starts of node. Churn: agent CPU while node "
                      "starts twice a second, minus the idle window's.%s\n" % (
                          " %d runs failed." % len(errs) if errs else "")])


def section_where(env, R):
    """Split a sample's cost. Target slowdown at 999 Hz of a 150-frame workload
    with (a) no profiler, (b) pybpf-prof attached to *another* process, so the
    target pays perf-event delivery and the BPF program's not-Python exit only,
    (c) pybpf-prof on the target at depth 10, (d) at depth 150. And a perf
    profile of the agent (userspace + its syscalls)."""
    sysctl_set("kernel.bpf_stats_enabled", 0)
    out = R.setdefault("where", {})
    runs = collections.defaultdict(list)
    cpus = collections.defaultdict(list)
    decoy = Workload(env, "cpu.py", ["--seconds", 1])  # waits for GO forever: never on CPU
    try:
        for r in range(env.where_rounds):
            for label, depth, mode in (("none d150", 150, None), ("other-pid d150", 150, "other"),
                                       ("target d150", 150, "target"), ("none d10", 10, None),
                                       ("target d10", 10, "target")):
                w = Workload(env, "cpu.py", ["--units", env.units, "--depth", depth], cpus="1")
                prof = None
                if mode:
                    prof = PyBpf(env, 999, env.tmp("where.pb.gz"),
                                 pids=[decoy.pid if mode == "other" else w.pid])
                    prof.wait_started()
                w.go()
                res = w.result(env.run_timeout)
                if prof:
                    prof.stop()
                runs[label].append(res["wall"])
                cpus[label].append(res["cpu"])
                log("where r%d %-16s wall=%.3f cpu=%.3f" % (r, label, res["wall"], res["cpu"]))
    finally:
        decoy.proc.stop(signal.SIGKILL, 10)
    out["walls"] = dict(runs)
    out["cpus"] = dict(cpus)

    # Where the agent's own CPU goes. (a) callgrind (exact instruction counts,
    # userspace) while the node starts non-Python programs: the per-exec cost.
    churn = next(((l, e, a_) for l, e, a_, _ in CHURN[::-1] if os.access(e, os.X_OK)), None)
    if shutil.which("valgrind") and churn:
        cg = env.tmp("agent.callgrind")
        v = Proc(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg, env.prof,
                  "--all-pythons", "--rate", "99", "-o", env.tmp("where-cg.pb.gz"), "--force", "-v"])
        try:
            if not v.wait_line(r"sampling at", 120):
                raise RuntimeError("pybpf-prof under valgrind did not start:\n" + v.text())
            time.sleep(3)
            w = Workload(env, "churn.py", ["--rate", env.churn_rate, "--seconds", env.where_s,
                                           "--exe", churn[1]] + ["--arg=" + x for x in churn[2]])
            w.go()
            w.result(env.where_s + 60)
            time.sleep(1)
        finally:
            v.stop(signal.SIGINT, 120)
        ann = sh(["callgrind_annotate", "--inclusive=yes", cg], timeout=120)
        keep = [l for l in ann.splitlines()
                if re.match(r"^\s*[\d,]+ \(\s*[\d.]+%\)\s+(PROGRAM TOTALS|\S+:\S+ \[)", l)
                and ("pybpf-prof" in l or "PROGRAM TOTALS" in l or "libelf" in l or "strcmp" in l)]
        out["agent_callgrind"] = {"churn": "%s, %s/s for %s s" % (churn[0], env.churn_rate, env.where_s),
                                  "lines": keep[:30]}
    # (b) perf (sampled, user + kernel) under a fleet of 200 processes at 999 Hz:
    # the per-sample path (drain, aggregate, symbolize) and the per-second rescans.
    if shutil.which("perf"):
        fleet = start_fleet(env, 200, env.where_s + 60)
        prof = PyBpf(env, 999, env.tmp("where-perf.pb.gz"))
        try:
            prof.wait_started(120)
            time.sleep(2)
            settle(prof.proc.pid)
            data = env.tmp("agent.perf.data")
            subprocess.run(["perf", "record", "-q", "-F", "4999", "-g", "-p", str(prof.proc.pid),
                            "-o", data, "--", "sleep", str(env.where_s)],
                           capture_output=True, timeout=env.where_s + 60)
            prof.stop()
            rep = sh(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                      "--stdio", "-g", "none", "--percent-limit", "2"], timeout=120)
            out["agent_perf_report"] = "\n".join(
                l for l in rep.splitlines() if l.strip() and (not l.startswith("#") or "Samples" in l))[:5000]
        finally:
            prof.proc.stop(signal.SIGKILL, 10)
            for p in fleet:
                p.stop(signal.SIGKILL, 10)
    env.save(R)


# --------------------------------------------------------------------------
# Report


def fmt(x, spec="%.2f", none="–"):
    return none if x is None else spec % x


def pct(x):
    return "–" if x is None else "%+.2f%%" % (100 * x)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def paired_ratios(base, runs, key, invert=False):
    """Per-round ratio run/base (or base/run for throughput)."""
    b = {r["round"]: r[key] for r in base if key in r}
    out = []
    for r in runs:
        if key in r and r["round"] in b and r[key]:
            out.append(b[r["round"]] / r[key] if invert else r[key] / b[r["round"]])
    return out


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return "%s (%s … %s)" % (pct(median(xs)), pct(min(xs)), pct(max(xs)))


def report_slowdown(R):
    S = R.get("slowdown")
    if not S:
        return ""
    md = ["## 1. Target slowdown\n"]
    for wname, by in S.items():
        flask = wname.startswith("flask")
        key = "rps" if flask else "wall"
        base = [r for r in by.get("none", []) if key in r]
        bvals = [r[key] for r in base]
        bmed = median(bvals)
        noise = (max(bvals) - min(bvals)) / bmed if bvals and bmed else None
        rows = []
        for cfg in CONFIGS:
            runs = [r for r in by.get(cfg.name, []) if key in r]
            vals = [r[key] for r in runs]
            if not vals:
                rows.append([cfg.name, "failed"])
                continue
            slow = [x - 1 for x in paired_ratios(base, runs, key, invert=flask)]
            profs = [r.get("prof", {}) for r in runs]
            steady = [r.get("agent_steady_cpu_frac") for r in runs]
            startup = [r.get("agent_startup_cpu_s") for r in runs]
            rss = [p.get("agent_maxrss_mb") for p in profs]
            row = [cfg.name, "%d" % len(vals)]
            if flask:
                row += ["%.0f (%.0f–%.0f)" % (median(vals), min(vals), max(vals)),
                        fmt(median([r.get("p50_ms") for r in runs])),
                        fmt(median([r.get("p99_ms") for r in runs]))]
            else:
                row += ["%.3f (%.3f–%.3f)" % (median(vals), min(vals), max(vals))]
            none = cfg.kind == "none"
            row.append("–" if none else spread(slow))
            if not flask:
                cslow = [x - 1 for x in paired_ratios(base, runs, "cpu")]
                row.append("–" if none else pct(median(cslow)))
            row += ["–" if none else fmt(median(steady) and 100 * median(steady), "%.2f%%"),
                    "–" if none else fmt(median(startup), "%.3f"),
                    "–" if none else fmt(median(rss), "%.1f")]
            if not flask:
                ach = [p["target_samples"] / p["target_requested"] for p in profs
                       if p.get("target_requested")]
                row.append("–" if not ach else "%.1f%%" % (100 * median(ach)))
            rows.append(row)
        hdr = ["profiler", "runs"]
        if flask:
            hdr += ["req/s median (min–max)", "p50 ms", "p99 ms",
                    "throughput loss: median of per-round ratios (min … max)"]
        else:
            hdr += ["wall s median (min–max)", "slowdown, wall: median of per-round ratios (min … max)",
                    "slowdown, target CPU time (median)"]
        hdr += ["agent CPU while measured (% of one core)", "agent start-up CPU s", "agent peak RSS MB"]
        if not flask:
            hdr.append("samples achieved / requested")
        md.append("### %s\n\nBaseline spread (max−min)/median: %s.\n" % (
            wname, "–" if noise is None else "%.2f%%" % (100 * noise)))
        md.append(table(hdr, rows) + "\n")
    md.append("Slowdown: each profiled run divided by the unprofiled run of the same round, "
              "median over rounds (min … max). Target CPU time: the workload's own getrusage; "
              "it includes the BPF program and perf interrupt time (no IRQ time accounting on "
              "this kernel) but not time the target spent stopped by py-spy or waiting for a "
              "CPU, so it is the low-noise view of pybpf-prof's cost and blind to py-spy's "
              "blocking. Samples requested: pybpf-prof rate × target CPU time, py-spy rate × "
              "wall time (single thread only).\n")
    return "\n".join(md)


def report_cost(R):
    C = R.get("cost")
    if not C:
        return ""
    md = ["## 2. Cost per sample\n"]
    idle = {}
    for rec in C:
        if rec.get("idle") and rec.get("run_cnt"):
            idle[rec["rate"]] = rec["run_ns"] / rec["run_cnt"]
    rows = []
    for rec in C:
        if "error" in rec:
            rows.append([rec["label"], rec["rate"], "failed"] + [""] * 9)
            continue
        c = rec["counters"]
        py = c.get("CNT_PY_SAMPLES", 0)
        np_ = rec["run_cnt"] - py
        per_run = rec["run_ns"] / max(1, rec["run_cnt"])
        per_py = None
        if py and rec["rate"] in idle:
            per_py = (rec["run_ns"] - idle[rec["rate"]] * np_) / py
        s = rec["summary"]
        drops = {k.replace("CNT_", "").lower(): v for k, v in c.items()
                 if v and k not in ("CNT_SAMPLES", "CNT_NOT_PYTHON", "CNT_PY_SAMPLES",
                                    "CNT_STACKS_RECORDED", "CNT_TSTATE_CACHE_MISS",
                                    "CNT_CODE_CAPTURED")}
        expected = rec["rate"] * rec["target_cpu_s"] if rec.get("target_cpu_s") else None
        rec_n = c.get("CNT_STACKS_RECORDED", 0)
        share = (per_py * py / 1e9 / rec["target_cpu_s"]
                 if per_py is not None and rec.get("target_cpu_s") else None)
        rows.append([
            rec["label"], rec["rate"], "%.1f" % rec["window_s"], rec["run_cnt"],
            "%d (%.0f%%)" % (py, 100.0 * py / max(1, rec["run_cnt"])),
            "%.2f" % (per_run / 1e3),
            "–" if rec.get("idle") else fmt(per_py and per_py / 1e3),
            "–" if rec.get("idle") else fmt(share and 100 * share, "%.2f%%"),
            "%.2f%%" % (100 * rec["agent_window_cpu_s"] / rec["window_s"]) if rec.get("agent_window_cpu_s") is not None else "–",
            fmt(s.get("agent_maxrss_mb"), "%.1f"),
            "%.1f" % (rec["map_bytes"] / 2**20),
            "–" if rec.get("idle") or not expected else "%d / %.0f (%.1f%%)" % (rec_n, expected, 100 * rec_n / expected),
            ", ".join("%s=%d" % kv for kv in sorted(drops.items())) or "none"])
    md.append(table(["workload", "Hz", "window s", "BPF runs", "Python samples", "BPF us/run (all)",
                     "BPF us per Python sample", "BPF time / target CPU time", "agent CPU", "agent peak RSS MB",
                     "BPF maps MB (memlock)", "recorded / requested", "drops by reason"], rows))
    md.append("\nOne copy of the workload pinned to each CPU, all profiled (`--pid`), so nearly "
              "every tick is a Python sample. "
              "`BPF us per Python sample` = (run_time_ns − runs without a Python target × the "
              "idle row's ns/run) / Python samples, over a steady-state window (bpftool deltas, "
              "from 1 s after start). `BPF time / target CPU time`: the part of the target's CPU "
              "that the BPF program took from it (it runs in the target's context, on its CPU): "
              "the slowdown the BPF program alone causes, free of run-to-run noise. `requested` = "
              "rate × the target's CPU time in the window (/proc/PID/task/*/schedstat).\n")
    return "\n".join(md)


def report_accuracy(R):
    A = R.get("accuracy")
    if not A:
        return ""
    md = ["## 3. Accuracy\n"]
    rows = []
    for scen in ("py", "gil"):
        for cname, *_ in ACC_CONFIGS:
            recs = [r for r in A if r.get("scenario") == scen and r.get("config") == cname and "error" not in r]
            if not recs:
                continue
            for tool in ("pybpf", "pyspy"):
                errs = [r[tool].get("max_abs_error_pp") for r in recs]
                noise = [r[tool].get("noise95_pp") for r in recs]
                samples = [r[tool]["in_categories"] for r in recs]
                cats = sorted(recs[0]["truth_share"])
                mean_share = {k: statistics.mean(r[tool]["share"][k] or 0 for r in recs) for k in cats}
                mean_truth = {k: statistics.mean(r["truth_share"][k] for r in recs) for k in cats}
                other = [r[tool]["samples"].get("(other)", 0) / max(1, r[tool]["in_categories"] + r[tool]["samples"].get("(other)", 0)) for r in recs]
                rows.append([
                    scen, cname, "pybpf-prof" if tool == "pybpf" else "py-spy" + (" (nonblocking)" if "nonblocking" in cname else ""),
                    len(recs), "%.0f" % median(samples),
                    ", ".join("%s %.1f/%.1f" % (k, 100 * mean_share[k], 100 * mean_truth[k]) for k in cats),
                    fmt(median(errs)), fmt(max(e for e in errs if e is not None) if any(e is not None for e in errs) else None),
                    fmt(median(noise)), "%.1f%%" % (100 * median(other))])
    md.append(table(["scenario", "run", "profiler", "runs", "samples (median)",
                     "share measured/true, % (mean over runs)", "max |error| pp (median)",
                     "max |error| pp (worst run)", "sampling noise ±pp (95%)", "samples outside the functions"], rows))
    md.append("\n`py`: one thread, f:g:h = 6:3:1 in pure Python. `gil`: main thread f:g = 2:1 in "
              "Python, a second thread in C with the GIL released (c_zlib: zlib.compress, c_sha: "
              "hashlib.sha256). Truth: time.thread_time() around every call, per run. Both "
              "profilers watched the same runs.\n")
    return "\n".join(md)


def report_scale(R):
    S = R.get("scale")
    if not S:
        return ""
    rows = []
    for rec in S:
        if "error" in rec:
            rows.append([rec["n"], rec["tool"], rec["rate"], "failed"])
            continue
        s = rec["summary"]
        pyb = rec["tool"] == "pybpf-prof"
        drops = (", ".join("%s=%d" % kv for kv in sorted(rec.get("drops", {}).items())) or "none") \
            if pyb else "errors=%d" % rec.get("errors", 0)
        rows.append([
            rec["n"], rec["tool"], rec["rate"], fmt(rec.get("ready_s")), fmt(rec.get("all_registered_s")),
            "%d/%d" % (rec["registered"], rec["n"]),
            fmt(rec.get("startup_cpu_s"), "%.2f"),
            "%.2f%%" % (100 * rec["agent_window_cpu_s"] / rec["window_s"]),
            fmt(s.get("agent_maxrss_mb"), "%.1f"), "%.2f" % rec["fleet_cpu_s"],
            "%d / %.0f (%.1f%%)" % (rec["fleet_samples"], rec["fleet_expected"], 100 * rec["fleet_samples"] / max(1e-9, rec["fleet_expected"]))
            if pyb else "%d (whole run)" % rec.get("samples_total", 0),
            fmt(rec.get("bpf_us_per_run")) if pyb else "–",
            drops])
    return "## 4. Scale\n\n" + table(
        ["processes", "profiler", "Hz", "sampling from (s)", "all attached (s)", "attached",
         "agent start-up CPU s", "agent CPU, steady (% of one core)", "agent peak RSS MB",
         "fleet CPU s in window", "fleet samples / expected", "BPF us/run (node)",
         "drops in window (node)"], rows) + \
        "\n\nEach fleet process loops: ~1 ms of Python work, then sleeps so that the fleet " \
        "together keeps half a CPU busy (N=50: 99 ms, N=200: 399 ms). Times are from the " \
        "profiler's launch. The steady-state window starts once every process is attached and " \
        "the agent is quiet; BPF us/run and drops are node-wide (every Python on the node) in that " \
        "window. Fleet samples: the fleet's samples in the profile against rate × its CPU time " \
        "from each process's registration to the stop (/proc/PID/task/*/schedstat). py-spy attaches to one process at a " \
        "time, so it is one `py-spy record " \
        "--nonblocking` per process; their CPU and RSS are summed.\n" + report_churn(R)


def report_churn(R):
    C = R.get("churn")
    if not C:
        return ""
    rows = []
    for rec in C:
        if "error" in rec:
            rows.append([rec["label"], rec["rate"], "failed"])
            continue
        rows.append([rec["label"], fmt(rec.get("symbols"), "%d"), rec["rate"], "%d in %.1f s" % (rec["started"], rec["wall"]),
                     "%.2f%% (%.1f forks/s on the node)" % (100 * rec["idle_agent_frac"], rec["idle_forks_per_s"]),
                     "%.2f%%" % (100 * rec["churn_agent_frac"]), "%.2f" % rec["agent_ms_per_exec"]])
    return "\n### Process churn\n\n" + table(
        ["program started over and over", "ELF symbols in its executable", "Hz", "started", "agent CPU before (node's own churn)",
         "agent CPU during", "agent CPU ms per exec"], rows) + \
        "\n\npybpf-prof --all-pythons looks at every process that execs (is it a Python?), so " \
        "its CPU grows with the node's process churn, not only with its Pythons.\n"


def report_where(R):
    W = R.get("where")
    if not W:
        return ""
    md = ["## 5. Where the time goes\n"]
    walls = W.get("walls", {})
    cpus = W.get("cpus", {})
    rows = []
    for label in ("none d150", "other-pid d150", "target d150", "none d10", "target d10"):
        v = walls.get(label)
        if v:
            base_label = "none d" + label.split(" d")[1]
            base = median(walls.get(base_label, []))
            c, cbase = median(cpus.get(label, [])), median(cpus.get(base_label, []))
            rows.append([label, len(v), "%.3f" % median(v), "%.3f–%.3f" % (min(v), max(v)),
                         pct(median(v) / base - 1) if base else "–",
                         pct(c / cbase - 1) if c and cbase else "–"])
    md.append(table(["run (999 Hz)", "runs", "wall s median", "min–max", "wall vs none",
                     "target CPU time vs none"], rows))
    md.append("\n`other-pid`: pybpf-prof attached to another (sleeping) Python process, so the "
              "target pays the perf-event interrupt and the BPF program's not-Python exit on "
              "every tick of its CPU, but no stack walk. `target`: profiling the target itself.\n")
    cg = W.get("agent_callgrind")
    if cg:
        md.append("\ncallgrind of the agent (--all-pythons, 99 Hz) while the node starts %s; "
                  "inclusive instruction counts:\n\n```\n%s\n```\n" % (cg["churn"], "\n".join(cg["lines"])))
    if W.get("agent_perf_report"):
        md.append("\nperf profile of the agent (--all-pythons, 999 Hz, 200 mostly idle Python "
                  "processes, steady state):\n\n```\n" + W["agent_perf_report"] + "\n```\n")
    return "\n".join(md)


def report_ablation(R):
    A = R.get("ablation")
    if not A:
        return ""
    c_nps = {r["variant"]: r["run_ns"] / r["run_cnt"] for r in A
             if r.get("label") == "idle" and r.get("run_cnt")}
    per = {}
    rows = []
    for rec in A:
        if rec.get("label") == "idle" or "run_cnt" not in rec:
            if "error" in rec:
                rows.append([rec.get("variant"), rec.get("label", ""), "failed: " + rec["error"][:80]])
            continue
        py = rec["counters"].get("CNT_PY_SAMPLES", 0)
        c_np = c_nps.get(rec["variant"], c_nps.get(ABLATIONS[0][0]))
        v = (rec["run_ns"] - c_np * (rec["run_cnt"] - py)) / py / 1e3 if py and c_np else None
        per[(rec["variant"], rec["label"])] = v
        rows.append([rec["variant"], rec["label"], "%d of %d" % (py, rec["run_cnt"]),
                     fmt(c_np and c_np / 1e3), fmt(v)])
    md = ["## 6. What a sample costs in the BPF program (variants)\n",
          "Built from the committed tree (%s), 999 Hz, one single-threaded target pinned to each CPU.\n" % R.get("machine", {}).get("head", "HEAD"),
          table(["variant of pybpf_sample", "target", "Python samples of all runs",
                 "not-Python run us (its idle run)", "BPF us per Python sample"], rows)]
    names = [n for n, _ in ABLATIONS]
    try:
        g = lambda i, d: per[(names[i], "depth %d" % d)]
        lines = []
        for d in (10, 150):
            lines.append("depth %d: entry + procs lookup %.2f us; thread state + walk set-up %.2f us; "
                         "frame walk %.2f us (%.3f us/frame, of which the code-object read %.3f); "
                         "record (hash, maps, first-sight capture) %.2f us; total %.2f us" % (
                             d, g(1, d), g(2, d) - g(1, d) - (g(0, d) - g(4, d)), g(0, d) - g(2, d),
                             (g(0, d) - g(2, d)) / d, (g(0, d) - g(3, d)) / d, g(0, d) - g(4, d), g(0, d)))
        md.append("\n" + "\n".join("- " + l for l in lines) + "\n")
    except (KeyError, TypeError, IndexError):
        pass
    return "\n".join(md)


def report_targets(R):
    """The issue's targets against what this run measured."""
    rows = []

    def verdict(ok):
        return "–" if ok is None else ("met" if ok else "**missed**")

    S = R.get("slowdown", {})
    for hz, limit in ((99, 0.005), (999, 0.02)):
        cfg = "pybpf-prof %d Hz" % hz
        parts, states = [], []
        for wname, by in S.items():
            flask = wname.startswith("flask")
            key = "rps" if flask else "wall"
            base = [r[key] for r in by.get("none", []) if key in r]
            noise = (max(base) - min(base)) / median(base) if len(base) > 1 else None
            sl = [x - 1 for x in paired_ratios(by.get("none", []), [r for r in by.get(cfg, []) if key in r],
                                               key, invert=flask)]
            if sl:
                m = median(sl)
                parts.append("%s %s%s" % (wname.split(" (")[0].split(",")[0], pct(m),
                                          " (baseline spread %.1f%%)" % (100 * noise) if noise is not None else ""))
                if m <= limit:
                    states.append("met")
                elif noise is None or m < noise:
                    states.append("noise")
                else:
                    states.append("missed")
        if not states:
            v = "–"
        elif "missed" in states:
            v = "**missed**"
        elif "noise" in states:
            v = "not resolved: within this run's noise"
        else:
            v = "met"
        rows.append(["target slowdown ≤ %.1f%% at %d Hz (wall clock)" % (100 * limit, hz),
                     "; ".join(parts) or "–", v])
    C = [r for r in R.get("cost", []) if "error" not in r]
    idle = {r["rate"]: r["run_ns"] / r["run_cnt"] for r in C if r.get("idle") and r.get("run_cnt")}
    for hz, limit in ((99, 0.005), (999, 0.02)):
        parts, oks = [], []
        for r in C:
            if r["rate"] != hz or r.get("idle") or r["rate"] not in idle or not r.get("target_cpu_s"):
                continue
            if not r["label"].startswith("depth"):
                continue
            py = r["counters"].get("CNT_PY_SAMPLES", 0)
            share = (r["run_ns"] - idle[hz] * (r["run_cnt"] - py)) / 1e9 / r["target_cpu_s"]
            parts.append("%s %.2f%%" % (r["label"], 100 * share))
            oks.append(share <= limit)
        if parts:
            rows.append(["BPF time / target CPU ≤ %.1f%% at %d Hz (the slowdown the BPF program "
                         "causes, noise-free)" % (100 * limit, hz), "; ".join(parts),
                         "met" if all(oks) else ("**missed** (deep stacks)" if any(oks) else "**missed**")])
    for r in C:
        if r.get("label") == "depth 50" and r["rate"] in idle:
            py = r["counters"].get("CNT_PY_SAMPLES", 0)
            v = (r["run_ns"] - idle[r["rate"]] * (r["run_cnt"] - py)) / py / 1e3 if py else None
            rows.append(["BPF ≤ 5 us per sample at 50 frames (%d Hz)" % r["rate"], fmt(v, "%.2f us"),
                         verdict(v is not None and v <= 5)])
    for r in R.get("scale", []):
        if r.get("tool") == "pybpf-prof" and r.get("rate") == 99 and "error" not in r:
            v = r["agent_window_cpu_s"] / r["window_s"]
            rows.append(["agent CPU ≤ 1%% of one core at 99 Hz, whole node (%d Pythons)" % r["n"],
                         "%.2f%%" % (100 * v), verdict(v <= 0.01)])
    lost = []
    for r in C:
        if r["rate"] == 999 and not r.get("idle"):
            d = sum(v for k, v in r["counters"].items() if k in DROP_COUNTERS)
            lost.append(("%s: %d dropped" % (r["label"], d), d == 0))
    for r in R.get("scale", []):
        if r.get("tool") == "pybpf-prof" and r.get("rate") == 999 and "error" not in r:
            d = sum(r.get("drops", {}).values())
            lost.append(("%d procs: %d dropped node-wide, fleet %d/%.0f" % (
                r["n"], d, r["fleet_samples"], r["fleet_expected"]), d == 0))
    if lost:
        rows.append(["no sample lost at 999 Hz on %s CPUs" % R["machine"]["nproc"],
                     "; ".join(x for x, _ in lost), verdict(all(ok for _, ok in lost))])
    A = [r for r in R.get("accuracy", []) if "error" not in r]
    for tool, name in (("pybpf", "pybpf-prof"), ("pyspy", "py-spy")):
        for hz in ((99, 999) if tool == "pybpf" else (100, 1000)):
            errs = [r[tool].get("max_abs_error_pp") for r in A
                    if ("%s %d Hz" % (name, hz)) in r["config"] and "nonblocking" not in r["config"]]
            errs = [e for e in errs if e is not None]
            noise = [r[tool].get("noise95_pp") for r in A
                     if ("%s %d Hz" % (name, hz)) in r["config"] and "nonblocking" not in r["config"]]
            if errs:
                rows.append(["share error ≤ 2 pp, %s %d Hz (median over runs, worst)" % (name, hz),
                             "%.2f pp, worst %.2f pp (sampling noise ±%.1f pp)" % (
                                 median(errs), max(errs), median(noise) or 0),
                             verdict(median(errs) <= 2)])
    if not rows:
        return ""
    return "## Targets\n\n" + table(["target", "measured", "verdict"], rows) + "\n"


def machine_info(env):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    mem = sh("free -g | awk '/Mem:/{print $2\" GiB\"}'").strip()
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "kernel": os.uname().release, "cpu": cpu, "mem": mem,
            "python": sh([env.python, "-VV"]).strip(),
            "pyspy": sh([env.pyspy, "--version"]).strip(),
            "pybpf_prof": sh([env.prof, "--version"]).strip(),
            "git": sh(["git", "-C", str(REPO), "describe", "--always", "--dirty"]).strip(),
            "head": sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).strip()}


def load_snapshot():
    return {"uptime": sh("uptime").strip(),
            "top": sh("top -bn1 -w 160 | sed -n '1,5p;7,17p'")}


def report_abcost(R):
    A = R.get("abcost")
    if not A:
        return ""
    builds = R.get("abcost_builds", [])
    idle = {}  # build -> [ns per run of each idle run]
    for rec in A:
        if rec.get("idle") and rec.get("run_cnt"):
            idle.setdefault(rec["build"], []).append(rec["run_ns"] / rec["run_cnt"])
    per = collections.OrderedDict()  # (python, label) -> build -> [us per Python sample]
    for rec in A:
        if "error" in rec or rec.get("idle") or rec["build"] not in idle:
            continue
        py = rec["counters"].get("CNT_PY_SAMPLES", 0)
        if not py:
            continue
        ns = (rec["run_ns"] - median(idle[rec["build"]]) * (rec["run_cnt"] - py)) / py
        per.setdefault((rec["python"], rec["label"]), {}).setdefault(rec["build"], []).append(ns / 1e3)
    rows = [["not-Python exit (idle), us/run", "–"] +
            ["%s (%s)" % (fmt(median(idle.get(b, [])) and median(idle[b]) / 1e3),
                          " / ".join("%.2f" % (x / 1e3) for x in idle.get(b, []))) for b in builds]]
    mem = {b: [r for r in A if r.get("build") == b and "error" not in r] for b in builds}
    rows.append(["BPF maps MB (memlock), median of runs", "–"] +
                [fmt(median([r["map_bytes"] / 2**20 for r in mem[b]])) for b in builds])
    rows.append(["agent peak RSS MB, median of runs", "–"] +
                [fmt(median([r["summary"].get("agent_maxrss_mb") for r in mem[b]]), "%.1f")
                 for b in builds])
    for (py, label), by in per.items():
        rows.append([label, py] + ["%s (%s)" % (fmt(median(by.get(b, []))),
                                                " / ".join("%.2f" % x for x in by.get(b, [])))
                                   for b in builds])
    return "\n".join(["## Cost per sample, before/after (interleaved)\n",
                      table(["workload (999 Hz)", "python"] +
                            ["%s: BPF us per Python sample, median (each round)" % b for b in builds],
                            rows),
                      "\nEach round runs every row with both builds, alternating which goes first; "
                      "the not-Python correction uses each build's own idle runs.\n"])


def render(R):
    m = R["machine"]
    md = ["# pybpf-prof benchmark results\n",
          "%s · %s CPUs · %s · kernel %s · %s · %s · %s · git %s%s\n" % (
              m["date"], m["nproc"], m["cpu"], m["kernel"], m["mem"], m["python"], m["pyspy"],
              m["git"], " · **--quick**" if R.get("quick") else ""),
          "Load at start: `%s`  \nLoad at end: `%s`\n" % (
              R["load_start"]["uptime"], R.get("load_end", {}).get("uptime", "?")),
          "Command: `%s`\n" % R["command"]]
    for f in (report_targets, report_slowdown, report_cost, report_accuracy, report_scale,
              report_where, report_ablation, report_native, report_abcost, report_issue12):
        part = f(R)
        if part:
            md.append(part)
    return "\n".join(md) + "\n"


# --------------------------------------------------------------------------


class Env:
    def __init__(self, a):
        self.quick = a.quick
        self.prof = str(Path(a.prof).resolve())
        self.pprofcheck = str(Path(a.pprofcheck).resolve())
        self.python = a.python
        self.venv = a.venv
        self.before = a.before
        self.pythons = [p for p in a.pythons.split(",") if p]
        self.pyspy = self.venv_bin("py-spy")
        self.out = Path(a.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.keep = a.keep
        self.tmpdir = Path(tempfile.mkdtemp(prefix="pybpf-bench-"))
        q = a.quick
        self.rounds = a.rounds or (1 if q else 5)
        self.units = a.units or (800 if q else 3000)  # ~1 ms of CPU each
        self.run_timeout = 600
        self.flask_s = 3 if q else 6
        self.cost_s = 3 if q else 8
        self.cost_rates = (999,) if q else (99, 999)
        self.acc_s = 4 if q else 8
        self.acc_rounds = 1 if q else 3
        self.scale_ns = (50, 200)
        self.scale_s = 4 if q else 10
        self.pyspy_fleet_max = 50
        self.churn_rate = 2
        self.churn_s = 3 if q else 10
        self.where_rounds = 1 if q else 3
        self.where_s = 3 if q else 6

    def venv_bin(self, name):
        return str(Path(self.venv) / "bin" / name)

    def tmp(self, name):
        return str(self.tmpdir / name)

    def save(self, R):
        tmp = self.out / "results.json.tmp"
        tmp.write_text(json.dumps(R, indent=1, default=str))
        tmp.replace(self.out / "results.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sections", default=None,
                    help="comma-separated, of slowdown,cost,accuracy,scale,where,ablate "
                         "(default: all; --quick: all but ablate)")
    ap.add_argument("--python", default=os.environ.get("BENCH_PYTHON", "/usr/bin/python3.11"))
    ap.add_argument("--venv", default=os.environ.get("BENCH_VENV", "/opt/pybpf-bench/venv"))
    ap.add_argument("--prof", default=str(REPO / "build" / "pybpf-prof"))
    ap.add_argument("--pprofcheck", default=str(REPO / "build" / "pprofcheck"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--units", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep every profile written (printed at the end)")
    ap.add_argument("--before", default="main",
                    help="abcost: git ref of the build to compare --prof with")
    ap.add_argument("--pythons", default="",
                    help="abcost: comma-separated interpreters (default: --python)")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only rebuild report.md from a results.json")
    a = ap.parse_args()
    if a.sections is None:
        a.sections = "slowdown,cost,accuracy,scale,where" + ("" if a.quick else ",ablate")
    if a.render:
        R = json.loads(Path(a.render).read_text())
        text = render(R)
        Path(a.render).with_name("report.md").write_text(text)
        print(text)
        return 0
    if os.geteuid() != 0:
        print("bench.py: run as root (BPF, sysctl)", file=sys.stderr)
        return 2
    if not a.out:
        a.out = "/tmp/pybpf-bench/" + time.strftime("%Y%m%d-%H%M%S")
    env = Env(a)
    for tool in (env.prof, env.pprofcheck, env.pyspy, env.python):
        if not os.access(tool, os.X_OK):
            print("bench.py: missing %s (run tools/bench/run.sh)" % tool, file=sys.stderr)
            return 2
    R = {"command": " ".join(["tools/bench/run.sh"] + (["--quick"] if a.quick else []) +
                             ([] if a.sections.count(",") >= 4 else ["--sections", a.sections])),
         "argv": sys.argv, "quick": a.quick, "machine": machine_info(env), "load_start": load_snapshot()}
    log("results in %s; load: %s" % (env.out, R["load_start"]["uptime"]))
    old_stats = sysctl_get("kernel.bpf_stats_enabled")
    sections = {"slowdown": section_slowdown, "cost": section_cost, "accuracy": section_accuracy,
                "scale": section_scale, "where": section_where, "ablate": section_ablate,
                "native": section_native, "abcost": section_abcost,
                "issue12": section_issue12}
    t0 = time.monotonic()
    try:
        for name in a.sections.split(","):
            ts = time.monotonic()
            log("== %s" % name)
            sections[name](env, R)
            R.setdefault("section_seconds", {})[name] = time.monotonic() - ts
            env.save(R)
    finally:
        kill_all()
        sysctl_set("kernel.bpf_stats_enabled", old_stats)
        R["load_end"] = load_snapshot()
        R["total_seconds"] = time.monotonic() - t0
        env.save(R)
        text = render(R)
        (env.out / "report.md").write_text(text)
        if env.keep:
            log("profiles kept in %s" % env.tmpdir)
        else:
            shutil.rmtree(env.tmpdir, ignore_errors=True)
    print(text)
    log("wrote %s/report.md and results.json in %.0f s" % (env.out, R["total_seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
