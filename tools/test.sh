#!/usr/bin/env bash
# Run every test: unit tests (ASan/UBSan), BPF-logic tests, the fuzzers
# (each for a short fixed time), an 80 s soak and the end-to-end suite against real Python
# processes. Unit tests and fuzzers run one per CPU at a time; the soak and
# the end-to-end suite (RUN_SERIAL: they race real processes against the clock) alone. Needs root (BPF) and a build (tools/setup.sh).
# PYBPF_TEST_PYTHONS="path ..." selects the interpreters (default: those on the machine).
# Arguments go to ctest (e.g. -L unit, -R e2e). At the end: what the fuzzers
# did, the soak's figures and the end-to-end outcomes per interpreter, with pytest's closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
rm -f build/e2e.log build/fuzz/ci-summary.txt build/soak/summary.txt
$SUDO ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
status=$?
if [ -s build/fuzz/ci-summary.txt ]; then
  echo
  echo "---- fuzzers (tools/fuzz.sh --ci: executions, libFuzzer coverage, corpus) ----"
  cat build/fuzz/ci-summary.txt
fi
if [ -s build/soak/summary.txt ]; then
  echo
  echo "---- soak, short form (tools/soak.sh --duration 80) ----"
  cat build/soak/summary.txt
fi
if [ -s build/e2e.log ]; then
  echo
  echo "---- end-to-end suite (build/e2e.log) ----"
  # From the per-interpreter table to pytest's closing line.
  if grep -q '= outcomes per interpreter =' build/e2e.log; then
    sed -n '/= outcomes per interpreter =/,$p' build/e2e.log
  else
    tail -n 5 build/e2e.log
  fi
fi
exit "$status"
