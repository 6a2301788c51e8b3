#!/usr/bin/env python3
"""Browser vs Swift client: the same stream-format vectors and reconnect cases, served byte for
byte from one loopback server to headless Chromium's EventSource, and run through the Swift
`EventSource` (HeraldEventSource) by its own tests; prints the table side by side.

Run from the repository root (needs chromium + chromium-driver from apt and selenium from pip,
as scripts/test.sh installs them):

    swift build --build-tests && python3 Tests/eventsource/compare_chromium.py

The vectors are Tests/eventsource/format-vectors.json (the table the Swift tests assert). Each is
the whole body of one close-delimited `text/event-stream` response; a client's result is what its
first connection dispatches, as (type, data, lastEventId). The reconnect cases show what the
second connection dispatches and the `Last-Event-ID` header the second request carried.
Exits 1 if any row differs between the two clients or from the table.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "Tests/eventsource/format-vectors.json").read_text())["vectors"]

# Two connections each: (first body, second body). The same bytes as ReconnectionTests.
RECONNECTS = {
    "reconnect-id-carried": (b"id: 7\ndata: a\n\n", b"data: b\n\n"),
    "reconnect-empty-id": (b"id: 7\ndata: a\n\nid:\ndata: b\n\n", b"data: c\n\n"),
}


def vector_bytes(vector: dict) -> bytes:
    if "inputBase64" in vector:
        return base64.b64decode(vector["inputBase64"])
    return vector["input"].encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies, as the Swift tests' server sends
    seen: dict[str, list[str | None]] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        name = self.path.strip("/").split("?")[0]
        if name == "page":
            body = b"<!doctype html><title>vectors</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with Handler.lock:
            connections = Handler.seen.setdefault(name, [])
            index = len(connections)
            connections.append(self.headers.get("Last-Event-ID"))
        vector = next((v for v in VECTORS if v["name"] == name), None)
        if name in RECONNECTS:
            body = RECONNECTS[name][min(index, 1)]
        elif vector is not None:
            body = vector_bytes(vector)
        else:  # e.g. /favicon.ico
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if name in RECONNECTS and index >= 1:
            # Hold the second connection until the page closes it (bounded).
            self.connection.settimeout(10)
            try:
                self.connection.recv(1)
            except OSError:
                pass


COLLECT = """
const [url, types, connections, done] = [arguments[0], arguments[1], arguments[2], arguments[arguments.length - 1]];
const source = new EventSource(url);
const results = [[]];
const record = (event) => results[results.length - 1].push({type: event.type, data: event.data, lastEventId: event.lastEventId});
types.forEach((type) => source.addEventListener(type, record));
source.onerror = () => {
  if (results.length >= connections) { source.close(); done(results); } else { results.push([]); }
};
if (connections > 1) {
  source.addEventListener("message", () => {
    if (results.length >= connections) { source.close(); done(results); }
  });
}
setTimeout(() => { source.close(); done(results); }, 15000);
"""


def chromium_results(base: str) -> dict[str, object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    results: dict[str, object] = {}
    try:
        print(f"Chromium {driver.capabilities.get('browserVersion', '?')}")
        driver.get(base + "/page")
        types = sorted({e["type"] for v in VECTORS for e in v["expected"]} | {"message"})
        for vector in VECTORS:
            got = driver.execute_async_script(COLLECT, f"{base}/{vector['name']}", types, 1)
            results[vector["name"]] = got[0]
        for name in RECONNECTS:
            got = driver.execute_async_script(COLLECT, f"{base}/{name}", types, 2)
            headers = Handler.seen.get(name, [])
            results[name] = {"events": got[1] if len(got) > 1 else [],
                             "lastEventIDHeader": headers[1] if len(headers) > 1 else "(no second request)"}
    finally:
        driver.quit()
    return results


def swift_results() -> dict[str, object]:
    directory = tempfile.mkdtemp(prefix="herald-es-results-")
    environment = dict(os.environ, HERALD_EVENTSOURCE_RESULTS=directory)
    run = subprocess.run(
        ["swift", "test", "--skip-build", "--filter", "FormatVectorTests|ReconnectionTests"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600,
    )
    results = {path.stem: json.loads(path.read_text()) for path in Path(directory).glob("*.json")}
    for result in results.values():
        if isinstance(result, dict):
            result.setdefault("lastEventIDHeader", None)  # Swift's encoder leaves nil out
    shutil.rmtree(directory, ignore_errors=True)
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
    return results


def show(events) -> str:
    if isinstance(events, dict):
        header = events.get("lastEventIDHeader")
        return f"{show(events['events'])} Last-Event-ID={header!r}"
    return " ".join(f"{e['type']}|{json.dumps(e['data'])}|{json.dumps(e['lastEventId'])}" for e in events) or "(none)"


def main() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser = chromium_results(f"http://127.0.0.1:{port}")
    finally:
        server.shutdown()
    swift = swift_results()

    expected = {v["name"]: v["expected"] for v in VECTORS}
    expected["reconnect-id-carried"] = {"events": [{"type": "message", "data": "b", "lastEventId": "7"}], "lastEventIDHeader": "7"}
    expected["reconnect-empty-id"] = {"events": [{"type": "message", "data": "c", "lastEventId": ""}], "lastEventIDHeader": None}

    differences = 0
    print(f"{'case':32} {'chromium':8} {'swift':8}  chromium result")
    for name, want in expected.items():
        chrome, ours = browser.get(name), swift.get(name)
        chrome_ok, swift_ok = chrome == want, ours == want
        differences += (not chrome_ok) + (not swift_ok) + (chrome != ours)
        print(f"{name:32} {'same' if chrome_ok else 'DIFF':8} {'same' if swift_ok else 'DIFF':8}  {show(chrome) if chrome is not None else '(missing)'}")
        if not swift_ok:
            print(f"{'':50} swift: {show(ours) if ours is not None else '(missing)'}")
        if not chrome_ok:
            print(f"{'':50} table: {show(want)}")
    print(f"\n{len(expected)} cases, {differences} differences (same = equal to the table)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
