#!/usr/bin/env bash
# The standard Gateway API CRDs of a pinned release, for the tests' real API server. They ship in
# the Go module sigs.k8s.io/gateway-api, which `go mod download` fetches from the Go module proxy
# into a cache outside the repository (${XDG_CACHE_HOME:-~/.cache}/meshtool/gomod).
# Prints the directory holding the CRD manifests (config/crd/standard); fast when cached.
set -euo pipefail

version="v1.2.1"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/gomod"
dir="$cache/sigs.k8s.io/gateway-api@$version/config/crd/standard"
if [ ! -d "$dir" ]; then
  PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || { echo "gateway-api-crds: go is not installed" >&2; exit 1; }
  mkdir -p "$cache"
  # -modcacherw: a cache the tests' cleanup (and a later rm -rf) can delete
  GOMODCACHE="$cache" GOFLAGS=-modcacherw GOPROXY="${GOPROXY:-https://proxy.golang.org}" \
    go mod download "sigs.k8s.io/gateway-api@$version" >&2
fi
echo "$dir"
