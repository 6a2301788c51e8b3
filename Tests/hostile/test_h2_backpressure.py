"""Publisher backpressure over HTTP/2 (TLS): a publisher that sends POST streams as fast as it can
while the fan-out to subscribers is slower must be held back (the server stops reading its
connection until the fan-out catches up, as it does for HTTP/1 publishers), so the work queued in
the hub stays bounded; and nothing is lost: every publish is answered 200 and every subscriber
gets every update, in order. The work queued is read from the server: updates answered times
subscribers, minus herald_deliveries_total (deliveries the fan-out has made).

On a loaded machine with a debug build the publisher here is rarely faster than the fan-out for
long, so this run also passes without the hold-back; the deterministic check of the mechanism is
HTTP2FastPathTests.anHTTP2PublisherIsHeldBackWhileTheFanOutLags (the hub's shard stopped: an h2
publisher gets no answer until it runs again). This one is the end-to-end bound and loss check."""

from __future__ import annotations

import re
import select
import socket
import ssl
import struct
import threading
import time
import urllib.request

import pytest

from rawh2 import H2, hpack

HUB = "/.well-known/mercure"
TOPIC = "h2-bp"
SUBSCRIBERS = 40
PUBLISHES = 1500
BACKLOG = 500  # --max-fan-out-backlog, in deliveries
PADDING = "x" * 250
BIG_WINDOW = 0x7FFFFFFF
IN_FLIGHT = 64  # POST streams open at once (the server allows 100)


@pytest.fixture
def tls_server(herald, certificate):
    cert, key = certificate
    return herald("--heartbeat", "0", "--tls-cert", cert, "--tls-key", key, "--history-size", "64",
                  "--max-fan-out-backlog", BACKLOG)


def metrics(server) -> dict[str, float]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/metrics", context=context, timeout=10) as answer:
        found = {}
        for line in answer.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found


class Connection:
    """An h2 connection with flow-control windows the server never runs out of, read (and
    written) by one thread once started: it sends `outgoing` as the socket takes it, reads every
    frame (acking SETTINGS and PING), keeps DATA per stream and counts the answers' HEADERS."""

    def __init__(self, port: int):
        self.h2 = H2(port)
        self.h2.send(H2.frame(4, 0, 0, struct.pack(">HI", 4, BIG_WINDOW))
                     + H2.frame(8, 0, 0, struct.pack(">I", BIG_WINDOW - 65535)))
        self.data: dict[int, list[bytes]] = {}
        self.ok_answers = 0
        self.answers = 0
        self.closed = False
        self.stop = False
        self.outgoing = b""
        self.ended = 0  # streams of ours the server ended (END_STREAM or RST_STREAM)
        self.publishes = 0  # POSTs queued for sending so far
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, publishes: int = 0) -> None:
        """Starts the thread; it sends `publishes` POSTs, as many at a time as the server allows
        streams (what any HTTP/2 client does: a stream past the limit is refused)."""
        self.to_publish = publishes
        self.post_head = hpack([(":method", "POST"), (":scheme", "https"), (":path", HUB),
                                (":authority", f"127.0.0.1:{self.h2.port}"),
                                ("content-type", "application/x-www-form-urlencoded")])
        self.h2.s.setblocking(False)
        self.thread.start()

    def _more_publishes(self) -> None:
        frames = []
        while self.publishes < self.to_publish and self.publishes - self.ended < IN_FLIGHT:
            sid = self.h2.next_id
            self.h2.next_id += 2
            frames.append(H2.frame(1, 0x4, sid, self.post_head))
            frames.append(H2.frame(0, 0x1, sid, f"topic={TOPIC}&data={self.publishes:06d}{PADDING}".encode()))
            self.publishes += 1
        if frames:
            self.outgoing += b"".join(frames)

    def _run(self) -> None:
        sock, buf, sent = self.h2.s, b"", 0
        while not self.stop:
            self._more_publishes()
            if sent > 1 << 20:
                self.outgoing, sent = self.outgoing[sent:], 0
            want_write = sent < len(self.outgoing)
            readable, writable, _ = select.select([sock], [sock] if want_write else [], [], 0.1)
            if writable:
                try:
                    sent += sock.send(self.outgoing[sent:sent + 65536])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    self.closed = True
                    return
            if not readable and not sock.pending():
                continue
            try:
                chunk = sock.recv(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            buf += chunk
            offset, acks = 0, b""
            while len(buf) - offset >= 9:
                length = int.from_bytes(buf[offset:offset + 3], "big")
                if len(buf) - offset < 9 + length:
                    break
                kind, flags = buf[offset + 3], buf[offset + 4]
                sid = int.from_bytes(buf[offset + 5:offset + 9], "big") & 0x7FFFFFFF
                payload = buf[offset + 9:offset + 9 + length]
                offset += 9 + length
                if kind == 0:
                    self.data.setdefault(sid, []).append(payload)
                elif kind == 1 and sid % 2 == 1:
                    self.answers += 1
                    if payload[:1] == b"\x88":  # :status 200, indexed (HPACK static table)
                        self.ok_answers += 1
                if kind in (0, 1) and flags & 1 or kind == 3:
                    self.ended += sid % 2  # (the server's own stream ids are even)
                if kind == 4 and not flags & 1:
                    acks += H2.frame(4, 1, 0, b"")
                elif kind == 6 and not flags & 1:
                    acks += H2.frame(6, 1, 0, payload)
            buf = buf[offset:]
            if acks:
                self.outgoing += acks  # after what is left (a send may have stopped mid-frame)

    def received(self, sid: int) -> bytes:
        return b"".join(self.data.get(sid, []))

    def close(self) -> None:
        self.stop = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.h2.close()


def test_h2_max_rate_publisher_is_held_back_while_fan_out_lags_and_nothing_is_lost(tls_server, measure):
    server = tls_server
    subscriber = Connection(server.port)
    streams = []
    path = f"{HUB}?topic={TOPIC}"
    for _ in range(SUBSCRIBERS):
        streams.append(subscriber.h2.next_id)
        subscriber.h2.next_id += 2
    subscriber.h2.send(b"".join(H2.frame(1, 0x5, sid, hpack([(":method", "GET"), (":scheme", "https"), (":path", path),
                                                              (":authority", f"127.0.0.1:{server.port}")]))
                             for sid in streams))
    subscriber.start()
    deadline = time.monotonic() + 10
    while metrics(server).get("herald_subscribers", 0) != SUBSCRIBERS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metrics(server).get("herald_subscribers", 0) == SUBSCRIBERS
    base_deliveries = metrics(server).get("herald_deliveries_total", 0)
    rss_before = server.rss_bytes()

    publisher = Connection(server.port)
    started = time.monotonic()
    publisher.start(PUBLISHES)

    most_queued, rss_peak, backlogged_seen = 0.0, rss_before, False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not publisher.closed:
        answered = publisher.answers
        sample = metrics(server)
        queued = answered * SUBSCRIBERS - (sample.get("herald_deliveries_total", 0) - base_deliveries)
        most_queued = max(most_queued, queued)
        backlogged_seen |= sample.get("herald_fanout_backlogged", 0) == 1
        rss_peak = max(rss_peak, server.rss_bytes())
        if answered == PUBLISHES and all(
            len(re.findall(rb"data: \d{6}", subscriber.received(sid))) == PUBLISHES for sid in streams[:1]
        ):
            break
        time.sleep(0.05)
    took = time.monotonic() - started
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(
        subscriber.received(sid).count(b"data: ") >= PUBLISHES for sid in streams
    ):
        time.sleep(0.1)
    publisher.close()
    subscriber.close()

    lost = {}
    expected = [f"{index:06d}".encode() for index in range(PUBLISHES)]
    for sid in streams:
        got = re.findall(rb"data: (\d{6})", subscriber.received(sid))
        if got != expected:
            lost[sid] = len(got)
    measure(f"{PUBLISHES} publishes x {SUBSCRIBERS} subscribers in {took:.1f} s: answered {publisher.answers} "
            f"({publisher.ok_answers} x 200), most deliveries queued {most_queued:.0f} (bound {BACKLOG}), "
            f"backlogged seen {backlogged_seen}, RSS {rss_before / 2**20:.1f} -> peak {rss_peak / 2**20:.1f} MiB, "
            f"subscribers short of every update: {len(lost)}")
    assert publisher.ok_answers == PUBLISHES, f"{publisher.ok_answers} of {PUBLISHES} publishes answered 200"
    assert not lost, f"subscribers missing updates or out of order (stream: events received): {lost}"
    # Held back once over the bound; what a publisher may add past it is what the server had
    # already read when it stopped reading (a read of 64 KiB holds about 180 of these publishes).
    assert most_queued <= BACKLOG + 300 * SUBSCRIBERS, (
        f"{most_queued:.0f} deliveries queued: the publisher was not held back (bound {BACKLOG})"
    )
