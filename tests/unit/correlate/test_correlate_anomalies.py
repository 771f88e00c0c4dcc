"""Anomalies a user must be told about, each tied to its journey and point."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from netdiag.correlate import analyze
from netdiag.report.json import to_dict
from tests.support import builder
from tests.support import scenarios as sc
from tests.unit.correlate.conftest import Run


def kinds(doc: dict[str, Any]) -> list[str]:
    return [a["kind"] for a in doc["anomalies"]]


def test_drop_at_a_hop_names_last_and_expected_point(run: Run) -> None:
    doc = run(sc.fip_ingress(count=5, drop={1: 2}))
    dropped = [a for a in doc["anomalies"] if a["kind"] == "dropped"]
    assert len(dropped) == 1
    assert dropped[0]["after_point"] == sc.ETH1
    assert dropped[0]["expected_point"] == sc.VETH
    journey = next(j for j in doc["journeys"] if j["id"] == dropped[0]["journey"])
    assert journey["sightings"][0]["ip_id"] == 28472
    assert [a["kind"] for a in doc["anomalies"]] == ["dropped"]  # the drop says why no reply
    assert len(doc["flows"]) == 4


def test_drop_on_the_underlay_between_nodes(run: Run) -> None:
    doc = run(sc.cross_node("geneve", count=4, drop={1: 3}, skew={"node2": 1.2}))
    dropped = [a for a in doc["anomalies"] if a["kind"] == "dropped"]
    assert [(a["after_point"], a["expected_point"]) for a in dropped] == [
        ("node1/eth0", "node2/eth0")
    ]


def test_asymmetric_return(run: Run) -> None:
    doc = run(sc.fip_ingress(reply_via="kube-ovn-worker/eth1"))
    assert doc["flows"][0]["symmetric"] is False
    (anomaly,) = doc["anomalies"]
    assert anomaly["kind"] == "asymmetric-return"
    assert anomaly["point"] == "kube-ovn-worker/eth1"
    assert anomaly["expected_point"] == sc.ETH1


def test_ip_id_collision_is_split_and_flagged_not_merged(run: Run) -> None:
    doc = run(sc.fip_ingress(collide=True))
    req = doc["journeys"][0]
    assert [s["src"] for s in req["sightings"]] == ["172.19.0.1"] * 3
    assert req["ambiguous"] is True
    assert req["confidence"] < 1
    stranger = next(j for j in doc["journeys"] if j["sightings"][0]["src"] == "172.19.0.2")
    assert len(stranger["sightings"]) == 1
    assert set(kinds(doc)) == {"ambiguous"}


def test_unanswered_arp(run: Run) -> None:
    doc = run(sc.fip_ingress(arp_answered=False))
    (arp,) = doc["anomalies"]
    assert arp["kind"] == "arp-unanswered"
    assert arp["point"] == sc.ETH1
    assert "who-has 172.19.0.11 tell 172.19.0.1" in arp["detail"]
    assert arp["journey"] is None


def test_tcp_retransmission_new_ip_id_same_seq(run: Run) -> None:
    doc = run(sc.lb_dnat(retransmit=True))
    retrans = [a for a in doc["anomalies"] if a["kind"] == "tcp-retransmission"]
    assert len(retrans) == 1
    original = doc["journeys"][3]
    assert original["sightings"][0]["ip_id"] == 4003
    assert f"retransmission of {original['id']}" in retrans[0]["detail"]
    again = next(j for j in doc["journeys"] if j["id"] == retrans[0]["journey"])
    assert again["sightings"][0]["ip_id"] == 4004


def test_icmp_port_unreachable_tied_to_the_datagram(run: Run) -> None:
    doc = run(sc.udp_port_unreachable())
    (err,) = [a for a in doc["anomalies"] if a["kind"] == "icmp-error"]
    assert "port unreachable from 192.168.0.3" in err["detail"]
    assert "caused by j1" in err["detail"]
    assert doc["journeys"][0]["summary"] == "udp 172.19.0.1:5353 > 172.19.0.10:53 len 32"
    error_journey = doc["journeys"][1]
    assert error_journey["transforms"][0]["changes"][0]["kind"] == "un-dnat"


def test_kernel_drops_reported_per_point(run: Run) -> None:
    doc = run(sc.fip_ingress(), kernel_dropped={sc.ETH1: 12})
    (drop,) = doc["anomalies"]
    assert drop["kind"] == "kernel-drops"
    assert drop["point"] == sc.ETH1
    assert {p["name"]: p["kernel_dropped"] for p in doc["points"]}[sc.ETH1] == 12


def test_snaplen_cut_payload_falls_back_to_weaker_key(run: Run) -> None:
    cap = sc.fip_ingress(count=2)
    cap.snaplen[sc.ETH1] = 60
    doc = run(cap)
    assert len(doc["journeys"]) == 4
    assert all(len(j["sightings"]) == 3 for j in doc["journeys"])
    assert all(j["confidence"] < 1 for j in doc["journeys"])
    assert any("snaplen" in n and sc.ETH1 in n for n in doc["notes"])


def _probe_and_error(icmp_type: int, code: int, ttl: int = 64) -> builder.Capture:
    """A pod's UDP packet and the router's ICMP error about it, both seen on the pod's veth."""
    cap = builder.Capture(points={sc.VETH: "sll2"})
    probe = builder.Packet("udp", "192.168.0.6", "172.19.0.1", ip_id=501, ttl=ttl, sport=33434,
                           dport=33435, payload=bytes(1400))  # fmt: skip
    cap.send(probe, sc.T0, [builder.step(sc.VETH, direction="other")])
    quoted = bytes(builder.l3(probe))[:28]
    err = builder.Packet("icmp", "192.168.0.1", "192.168.0.6", ip_id=9, df=False,
                         icmp_type=icmp_type, icmp_code=code, payload=quoted)  # fmt: skip
    cap.send(err, sc.T0 + 50_000, [builder.step(sc.VETH, direction="out")])
    return cap


def test_ttl_exceeded_tied_to_the_packet(run: Run) -> None:
    """A packet sent with an ordinary TTL that still expires (a routing loop) is an anomaly."""
    doc = run(_probe_and_error(11, 0))
    (anomaly,) = doc["anomalies"]
    assert anomaly["kind"] == "ttl-exceeded"
    assert anomaly["caused_by"] == "j1"
    assert "time exceeded from 192.168.0.1" in anomaly["detail"]


@pytest.mark.parametrize(("icmp_type", "code", "reached"), [(11, 0, False), (3, 3, True)])
def test_traceroute_answers_are_its_result_not_anomalies(
    run: Run, icmp_type: int, code: int, reached: bool
) -> None:
    doc = run(_probe_and_error(icmp_type, code, ttl=1))
    assert doc["anomalies"] == []
    (hop,) = doc["traceroutes"]
    assert hop == {
        "probe": "j1", "answer": "j2", "ttl": 1, "src": "192.168.0.6", "dst": "172.19.0.1",
        "sport": 33434, "dport": 33435, "hop": "192.168.0.1", "reached": reached,
    }  # fmt: skip


def test_traceroute_probe_refused_is_still_an_anomaly(run: Run) -> None:
    doc = run(_probe_and_error(3, 13, ttl=1))
    assert [a["kind"] for a in doc["anomalies"]] == ["icmp-error"]
    assert doc["traceroutes"] == []


def test_frag_needed_reports_the_mtu_when_the_table_has_it() -> None:
    table = builder.table(_probe_and_error(3, 4))
    table["icmp_mtu"] = pd.array([None, 1280], dtype="UInt16")
    (anomaly,) = to_dict(analyze(table))["anomalies"]
    assert anomaly["kind"] == "icmp-error"
    assert anomaly["detail"] == "fragmentation needed from 192.168.0.1, MTU 1280, caused by j1"


def test_frame_recorded_twice_at_one_point_changes_nothing(run: Run) -> None:
    """A frame seen twice at one point (as ``-i any`` can) is a duplicate, not a hop."""
    cap = sc.fip_ingress(count=1)
    clean = run(cap)
    first_eth1 = next(s for s in cap.sightings if s.point == sc.ETH1)
    cap.sightings.append(dataclasses.replace(first_eth1, ts_ns=first_eth1.ts_ns + 5_000))
    doc = run(cap)
    (req,) = [j for j in doc["journeys"] if j["sightings"][0]["ip_id"] == 28471]
    assert not req["ambiguous"]
    assert [(s["point"], s["copy"]) for s in req["sightings"]] == [
        (sc.CLIENT, None), (sc.ETH1, None), (sc.VETH, None), (sc.ETH1, "duplicate")
    ]  # fmt: skip
    assert req["transforms"] == clean["journeys"][0]["transforms"]
    assert doc["translations"] == clean["translations"]
    assert doc["anomalies"] == clean["anomalies"] == []


def test_one_frame_sent_twice_is_two_packets_wherever_every_point_saw_two(run: Run) -> None:
    """A sender that emits the same frame twice in a row (a retransmitted SYN-ACK: IP ID 0, same
    segment) is seen twice at every point: two packets, neither a duplicate nor dropped, even
    where the two are closer together than a double recording."""
    cap = sc.fip_ingress(count=1)
    first = [s for s in cap.sightings if s.packet.ip_id == 28471]
    cap.sightings.extend(dataclasses.replace(s, ts_ns=s.ts_ns + 40_000) for s in first)
    doc = run(cap)
    twins = [j for j in doc["journeys"] if j["sightings"][0]["ip_id"] == 28471]
    assert len(twins) == 2
    for j in twins:
        assert [(s["point"], s["copy"]) for s in j["sightings"]] == [(s.point, None) for s in first]
        assert j["ambiguous"]  # two identical packets 40 us apart could be mixed up
    assert not [a for a in doc["anomalies"] if a["kind"] == "dropped"]


def test_arp_flood_copy_seen_after_the_answer_is_answered(run: Run) -> None:
    """The request flooded to a neighbour's NIC arrives there after the target answered."""
    cap = sc.fip_ingress()
    cap.points["kube-ovn-worker/eth1"] = "sll2"
    cap.arp("kube-ovn-worker/eth1", sc.T0 - 980_000, "request", sc.CLIENT_MAC, "172.19.0.1",
            "172.19.0.11")  # fmt: skip
    assert run(cap)["anomalies"] == []


def test_unanswered_arp_seen_at_three_points_is_one_anomaly(run: Run) -> None:
    cap = sc.fip_ingress(arp_answered=False)
    for point in ("kube-ovn-worker/eth1", sc.CLIENT):
        cap.points.setdefault(point, "sll2")
        cap.arp(point, sc.T0 - 999_000, "request", sc.CLIENT_MAC, "172.19.0.1", "172.19.0.11")
    (arp,) = run(cap)["anomalies"]
    assert arp["kind"] == "arp-unanswered"
    assert sorted(arp["points"]) == sorted([sc.ETH1, "kube-ovn-worker/eth1", sc.CLIENT])


def test_a_quiet_point_known_to_capture_on_is_where_the_last_packet_was_dropped(
    run: Run,
) -> None:
    # the last ping is dropped after eth1: the veth's last frame is the reply before it, so
    # only a capture known to have run on (a flight recorder's window) makes it a drop
    cap = sc.fip_ingress(count=4, drop={3: 2})
    assert "dropped" not in kinds(run(cap))
    doc = run(cap, capture_until={sc.VETH: 2**62})
    dropped = [a for a in doc["anomalies"] if a["kind"] == "dropped"]
    assert [(a["after_point"], a["expected_point"]) for a in dropped] == [(sc.ETH1, sc.VETH)]
