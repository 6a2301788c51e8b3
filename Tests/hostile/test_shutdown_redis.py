"""Issue 17 with Redis: SIGTERM ends `herald serve --redis` within --shutdown-timeout + 2 s whatever
Redis does (killed, frozen), publishes waiting on Redis are answered 503 by the server itself
within that bound, and the node's registry entries leave Redis at shutdown, so the other nodes'
subscriptions API stops listing its subscribers at once (not when the hash expires, 30 s later).

Each test starts its own redis-server on a free loopback port and stops it by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from rawhttp import HUB, Reader, Stream, connect, form, get, jwt_hs256, publish, publish_request

SHUTDOWN_TIMEOUT = 3  # seconds (HERALD_SHUTDOWN_TIMEOUT); Redis gets half of it to answer
MARGIN = 2
KEY = "redis-shutdown-test-key-of-at-least-32-bytes"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self):
        if shutil.which("redis-server") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server missing (CI=true)", pytrace=False)
            pytest.skip("redis-server not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="herald-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def send(self, *sig: int) -> None:
        for one in sig:
            os.kill(self.process.pid, one)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis():
    server = RedisServer()
    yield server
    server.stop()


def start_node(herald, redis: RedisServer):
    return herald("--heartbeat", "0", "--chat", "false", "--redis", redis.url, "--subscriber-key", KEY,
                  env={"HERALD_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)})


def healthy_stream(node) -> Stream:
    stream = Stream(node.port, ["healthy"])
    assert publish(node.port, "healthy", "before").status == 200
    stream.wait_for_data("before")
    return stream


def terminate_within_bound(node, healthy: Stream, measure, what: str, tick=lambda: None) -> float:
    """SIGTERM; the process must exit 0 within the bound, the healthy stream get the final comment."""
    comments = len(healthy.comments)
    bound = SHUTDOWN_TIMEOUT + MARGIN
    started = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    while time.monotonic() - started < bound and node.process.poll() is None:
        healthy.poll(0.1)
        tick()
    took = time.monotonic() - started
    exited = node.process.poll() is not None
    healthy.wait_closed(0.5)
    measure(f"{what}: {'exited' if exited else 'still running'} {took:.1f} s after SIGTERM")
    assert exited, f"still running {bound} s after SIGTERM (--shutdown-timeout {SHUTDOWN_TIMEOUT}):\n{node.log_tail()}"
    assert node.process.returncode == 0, f"exit status {node.process.returncode}:\n{node.log_tail()}"
    assert len(healthy.comments) > comments, "the healthy stream got no final comment"
    assert healthy.closed, "the healthy stream was not closed"
    return took


@pytest.mark.issue17
def test_issue17_redis_killed_sigterm_ends_within_the_bound(herald, redis, measure):
    node = start_node(herald, redis)
    healthy = healthy_stream(node)
    try:
        redis.send(signal.SIGKILL)
        redis.process.wait(10)
        # Redis is gone: a publish is refused at once, and the stream stays up.
        assert publish(node.port, "healthy", "lost").status == 503
        assert healthy.poll(0.2)
        terminate_within_bound(node, healthy, measure, "redis killed")
    finally:
        healthy.close()


@pytest.mark.issue17
def test_issue17_redis_frozen_pending_publishes_get_503_within_the_bound(herald, redis, measure):
    node = start_node(herald, redis)
    healthy = healthy_stream(node)
    pending: list[socket.socket] = []
    try:
        redis.send(signal.SIGSTOP)  # connected, but never answers: publishes wait on it
        for index in range(3):
            sock = connect(node.port, timeout=SHUTDOWN_TIMEOUT + MARGIN + 1)
            sock.sendall(publish_request(form({"topic": "healthy", "data": f"pending {index}", "id": f"p{index}"})))
            pending.append(sock)
        sent = time.monotonic()
        assert node.wait_input_read(5), "the server did not read the publishes"
        answers: list[tuple[int, float]] = []

        def tick():
            pass

        took = terminate_within_bound(node, healthy, measure, "redis frozen (SIGSTOP), 3 publishes pending", tick)
        for sock in pending:
            response = Reader(sock).read_response(timeout=1)
            answers.append((response.status, time.monotonic() - sent))
            assert response.status == 503, f"a pending publish got {response.status}: {response.body[:200]!r}"
            assert response.body.strip(), "503 without a reason"
        # Answered by the node's shutdown (Redis gets half the grace period), not by the 5 s
        # command timeout, and before the process's own bound.
        measure(f"pending publishes answered {[status for status, _ in answers]}; node exited {took:.1f} s after SIGTERM")
        assert took < SHUTDOWN_TIMEOUT + 1
    finally:
        for sock in pending:
            sock.close()
        healthy.close()


def listed_topics(node) -> list[str]:
    token = jwt_hs256({"mercure": {"subscribe": ["/.well-known/mercure/subscriptions{/topic}{/subscriber}"]}},
                      KEY.encode())
    response = get(node.port, HUB + "/subscriptions", headers=[("Authorization", f"Bearer {token}")])
    assert response.status == 200, response.body[:200]
    return [entry.get("topic") for entry in json.loads(response.body).get("subscriptions", [])]


@pytest.mark.issue17
def test_issue17_a_stopped_nodes_subscribers_leave_the_shared_registry(herald, redis, measure):
    leaving = start_node(herald, redis)
    staying = start_node(herald, redis)
    subscriber = Stream(leaving.port, ["on-the-leaving-node"])
    healthy = healthy_stream(leaving)
    try:
        deadline = time.monotonic() + 10
        while "on-the-leaving-node" not in listed_topics(staying):
            assert time.monotonic() < deadline, f"the other node never listed the subscriber: {listed_topics(staying)}"
            time.sleep(0.1)
        terminate_within_bound(leaving, healthy, measure, "node with subscribers, registry in Redis")
        # The hash is gone when the process has exited: no wait for its 30 s expiry.
        topics = listed_topics(staying)
        measure(f"the other node lists after the exit: {topics}")
        assert "on-the-leaving-node" not in topics and "healthy" not in topics, topics
    finally:
        subscriber.close()
        healthy.close()
