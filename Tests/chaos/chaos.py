#!/usr/bin/env python3
"""Chaos test of Herald in Redis mode: real `herald serve` nodes and a real redis-server on
loopback, faults injected while a publisher and SSE subscribers run.

    python3 Tests/chaos/chaos.py                     # restart, kill, churn and presence
    python3 Tests/chaos/chaos.py --scenario churn    # one of: restart, kill, churn, presence, presence-cost
    python3 Tests/chaos/chaos.py --quick             # shorter phases (what scripts/test.sh runs)

Scenarios (each with two Herald nodes sharing one redis-server):
  restart  Redis (persistent: AOF, fsync always) restarted twice under 200 publishes/s, once
           with SIGTERM and once with SIGKILL; 20 subscribers reconnect every 1-3 s, to either
           node, with Last-Event-ID.
  kill     one node killed with SIGKILL under 200 publishes/s; its subscribers reconnect to the
           other node with Last-Event-ID.
  churn    200 subscribers each reconnecting every 0.5-2 s (to either node, with Last-Event-ID)
           for 15 s while 100 events/s are published.
  presence the churn above with subscription events (presence) on, each subscriber holding
           SELECTORS (8) topic selectors (the extra ones match nothing): presence goes through
           Redis for every reconnect; prints Redis `INFO commandstats` calls during the run.
  presence-cost  no publishing: 200 subscribers with SELECTORS selectors each connect and
           disconnect 5 times (to either node) with presence on; prints Redis commands per
           connect + disconnect (from `INFO commandstats`, counted once all is quiet). Informative
           (always passes unless the harness fails): compare two builds with --binary.

Eight publisher lanes share the rate; each gives every event its own id and retries it (on
either node) until it is answered 200, as a publisher should. For every scenario, every
subscriber must receive every acknowledged event exactly once, each lane's events in the order
the lane published them and all subscribers in one and the same order, with no `herald-gap`
event; for churn, the p99 publish-to-delivery latency must also be under 1 s (--latency-limit;
with --quick it is reported, not enforced). Exits non-zero when a check fails.

Everything runs on 127.0.0.1 with free ports and a hard time limit; only processes this script
started are stopped (by PID). Needs redis-server and the herald binary (HERALD_BIN, default
<repo>/.build/debug/herald; build it with `swift build --product herald`).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import multiprocessing
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOPIC = "/chaos"
GAP_TYPE = "herald-gap"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, deadline: float) -> bool:
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen, sig=signal.SIGTERM, timeout=10.0) -> None:
    """Stops one process this script started, by its PID, and reaps it."""
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class Redis:
    """A redis-server on a free loopback port; persistent (AOF, fsync always) when asked."""

    def __init__(self, workdir: Path, persistent: bool):
        self.port = free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir()
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir),
             "--loglevel", "warning", *persistence],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "log", "ab"), stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, time.time() + 10):
            raise SystemExit("redis-server did not start")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process:
            stop_process(self.process, sig)


class Node:
    """One `herald serve --redis` process on a free loopback port."""

    def __init__(self, binary: Path, workdir: Path, redis_port: int, name: str, presence: bool = False):
        self.binary, self.name = binary, name
        self.presence = presence
        self.port = free_port()
        self.redis_port = redis_port
        self.log = workdir / f"herald-{name}.log"
        self.secret = workdir / f"secret-{name}"
        self.process: subprocess.Popen | None = None
        self.alive = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.binary), "serve", "--port", str(self.port), "--redis", f"redis://127.0.0.1:{self.redis_port}",
             "--chat", "false", "--subscription-events", "true" if self.presence else "false", "--heartbeat", "5", "--log-level", "warning",
             "--secret-file", str(self.secret)],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, time.time() + 30):
            raise SystemExit(f"herald node {self.name} did not start; see {self.log}")
        self.alive = True

    def stop(self, sig=signal.SIGTERM) -> None:
        self.alive = False
        if self.process:
            stop_process(self.process, sig)


# MARK: HTTP clients (asyncio, one connection each)


class Publisher:
    """Publishes events `<run>-<n>` in order at a steady rate; retries each one (alternating
    nodes) until it is answered 200, and records when it was first sent and when acknowledged."""

    def __init__(self, nodes: list[Node], run: str):
        self.nodes, self.prefix = nodes, run
        self.acked: list[str] = []
        self.sent_at: dict[str, float] = {}
        self.retries = 0
        self.answer_times: list[float] = []
        self.failed_attempts = 0
        self.stop = False
        self.connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def post(self, node: Node, body: bytes) -> tuple[int, bytes]:
        if node.port not in self.connections:
            self.connections[node.port] = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node.port), 2)
        reader, writer = self.connections[node.port]
        try:
            writer.write(b"POST /.well-known/mercure HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            answer = await asyncio.wait_for(reader.readexactly(length), 5)
            if b"connection: close" in head.lower():
                raise ConnectionError("closed by server")
            return status, answer
        except BaseException:
            self.connections.pop(node.port, None)
            writer.close()
            raise

    async def publish_one(self, event_id: str) -> None:
        attempt = 0
        while True:
            # Round robin over the nodes the "load balancer" knows to be up; a retry goes to the next.
            live = [n for n in self.nodes if n.alive] or self.nodes
            node = live[(len(self.acked) + attempt) % len(live)]
            sent = time.time()
            self.sent_at.setdefault(event_id, sent)
            body = f"topic={TOPIC}&id={event_id}&data={sent:.6f}".encode()
            try:
                status, answer = await self.post(node, body)
                if status == 200:
                    if answer.strip().decode() != event_id:
                        raise SystemExit(f"publish of {event_id} answered {answer!r}")
                    self.acked.append(event_id)
                    self.answer_times.append(time.time() - sent)
                    return
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
                pass
            self.failed_attempts += 1
            attempt += 1
            self.retries += 1
            await asyncio.sleep(min(0.02 * attempt, 0.2))

    async def run(self, rate: float, duration: float) -> None:
        start = time.time()
        count = int(rate * duration)
        for index in range(count):
            delay = start + index / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.publish_one(f"{self.prefix}-{index}")
        for _, writer in self.connections.values():
            writer.close()


class Publishers:
    """`lanes` publishers side by side (one connection per node each), sharing the rate: one
    sequential publisher cannot reach 200/s against a debug build on a busy machine. Each lane's
    events have a defined order (it publishes one at a time); the lanes interleave in Redis."""

    def __init__(self, nodes: list[Node], prefix: str, lanes: int):
        self.lanes = [Publisher(nodes, f"{prefix}{lane}") for lane in range(lanes)]
        self.took = self.drained = 0.0

    @property
    def acked(self) -> list[str]:
        return [event_id for lane in self.lanes for event_id in lane.acked]

    @property
    def retries(self) -> int:
        return sum(lane.retries for lane in self.lanes)

    def last_ids(self) -> set[str]:
        return {lane.acked[-1] for lane in self.lanes if lane.acked}

    async def run(self, rate: float, duration: float) -> None:
        await asyncio.gather(*(lane.run(rate / len(self.lanes), duration) for lane in self.lanes))


@dataclass
class Subscriber:
    """One SSE subscriber that reconnects (to a random node, with Last-Event-ID) when its stream
    ends or cannot be opened, and also every `interval` seconds when given."""

    name: int
    ports: list[int]
    interval: tuple[float, float] | None
    selectors: int = 1
    received: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    connects: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    stop: bool = False
    last_id: str | None = None
    seen: set[str] = field(default_factory=set)

    async def run(self) -> None:
        port = self.ports[self.name % len(self.ports)]
        while not self.stop:
            try:
                await self.stream(port)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
                pass
            if self.stop:
                return
            await asyncio.sleep(0.02)
            port = random.choice(self.ports)

    async def stream(self, port: int) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        try:
            request = f"GET {subscribe_path(self.name, self.selectors)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            if self.last_id or self.connects:
                # A reconnect before any event: everything (each scenario has a fresh Redis).
                request += f"Last-Event-ID: {self.last_id or 'earliest'}\r\n"
            writer.write((request + "\r\n").encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                raise ConnectionError(f"subscribe answered {head[:40]!r}")
            chunked = b"transfer-encoding: chunked" in head.lower()
            self.connects += 1
            self.connected.set()
            until = time.time() + random.uniform(*self.interval) if self.interval else None
            body = b""
            pending = b""
            while not self.stop:
                timeout = 30.0 if until is None else until - time.time()
                if timeout <= 0:
                    return
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except asyncio.TimeoutError:
                    if until is not None:
                        return
                    raise
                if not data:
                    return
                if chunked:
                    pending += data
                    while True:
                        line_end = pending.find(b"\r\n")
                        if line_end < 0:
                            break
                        size = int(pending[:line_end].split(b";")[0], 16)
                        if size == 0:
                            return
                        if len(pending) < line_end + 2 + size + 2:
                            break
                        body += pending[line_end + 2:line_end + 2 + size]
                        pending = pending[line_end + 4 + size:]
                else:
                    body += data
                body = self.consume(body)
        finally:
            writer.close()


    def consume(self, body: bytes) -> bytes:
        """Handles each complete event in `body`; returns the incomplete rest."""
        now = time.time()
        *events, rest = body.split(b"\n\n")
        for raw in events:
            event_id = event_type = data = None
            for line in raw.split(b"\n"):
                if line.startswith(b"id:"):
                    event_id = line[3:].strip().decode()
                elif line.startswith(b"event:"):
                    event_type = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data = line[5:].strip().decode()
            if event_type == GAP_TYPE:
                self.gaps.append(data or "")
            elif event_id is not None:
                self.received.append(event_id)
                self.seen.add(event_id)
                self.last_id = event_id
                if data:
                    self.latencies.append(now - float(data))
        return rest


def subscribe_path(name: int, selectors: int) -> str:
    """The hub URL of subscriber `name`: the chaos topic, plus selectors that match nothing."""
    extra = "".join(f"&topic=/chaos/quiet/{name}/{index}" for index in range(selectors - 1))
    return f"/.well-known/mercure?topic={TOPIC}{extra}"


# MARK: subscriber processes

# Subscribers run in worker processes (two for many subscribers), so that parsing their streams
# does not hold back the publisher's pacing, nor the other way round.


def subscriber_worker(conn, names: list[int], ports: list[int], interval, selectors: int) -> None:
    asyncio.run(worker_main(conn, names, ports, interval, selectors))


async def worker_main(conn, names: list[int], ports: list[int], interval, selectors: int) -> None:
    loop = asyncio.get_running_loop()
    subscribers = [Subscriber(name, ports, interval, selectors) for name in names]
    tasks = [asyncio.create_task(s.run()) for s in subscribers]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in subscribers)), 30)
        conn.send("ready")
        # Then: the last id of each publisher lane, once publishing is over.
        last, timeout = await loop.run_in_executor(None, conn.recv)
        deadline = time.time() + timeout
        while time.time() < deadline and any(not last.issubset(s.seen) for s in subscribers):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # a duplicate delivered after the last event would show up here
    finally:
        for subscriber in subscribers:
            subscriber.stop = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5)
    conn.send([(s.name, s.received, s.latencies, s.gaps, s.connects) for s in subscribers])


class SubscriberPool:
    """`count` subscribers over `processes` worker processes; their results once drained."""

    def __init__(self, count: int, ports: list[int], interval, processes: int, selectors: int = 1):
        context = multiprocessing.get_context("fork")
        self.workers = []
        for index in range(processes):
            parent, child = context.Pipe()
            names = list(range(index, count, processes))
            process = context.Process(target=subscriber_worker, args=(child, names, ports, interval, selectors), daemon=True)
            process.start()
            self.workers.append((process, parent))

    async def ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        for _, conn in self.workers:
            if not await loop.run_in_executor(None, conn.poll, timeout):
                raise TimeoutError("subscribers did not connect")
            if conn.recv() != "ready":
                raise RuntimeError("subscriber worker failed")

    async def drain(self, last: set[str], timeout: float) -> list[Subscriber]:
        loop = asyncio.get_running_loop()
        for _, conn in self.workers:
            conn.send((last, timeout))
        subscribers = []
        for process, conn in self.workers:
            if not await loop.run_in_executor(None, conn.poll, timeout + 15):
                raise TimeoutError("subscriber worker did not report")
            for name, received, latencies, gaps, connects in conn.recv():
                subscriber = Subscriber(name, [], None, 1, received, latencies, gaps, connects)
                subscribers.append(subscriber)
            process.join(5)
        return sorted(subscribers, key=lambda s: s.name)

    def stop(self) -> None:
        """Stops the worker processes this pool started (by PID), if still running."""
        for process, _ in self.workers:
            if process.is_alive():
                process.kill()
                process.join(5)


# MARK: scenarios


@dataclass
class Result:
    name: str
    ok: bool
    lines: list[str]


def check(name: str, publisher: Publishers, subscribers: list[Subscriber], extra: list[str],
          latency_limit: float | None = None) -> Result:
    """Every subscriber got every acknowledged event once; each lane's events in the order the
    lane published them; and all subscribers in one and the same order (the stream's)."""
    acked = publisher.acked
    acked_set = set(acked)
    problems: list[str] = []
    lost = duplicated = reordered = unexpected = 0
    reference = subscribers[0].received if subscribers else []
    different_order = 0
    for subscriber in subscribers:
        got = subscriber.received
        seen = set(got)
        missing = acked_set - seen
        lost += len(missing)
        duplicated += len(got) - len(seen)
        unexpected += len(seen - acked_set)
        for lane in publisher.lanes:
            prefix = lane.prefix + "-"
            mine = [event_id for event_id in got if event_id.startswith(prefix)]
            if mine != lane.acked:
                reordered += sum(1 for a, b in zip(mine, mine[1:])
                                 if int(b.rsplit("-", 1)[1]) <= int(a.rsplit("-", 1)[1]))
        if got != reference:
            different_order += 1
        if (missing or len(got) != len(seen)) and len(problems) < 5:
            problems.append(f"subscriber {subscriber.name}: {len(got)} deliveries of {len(acked)} events, "
                            f"missing e.g. {sorted(missing)[:3]}")
    gaps = sum(len(s.gaps) for s in subscribers)
    deliveries = sum(len(s.received) for s in subscribers)
    lines = [f"acknowledged events: {len(acked)} in {publisher.took:.1f} s ({len(acked) / max(publisher.took, 0.001):.0f}/s; "
             f"publish retries: {publisher.retries}; "
             f"all delivered {publisher.drained:.1f} s later); subscribers: {len(subscribers)}; "
             f"deliveries: {deliveries}; reconnects: {sum(s.connects for s in subscribers) - len(subscribers)}",
             f"lost: {lost}, duplicated: {duplicated}, reordered: {reordered}, never acknowledged: {unexpected}, "
             f"order differing from subscriber 0: {different_order}, herald-gap events: {gaps}", *extra]
    ok = not (lost or duplicated or reordered or unexpected or different_order or gaps)
    answers = sorted(t for lane in publisher.lanes for t in lane.answer_times)
    if answers:
        lines.append(f"publish answered (200) after: p50 {answers[len(answers) // 2] * 1000:.0f} ms, "
                     f"p99 {answers[min(len(answers) - 1, int(0.99 * len(answers)))] * 1000:.0f} ms")
    latencies = sorted(latency for s in subscribers for latency in s.latencies)
    if latencies:
        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))]
        lines.append(f"publish-to-delivery: p50 {pct(0.5) * 1000:.0f} ms, p99 {pct(0.99) * 1000:.0f} ms, "
                     f"max {latencies[-1] * 1000:.0f} ms")
        if latency_limit is not None and pct(0.99) >= latency_limit:
            ok = False
            lines.append(f"p99 latency over the {latency_limit:.1f} s limit")
    return Result(name, ok, lines + problems)


async def run_clients(nodes, subscribers_count, interval, rate, duration, faults, run,
                      selectors: int = 1) -> tuple[Publishers, list[Subscriber]]:
    publisher = Publishers(nodes, run, lanes=8)
    pool = SubscriberPool(subscribers_count, [node.port for node in nodes], interval,
                          1 if subscribers_count <= 50 else 2, selectors)
    try:
        await pool.ready(30)
        fault_task = asyncio.create_task(faults())
        begun = time.time()
        await publisher.run(rate, duration)
        publisher.took = time.time() - begun
        await fault_task
        subscribers = await pool.drain(publisher.last_ids(), 30)
        publisher.drained = time.time() - begun - publisher.took
    finally:
        pool.stop()
    return publisher, subscribers


async def scenario_restart(binary: Path, workdir: Path, args) -> Result:
    redis = Redis(workdir, persistent=True)
    redis.start()
    nodes = [Node(binary, workdir, redis.port, "a"), Node(binary, workdir, redis.port, "b")]
    for node in nodes:
        node.start()
    duration = 6.0 if args.quick else 12.0
    notes: list[str] = []

    async def faults():
        for when, sig in ((duration * 0.25, signal.SIGTERM), (duration * 0.6, signal.SIGKILL)):
            await asyncio.sleep(when - (time.time() - started))
            redis.stop(sig)
            await asyncio.sleep(0.5)
            redis.start()
            notes.append(f"redis restarted ({signal.Signals(sig).name}) at {time.time() - started:.1f} s")

    started = time.time()
    try:
        publisher, subscribers = await run_clients(nodes, 20, (1.0, 3.0), 200, duration, faults, "r")
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
    return check("restart: Redis restarted twice under 200 publishes/s, 20 subscribers reconnecting",
                 publisher, subscribers, notes)


async def scenario_kill(binary: Path, workdir: Path, args) -> Result:
    redis = Redis(workdir, persistent=False)
    redis.start()
    nodes = [Node(binary, workdir, redis.port, "a"), Node(binary, workdir, redis.port, "b")]
    for node in nodes:
        node.start()
    duration = 5.0 if args.quick else 10.0
    notes: list[str] = []

    async def faults():
        await asyncio.sleep(duration * 0.4)
        nodes[0].stop(signal.SIGKILL)
        notes.append(f"node a killed (SIGKILL) at {time.time() - started:.1f} s")

    started = time.time()
    try:
        publisher, subscribers = await run_clients(nodes, 20, None, 200, duration, faults, "k")
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
    moved = sum(1 for s in subscribers if s.connects > 1)
    notes.append(f"subscribers that moved to the other node: {moved}")
    result = check("kill: one of two nodes killed with SIGKILL under 200 publishes/s, 20 subscribers",
                   publisher, subscribers, notes)
    if moved < 10:
        result.ok = False
        result.lines.append("expected the 10 subscribers of the killed node to move")
    return result


async def scenario_churn(binary: Path, workdir: Path, args, presence: bool = False) -> Result:
    redis = Redis(workdir, persistent=False)
    redis.start()
    nodes = [Node(binary, workdir, redis.port, name, presence) for name in ("a", "b")]
    for node in nodes:
        node.start()
    duration = 6.0 if args.quick else 15.0
    selectors = args.selectors if presence else 1
    cpu_before = {node.name: cpu_seconds(node.process.pid) for node in nodes}
    stats_before = redis_commandstats(redis.port)

    async def faults():
        return

    try:
        publisher, subscribers = await run_clients(nodes, 200, (0.5, 2.0), 100, duration, faults, "c", selectors)
        cpu = {node.name: cpu_seconds(node.process.pid) - cpu_before[node.name] for node in nodes}
        stats = diff_commandstats(redis_commandstats(redis.port), stats_before)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
    reconnects = sum(s.connects for s in subscribers)
    notes = [f"herald CPU during the run: " + ", ".join(f"node {k} {v:.1f} s" for k, v in cpu.items()),
             f"Redis commands during the run: {sum(stats.values())} for {reconnects} connects and "
             f"{len(publisher.acked)} publishes: " + format_commandstats(stats)]
    what = f"presence on, {selectors} selectors each, " if presence else ""
    return check(f"{'presence' if presence else 'churn'}: 200 subscribers ({what}reconnecting every 0.5-2 s) "
                 f"for {duration:.0f} s at 100 events/s",
                 publisher, subscribers, notes, latency_limit=args.latency_limit)


async def scenario_presence(binary: Path, workdir: Path, args) -> Result:
    return await scenario_churn(binary, workdir, args, presence=True)


async def scenario_presence_cost(binary: Path, workdir: Path, args) -> Result:
    """Redis commands per subscription start + end with presence on, nothing else going on."""
    redis = Redis(workdir, persistent=False)
    redis.start()
    nodes = [Node(binary, workdir, redis.port, name, presence=True) for name in ("a", "b")]
    for node in nodes:
        node.start()
    subscribers, rounds = 200, 5
    connects = 0

    async def one(name: int) -> None:
        nonlocal connects
        for _ in range(rounds):
            port = random.choice(nodes).port
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            try:
                writer.write(f"GET {subscribe_path(name, args.selectors)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             f"Accept: text/event-stream\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                    raise ConnectionError(f"subscribe answered {head[:40]!r}")
                connects += 1
                await asyncio.sleep(random.uniform(0.1, 0.6))
            finally:
                writer.close()

    try:
        before = redis_commandstats(redis.port)
        begun = time.time()
        await asyncio.gather(*(one(name) for name in range(subscribers)))
        took = time.time() - begun
        # Quiet: the counters stop moving (the nodes' registry refresh runs every 10 s).
        stats, still = {}, 0
        while still < 3:
            await asyncio.sleep(0.5)
            now = diff_commandstats(redis_commandstats(redis.port), before)
            still = still + 1 if now == stats else 0
            stats = now
        stats.pop("info", None)
        registered = redis_registry_size(redis.port)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
    total = sum(stats.values())
    lines = [f"{connects} subscription starts and ends ({subscribers} subscribers x {rounds}, {args.selectors} "
             f"selectors each, in {took:.1f} s): {total} Redis commands, {total / max(connects, 1):.2f} per "
             f"start + end", "calls: " + format_commandstats(stats),
             f"registry entries left once all ended: {registered}"]
    return Result("presence-cost: Redis commands per subscription start + end, presence on", registered == 0, lines)


def redis_command(port: int, *words: str) -> bytes:
    """One command to the redis-server on `port` (RESP over a fresh socket); the raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"$"):
                header, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(header[1:]) + 2:
                    return rest[:int(header[1:])]
            elif data.endswith(b"\r\n"):
                return data
    return data


def redis_commandstats(port: int) -> dict[str, int]:
    """Calls per command so far (`INFO commandstats`)."""
    calls = {}
    for line in redis_command(port, "INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_"):].partition(":")
            calls[name] = int(fields.split("calls=", 1)[1].split(",", 1)[0])
    return calls


def diff_commandstats(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: count - before.get(name, 0) for name, count in after.items() if count - before.get(name, 0) > 0
            and name not in ("info",)}


def format_commandstats(stats: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(stats.items(), key=lambda item: -item[1]))


def redis_registry_size(port: int) -> int:
    """Subscriptions listed in every node's registry hash (`herald:subscriptions:*`)."""
    reply = redis_command(port, "EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                          "n = n + redis.call('HLEN', k) end return n", "0", "herald:subscriptions:*")
    return int(reply.strip()[1:])


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


SCENARIOS = {"restart": scenario_restart, "kill": scenario_kill, "churn": scenario_churn,
             "presence": scenario_presence, "presence-cost": scenario_presence_cost}


async def main_async(args) -> int:
    binary = Path(args.binary)
    failures = 0
    # `all`: the checks (presence-cost only measures).
    for name in (["restart", "kill", "churn", "presence"] if args.scenario == "all" else [args.scenario]):
        workdir = Path(tempfile.mkdtemp(prefix=f"herald-chaos-{name}-"))
        begun = time.time()
        try:
            result = await asyncio.wait_for(SCENARIOS[name](binary, workdir, args), args.time_limit)
        except asyncio.TimeoutError:
            result = Result(name, False, [f"did not finish within {args.time_limit:.0f} s"])
        except Exception as error:  # a harness failure is reported like a failed check
            import traceback
            result = Result(name, False, [f"harness error: {error!r}", *traceback.format_exc().splitlines()])
        print(f"{'PASS' if result.ok else 'FAIL'} {result.name} ({time.time() - begun:.1f} s)")
        for line in result.lines:
            print(f"    {line}")
        sys.stdout.flush()
        if result.ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            failures += 1
            print(f"    logs kept in {workdir}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--binary", default=os.environ.get("HERALD_BIN", str(REPO / ".build/debug/herald")))
    parser.add_argument("--quick", action="store_true", help="shorter phases (for CI)")
    parser.add_argument("--selectors", type=int, default=8,
                        help="presence scenarios: topic selectors per subscriber (default 8)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="per scenario, seconds")
    parser.add_argument("--latency-limit", type=float, default=None,
                        help="churn: fail when p99 publish-to-delivery reaches this many seconds "
                             "(default 1.0; with --quick, reported only: a debug build on a shared CI "
                             "machine says nothing reliable about time)")
    args = parser.parse_args()
    if args.latency_limit is None and not args.quick:
        args.latency_limit = 1.0
    if not shutil.which("redis-server"):
        print("redis-server is not installed (apt-get install -y redis-server)", file=sys.stderr)
        return 2
    if not os.access(args.binary, os.X_OK):
        print(f"herald binary not found at {args.binary} (swift build --product herald)", file=sys.stderr)
        return 2
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
