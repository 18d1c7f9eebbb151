# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Process churn during one --all-pythons run: processes living a few hundred
milliseconds, a pid that execs into Python after the profiler started, and a
pid reused by another process.

Each fixture below is one profiler run for all interpreters at once (cached
for the per-interpreter tests). The profiler is started with -v and the
processes only once it prints "sampling at" (it is then attached and has
scanned /proc), and it is stopped with SIGINT once they are done.

churn_a.py and churn_b.py are the same code but for the names alpha_* and
bravo_*: with address randomization off (setarch -R) their code objects sit
at the same addresses with the same first lines under one interpreter, so a
reused pid is the worst case for a symbolizer.
"""
import collections
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import (
    PROFILER_GRACE_S, PSEUDO, UNNAMED, LiveProfiler, Workload, assert_ran_ok, count,
    def_line, describe, frame_names, line_counts, load_profile, marker_line, num_label,
    record_measurement, samples_of, selected_interpreters, str_label, total, workload_path,
)

RATE = 999
SCRIPTS = {"a": ("churn_a.py", "alpha"), "b": ("churn_b.py", "bravo")}


def start_live_profiler(prof_bin, out):
    p = LiveProfiler(prof_bin, ["--all-pythons", "--rate", RATE, "-v", "-o", out]).start()
    try:
        p.wait_for_stderr(r"^pybpf-prof: sampling at", PROFILER_GRACE_S)
    except BaseException:
        p.kill()
        raise
    return p


def stop_live_profiler(p):
    p.signal(signal.SIGINT)
    rc, so, se = p.wait(PROFILER_GRACE_S)
    assert_ran_ok(rc, so, se)


def mixed_stacks(samples):
    """Samples whose stack has functions of both twin scripts, or a function of
    one script with the other's file name."""
    bad = []
    for s in samples:
        fams = set()
        for f in s["frames"]:
            for key, (script, prefix) in SCRIPTS.items():
                if f["function"].startswith(prefix + "_") or f["filename"].endswith("/" + script):
                    fams.add(key)
                    if f["function"].startswith(prefix + "_") and \
                            f["filename"] != workload_path(script):
                        fams.add("wrong-file")
        if len(fams) > 1:
            bad.append(s)
    return bad


def stack_text(s):
    return " <- ".join("%s@%s:%s" % (f["function"], os.path.basename(f["filename"]), f["line"])
                       for f in s["frames"])


# --------------------------------------------------------------------------
# Short-lived processes, one after another

CHURN_PROCESSES = 20  # per interpreter, alternating churn_a.py / churn_b.py
CHURN_LIFE = 0.3  # seconds of wall-clock time burning CPU after start-up
# Every process runs ~0.3 s and, with all interpreters' streams at once on
# 2 CPUs, gets ~1/6 of a CPU: ~50 samples at 999 Hz, so a process that is
# profiled at all is seen in its hot function (P(0 samples) ~ e^-50); a miss
# means it was not found in time. A profiler that only found new processes by
# its periodic /proc scan (1 s) would catch well under half of them; the
# exec-event path catches all. 80 % leaves room for a process or two whose
# life falls into a moment when the machine is too busy to let the profiler
# finish reading a fresh interpreter (its ELF files, the runtime's address)
# before the process exits.
CHURN_FOUND_MIN = 0.80


@pytest.fixture(scope="session")
def churn_run(root_prof, pprofcheck, tmp_path_factory, request):
    pythons = selected_interpreters(request, "churn_run")
    out = tmp_path_factory.mktemp("churn") / "churn.pb.gz"
    pid_log = {py.path: [] for py in pythons}  # (pid, script key, rc, stderr) in order
    errors = []

    def stream(py):
        try:
            for k in range(CHURN_PROCESSES):
                key = "ab"[k % 2]
                proc = subprocess.Popen(
                    [py.path, workload_path(SCRIPTS[key][0]), "wall", str(CHURN_LIFE)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _, err = proc.communicate(timeout=60)
                pid_log[py.path].append((proc.pid, key, proc.returncode, err))
        except Exception as e:  # reported below, in the test's thread
            errors.append("%s: %s" % (py.path, e))

    p = start_live_profiler(root_prof, out)
    try:
        t0 = time.monotonic()
        threads = [threading.Thread(target=stream, args=(py,)) for py in pythons]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
    finally:
        if p.proc.poll() is None:
            stop_live_profiler(p)
    assert not errors, errors
    return pid_log, load_profile(out), took


def test_short_lived_processes_named(churn_run, python):
    """20 processes of ~0.3 s each, started one after another during the run:
    (nearly) all are profiled in their hot function, with names and files, and
    no frame of any of them is unnamed."""
    pid_log, prof, took = churn_run
    log = pid_log.get(python.path)
    if log is None:
        pytest.skip("not in this run")
    assert all(rc == 0 for _, _, rc, _ in log), [(pid, rc, se) for pid, _, rc, se in log if rc]
    pid_count = collections.Counter(pid for pid, _, _, _ in log)
    found, missed, unnamed = [], [], []
    for pid, key, _, _ in log:
        script, prefix = SCRIPTS[key]
        samples = samples_of(prof, pid)
        hot = [s for s in samples if frame_names(s)[:2] == [prefix + "_hot", prefix + "_main"]
               and s["frames"][0]["filename"] == workload_path(script)
               and s["frames"][0]["start_line"] == def_line(script, prefix + "_hot")]
        (found if hot else missed).append(pid)
        for s in samples:
            for f in s["frames"]:
                if UNNAMED.search(f.get("function", "")) or (
                        PSEUDO.match(f.get("function", "")) and len(s["frames"]) > 1):
                    unnamed.append((pid, stack_text(s)))
        if pid_count[pid] == 1:  # the pid ran this script only: no name of the twin
            other = SCRIPTS["b" if key == "a" else "a"][1] + "_"
            wrong = [s for s in samples if any(n.startswith(other) for n in frame_names(s))]
            assert not wrong, "pid %d ran %s, but its samples name %s: %s" % (
                pid, script, other, [stack_text(s) for s in wrong[:3]])
    share = len(found) / len(log)
    record_measurement("churn-found", python, "plain", found=len(found), processes=len(log),
                       seconds=round(took, 1))
    assert share >= CHURN_FOUND_MIN, (
        "only %d of %d short-lived processes were profiled in their hot function; missed "
        "pids %s:\n%s" % (len(found), len(log), missed,
                          "\n".join(describe(prof, pid, limit=3) for pid in missed[:4])))
    assert not unnamed, "unnamed frames: %s" % unnamed[:5]
    all_samples = [s for pid in pid_count for s in samples_of(prof, pid)]
    mixed = mixed_stacks(all_samples)
    assert not mixed, "stacks mixing the two scripts: %s" % [stack_text(s) for s in mixed[:5]]


# --------------------------------------------------------------------------
# A pid reused by another process

REUSE_CPU = 0.15  # CPU seconds each process of a pair burns: ~150 samples at 999 Hz
# Both processes of a pair burn the same CPU time, so each has ~50 % of the
# pid's samples in its hot function; with ~150 samples each (binomial
# standard error ~3 points) 25 % cannot be missed by chance, while a
# profiler that names the second process's frames with the first one's
# names gives it 0 %.
REUSE_MIN_SHARE = 0.25


def spawn_at_pid(argv, pid, attempts=300):
    """Popen(argv) whose pid is `pid` (free), by setting the next pid to allocate
    (/proc/sys/kernel/ns_last_pid, as CRIU does); None if other processes on
    the machine keep taking it."""
    for _ in range(attempts):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.communicate()
    return None


@pytest.fixture(scope="session")
def reuse_run(root_prof, pprofcheck, tmp_path_factory, request):
    setarch = shutil.which("setarch")
    if not setarch:
        pytest.skip("setarch (util-linux) not installed")
    try:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(open("/proc/sys/kernel/ns_last_pid").read())
    except OSError as e:
        pytest.skip("cannot choose pids here (/proc/sys/kernel/ns_last_pid: %s)" % e)
    pythons = selected_interpreters(request, "reuse_run")
    out = tmp_path_factory.mktemp("reuse") / "reuse.pb.gz"
    pairs = {}

    def pair(py):
        norand = [setarch, os.uname().machine, "-R", py.path]
        a = subprocess.Popen(norand + [workload_path("churn_a.py"), "cpu", str(REUSE_CPU)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        a_out, a_err = a.communicate(timeout=60)
        b = spawn_at_pid(norand + [workload_path("churn_b.py"), "cpu", str(REUSE_CPU)],
                         a.pid)
        if b is None:
            pairs[py.path] = None
            return
        b_out, b_err = b.communicate(timeout=60)
        pairs[py.path] = (a.pid, (a.returncode, a_out, a_err), (b.returncode, b_out, b_err))

    p = start_live_profiler(root_prof, out)
    try:
        # one pair after the other: the pids chosen for one must not be
        # taken by another's processes
        for py in pythons:
            pair(py)
    finally:
        if p.proc.poll() is None:
            stop_live_profiler(p)
    return pairs, load_profile(out)


def test_reused_pid_keeps_each_process_names(reuse_run, python):
    """churn_a.py exits and churn_b.py gets its pid (same interpreter, no address
    randomization: the same code addresses): each process's samples have its
    own names and file, in the expected proportion, and no stack mixes them."""
    pairs, prof = reuse_run
    if python.path not in pairs:
        pytest.skip("not in this run")
    if pairs[python.path] is None:
        pytest.skip("other processes on the machine kept taking the pid to reuse")
    pid, (arc, aout, aerr), (brc, bout, berr) = pairs[python.path]
    assert arc == 0 and brc == 0, (aerr, berr)
    addr_a, addr_b = (re.search(r"code (\w+)", o).group(1) for o in (aout, bout))
    samples = samples_of(prof, pid)
    info = describe(prof, pid, limit=8)
    hot = {key: [s for s in samples if frame_names(s)[:2] == [prefix + "_hot", prefix + "_main"]]
           for key, (script, prefix) in SCRIPTS.items()}
    n = total(hot["a"]) + total(hot["b"])
    record_measurement("pid-reuse", python, "plain", same_code_address=addr_a == addr_b,
                       alpha=total(hot["a"]), bravo=total(hot["b"]))
    mixed = mixed_stacks(samples)
    assert not mixed, "stacks mixing the two processes of pid %d: %s" % (
        pid, [stack_text(s) for s in mixed[:5]])
    for key, (script, prefix) in SCRIPTS.items():
        assert total(hot[key]) >= REUSE_MIN_SHARE * n and total(hot[key]) > 0, (
            "pid %d: %s has %d of the %d hot samples (code objects at %s and %s)\n%s"
            % (pid, prefix + "_hot", total(hot[key]), n, addr_a, addr_b, info))
        for s in hot[key]:
            assert {f["filename"] for f in s["frames"]} == {workload_path(script)}, stack_text(s)
        lines = line_counts(hot[key], prefix + "_hot")
        assert lines.most_common(1)[0][0] == marker_line(script, "HOT"), dict(lines)
    comms = {str_label(s, "comm") for key in hot for s in hot[key]}
    assert comms <= {os.path.basename(python.path)[:15],
                     os.path.basename(python.real_path)[:15]}, comms


# --------------------------------------------------------------------------
# exec into Python of a pid that existed before the profiler

EXEC_MIN_SAMPLES = 50  # ~4 s of 1/6 CPU at 999 Hz is ~650; 50 is far below


@pytest.fixture(scope="session")
def exec_run(root_prof, pprofcheck, tmp_path_factory, request):
    pythons = selected_interpreters(request, "exec_run")
    d = tmp_path_factory.mktemp("exec")
    go = d / "go"
    out = d / "exec.pb.gz"
    shells = {}
    try:
        for py in pythons:
            # a shell now; Python (same pid) once the file `go` exists
            argv = ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.02; done; shift; exec "$@"',
                    str(go), "--", py.path, workload_path("split.py"), "30"]
            shells[py.path] = Workload(py, "split.py", argv=argv, wait_ready=False).start()
        for w in shells.values():
            # Popen returns once the child's exec has begun; the new comm
            # is set a moment later
            deadline = time.monotonic() + 10
            while comm_of(w.pid) != "sh" and time.monotonic() < deadline:
                time.sleep(0.01)
            assert comm_of(w.pid) == "sh", "pid %d is not a shell: %s" % (w.pid, comm_of(w.pid))
        p = start_live_profiler(root_prof, out)
        try:
            go.touch()
            for w in shells.values():
                w.wait_for_line(r"^ready\b", 60)
                w.comm = comm_of(w.pid)
            time.sleep(4.0)
        finally:
            if p.proc.poll() is None:
                stop_live_profiler(p)
        for w in shells.values():
            assert w.alive(), w.err_lines
    finally:
        for w in shells.values():
            w.stop()
    return shells, load_profile(out)


def comm_of(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().rstrip("\n")


def test_exec_into_python_noticed(exec_run, python):
    """A shell that existed before the profiler started execs into Python (same
    pid): the Python process is profiled, named, and labelled with its new comm."""
    shells, prof = exec_run
    w = shells.get(python.path)
    if w is None:
        pytest.skip("not in this run")
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid, limit=8)
    heavy, light = python.func_name("Split.heavy"), python.func_name("Split.light")
    in_split = [s for s in samples if set(frame_names(s)) & {heavy, light}]
    assert total(in_split) >= EXEC_MIN_SAMPLES, "pid %d after exec: %d samples in Split\n%s" % (
        w.pid, total(in_split), info)
    for s in in_split:
        assert {f["filename"] for f in s["frames"]} == {workload_path("split.py")}, stack_text(s)
    assert {str_label(s, "comm") for s in samples} == {w.comm}, (
        "comm labels %s, want the comm after exec %r" % (
            {str_label(s, "comm") for s in samples}, w.comm))
    bad = [stack_text(s) for s in samples for f in s["frames"]
           if UNNAMED.search(f["function"])]
    assert not bad, bad[:5]
    assert {num_label(s, "pid") for s in samples} == {w.pid}
    c = collections.Counter()
    for s in in_split:
        c[s["frames"][0]["function"]] += count(s)
    assert c[heavy] > c[light], dict(c)  # 3:1 by construction
