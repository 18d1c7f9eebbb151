# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Files people open directly: --format svg, speedscope and text, and `convert`.

- A real run writes each format (the runs sample one workload at the same
  time); each file is checked for what a user sees: the flame graph loads in
  headless Chromium and zooms on a click, speedscope's own importer reads the
  JSON, the table names the hot method with its file and line.
- `convert` of the run's pprof into every format: totals, names and lines
  equal what google/pprof's parser (pprofcheck) reads from the same pprof,
  exactly.
- A Go runtime/pprof CPU profile converts; bad input exits 2 writing nothing;
  --interval writes each format with its suffix; the SVG's size is linear in
  the number of distinct stacks.
"""
import collections
import concurrent.futures
import gzip
import html
import json
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from synthpprof import synthetic_pprof
from conftest import (
    DEBIAN_GO, HERE, Workload, assert_one_error_line, assert_ran_ok, def_line, interpreter_list,
    load_profile, marker_line, num_label, run_for_cpu, workload_path)

CPU_S = 2.5
SPEEDSCOPE_VERSION = "1.25.0"  # the npm package whose importer checks our files
FORMATS = ("pprof", "svg", "speedscope", "text")
SUFFIX = {"pprof": ".pb.gz", "folded": ".folded", "svg": ".svg",
          "speedscope": ".speedscope.json", "text": ".txt"}


def pick_python():
    """A 3.11+ interpreter with the GIL (qualified names), else any."""
    interps = interpreter_list()
    if not interps:
        pytest.skip("no CPython interpreter to profile")
    good = [p for p in interps if p.version >= (3, 11) and not p.free_threaded]
    return (good or interps)[0]


# --------------------------------------------------------------------------
# Readers of our text formats


def parse_text_table(text):
    """{'total': N, 'tables': [{'process': str|None, 'samples': N, 'rows': [...]}]}; a row
    is (function, file_line, own, total)."""
    total = None
    tables = []
    process = None
    for line in text.splitlines():
        m = re.match(r"^# pybpf-prof: (\d+) samples(, [\d.]+ s of CPU \(one sample per "
                     r"[\d.]+ ms\))?$", line)
        if m:
            total = int(m.group(1))
            continue
        m = re.match(r"^# process (.*)$", line)
        if m:
            process = m.group(1)
            continue
        m = re.match(r"^# (\d+) samples, (\d+) functions", line)
        if m:
            tables.append({"process": process, "samples": int(m.group(1)),
                           "functions": int(m.group(2)), "rows": []})
            continue
        if not line.strip() or line.lstrip().startswith("own"):
            continue
        m = re.match(r"^\s*(\d+)\s+([\d.]+)%\s+(\d+)\s+([\d.]+)%  (.*?)\s{2,}(\S+)$", line)
        assert m, "unparsable table row: %r" % line
        tables[-1]["rows"].append((m.group(5), m.group(6), int(m.group(1)), int(m.group(3))))
    return {"total": total, "tables": tables}


def pprof_function_sums(samples):
    """{(function, file:start_line): [own, total]} from pprofcheck samples, counted like the
    table: own for the leaf, total once per sample for each function on the stack."""
    sums = collections.defaultdict(lambda: [0, 0])
    for s in samples:
        frames = s["frames"]
        n = s["values"][0]
        keys = []
        for f in frames:
            fl = f["filename"] + (":%d" % f["start_line"] if f["start_line"] else "") \
                if f["filename"] else "-"
            keys.append((f["function"] or "?", fl))
        if keys:
            sums[keys[0]][0] += n
        for k in set(keys):
            sums[k][1] += n
    return sums


def svg_data(path):
    """(frames, nodes) of a flame graph: frames as lists, nodes as (depth, frame, samples)."""
    text = Path(path).read_text()
    fm = re.search(r"var PYBPF_FRAMES=(\[.*?\]);\nvar PYBPF_NODES", text, re.S)
    nm = re.search(r"var PYBPF_NODES=\[(.*?)\];", text, re.S)
    assert fm and nm, "no flame graph data in %s" % path
    frames = json.loads(fm.group(1))
    nums = [int(x) for x in re.split(r"[,\s]+", nm.group(1).strip()) if x]
    return frames, [tuple(nums[i:i + 3]) for i in range(0, len(nums), 3)]


def folded_total(path):
    return sum(int(l.rsplit(" ", 1)[1]) for l in Path(path).read_text().splitlines() if l)


# --------------------------------------------------------------------------
# External viewers


@pytest.fixture(scope="session")
def speedscope_bundle(tmp_path_factory):
    """speedscope's browser bundle from npm (holds its importer); skips without node/npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to run speedscope's importer "
                    "(Debian: apt-get install nodejs npm)")
    cache = os.environ.get("PYBPF_SPEEDSCOPE_DIR")
    where = Path(cache) if cache else tmp_path_factory.mktemp("speedscope-npm")
    bundles = sorted(where.glob("node_modules/speedscope/dist/release/speedscope-*.js"))
    if not bundles:
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(where),
                            "speedscope@" + SPEEDSCOPE_VERSION],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.skip("npm install speedscope failed (offline?): %s" % r.stderr[-500:])
        bundles = sorted(where.glob("node_modules/speedscope/dist/release/speedscope-*.js"))
    if not bundles:
        pytest.fail("speedscope %s from npm has no dist/release/speedscope-*.js" %
                    SPEEDSCOPE_VERSION)
    return node, str(bundles[0])


def speedscope_import(bundle, path):
    """What speedscope's importer makes of a file (see speedscope_import.js)."""
    node, js = bundle
    r = subprocess.run([node, str(HERE / "speedscope_import.js"), js, str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "speedscope could not import %s (rc=%d): %s" % (
        path, r.returncode, r.stderr[-2000:])
    return json.loads(r.stdout)


@pytest.fixture(scope="session")
def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium (Debian: apt-get install chromium)")


def run_chromium(binary, tmp_path, args, url, timeout=120):
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir(exist_ok=True)
    cmd = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--user-data-dir=%s" % profile_dir] + args + [url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "chromium failed (rc=%d): %s" % (r.returncode, r.stderr[-2000:])
    return r.stdout


# The harness: the SVG inline in a page whose script, once everything has
# loaded, hovers a frame, clicks it, searches and resets, and writes what it
# saw into <pre id="result"> for --dump-dom.
HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin:0">
%(svg)s
<pre id="result">not run</pre>
<script>
window.addEventListener('load', function () {
  var out = {}, target = null;
  var frames = document.querySelectorAll('#pybpf-frames g.frame');
  out.drawn = frames.length;
  frames.forEach(function (g) {
    if (!target && g.querySelector('title').textContent.indexOf(%(name)s + ' (') === 0)
      target = g;
  });
  out.found = !!target;
  if (target) {
    var node = target.getAttribute('data-node');
    target.querySelector('rect').dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    out.details = document.getElementById('pybpf-details').textContent;
    out.widthBefore = +target.querySelector('rect').getAttribute('width');
    target.querySelector('rect').dispatchEvent(new MouseEvent('click', {bubbles: true}));
    out.zoomed = document.getElementById('pybpf-flame').getAttribute('data-zoomed');
    out.node = node;
    var z = document.querySelector('#pybpf-frames g[data-node="' + node + '"] rect');
    out.widthAfter = z ? +z.getAttribute('width') : -1;
    out.resetShown = document.getElementById('pybpf-reset').style.display !== 'none';
  }
  document.getElementById('pybpf-reset').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  out.afterReset = document.getElementById('pybpf-flame').getAttribute('data-zoomed');
  window.pybpfFlame.search(%(search)s);
  out.matched = document.getElementById('pybpf-matched').textContent;
  out.highlighted = Array.prototype.filter.call(
    document.querySelectorAll('#pybpf-frames rect'),
    function (r) { return r.getAttribute('fill') === 'rgb(220,60,220)'; }).length;
  out.width = document.getElementById('pybpf-flame').getBoundingClientRect().width;
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>
"""


def drive_svg(binary, tmp_path, svg_path, name, search):
    svg = Path(svg_path).read_text()
    page = tmp_path / "harness.html"
    page.write_text(HARNESS % {"svg": svg[svg.index("<svg"):], "name": json.dumps(name),
                               "search": json.dumps(search)})
    dom = run_chromium(binary, tmp_path, ["--dump-dom", "--window-size=1200,900",
                                          "--virtual-time-budget=5000"], page.as_uri())
    m = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert m, "no result in the harness DOM:\n" + dom[-3000:]
    assert m.group(1) != "not run", "the harness script did not run"
    return json.loads(html.unescape(m.group(1)))


# --------------------------------------------------------------------------
# One real run per format, all at the same time on one workload


@pytest.fixture(scope="module")
def runs(root_prof, tmp_path_factory):
    python = pick_python()
    d = tmp_path_factory.mktemp("files")
    out = {f: d / ("split" + SUFFIX[f]) for f in FORMATS}
    with Workload(python, "split.py") as w:
        with concurrent.futures.ThreadPoolExecutor(len(FORMATS)) as ex:
            # the svg run spells the subcommand out: `record` is the default one
            futs = {f: ex.submit(run_for_cpu, root_prof,
                                 (["record"] if f == "svg" else []) +
                                 ["--pid", w.pid, "-o", out[f], "--format", f], [w.pid], CPU_S)
                    for f in FORMATS}
            for f, fut in futs.items():
                rc, so, se, _ = fut.result()
                assert_ran_ok(rc, so, se, "pybpf-prof --format %s" % f)
        assert w.alive(), "workload exited during the profiles"
    return {"python": python, "pid": w.pid, "comm": w.comm, "out": out, "dir": d}


def test_record_text(runs):
    python, text = runs["python"], runs["out"]["text"].read_text()
    t = parse_text_table(text)
    assert t["total"] and t["total"] >= 50, text[:2000]
    (table,) = t["tables"]
    assert sum(r[2] for r in table["rows"]) == t["total"], "own column does not add up"
    heavy = python.func_name("Split.heavy")
    path = workload_path("split.py")
    rows = {r[0]: r for r in table["rows"]}
    assert heavy in rows, text[:3000]
    assert rows[heavy][1] == "%s:%d" % (path, def_line("split.py", "heavy")), rows[heavy]
    main = rows.get("main")
    assert main and main[3] >= rows[heavy][3], "main's total is below heavy's:\n" + text[:3000]
    # sorted by total, descending
    totals = [r[3] for r in table["rows"]]
    assert totals == sorted(totals, reverse=True), text[:3000]


def test_record_speedscope(runs, speedscope_bundle):
    python, path = runs["python"], runs["out"]["speedscope"]
    got = speedscope_import(speedscope_bundle, path)
    (prof,) = got["profiles"]  # one thread
    assert prof["name"].startswith("%s (%d) " % (runs["comm"], runs["pid"])), prof["name"]
    assert prof["total"] >= 50, prof
    heavy = python.func_name("Split.heavy")
    hot = [f for f in prof["frames"] if f["name"] == heavy]
    assert hot, [f["name"] for f in prof["frames"]]
    assert all(f["file"] == workload_path("split.py") for f in hot), hot
    top = max(hot, key=lambda f: f["self"])
    assert top["line"] == marker_line("split.py", "HOT-HEAVY"), hot


def test_record_svg_in_chromium(runs, chromium, tmp_path):
    python, path = runs["python"], runs["out"]["svg"]
    heavy = python.func_name("Split.heavy")
    frames, nodes = svg_data(path)
    assert nodes[0][0] == 0 and frames[nodes[0][1]][0] == "all"
    level1 = [frames[f][0] for d, f, n in nodes if d == 1]
    assert level1 == ["%s (%d)" % (runs["comm"], runs["pid"])], level1

    shot = tmp_path / "flame.png"
    run_chromium(chromium, tmp_path, ["--screenshot=%s" % shot, "--window-size=1200,700",
                                      "--virtual-time-budget=3000"], path.as_uri())
    assert shot.stat().st_size > 5000, "screenshot is blank"
    keep = os.environ.get("PYBPF_ARTIFACTS")
    if keep:
        shutil.copy(shot, Path(keep) / "flame.png")

    res = drive_svg(chromium, tmp_path, path, heavy, "heavy")
    assert res["drawn"] >= 5, res
    assert res["found"], "no frame titled %r was drawn: %s" % (heavy, res)
    assert heavy in res["details"] and "samples" in res["details"] and "%" in res["details"], res
    assert res["zoomed"] == res["node"], res
    # the clicked frame now spans the whole width (window minus margins)
    assert res["widthAfter"] >= res["width"] - 25 > res["widthBefore"], res
    assert res["resetShown"], res
    assert res["afterReset"] == "0", res
    assert res["highlighted"] >= 1 and "Matched" in res["matched"], res


# --------------------------------------------------------------------------
# convert: the same profile in every format, totals exact


def test_convert_totals_equal_pprof(runs, prof_bin, pprofcheck, speedscope_bundle, tmp_path):
    src = runs["out"]["pprof"]
    prof = load_profile(src)
    samples = prof["samples"]
    want_total = sum(s["values"][0] for s in samples)
    assert want_total >= 50
    outs = {}
    for fmt in ("text", "svg", "speedscope", "folded", "pprof"):
        outs[fmt] = tmp_path / ("conv" + SUFFIX[fmt])
        r = subprocess.run([prof_bin, "convert", str(src), "-o", str(outs[fmt]), "--format", fmt],
                           capture_output=True, text=True, timeout=120)
        assert_ran_ok(r.returncode, r.stdout, r.stderr, "convert --format %s" % fmt)
        assert r.stderr == "", r.stderr

    # text: every function's own and total equal the pprof's
    t = parse_text_table(outs["text"].read_text())
    assert t["total"] == want_total
    sums = pprof_function_sums(samples)
    rows = {(r[0], r[1]): [r[2], r[3]] for r in t["tables"][0]["rows"]}
    assert rows == dict(sums)

    # speedscope: weights and every (name, file, line) of the pprof
    got = speedscope_import(speedscope_bundle, outs["speedscope"])
    assert sum(p["total"] for p in got["profiles"]) == want_total
    ss_frames = {(f["name"], f.get("file"), f.get("line")) for p in got["profiles"]
                 for f in p["frames"]}
    pp_frames = {(f["function"], f["filename"] or None, f["line"] or None)
                 for s in samples for f in s["frames"]}
    assert ss_frames == pp_frames
    # one profile per (pid, tid)
    threads = {(num_label(s, "pid"), num_label(s, "tid")) for s in samples}
    assert len(got["profiles"]) == len(threads)

    # svg: the root holds every sample, processes below it
    frames, nodes = svg_data(outs["svg"])
    assert nodes[0][2] == want_total
    assert sum(n for d, f, n in nodes if d == 1) == want_total

    # folded and pprof
    assert folded_total(outs["folded"]) == want_total
    again = load_profile(outs["pprof"])
    assert sorted(json.dumps(s, sort_keys=True) for s in again["samples"]) == \
        sorted(json.dumps(s, sort_keys=True) for s in samples)

    # text per process, sorted by own, limited; from standard input to standard output
    with open(src, "rb") as stdin:
        r = subprocess.run([prof_bin, "convert", "-", "--format", "text", "--sort", "own",
                            "--limit", "3", "--per-process"], stdin=stdin, capture_output=True,
                           text=True, timeout=60)
    assert_ran_ok(r.returncode, r.stdout, r.stderr, "convert --format text to stdout")
    t = parse_text_table(r.stdout)
    assert [tb["process"] for tb in t["tables"]] == ["%s (%d)" % (runs["comm"], runs["pid"])]
    own = [row[2] for row in t["tables"][0]["rows"]]
    assert len(own) == min(3, t["tables"][0]["functions"]) and own == sorted(own, reverse=True)


GO_PROGRAM = r"""
package main

import (
	"os"
	"runtime/pprof"
	"time"
)

//go:noinline
func spin(n int) int {
	acc := 0
	for i := 0; i < n; i++ {
		acc = (acc*31 + i) % 1000003
	}
	return acc
}

//go:noinline
func busy(until time.Time) int {
	acc := 0
	for time.Now().Before(until) {
		acc += spin(100000)
	}
	return acc
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	busy(time.Now().Add(1500 * time.Millisecond))
	pprof.StopCPUProfile()
	f.Close()
}
"""


def test_go_cpu_profile_converts(prof_bin, pprofcheck, speedscope_bundle, tmp_path):
    go = DEBIAN_GO if os.access(DEBIAN_GO, os.X_OK) else shutil.which("go")
    if not go:
        pytest.skip("no Go toolchain to make a Go CPU profile")
    src = tmp_path / "main.go"
    src.write_text(GO_PROGRAM)
    env = dict(os.environ, GO111MODULE="off", GOPATH=str(tmp_path / "gopath"),
               GOCACHE=str(tmp_path / "gocache"), GOFLAGS="")
    r = subprocess.run([go, "build", "-o", str(tmp_path / "spin"), str(src)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cpu = tmp_path / "go-cpu.pb.gz"
    r = subprocess.run([str(tmp_path / "spin"), str(cpu)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    prof = load_profile(cpu)
    types = [st["type"] for st in prof["sample_types"]]
    assert types[0] == "samples", types
    want = sum(s["values"][0] for s in prof["samples"])
    assert want > 0

    r = subprocess.run([prof_bin, "convert", str(cpu), "--format", "text"],
                       capture_output=True, text=True, timeout=60)
    assert_ran_ok(r.returncode, r.stdout, r.stderr, "convert of a Go profile")
    t = parse_text_table(r.stdout)
    assert t["total"] == want
    rows = {row[0]: row for row in t["tables"][0]["rows"]}
    assert "main.spin" in rows and "main.busy" in rows, r.stdout[:3000]
    # file:first line (Go writes start_line only since 1.20; without it, just the file)
    assert re.match(re.escape(str(src)) + r"(:\d+)?$", rows["main.spin"][1]), rows["main.spin"]
    sums = pprof_function_sums(prof["samples"])
    assert {(row[0], row[1]): [row[2], row[3]] for row in t["tables"][0]["rows"]} == dict(sums)

    for fmt in ("svg", "speedscope", "folded"):
        out = tmp_path / ("go" + SUFFIX[fmt])
        r = subprocess.run([prof_bin, "convert", str(cpu), "-o", str(out), "--format", fmt],
                           capture_output=True, text=True, timeout=60)
        assert_ran_ok(r.returncode, r.stdout, r.stderr, "convert of a Go profile to " + fmt)
    got = speedscope_import(speedscope_bundle, tmp_path / "go.speedscope.json")
    assert sum(p["total"] for p in got["profiles"]) == want
    frames, nodes = svg_data(tmp_path / "go.svg")
    assert nodes[0][2] == want
    # no process labels: Go's frames hang right under the root
    assert all(len(frames[f]) == 3 for d, f, n in nodes if d == 1), nodes[:10]
    assert any(frames[f][0] == "main.spin" for d, f, n in nodes), frames[:20]
    assert folded_total(tmp_path / "go.folded") == want


# --------------------------------------------------------------------------
# Bad input


def test_convert_bad_input_exits_2_writing_nothing(runs, prof_bin, tmp_path):
    good = runs["out"]["pprof"].read_bytes()
    raw = gzip.decompress(good)
    rnd = random.Random(7)
    cases = {
        "truncated.pb.gz": good[:len(good) // 2],
        "truncated-raw.pb": raw[:len(raw) - 3],
        "text.txt": b"these are not the samples you are looking for\n" * 20,
        "random.bin": bytes(rnd.randrange(256) for _ in range(4096)),
        "gzip-of-text.gz": gzip.compress(b"hello world\n" * 100),
        "empty.pb.gz": b"",
        "corrupt.pb.gz": good[:20] + bytes(b ^ 0x55 for b in good[20:60]) + good[60:],
    }
    for name, data in cases.items():
        src = tmp_path / name
        src.write_bytes(data)
        for fmt in ("svg", "text", "pprof"):
            out = tmp_path / "out" / ("x" + SUFFIX[fmt])
            out.parent.mkdir(exist_ok=True)
            r = subprocess.run([prof_bin, "convert", str(src), "-o", str(out), "--format", fmt],
                               capture_output=True, text=True, timeout=60)
            line = assert_one_error_line(r.stderr, r.returncode)
            assert r.returncode == 2, "%s: rc %d, %s" % (name, r.returncode, line)
            assert name in line, line
            assert list(out.parent.iterdir()) == [], "%s left files: %s" % (
                name, list(out.parent.iterdir()))
            assert r.stdout == ""
    r = subprocess.run([prof_bin, "convert", str(tmp_path / "missing.pb.gz"), "--format",
                        "text"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "No such file" in assert_one_error_line(r.stderr), r.stderr


# --------------------------------------------------------------------------
# Interval mode


@pytest.mark.parametrize("fmt", ["svg", "text"])
def test_interval_files_in_format(root_prof, fmt, tmp_path):
    python = pick_python()
    d = tmp_path / "out"
    d.mkdir()
    with Workload(python, "split.py") as w:
        r = subprocess.run([root_prof, "--pid", str(w.pid), "--interval", "1", "--duration",
                            "3.5", "--output-dir", str(d), "--format", fmt],
                           capture_output=True, text=True, timeout=120)
    assert_ran_ok(r.returncode, r.stdout, r.stderr)
    files = sorted(d.iterdir())
    assert len(files) >= 3, files
    assert all(re.match(r"^pybpf-.*-\d{8}T\d{6}Z-\d{4}%s$" % re.escape(SUFFIX[fmt]), f.name)
               for f in files), files
    for f in files:
        body = f.read_text()
        if fmt == "svg":
            assert body.startswith("<?xml") and body.endswith("</svg>\n"), f
        else:
            assert body.startswith("# pybpf-prof: "), body[:200]


# --------------------------------------------------------------------------
# Size of the flame graph


def test_svg_size_linear_in_stacks(prof_bin, tmp_path):
    sizes = {}
    for nstacks in (5000, 10000):
        src = tmp_path / ("syn%d.pb.gz" % nstacks)
        src.write_bytes(synthetic_pprof(nstacks, 100000))
        out = tmp_path / ("syn%d.svg" % nstacks)
        t0 = time.monotonic()
        r = subprocess.run([prof_bin, "convert", str(src), "-o", str(out), "--format", "svg"],
                           capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        assert_ran_ok(r.returncode, r.stdout, r.stderr)
        sizes[nstacks] = out.stat().st_size
        frames, nodes = svg_data(out)
        assert nodes[0][2] == 100000
        print("svg of %d stacks, 100000 samples: %d bytes, %d nodes, %.2f s"
              % (nstacks, sizes[nstacks], len(nodes), took))
    assert sizes[5000] < 4 << 20, sizes
    assert sizes[10000] < 2.2 * sizes[5000], sizes
