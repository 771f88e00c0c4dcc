"""Reading the analysis document: tolerant of additions, clear about what is broken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netdiag.errors import AnalysisInputError
from netdiag.report.document import parse_analysis
from netdiag.report.loader import load_analysis


def test_streaming_loader_matches_a_plain_parse(seed_doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps(seed_doc, indent=2))
    assert load_analysis(path) == parse_analysis(seed_doc)


def test_seed_document_is_read(seed_doc: dict[str, Any]) -> None:
    analysis = parse_analysis(seed_doc)
    j1 = analysis.journeys["j1"]
    assert [s.point for s in j1.sightings] == [
        "client/eth0",
        "kube-ovn-control-plane/eth1",
        "kube-ovn-control-plane/dd2b931fc304_h",
    ]
    assert [c.kind for c in j1.transforms[1].changes] == [
        "dnat",
        "mac-rewrite",
        "mac-rewrite",
        "ttl",
    ]
    assert analysis.flow_by_journey == {"j1": "f1", "j2": "f1", "j3": "f2"}
    assert analysis.point("client/eth0") is not None
    assert analysis.clock_offsets()["client/eth0"] == 2_000_000


def test_extra_keys_are_kept_and_optional_keys_may_be_absent(seed_doc: dict[str, Any]) -> None:
    seed_doc["engine"] = {"version": 2}
    seed_doc["journeys"][0]["sightings"][0]["frame"] = 7
    seed_doc["journeys"][0]["sightings"][0]["ts_corr_ns"] = 5
    seed_doc["flows"][0]["kind"] = "icmp-echo"
    seed_doc["flows"][0]["shape"] = "new"
    del seed_doc["journeys"][1]["sightings"][0]["eth_src"]
    del seed_doc["translations"]
    analysis = parse_analysis(seed_doc)
    first = analysis.journeys["j1"].sightings[0]
    assert first.frame == 7
    assert dict(first.extra) == {"ts_corr_ns": 5}
    assert analysis.flows[0].kind == "icmp-echo"
    assert dict(analysis.flows[0].extra) == {"shape": "new"}
    assert analysis.journeys["j2"].sightings[0].eth_src is None
    assert analysis.translations == ()
    assert dict(analysis.extra) == {"engine": {"version": 2}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": "netdiag.run/1"}', "expected 'netdiag.analysis/1'"),
        (
            '{"schema": "netdiag.analysis/1", "journeys": [{"id": "j1", "sightings": [{}]}]}',
            "journey j1 has no 'point'",
        ),
        ('{"schema": "netdiag.analysis/1", "journeys": [', "invalid JSON"),
        ("[1, 2]", "invalid JSON at character 0"),
    ],
)
def test_broken_documents_get_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "analysis.json"
    path.write_text(text)
    with pytest.raises(AnalysisInputError, match=r"re-run|expected|invalid") as info:
        load_analysis(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
