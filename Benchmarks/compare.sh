#!/usr/bin/env bash
# Herald vs nchan in one run: builds the release binaries (own scratch path), makes sure nginx
# with the nchan module is there, then runs Benchmarks/compare.py with the given arguments
# (--quick for a smoke run, --profile for a perf profile of Herald). Loopback only; bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --scratch-path "$PWD/.build-bench" --product herald >&2
    swift build -c release --scratch-path "$PWD/.build-bench" --product herald-bench >&2
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
