#!/usr/bin/env bash
# Build a Grafana Pyroscope v1.9.0 server binary from the Go module proxy, for the
# end-to-end tests (tests/e2e/test_pyroscope.py). Nothing of Pyroscope's code is
# kept in this repository: a throwaway Go module in the cache directory requires
# pyroscope v1.9.0 and its api module v1.0.0 (pyroscope's own go.mod points the api
# at ./api, which the module zip does not contain), repeats pyroscope's other two
# replace directives, and builds cmd/pyroscope.
#
# Usage: tools/pyroscope/build.sh        prints the binary's path on the last line
#        tools/pyroscope/build.sh --path prints where the binary is (or will be), builds nothing
# Env:   PYBPF_PYROSCOPE_CACHE  cache directory (default /var/cache/pybpf-prof/pyroscope)
#        GO                     a Go >= 1.22 to use (default: /usr/local/go/bin/go, then
#                               `go` on PATH; if neither is new enough, the toolchain
#                               module golang.org/toolchain is fetched from GOPROXY)
# The binary is cached: a second run prints its path without building. The first
# build takes ~9-12 minutes on a loaded 2-core machine (it runs niced).
set -euo pipefail

PYROSCOPE_VERSION=v1.9.0
API_VERSION=v1.0.0
TOOLCHAIN=go1.26.8
CACHE=${PYBPF_PYROSCOPE_CACHE:-/var/cache/pybpf-prof/pyroscope}
BIN="$CACHE/pyroscope-$PYROSCOPE_VERSION"

if [ "${1:-}" = "--path" ] || [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

log() { echo "pyroscope-build: $*" >&2; }

# A Go new enough for pyroscope v1.9.0 (its go.mod asks for 1.21+; built and
# tested with 1.26).
go_ok() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt 1 ] || [ "${minor%%[!0-9]*}" -ge 22 ]
}

mkdir -p "$CACHE"
GO_BIN=""
for cand in "${GO:-}" /usr/local/go/bin/go "$(command -v go || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && go_ok "$cand"; then
    GO_BIN=$cand
    break
  fi
done
if [ -z "$GO_BIN" ]; then
  # The module proxy serves Go toolchains as the module golang.org/toolchain.
  proxy=${GOPROXY:-https://proxy.golang.org}
  proxy=${proxy%%,*}
  tc="$CACHE/toolchain"
  if [ ! -x "$tc/go/bin/go" ]; then
    log "fetching $TOOLCHAIN from $proxy"
    rm -rf "$tc" && mkdir -p "$tc"
    curl -fsSL -o "$tc/tc.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$TOOLCHAIN.linux-amd64.zip"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$tc/tc.zip" "$tc/x"
    mv "$tc/x/golang.org/toolchain@v0.0.1-$TOOLCHAIN.linux-amd64" "$tc/go"
    chmod +x "$tc"/go/bin/* "$tc"/go/pkg/tool/*/*
    rm -rf "$tc/x" "$tc/tc.zip"
  fi
  GO_BIN="$tc/go/bin/go"
fi
log "using $("$GO_BIN" version) ($GO_BIN)"

MOD="$CACHE/module"
mkdir -p "$MOD"
cat >"$MOD/go.mod" <<MODEOF
module pybpfprof.invalid/pyroscope-build

go 1.22

require (
	github.com/grafana/pyroscope $PYROSCOPE_VERSION
	github.com/grafana/pyroscope/api $API_VERSION
)

replace (
	github.com/hashicorp/memberlist => github.com/grafana/memberlist v0.3.1-0.20220708130638-bd88e10a3d91
	gopkg.in/yaml.v3 => github.com/colega/go-yaml-yaml v0.0.0-20220720105220-255a8d16d094
)
MODEOF
cat >"$MOD/tools.go" <<'GOEOF'
//go:build tools

package tools

import _ "github.com/grafana/pyroscope/cmd/pyroscope"
GOEOF

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOPATH=${GOPATH:-$CACHE/gopath}
start=$(date +%s)
cd "$MOD"
log "resolving modules"
nice -n 10 "$GO_BIN" mod tidy
log "building (niced; ~9-12 min on 2 loaded cores)"
# -s -w: no symbol table or DWARF (a shorter link; the tests need no debugging)
nice -n 10 "$GO_BIN" build -trimpath -ldflags="-s -w" -o "$BIN.tmp" \
  github.com/grafana/pyroscope/cmd/pyroscope
mv "$BIN.tmp" "$BIN"
log "built in $(($(date +%s) - start)) s"
echo "$BIN"
