"""Issue 11, rows 5-9 and 14-16: early refusals, one answer per request whichever path reads it,
HTTP/1.0 streams, the chat's session, `private=` and a PEM key as a separate argument."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from rawhttp import (
    FORM,
    HUB,
    NoAnswer,
    Reader,
    Stream,
    b64url,
    connect,
    exchange,
    form,
    is_closed_by_peer,
    jwt_hs256,
    jwt_unsigned,
    publish,
    publish_on_path,
    publish_request,
)

ANSWER_WAIT = 3.0  # an answer that is due "at once" comes within this


def _huge_head(extra: str = "") -> bytes:
    return (
        f"POST {HUB} HTTP/1.1\r\nHost: h\r\nContent-Type: {FORM}\r\nContent-Length: 100000000\r\n{extra}\r\n"
    ).encode()


# ---- row 5: Content-Length: 100000000 ----


@pytest.mark.issue11
@pytest.mark.parametrize("extra", ["", "Connection: keep-alive\r\n"], ids=["front", "router"])
def test_row5_huge_content_length_413_at_once_before_the_body(server, extra):
    """Row 5: a 100 MB Content-Length got no answer in 20 s (slow body). It gets 413 before any
    body byte is sent, and the connection is closed."""
    sock = connect(server.port)
    sock.sendall(_huge_head(extra))
    reader = Reader(sock)
    try:
        response = reader.read_response(ANSWER_WAIT)
    except NoAnswer:
        pytest.fail(f"no answer within {ANSWER_WAIT}s to a head with Content-Length: 100000000 (no body sent)")
    assert response.status == 413, f"answered {response.status} {response.text!r}"
    assert is_closed_by_peer(sock, ANSWER_WAIT), "connection still open after the 413"
    sock.close()


@pytest.mark.issue11
def test_row5_huge_content_length_with_a_fast_body_is_cut_short(server, measure):
    """Row 5: with a fast body the 413 came after ~1.1 MB and the server then read 30 MB more.
    The client streams the body as fast as it can; the server must answer and close long before
    32 MB have been accepted."""
    sock = connect(server.port)
    sock.sendall(_huge_head())
    sock.setblocking(False)
    block = b"a" * 65536
    sent, answer, closed = 0, b"", False
    deadline = time.monotonic() + 20
    while sent < 32 * 1024 * 1024 and time.monotonic() < deadline and not closed:
        try:
            chunk = sock.recv(65536)
            if chunk:
                answer += chunk
            else:
                closed = True
                break
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        try:
            sent += sock.send(block)
        except BlockingIOError:
            time.sleep(0.01)
        except (ConnectionResetError, BrokenPipeError):
            closed = True
    sock.close()
    measure(f"body bytes the client could send before the close: {sent}")
    assert answer.startswith(b"HTTP/1.1 413"), f"answer: {answer[:100]!r}"
    assert closed, f"the server accepted {sent} body bytes after refusing the request and kept the connection"


# ---- row 6: bare-LF POST ----

BARE_LF_POST = f"POST {HUB} HTTP/1.1\nHost: h\nContent-Type: {FORM}\nContent-Length: 14\n{{extra}}\ntopic=t&data=d"


def _bare_lf(extra: str = "") -> bytes:
    return BARE_LF_POST.replace("{extra}", extra).encode()


@pytest.mark.issue11
@pytest.mark.parametrize("half_close", [False, True], ids=["open", "half_closed"])
def test_row6_bare_lf_post_is_answered_and_closed(server, half_close):
    """Row 6: a POST with bare-LF line endings got no answer at all, even after the client
    half-closed. It gets an answer (400, or a valid one) and the connection then closes."""
    sock = connect(server.port)
    sock.sendall(_bare_lf())
    if half_close:
        sock.shutdown(socket.SHUT_WR)
    reader = Reader(sock)
    try:
        response = reader.read_response(ANSWER_WAIT)
    except NoAnswer:
        pytest.fail(f"no answer within {ANSWER_WAIT}s to a bare-LF POST (half-closed: {half_close})")
    assert response.status in (200, 400), f"answered {response.status}"
    if response.status < 400 and not half_close:
        sock.shutdown(socket.SHUT_WR)
    assert is_closed_by_peer(sock, ANSWER_WAIT), "connection still open after answering a bare-LF request"
    sock.close()


def _status_or_none(port: int, raw: bytes) -> int | None:
    try:
        response, reader = exchange(port, raw, timeout=ANSWER_WAIT)
        reader.sock.close()
        return response.status
    except NoAnswer:
        return None


@pytest.mark.issue11
def test_row6_bare_lf_requests_get_the_same_answer_on_every_path(server):
    """Item 3: bare-LF requests get the same answer whichever path reads them (a `Connection`
    header sends a hub request to the router; without it the event-loop handlers read it)."""
    port = server.port
    posts = {
        "event-loop": _status_or_none(port, _bare_lf()),
        "router": _status_or_none(port, _bare_lf("Connection: keep-alive\n")),
    }
    subscribes = {
        "event-loop": _status_or_none(port, f"GET {HUB}?topic=t HTTP/1.1\nHost: h\n\n".encode()),
        "router": _status_or_none(port, f"GET {HUB}?topic=t HTTP/1.1\nHost: h\nConnection: keep-alive\n\n".encode()),
    }
    assert len(set(posts.values())) == 1 and None not in posts.values(), f"bare-LF POST answers by path: {posts}"
    assert len(set(subscribes.values())) == 1 and None not in subscribes.values(), (
        f"bare-LF GET answers by path: {subscribes}"
    )


# ---- row 7: POST /.well-known/mercure?%zz ----


@pytest.mark.issue11
@pytest.mark.parametrize("where", ["query", "body"])
def test_row7_malformed_percent_gets_the_same_status_on_every_path(server, where):
    """Row 7: `POST /.well-known/mercure?%zz` was 200 on the event-loop paths and 400 through the
    router. The front handler, the event-loop handler (chunked body) and the router (a
    `Connection` header) must give the same answer (a `%zz` in the body is the control)."""
    topic = f"pct-{uuid.uuid4().hex[:8]}"
    statuses = {}
    for path in ("front", "loop", "router"):
        if where == "query":
            raw = publish_on_path(path, form({"topic": topic, "data": "x"}), query="%zz")
        else:
            raw = publish_on_path(path, f"topic={topic}&data=%zz".encode())
        response, reader = exchange(server.port, raw, timeout=ANSWER_WAIT)
        reader.sock.close()
        statuses[path] = response.status
    assert len(set(statuses.values())) == 1, f"one request, different answers by path: {statuses}"
    assert statuses["front"] in (200, 400)


# ---- row 8: Expect: 100-continue ----


@pytest.mark.issue11
@pytest.mark.parametrize("extra", [[], [("Connection", "keep-alive")]], ids=["event-loop", "router"])
def test_row8_expect_100_continue_is_answered_before_the_body(server, extra):
    """Row 8: no `100 Continue` came (curl waits 1 s before sending the body)."""
    body = form({"topic": "expect", "data": "x"})
    head = publish_request(body, headers=[("Expect", "100-continue")] + extra)[: -len(body)]
    sock = connect(server.port)
    sock.sendall(head)
    reader = Reader(sock)
    try:
        interim = reader.read_head(ANSWER_WAIT)
    except NoAnswer:
        pytest.fail(f"no `100 Continue` within {ANSWER_WAIT}s of a head with `Expect: 100-continue`")
    assert interim.status == 100, f"expected 100 Continue, got {interim.status}"
    sock.sendall(body)
    final = reader.read_response(ANSWER_WAIT)
    assert final.status == 200, f"publish after 100 Continue answered {final.status} {final.text!r}"
    sock.close()


@pytest.mark.issue11
def test_row8_expect_100_continue_with_an_oversized_body_is_refused_early(server):
    """Item 3: `Expect: 100-continue` may also be answered with the refusal at once (413 here)."""
    sock = connect(server.port)
    sock.sendall(_huge_head("Expect: 100-continue\r\n"))
    reader = Reader(sock)
    try:
        response = reader.read_response(ANSWER_WAIT)
    except NoAnswer:
        pytest.fail("no answer to `Expect: 100-continue` with Content-Length: 100000000")
    assert response.status == 413 and not response.interim, f"got {response.interim} then {response.status}"
    sock.close()


# ---- row 9: HTTP/1.0 subscribe ----


@pytest.mark.issue11
@pytest.mark.parametrize("extra", [[], [("Connection", "close")]], ids=["event-loop", "router"])
def test_row9_http10_subscribe_is_close_delimited_not_chunked(server, extra):
    """Row 9: an HTTP/1.0 subscribe was answered with `Transfer-Encoding: chunked`, which
    HTTP/1.0 clients cannot read. The body must be plain SSE, delimited by the close."""
    topic = f"h10-{uuid.uuid4().hex[:8]}"
    stream = Stream(server.port, [topic], headers=extra, version="HTTP/1.0")
    response = stream.response
    assert "chunked" not in (response.header("Transfer-Encoding") or "").lower(), f"head: {response.headers}"
    assert response.header("Content-Length") is None
    assert publish(server.port, topic, "hello-1.0").status == 200
    stream.wait_for_data("hello-1.0")
    assert b"data: hello-1.0\n" in stream.raw_body
    assert b"\r\n" not in stream.raw_body, f"chunk framing in an HTTP/1.0 body: {stream.raw_body[:200]!r}"
    stream.close()


# ---- row 14: the chat's session cookie ----

SUBSCRIBER_KEY = "hostile-subscriber-key-" + "k" * 24


def _alice_token() -> str:
    claims = {
        "exp": int(time.time()) + 3600,
        "mercure": {"subscribe": ["secret"], "payload": {"email": "alice@corp.example"}},
    }
    return jwt_hs256(claims, SUBSCRIBER_KEY.encode())


def _chat_cookie(port: int, name: str) -> str:
    body = json.dumps({"name": name}).encode()
    raw = (
        f"POST /chat/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    response, reader = exchange(port, raw)
    reader.sock.close()
    assert response.status == 200, f"POST /chat/session answered {response.status} {response.text!r}"
    for cookie in response.header_values("Set-Cookie"):
        name_value = cookie.split(";", 1)[0]
        if name_value.startswith("mercureAuthorization="):
            return name_value
    pytest.fail(f"no mercureAuthorization cookie in {response.header_values('Set-Cookie')}")


@pytest.mark.issue11
def test_row14_chat_session_cannot_read_other_subscribers_through_the_subscriptions_api(herald):
    """Row 14: `POST /chat/session {"name":"eve"}` (no credentials) gave a cookie whose claim
    covered the whole subscriptions API: other subscribers' topics and payloads were listed."""
    server = herald("--heartbeat", "0", env={"HERALD_SUBSCRIBER_KEY": SUBSCRIBER_KEY})
    alice = Stream(server.port, ["secret"], headers=[("Authorization", f"Bearer {_alice_token()}")])
    cookie = _chat_cookie(server.port, "eve")
    for target in (f"{HUB}/subscriptions", f"{HUB}/subscriptions/secret"):
        raw = f"GET {target} HTTP/1.1\r\nHost: h\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
        response, reader = exchange(server.port, raw)
        reader.sock.close()
        assert "alice@corp.example" not in response.text, f"{target} showed eve another subscriber's payload"
        if response.status == 200:  # a refusal is fine too; an answer must not list alice
            listed = json.loads(response.body).get("subscriptions", [])
            assert not [s for s in listed if s.get("topic") == "secret"], (
                f"{target} showed eve another subscriber's topic: {response.text[:300]}"
            )
    alice.close()


@pytest.mark.issue11
def test_row14_chat_session_cannot_follow_other_subscribers_presence(herald):
    """Row 14, presence side (with presence events on): a chat visitor following every presence
    update its cookie allows does not see another subscriber's topic or payload, while it still
    sees the people in its room."""
    server = herald(
        "--heartbeat", "0",
        env={"HERALD_SUBSCRIBER_KEY": SUBSCRIBER_KEY, "HERALD_SUBSCRIPTION_EVENTS": "true"},
    )
    cookie = _chat_cookie(server.port, "eve")
    room_raw = f"GET /chat/rooms/lobby HTTP/1.1\r\nHost: h\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    room, reader = exchange(server.port, room_raw.encode())
    reader.sock.close()
    info = json.loads(room.body)
    eve = Stream(
        server.port,
        [info["topic"], info["presenceTopic"], "/.well-known/mercure/subscriptions{/topic}{/subscriber}"],
        headers=[("Cookie", cookie)],
    )
    alice = Stream(server.port, ["secret"], headers=[("Authorization", f"Bearer {_alice_token()}")])
    bob_cookie = _chat_cookie(server.port, "bob")
    bob = Stream(server.port, [info["topic"]], headers=[("Cookie", bob_cookie)])
    # Presence updates go out in the order subscriptions start: bob's comes after alice's.
    eve.wait_for(lambda s: any('"bob"' in e.get("data", "") for e in s.events), 10, "bob's presence in the room")
    seen = "\n".join(e.get("data", "") for e in eve.events)
    assert "alice@corp.example" not in seen and '"secret"' not in seen, f"eve saw alice's subscription: {seen[:400]}"
    for stream in (eve, alice, bob):
        stream.close()


# ---- row 15: private= ----


@pytest.mark.issue11
@pytest.mark.parametrize("path", ["front", "loop", "router"])
def test_row15_empty_private_field_means_private(server, path):
    """Row 15: `private=` (empty value) was published as public and an anonymous `*` subscriber
    received it. Mercure treats the field's presence as private, on every publish path."""
    topic = f"priv-{uuid.uuid4().hex[:8]}"
    everything = Stream(server.port, ["*"])
    exact = Stream(server.port, [topic])
    secret = f"secret-{uuid.uuid4().hex[:8]}"
    raw = publish_on_path(path, form([("topic", topic), ("data", secret), ("private", "")]))
    response, reader = exchange(server.port, raw)
    reader.sock.close()
    assert response.status == 200, f"private publish answered {response.status} {response.text!r}"
    assert publish(server.port, topic, "public-sentinel").status == 200
    for stream in (everything, exact):
        stream.wait_for_data("public-sentinel")
        leaked = [e for e in stream.events if e.get("data") == secret]
        assert not leaked, f"an anonymous subscriber received an update published with `private=`: {leaked}"
        stream.close()


# ---- row 16: --publisher-key <PEM> ----


def _openssl_rsa_key(directory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (scripts/test.sh installs it)")
    private = directory / "key.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private)],
        check=True, capture_output=True, timeout=60,
    )
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout"], check=True, capture_output=True, timeout=30
    ).stdout.decode()
    return str(private), public


def _rs256(claims: dict, private_key_path: str) -> str:
    signing_input = jwt_unsigned({"alg": "RS256", "typ": "JWT"}, claims)
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", private_key_path],
        input=signing_input.encode(), check=True, capture_output=True, timeout=30,
    ).stdout
    return signing_input + "." + b64url(signature)


@pytest.mark.issue11
def test_row16_publisher_key_pem_as_a_separate_argument(herald, tmp_path):
    """Row 16: `herald serve --publisher-key "$(cat key.pem)"` failed with "Invalid option"
    (the `=` form worked): a value starting with `-----BEGIN` must be taken as the value."""
    private, public = _openssl_rsa_key(tmp_path)
    server = herald("--heartbeat", "0", "--jwt-algorithm", "RS256", "--publisher-key", public)
    token = _rs256({"mercure": {"publish": ["*"]}}, private)
    raw = publish_request(form({"topic": "pem", "data": "x"}), headers=[("Authorization", f"Bearer {token}")])
    response, reader = exchange(server.port, raw)
    reader.sock.close()
    assert response.status == 200, f"an RS256 publish answered {response.status} {response.text!r}"


# ---- item 3: one answer per request, whichever path reads it ----


@pytest.mark.issue11
def test_item3_publish_answer_is_the_same_on_every_path(server):
    """FLAGS.md: a publish is answered `200`, `text/plain`, body = the id exactly (no trailing
    newline), on every path."""
    answers = {}
    for path in ("front", "loop", "router"):
        update_id = f"id-{path}-{uuid.uuid4().hex[:8]}"
        raw = publish_on_path(path, form({"topic": "answer", "data": "x", "id": update_id}))
        response, reader = exchange(server.port, raw)
        reader.sock.close()
        assert response.status == 200, f"{path}: {response.status} {response.text!r}"
        assert response.body == update_id.encode(), f"{path}: body {response.body!r}, expected the id {update_id!r}"
        answers[path] = (response.header("Content-Type"), response.header("Cache-Control"))
    assert len(set(answers.values())) == 1, f"answer headers differ by path: {answers}"
    assert answers["front"][0].startswith("text/plain")
