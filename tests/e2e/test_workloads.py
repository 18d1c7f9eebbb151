# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Profiles of workloads with known ground truth, checked frame by frame.

Each test starts a workload, waits for its "ready", profiles it with
`pybpf-prof --pid PID` while it keeps running (until it has used a set
amount of CPU, see conftest.run_for_cpu), decodes the
profile with pprofcheck and compares it with what the workload does by
construction. Expected line numbers come from marker comments in the
workload sources, never from numbers written here.
"""
import collections
import re
import time

import pytest

from conftest import (
    Workload, assert_ran_ok, check_split, count, def_line, describe, frame_names,
    frames_of, go_pprof, line_counts, load_profile, marker_line, num_label, parse_folded,
    run_for_cpu, samples_of, str_label, total, workload_path,
)

# Each profile runs until the workload has used a fixed amount of CPU
# (conftest.run_for_cpu): cpu-clock samples follow the target's CPU, so the
# counts below do not depend on how busy the machine is.
# Split: 4 CPU-seconds at 199 Hz is ~800 samples of the busy thread. The
# binomial standard error of a 75 % share over 300+ samples is under 2.5
# points, so +-8 points cannot flake while a misattributed method (50/50,
# 0/100) fails.
SPLIT_CPU_S = 4
SPLIT_RATE = 199
SPLIT_MIN_SAMPLES = 300
SPLIT_TOLERANCE = 0.08

# The other workloads: 2 CPU-seconds at the default 99 Hz, ~200 samples
# (cpu-clock samples follow the target's CPU time, not the machine's load),
# against minimums of 100 per process and 20 per thread (3 threads: ~65 each).
SHORT_CPU_S = 2


def profile_workload(prof_bin, out, w, cpu_s, extra=()):
    """Profile workload w by pid until it has used `cpu_s` of CPU; it must outlive the run."""
    rc, so, se, _ = run_for_cpu(prof_bin, ["--pid", w.pid, "-o", out] + list(extra), [w.pid],
                                cpu_s)
    assert_ran_ok(rc, so, se)
    assert w.alive(), "workload exited during the profile:\n%s" % "\n".join(w.err_lines)
    return rc, so, se


# --------------------------------------------------------------------------


def test_split_shares_names_and_hot_lines(root_prof, pprofcheck, python, tmp_path):
    out = tmp_path / "split.pb.gz"
    with Workload(python, "split.py") as w:
        profile_workload(root_prof, out, w, SPLIT_CPU_S, extra=["--rate", SPLIT_RATE])
    prof = load_profile(out)

    others = {num_label(s, "pid") for s in prof["samples"]} - {w.pid}
    assert not others, "--pid %d profile has samples of other pids %s" % (w.pid, others)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid)

    check_split(python, samples, info, min_samples=SPLIT_MIN_SAMPLES, tolerance=SPLIT_TOLERANCE)


def test_recursion_deep_stacks(root_prof, pprofcheck, python, tmp_path):
    out = tmp_path / "recursion.pb.gz"
    with Workload(python, "recursion.py") as w:
        profile_workload(root_prof, out, w, SHORT_CPU_S)
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid, limit=3)
    assert total(samples) >= 100, "too few samples (%d)\n%s" % (total(samples), info)

    src = "recursion.py"
    path = workload_path(src)
    depth = int(re.search(r"^DEPTH = (\d+)", (w.script).read_text(), re.M).group(1))
    assert depth >= 150
    rec = "recurse"
    rec_start = def_line(src, rec)
    leaf_line, call_line = marker_line(src, "HOT-LEAF"), marker_line(src, "RECURSE-CALL")
    loop_line = marker_line(src, "LOOP-LEAF")
    main_line, module_line = marker_line(src, "MAIN-CALL"), marker_line(src, "MODULE-CALL")
    # leaf first; the leaf line is checked separately (loop body or loop header)
    expected = ([(rec, rec_start, "leaf")] + [(rec, rec_start, call_line)] * depth
                + [("main", def_line(src, "main"), main_line),
                   ("<module>", python.module_firstlineno(src), module_line)])

    def shape(s):
        sh = [(f.get("function"), f.get("start_line"), f.get("line")) for f in s["frames"]]
        if sh and sh[0][2] in (leaf_line, loop_line):
            sh[0] = sh[0][:2] + ("leaf",)
        return sh

    deepest = max(len(s["frames"]) for s in samples)
    assert deepest >= 150 + 2, "deepest stack has %d frames, want %d\n%s" % (
        deepest, depth + 3, info)

    exact = [s for s in samples if shape(s) == expected]
    assert total(exact) >= 0.9 * total(samples), (
        "only %d of %d samples have the full stack (%d x %s at line %d, leaf line %d/%d, "
        "main:%d, <module>:%d); deepest has %d frames; first differing stacks:\n%s"
        % (total(exact), total(samples), depth + 1, rec, call_line, leaf_line, loop_line,
           main_line, module_line, deepest, _differences(samples, expected, shape)))
    leaf_lines = line_counts(exact, rec)
    assert leaf_lines.most_common(1)[0][0] == leaf_line, (
        "hottest leaf line %s, want %d" % (dict(leaf_lines), leaf_line))
    for s in exact:
        assert all(f.get("filename") == path for f in s["frames"]), "wrong filename in a frame"
    # at least 150 consecutive recursive frames, counted directly
    run = 0
    for name in frame_names(exact[0]):
        if name != rec:
            break
        run += 1
    assert run >= 150


def _first_difference(got, want):
    for i, (g, e) in enumerate(zip(got, want)):
        if g != e:
            return "  frame %d (leaf=0): got %s, want %s (stack has %d frames, want %d)" % (
                i, g, e, len(got), len(want))
    return "  stack has %d frames, want %d (last: %s)" % (len(got), len(want), got[-3:])


def _differences(samples, expected, shape):
    out = [_first_difference(shape(s), expected) for s in samples if shape(s) != expected]
    return "\n".join(out[:5])


def test_threads_distinct_tids(root_prof, pprofcheck, python, tmp_path):
    out = tmp_path / "threads.pb.gz"
    with Workload(python, "threads.py") as w:
        tids = {m.group(1): int(m.group(2)) for m in w.matching(r"^thread (\S+) (\d+)$")}
        assert len(tids) == 3, w.lines
        profile_workload(root_prof, out, w, SHORT_CPU_S)
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid)
    assert len(samples) == len(prof["samples"]), "samples of other pids in a --pid profile"

    seen_tids = {}
    for thread, fn, marker in (("w-alpha", "hot_alpha", "HOT-ALPHA"),
                               ("w-beta", "hot_beta", "HOT-BETA"),
                               ("w-gamma", "hot_gamma", "HOT-GAMMA")):
        mine = [s for s in samples if fn in frame_names(s)]
        assert total(mine) >= 20, "%s: %d samples (want >= 20)\n%s" % (fn, total(mine), info)
        tid_counts = collections.Counter()
        for s in mine:
            tid_counts[num_label(s, "tid")] += count(s)
        assert set(tid_counts) == {tids[thread]}, (
            "%s ran on native thread %d, profile says tids %s" % (fn, tids[thread], dict(tid_counts)))
        names = {str_label(s, "thread_name") for s in mine}
        assert names == {thread}, "%s: thread_name labels %s, want {%r}" % (fn, names, thread)
        lines = line_counts(samples, fn)
        assert lines.most_common(1)[0][0] == marker_line("threads.py", marker), (fn, dict(lines))
        assert {f["start_line"] for f in frames_of(mine, fn)} == {def_line("threads.py", fn)}
        seen_tids[fn] = tids[thread]
    assert len(set(seen_tids.values())) == 3
    # every sample belongs to a thread of the workload
    real = set(tids.values()) | {w.pid}
    stray = {num_label(s, "tid") for s in samples} - real
    assert not stray, "tids %s are not threads of pid %d (%s)" % (stray, w.pid, real)


def test_module_level_loop(root_prof, pprofcheck, python, tmp_path):
    out = tmp_path / "module.pb.gz"
    with Workload(python, "module_loop.py") as w:
        profile_workload(root_prof, out, w, SHORT_CPU_S)
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid)
    assert total(samples) >= 100, "too few samples\n%s" % info

    hot = marker_line("module_loop.py", "HOT-MODULE")
    single = [s for s in samples if frame_names(s) == ["<module>"]]
    assert total(single) >= 0.9 * total(samples), (
        "want nearly all samples to be the single frame '<module>'\n%s" % info)
    for s in single:
        f = s["frames"][0]
        assert f["filename"] == workload_path("module_loop.py"), f
        assert f["start_line"] == python.module_firstlineno("module_loop.py"), f
    lines = line_counts(samples, "<module>")
    assert lines.most_common(1)[0][0] == hot, "hottest <module> line: %s, want %d" % (
        dict(lines), hot)

    # An independent reader renders the name too (pprof would show "<unknown>"
    # for a name it takes for a C++ template, e.g. when system_name == name).
    top = go_pprof(["-top", "-nodecount=50"], out)
    assert re.search(r"\s<module>\s*$", top, re.M), "go tool pprof -top lacks <module>:\n" + top
    assert "<unknown>" not in top, "go tool pprof -top shows <unknown>:\n" + top
    raw = go_pprof(["-raw"], out)
    assert "<module>" in raw, raw[:3000]


@pytest.mark.representative  # the folded writer; the stacks are test_split's
def test_folded_output(root_prof, python, tmp_path):
    out = tmp_path / "split.folded"
    with Workload(python, "split.py") as w:
        profile_workload(root_prof, out, w, SHORT_CPU_S, extra=["--format", "folded"])
    lines = parse_folded(out)
    mine = [l for l in lines if l["pid"] == w.pid]
    assert len(mine) == len(lines), "lines of other pids in a --pid profile"
    n = sum(l["count"] for l in mine)
    assert n >= 100, "only %d samples in %s" % (n, out)
    assert {l["comm"] for l in mine} == {w.comm}, "process frame comm %s, want %r" % (
        {l["comm"] for l in mine}, w.comm)
    assert {l["thread"] for l in mine} <= {w.comm, "tid %d" % w.pid}, (
        "thread frame of the main thread: %s" % {l["thread"] for l in mine})

    path = workload_path("split.py")
    heavy, light = python.func_name("Split.heavy"), python.func_name("Split.light")
    for fn, marker in ((heavy, "HOT-HEAVY"), (light, "HOT-LIGHT")):
        leaf_lines = collections.Counter()
        for l in mine:
            name, file, line = l["frames"][-1]
            if name == fn:
                assert file == path, l
                leaf_lines[line] += l["count"]
        assert leaf_lines, "%s never the leaf in the folded output" % fn
        assert leaf_lines.most_common(1)[0][0] == marker_line("split.py", marker), (
            fn, dict(leaf_lines))
    # root-first order: <module> outermost, then main
    for l in mine:
        names = [f[0] for f in l["frames"]]
        if names[-1] in (heavy, light):
            assert names == ["<module>", "main", names[-1]], l
    # the same stack text never appears twice (writers merge equal lines)
    keys = collections.Counter(
        (l["comm"], l["pid"], l["thread"], tuple(l["frames"])) for l in lines)
    assert max(keys.values()) == 1, [k for k, v in keys.items() if v > 1][:3]
    heavy_n = sum(l["count"] for l in mine if l["frames"][-1][0] == heavy)
    light_n = sum(l["count"] for l in mine if l["frames"][-1][0] == light)
    assert heavy_n > light_n, (heavy_n, light_n)


@pytest.mark.representative  # labels and profile metadata, the same for every interpreter
def test_labels_and_metadata(root_prof, pprofcheck, run_profiler, python, tmp_path):
    """Every sample carries pid/tid numbers and comm; types and period are as documented."""
    out = tmp_path / "labels.pb.gz"
    rate = 199
    seconds = 3
    with Workload(python, "threads.py") as w:
        tids = {int(m.group(2)) for m in w.matching(r"^thread (\S+) (\d+)$")} | {w.pid}
        wall0 = time.time_ns()
        rc, so, se = run_profiler(["--pid", w.pid, "--duration", seconds, "--rate", rate,
                                   "-o", out])
        assert_ran_ok(rc, so, se)
        wall1 = time.time_ns()
    prof = load_profile(out)

    assert prof["sample_types"] == [{"type": "samples", "unit": "count"},
                                    {"type": "cpu", "unit": "nanoseconds"}], prof["sample_types"]
    assert prof["period_type"] == {"type": "cpu", "unit": "nanoseconds"}, prof["period_type"]
    period = prof["period"]
    assert abs(period - 1e9 / rate) <= 1, "period %s for --rate %d" % (period, rate)
    assert wall0 - 5e9 <= prof["time_nanos"] <= wall1, "time_nanos %s outside the run [%s, %s]" % (
        prof["time_nanos"], wall0, wall1)
    assert 0.9 * seconds * 1e9 <= prof["duration_nanos"] <= (seconds + 10) * 1e9, (
        "duration_nanos %s for --duration %d" % (prof["duration_nanos"], seconds))
    assert prof["samples"], "empty profile"
    assert prof["num_functions"] > 0 and prof["num_locations"] > 0

    for s in prof["samples"]:
        assert len(s["values"]) == 2, s
        c, ns = s["values"]
        assert c >= 1, s
        assert abs(ns - c * period) <= 0.01 * c * period, (
            "cpu/nanoseconds %d is not count %d x period %d" % (ns, c, period))
        for key in ("pid", "tid"):
            vals = (s.get("num_labels") or {}).get(key)
            assert vals and len(vals) == 1 and isinstance(vals[0], int) and vals[0] > 0, (
                "sample lacks one numeric %s label: %s" % (key, s.get("num_labels")))
        for key in ("comm",):
            vals = (s.get("labels") or {}).get(key)
            assert vals and len(vals) == 1 and vals[0], "sample lacks a comm label: %s" % (
                s.get("labels"))
        tn = (s.get("labels") or {}).get("thread_name")
        assert tn is None or (len(tn) == 1 and tn[0]), "bad thread_name label %s" % tn
        assert "pid" not in (s.get("labels") or {}) and "tid" not in (s.get("labels") or {}), (
            "pid/tid must be numeric labels, not strings")
        assert s["frames"], "sample without frames"

    mine = samples_of(prof, w.pid)
    assert len(mine) == len(prof["samples"])
    assert total(mine) >= 50, describe(prof, w.pid)
    assert {str_label(s, "comm") for s in mine} == {w.comm}
    assert {num_label(s, "tid") for s in mine} <= tids
    # rate: 3 spinning threads share one GIL, so ~1 CPU busy at `rate` Hz
    assert total(mine) <= 2 * rate * (seconds + 1), "more samples than 2 CPUs x rate x duration"


# --------------------------------------------------------------------------
# Code objects freed and replaced at the same address within one run

REUSE_RATE = 999
REUSE_CPU_S = 3
REUSE_MIN_SAMPLES = 5  # of ~30 per generation (30 ms of CPU at 999 Hz)
REUSE_MIN_GENERATIONS = 5


def test_code_object_replaced_at_same_address(root_prof, pprofcheck, python, tmp_path):
    """Every generation whose code object took the address of an earlier one is
    named by its own name and first line, with the samples it ran for: a
    stale identity would put them on the older generation's name."""
    out = tmp_path / "codereuse.pb.gz"
    with Workload(python, "codereuse.py") as w:
        profile_workload(root_prof, out, w, REUSE_CPU_S, extra=["--rate", REUSE_RATE])
        gens = {}
        for line in list(w.lines):
            m = re.match(r"^gen (\d+) (\d+)$", line)
            if m:
                gens[int(m.group(1))] = int(m.group(2))
    prof = load_profile(out)
    samples = samples_of(prof, w.pid)
    info = describe(prof, w.pid, limit=5)
    by_gen = collections.Counter()
    for s in samples:
        f = s["frames"][0] if s.get("frames") else {}
        m = re.match(r"^gen_(\d+)$", f.get("function", ""))
        if m:
            i = int(m.group(1))
            assert f.get("filename") == "codereuse_gen.py", info
            assert f.get("start_line") == i + 1, (
                "gen_%d named with first line %s, want %d\n%s" % (i, f.get("start_line"), i + 1, info))
            by_gen[i] += count(s)
    assert by_gen, "no generation sampled\n%s" % info
    lo, hi = min(by_gen), max(by_gen)
    first_at, reused = {}, []
    for i in sorted(gens):
        if gens[i] in first_at and lo < i < hi:
            reused.append(i)
        first_at.setdefault(gens[i], i)
    if len(reused) < REUSE_MIN_GENERATIONS:
        pytest.skip("only %d generations reused an address inside the profile" % len(reused))
    starved = [i for i in reused if by_gen[i] < REUSE_MIN_SAMPLES]
    assert not starved, (
        "generations at a reused address with fewer than %d samples: %s (of %d reused; "
        "samples per generation %s)\n%s" % (REUSE_MIN_SAMPLES, starved[:10], len(reused),
                                              dict(sorted(by_gen.items())[:20]), info))
