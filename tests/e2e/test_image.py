# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The single binary and the container image.

- build/pybpf-prof-static (env PYBPF_PROF_STATIC) links only the C library
  (`ldd`), and profiles a Python process of the host from a minimal root: a
  private mount namespace chrooted into a directory holding only the binary,
  the C library and its loader, with /proc and /sys mounted. Without libcurl
  there, --push fails with one clear line, after the profile is written.
- The image of tools/deploy/Dockerfile (built by tools/deploy/image.sh with
  podman) run as daemonset.yaml runs it (host PID namespace, only CAP_BPF,
  CAP_PERFMON and CAP_SYS_PTRACE, read-only root, /sys/kernel/btf mounted
  read-only) profiles a Python process running in another container and
  labels it with that container's id.

This machine needs three things a normal node does not, all confined to the
test's own mount namespace or containers: its cgroup2 "unified" mount beside
cgroup v1 (crun refuses that hybrid layout) is unmounted in a private mount
namespace; rlimits are set at most at the caller's (no CAP_SYS_RESOURCE); and
podman 4.3's default seccomp profile predates CAP_BPF, so the profiler's
container runs with seccomp unconfined (daemonset.yaml explains the same for
older runtimes).
"""
import http.server
import os
import shutil
import subprocess
import threading
import uuid

import pytest

from conftest import Workload, assert_ran_ok, load_profile, samples_of, total, workload_path

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="module")
def static_bin():
    path = os.environ.get("PYBPF_PROF_STATIC")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("PYBPF_PROF_STATIC not built (needs libbpf.a, libelf.a, libz.a)")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return path


def test_static_binary_links_only_libc(static_bin):
    out = subprocess.run(["ldd", static_bin], capture_output=True, text=True).stdout
    libs = {l.split()[0] for l in out.splitlines() if l.strip()}
    assert libs <= {"linux-vdso.so.1", "libc.so.6", "/lib64/ld-linux-x86-64.so.2"}, out


def in_private_mounts(script, timeout=240):
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-ec", script],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_static_binary_in_a_minimal_root(static_bin, one_python, tmp_path):
    root = tmp_path / "root"
    for d in ("proc", "sys", "tmp", "lib64", "lib/x86_64-linux-gnu"):
        (root / d).mkdir(parents=True)
    shutil.copy(static_bin, root / "pybpf-prof")
    shutil.copy("/lib64/ld-linux-x86-64.so.2", root / "lib64")
    shutil.copy("/lib/x86_64-linux-gnu/libc.so.6", root / "lib/x86_64-linux-gnu")
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [
        "ld-linux-x86-64.so.2", "libc.so.6", "pybpf-prof"]
    with Workload(one_python, "split.py", 120) as w:
        rc, out, err = in_private_mounts(
            "mount -t proc proc {r}/proc; mount --rbind /sys {r}/sys; "
            "chroot {r} /pybpf-prof --pid {pid} --duration 3 -o /tmp/p.pb.gz -v; "
            "chroot {r} /pybpf-prof --pid {pid} --duration 1 -o /tmp/q.pb.gz "
            "--push http://127.0.0.1:9 || echo push-rc=$?".format(r=root, pid=w.pid))
    assert_ran_ok(rc, out, err)
    prof = load_profile(root / "tmp" / "p.pb.gz")
    assert total(samples_of(prof, w.pid)) >= 20, err
    assert (root / "tmp" / "q.pb.gz").exists()
    assert "push-rc=1" in out, out
    assert "cannot push: libcurl (libcurl.so.4) is not installed" in err, err


@pytest.fixture(scope="module")
def image(static_bin):
    podman = shutil.which("podman")
    if not podman:
        pytest.skip("podman not installed (Debian: apt-get install podman; tools/setup.sh does)")
    tag = "localhost/pybpf-prof:e2e-%s" % uuid.uuid4().hex[:8]
    r = subprocess.run([os.path.join(REPO, "tools/deploy/image.sh"), tag], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, ENGINE=podman))
    assert r.returncode == 0, r.stderr
    yield tag
    subprocess.run([podman, "rmi", "-f", tag], capture_output=True, timeout=120)


class Ingest(http.server.BaseHTTPRequestHandler):
    """A stand-in /ingest that answers 200 and keeps each request's path."""
    paths = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Ingest.paths.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_image_profiles_a_python_in_another_container(image, one_python, tmp_path):
    """The workload runs in a container whose root holds the interpreter (bind
    mounts of this machine's /usr, /lib, /lib64, /root/.pyenv and the workloads).
    The profile is also pushed: libcurl, opened from the image, sends it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Ingest.paths = []
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    pyroot = tmp_path / "pyroot"
    name = "pybpf-e2e-py-%s" % uuid.uuid4().hex[:8]
    binds = ["usr", "lib", "lib64", "bin", "root/.pyenv", "opt",
             os.path.dirname(workload_path("split.py")).lstrip("/")]
    common = "--ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network=host"
    script = "\n".join([
        "umount /sys/fs/cgroup/unified 2>/dev/null || true",
        "R=%s" % pyroot,
        "for d in %s; do [ -d /$d ] || continue; mkdir -p $R/$d; mount --rbind /$d $R/$d; done"
        % " ".join(binds),
        "mkdir -p $R/proc $R/sys $R/dev $R/tmp $R/etc",
        "podman run -d --name {n} {c} --rootfs $R {py} {wl} 120 >/dev/null".format(
            n=name, c=common, py=one_python.path, wl=workload_path("split.py")),
        "trap 'podman rm -f {n} >/dev/null 2>&1' EXIT".format(n=name),
        "sleep 3",
        "PID=$(podman inspect -f '{{.State.Pid}}' %s)" % name,
        "echo pid=$PID",
        "podman run --rm {c} --pid=host --cap-drop=all --cap-add=BPF,PERFMON,SYS_PTRACE "
        "--security-opt apparmor=unconfined --security-opt seccomp=unconfined --read-only "
        "-v /sys/kernel/btf:/sys/kernel/btf:ro -v {o}:/var/lib/pybpf-prof {img} "
        "--pid $PID --duration 4 -o /var/lib/pybpf-prof/c.pb.gz -v "
        "--push http://127.0.0.1:{port}".format(c=common, o=out_dir, img=image,
                                                port=server.server_address[1]),
    ])
    try:
        rc, out, err = in_private_mounts(script)
    finally:
        server.shutdown()
    assert_ran_ok(rc, out, err, "podman")
    pid = int(out.split("pid=")[1].split()[0])
    prof = load_profile(out_dir / "c.pb.gz")
    mine = samples_of(prof, pid)
    assert total(mine) >= 20, err
    cids = {s["labels"].get("container_id", [None])[0] for s in mine}
    assert len(cids) == 1 and list(cids)[0] and len(list(cids)[0]) == 64, cids
    assert any(one_python.func_name("Split.heavy") in f["function"]
               for s in mine for f in s["frames"]), err
    assert len(Ingest.paths) == 1 and "spyName=pyspy" in Ingest.paths[0], Ingest.paths
    assert "pybpf-prof: push split: HTTP 200 in " in err, err


def test_debian_package(tmp_path):
    """`cpack -G DEB` over the build: binary, systemd unit (ExecStart on the
    installed path) and the man page made from --help."""
    build = os.path.dirname(os.environ.get("PYBPF_PROF") or "")
    config = os.path.join(build, "CPackConfig.cmake")
    if not build or not os.path.exists(config) or not shutil.which("cpack"):
        pytest.skip("no CMake build directory with CPackConfig.cmake next to PYBPF_PROF")
    r = subprocess.run(["cpack", "-G", "DEB", "--config", config, "-B", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(tmp_path.glob("pybpf-prof_*_amd64.deb"))
    assert len(debs) == 1, r.stdout
    listing = subprocess.run(["dpkg-deb", "-c", str(debs[0])], capture_output=True,
                             text=True).stdout
    for path in ("./usr/sbin/pybpf-prof", "./usr/lib/systemd/system/pybpf-prof.service",
                 "./usr/share/man/man1/pybpf-prof.1"):
        assert path in listing, listing
    x = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(x)], check=True)
    unit = (x / "usr/lib/systemd/system/pybpf-prof.service").read_text()
    assert "ExecStart=/usr/sbin/pybpf-prof " in unit
    man = (x / "usr/share/man/man1/pybpf-prof.1").read_text()
    assert "\\-\\-push" in man and "\\-\\-all\\-pythons" in man, man[:2000]
    # each "or:" line of --help's usage is a synopsis line
    synopsis = man.split(".SH SYNOPSIS", 1)[1].split(".SH", 1)[0]
    assert all(cmd in synopsis for cmd in ("record", "dump", "top", "convert")), synopsis
