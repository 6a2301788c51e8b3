"""The flags agreed for issues 11 and 17 (FLAGS.md): the other tests set them through their
HERALD_* variables, so this checks that `herald serve` also takes them as flags."""

from __future__ import annotations

import json
import os
import subprocess

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


def _selectors_status(server, count: int) -> int:
    raw = f"GET {subscribe_target([f's{index}' for index in range(count)])} HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    response, reader = exchange(server.port, raw)
    reader.sock.close()
    return response.status


def test_a_configuration_file_sets_what_flags_and_the_environment_leave_unset(herald, tmp_path):
    """`--config FILE` (issue 16, item 5): flag names or HERALD_* names as keys; the environment
    wins over the file, and a flag over both."""
    config = tmp_path / "herald.json"
    config.write_text(json.dumps({"max-selectors": 3, "HERALD_HEARTBEAT": 0, "cors-origins": ["https://a.example"]}))
    from_file = herald("--config", str(config))
    assert _selectors_status(from_file, 3) == 200
    assert _selectors_status(from_file, 4) == 400
    env_wins = herald("--config", str(config), env={"HERALD_MAX_SELECTORS": "5"})
    assert _selectors_status(env_wins, 5) == 200
    assert _selectors_status(env_wins, 6) == 400
    flag_wins = herald("--config", str(config), "--max-selectors", "2", env={"HERALD_MAX_SELECTORS": "5"})
    assert _selectors_status(flag_wins, 2) == 200
    assert _selectors_status(flag_wins, 3) == 400


@pytest.mark.parametrize(
    "content, complaint",
    [
        ('{"max-selector": 3}', "'max-selector' is not a setting"),
        ('{"HERALD_NOPE": 1}', "'HERALD_NOPE' is not a setting"),
        ('{"port": {"a": 1}}', "must hold one JSON object"),
        ("[1, 2]", "must hold one JSON object"),
        ("{not json", "must hold one JSON object"),
        ('{"max-selectors": "many"}', "HERALD_MAX_SELECTORS must be an integer"),
    ],
)
def test_a_bad_configuration_file_stops_the_server_with_a_clear_error(herald_binary, tmp_path, content, complaint):
    config = tmp_path / "herald.json"
    config.write_text(content)
    result = subprocess.run(
        [str(herald_binary), "serve", "--port", "0", "--config", str(config)],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}, "HERALD_SECRET_FILE": str(tmp_path / "s")},
    )
    assert result.returncode != 0
    assert complaint in result.stderr + result.stdout
    assert "listening" not in result.stdout


def test_json_logs_are_one_object_per_line(herald):
    server = herald("--log-format", "json", "--log-level", "info")
    assert get(server.port, "/healthz").status == 200
    server.stop()
    lines = [line for line in server.output if line.startswith("{")]
    assert lines, server.log_tail()
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "label", "message"} <= record.keys()


KEY = "!ChangeThisMercureHubJWTSecretKey!"
HUB = "https://hub.example/.well-known/mercure"


def _access_token(binary, issuer: str, audience: str) -> str:
    """A 1.0 access token from `herald token --access-token` (publish on every topic)."""
    return subprocess.run(
        [str(binary), "token", "--key", KEY, "--access-token", "--issuer", issuer, "--audience", audience, "--publish", "*"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()


def _publish_status(server, token: str, host: str = "127.0.0.1") -> tuple[int, str | None]:
    body = b"topic=t&data=x"
    raw = (
        f"POST /.well-known/mercure HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    response, reader = exchange(server.port, raw)
    reader.sock.close()
    return response.status, response.header("WWW-Authenticate")


@pytest.mark.issue13
def test_issuer_and_resource_identifier_flags_and_variables(herald, herald_binary):
    """`--issuer` (repeatable) / HERALD_ISSUER (comma-separated) and `--resource-identifier` /
    HERALD_RESOURCE_IDENTIFIER (FLAGS.md, session 19): the iss and aud a 1.0 access token needs."""
    trusted = _access_token(herald_binary, "https://b.example", HUB)
    stranger = _access_token(herald_binary, "https://c.example", HUB)
    for server in (
        herald("--publisher-key", KEY, "--issuer", "https://a.example", "--issuer", "https://b.example",
               "--resource-identifier", HUB),
        herald("--publisher-key", KEY,
               env={"HERALD_ISSUER": "https://a.example, https://b.example", "HERALD_RESOURCE_IDENTIFIER": HUB}),
    ):
        assert _publish_status(server, trusted)[0] == 200
        status, challenge = _publish_status(server, stranger)
        assert status == 401 and challenge.startswith('Bearer error="invalid_token"'), (status, challenge)
    # Without --resource-identifier the audience is the URL the request was sent to.
    derived = herald("--publisher-key", KEY, "--issuer", "https://b.example")
    assert _publish_status(derived, trusted)[0] == 401
    assert _publish_status(derived, trusted, host="hub.example")[0] == 401  # http, not https
    own = _access_token(herald_binary, "https://b.example", f"http://127.0.0.1:{derived.port}/.well-known/mercure")
    assert _publish_status(derived, own, host=f"127.0.0.1:{derived.port}")[0] == 200
