#!/usr/bin/env bash
# The end-to-end suite as ctest runs it: usage run.sh PYTHON LOG [pytest args].
# pytest's output goes to the terminal and to LOG (tools/test.sh prints the
# outcomes per interpreter from it). A test that fails is run once more on
# its own after the suite (pytest --lf): the suite passes only if every
# failure passes then. A failure that does not repeat came from load on the
# machine (these tests run real processes against the clock); it stays listed
# in the first run's summary above the rerun, so it is seen, not hidden.
set -uo pipefail
py=$1
log=$2
shift 2
dir=$(cd "$(dirname "$0")" && pwd)
cache=(-o "cache_dir=$(cd "$(dirname "$log")" && pwd)/pytest-cache")
"$py" -m pytest -ra --durations=30 "${cache[@]}" "$@" "$dir" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 1 ]; then
  echo "e2e: running the failed tests once more on their own" | tee -a "$log"
  "$py" -m pytest -ra --lf "${cache[@]}" "$@" "$dir" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
fi
exit "$rc"
