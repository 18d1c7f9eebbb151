# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Pushes to a real Grafana Pyroscope server (v1.9.0), read back through its
own HTTP API.

The server is built from the Go module proxy by tools/pyroscope/build.sh
(cached; `.ci/run` builds it) and started here on 127.0.0.1 with free ports
and a temporary storage directory, one server for the module. Env
PYBPF_PYROSCOPE names the binary; default: the build script's cache. When
CI builds it in the background (PYBPF_PYROSCOPE_BUILD_PID), the fixture
waits for that build and fails if it yields no binary; otherwise the tests
skip only when the binary is absent.

Each test profiles its own workloads with --pid (other engineers' Python
processes on the node never reach this server) and compares what the
server stores with what the agent says it pushed (-v prints one line per
request with its sample count):
- per-service totals of samples and CPU time equal the agent's;
- function names as Grafana shows them carry the file and the exact line
  (spyName=pyspy), so two scripts' same-named functions stay apart;
- series labels: service_name, host, pyroscope_spy, comm; no `service`
  (it would repeat service_name), no thread_name;
- a one-shot run (--push without --interval) pushes the profile it writes,
  and `go tool pprof` reads that file without a warning.
Failures and slow answers are tested against tools/push-receiver
(test_daemon.py) and in tests/unit/test_push.c: the server cannot fake them.
"""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import (Workload, assert_ran_ok, go_pprof, load_profile,
                      marker_line, total, workload_path)

DEFAULT_BINARY = "/var/cache/pybpf-prof/pyroscope/pyroscope-v1.9.0"
BUILD_WAIT_S = 45 * 60  # the first build on a fresh, loaded 2-core machine
READY_TIMEOUT_S = 180  # /ready answers after 20-30 s on a quiet 2-core machine
CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
SAMPLES_TYPE = "process_cpu:samples:count:cpu:nanoseconds"
PUSH_LINE = re.compile(
    r"^pybpf-prof: push (\S+): HTTP (\d+) in \d+ ms \((\d+) samples, (\d+) bytes")
TOTALS_LINE = re.compile(
    r"^pybpf-prof: pushed (\d+) profiles? \((\d+) samples, \d+ bytes\); (\d+) failed attempts?, "
    r"(\d+) dropped, (\d+) unsent")


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Pyroscope:
    """A single-process Pyroscope on loopback with its own storage."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.http, self.grpc, self.gossip = free_ports(3)
        self.url = "http://127.0.0.1:%d" % self.http
        self.proc = None
        self.log_path = os.path.join(workdir, "pyroscope.log")

    def argv(self):
        d = self.workdir
        flags = [
            "-target=all",
            "-server.http-listen-address=127.0.0.1", "-server.http-listen-port=%d" % self.http,
            "-server.grpc-listen-address=127.0.0.1", "-server.grpc-listen-port=%d" % self.grpc,
            "-memberlist.bind-addr=127.0.0.1", "-memberlist.bind-port=%d" % self.gossip,
            "-memberlist.advertise-addr=127.0.0.1",
            "-memberlist.advertise-port=%d" % self.gossip,
            "-self-profiling.disable-push=true",
            "-tracing.enabled=false",
            "-storage.backend=filesystem",
            "-storage.filesystem.dir=%s" % os.path.join(d, "shared"),
            "-pyroscopedb.data-path=%s" % os.path.join(d, "data"),
            "-compactor.data-dir=%s" % os.path.join(d, "compactor"),
            "-blocks-storage.bucket-store.sync-dir=%s" % os.path.join(d, "sync"),
        ]
        for ring in ("distributor.ring", "ring", "compactor.ring",
                     "overrides-exporter.ring", "query-scheduler.ring",
                     "store-gateway.sharding-ring"):
            flags.append("-%s.store=inmemory" % ring)
        for addr in ("compactor.ring.instance-addr", "distributor.ring.instance-addr",
                     "ingester.lifecycler.addr", "overrides-exporter.ring.instance-addr",
                     "query-frontend.instance-addr", "query-scheduler.ring.instance-addr",
                     "store-gateway.sharding-ring.instance-addr"):
            flags.append("-%s=127.0.0.1" % addr)
        return [self.binary] + flags

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("pyroscope exited (rc=%s) before /ready:\n%s"
                            % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(1)
        pytest.fail("pyroscope not ready within %d s:\n%s" % (READY_TIMEOUT_S, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        if self.proc:
            self.log.close()

    # ---- the query API ----

    def post(self, method, body):
        req = urllib.request.Request(self.url + "/querier.v1.QuerierService/" + method,
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def render(self, profile_type, selector, since_s):
        q = urllib.parse.urlencode({
            "query": "%s%s" % (profile_type, selector),
            "from": str(int(since_s) - 60), "until": str(int(time.time()) + 60),
            "format": "json"})
        with urllib.request.urlopen(self.url + "/pyroscope/render?" + q, timeout=60) as r:
            return json.loads(r.read())

    def series(self, selector, since_s):
        return self.post("Series", {"matchers": [selector],
                                    "start": int(since_s - 60) * 1000,
                                    "end": int(time.time() + 60) * 1000})

    def wait_total(self, profile_type, selector, since_s, want, timeout=60):
        """numTicks of the merged flame graph once it reaches `want` (ingestion is
        asynchronous: wait for it), or what it is at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            fb = self.render(profile_type, selector, since_s)["flamebearer"]
            if fb["numTicks"] >= want or time.monotonic() > deadline:
                return fb
            time.sleep(1)


def wait_for_build(binary, timeout=BUILD_WAIT_S):
    """CI builds the server in the background (.ci/run): wait for that build
    (PYBPF_PYROSCOPE_BUILD_PID) to finish; fail if it ends without the binary."""
    pid = os.environ.get("PYBPF_PYROSCOPE_BUILD_PID")
    if not pid:
        return
    deadline = time.monotonic() + timeout
    while not os.access(binary, os.X_OK) and time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(5)
    if not os.access(binary, os.X_OK):
        log = os.environ.get("PYBPF_PYROSCOPE_BUILD_LOG", "")
        tail = open(log).read()[-3000:] if log and os.path.exists(log) else ""
        pytest.fail("the Pyroscope build (pid %s) did not produce %s:\n%s" % (pid, binary, tail))


@pytest.fixture(scope="module")
def pyroscope():
    binary = os.environ.get("PYBPF_PYROSCOPE") or DEFAULT_BINARY
    wait_for_build(binary)
    if not os.access(binary, os.X_OK):
        pytest.skip("no Pyroscope server binary at %s: build it with tools/pyroscope/build.sh "
                    "(.ci/run does)" % binary)
    workdir = tempfile.mkdtemp(prefix="pybpf-pyroscope-")
    server = Pyroscope(binary, workdir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def flame_nodes(fb):
    """{name: total} of a flamebearer (a name on several paths summed)."""
    names, out = fb["names"], collections.Counter()
    for level in fb["levels"]:
        for i in range(0, len(level), 4):
            out[names[level[i + 3]]] += level[i + 1]
    return out


def pushed_per_service(err):
    """{service: samples} of the requests the agent says were answered 200."""
    per = collections.Counter()
    for line in err.splitlines():
        m = PUSH_LINE.match(line)
        if m:
            assert m.group(2) == "200", line
            per[m.group(1)] += int(m.group(3))
    return per


def final_totals(err):
    hits = [TOTALS_LINE.match(l) for l in err.splitlines()]
    hits = [m for m in hits if m]
    assert len(hits) == 1, "no single push totals line:\n%s" % err
    sent, samples, failed, dropped, unsent = (int(g) for g in hits[0].groups())
    return dict(sent=sent, samples=samples, failed=failed, dropped=dropped, unsent=unsent)


def script_copy(tmp_path, tag):
    """split.py under a unique name: its service name (the script's) is this run's own."""
    name = "eco_%s_%s" % (tag, uuid.uuid4().hex[:8])
    path = tmp_path / (name + ".py")
    shutil.copy(workload_path("split.py"), path)
    return name, path


def run_profiler(prof_bin, args, timeout):
    r = subprocess.run([prof_bin] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def test_interval_pushes_totals_names_labels(root_prof, pyroscope, one_python, tmp_path):
    svc_a, path_a = script_copy(tmp_path, "a")
    svc_b, path_b = script_copy(tmp_path, "b")
    since = time.time()
    with Workload(one_python, "split.py", argv=[one_python.path, path_a, 120]) as a, \
            Workload(one_python, "split.py", argv=[one_python.path, path_b, 120]) as b:
        rc, out, err = run_profiler(root_prof, ["--pid", a.pid, "--pid", b.pid, "--interval", "2",
                                                "--duration", "7", "--push", pyroscope.url,
                                                "-v"], timeout=90)
    assert_ran_ok(rc, out, err)
    per = pushed_per_service(err)
    tot = final_totals(err)
    assert set(per) == {svc_a, svc_b}, err
    assert tot["samples"] == sum(per.values()) and tot["sent"] >= 6, tot  # >= 3 intervals each
    assert tot["dropped"] == 0 and tot["unsent"] == 0 and tot["failed"] == 0, tot
    assert all(n >= 50 for n in per.values()), per

    period_ns = 10101010  # 99 Hz
    heavy = one_python.func_name("Split.heavy")
    hot = marker_line("split.py", "HOT-HEAVY")
    for svc, path in ((svc_a, path_a), (svc_b, path_b)):
        sel = '{service_name="%s"}' % svc
        fb = pyroscope.wait_total(SAMPLES_TYPE, sel, since, per[svc])
        assert fb["numTicks"] == per[svc], (svc, fb["numTicks"], per[svc])
        cpu = pyroscope.wait_total(CPU_TYPE, sel, since, per[svc] * period_ns)
        assert cpu["numTicks"] == per[svc] * period_ns
        nodes = flame_nodes(fb)
        # Grafana's name for a Python frame: "<file>:<line> - <function>"
        hot_name = "%s:%d - %s" % (path, hot, heavy)
        assert nodes[hot_name] > 0.3 * per[svc], (hot_name, nodes.most_common(8))
        assert not [n for n in nodes if n != "total" and " - " not in n], nodes.most_common(20)

    # Both services in one flame graph: same function names, different files, apart.
    both = pyroscope.render(SAMPLES_TYPE, '{service_name=~"%s|%s"}' % (svc_a, svc_b), since)
    nodes = flame_nodes(both["flamebearer"])
    assert both["flamebearer"]["numTicks"] == per[svc_a] + per[svc_b]
    for path in (path_a, path_b):
        assert nodes["%s:%d - %s" % (path, hot, heavy)] > 0, nodes.most_common(10)
    assert not [n for n in nodes if n.endswith(" - <module>") and str(tmp_path) not in n]

    # Series labels: what the README documents.
    labels = set()
    for s in pyroscope.series('{service_name="%s"}' % svc_a, since).get("labelsSet", []):
        labels |= {l["name"] for l in s["labels"]}
    assert {"service_name", "host", "pyroscope_spy", "comm"} <= labels, labels
    assert not labels & {"service", "thread_name", "pid", "tid"}, labels
    spy = {l["value"] for s in pyroscope.series('{service_name="%s"}' % svc_a, since)["labelsSet"]
           for l in s["labels"] if l["name"] == "pyroscope_spy"}
    assert spy == {"pyspy"}, spy


def test_one_shot_push_and_pprof_without_warning(root_prof, pyroscope, one_python, tmp_path):
    svc, path = script_copy(tmp_path, "once")
    out_file = tmp_path / "once.pb.gz"
    since = time.time()
    with Workload(one_python, "split.py", argv=[one_python.path, path, 120]) as w:
        rc, out, err = run_profiler(root_prof, ["--pid", w.pid, "--duration", "3", "-o", out_file,
                                                "--push", pyroscope.url, "-v"], timeout=90)
    assert_ran_ok(rc, out, err)
    tot = final_totals(err)
    assert tot["sent"] == 1 and tot["dropped"] == 0 and tot["unsent"] == 0, err
    prof = load_profile(out_file)
    n = total(prof["samples"])
    assert n == tot["samples"] == pushed_per_service(err)[svc] and n > 0, (n, tot)
    fb = pyroscope.wait_total(SAMPLES_TYPE, '{service_name="%s"}' % svc, since, n)
    assert fb["numTicks"] == n

    # The file has a main mapping: go tool pprof prints no "Main binary
    # filename not available" (go_pprof asserts it) and still names lines.
    top = go_pprof(["-top", "-lines"], out_file)
    assert "split.py:%d" % marker_line("split.py", "HOT-HEAVY") not in top  # a copy ran
    assert "%s:%d" % (path.name, marker_line("split.py", "HOT-HEAVY")) in top, top


def has_wall_mode(prof_bin):
    out = subprocess.run([prof_bin, "--help"], capture_output=True, text=True).stdout
    return "--mode" in out and "wall" in out


def profile_types(server, since_s):
    reply = server.post("ProfileTypes", {"start": int(since_s - 60) * 1000,
                                         "end": int(time.time() + 60) * 1000})
    return {t["ID"] for t in reply.get("profileTypes", [])}


def test_wall_pushes(root_prof, pyroscope, one_python, tmp_path):
    """--mode wall: the server files the profiles under its wall-time type
    (it names a pprof with a `wall` sample type "wall"), totals equal the agent's."""
    if not has_wall_mode(root_prof):
        pytest.skip("this pybpf-prof has no --mode wall")
    svc, path = script_copy(tmp_path, "wall")
    since = time.time()
    with Workload(one_python, "split.py", argv=[one_python.path, path, 120]) as w:
        rc, out, err = run_profiler(root_prof, ["--mode", "wall", "--pid", w.pid, "--interval", "2",
                                                "--duration", "5", "--push", pyroscope.url, "-v"],
                                    timeout=90)
    assert_ran_ok(rc, out, err)
    per = pushed_per_service(err)
    tot = final_totals(err)
    assert set(per) == {svc} and per[svc] > 0, err
    assert tot["dropped"] == 0 and tot["unsent"] == 0, tot
    sel = '{service_name="%s"}' % svc
    count_type = "wall:samples:count:wall:nanoseconds"
    ns_type = "wall:wall:nanoseconds:wall:nanoseconds"
    fb = pyroscope.wait_total(count_type, sel, since, per[svc])
    assert {count_type, ns_type} <= profile_types(pyroscope, since)
    assert fb["numTicks"] == per[svc], (fb["numTicks"], per[svc])
    # at most the 5 s of one thread's wall time (and some slack for the last interval)
    wall = pyroscope.render(ns_type, sel, since)["flamebearer"]["numTicks"]
    assert 0 < wall < 15e9, wall
    hot_name = "%s:%d - %s" % (path, marker_line("split.py", "HOT-HEAVY"),
                               one_python.func_name("Split.heavy"))
    assert flame_nodes(fb)[hot_name] > 0, flame_nodes(fb).most_common(10)
