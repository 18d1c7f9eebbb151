# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Shared helpers of the end-to-end tests.

The suite runs the real pybpf-prof binary (env PYBPF_PROF) as root against
real CPython processes (tests/e2e/workloads/) whose CPU profile is known by
construction, and decodes every profile it writes with an independent reader
(env PYBPF_PPROFCHECK: google's profile.Parse + CheckValid, printing JSON).

Interpreters: env PYBPF_TEST_PYTHONS (space-separated paths) if set and not
empty, else every interpreter on the machine: the files matching
DEFAULT_PYTHON_GLOBS that run and say they are CPython 3.8 or newer, one per
real path. Every test that takes the `python` fixture runs once per
interpreter.
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

# A table of outcomes per interpreter at the end of the run (outcomes.py).
pytest_plugins = ["outcomes"]

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
REPO = HERE.parent.parent
CONFIG_H = REPO / "user" / "config.h"

# Where interpreters are looked for when PYBPF_TEST_PYTHONS is not set: the
# distribution's (Debian: static libpython, non-PIE), pyenv's (PIE + shared
# libpython) and local builds under /opt/pythons (static PIE, shared,
# free-threaded). Globs that match nothing are fine; so is a machine with
# only some of them.
DEFAULT_PYTHON_GLOBS = (
    "/usr/bin/python3.[0-9]*",
    "/root/.pyenv/versions/3.*/bin/python3",
    "/opt/pythons/*/bin/python3",
)
MIN_VERSION = (3, 8)  # the oldest version the profiler supports
DEBIAN_GO = "/usr/lib/go/bin/go"

# How long a profiler run may take beyond its --duration before the test
# gives up on it (start-up: BPF load, process scan, ELF reading).
PROFILER_GRACE_S = 60.0

# Shell for a container's root at $R (in a mount namespace of its own): the
# host's /usr, /dev and library directories bound in, then the switch to it.
CONTAINER_MOUNTS_SH = r"""
mount --bind "$R" "$R"
mount --rbind /usr "$R/usr"
mount --rbind /dev "$R/dev"
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
    if [ -d "$d" ] && [ ! -L "$d" ]; then mkdir -p "$R$d"; mount --rbind "$d" "$R$d"; fi
done
"""
CONTAINER_PIVOT_SH = r"""
cd "$R"
pivot_root . .oldroot
cd /
mount -t proc proc /proc
umount -l /.oldroot
"""


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
                 "print(int(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))); "
                 "print(int(hasattr(sys, 'gettotalrefcount')))"],
                capture_output=True, text=True, timeout=30, check=True).stdout.split("\n")
            with open(os.path.realpath(self.path), "rb") as f:
                hdr = f.read(18)
        except (OSError, subprocess.SubprocessError) as e:
            raise pytest.UsageError("interpreter %s cannot be run: %s" % (self.path, e))
        self.version = tuple(int(x) for x in out[0].split())
        self.shared = out[1].strip() == "1"  # runtime in a libpython*.so
        self.free_threaded = out[2].strip() == "1"  # a 3.13+ "t" build
        # A --with-pydebug build (Debian's python3.11d): the release layout
        # (3.8 on), an allocator that fills every block it hands out or frees.
        self.debug = out[3].strip() == "1"
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
    def packaging(self):
        """How this interpreter is built: static/shared libpython, PIE or not, free-threaded."""
        return "%s-%s%s" % ("shared" if self.shared else "static", "pie" if self.pie else "nopie",
                            "-freethreaded" if self.free_threaded else "")

    @property
    def version_str(self):
        return "%d.%d.%d%s" % (self.version + ("t" if self.free_threaded else "",))

    @property
    def real_path(self):
        return os.path.realpath(self.path)

    @property
    def id(self):
        return "py%d.%d.%d%s%s-%s-%s" % (self.version + ("t" if self.free_threaded else "",
                                                         "d" if self.debug else "",
                                                         "shared" if self.shared else "static",
                                                         "pie" if self.pie else "nopie"))

    def __repr__(self):
        return "Interpreter(%s, %s)" % (self.path, ".".join(map(str, self.version)))


_PY_NAME = re.compile(r"^python3(\.[0-9]+[a-z]*)?$")  # not python3.11-config, python3.11-gdb.py


def _version_key(path):
    return [int(x) if x.isdigit() else x for x in re.split(r"([0-9]+)", path)]


def _probe_version(path):
    """sys.version_info[:2] of a CPython executable, or None if it is not one that runs."""
    try:
        r = subprocess.run([path, "-c", "import sys, platform; "
                            "print(platform.python_implementation(), *sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    out = r.stdout.split()
    if r.returncode != 0 or len(out) != 3 or out[0] != "CPython":
        return None
    return int(out[1]), int(out[2])


def discover_interpreters(globs=DEFAULT_PYTHON_GLOBS, min_version=MIN_VERSION):
    """Every CPython >= min_version matching `globs`, in glob order (within a glob by
    version), one path per real path (pyenv's python3 -> python3.12 is listed once)."""
    import glob
    found, seen = [], set()
    for pattern in globs:
        for path in sorted(glob.glob(pattern), key=_version_key):
            if not _PY_NAME.match(os.path.basename(path)) or not os.path.isfile(path) \
                    or not os.access(path, os.X_OK):
                continue
            real = os.path.realpath(path)
            if real in seen:
                continue
            version = _probe_version(path)
            if version is None or version < min_version:
                continue
            seen.add(real)
            found.append(path)
    return found


def _interpreter_paths():
    env = os.environ.get("PYBPF_TEST_PYTHONS", "").split()
    if env:
        return env
    return discover_interpreters()


_INTERPRETERS = None


def interpreter_list():
    global _INTERPRETERS
    if _INTERPRETERS is None:
        _INTERPRETERS = [Interpreter(p) for p in _interpreter_paths()]
    return _INTERPRETERS


def representative(interps):
    """A few interpreters that between them cover every way the profiler reads
    CPython: the oldest (PyFrameObject chain), the distribution's (static,
    non-PIE), a shared libpython, the newest default build and the newest
    free-threaded one (debug offsets, tagged references, per-thread bytecode).
    Tests of a feature that does not depend on the interpreter's layout beyond
    that (marked `@pytest.mark.representative`) run on these only, unless
    PYBPF_TEST_ALL_PYTHONS=1; version-sensitive tests run on every interpreter."""
    if os.environ.get("PYBPF_TEST_ALL_PYTHONS") == "1" or len(interps) <= 4:
        return interps
    picks = [min(interps, key=lambda i: i.version)]
    picks += [i for i in interps if i.path.startswith("/usr/bin/")][:1]
    default = [i for i in interps if not i.free_threaded]
    threaded = [i for i in interps if i.free_threaded]
    if default:  # the newest, a static build if there is one
        picks.append(max(default, key=lambda i: (i.version, not i.shared)))
    shared = [i for i in interps if i.shared and i not in picks]
    if shared and not any(i.shared for i in picks):
        picks.append(max(shared, key=lambda i: i.version))
    if threaded:
        picks.append(max(threaded, key=lambda i: i.version))
    chosen = {i.path for i in picks}
    return [i for i in interps if i.path in chosen]


# A debug build (python3.11d) has its release build's layout; it differs in
# what runs in the target (the debug allocator, more C frames), so it runs
# the suites that read a target's stacks, not those about the agent's
# handling of processes (churn, packaging, layouts), unless chosen by name
# in PYBPF_TEST_PYTHONS.
DEBUG_BUILD_MODULES = ("test_versions", "test_workloads", "test_native", "test_dump", "test_wall")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "representative: run on conftest.representative() interpreters only "
        "(PYBPF_TEST_ALL_PYTHONS=1: on every one)")


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        interps = interpreter_list()
        if interps and metafunc.definition.get_closest_marker("representative"):
            interps = representative(interps)
        if metafunc.module.__name__ not in DEBUG_BUILD_MODULES:
            named = os.environ.get("PYBPF_TEST_PYTHONS", "").split()
            interps = [i for i in interps if not i.debug or named]
        if interps:
            ids = []
            for i in interps:
                ids.append(i.id if i.id not in ids else "%s-%d" % (i.id, len(ids)))
            metafunc.parametrize("python", interps, ids=ids)
        else:
            metafunc.parametrize("python", [pytest.param(None, marks=pytest.mark.skip(
                reason="no CPython >= %d.%d interpreter: set PYBPF_TEST_PYTHONS or install one "
                "matching %s" % (MIN_VERSION + (", ".join(DEFAULT_PYTHON_GLOBS),))))],
                ids=["no-python"])


@pytest.fixture(scope="session")
def interpreters():
    return interpreter_list()


def selected_interpreters(request, fixturename):
    """The interpreters of the collected tests that use `fixturename` (so that a
    session fixture that runs every interpreter at once in one profile runs only
    those a -k selection kept), in interpreter_list() order."""
    wanted = set()
    for item in request.session.items:
        if fixturename in getattr(item, "fixturenames", ()) and hasattr(item, "callspec"):
            py = item.callspec.params.get("python")
            if py is not None:
                wanted.add(py.path)
    return [py for py in interpreter_list() if py.path in wanted] or interpreter_list()


# --------------------------------------------------------------------------
# The binaries under test


@pytest.fixture(scope="module")
def one_python():
    """The first interpreter, for tests whose subject does not depend on it."""
    pythons = interpreter_list()
    if not pythons:
        pytest.skip("no interpreter")
    return pythons[0]


# The agent's two accountings. Fault and hostile cases run in both: wall
# mode has its own BPF programs (sched_switch, open intervals) and its own
# userspace (thread snapshots, task states). `mode` is the arguments to add.
MODES = {"cpu": [], "wall": ["--mode", "wall"]}


@pytest.fixture(params=sorted(MODES))
def mode(request):
    return list(MODES[request.param])


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


def _kill_group(proc):
    """SIGKILL the session of a Popen started with start_new_session, if it still runs."""
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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
        _kill_group(self.proc)
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


class LiveProfiler(Profiler):
    """A Profiler whose stderr is read while it runs, so a test can wait for a
    line (with -v: "pybpf-prof: sampling at N Hz" once it samples)."""

    def start(self):
        super().start()
        self._cond = threading.Condition()
        self._err, self._out = [], []
        self._readers = []
        for stream, sink in ((self.proc.stderr, self._err), (self.proc.stdout, self._out)):
            t = threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            t.start()
            self._readers.append(t)
        return self

    def _read(self, stream, sink):
        for raw in stream:
            with self._cond:
                sink.append(_decode(raw))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_stderr(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._err:
                    if rx.search(line):
                        return line
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    pytest.fail("pybpf-prof exited (rc=%s) before printing /%s/:\n%s"
                                % (self.proc.returncode, pattern, "".join(self._err)))
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail("pybpf-prof printed no /%s/ within %.0f s:\n%s"
                                % (pattern, timeout, "".join(self._err)))
                self._cond.wait(min(left, 0.2))

    def _collect(self):
        for t in self._readers:
            t.join(timeout=10)
        with self._cond:
            self.stdout, self.stderr = "".join(self._out), "".join(self._err)

    def wait(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("pybpf-prof did not exit within %.0f s: %s\nstderr:\n%s"
                        % (timeout, " ".join(self.argv), self.stderr))
        self._collect()
        return self.proc.returncode, self.stdout, self.stderr

    def kill(self):
        _kill_group(self.proc)
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            self._collect()


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


# How much longer than its CPU budget a run_for_cpu may take in wall time
# (the targets share the machine) before it ends with what it has.
CPU_BUDGET_WALL_FACTOR = 8.0


def task_cpu_s(task):
    """CPU seconds used so far by a task: a pid (the whole process) or a
    (pid, tid) pair (one thread); None once it is gone."""
    if isinstance(task, tuple):
        return proc_cpu_s(task[1], "/proc/%d/task/%d/stat" % task)
    return proc_cpu_s(task)


def run_for_cpu(prof_bin, args, tasks, cpu_seconds, env=None, prefix=(), cwd=None):
    """Run pybpf-prof (`args`, no --duration) until every task in `tasks`
    (see task_cpu_s) has used `cpu_seconds` of CPU since it began sampling,
    then stop it with SIGINT, which writes the profile. Returns (rc, stdout,
    stderr, used): used maps each task to the CPU seconds it had in the window.

    Sample counts then follow the CPU the targets received, not how busy the
    rest of the machine is (cpu-clock events fire only while a target runs),
    so a test's minimum can be a fixed fraction of cpu_seconds * rate. A task
    that is gone counts as done; the run ends anyway after
    CPU_BUDGET_WALL_FACTOR * cpu_seconds * max(1, tasks per CPU) + 30 s of
    wall time.
    """
    args = [str(a) for a in args]
    assert "--duration" not in args, "run_for_cpu sets the length itself"
    if "-v" not in args:
        args.append("-v")
    used = {t: 0.0 for t in tasks}
    p = LiveProfiler(prof_bin, args, env=env, prefix=prefix, cwd=cwd).start()
    try:
        p.wait_for_stderr(r"sampling at", PROFILER_GRACE_S)
        base = {t: task_cpu_s(t) for t in tasks}
        share = max(1.0, len(tasks) / (os.cpu_count() or 1))  # tasks per CPU
        deadline = time.monotonic() + CPU_BUDGET_WALL_FACTOR * cpu_seconds * share + 30
        while time.monotonic() < deadline and p.proc.poll() is None:
            done = True
            for t in tasks:
                now = task_cpu_s(t)
                if now is not None and base[t] is not None:
                    used[t] = now - base[t]
                    done = done and used[t] >= cpu_seconds
            if done:
                break
            time.sleep(0.05)
        if p.proc.poll() is None:
            p.signal(signal.SIGINT)
        rc, out, err = p.wait(PROFILER_GRACE_S)
    finally:
        p.kill()
    return rc, out, err, used


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

    def __init__(self, python, script, *args, ready_timeout=60.0, wait_ready=True, argv=None,
                 env=None, cwd=None, ready=r"^ready\b", exits=(0,), may_stop=False):
        """`argv` replaces [python.path, script, *args] (a stripped copy, a venv, an
        embedding program, a container...); `env` replaces the environment.

        The target must come out unharmed (see TargetWatch): if it ends by
        itself, with a status in `exits` (None: any), never seen stopped
        (unless `may_stop`: the test stops it itself), and with no crash or
        traceback on its stderr."""
        self.exits = exits
        self.may_stop = may_stop
        self.python = python
        self.script = (WORKLOADS / script).resolve()
        self.args = [str(a) for a in args]
        self.argv = [str(a) for a in argv] if argv is not None else None
        self.env = env
        self.cwd = str(cwd) if cwd is not None else str(WORKLOADS)
        self.ready = ready
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
        argv = self.argv if self.argv is not None else [self.python.path, str(self.script)] + self.args
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, start_new_session=True, cwd=self.cwd, env=self.env,
            errors="replace")
        for stream, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err_lines)):
            t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
            t.start()
            self._readers.append(t)
        TARGET_WATCH.add(self.proc.pid)
        if self.wait_ready:
            self.wait_for_line(self.ready, self.ready_timeout)
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

    def stop(self, check=True):
        """Kill the target if it still runs and reap it; then, if `check`,
        fail the test if it was harmed (harms())."""
        if not self.proc:
            return
        ended = self.proc.poll()
        _kill_group(self.proc)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for t in self._readers:
            t.join(timeout=5)
        for s in (self.proc.stdout, self.proc.stderr):
            if s:
                s.close()
        stopped = TARGET_WATCH.remove(self.proc.pid)
        if check:
            harms = target_harms(self, ended, stopped)
            if harms:
                pytest.fail("target %s (pid %d) harmed: %s\nstderr:\n%s" % (
                    self.script.name if self.argv is None else self.argv, self.proc.pid,
                    "; ".join(harms), "\n".join(self.err_lines[-40:])))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop(check=False)
            raise

    def __exit__(self, exc, *rest):
        self.stop(check=exc is None)
        return False


# --------------------------------------------------------------------------
# Targets unharmed
#
# Profiling must never stop, crash or change a target. Every Workload is
# watched while it runs, and judged when the test is done with it.

# What a harmed CPython writes on stderr.
HARM_LINES = re.compile(r"^(Fatal Python error|Traceback \(most recent call last\)|"
                        r".*Segmentation fault|.*core dumped|Aborted)")


class TargetWatch:
    """One daemon thread that reads, every 50 ms, the state of each thread
    of every watched process and of everything it started (a container's
    processes), and keeps each (pid, tid, state) seen stopped: t (traced)
    or T (stopped by a signal)."""

    PERIOD_S = 0.05
    KEEP = 16  # observations kept per watched process

    def __init__(self):
        self._lock = threading.Lock()
        self._seen = {}  # watched pid -> [(pid, tid, state)]
        self._thread = None

    def add(self, pid):
        with self._lock:
            self._seen[pid] = []
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="target-watch",
                                                daemon=True)
                self._thread.start()

    def remove(self, pid):
        """Stop watching pid; what was seen stopped meanwhile."""
        with self._lock:
            return self._seen.pop(pid, [])

    @staticmethod
    def stopped_threads(pid):
        out = []
        for p in [pid] + descendants(pid):
            try:
                tids = os.listdir("/proc/%d/task" % p)
            except OSError:
                continue
            for t in tids:
                try:
                    with open("/proc/%d/task/%s/stat" % (p, t)) as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                if state in ("t", "T"):
                    out.append((p, int(t), state))
        return out

    def _run(self):
        while True:
            with self._lock:
                pids = list(self._seen)
            for pid in pids:
                hits = self.stopped_threads(pid)
                if hits:
                    with self._lock:
                        seen = self._seen.get(pid)
                        if seen is not None and len(seen) < self.KEEP:
                            seen.extend(hits[:self.KEEP - len(seen)])
            time.sleep(self.PERIOD_S)


TARGET_WATCH = TargetWatch()


def target_harms(w, ended, stopped):
    """What happened to Workload w that profiling must never do: `ended` is
    its exit status if it had ended before the test stopped it (else None),
    `stopped` what TargetWatch saw."""
    harms = []
    if ended is not None and w.exits is not None and ended not in w.exits:
        harms.append("it ended by itself with status %s (expected %s)" % (
            ended, " or ".join(map(str, w.exits))))
    if stopped and not w.may_stop:
        harms.append("it was seen stopped: %s" % ", ".join(
            "pid %d tid %d state %s" % x for x in stopped))
    bad = [l for l in w.err_lines if HARM_LINES.match(l)]
    if bad:
        harms.append("its stderr says %r" % bad[0])
    return harms


def c_shared_lib(tmp_path_factory, source, flags=()):
    """workloads/SOURCE (C) built into a shared object for ctypes; skips
    without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler")
    stem = Path(source).stem
    lib = tmp_path_factory.mktemp(stem) / (stem + ".so")
    subprocess.run([cc, "-O1", "-shared", "-fPIC"] + list(flags) + ["-o", str(lib),
                   str(WORKLOADS / source)], check=True)
    return lib


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
            if re.match(r"\s*(async\s+)?def\s+%s\s*\(" % re.escape(funcname), line)]
    assert len(hits) == 1, "%s: def %s found on lines %s" % (script, funcname, hits)
    return hits[0]


def def_span(script, qualname):
    """(first, last) line of function `qualname` ("Class.method") in a workload."""
    tree = ast.parse((WORKLOADS / script).read_text())
    body, node = tree.body, None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part), None)
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
    # The profile's main mapping is marked symbolized: nothing to look up, no warning.
    assert "Main binary filename not available" not in r.stderr, r.stderr
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


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid, stat=None):
    """CPU time (user + system, every thread) a live process has used, in
    seconds, from /proc/PID/stat (or the `stat` file given); None once it is
    gone."""
    try:
        text = Path(stat or "/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


# --------------------------------------------------------------------------
# Checks shared by several test files

UNNAMED = re.compile(r"^$|^\?$|unknown", re.I)
PSEUDO = re.compile(r"^\[.*\]$")  # e.g. "[no Python frames]": a sample outside Python code


def assert_all_named(samples, info, max_pseudo=0.05):
    """Every Python frame has a real name and a file; pseudo-frames are rare and alone."""
    bad, pseudo = [], 0
    for s in samples:
        fr = s["frames"]
        if len(fr) == 1 and PSEUDO.match(fr[0].get("function", "")) \
                and not UNNAMED.search(fr[0]["function"]):
            pseudo += s["values"][0]
            continue
        bad += [f for f in fr if UNNAMED.search(f.get("function", ""))
                or PSEUDO.match(f.get("function", "")) or not f.get("filename")]
    assert not bad, "%d unnamed frames, e.g. %s\n%s" % (len(bad), bad[:3], info)
    assert pseudo <= max_pseudo * max(total(samples), 1), (
        "%d of %d samples have no Python frames\n%s" % (pseudo, total(samples), info))


def python_samples(samples):
    """Samples with Python frames (not a lone pseudo-frame)."""
    return [s for s in samples if not (len(s["frames"]) == 1
                                       and PSEUDO.match(s["frames"][0].get("function", "")))]


def share_tolerance(n, p, floor=0.08, z=4.5):
    """How far a measured share of n samples may be from the true share p.

    Samples land on the two methods like draws of a binomial (the cpu-clock
    tick is not phase-locked to the workload's loop), so the standard error is
    sqrt(p(1-p)/n). 4.5 standard errors are exceeded with probability < 1e-5
    per check: the check cannot flake. The floor keeps large samples from
    failing on small systematic effects (the loop header and call lines are
    part of the method's time). A misattribution (50/50 instead of 75/25, or
    one method missing) is >= 25 points off, more than the bound for any
    n >= 60.
    """
    import math
    return max(floor, z * math.sqrt(p * (1 - p) / max(n, 1)))


_MEASUREMENTS = os.environ.get("PYBPF_E2E_MEASUREMENTS")
_measure_lock = threading.Lock()


def record_measurement(kind, python, variant, **values):
    """Report a measured number for the release notes' version table.

    Printed (pytest -rP shows it; a failing test shows it with its output) and,
    when env PYBPF_E2E_MEASUREMENTS names a file, appended to it as one JSON
    line: kind (e.g. "split-share"), the interpreter, the variant (how it was
    packaged/started: "plain", "stripped", "venv", "embedded", "container"...).
    """
    rec = {"kind": kind, "variant": variant}
    if python is not None:
        rec.update(python=python.path, version=python.version_str, packaging=python.packaging)
    rec.update(values)
    line = json.dumps(rec, sort_keys=True)
    print("MEASURED " + line)
    if _MEASUREMENTS:
        with _measure_lock, open(_MEASUREMENTS, "a") as f:
            f.write(line + "\n")


SPLIT_EXPECTED = 0.75  # Split.heavy does 3x the work of Split.light


def check_split(python, samples, info, path=None, min_samples=100, tolerance=None,
                variant="plain", shape_share=0.95):
    """Compare the samples of one split.py process with its ground truth.

    Checks: enough samples in Split.heavy + Split.light; heavy's share within
    `tolerance` of 75 % (default: share_tolerance); both methods named with
    `path` (default: the workload's path on this host) and their first line;
    the hot line of each is its loop body and no line lies outside it; and at
    least `shape_share` of the method samples have exactly the stack
    [method, main:CALL-*, <module>:CALL-MAIN]. Records the share (see
    record_measurement) before asserting anything. Returns (share, n).
    """
    path = path or workload_path("split.py")
    heavy, light = python.func_name("Split.heavy"), python.func_name("Split.light")
    counts = function_counts(samples)
    p, n = share(counts, heavy, light)
    tol = tolerance if tolerance is not None else share_tolerance(n, SPLIT_EXPECTED)
    record_measurement("split-share", python, variant, share=round(p, 4), n=n,
                       error=round(p - SPLIT_EXPECTED, 4), tolerance=round(tol, 4))
    assert n >= min_samples, (
        "only %d samples in %s/%s (need >= %d for a meaningful share)\n%s"
        % (n, heavy, light, min_samples, info))
    assert abs(p - SPLIT_EXPECTED) <= tol, (
        "%s share %.3f of %d samples, expected %.2f +- %.3f\n%s"
        % (heavy, p, n, SPLIT_EXPECTED, tol, info))

    for fn, method, marker in ((heavy, "heavy", "HOT-HEAVY"), (light, "light", "HOT-LIGHT")):
        start, end = def_span("split.py", "Split." + method)
        hot = marker_line("split.py", marker)
        fr = frames_of(samples, fn)
        assert fr, "no frame named %r\n%s" % (fn, info)
        bad = {(f.get("function"), f.get("filename"), f.get("start_line"), f.get("line"))
               for f in fr if f.get("filename") != path or f.get("start_line") != start}
        assert not bad, "%s frames with wrong filename/start_line (want %s, %d): %s" % (
            fn, path, start, sorted(bad)[:5])
        lines = line_counts(samples, fn)
        assert lines, "%s is never the leaf frame\n%s" % (fn, info)
        top_line, top_n = lines.most_common(1)[0]
        assert top_line == hot, "%s: hottest line %s, expected the loop body line %d; lines %s" % (
            fn, top_line, hot, dict(lines))
        assert top_n >= 0.5 * sum(lines.values()), (
            "%s: hot line %d has only %d of %d leaf samples; lines %s"
            % (fn, hot, top_n, sum(lines.values()), dict(lines)))
        stray = {l for l in lines if not start <= l <= end}
        assert not stray, "%s: lines %s outside the method, %d..%d" % (fn, stray, start, end)

    # Call stacks: Split.heavy/light <- main <- <module>, nothing more, nothing less.
    mod_start = python.module_firstlineno("split.py")
    expect = {
        heavy: [(heavy, def_line("split.py", "heavy")),
                ("main", def_line("split.py", "main"), marker_line("split.py", "CALL-HEAVY")),
                ("<module>", mod_start, marker_line("split.py", "CALL-MAIN"))],
        light: [(light, def_line("split.py", "light")),
                ("main", def_line("split.py", "main"), marker_line("split.py", "CALL-LIGHT")),
                ("<module>", mod_start, marker_line("split.py", "CALL-MAIN"))],
    }

    def shape(s):
        fr = s["frames"]
        if not fr or fr[0].get("function") not in expect:
            return None
        return [(fr[0]["function"], fr[0]["start_line"])] + [
            (f.get("function"), f.get("start_line"), f.get("line")) for f in fr[1:]]

    in_methods = [s for s in samples if shape(s) is not None]
    good = [s for s in in_methods if shape(s) == expect[s["frames"][0]["function"]]
            and all(f.get("filename") == path for f in s["frames"])]
    assert total(good) >= shape_share * total(in_methods), (
        "only %d of %d method samples have the stack [method, main:CALL-*, <module>:CALL-MAIN]"
        " in %s; expected %s\n%s" % (total(good), total(in_methods), path, expect, info))
    return p, n


def descendants(pid):
    """Every descendant of pid (read from /proc/*/task/*/children)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    kids = [int(c) for c in f.read().split()]
                seen += kids
                todo += kids
        except (OSError, ValueError):
            pass
    return seen


def kill_tree(pid, sig=signal.SIGKILL):
    """Signal pid and every descendant."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, sig)
        except OSError:
            pass
