"""What the analysis of each lab scenario must say, checked against the analysis JSON document.

The facts are the ones of tests/fixtures/lab-runs/README.md. They are written against a run's
own packets (the *ground truth*, read from its packet table: which IP ID the SYN had, which
source port the client used), so the same checks hold for a recorded bundle and for a fresh
capture on the lab. A check fails with AssertionError only when the analysis is wrong; when the
run itself lacks the packets a scenario needs (a broken capture), it raises RunIncomplete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from netdiag.pcap.format import display_frame

Doc = dict[str, Any]
Check = Callable[[Doc, pd.DataFrame], None]

CLIENT = "client/eth0"
CP, WORKER = "kube-ovn-control-plane", "kube-ovn-worker"
CP_ETH1, CP_OVN0, CP_BR = f"{CP}/eth1", f"{CP}/ovn0", f"{CP}/br-pods"
CP_VETH, POD1 = f"{CP}/dd2b931fc304_h", f"{CP}/fip-busybox01:eth0"  # the pod's own eth0


def pod_point(table: pd.DataFrame, name: str) -> str:
    """The name a run gives the point inside a pod: ``node/POD:IFACE``, or ``node/IFACE`` in
    runs recorded before points inside pods were named after their pod (tests/fixtures)."""
    points = set(table["point"].astype(str))
    node, label = name.split("/", 1)
    legacy = f"{node}/{label.split(':', 1)[-1]}"
    return legacy if name not in points and legacy in points else name


W_ETH1, W_OVN0, W_VETH = f"{WORKER}/eth1", f"{WORKER}/ovn0", f"{WORKER}/6f1e0c3a9b57_h"

SYN, FIN, RST = 0x02, 0x01, 0x04
#: the NodePort's request over the overlay and its reply, hop by hop (scenario a)
NODEPORT_REQUEST = [CLIENT, CP_ETH1, CP_OVN0, CP_ETH1, W_ETH1, W_OVN0, W_VETH]
NODEPORT_REPLY = [W_VETH, W_OVN0, W_ETH1, CP_ETH1, CP_OVN0, CP_ETH1, CLIENT]


class RunIncomplete(RuntimeError):
    """The run lacks the packets the scenario is about: the capture, not the analysis, failed."""


# -- ground truth: the run's own packets -----------------------------------------------------


def packets(table: pd.DataFrame, point: str, **where: object) -> pd.DataFrame:
    """Rows of ``point`` (display form: addresses as text) whose columns equal ``where``,
    in capture order; ``tcp_flags`` matches when all the given bits are set."""
    shown = display_frame(table)
    rows = shown[shown["point"].astype(str) == point]
    for column, value in where.items():
        if column == "tcp_flags":
            flags = rows["tcp_flags"].fillna(0).astype(int)
            rows = rows[(flags & int(value)) == int(value)]  # type: ignore[call-overload]
        else:
            rows = rows[rows[column].astype(object) == value]
    return rows.sort_values("ts_ns", kind="stable")


def first_packet(table: pd.DataFrame, point: str, **where: object) -> dict[str, Any]:
    rows = packets(table, point, **where)
    if rows.empty:
        shown = ", ".join(f"{k}={v}" for k, v in where.items())
        raise RunIncomplete(f"the run has no packet at {point} with {shown}")
    row: dict[str, Any] = rows.iloc[0].to_dict()
    return row


# -- what the analysis says ------------------------------------------------------------------


def path(journey: Doc) -> list[str]:
    return [s["point"] for s in journey["sightings"]]


def journeys_with(doc: Doc, point: str, **fields: object) -> list[Doc]:
    """Journeys with a sighting at ``point`` whose fields (src, dst, sport, dport, ip_id) match."""
    return [
        j
        for j in doc["journeys"]
        if any(
            s["point"] == point and all(s.get(k) == v for k, v in fields.items())
            for s in j["sightings"]
        )
    ]


def the_journey(doc: Doc, point: str, **fields: object) -> Doc:
    """The one journey of a packet; a packet cut into pieces shows up as several."""
    found = journeys_with(doc, point, **fields)
    assert len(found) == 1, (
        f"the packet at {point} {fields} is in {len(found)} journeys, not 1: "
        f"{[path(j) for j in found]}"
    )
    return found[0]


def translations(doc: Doc) -> set[tuple[str, str, str, str, str]]:
    return {
        (t["kind"], t["node"], t["proto"], t["before"], t["after"]) for t in doc["translations"]
    }


def flow_of(doc: Doc, journey: Doc) -> Doc:
    flows = [f for f in doc["flows"] if journey["id"] in (f["request"], f["reply"])]
    assert len(flows) == 1, f"journey {journey['id']} is in {len(flows)} flows, not 1"
    return flows[0]


def point_names(doc: Doc) -> set[str]:
    return {p["name"] for p in doc["points"]}


# -- the scenarios ---------------------------------------------------------------------------


def nodeport_overlay(doc: Doc, table: pd.DataFrame) -> None:
    """a: NodePort 172.19.0.6:30080 on node 1 -> pod 192.168.0.7:80 on node 2, masqueraded."""
    syn = first_packet(table, CLIENT, dport=30080, tcp_flags=SYN)
    port = int(syn["sport"])
    request = the_journey(doc, CLIENT, ip_id=int(syn["ip_id"]), dport=30080)
    assert path(request) == NODEPORT_REQUEST
    assert [s["encap"] is not None for s in request["sightings"]] == [
        False, False, False, True, True, False, False,
    ]  # fmt: skip
    fin = first_packet(table, W_VETH, sport=80, tcp_flags=FIN)
    reply = the_journey(doc, W_VETH, ip_id=int(fin["ip_id"]), sport=80)
    assert path(reply) == NODEPORT_REPLY
    assert translations(doc) == {
        ("dnat", CP, "tcp", "172.19.0.6:30080", "192.168.0.7:80"),
        ("snat", CP, "tcp", f"172.19.0.1:{port}", f"100.64.0.2:{port}"),
        ("un-dnat", CP, "tcp", "192.168.0.7:80", "172.19.0.6:30080"),
        ("un-snat", CP, "tcp", f"100.64.0.2:{port}", f"172.19.0.1:{port}"),
    }
    assert flow_of(doc, request)["symmetric"] is True
    assert doc["anomalies"] == []


def nodeport_overlay_any(doc: Doc, table: pd.DataFrame) -> None:
    """e: scenario a with node 1 captured on `any`: per-device points, a's answer."""
    names = point_names(doc)
    assert not any(n.endswith("/any") for n in names), sorted(names)
    assert {CP_ETH1, CP_OVN0} <= names, sorted(names)
    nodeport_overlay(doc, table)


@dataclass(frozen=True)
class Lab:
    """Where a topology's paths are seen: its node names and the points that matter."""

    node1: str
    pod1: str  # fip-busybox01 / pod-a's own eth0 (captured inside its namespace)
    pod1_port: str  # its host side: veth / OVS port
    router: str  # where node 1 routes the pods' traffic: the bridge / OVS's ovn0
    node1_uplink: str
    node1_tunnel: str | None  # the device remote pods are routed through (none on OVS)
    node2_uplink: str
    node2_tunnel: str | None
    pod2_port: str

    def request_path(self) -> list[str]:
        """A NodePort request from the client to node 2's pod, hop by hop."""
        out = [CLIENT, self.node1_uplink, self.node1_tunnel or self.router, self.node1_uplink]
        out += [self.node2_uplink, *([self.node2_tunnel] if self.node2_tunnel else [])]
        return [*out, self.pod2_port]


KERNEL = Lab(CP, POD1, CP_VETH, CP_BR, CP_ETH1, CP_OVN0, W_ETH1, W_OVN0, W_VETH)
OVS_NODE1, OVS_NODE2 = "ovs-node1", "ovs-node2"
OVS = Lab(
    OVS_NODE1, f"{OVS_NODE1}/pod-a:eth0", f"{OVS_NODE1}/a1b2c3d4e5f6_h", f"{OVS_NODE1}/ovn0",
    f"{OVS_NODE1}/eth1", None, f"{OVS_NODE2}/eth1", None, f"{OVS_NODE2}/0f1e2d3c4b5a_h",
)  # fmt: skip


def clusterip_hairpin(doc: Doc, table: pd.DataFrame, lab: Lab = KERNEL) -> None:
    """b: pod 192.168.0.6 -> ClusterIP 10.96.0.10:80 whose only backend is the pod itself."""
    node, pod = lab.node1, pod_point(table, lab.pod1)
    syn = first_packet(table, pod, dst="10.96.0.10", tcp_flags=SYN)
    port = int(syn["sport"])
    request = the_journey(doc, pod, ip_id=int(syn["ip_id"]), dst="10.96.0.10")
    hairpin = [pod, lab.pod1_port, lab.router, lab.router, lab.pod1_port, pod]
    assert path(request) == hairpin
    before, after = request["sightings"][0], request["sightings"][-1]
    assert (before["src"], before["dst"], before["dport"]) == ("192.168.0.6", "10.96.0.10", 80)
    assert (after["src"], after["dst"], after["dport"]) == ("192.168.0.1", "192.168.0.6", 80)
    fin = first_packet(table, pod, sport=80, dst="192.168.0.1", tcp_flags=FIN)
    reply = the_journey(doc, pod, ip_id=int(fin["ip_id"]), sport=80, dst="192.168.0.1")
    assert path(reply) == hairpin
    # every packet of the connection, both ways: the SYN-ACK's veth and bridge sightings can
    # share a microsecond, and only where the pod lives orders them then
    mine = [j for j in doc["journeys"] if port in (j["sightings"][0]["sport"],
                                                     j["sightings"][0]["dport"])]  # fmt: skip
    assert len(mine) >= 5, "SYN, SYN-ACK, ACK and both FINs"
    assert all(path(j) == hairpin for j in mine), [path(j) for j in mine]
    assert translations(doc) == {
        ("dnat", node, "tcp", "10.96.0.10:80", "192.168.0.6:80"),
        ("snat", node, "tcp", f"192.168.0.6:{port}", f"192.168.0.1:{port}"),
        ("un-dnat", node, "tcp", "192.168.0.6:80", "10.96.0.10:80"),
        ("un-snat", node, "tcp", f"192.168.0.1:{port}", f"192.168.0.6:{port}"),
    }
    assert flow_of(doc, request)["symmetric"] is True
    assert doc["anomalies"] == []


def nodeport_asymmetric(doc: Doc, table: pd.DataFrame, lab: Lab = KERNEL) -> None:
    """c: NodePort 172.19.0.6:30081 DNATed on node 1, answered by node 2 straight to the client."""
    syn = first_packet(table, CLIENT, dport=30081, tcp_flags=SYN)
    request = the_journey(doc, CLIENT, ip_id=int(syn["ip_id"]), dport=30081)
    assert path(request) == lab.request_path()
    synacks = packets(table, lab.pod2_port, sport=80, tcp_flags=SYN | 0x10)
    if synacks.empty:
        raise RunIncomplete("the backend pod never answered the SYN")
    replies = journeys_with(doc, lab.pod2_port, src="192.168.0.7", sport=80, dst="172.19.0.1")
    assert len(replies) == len(synacks), "one journey per SYN-ACK (retransmissions included)"
    direct = [lab.pod2_port, lab.node2_uplink, CLIENT]
    # A retransmission sent after the client's capture stopped can only be seen part-way (the
    # lab's nodes share one clock, so times compare directly).
    client_end = int(packets(table, CLIENT)["ts_ns"].max())
    for r in replies:
        seen = path(r)
        sent = int(r["sightings"][0]["ts_ns"])
        assert seen == (direct if sent < client_end else direct[: len(seen)]), seen
    assert translations(doc) == {("dnat", lab.node1, "tcp", "172.19.0.6:30081", "192.168.0.7:80")}
    flow = flow_of(doc, request)
    assert flow["reply"] in {r["id"] for r in replies}
    assert flow["symmetric"] is False
    assert flow.get("reverse_nat_point") is None, "nothing un-DNATed the reply"
    asymmetric = [a for a in doc["anomalies"] if a["kind"] == "asymmetric-return"]
    assert len(asymmetric) == 1, doc["anomalies"]
    found = asymmetric[0]
    assert found["journey"] in {request["id"], flow["reply"]}
    # left by node 2's uplink; should have left (un-DNATed) by node 1's
    assert (found.get("point"), found.get("expected_point")) == (
        lab.node2_uplink,
        lab.node1_uplink,
    )


def overlay_drop(doc: Doc, table: pd.DataFrame) -> None:
    """d: node 1 pings 192.168.0.7 over ovn0; node 2's FORWARD drops the 2nd request."""
    pings = packets(table, CP_OVN0, dst="192.168.0.7", icmp_type=8)
    if len(pings) != 3:
        raise RunIncomplete(f"expected 3 echo requests at {CP_OVN0}, the run has {len(pings)}")
    requests = {
        int(p["icmp_seq"]): the_journey(doc, CP_OVN0, ip_id=int(p["ip_id"]), dst="192.168.0.7")
        for _, p in pings.iterrows()
    }
    passed = [CP_OVN0, CP_ETH1, W_ETH1, W_OVN0, W_VETH]
    assert path(requests[1]) == passed
    assert path(requests[3]) == passed
    assert path(requests[2]) == passed[:-1]
    assert doc["translations"] == []
    assert [(a["kind"], a["journey"]) for a in doc["anomalies"]] == [
        ("dropped", requests[2]["id"])
    ], "one anomaly for the one lost packet"
    dropped = doc["anomalies"][0]
    assert (dropped.get("after_point"), dropped.get("expected_point")) == (W_OVN0, W_VETH)
    for seq in (1, 3):
        assert flow_of(doc, requests[seq])["symmetric"] is True


def pod_egress_snat(doc: Doc, table: pd.DataFrame) -> None:
    """f: pod 192.168.0.6 pings and traceroutes 172.19.0.1; node 1 SNATs to the FIP."""
    pod = pod_point(table, POD1)
    echo = packets(table, pod, dst="172.19.0.1", icmp_type=8)
    if echo.empty:
        raise RunIncomplete("the pod sent no echo request")
    for _, p in echo.iterrows():
        request = the_journey(doc, pod, ip_id=int(p["ip_id"]), dst="172.19.0.1")
        assert path(request) == [pod, CP_VETH, CP_ETH1, CLIENT]
        assert flow_of(doc, request)["symmetric"] is True
    # traceroute probes that left node 1 (TTL >= 2 in the pod): SNATed with their port kept
    probes = packets(table, CP_ETH1, proto=17, dst="172.19.0.1")
    if probes.empty:
        raise RunIncomplete("no traceroute probe left node 1")
    for _, p in probes.iterrows():
        journey = the_journey(doc, CP_ETH1, ip_id=int(p["ip_id"]), sport=int(p["sport"]))
        assert path(journey) == [pod, CP_VETH, CP_ETH1, CLIENT]
    ports = sorted(int(p) for p in probes["sport"])
    expected = {
        ("snat", CP, "icmp", "192.168.0.6", "172.19.0.11"),
        ("un-snat", CP, "icmp", "172.19.0.11", "192.168.0.6"),
        *(("snat", CP, "udp", f"192.168.0.6:{p}", f"172.19.0.11:{p}") for p in ports),
    }
    assert translations(doc) == expected
    assert {t["node"] for t in doc["translations"]} == {CP}


def nodeport_overlay_skewed(doc: Doc, table: pd.DataFrame) -> None:
    """a': scenario a with the worker's clock 3 s ahead: a's answer, and the offset found."""
    nodeport_overlay(doc, table)
    for point in doc["points"]:
        if point["node"] == WORKER:
            offset, error = point["clock_offset_ns"], point["clock_error_ns"]
            assert error is not None, point
            assert abs(offset - 3_000_000_000) <= max(error, 1_000_000), point


#: scenario name (tests/support/lab_runs.SCENARIOS) -> its check
CHECKS: dict[str, Check] = {
    "nodeport-overlay": nodeport_overlay,
    "nodeport-overlay-worker-clock+3s": nodeport_overlay_skewed,
    "clusterip-hairpin": clusterip_hairpin,
    "nodeport-asymmetric": nodeport_asymmetric,
    "overlay-drop": overlay_drop,
    "nodeport-overlay-any": nodeport_overlay_any,
    "pod-egress-snat": pod_egress_snat,
    "ovs-clusterip-hairpin": partial(clusterip_hairpin, lab=OVS),
    "ovs-nodeport-asymmetric": partial(nodeport_asymmetric, lab=OVS),
}
