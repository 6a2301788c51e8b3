#!/usr/bin/env python3
"""Live heap bytes per idle stream, by glibc size class, for one or two Herald builds: where an
idle stream's memory goes, and what changed between two builds (RSS says only how much).

    python3 Benchmarks/heap/idle_heap.py --bin DIR [--baseline DIR] [--streams 5000]
    python3 Benchmarks/heap/idle_heap.py --bin DIR --trace 184     # who holds blocks of usable size 184
    python3 Benchmarks/heap/idle_heap.py --bin DIR --trace 0 --every 7   # who holds every size (sampled)

For each build: a fresh `herald serve` with livemem.so preloaded (built here with gcc), a heap
snapshot, `herald-bench --mode idle` opening the streams, a second snapshot once all are open
(counted from the server's fds), then per stream: blocks and bytes per size class (after minus
before, divided by the streams). With --baseline, the two side by side and their difference.
--trace N symbolizes (addr2line, swift-demangle) the stacks that allocated the live blocks of
usable size N; --trace 0 with --every K samples every K-th block of any size while the streams
open and estimates each stack's bytes per stream. Loopback only; stops what it started, by PID.
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import compare  # noqa: E402  (the server wrapper)

WORK = "/tmp/herald-idle-heap"


def build_shim():
    shim = os.path.join(WORK, "livemem.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "livemem.c")], check=True)
    return shim


def snapshot(pid):
    path = os.path.join(WORK, f"livemem-{pid}.txt")
    if os.path.exists(path):
        os.remove(path)
    os.kill(pid, 12)  # SIGUSR2
    deadline = time.time() + 10
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    with open(path) as table:
        return {int(c): (int(n), int(b)) for c, n, b in (line.split() for line in table)}


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure(bindir, streams, shim, trace_size=None, bench_bin=None, every=1):
    compare.BIN = bindir
    compare.WORK = WORK
    server = compare.Herald("idle-heap")
    os.environ.update(LD_PRELOAD=shim, LIVEMEM_DIR=WORK,
                      LIVEMEM_SIZE=str(-1 if trace_size is None else trace_size), LIVEMEM_EVERY=str(every))
    try:
        server.start()
    finally:
        for key in ("LD_PRELOAD", "LIVEMEM_DIR", "LIVEMEM_SIZE", "LIVEMEM_EVERY"):
            os.environ.pop(key, None)
    try:
        time.sleep(1)
        if trace_size is not None:
            os.kill(server.pid, 10)  # SIGUSR1: record stacks from now on
        before, fds_before = snapshot(server.pid), open_fds(server.pid)
        bench = subprocess.Popen(
            [os.path.join(bench_bin or bindir, "herald-bench"), "--port", str(server.port), "--server-pid",
             str(server.pid), "--label", "idle-heap", "--mode", "idle", "--subscribers", str(streams), "--settle",
             "60", "--drain-timeout", "30"] + server.bench_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while open_fds(server.pid) - fds_before < streams and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # settle
        opened = open_fds(server.pid) - fds_before
        after = snapshot(server.pid)
        rss_kib = int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0])
        bench.kill()
        bench.wait()
    finally:
        server.stop()
    per_stream = {}
    for size in set(before) | set(after):
        b, a = before.get(size, (0, 0)), after.get(size, (0, 0))
        per_stream[size] = ((a[0] - b[0]) / opened, (a[1] - b[1]) / opened)
    return per_stream, opened, rss_kib, server.pid


def symbolize(pid, binary, streams=None, every=1):
    binary = os.path.realpath(binary)
    maps = [line.split() for line in open(os.path.join(WORK, f"maps-{pid}.txt"))]

    def owner(address):
        for row in maps:
            low, high = (int(x, 16) for x in row[0].split("-"))
            if low <= address < high and len(row) > 5:
                return row[5]
        return "?"

    base = min(int(row[0].split("-")[0], 16) for row in maps if len(row) > 5 and row[5] == binary)
    text = open(os.path.join(WORK, f"traces-{pid}.txt")).read()
    blocks = [block.split() for block in text.split("--- ")[1:]]
    sizes = [int(block[1]) for block in blocks]
    stacks = [[int(a, 16) for a in block[2:]] for block in blocks]
    addresses = sorted({a for stack in stacks for a in stack if owner(a) == binary})
    names = {}
    if addresses:
        lines = subprocess.run(["addr2line", "-f", "-e", binary] + [hex(a - base) for a in addresses],
                               capture_output=True, text=True).stdout.split("\n")[0::2]
        demangler = shutil.which("swift-demangle") or "/opt/swift/usr/bin/swift-demangle"
        demangled = subprocess.run([demangler, "--simplified", "--compact"], input="\n".join(lines),
                                   capture_output=True, text=True).stdout.split("\n")
        names = {a: d[:110] for a, d in zip(addresses, demangled)}
    seen, held = collections.Counter(), collections.Counter()
    for stack, size in zip(stacks, sizes):
        # Frames of the binary only (the allocator and the Swift runtime say nothing).
        frames = [names[a] for a in stack if a in names][:5]
        key = "\n      <- ".join(frames)
        seen[key] += 1
        held[key] += size
    print(f"live blocks recorded: {sum(seen.values())}")
    if streams:
        # Sampled: every K-th block, so each recorded block stands for K.
        total = sum(held.values()) * every / streams
        print(f"estimated live bytes per stream from the sample: {total:.0f} B")
        for frames, size in held.most_common(30):
            print(f"  {size * every / streams:6.1f} B/stream, {seen[frames] * every / streams:5.2f} blocks: {frames}")
        return
    for frames, count in seen.most_common(10):
        print(f"  {count} x {frames}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of herald (and herald-bench)")
    parser.add_argument("--baseline", help="another build's directory, measured after --bin")
    parser.add_argument("--bench-bin", help="directory of the herald-bench to use (default: --bin)")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--trace", type=int, help="usable block size whose live blocks to trace, 0 for any (--bin only)")
    parser.add_argument("--every", type=int, default=1, help="with --trace: record every K-th matching block")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    shim = build_shim()
    runs = [("build", args.bin)] + ([("baseline", args.baseline)] if args.baseline else [])
    results = []
    for label, bindir in runs:
        per_stream, opened, rss, pid = measure(bindir, args.streams, shim, args.trace if label == "build" else None,
                                               args.bench_bin, args.every)
        total = sum(b for _, b in per_stream.values())
        print(f"{label} ({bindir}): {opened} streams, live heap {total:.0f} B per stream, RSS {rss} KiB")
        results.append(per_stream)
        if args.trace is not None and label == "build":
            symbolize(pid, os.path.join(bindir, "herald"), opened if args.trace == 0 else None, args.every)
    print("class (usable B)    " + "   ".join(f"{label:>20}" for label, _ in runs) + ("        diff B" if len(runs) > 1 else ""))
    for size in sorted(set().union(*results)):
        cells = [r.get(size, (0, 0)) for r in results]
        diff = cells[0][1] - cells[-1][1] if len(cells) > 1 else 0
        if all(abs(n) < 0.05 for n, _ in cells) and abs(diff) < 2:
            continue
        row = "   ".join(f"{n:7.2f} x {b:8.1f} B" for n, b in cells)
        print(f"{size:>6}-{size + 15:<6}      {row}" + (f"   {diff:+9.1f}" if len(cells) > 1 else ""))


if __name__ == "__main__":
    main()
