"""Fixtures for the Mercure conformance cases: a real `herald serve` per suite and one headless
Chromium per suite (each case opens its own page state, as the Mercure suite's `beforeEach`).

Environment:
  HERALD_BIN   path of the server binary (default: <repo>/.build/debug/herald)
  CI=true      missing prerequisites FAIL the run instead of skipping it
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The key of the Mercure repository's conformance set-up (its dev key).
MERCURE_KEY = "!ChangeThisMercureHubJWTSecretKey!"

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    SELENIUM_PROBLEM = None
except ImportError as error:  # pragma: no cover - depends on the machine
    SELENIUM_PROBLEM = f"Python selenium is not importable ({error}); install it with `pip install selenium`"


def prerequisite_missing(reason: str) -> None:
    """Fails under CI, otherwise skips, and says so loudly either way."""
    sys.stderr.write(f"\n{'!' * 78}\n!! conformance prerequisite missing: {reason}\n{'!' * 78}\n")
    if os.environ.get("CI") == "true":
        pytest.fail(f"conformance prerequisite missing (CI=true): {reason}", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    """One `herald serve` process on a loopback port with the given extra flags."""

    def __init__(self, binary: Path, flags: list[str]):
        self.workdir = Path(tempfile.mkdtemp(prefix="herald-conformance-"))
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "herald.log"
        env = dict(os.environ)
        env["HERALD_SECRET_FILE"] = str(self.workdir / "secret")
        for name in list(env):
            if name.startswith("HERALD_") and name not in ("HERALD_SECRET_FILE",):
                env.pop(name)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "serve", "--port", str(self.port), "--log-level", "warning", *flags],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"herald exited early ({self.process.returncode}):\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"herald did not answer /healthz within 15 s:\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def herald_binary() -> Path:
    configured = os.environ.get("HERALD_BIN")
    binary = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "herald"
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        prerequisite_missing(f"server binary {binary} not found (build it with `swift build --product herald` or set HERALD_BIN)")
    return binary


def start_hub(binary: Path, flags: list[str]):
    if SELENIUM_PROBLEM:
        prerequisite_missing(SELENIUM_PROBLEM)
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            prerequisite_missing(f"{path} not found; install it with `apt-get install -y {package}`")
    return Hub(binary, flags)


@pytest.fixture(scope="module")
def chrome():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(10)
    yield driver
    driver.quit()
