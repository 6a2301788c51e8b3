#!/usr/bin/env python3
"""Server memory per idle SSE stream.

Starts a `herald serve` binary on a free loopback port, opens N subscriptions (source addresses
spread over 127.0.0.x), waits until every one got its 200 and headers, and reports the server's
RSS growth per connection. Loopback only, bounded in count and time; stops the server it started.

    python3 Benchmarks/idle_streams.py --server .build/release/herald --count 10000
"""
import argparse
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(binary):
    process = subprocess.Popen(
        [binary, "serve", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = process.stdout.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return process, int(match.group(1))
    process.kill()
    raise RuntimeError("server did not start")


def open_streams(port, count, timeout):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    sockets = []
    pending = {}
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((f"127.0.0.{2 + index % 250}", 0))
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
        pending[sock.fileno()] = b""
        sel.register(sock, selectors.EVENT_WRITE)
    request = (f"GET /.well-known/mercure?topic=idle HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()
    ok = 0
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        for key, events in sel.select(timeout=1):
            sock = key.fileobj
            if events & selectors.EVENT_WRITE:
                try:
                    sock.send(request)
                except OSError:
                    continue
                sel.modify(sock, selectors.EVENT_READ)
            elif events & selectors.EVENT_READ:
                data = sock.recv(4096)
                head = pending.get(sock.fileno(), b"") + data
                if b"\r\n\r\n" in head:
                    if head.startswith(b"HTTP/1.1 200"):
                        ok += 1
                    pending.pop(sock.fileno(), None)
                    sel.unregister(sock)
                elif not data:
                    pending.pop(sock.fileno(), None)
                    sel.unregister(sock)
                else:
                    pending[sock.fileno()] = head
    return sockets, ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=".build/release/herald")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    process, port = start_server(args.server)
    try:
        warm, _ = open_streams(port, 10, 10)
        time.sleep(1)
        before = rss_kib(process.pid)
        sockets, ok = open_streams(port, args.count, args.timeout)
        time.sleep(2)
        after = rss_kib(process.pid)
        print(f"streams open: {ok}/{args.count}")
        print(f"server RSS: {before} KiB before, {after} KiB with {ok} idle streams")
        if ok:
            print(f"RSS per idle stream: {(after - before) * 1024 / ok / 1024:.2f} KiB")
        for sock in sockets + warm:
            sock.close()
        return 0 if ok == args.count else 1
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
