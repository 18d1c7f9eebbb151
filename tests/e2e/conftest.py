# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Shared helpers of the end-to-end tests.

The suite runs the real pybpf-prof binary (env PYBPF_PROF) as root against
real CPython processes (tests/e2e/workloads/) whose CPU profile is known by
construction, and decodes every profile it writes with an independent reader
(env PYBPF_PPROFCHECK: google's profile.Parse + CheckValid, printing JSON).

Interpreters: env PYBPF_TEST_PYTHONS (space-separated paths) if set and not
empty, else those of DEFAULT_PYTHONS that exist. Every test that takes the
`python` fixture runs once per interpreter.
"""
import ast
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
REPO = HERE.parent.parent
CONFIG_H = REPO / "user" / "config.h"

DEFAULT_PYTHONS = (
    "/usr/bin/python3.11",  # Debian: static libpython, non-PIE
    "/root/.pyenv/versions/3.11.7/bin/python3.11",  # pyenv: PIE + libpython3.11.so
)
DEBIAN_GO = "/usr/lib/go/bin/go"

# How long a profiler run may take beyond its --duration before the test
# gives up on it (start-up: BPF load, process scan, ELF reading).
PROFILER_GRACE_S = 60.0


# --------------------------------------------------------------------------
# Exit codes and version, read from the C header so there is one source.


def _read_exit_codes():
    text = CONFIG_H.read_text()
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(EXIT_[A-Z_]+)\s*=\s*(\d+)", text)}
    version = re.search(r'#define\s+PYBPF_VERSION\s+"([^"]+)"', text).group(1)
    return codes, version


EXIT, VERSION = _read_exit_codes()


# --------------------------------------------------------------------------
# Interpreters


class Interpreter:
    """One CPython executable and what the tests need to know about it."""

    def __init__(self, path):
        self.path = str(path)
        try:
            out = subprocess.run(
                [self.path, "-c",
                 "import sys, sysconfig; print(*sys.version_info[:3]); "
                 "print(int(any('libpython' in l for l in open('/proc/self/maps')))); "
                 "print(int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))"],
                capture_output=True, text=True, timeout=30, check=True).stdout.split("\n")
            with open(os.path.realpath(self.path), "rb") as f:
                hdr = f.read(18)
        except (OSError, subprocess.SubprocessError) as e:
            raise pytest.UsageError("interpreter %s cannot be run: %s" % (self.path, e))
        self.version = tuple(int(x) for x in out[0].split())
        self.shared = out[1].strip() == "1"  # runtime in a libpython*.so
        self.free_threaded = out[2].strip() == "1"  # a 3.13+ "t" build
        self.pie = hdr[:4] == b"\x7fELF" and hdr[16] == 3  # e_type ET_DYN
        self._module_lines = {}

    def module_firstlineno(self, script):
        """co_firstlineno of a workload's module code as this interpreter compiles it
        (1 from 3.10 on; before, the line of the first statement)."""
        path = str((WORKLOADS / script).resolve())
        if path not in self._module_lines:
            out = subprocess.run(
                [self.path, "-c", "import sys; f = sys.argv[1]; "
                 "print(compile(open(f).read(), f, 'exec').co_firstlineno)", path],
                capture_output=True, text=True, timeout=30, check=True).stdout
            self._module_lines[path] = int(out)
        return self._module_lines[path]

    @property
    def has_qualname(self):
        """co_qualname exists from 3.11 on; before it the profiler can only name co_name."""
        return self.version >= (3, 11)

    def func_name(self, qualname):
        """The function name the profile must show for `qualname`."""
        return qualname if self.has_qualname else qualname.rsplit(".", 1)[-1]

    @property
    def id(self):
        return "py%d.%d.%d%s-%s-%s" % (self.version + ("t" if self.free_threaded else "",
                                                       "shared" if self.shared else "static",
                                                       "pie" if self.pie else "nopie"))

    def __repr__(self):
        return "Interpreter(%s, %s)" % (self.path, ".".join(map(str, self.version)))


def _interpreter_paths():
    env = os.environ.get("PYBPF_TEST_PYTHONS", "").split()
    if env:
        return env
    return [p for p in DEFAULT_PYTHONS if os.path.exists(p)]


_INTERPRETERS = None


def interpreter_list():
    global _INTERPRETERS
    if _INTERPRETERS is None:
        _INTERPRETERS = [Interpreter(p) for p in _interpreter_paths()]
    return _INTERPRETERS


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        interps = interpreter_list()
        if interps:
            ids = []
            for i in interps:
                ids.append(i.id if i.id not in ids else "%s-%d" % (i.id, len(ids)))
            metafunc.parametrize("python", interps, ids=ids)
        else:
            metafunc.parametrize("python", [pytest.param(None, marks=pytest.mark.skip(
                reason="no CPython interpreter: set PYBPF_TEST_PYTHONS or install one of "
                + ", ".join(DEFAULT_PYTHONS)))], ids=["no-python"])


@pytest.fixture(scope="session")
def interpreters():
    return interpreter_list()


# --------------------------------------------------------------------------
# The binaries under test


@pytest.fixture(scope="session")
def prof_bin():
    """Path of pybpf-prof; skips when it is not configured."""
    path = os.environ.get("PYBPF_PROF")
    if not path:
        pytest.skip("PYBPF_PROF is not set (path of the pybpf-prof binary)")
    if not os.access(path, os.X_OK):
        pytest.skip("PYBPF_PROF=%s is not an executable file" % path)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def root_prof(prof_bin):
    """pybpf-prof for tests that really profile: they need root."""
    if os.geteuid() != 0:
        pytest.skip("end-to-end profiling needs root (BPF + perf events); running as uid %d"
                    % os.geteuid())
    return prof_bin


@pytest.fixture(scope="session")
def pprofcheck():
    path = os.environ.get("PYBPF_PPROFCHECK")
    if not path:
        pytest.skip("PYBPF_PPROFCHECK is not set (path of tests/pprofcheck built)")
    if not os.access(path, os.X_OK):
        pytest.fail("PYBPF_PPROFCHECK=%s does not exist or is not executable "
                    "(is Debian's golang-go + golang-github-google-pprof-dev installed?)" % path)
    return os.path.abspath(path)


# --------------------------------------------------------------------------
# Running the profiler


def _decode(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b


class Profiler:
    """pybpf-prof running in the background; killed and reaped on exit."""

    def __init__(self, binary, args, env=None, prefix=(), cwd=None):
        self.argv = list(prefix) + [binary] + [str(a) for a in args]
        self.env = env
        self.cwd = cwd
        self.proc = None
        self.stdout = self.stderr = ""
        self.started = None

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     cwd=self.cwd, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for the exit; returns (rc, stdout, stderr). Fails the test on timeout."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("pybpf-prof did not exit within %.0f s: %s\nstderr:\n%s"
                        % (timeout, " ".join(self.argv), self.stderr))
        self.stdout, self.stderr = _decode(out), _decode(err)
        return self.proc.returncode, self.stdout, self.stderr

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                out, err = self.proc.communicate(timeout=30)
                self.stdout, self.stderr = _decode(out), _decode(err)
            except (subprocess.TimeoutExpired, ValueError):
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False


def _timeout_for(args, default=PROFILER_GRACE_S):
    args = [str(a) for a in args]
    for i, a in enumerate(args):
        if a == "--duration" and i + 1 < len(args):
            try:
                return float(args[i + 1]) + PROFILER_GRACE_S
            except ValueError:
                pass
        if a.startswith("--duration="):
            try:
                return float(a.split("=", 1)[1]) + PROFILER_GRACE_S
            except ValueError:
                pass
    return default


@pytest.fixture
def run_profiler(prof_bin):
    """run_profiler(args, timeout=None, env=None, prefix=(), cwd=None) -> (rc, stdout, stderr).

    `prefix` goes before the binary (e.g. setpriv ...); the timeout defaults
    to --duration + PROFILER_GRACE_S.
    """

    def run(args, timeout=None, env=None, prefix=(), cwd=None):
        with Profiler(prof_bin, args, env=env, prefix=prefix, cwd=cwd) as p:
            return p.wait(timeout if timeout is not None else _timeout_for(args))

    return run


@pytest.fixture
def start_profiler(prof_bin):
    """start_profiler(args) -> running Profiler, killed at teardown."""
    started = []

    def start(args, env=None, prefix=(), cwd=None):
        p = Profiler(prof_bin, args, env=env, prefix=prefix, cwd=cwd).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def assert_ran_ok(rc, out, err, what="pybpf-prof"):
    assert rc == 0, "%s exited %s\nstdout:\n%s\nstderr:\n%s" % (what, rc, out, err)


def assert_one_error_line(err, rc=None):
    """The CLI reports an error as exactly one line on stderr starting 'pybpf-prof: '."""
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one error line on stderr (rc=%s), got:\n%s" % (rc, err)
    assert lines[0].startswith("pybpf-prof: "), "error line lacks 'pybpf-prof: ': %r" % lines[0]
    return lines[0]


# --------------------------------------------------------------------------
# Workloads


class Workload:
    """A workload script under one interpreter, started in its own session.

    `with Workload(python, "split.py", 60) as w:` returns once the workload
    printed "ready"; on exit the process is killed (if still running) and
    reaped. All output lines are collected by reader threads.
    """

    def __init__(self, python, script, *args, ready_timeout=60.0, wait_ready=True):
        self.python = python
        self.script = (WORKLOADS / script).resolve()
        self.args = [str(a) for a in args]
        self.ready_timeout = ready_timeout
        self.wait_ready = wait_ready
        self.proc = None
        self.lines = []
        self.err_lines = []
        self._cond = threading.Condition()
        self._readers = []
        self.comm = None

    @property
    def pid(self):
        return self.proc.pid

    def _reader(self, stream, sink):
        for raw in stream:
            with self._cond:
                sink.append(raw.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def start(self):
        self.proc = subprocess.Popen(
            [self.python.path, str(self.script)] + self.args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, start_new_session=True, cwd=str(WORKLOADS))
        for stream, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err_lines)):
            t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
            t.start()
            self._readers.append(t)
        if self.wait_ready:
            self.wait_for_line(r"^ready\b", self.ready_timeout)
        try:
            self.comm = Path("/proc/%d/comm" % self.pid).read_text().rstrip("\n")
        except OSError:
            self.comm = None
        return self

    def wait_for_line(self, pattern, timeout):
        """Wait for an output line matching pattern; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    pytest.fail("workload %s exited (rc=%s) before printing /%s/\nstdout:\n%s\n"
                                "stderr:\n%s" % (self.script.name, self.proc.returncode, pattern,
                                                 "\n".join(self.lines), "\n".join(self.err_lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail("workload %s printed no /%s/ within %.0f s\nstdout:\n%s\nstderr:\n%s"
                                % (self.script.name, pattern, timeout, "\n".join(self.lines),
                                   "\n".join(self.err_lines)))
                self._cond.wait(min(left, 0.2))

    def matching(self, pattern):
        rx = re.compile(pattern)
        with self._cond:
            return [m for m in (rx.search(l) for l in self.lines) if m]

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        rc = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=5)
        return rc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for t in self._readers:
                t.join(timeout=5)
            for s in (self.proc.stdout, self.proc.stderr):
                if s:
                    s.close()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False


def workload_path(script):
    return str((WORKLOADS / script).resolve())


def marker_line(script, marker):
    """Line number (1-based) of the only line of a workload carrying `# MARKER`."""
    hits = [n for n, line in enumerate((WORKLOADS / script).read_text().splitlines(), 1)
            if re.search(r"#\s*%s\b" % re.escape(marker), line)]
    assert len(hits) == 1, "%s: marker %s found on lines %s" % (script, marker, hits)
    return hits[0]


def def_line(script, funcname):
    """co_firstlineno of `def funcname(` in a workload (no decorators used there)."""
    hits = [n for n, line in enumerate((WORKLOADS / script).read_text().splitlines(), 1)
            if re.match(r"\s*def\s+%s\s*\(" % re.escape(funcname), line)]
    assert len(hits) == 1, "%s: def %s found on lines %s" % (script, funcname, hits)
    return hits[0]


def def_span(script, qualname):
    """(first, last) line of function `qualname` ("Class.method") in a workload."""
    tree = ast.parse((WORKLOADS / script).read_text())
    body, node = tree.body, None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and n.name == part), None)
        assert node is not None, "%s: no %s" % (script, qualname)
        body = node.body
    return node.lineno, node.end_lineno


# --------------------------------------------------------------------------
# Reading profiles


def load_profile(path, checker=None):
    """Decode a pprof file with PYBPF_PPROFCHECK; fails the test if it is rejected."""
    checker = checker or os.environ.get("PYBPF_PPROFCHECK")
    if not checker:
        pytest.skip("PYBPF_PPROFCHECK is not set")
    path = str(path)
    assert os.path.isfile(path), "profile %s was not written" % path
    with open(path, "rb") as f:
        magic = f.read(2)
    assert magic == b"\x1f\x8b", "profile %s is not gzip-compressed (starts %r)" % (path, magic)
    r = subprocess.run([checker, path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "pprofcheck rejected %s (rc=%d): %s%s" % (
        path, r.returncode, r.stdout, r.stderr)
    try:
        prof = json.loads(r.stdout)
    except ValueError as e:
        pytest.fail("pprofcheck printed no JSON for %s: %s\n%s" % (path, e, r.stdout[:2000]))
    prof["samples"] = prof.get("samples") or []
    for s in prof["samples"]:
        s["labels"] = s.get("labels") or {}
        s["num_labels"] = s.get("num_labels") or {}
        s["frames"] = s.get("frames") or []
    return prof


def go_pprof(args, path, timeout=120):
    """Output of Debian's `go tool pprof ARGS FILE` (a second, independent reader)."""
    if not os.access(DEBIAN_GO, os.X_OK):
        pytest.skip("%s missing: cannot cross-check with go tool pprof" % DEBIAN_GO)
    home = os.path.join(os.path.dirname(os.path.abspath(str(path))), ".pprof-home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home, PPROF_TMPDIR=home, PPROF_BINARY_PATH="/nonexistent",
               GOFLAGS="", GO111MODULE="off")
    r = subprocess.run([DEBIAN_GO, "tool", "pprof"] + list(args) + [str(path)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, "go tool pprof %s failed (rc=%d):\n%s%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


def num_label(sample, key):
    vals = (sample.get("num_labels") or {}).get(key)
    return vals[0] if vals and len(vals) == 1 else None


def str_label(sample, key):
    vals = (sample.get("labels") or {}).get(key)
    return vals[0] if vals and len(vals) == 1 else None


def samples_of(prof, pid):
    return [s for s in prof["samples"] if num_label(s, "pid") == pid]


def count(sample):
    return sample["values"][0]


def total(samples):
    return sum(count(s) for s in samples)


def frame_names(sample):
    """Function names, leaf first."""
    return [f.get("function", "") for f in sample.get("frames", [])]


def function_counts(samples):
    """Samples per function, inclusive: a sample counts once for each function on its stack."""
    c = collections.Counter()
    for s in samples:
        for name in set(frame_names(s)):
            c[name] += count(s)
    return c


def leaf_counts(samples):
    """Samples per leaf function (self time)."""
    c = collections.Counter()
    for s in samples:
        names = frame_names(s)
        if names:
            c[names[0]] += count(s)
    return c


def line_counts(samples, function):
    """Samples per line of `function` where it is the leaf frame."""
    c = collections.Counter()
    for s in samples:
        fr = s.get("frames", [])
        if fr and fr[0].get("function") == function:
            c[fr[0].get("line")] += count(s)
    return c


def frames_of(samples, function):
    """Every frame dict of `function` in the samples (one per stack occurrence)."""
    return [f for s in samples for f in s.get("frames", []) if f.get("function") == function]


def share(counts, a, b):
    """Share of a in a + b, and that sum."""
    n = counts.get(a, 0) + counts.get(b, 0)
    return (counts.get(a, 0) / n if n else 0.0), n


def describe(prof, pid=None, limit=15):
    """A short text summary of a profile, for assertion messages."""
    samples = samples_of(prof, pid) if pid is not None else prof["samples"]
    lines = ["%d samples (%d stacks) for pid %s; pids in profile: %s" % (
        total(samples), len(samples), pid,
        sorted({num_label(s, "pid") for s in prof["samples"]}))]
    for s in sorted(samples, key=count, reverse=True)[:limit]:
        lines.append("  %5d  tid=%s  %s" % (count(s), num_label(s, "tid"), ";".join(
            "%s@%s" % (f.get("function"), f.get("line")) for f in reversed(s.get("frames", [])))))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Folded output


FOLDED_LINE = re.compile(r"^(?P<stack>.+) (?P<count>[1-9][0-9]*)$")
FOLDED_PROC = re.compile(r"^(?P<comm>.+) \((?P<pid>[0-9]+)\)$|^pid (?P<pid2>[0-9]+)$")
FOLDED_FRAME = re.compile(r"^(?P<name>.+) \((?P<file>.+?)(?::(?P<line>[0-9]+))?\)$")


def parse_folded(path):
    """Parse collapsed stacks; asserts the syntax of every line.

    Returns a list of dicts: comm, pid, thread, frames (root first, each
    (name, file, line)), count.
    """
    data = Path(path).read_bytes()
    assert not data.startswith(b"\x1f\x8b"), "folded output %s is gzip-compressed" % path
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n"), "folded output does not end with a newline"
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = FOLDED_LINE.match(line)
        assert m, "%s:%d: not 'stack count': %r" % (path, n, line)
        parts = m.group("stack").split(";")
        assert len(parts) >= 3, "%s:%d: fewer than process;thread;frame: %r" % (path, n, line)
        pm = FOLDED_PROC.match(parts[0])
        assert pm, "%s:%d: process frame is not 'comm (pid)': %r" % (path, n, parts[0])
        assert parts[1], "%s:%d: empty thread frame" % (path, n)
        frames = []
        for p in parts[2:]:
            fm = FOLDED_FRAME.match(p)
            assert fm, "%s:%d: frame is not 'name (file:line)': %r" % (path, n, p)
            frames.append((fm.group("name"), fm.group("file"),
                           int(fm.group("line")) if fm.group("line") else 0))
        out.append({"comm": pm.group("comm"), "pid": int(pm.group("pid") or pm.group("pid2")),
                    "thread": parts[1], "frames": frames, "count": int(m.group("count"))})
    return out


# --------------------------------------------------------------------------
# /proc


def proc_status(pid):
    """Fields of /proc/PID/status as a dict, or None once the process is gone."""
    try:
        text = Path("/proc/%d/status" % pid).read_text()
    except OSError:
        return None
    return dict(l.split(":\t", 1) for l in text.splitlines() if ":\t" in l)


def dead_pid():
    """A pid that names no process right now (a reaped child's)."""
    for _ in range(20):
        p = subprocess.Popen(["true"])
        p.wait()
        if not os.path.exists("/proc/%d" % p.pid):
            return p.pid
    pytest.fail("could not find an unused pid")


@pytest.fixture
def world_writable_dir():
    """A fresh directory under /tmp that an unprivileged user can reach and write."""
    d = tempfile.mkdtemp(prefix="pybpf-e2e-", dir="/tmp")
    os.chmod(d, 0o1777)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def which(name):
    return shutil.which(name)
