"""The flags agreed for issues 11 and 17 (FLAGS.md): the other tests set them through their
HERALD_* variables, so this checks that `herald serve` also takes them as flags."""

from __future__ import annotations

import pytest

from rawhttp import get, subscribe_target, exchange

AGREED = [
    ("--max-connections", "100"),
    ("--head-timeout", "2"),
    ("--body-timeout", "2"),
    ("--idle-timeout", "5"),
    ("--shutdown-timeout", "3"),
    ("--max-selectors", "3"),
    ("--max-topic-length", "100"),
    ("--subscription-events", "false"),
]


@pytest.mark.issue11
def test_agreed_flags_are_accepted_and_applied(herald):
    server = herald("--heartbeat", "0", *[part for flag in AGREED for part in flag])
    assert get(server.port, "/healthz").status == 200
    raw = f"GET {subscribe_target(['a', 'b', 'c', 'd'])} HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    response, reader = exchange(server.port, raw)
    reader.sock.close()
    assert response.status == 400, f"--max-selectors 3 not applied: 4 selectors answered {response.status}"
