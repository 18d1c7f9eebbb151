#!/usr/bin/env bash
# Install what pybpf-prof needs from Debian's packages and build it into ./build.
# Usage: tools/setup.sh   (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS=(
  # build: clang -target bpf, bpftool gen skeleton, libbpf/libelf/zlib, libcurl (--push),
  # libdw (--native: DWARF CFI unwinding and symbols)
  clang llvm bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libcurl4-openssl-dev pkg-config cmake ninja-build gcc
  # tests: the independent pprof reader (google/pprof's profile package + Go),
  # pytest for the end-to-end suite, the interpreter the suite profiles
  golang-go golang-github-google-pprof-dev python3 python3-pytest python3.11
  # the debug file that names Debian python3.11's static functions under --native
  # (it brings python3.11 to its own version, a Debian security update), and the
  # debug build python3.11d that comes with it, one more interpreter for the suite
  python3.11-dbg
  # tests: the wall clock stepped back for the agent alone (LD_PRELOAD libfaketime)
  faketime
  # fuzzers: libFuzzer and the sanitizer runtimes for clang
  libclang-rt-14-dev
  # tests of `pybpf-prof top` (driven in a tmux pane)
  tmux
  # the man page (help2man over --help), the container image test (podman)
  help2man podman
  # the flame graph loaded in headless Chromium, speedscope's importer run by Node.js
  chromium nodejs
)
# npm fetches speedscope for the tests; a Node.js from elsewhere (NodeSource) ships its own npm
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
echo "setup: built $(pwd)/build/pybpf-prof"
