# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The same interpreter, packaged differently: a stripped copy, a virtualenv
(symlinked and copied), an embedding program that is not called python
(PIE, and non-PIE over a static libpython), and static vs shared libpython
builds of one version side by side.

Each test runs every interpreter's variant at once, in one `--all-pythons`
run (started once per test function, cached for its per-interpreter
parametrizations), and checks each process against the split workload's
ground truth (conftest.check_split): 75 % heavy / 25 % light, names, files,
hot lines and stacks. Many processes share the CPUs, so the rate is high
and the share tolerance follows the sample count (conftest.share_tolerance).
"""
import collections
import contextlib
import json
import os
import shutil
import struct
import subprocess

import pytest

from conftest import (
    WORKLOADS, Workload, assert_all_named, assert_ran_ok, check_split, describe,
    interpreter_list, line_counts, load_profile, num_label, run_for_cpu, samples_of,
    selected_interpreters, str_label, workload_path,
)

RATE = 999
# One --all-pythons run until every variant's process has used CPU_S of CPU
# (run_for_cpu): ~400 samples each at 999 Hz however many run at once and
# however busy the machine is. MIN_SAMPLES is well below that; the tolerance
# of the share widens with fewer samples (4.5 standard errors), which still
# tells a misattribution (>= 25 points off) from noise at n >= 100.
CPU_S = 0.4
MIN_SAMPLES = 100
KEEP_RUNNING = "600"  # split.py's SECONDS: it never ends by itself during a test
READY_TIMEOUT = 120.0  # all warm-ups at once on a busy 2-CPU machine



def query(python, code):
    """JSON printed by `code` run under `python` (cached per interpreter)."""
    cache = python.__dict__.setdefault("_queries", {})
    if code not in cache:
        out = subprocess.run([python.path, "-c", code], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        cache[code] = json.loads(out)
    return cache[code]


def build_info(python):
    return query(python, r"""
import json, sys, sysconfig
v = sysconfig.get_config_var
lib = sorted({l.split()[-1] for l in open('/proc/self/maps')
              if '/libpython' in l and l.split()[-1].startswith('/')})
print(json.dumps({"base_prefix": sys.base_prefix, "base_exec_prefix": sys.base_exec_prefix,
    "include": v('INCLUDEPY'), "libdir": v('LIBDIR'), "libpl": v('LIBPL'),
    "ldversion": v('LDVERSION'), "libs": (v('LIBS') or '') + ' ' + (v('SYSLIBS') or ''),
    "linkforshared": v('LINKFORSHARED') or '', "enable_shared": bool(v('Py_ENABLE_SHARED')),
    "libpython": lib[0] if lib else None}))
""")


def python_home_env(python, **extra):
    info = build_info(python)
    env = dict(os.environ, PYTHONHOME="%s:%s" % (info["base_prefix"], info["base_exec_prefix"]))
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def elf_has_symtab(path):
    """True if the ELF file has a .symtab section (SHT_SYMTAB)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        assert hdr[:4] == b"\x7fELF" and hdr[4] == 2, "%s is not a 64-bit ELF" % path
        shoff, = struct.unpack_from("<Q", hdr, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", hdr, 0x3A)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
    return any(struct.unpack_from("<I", table, i * shentsize + 4)[0] == 2 for i in range(shnum))


def mapped_files(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {l.split()[-1] for l in f if len(l.split()) >= 6 and l.split()[-1].startswith("/")}


class Variant:
    """One way to start split.py under one interpreter."""

    def __init__(self, python, name, argv, env=None, runtime_file=None, comm=None):
        self.python, self.name, self.argv, self.env = python, name, argv, env
        self.runtime_file = runtime_file  # the file holding the runtime, to find in the maps
        self.comm = comm
        self.workload = None

    def key(self):
        return (self.python.path, self.name)


def run_variants(prof_bin, out, variants):
    """Start every variant's split.py, profile them all in one --all-pythons run;
    returns ({key: (variant, samples, info)}, problems at start-up by key)."""
    results, problems = {}, {}
    with contextlib.ExitStack() as stack:
        # start them all, then wait for each: their warm-ups overlap
        for v in variants:
            v.workload = stack.enter_context(
                Workload(v.python, "split.py", argv=v.argv + [KEEP_RUNNING], env=v.env,
                         wait_ready=False))
        started = []
        for v in variants:
            try:
                v.workload.wait_for_line(r"^ready\b", READY_TIMEOUT)
                started.append(v)
            except (Exception, pytest.fail.Exception) as e:
                problems[v.key()] = "did not start: %s" % e
        for v in started:
            if v.runtime_file and os.path.realpath(v.runtime_file) not in {
                    os.path.realpath(p) for p in mapped_files(v.workload.pid)}:
                problems[v.key()] = "%s is not mapped by pid %d: the variant is not what it " \
                    "claims to be; maps: %s" % (v.runtime_file, v.workload.pid,
                                                sorted(mapped_files(v.workload.pid)))
        rc, so, se, _ = run_for_cpu(prof_bin, ["--all-pythons", "--rate", RATE, "-o", out],
                                    [v.workload.pid for v in started], CPU_S)
        assert_ran_ok(rc, so, se)
        prof = load_profile(out)
        for v in started:
            assert v.workload.alive(), "%s died: %s" % (v.argv, v.workload.err_lines)
            samples = samples_of(prof, v.workload.pid)
            results[v.key()] = (v, samples, describe(prof, v.workload.pid, limit=8))
    return results, problems


def check_variant(run, python, name):
    results, problems = run
    key = (python.path, name)
    if key in problems:
        pytest.fail("%s variant of %s: %s" % (name, python.path, problems[key]))
    if key not in results:
        pytest.skip("no %s variant of %s" % (name, python.path))
    v, samples, info = results[key]
    info = "%s: %s\n%s" % (name, " ".join(v.argv), info)
    check_split(python, samples, info, path=workload_path("split.py"), min_samples=MIN_SAMPLES,
                variant=name)
    assert_all_named(samples, info)
    if v.comm:
        comms = {str_label(s, "comm") for s in samples}
        assert comms == {v.comm}, "comm labels %s, want {%r}" % (comms, v.comm)
    return v, samples


# --------------------------------------------------------------------------
# Stripped


@pytest.fixture(scope="session")
def stripped_run(root_prof, pprofcheck, tmp_path_factory, request):
    if not shutil.which("strip"):
        pytest.skip("strip (binutils) not installed")
    d = tmp_path_factory.mktemp("stripped")
    work = d / "work"  # the copies: removed after the run, the profile stays
    variants = []
    for k, py in enumerate(selected_interpreters(request, "stripped_run")):
        vd = work / ("py%d" % k)
        (vd / "lib").mkdir(parents=True)
        exe = vd / os.path.basename(py.real_path)
        subprocess.run(["strip", "-o", str(exe), py.real_path], check=True)
        env = python_home_env(py)
        runtime = str(exe)
        if py.shared:
            lib = build_info(py)["libpython"]
            runtime = str(vd / "lib" / os.path.basename(lib))
            subprocess.run(["strip", "-o", runtime, lib], check=True)
            # LD_LIBRARY_PATH is searched before the executable's RUNPATH
            env["LD_LIBRARY_PATH"] = str(vd / "lib")
        assert not elf_has_symtab(runtime), "strip left a .symtab in %s" % runtime
        variants.append(Variant(py, "stripped", [str(exe), workload_path("split.py")], env,
                                runtime_file=runtime))
    try:
        return run_variants(root_prof, d / "stripped.pb.gz", variants)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def test_stripped_copy(stripped_run, python):
    """A copy of the interpreter with its symbol table stripped (for a shared
    libpython, a stripped copy of the library too): found from the dynamic
    symbols / .PyRuntime section, profiled like the original."""
    check_variant(stripped_run, python, "stripped")


# --------------------------------------------------------------------------
# Virtualenvs


@pytest.fixture(scope="session")
def venv_run(root_prof, pprofcheck, tmp_path_factory, request):
    d = tmp_path_factory.mktemp("venv")
    work = d / "work"  # the venvs: removed after the run, the profile stays
    variants, problems = [], {}
    for k, py in enumerate(selected_interpreters(request, "venv_run")):
        for name, flags in (("venv", []), ("venv-copies", ["--copies"])):
            vd = work / ("%s-%d" % (name, k))
            r = subprocess.run([py.path, "-m", "venv", "--without-pip"] + flags + [str(vd)],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                problems[(py.path, name)] = "python -m venv failed: %s" % r.stderr.strip()
                continue
            exe = vd / "bin" / "python"
            assert exe.exists(), os.listdir(str(vd / "bin"))
            if name == "venv":
                assert os.path.realpath(str(exe)) == py.real_path, (
                    "%s is not a symlink to %s" % (exe, py.real_path))
            else:
                assert not os.path.islink(str(exe)), "%s is a symlink" % exe
            env = dict(os.environ)
            env.pop("PYTHONHOME", None)
            env.pop("PYTHONPATH", None)
            variants.append(Variant(py, name, [str(exe), workload_path("split.py")], env,
                                    runtime_file=str(exe) if name == "venv-copies"
                                    and not py.shared else None))
    try:
        results, start_problems = run_variants(root_prof, d / "venv.pb.gz", variants)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    problems.update(start_problems)
    return results, problems


@pytest.mark.parametrize("kind", ["venv", "venv-copies"])
def test_virtualenv(venv_run, python, kind):
    """`python -m venv` (the venv's python a symlink, or with --copies a copy of
    the executable): the process is found and profiled like the original."""
    check_variant(venv_run, python, kind)


# --------------------------------------------------------------------------
# Embedded in a program that is not called python

EMBED_NAME = "embedhost"  # its comm; nothing in it says "python"


def compile_embedder(python, out, pie=True):
    """Build workloads/embed_host.c against `python` (its headers and libpython,
    with the flags python-config --embed --ldflags would give, from sysconfig)."""
    info = build_info(python)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    if not info["include"] or not os.path.isfile(os.path.join(info["include"], "Python.h")):
        return "no Python.h in %s (headers not installed)" % info["include"]
    libs = [] if info["enable_shared"] else ["-L" + info["libpl"]]
    libs += ["-L" + info["libdir"], "-lpython" + info["ldversion"]] + info["libs"].split()
    libs += info["linkforshared"].split()
    if info["enable_shared"]:
        libs.append("-Wl,-rpath," + info["libdir"])
    cmd = [cc, "-O1", "-o", str(out), str(WORKLOADS / "embed_host.c"), "-I" + info["include"]]
    cmd += ([] if pie else ["-no-pie", "-fno-pie"]) + libs
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return "%s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr)
    return None


@pytest.fixture(scope="session")
def embedded_run(root_prof, pprofcheck, tmp_path_factory, request):
    from concurrent.futures import ThreadPoolExecutor
    d = tmp_path_factory.mktemp("embed")
    work = d / "work"  # the programs: removed after the run, the profile stays
    jobs = []
    for k, py in enumerate(selected_interpreters(request, "embedded_run")):
        jobs.append((py, "embedded", work / ("e%d" % k) / EMBED_NAME, True))
        if not build_info(py)["enable_shared"]:
            # a static libpython can also go into a non-PIE executable
            jobs.append((py, "embedded-nopie", work / ("n%d" % k) / EMBED_NAME, False))
    for _, _, exe, _ in jobs:
        exe.parent.mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        errors = list(pool.map(lambda j: compile_embedder(j[0], j[2], pie=j[3]), jobs))
    variants, problems = [], {}
    for (py, name, exe, pie), err in zip(jobs, errors):
        if err:
            problems[(py.path, name)] = "could not build the embedding program: " + err
            continue
        # the runtime is in the program itself when it links a static libpython
        runtime = str(exe) if not build_info(py)["enable_shared"] else None
        v = Variant(py, name, [str(exe), workload_path("split.py")],
                    python_home_env(py), runtime_file=runtime, comm=EMBED_NAME)
        with open(str(exe), "rb") as f:
            v.elf_type = f.read(18)[16]  # e_type: 2 executable, 3 PIE; read before rmtree
        variants.append(v)
    try:
        results, start_problems = run_variants(root_prof, d / "embed.pb.gz", variants)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    problems.update(start_problems)
    return results, problems


@pytest.mark.parametrize("kind", ["embedded", "embedded-nopie"])
def test_embedded_interpreter(embedded_run, python, kind):
    """CPython embedded in a C program named embedhost: found by its runtime
    (in libpython or linked into the program), comm "embedhost", frames named."""
    if kind == "embedded-nopie" and build_info(python)["enable_shared"]:
        pytest.skip("the non-PIE embedder is built where only a static libpython exists")
    v, samples = check_variant(embedded_run, python, kind)
    assert (v.elf_type == 3) == (kind == "embedded"), "%s: e_type %d" % (v.argv[0], v.elf_type)


# --------------------------------------------------------------------------
# Static vs shared libpython of the same version


def _pairs(interps):
    by_version = collections.defaultdict(dict)
    for py in interps:
        if not py.free_threaded:
            by_version[py.version[:2]].setdefault(py.shared, py)
    return {"%d.%d" % v: (d[False], d[True]) for v, d in sorted(by_version.items())
            if len(d) == 2}


@pytest.fixture(scope="session")
def static_shared_run(root_prof, pprofcheck, tmp_path_factory, interpreters):
    pairs = _pairs(interpreters)
    if not pairs:
        pytest.skip("no version with both a static and a shared-libpython interpreter")
    d = tmp_path_factory.mktemp("static-shared")
    variants = [Variant(py, "static" if not py.shared else "shared",
                        [py.path, workload_path("split.py")])
                for pair in pairs.values() for py in pair]
    return pairs, run_variants(root_prof, d / "pairs.pb.gz", variants)


@pytest.mark.parametrize("version", sorted(_pairs(interpreter_list())) or ["none"])
def test_static_and_shared_builds_agree(static_shared_run, version):
    """A static-libpython and a shared-libpython interpreter of one version,
    running the same script: the same frames (names, files, first lines, hot
    lines) and the same shares."""
    pairs, run = static_shared_run
    if version not in pairs:
        pytest.skip("no static/shared pair")
    path = workload_path("split.py")
    frames, hot = {}, {}
    for py in pairs[version]:
        kind = "shared" if py.shared else "static"
        v, samples = check_variant(run, py, kind)
        frames[kind] = {(f["function"], f["filename"], f["start_line"])
                        for s in samples for f in s["frames"] if f["filename"] == path}
        for method in ("heavy", "light"):
            lines = line_counts(samples, py.func_name("Split." + method))
            hot[(kind, method)] = lines.most_common(1)[0][0]
        assert {num_label(s, "pid") for s in samples} == {v.workload.pid}
    static, shared = pairs[version]
    assert frames["static"] == frames["shared"], (
        "%s (static) and %s (shared) name different frames: only static %s, only shared %s"
        % (static.path, shared.path, sorted(frames["static"] - frames["shared"])[:5],
           sorted(frames["shared"] - frames["static"])[:5]))
    assert hot[("static", "heavy")] == hot[("shared", "heavy")], hot
    assert hot[("static", "light")] == hot[("shared", "light")], hot
