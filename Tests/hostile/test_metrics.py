"""`/metrics` of `herald serve` (issue 16 item 2): rendered by swift-prometheus from the hub's
swift-metrics instruments. It must keep every name it showed before (the list below, read off
main's statistics-based renderer before the change), add the two fan-out histograms, parse as
the Prometheus text format (0.0.4), and keep its access rules (loopback only by default, never
through a proxy; `--metrics public`; `--metrics off`)."""

from __future__ import annotations

import math
import re
import time

import pytest

from rawhttp import Stream, get, publish

# What main's /metrics showed (name -> type), before swift-metrics.
MAIN_METRICS = {
    "herald_subscribers": "gauge",
    "herald_subscriptions_opened_total": "counter",
    "herald_updates_total": "counter",
    "herald_deliveries_total": "counter",
    "herald_subscribers_dropped_total": "counter",
    "herald_history_updates": "gauge",
    "herald_fanout_backlogged": "gauge",
    "herald_broker_catchup_retries_total": "counter",
    "herald_fast_path_publishes_total": "counter",
    "herald_gap_events_total": "counter",
    "herald_publish_duplicates_total": "counter",
    "herald_matching_states": "gauge",
    "herald_presence_changes_dropped_total": "counter",
}
HISTOGRAMS = ["herald_publish_to_write_seconds", "herald_fanout_batch_size"]

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?,?\}})? (\S+)(?: (-?\d+))?$")


def parse_value(text: str) -> float:
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    assert re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text), f"not a number: {text!r}"
    return float(text)


def parse(text: str) -> dict[str, dict]:
    """A strict reader of the text format 0.0.4: returns {family: {type, help, samples}}, where
    samples are (name, labels, value). Fails on anything the format does not allow: a sample
    before its family's TYPE, two TYPE or HELP lines for one family, a malformed line, a
    histogram whose buckets are not cumulative or do not end with +Inf equal to _count."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    families: dict[str, dict] = {}
    for line in text.split("\n")[:-1]:
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = families.setdefault(parts[2], {"type": None, "help": None, "samples": []})
                assert re.fullmatch(NAME, parts[2]), line
                if parts[1] == "TYPE":
                    assert family["type"] is None and not family["samples"], f"late or second TYPE: {line}"
                    assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                    family["type"] = parts[3]
                else:
                    assert family["help"] is None, f"second HELP: {line}"
                    family["help"] = parts[3] if len(parts) == 4 else ""
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels_text, value = match.group(1), match.group(2) or "", match.group(3)
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels_text))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        family = families.get(name) or families.get(base)
        assert family is not None and family["type"] is not None, f"sample without a TYPE: {line}"
        if family is families.get(base) and name != base:
            assert family["type"] in ("histogram", "summary"), f"{name} in a {family['type']} family"
        family["samples"].append((name, labels, parse_value(value)))
    for name, family in families.items():
        if family["type"] != "histogram":
            continue
        buckets = [(s[1]["le"], s[2]) for s in family["samples"] if s[0] == name + "_bucket"]
        assert buckets and buckets[-1][0] == "+Inf", f"{name}: no +Inf bucket"
        bounds = [parse_value(le) for le, _ in buckets]
        assert bounds == sorted(bounds), f"{name}: buckets out of order"
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), f"{name}: buckets not cumulative"
        count = [s[2] for s in family["samples"] if s[0] == name + "_count"]
        assert count == [counts[-1]], f"{name}: _count {count} != +Inf bucket {counts[-1]}"
        assert len([s for s in family["samples"] if s[0] == name + "_sum"]) == 1, f"{name}: one _sum"
    return families


def value(families: dict, name: str, sample: str | None = None) -> float:
    values = [s[2] for s in families[name]["samples"] if s[0] == (sample or name)]
    assert len(values) == 1, (name, values)
    return values[0]


def scrape(port: int, headers=None) -> dict:
    response = get(port, "/metrics", headers=headers)
    assert response.status == 200, response.text
    assert (response.header("Content-Type") or "").startswith("text/plain; version=0.0.4")
    return parse(response.text)


def test_metrics_keep_every_name_and_add_the_fanout_histograms(server, measure):
    before = scrape(server.port)
    missing = set(MAIN_METRICS) - set(before)
    assert not missing, f"names main showed are gone: {sorted(missing)}"
    for name, kind in MAIN_METRICS.items():
        assert before[name]["type"] == kind, (name, before[name]["type"])
        assert before[name]["help"], f"{name} has no HELP"
    for name in HISTOGRAMS:
        assert before[name]["type"] == "histogram", name
        assert before[name]["help"], f"{name} has no HELP"
        assert value(before, name, name + "_count") == 0
    assert value(before, "herald_subscribers") == 0

    streams = [Stream(server.port, ["t"], timeout=10) for _ in range(2)]
    try:
        for index in range(3):
            assert publish(server.port, "t", f"m{index}", id=f"u{index}").status == 200
        for stream in streams:
            stream.wait_for(lambda s: len(s.events) >= 3, timeout=10, what="3 events")
        assert publish(server.port, "t", "retry", id="u2").status == 200  # a duplicate id
        # Deliveries are counted once per batch, after its writes: poll (bounded) for them.
        deadline = time.monotonic() + 10
        while True:
            after = scrape(server.port)
            if value(after, "herald_deliveries_total") == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert value(after, "herald_deliveries_total") == 6
        assert value(after, "herald_subscribers") == 2
        assert value(after, "herald_subscriptions_opened_total") == 2
        assert value(after, "herald_updates_total") == 3
        assert value(after, "herald_publish_duplicates_total") == 1
        assert value(after, "herald_history_updates") == 3
        assert value(after, "herald_fast_path_publishes_total") == 4
        batches = value(after, "herald_fanout_batch_size", "herald_fanout_batch_size_count")
        assert value(after, "herald_fanout_batch_size", "herald_fanout_batch_size_sum") == 6
        assert 1 <= batches <= 6, batches
        assert value(after, "herald_publish_to_write_seconds", "herald_publish_to_write_seconds_count") == batches
        latency = value(after, "herald_publish_to_write_seconds", "herald_publish_to_write_seconds_sum")
        assert 0 <= latency < 10 * batches
        measure(f"{int(batches)} fan-out batches for 3 publishes x 2 subscribers; "
                f"mean publish-to-write {latency / batches * 1e6:.0f} us")
    finally:
        for stream in streams:
            stream.close()
    deadline = time.monotonic() + 10
    while value(scrape(server.port), "herald_subscribers") != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value(scrape(server.port), "herald_subscribers") == 0


@pytest.mark.parametrize("proxy_header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_metrics_refuse_what_came_through_a_proxy(server, proxy_header):
    peer = "for=203.0.113.9" if proxy_header == "Forwarded" else "203.0.113.9"
    response = get(server.port, "/metrics", headers=[(proxy_header, peer)])
    assert response.status == 403
    assert "loopback" in response.text


def test_metrics_public_and_off(herald):
    public = herald("--heartbeat", "0", "--metrics", "public")
    assert "herald_subscribers" in scrape(public.port, headers=[("X-Forwarded-For", "203.0.113.9")])
    off = herald("--heartbeat", "0", "--metrics", "off")
    assert get(off.port, "/metrics").status == 404
    # Without a backend the hub still serves: a publish is answered.
    assert publish(off.port, "t", "x").status == 200
