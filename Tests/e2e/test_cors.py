"""Cross-origin use of the hub from a real browser: a page served from another origin
(http://localhost:P, while the hub is http://127.0.0.1:H) subscribes with EventSource and
publishes with fetch. Allowed with --cors-origins; refused, and nothing published, otherwise.
With `withCredentials` the browser also insists on the exact origin and Allow-Credentials, which
a listed origin gets and `*` never does.

Run from the repository root:  python3 -m pytest Tests/e2e -q
"""

from __future__ import annotations

import http.server
import shutil
import tempfile
import threading
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import HeraldServer, _browser_problem, _free_port, _prerequisite_missing, make_chrome
from helpers import publish_form, wait_for_page

PAGE = """<!doctype html><meta charset="utf-8"><title>cross-origin page</title>
<script>
const hub = new URL("HUB/.well-known/mercure");
window.received = []; window.opened = false; window.failures = 0;
const url = new URL(hub); url.searchParams.set("topic", "TOPIC");
const source = new EventSource(url, { withCredentials: CREDENTIALS });
source.onopen = () => { window.opened = true; };
source.onmessage = (event) => { window.received.push(event.data); };
source.onerror = () => { window.failures += 1; };
window.publish = (data) => fetch(hub, { method: "POST", body: new URLSearchParams({ topic: "TOPIC", data }) })
  .then((response) => response.text().then((text) => ({ status: response.status, text })))
  .catch((error) => ({ error: String(error) }));
</script>"""


class PageServer:
    """Serves the test page on http://localhost:<port>/ from a thread; stopped by the test."""

    def __init__(self, page: str):
        body = page.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cross_origin(herald_binary):
    """Returns start(allowed, wildcard=False, credentials=False) -> (hub, topic, driver); the page
    opens its EventSource with `withCredentials` when asked; everything is stopped afterwards."""
    problem = _browser_problem()
    if problem:
        _prerequisite_missing(problem)
    started = []

    def start(allowed: bool, wildcard: bool = False, credentials: bool = False):
        topic = f"cors-{uuid.uuid4().hex[:8]}"
        workdir = Path(tempfile.mkdtemp(prefix="herald-e2e-cors-"))
        hub = HeraldServer(herald_binary, _free_port(), workdir)
        page = PAGE.replace("HUB", hub.base_url).replace("TOPIC", topic)
        page_server = PageServer(page.replace("CREDENTIALS", "true" if credentials else "false"))
        started.append((hub, page_server, workdir))
        # The page's origin is listed, or only some other one is, or any origin (`*`).
        if wildcard:
            hub.env["HERALD_CORS_ORIGINS"] = "*"
        else:
            hub.env["HERALD_CORS_ORIGINS"] = page_server.url.rstrip("/") if allowed else "https://elsewhere.example"
        hub.start()
        driver = make_chrome()
        started.append(driver)
        driver.get(page_server.url)
        return hub, topic, driver

    yield start
    for item in started:
        if isinstance(item, tuple):
            hub, page_server, workdir = item
            hub.stop()
            page_server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            item.quit()


def publish_from_page(driver, data: str) -> dict:
    return driver.execute_async_script("const done = arguments[1]; window.publish(arguments[0]).then(done);", data)


def history(hub: HeraldServer, topic: str, marker: str) -> list[str]:
    """Every data line of `topic`'s history up to `marker` (published here, from no page)."""
    publish_form(hub.base_url, topic, marker)
    query = urllib.parse.urlencode({"topic": topic, "lastEventID": "earliest"})
    seen = []
    with urllib.request.urlopen(f"{hub.base_url}/.well-known/mercure?{query}", timeout=5) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                seen.append(line[len("data: "):])
                if seen[-1] == marker:
                    return seen
    pytest.fail(f"marker not seen in history: {seen}")


def test_a_page_on_an_allowed_origin_subscribes_and_publishes(cross_origin):
    hub, topic, driver = cross_origin(allowed=True)
    wait_for_page(driver, "return window.opened", "the cross-origin EventSource to open")
    answer = publish_from_page(driver, "hello from another origin")
    assert answer.get("status") == 200, answer  # the page may read the answer: the id
    assert answer.get("text", "").startswith("urn:uuid:"), answer
    wait_for_page(driver, "return window.received.includes('hello from another origin')", "the page's own update")
    assert driver.execute_script("return window.failures") == 0


def test_a_page_on_another_origin_can_neither_read_nor_publish(cross_origin):
    hub, topic, driver = cross_origin(allowed=False)
    wait_for_page(driver, "return window.failures > 0", "the EventSource to fail (no CORS headers)")
    assert driver.execute_script("return window.opened") is False
    answer = publish_from_page(driver, "sneaky")
    assert "error" in answer, answer  # the browser hides the refusal from the page
    # ...and the hub refused it: nothing of the page's is in the topic's history.
    assert history(hub, topic, marker="marker") == ["marker"]


def test_a_listed_origin_may_stream_with_credentials(cross_origin):
    # `withCredentials` makes the browser insist on its exact origin and Allow-Credentials.
    hub, topic, driver = cross_origin(allowed=True, credentials=True)
    wait_for_page(driver, "return window.opened", "the credentialed cross-origin EventSource to open")
    publish_form(hub.base_url, topic, "for a credentialed stream")
    wait_for_page(driver, "return window.received.includes('for a credentialed stream')", "the update")
    assert driver.execute_script("return window.failures") == 0


def test_the_wildcard_serves_pages_without_credentials_only(cross_origin):
    hub, topic, driver = cross_origin(allowed=False, wildcard=True)
    wait_for_page(driver, "return window.opened", "the EventSource to open under *")
    _, _, credentialed = cross_origin(allowed=False, wildcard=True, credentials=True)
    wait_for_page(credentialed, "return window.failures > 0", "the credentialed EventSource to be refused under *")
    assert credentialed.execute_script("return window.opened") is False
