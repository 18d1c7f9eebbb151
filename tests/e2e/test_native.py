# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--native: native and kernel frames merged with the Python ones.

One workload (workloads/mixed.py) runs a thread per case; the profile must
show, in each thread's samples, the C code between the Python frames that
called it and those it called back, in order:
  m-zlib    compress_loop (ZLIB-CALL) ; [call machinery] ; zlib_compress ; ... ; deflate...
  m-sort    sort_loop (SORT-CALL) ; <C: sorted> ; ... ; sort_key
  m-ctypes  ctypes_loop (QSORT-CALL) ; <C: qsort> ; ... ; cmp_cb
  m-gc      gc_loop (GC-CALL) ; <C: the collector>
  m-sys     read_loop (READ-CALL) ; <C> ; kernel frames (name_[k])
Names of static C functions are only checked where the object has a
.symtab or its debug file is installed under /usr/lib/debug/.build-id
(Debian strips its python3.11: without python3.11-dbg of the same version
those show as [python3.11+0x...]). On a debug build (python3.11d) the
allocator's fills are left out of each thread's share.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

import conftest
from conftest import (WORKLOADS, Workload, assert_ran_ok, count, describe, kill_tree,
                      load_profile, marker_line, run_for_cpu, str_label)

SCRIPT = "mixed.py"
THREADS = ("m-zlib", "m-sort", "m-ctypes", "m-gc", "m-sys")
# 1.5 CPU-seconds per thread at 499 Hz: ~750 samples each; minimums far below.
# (The callback threads spend a fifth to a half of theirs in the callee: at
# 199 Hz a loaded machine left 29-60 samples with it, too few for a 95% bar.)
CPU_S = 1.5
RATE = 499
MIN_SAMPLES = 60
# Samples inside a sorted()/qsort callback, at least; the order bar.
MIN_CALLBACK = 60
CALLBACK_ORDER = 0.95

_symtab = {}


def build_id(path):
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    return m.group(1) if m else ""


def debug_file(path):
    """The installed debug file of an object (by build id), or None."""
    bid = build_id(path)
    f = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    return f if bid and os.path.exists(f) else None


def has_symtab(path):
    """Are the object's static functions named: a .symtab in it, or its
    debug file installed?"""
    if path not in _symtab:
        r = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True)
        _symtab[path] = ".symtab" in r.stdout or debug_file(path) is not None
    return _symtab[path]


def base(name):
    """A function's name without the compiler's suffixes (a debug file names
    gc_collect_main.lto_priv.0, list_sort.lto_priv.0...)."""
    return re.sub(r"(\.(lto_priv|constprop|isra|part|cold)(\.\d+)?)+$", "", name)


def is_python(frame):
    return frame.get("filename", "").endswith(".py")


def is_native(frame):
    return bool(frame.get("mapping")) and not frame["function"].endswith("_[k]")


def between(frames, callee, caller):
    """Frames strictly between the innermost frame named `callee` (or matching
    it, a regex) and the first frame named `caller` below it; None if absent."""
    names = [f["function"] for f in frames]
    for i, n in enumerate(names):
        if re.fullmatch(callee, n):
            for j in range(i + 1, len(names)):
                if names[j] == caller:
                    return frames[i + 1:j]
            return None
    return None


def thread_samples(prof, pid, name):
    return [s for s in prof["samples"]
            if s["num_labels"].get("pid") == [pid] and str_label(s, "thread_name") == name]


def without_debug_fills(samples, python):
    """`samples` less those in a debug build's allocator (python3.11d's
    _PyMem_DebugRawAlloc/_PyMem_DebugRawFree fill every block they hand out or
    free: a fresh 1 MiB read or compressed buffer is written whole twice). That
    is real time of the build, under the right callers, but not the work the
    thread's check is about: 58 % of python3.11d's read() thread, 7-8 % of its
    zlib thread."""
    if not python.debug:
        return samples
    return [s for s in samples
            if not any(f["function"].startswith("_PyMem_Debug") for f in s["frames"])]


def profile_mixed(root_prof, python, tmp_path):
    out = tmp_path / "mixed.pb.gz"
    with Workload(python, SCRIPT) as w:
        tids = {m.group(1): int(m.group(2)) for m in w.matching(r"^thread (\S+) (\d+)$")}
        assert set(tids) == set(THREADS), w.lines
        rc, so, se, _ = run_for_cpu(root_prof, ["--pid", w.pid, "--native", "--rate", RATE,
                                                "-o", out], [(w.pid, t) for t in tids.values()],
                                    CPU_S)
        assert_ran_ok(rc, so, se)
    return w.pid, load_profile(out), se


def misses(samples, ok, caller):
    """The samples `ok` rejects, counted by (the frame right above `caller`,
    the innermost non-kernel frame): where the thread was instead."""
    out = {}
    for s in samples:
        if ok(s["frames"]):
            continue
        names = [f["function"] for f in s["frames"]]
        at = names.index(caller) if caller in names else len(names)
        user = [n for n in names if not n.endswith("_[k]")]
        key = "%s ... %s" % (names[at - 1] if at else "-", user[0] if user else "-")
        out[key] = out.get(key, 0) + count(s)
    return "\n".join("  %5d  %s" % (v, k) for k, v in sorted(out.items(), key=lambda kv: -kv[1])[:12])


def share(samples, ok):
    n = sum(count(s) for s in samples)
    good = sum(count(s) for s in samples if ok(s["frames"]))
    return good / n if n else 0.0, n


def test_native_frames_merged(root_prof, pprofcheck, python, tmp_path):
    pid, prof, se = profile_mixed(root_prof, python, tmp_path)
    info = describe(prof, pid, limit=25) + "\n" + "\n".join(
        l for l in se.splitlines() if "native:" in l or "Dropped" in l)
    lines = {k: marker_line(SCRIPT, k) for k in ("ZLIB-CALL", "SORT-CALL", "QSORT-CALL",
                                                  "GC-CALL", "READ-CALL")}

    # zlib: the Python caller on its line, zlib_compress right above it
    # (only native frames between), a deflate* function above that.
    def zlib_ok(frames):
        names = [f["function"] for f in frames]
        if "compress_loop" not in names:
            return False
        c = names.index("compress_loop")
        above = frames[:c]
        if not above or any(is_python(f) for f in above):
            return False
        # The interpreter's call machinery may lie between (3.8's
        # call_function...): it is C code too, and stays visible.
        ext = [i for i, f in enumerate(above) if base(f["function"]) == "zlib_compress"]
        if not ext and not any(f.get("mapping") and not has_symtab(f["mapping"])
                               for f in above):
            return False
        top = ext[0] if ext else len(above)
        return frames[c]["line"] == lines["ZLIB-CALL"] and any(
            f["function"].startswith("deflate") for f in above[:top])

    samples = without_debug_fills(thread_samples(prof, pid, "m-zlib"), python)
    frac, n = share(samples, zlib_ok)
    assert n >= MIN_SAMPLES, "m-zlib: %d samples\n%s" % (n, info)
    assert frac >= 0.90, "m-zlib: %.0f%% of %d samples in order; the others, by the frame "\
        "above compress_loop's line and the innermost native one:\n%s\n%s" % (
            100 * frac, n, misses(samples, zlib_ok, "compress_loop"), info)

    # Python -> C -> Python: the callee above C code above the caller, nothing
    # Python between them; by name where the objects have symbols.
    for thread, callee, caller, marker, cname in (
            ("m-sort", "sort_key", "sort_loop", "SORT-CALL", r"list_sort|builtin_sorted"),
            ("m-ctypes", "cmp_cb", "ctypes_loop", "QSORT-CALL", r"qsort.*|msort.*")):
        samples = [s for s in without_debug_fills(thread_samples(prof, pid, thread), python)
                   if any(f["function"] == callee for f in s["frames"])]

        def ok(frames):
            mid = between(frames, callee, caller)
            if not mid or any(is_python(f) for f in mid) or not any(is_native(f) for f in mid):
                return False
            named = [f for f in mid if re.fullmatch(cname, base(f["function"]))]
            stripped = any(not has_symtab(f["mapping"]) for f in mid if f.get("mapping"))
            line = next(f for f in frames if f["function"] == caller)["line"]
            return line == lines[marker] and (named or stripped)

        frac, n = share(samples, ok)
        # The bar, 95%. Measured after the stack copy began 128 bytes
        # below sp (13:20-13:24 UTC, 999 Hz, 20-30 s, loaded machine): 3.14t 641 of
        # 641 samples in order (it was 74-88%: samples in an epilogue after
        # `pop rbp` lost rbp, and with it the CFA of 3.14t's rbp-framed
        # evaluation loop), Debian 3.11 570 of 574 (the rest: taken in the
        # evaluation loop's prologue, before 3.11 marks the new frame is_entry,
        # so the callee is given to its caller's activation). With at least
        # 60 samples and a true rate of 99%, 95% fails about once in 300 runs.
        need = CALLBACK_ORDER
        assert n >= MIN_CALLBACK, "%s: %d samples with %s\n%s" % (thread, n, callee, info)
        assert frac >= need, "%s: %.0f%% of %d samples with %s in order\n%s" % (
            thread, 100 * frac, n, callee, info)

    # The collector under its Python caller.
    def gc_ok(frames):
        names = [f["function"] for f in frames]
        if "gc_loop" not in names:
            return False
        above = frames[:names.index("gc_loop")]
        if not above or any(is_python(f) for f in above):
            return False
        return any(re.search(r"gc_collect|_PyGC_Collect|collect_main", f["function"])
                   for f in above) or not has_symtab(above[-1]["mapping"])

    samples = without_debug_fills(thread_samples(prof, pid, "m-gc"), python)
    frac, n = share(samples, gc_ok)
    assert n >= MIN_SAMPLES, "m-gc: %d samples\n%s" % (n, info)
    assert frac >= 0.5, "m-gc: %.0f%% of %d samples in the collector\n%s" % (
        100 * frac, n, info)

    # Kernel frames on top of the C code that made the system call.
    def sys_ok(frames):
        names = [f["function"] for f in frames]
        if "read_loop" not in names or not names[0].endswith("_[k]"):
            return False
        k = next(i for i, f in enumerate(frames) if not f["function"].endswith("_[k]"))
        return all(f.get("mapping") == "[kernel.kallsyms]" for f in frames[:k]) and \
            is_native(frames[k])

    samples = without_debug_fills(thread_samples(prof, pid, "m-sys"), python)
    frac, n = share(samples, sys_ok)
    assert n >= MIN_SAMPLES, "m-sys: %d samples\n%s" % (n, info)
    assert frac >= 0.5, "m-sys: %.0f%% of %d samples with kernel frames\n%s" % (
        100 * frac, n, info)

    # Native locations carry an address and a mapping with the object's
    # build id; kernel ones the kernel's mapping.
    frames = [f for s in prof["samples"] if s["num_labels"].get("pid") == [pid]
              for f in s["frames"] if not is_python(f) and f.get("mapping")]
    assert frames, info
    for f in frames:
        assert f.get("address"), f
        if f["function"].endswith("_[k]"):
            assert f["mapping"] == "[kernel.kallsyms]", f
    libz = [f for f in frames if f["function"] == "deflate"]
    assert libz and all(re.fullmatch(r"[0-9a-f]{40}", f.get("build_id", "")) for f in libz), \
        libz[:3]


CHROOT_SETUP = r"""
set -e
R=$1; shift
mount --rbind /usr "$R/usr"
mount --bind /dev "$R/dev"
exec chroot "$R" "$@"
"""


def test_native_in_a_chroot_with_private_mounts(root_prof, pprofcheck, tmp_path):
    """Binaries seen through another mount namespace: the process maps a copy
    of the interpreter and libraries under paths that, from the host, are
    empty directories (its /usr is a bind mount only its namespace has). The
    unwinder must open them through /proc/PID/map_files."""
    py = "/usr/bin/python3.11"
    if not os.path.exists(py):
        pytest.skip("Debian's python3.11 is not installed")
    for tool in ("unshare", "chroot", "mount"):
        if not shutil.which(tool):
            pytest.skip("%s (util-linux) not installed" % tool)
    root = tmp_path / "root"
    for d in ("usr", "dev", "tmp", "ctr-bin", "app"):
        (root / d).mkdir(parents=True)
    for d in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink("/" + d):
            os.symlink(os.readlink("/" + d), str(root / d))
    shutil.copy2(py, str(root / "ctr-bin" / "python3.11"))
    shutil.copy(str(WORKLOADS / "zloop.py"), str(root / "app" / "zloop.py"))
    proc = subprocess.Popen(["unshare", "--mount", "--fork", "sh", "-c", CHROOT_SETUP, "sh",
                             str(root), "/ctr-bin/python3.11", "/app/zloop.py"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("ready"), "zloop.py did not start"
        pid = int(subprocess.run(["pgrep", "-f", "^/ctr-bin/python3.11 /app/zloop.py"],
                                 capture_output=True, text=True).stdout.split()[0])
        out = tmp_path / "chroot.pb.gz"
        rc, so, se, _ = run_for_cpu(root_prof, ["--pid", pid, "--native", "--rate", RATE,
                                                "-o", out], [pid], CPU_S)
        assert_ran_ok(rc, so, se)
    finally:
        kill_tree(proc.pid)
    prof = load_profile(out)
    samples = [s for s in prof["samples"] if s["num_labels"].get("pid") == [pid]]
    info = describe(prof, pid) + "\n" + se

    def ok(frames):
        names = [f["function"] for f in frames]
        return "compress_loop" in names and "deflate" in names and \
            names.index("deflate") < names.index("compress_loop") and names[-1] == "_start"

    frac, n = share(samples, ok)
    assert n >= MIN_SAMPLES, "%d samples\n%s" % (n, info)
    assert frac >= 0.9, "%.0f%% of %d samples unwound through the chroot\n%s" % (
        100 * frac, n, info)


def test_native_library_loaded_after_start(root_prof, pprofcheck, tmp_path):
    """A library mapped after its process was first unwound (import of a C
    extension = dlopen) is found: the unwinder reads the maps again."""
    pys = sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3"))
    if not pys:
        pytest.skip("no pyenv 3.12 (its bz2 is a shared extension)")
    py = conftest.Interpreter(pys[0])
    out = tmp_path / "late.pb.gz"
    with Workload(py, "lateload.py", 4) as w:
        rc, so, se, _ = run_for_cpu(root_prof, ["--pid", w.pid, "--native", "--rate", RATE,
                                                "-o", out], [w.pid], CPU_S + 4)
        assert_ran_ok(rc, so, se)
        assert w.matching(r"^loaded"), "the extension was not loaded during the run"
    prof = load_profile(out)
    samples = [s for s in prof["samples"] if s["num_labels"].get("pid") == [w.pid] and
               any(f["function"] == "bz_loop" for f in s["frames"])]
    info = describe(prof, w.pid) + "\n" + se

    def ok(frames):
        names = [f["function"] for f in frames]
        above = frames[:names.index("bz_loop")]
        return any(re.search(r"_bz2|libbz2", f.get("mapping", "")) and
                   not f["function"].startswith("[") for f in above)

    frac, n = share(samples, ok)
    assert n >= MIN_SAMPLES, "%d samples in bz_loop\n%s" % (n, info)
    assert frac >= 0.9, "%.0f%% of %d samples named in the late library\n%s" % (
        100 * frac, n, info)


def test_native_debuginfo_names_static_functions(root_prof, pprofcheck, tmp_path):
    """Debian's stripped python3.11 with its debug file installed
    (python3.11-dbg of the same version, tools/setup.sh): the collector's
    static functions get their names from /usr/lib/debug/.build-id, so a
    thread in gc.collect() shows gc_collect_main under its Python caller."""
    py = "/usr/bin/python3.11"
    if not os.path.exists(py):
        pytest.skip("Debian's python3.11 is not installed")
    if debug_file(py) is None:
        dbg = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", "python3.11-dbg"],
                             capture_output=True, text=True).stdout
        # tools/setup.sh installs it: installed without the file is a broken setup.
        assert "install ok installed" not in dbg, (
            "python3.11-dbg (%s) has no debug file for %s's build id %s" % (dbg, py, build_id(py)))
        pytest.skip("no debug file for %s (build id %s): python3.11-dbg is not installed "
                    "(tools/setup.sh installs it)" % (py, build_id(py)))
    pid, prof, se = profile_mixed(root_prof, conftest.Interpreter(py), tmp_path)
    info = describe(prof, pid, limit=10) + "\n" + se

    def ok(frames):
        names = [base(f["function"]) for f in frames]
        if "gc_loop" not in names:
            return False
        above = names[:names.index("gc_loop")]
        return "gc_collect_main" in above and not any(is_python(f) for f in frames[:len(above)])

    frac, n = share(thread_samples(prof, pid, "m-gc"), ok)
    assert n >= MIN_SAMPLES, "m-gc: %d samples\n%s" % (n, info)
    assert frac >= 0.5, "m-gc: %.0f%% of %d samples under gc_collect_main\n%s" % (
        100 * frac, n, info)
