"""The summary sentences come from translations and flows, for any NAT, not just the seed's."""

from __future__ import annotations

from typing import Any

from netdiag.bundle.manifest import Manifest
from netdiag.report.document import parse_analysis
from netdiag.report.verdict import verdicts


def texts(doc: dict[str, Any], manifest: dict[str, Any] | None = None) -> list[str]:
    parsed = Manifest.from_json(manifest) if manifest else None
    return [v.text for v in verdicts(parse_analysis(doc), parsed)]


def test_seed_001_verdict(seed_doc: dict[str, Any], seed_manifest: dict[str, Any]) -> None:
    assert texts(seed_doc, seed_manifest) == [
        # what was not captured comes first: it qualifies everything after it
        "kube-ovn-worker: unreachable (ssh 172.18.0.3:22: No route to host); "
        "nothing was captured there.",
        "FIP 172.19.0.11 is DNATed to 192.168.0.6 on kube-ovn-control-plane; "
        "replies leave through the same node",  # j3 was lost before reaching the DNAT
        "1 anomaly: 1 dropped.",
    ]


def test_reply_un_natted_on_another_node_is_asymmetric(seed_doc: dict[str, Any]) -> None:
    seed_doc["journeys"][1]["transforms"][0]["to"] = "kube-ovn-worker/eth1"
    seed_doc["flows"] = seed_doc["flows"][:1]
    (verdict,) = [v for v in verdicts(parse_analysis(seed_doc)) if "DNAT" in v.text]
    assert verdict.text.endswith("replies are un-NATed on kube-ovn-worker (asymmetric return)")
    assert verdict.level == "warn"


def test_no_reply_at_all(seed_doc: dict[str, Any]) -> None:
    seed_doc["flows"] = [{"request": "j1", "reply": None}]
    assert texts(seed_doc)[0].endswith("; no reply seen for 1 request(s)")


def test_port_dnat_is_a_vip_and_snat_is_stated(seed_doc: dict[str, Any]) -> None:
    change = seed_doc["journeys"][0]["transforms"][1]["changes"][0]
    change.update(before="172.19.0.10:8080", after="192.168.0.3:80")
    seed_doc["translations"] = [
        {
            "kind": "dnat",
            "node": "n1",
            "proto": "tcp",
            "before": "172.19.0.10:8080",
            "after": "192.168.0.3:80",
            "packets": 3,
        },
        {
            "kind": "snat",
            "node": "n2",
            "proto": "icmp",
            "before": "192.168.0.6",
            "after": "172.19.0.11",
            "packets": 1,
        },
    ]
    found = texts(seed_doc)
    assert found[0].startswith("VIP 172.19.0.10:8080 is DNATed to 192.168.0.3:80 on n1")
    assert found[1] == "192.168.0.6 is SNATed to 172.19.0.11 on n2"


def test_no_translation(seed_doc: dict[str, Any]) -> None:
    seed_doc["translations"] = []
    assert texts(seed_doc)[0] == "No address translation seen on the captured path."
