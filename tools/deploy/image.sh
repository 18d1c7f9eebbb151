#!/usr/bin/env bash
# Build the container image of tools/deploy/Dockerfile from this machine's
# build/pybpf-prof-static: a context with the binary, the C library, libcurl
# and the libraries it loads (from this Debian system), and CA certificates.
# Usage: tools/deploy/image.sh [TAG]   (default pybpf-prof:<version>)
# Env:   ENGINE=podman|docker (default: whichever is installed, podman first)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/pybpf-prof-static
[ -x "$BIN" ] || { echo "image: $BIN missing: build first (tools/setup.sh)" >&2; exit 1; }
VERSION=$("$BIN" --version | awk '{print $2}')
TAG=${1:-pybpf-prof:$VERSION}
ENGINE=${ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$ENGINE" ] || { echo "image: no podman or docker (Debian: apt-get install podman)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/local/sbin" "$root/var/lib/pybpf-prof" "$root/tmp" "$root/etc/ssl/certs"
chmod 1777 "$root/tmp"
install -m 0755 "$BIN" "$root/usr/local/sbin/pybpf-prof"

# A shared object and everything it loads, at the paths the loader looks in.
copy_with_deps() {
  local f
  for f in "$1" $(ldd "$1" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
  done
}
copy_with_deps "$BIN"
curl_so=$(ldconfig -p | awk '/libcurl\.so\.4 .*x86-64/ && !f { f = $NF } END { print f }')
if [ -n "$curl_so" ]; then
  copy_with_deps "$curl_so"
  mkdir -p "$root/usr/lib/x86_64-linux-gnu"
  cp -L "$curl_so" "$root/usr/lib/x86_64-linux-gnu/libcurl.so.4"
else
  echo "image: warning: no libcurl.so.4 on this machine: the image cannot --push" >&2
fi
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cp tools/deploy/Dockerfile "$ctx/Dockerfile"
"$ENGINE" build -q -t "$TAG" "$ctx" >/dev/null
echo "$TAG"
