"""An ICMP error is tied to the packet it quotes, not merely to the latest one from its target.

Two probes leave the pod for the same destination; the router's error quotes the *first* one.
The address-and-time heuristic would pick the latest probe; the reader's ``quoted_*`` columns
(pcap/icmp.py) name the right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from netdiag.correlate import analyze, icmp
from netdiag.pcap import read_captures
from netdiag.report.json import to_dict
from tests.support import builder
from tests.support import scenarios as sc


def _capture() -> builder.Capture:
    cap = builder.Capture(points={sc.VETH: "sll2"})
    probes = [
        builder.Packet(
            "udp",
            "192.168.0.6",
            "172.19.0.1",
            ip_id=501 + k,
            ttl=1,
            sport=33434,
            dport=33435 + k,
            payload=bytes(1400),
        )
        for k in range(2)
    ]
    for k, probe in enumerate(probes):
        cap.send(probe, sc.T0 + k * 10_000, [builder.step(sc.VETH, direction="other")])
    quoted = bytes(builder.l3(probes[0]))[:28]  # IP header + 8 bytes of UDP, as a router sends
    err = builder.Packet("icmp", "192.168.0.1", "192.168.0.6", ip_id=9, df=False,
                         icmp_type=3, icmp_code=4, payload=quoted)  # fmt: skip
    cap.send(err, sc.T0 + 50_000, [builder.step(sc.VETH, direction="out")])
    return cap


@pytest.fixture
def table(tmp_path: Path) -> pd.DataFrame:
    paths = builder.write_pcaps(_capture(), tmp_path)
    tab, _ = read_captures([f"{point}={path}" for point, path in paths.items()])
    return tab


def _probe_journey(doc: dict[str, Any], ip_id: int) -> str:
    return next(j["id"] for j in doc["journeys"] if j["sightings"][0]["ip_id"] == ip_id)


def _error(doc: dict[str, Any]) -> dict[str, Any]:
    (error,) = [a for a in doc["anomalies"] if a["kind"] == "icmp-error"]
    return error


def test_the_reader_gives_the_quoted_packet(table: pd.DataFrame) -> None:
    err = table[table["icmp_type"] == 3].iloc[0]
    assert (err["quoted_ip_id"], err["quoted_proto"], err["quoted_dport"]) == (501, 17, 33435)
    assert err["icmp_mtu"] is not pd.NA


def test_error_is_tied_to_the_quoted_probe(table: pd.DataFrame) -> None:
    doc = to_dict(analyze(table))
    error = _error(doc)
    assert error["caused_by"] == _probe_journey(doc, 501)
    assert error["caused_by"] != _probe_journey(doc, 502)
    assert "fragmentation needed from 192.168.0.1" in error["detail"]


def test_quoted_packet_never_seen_is_not_guessed(table: pd.DataFrame) -> None:
    """With quoted fields the heuristic is not used: no matching sighting, no cause."""
    probe_501 = table["ip_id"].eq(501).fillna(False).to_numpy() & table["icmp_type"].isna()
    table = table[~probe_501].reset_index(drop=True)
    error = _error(to_dict(analyze(table)))
    assert "caused_by" not in error
    assert "offending packet not captured" in error["detail"]


def test_without_quoted_columns_the_heuristic_picks_the_latest(table: pd.DataFrame) -> None:
    old = table.drop(columns=list(icmp.QUOTED))
    doc = to_dict(analyze(old))
    assert _error(doc)["caused_by"] == _probe_journey(doc, 502)
