"""Herald behind Debian's nginx, configured with the file we document (deploy/nginx/herald.conf),
changed only where the file says CHANGE (and, for the heartbeat case, the read timeout shortened
in proportion). What a user of that configuration must get:

- an event reaches a subscriber through nginx as soon as it is published (no proxy buffering);
- heartbeats keep a quiet stream open past nginx's `proxy_read_timeout` (and without them nginx
  does cut it: the control case shows the test can fail);
- a client that reconnects through nginx with its last event id resumes with exactly what it missed;
- the chat page works in Chromium through nginx;
- a hub without a publisher key refuses publishes that come through the proxy, while a local
  backend publishing directly is still accepted.

Run from the repository root:  python3 -m pytest Tests/e2e -q
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import REPO_ROOT, HeraldServer, _free_port, _prerequisite_missing
from helpers import ChatPage, publish_form, unique_room

DEPLOYED_CONFIG = REPO_ROOT / "deploy" / "nginx" / "herald.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WAIT = 10.0


class Nginx:
    """nginx in the foreground with its own prefix folder, serving the deployed configuration."""

    def __init__(self, upstream_port: int, read_timeout: str | None = None):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="herald-nginx-"))
        self.workdir.chmod(0o755)  # nginx's workers drop root and must reach their temp folders
        site = DEPLOYED_CONFIG.read_text()
        site, upstreams = re.subn(r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{upstream_port};", site)
        site, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        assert upstreams == 1 and listens == 1, "deploy/nginx/herald.conf no longer has the lines the test changes"
        if read_timeout is not None:
            site, changed = re.subn(r"proxy_read_timeout \S+;", f"proxy_read_timeout {read_timeout};", site)
            assert changed == 1
        (self.workdir / "herald.conf").write_text(site)
        temp_paths = "\n".join(
            f"    {kind}_temp_path {self.workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.workdir / "nginx.conf").write_text(
            f"""worker_processes 1;
daemon off;
pid {self.workdir / 'nginx.pid'};
error_log {self.workdir / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
{temp_paths}
    include {self.workdir / 'herald.conf'};
}}
"""
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nginx exited with {self.process.returncode}:\n{self.log()}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"nginx did not listen within {WAIT}s:\n{self.log()}", pytrace=False)

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts) or "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Stream:
    """A raw SSE subscription (one socket), so that the test sees exactly when bytes arrive and
    whether the connection it opened is still the one delivering."""

    def __init__(self, base_url: str, topic: str, last_event_id: str | None = None):
        parsed = urllib.parse.urlsplit(base_url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=WAIT)
        headers = f"GET /.well-known/mercure?topic={urllib.parse.quote(topic, safe='')} HTTP/1.1\r\n"
        headers += f"Host: {parsed.hostname}:{parsed.port}\r\nAccept: text/event-stream\r\n"
        if last_event_id is not None:
            headers += f"Last-Event-ID: {last_event_id}\r\n"
        self.sock.sendall((headers + "\r\n").encode())
        self.buffer = b""
        self.closed = False
        head = self.read_until(b"\r\n\r\n")
        self.status_line = head.split(b"\r\n", 1)[0].decode()
        self.head = head.decode(errors="replace")

    def read_until(self, marker: bytes, timeout: float = WAIT) -> bytes:
        """Everything up to and including `marker` (raises on timeout or close)."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {marker!r} within {timeout}s; have {self.buffer[-300:]!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise ConnectionError(f"closed before {marker!r}; have {self.buffer[-300:]!r}")
            self.buffer += chunk
        index = self.buffer.index(marker) + len(marker)
        taken, self.buffer = self.buffer[:index], self.buffer[index:]
        return taken

    def wait_closed(self, timeout: float) -> bool:
        """Whether the peer closes the connection within `timeout` (bytes read meanwhile are kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                self.closed = True
                return True
            self.buffer += chunk
        return False

    def data_lines(self, count: int, timeout: float = WAIT) -> list[str]:
        """The next `count` `data:` payloads (skipping comments, retry and heartbeats)."""
        found: list[str] = []
        while len(found) < count:
            block = self.read_until(b"\n\n", timeout).decode()
            found += [line[len("data: "):] for line in block.splitlines() if line.startswith("data: ")]
        return found

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *_) -> None:
        self.close()


@pytest.fixture
def proxied(herald_binary):
    """(herald, nginx in front of it); herald with a 1 s heartbeat and nginx with the deployed file."""
    if not os.access(NGINX, os.X_OK):
        _prerequisite_missing("nginx not found; install it with `apt-get install -y nginx-light`")
    started: list = []

    def start(heartbeat: int = 1, read_timeout: str | None = None):
        hub = HeraldServer(herald_binary, _free_port(), Path(tempfile.mkdtemp(prefix="herald-proxied-")))
        hub.env["HERALD_HEARTBEAT"] = str(heartbeat)
        hub.start()
        started.append(hub)
        proxy = Nginx(hub.port, read_timeout).start()
        started.append(proxy)
        return hub, proxy

    yield start
    for thing in reversed(started):
        thing.stop()


def test_an_event_passes_nginx_as_soon_as_it_is_published(proxied):
    hub, proxy = proxied()
    topic = f"https://example.com/proxy/{uuid.uuid4()}"
    with Stream(proxy.base_url, topic) as stream:
        assert stream.status_line.endswith("200 OK"), stream.head
        assert "text/event-stream" in stream.head
        # One small event: a buffering proxy would hold it (it fills no buffer and nothing follows).
        publish_form(hub.base_url, topic, "first and only")
        assert stream.data_lines(1) == ["first and only"]


def test_heartbeats_keep_a_quiet_stream_open_past_the_proxy_read_timeout(proxied):
    # nginx's read timeout shortened to 2 s (deployed: 60 s against a 15 s heartbeat); Herald's
    # heartbeat 1 s. The same proportions as deployed, in a few seconds.
    hub, proxy = proxied(heartbeat=1, read_timeout="2s")
    topic = f"https://example.com/quiet/{uuid.uuid4()}"
    with Stream(proxy.base_url, topic) as stream:
        # Three read timeouts with no event: the stream must stay open.
        assert not stream.wait_closed(6.0), "nginx closed a stream that had heartbeats"
        publish_form(hub.base_url, topic, "after the quiet")
        assert stream.data_lines(1) == ["after the quiet"]


def test_without_heartbeats_nginx_cuts_the_quiet_stream(proxied):
    """The control: the previous test can fail. With heartbeats off, nginx ends the stream once
    its read timeout passes."""
    _, proxy = proxied(heartbeat=0, read_timeout="2s")
    with Stream(proxy.base_url, f"https://example.com/unheard/{uuid.uuid4()}") as stream:
        assert stream.wait_closed(8.0), "nginx kept a silent stream open past its read timeout"


def test_a_client_reconnecting_through_nginx_resumes_with_what_it_missed(proxied):
    hub, proxy = proxied()
    topic = f"https://example.com/resume/{uuid.uuid4()}"
    with Stream(proxy.base_url, topic) as first:
        seen_id = publish_form(hub.base_url, topic, "one")
        assert first.data_lines(1) == ["one"]
    missed = ["two", "three"]
    for text in missed:
        publish_form(hub.base_url, topic, text)
    with Stream(proxy.base_url, topic, last_event_id=seen_id) as again:
        assert again.data_lines(2) == missed
        publish_form(hub.base_url, topic, "four")
        assert again.data_lines(1) == ["four"]


def test_keyless_publishing_through_nginx_is_refused_and_local_publishing_is_not(proxied):
    hub, proxy = proxied()
    topic = f"https://example.com/keyless/{uuid.uuid4()}"
    form = urllib.parse.urlencode({"topic": topic, "data": "from outside"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(proxy.base_url + "/.well-known/mercure", data=form), timeout=WAIT)
    assert refused.value.code == 403
    assert "proxy" in refused.value.read().decode()
    assert publish_form(hub.base_url, topic, "from the backend")  # an id: accepted


def test_the_chat_works_in_chromium_through_nginx(proxied, browser_factory):
    _, proxy = proxied()
    room = unique_room("proxy")
    alice = ChatPage(browser_factory(), proxy.base_url).join("alice", room)
    bob = ChatPage(browser_factory(), proxy.base_url).join("bob", room)
    alice.send("hello through nginx")
    bob.wait_message("hello through nginx", name="alice")
