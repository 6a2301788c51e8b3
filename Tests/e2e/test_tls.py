"""HTTPS with HTTP/2 in a real browser: `herald serve` with HERALD_TLS_CERT / HERALD_TLS_KEY
serves the hub over h2, so one page holds more EventSources than the 6 connections per origin
a browser allows over HTTP/1.1. Publishing from Python's urllib goes over HTTP/1.1 on TLS.

Run from the repository root:  python3 -m pytest Tests/e2e -q
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import HeraldServer, _browser_problem, _free_port, _prerequisite_missing, make_chrome
from helpers import publish_form, wait_for_page

STREAMS = 8  # more than HTTP/1.1's 6 per origin

OPEN_STREAMS = """
const [hub, topics] = arguments;
window.opened = 0; window.received = []; window.failures = 0;
topics.forEach((topic, index) => {
  const url = new URL(hub + "/.well-known/mercure"); url.searchParams.set("topic", topic);
  const source = new EventSource(url);
  source.onopen = () => { window.opened += 1; };
  source.onmessage = (event) => { window.received[index] = event.data; };
  source.onerror = () => { window.failures += 1; };
});
"""


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_hub(herald_binary):
    problem = _browser_problem() or (None if shutil.which("openssl") else "openssl (apt-get install -y openssl)")
    if problem:
        _prerequisite_missing(problem)
    workdir = Path(tempfile.mkdtemp(prefix="herald-e2e-tls-"))
    cert, key = make_certificate(workdir)
    hub = HeraldServer(herald_binary, _free_port(), workdir)
    hub.base_url = f"https://127.0.0.1:{hub.port}"
    hub.ssl_context = ssl._create_unverified_context()  # our own self-signed certificate
    hub.env["HERALD_TLS_CERT"] = str(cert)
    hub.env["HERALD_TLS_KEY"] = str(key)
    hub.start()
    yield hub
    hub.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_one_page_streams_more_than_six_topics_over_http2(tls_hub):
    driver = make_chrome(extra_arguments=("--ignore-certificate-errors",))
    try:
        driver.get(tls_hub.base_url + "/healthz")
        protocol = driver.execute_script("return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        assert protocol == "h2", protocol
        run = uuid.uuid4().hex[:8]
        topics = [f"tls-{run}-{index}" for index in range(STREAMS)]
        driver.execute_script(OPEN_STREAMS, tls_hub.base_url, topics)
        wait_for_page(driver, f"return window.opened === {STREAMS}", f"{STREAMS} streams to open")
        for index, topic in enumerate(topics):
            published = publish_form(tls_hub.base_url, topic, f"to stream {index}", context=tls_hub.ssl_context)
            assert published.startswith("urn:uuid:")
        wait_for_page(driver, f"return window.received.filter(Boolean).length === {STREAMS}", "every stream's update")
        assert driver.execute_script("return window.received") == [f"to stream {i}" for i in range(STREAMS)]
        assert driver.execute_script("return window.failures") == 0
    finally:
        driver.quit()
