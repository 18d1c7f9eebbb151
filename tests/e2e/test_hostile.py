# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Hostile targets: processes shaped to hurt a privileged profiler.

- fake interpreters (workloads/fake_runtime.c): a program exporting
  `_PyRuntime` and `Py_Version` whose runtime is garbage, whose interpreter
  and thread lists and frame chain loop on themselves, or whose 3.13
  `_Py_DebugOffsets` block is garbage;
- a process mapping a huge sparse ELF (section headers claiming a 2 GiB
  string table) or a truncated one;
- a code object whose name claims to be 2**31 - 1 characters long;
- a mapped file whose path is replaced, in the target's own mount
  namespace, by a link to a host file the agent must never open.

In every case the agent exits 0 (or, for --pid, with its documented code
and one line), its memory stays bounded, the real Python next to the
hostile ones is profiled as usual, and every target runs to its own end
(exit status 0) without ever being stopped.
"""
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (EXIT, LiveProfiler, WORKLOADS, Workload, assert_one_error_line,
                      frame_names, load_profile, samples_of, total)

# Agent memory allowed while hostile targets run (it is ~25 MB normally).
MAX_AGENT_RSS_KB = 300 * 1024


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """The fake interpreters, built with the system C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("fakes")
    src = WORKLOADS / "fake_runtime.c"
    out = {}
    for name, flags in (("fake311", []), ("fake313", ["-DFAKE_DEBUG"]), ("plain", ["-DFAKE_PLAIN"])):
        exe = d / name
        subprocess.run([cc, "-O1", "-rdynamic", "-o", str(exe), str(src)] + flags, check=True)
        out[name] = exe
    return out


def sparse_huge_elf(src, dst, section=".strtab"):
    """Copy the ELF `src` to `dst`, make `section` claim 2 GiB at offset
    1 GiB, and extend the file (sparsely) to 3 GiB + 4 KiB."""
    data = bytearray(Path(src).read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    names, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    hit = False
    for i in range(shnum):
        h = shoff + i * shentsize
        n, = struct.unpack_from("<I", data, h)
        if data[names + n:data.index(0, names + n)].decode() == section:
            struct.pack_into("<QQ", data, h + 0x18, 1 << 30, 2 << 30)
            hit = True
    assert hit, "%s has no %s" % (src, section)
    with open(dst, "wb") as f:
        f.write(data)
        f.truncate((3 << 30) + 4096)
    return dst


class Target:
    """A hostile program run to its own end: `with Target(argv) as t`; on
    leaving, it must have exited 0 by itself, and it must never have been
    seen stopped (state t/T) meanwhile."""

    def __init__(self, argv, seconds):
        self.argv = [str(a) for a in argv]
        self.seconds = seconds
        self.stopped_seen = []
        self._done = threading.Event()

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        assert line.split()[:1] == ["ready"], "%s did not start: %r %s" % (
            self.argv, line, self.proc.stderr.read())
        self.ready_line = line
        self._watch = threading.Thread(target=self._watch_state, daemon=True)
        self._watch.start()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def _watch_state(self):
        while not self._done.is_set() and self.proc.poll() is None:
            try:
                stat = Path("/proc/%d/stat" % self.proc.pid).read_text()
                state = stat.rsplit(")", 1)[1].split()[0]
                if state in ("t", "T"):
                    self.stopped_seen.append(state)
            except (OSError, IndexError):
                pass
            time.sleep(0.05)

    def finish(self):
        try:
            rc = self.proc.wait(timeout=self.seconds * 10 + 60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail("target %s did not finish" % self.argv)
        self._done.set()
        out = self.proc.stdout.read()
        assert rc == 0, "target %s exited %s: %s %s" % (self.argv, rc, out, self.proc.stderr.read())
        assert "done" in out, out
        assert not self.stopped_seen, "target %s was stopped: %s" % (self.argv, self.stopped_seen)

    def __exit__(self, exc, *rest):
        if exc is None:
            self.finish()
        elif self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._done.set()
        return False


def vm_hwm_kb(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def profile_for(prof_bin, args, seconds):
    """Run the agent for `seconds` of wall time after it starts sampling,
    then SIGINT. Returns (rc, stdout, stderr, peak RSS in KiB)."""
    p = LiveProfiler(prof_bin, [str(a) for a in args] + ["-v"]).start()
    try:
        p.wait_for_stderr(r"sampling at", 120)
        end = time.monotonic() + seconds
        hwm = 0
        while time.monotonic() < end and p.proc.poll() is None:
            hwm = max(hwm, vm_hwm_kb(p.pid) or 0)
            time.sleep(0.2)
        hwm = max(hwm, vm_hwm_kb(p.pid) or 0)
        if p.proc.poll() is None:
            p.signal(signal.SIGINT)
        rc, out, err = p.wait(120)
    finally:
        p.kill()
    return rc, out, err, hwm


@pytest.mark.parametrize("mode", ["garbage", "cycle", "debug"])
def test_fake_runtime_pid(fakes, root_prof, run_profiler, tmp_path, mode):
    exe = fakes["fake313" if mode == "debug" else "fake311"]
    out = tmp_path / "p.pb.gz"
    with Target([exe, mode, 6], 6) as t:
        rc, _, err = run_profiler(["--pid", t.pid, "--duration", 2, "-o", out])
    if rc == 0:
        prof = load_profile(out)
        # Whatever was sampled from garbage, no frame is a real function.
        for s in samples_of(prof, t.pid):
            assert len(frame_names(s)) <= 256
    else:
        assert rc == EXIT["EXIT_UNSUPPORTED_PYTHON"], (rc, err)
        assert_one_error_line(err, rc)
        assert not out.exists()


def test_hostile_neighbours_do_not_hurt(fakes, root_prof, one_python, tmp_path):
    """--all-pythons over a real Python and every hostile kind at once."""
    lib = tmp_path / "huge.so"
    sparse_huge_elf(fakes["fake311"], lib)
    trunc = tmp_path / "truncated.so"
    trunc.write_bytes(Path(fakes["fake311"]).read_bytes()[:3000])
    out = tmp_path / "all.pb.gz"
    secs = 6
    with Workload(one_python, "split.py", 20) as w, \
            Target([fakes["fake311"], "garbage", secs + 10], secs), \
            Target([fakes["fake311"], "cycle", secs + 10], secs), \
            Target([fakes["fake313"], "debug", secs + 10], secs), \
            Target([fakes["plain"], "map", secs + 10, lib], secs), \
            Target([fakes["plain"], "map", secs + 10, trunc], secs):
        t0 = time.monotonic()
        rc, _, err, hwm = profile_for(root_prof, ["--all-pythons", "-o", out], secs)
        took = time.monotonic() - t0
        assert rc == 0, err
        assert w.alive(), "the real workload died"
    assert hwm < MAX_AGENT_RSS_KB, "agent peak RSS %d KiB" % hwm
    assert took < secs + 60, "agent took %.0f s" % took
    prof = load_profile(out)
    name = one_python.func_name("Split.heavy")
    heavy = sum(s["values"][0] for s in samples_of(prof, w.pid) if name in frame_names(s))
    # ~6 s of a busy process at 99 Hz on a shared machine: far more than 20.
    assert heavy >= 20, (heavy, err)


def test_gigabyte_name_length(python, root_prof, tmp_path):
    """A code object whose name's length field says 2**31 - 1: reads of it
    are bounded; the process is profiled, the agent stays small."""
    out = tmp_path / "name.pb.gz"
    with Workload(python, "hugename.py", 4) as w:
        rc, _, err, hwm = profile_for(root_prof, ["--pid", w.pid, "-o", out], 4)
        assert rc == 0, err
        assert w.wait(120) == 0, "hugename.py failed: %s" % w.err_lines
        assert w.matching(r"^done$")
    assert hwm < MAX_AGENT_RSS_KB, "agent peak RSS %d KiB" % hwm
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    assert total(samples) >= 10, err
    names = {n for s in samples for n in frame_names(s)}
    assert max(len(n) for n in names) <= 64 * 1024, "an unbounded name was written"
    # The leaf is the hostile function: named by a bounded prefix of its
    # name, or by the placeholder for an unreadable one.
    leaves = {frame_names(s)[0] for s in samples if frame_names(s)}
    assert any(n.startswith("hostile_name_") or n.startswith("spin") or "<" in n or "?" in n
               for n in leaves), leaves


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class Inotify:
    """Opens/reads of one file, seen with inotify (IN_OPEN | IN_ACCESS)."""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, path):
        libc = _libc()
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        wd = libc.inotify_add_watch(self.fd, str(path).encode(), self.IN_OPEN | self.IN_ACCESS)
        assert wd >= 0, os.strerror(ctypes.get_errno())

    def events(self):
        n = 0
        while True:
            try:
                buf = os.read(self.fd, 4096)
            except BlockingIOError:
                return n
            off = 0
            while off < len(buf):
                _, mask, _, ln = struct.unpack_from("iIII", buf, off)
                n += 1
                off += 16 + ln

    def close(self):
        os.close(self.fd)


def test_mapped_path_swapped_for_a_link_to_a_host_file(one_python, root_prof, tmp_path):
    """In its own mount namespace the target runs a copy of the interpreter
    from a tmpfs, then mounts a new tmpfs over that directory holding a
    link, at the same path, to a host file. /proc/PID/maps still names the
    path; the agent must read the mapped file (map_files), never the host
    file through the target's link."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    decoy = tmp_path / "host-secret"
    decoy.write_bytes(b"\x7fELF host file the agent must never open\n")
    decoy.chmod(0o600)
    d = tmp_path / "bin"
    d.mkdir()
    script = tmp_path / "swap.sh"
    script.write_text(
        "set -e\n"
        "mount -t tmpfs -o size=64m none '{d}'\n"
        "cp '{py}' '{d}/python'\n"
        "'{d}/python' -c \"\n"
        "import os, subprocess, sys, time\n"
        "subprocess.run(['mount', '-t', 'tmpfs', 'none', '{d}'], check=True)\n"
        "os.symlink('{decoy}', '{d}/python')\n"
        "print('ready', os.getpid(), flush=True)\n"
        "end = time.process_time() + 4\n"
        "while time.process_time() < end:\n"
        "    sum(i * i for i in range(10000))\n"
        "print('done', flush=True)\n"
        "\"\n".format(d=d, py=os.path.realpath(one_python.path), decoy=decoy))
    watch = Inotify(decoy)
    out = tmp_path / "swap.pb.gz"
    try:
        with Target(["unshare", "--mount", "--propagation", "private", "sh", str(script)], 4) as t:
            watch.events()  # nothing before the agent starts
            rc, _, err, _ = profile_for(root_prof, ["--all-pythons", "-o", out], 3)
            assert rc == 0, err
        opened = watch.events()
    finally:
        watch.close()
    assert opened == 0, "the agent opened the host file through the target's link"
    prof = load_profile(out)
    pypid = int(t.ready_line.split()[1])
    assert total(samples_of(prof, pypid)) >= 5, "the target was not profiled: %s" % err
