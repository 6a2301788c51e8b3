#!/usr/bin/env bash
# Builds the libFuzzer harness (Fuzz/) and runs each fuzz target for a while.
#
#   scripts/fuzz.sh [TARGET...] [--seconds N]
#
# Targets: sse form publish resp template (default: all), each run for N seconds (default 60),
# one after the other. The build has its own scratch path (.build-fuzz: debug, so asserts and
# preconditions are on, with -sanitize=fuzzer,address) and the `Fuzzing` package trait; a plain
# `swift build` builds only a stub of the harness. Each target starts from its committed seeds
# (Fuzz/corpus/TARGET) plus what earlier runs found (.build-fuzz/corpus/TARGET, not committed);
# a crash, property failure, timeout (10 s per input) or out-of-memory is saved under
# .build-fuzz/findings/ and makes the script exit non-zero. Reproduce one with
#   HERALD_FUZZ_TARGET=TARGET .build-fuzz/debug/HeraldFuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

all=(sse form publish resp template)
targets=()
seconds=60
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *)
            if [[ " ${all[*]} " != *" $1 "* ]]; then
                echo "unknown fuzz target '$1' (targets: ${all[*]})" >&2
                exit 2
            fi
            targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

build=(swift build --scratch-path .build-fuzz --product HeraldFuzz --traits Fuzzing -Xswiftc -sanitize=fuzzer,address)
echo "== building the fuzz harness (${build[*]})"
start=$(date +%s)
mkdir -p .build-fuzz
if ! "${build[@]}" >.build-fuzz/build.log 2>&1; then
    grep -v "warning: Cannot export local symbol" .build-fuzz/build.log | tail -40
    echo "!! fuzz harness build failed (.build-fuzz/build.log)" >&2
    exit 1
fi
# Our own warnings are shown (the dependencies' and ASan's linker notes are not).
grep -E "^/.*/(Fuzz|Sources)/.*(warning|error):" .build-fuzz/build.log | grep -v "/checkouts/" || true
binary=.build-fuzz/debug/HeraldFuzz
echo "== built in $(( $(date +%s) - start )) s"

# Inputs longer than this are not generated (request streams get more room: many headers).
max_len() { case "$1" in publish) echo 16384 ;; *) echo 4096 ;; esac; }

failed=()
summary=()
for target in "${targets[@]}"; do
    work=".build-fuzz/corpus/$target"
    findings=".build-fuzz/findings"
    log=".build-fuzz/$target.log"
    mkdir -p "$work" "$findings" "Fuzz/corpus/$target"
    dict=()
    [ -f "Fuzz/dict/$target.dict" ] && dict=(-dict="Fuzz/dict/$target.dict")
    echo "== fuzzing $target for $seconds s"
    status=0
    HERALD_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
        "$binary" "$work" "Fuzz/corpus/$target" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
        -print_final_stats=1 -artifact_prefix="$findings/$target-" >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    corpus=$(ls "$work" | wc -l)
    if [ "$status" -eq 0 ]; then
        result="no findings"
    else
        result="FAILED (exit $status): $(grep -o -m1 -e 'PROPERTY FAILED.*' -e 'ERROR: libFuzzer: .*' -e 'ERROR: AddressSanitizer: [a-z-]*' -e 'Fatal error: .*' "$log" | head -c 300)"
        artifact=$(grep -o "Test unit written to .*" "$log" | sed 's/Test unit written to //' | tail -1)
        [ -n "$artifact" ] && result+=" [input: $artifact]"
        echo "-- last lines of $log:"; tail -25 "$log"
        failed+=("$target")
    fi
    line="$target: ${runs:-?} executions (${rate:-?}/s), coverage ${cov:-?}, corpus $corpus new + $(ls "Fuzz/corpus/$target" | wc -l) seeds: $result"
    echo "$line"
    summary+=("$line")
done

echo "== fuzz summary ($seconds s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "!! findings in: ${failed[*]} (inputs under .build-fuzz/findings/)" >&2
    exit 1
fi
