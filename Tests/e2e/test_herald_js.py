"""herald.js in a real browser (issue 15 item 2): with `window.EventSource` removed before any
page script runs, the chat works through long-polling; herald.js surfaces the gap signal and
fetches a fresh token when the hub refuses its token, on both transports; the hub serves it
with an ETag and a cache lifetime.

Run from the repository root:  python3 -m pytest Tests/e2e -q
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import REPO_ROOT, HeraldServer, _free_port, make_chrome
from helpers import ChatPage, publish_form, unique_room, wait_for_page

NO_EVENTSOURCE = "delete window.EventSource;"
SCRIPT = "/.well-known/mercure/herald.js"


def without_eventsource(driver):
    """Removes `window.EventSource` from every document before its own scripts run."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_EVENTSOURCE})
    return driver


def open_with_herald_js(driver, base_url: str) -> None:
    """A page of the hub's origin with herald.js loaded (the script the hub serves)."""
    driver.get(base_url + "/healthz")
    driver.execute_script(
        "var s = document.createElement('script'); s.src = arguments[0]; document.head.appendChild(s);",
        SCRIPT,
    )
    wait_for_page(driver, "return window.Herald !== undefined", "herald.js to load")


def poll_requests(driver) -> list[str]:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('poll=1'))"
    )


def test_the_chat_works_through_herald_js_without_eventsource(browser_factory, live_server):
    room = unique_room("poll")
    old = without_eventsource(browser_factory())
    ann = ChatPage(old, live_server.base_url).join("ann", room)
    assert old.execute_script("return typeof EventSource") == "undefined"
    bob = ChatPage(browser_factory(), live_server.base_url).join("bob", room)

    ann.send("from a browser without EventSource")
    bob.wait_message("from a browser without EventSource", name="ann", timeout=5)
    bob.send("and back")
    ann.wait_message("and back", name="bob", timeout=5)
    publish_form(live_server.base_url, f"/chat/rooms/{room}", "not a chat message")  # ignored by the page
    bob.send("again")
    ann.wait_message("again", name="bob", timeout=5)
    assert ann.texts() == ["from a browser without EventSource", "and back", "again"]
    assert ann.status() == "connected"
    assert len(poll_requests(old)) >= 3, "the page long-polled"

    # A reload replays the room's history once, through the same long-polls.
    ann.reload()
    ann.wait(lambda d: len(ann.texts()) == 3, "history after reload")
    assert ann.texts() == ["from a browser without EventSource", "and back", "again"]
    assert ann.js_errors() == [] and bob.js_errors() == []


SUBSCRIBE = """
window.received = []; window.opened = false; window.failures = 0;
window.sub = Herald.subscribe(arguments[0], {transport: arguments[1], maxDelay: 2000,
  token: arguments[2] ? function () { window.tokenCalls = (window.tokenCalls || 0) + 1;
    return new Promise(function (resolve) { setTimeout(function () { resolve(window.freshToken); }, 10); }); } : undefined});
sub.addEventListener("open", function () { window.opened = true; });
sub.addEventListener("error", function () { window.failures += 1; });
sub.addEventListener("message", function (e) { window.received.push(["message", e.data, e.lastEventId]); });
sub.addEventListener("herald-gap", function (e) { window.received.push(["herald-gap", e.data, e.lastEventId]); });
"""


@pytest.mark.parametrize("transport", ["eventsource", "poll"])
def test_herald_js_surfaces_the_gap_and_follows_from_the_last_id(browser_factory, live_server, transport):
    driver = browser_factory()
    open_with_herald_js(driver, live_server.base_url)
    topic = f"/js/{uuid.uuid4().hex[:8]}"
    url = f"/.well-known/mercure?topic={topic}&lastEventID=gone"
    driver.execute_script(SUBSCRIBE, url, transport, False)
    wait_for_page(driver, "return window.received.length >= 1", "the gap event")
    first = publish_form(live_server.base_url, topic, "one")
    second = publish_form(live_server.base_url, topic, "two")
    received = wait_for_page(driver, "return window.received.length >= 3 && window.received", "two events")
    assert received[0] == ["herald-gap", json.dumps({"lastEventID": "gone"}, separators=(",", ":")), ""]
    assert received[1:] == [["message", "one", first], ["message", "two", second]]
    assert driver.execute_script("return [sub.transport, sub.lastEventId, sub.readyState]") == [transport, second, 1]
    if transport == "poll":
        # The first poll asked for "gone"; the next ones for the id each answer said to continue from.
        asked = poll_requests(driver)
        assert len(asked) >= 2 and "lastEventID=gone" in asked[0], asked
        assert all("lastEventID=gone" not in name for name in asked[1:]), asked
    driver.execute_script("sub.close()")


def _jwt(secret: str, claims: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture
def private_server(herald_binary):
    """A hub that takes no anonymous subscriber, with a known subscriber key."""
    workdir = Path(tempfile.mkdtemp(prefix="herald-e2e-js-"))
    instance = HeraldServer(herald_binary, _free_port(), workdir)
    instance.env["HERALD_SUBSCRIBER_KEY"] = "e2e-subscriber-secret-0123456789abcdef"
    instance.env["HERALD_ANONYMOUS"] = "false"
    instance.start()
    yield instance
    instance.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("transport", ["eventsource", "poll"])
def test_herald_js_fetches_a_fresh_token_when_the_hub_refuses_its_token(private_server, transport):
    driver = make_chrome()
    try:
        key = private_server.env["HERALD_SUBSCRIBER_KEY"]
        topic = f"https://example.com/private/{uuid.uuid4().hex[:8]}"
        expired = _jwt(key, {"exp": int(time.time()) - 60, "mercure": {"subscribe": [topic]}})
        fresh = _jwt(key, {"exp": int(time.time()) + 600, "mercure": {"subscribe": [topic]}})
        open_with_herald_js(driver, private_server.base_url)
        driver.execute_script("window.freshToken = arguments[0];", fresh)
        url = f"/.well-known/mercure?topic={urllib.parse.quote(topic, safe='')}&authorization={expired}"
        driver.execute_script(SUBSCRIBE, url, transport, True)
        wait_for_page(driver, "return window.opened", "the subscription to open with the fresh token")
        assert driver.execute_script("return window.tokenCalls") >= 1
        assert driver.execute_script("return window.failures") >= 1  # the expired token was refused first
        form = urllib.parse.urlencode({"topic": topic, "data": "for the holder", "private": "on"}).encode()
        with urllib.request.urlopen(urllib.request.Request(private_server.base_url + "/.well-known/mercure", data=form)) as r:
            assert r.status == 200
        received = wait_for_page(driver, "return window.received.length >= 1 && window.received", "the private update")
        assert [kind for kind, _, _ in received] == ["message"] and received[0][1] == "for the holder"
    finally:
        driver.quit()


def test_herald_js_is_served_with_an_etag_and_a_cache_lifetime(live_server):
    with urllib.request.urlopen(live_server.base_url + SCRIPT, timeout=5) as answer:
        body = answer.read()
        headers = answer.headers
    source = (REPO_ROOT / "Sources/HeraldHTTP/Resources/herald.js").read_bytes()
    assert body == source
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "max-age=" in headers["Cache-Control"] and headers["ETag"].startswith('"')
    request = urllib.request.Request(live_server.base_url + SCRIPT, headers={"If-None-Match": headers["ETag"]})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 304
    print(f"\nherald.js: {len(body)} bytes, {len(gzip.compress(body, 9))} bytes with gzip -9")
