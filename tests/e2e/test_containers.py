# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Processes in containers, discovered and profiled from the host.

Each interpreter gets a container made here from util-linux pieces: its own
mount and PID namespaces (`unshare --mount --pid --fork`), a root file system
built in a temp dir (bind mounts of the host's /usr and /dev; /bin, /lib...
as the host has them: symlinks into /usr on a merged-/usr system, else bind
mounts), pivot_root into it, and a cgroup named like a Docker scope,
`docker-<64 hex>.scope`, in a cgroup v2 hierarchy mounted for the test.

Inside, the interpreter runs from paths that do not exist on the host: a copy
of the executable in /ctr-bin-<tag>/, the interpreter's prefix (stdlib, and
libpython for shared builds) bind-mounted at /pyctr-<tag>/, the scripts in
/app-<tag>/. So /proc/PID/maps, seen from the host, names files the host does
not have: the profiler must read them through /proc/PID/root. Two processes
per container: split.py (ground truth for names, lines, shares) and
threads.py (three named threads: their tids inside the container differ from
the host's). All containers and one ordinary host process are profiled in
one --all-pythons run, checked per interpreter.
"""
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import time

import pytest

from conftest import (
    CONTAINER_MOUNTS_SH, CONTAINER_PIVOT_SH, WORKLOADS, Workload, assert_all_named, assert_ran_ok,
    check_split, count, describe, descendants,
    frame_names, interpreter_list, kill_tree, line_counts, load_profile, marker_line, num_label,
    run_for_cpu, samples_of, selected_interpreters, str_label, total,
)

RATE = 999
# 2 processes per container plus one host process, profiled in one
# --all-pythons run until each has used CPU_S of CPU (run_for_cpu): ~400
# samples per process at 999 Hz however busy the machine is; threads.py
# splits its share over its threads. The split share's tolerance follows its
# sample count (conftest.share_tolerance).
CPU_S = 0.4
MIN_SPLIT_SAMPLES = 100
MIN_THREAD_SAMPLES = 20
READY_TIMEOUT = 180.0  # all containers start at once; a busy 2-CPU machine is slow
# The workloads each container runs, and what they import (copied with them).
SCRIPTS = ("split.py", "threads.py")
APP_FILES = SCRIPTS + ("threadnames.py",)

SETUP = r"""
set -e
R=$1; CG=$2; PREFIX=$3; INNER=$4; APP=$5; shift 5
echo 0 > "$CG/cgroup.procs"
@MOUNTS@
mount -t tmpfs tmpfs "$R/tmp"
if [ -n "$PREFIX" ]; then mount --bind "$PREFIX" "$R$INNER"; fi
@PIVOT@
# "$@": environment assignments for env -i, then the interpreter
for script in @SCRIPTS@; do
    env -i "$@" "$APP/$script" 600 > "$APP/$script.out" 2>&1 &
done
echo started
wait
""".replace("@SCRIPTS@", " ".join(SCRIPTS)).replace("@MOUNTS@", CONTAINER_MOUNTS_SH).replace(
    "@PIVOT@", CONTAINER_PIVOT_SH)


def _host_has(path):
    return os.path.lexists(path)


class Container:
    """One container running split.py and threads.py under `python`."""

    def __init__(self, python, base, cg_slice):
        self.python = python
        self.id = secrets.token_hex(32)
        tag = self.id[:12]
        self.dir = base / tag
        self.root = self.dir / "root"
        self.cgroup = cg_slice / ("docker-%s.scope" % self.id)
        self.prefix_inner = "/pyctr-%s" % tag
        self.bin_inner = "/ctr-bin-%s" % tag
        self.tag = tag
        self.app_inner = "/app-%s" % tag
        self.launcher = None
        self.pids = {}

    def script_path(self, script):
        """The workload's path as processes in the container see it."""
        return "%s/%s" % (self.app_inner, script)

    def prepare(self):
        py = self.python
        for d in ("usr", "dev", "proc", "tmp", ".oldroot"):
            (self.root / d).mkdir(parents=True)
        for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink("/" + d):
                os.symlink(os.readlink("/" + d), str(self.root / d))
        app = self.root / self.app_inner.lstrip("/")
        app.mkdir()
        for s in APP_FILES:
            shutil.copy(str(WORKLOADS / s), str(app / s))
        info = subprocess.run(
            [py.path, "-c", "import sys; print(sys.base_prefix); print(sys.base_exec_prefix)"],
            capture_output=True, text=True, check=True).stdout.split("\n")
        prefix, exec_prefix = info[0], info[1]
        binary = os.path.basename(py.real_path)
        bindir = self.root / self.bin_inner.lstrip("/")
        bindir.mkdir()
        shutil.copy2(py.real_path, str(bindir / binary))  # a copy, at a path the host lacks
        env = ["PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"]
        if prefix == "/usr":  # the distribution's python: its stdlib is in the bound /usr
            self.bound_prefix = ""
            env.append("PYTHONHOME=/usr")
        else:
            assert prefix == exec_prefix, (prefix, exec_prefix)
            self.bound_prefix = prefix
            (self.root / self.prefix_inner.lstrip("/")).mkdir()
            env.append("PYTHONHOME=" + self.prefix_inner)
            if py.shared:  # libpython from the in-container prefix, not the RUNPATH
                env.append("LD_LIBRARY_PATH=%s/lib" % self.prefix_inner)
        self.exe_inner = "%s/%s" % (self.bin_inner, binary)
        self.env = env
        for p in (self.exe_inner, self.prefix_inner, self.app_inner):
            assert not _host_has(p), "%s exists on the host" % p
        self.cgroup.mkdir()

    def start(self):
        argv = ["unshare", "--mount", "--pid", "--fork", "--kill-child",
                "--propagation", "private", "--", "/bin/sh", "-c", SETUP, "sh",
                str(self.root), str(self.cgroup), self.bound_prefix, self.prefix_inner,
                self.app_inner] + self.env + [self.exe_inner]
        # killed with its container (kill_tree), it may end before stop()
        self.launcher = Workload(self.python, "split.py", argv=argv, ready=r"^started$",
                                 cwd="/", exits=None)
        self.launcher.start()

    def wait_ready(self):
        """Both workloads printed "ready"; returns {script: host pid}."""
        app = self.root / self.app_inner.lstrip("/")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            outs = {s: (app / (s + ".out")).read_text() if (app / (s + ".out")).exists() else ""
                    for s in SCRIPTS}
            if all(re.search(r"^ready\b", o, re.M) for o in outs.values()):
                break
            if time.monotonic() > deadline or not self.launcher.alive():
                pytest.fail("container of %s not ready: %s\nlauncher: %s %s" % (
                    self.python.path, outs, self.launcher.lines, self.launcher.err_lines))
            time.sleep(0.1)
        self.outputs = outs
        for pid in descendants(self.launcher.pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            for s in SCRIPTS:
                if args[:1] == [self.exe_inner.encode()] and \
                        any(a.endswith(s.encode()) for a in args[1:]):
                    self.pids[s] = pid
        assert set(self.pids) == set(SCRIPTS), (self.pids, self.outputs)
        return self.pids

    def ns_tid_to_host(self, pid):
        """{tid inside the container: host tid} for the threads of host pid."""
        m = {}
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        ids = [int(x) for x in line.split()[1:]]
                        m[ids[-1]] = ids[0]
        return m

    def stop(self):
        if self.launcher:
            kill_tree(self.launcher.pid)
            self.launcher.stop()
        deadline = time.monotonic() + 30
        while self.cgroup.exists():
            try:
                self.cgroup.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # Every process of the container is gone (its cgroup is empty), so is
        # its mount namespace; the bind mounts were never visible here
        # (private propagation). Still, never delete through a mount point.
        if self.dir.exists() and not any(os.path.ismount(os.path.join(r, d))
                                         for r, ds, _ in os.walk(str(self.dir)) for d in ds):
            shutil.rmtree(str(self.dir), ignore_errors=True)


@contextlib.contextmanager
def cgroup2_slice(base):
    """A cgroup v2 hierarchy mounted under `base`, and a fresh slice in it."""
    mnt = base / "cgroup2"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "cgroup2", "none", str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        mnt.rmdir()
        pytest.skip("cannot mount a cgroup v2 hierarchy: %s" % r.stderr.strip())
    sl = mnt / ("pybpf-e2e-%s.slice" % secrets.token_hex(4))
    try:
        sl.mkdir()
        yield sl
    finally:
        deadline = time.monotonic() + 30
        while sl.exists():
            try:
                sl.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        subprocess.run(["umount", str(mnt)], check=False)
        try:
            mnt.rmdir()
        except OSError:
            pass


@pytest.fixture(scope="session")
def container_run(root_prof, pprofcheck, tmp_path_factory, request):
    for tool in ("unshare", "pivot_root", "mount", "umount"):
        if not shutil.which(tool):
            pytest.skip("%s (util-linux) not installed" % tool)
    base = tmp_path_factory.mktemp("containers")
    pythons = selected_interpreters(request, "container_run")
    out = base / "containers.pb.gz"
    with contextlib.ExitStack() as stack:
        sl = stack.enter_context(cgroup2_slice(base))
        containers = []
        for py in pythons:
            c = Container(py, base, sl)
            containers.append(c)
            stack.callback(c.stop)
            c.prepare()
            c.start()
        for c in containers:
            c.wait_ready()
            for pid in c.pids.values():
                with open("/proc/%d/maps" % pid) as f:
                    maps = f.read()
                # the host sees the in-container paths, which it does not have
                assert c.exe_inner in maps, "maps of %d lack %s" % (pid, c.exe_inner)
                if c.python.shared:
                    assert "%s/lib/libpython" % c.prefix_inner in maps, (
                        "pid %d does not map libpython from %s:\n%s" % (pid, c.prefix_inner,
                                                                        maps))
        host = stack.enter_context(Workload(interpreter_list()[0], "split.py"))
        pids = [host.pid] + [pid for c in containers for pid in c.pids.values()]
        rc, so, se, _ = run_for_cpu(root_prof, ["--all-pythons", "--rate", RATE, "-o", out],
                                    pids, CPU_S)
        assert_ran_ok(rc, so, se)
        prof = load_profile(out)
        tids = {c.python.path: c.ns_tid_to_host(c.pids["threads.py"]) for c in containers}
        for c in containers:
            for pid in c.pids.values():
                assert os.path.exists("/proc/%d" % pid), "pid %d died during the run" % pid
    return {c.python.path: c for c in containers}, tids, host.pid, prof


def _container(container_run, python):
    containers, tids, host_pid, prof = container_run
    if python.path not in containers:
        pytest.skip("no container for %s" % python.path)
    return containers[python.path], tids[python.path], prof


# Containers start for the interpreters of the collected tests (selected_
# interpreters): the representative ones cover static/shared/PIE binaries
# and both ways to map a thread state to its TID (native_thread_id from 3.11,
# a calibrated pthread offset before), which is what differs in a container.
@pytest.mark.representative
def test_container_process_host_pid_container_id_and_paths(container_run, python):
    """split.py in a container: its samples carry the host pid (and the host tid),
    container_id = the 64-hex id of its cgroup, and frames name the file by its
    in-container path, with the split's ground truth."""
    c, _, prof = _container(container_run, python)
    pid = c.pids["split.py"]
    samples = samples_of(prof, pid)
    info = "container %s, host pid %d\n%s" % (c.id, pid, describe(prof, pid, limit=8))
    assert samples, "no samples with the host pid %d\n%s" % (pid, info)
    ids = {str_label(s, "container_id") for s in samples}
    assert ids == {c.id}, "container_id labels %s, want {%s}\n%s" % (ids, c.id, info)
    assert {num_label(s, "tid") for s in samples} == {pid}, (
        "tids %s: the main thread's tid must be the host pid %d" % (
            {num_label(s, "tid") for s in samples}, pid))
    check_split(python, samples, info, path=c.script_path("split.py"),
                min_samples=MIN_SPLIT_SAMPLES, variant="container")
    assert_all_named(samples, info)


@pytest.mark.representative
def test_container_threads_under_host_tids(container_run, python):
    """threads.py in a container: each hot function under the host tid of its
    thread (inside, the thread has another tid), with its thread name."""
    c, tid_map, prof = _container(container_run, python)
    pid = c.pids["threads.py"]
    samples = samples_of(prof, pid)
    info = "container %s, host pid %d\n%s" % (c.id, pid, describe(prof, pid, limit=8))
    ns_tids = {m.group(1): int(m.group(2)) for m in
               re.finditer(r"^thread (\S+) (\d+)$", c.outputs["threads.py"], re.M)}
    assert len(ns_tids) == 3, c.outputs["threads.py"]
    assert {str_label(s, "container_id") for s in samples} == {c.id}, info
    path = c.script_path("threads.py")
    for thread, fn, marker in (("w-alpha", "hot_alpha", "HOT-ALPHA"),
                               ("w-beta", "hot_beta", "HOT-BETA"),
                               ("w-gamma", "hot_gamma", "HOT-GAMMA")):
        host_tid = tid_map[ns_tids[thread]]
        assert host_tid != ns_tids[thread], "tid %d is the same inside and outside" % host_tid
        mine = [s for s in samples if fn in frame_names(s)]
        assert total(mine) >= MIN_THREAD_SAMPLES, "%s: %d samples\n%s" % (fn, total(mine), info)
        got = {}
        for s in mine:
            got[num_label(s, "tid")] = got.get(num_label(s, "tid"), 0) + count(s)
        assert set(got) == {host_tid}, "%s runs on host tid %d (%d inside); profile: %s" % (
            fn, host_tid, ns_tids[thread], got)
        assert {str_label(s, "thread_name") for s in mine} == {thread}
        assert {f["filename"] for s in mine for f in s["frames"][:2]} == {path}
        lines = line_counts(mine, fn)
        assert lines.most_common(1)[0][0] == marker_line("threads.py", marker), dict(lines)


def test_host_process_has_no_container_id(container_run):
    """In the same run, a process on the host is not labelled with a container."""
    _, _, host_pid, prof = container_run
    samples = samples_of(prof, host_pid)
    assert total(samples) >= 20, describe(prof, host_pid)
    labels = {str_label(s, "container_id") for s in samples}
    assert labels == {None}, "host process labelled container_id=%s" % labels
