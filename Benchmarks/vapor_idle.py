#!/usr/bin/env python3
"""Memory per idle stream: the hub served by Vapor (Examples/VaporChat, `app.herald`) against
`herald serve` (Hummingbird, `.herald(endpoint)`), with herald-bench's idle mode: S subscribers
open and stay quiet, then the server's RSS growth divided by S.

Build first, in one configuration for both (debug by default):
    swift build --traits Vapor --product VaporChat && swift build --traits Vapor --product herald \\
        && swift build --traits Vapor --product herald-bench
Run:
    python3 Benchmarks/vapor_idle.py [--subscribers 10000] [--settle 5] [--bin .build/debug]

Loopback only; each server is started on a free port and stopped (by its pid) after its run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("server did not start")


def measure(name: str, command: list[str], port: int, bench: Path, subscribers: int, settle: float) -> dict:
    env = dict(os.environ, LOG_LEVEL="warning", VAPORCHAT_SECRET="vapor-idle-bench-secret-0123456789abcdef")
    with tempfile.TemporaryDirectory() as workdir:
        env["HERALD_SECRET_FILE"] = str(Path(workdir) / "secret")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=workdir)
        try:
            wait_healthy(port, process)
            completed = subprocess.run(
                [str(bench), "--mode", "idle", "--port", str(port), "--subscribers", str(subscribers),
                 "--settle", str(settle), "--server-pid", str(process.pid), "--label", name],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=300,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    line = next((l for l in completed.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{name}: herald-bench printed no result:\n{completed.stdout}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--bin", default=str(ROOT / ".build" / "debug"))
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # both servers inherit it
    binaries = Path(args.bin).resolve()  # the servers run in a temporary directory
    bench = binaries / "herald-bench"
    results = {}
    port = free_port()
    results["herald serve (Hummingbird)"] = measure(
        "herald", [str(binaries / "herald"), "serve", "--port", str(port), "--chat", "false", "--log-level", "warning"],
        port, bench, args.subscribers, args.settle)
    port = free_port()
    results["VaporChat (app.herald)"] = measure(
        "vapor", [str(binaries / "VaporChat"), "serve", "--hostname", "127.0.0.1", "--port", str(port)],
        port, bench, args.subscribers, args.settle)
    for name, result in results.items():
        print(f"{name}: {result.get('ready', result.get('subscribers_ready', '?'))} streams, "
              f"{result.get('rss_kib_per_connection', float('nan')):.2f} KiB RSS per idle stream "
              f"(RSS after: {result.get('server_rss_kib_after', '?')} KiB)")
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
