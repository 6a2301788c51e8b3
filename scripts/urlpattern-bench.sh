#!/usr/bin/env bash
# Worst-case URL Pattern match time per 2 KiB topic, optimized build of the URLPattern module
# alone (no dependencies, so no SwiftPM release build of the whole package is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/herald-urlpattern-bench"
swiftc -O -module-name URLPatternBench Sources/URLPattern/*.swift Benchmarks/URLPatternBench/main.swift -o "$out"
"$out"
