"""Packets that pass one capture point twice, replies that come back another way, drops after
decapsulation, masqueraded connections: the answer an on-call engineer would act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netdiag.correlate import analyze
from netdiag.report.json import to_dict
from tests.support import builder
from tests.support import paths as ps
from tests.support.builder import write_any_pcap, write_pcaps
from tests.unit.correlate.conftest import Run, changes_of, path_of


def _journey(doc: dict[str, Any], summary_start: str) -> dict[str, Any]:
    return next(j for j in doc["journeys"] if j["summary"].startswith(summary_start))


def _on_path(journey: dict[str, Any]) -> list[str]:
    return [s["point"] for s in journey["sightings"] if s["copy"] is None]


@pytest.mark.parametrize("link", ["ether", "sll2"])
@pytest.mark.parametrize("skew", [0.0, 2.5, -3.0])
def test_nodeport_through_overlay_keeps_both_visits_of_the_uplink(
    run: Run, link: str, skew: float
) -> None:
    doc = run(ps.nodeport_overlay(count=2, link=link, skew={"node2": skew}))
    assert len(doc["journeys"]) == 4
    syn = _journey(doc, "tcp SYN 172.19.0.1:40000")
    assert _on_path(syn) == [ps.CLIENT, ps.N1_ETH1, ps.N1_ETH1, ps.N2_ETH1, ps.N2_VXLAN, ps.N2_VETH]
    assert [s["encap"] is not None for s in syn["sightings"]] == [0, 0, 1, 1, 0, 0]
    first_hop_on_node1 = changes_of(syn)[1]
    assert ("dnat", None, "172.19.0.5:30080", "10.244.1.7:80") in first_hop_on_node1
    assert ("snat", None, "172.19.0.1:40000", "10.244.0.0:20000") in first_hop_on_node1
    synack = _journey(doc, "tcp SYN/ACK 10.244.1.7:80")
    assert _on_path(synack) == [
        ps.N2_VETH, ps.N2_VXLAN, ps.N2_ETH1, ps.N1_ETH1, ps.N1_ETH1, ps.CLIENT
    ]  # fmt: skip
    back = changes_of(synack)[3]
    assert ("un-dnat", None, "10.244.1.7:80", "172.19.0.5:30080") in back
    assert ("un-snat", None, "10.244.0.0:20000", "172.19.0.1:40000") in back
    kinds = {(t["kind"], t["node"]) for t in doc["translations"]}
    assert kinds == {("dnat", "node1"), ("snat", "node1"), ("un-dnat", "node1"),
                     ("un-snat", "node1")}  # fmt: skip
    assert len(doc["flows"]) == 2
    assert all(f["symmetric"] for f in doc["flows"])
    assert doc["anomalies"] == []
    assert not any(j["ambiguous"] for j in doc["journeys"])


def test_hairpin_to_the_calling_pod(run: Run) -> None:
    doc = run(ps.hairpin(count=2))
    assert len(doc["journeys"]) == 4
    syn = _journey(doc, "tcp SYN 10.244.0.5:50000")
    assert _on_path(syn) == [ps.N1_POD, ps.N1_VETH, ps.N1_VETH, ps.N1_POD]
    nat = changes_of(syn)[1]
    assert ("dnat", None, "10.96.0.10:80", "10.244.0.5:8080") in nat
    assert ("snat", None, "10.244.0.5:50000", "10.244.0.1:61000") in nat
    synack = _journey(doc, "tcp SYN/ACK 10.244.0.5:8080")
    back = changes_of(synack)[1]
    assert ("un-dnat", None, "10.244.0.5:8080", "10.96.0.10:80") in back
    assert ("un-snat", None, "10.244.0.1:61000", "10.244.0.5:50000") in back
    assert {t["node"] for t in doc["translations"]} == {"node1"}
    assert doc["anomalies"] == []


@pytest.mark.parametrize("skew", [0.0, 1.7])
def test_reply_leaving_another_node_unnatted_is_asymmetric(run: Run, skew: float) -> None:
    doc = run(ps.nodeport_overlay(masquerade=False, reply_direct=True, skew={"node2": skew}))
    (flow,) = doc["flows"]
    assert flow["symmetric"] is False
    assert flow["missing_reverse_nat"] == ["un-dnat"]
    (anomaly,) = doc["anomalies"]
    assert anomaly["kind"] == "asymmetric-return"
    assert anomaly["point"] == ps.N2_ETH1
    assert anomaly["expected_point"] == ps.N1_ETH1
    assert "never passing node1" in anomaly["detail"]
    assert "not un-DNATed" in anomaly["detail"]
    assert "sent to 172.19.0.5:30080, the reply came from 10.244.1.7:80" in anomaly["detail"]


def test_drop_after_decapsulation_names_the_tunnel_and_the_pod(run: Run) -> None:
    doc = run(ps.overlay_ping(count=3, drop={1: 5}))
    (drop,) = [a for a in doc["anomalies"] if a["kind"] == "dropped"]
    assert (drop["after_point"], drop["expected_point"]) == (ps.N2_VXLAN, ps.N2_VETH)
    assert [a["kind"] for a in doc["anomalies"]] == ["dropped"]


def test_every_ping_dropped_after_decap_is_placed_by_where_the_pod_lives(run: Run) -> None:
    cap = ps.overlay_ping(count=3, drop={0: 5, 1: 5, 2: 5})
    cap.arp(ps.N2_VETH, ps.T0 + 3_000_000_000, "request", ps.WEB_MAC, ps.WEB, "10.244.1.1")
    doc = run(cap, point_addresses={ps.N2_VETH: (ps.WEB,)})
    dropped = [a for a in doc["anomalies"] if a["kind"] == "dropped"]
    assert len(dropped) == 3
    assert {(a["after_point"], a["expected_point"]) for a in dropped} == {(ps.N2_VXLAN, ps.N2_VETH)}
    assert {a["kind"] for a in doc["anomalies"]} == {"dropped", "arp-unanswered"}


@pytest.mark.parametrize("mid", [False, True])
def test_masqueraded_connection_replies_are_un_snat(run: Run, mid: bool) -> None:
    doc = run(ps.masqueraded_tcp(mid_connection=mid))
    kinds = {(t["kind"], t["before"], t["after"]) for t in doc["translations"]}
    assert kinds == {
        ("snat", "10.16.0.5:41080", "172.18.0.3:41080"),
        ("un-snat", "172.18.0.3:41080", "10.16.0.5:41080"),
    }
    assert {t["node"] for t in doc["translations"]} == {"node1"}


def test_udp_datagrams_unanswered_among_answered_ones(run: Run) -> None:
    doc = run(ps.udp_partly_answered(answered=(0, 2, 4)))
    no_reply = [a for a in doc["anomalies"] if a["kind"] == "no-reply"]
    by_id = {j["id"]: j["summary"] for j in doc["journeys"]}
    assert sorted(by_id[a["journey"]] for a in no_reply) == [
        "udp 10.16.0.5:45001 > 8.8.8.8:53 len 30",
        "udp 10.16.0.5:45003 > 8.8.8.8:53 len 30",
    ]
    assert [a["kind"] for a in doc["anomalies"]] == ["no-reply", "no-reply"]
    assert all("UDP datagram" in a["detail"] for a in no_reply)


def test_udp_nobody_answers_is_not_an_anomaly(run: Run) -> None:
    """Fire-and-forget UDP (syslog, statsd) expects no answer."""
    doc = run(ps.udp_partly_answered(answered=()))
    assert doc["anomalies"] == []


def _any_capture(tmp_path: Path) -> dict[str, Any]:
    """node1 captured with ``tcpdump -i any`` (one SLL2 file for eth1 and nothing else here),
    the other points per device."""
    from netdiag.pcap import read_captures

    cap = ps.nodeport_overlay(count=2, link="sll2")
    anyfile = write_any_pcap(cap, "node1", tmp_path / "node1.pcap", {"eth1": 3})
    per_device = write_pcaps(cap, tmp_path)
    specs = [f"{p}={path}" for p, path in per_device.items() if not p.startswith("node1/")]
    table, _ = read_captures([*specs, f"node1={anyfile}"], ifmaps={"node1": {3: "eth1"}})
    return to_dict(analyze(table))


def test_any_capture_is_split_per_device_with_the_same_answer(tmp_path: Path) -> None:
    per_device = to_dict(analyze(builder.table(ps.nodeport_overlay(count=2, link="sll2"))))
    doc = _any_capture(tmp_path)
    assert {p["name"] for p in doc["points"]} == {p["name"] for p in per_device["points"]}
    assert [path_of(j) for j in doc["journeys"]] == [path_of(j) for j in per_device["journeys"]]
    assert doc["translations"] == per_device["translations"]
    assert doc["anomalies"] == per_device["anomalies"] == []


def test_any_beside_per_device_captures_of_the_same_devices_gives_the_same_paths(
    tmp_path: Path,
) -> None:
    """`-i any` and `-i eth1` on one node record each frame twice, with one kernel timestamp:
    one hop and a duplicate, not the same device twice in a row. The Ethernet recording is
    the one kept (it has the destination MAC, so a MAC rewrite there stays visible)."""
    from netdiag.pcap import read_captures

    cap = ps.nodeport_overlay(count=2, link="ether")
    per_device = write_pcaps(cap, tmp_path)
    anyfile = write_any_pcap(cap, "node1", tmp_path / "node1-any.pcap", {"eth1": 3})
    alone = to_dict(analyze(read_captures([f"{p}={f}" for p, f in per_device.items()])[0]))
    table, _ = read_captures(
        [*(f"{p}={f}" for p, f in per_device.items()), f"node1={anyfile}"],
        ifmaps={"node1": {3: "eth1"}},
    )
    both = to_dict(analyze(table))
    assert [_on_path(j) for j in both["journeys"]] == [_on_path(j) for j in alone["journeys"]]
    assert [changes_of(j) for j in both["journeys"]] == [changes_of(j) for j in alone["journeys"]]
    assert both["translations"] == alone["translations"]
    # the replies reach the client: a second recording at node1/eth1 is no hop of its own
    assert both["anomalies"] == alone["anomalies"] == []
    syn = _journey(both, "tcp SYN 172.19.0.1:40000")
    twice = [s for s in syn["sightings"] if s["copy"] == "duplicate"]
    assert [s["point"] for s in twice] == [ps.N1_ETH1, ps.N1_ETH1]  # plain and encapsulated
    kept = [s for s in syn["sightings"] if s["copy"] is None and s["point"] == ps.N1_ETH1]
    assert all(s["eth_dst"] is not None for s in kept)


@pytest.mark.parametrize("homed", [True, False])
def test_the_two_ends_of_a_veth_at_one_microsecond_go_from_the_pod_outwards(
    run: Run, homed: bool
) -> None:
    """A pod's eth0 and the host end of its veth see one frame at the same microsecond (a pcap
    file's precision), same TTL, same MACs: where the pod's address lives (the run says: its
    own interface) orders them, the request out of the pod and the reply into it. Point names
    decided before, so the reply showed as leaving the pod."""
    from tests.support.builder import Packet, step
    from tests.support.common import T0, base

    cap = base({ps.N1_POD: "ether", ps.N1_VETH: "ether", ps.N1_ETH1: "ether"}, None)
    pod_mac, gw_mac = "0a:58:0a:f4:00:05", "0a:58:0a:f4:00:01"
    for k in range(2):
        t0 = T0 + k * 1_000_000_000
        out = Packet("udp", "10.244.0.5", "172.19.0.1", ip_id=700 + k, sport=40000 + k,
                     dport=53, eth_src=pod_mac, eth_dst=gw_mac)  # fmt: skip
        cap.send(out, t0, [step(ps.N1_POD), step(ps.N1_VETH, 0),
                           step(ps.N1_ETH1, 20, ttl=63, src="172.19.0.5")])  # fmt: skip
        back = Packet("udp", "172.19.0.1", "172.19.0.5", ip_id=900 + k, sport=53,
                      dport=40000 + k, eth_src=gw_mac, eth_dst=pod_mac)  # fmt: skip
        cap.send(back, t0 + 300_000, [step(ps.N1_ETH1), step(ps.N1_VETH, 20, ttl=63,
                                      dst="10.244.0.5"), step(ps.N1_POD, 0)])  # fmt: skip
    homes = {ps.N1_POD: ("10.244.0.5",)} if homed else {}
    doc = run(cap, point_addresses=homes)
    request = _journey(doc, "udp 10.244.0.5:40000")
    reply = _journey(doc, "udp 172.19.0.1:53")
    assert _on_path(request) == [ps.N1_POD, ps.N1_VETH, ps.N1_ETH1]  # by name, too
    if homed:
        assert _on_path(reply) == [ps.N1_ETH1, ps.N1_VETH, ps.N1_POD]
    else:  # without the run's facts, the names decide (as they always did)
        assert _on_path(reply) == [ps.N1_ETH1, ps.N1_POD, ps.N1_VETH]


@pytest.mark.parametrize("inside", [True, False])
def test_a_veth_and_its_bridge_at_one_microsecond_go_from_the_pod_outwards(
    run: Run, inside: bool
) -> None:
    """The host end of a pod's veth and the bridge it is a port of (``cni0``, a name before
    the veth's) see one frame at the same microsecond: the run says which points lie further
    out from the pod (``outward``), so the request leaves by the veth then the bridge and the
    reply comes in by the bridge then the veth, whether the pod's own interface is captured
    too or its home is the veth. Names decided before: the bridge came first both ways."""
    from tests.support.builder import Packet, step
    from tests.support.common import T0, base

    bridge = "node1/cni0"
    pod_points = [ps.N1_POD, ps.N1_VETH] if inside else [ps.N1_VETH]
    cap = base(dict.fromkeys([*pod_points, bridge, ps.N1_ETH1], "ether"), None)
    pod_mac, gw_mac, up_mac = "0a:58:0a:f4:00:05", "0a:58:0a:f4:00:01", "02:00:00:00:00:09"
    for k in range(2):
        t0 = T0 + k * 1_000_000_000
        out = Packet("udp", "10.244.0.5", "172.19.0.1", ip_id=700 + k, sport=40000 + k,
                     dport=53, eth_src=pod_mac, eth_dst=gw_mac)  # fmt: skip
        cap.send(out, t0, [*(step(p, 0) for p in pod_points), step(bridge, 0),
                           step(ps.N1_ETH1, 20, ttl=63, src="172.19.0.5")])  # fmt: skip
        back = Packet("udp", "172.19.0.1", "172.19.0.5", ip_id=900 + k, sport=53,
                      dport=40000 + k, eth_src=up_mac, eth_dst="02:00:00:00:00:0a")  # fmt: skip
        cap.send(back, t0 + 300_000, [step(ps.N1_ETH1), step(bridge, 20, ttl=63,
                 dst="10.244.0.5", eth_src=gw_mac, eth_dst=pod_mac),
                 *(step(p, 0) for p in reversed(pod_points))])  # fmt: skip
    home = pod_points[0]
    outward = {home: (*pod_points[1:], bridge)}
    doc = run(cap, point_addresses={home: ("10.244.0.5",)}, outward=outward)
    request = _journey(doc, "udp 10.244.0.5:40000")
    reply = _journey(doc, "udp 172.19.0.1:53")
    assert _on_path(request) == [*pod_points, bridge, ps.N1_ETH1]
    assert _on_path(reply) == [ps.N1_ETH1, bridge, *reversed(pod_points)]
    assert doc["anomalies"] == []
    if inside:  # without it, only the pod's own interface is placed: the gap this closes
        plain = run(cap, point_addresses={home: ("10.244.0.5",)})
        assert _on_path(_journey(plain, "udp 10.244.0.5:40000")) == [
            ps.N1_POD, bridge, ps.N1_VETH, ps.N1_ETH1
        ]  # fmt: skip
