#!/usr/bin/env python3
"""System calls, wake-ups and CPU per delivery in the broadcast regime, driven by the independent
generator (sseload) rather than herald-bench: the counterpart of `compare.py --profile
--profile-regime broadcast --profile-stat-only`, for when the two generators disagree.

    python3 Benchmarks/sseload_profile.py --sseload /tmp/sseload herald nchan
    python3 Benchmarks/sseload_profile.py --sseload /tmp/sseload --bin DIR --subscribers 5000 herald

For each server named: a fresh server (as compare.py starts it), sseload's broadcast.sh
arguments (one closed-loop publisher, 100-byte events, readers that drain at once), `perf stat`
of the server's processes for 5 s of the publish phase, then counts per delivery. Loopback only;
stops only what it started, by PID.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (server wrappers and the perf events)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", nargs="+", choices=["herald", "nchan"])
    parser.add_argument("--sseload", default=os.environ.get("SSELOAD", "/tmp/sseload"))
    parser.add_argument("--bin", default=compare.BIN, help="directory of the herald binary")
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args()
    compare.BIN = os.path.abspath(args.bin)
    os.makedirs(compare.WORK, exist_ok=True)
    events = ",".join(compare.STAT_EVENTS)
    window = 5
    for name in args.servers:
        server = (compare.Nchan if name == "nchan" else compare.Herald)(f"sseload-profile-{args.subscribers}")
        server.start()
        try:
            command = [args.sseload, "-mode", "fanout", "-subs", str(args.subscribers), "-events",
                       str(4_000_000 // args.subscribers), "-rate", "0", "-pub-duration", "10s", "-drain", "10s",
                       "-dial-conc", "256", "-timeout", "60s", "-pid", str(server.pid)] + server.sseload_args()
            load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(4)  # connect and warm up; the publish phase runs 10 s
            pids = ",".join(str(pid) for pid in [server.pid] + compare.children_of(server.pid))
            stat = subprocess.run(["perf", "stat", "-x", ",", "-e", events, "-p", pids, "--", "sleep", str(window)],
                                  capture_output=True, text=True, timeout=window + 30)
            output, _ = load.communicate(timeout=120)
        finally:
            server.stop()
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{name}: no result from sseload")
            continue
        result = json.loads(lines[-1])
        rate = result.get("deliveries_per_s") or 0
        delivered = result.get("delivered") or 0
        cpu = (result.get("cpu_measure") or {}).get("server_cpu_s") or 0
        print(f"{name} S={args.subscribers}: {rate:,.0f} deliveries/s, server CPU "
              f"{cpu * 1e6 / max(delivered, 1):.2f} µs/delivery, lost {result.get('lost')}, "
              f"reordered {result.get('out_of_order')}; perf stat over {window} s, per delivery:")
        for row in stat.stderr.splitlines():
            fields = row.split(",")
            if len(fields) > 2 and fields[0].strip().isdigit() and rate:
                print(f"  {fields[2]:<34} {int(fields[0]) / (rate * window):8.4f}")


if __name__ == "__main__":
    main()
