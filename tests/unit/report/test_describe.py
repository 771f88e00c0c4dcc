"""The words every view uses for a change, a duration and a flow row."""

from __future__ import annotations

from typing import Any

import pytest

from netdiag.report.describe import arrivals, describe_change, flow_rows, format_ns
from netdiag.report.document import Change, parse_analysis


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ({"kind": "dnat", "before": "172.19.0.10:8080", "after": "192.168.0.3:80"},
         "DNAT 172.19.0.10:8080 -> 192.168.0.3:80"),
        ({"kind": "un-snat", "before": "10.0.0.5", "after": "10.16.0.7"},
         "un-SNAT 10.0.0.5 -> 10.16.0.7"),
        ({"kind": "mac-rewrite", "field": "eth_dst", "before": "a", "after": "b"},
         "dst MAC a -> b"),
        ({"kind": "ttl", "before": 64, "after": 62}, "TTL 64 -> 62"),
        ({"kind": "encap", "encap": "vxlan", "vni": 42, "outer_src": "10.0.0.1",
          "outer_dst": "10.0.0.2"}, "encap vxlan vni 42 outer 10.0.0.1 -> 10.0.0.2"),
        ({"kind": "decap", "encap": "geneve", "vni": None, "outer_src": "10.0.0.2",
          "outer_dst": "10.0.0.1"}, "decap geneve outer 10.0.0.2 -> 10.0.0.1"),
        ({"kind": "dscp", "before": 0, "after": 46, "why": "qos"}, "dscp 0 -> 46 (why=qos)"),
    ],
)  # fmt: skip
def test_describe_change(raw: dict[str, Any], text: str) -> None:
    assert describe_change(Change.parse(raw, "test")) == text


def test_format_ns() -> None:
    assert [format_ns(n) for n in (None, 999, 41_000, 1_250_000, 2_000_000_000, -300_000)] == [
        "-", "999 ns", "41 µs", "1.25 ms", "2 s", "-300 µs",
    ]  # fmt: skip


def test_flow_rows_and_hairpin_arrivals(seed_doc: dict[str, Any]) -> None:
    analysis = parse_analysis(seed_doc)
    rows = {r.id: r for r in flow_rows(analysis)}
    assert rows["f1"].translated == "DNAT 192.168.0.6"
    assert rows["f1"].reply == "reply"
    assert rows["f2"].anomalies == "dropped"
    assert "172.19.0.1 172.19.0.11" in rows["f2"].haystack
    # A journey passing the same point twice: transforms are matched by position.
    j1 = seed_doc["journeys"][0]
    j1["sightings"].append(dict(j1["sightings"][1]))
    j1["transforms"].append({"from": j1["sightings"][2]["point"], "to": j1["sightings"][1]["point"],
                             "latency_ns": 5, "changes": []})  # fmt: skip
    found = arrivals(parse_analysis(seed_doc).journeys["j1"])
    assert [t.latency_ns if t else None for t in found] == [None, 120_000, 41_000, 5]


def test_a_time_before_the_first_sighting_has_one_sign() -> None:
    """Between nodes a hop may land before the first within the clocks' error: ``-40.6 µs``,
    never ``+-40.6 µs``."""
    from netdiag.report.describe import format_signed_ns

    assert format_signed_ns(-40_600) == "-40.6 µs"
    assert format_signed_ns(41_000) == "+41 µs"
    assert format_signed_ns(0) == "+0 ns"
