#!/usr/bin/env python3
"""Publish -> receive latency: one in-memory Herald node vs two Herald nodes sharing a Redis,
side by side in one run (same load generator, same offered load, alternating cases).

    python3 Benchmarks/redis_latency.py            # 10 s per case
    python3 Benchmarks/redis_latency.py --quick    # 3 s per case

In the Redis cases the subscribers are on node B and the publishers on node A, so every event
crosses Redis (Lua XADD + PUBLISH on A, pub/sub push to B). Starts its own redis-server on a free
loopback port; stops only what it started. Build first:
    swift build -c release --scratch-path .build-bench --product herald
    swift build -c release --scratch-path .build-bench --product herald-bench
(--bin DIR runs the herald binary from DIR instead, e.g. an older build for a before/after;
--baseline-bin DIR also runs the two-node Redis case with DIR's herald, right after the one
under test, and prints new/old CPU per delivery from the same run.)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (shares the server wrappers and the output helpers)


class RedisServer:
    def start(self):
        if not shutil.which("redis-server"):
            raise SystemExit("redis-server missing: apt-get install -y redis-server")
        self.port = compare.free_port()
        self.dir = tempfile.mkdtemp(prefix="herald-bench-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if not compare.wait_for_port(self.port, time.time() + 10):
            self.stop()
            raise SystemExit("redis-server did not start")
        self.pid = self.process.pid

    def stop(self):
        compare.stop_process(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisNode(compare.Herald):
    """A Herald node in distributed mode (`--redis`)."""

    def __init__(self, case, redis_port, binary_dir=None):
        super().__init__(case)
        self.extra_args = ["--redis", f"redis://127.0.0.1:{redis_port}"]
        self.binary_dir = binary_dir


class NchanRedisNode(compare.Nchan):
    """nginx + nchan with its Redis store (`nchan_use_redis on`, `nchan_redis_url`): the same
    two-node shape as Herald's, for issue 14's Redis against Redis."""

    def __init__(self, case, redis_port):
        super().__init__(case)
        self.redis_port = redis_port

    def start(self):
        plain = compare.NGINX_CONF
        compare.NGINX_CONF = plain.replace(
            "nchan_use_redis off;", f'nchan_use_redis on; nchan_redis_url "redis://127.0.0.1:{self.redis_port}";')
        try:
            super().start()
        finally:
            compare.NGINX_CONF = plain


def run(bench_bin, label, subscribe_port, publish_port, pids, bench_args, limit):
    command = [os.path.join(bench_bin, "herald-bench"), "--port", str(subscribe_port), "--publish-port",
               str(publish_port), "--label", label] + [arg for pid in pids for arg in ("--server-pid", str(pid))]
    command += ["--subscribe-path", "/.well-known/mercure?topic=bench", "--publish-path", "/.well-known/mercure",
                "--format", "mercure"] + [str(arg) for arg in bench_args]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, timeout=limit)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {"error": f"exit {completed.returncode}"}


def run_nchan(bench_bin, label, subscribe_port, publish_port, pids, bench_args, limit):
    """herald-bench against nchan's URL shape (/sub/bench, /pub/bench, raw bodies)."""
    command = [os.path.join(bench_bin, "herald-bench"), "--port", str(subscribe_port), "--publish-port",
               str(publish_port), "--label", label] + [arg for pid in pids for arg in ("--server-pid", str(pid))]
    command += ["--subscribe-path", "/sub/bench", "--publish-path", "/pub/bench", "--format", "raw"]
    command += [str(arg) for arg in bench_args]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, timeout=limit)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else {"error": f"exit {completed.returncode}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bin", help="directory of the herald binary (default: .build-bench/release), e.g. an"
                                      " older build for a before/after")
    parser.add_argument("--bench-bin", help="directory of herald-bench (default: .build-bench/release)")
    parser.add_argument("--nchan", action="store_true",
                        help="also two nginx+nchan nodes on the same kind of redis-server (nchan's Redis mode)")
    parser.add_argument("--fanout", action="store_true",
                        help="also max-rate fan-out, S=1000 (4 publishers, at most 100 events in flight per subscriber)")
    parser.add_argument("--baseline-bin", help="directory of an older herald binary: its two-node Redis case runs"
                                               " too, after each one under test, for a new/old CPU ratio in one run")
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory single-node case")
    parser.add_argument("--only", choices=["1000", "100"], help="run one load only (S=1000 x 10/s or S=100 x 100/s)")
    args = parser.parse_args()
    bench_bin = args.bench_bin or compare.BIN
    if args.bin:
        compare.BIN = args.bin
    os.makedirs(compare.WORK, exist_ok=True)
    duration = 3 if args.quick else 10
    loads = [("S=1000 x 10/s", ["--subscribers", 1000, "--rate", 10, "--publishers", 2, "--duration", duration]),
             ("S=100 x 100/s", ["--subscribers", 100, "--rate", 100, "--publishers", 2, "--duration", duration])]
    if args.fanout:
        loads.append(("S=1000 max", ["--subscribers", 1000, "--publishers", 4, "--window", 100, "--duration", duration]))
    if args.only:
        loads = [load for load in loads if load[0].startswith(f"S={args.only} ")]
    results = []

    def two_nodes(label, binary_dir):
        redis = RedisServer()
        redis.start()
        a = RedisNode(f"{label}-a-{len(results)}", redis.port, binary_dir)
        b = RedisNode(f"{label}-b-{len(results)}", redis.port, binary_dir)
        a.start()
        b.start()
        try:
            time.sleep(0.5)  # let both nodes subscribe to the shared channel
            print(f"{label}/{load}: node A pid {a.pid}, node B pid {b.pid}, redis pid {redis.pid}", file=sys.stderr)
            return run(bench_bin, f"{label}/{load}", b.port, a.port, [a.pid, b.pid, redis.pid], bench_args, duration + 60)
        finally:
            a.stop()
            b.stop()
            redis.stop()

    for load, bench_args in loads:
        memory = {}
        if not args.no_memory:
            node = compare.Herald(f"memory-{len(results)}")
            node.start()
            try:
                memory = run(bench_bin, f"memory/{load}", node.port, node.port, [node.pid], bench_args, duration + 60)
            finally:
                node.stop()
        # two nodes over Redis (and the baseline build's, right after)
        cluster = two_nodes("redis", None)
        baseline = two_nodes("redis-baseline", args.baseline_bin) if args.baseline_bin else {}
        nchan = {}
        if args.nchan:
            redis = RedisServer()
            redis.start()
            a, b = NchanRedisNode(f"nchan-redis-a-{len(results)}", redis.port), NchanRedisNode(
                f"nchan-redis-b-{len(results)}", redis.port)
            a.start()
            b.start()
            try:
                time.sleep(0.5)
                nchan = run_nchan(bench_bin, f"nchan-redis/{load}", b.port, a.port,
                                  [a.pid, *compare.children_of(a.pid), b.pid, *compare.children_of(b.pid), redis.pid],
                                  bench_args, duration + 60)
            finally:
                a.stop()
                b.stop()
                redis.stop()
        results.append((load, memory, cluster, nchan, baseline))

    print("\nPublish -> receive latency (ms), one run; redis = publish on node A, receive on node B")
    header = ("load", "mode", "p50", "p90", "p99", "max", "delivered", "lost", "reord", "srv CPU µs/deliv")
    rows = []
    def cpu(r):
        return r.get("server_cpu_us_per_delivery") or float("nan")

    for load, memory, cluster, nchan, baseline in results:
        modes = ([("memory", memory)] if memory else []) + [("redis 2 nodes", cluster)]
        modes += ([("redis 2 nodes (baseline)", baseline)] if baseline else [])
        modes += ([("nchan redis 2 nodes", nchan)] if nchan else [])
        for mode, r in modes:
            lat = r.get("latency", {})
            rows.append((load, mode, *(compare.fmt(lat.get(k, 0) / 1000, 2) for k in ("p50_us", "p90_us", "p99_us",
                                                                                        "max_us")),
                         compare.fmt(r.get("delivered")), compare.fmt(r.get("lost")), compare.fmt(r.get("reordered")),
                         compare.fmt(r.get("server_cpu_us_per_delivery"), 2)))
        if memory:
            ratio = [(cluster.get("latency", {}).get(k, 0) / max(memory.get("latency", {}).get(k, 0), 1)) for k in
                     ("p50_us", "p90_us", "p99_us", "max_us")]
            rows.append((load, "redis/memory", *(f"{value:.2f}x" for value in ratio), "", "", "", ""))
        if baseline:
            ratio = [(cluster.get("latency", {}).get(k, 0) / max(baseline.get("latency", {}).get(k, 0), 1)) for k in
                     ("p50_us", "p90_us", "p99_us", "max_us")]
            rows.append((load, "new/baseline", *(f"{value:.2f}x" for value in ratio), "", "", "",
                         f"{cpu(cluster) / cpu(baseline):.2f}x"))
        if nchan:
            if baseline:
                rows.append((load, "baseline/nchan redis", "", "", "", "", "", "", "",
                             f"{cpu(baseline) / cpu(nchan):.2f}x"))
            ratio = [(cluster.get("latency", {}).get(k, 0) / max(nchan.get("latency", {}).get(k, 0), 1)) for k in
                     ("p50_us", "p90_us", "p99_us", "max_us")]
            rows.append((load, "herald/nchan redis", *(f"{value:.2f}x" for value in ratio), "", "", "",
                         f"{cpu(cluster) / cpu(nchan):.2f}x"))
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    print("(srv CPU counts node A + node B + redis-server for the redis rows; nginx masters and workers for nchan)")


if __name__ == "__main__":
    main()
