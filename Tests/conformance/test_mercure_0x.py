"""The Mercure 0.x conformance cases (`conformance-tests/mercure.spec.ts` before Mercure 1.0:
`topic=` selectors, RFC 6570 URI templates, the `mercure` JWT claim), written by us from its
dataset, against `herald serve --publisher-key '!ChangeThisMercureHubJWTSecretKey!'`."""

from __future__ import annotations

import pytest

from cases import Case, random_string, run_case
from conftest import MERCURE_KEY, start_hub

# The suite's publisher token: HS256 with the key above, {"mercure": {"publish": ["*"], "subscribe": ["*"]}}.
TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiKiJdfX0."
    "bVXdlWXwfw9ySx7-iV5OpUSHo34RkjUdVzDLBcc6l_g"
)

R = [random_string() for _ in range(6)]
CASES = [
    Case("raw string", True, [R[0]], [R[0]]),
    Case("multiple topics", True, [random_string(), R[1]], [R[1]]),
    Case("multiple topic selectors", True, [R[2]], ["foo", R[2]]),
    Case("URI", True, [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"]),
    Case("URI template", True, [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/{random}"]),
    Case("nonmatching raw string", False, ["will-not-match}"], ["another-name"]),
    Case("nonmatching URI", False, ["https://example.net/foo/will-not-match}"], ["https://example.net/foo/another-name"]),
    Case("nonmatching URI template", False, ["https://example.net/foo/will-not-match}"], ["https://example.net/bar/{var}"]),
    Case("private raw string", False, [R[0]], [R[0]], private=True),
    Case("private URI", False, [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"], private=True),
    Case("private URI template", False, [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/{random}"], private=True),
]


@pytest.fixture(scope="module")
def hub(herald_binary):
    instance = start_hub(herald_binary, ["--publisher-key", MERCURE_KEY])
    yield instance
    instance.stop()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mercure_0x(hub, chrome, case):
    run_case(chrome, hub.base_url, case, TOKEN, "0.x")
