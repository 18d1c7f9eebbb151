# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Processes that come and go, targets that must not be disturbed, signals."""
import contextlib
import os
import signal
import time

import pytest

from conftest import (
    PROFILER_GRACE_S, Workload, assert_all_named, assert_ran_ok, describe, frame_names,
    function_counts, load_profile, marker_line, num_label, proc_status, python_samples,
    run_for_cpu, samples_of, str_label, total, workload_path,
)

# What these tests look at (process start and exit, the registry, signals,
# not stopping the target) does not depend on the interpreter's layout beyond
# what conftest.representative() covers: they run on those interpreters.


@pytest.mark.representative
def test_all_pythons_picks_up_new_process(root_prof, pprofcheck, start_profiler, python, tmp_path):
    """A Python process started after the profiler is profiled too."""
    out = tmp_path / "late.pb.gz"
    seconds = 6
    p = start_profiler(["--all-pythons", "--duration", seconds, "-o", out])
    time.sleep(1.0)
    assert p.proc.poll() is None, "profiler exited early: rc=%s %s" % (p.wait(5)[0], p.stderr)
    with Workload(python, "split.py") as w:
        rc, so, se = p.wait(seconds + PROFILER_GRACE_S)
        assert w.alive()
    assert_ran_ok(rc, so, se)
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid)
    counts = function_counts(samples)
    heavy, light = python.func_name("Split.heavy"), python.func_name("Split.light")
    assert counts[heavy] + counts[light] >= 50, (
        "process started 1 s after the profiler: %d samples in Split.*\n%s"
        % (counts[heavy] + counts[light], info))
    assert_all_named(samples, info)
    assert {str_label(s, "comm") for s in samples} == {w.comm}
    assert {f["filename"] for s in samples for f in s["frames"]
            if f["function"] in (heavy, light)} == {workload_path("split.py")}


@pytest.mark.representative
def test_new_processes_named_from_their_start(root_prof, pprofcheck, start_profiler, python,
                                              tmp_path):
    """Short-lived processes started during an --all-pythons run are Python
    stacks from their first moments on, not placeholders.

    At 1 kHz a sample often lands while the new interpreter is still
    initialising, before its main thread state exists; that early "no thread
    state" answer must not stick to the thread for the rest of its short life.
    Three processes in a row make the race likely to be hit at least once.
    """
    out = tmp_path / "young.pb.gz"
    seconds = 10
    p = start_profiler(["--all-pythons", "--rate", 1000, "--duration", seconds, "-o", out])
    time.sleep(1.5)
    pids = []
    for _ in range(3):
        if p.proc.poll() is not None or time.monotonic() - p.started > seconds - 2.5:
            break
        with Workload(python, "split.py", 1.0) as w:
            w.wait_for_line(r"^done\b", 30)
            assert w.wait(30) == 0
        pids.append(w.pid)
    assert len(pids) >= 2, "the machine is too slow to start 2 processes in %d s" % seconds
    rc, so, se = p.wait(seconds + PROFILER_GRACE_S)
    assert_ran_ok(rc, so, se)
    prof = load_profile(out)
    heavy = python.func_name("Split.heavy")
    for pid in pids:
        samples = samples_of(prof, pid)
        info = describe(prof, pid, limit=6)
        n = total(samples)
        placeholders = n - total(python_samples(samples))
        assert function_counts(samples)[heavy] >= 200, info
        assert placeholders <= 0.1 * n, (
            "pid %d: %d of its %d samples are placeholders instead of Python stacks\n%s"
            % (pid, placeholders, n, info))


def test_all_pythons_sees_every_interpreter(root_prof, pprofcheck, interpreters, tmp_path):
    """One --all-pythons run profiles a process of each interpreter at once."""
    if not interpreters:
        pytest.skip("no interpreters")
    out = tmp_path / "all.pb.gz"
    with contextlib.ExitStack() as stack:
        ws = [stack.enter_context(Workload(py, "split.py")) for py in interpreters]
        # until each has used 1 s of CPU: ~75 samples of Split.heavy at 99 Hz
        rc, so, se, _ = run_for_cpu(root_prof, ["--all-pythons", "-o", out],
                                    [w.pid for w in ws], 1.0)
        assert all(w.alive() for w in ws)
    assert_ran_ok(rc, so, se)
    prof = load_profile(out)
    for py, w in zip(interpreters, ws):
        samples = samples_of(prof, w.pid)
        info = describe(prof, w.pid)
        counts = function_counts(samples)
        assert counts[py.func_name("Split.heavy")] >= 20, "%s (pid %d):\n%s" % (py, w.pid, info)
        assert_all_named(samples, info)


@pytest.mark.representative
@pytest.mark.parametrize("mode", ["all-pythons", "pid"])
def test_exited_process_keeps_names(root_prof, pprofcheck, start_profiler, python, tmp_path, mode):
    """A process that exits during the run keeps its samples, with names."""
    out = tmp_path / "exited.pb.gz"
    with Workload(python, "exiting.py") as w:
        target = ["--all-pythons"] if mode == "all-pythons" else ["--pid", w.pid]
        p = start_profiler(target + ["-o", out])
        time.sleep(2.0)  # let the profiler attach and sample for a while
        assert p.proc.poll() is None, "profiler exited early: rc=%s %s" % (p.wait(5)[0], p.stderr)
        os.kill(w.pid, signal.SIGUSR1)  # exits after LINGER (1.5) s more of its CPU time
        assert w.wait(60) == 0, "\n".join(w.err_lines)
        time.sleep(1.5)
        still_running = p.proc.poll() is None
        p.signal(signal.SIGINT)
        rc, so, se = p.wait(PROFILER_GRACE_S)
    assert_ran_ok(rc, so, se)
    if mode == "all-pythons":
        assert still_running, "--all-pythons must keep running after a target exits"
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid)
    burn = python.func_name("Ephemeral.burn")
    counts = function_counts(samples)
    assert counts[burn] >= 50, "%d samples in %s of the exited process\n%s" % (
        counts[burn], burn, info)
    assert_all_named(samples, info)
    hot = marker_line("exiting.py", "HOT-EXITING")
    hot_n = sum(s["values"][0] for s in samples
                if s["frames"][0]["function"] == burn and s["frames"][0]["line"] == hot)
    assert hot_n >= 0.5 * counts[burn], info
    for s in python_samples(samples):
        assert frame_names(s)[-1] == "<module>", "root frame of %s" % frame_names(s)


@pytest.mark.representative
def test_target_not_stopped_or_slowed(root_prof, pprofcheck, start_profiler, python, tmp_path):
    """No ptrace, no pausing: TracerPid stays 0, the state never 't'/'T', and
    the workload keeps making progress (no gap of a second) while profiled."""
    out = tmp_path / "progress.pb.gz"
    seconds = 4
    with Workload(python, "progress.py") as w:
        time.sleep(1.5)  # baseline progress without the profiler
        t0 = time.monotonic()
        p = start_profiler(["--pid", w.pid, "--duration", seconds, "-o", out])
        status = []
        while p.proc.poll() is None and time.monotonic() < t0 + seconds + PROFILER_GRACE_S:
            st = proc_status(w.pid)
            assert st is not None, "the workload died during profiling"
            status.append((st.get("TracerPid", "?").strip(), st.get("State", "?").strip()))
            time.sleep(0.02)
        t1 = time.monotonic()
        rc, so, se = p.wait(30)
        os.kill(w.pid, signal.SIGUSR1)
        done = w.wait_for_line(r"^done units=(\d+) rate=([0-9.]+)$", 10)
        ticks = [(float(m.group(1)), int(m.group(2)), float(m.group(3)))
                 for m in w.matching(r"^tick (\S+) (\d+) (\S+)$")]
    assert_ran_ok(rc, so, se)
    assert status, "no /proc samples taken"
    tracers = {t for t, _ in status}
    assert tracers == {"0"}, "TracerPid while profiling: %s" % tracers
    stopped = {s for _, s in status if s[:1] in ("t", "T")}
    assert not stopped, "workload was stopped while profiling: %s" % stopped

    # How much sampling slows the target is measured by tools/bench
    # (BENCHMARKS.md: the BPF program's share of the target's CPU), not here:
    # this VM's CPU speed swings by tens of percent from second to second, so
    # a rate comparison in a test would flake. A pause shows in the gaps
    # between progress ticks, and in the state and tracer checks above.
    during = [t for t, _, _ in ticks if t0 <= t <= t1]
    assert len(during) >= 10, "only %d progress ticks while profiled" % len(during)
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:]) if t0 <= b[0] <= t1]
    assert max(gaps) < 1.0, "the workload made no progress for %.2f s while profiled" % max(gaps)
    assert int(done.group(1)) > 0 and float(done.group(2)) > 0

    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    assert function_counts(samples)["unit"] >= 50, describe(prof, w.pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_run_and_writes_profile(root_prof, pprofcheck, start_profiler, interpreters,
                                            tmp_path, sig):
    """Without --duration the run ends on SIGINT/SIGTERM: exit 0 and a valid profile."""
    if not interpreters:
        pytest.skip("no interpreters")
    python = interpreters[0]
    out = tmp_path / "signal.pb.gz"
    with Workload(python, "split.py") as w:
        p = start_profiler(["--pid", w.pid, "-o", out])
        time.sleep(3.0)
        assert p.proc.poll() is None, "exited before the signal: rc=%s %s" % (
            p.wait(5)[0], p.stderr)
        sent = time.monotonic()
        p.signal(sig)
        rc, so, se = p.wait(30)
        took = time.monotonic() - sent
    assert_ran_ok(rc, so, se, "pybpf-prof after %s" % signal.Signals(sig).name)
    assert took < 10, "took %.1f s to stop after the signal" % took
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    assert total(samples) >= 1, describe(prof, w.pid)
    assert {num_label(s, "pid") for s in prof["samples"]} == {w.pid}
    assert 1e9 <= prof["duration_nanos"] <= 15e9, "duration_nanos %s" % prof["duration_nanos"]
    assert not [f for f in os.listdir(str(tmp_path)) if f != out.name], (
        "files left next to the output: %s" % os.listdir(str(tmp_path)))


def _harm_reported(w, act):
    """Run `act(w)` on a started Workload, then leave it as a test does;
    the pytest failure that Workload's check raised (None if none)."""
    try:
        with w:
            act(w)
    except pytest.fail.Exception as e:
        return str(e)
    return None


def test_harmed_targets_are_reported(one_python):
    """The suite-wide guard (conftest TargetWatch / target_harms) that every
    Workload of every test goes through: a target seen stopped, one that
    ended by itself with a bad status, and one that wrote a traceback fail
    the test; a target left unharmed does not."""
    def stop_it(w):
        os.kill(w.pid, signal.SIGSTOP)
        time.sleep(0.5)  # ten watch periods
        os.kill(w.pid, signal.SIGCONT)

    why = _harm_reported(Workload(one_python, "split.py", 60), stop_it)
    assert why and "seen stopped" in why and "state T" in why, why
    assert _harm_reported(Workload(one_python, "split.py", 60, may_stop=True), stop_it) is None

    def crash(w):
        os.kill(w.pid, signal.SIGSEGV)
        w.wait(30)

    why = _harm_reported(Workload(one_python, "split.py", 60), crash)
    assert why and "status -%d" % signal.SIGSEGV in why, why

    def traceback(w):
        w.wait(30)

    argv = [one_python.path, "-c", "print('ready', flush=True); 1/0"]
    why = _harm_reported(Workload(one_python, "split.py", argv=argv), traceback)
    assert why and "Traceback" in why, why

    assert _harm_reported(Workload(one_python, "split.py", 60), lambda w: time.sleep(0.2)) is None
