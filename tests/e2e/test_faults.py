# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Faults around the agent, each end to end:

- SIGKILL of the agent at many points, writes included, leaves no partial
  or misnamed profile in --output-dir: every file with a final name is a
  valid profile (temporary files are hidden ".pybpf-..." names that the
  next agent removes once stale);
- ENOSPC in the output directory (a 64 KiB tmpfs filled up) is logged,
  leaves no temporary file behind, the newest unwritten interval is kept
  and retried, and writing resumes (that interval too) when space returns;
- the output directory deleted and re-created while running;
- RLIMIT_MEMLOCK far below what the maps need;
- two agents at once over the same process: both profile it fully;
- a target that exec()s into a non-Python program, and a C program that
  dlopen()s libpython late: the agent carries on / profiles the late Python;
- the wall clock stepped back an hour during a run (the agent alone runs
  under libfaketime, the machine's clock is left alone): names keep write
  order, retention keeps the newest, durations stay those of the monotonic
  clock;
- a target that takes away (mprotect PROT_NONE, munmap) the pages holding
  its frames and code objects while it is sampled, then puts them back.

Every target's exit status is checked; none is ever stopped.
"""
import collections
import glob
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (WORKLOADS, LiveProfiler, Workload, c_shared_lib, frame_names,
                      describe, interpreter_list, load_profile, num_label, samples_of, str_label,
                      total)

NAME_RE = re.compile(r"^pybpf-[A-Za-z0-9.-]+-\d{8}T\d{6}Z-\d{4}\.pb\.gz$")
TMP_RE = re.compile(r"^\.pybpf-[A-Za-z0-9.-]+-\d{8}T\d{6}Z-\d{4}\.pb\.gz\.[A-Za-z0-9]{6}$")


def heavy(prof, pid, python):
    name = python.func_name("Split.heavy")
    return sum(s["values"][0] for s in samples_of(prof, pid) if name in frame_names(s))


def not_stopped(pid):
    try:
        stat = open("/proc/%d/stat" % pid).read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("t", "T")


def finish(w, timeout=300):
    """The workload ends by itself (its CPU budget), exit status 0."""
    rc = w.wait(timeout)
    assert rc == 0, "workload exited %s: %s" % (rc, w.err_lines[-5:])
    assert w.matching(r"^done\b"), w.lines[-5:]


def start_agent(prof_bin, args, prefix=()):
    p = LiveProfiler(prof_bin, [str(a) for a in args] + ["-v"], prefix=prefix).start()
    p.wait_for_stderr(r"sampling at", 120)
    return p


def stop_agent(p, timeout=30):
    p.signal(signal.SIGTERM)
    rc, out, err = p.wait(timeout)
    assert rc == 0, "agent exited %s\n%s" % (rc, err)
    return err


def check_wall(prof, what):
    """A wall-mode profile gives no thread more wall time than the profile
    lasted (open intervals closed at its end, none counted twice or from a
    stepped clock). Nothing to check in CPU mode."""
    if prof["sample_types"][-1]["type"] != "wall":
        return
    per_thread = collections.Counter()
    for s in prof["samples"]:
        per_thread[(num_label(s, "pid"), num_label(s, "tid"))] += s["values"][1]
    limit = prof["duration_nanos"] * 1.1 + 0.2e9
    over = {k: v for k, v in per_thread.items() if v > limit}
    assert not over, "%s: threads with more wall time than %d ns: %s" % (
        what, prof["duration_nanos"], over)


def check_dir(d):
    """Every final name is a valid profile; anything else is a temp file."""
    files = sorted(os.listdir(d))
    final = [f for f in files if NAME_RE.match(f)]
    other = [f for f in files if not NAME_RE.match(f)]
    assert all(TMP_RE.match(f) for f in other), "misnamed files: %s" % other
    for f in final:
        check_wall(load_profile(d / f), f)
    return final, other


def test_sigkill_mid_write_leaves_no_partial_file(one_python, root_prof, tmp_path, mode):
    out = tmp_path / "out"
    out.mkdir()
    kills = 0
    with Workload(one_python, "split.py", 40) as w:
        # --rate 999 and 1 s intervals: a write every second, each bigger;
        # the kills land at different offsets into the interval.
        for i in range(8):
            p = start_agent(root_prof, mode + ["--all-pythons", "--rate", 999, "--interval", 1,
                                               "--output-dir", out])
            time.sleep(1.0 + 0.13 * i)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(30)
            kills += 1
            assert not_stopped(w.pid)
        final, temps = check_dir(out)
        # The next agent starts fine on the same directory and writes.
        p = start_agent(root_prof, mode + ["--all-pythons", "--interval", 1, "--output-dir", out])
        time.sleep(2.5)
        stop_agent(p)
        assert w.alive(), "the workload died"
    final2, _ = check_dir(out)
    assert len(final2) > len(final), (final, final2)
    assert kills == 8
    assert len(final) >= 4, "too few intervals written before the kills: %s" % final


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    """Write a file until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_enospc_is_logged_retried_and_recovers(one_python, root_prof, small_tmpfs, mode):
    out = small_tmpfs
    filler = out / "filler"
    with Workload(one_python, "split.py", 30) as w:
        fill(filler)
        p = start_agent(root_prof, mode + ["--all-pythons", "--interval", 1, "--output-dir", out,
                                           "--max-files", 4])
        time.sleep(3.5)
        assert p.proc.poll() is None, "the agent died on a full directory"
        during = [f for f in os.listdir(out) if f != "filler"]
        filler.unlink()
        time.sleep(3.5)
        err = stop_agent(p)
        assert w.alive()
    assert "NOT written" in err and "No space left on device" in err, err
    # The newest interval that could not be written is written once there is room.
    assert re.search(r"interval \d+: written late, ", err), err
    assert not [f for f in during if NAME_RE.match(f)], during
    final, temps = check_dir(out)
    assert not temps, "temporary files left behind: %s" % temps
    assert len(final) >= 2, (final, err)


def test_output_dir_deleted_and_recreated(one_python, root_prof, tmp_path, mode):
    out = tmp_path / "gone"
    out.mkdir()
    with Workload(one_python, "split.py", 30) as w:
        p = start_agent(root_prof, mode + ["--all-pythons", "--interval", 1, "--output-dir", out])
        time.sleep(2.5)
        for f in os.listdir(out):
            os.unlink(out / f)
        out.rmdir()
        time.sleep(2.2)
        assert p.proc.poll() is None, "the agent died when its directory went away"
        out.mkdir()
        time.sleep(2.5)
        err = stop_agent(p)
        assert w.alive()
    final, temps = check_dir(out)
    assert len(final) >= 2, (final, err)
    assert not temps


def test_memlock_limit_low(one_python, root_prof, run_profiler, tmp_path, mode):
    """RLIMIT_MEMLOCK of 64 KiB: the agent either profiles (kernels that
    charge BPF maps to the memory cgroup ignore the limit) or says why in
    one line with the documented exit code; it never crashes."""
    out = tmp_path / "m.pb.gz"

    def low_memlock():
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))

    with Workload(one_python, "split.py", 8) as w:
        pid = w.pid
        argv = [str(root_prof)] + mode + ["--pid", str(pid), "--duration", "2", "-o", str(out)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           preexec_fn=low_memlock)
        finish(w)
    assert r.returncode in (0, 1, 3), (r.returncode, r.stderr)
    assert r.returncode >= 0, "killed by signal %d" % -r.returncode
    if r.returncode == 0:
        assert heavy(load_profile(out), pid, one_python) >= 10, r.stderr
    else:
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert lines and lines[-1].startswith("pybpf-prof: "), r.stderr


def soft_nofile(pid):
    for line in Path("/proc/%d/limits" % pid).read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit for %d" % pid)


def test_open_file_limit_raised_for_the_agent_only(one_python, root_prof, tmp_path):
    """Started with a soft limit of 1024 open files (a systemd service's), the
    agent raises its own to the hard limit (--native holds files of every
    profiled process); a program it launches keeps 1024."""
    out = tmp_path / "n.pb.gz"
    script = tmp_path / "limits.py"
    script.write_text("import resource, time\n"
                      "print('nofile', resource.getrlimit(resource.RLIMIT_NOFILE)[0], flush=True)\n"
                      "time.sleep(4)\n")

    p = LiveProfiler(root_prof, ["record", "--native", "-o", out, "-v", "--", one_python.path,
                                 script], prefix=("prlimit", "--nofile=1024:8192", "--")).start()
    try:
        p.wait_for_stderr(r"sampling at", 120)
        agent = soft_nofile(p.proc.pid)
        rc, so, se = p.wait(120)
    finally:
        p.kill()
    assert rc == 0, se
    assert agent == 8192, "the agent's soft open-file limit is %d, not the hard 8192" % agent
    assert "nofile 1024" in so + se, "the launched program's limit changed:\n%s%s" % (so, se)


def bpf_map_ids(pid):
    """Ids of the BPF maps a process holds open (its fds' fdinfo)."""
    ids = set()
    fdinfo = Path("/proc/%d/fdinfo" % pid)
    for fd in fdinfo.iterdir():
        try:
            for line in fd.read_text().splitlines():
                if line.startswith("map_id:"):
                    ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            pass
    return ids


def test_two_agents_at_once(one_python, root_prof, tmp_path, mode):
    """Two agents over one process: each works as if alone, with maps of its
    own (no map id in common), and the --pid one sees only its process."""
    a, b = tmp_path / "a.pb.gz", tmp_path / "b.pb.gz"
    with Workload(one_python, "split.py", 10) as w, Workload(one_python, "split.py", 10) as other:
        pa = start_agent(root_prof, mode + ["--pid", w.pid, "--duration", 4, "-o", a])
        pb = start_agent(root_prof, mode + ["--all-pythons", "--duration", 4, "-o", b])
        maps_a, maps_b = bpf_map_ids(pa.proc.pid), bpf_map_ids(pb.proc.pid)
        ra = pa.wait(120)
        rb = pb.wait(120)
        finish(w)
        finish(other)
    assert ra[0] == 0, ra[2]
    assert rb[0] == 0, rb[2]
    assert maps_a and maps_b, "no BPF map fds found: %s %s" % (maps_a, maps_b)
    assert not maps_a & maps_b, "the agents share maps %s" % sorted(maps_a & maps_b)
    pa, pb = load_profile(a), load_profile(b)
    check_wall(pa, "--pid agent")
    check_wall(pb, "--all-pythons agent")
    ha, hb = heavy(pa, w.pid, one_python), heavy(pb, w.pid, one_python)
    # Each saw the workload as if alone: its own maps, its own counts.
    assert ha >= 20 and hb >= 20, (ha, hb)
    # The --pid agent got nothing of the process it was not given (the
    # other agent's --all-pythons registrations are not its own).
    assert not samples_of(pa, other.pid), "--pid agent has samples of pid %d" % other.pid
    assert heavy(pb, other.pid, one_python) >= 20


def test_target_execs_into_a_non_python_program(one_python, root_prof, tmp_path, mode):
    """A profiled Python replaces itself (exec) by a shell loop: the agent
    notices, keeps running, and the process ends by itself with status 0."""
    out = tmp_path / "exec.pb.gz"
    code = ("import os, sys, time\n"
            "print('ready', flush=True)\n"
            "end = time.process_time() + 2\n"
            "while time.process_time() < end:\n"
            "    sum(i * i for i in range(10000))\n"
            "os.execv('/bin/sh', ['sh', '-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done;"
            " echo done'])\n")
    script = tmp_path / "execs.py"
    script.write_text(code)
    with Workload(one_python, "split.py", argv=[one_python.path, script]) as w:
        p = start_agent(root_prof, mode + ["--all-pythons", "-o", out])
        rc = w.wait(300)
        time.sleep(1.0)
        assert p.proc.poll() is None, "the agent died when its target exec'd"
        p.signal(signal.SIGINT)
        arc, _, err = p.wait(60)
    assert rc == 0, w.err_lines
    assert w.matching(r"^done$"), w.lines
    assert arc == 0, err
    prof = load_profile(out)
    check_wall(prof, out.name)
    assert total(samples_of(prof, w.pid)) >= 5, err


def test_libpython_dlopened_late(root_prof, tmp_path, mode):
    """A C program that dlopen()s a shared libpython after 2 s and then runs
    Python: the agent, already running, profiles its Python code."""
    cc = shutil.which("cc") or shutil.which("gcc")
    shared = [p for p in interpreter_list() if p.shared and not p.free_threaded]
    if not cc or not shared:
        pytest.skip("no C compiler or no shared-libpython interpreter")
    py = shared[0]
    lib = subprocess.run([py.path, "-c", "import sysconfig, os; print(os.path.join("
                          "sysconfig.get_config_var('LIBDIR'), sysconfig.get_config_var('LDLIBRARY')))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    exe = tmp_path / "late_dlopen"
    subprocess.run([cc, "-O1", "-o", str(exe), str(WORKLOADS / "late_dlopen.c"), "-ldl"], check=True)
    out = tmp_path / "late.pb.gz"
    with Workload(py, "split.py", argv=[exe, lib]) as w:
        p = start_agent(root_prof, mode + ["--all-pythons", "-o", out])
        rc = w.wait(300)
        p.signal(signal.SIGINT)
        arc, _, err = p.wait(60)
    assert rc == 0, w.err_lines
    assert w.matching(r"^done$"), w.lines
    assert arc == 0, err
    spin = [s for s in samples_of(load_profile(out), w.pid) if "late_spin" in frame_names(s)]
    assert total(spin) >= 5, err


def _libfaketime():
    for pattern in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
                    "/usr/lib64/faketime/libfaketimeMT.so.1"):
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    return None


def test_clock_stepped_back(one_python, root_prof, pprofcheck, tmp_path, mode):
    """CLOCK_REALTIME steps back one hour while the agent writes 1 s
    intervals with --max-files 3. Only the agent sees the step: it runs
    under libfaketime (LD_PRELOAD, offset read from a file, the monotonic
    clock left alone), so the shared machine's clock is never touched.
    The files kept are the last three written (not the stale ones from
    before the step), their names sort in write order, every profile is
    valid, its time is the clock's (an hour back) and its duration the
    monotonic one (about 1 s, never negative or an hour). An agent started
    afterwards, the clock still back, keeps its own files too."""
    lib = _libfaketime()
    if not lib:
        pytest.skip("libfaketime not installed (Debian: faketime)")
    out = tmp_path / "out"
    out.mkdir()
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = dict(os.environ, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=str(offset),
               FAKETIME_CACHE_DURATION="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
    with Workload(one_python, "split.py", 60) as w:
        p = LiveProfiler(root_prof, mode + ["--pid", w.pid, "--interval", 1, "--output-dir", out,
                                            "--max-files", 3, "-v"], env=env).start()
        p.wait_for_stderr(r"sampling at", 120)
        p.wait_for_stderr(r"interval 3: ", 60)
        before_step = time.time()
        offset.write_text("-1h\n")
        p.wait_for_stderr(r"interval 8: ", 60)
        err = stop_agent(p)
        assert w.alive() and not_stopped(w.pid)
    wrote = re.findall(r"wrote (\S+)", err)
    assert wrote == sorted(wrote), "names not in write order: %s" % wrote
    final, temps = check_dir(out)
    assert not temps, temps
    assert [str(out / f) for f in final] == wrote[-3:], (final, wrote)
    stepped = 0
    for f in final:
        meta = json.loads(subprocess.run([pprofcheck, str(out / f)], capture_output=True,
                                         check=True).stdout)
        # ~1 s each; the last one, cut short by SIGTERM, may be shorter
        low = 0 if f == final[-1] else 0.2e9
        assert low < meta["duration_nanos"] < 10e9, (f, meta["duration_nanos"])
        if meta["time_nanos"] < (before_step - 3000) * 1e9:
            stepped += 1
    # The step reached the agent: the kept intervals carry the clock's time.
    assert stepped >= 2, "libfaketime's step not seen in the kept profiles: %s" % err
    # The workload was profiled after the step (the last, cut short, may be empty).
    assert sum(total(samples_of(load_profile(out / f), w.pid)) for f in final) >= 1, err
    # A new agent, started with the clock still an hour back, names its files
    # after the newest ones there: retention then deletes the old files, not
    # the new agent's (it once named them an hour "earlier" and lost them).
    with Workload(one_python, "split.py", 30) as w2:
        p = LiveProfiler(root_prof, mode + ["--pid", w2.pid, "--interval", 1, "--output-dir", out,
                                            "--max-files", 3, "-v"], env=env).start()
        p.wait_for_stderr(r"interval 3: ", 60)
        err2 = stop_agent(p)
    wrote2 = re.findall(r"wrote (\S+)", err2)
    assert wrote2[0] > wrote[-1], (wrote, wrote2)
    final, temps = check_dir(out)
    assert [str(out / f) for f in final] == wrote2[-3:], (final, wrote2)


@pytest.fixture(scope="module")
def unmapper(tmp_path_factory):
    return c_shared_lib(tmp_path_factory, "unmapper.c")


def test_target_unmaps_its_frames_mid_sample(one_python, root_prof, unmapper, tmp_path, mode):
    """The target takes away the pages holding its current frame and its code
    object (mprotect PROT_NONE, then munmap) while it burns CPU in C, then
    puts them back (workloads/unmaps.py): the agent keeps sampling, counts
    the samples it could not read under named counters, profiles the target
    between the windows, and the target ends by itself, unharmed. In wall
    mode the windows are spent asleep: the stack is read as the thread
    leaves the CPU with its frames gone, and the window's time must still be
    in the profile. Either way the windows' samples are "[stack unreadable]"."""
    out = tmp_path / "unmaps.pb.gz"
    go = tmp_path / "go"
    wall = "wall" in mode
    with Workload(one_python, "unmaps.py", unmapper, 1, 0.8, go, *(["sleep"] if wall else [])) as w:
        p = start_agent(root_prof, mode + ["--pid", w.pid, "--rate", 999, "-o", out])
        go.touch()  # the windows start once the agent samples
        rc = w.wait(300)
        arc, _, err = p.wait(60)  # --pid: the agent ends with its target
    assert rc == 0, w.err_lines
    assert w.matching(r"^done$"), w.lines
    assert len(w.matching(r"^window ")) == 4, w.lines
    assert arc == 0, err
    faults = {k: int(v) for k, v in re.findall(
        r"\b(read_fault_frame|read_fault_code|code_read_fault|torn_frame_chain)=(\d+)", err)}
    assert faults.get("read_fault_frame", 0) > 0, err
    prof = load_profile(out)
    check_wall(prof, out.name)
    work = one_python.func_name("normal_work")
    done = sum(s["values"][0] for s in samples_of(prof, w.pid) if work in frame_names(s))
    assert done >= 20, (done, err)
    # The windows are named for what they are, not "[no Python frames]".
    hidden = [s for s in samples_of(prof, w.pid) if frame_names(s) == ["[stack unreadable]"]]
    if wall:
        # The 4 windows of 0.8 s asleep are whole (off-CPU time is measured,
        # not sampled): the two with the frame hidden as "[stack unreadable]",
        # the two with the code object hidden likewise or, where the agent
        # knows that code object already (its code cache), under hide().
        hide = one_python.func_name("hide")
        asleep = collections.Counter()
        for s in samples_of(prof, w.pid):
            if str_label(s, "state") == "blocked" and frame_names(s)[:1] in (
                    ["[stack unreadable]"], [hide]):
                asleep[frame_names(s)[0]] += s["values"][1]
        assert asleep["[stack unreadable]"] >= 2 * 0.8e9 * 0.9, (asleep, describe(prof, w.pid))
        assert sum(asleep.values()) >= 4 * 0.8e9 * 0.9, (asleep, describe(prof, w.pid), err)
    else:
        assert total(hidden) >= 20, (describe(prof, w.pid), err)
