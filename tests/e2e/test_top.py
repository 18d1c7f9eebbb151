# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`pybpf-prof top`, driven in a real terminal (a tmux pane of 80x24, the
size of an SSH session's default terminal): the hot function of a known
workload in the first rows within 3 s, the sort, since-start and filter
keys, `q` leaves with exit code 0 and the terminal as it was (main screen,
cursor shown), the same on SIGTERM; and plain periodic text when stdout is
not a terminal.
"""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import EXIT, Workload, which

SCRIPT = "dumpme.py"  # its spinner thread burns a CPU in spinner()


def tmux(*args, check=True):
    r = subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, "tmux %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


class Pane:
    """pybpf-prof top in a detached tmux session of its own."""

    def __init__(self, prof_bin, args, cols=80, rows=24):
        self.name = "pybpf-top-%s" % uuid.uuid4().hex[:8]
        cmd = " ".join([prof_bin, "top"] + [str(a) for a in args])
        tmux("new-session", "-d", "-s", self.name, "-x", str(cols), "-y", str(rows),
             "sh -c '%s; echo EXIT=$?; sleep 600'" % cmd)
        self.started = time.monotonic()

    def screen(self):
        return tmux("capture-pane", "-p", "-t", self.name)

    def lines(self):
        return self.screen().split("\n")

    def keys(self, *keys):
        tmux("send-keys", "-t", self.name, *keys)

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if time.monotonic() > deadline:
                pytest.fail("top: no %s within %.0f s; screen:\n%s" % (what, timeout, s))
            time.sleep(0.1)

    def pane_pid(self):
        return int(tmux("display", "-p", "-t", self.name, "#{pane_pid}").strip())

    def flags(self):
        """(alternate screen on, cursor visible)."""
        a, c = tmux("display", "-p", "-t", self.name, "#{alternate_on} #{cursor_flag}").split()
        return a == "1", c == "1"

    def close(self):
        tmux("kill-session", "-t", self.name, check=False)


@pytest.fixture
def pane(prof_bin):
    if not which("tmux"):
        pytest.skip("tmux is not installed (tools/setup.sh installs it)")
    made = []

    def start(args, **kw):
        p = Pane(prof_bin, args, **kw)
        made.append(p)
        return p

    yield start
    for p in made:
        p.close()


def table(screen):
    """Rows of the table: lines after the column header."""
    lines = screen.split("\n")
    for i, l in enumerate(lines):
        if "FUNCTION (FILE:LINE)" in l:
            return [r for r in lines[i + 1:] if r.strip()]
    return []


def test_top_hot_function_keys_and_quit(pane, interpreters):
    with Workload(interpreters[0], SCRIPT) as w:
        tag = ":%d" % w.pid
        p = pane([])
        # The spinner, the hottest function on the node's Pythons but for
        # other tests' workloads, shows in the first rows within 3 s.
        s = p.wait(lambda s: any("spinner (dumpme.py:" in r and tag in r
                                 for r in table(s)[:8]), 3.0 + 2.0, "spinner in the first rows")
        took = time.monotonic() - p.started
        assert took <= 5.0
        lines = s.split("\n")
        assert lines[0].startswith("pybpf-prof top (cpu)"), s
        assert re.search(r"\d+ samples/s +\d+ processes +\d+ threads +\d+ drops", lines[0]), s
        assert all(len(l) <= 80 for l in lines), s
        assert len(lines) <= 25

        # Filter: only the workload's rows.
        p.keys("f")
        p.wait(lambda s: "filter (process, service or pid" in s, 3, "filter prompt")
        p.keys(str(w.pid), "Enter")
        s = p.wait(lambda s: "filter: %d" % w.pid in s and table(s) and all(
            tag in r for r in table(s)), 5, "filtered table")
        # Sort by total: the outermost frames (threading bootstrap) first.
        p.keys("t")
        s = p.wait(lambda s: "by total" in s and table(s) and "_bootstrap" in table(s)[0],
                   5, "total sort")
        p.keys("o")
        s = p.wait(lambda s: "by own" in s and table(s) and (
            "spinner" in table(s)[0] or "compressor" in table(s)[0]), 5, "own sort")
        p.keys("a")
        p.wait(lambda s: "since start" in s, 3, "since start")
        p.keys("a")
        p.wait(lambda s: "last second" in s, 3, "last second")
        p.keys("p")
        p.wait(lambda s: "PAUSED" in s, 3, "pause")
        p.keys("p")
        p.wait(lambda s: "PAUSED" not in s, 3, "resume")
        # Clear the filter: other processes come back.
        p.keys("f", "Enter")
        p.wait(lambda s: "filter:" not in s.split("\n")[1], 3, "filter cleared")
        p.keys("q")
        s = p.wait(lambda s: "EXIT=" in s, 10, "exit")
        assert "EXIT=0" in s, s
        alt, cursor = p.flags()
        assert not alt and cursor, "terminal not restored: alternate=%s cursor=%s" % (alt, cursor)


def test_top_sigterm_restores_terminal(pane, interpreters, prof_bin):
    with Workload(interpreters[0], SCRIPT) as w:
        p = pane(["--pid", w.pid])
        p.wait(lambda s: any("spinner" in r for r in table(s)), 10, "spinner")
        top = [int(x) for x in subprocess.run(
            ["pgrep", "-f", "-P", str(p.pane_pid()), "pybpf-prof top"],
            capture_output=True, text=True).stdout.split()]
        assert len(top) == 1, top
        os.kill(top[0], signal.SIGTERM)
        s = p.wait(lambda s: "EXIT=" in s, 10, "exit")
        assert "EXIT=0" in s, s
        alt, cursor = p.flags()
        assert not alt and cursor


def test_top_resize(pane, interpreters):
    with Workload(interpreters[0], SCRIPT) as w:
        p = pane(["--pid", w.pid], cols=120, rows=40)
        p.wait(lambda s: any("spinner" in r for r in table(s)), 10, "spinner")
        tmux("resize-window", "-t", p.name, "-x", "80", "-y", "24")
        s = p.wait(lambda s: len(s.rstrip("\n").split("\n")) <= 24 and any(
            "spinner" in r for r in table(s)), 5, "redraw at 80x24")
        assert all(len(l) <= 80 for l in s.split("\n"))
        p.keys("q")
        assert "EXIT=0" in p.wait(lambda s: "EXIT=" in s, 10, "exit")


def test_top_not_a_terminal(run_profiler, interpreters):
    with Workload(interpreters[0], SCRIPT) as w:
        rc, out, err = run_profiler(["top", "--pid", w.pid, "--duration", "4"], timeout=60)
    assert rc == 0, err
    assert "\x1b" not in out, "escape sequences in plain output"
    frames = [f for f in out.split("pybpf-prof top (cpu)") if f.strip()]
    assert len(frames) >= 3, out
    assert any("spinner (dumpme.py:" in f for f in frames), out
    assert "FUNCTION (FILE:LINE)" in frames[-1]


def test_top_bad_input(run_profiler):
    rc, out, err = run_profiler(["top", "--pid", "999999999"], timeout=30)
    assert rc == EXIT["EXIT_USAGE"]
    rc, out, err = run_profiler(["top", "--json"], timeout=30)
    assert rc == EXIT["EXIT_USAGE"] and "does not apply to 'top'" in err
