"""Page object for the chat page and a small HTTP client that chats without a browser."""

from __future__ import annotations

import http.cookiejar
import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15  # seconds; no wait in these tests is longer


def wait_for_page(driver, script: str, what: str):
    """Polls `script` in the page until it returns something truthy (returned); fails after WAIT
    with the stream state the EventSource test pages keep (`opened`, `failures`, `received`)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    state = driver.execute_script("return [window.opened, window.failures, window.received]")
    pytest.fail(f"timed out waiting for {what}; opened, failures, received: {state}")


def publish_form(base_url: str, topic: str, data: str, context=None) -> str:
    """Publishes one update to the hub at `base_url` the way a backend would (a form POST from
    loopback, no key); returns the update's id. `context`: an ssl context for https."""
    form = urllib.parse.urlencode({"topic": topic, "data": data}).encode()
    request = urllib.request.Request(base_url + "/.well-known/mercure", data=form)
    with urllib.request.urlopen(request, timeout=5, context=context) as answer:
        return answer.read().decode().strip()


def unique_room(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_READ_MESSAGES = """
return Array.from(document.querySelectorAll('#messages .message')).map(m => ({
  id: m.dataset.id,
  name: m.querySelector('.name').textContent,
  text: m.querySelector('.text').textContent,
  time: m.querySelector('.time').textContent,
  title: m.querySelector('.time').title,
}));
"""

_READ_ONLINE = """
return Array.from(document.querySelectorAll('#online li')).map(li => ({
  name: li.querySelector('.who').textContent,
  connections: Number(li.dataset.connections || '0'),
}));
"""


class ChatPage:
    def __init__(self, driver, base_url: str):
        self.driver = driver
        self.base_url = base_url

    # ---- navigation ----

    def open(self, room: str | None = None) -> "ChatPage":
        self.driver.get(self.base_url + "/" + (f"#room={room}" if room else ""))
        self.wait(
            lambda d: d.find_element(By.ID, "login").is_displayed() or d.find_element(By.ID, "chat").is_displayed(),
            "the page to show the login form or the chat",
        )
        return self

    def join(self, name: str, room: str | None = None) -> "ChatPage":
        """Opens the page, chooses `name` and waits until the room's stream is connected."""
        self.open(room)
        self.wait_visible("login")
        field = self.driver.find_element(By.ID, "name-input")
        field.clear()
        field.send_keys(name)
        self.driver.find_element(By.ID, "name-submit").click()
        self.wait_visible("chat")
        self.wait(lambda d: d.find_element(By.ID, "current-name").text == name.strip(), f"name {name!r} shown")
        if room:
            self.wait(lambda d: self.room() == room, f"room {room!r} shown")
        self.wait_status("connected")
        return self

    def reload(self) -> None:
        self.driver.refresh()
        self.wait_visible("chat")
        self.wait_status("connected")

    def switch_room(self, room: str) -> None:
        field = self.driver.find_element(By.ID, "room-input")
        field.clear()
        field.send_keys(room)
        self.driver.find_element(By.ID, "room-submit").click()

    # ---- reading ----

    def wait(self, condition, what: str, timeout: float = WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)
        except TimeoutException:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; status={self.status_safe()!r}, "
                f"messages={self.messages_safe()!r}, errors={self.js_errors()!r}"
            ) from None

    def wait_visible(self, element_id: str) -> None:
        self.wait(lambda d: d.find_element(By.ID, element_id).is_displayed(), f"#{element_id} to be visible")

    def status(self) -> str:
        return self.driver.find_element(By.ID, "status").get_attribute("data-state")

    def status_safe(self) -> str | None:
        try:
            return self.status()
        except Exception:
            return None

    def status_text(self) -> str:
        return self.driver.find_element(By.ID, "status").text

    def wait_status(self, state: str, timeout: float = WAIT) -> None:
        self.wait(lambda d: self.status() == state, f"status {state!r}", timeout)

    def room(self) -> str:
        return self.driver.find_element(By.ID, "room-name").text

    def messages(self) -> list[dict]:
        return self.driver.execute_script(_READ_MESSAGES)

    def messages_safe(self):
        try:
            return [(m["name"], m["text"][:40]) for m in self.messages()][-8:]
        except Exception:
            return None

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages()]

    def wait_message(self, text: str, name: str | None = None, timeout: float = WAIT) -> dict:
        def found(_):
            for message in self.messages():
                if message["text"] == text and (name is None or message["name"] == name):
                    return message
            return False

        return self.wait(found, f"message {text!r} from {name!r}", timeout)

    def online(self) -> dict[str, int]:
        return {entry["name"]: entry["connections"] for entry in self.driver.execute_script(_READ_ONLINE)}

    def online_count(self) -> int:
        return int(self.driver.find_element(By.ID, "online-count").text)

    def wait_online(self, names: set[str], timeout: float = WAIT) -> None:
        self.wait(
            lambda d: set(self.online()) == names and self.online_count() == len(names),
            f"online names {sorted(names)}",
            timeout,
        )

    def gap_notice(self) -> str | None:
        """The page's "messages may be missing" notice (after a `herald-gap` event), or None."""
        return self.driver.execute_script(
            "const n = document.getElementById('gap-notice'); return n && !n.hidden ? n.textContent : null;"
        )

    def error(self, element_id: str = "error") -> str:
        node = self.driver.find_element(By.ID, element_id)
        return node.text if node.is_displayed() else ""

    def wait_error(self, element_id: str, fragment: str) -> str:
        return self.wait(
            lambda d: fragment.lower() in self.error(element_id).lower() and self.error(element_id),
            f"#{element_id} to mention {fragment!r}",
        )

    def alert_present(self) -> bool:
        try:
            self.driver.switch_to.alert.text  # noqa: B018 - raises when there is none
            return True
        except NoAlertPresentException:
            return False

    def js_errors(self) -> list[str]:
        """Uncaught script errors logged by the page (network noise excluded)."""
        try:
            entries = self.driver.get_log("browser")
        except Exception:
            return []
        return [
            e["message"]
            for e in entries
            if e.get("level") == "SEVERE" and e.get("source") == "javascript"
        ]

    # ---- writing ----

    def send(self, text: str, wait_for_echo: bool = True) -> None:
        field = self.driver.find_element(By.ID, "message-input")
        self.wait(lambda d: field.is_enabled(), "the composer to be enabled")
        if len(text) > 200:
            # send_keys types one key at a time; fill long texts at once and tell the page.
            self.driver.execute_script(
                "arguments[0].value = arguments[1];"
                "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
                field,
                text,
            )
        else:
            field.send_keys(text)
        field.send_keys(Keys.ENTER)
        if wait_for_echo:
            self.wait_message(text, name=self.driver.find_element(By.ID, "current-name").text)
            self.wait(lambda d: field.get_attribute("value") == "", "the composer to be cleared")


class HttpChatClient:
    """Talks to the chat API like the page does, with urllib and a cookie jar."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf: str | None = None
        self.name: str | None = None

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict | None]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with self.opener.open(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, {"raw": raw.decode(errors="replace")}

    def login(self, name: str) -> "HttpChatClient":
        status, body = self.request("POST", "/chat/session", {"name": name})
        assert status == 200, (status, body)
        self.csrf, self.name = body["csrf"], body["name"]
        return self

    def post(self, room: str, text: str) -> tuple[int, dict | None]:
        return self.request(
            "POST",
            f"/chat/rooms/{urllib.parse.quote(room)}/messages",
            {"text": text},
            {"X-CSRF-Token": self.csrf or ""},
        )


class UnavailableServer:
    """Stands in for the hub while it is down: answers 503 to everything, records requests."""

    def __init__(self, port: int):
        self.requests: list[dict] = []
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def refuse(self):
                recorded.append({"time": time.monotonic(), "path": self.path, "headers": dict(self.headers)})
                body = b'{"error":"restarting"}'
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_HEAD = refuse

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "UnavailableServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def hub_requests(self) -> list[dict]:
        return [r for r in list(self.requests) if r["path"].startswith("/.well-known/mercure?")]

    def wait_hub_requests(self, count: int, timeout: float = WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.hub_requests()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.hub_requests())} of {count} stream requests within {timeout}s")
