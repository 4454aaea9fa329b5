#!/usr/bin/env bash
# The real Zipkin server the tracing tests export to: the zipkin-server executable jar from Maven
# Central (io.zipkin:zipkin-server, classifier exec), run on the machine's Java 17.
#
# Downloaded once, checked against Maven Central's SHA-1, cached outside the repository in
#   ${XDG_CACHE_HOME:-~/.cache}/meshtool/zipkin/zipkin-server-<version>-exec.jar
# Prints the jar's path on stdout (logs go to stderr); fast and idempotent when cached.
#
#   scripts/zipkin-server.sh              download what is missing, print the path
#   scripts/zipkin-server.sh --print-path print the path only (it may not exist yet)
set -euo pipefail

version="3.6.1"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/zipkin"
jar="$cache/zipkin-server-$version-exec.jar"
url="https://repo1.maven.org/maven2/io/zipkin/zipkin-server/$version/zipkin-server-$version-exec.jar"

if [ "${1:-}" = "--print-path" ]; then
  echo "$jar"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [--print-path]" >&2; exit 64; }

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one download at a time; a second caller finds the jar cached
if [ ! -s "$jar" ]; then
  echo "zipkin-server: downloading $url" >&2
  curl -fsSL --retry 3 -o "$jar.partial" "$url"
  want="$(curl -fsSL --retry 3 "$url.sha1" | cut -c1-40)"
  have="$(sha1sum "$jar.partial" | cut -c1-40)"
  [ "$want" = "$have" ] || { echo "zipkin-server: checksum mismatch ($have, want $want)" >&2; rm -f "$jar.partial"; exit 1; }
  mv "$jar.partial" "$jar"
fi
command -v java >/dev/null || echo "zipkin-server: java is missing (apt-get install openjdk-17-jre-headless)" >&2
echo "$jar"
