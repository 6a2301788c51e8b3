#!/usr/bin/env python3
"""Cost of the worst topic selectors the hub's limits allow, and of presence churn.

Starts `herald serve` (release build by default) on a free loopback port and measures, from
/proc, the server's CPU time and RSS:
  1. 100 anonymous subscribers, each with as many distinct worst-case template selectors as
     the limits and the URL allow: how many the hub-wide matching budget admits (the others
     get 503 + Retry-After), RSS before / while connected / after they leave;
  2. publishes whose topic makes every template run its whole automaton: CPU per publish
     for a 1 KiB and a 2 KiB topic (the ratio shows matching is linear in the topic);
  3. presence churn (--subscription-events true): subscribe+close cycles with 64 selectors
     each, CPU per cycle, and whether real updates survive in the replay history.
Bounded: a few hundred requests, about half a minute. Loopback only.

    python3 Benchmarks/selector_limits.py [--binary .build/release/herald] [--max-matching-states N]
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, extra):
        self.port = free_port()
        self.secret = tempfile.NamedTemporaryFile(delete=False).name
        os.unlink(self.secret)
        self.process = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--chat", "false", "--heartbeat", "0",
             "--secret-file", self.secret] + extra,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        for line in self.process.stdout:
            if "listening" in line:
                break
            if time.time() > deadline:
                raise RuntimeError("server did not start")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if os.path.exists(self.secret):
            os.unlink(self.secret)

    @property
    def pid(self):
        return self.process.pid


def request(port, raw, read_all=True, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    if not read_all:
        return s
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def subscribe(port, selectors, extra=""):
    query = "&".join("topic=" + urllib.parse.quote(t, safe="") for t in selectors) + extra
    raw = f"GET /.well-known/mercure?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    s = request(port, raw, read_all=False)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head else 0
    return s, status, head


def publish(port, topic, data="x", private=False):
    body = "topic=" + urllib.parse.quote(topic, safe="") + "&data=" + urllib.parse.quote(data)
    if private:
        body += "&private="
    raw = (f"POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    reply = request(port, raw)
    return int(reply.split(b" ", 2)[1]), reply.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def worst_selector(subscriber, index, pad=0):
    """Three reserved expansions whose loops stay alive on any topic of 'a's (no literal ends
    for the cheap check to reject on), distinct per subscriber and index (variable names),
    so nothing is shared; `pad` bytes of free literal at each end for the memory run."""
    names = [f"v{subscriber}x{index}", "b", "c"]
    core = "".join("{+" + n + "}" for n in names)
    if pad:
        return "/" + "p" * pad + core + "s" * pad
    return core


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/herald")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--max-matching-states", type=int, default=None,
                        help="passed to herald serve (0: no hub-wide bound; default: the server's)")
    args = parser.parse_args()

    extra = [] if args.max_matching_states is None else ["--max-matching-states", str(args.max_matching_states)]
    server = Server(args.binary, ["--history-size", "1000"] + extra)
    try:
        port = server.port
        sel = worst_selector(0, 0)
        probe, status, head = subscribe(port, [sel])
        probe.close()
        print(f"worst selector: {sel} -> {status}")
        if status != 200:
            print(head.decode(errors="replace"))
            return 1
        count = 64
        s, status, head = subscribe(port, [worst_selector(999, i) for i in range(count)])
        s.close()
        body = head.split(b"\r\n\r\n", 1)[-1][:80]
        print(f"selectors per subscriber: {count} -> {status} {body!r}")
        # The longest free literal ends that still fit 64 selectors in the URL.
        pad = 1000
        while pad > 0:
            s, status, _ = subscribe(port, [worst_selector(998, i, pad) for i in range(count)])
            s.close()
            if status == 200:
                break
            pad -= 100
        print(f"memory run: 64 selectors of {len(worst_selector(1, 1, pad))} bytes each (pad {pad})")
        refused = [
            ("65 selectors", [f"t{i}" for i in range(65)]),
            ("2049-byte selector", ["a" * 2049]),
            ("{+a} x 17", ["{+a}" * 17]),
            ("{+a,a,...} 33 variables", ["{+" + ",".join(["a"] * 33) + "}"]),
        ]
        for name, selectors in refused:
            s, status, head = subscribe(port, selectors)
            s.close()
            reason = head.split(b"\r\n\r\n", 1)[-1][:90].decode(errors="replace").strip()
            print(f"  refused {name}: {status} {reason}")
        status, reason = publish(port, "a" * 2049)
        print(f"  publish with a 2049-byte topic: {status} {reason.strip()[:80]}")

        def connect_all(padding):
            """Every subscriber tries; those past the hub-wide matching budget get 503."""
            streams = []
            refused = {}
            for n in range(args.subscribers):
                s, status, head = subscribe(port, [worst_selector(n, i, padding) for i in range(count)])
                if status == 200:
                    streams.append(s)
                    continue
                assert status == 503, (status, head)
                retry = re.search(rb"(?i)\r\nretry-after: *(\d+)", head)
                refused[status] = refused.get(status, 0) + 1
                refused["retry-after"] = retry.group(1).decode() if retry else None
                s.close()
            return streams, refused

        def matching_states():
            reply = request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            found = re.search(rb"\nherald_matching_states (\d+)", reply)
            return int(found.group(1)) if found else None

        time.sleep(0.5)
        rss_before = rss_mib(server.pid)
        cpu0 = cpu_seconds(server.pid)
        streams, refused = connect_all(0)
        cpu1 = cpu_seconds(server.pid)
        print(f"{args.subscribers} subscribers x {count} distinct worst selectors: "
              f"subscribe CPU {cpu1 - cpu0:.2f} s ({(cpu1 - cpu0) / args.subscribers * 1000:.1f} ms each); "
              f"accepted {len(streams)}, refused {refused or 'none'}; matching states in use: {matching_states()}")

        def publish_cost(length, n=10):
            start = cpu_seconds(server.pid)
            for k in range(n):
                status, _ = publish(port, "a" * length, data=str(k))
                assert status == 200, status
            time.sleep(0.3)
            return (cpu_seconds(server.pid) - start) / n

        templates = len(streams) * count
        cost_small = publish_cost(1024)
        cost_large = publish_cost(2048)
        print(f"publish against {templates} distinct templates: 1 KiB topic {cost_small * 1000:.1f} ms CPU, "
              f"2 KiB topic {cost_large * 1000:.1f} ms CPU, ratio {cost_large / max(cost_small, 1e-9):.2f} "
              f"({cost_large / templates * 1e6:.2f} us per template match of 2 KiB)")
        start = time.time()
        status, _ = publish(port, "https://example.com/unrelated", data="u")
        print(f"publish to a short topic meanwhile: answered in {(time.time() - start) * 1000:.1f} ms")
        for s in streams:
            s.close()
        time.sleep(2)
        rss_between = rss_mib(server.pid)

        streams, refused = connect_all(pad)
        time.sleep(0.5)
        rss_during = rss_mib(server.pid)
        accepted = max(len(streams), 1)
        for s in streams:
            s.close()
        time.sleep(2)
        rss_after = rss_mib(server.pid)
        print(f"RSS MiB: before {rss_before:.1f}, after the CPU run {rss_between:.1f}; "
              f"{len(streams)} subscribers (of {args.subscribers}) x {count} selectors of {len(worst_selector(1, 1, pad))} bytes: "
              f"during {rss_during:.1f} ({(rss_during - rss_between) * 1024 / accepted:.0f} KiB per subscriber), "
              f"after they left {rss_after:.1f}")
    finally:
        server.stop()

    # Presence churn.
    server = Server(args.binary, ["--history-size", "100", "--subscription-events", "true"])
    try:
        port = server.port
        ids = [publish(port, "real", data=str(k))[1].strip() for k in range(5)]
        cpu0 = cpu_seconds(server.pid)
        cycles = 50
        start = time.time()
        for n in range(cycles):
            s, status, _ = subscribe(port, [f"/churn/{n}/{i}" for i in range(64)])
            assert status == 200
            s.close()
        time.sleep(1)
        cpu = cpu_seconds(server.pid) - cpu0
        print(f"presence churn: {cycles} subscribe+close cycles x 64 selectors in {time.time() - start:.2f} s, "
              f"server CPU {cpu:.2f} s ({cpu / cycles * 1000:.1f} ms per cycle)")
        s, status, head = subscribe(port, ["real"], extra="&lastEventID=earliest")
        s.settimeout(2)
        data = head
        try:
            while data.count(b"\ndata: ") < 5:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        s.close()
        replayed = re.findall(rb"\ndata: (\d+)", data)
        print(f"replay from earliest after churn: {len(replayed)} of 5 real updates ({[r.decode() for r in replayed]})")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
