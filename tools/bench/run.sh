#!/usr/bin/env bash
# pybpf-prof benchmarks, side by side with py-spy: one command.
#
#   tools/bench/run.sh [--quick] [bench.py options...]
#
# 1. installs the benchmark's own dependencies outside the repository
#    (tools/bench/deps.sh: wrk, linux-perf from Debian; py-spy, flask,
#    gunicorn from PyPI into $BENCH_VENV, default /opt/pybpf-bench/venv),
# 2. rebuilds pybpf-prof (and build/pprofcheck, the pprof reader),
# 3. runs tools/bench/bench.py as root: results.json and report.md under
#    $BENCH_OUT (default /tmp/pybpf-bench/<date>), the report also on stdout.
#
# BENCH_PYTHON chooses the target interpreter (default /usr/bin/python3.11).
# Full run: about 25 minutes; --quick: about 5. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3.11}
BENCH_VENV=${BENCH_VENV:-/opt/pybpf-bench/venv}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -E"

tools/bench/deps.sh "$BENCH_VENV" "$BENCH_PYTHON"
# the project's own setup (Debian packages, Go pprof reader, first build)
[ -f build/build.ninja ] || tools/setup.sh
ninja -C build pybpf-prof pprofcheck >/dev/null

out=()
[ -n "${BENCH_OUT:-}" ] && out=(--out "$BENCH_OUT")
exec $SUDO /usr/bin/python3 tools/bench/bench.py --python "$BENCH_PYTHON" --venv "$BENCH_VENV" \
  "${out[@]}" "$@"
