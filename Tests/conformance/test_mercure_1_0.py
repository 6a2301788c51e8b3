"""The Mercure 1.0 conformance cases (`conformance-tests/mercure.spec.ts` as it stands since
Mercure 1.0: `match=` / `match_urlpattern=` selectors, an OAuth 2.0 access token), written by us
from its dataset, against `herald serve --publisher-key '!ChangeThisMercureHubJWTSecretKey!'
--issuer https://localhost --resource-identifier https://localhost/.well-known/mercure`."""

from __future__ import annotations

import pytest

from cases import Case, random_string, run_case
from conftest import MERCURE_KEY, start_hub

# The suite's RFC 9068 access token (typ at+jwt, iss https://localhost, aud the resource
# identifier, exp 2100-01-01), granting publish and subscribe on `*` through authorization_details.
TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJhdWQiOiJodHRwczovL2xvY2FsaG9zdC8ud2VsbC1rbm93bi9tZXJjdXJlIiwiaXNz"
    "IjoiaHR0cHM6Ly9sb2NhbGhvc3QiLCJhdXRob3JpemF0aW9uX2RldGFpbHMiOlt7InR5cGUiOiJodHRwczovL21lcmN1cmUucm9ja3MvYXV0"
    "aG9yaXphdGlvbi1kZXRhaWwiLCJhY3Rpb25zIjpbInB1Ymxpc2giXSwidG9waWNzIjpbeyJtYXRjaCI6IioifV19LHsidHlwZSI6Imh0dHBz"
    "Oi8vbWVyY3VyZS5yb2Nrcy9hdXRob3JpemF0aW9uLWRldGFpbCIsImFjdGlvbnMiOlsic3Vic2NyaWJlIl0sInRvcGljcyI6W3sibWF0Y2gi"
    "OiIqIn1dfV0sImV4cCI6NDEwMjQ0NDgwMH0.z_S8IP5WZsCK8h3pcq0PB5zvJE0OdTrGA70khAYJQy4"
)

R = [random_string() for _ in range(6)]
CASES = [
    Case("raw string", True, [R[0]], [R[0]]),
    Case("multiple topic selectors", True, [R[2]], ["foo", R[2]]),
    Case("URI", True, [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"]),
    Case("URL pattern", True, [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/:random"]),
    Case("nonmatching raw string", False, ["will-not-match"], ["another-name"]),
    Case("nonmatching URI", False, ["https://example.net/foo/will-not-match"], ["https://example.net/foo/another-name"]),
    Case("nonmatching URL pattern", False, ["https://example.net/foo/will-not-match"], ["https://example.net/bar/:var"]),
    Case("private raw string", False, [R[0]], [R[0]], private=True),
    Case("private URI", False, [f"https://example.net/foo/{R[3]}"], [f"https://example.net/foo/{R[3]}"], private=True),
    Case("private URL pattern", False, [f"https://example.net/foo/{R[4]}"], ["https://example.net/foo/:random"], private=True),
]


@pytest.fixture(scope="module")
def hub(herald_binary):
    instance = start_hub(
        herald_binary,
        [
            "--publisher-key", MERCURE_KEY,
            "--issuer", "https://localhost",
            "--resource-identifier", "https://localhost/.well-known/mercure",
        ],
    )
    yield instance
    instance.stop()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mercure_1_0(hub, chrome, case):
    run_case(chrome, hub.base_url, case, TOKEN, "1.0")


# Not a case of the suite: the acceptance check that the suite's own access token
# publishes on this hub today (subscribed with 0.x `topic=`, the request side that exists).
def test_suite_access_token_publishes(hub, chrome):
    topic = f"https://example.net/token/{random_string()}"
    run_case(chrome, hub.base_url, Case("access token publishes", True, [topic], [topic]), TOKEN, "0.x")
