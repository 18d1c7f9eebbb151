#!/usr/bin/env bash
# Run the libFuzzer fuzzers of tests/fuzz (built by the default build when
# clang's libFuzzer is installed: build/fuzz/fuzz_*), each for SECONDS.
#
# Usage: tools/fuzz.sh [--build DIR] [--ci] [SECONDS] [NAME ...]
#   SECONDS   time per fuzzer (default 600; with --ci 10)
#   NAME      elf, debugoffsets, linetable, pystr, procfs, pywalk, ... (default: all)
#   --build   the build directory (default: build)
#   --ci      the short form ctest runs: a scratch corpus started from the
#             seeds, so runs do not depend on earlier ones
# Without --ci the corpus grows in BUILD/fuzz/corpus/NAME across runs.
# Crash inputs go to BUILD/fuzz/artifacts/; reproduce one with
#   BUILD/fuzz/fuzz_NAME BUILD/fuzz/artifacts/NAME-crash-...
# One line per fuzzer: executions, libFuzzer's final cov/ft, corpus size;
# also appended to BUILD/fuzz/summary.tsv. Exit status 1 if any fuzzer failed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build
CI=0
SECS=""
NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=${2?}; shift 2 ;;
    --ci) CI=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*) NAMES+=("$1"); shift ;;
    "") shift ;;
    *) SECS=$1; shift ;;
  esac
done
[ -n "$SECS" ] || { [ "$CI" -eq 1 ] && SECS=10 || SECS=600; }
FUZZ="$BUILD/fuzz"
if [ ${#NAMES[@]} -eq 0 ]; then
  for b in "$FUZZ"/fuzz_*; do
    [ -x "$b" ] && NAMES+=("${b##*/fuzz_}")
  done
fi
[ ${#NAMES[@]} -gt 0 ] || { echo "fuzz: no fuzzers in $FUZZ (build with clang's libFuzzer: libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$FUZZ/artifacts" "$FUZZ/logs"

status=0
for n in "${NAMES[@]}"; do
  bin="$FUZZ/fuzz_$n"
  [ -x "$bin" ] || { echo "fuzz: no $bin" >&2; status=1; continue; }
  seeds="$FUZZ/seeds/$n"
  mkdir -p "$seeds"
  if [ "$CI" -eq 1 ]; then
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/pybpf-fuzz-$n.XXXXXX")
  else
    corpus="$FUZZ/corpus/$n"
    mkdir -p "$corpus"
  fi
  log="$FUZZ/logs/$n.log"
  [ "$CI" -eq 1 ] && log="$FUZZ/logs/$n.ci.log"
  extra=()
  [ "$n" = elf ] && extra+=(-max_len=65536)
  # Its seeds hold cut-down copies of libc, libpython and the executable.
  [ "$n" = unwind ] && extra+=(-max_len=2097152)
  set +e
  nice -n "${FUZZ_NICE:-10}" "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$n-" "${extra[@]}" \
    "$corpus" "$seeds" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  files=$(find "$corpus" -type f | wc -l)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc, see $log)"
    status=1
    grep -aE '^==[0-9]+==ERROR|^SUMMARY|runtime error|artifact_prefix|Test unit written' "$log" | head -n 5 >&2 || true
  fi
  printf 'fuzz %-13s %5ss %10s execs  cov %5s  ft %6s  corpus %5s  %s\n' \
    "$n" "$SECS" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$result"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$n" "$SECS" "${execs:-}" \
    "${cov:-}" "${ft:-}" "$files" "$result" >> "$FUZZ/summary.tsv"
  if [ "$CI" -eq 1 ]; then
    rm -rf "$corpus"
    printf 'fuzz %-13s %5ss %10s execs  cov %5s  ft %6s  %s\n' "$n" "$SECS" "${execs:-?}" \
      "${cov:-?}" "${ft:-?}" "$result" >> "$FUZZ/ci-summary.txt"
  fi
done
exit "$status"
