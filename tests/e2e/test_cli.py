# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The real binary's command line: exit codes (user/config.h) and messages.

Every failure must be one line on stderr starting "pybpf-prof: " and the
documented exit code; no output file may be left behind.
"""
import os
import subprocess

import pytest

from conftest import (
    EXIT, VERSION, Workload, assert_one_error_line, assert_ran_ok, dead_pid, load_profile,
    which,
)


def assert_fails(result, code, *needles):
    rc, out, err = result
    assert rc == code, "exit %s, want %d\nstdout:\n%s\nstderr:\n%s" % (rc, code, out, err)
    line = assert_one_error_line(err, rc)
    for n in needles:
        assert n in line, "error line %r lacks %r" % (line, n)
    return line


def listing(d):
    return sorted(os.listdir(str(d)))


# --------------------------------------------------------------------------
# Usage (no privileges needed)


def test_help(prof_bin, run_profiler):
    rc, out, err = run_profiler(["--help"], timeout=30)
    assert rc == EXIT["EXIT_OK"], err
    assert "Usage: pybpf-prof" in out and "Exit codes" in out, out
    for opt in ("--all-pythons", "--pid", "--duration", "--rate", "--output", "--force",
                "--format", "--verbose", "--version"):
        assert opt in out, "--help lacks %s" % opt
    assert err == "", err
    rc, out2, _ = run_profiler(["-h"], timeout=30)
    assert rc == 0 and out2 == out


def test_version(prof_bin, run_profiler):
    rc, out, err = run_profiler(["--version"], timeout=30)
    assert rc == EXIT["EXIT_OK"], err
    assert VERSION in out, out
    assert len(out.strip().splitlines()) == 1, out
    rc, out2, _ = run_profiler(["-V"], timeout=30)
    assert rc == 0 and out2 == out


USAGE_ERRORS = [
    (["--all-pythons", "--rate", "0"], "--rate"),
    (["--all-pythons", "--rate", "10001"], "--rate"),
    (["--all-pythons", "--rate", "99x"], "--rate"),
    (["--all-pythons", "--duration", "-1"], "--duration"),
    (["--all-pythons", "--duration", "abc"], "--duration"),
    (["--pid", "0"], "--pid"),
    (["--pid", "12ab"], "--pid"),
    ([], "nothing to profile"),
    (["--duration", "1"], "nothing to profile"),
    (["--all-pythons", "--pid", "1"], "exclusive"),
    (["--all-pythons", "--bogus"], "--bogus"),
    (["--all-pythons", "--format", "json"], "--format"),
    (["--all-pythons", "stray"], "stray"),
    (["--all-pythons", "-o", ""], "-o"),
    (["--all-pythons", "--rate"], "--rate"),
]


@pytest.mark.parametrize("args, needle", [
    pytest.param(a, n, id=" ".join(repr(x) if x == "" else x for x in a) or "no-args")
    for a, n in USAGE_ERRORS])
def test_usage_errors(prof_bin, run_profiler, tmp_path, args, needle):
    line = assert_fails(run_profiler(args, timeout=30, cwd=str(tmp_path)), EXIT["EXIT_USAGE"],
                        needle)
    assert "\n" not in line
    assert listing(tmp_path) == [], "files written on a usage error: %s" % listing(tmp_path)


# --------------------------------------------------------------------------
# Targets


def test_dead_pid(root_prof, run_profiler, tmp_path):
    pid = dead_pid()
    out = tmp_path / "p.pb.gz"
    assert_fails(run_profiler(["--pid", pid, "--duration", 1, "-o", out]),
                 EXIT["EXIT_PID_NOT_FOUND"], str(pid))
    assert listing(tmp_path) == []


def test_not_python(root_prof, run_profiler, tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        out = tmp_path / "p.pb.gz"
        assert_fails(run_profiler(["--pid", sleeper.pid, "--duration", 1, "-o", out]),
                     EXIT["EXIT_NOT_PYTHON"], str(sleeper.pid))
        assert sleeper.poll() is None, "the non-Python target was killed"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------
# Output


def test_output_directory_missing(root_prof, run_profiler, tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    assert_fails(run_profiler(["--all-pythons", "--duration", 1, "-o", missing / "p.pb.gz"]),
                 EXIT["EXIT_OUTPUT"], str(missing))
    assert listing(tmp_path) == []


def test_output_exists_without_force(root_prof, run_profiler, tmp_path):
    out = tmp_path / "keep.pb.gz"
    out.write_bytes(b"precious data\n")
    before = os.stat(str(out))
    assert_fails(run_profiler(["--all-pythons", "--duration", 1, "-o", out]),
                 EXIT["EXIT_OUTPUT"], str(out))
    after = os.stat(str(out))
    assert out.read_bytes() == b"precious data\n", "the existing file was changed"
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino, before.st_mtime_ns, before.st_size)
    assert listing(tmp_path) == ["keep.pb.gz"], "temporary files left: %s" % listing(tmp_path)


def test_output_exists_with_force(root_prof, pprofcheck, run_profiler, interpreters, tmp_path):
    if not interpreters:
        pytest.skip("no interpreters")
    out = tmp_path / "old.pb.gz"
    out.write_bytes(b"old\n")
    with Workload(interpreters[0], "split.py") as w:
        rc, so, se = run_profiler(["--pid", w.pid, "--duration", 2, "-o", out, "--force"])
    assert_ran_ok(rc, so, se)
    prof = load_profile(out)
    assert prof["samples"], "empty profile"
    assert listing(tmp_path) == ["old.pb.gz"], "temporary files left: %s" % listing(tmp_path)


@pytest.mark.parametrize("fmt, default", [(None, "profile.pb.gz"), ("folded", "profile.folded")])
def test_default_output_name(root_prof, run_profiler, tmp_path, fmt, default):
    args = ["--all-pythons", "--duration", 1] + (["--format", fmt] if fmt else [])
    rc, so, se = run_profiler(args, cwd=str(tmp_path))
    assert_ran_ok(rc, so, se)
    assert listing(tmp_path) == [default]
    if fmt is None:
        load_profile(tmp_path / default)


# --------------------------------------------------------------------------
# Environment: privileges and BTF


def test_not_privileged(prof_bin, run_profiler, world_writable_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the nobody user")
    setpriv = which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) not installed")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run(prefix + ["test", "-x", prof_bin]).returncode != 0:
        pytest.skip("%s is not executable by nobody (a directory on its path is private)"
                    % prof_bin)
    out = world_writable_dir / "p.pb.gz"
    line = assert_fails(run_profiler(["--all-pythons", "--duration", 1, "-o", out],
                                     prefix=prefix), EXIT["EXIT_NO_PRIVILEGE"])
    assert "CAP_BPF" in line or "CAP_PERFMON" in line, line
    assert listing(world_writable_dir) == []


def test_no_btf(root_prof, run_profiler, tmp_path):
    """Hide /sys/kernel/btf in a private mount namespace: exit 4."""
    unshare = which("unshare")
    if not unshare:
        pytest.skip("unshare (util-linux) not installed")
    prefix = [unshare, "--mount", "--propagation", "private", "--", "sh", "-c",
              'mount -t tmpfs pybpf-nobtf /sys/kernel/btf && exec "$@"', "sh"]
    probe = subprocess.run(prefix + ["test", "!", "-e", "/sys/kernel/btf/vmlinux"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("cannot hide /sys/kernel/btf in a mount namespace here: %s" % probe.stderr)
    out = tmp_path / "p.pb.gz"
    line = assert_fails(run_profiler(["--all-pythons", "--duration", 1, "-o", out],
                                     prefix=prefix), EXIT["EXIT_NO_BTF"])
    assert "BTF" in line, line
    assert listing(tmp_path) == []
