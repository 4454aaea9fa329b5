#!/usr/bin/env bash
# Debian packages the test suite and benchmarks use: network namespaces and iptables for the
# transparent-mode tests, nginx, HAProxy and wrk for the sidecar benchmarks, Java for the Zipkin
# server of the tracing tests, Chromium for the dashboard's browser tests, Graphviz for the docs'
# `dot` example (tests/docs runs it), curl and openssl for the gateway's TLS tests and docs.
# Installs what is missing when run as root (as on CI); otherwise prints the apt-get line to run.
set -euo pipefail
need=()
command -v ip >/dev/null       || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v nginx >/dev/null    || need+=(nginx-light)
command -v wrk >/dev/null      || need+=(wrk)
command -v haproxy >/dev/null  || need+=(haproxy)
command -v java >/dev/null     || need+=(openjdk-17-jre-headless)
command -v chromium >/dev/null || need+=(chromium)
command -v dot >/dev/null      || need+=(graphviz)
command -v curl >/dev/null     || need+=(curl)
command -v openssl >/dev/null  || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing Debian packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
fi
