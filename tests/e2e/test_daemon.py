# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Always-on mode: --interval with --output-dir, retention, an output
directory that is missing for a while, and --push to a receiver that is down
for a while.

The daemon's behaviour does not depend on the interpreter, so these tests
use one (the first of the list) and a CPU-bound workload (split.py) whose
functions must be named in every interval's profile.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import Workload, load_profile, samples_of, frame_names, total

NAME_RE = re.compile(r"^pybpf-[A-Za-z0-9.-]+-\d{8}T\d{6}Z-\d{4}\.pb\.gz$")


def our_files(d):
    return sorted(f for f in os.listdir(d) if NAME_RE.match(f))


def stop(p, sig=signal.SIGTERM, timeout=15):
    """Signal the daemon; it must exit 0 within `timeout` (the brief: a few seconds)."""
    t0 = time.monotonic()
    p.signal(sig)
    rc, out, err = p.wait(timeout)
    assert rc == 0, "daemon exited %s\n%s" % (rc, err)
    return time.monotonic() - t0, err


def heavy_samples(prof, pid, python):
    name = python.func_name("Split.heavy")
    return sum(s["values"][0] for s in samples_of(prof, pid) if name in frame_names(s))


def test_intervals_and_partial_last_on_sigterm(one_python, start_profiler, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with Workload(one_python, "split.py", 60) as w:
        p = start_profiler(["--all-pythons", "--interval", "2", "--output-dir", out])
        time.sleep(7.0)  # 3 whole intervals and a part of the 4th
        took, err = stop(p)
    assert took < 10, "SIGTERM took %.1f s" % took
    files = our_files(out)
    # 3 whole intervals + the partial one; scheduling slack may add or drop one.
    assert 3 <= len(files) <= 5, (files, err)
    assert not [f for f in os.listdir(out) if f not in files], "temporary files left behind"
    profs = [load_profile(out / f) for f in files]
    starts = [pr["time_nanos"] for pr in profs]
    assert starts == sorted(starts), "file names do not sort by time"
    for pr in profs[:-1]:
        assert 1.5e9 <= pr["duration_nanos"] <= 3.0e9, pr["duration_nanos"]
    assert profs[-1]["duration_nanos"] < 2.5e9
    # Every whole interval shows the workload's hot function; at 99 Hz a 2 s
    # interval of a busy process has ~200 samples, of which ~75 % in heavy:
    # 20 leaves room for a heavily loaded machine.
    for f, pr in zip(files[:-1], profs[:-1]):
        assert heavy_samples(pr, w.pid, one_python) >= 20, f
    assert len(re.findall(r"pybpf-prof: interval \d+: \d+ samples", err)) == len(files), err


def test_retention_keeps_newest(one_python, start_profiler, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    foreign = out / "pybpf-otherhost-20200101T000000Z-0000.pb.gz"
    foreign.write_bytes(b"not ours")
    with Workload(one_python, "split.py", 60):
        p = start_profiler(["--all-pythons", "--interval", "1", "--output-dir", out,
                            "--max-files", "3"])
        # Until 5 files were written (each name is seen before retention
        # removes it): a fixed 6.5 s gave 2 files at load 46.
        seen, deadline = set(), time.monotonic() + 90
        while len(seen) < 5 and time.monotonic() < deadline and p.proc.poll() is None:
            seen.update(f for f in our_files(out) if f != foreign.name)
            time.sleep(0.1)
        stop(p)
    assert len(seen) >= 5, "only %d files written in 90 s: %s" % (len(seen), sorted(seen))
    host_files = [f for f in our_files(out) if f != foreign.name]
    assert len(host_files) == 3, host_files
    assert foreign.read_bytes() == b"not ours", "retention touched another host's file"
    for f in host_files:
        load_profile(out / f)
    # The newest were kept: the last file covers the end of the run.
    assert max(load_profile(out / f)["time_nanos"] for f in host_files) == \
        load_profile(out / host_files[-1])["time_nanos"]


def test_missing_directory_is_retried(one_python, start_profiler, tmp_path):
    out = tmp_path / "later"
    with Workload(one_python, "split.py", 60):
        p = start_profiler(["--all-pythons", "--interval", "1", "--output-dir", out])
        time.sleep(2.5)
        assert p.proc.poll() is None, "the daemon died on a missing directory"
        out.mkdir()
        time.sleep(2.5)
        _, err = stop(p)
    assert "NOT written" in err, err
    files = our_files(out)
    assert len(files) >= 2, (files, err)
    for f in files:
        load_profile(out / f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(port, log):
    binary = os.environ.get("PYBPF_PUSH_RECEIVER")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("PYBPF_PUSH_RECEIVER not built")
    return subprocess.Popen([binary, "-listen", "127.0.0.1:%d" % port], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def received(log_path):
    entries = []
    with open(log_path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                entries.append(json.loads(line))
    return entries


def test_push_survives_a_receiver_that_is_down(one_python, start_profiler, tmp_path):
    port = free_port()
    log_path = tmp_path / "receiver.log"
    receiver = None
    try:
        with Workload(one_python, "split.py", 60), open(log_path, "w") as log:
            p = start_profiler(["--all-pythons", "--interval", "1", "--push",
                                "http://127.0.0.1:%d" % port, "--push-header",
                                "X-Scope-OrgID: tenant-1"])
            time.sleep(3.5)  # 3 intervals pushed into nothing: queued, retried
            receiver = start_receiver(port, log)
            time.sleep(5.0)  # backoff 1 s, 2 s, 4 s: every body gets a try after this
            _, err = stop(p)
        entries = received(log_path)
    finally:
        if receiver:
            receiver.terminate()
            receiver.wait(10)
    ok = [e for e in entries if e["status"] == 200]
    assert ok, "nothing delivered\n%s" % err
    assert all(e["valid"] for e in ok), entries
    split = [e for e in ok if urllib.parse.unquote(e["name"]).startswith("split{")]
    # 8 intervals of the busy workload were pushed; those from before the
    # receiver came up were delivered by retries (the first ones are in the
    # log after it started). Allow one to be lost in the last drain.
    assert len(split) >= 6, [e["name"] for e in ok]
    assert all(e["org_id"] == "tenant-1" for e in ok)
    assert all(e["until"] > e["from"] for e in ok)
    firsts = sorted(e["from"] for e in split)
    assert firsts[0] < firsts[-1]
    assert sum(e["samples"] for e in split) > 0
    assert "push:" in err
