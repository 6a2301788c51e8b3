#!/usr/bin/env python3
"""Scale-out on one box: several `herald serve --redis` nodes, tens of thousands of subscribers
spread over them, one publisher on the first node (issue 14 item 6).

    python3 Benchmarks/scaleout.py                         # 4 nodes, 60,000 subscribers, 10 events
    python3 Benchmarks/scaleout.py --nodes 2 --subscribers 10000 --events 5   # smaller

One redis-server on a free loopback port; `--nodes` Herald nodes sharing it; one load-generator
process per node (Benchmarks/h2sse in `listen` mode, HTTP/1.1, subscribers/nodes streams each:
the open-files limit here is 20,000 per process), then one publisher process posting `--events`
events at `--rate` per second to the FIRST node only, so every other node gets them through
Redis. Each event carries its send time; every receive is timed against it (one clock: one box).

Prints, per node: streams, RSS idle and after, CPU over the publish phase; overall: delivered
against expected, lost/reordered/duplicated, publish-to-delivery p50/p99/max.

Loopback only; every process is bounded in time (h2sse's -timeout) and stopped by its PID here.
Build first: `swift build -c release --scratch-path .build-bench` (or --bin DIR).
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import redis_latency  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(compare.WORK, "scaleout")
TOOL = os.path.join(WORK, "h2sse")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    return sum(compare.user_system_seconds([pid]))


def percentile(values, p):
    return values[int(p * (len(values) - 1))] if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=60000, help="in all, spread evenly over the nodes")
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="events per second")
    parser.add_argument("--bin", help="directory of the herald binary (default: .build-bench/release)")
    args = parser.parse_args()
    if args.bin:
        compare.BIN = args.bin
    per_node = args.subscribers // args.nodes
    if per_node > 19000:
        raise SystemExit("at most 19,000 subscribers per node (the open-files limit is 20,000 per process)")
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["go", "build", "-o", TOOL, "."], cwd=os.path.join(HERE, "h2sse"), check=True)

    redis = redis_latency.RedisServer()
    redis.start()
    nodes, listeners = [], []
    try:
        for index in range(args.nodes):
            node = redis_latency.RedisNode(f"scaleout-{index}", redis.port)
            node.start()
            nodes.append(node)
        time.sleep(0.5)  # every node subscribed to the shared channel
        base_rss = [rss_kib(node.pid) for node in nodes]
        started = time.time()
        ready = []
        for index, node in enumerate(nodes):
            url = f"http://127.0.0.1:{node.port}/.well-known/mercure?topic=scale"
            command = [TOOL, "-mode", "listen", "-http1", "-subs", str(per_node), "-sub-url", url,
                       "-events", str(args.events), "-drain", "300s", "-timeout", "600s", "-dial-conc", "128",
                       "-label", f"node {index}", "-latency-file", os.path.join(WORK, f"latency-{index}.txt")]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            listeners.append(process)
            event = threading.Event()
            ready.append(event)

            def watch(stream=process.stderr, event=event):
                for line in stream:
                    if line.startswith("READY"):
                        event.set()
            threading.Thread(target=watch, daemon=True).start()
        for index, event in enumerate(ready):
            if not event.wait(timeout=300):
                raise SystemExit(f"listener {index} did not get its streams open in 300 s")
        connect_s = time.time() - started
        time.sleep(2)
        idle_rss = [rss_kib(node.pid) for node in nodes]
        cpu_before = [cpu_seconds(node.pid) for node in nodes] + [cpu_seconds(redis.pid)]
        publisher = subprocess.run(
            [TOOL, "-mode", "publish", "-http1", "-subs", "0", "-events", str(args.events), "-rate", str(args.rate),
             "-pub-url", f"http://127.0.0.1:{nodes[0].port}/.well-known/mercure", "-pub-body",
             "topic=scale&data={data}", "-timeout", "300s"],
            stdout=subprocess.PIPE, text=True, timeout=400)
        published = json.loads(publisher.stdout.strip().splitlines()[-1])
        results = []
        for process in listeners:
            out, _ = process.communicate(timeout=400)
            results.append(json.loads(out.strip().splitlines()[-1]))
        cpu_after = [cpu_seconds(node.pid) for node in nodes] + [cpu_seconds(redis.pid)]
        after_rss = [rss_kib(node.pid) for node in nodes]
    finally:
        for process in listeners:
            if process.poll() is None:
                process.kill()
                process.wait()
        for node in nodes:
            node.stop()
        redis.stop()

    latencies = []
    for index in range(args.nodes):
        with open(os.path.join(WORK, f"latency-{index}.txt")) as text:
            latencies += [float(line) for line in text if line.strip()]
    latencies.sort()
    expected = sum(result.get("connected", 0) for result in results) * published.get("published", 0)
    delivered = sum(result.get("delivered", 0) for result in results)
    bad = {key: sum(result.get(key, 0) for result in results) for key in ("lost", "reordered", "duplicates")}
    print(f"\n{args.nodes} nodes, {sum(r.get('connected', 0) for r in results):,} subscribers "
          f"(opened in {connect_s:.1f} s), {published.get('published', 0)} events at {args.rate}/s to node 0; "
          f"load average at the end {compare.loadavg()}")
    print("\n| node | streams | RSS before / idle / after MiB | KiB per idle stream | CPU s over the publish phase |")
    print("|---|---|---|---|---|")
    for index in range(args.nodes):
        per_stream = (idle_rss[index] - base_rss[index]) / max(1, results[index].get("connected", 0))
        print(f"| {index} | {results[index].get('connected', 0):,} | {base_rss[index] / 1024:.0f} / "
              f"{idle_rss[index] / 1024:.0f} / {after_rss[index] / 1024:.0f} | {per_stream:.2f} "
              f"| {cpu_after[index] - cpu_before[index]:.2f} |")
    print(f"| redis | | | | {cpu_after[-1] - cpu_before[-1]:.2f} |")
    print(f"\ndelivered {delivered:,} of {expected:,}; lost {bad['lost']}, reordered {bad['reordered']}, "
          f"duplicates {bad['duplicates']}")
    print(f"publish-to-delivery ms: p50 {percentile(latencies, 0.5):.1f}, p99 {percentile(latencies, 0.99):.1f}, "
          f"max {latencies[-1] if latencies else float('nan'):.1f}")
    errors = [result["error"] for result in results if result.get("error")] + (
        [published["error"]] if published.get("error") else [])
    if errors or delivered < expected:
        print("PROBLEMS: " + "; ".join(errors or ["not every event reached every subscriber"]))
        sys.exit(1)


if __name__ == "__main__":
    main()
