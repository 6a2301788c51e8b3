#!/usr/bin/env python3
"""Herald vs nchan, side by side, in one run on this machine.

Every case starts a fresh server (Herald, then nchan in a fresh nginx), runs `herald-bench`
against it, stops the server by its PID, and records what herald-bench measured (deliveries,
lost and reordered events, latency, CPU of server and load generator in the measured window,
server RSS). At the end it prints a per-case table and the Herald/nchan ratio table.

    python3 Benchmarks/compare.py            # full run, about 10 minutes
    python3 Benchmarks/compare.py --quick    # smoke run, about 2 minutes
    python3 Benchmarks/compare.py --profile  # Herald at S=1000 under perf record (see README)
    python3 Benchmarks/compare.py --repeat 3 # every case 3 times, servers alternating; medians

Rounds in which the hypervisor stole more than --max-steal of the machine's CPU (5%) are set
aside and run again, up to --attempts rounds per server and case: on a shared VM stolen time is
the largest noise, and it lands on one server's round and not the other's.

Loopback only; every server and load generator run is bounded in time; only processes this
script started are stopped, by PID. Build first (compare.sh does):
    swift build -c release --scratch-path .build-bench
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build-bench", "release")
SECRET = "/tmp/herald-bench-secret"
WORK = "/tmp/herald-bench"
SSELOAD = ""  # the independent generator's binary (--sseload), for the sseload-* cases
NCHAN_MODULES = [
    "/usr/lib/nginx/modules/ngx_nchan_module.so",
    "/usr/share/nginx/modules/ngx_nchan_module.so",
]


def log(text):
    print(text, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(process, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds; only the process we started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return found


class Herald:
    name = "herald"
    extra_args = []  # more `herald serve` flags (e.g. --redis in redis_latency.py)
    binary_dir = None  # where `herald` is (None: BIN); the baseline build's directory for Baseline

    def __init__(self, case):
        self.case = case
        self.log_path = os.path.join(WORK, f"herald-{case}.log")

    def start(self):
        if not os.path.exists(SECRET):
            with open(SECRET, "w") as secret:
                secret.write(os.urandom(32).hex() + "\n")
        self.output = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [os.path.join(self.binary_dir or BIN, "herald"), "serve", "--port", "0", "--log-level", "warning", "--chat", "false",
             "--subscription-events", "false", "--secret-file", SECRET] + self.extra_args,
            stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and self.process.poll() is None:
            with open(self.log_path) as text:
                for line in text:
                    if "listening on http://127.0.0.1:" in line or "listening on https://127.0.0.1:" in line:
                        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])
                        self.pid = self.process.pid
                        return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"herald did not start; see {self.log_path}")

    def bench_args(self):
        return ["--subscribe-path", "/.well-known/mercure?topic=bench", "--publish-path", "/.well-known/mercure",
                "--format", "mercure"]

    def sseload_args(self):
        base = f"http://127.0.0.1:{self.port}/.well-known/mercure"
        return ["-sub-url", base + "?topic={topic}", "-pub-url", base, "-pub-body", "topic={topic}&data={data}",
                "-pub-ctype", "application/x-www-form-urlencoded"]

    def stop(self):
        stop_process(self.process)
        self.output.close()


class Baseline(Herald):
    """Another build of Herald (e.g. the commit before a change), driven by the same herald-bench:
    `--baseline DIR` / HERALD_BASELINE=DIR, for a before/after in one run."""
    name = "baseline"

    def __init__(self, case):
        super().__init__(case)
        self.log_path = os.path.join(WORK, f"baseline-{case}.log")


class Nchan:
    name = "nchan"

    def __init__(self, case):
        self.case = case
        self.prefix = os.path.join(WORK, f"nginx-{case}")

    def start(self):
        module = next((path for path in NCHAN_MODULES if os.path.exists(path)), None)
        if not module or not shutil.which("nginx"):
            raise RuntimeError("nginx with nchan missing: apt-get install -y nginx-light libnginx-mod-nchan")
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self.port = free_port()
        config = os.path.join(self.prefix, "nginx.conf")
        with open(config, "w") as conf:
            conf.write(NGINX_CONF.format(module=module, prefix=self.prefix, port=self.port))
        self.output = open(os.path.join(self.prefix, "logs", "stdout.log"), "w")
        self.process = subprocess.Popen(["nginx", "-p", self.prefix, "-c", config], stdout=self.output,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid
        if not wait_for_port(self.port, time.time() + 20) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"nginx did not start; see {self.prefix}/logs")
        deadline = time.time() + 10
        while len(children_of(self.pid)) < 2 and time.time() < deadline:
            time.sleep(0.05)

    def bench_args(self):
        return ["--subscribe-path", "/sub/bench", "--publish-path", "/pub/bench", "--format", "raw"]

    def sseload_args(self):
        base = f"http://127.0.0.1:{self.port}"
        return ["-sub-url", base + "/sub?id={topic}", "-pub-url", base + "/pub?id={topic}", "-pub-body", "{data}",
                "-pub-ctype", "text/plain"]

    def stop(self):
        workers = children_of(self.pid)
        stop_process(self.process)
        for worker in workers:  # only if they outlived their master (they normally exit with it)
            try:
                os.kill(worker, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.output.close()


# nchan: memory store, EventSource subscribers, a publisher location; no Redis.
NGINX_CONF = """
load_module {module};
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 16000; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  nchan_use_redis off;
  nchan_max_reserved_memory 256M;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ ^/sub/(\\w+)$ {{
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 1h;
    }}
    # sseload's URL shape (`/sub?id=T`, `/pub?id=T`), same settings.
    location = /sub {{
      nchan_subscriber eventsource;
      nchan_channel_id $arg_id;
      nchan_subscriber_first_message newest;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 1h;
    }}
    location = /pub {{
      nchan_publisher;
      nchan_channel_id $arg_id;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 1h;
    }}
    location ~ ^/pub/(\\w+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 1h;
    }}
  }}
}}
"""


def cases(quick):
    """(name, herald-bench arguments, seconds it may take at most)."""
    scale = 10 if quick else 1
    fan_duration = 3 if quick else 10
    lat_duration = 3 if quick else 10
    pub_duration = 2 if quick else 5
    idle = 1000 if quick else 10000
    result = []
    for subscribers in (100, 1000, 5000):
        s = max(subscribers // scale, 10)
        # As fast as possible, but at most 100 undelivered events per subscriber in flight:
        # Herald acknowledges publishes before fanning out, so an open-ended publisher would
        # queue minutes of backlog there (see README).
        result.append((f"fanout-{subscribers}", ["--subscribers", s, "--publishers", 4, "--duration", fan_duration,
                                                  "--window", 100, "--drain-timeout", 30], fan_duration + 90))
    result.append(("latency-1000x10", ["--subscribers", max(1000 // scale, 10), "--rate", 10, "--publishers", 2,
                                        "--duration", lat_duration], lat_duration + 60))
    result.append(("latency-100x100", ["--subscribers", max(100 // scale, 10), "--rate", 100, "--publishers", 2,
                                        "--duration", lat_duration], lat_duration + 60))
    result.append((f"idle-{idle}", ["--mode", "idle", "--subscribers", idle, "--settle", 2 if quick else 5], 120))
    for concurrency in (1, 16):
        result.append((f"publish-c{concurrency}", ["--subscribers", 0, "--publishers", concurrency, "--duration",
                                                    pub_duration], pub_duration + 40))
    # The broadcast regime (issue 14): one closed-loop publisher (the next POST when the last is
    # answered), no window, readers that drain at once. Events one after another, each to all S:
    # the shape of live scores and dashboards. The server's own backpressure is the only bound.
    for subscribers in (100, 1000, 5000):
        s = max(subscribers // scale, 10)
        result.append((f"broadcast-{subscribers}", ["--subscribers", s, "--publishers", 1, "--duration", fan_duration,
                                                     "--window", 0, "--drain-timeout", 30], fan_duration + 90))
    # The same regime driven by the independent generator (`--sseload PATH`): sseload's
    # broadcast.sh arguments, so that its figures and compare.py's are the same measurement.
    for subscribers in (100, 1000, 5000):
        s = max(subscribers // scale, 10)
        result.append((f"sseload-broadcast-{subscribers}",
                       ["-mode", "fanout", "-subs", s, "-events", 4_000_000 // s, "-rate", 0, "-pub-duration",
                        f"{fan_duration}s", "-drain", "10s", "-dial-conc", 256, "-timeout", "100s"], 120))
    return result


def machine_ticks():
    """(total, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return sum(fields[:8]) / hz, (fields[7] if len(fields) > 7 else 0) / hz


def run_sseload(server, name, args, limit):
    """One sseload run against a started server, its JSON mapped onto herald-bench's names."""
    command = [SSELOAD, "-label", f"{server.name}/{name}", "-pid", str(server.pid)] + [str(a) for a in args] + \
        server.sseload_args()
    total_before, steal_before = machine_ticks()
    try:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    total_after, steal_after = machine_ticks()
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"sseload: no result (exit {completed.returncode})"}
    raw = json.loads(lines[-1])
    delivered = raw.get("delivered", 0)
    cpu = raw.get("cpu_measure", {})
    server_cpu = cpu.get("server_cpu_s") or 0
    published = raw.get("published", 0)
    return {
        "generator": "sseload", "subscribers": raw.get("subs"), "delivered": delivered,
        "deliveries_per_s": raw.get("deliveries_per_s"), "published": published,
        "publish_per_s": raw.get("publish_rate"), "server_cpu_s": server_cpu,
        "loadgen_cpu_s": cpu.get("loadgen_cpu_s"),
        "server_cpu_us_per_delivery": server_cpu * 1e6 / delivered if delivered else 0,
        "server_cpu_us_per_publish": server_cpu * 1e6 / published if published else 0,
        "loadgen_cpu_us_per_delivery": (cpu.get("loadgen_cpu_s") or 0) * 1e6 / delivered if delivered else 0,
        "lost": raw.get("lost", 0), "reordered": raw.get("out_of_order", 0), "duplicates": raw.get("duplicates", 0),
        "subscribers_closed": raw.get("subs_closed_during_run", 0), "latency": raw.get("latency", {}),
        "machine_capacity_s": total_after - total_before, "steal_s": steal_after - steal_before,
        "sseload": raw,
    }


def run_case(server_class, name, args, limit):
    server = server_class(name)
    server.start()
    if name.startswith("sseload"):
        try:
            return run_sseload(server, name, args, limit)
        finally:
            server.stop()
    command = [os.path.join(BIN, "herald-bench"), "--port", str(server.port), "--server-pid", str(server.pid),
               "--label", f"{server.name}/{name}"] + server.bench_args() + [str(arg) for arg in args]
    try:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, timeout=limit)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            return {"error": f"no result (exit {completed.returncode})"}
        return json.loads(lines[-1][len("RESULT "):])
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    finally:
        server.stop()


def loadavg():
    with open("/proc/loadavg") as text:
        return " ".join(text.read().split()[:3])


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_details(results):
    print("\nPer case (CPU s = utime+stime in the measured window; other = machine busy minus server and loadgen,"
          " softirq and steal included; steal = CPU the hypervisor took)")
    header = ("case", "server", "deliv/s", "pub/s", "srv CPU s", "gen CPU s", "other s", "steal s", "srv µs/deliv",
              "gen µs/deliv", "lost", "reord", "closed", "p50 ms", "p99 ms", "max ms")
    rows = []
    for name, per_server in results.items():
        for server, r in per_server.items():
            if "error" in r and "delivered" not in r and "rss_kib_per_connection" not in r:
                rows.append((name, server, "error: " + r["error"][:60]) + ("",) * (len(header) - 3))
                continue
            if r.get("mode") == "idle":
                rows.append((name, server, f"RSS {fmt(r.get('rss_kib_per_connection'), 2)} KiB/conn",
                             f"ready {r.get('subscribers_ready')}", fmt(r.get("server_cpu_s_connect"), 2),
                             fmt(r.get("loadgen_cpu_s_connect"), 2), "", "", f"connect {fmt(r.get('connect_s'), 1)} s",
                             "", "", "", "", "", "", ""))
                continue
            latency = r.get("latency", {})
            if r.get("subscribers", 0) == 0:
                latency = r.get("publish_latency", {})
            rows.append((name, server, fmt(r.get("deliveries_per_s")), fmt(r.get("publish_per_s")),
                         fmt(r.get("server_cpu_s"), 2), fmt(r.get("loadgen_cpu_s"), 2), fmt(r.get("other_busy_s"), 2),
                         fmt(r.get("steal_s"), 2),
                         fmt(r.get("server_cpu_us_per_delivery") if r.get("delivered") else
                             r.get("server_cpu_us_per_publish"), 2),
                         fmt(r.get("loadgen_cpu_us_per_delivery"), 2), fmt(r.get("lost")), fmt(r.get("reordered")),
                         fmt(r.get("subscribers_closed")),
                         fmt(latency.get("p50_us", 0) / 1000, 2), fmt(latency.get("p99_us", 0) / 1000, 2),
                         fmt(latency.get("max_us", 0) / 1000, 2)))
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    print("(publish-c*: µs column is server CPU per publish; latency columns are publish round trips)")


def print_ratios(results, quick, runs=None, first="herald", second="nchan"):
    """The first/second table (Herald/nchan, or Herald/baseline for a before/after) from the
    (median) results; with repeats, also the range of the ratios of the individual rounds (round i
    of the first against round i of the second). Rows neither server ran are left out."""
    scale = 10 if quick else 1
    runs = runs or {}

    def dig(result, keys):
        value = result
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def get(case, server, *keys):
        return dig(results.get(case, {}).get(server, {}), keys)

    def rounds(case):
        return runs.get(case, {}).get(first, []), runs.get(case, {}).get(second, [])

    def spread(case, keys):
        herald, nchan = rounds(case)
        ratios = []
        for h, n in zip(herald, nchan):
            a, b = dig(h, keys), dig(n, keys)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
                ratios.append(a / b)
        if len(ratios) < 2:
            return ""
        return f"{min(ratios):.2f}-{max(ratios):.2f}"

    def quietest(case, keys):
        """The ratio of each server's round with the least stolen CPU: the hypervisor's
        interference is the largest noise here, and it only ever makes a round worse."""
        herald, nchan = rounds(case)
        if len(herald) < 2 or len(nchan) < 2:
            return ""
        h = min(herald, key=lambda r: r.get("steal_s", 0) or 0)
        n = min(nchan, key=lambda r: r.get("steal_s", 0) or 0)
        a, b = dig(h, keys), dig(n, keys)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
            return f"{a / b:.2f}"
        return ""

    def total(server, key):
        return sum(r.get(server, {}).get(key, 0) or 0 for name, r in results.items()
                   if name.startswith(("fanout", "latency", "broadcast", "sseload")))

    idle = next((name for name in results if name.startswith("idle")), "idle")
    rows = []  # (metric, case, keys, scale of the value, better)
    for s in (100, 1000, 5000):
        rows.append((f"deliveries/s, fan-out S={max(s // scale, 10)}", f"fanout-{s}", ("deliveries_per_s",), 1,
                     "higher"))
    for s in (100, 1000, 5000):
        rows.append((f"server CPU µs/delivery, S={max(s // scale, 10)}", f"fanout-{s}",
                     ("server_cpu_us_per_delivery",), 1, "lower"))
    for case, text in (("latency-1000x10", f"S={max(1000 // scale, 10)} x 10/s"),
                       ("latency-100x100", f"S={max(100 // scale, 10)} x 100/s")):
        for key, p in (("p50_us", "p50"), ("p99_us", "p99"), ("max_us", "max")):
            rows.append((f"latency {p} ms, {text}", case, ("latency", key), 1000, "lower"))
    rows.append((f"RSS KiB per idle connection ({idle})", idle, ("rss_kib_per_connection",), 1, "lower"))
    for c in (1, 16):
        rows.append((f"publish req/s, c={c}", f"publish-c{c}", ("publish_per_s",), 1, "higher"))
        rows.append((f"server CPU µs/publish, c={c}", f"publish-c{c}", ("server_cpu_us_per_publish",), 1, "lower"))
    for prefix, text in (("broadcast", "broadcast"), ("sseload-broadcast", "sseload broadcast")):
        for s in (100, 1000, 5000):
            rows.append((f"deliveries/s, {text} S={max(s // scale, 10)}", f"{prefix}-{s}", ("deliveries_per_s",), 1,
                         "higher"))
        for s in (100, 1000, 5000):
            rows.append((f"server CPU µs/delivery, {text} S={max(s // scale, 10)}", f"{prefix}-{s}",
                         ("server_cpu_us_per_delivery",), 1, "lower"))

    print(f"\n{first} vs {second}" + (" (medians of the rounds; range: ratio of each round; quietest: ratio of each"
                                 " server's round with the least steal)" if runs else ""))
    table = []
    for metric, case, keys, divisor, better in rows:
        herald, nchan = get(case, first, *keys), get(case, second, *keys)
        if herald is None and nchan is None:
            continue
        if isinstance(herald, (int, float)) and divisor != 1:
            herald = herald / divisor
        if isinstance(nchan, (int, float)) and divisor != 1:
            nchan = nchan / divisor
        table.append((metric, herald, nchan, better, spread(case, keys), quietest(case, keys)))
    for metric, key in (("lost events (fan-out, broadcast, latency)", "lost"), ("reordered events", "reordered"),
                        ("duplicate events", "duplicates"), ("subscribers closed by server", "subscribers_closed")):
        table.append((metric, total(first, key), total(second, key), "lower", "", ""))
    width = max(len(row[0]) for row in table)
    ratio_name = f"{first}/{second}"
    print(f"{'metric':<{width}}  {first:>12}  {second:>12}  {ratio_name:>15}  {'range':>11}  {'quietest':>8}  better")
    for metric, herald, nchan, better, ratio_range, quiet in table:
        ratio = "-"
        if isinstance(herald, (int, float)) and isinstance(nchan, (int, float)) and nchan:
            ratio = f"{herald / nchan:.2f}"
        print(f"{metric:<{width}}  {fmt(herald, 2):>12}  {fmt(nchan, 2):>12}  {ratio:>15}  {ratio_range:>11}  {quiet:>8}  {better}")


def print_regimes(results, quick, servers):
    """Both fan-out regimes side by side per server: max-rate fan-out with 4 publishers and a window
    of 100 events per subscriber, the broadcast regime (one closed-loop publisher, no window) on
    herald-bench, and the same broadcast regime on sseload (when it ran)."""
    scale = 10 if quick else 1
    columns = (("fanout", "fan-out (4 pub, window 100)"), ("broadcast", "broadcast (herald-bench)"),
               ("sseload-broadcast", "broadcast (sseload)"))
    present = [(prefix, text) for prefix, text in columns
               if any(name.startswith(prefix + "-") for name in results)]
    if len(present) < 2 and not any(prefix == "broadcast" for prefix, _ in present):
        return
    print("\nFan-out regimes side by side: deliveries/s | server CPU µs per delivery (medians; lost+reordered)")
    header = ["server", "S"] + [text for _, text in present]
    rows = []
    for server in servers:
        for s in (100, 1000, 5000):
            row = [server, str(max(s // scale, 10))]
            for prefix, _ in present:
                r = results.get(f"{prefix}-{s}", {}).get(server)
                if not r or "deliveries_per_s" not in r:
                    row.append("-")
                    continue
                bad = (r.get("lost") or 0) + (r.get("reordered") or 0)
                row.append(f"{fmt(r.get('deliveries_per_s'))} | {fmt(r.get('server_cpu_us_per_delivery'), 2)}"
                           + (f" ({bad} bad)" if bad else ""))
            rows.append(row)
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))


def is_quiet(result, max_steal):
    """Whether the hypervisor left the round alone: on a shared VM stolen CPU is the largest
    noise, it only ever makes a round worse, and it hits the two servers at different times."""
    capacity = result.get("machine_capacity_s") or 0
    return "error" not in result and (capacity <= 0 or (result.get("steal_s") or 0) <= max_steal * capacity)


def print_rounds(runs, discarded, max_steal):
    """How many rounds each case took, and how many were set aside for stolen CPU."""
    print(f"\nRounds (quiet: at most {max_steal:.0%} of the machine's CPU stolen; set aside rounds were run again)")
    for name, per_server in runs.items():
        parts = []
        for server, kept in per_server.items():
            noisy = len(discarded.get(name, {}).get(server, []))
            filled = sum(1 for r in kept if r.get("noisy"))
            steal = ", ".join(f"{r.get('steal_s', 0) or 0:.2f}" for r in kept)
            parts.append(f"{server}: {len(kept) - filled} quiet" + (f" + {filled} least-stolen" if filled else "")
                         + f", {noisy} set aside (steal s of those used: {steal})")
        print(f"  {name:<16} " + "; ".join(parts))


def median_result(rounds):
    """One result from several rounds of a case: the median of every number (nested too)."""
    good = [r for r in rounds if "error" not in r] or rounds
    if len(good) == 1:
        return good[0]
    merged = {}
    for key in good[0]:
        values = [r.get(key) for r in good]
        if all(isinstance(v, bool) for v in values):
            merged[key] = all(values)
        elif all(isinstance(v, (int, float)) for v in values):
            ordered = sorted(values)
            middle = ordered[len(ordered) // 2] if len(ordered) % 2 else (ordered[len(ordered) // 2 - 1] +
                                                                         ordered[len(ordered) // 2]) / 2
            merged[key] = int(middle) if all(isinstance(v, int) for v in values) and middle == int(middle) else middle
        elif all(isinstance(v, dict) for v in values):
            merged[key] = median_result(values)
        else:
            merged[key] = values[0]
    # Counts of failures are summed, not averaged away.
    for key in ("lost", "reordered", "duplicates", "subscribers_closed"):
        if key in merged:
            merged[key] = sum(r.get(key, 0) or 0 for r in good)
    merged["rounds"] = len(good)
    return merged


STAT_EVENTS = ["raw_syscalls:sys_enter", "sched:sched_wakeup", "context-switches", "syscalls:sys_enter_writev", "syscalls:sys_enter_write", "syscalls:sys_enter_sendmsg",
               "syscalls:sys_enter_read", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_readv",
               "syscalls:sys_enter_futex", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_ctl"]


def user_system_seconds(pids):
    """(user, system) CPU seconds of these processes so far, from /proc/PID/stat."""
    hz = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            user += int(fields[11]) / hz
            system += int(fields[12]) / hz
        except (OSError, IndexError, ValueError):
            pass
    return user, system


def profile(args):
    """One fan-out case with perf attached to the server: `perf record -g` (Herald) and
    `perf stat` of syscalls and context switches (either server), per delivery."""
    if not shutil.which("perf"):
        raise SystemExit("perf missing: apt-get install -y linux-perf")
    subscribers = args.profile_subscribers
    duration = 10
    server = {"herald": Herald, "baseline": Baseline, "nchan": Nchan}[args.profile_server](f"profile-{subscribers}")
    server.start()
    data = os.path.join(WORK, f"{server.name}-perf.data")
    record_seconds = duration - 3
    command = [os.path.join(BIN, "herald-bench"), "--port", str(server.port), "--server-pid", str(server.pid),
               "--label", f"{server.name}/profile-{subscribers}", "--subscribers", subscribers,
               "--duration", duration, "--drain-timeout", 30] + server.bench_args()
    # Max-rate fan-out by default; --profile-rate N profiles the fixed-load latency workload instead.
    # --profile-regime broadcast: one closed-loop publisher, no window (issue 14's regime).
    if args.profile_rate:
        command += ["--publishers", 2, "--rate", args.profile_rate]
    elif args.profile_regime == "broadcast":
        command += ["--publishers", 1, "--window", 0]
    else:
        command += ["--publishers", 4, "--window", 100]
    try:
        bench = subprocess.Popen([str(arg) for arg in command], stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        time.sleep(3)  # connect and settle
        pid_list = [server.pid] + children_of(server.pid)
        pids = ",".join(str(pid) for pid in pid_list)
        times_before = user_system_seconds(pid_list)
        events = STAT_EVENTS + (["probe_libc:malloc"] if args.profile_malloc else [])
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(events), "-p", pids, "--", "sleep",
                                 str(record_seconds)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        if server.name != "nchan" and not args.profile_stat_only:
            subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", pids, "-o", data,
                            "--", "sleep", str(record_seconds)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           timeout=duration + 30)
        _, stat_text = stat.communicate(timeout=duration + 30)
        times_after = user_system_seconds(pid_list)
        output, _ = bench.communicate(timeout=120)
    finally:
        server.stop()
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    result = json.loads(line[len("RESULT "):]) if line else {}
    with open(os.path.join(WORK, f"{server.name}-profile-result.json"), "w") as out:
        json.dump(result, out, indent=1)
    rate = result.get("deliveries_per_s", 0)
    print(f"{server.name} fan-out S={subscribers}: {fmt(rate)} deliveries/s, "
          f"{fmt(result.get('server_cpu_us_per_delivery'), 2)} µs server CPU/delivery, "
          f"{fmt(result.get('loadgen_cpu_us_per_delivery'), 2)} µs loadgen CPU/delivery, lost {result.get('lost')}")
    deliveries = rate * record_seconds
    user, system = (after - before for after, before in zip(times_after, times_before))
    if deliveries:
        print(f"server CPU in the perf window: user {user * 1e6 / deliveries:.2f} µs + system "
              f"{system * 1e6 / deliveries:.2f} µs per delivery")
    print(f"perf stat over {record_seconds} s (~{fmt(deliveries)} deliveries), per delivery:")
    for row in stat_text.splitlines():
        fields = row.split(",")
        if len(fields) > 2 and fields[0].strip().isdigit() and deliveries:
            print(f"  {fields[2]:<34} {int(fields[0]):>12,}  {int(fields[0]) / deliveries:8.4f}")
    if server.name == "nchan":
        return
    script = os.path.join(WORK, f"{server.name}-perf-script.txt")
    with open(script, "w") as out:
        subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym"], stdout=out, stderr=subprocess.DEVNULL,
                       timeout=600)
    summary = subprocess.run([sys.executable, os.path.join(ROOT, "Benchmarks", "perf_summary.py"), script,
                              "--us-per-delivery", str(result.get("server_cpu_us_per_delivery", 0))],
                             capture_output=True, text=True, timeout=600).stdout
    with open(os.path.join(WORK, f"{server.name}-perf-summary.txt"), "w") as out:
        out.write(summary)
    print(summary)
    print(f"perf data: {data} (perf report -i {data}); summary: {WORK}/{server.name}-perf-summary.txt")


def main():
    global BIN, SSELOAD
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller S and shorter runs (smoke test)")
    parser.add_argument("--only", default="", help="comma-separated case name prefixes (e.g. fanout,idle)")
    parser.add_argument("--servers", default="herald,nchan", help="comma-separated: herald,nchan")
    parser.add_argument("--budget", type=float, default=900, help="seconds; later cases are skipped past it")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds per case, servers alternating; the tables show medians (noisy machines)")
    parser.add_argument("--max-steal", type=float, default=0.05,
                        help="a round is quiet when the hypervisor took at most this share of the machine's CPU"
                             " in it; other rounds are set aside and run again (1 keeps every round)")
    parser.add_argument("--attempts", type=int, default=0,
                        help="rounds per server and case at most, quiet or not (default: 3 x --repeat)")
    parser.add_argument("--bin", default=os.environ.get("HERALD_BIN", BIN),
                        help="directory of the herald and herald-bench binaries under test (env HERALD_BIN)")
    parser.add_argument("--baseline", default=os.environ.get("HERALD_BASELINE", ""),
                        help="directory of another build's herald binary (env HERALD_BASELINE): adds the"
                             " server `baseline`, run alternately with the others by the same herald-bench,"
                             " and a herald/baseline table (a before/after in one run)")
    parser.add_argument("--sseload", default=os.environ.get("SSELOAD", ""),
                        help="the independent generator's binary (../shared/tools/sseload; env SSELOAD): adds"
                             " the sseload-broadcast-* cases")
    parser.add_argument("--out", default=os.path.join(WORK, "results.json"))
    parser.add_argument("--profile", action="store_true", help="profile Herald under fan-out with perf")
    parser.add_argument("--profile-subscribers", type=int, default=1000)
    parser.add_argument("--profile-server", default="herald", choices=["herald", "baseline", "nchan"])
    parser.add_argument("--profile-malloc", action="store_true",
                        help="--profile also counts libc malloc calls (needs the uprobe once:"
                             " perf probe -x /lib/x86_64-linux-gnu/libc.so.6 --add malloc)")
    parser.add_argument("--profile-stat-only", action="store_true",
                        help="--profile without perf record (counts and the user/system split undisturbed)")
    parser.add_argument("--profile-regime", default="fanout", choices=["fanout", "broadcast"],
                        help="--profile workload: max-rate fan-out (4 publishers, window 100) or the broadcast"
                             " regime (1 closed-loop publisher, no window)")
    parser.add_argument("--profile-rate", type=float, default=0,
                        help="publishes/s for --profile (0: as fast as possible); e.g. 10 for latency-1000x10")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    BIN = os.path.abspath(args.bin)
    if args.baseline:
        Baseline.binary_dir = os.path.abspath(args.baseline if os.path.isdir(args.baseline)
                                              else os.path.dirname(args.baseline))
        if not os.path.exists(os.path.join(Baseline.binary_dir, "herald")):
            raise SystemExit(f"{Baseline.binary_dir}/herald missing (--baseline / HERALD_BASELINE)")
    if args.sseload:
        SSELOAD = os.path.abspath(args.sseload)
        if not os.access(SSELOAD, os.X_OK):
            raise SystemExit(f"{SSELOAD} is not an executable (--sseload / SSELOAD)")
    for binary in ("herald", "herald-bench"):
        if not os.path.exists(os.path.join(BIN, binary)):
            raise SystemExit(f"{BIN}/{binary} missing: swift build -c release --scratch-path .build-bench")
    if args.profile:
        return profile(args)

    servers = {"herald": Herald, "baseline": Baseline, "nchan": Nchan}
    names = [name for name in args.servers.split(",") if name]
    if args.baseline and "baseline" not in names:
        names.insert(1 if "herald" in names else 0, "baseline")
    if "baseline" in names and not args.baseline:
        raise SystemExit("server baseline needs --baseline DIR (or HERALD_BASELINE)")
    chosen = [servers[name] for name in names]
    only = [prefix for prefix in args.only.split(",") if prefix]
    started = time.time()
    results = {}
    machine = {"cpus": os.cpu_count(), "loadavg_before": loadavg(), "quick": args.quick}
    log(f"compare: {os.cpu_count()} CPUs, load average {machine['loadavg_before']}")
    runs = {}
    discarded = {}
    attempts = args.attempts or 3 * args.repeat
    for name, bench_args, limit in cases(args.quick):
        if only and not name.startswith(tuple(only)):
            continue
        if name.startswith("sseload") and not SSELOAD:
            continue
        # Each server runs until it has `repeat` quiet rounds (steal at most --max-steal of the
        # machine) or has used its attempts; a round the hypervisor took part of is set aside.
        for round_index in range(attempts):
            # Alternate who goes first, so that slow drifts of the machine favour neither.
            order = chosen if round_index % 2 == 0 else list(reversed(chosen))
            for server_class in order:
                kept = runs.setdefault(name, {}).setdefault(server_class.name, [])
                noisy = discarded.setdefault(name, {}).setdefault(server_class.name, [])
                if len(kept) >= args.repeat or len(kept) + len(noisy) >= attempts:
                    continue
                if time.time() - started > args.budget:
                    log(f"compare: budget of {args.budget:.0f} s used up; skipping {server_class.name}/{name}")
                    continue
                log(f"compare: {server_class.name}/{name} round {len(kept) + len(noisy) + 1} "
                    f"({len(kept)}/{args.repeat} quiet so far; load average {loadavg()})")
                try:
                    result = run_case(server_class, name, bench_args, limit)
                except Exception as error:  # a server that did not start: record and go on
                    result = {"error": str(error)}
                if is_quiet(result, args.max_steal):
                    kept.append(result)
                else:
                    log(f"compare: {server_class.name}/{name}: {result.get('steal_s', 0):.2f} s of "
                        f"{result.get('machine_capacity_s', 0):.1f} s stolen; round set aside")
                    noisy.append(result)
                time.sleep(1)  # let TIME_WAIT and the scheduler settle between cases
        # A server that never got enough quiet rounds is judged by its least-stolen ones.
        for server, kept in runs.get(name, {}).items():
            noisy = sorted(discarded[name][server], key=lambda r: r.get("steal_s", 0) or 0)
            while len(kept) < args.repeat and noisy:
                kept.append(noisy.pop(0) | {"noisy": True})
    for name, per_server in runs.items():
        results[name] = {server: median_result(rounds) for server, rounds in per_server.items()}
    machine["loadavg_after"] = loadavg()
    machine["seconds"] = round(time.time() - started, 1)
    with open(args.out, "w") as out:
        json.dump({"machine": machine, "results": results, "rounds": runs, "set_aside": discarded}, out, indent=1)

    print(f"\nMachine: {machine['cpus']} CPUs; load average before {machine['loadavg_before']}, after "
          f"{machine['loadavg_after']}; {machine['seconds']} s; open files limit "
          f"{next((r.get('nofile_soft') for c in results.values() for r in c.values() if r.get('nofile_soft')), '-')}")
    print_details(results)
    print_rounds(runs, discarded, args.max_steal)
    if "herald" in names and "baseline" in names:
        print_ratios(results, args.quick, runs if args.repeat > 1 else None, "herald", "baseline")
    if "nchan" in names:
        for other in [name for name in ("herald", "baseline") if name in names]:
            print_ratios(results, args.quick, runs if args.repeat > 1 else None, other, "nchan")
    print_regimes(results, args.quick, names)
    print(f"\nRaw results: {args.out}")


if __name__ == "__main__":
    main()
