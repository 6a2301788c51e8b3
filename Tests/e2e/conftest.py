"""Fixtures for the chat end-to-end tests: the real `herald` binary and headless Chromium.

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
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

try:
    import selenium  # noqa: F401
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    SELENIUM_PROBLEM = None
except ImportError as error:  # pragma: no cover - depends on the machine
    SELENIUM_PROBLEM = f"Python selenium is not importable ({error}); install it with `pip install selenium`"

_missing_reasons: list[str] = []


def _prerequisite_missing(reason: str) -> None:
    """Fails under CI, otherwise skips, and says so loudly either way."""
    banner = f"\n{'!' * 78}\n!! e2e prerequisite missing: {reason}\n{'!' * 78}\n"
    sys.stderr.write(banner)
    if os.environ.get("CI") == "true":
        pytest.fail(f"e2e prerequisite missing (CI=true): {reason}", pytrace=False)
    if reason not in _missing_reasons:
        _missing_reasons.append(reason)
    pytest.skip(f"SKIPPED LOUDLY: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _missing_reasons:
        terminalreporter.section("E2E TESTS DID NOT RUN", sep="!", red=True, bold=True)
        for reason in _missing_reasons:
            terminalreporter.write_line(f"missing: {reason}", red=True, bold=True)
        terminalreporter.write_line("Set CI=true to turn these skips into failures.", red=True)


def _browser_problem() -> str | None:
    if SELENIUM_PROBLEM:
        return SELENIUM_PROBLEM
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found; install it with `apt-get install -y {package}`"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HeraldServer:
    """One `herald serve` process on a fixed loopback port; can be restarted on that port."""

    def __init__(self, binary: Path, port: int, workdir: Path):
        self.binary = binary
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.log_path = workdir / "herald.log"
        self.process: subprocess.Popen | None = None
        # For an https base_url with a self-signed certificate (the TLS tests).
        self.ssl_context = None
        self.env = dict(os.environ)
        # Keep the server's secret in the test's own folder (not the user's ~/.local/state),
        # and the same across restarts so that chat sessions survive them.
        self.env["HERALD_SECRET_FILE"] = str(workdir / "secret")
        for name in ("HERALD_REDIS_URL", "HERALD_CHAT", "HERALD_SUBSCRIPTION_EVENTS", "HERALD_SUBSCRIBER_KEY",
                     "HERALD_TLS_CERT", "HERALD_TLS_KEY"):
            self.env.pop(name, None)

    def start(self, timeout: float = 15.0) -> None:
        assert self.process is None, "server already running"
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [str(self.binary), "serve", "--port", str(self.port), "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.workdir,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                pytest.fail(f"herald exited early with status {code}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1, context=self.ssl_context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"herald did not answer /healthz within {timeout}s:\n{self.log_tail()}", pytrace=False)

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
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
        _prerequisite_missing(
            f"server binary {binary} not found (build it with `swift build --product herald` or set HERALD_BIN)"
        )
    return binary


@pytest.fixture(scope="session")
def server(herald_binary):
    """The running server, shared by all tests (each test uses its own rooms)."""
    problem = _browser_problem()
    if problem:
        _prerequisite_missing(problem)
    workdir = Path(tempfile.mkdtemp(prefix="herald-e2e-"))
    instance = HeraldServer(herald_binary, _free_port(), workdir)
    instance.start()
    for asset in ("/", "/chat/app.js", "/chat/style.css"):
        try:
            with urllib.request.urlopen(instance.base_url + asset, timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            instance.stop()
            pytest.fail(
                f"{herald_binary} answers {asset} with HTTP {status}: it was built without the chat page "
                "(Sources/HeraldChat/Resources) or without the chat routes; rebuild it",
                pytrace=False,
            )
    yield instance
    instance.stop()
    if os.environ.get("HERALD_E2E_KEEP_LOGS") != "1":
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def live_server(server):
    """The shared server, started again if an earlier test left it down."""
    if server.process is None or server.process.poll() is not None:
        server.process = None
        server.start()
    return server


def make_chrome(width: int = 1200, height: int = 900, extra_arguments: tuple[str, ...] = ()):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in extra_arguments + (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(15)
    return driver


@pytest.fixture
def browser_factory(live_server):
    """Call it to get a fresh, isolated Chromium (own cookies); all are quit at teardown."""
    drivers = []

    def factory(width: int = 1200, height: int = 900):
        driver = make_chrome(width, height)
        drivers.append(driver)
        return driver

    yield factory
    for driver in drivers:
        try:
            driver.quit()
        except Exception:  # already quit by the test
            pass


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
