"""The demo chat served by Vapor (Examples/VaporChat: `app.herald` + HeraldChat's page and API),
in headless Chromium: two visitors see each other's messages and presence, and a reload replays
history exactly once.

Build it first:  swift build --traits Vapor --product VaporChat
VAPORCHAT_BIN picks another binary (default <repo>/.build/debug/VaporChat). Without the binary, or
with one built without the trait (a stub that prints a notice and exits), the tests are skipped
loudly (failed under CI=true, like every missing e2e prerequisite). scripts/test.sh runs this file
in its Vapor part, after `swift build --build-tests --traits Vapor`, and leaves it out of the main
e2e run (a plain build there makes the stub).

Message delivery failed here in session 20 (every post from the page got 403): HeraldVapor lost the
request's Host, so no Origin was ever same-origin. Presence (GETs) worked, which hid it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import REPO_ROOT, _browser_problem, _free_port, _prerequisite_missing, make_chrome
from helpers import ChatPage, unique_room


# What Examples/VaporChat prints (and exits) when built without the `Vapor` trait.
NO_TRAIT_NOTICE = "VaporChat needs the Vapor trait"
BUILD_HINT = "build it with `swift build --traits Vapor --product VaporChat`; scripts/test.sh does in its Vapor part"


class VaporChatServer:
    """One VaporChat process (Vapor's `serve` command) on a free loopback port."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "vaporchat.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ)
        env["VAPORCHAT_SECRET"] = "vapor-chat-e2e-secret-0123456789abcdef"
        env["LOG_LEVEL"] = "warning"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "serve", "--hostname", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if NO_TRAIT_NOTICE in self.log_tail():
                    # Built without the trait: the binary is a stub that says so and exits.
                    _prerequisite_missing(f"{self.binary} was built without the Vapor trait ({BUILD_HINT})")
                pytest.fail(f"VaporChat exited early with status {self.process.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"VaporChat did not answer /healthz within {timeout}s:\n{self.log_tail()}", pytrace=False)

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="module")
def vapor_chat():
    problem = _browser_problem()
    if problem:
        _prerequisite_missing(problem)
    configured = os.environ.get("VAPORCHAT_BIN")
    binary = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "VaporChat"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        _prerequisite_missing(f"{binary} not found ({BUILD_HINT})")
    workdir = Path(tempfile.mkdtemp(prefix="herald-vaporchat-"))
    server = VaporChatServer(binary, workdir)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def vapor_browsers(vapor_chat):
    drivers = []

    def factory():
        driver = make_chrome()
        drivers.append(driver)
        return ChatPage(driver, vapor_chat.base_url)

    yield factory
    for driver in drivers:
        try:
            driver.quit()
        except Exception:
            pass


def test_the_chat_served_by_vapor_works_in_chromium(vapor_browsers, vapor_chat):
    room = unique_room("vapor")
    ann = vapor_browsers().join("ann", room)
    bob = vapor_browsers().join("bob", room)

    # Presence through the subscriptions API and subscription events, served by Vapor.
    ann.wait_online({"ann", "bob"})
    bob.wait_online({"ann", "bob"})

    text = f"hello from vapor {uuid.uuid4().hex[:6]}"
    ann.send(text)
    seen = bob.wait_message(text, name="ann", timeout=5)
    assert seen["id"].startswith("urn:uuid:"), seen
    bob.send("hi ann")
    ann.wait_message("hi ann", name="bob", timeout=5)
    assert ann.texts()[-2:] == [text, "hi ann"]

    # A reload replays the room's history from the hub, each message once.
    bob.reload()
    bob.wait_message("hi ann", name="bob", timeout=5)
    assert bob.texts().count(text) == 1 and bob.texts().count("hi ann") == 1, bob.texts()
    assert ann.js_errors() == [] and bob.js_errors() == []


def test_the_page_links_the_hub_and_herald_js_is_served(vapor_chat):
    with urllib.request.urlopen(vapor_chat.base_url + "/", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Link"] == '</.well-known/mercure>; rel="mercure"'
    with urllib.request.urlopen(vapor_chat.base_url + "/.well-known/mercure/herald.js", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
