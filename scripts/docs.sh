#!/usr/bin/env bash
# Builds the DocC documentation of every public module (swift-docc-plugin) and fails on any
# warning: a broken symbol link, a parameter documented that does not exist or one missing, a
# topic that names nothing, or a compiler warning while extracting the symbol graphs.
# Archives: .build/plugins/Swift-DocC/outputs/<Module>.doccarchive.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

modules=(ServerSentEvents URLPattern HeraldHub HeraldHTTP HeraldRedis HeraldEventSource HeraldClient HeraldChat HeraldTesting)
# HeraldVapor is behind the `Vapor` trait: documented with the trait on, unless HERALD_VAPOR=0
# (then Vapor is neither fetched nor built, as in scripts/test.sh).
if [ "${HERALD_VAPOR:-1}" != 0 ] && grep -q 'name: "HeraldVapor"' Package.swift; then
    modules+=(HeraldVapor)
    trait_args=(--traits Vapor)
else
    trait_args=()
fi

args=()
for module in "${modules[@]}"; do args+=(--target "$module"); done
log=.build/docs.log
mkdir -p .build
start=$(date +%s)
status=0
swift package "${trait_args[@]}" generate-documentation "${args[@]}" --warnings-as-errors >"$log" 2>&1 || status=$?
# DocC's own warnings are errors (--warnings-as-errors); a compiler warning in our sources while
# the symbol graphs are built fails too. (SwiftPM's notes about dependencies' packages do not.)
if [ "$status" -ne 0 ] || grep -E 'warning:' "$log" | grep -q "$PWD/Sources/"; then
    grep -E 'warning:|error:' "$log" | sort -u || cat "$log"
    echo "!! documentation has warnings or failed (exit $status); full log in $log" >&2
    [ "$status" -ne 0 ] || status=1
    exit "$status"
fi
echo "== documentation of ${#modules[@]} modules built without warnings in $(( $(date +%s) - start )) s"
