#!/usr/bin/env bash
# Run every test: unit tests (ASan/UBSan), BPF-logic tests and the end-to-end
# suite against real Python processes. Needs root (BPF) and a build (tools/setup.sh).
# PYBPF_TEST_PYTHONS="path ..." selects the interpreters (default: those on the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
$SUDO ctest --test-dir build --output-on-failure "$@"
