#!/usr/bin/env python3
"""Calls per delivery of `herald serve`, counted exactly with perf uprobes: malloc (libc),
swift_retain and swift_release (libswiftCore). Counts, not times, so the other load of a shared
machine does not move them (where perf has no hardware instruction counter, as on this VM, and
valgrind cannot run the binary).

For each build and each update count N, a fresh `herald serve` runs while `herald-bench --mode
soak` opens S subscribers and publishes exactly N updates (one closed-loop publisher); perf
counts the server's calls from before the subscribers connect until the last delivery. The
difference between two update counts divided by the deliveries it added is the cost of one
delivery, with startup and subscribing taken out:

    python3 Benchmarks/call_counts.py --bin DIR --baseline DIR2

Needs the probes once (root):
    perf probe -x /lib/x86_64-linux-gnu/libc.so.6 --add malloc
    perf probe -x /opt/swift/usr/lib/swift/linux/libswiftCore.so --add swift_retain --add swift_release

Loopback only; every run is bounded in time; only processes this script started are stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

EVENTS = ["probe_libc:malloc", "probe_libswiftCore:swift_retain", "probe_libswiftCore:swift_release"]


def run(server_dir: str, bench_dir: str, subscribers: int, updates: int, workdir: str) -> dict[str, int]:
    env = dict(os.environ, HERALD_SECRET_FILE=os.path.join(workdir, "secret"), HERALD_HEARTBEAT="0")
    server = subprocess.Popen(
        [os.path.join(server_dir, "herald"), "serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    out = os.path.join(workdir, f"perf.{updates}.{time.time_ns()}")
    perf = None
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            match = re.search(r"listening on https?://[^:]+:(\d+)/", line)
            if match:
                port = int(match.group(1))
        if port is None:
            raise SystemExit(f"{server_dir}/herald printed no port")
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-p", str(server.pid)]
                                + [arg for event in EVENTS for arg in ("-e", event)])
        time.sleep(0.5)  # perf attached
        bench = subprocess.run(
            [os.path.join(bench_dir, "herald-bench"), "--mode", "soak", "--port", str(port),
             "--subscribers", str(subscribers), "--updates", str(updates), "--slices", "1",
             "--publishers", "1", "--settle", "0.5", "--drain-timeout", "60"],
            capture_output=True, text=True, timeout=600,
        )
        if bench.returncode != 0:
            raise SystemExit(f"herald-bench failed: {bench.stderr[-2000:]}")
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=30)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    counts = {}
    with open(out) as file:
        for line in file:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2] in EVENTS:
                counts[fields[2]] = int(fields[0])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of the herald and herald-bench under test")
    parser.add_argument("--baseline", help="directory of another build's herald (the same herald-bench drives both)")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--updates", default="200,1000", help="two update counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    low, high = (int(n) for n in args.updates.split(","))
    builds = [("herald", args.bin)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="herald-counts-") as workdir:
        for round_ in range(args.repeat):
            for name, directory in builds:
                counts = {n: run(directory, args.bin, args.subscribers, n, workdir) for n in (low, high)}
                deliveries = (high - low) * args.subscribers
                per = ", ".join(
                    f"{event.split(':')[1]} {(counts[high][event] - counts[low][event]) / deliveries:.3f}"
                    for event in EVENTS
                )
                print(f"{name} round {round_ + 1}: per delivery (S={args.subscribers}, "
                      f"{low}->{high} updates): {per}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
