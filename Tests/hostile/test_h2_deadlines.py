"""HTTP/2 over TLS (`herald serve --tls-cert`) against clients that start a connection and never
finish it: no TLS handshake, no HTTP/2 preface, a HEADERS frame without END_HEADERS, a request
body that never ends, or a connection left idle with no stream. Each must be closed within the
timeouts the server was given (--head-timeout, --body-timeout, --idle-timeout: the rules of plain
HTTP/1 connections), leaving no descriptor behind; a connection that holds an open event stream
is never closed for being idle. The client is rawh2.py, which sends frames exactly as written."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.request

import pytest

from rawh2 import H2
from rawhttp import is_closed_by_peer

HUB = "/.well-known/mercure"
SUBSCRIBE = HUB + "?topic=h2-deadlines"
HEAD, BODY, IDLE = 2, 3, 5  # seconds; distinct, so a closing time tells which rule closed it
MARGIN = 3.0  # the deadline timer ticks every min(timeouts) at most, plus a loaded machine
EARLY = 0.5  # the server's clock starts a little before the client's


@pytest.fixture
def timed(herald, certificate):
    """A TLS server with short timeouts and a descriptor baseline taken after one h2 connection
    and one HTTP/1.1-over-TLS request were served (lazy set-up done)."""
    cert, key = certificate
    server = herald("--heartbeat", "0", "--tls-cert", cert, "--tls-key", key,
                    "--head-timeout", HEAD, "--body-timeout", BODY, "--idle-timeout", IDLE)
    warm = H2(server.port)
    sid = warm.request("GET", "/healthz")
    assert stream_ended(warm, sid, 5), "the warm-up request over h2 was not answered"
    warm.close()
    https_get(server, "/healthz")
    server.baseline = server.settled_fds()
    return server


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def https_get(server, path: str) -> bytes:
    with urllib.request.urlopen(f"https://127.0.0.1:{server.port}{path}", context=tls_context(), timeout=10) as answer:
        return answer.read()


def https_publish(server, topic: str, data: str) -> int:
    body = f"topic={topic}&data={data}".encode()
    request = urllib.request.Request(f"https://127.0.0.1:{server.port}{HUB}", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, context=tls_context(), timeout=10) as answer:
        return answer.status


def subscribers(server) -> float:
    for line in https_get(server, "/metrics").decode().splitlines():
        if line.startswith("herald_subscribers ") or line.startswith("herald_subscribers{"):
            return float(line.split()[-1])
    return 0.0


def stream_ended(client: H2, sid: int, seconds: float) -> bool:
    """Whether the server ended stream `sid` (END_STREAM or RST_STREAM) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for kind, flags, stream, _ in client.read_frames(0.2):
            if stream == sid and (kind == 3 or (kind in (0, 1) and flags & 1)):
                return True
            if kind == "closed":
                return False
    return False


def wait_reset(client: H2, sid: int, seconds: float) -> float | None:
    """Seconds until the server reset stream `sid`; None if it did not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for kind, _, stream, _ in client.read_frames(0.2):
            if kind == 3 and stream == sid:
                return time.monotonic() - started
            if kind == "closed":
                return None
    return None


def held_fds(server) -> int:
    """The server's descriptors once it has accepted the connection just made."""
    deadline = time.monotonic() + 2
    while server.fds() <= server.baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.fds()


def assert_no_fd_left(server, held: int, measure) -> None:
    """`held`: the server's descriptors while the hostile connection was open."""
    after = server.wait_fds_at_most(server.baseline, timeout=5)
    measure(f"descriptors: {server.baseline} before, {held} while held, {after} after")
    assert after <= server.baseline, f"descriptors {server.baseline} -> {after} after the connection was closed"


@pytest.mark.parametrize("sent", ["nothing", "part_of_a_client_hello"])
def test_h2_tls_handshake_never_finished_is_closed_after_head_timeout(timed, sent, measure):
    sock = socket.create_connection(("127.0.0.1", timed.port), timeout=10)
    started = time.monotonic()
    if sent == "part_of_a_client_hello":
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a record of 512 bytes, 6 of them sent
    held = held_fds(timed)
    closed = is_closed_by_peer(sock, HEAD + MARGIN)
    elapsed = time.monotonic() - started
    sock.close()
    measure(f"{sent}: closed={closed} after {elapsed:.2f} s (--head-timeout {HEAD})")
    assert closed, f"a connection that never finished its TLS handshake was open {elapsed:.1f} s later"
    assert elapsed >= HEAD - EARLY, f"closed after {elapsed:.2f} s, before --head-timeout {HEAD}"
    assert_no_fd_left(timed, held, measure)


@pytest.mark.parametrize("sent", ["nothing", "half_a_preface"])
def test_h2_preface_never_sent_is_closed_after_head_timeout(timed, sent, measure):
    started = time.monotonic()
    client = H2(timed.port, preface=False)
    if sent == "half_a_preface":
        client.send(H2.PREFACE[:12])
    held = held_fds(timed)
    elapsed = client.wait_closed(HEAD + MARGIN)
    client.close()
    measure(f"{sent}: closed after {elapsed} s (--head-timeout {HEAD})")
    assert elapsed is not None, "an h2 connection that never sent its preface was not closed"
    assert time.monotonic() - started >= HEAD - EARLY, f"closed after {elapsed:.2f} s, before --head-timeout {HEAD}"
    assert_no_fd_left(timed, held, measure)


def test_h2_headers_without_end_headers_is_closed_after_head_timeout(timed, measure):
    started = time.monotonic()
    client = H2(timed.port)
    client.read_frames(0.5)  # the server's SETTINGS, acked
    client.acks = False  # nothing but a CONTINUATION may follow, and none will
    client.request("GET", SUBSCRIBE, end_headers=False)
    held = held_fds(timed)
    elapsed = client.wait_closed(HEAD + MARGIN)
    client.close()
    measure(f"closed after {elapsed} s (--head-timeout {HEAD})")
    assert elapsed is not None, "an h2 connection whose first HEADERS never ended was not closed"
    assert time.monotonic() - started >= HEAD - EARLY, f"closed after {elapsed:.2f} s, before --head-timeout {HEAD}"
    assert_no_fd_left(timed, held, measure)


@pytest.mark.parametrize("request_kind", ["publish_body_stalls", "subscribe_never_ends"])
def test_h2_unfinished_request_is_reset_after_body_timeout_then_closed_idle(timed, request_kind, measure):
    """The stream is reset (the connection's other streams are not the stalled one's business);
    the connection, then without streams, is idle and closed after --idle-timeout."""
    client = H2(timed.port)
    if request_kind == "publish_body_stalls":
        sid = client.request("POST", HUB, end_stream=False,
                             extra=[("content-type", "application/x-www-form-urlencoded"), ("content-length", "100")])
        client.data(sid, b"topic=t&data=")
    else:
        sid = client.request("GET", SUBSCRIBE, end_stream=False)
    held = held_fds(timed)
    reset = wait_reset(client, sid, BODY + MARGIN)
    closed = client.wait_closed(IDLE + MARGIN) if reset is not None else None
    client.close()
    measure(f"{request_kind}: stream reset after {reset} s (--body-timeout {BODY}), "
            f"connection closed {closed} s later (--idle-timeout {IDLE})")
    assert reset is not None, f"a stream whose request never ended was not reset {BODY + MARGIN} s later"
    assert reset >= BODY - EARLY, f"reset after {reset:.2f} s, before --body-timeout {BODY}"
    assert closed is not None, "the connection, idle once the stream was reset, was not closed"
    assert closed >= IDLE - EARLY, f"closed {closed:.2f} s after the reset, before --idle-timeout {IDLE}"
    assert_no_fd_left(timed, held, measure)


def test_h2_idle_connection_without_streams_is_closed_after_idle_timeout(timed, measure):
    client = H2(timed.port)
    sid = client.request("POST", HUB, end_stream=False,
                         extra=[("content-type", "application/x-www-form-urlencoded")])
    client.data(sid, b"topic=idle&data=x", end=True)
    assert stream_ended(client, sid, 5), "the publish was not answered"
    held = held_fds(timed)
    elapsed = client.wait_closed(IDLE + MARGIN)
    client.close()
    measure(f"closed {elapsed} s after its last stream ended (--idle-timeout {IDLE})")
    assert elapsed is not None, f"an h2 connection idle for {IDLE + MARGIN} s was not closed"
    assert elapsed >= IDLE - EARLY, f"closed after {elapsed:.2f} s, before --idle-timeout {IDLE}"
    assert_no_fd_left(timed, held, measure)


def test_h2_connection_with_an_open_stream_is_never_idle(timed, measure):
    client = H2(timed.port)
    client.get(SUBSCRIBE)
    deadline = time.monotonic() + 10
    while subscribers(timed) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert subscribers(timed) == 1
    held = client.wait_closed(IDLE + HEAD + BODY + MARGIN)
    assert held is None, f"a connection with an open stream was closed after {held:.2f} s"
    assert https_publish(timed, "h2-deadlines", "still-here") == 200
    deadline = time.monotonic() + 5
    got = b""
    while b"still-here" not in got and time.monotonic() < deadline:
        got += b"".join(payload for kind, _, _, payload in client.read_frames(0.2) if kind == 0)
    client.close()
    measure(f"open for {IDLE + HEAD + BODY + MARGIN:.0f} s with a stream, then delivered: {b'still-here' in got}")
    assert b"still-here" in got, "the stream held past every timeout no longer delivers"


# HTTP/1.1 over TLS (ALPN http/1.1): the same connection rules as plain HTTP/1, and hub requests
# answered on the event loop as without TLS.

def tls11(port: int) -> ssl.SSLSocket:
    context = tls_context()
    context.set_alpn_protocols(["http/1.1"])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "http/1.1"
    return sock


def tls_closed_by_peer(sock: ssl.SSLSocket, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ssl.SSLError, OSError):
            return True
    return False


def read_until(sock: ssl.SSLSocket, marker: bytes, timeout: float) -> bytes:
    got, deadline = b"", time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    return got


def fast_path_publishes(server) -> float:
    for line in https_get(server, "/metrics").decode().splitlines():
        if line.startswith("herald_fast_path_publishes_total"):
            return float(line.split()[-1])
    return 0.0


def test_tls_http11_trickling_head_is_closed_after_head_timeout(timed, measure):
    sock = tls11(timed.port)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n")  # the head never ends
    held = held_fds(timed)
    closed = tls_closed_by_peer(sock, HEAD + MARGIN)
    elapsed = time.monotonic() - started
    sock.close()
    measure(f"closed={closed} after {elapsed:.2f} s (--head-timeout {HEAD})")
    assert closed, "an HTTP/1.1-over-TLS connection trickling its head was not closed"
    assert elapsed >= HEAD - EARLY - 0.5, f"closed after {elapsed:.2f} s, before --head-timeout {HEAD}"
    assert_no_fd_left(timed, held, measure)


def test_tls_http11_idle_keep_alive_is_closed_after_idle_timeout_and_publishes_take_the_fast_path(timed, measure):
    before = fast_path_publishes(timed)
    sock = tls11(timed.port)
    body = b"topic=tls11&data=x"
    sock.sendall(b"POST " + HUB.encode() + b" HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    answer = read_until(sock, b"urn:uuid:", 5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    held = held_fds(timed)
    started = time.monotonic()
    closed = tls_closed_by_peer(sock, IDLE + MARGIN)
    elapsed = time.monotonic() - started
    sock.close()
    fast = fast_path_publishes(timed) - before
    measure(f"idle keep-alive closed={closed} after {elapsed:.2f} s (--idle-timeout {IDLE}); publishes on the event loop: {fast:.0f}")
    assert closed, "an idle HTTP/1.1-over-TLS keep-alive connection was not closed"
    assert elapsed >= IDLE - EARLY, f"closed after {elapsed:.2f} s, before --idle-timeout {IDLE}"
    assert fast == 1, "the publish over HTTP/1.1 with TLS was not answered on the event loop"
    assert_no_fd_left(timed, held, measure)


def test_tls_http11_stream_delivers_through_tls(timed):
    sock = tls11(timed.port)
    sock.sendall(f"GET {SUBSCRIBE} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    head = read_until(sock, b"\r\n\r\n", 5)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    deadline = time.monotonic() + 10
    while subscribers(timed) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert https_publish(timed, "h2-deadlines", "over-tls11") == 200
    got = read_until(sock, b"data: over-tls11", 5)
    sock.close()
    assert b"data: over-tls11" in got, "the event did not arrive on the HTTP/1.1-over-TLS stream"
