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
  namespace, by a link to a host file the agent must never open;
- a real interpreter whose thread list loops on itself while a native
  thread of it (no thread state) is sampled;
- with --native, Pythons running code of shared objects made hostile (a
  2 GiB .symtab, a .gnu_debuglink naming a FIFO or a link to a host file,
  a path replaced by such a link);
- all of these again as uid 65534 (setpriv), with a mapped ELF and a
  Python's own executable replaced by links to a host file the user cannot
  read, and once more inside a container (own mount and PID namespaces,
  pivot_root, targets as uid 65534 there) where an ELF also sits at the
  very path of a host secret.

In every case the agent exits 0 (or, for --pid, with its documented code
and one line), its memory stays bounded, the real Python next to the
hostile ones is profiled as usual, and every target runs to its own end
(exit status 0) without ever being stopped.
"""
import contextlib
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (CONTAINER_MOUNTS_SH, CONTAINER_PIVOT_SH, EXIT, TARGET_WATCH, LiveProfiler, WORKLOADS,
                      Workload, assert_one_error_line,
                      c_shared_lib, descendants, frame_names, interpreter_list, load_profile,
                      num_label, samples_of, total)

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


def many_sections_elf(src, dst, count=50000000):
    """Copy the ELF `src` to `dst` with extended section numbering claiming
    `count` section headers (e_shnum 0, the count in section 0), extended
    sparsely so that they all lie inside the file."""
    data = bytearray(Path(src).read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    struct.pack_into("<Q", data, shoff + 0x20, count)
    struct.pack_into("<H", data, 0x3c, 0)
    with open(dst, "wb") as f:
        f.write(data)
        f.truncate(shoff + count * 64 + 4096)
    return dst


class Target:
    """A hostile program run to its own end: `with Target(argv) as t`; on
    leaving, it must have exited 0 by itself, and it must never have been
    seen stopped (state t/T) meanwhile."""

    def __init__(self, argv, seconds, env=None):
        self.argv = [str(a) for a in argv]
        self.env = env
        self.seconds = seconds

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                                     env=self.env)
        line = self.proc.stdout.readline()
        assert line.split()[:1] == ["ready"], "%s did not start: %r %s" % (
            self.argv, line, self.proc.stderr.read())
        self.ready_line = line
        TARGET_WATCH.add(self.proc.pid)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def finish(self):
        try:
            rc = self.proc.wait(timeout=self.seconds * 10 + 60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail("target %s did not finish" % self.argv)
        stopped = TARGET_WATCH.remove(self.proc.pid)
        out = self.proc.stdout.read()
        assert rc == 0, "target %s exited %s: %s %s" % (self.argv, rc, out, self.proc.stderr.read())
        assert "done" in out, out
        assert not stopped, "target %s was stopped: %s" % (self.argv, stopped)

    def __exit__(self, exc, *rest):
        if exc is None:
            self.finish()
        else:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            TARGET_WATCH.remove(self.proc.pid)
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


@pytest.mark.parametrize("kind", ["garbage", "cycle", "debug"])
def test_fake_runtime_pid(fakes, root_prof, run_profiler, tmp_path, kind, mode):
    exe = fakes["fake313" if kind == "debug" else "fake311"]
    out = tmp_path / "p.pb.gz"
    with Target([exe, kind, 6], 6) as t:
        rc, _, err = run_profiler(mode + ["--pid", t.pid, "--duration", 2, "-o", out])
    if rc == 0:
        prof = load_profile(out)
        # Whatever was sampled from garbage, no frame is a real function.
        for s in samples_of(prof, t.pid):
            assert len(frame_names(s)) <= 256
    else:
        assert rc == EXIT["EXIT_UNSUPPORTED_PYTHON"], (rc, err)
        assert_one_error_line(err, rc)
        assert not out.exists()


def test_hostile_neighbours_do_not_hurt(fakes, root_prof, one_python, tmp_path, mode):
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
        rc, _, err, hwm = profile_for(root_prof, mode + ["--all-pythons", "-o", out], secs)
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


# String reads by layout family: before 3.12, from 3.12, free-threaded; the
# representative interpreters cover each (test_pystr and fuzz_pystr the reader).
@pytest.mark.representative
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


@pytest.mark.parametrize("native", [[], ["--native"]], ids=["python", "native"])
@pytest.mark.parametrize("who", ["root", "nobody"])
def test_mapped_path_swapped_for_a_link_to_a_host_file(one_python, root_prof, tmp_path,
                                                       world_writable_dir, who, mode, native):
    """In its own mount namespace the target runs a copy of the interpreter
    from a tmpfs, then mounts a new tmpfs over that directory holding a
    link, at the same path, to a host file. /proc/PID/maps still names the
    path; the agent must read the mapped file (map_files), never the host
    file through the target's link. As root, and as uid 65534 in a user
    namespace of its own (`unshare --user --map-root-user --mount`), which
    any user may make where unprivileged user namespaces are allowed.
    With --native, the unwinder opens the interpreter's code too."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    decoy = tmp_path / "host-secret"
    decoy.write_bytes(b"\x7fELF host file the agent must never open\n")
    decoy.chmod(0o600)
    if who == "root":
        base, py, prefix = tmp_path, one_python, ["unshare", "--mount"]
    else:
        r = subprocess.run(NOBODY + ["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("no unprivileged user namespaces: %s" % r.stderr.strip())
        found = runnable_by_nobody(one_python)
        if not found:
            pytest.skip("no interpreter that uid 65534 can run")
        base, py = world_writable_dir, found[0]
        prefix = NOBODY + ["unshare", "--user", "--map-root-user", "--mount"]
    d = base / "bin"
    d.mkdir()
    script = base / "swap.sh"
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
        "\"\n".format(d=d, py=py.real_path, decoy=decoy))
    os.chmod(script, 0o644)
    watch = Inotify(decoy)
    out = tmp_path / "swap.pb.gz"
    try:
        with Target(prefix + ["--propagation", "private", "sh", str(script)], 4) as t:
            watch.events()  # nothing before the agent starts
            rc, _, err, _ = profile_for(root_prof, mode + native + ["--all-pythons", "-o", out], 3)
            assert rc == 0, err
        opened = watch.events()
    finally:
        watch.close()
    assert opened == 0, "the agent opened the host file through the target's link"
    prof = load_profile(out)
    pypid = int(t.ready_line.split()[1])
    assert total(samples_of(prof, pypid)) >= 5, "the target was not profiled: %s" % err


# --------------------------------------------------------------------------
# The same hostile kinds run by an unprivileged user, and in a container.

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def make_kit(fakes, dest):
    """The hostile programs and files, copied to `dest` where uid 65534
    can run and (in dest/w) write them."""
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    w = dest / "w"
    w.mkdir()
    os.chmod(w, 0o1777)
    kit = {}
    for name, src in fakes.items():
        kit[name] = dest / name
        shutil.copy(str(src), str(kit[name]))
        os.chmod(kit[name], 0o755)
    kit["huge"] = sparse_huge_elf(fakes["fake311"], dest / "huge.so")
    kit["trunc"] = dest / "truncated.so"
    kit["trunc"].write_bytes(Path(fakes["fake311"]).read_bytes()[:3000])
    kit["swap"] = w / "swap.so"  # replaced by a link once mapped
    shutil.copy(str(fakes["fake311"]), str(kit["swap"]))
    for script in ("hugename.py", "selfswap.py"):
        kit[script] = dest / script
        shutil.copy(str(WORKLOADS / script), str(kit[script]))
    for f in dest.rglob("*"):
        if f.is_file():
            os.chmod(f, 0o755 if os.access(f, os.X_OK) else 0o644)
    os.chown(kit["swap"], 65534, 65534)  # theirs to replace in a sticky directory
    return kit


def python_home(py):
    """(prefix, env) to run a copy of `py`'s executable from elsewhere."""
    prefix = subprocess.run([py.path, "-c", "import sys; print(sys.base_prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONHOME": prefix}
    if py.shared:
        env["LD_LIBRARY_PATH"] = prefix + "/lib"
    return prefix, env


def runnable_by_nobody(first):
    """(interpreter, env): one that uid 65534 can run, the one under test if
    it can (a pyenv build under /root, 0700, cannot); None if none can."""
    for py in [first] + [p for p in interpreter_list() if p is not first]:
        if py.free_threaded:
            continue
        _, env = python_home(py)
        r = subprocess.run(NOBODY + [py.real_path, "-c", "pass"], env=env, capture_output=True)
        if r.returncode == 0:
            return py, env
    return None


def nobody_python(first, where):
    """An interpreter uid 65534 can run (runnable_by_nobody), copied to
    where/bin twice (selfswap.py replaces its copy): (interpreter, copy,
    second copy, env) or None."""
    found = runnable_by_nobody(first)
    if not found:
        return None
    py, env = found
    b = where / "bin"
    b.mkdir(exist_ok=True)
    os.chmod(b, 0o1777)
    copies = []
    for n in ("python", "python-b"):
        shutil.copy2(py.real_path, str(b / n))
        os.chmod(b / n, 0o755)
        os.chown(b / n, 65534, 65534)
        copies.append(b / n)
    return py, copies[0], copies[1], env


def by_script(pids, script):
    for pid in pids:
        try:
            args = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(script.encode()) for a in args[1:]) and args[0] != b"setpriv":
            return pid
    return None


def profile_watched(root_prof, watch, w, out, secs, mode):
    """--all-pythons for secs next to the hostile targets; (stderr, peak RSS)."""
    watch.events()  # nothing before the agent starts
    rc, _, err, hwm = profile_for(root_prof, mode + ["--all-pythons", "-o", out], secs)
    assert rc == 0, err
    assert w.alive(), "the real workload died"
    return err, hwm


def check_hostile_run(prof, err, hwm, neighbour, one_python, opened, named):
    """What every run next to hostile targets must show."""
    assert opened == 0, "the agent opened the host file through a target's link"
    assert hwm < MAX_AGENT_RSS_KB, "agent peak RSS %d KiB" % hwm
    name = one_python.func_name("Split.heavy")
    heavy = sum(s["values"][0] for s in samples_of(prof, neighbour) if name in frame_names(s))
    assert heavy >= 20, (heavy, err)
    for what, pid in named.items():
        assert pid, "no pid for %s" % what
        assert total(samples_of(prof, pid)) >= 5, "%s (pid %d) not profiled: %s" % (what, pid, err)


def test_hostile_targets_as_unprivileged_user(fakes, root_prof, one_python, world_writable_dir,
                                              tmp_path, mode):
    """Every hostile kind run as uid 65534 (setpriv), next to a real Python:
    fake runtimes (garbage, cycles, bad debug offsets), a huge sparse and a
    truncated ELF mapped, a mapped ELF then replaced by a link to a host
    file the user cannot read, a Python whose own executable becomes such a
    link, a gigabyte name length. The agent never opens the host file,
    stays small, profiles the neighbour and the hostile Pythons, and every
    target ends by itself with status 0, never stopped."""
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv (util-linux)")
    decoy = tmp_path / "host-secret"
    decoy.write_bytes(b"\x7fELF host file the agent must never open\n")
    decoy.chmod(0o600)
    kit = make_kit(fakes, world_writable_dir / "kit")
    found = nobody_python(one_python, world_writable_dir)
    if not found:
        pytest.skip("no interpreter that uid 65534 can run")
    py, copy, copy_b, env = found
    secs = 6
    argvs = [[kit["fake311"], "garbage", secs + 10], [kit["fake311"], "cycle", secs + 10],
             [kit["fake313"], "debug", secs + 10], [kit["plain"], "map", secs + 10, kit["huge"]],
             [kit["plain"], "map", secs + 10, kit["trunc"]],
             [kit["plain"], "map", secs + 10, kit["swap"], decoy]]
    out = tmp_path / "nobody.pb.gz"
    watch = Inotify(decoy)
    try:
        with contextlib.ExitStack() as stack:
            w = stack.enter_context(Workload(one_python, "split.py", 20))
            for argv in argvs:
                stack.enter_context(Target(NOBODY + argv, secs))
            swapped = stack.enter_context(Target(
                NOBODY + [copy, kit["selfswap.py"], 4, decoy], 4, env=env))
            huge = stack.enter_context(Target(NOBODY + [copy_b, kit["hugename.py"], 4], 4, env=env))
            assert os.path.islink(copy) and os.path.islink(kit["swap"])
            err, hwm = profile_watched(root_prof, watch, w, out, secs, mode)
        opened = watch.events()
    finally:
        watch.close()
    check_hostile_run(load_profile(out), err, hwm, w.pid, one_python, opened,
                      {"selfswap.py (%s)" % py.path: swapped.pid, "hugename.py": huge.pid})


@pytest.fixture(scope="module")
def nspin_lib(tmp_path_factory):
    return c_shared_lib(tmp_path_factory, "nspin.c")


def test_native_hostile_libraries(fakes, nspin_lib, root_prof, one_python, world_writable_dir,
                                  tmp_path, mode):
    """--native next to Pythons (as uid 65534) running native code of
    shared objects made hostile: one with a .symtab claiming 2 GiB (sparse
    file), two stripped with a .gnu_debuglink naming, next to them, a FIFO
    and a link to a host file the user cannot read (libdwfl's own search
    opened the link and blocked forever on the FIFO), one whose path is
    replaced by such a link once loaded; and, mapped by neighbours, a
    truncated ELF and one claiming 50 million section headers (libelf
    allocated 13 GB for those). The agent never opens the host file, ends on time, stays
    small, profiles the real neighbour and every hostile Python, unwound
    through the hostile object; every target ends by itself with status 0."""
    for tool in ("setpriv", "objcopy"):
        if not shutil.which(tool):
            pytest.skip("no %s" % tool)
    decoy = tmp_path / "host-secret"
    decoy.write_bytes(b"\x7fELF host file the agent must never open\n")
    decoy.chmod(0o600)
    found = nobody_python(one_python, world_writable_dir)
    if not found:
        pytest.skip("no interpreter that uid 65534 can run")
    py, copy, _, env = found
    kit = world_writable_dir / "nkit"
    (kit / ".debug").mkdir(parents=True)
    libs = {"huge": sparse_huge_elf(nspin_lib, kit / "nspin-huge.so", ".symtab"),
            "swap": kit / "nspin-swap.so"}
    shutil.copy(str(nspin_lib), str(libs["swap"]))
    for kind in ("fifo", "link"):
        libs[kind] = kit / ("nspin-%s.so" % kind)
        (kit / (kind + ".debug")).write_bytes(b"")
        subprocess.run(["objcopy", "--strip-all", "--add-gnu-debuglink=%s.debug" % kind,
                        str(nspin_lib), str(libs[kind])], cwd=str(kit), check=True)
        (kit / (kind + ".debug")).unlink()
    os.mkfifo(str(kit / "fifo.debug"))
    os.symlink(str(decoy), str(kit / "link.debug"))
    os.symlink(str(decoy), str(kit / ".debug" / "link.debug"))
    trunc = kit / "truncated.so"
    trunc.write_bytes(Path(fakes["fake311"]).read_bytes()[:3000])
    many = many_sections_elf(fakes["fake311"], kit / "many.so")
    script = kit / "nspin.py"
    shutil.copy(str(WORKLOADS / "nspin.py"), str(script))
    for f in [kit, kit / ".debug"] + list(kit.iterdir()):
        if not f.is_symlink():
            os.chmod(f, 0o1777 if f.is_dir() else 0o644)
    os.chown(libs["swap"], 65534, 65534)
    secs = 6
    out = tmp_path / "native.pb.gz"
    watch = Inotify(decoy)
    pids = {}
    try:
        with contextlib.ExitStack() as stack:
            w = stack.enter_context(Workload(one_python, "split.py", 20))
            for f in (trunc, many):
                stack.enter_context(Target(NOBODY + [fakes["plain"], "map", secs + 10, f], secs))
            for kind, lib in libs.items():
                argv = [copy, script, lib, secs + 10] + ([decoy] if kind == "swap" else [])
                pids[kind] = int(stack.enter_context(
                    Target(NOBODY + argv, secs, env=env)).ready_line.split()[1])
            t0 = time.monotonic()
            err, hwm = profile_watched(root_prof, watch, w, out, secs, mode + ["--native"])
            took = time.monotonic() - t0
        opened = watch.events()
    finally:
        watch.close()
    assert took < secs + 60, "agent took %.0f s" % took
    prof = load_profile(out)
    check_hostile_run(prof, err, hwm, w.pid, one_python, opened,
                      {"nspin.py (%s) with %s" % (py.path, k): pid for k, pid in pids.items()})
    for kind, pid in pids.items():
        # Unwound through the hostile object: its exported function and the
        # Python function that called it, in one stack.
        spliced = [s for s in samples_of(prof, pid)
                   if {"nspin", "native_call"} <= set(frame_names(s))]
        assert spliced, "no stack through nspin-%s.so: %s" % (
            kind, [frame_names(s) for s in samples_of(prof, pid)][:3])


CONTAINER_SETUP = r"""
set -e
R=$1; PREFIX=$2
@MOUNTS@
if [ -n "$PREFIX" ]; then mount --bind "$PREFIX" "$R/pyctr"; fi
@PIVOT@
exec /bin/sh /hostile/run.sh
""".replace("@MOUNTS@", CONTAINER_MOUNTS_SH).replace("@PIVOT@", CONTAINER_PIVOT_SH)

# Inside the container, as root there; every target runs as uid 65534.
# {long}, {decoy} and {env} are replaced by the test.
CONTAINER_RUN = r"""
cd /hostile
N="setpriv --reuid=65534 --regid=65534 --clear-groups"
: > pids
start() { name=$1; shift; $N "$@" > "w/$name.out" 2>&1 & echo "$! $name" >> pids; }
start garbage ./fake311 garbage {long}
start cycle ./fake311 cycle {long}
start debug ./fake313 debug {long}
start huge ./plain map {long} /hostile/huge.so
start trunc ./plain map {long} /hostile/truncated.so
start samepath ./plain map {long} {decoy}
start swap ./plain map {long} /hostile/w/swap.so {decoy}
start selfswap env {env} /hostile/bin/python /hostile/selfswap.py 4 {decoy}
start hugename env {env} /hostile/bin/python-b /hostile/hugename.py 4
while read pid name; do
    i=0
    until grep -q '^ready' "w/$name.out"; do
        i=$((i + 1))
        if [ $i -gt 1800 ] || ! kill -0 "$pid" 2>/dev/null; then echo "not ready: $name"; cat "w/$name.out"; exit 1; fi
        sleep 0.1
    done
done < pids
echo ready
fail=0
while read pid name; do
    wait "$pid" || { echo "FAILED $name"; cat "w/$name.out"; fail=1; }
done < pids
[ $fail -eq 0 ] && echo done
"""


def test_hostile_targets_in_a_container(fakes, root_prof, one_python, tmp_path, mode):
    """The hostile kinds inside a container (own mount and PID namespaces,
    pivot_root into a root built here, every target as uid 65534 there),
    with two container tricks more: a mapped ELF at the very path where the
    host has a secret file, and links whose absolute target names that host
    file (resolved from the host's root, an agent opening through
    /proc/PID/root would read it). The agent never opens the host file,
    profiles the containers' hostile Pythons and a host neighbour, stays
    small; every target ends with status 0, never stopped."""
    for tool in ("unshare", "pivot_root", "mount", "umount", "setpriv"):
        if not shutil.which(tool):
            pytest.skip("%s (util-linux) not installed" % tool)
    decoy = tmp_path / "host-secret"
    decoy.write_bytes(b"\x7fELF host file the agent must never open\n")
    decoy.chmod(0o600)
    root = tmp_path / "root"
    for d in ("usr", "dev", "proc", ".oldroot", "pyctr"):
        (root / d).mkdir(parents=True)
    os.chmod(root, 0o755)
    for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        if os.path.islink("/" + d):
            os.symlink(os.readlink("/" + d), str(root / d))
    kit = make_kit(fakes, root / "hostile")
    # In the container, the host secret's path is an ELF of the container's.
    same = root / str(decoy).lstrip("/")
    same.parent.mkdir(parents=True)
    for parent in [same.parent] + list(same.parent.parents):
        if parent == root:
            break
        os.chmod(parent, 0o755)
    shutil.copy(str(fakes["fake311"]), str(same))
    os.chmod(same, 0o644)
    py = one_python
    prefix, env = python_home(py)
    bound = ""
    if prefix != "/usr":
        bound = prefix
        env["PYTHONHOME"] = "/pyctr"
        if py.shared:
            env["LD_LIBRARY_PATH"] = "/pyctr/lib"
    b = root / "hostile" / "bin"
    b.mkdir()
    os.chmod(b, 0o1777)
    for n in ("python", "python-b"):
        shutil.copy2(py.real_path, str(b / n))
        os.chmod(b / n, 0o755)
        os.chown(b / n, 65534, 65534)
    secs = 6
    run = CONTAINER_RUN
    for k, v in (("{long}", str(secs + 10)), ("{decoy}", str(decoy)),
                 ("{env}", " ".join("%s=%s" % kv for kv in env.items()))):
        run = run.replace(k, v)
    (root / "hostile" / "run.sh").write_text(run)
    argv = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
            "--", "/bin/sh", "-c", CONTAINER_SETUP, "sh", str(root), bound]
    out = tmp_path / "container.pb.gz"
    watch = Inotify(decoy)
    try:
        with Workload(one_python, "split.py", 20) as w, Target(argv, secs) as ctr:
            kids = descendants(ctr.pid)
            swapped, huge = by_script(kids, "selfswap.py"), by_script(kids, "hugename.py")
            err, hwm = profile_watched(root_prof, watch, w, out, secs, mode)
        opened = watch.events()
    finally:
        watch.close()
    check_hostile_run(load_profile(out), err, hwm, w.pid, one_python, opened,
                      {"selfswap.py in the container": swapped,
                       "hugename.py in the container": huge})


@pytest.fixture(scope="module")
def threadcycle(tmp_path_factory):
    return c_shared_lib(tmp_path_factory, "threadcycle.c", ["-pthread"])


def test_thread_list_cycle_in_a_real_interpreter(one_python, root_prof, threadcycle, tmp_path,
                                                  mode):
    """A real interpreter's only thread state points at itself as `next`
    for 3 s while a native thread of the process (no thread state) burns
    CPU (workloads/threadcycle.py; no Python runs meanwhile, so CPython
    never walks the loop). The agent's bounded search gives up on that
    thread (thread_walk_limit) and its samples carry no Python frames: the
    search once returned the candidate it stopped at, so the native
    thread's samples showed the main thread's Python stack. The Python
    thread is profiled as usual; the target ends by itself, status 0."""
    out = tmp_path / "cycle.pb.gz"
    go = tmp_path / "go"
    with Workload(one_python, "threadcycle.py", threadcycle, 3, go) as w:
        p = LiveProfiler(root_prof, mode + ["--pid", w.pid, "--rate", 999, "-o", out, "-v"]).start()
        try:
            p.wait_for_stderr(r"sampling at", 120)
            go.touch()
            rc = w.wait(300)
            arc, _, err = p.wait(60)  # --pid: ends with its target
        finally:
            p.kill()
    assert rc == 0, w.err_lines
    assert w.matching(r"^done$"), w.lines
    assert arc == 0, err
    m = re.search(r"thread_walk_limit=(\d+)", err)
    assert m and int(m.group(1)) > 0, err
    samples = samples_of(load_profile(out), w.pid)
    native = [s for s in samples if num_label(s, "tid") != w.pid]
    assert total(native) >= 20, "the native thread was hardly sampled: %s" % err
    for s in native:
        assert all(n.startswith("[") for n in frame_names(s)), frame_names(s)
    spin = one_python.func_name("cycle_spin")
    assert total([s for s in samples if spin in frame_names(s)]) >= 20, err
