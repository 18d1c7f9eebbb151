#!/usr/bin/env bash
# Install the benchmark's own dependencies, outside the repository:
#   Debian: wrk (HTTP load), linux-perf (perf), bpftool, valgrind
#   PyPI, into a throwaway venv built on the target interpreter:
#     py-spy (the profiler we compare against), flask + gunicorn (the web workload)
# Usage: tools/bench/deps.sh VENV_DIR TARGET_PYTHON
# Idempotent: does nothing that is already done. Nothing here is needed to
# build or test pybpf-prof.
set -euo pipefail
VENV=${1:?venv dir}
PY=${2:?target python}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS=(wrk linux-perf bpftool valgrind python3-venv)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the venv module of the target interpreter (python3.11-venv for python3.11)
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ "$PY" == /usr/bin/* ]] && ! "$PY" -c 'import ensurepip' 2>/dev/null; then
  missing+=("python${pyver}-venv")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench deps: apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/py-spy" ] || [ ! -x "$VENV/bin/gunicorn" ] || \
   ! "$VENV/bin/python" -c 'import flask' 2>/dev/null; then
  echo "bench deps: venv $VENV (py-spy, flask, gunicorn) on $PY" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check py-spy flask gunicorn
fi
"$VENV/bin/py-spy" --version >&2
