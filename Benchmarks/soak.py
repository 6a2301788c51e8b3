#!/usr/bin/env python3
"""Soak: does a node's cost per update stay flat over a long run? (issue 12)

    python3 Benchmarks/soak.py                      # 1,000,000 updates per case
    python3 Benchmarks/soak.py --updates 100000     # shorter
    python3 Benchmarks/soak.py --only redis         # one case

Two cases, each with fresh processes:
  memory  one `herald serve` node (in-memory broker); 100 subscribers and the publishers on it.
  redis   two nodes sharing a redis-server started here on a free loopback port; publishers on
          node A, 100 subscribers on node B, so every update crosses Redis (A: Lua XADD+PUBLISH,
          both nodes: pub/sub intake).
`herald-bench --mode soak` publishes the updates in 10 equal slices (closed loop, at most
--window undelivered events per subscriber) and, once every subscriber has a slice, reads each
node's CPU time and RSS from /proc. The table shows CPU µs per update and RSS per node for each
slice. Targets: the last slice costs at most 1.1x the second (history is full by then), and RSS
stays flat once history is full (last slice within 10% of the third); the verdicts are printed,
and the exit status is 1 when one is missed.

Loopback only; stops only the processes it started, by PID. Build first:
    swift build -c release --scratch-path .build-bench --product herald
    swift build -c release --scratch-path .build-bench --product herald-bench
(SwiftPM builds only the last of several --product options.)
(--bin DIR runs the binaries from DIR instead, e.g. an older build for a before/after.)
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (server wrappers and helpers)
import redis_latency  # noqa: E402  (RedisServer, RedisNode)

GROWTH_LIMIT = 1.1
RSS_LIMIT = 1.1


def run_bench(bench_bin, label, subscribe_port, publish_port, pids, args):
    command = [os.path.join(bench_bin, "herald-bench"), "--mode", "soak", "--port", str(subscribe_port),
               "--publish-port", str(publish_port), "--label", label, "--updates", str(args.updates),
               "--subscribers", str(args.subscribers), "--publishers", str(args.publishers),
               "--window", str(args.window), "--drain-timeout", "120",
               "--subscribe-path", "/.well-known/mercure?topic=bench", "--publish-path", "/.well-known/mercure",
               "--format", "mercure"] + [arg for pid in pids for arg in ("--server-pid", str(pid))]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {"error": f"herald-bench exit {completed.returncode}"}


def report(case, names, result, checked):
    """Prints the slice table; returns the list of missed targets."""
    if "error" in result or not result.get("slices"):
        print(f"\n{case}: failed: {result.get('error', 'no slices')}")
        return [f"{case}: run failed"]
    rows = result["slices"]
    print(f"\n{case}: {result['published']:,} updates, {result['subscribers_ready']} subscribers "
          f"(refused {result['publish_refused']}, reordered {result['reordered']}, "
          f"duplicates {result['duplicates']}, subscribers lost {result['subscribers_lost']})")
    header = ["slice", "updates", "upd/s"] + [f"{n} CPU µs/upd" for n in names] + [f"{n} RSS MiB" for n in names]
    table = []
    for row in rows:
        table.append([str(row["slice"]), f"{row['updates']:,}", f"{row['updates_per_s']:,.0f}"]
                     + [f"{value:.1f}" for value in row["cpu_us_per_update"]]
                     + [f"{kib / 1024:.1f}" for kib in row["rss_kib"]]
                     + ([] if row["drained"] else ["(not drained)"]))
    widths = [max(len(r[i]) for r in table + [header] if i < len(r)) for i in range(len(header))]
    for line in [header] + table:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) + ("  " + line[-1]
              if len(line) > len(header) else ""))
    missed = []
    if len(rows) >= 3:
        for index, name in enumerate(names):
            if name not in checked:
                continue
            second, last = rows[1]["cpu_us_per_update"][index], rows[-1]["cpu_us_per_update"][index]
            ratio = last / second if second > 0 else float("inf")
            verdict = "ok" if ratio <= GROWTH_LIMIT else "MISSED"
            print(f"  {name}: last slice / second slice CPU per update = {ratio:.2f}x "
                  f"(target <= {GROWTH_LIMIT}x): {verdict}")
            if verdict != "ok":
                missed.append(f"{case} {name}: CPU growth {ratio:.2f}x")
            third, final = rows[2]["rss_kib"][index], rows[-1]["rss_kib"][index]
            rss_ratio = final / third if third > 0 else float("inf")
            verdict = "ok" if rss_ratio <= RSS_LIMIT else "MISSED"
            print(f"  {name}: RSS last slice / third slice = {rss_ratio:.2f}x (target <= {RSS_LIMIT}x): {verdict}")
            if verdict != "ok":
                missed.append(f"{case} {name}: RSS growth {rss_ratio:.2f}x")
    if any(not row["drained"] for row in rows):
        missed.append(f"{case}: some slice did not drain")
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--window", type=int, default=2000, help="undelivered events allowed per subscriber")
    parser.add_argument("--only", choices=["memory", "redis"])
    parser.add_argument("--bin", help="directory of the herald binary (default: .build-bench/release)")
    parser.add_argument("--bench-bin", help="directory of herald-bench (default: .build-bench/release)")
    args = parser.parse_args()
    bench_bin = args.bench_bin or compare.BIN
    if args.bin:
        compare.BIN = args.bin
    for directory, name in ((compare.BIN, "herald"), (bench_bin, "herald-bench")):
        if not os.access(os.path.join(directory, name), os.X_OK):
            raise SystemExit(f"{name} missing in {directory}; build first (see --help)")
    os.makedirs(compare.WORK, exist_ok=True)
    missed = []
    if args.only in (None, "memory"):
        node = compare.Herald("soak-memory")
        node.start()
        try:
            result = run_bench(bench_bin, "memory", node.port, node.port, [node.pid], args)
        finally:
            node.stop()
        missed += report("memory (one node)", ["node"], result, ["node"])
    if args.only in (None, "redis"):
        redis = redis_latency.RedisServer()
        redis.start()
        a = redis_latency.RedisNode("soak-redis-a", redis.port)
        b = redis_latency.RedisNode("soak-redis-b", redis.port)
        try:
            a.start()
            b.start()
            time.sleep(0.5)  # let both nodes subscribe to the shared channel
            result = run_bench(bench_bin, "redis", b.port, a.port, [a.pid, b.pid, redis.pid], args)
        finally:
            for process in (a, b):
                if hasattr(process, "process"):
                    process.stop()
            redis.stop()
        missed += report("redis (node A publishes, node B serves the subscribers)", ["A", "B", "redis"], result,
                         ["A", "B"])
        print("  (the redis-server column is for reference: its CPU is a few ticks of 10 ms per slice)")
    print("\nCPU is per process from /proc (user+system) over each slice, divided by the slice's updates; "
          "the machine may be shared, so compare slices of one run, not runs.")
    if missed:
        print("MISSED: " + "; ".join(missed))
        sys.exit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
