# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Wall mode (--mode wall): every thread's whole wall time, on and off CPU.

Each test starts tests/e2e/workloads/wall.py with threads whose time is
known by construction, profiles it for a fixed wall-clock duration, and
checks per thread (by its kernel TID) how its wall time is split: by stack,
by `state` label and by `wait` label. Off-CPU time is measured exactly by
the scheduler hooks; on-CPU time is sampled, so the tolerances below allow
for sampling noise only on the on-CPU part.
"""
import collections
import os
import re
import signal
import time

import pytest

from conftest import Workload, assert_ran_ok, frame_names, load_profile, num_label, str_label

# The check: 50 ms of work, 50 ms of sleep, 99 Hz over 20 s, each
# half within 3 points. 20 s at 99 Hz gives ~1000 samples of the on-CPU
# half; off-CPU time is exact.
ALTERNATE_S = 20
ALTERNATE_TOLERANCE = 0.03
# Other scenarios: long enough for hundreds of GIL handovers and samples.
SHORT_S = 8


def wall_profile(run_profiler, tmp_path, python, scenarios, seconds, extra=(), name="wall",
                 lines=None):
    """Run wall.py SCENARIOS under `python`, profile it `seconds` in wall
    mode. Returns (profile, {thread name: tid}, workload pid)."""
    out = tmp_path / ("%s.pb.gz" % name)
    with Workload(python, "wall.py", *scenarios) as w:
        tids = {}
        for line in w.lines:
            m = re.match(r"thread (\S+) (\d+)$", line)
            if m:
                tids[m.group(1)] = int(m.group(2))
        rc, so, se = run_profiler(["--mode", "wall", "--pid", str(w.pid), "--duration",
                                   str(seconds), "-o", str(out)] + list(extra))
        assert_ran_ok(rc, so, se)
        pid = w.pid
        if lines is not None:
            lines.extend(w.lines)
    return load_profile(out), tids, pid


def wall_ns(s):
    return s["values"][1]


def of_thread(prof, pid, tid):
    return [s for s in prof["samples"]
            if num_label(s, "pid") == pid and num_label(s, "tid") == tid]


def by_label(samples, key):
    c = collections.Counter()
    for s in samples:
        c[str_label(s, key)] += wall_ns(s)
    return c


def inclusive(samples, function):
    return sum(wall_ns(s) for s in samples if function in frame_names(s))


def describe_thread(samples, limit=12):
    rows = collections.Counter()
    for s in samples:
        rows[(str_label(s, "state"), str_label(s, "wait"),
              ";".join(reversed(frame_names(s)[:4])))] += wall_ns(s)
    return "\n".join("  %8.3f s %s" % (ns / 1e9, k) for k, ns in rows.most_common(limit))


@pytest.mark.representative
def test_sample_types(run_profiler, tmp_path, python):
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["alternate"], 3)
    assert [(t["type"], t["unit"]) for t in prof["sample_types"]] == [
        ("samples", "count"), ("wall", "nanoseconds")]
    assert prof["period_type"] == {"type": "wall", "unit": "nanoseconds"}
    assert prof["duration_nanos"] > 2.5e9
    states = {str_label(s, "state") for s in prof["samples"]}
    assert states <= {"running", "running_nogil", "gil_wait", "blocked"}, states
    for s in prof["samples"]:
        # A wait is named exactly when the thread was off CPU.
        off = str_label(s, "state") in ("gil_wait", "blocked")
        assert (str_label(s, "wait") is not None) == off, s


@pytest.mark.representative
def test_alternate_half_and_half(run_profiler, tmp_path, python):
    """50 ms compute / 50 ms sleep: each its share of the thread's wall time.

    The shares are compared with what the thread measured itself during the
    profile: on a quiet machine 50/50; on a loaded one computing takes
    longer (the loop notices its deadline only when it gets a CPU)."""
    lines = []
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["alternate"], ALTERNATE_S,
                                   lines=lines)
    mine = of_thread(prof, pid, tids["alternate"])
    total = sum(wall_ns(s) for s in mine)
    why = "\n" + describe_thread(mine)
    # The thread existed for the whole run: all of it is accounted for.
    assert abs(total - prof["duration_nanos"]) < 0.03 * prof["duration_nanos"], (
        total, prof["duration_nanos"], why)
    # Ground truth: the thread's own totals at the rounds closest to the
    # profile's start and end.
    t0 = prof["time_nanos"] / 1e9
    t1 = t0 + prof["duration_nanos"] / 1e9
    rounds = [tuple(map(float, l.split()[1:])) for l in lines if l.startswith("alt ")]
    inside = [r for r in rounds if t0 <= r[0] <= t1]
    assert len(inside) > 20, (len(rounds), t0, t1)
    d_work = inside[-1][1] - inside[0][1]
    d_nap = inside[-1][2] - inside[0][2]
    truth = d_work / (d_work + d_nap)
    work, sleep = inclusive(mine, "compute") / total, inclusive(mine, "nap") / total
    why = "\nthread measured %.3f computing\n%s" % (truth, why)
    assert abs(work - truth) <= ALTERNATE_TOLERANCE, (work, sleep, why)
    assert abs(sleep - (1 - truth)) <= ALTERNATE_TOLERANCE, (work, sleep, why)
    # Sleeping is blocked in clock_nanosleep (or select on older versions).
    waits = collections.Counter()
    for s in mine:
        if "nap" in frame_names(s):
            waits[(str_label(s, "state"), str_label(s, "wait"))] += wall_ns(s)
    (state, wait), ns = waits.most_common(1)[0]
    assert state == "blocked" and wait in ("clock_nanosleep", "select", "pselect6"), waits
    assert ns > 0.8 * inclusive(mine, "nap"), waits


@pytest.mark.representative
def test_blocked_whole_run(run_profiler, tmp_path, python):
    """Threads blocked since before the run: 100 % of it, with their stacks."""
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["blocked"], SHORT_S)
    for name, caller in (("queue", "wait_queue"), ("socket", "wait_socket")):
        mine = of_thread(prof, pid, tids[name])
        total = sum(wall_ns(s) for s in mine)
        why = "\n%s:\n%s" % (name, describe_thread(mine))
        assert abs(total - prof["duration_nanos"]) <= 0.01 * prof["duration_nanos"], (
            total, prof["duration_nanos"], why)
        assert by_label(mine, "state")["blocked"] >= 0.99 * total, why
        # The innermost Python frame is the caller of the blocking call
        # (queue.get's own Python frames are inside it).
        assert inclusive(mine, caller) >= 0.99 * total, why


def test_gil_states(run_profiler, tmp_path, python):
    """Two pure-Python threads share the GIL; a zlib thread runs without it."""
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["gil", "zlib"], SHORT_S)
    states = {}
    for name in ("spin1", "spin2", "zlib"):
        mine = of_thread(prof, pid, tids[name])
        total = sum(wall_ns(s) for s in mine)
        assert total > 0.9 * prof["duration_nanos"], (name, total)
        states[name] = {k: v / total for k, v in by_label(mine, "state").items()}
        states[name]["why"] = describe_thread(mine)
    if python.free_threaded:
        # No GIL: nothing waits for it, nothing runs without it.
        for name, st in states.items():
            assert not st.get("gil_wait") and not st.get("running_nogil"), (name, st)
        return
    # On a quiet machine each spinner waits for the GIL about half of the
    # time; on a loaded one the holder is often preempted (blocked,
    # preempted) while the other still waits, so only a floor is certain.
    for name in ("spin1", "spin2"):
        st = states[name]
        assert 0.15 <= st.get("gil_wait", 0) <= 0.85, (name, st)
        assert st.get("running", 0) > st.get("running_nogil", 0), (name, st)
    # zlib.compress releases the GIL: on CPU, it mostly runs without it.
    st = states["zlib"]
    assert st.get("running_nogil", 0) > 0.01, st
    assert st.get("running_nogil", 0) > 2 * st.get("running", 0), st


@pytest.mark.representative
def test_gil_only(run_profiler, tmp_path, python):
    """--gil keeps only the time of threads holding the GIL."""
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["gil", "zlib"], SHORT_S,
                                   extra=["--gil"])
    mine = [s for s in prof["samples"] if num_label(s, "pid") == pid]
    states = by_label(mine, "state")
    assert states.get("running", 0) > 0, states
    if not python.free_threaded:
        # A holder can block on the GIL's own mutex while handing it over:
        # rare, so at most a trace of gil_wait.
        assert states.get("gil_wait", 0) <= 0.01 * sum(states.values()), states
        assert not states.get("running_nogil"), states
        # One GIL: at most one holder at a time, so the held time is at most the run.
        assert sum(states.values()) <= 1.05 * prof["duration_nanos"], states


@pytest.mark.representative
def test_folded_microseconds(run_profiler, tmp_path, python):
    """Folded wall profiles weigh lines in microseconds."""
    out = tmp_path / "wall.folded"
    with Workload(python, "wall.py", "blocked") as w:
        rc, so, se = run_profiler(["--mode", "wall", "--pid", str(w.pid), "--duration", "3",
                                   "--format", "folded", "-o", str(out)])
        assert_ran_ok(rc, so, se)
    total_us = 0
    for line in out.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        assert stack.startswith("%s (%d);" % (w.comm, w.pid)), line
        total_us += int(n)
    # Main thread, queue, socket: each asleep the whole 3 s, 3e6 us.
    assert 3 * 2.9e6 <= total_us <= 3 * 3.3e6, total_us


@pytest.mark.representative
def test_native_offcpu_kernel_frames(run_profiler, tmp_path, python):
    """--native in wall mode: a thread blocked in socket.recv shows, for its
    off-CPU time, the kernel's receive path on top of the C code that made
    the system call, on top of its Python caller, in that order."""
    prof, tids, pid = wall_profile(run_profiler, tmp_path, python, ["recv"], SHORT_S,
                                   extra=["--native"], name="recv")
    mine = [s for s in of_thread(prof, pid, tids["recv"])
            if str_label(s, "state") == "blocked"]
    off = sum(wall_ns(s) for s in mine)
    why = "\nrecv thread, off CPU:\n%s" % "\n".join(
        "  %8.3f s %s" % (wall_ns(s) / 1e9, ";".join(reversed(frame_names(s))))
        for s in sorted(mine, key=wall_ns, reverse=True)[:6])

    def in_order(s):
        names = frame_names(s)
        kernel = 0
        while kernel < len(names) and names[kernel].endswith("_[k]"):
            kernel += 1
        if "wait_tcp" not in names[kernel:]:
            return False
        c = names.index("wait_tcp")
        native = s["frames"][kernel:c]
        # The receive path in the kernel (tcp_recvmsg, sock_recvmsg,
        # __sys_recvfrom... as this kernel names them), the scheduler on top.
        return (any(re.search(r"recvmsg|recvfrom", n) for n in names[:kernel]) and
                names[0].startswith("__schedule") and native and
                all(f.get("mapping") and not f.get("filename", "").endswith(".py")
                    for f in native))

    good = sum(wall_ns(s) for s in mine if in_order(s))
    # Blocked for most of the run (a byte every 20 ms wakes it briefly).
    assert off >= 0.5 * prof["duration_nanos"], (off, prof["duration_nanos"], why)
    assert good >= 0.90 * off, "%.1f%% in order%s" % (100.0 * good / off, why)


def test_native_kernel_stacks_map_turns_over(run_profiler, tmp_path, python):
    """--native in wall mode, a kernel-stack map of one entry: a thread asleep
    in time.sleep() fills it, then sleeps in select() for the rest of the
    run. The maps take turns (a new generation every 5 collections, the
    previous one's map cleared), so select()'s kernel stack gets in at the
    next turn and most of its off-CPU time has kernel frames; a map kept for
    the whole run would have lost it for good (offcpu_kernel_stack_lost)."""
    out = tmp_path / "phases.pb.gz"
    seconds = 20
    with Workload(python, "wall.py", "phases") as w:
        tid = int(w.matching(r"^thread phases (\d+)$")[0].group(1))
        rc, so, se = run_profiler(["--mode", "wall", "--native", "--kernel-stacks", "1",
                                   "--pid", str(w.pid), "--duration", str(seconds),
                                   "-o", str(out)])
        assert_ran_ok(rc, so, se)
        pid = w.pid
    prof = load_profile(out)
    off = [s for s in of_thread(prof, pid, tid) if str_label(s, "state") == "blocked"]

    def leaf_py(s):
        return next((f["function"] for f in s["frames"]
                     if f.get("filename", "").endswith(".py")), None)

    def kernel(s):
        return frame_names(s)[0].endswith("_[k]")

    sel = [s for s in off if leaf_py(s) == "wait_select"]
    total = sum(wall_ns(s) for s in sel)
    with_k = sum(wall_ns(s) for s in sel if kernel(s))
    why = "\n%s\nselect(), off CPU:\n%s" % (
        "\n".join(l for l in se.splitlines() if "native" in l), "\n".join(
            "  %8.3f s %s" % (wall_ns(s) / 1e9, ";".join(reversed(frame_names(s))))
            for s in sorted(sel, key=wall_ns, reverse=True)[:6]))
    # select() from 5 s after "ready" to the end: 15 s less the profiler's start.
    assert total >= 8e9, "%.1f s in select()%s" % (total / 1e9, why)
    # Its stack is stored at the first turn after it began (at most 5
    # collections, one a second, later): 10 of its 15 s or more.
    assert with_k >= 0.5 * total, "%.0f%% of %.1f s in select() with kernel frames%s" % (
        100.0 * with_k / total, total / 1e9, why)
    assert any(re.search(r"select", n) for s in sel if kernel(s) for n in frame_names(s)
               if n.endswith("_[k]")), why


def test_native_offcpu_stopped_has_native_frames(start_profiler, tmp_path, python):
    """--native in wall mode, a thread asleep outside a system call: stopped
    by SIGSTOP while compressing (in deflate, the GIL released), its
    off-CPU time (wait=kernel) shows the kernel's signal-stop path on top of
    the C code it was in (deflate, zlib_compress) on top of its Python
    caller, unwound from the registers saved when it entered the kernel from
    user mode (here a timer interrupt)."""
    out = tmp_path / "stopped.pb.gz"
    with Workload(python, "wall.py", "zlib", may_stop=True) as w:
        tid = int(w.matching(r"^thread zlib (\d+)$")[0].group(1))
        p = start_profiler(["--mode", "wall", "--native", "--pid", w.pid, "--duration", 8,
                            "-o", out])
        time.sleep(1.5)
        for _ in range(6):
            os.kill(w.pid, signal.SIGSTOP)
            time.sleep(0.4)
            os.kill(w.pid, signal.SIGCONT)
            time.sleep(0.4)
        rc, so, se = p.wait(30)
        assert_ran_ok(rc, so, se)
        pid = w.pid
    prof = load_profile(out)
    stopped = [s for s in of_thread(prof, pid, tid)
               if str_label(s, "state") == "blocked" and str_label(s, "wait") == "kernel"]
    total = sum(wall_ns(s) for s in stopped)

    # Where it stopped: deflate, or zlib_compress copying its output
    # (memmove); named zlib_compress.lto_priv.0 or [python3.11+0x...] on
    # Debian's 3.11, so only "C frames, no Python ones" is checked there.
    def native_under(s):
        names = frame_names(s)
        if "compress" not in names or not re.match(r"__schedule", names[0]):
            return False
        mid = [f for f in s["frames"][:names.index("compress")]
               if not f["function"].endswith("_[k]")]
        return bool(mid) and all(f.get("mapping") and
                                 not f.get("filename", "").endswith(".py") for f in mid)

    good = sum(wall_ns(s) for s in stopped if native_under(s))
    why = "\nzlib thread, stopped:\n%s" % "\n".join(
        "  %8.3f s %s" % (wall_ns(s) / 1e9, ";".join(reversed(frame_names(s))))
        for s in sorted(stopped, key=wall_ns, reverse=True)[:8])
    assert total >= 1.0e9, "%.2f s stopped%s" % (total / 1e9, why)
    assert good >= 0.9 * total, "%.0f%% of %.2f s stopped with C frames under the kernel "\
        "frames%s" % (100.0 * good / total, total / 1e9, why)
