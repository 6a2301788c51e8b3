#!/usr/bin/env bash
# Publish CPU, binaries alternating: `bash Benchmarks/publish_ab.sh ROUNDS CONCURRENCY DIR...`
# Each DIR holds a release `herald`; the first DIR's `herald-bench` drives every run. Every round
# runs each binary once (a fresh server, 5 s of closed-loop publishes, no subscribers) and prints
# one line: DIR, server CPU µs per publish, publishes/s, stolen CPU s. Then the medians per DIR and
# the median of the per-round ratios of each DIR to the last one. Loopback only; servers are
# stopped by their PID. On a shared VM, compare medians over many rounds, never single runs.
set -euo pipefail
rounds=$1; concurrency=$2; shift 2
bench="$1/herald-bench"
secret=$(mktemp); head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
out=$(mktemp)
for _ in $(seq "$rounds"); do
  for dir in "$@"; do
    log=$(mktemp)
    "$dir/herald" serve --port 0 --log-level warning --chat false --subscription-events false --secret-file "$secret" > "$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q 'listening on http://127.0.0.1:' "$log" && break; sleep 0.1; done
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
    timeout 60 "$bench" --port "$port" --server-pid "$pid" --subscribe-path "/.well-known/mercure?topic=bench" \
      --publish-path /.well-known/mercure --format mercure --subscribers 0 --publishers "$concurrency" --duration 5 \
      2>/dev/null | grep '^RESULT' | DIR="$dir" python3 -c '
import json, os, sys
d = json.loads(sys.stdin.read()[7:])
print(os.environ["DIR"], round(d["server_cpu_us_per_publish"], 2), round(d["publish_per_s"]), round(d.get("steal_s", 0), 2))' | tee -a "$out"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$log"
  done
done
python3 - "$out" "$@" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
dirs = sys.argv[2:]
cpu = {d: [float(r[1]) for r in rows if r[0] == d] for d in dirs}
for d in dirs:
    print(f"{d}: CPU µs/publish median {statistics.median(cpu[d]):.2f}, publishes/s median "
          f"{statistics.median(float(r[2]) for r in rows if r[0] == d):.0f}")
for d in dirs[:-1]:
    ratios = [a / b for a, b in zip(cpu[d], cpu[dirs[-1]])]
    print(f"{d} / {dirs[-1]}: paired CPU ratio median {statistics.median(ratios):.3f} (range {min(ratios):.2f}-{max(ratios):.2f})")
PY
rm -f "$secret" "$out"
