#!/usr/bin/env bash
# Herald vs nchan in one run: builds the release binaries (own scratch path), makes sure nginx
# with the nchan module is there, then runs Benchmarks/compare.py with the given arguments
# (--quick for a smoke run, --profile for a perf profile of Herald). Loopback only; bounded.
#
# Environment:
#   SKIP_BUILD=1          use the binaries already built
#   HERALD_BIN=DIR        the herald and herald-bench under test (default .build-bench/release)
#   HERALD_BASELINE=X     a before/after in one run: X is a directory holding another build's
#                         `herald`, or a git revision, which is then built (release) in a detached
#                         worktree under /tmp/herald-baseline-REV; its server runs alternately
#                         with the others, driven by the same herald-bench
#   SSELOAD=PATH          the independent generator (../shared/tools/sseload, `go build`): adds
#                         the sseload-broadcast-* cases
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --scratch-path "$PWD/.build-bench" --product herald >&2
    swift build -c release --scratch-path "$PWD/.build-bench" --product herald-bench >&2
fi

if [[ -n "${HERALD_BASELINE:-}" && ! -d "$HERALD_BASELINE" ]]; then
    rev=$(git rev-parse --short "$HERALD_BASELINE^{commit}")
    tree="/tmp/herald-baseline-$rev"
    [[ -d "$tree" ]] || git worktree add --detach "$tree" "$rev" >&2
    if [[ "${SKIP_BUILD:-0}" != 1 || ! -x "$tree/.build-bench/release/herald" ]]; then
        (cd "$tree" && swift build -c release --scratch-path "$tree/.build-bench" --product herald >&2)
    fi
    export HERALD_BASELINE="$tree/.build-bench/release"
fi

if ! command -v nginx >/dev/null || ! ls /usr/lib/nginx/modules/ngx_nchan_module.so >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]]; then
        echo "compare.sh: installing nginx-light and libnginx-mod-nchan" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light libnginx-mod-nchan >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light libnginx-mod-nchan >&2; }
    else
        echo "compare.sh: needs nginx with nchan: apt-get install -y nginx-light libnginx-mod-nchan" >&2
        exit 1
    fi
fi

exec python3 Benchmarks/compare.py "$@"
