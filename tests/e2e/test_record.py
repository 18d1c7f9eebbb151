# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Process trees: `record -- PROGRAM` and `--pid P --subprocesses`.

- record -- python3 forker.py: the program and the two children it forks
  (no exec) are all in the profile from their start, each sample labelled
  with its parent (ppid); the run ends when the program exits and
  pybpf-prof exits with the program's exit code.
- --pid P --subprocesses: P's children started later (forked, or exec'd as a
  new interpreter) are profiled; an unrelated Python process on the node is
  not.
- A program that does not exist or cannot be run: one line, 127 / 126.
"""
import os
import signal
import time

import pytest

from conftest import (
    EXIT, LiveProfiler, Workload, assert_one_error_line, leaf_counts, load_profile, num_label,
    samples_of, task_cpu_s, workload_path,
)


@pytest.mark.representative
def test_record_program_and_forked_children(python, run_profiler, tmp_path):
    out = tmp_path / "rec.pb.gz"
    rc, stdout, err = run_profiler(
        ["record", "-o", out, "--", python.path, workload_path("forker.py"), "1.5", "3"],
        timeout=300)
    assert rc == 3, "exit %s, want the program's 3\nstderr:\n%s" % (rc, err)
    assert "exited with code 3" in err, err
    prof = load_profile(out)
    children = [int(l.split()[2]) for l in stdout.splitlines() if l.startswith("child ")]
    assert len(children) == 2, stdout
    pids = {num_label(s, "pid") for s in prof["samples"]}
    parents = pids - set(children)
    assert len(parents) == 1, "want one parent besides the children %s: %s" % (children, pids)
    parent = parents.pop()
    assert leaf_counts(samples_of(prof, parent)).get("burn", 0) > 0, leaf_counts(
        samples_of(prof, parent))
    for c in children:
        got = samples_of(prof, c)
        assert got, "child %d not in the profile (pids %s)" % (c, pids)
        assert all(num_label(s, "ppid") == parent for s in got)
        assert any("child_work" in [f.get("function") for f in s["frames"]] for s in got)
    assert any("parent_work" in [f.get("function") for f in s["frames"]]
               for s in samples_of(prof, parent))
    # The program's parent is pybpf-prof itself.
    assert all(num_label(s, "ppid") not in (None, 0) for s in samples_of(prof, parent))


def test_record_exit_codes(run_profiler, interpreters, tmp_path):
    py = interpreters[0]
    rc, _, err = run_profiler(["record", "-o", tmp_path / "a.pb.gz", "--", py.path, "-c",
                               "import sys; sys.exit(5)"], timeout=120)
    assert rc == 5, err
    # Killed by a signal: 128 + N, as a shell says.
    rc, _, err = run_profiler(["record", "-o", tmp_path / "b.pb.gz", "--", py.path, "-c",
                               "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
                              timeout=120)
    assert rc == 128 + 15, err
    assert (tmp_path / "b.pb.gz").exists()


def test_record_bad_program(run_profiler, tmp_path):
    rc, out, err = run_profiler(["record", "-o", tmp_path / "x.pb.gz", "--",
                                 "/nonexistent/prog"], timeout=60)
    assert rc == 127, err
    assert "command not found" in assert_one_error_line(err, rc)
    rc, out, err = run_profiler(["record", "--", "no-such-program-pybpf"], timeout=60)
    assert rc == 127
    assert "no-such-program-pybpf: command not found" in assert_one_error_line(err, rc)
    noexec = tmp_path / "noexec.sh"
    noexec.write_text("#!/bin/sh\n")
    noexec.chmod(0o644)
    rc, out, err = run_profiler(["record", "--", str(noexec)], timeout=60)
    assert rc == 126
    assert "not executable" in assert_one_error_line(err, rc)
    assert not (tmp_path / "x.pb.gz").exists()
    rc, out, err = run_profiler(["record", "--all-pythons", "--", "python3"], timeout=60)
    assert rc == EXIT["EXIT_USAGE"]
    assert_one_error_line(err, rc)


@pytest.mark.representative
def test_subprocesses(python, prof_bin, tmp_path):
    out = tmp_path / "tree.pb.gz"
    with Workload(python, "tree.py") as parent, Workload(python, "dumpme.py") as stranger:
        with LiveProfiler(prof_bin, ["--pid", parent.pid, "--subprocesses", "-o", out,
                                     "-v"]) as p:
            p.wait_for_stderr(r"sampling at", 60)
            # The children start after sampling began.
            os.kill(parent.pid, signal.SIGUSR1)
            for kind in ("fork", "exec"):
                parent.wait_for_line(r"^child %s (\d+)$" % kind, 60)
            kids = {int(m.group(2)): m.group(1)
                    for m in parent.matching(r"^child (\w+) (\d+)$")}
            assert len(kids) == 3, parent.lines
            # Each burns a CPU; give each 1 s of CPU time at least.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and any(
                    (task_cpu_s(k) or 0) < 1.5 for k in kids):
                time.sleep(0.2)
            p.signal(signal.SIGINT)
            rc, _, err = p.wait(120)
        assert rc == 0, err
        prof = load_profile(out)
        pids = {num_label(s, "pid") for s in prof["samples"]}
        for k, kind in kids.items():
            assert k in pids, "%s child %d not profiled; pids %s\n%s" % (kind, k, pids, err)
            fn = "exec_child" if kind == "exec" else "forked_child"
            assert leaf_counts(samples_of(prof, k)).get(fn, 0) > 0, leaf_counts(
                samples_of(prof, k))
            assert all(num_label(s, "ppid") == parent.pid for s in samples_of(prof, k))
        assert stranger.pid not in pids, "an unrelated Python process was profiled"
        assert pids <= set(kids) | {parent.pid}, pids
