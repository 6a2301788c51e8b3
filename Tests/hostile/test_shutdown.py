"""Issue 17: SIGTERM (or SIGINT) ends `herald serve` within --shutdown-timeout + 2 s, with status 0,
whatever the clients do; a healthy stream gets the final comment and is closed."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from rawhttp import FORM, HUB, Reader, Stream, connect, form, publish, publish_request

SHUTDOWN_TIMEOUT = 3  # seconds, given as HERALD_SHUTDOWN_TIMEOUT
MARGIN = 2


class Case:
    """Sets up one kind of client before the signal; `tick` runs every ~0.2 s afterwards."""

    def __init__(self, server):
        self.server = server
        self.sockets: list[socket.socket] = []

    def setup(self) -> None:
        pass

    def tick(self) -> None:
        pass

    def cleanup(self) -> None:
        for sock in self.sockets:
            sock.close()


class Nothing(Case):
    """Control: only the healthy stream."""


class PartialPostHeadVanished(Case):
    def setup(self):
        sock = connect(self.server.port)
        sock.sendall(f"POST {HUB} HTTP/1.1\r\nHost: h\r\n".encode())
        sock.close()


class BareLFPostVanished(Case):
    def setup(self):
        sock = connect(self.server.port)
        sock.sendall(f"POST {HUB} HTTP/1.1\nHost: h\nContent-Type: {FORM}\nContent-Length: 14\n\ntopic=t&data=d".encode())
        sock.close()


class PartialGetHeadHeld(Case):
    """The issue's control: a partial GET head held open."""

    def setup(self):
        sock = connect(self.server.port)
        sock.sendall(f"GET {HUB}?topic=x HTTP/1.1\r\nHost: h\r\n".encode())
        self.sockets.append(sock)


class TricklingHead(Case):
    def setup(self):
        for method in ("POST", "GET"):
            sock = connect(self.server.port)
            sock.sendall(f"{method} {HUB} HTTP/1.1\r\nHost: h\r\nX-Trickle: ".encode())
            sock.setblocking(False)
            self.sockets.append(sock)

    def tick(self):
        for sock in self.sockets:
            try:
                sock.send(b"a")
            except OSError:
                pass


class TricklingBody(TricklingHead):
    def setup(self):
        sock = connect(self.server.port)
        sock.sendall(f"POST {HUB} HTTP/1.1\r\nHost: h\r\nContent-Type: {FORM}\r\nContent-Length: 100000\r\n\r\ndata=".encode())
        sock.setblocking(False)
        self.sockets.append(sock)


class StreamNeverReads(Case):
    """A stream whose client never reads, its socket full: small receive buffer, 2.4 MB published."""

    def setup(self):
        stalled = Stream(self.server.port, ["flood"], rcvbuf=4096)
        self.sockets.append(stalled.sock)
        publisher = connect(self.server.port)
        reader = Reader(publisher)
        payload = "x" * 8192
        for _ in range(300):
            publisher.sendall(publish_request(form({"topic": "flood", "data": payload})))
            assert reader.read_response(10).status == 200
        publisher.close()


CASES = {
    "nothing": (Nothing, signal.SIGTERM),
    "partial_post_head_vanished": (PartialPostHeadVanished, signal.SIGTERM),
    "partial_post_head_vanished_sigint": (PartialPostHeadVanished, signal.SIGINT),
    "bare_lf_post_vanished": (BareLFPostVanished, signal.SIGTERM),
    "partial_get_head_held": (PartialGetHeadHeld, signal.SIGTERM),
    "trickling_head": (TricklingHead, signal.SIGTERM),
    "trickling_body": (TricklingBody, signal.SIGTERM),
    "stream_never_reads_full_socket": (StreamNeverReads, signal.SIGTERM),
}


@pytest.mark.issue17
@pytest.mark.parametrize("case", list(CASES))
def test_issue17_signal_ends_the_process_within_the_bound(herald, case, measure):
    server = herald("--heartbeat", "0", env={"HERALD_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)})
    healthy = Stream(server.port, ["healthy"])
    assert publish(server.port, "healthy", "before").status == 200
    healthy.wait_for_data("before")
    comments_before = len(healthy.comments)
    kind, signum = CASES[case]
    clients = kind(server)
    try:
        clients.setup()
        # The signal must find the clients' bytes read (a head not read yet is no partial head).
        assert server.wait_input_read(5), f"the server did not read its clients' bytes: {server._sockets()}"
        bound = SHUTDOWN_TIMEOUT + MARGIN
        started = time.monotonic()
        server.process.send_signal(signum)
        while time.monotonic() - started < bound and server.process.poll() is None:
            healthy.poll(0.2)
            clients.tick()
        exited = server.process.poll() is not None
        took = time.monotonic() - started
        healthy.wait_closed(0.5)  # what was already sent before the exit
        measure(f"{case}: {'exited' if exited else 'still running'} {took:.1f} s after {signum.name}")
        assert exited, f"still running {bound} s after {signum.name} (--shutdown-timeout {SHUTDOWN_TIMEOUT})"
        assert server.process.returncode == 0, f"exit status {server.process.returncode}:\n{server.log_tail()}"
        assert len(healthy.comments) > comments_before, "the healthy stream got no final comment"
        assert healthy.closed, "the healthy stream was not closed"
    finally:
        clients.cleanup()
        healthy.close()
        server.kill()  # a server that ignored the signal is ended here, not after another 10 s
