"""One Mercure conformance case, run in the browser: subscribe with `EventSource`, publish with
`fetch` once the stream is open, and report whether the update came back (our own code; the
cases themselves are the Mercure repository's conformance dataset, see the test modules)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field


def random_string() -> str:
    """40 hex characters, like the suite's `randomBytes(20).toString("hex")`."""
    return secrets.token_hex(20)


@dataclass
class Case:
    name: str
    must_be_received: bool
    update_topics: list[str]
    topic_selectors: list[str]
    private: bool = False
    # Mercure's suite names each update `id-<JSON of its topics>`.
    update_id: str = field(init=False)

    def __post_init__(self):
        self.update_id = "id-" + json.dumps(self.update_topics, separators=(",", ":"))

    @property
    def data(self) -> str:
        # Several lines, one of them empty: the hub must frame it as several `data:` lines.
        return f"data for\n\n        {self.name}"


_SCRIPT = r"""
const [testCase, token, protocol, done] = arguments;
const result = {opened: false, received: false, fetchDone: false};
let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  es.close();
  done(result);
};
// 0.x subscribes with `topic`; 1.0 with `match` (exact) or `match_urlpattern` for selectors
// carrying a `:name` group, as the 1.0 suite does.
const parameter = (selector) =>
  protocol === "0.x" ? "topic" : (/\/:[A-Za-z_]/.test(selector) ? "match_urlpattern" : "match");
const url = new URL("/.well-known/mercure", window.origin);
for (const selector of testCase.topic_selectors) url.searchParams.append(parameter(selector), selector);
const form = new URLSearchParams();
for (const topic of testCase.update_topics) form.append("topic", topic);
form.set("id", testCase.update_id);
form.set("data", testCase.data);
if (testCase.private) form.set("private", "on");

const es = new EventSource(url);
es.onerror = () => {
  if (!result.opened) {
    result.subscribeFailed = true;  // e.g. a 400: the stream never opened
    finish();
  }
};
es.onmessage = (event) => {
  if (event.type === "message" && event.lastEventId === testCase.update_id && event.data === testCase.data) {
    result.received = true;
    if (result.fetchDone) finish();
  }
};
es.onopen = async () => {
  result.opened = true;
  try {
    const response = await fetch("/.well-known/mercure", {
      method: "POST",
      headers: {Authorization: "Bearer " + token},
      body: form,
    });
    result.status = response.status;
    result.contentType = response.headers.get("Content-Type");
    result.body = await response.text();
  } catch (error) {
    result.fetchError = String(error);
  }
  result.fetchDone = true;
  if (result.received) finish();
  else setTimeout(finish, 2000);  // the suite's wait for an update that must not come
};
"""


def run_case(driver, base_url: str, case: Case, token: str, protocol: str) -> None:
    """Runs `case` in a fresh page on the hub's origin and asserts what the suite asserts: the
    update is received exactly when it must be, and then the publish answered 200, text/plain,
    with the update's id as body."""
    # A page of the hub's own origin (the suite's `page.goto("/")`): a plain-text one, so no
    # script of the demo page runs beside the case.
    driver.get(base_url + "/healthz")
    payload = {
        "update_topics": case.update_topics,
        "topic_selectors": case.topic_selectors,
        "update_id": case.update_id,
        "data": case.data,
        "private": case.private,
    }
    result = driver.execute_async_script(_SCRIPT, payload, token, protocol)
    # The suite waits for the stream to open before publishing: a subscription the hub refused
    # fails every case, including the ones whose update must not arrive.
    assert result["opened"], f"the subscription did not open (refused by the hub?): {result}"
    assert result["received"] == case.must_be_received, f"received={result['received']}, expected {case.must_be_received}: {result}"
    if case.must_be_received:
        assert re.match(r"^text/plain(?:$|;.*)", result.get("contentType") or ""), result
        assert result["status"] == 200, result
        # Herald keeps publisher-supplied ids, so the suite's CUSTOM_ID check applies.
        assert result["body"] == case.update_id, result
