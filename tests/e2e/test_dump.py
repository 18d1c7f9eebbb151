# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`pybpf-prof dump`: every thread's stack of a live process, on every interpreter.

dumpme.py runs five threads doing five kinds of things (sleep, socket.recv,
a pure-Python loop, zlib.compress, a lock wait) and one parked with known
locals. Each dump must list every thread with its true innermost function
and line, its state (on CPU or blocked, and in which system call) and, with
--locals, the values. The target is never stopped: it is never traced nor
in a stopped state, and its loop counter (read with --locals) keeps growing
from one dump to the next.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import EXIT, Workload, assert_one_error_line, dead_pid, def_span, marker_line

SCRIPT = "dumpme.py"
DUMPS = 5
# test_dump_five_threads dumps on, up to this many times, until DUMPS // 2 of
# the spinner's counter reads were readable: on a debug build most reads of
# a local that a running thread rebinds lose the race (python3.11d, CI of
# 955a4e9: 1 of 5, twice in a row).
MAX_DUMPS = 4 * DUMPS

# System calls a sleeping Python thread is in, by what it does.
SLEEP_CALLS = {"clock_nanosleep", "nanosleep", "select", "pselect6", "poll", "ppoll"}
RECV_CALLS = {"recvfrom", "recvmsg", "read", "poll", "ppoll", "select", "pselect6"}
LOCK_CALLS = {"futex"}


def dump_json(run_profiler, *args):
    rc, out, err = run_profiler(["dump", "--json"] + [str(a) for a in args], timeout=60)
    assert rc == EXIT["EXIT_OK"], "dump exited %s\nstdout:\n%s\nstderr:\n%s" % (rc, out, err)
    assert err == "", err
    return json.loads(out)


def by_thread(proc, workload):
    """{thread name: thread object}, for the threads the workload announced."""
    tids = {int(m.group(2)): m.group(1) for m in workload.matching(r"^thread (\w+) (\d+)$")}
    threads = {}
    for t in proc["threads"]:
        if t["tid"] in tids:
            threads[tids[t["tid"]]] = t
    assert set(threads) == set(tids.values()), "threads missing from the dump: %s" % (
        set(tids.values()) - set(threads))
    return threads


def leaf(t):
    assert t["frames"], "thread %s has no frames: %s" % (t["name"], t)
    return t["frames"][0]


def settled(run_profiler, w, timeout=20.0):
    """Wait until every parked thread reached its blocking call ("ready" is
    printed as they leave the barrier) and the main thread its sleep (it
    prints "ready" first, in threadnames.say)."""
    deadline = time.monotonic() + timeout
    want = {"sleeper": "SLEEP", "receiver": "RECV", "waiter": "WAIT", "with_locals": "LOCALS"}
    while True:
        p = dump_json(run_profiler, "--pid", w.pid)[0]
        th = by_thread(p, w)
        main = [t for t in p["threads"] if t["tid"] == w.pid]
        if all(th[n]["frames"] and th[n]["frames"][0]["line"] == marker_line(SCRIPT, m)
               and th[n]["state"] == "sleeping" for n, m in want.items()) \
                and main and main[0]["frames"] \
                and main[0]["frames"][0]["line"] == marker_line(SCRIPT, "MAIN"):
            return
        if time.monotonic() > deadline:
            pytest.fail("threads never settled: %s" % json.dumps(p, indent=1))
        time.sleep(0.2)


def test_dump_five_threads(python, run_profiler):
    spin_first, spin_last = marker_line(SCRIPT, "SPIN_FIRST"), marker_line(SCRIPT, "SPIN_LAST")
    with Workload(python, SCRIPT) as w:
        settled(run_profiler, w)
        counters = []
        seen_on_cpu = set()
        for i in range(MAX_DUMPS):
            if i >= DUMPS and len(counters) >= DUMPS // 2:
                break
            procs = dump_json(run_profiler, "--pid", w.pid, "--locals")
            assert len(procs) == 1 and procs[0]["pid"] == w.pid
            p = procs[0]
            assert p["python"].startswith("%d.%d." % python.version[:2]), p["python"]
            th = by_thread(p, w)
            # The main thread is listed too, in its sleep.
            main = [t for t in p["threads"] if t["tid"] == w.pid]
            assert main and leaf(main[0])["line"] == marker_line(SCRIPT, "MAIN")

            expect = {"sleeper": ("SLEEP", SLEEP_CALLS), "receiver": ("RECV", RECV_CALLS),
                      "waiter": ("WAIT", LOCK_CALLS), "with_locals": ("LOCALS", SLEEP_CALLS)}
            for name, (marker, calls) in expect.items():
                t = th[name]
                assert leaf(t)["function"] == name, t
                assert leaf(t)["line"] == marker_line(SCRIPT, marker), t
                assert t["status"] == "ok", t
                assert not t["on_cpu"] and t["state"] == "sleeping", t
                assert t["syscall"] in calls, "%s blocked in %s" % (name, t["syscall"])
                assert t["name"] == name
                # Blocked threads do not hold the GIL (null: a build without one).
                assert t["gil"] in (False, None), t
            s = th["spinner"]
            assert leaf(s)["function"] == "spinner"
            assert spin_first <= leaf(s)["line"] <= spin_last, s
            # n is rebound by a running thread while it is read: a read that
            # lost the race shows as "<unreadable ...>" rather than a number.
            n = leaf(s)["locals"]["n"]
            # A debug build fills a freed int with 0xdd bytes: a read that lost
            # the race there decodes as 0x1ddddddd-like digits, not an old value.
            if n.isdigit() and not (python.debug and "ddddd" in "%x" % int(n)):
                counters.append(int(n))
            c = th["compressor"]
            assert leaf(c)["function"] == "compressor"
            assert leaf(c)["line"] == marker_line(SCRIPT, "COMPRESS"), c
            for name in ("spinner", "compressor"):
                if th[name]["on_cpu"]:
                    seen_on_cpu.add(name)
                assert th[name]["syscall"] is None or th[name]["state"] != "running"
            # At most one thread holds the GIL; free-threaded builds have none.
            holders = [t for t in p["threads"] if t["gil"]]
            assert len(holders) <= 1, holders
            if python.free_threaded:
                assert all(t["gil"] is None for t in p["threads"]), p
            else:
                assert all(t["gil"] is not None for t in p["threads"]), p
            # Never stopped, never traced.
            status = open("/proc/%d/status" % w.pid).read()
            assert "\nTracerPid:\t0\n" in status
            assert "\nState:\tS" in status or "\nState:\tR" in status, status
            time.sleep(0.2)
        # The loop kept running through the dumps. (Between two dumps it may
        # not have had a CPU on a loaded machine: over all of them it must.)
        assert len(counters) >= DUMPS // 2, counters
        assert all(b >= a for a, b in zip(counters, counters[1:])), counters
        assert counters[-1] > counters[0], counters
        # Runnable threads show as on a CPU (on a loaded machine at least once).
        assert seen_on_cpu, "neither spinner nor compressor was ever on a CPU"


def test_dump_locals(python, run_profiler):
    with Workload(python, SCRIPT) as w:
        settled(run_profiler, w)
        p = dump_json(run_profiler, "--pid", w.pid, "--locals")[0]
        t = by_thread(p, w)["with_locals"]
        locs = leaf(t)["locals"]
        assert locs["an_int"] == "4242", locs
        assert locs["a_str"] == "'hello dump'", locs
        assert locs["a_float"] == "2.5", locs
        assert locs["a_none"] == "None", locs
        assert locs["a_neg"] == "-7", locs
        # Without --locals there are none.
        p = dump_json(run_profiler, "--pid", w.pid)[0]
        assert "locals" not in leaf(by_thread(p, w)["with_locals"])


def test_dump_text(python, run_profiler):
    first, _ = def_span(SCRIPT, "with_locals")
    with Workload(python, SCRIPT) as w:
        settled(run_profiler, w)
        rc, out, err = run_profiler(["dump", "--pid", str(w.pid), "--locals"], timeout=60)
        assert rc == 0 and err == "", err
        assert out.startswith("Process %d: " % w.pid), out
        assert "Python %d.%d." % python.version[:2] in out
        assert "with_locals (%s:%d)" % (w.script, marker_line(SCRIPT, "LOCALS")) in out, out
        assert "        a_str = 'hello dump'\n" in out, out
        assert "\"waiter\": sleeping in futex()" in out, out
        assert first > 0


def test_dump_all_pythons(run_profiler, interpreters):
    py = interpreters[0]
    with Workload(py, SCRIPT) as w:
        procs = dump_json(run_profiler, "--all-pythons")
        mine = [p for p in procs if p["pid"] == w.pid]
        assert len(mine) == 1
        assert by_thread(mine[0], w)
        assert all(p["pid"] != os.getpid() or p["python"] for p in procs)


def test_dump_bad_pids(run_profiler, tmp_path):
    rc, out, err = run_profiler(["dump", "--pid", str(dead_pid())], timeout=30)
    assert rc == EXIT["EXIT_PID_NOT_FOUND"], err
    assert "no such process" in assert_one_error_line(err, rc)
    assert out == ""
    # A process that is not Python: a shell sleeping.
    sh = subprocess.Popen(["sleep", "60"])
    try:
        rc, out, err = run_profiler(["dump", "--pid", str(sh.pid)], timeout=30)
    finally:
        sh.kill()
        sh.wait()
    assert rc == EXIT["EXIT_NOT_PYTHON"], err
    assert "not a CPython process" in assert_one_error_line(err, rc)
    rc, out, err = run_profiler(["dump"], timeout=30)
    assert rc == EXIT["EXIT_USAGE"]
    assert "--pid" in assert_one_error_line(err, rc)
    rc, out, err = run_profiler(["dump", "--pid", "1", "--rate", "5"], timeout=30)
    assert rc == EXIT["EXIT_USAGE"]
    assert "does not apply to 'dump'" in assert_one_error_line(err, rc)
