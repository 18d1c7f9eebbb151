#!/bin/sh
# Usage: dump.sh PYTHON   — compile dump_offsets.c against PYTHON's headers and run it.
set -eu
py=${1:?usage: dump.sh PYTHON}
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cc -O0 -w -I"$inc" -I"$inc/internal" "$(dirname "$0")/dump_offsets.c" -o "$out"
"$out"
