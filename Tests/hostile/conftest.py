"""Fixtures for the hostile-client suite: a fresh `herald serve --port 0` per test, on loopback,
and readings of its open descriptors, CPU time and RSS from /proc.

Environment:
  HERALD_BIN   the server binary (default: the newest of <repo>/.build/{debug,release}/herald)
  CI=true      a missing binary FAILS the run instead of skipping it

Test names carry the row of issue 11's table they reproduce, in the table's order: row1 plain
publishes, row2 the other connection kinds, row3 many connect+close cycles, row4 trickling heads,
row5 Content-Length 100000000, row6 bare-LF POST, row7 `?%zz`, row8 Expect: 100-continue, row9
HTTP/1.0 subscribe, row10 4 worst-template subscribers, row11 RSS of 100 worst subscribers, row12
a 1,000,000-byte topic, row13 presence churn vs history, row14 the chat's cookie, row15
`private=`, row16 `--publisher-key <PEM>`; itemN: the issue's list below the table; held_up:
"what held up"; issue17: graceful shutdown.

The knobs added for issue 11 and 17 (--head-timeout, --shutdown-timeout, ...) are given to the
server through their HERALD_* environment variables (FLAGS.md): a build without them still
starts, and the test then fails on the behaviour it checks rather than on an unknown option.
"""

from __future__ import annotations

import collections
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _raise_own_fd_limit() -> None:
    """The client side holds hundreds of sockets in some tests."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


_raise_own_fd_limit()


def find_binary() -> Path | None:
    configured = os.environ.get("HERALD_BIN")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else REPO_ROOT / path
    candidates = [REPO_ROOT / ".build" / kind / "herald" for kind in ("debug", "release")]
    candidates = [path for path in candidates if path.is_file() and os.access(path, os.X_OK)]
    return max(candidates, key=lambda path: path.stat().st_mtime) if candidates else None


class Herald:
    """One `herald serve` process on a free loopback port (read from its start-up line)."""

    STARTUP = re.compile(r"Herald listening on https?://127\.0\.0\.1:(\d+)")

    def __init__(self, binary: Path, workdir: Path, args=(), env=None, nofile: int | None = None):
        self.binary = binary
        self.workdir = workdir
        self.args = [str(arg) for arg in args]
        self.nofile = nofile
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        self.env["HERALD_SECRET_FILE"] = str(workdir / "secret")
        self.env.update({k: str(v) for k, v in (env or {}).items()})
        self.output: collections.deque[str] = collections.deque(maxlen=300)
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self._port_seen = threading.Event()

    # ---- life cycle ----

    def start(self, timeout: float = 30.0) -> "Herald":
        command = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"]
        command += self.args
        limit = self.nofile

        def lower_fd_limit():  # runs in the child, before exec
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.workdir,
            preexec_fn=lower_fd_limit,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._port_seen.wait(timeout) or self.port is None:
            status = self.process.poll()
            self.kill()
            what = f"exited with status {status}" if status is not None else f"printed no port within {timeout}s"
            pytest.fail(f"herald serve {' '.join(self.args)[:200]} {what}:\n{self.log_tail()}", pytrace=False)
        return self

    def _drain(self) -> None:
        """Reads the server's output for as long as it runs (a full pipe would block it)."""
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.output.append(line)
            if self.port is None:
                match = self.STARTUP.search(line)
                if match:
                    self.port = int(match.group(1))
                    self._port_seen.set()
        self._port_seen.set()  # exited: stop waiting

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_and_wait(self, signum: int, bound: float) -> tuple[bool, float, int | None]:
        """Sends `signum`; (exited within `bound`, seconds it took, exit status)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout=bound)
            return True, time.monotonic() - started, status
        except subprocess.TimeoutExpired:
            return False, time.monotonic() - started, None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended after 2 s (tests of the graceful shutdown
        itself are in test_shutdown.py; here a leftover hostile client must not cost time)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self.output)[-lines:]) or "(no output)"

    # ---- /proc readings ----

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc/PID/status")

    def settled_fds(self, quiet: float = 0.5, timeout: float = 10.0) -> int:
        """The descriptor count once it has not changed for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.fds()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        return last

    def wait_fds_at_most(self, limit: int, timeout: float = 5.0) -> int:
        """Polls until the server holds at most `limit` descriptors; the last count seen."""
        deadline = time.monotonic() + timeout
        count = self.fds()
        while count > limit and time.monotonic() < deadline:
            time.sleep(0.05)
            count = self.fds()
        return count

    def _sockets(self) -> list[tuple[str, int]]:
        """(TCP state, bytes received but not read yet) of each socket the server holds."""
        inodes = set()
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        found = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as rows:
                    next(rows)
                    for row in rows:
                        parts = row.split()
                        if parts[9] in inodes:
                            found.append((self.TCP_STATES.get(parts[3], parts[3]), int(parts[4].split(":")[1], 16)))
            except OSError:
                pass
        return found

    TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN", "04": "FIN_WAIT1",
                  "05": "FIN_WAIT2", "07": "CLOSE", "09": "LAST_ACK", "0B": "CLOSING"}

    def wait_input_read(self, timeout: float = 5.0) -> bool:
        """Waits until the server has accepted every pending connection and read everything its
        clients sent (no bytes waiting in any of its sockets, none in the listen queue)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sockets = self._sockets()
            if all(unread == 0 for _, unread in sockets):
                return True
            time.sleep(0.05)
        return False

    def socket_states(self) -> collections.Counter:
        """TCP states of the server's sockets, e.g. {'CLOSE_WAIT': 99, 'LISTEN': 1}."""
        return collections.Counter(state for state, _ in self._sockets())


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"hostile suite prerequisite missing (CI=true): {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def herald_binary() -> Path:
    binary = find_binary()
    if binary is None or not (binary.is_file() and os.access(binary, os.X_OK)):
        _missing("no herald binary: build it with `swift build --product herald` or set HERALD_BIN")
    return binary


@pytest.fixture
def herald(herald_binary, tmp_path):
    """A factory: herald(*serve_args, env={...}, nofile=N) starts a fresh server; all are
    stopped at the end of the test."""
    started: list[Herald] = []

    def start(*args, env=None, nofile=None) -> Herald:
        workdir = Path(tempfile.mkdtemp(prefix="herald-hostile-", dir=tmp_path))
        server = Herald(herald_binary, workdir, args=args, env=env, nofile=nofile)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def certificate(tmp_path):
    """A fresh self-signed P-256 certificate for localhost: (cert path, key path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


@pytest.fixture
def server(herald):
    """A fresh server with the defaults (heartbeats off, so every comment on a stream means something)."""
    return herald("--heartbeat", "0")


_measurements: list[str] = []


@pytest.fixture
def measure(request):
    """measure(text): a figure for the closing note, printed in the run's summary."""

    def record(text: str) -> None:
        _measurements.append(f"{request.node.name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter):
    if _measurements:
        terminalreporter.section("hostile-client measurements")
        for line in _measurements:
            terminalreporter.write_line(line)
