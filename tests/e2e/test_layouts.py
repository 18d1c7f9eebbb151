# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Interpreter layouts that cannot be trusted are refused in words, never
profiled as empty (issue: 3.15 was read with 3.14's layout and gave a
profile of '[thread without Python state]' without a word).

- A 3.13+ interpreter whose `_Py_DebugOffsets` do not validate (a copy of
  the interpreter with one word of the block changed, as a version with
  inserted fields would look): `--pid` exits 7 naming the version;
  `--all-pythons` warns once for the binary however many processes run it,
  counts them in the summary, and profiles everything else.
- A version newer than this build (3.16.0a0 built from CPython's main, if
  one is under /opt/pythons-next) is either profiled exactly like a known one
  or refused the same way.
"""
import glob
import os
import re
import shutil
import struct
import subprocess

import pytest

from conftest import (
    EXIT, Interpreter, Workload, assert_one_error_line, assert_ran_ok, check_split, describe,
    load_profile, num_label, run_for_cpu, samples_of,
)

NEXT_GLOB = "/opt/pythons-next/*/bin/python3"
COOKIE = b"xdebugpy"


def _libpython(python):
    out = subprocess.run(
        [python.path, "-c",
         "print([l.split()[-1] for l in open('/proc/self/maps') if 'libpython' in l][0])"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def modified_interpreter(python, tmp_path):
    """A copy of `python` whose debug block records a wrong runtime size: the
    interpreter runs as before (it never reads its own debug offsets), but the
    block no longer matches its layout. Returns (argv prefix, env, patched file)."""
    if python.version < (3, 13):
        pytest.skip("%s has no _Py_DebugOffsets (3.13+)" % python.version_str)
    env = dict(os.environ)
    if python.shared:
        src = _libpython(python)
        libdir = tmp_path / "lib"
        libdir.mkdir()
        target = libdir / os.path.basename(src)
        shutil.copy2(src, target)
        env["LD_LIBRARY_PATH"] = str(libdir)  # before the executable's RUNPATH
        argv0 = python.path
    else:
        target = tmp_path / os.path.basename(python.real_path)
        shutil.copy2(python.real_path, target)
        argv0 = str(target)
    data = bytearray(target.read_bytes())
    # The block: the cookie followed by this interpreter's version (3.15 also
    # has the cookie as a string constant).
    blocks = [m.start() for m in re.finditer(re.escape(COOKIE), data)
              if struct.unpack_from("<Q", data, m.start() + 8)[0] >> 16
              == (3 << 8 | python.version[1])]
    assert len(blocks) == 1, "expected one debug block in %s, found %d" % (target, len(blocks))
    at = blocks[0]
    size_at = at + 24  # runtime_state.size, word 3 in every 3.13+ layout
    (size,) = struct.unpack_from("<Q", data, size_at)
    struct.pack_into("<Q", data, size_at, size + 8)
    target.write_bytes(bytes(data))
    return argv0, env, target


def test_modified_layout_refused_for_pid(run_profiler, python, tmp_path):
    argv0, env, _ = modified_interpreter(python, tmp_path)
    with Workload(python, "split.py", argv=[argv0, str(Workload(python, "split.py").script)],
                  env=env) as w:
        rc, out, err = run_profiler(["--pid", str(w.pid), "--duration", "2", "-o",
                                     str(tmp_path / "x.pb.gz")])
        assert w.alive()
    assert rc == EXIT["EXIT_UNSUPPORTED_PYTHON"], "rc=%s\n%s" % (rc, err)
    line = assert_one_error_line(err, rc)
    assert "Python %d.%d" % python.version[:2] in line, line
    assert "do not match" in line, line
    assert not (tmp_path / "x.pb.gz").exists(), "a refused --pid must not write a profile"


def test_modified_layout_skipped_by_all_pythons(root_prof, pprofcheck, python, tmp_path):
    argv0, env, patched = modified_interpreter(python, tmp_path)
    script = str(Workload(python, "split.py").script)
    out = tmp_path / "all.pb.gz"
    with Workload(python, "split.py", argv=[argv0, script], env=env) as bad1, \
            Workload(python, "split.py", argv=[argv0, script], env=env) as bad2, \
            Workload(python, "split.py") as good:
        rc, so, se, _ = run_for_cpu(root_prof, ["--all-pythons", "-o", out, "--rate", "199"],
                                    [good.pid], 3)
        assert good.alive() and bad1.alive() and bad2.alive()
    assert_ran_ok(rc, so, se)
    warnings = [l for l in se.splitlines() if "not profiling Python" in l and str(patched) in l]
    assert len(warnings) == 1, "expected one warning for %s, got:\n%s" % (patched, se)
    assert "Python %d.%d" % python.version[:2] in warnings[0]
    m = re.search(r"(\d+) Python process(?:es)? not profiled: (.*)", se)
    assert m and int(m.group(1)) >= 2 and "not matching" in m.group(2), se
    prof = load_profile(out)
    pids = {num_label(s, "pid") for s in prof["samples"]}
    assert bad1.pid not in pids and bad2.pid not in pids, "refused processes were profiled"
    check_split(python, samples_of(prof, good.pid), describe(prof, good.pid), min_samples=200,
                tolerance=0.08)


def _next_interpreters():
    return [Interpreter(p) for p in sorted(glob.glob(NEXT_GLOB))]


@pytest.mark.parametrize("nextpy", _next_interpreters() or [None],
                         ids=lambda p: p.id if p else "none")
def test_newer_than_build(root_prof, pprofcheck, nextpy, tmp_path):
    """3.16.0a0 (CPython main) keeps 3.15's debug struct: profiled like 3.15,
    or, if a future build changes it, refused with exit 7 and a reason."""
    if nextpy is None:
        pytest.skip("no interpreter under %s (a CPython newer than this build)" % NEXT_GLOB)
    out = tmp_path / "next.pb.gz"
    with Workload(nextpy, "split.py") as w:
        rc, so, se, _ = run_for_cpu(root_prof, ["--pid", w.pid, "-o", out, "--rate", "199"],
                                    [w.pid], 4)
        assert w.alive()
    if rc == EXIT["EXIT_UNSUPPORTED_PYTHON"]:
        line = assert_one_error_line(se, rc)
        assert "Python %d.%d" % nextpy.version[:2] in line and "newer than this build" in line
        return
    assert_ran_ok(rc, so, se)
    prof = load_profile(out)
    # The bar for a new version: 3:1 within +-6 points over >= 300 samples
    # (binomial standard error at 800 samples: 1.5 points).
    check_split(nextpy, samples_of(prof, w.pid), describe(prof, w.pid), min_samples=300,
                tolerance=0.06)
