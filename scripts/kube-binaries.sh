#!/usr/bin/env bash
# The real Kubernetes API server the tests run against, on a machine without Docker or prebuilt
# Kubernetes downloads: kube-apiserver is compiled from the Go module proxy with the small module in
# tests/kube/apiserver, etcd comes from Debian's etcd-server package.
#
# The binaries are cached outside the repository in
#   ${XDG_CACHE_HOME:-~/.cache}/meshtool/kube/<kubernetes version>-<hash of the module files>/
# so a change to go.mod, go.sum or main.go builds a new directory and nothing else ever rebuilds.
# Prints that directory on stdout (logs go to stderr); fast and idempotent when cached.
#
#   scripts/kube-binaries.sh              build what is missing, print the directory
#   scripts/kube-binaries.sh --print-dir  print the directory only (it may not exist yet)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
module="$root/tests/kube/apiserver"

log() { echo "kube-binaries: $*" >&2; }
die() { log "error: $*"; exit 1; }

version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$module/go.mod")"
[[ "$version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || die "no k8s.io/kubernetes vX.Y.Z require in $module/go.mod"
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
hash="$(cat "$module/go.mod" "$module/go.sum" "$module"/*.go | sha256sum | cut -c1-12)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/kube"
dir="$cache_root/$version-$hash"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$dir"
  exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [--print-dir]"

# etcd: Debian's package, installed when we are root (as on CI), linked into the cache directory so
# the tests find both binaries in one place.
find_etcd() {
  command -v etcd 2>/dev/null || { [ -x /usr/bin/etcd ] && echo /usr/bin/etcd; } || true
}
etcd_bin="$(find_etcd)"
if [ -z "$etcd_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian package etcd-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
    etcd_bin="$(find_etcd)"
  fi
  [ -n "$etcd_bin" ] || die "etcd is missing (run: sudo apt-get install etcd-server)"
fi

mkdir -p "$cache_root"
# One build at a time: a second caller waits for the first and then finds the binaries cached.
exec 9>"$cache_root/.lock"
flock 9

if [ ! -x "$dir/kube-apiserver" ]; then
  PATH="$PATH:/usr/local/go/bin"  # where Go's own tarball installs it
  command -v go >/dev/null || die "go is not installed; it is needed to build kube-apiserver"
  log "building kube-apiserver $version into $dir (a cold build takes 15 to 20 minutes on 2 cores)"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  pkg="k8s.io/component-base/version"
  cli="k8s.io/client-go/pkg/version"
  ldflags="-s -w"
  for p in "$pkg" "$cli"; do
    ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  start=$SECONDS
  (cd "$module" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "$ldflags" -o "$dir.partial/kube-apiserver" .) \
    || die "building kube-apiserver failed"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  log "built kube-apiserver in $((SECONDS - start)) s"
fi
ln -sfn "$etcd_bin" "$dir/etcd"

"$dir/kube-apiserver" --version >/dev/null || die "$dir/kube-apiserver does not run"
"$dir/etcd" --version >/dev/null || die "$dir/etcd does not run"
echo "$dir"
