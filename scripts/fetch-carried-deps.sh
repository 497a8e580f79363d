#!/usr/bin/env bash
# Unpacks Debian's cJSON and stb packages into deps/ (ignored by git), for build
# machines that have a compiler but no package manager access (the GPU machines):
# the Makefile finds deps/usr/include/{cjson,stb} and links deps/usr/lib/... with
# an rpath. Run here, then carry deps/ along.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download libcjson1 libcjson-dev libstb-dev)
rm -rf deps && mkdir deps
for f in "$tmp"/*.deb; do dpkg -x "$f" deps; done
echo "deps/: $(du -sh deps | cut -f1) (cJSON $(ls deps/usr/lib/x86_64-linux-gnu/libcjson.so.1.* | sed 's/.*so.1.//'), stb headers)"
