#!/usr/bin/env python3
"""SSE over HTTP/2 with TLS: Herald against nginx+nchan, and against Herald's own HTTP/1 (issue 14).

    python3 Benchmarks/h2.py                 # every server and case, about 5 minutes
    python3 Benchmarks/h2.py --idle 2000     # fewer idle streams

Servers (a fresh one per case, the same throwaway certificate, TLS 1.3 only on nginx; the
negotiated protocol and cipher are printed per row, so "same cipher" is checked, not assumed):
  herald-h1        `herald serve`, plain HTTP/1.1 (its usual deployment behind a TLS proxy)
  herald-h2        `herald serve --tls-cert --tls-key`, HTTP/2 (ALPN h2)
  herald-tls-h1    the same server, HTTP/1.1 over TLS (ALPN http/1.1)
  nchan-h2         nginx + nchan (memory store, 2 workers), `listen ... ssl http2`
  nchan-tls-h1     the same nginx, HTTP/1.1 over TLS

Cases, driven by Benchmarks/h2sse (Go standard library; 100 streams per HTTP/2 connection, one
per HTTP/1.1 connection):
  idle     --idle streams (10,000) open: server RSS after minus before, per stream
  light    1,000 streams, 10 events/s for 20 s (10,000 deliveries/s): CPU per delivery, latency
  max      1,000 streams, one closed-loop publisher (broadcast regime) for 10 s

Loopback only; every run is bounded (h2sse has a hard timeout); only processes started here are
stopped, by PID. Build first: `swift build -c release --scratch-path .build-bench` (or --bin DIR).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (Herald/Nchan wrappers)

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(compare.WORK, "h2")
CERT = os.path.join(WORK, "cert.pem")
KEY = os.path.join(WORK, "key.pem")
TOOL = os.path.join(WORK, "h2sse")


def prepare():
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(CERT):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=localhost", "-days", "2", "-keyout", KEY, "-out", CERT],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["go", "build", "-o", TOOL, "."], cwd=os.path.join(HERE, "h2sse"), check=True)


class HeraldPlain(compare.Herald):
    name = "herald-h1"
    scheme = "http"
    http1 = True


class HeraldH2(compare.Herald):
    name = "herald-h2"
    scheme = "https"
    http1 = False

    def __init__(self, case):
        super().__init__(case)
        self.extra_args = ["--tls-cert", CERT, "--tls-key", KEY]


class HeraldTLSH1(HeraldH2):
    name = "herald-tls-h1"
    http1 = True


def herald_urls(server):
    base = f"{server.scheme}://127.0.0.1:{server.port}/.well-known/mercure"
    return ["-sub-url", base + "?topic=bench", "-pub-url", base, "-pub-body", "topic=bench&data={data}",
            "-pub-ctype", "application/x-www-form-urlencoded"]


TLS_LISTEN = ("listen 127.0.0.1:{port} ssl http2 backlog=4096; "
              f"ssl_certificate {CERT}; ssl_certificate_key {KEY}; ssl_protocols TLSv1.3; "
              "http2_max_concurrent_streams 128;")


class NchanH2(compare.Nchan):
    name = "nchan-h2"
    scheme = "https"
    http1 = False

    def start(self):
        plain = compare.NGINX_CONF
        compare.NGINX_CONF = plain.replace("listen 127.0.0.1:{port} backlog=4096;", TLS_LISTEN)
        try:
            super().start()
        finally:
            compare.NGINX_CONF = plain


class NchanTLSH1(NchanH2):
    name = "nchan-tls-h1"
    http1 = True


def nchan_urls(server):
    base = f"{server.scheme}://127.0.0.1:{server.port}"
    return ["-sub-url", base + "/sub?id=bench", "-pub-url", base + "/pub?id=bench", "-pub-body", "{data}",
            "-pub-ctype", "text/plain"]


SERVERS = [HeraldPlain, HeraldH2, HeraldTLSH1, NchanH2, NchanTLSH1]


def run(server_class, case, args):
    server = server_class(f"h2-{case}")
    server.start()
    try:
        urls = nchan_urls(server) if isinstance(server, compare.Nchan) else herald_urls(server)
        common = [TOOL, "-pid", str(server.pid), "-label", f"{server.name} {case}"] + urls
        if server.http1:
            common.append("-http1")
        if case == "idle":
            command = common + ["-mode", "idle", "-subs", str(args.idle), "-timeout", "120s"]
        elif case == "light":
            command = common + ["-mode", "fanout", "-subs", "1000", "-events", "200", "-rate", "10", "-timeout", "90s"]
        else:
            command = common + ["-mode", "fanout", "-subs", "1000", "-events", "1000000", "-rate", "0", "-duration", "10s",
                                "-timeout", "120s"]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=180)
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
        result = json.loads(line)
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as error:
        result = {"error": str(error)}
    finally:
        server.stop()
    result["server"] = server_class.name
    compare.log(f"{server_class.name} {case}: {json.dumps(result)}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=10000, help="idle streams (default 10,000)")
    parser.add_argument("--bin", help="directory of the herald binary (default: .build-bench/release)")
    parser.add_argument("--only", help="comma-separated cases: idle,light,max")
    parser.add_argument("--servers", help="comma-separated server names (default: all)")
    args = parser.parse_args()
    if args.bin:
        compare.BIN = args.bin
    prepare()
    cases = (args.only or "idle,light,max").split(",")
    wanted = [cls for cls in SERVERS if not args.servers or cls.name in args.servers.split(",")]
    results = {}
    for case in cases:
        for server_class in wanted:
            results[(case, server_class.name)] = run(server_class, case, args)
    print(f"\nload average at the end: {compare.loadavg()}")
    print("\n| server | protocol, cipher | idle KiB/stream | light: CPU µs/delivery, p50/p99 ms | "
          "max: deliveries/s, CPU µs/delivery, p99 ms | lost/reordered/dup |")
    print("|---|---|---|---|---|---|")
    for server_class in wanted:
        name = server_class.name
        idle, light, top = (results.get((case, name), {}) for case in ("idle", "light", "max"))
        any_result = next((r for r in (idle, light, top) if r.get("protocol")), {})
        bad = sum(r.get(key, 0) for r in (light, top) for key in ("lost", "reordered", "duplicates"))
        errors = "; ".join(r["error"] for r in (idle, light, top) if r.get("error"))

        def f(result, key, digits=1):
            value = result.get(key)
            return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "-"
        print(f"| {name} | {any_result.get('protocol', '?')}, {any_result.get('cipher') or 'none'} "
              f"| {f(idle, 'kib_per_stream', 2)} "
              f"| {f(light, 'cpu_us_per_delivery', 2)}, {f(light, 'latency_p50_ms')}/{f(light, 'latency_p99_ms')} "
              f"| {f(top, 'deliveries_per_s', 0)}, {f(top, 'cpu_us_per_delivery', 2)}, {f(top, 'latency_p99_ms')} "
              f"| {bad}{' (' + errors + ')' if errors else ''} |")


if __name__ == "__main__":
    main()
