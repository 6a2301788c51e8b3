"""A tiny HTTP/1 client on raw sockets for the hostile-client suite.

Every read has a deadline: nothing here can wait forever. Hostile requests are written byte
for byte (bare LF, obs-fold, NUL, ...), which no ordinary client library would send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import select
import socket
import time
import urllib.parse
from dataclasses import dataclass, field

HUB = "/.well-known/mercure"
FORM = "application/x-www-form-urlencoded"


class NoAnswer(AssertionError):
    """The server did not answer (or did not close) within the deadline."""


def connect(port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def hard_close(sock: socket.socket) -> None:
    """Closes with an RST instead of a FIN (SO_LINGER 0): no TIME_WAIT left on the client side."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    interim: list[int] = field(default_factory=list)  # 1xx statuses seen before this one

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Reader:
    """Reads HTTP/1 responses from a socket, keeping what it read past the current one."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.eof = False

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False at EOF (or reset). Raises NoAnswer at the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoAnswer("no answer before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise NoAnswer("no answer before the deadline") from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def read_head(self, timeout: float = 5.0) -> Response:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise NoAnswer(f"connection closed before a response head; got {self.buffer[:200]!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status_text, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return Response(version, int(status_text), reason, headers)

    def read_response(self, timeout: float = 5.0, head_only_for_streams: bool = True) -> Response:
        """The next final response (1xx interim answers are collected in `.interim`)."""
        deadline = time.monotonic() + timeout
        interim = []
        while True:
            response = self.read_head(max(0.001, deadline - time.monotonic()))
            if 100 <= response.status < 200:
                interim.append(response.status)
                continue
            break
        response.interim = interim
        length = response.header("Content-Length")
        encoding = (response.header("Transfer-Encoding") or "").lower()
        content_type = (response.header("Content-Type") or "").lower()
        if content_type.startswith("text/event-stream") and head_only_for_streams:
            return response
        if "chunked" in encoding:
            response.body = self._read_chunked(deadline)
        elif length is not None:
            response.body = self._read_exactly(int(length), deadline)
        elif response.status in (204, 304):
            response.body = b""
        else:  # close-delimited
            while self._fill(deadline):
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def _read_exactly(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            if not self._fill(deadline):
                raise NoAnswer(f"connection closed after {len(self.buffer)} of {count} body bytes")
        body, self.buffer = self.buffer[:count], self.buffer[count:]
        return body

    def _read_chunked(self, deadline: float) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill(deadline):
                    raise NoAnswer("connection closed inside a chunked body")
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in self.buffer:
                    if not self._fill(deadline):
                        return body
                _, self.buffer = self.buffer.split(b"\r\n", 1)
                return body
            body += self._read_exactly(size + 2, deadline)[:-2]

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Waits for EOF (or a reset), returning whatever else arrived; NoAnswer if still open."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            if len(self.buffer) > 4 * 1024 * 1024:
                raise NoAnswer("more than 4 MiB arrived while waiting for the close")
        rest, self.buffer = self.buffer, b""
        return rest


def is_closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True once the server closed (EOF or reset) within `timeout`; bytes that arrive are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


def exchange(port: int, raw: bytes, timeout: float = 5.0, half_close: bool = False) -> tuple[Response, Reader]:
    """Sends raw bytes on a new connection and reads one response (the socket stays open)."""
    sock = connect(port, timeout)
    sock.sendall(raw)
    if half_close:
        sock.shutdown(socket.SHUT_WR)
    reader = Reader(sock)
    return reader.read_response(timeout), reader


def form(fields: list[tuple[str, str]] | dict) -> bytes:
    items = fields.items() if isinstance(fields, dict) else fields
    return urllib.parse.urlencode(list(items)).encode()


def publish_request(
    body: bytes,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    chunked: bool = False,
    content_type: str = FORM,
) -> bytes:
    """A publish request; `chunked` sends the body in two chunks (the event-loop path, not the
    front handler's byte parser)."""
    target = HUB + (("?" + query) if query else "")
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        half = len(body) // 2
        parts = [body[:half], body[half:]]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts if part) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


# The three ways a publish reaches the hub in `herald serve` over plain HTTP/1:
#  front   - PublishFrontHandler parses the plain bytes (Content-Length, CRLF, no Connection...)
#  loop    - HubChannelHandler after the HTTP codec (here: a chunked body, which the front refuses)
#  router  - Hummingbird's router (here: a `Connection` header, which both hub handlers leave to it)
PATHS = {
    "front": {},
    "loop": {"chunked": True},
    "router": {"headers": [("Connection", "keep-alive")]},
}


def publish_on_path(path: str, body: bytes, query: str = "", headers=None) -> bytes:
    options = dict(PATHS[path])
    options["headers"] = list(options.get("headers", [])) + list(headers or [])
    return publish_request(body, query=query, **options)


def publish(port: int, topic: str | list[str], data: str, timeout: float = 5.0, **fields) -> Response:
    topics = [topic] if isinstance(topic, str) else topic
    items = [("topic", t) for t in topics] + [("data", data)] + [(k, v) for k, v in fields.items()]
    response, reader = exchange(port, publish_request(form(items)), timeout)
    reader.sock.close()
    return response


def get(port: int, target: str, headers: list[tuple[str, str]] | None = None, timeout: float = 5.0) -> Response:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    response, reader = exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout)
    reader.sock.close()
    return response


def subscribe_target(selectors: list[str], **query) -> str:
    items = [("topic", s) for s in selectors] + list(query.items())
    # `{`, `}` and `,` stay raw (as browsers send them); `+` must be %2B or the form decoder reads a space.
    return HUB + "?" + urllib.parse.urlencode(items, safe="{},*/:")


class Stream:
    """An SSE subscription on a raw socket: decodes chunked or close-delimited bodies and
    collects events (`id`, `event`, `data`) and comments."""

    def __init__(
        self,
        port: int,
        selectors: list[str] | None = None,
        target: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        version: str = "HTTP/1.1",
        timeout: float = 5.0,
        rcvbuf: int | None = None,
        expect_status: int | None = 200,
    ):
        self.sock = connect(port, timeout, rcvbuf=rcvbuf)
        target = target or subscribe_target(selectors or ["*"])
        lines = [f"GET {target} {version}", "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in headers or []]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.reader = Reader(self.sock)
        self.response = self.reader.read_response(timeout)
        if expect_status is not None and self.response.status != expect_status:
            body = self.response.body[:300]
            self.sock.close()
            raise AssertionError(f"subscribe answered {self.response.status}, expected {expect_status}: {body!r}")
        self.chunked = "chunked" in (self.response.header("Transfer-Encoding") or "").lower()
        self.raw_body = b""  # the body bytes as they came on the wire (framing included)
        self._decoded = b""  # body bytes without chunk framing, not yet split into lines
        self._framed = b""  # chunked framing not decoded yet
        self._chunk_left = 0  # data bytes left in the current chunk; 0: a size line next; -2: a CRLF next
        self.events: list[dict] = []
        self.comments: list[str] = []
        self._current: dict = {}
        self.closed = False
        self._consume(self.reader.buffer)
        self.reader.buffer = b""

    def _consume(self, data: bytes) -> None:
        self.raw_body += data
        if not self.chunked:
            self._decoded += data
        else:
            self._framed += data
            while not self.closed:
                if self._chunk_left > 0:  # inside a chunk's data
                    take = self._framed[: self._chunk_left]
                    self._framed = self._framed[len(take):]
                    self._chunk_left -= len(take)
                    self._decoded += take
                    if self._chunk_left > 0:
                        break
                    self._chunk_left = -2  # its CRLF comes next
                elif self._chunk_left == -2:  # the CRLF after a chunk's data
                    if len(self._framed) < 2:
                        break
                    self._framed = self._framed[2:]
                    self._chunk_left = 0
                else:  # a size line
                    if b"\r\n" not in self._framed:
                        break
                    size_line, self._framed = self._framed.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.closed = True  # the body's last chunk
                    self._chunk_left = size
        while b"\n" in self._decoded:
            line, self._decoded = self._decoded.split(b"\n", 1)
            self._line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def _line(self, line: str) -> None:
        if line == "":
            if self._current:
                self.events.append(self._current)
            self._current = {}
        elif line.startswith(":"):
            self.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in self._current:
                self._current["data"] += "\n" + value
            else:
                self._current[name] = value

    def poll(self, timeout: float) -> bool:
        """Reads what arrives within `timeout`; False once the stream is closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            data = b""
        if not data:
            self.closed = True
            return False
        self._consume(data)
        return True

    def wait_for(self, predicate, timeout: float = 5.0, what: str = "an event"):
        """Polls until predicate(self) is truthy (returned); fails at the deadline or on close."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoAnswer(f"timed out waiting for {what}; events so far: {self.events[-5:]}")
            if not self.poll(min(remaining, 0.2)) and not predicate(self):
                raise NoAnswer(f"stream closed while waiting for {what}; events so far: {self.events[-5:]}")

    def wait_for_data(self, data: str, timeout: float = 5.0) -> dict:
        return self.wait_for(
            lambda s: next((e for e in s.events if e.get("data") == data), None), timeout, f"data {data!r}"
        )

    def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.poll(min(0.2, deadline - time.monotonic()))
        return self.closed

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ---- JWTs (HS256 by hand; RS256 through openssl in the tests that need it) ----

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_unsigned(header: dict, claims: dict) -> str:
    return b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(
        json.dumps(claims, separators=(",", ":")).encode()
    )


def jwt_hs256(claims: dict, key: bytes, header: dict | None = None) -> str:
    signing_input = jwt_unsigned(header or {"alg": "HS256", "typ": "JWT"}, claims)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)
