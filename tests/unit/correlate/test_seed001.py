"""Seed 001 (S1 FIP): the tool must tell exactly the story the article traces by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from netdiag.clock import Clock
from netdiag.correlate import analyze
from netdiag.report.json import to_dict
from tests.support import scenarios as sc
from tests.support.builder import write_any_pcap, write_pcaps
from tests.unit.correlate.conftest import Run, changes_of, path_of

CP = sc.CP


@pytest.mark.parametrize("skew", [0.0, 2.5, -3.7])
def test_fip_ingress_story(run: Run, skew: float) -> None:
    doc = run(sc.fip_ingress(count=1, skew={CP: skew}))
    req, rep = doc["journeys"]
    assert req["summary"] == "icmp echo-request 172.19.0.1 > 172.19.0.11 seq 1"
    assert [s["ip_id"] for s in req["sightings"]] == [28471] * 3
    assert path_of(req) == [sc.CLIENT, sc.ETH1, sc.VETH]
    assert changes_of(req) == [
        [],
        [
            ("dnat", None, "172.19.0.11", "192.168.0.6"),
            ("mac-rewrite", "eth_src", "02:42:57:db:a9:c6", "00:00:00:91:cc:aa"),
            ("ttl", None, 64, 63),
        ],
    ]
    assert [s["ip_id"] for s in rep["sightings"]] == [37678] * 3
    assert path_of(rep) == [sc.VETH, sc.ETH1, sc.CLIENT]
    assert rep["sightings"][1]["src"] == "172.19.0.11"
    assert changes_of(rep)[0] == [
        ("un-dnat", None, "192.168.0.6", "172.19.0.11"),
        ("mac-rewrite", "eth_src", "00:00:00:de:cb:07", "00:00:00:21:44:fd"),
        ("ttl", None, 64, 63),
    ]
    assert doc["flows"] == [
        {"request": "j1", "reply": "j2", "symmetric": True, "kind": "icmp-echo",
         "enter_point": sc.CLIENT, "leave_point": sc.CLIENT, "reverse_nat_point": sc.ETH1,
         "request_from": "client", "reached_sender": True, "missing_reverse_nat": []}
    ]  # fmt: skip
    assert doc["anomalies"] == []


@pytest.mark.parametrize("skew", [1.5, -2.25])
def test_clock_offset_recovered_and_latency_corrected(run: Run, skew: float) -> None:
    doc = run(sc.fip_ingress(count=3, skew={CP: skew}))
    point = {p["name"]: p for p in doc["points"]}[sc.ETH1]
    assert point["clock_source"] == "packets"
    assert abs(point["clock_offset_ns"] - round(skew * 1e9)) <= point["clock_error_ns"]
    assert point["clock_error_ns"] <= 100_000
    first_hop = doc["journeys"][0]["transforms"][0]
    assert first_hop["from"] == sc.CLIENT
    assert 0 <= first_hop["latency_ns"] <= 150_000  # true one-way delay is 60 µs


def test_translations_aggregate_all_packets(run: Run) -> None:
    doc = run(sc.fip_ingress(count=4))
    assert doc["translations"] == [
        {"kind": "dnat", "node": CP, "proto": "icmp", "before": "172.19.0.11",
         "after": "192.168.0.6", "packets": 4},
        {"kind": "un-dnat", "node": CP, "proto": "icmp", "before": "192.168.0.6",
         "after": "172.19.0.11", "packets": 4},
    ]  # fmt: skip


def test_fip_egress_snat(run: Run) -> None:
    doc = run(sc.fip_egress(count=2))
    kinds = {(t["kind"], t["before"], t["after"], t["packets"]) for t in doc["translations"]}
    assert kinds == {
        ("snat", "192.168.0.6", "172.19.0.11", 2),
        ("un-snat", "172.19.0.11", "192.168.0.6", 2),
    }
    req = doc["journeys"][0]
    assert [s["ip_id"] for s in req["sightings"]] == [14373] * 3
    assert doc["flows"][0]["enter_point"] == sc.VETH
    assert doc["flows"][0]["leave_point"] == sc.VETH


def test_seed_any_capture_on_one_node(tmp_path: Path) -> None:
    """The seed's own capture: ``tcpdump -i any`` on the node (SLL2, ifindex 81 = eth1 and
    23 = the pod veth) plus the client's eth0 — read end to end, the same story."""
    from netdiag.pcap import read_captures

    cap = sc.fip_ingress(count=1, skew={CP: 0.75})
    anyfile = write_any_pcap(cap, CP, tmp_path / "node.pcap", {"eth1": 81, "dd2b931fc304_h": 23})
    client = write_pcaps(cap, tmp_path)[sc.CLIENT]
    table, _ = read_captures(
        [f"{sc.CLIENT}={client}", f"{CP}={anyfile}"],
        ifmaps={CP: {81: "eth1", 23: "dd2b931fc304_h"}},
    )
    doc = to_dict(analyze(table))
    req, rep = doc["journeys"]
    assert path_of(req) == [sc.CLIENT, sc.ETH1, sc.VETH]
    assert [s["direction"] for s in req["sightings"]] == ["unknown", "other", "out"]
    assert changes_of(req)[1][0] == ("dnat", None, "172.19.0.11", "192.168.0.6")
    assert rep["sightings"][1] | {"ts_ns": 0, "ts_corrected_ns": 0, "row": 0} == {
        "point": sc.ETH1, "ts_ns": 0, "ts_corrected_ns": 0, "direction": "out",
        "eth_src": "00:00:00:21:44:fd", "eth_dst": None, "src": "172.19.0.11",
        "dst": "172.19.0.1", "sport": None, "dport": None, "ip_id": 37678, "ttl": 63,
        "encap": None, "row": 0, "copy": None,
    }  # fmt: skip


def test_flooded_copy_on_a_neighbour_is_not_a_hop(run: Run) -> None:
    """The external bridge floods the request to the other node's eth1 too (as in the demo
    capture): a copy seen there is listed, but the path and the NAT stay on the FIP's node.
    The worker only receives, so its clock comes from the run bundle's samples."""
    cap = sc.fip_ingress(count=2)
    worker = "kube-ovn-worker/eth1"
    cap.points[worker] = "sll2"
    for s in [s for s in cap.sightings if s.point == sc.ETH1 and s.packet.icmp_type == 8]:
        cap.sightings.append(dataclasses.replace(s, point=worker, ts_ns=s.ts_ns + 15_000))
    clocks = {"client": Clock(0, 1_000), "kube-ovn-worker": Clock(0, 1_000)}
    doc = run(cap, clocks=clocks)
    req = doc["journeys"][0]
    assert path_of(req) == [sc.CLIENT, sc.ETH1, sc.VETH, worker]
    assert [s["copy"] for s in req["sightings"]] == [None, None, None, "side"]
    assert [(t["from"], t["to"]) for t in req["transforms"]] == [
        (sc.CLIENT, sc.ETH1),
        (sc.ETH1, sc.VETH),
    ]
    assert all(f["symmetric"] for f in doc["flows"])
    assert doc["anomalies"] == []
    assert {t["node"] for t in doc["translations"]} == {CP}
