"""The other paths of SCENARIOS.md: port DNAT, tunnels, OpenShift, host-gw, ovn-k8s, IPv6."""

from __future__ import annotations

import pytest

from tests.support import scenarios as sc
from tests.unit.correlate.conftest import Run, changes_of, path_of


def test_router_lb_port_dnat(run: Run) -> None:
    doc = run(sc.lb_dnat())
    syn = doc["journeys"][0]
    assert syn["summary"] == "tcp SYN 172.19.0.1:40000 > 172.19.0.10:8080"
    assert changes_of(syn)[1][0] == ("dnat", None, "172.19.0.10:8080", "192.168.0.3:80")
    synack = doc["journeys"][1]
    assert synack["sightings"][0]["ip_id"] == 0  # Linux SYN-ACK with DF: still one journey
    assert path_of(synack) == [sc.LB_VETH, sc.ETH1, sc.CLIENT]
    assert changes_of(synack)[0][0] == ("un-dnat", None, "192.168.0.3:80", "172.19.0.10:8080")
    assert {"request": "j1", "reply": "j2"}.items() <= doc["flows"][0].items()
    dnat = [t for t in doc["translations"] if t["kind"] == "dnat"]
    assert dnat == [
        {"kind": "dnat", "node": sc.CP, "proto": "tcp", "before": "172.19.0.10:8080",
         "after": "192.168.0.3:80", "packets": 3}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "dev", "vni", "ttls"),
    [
        ("geneve", "genev_sys_6081", 7, [64] * 6),
        ("vxlan", "flannel.1", 1, [64, 63, 63, 63, 63, 62]),
        ("ipip", "tunl0", None, [64, 63, 63, 63, 63, 62]),
    ],
)
@pytest.mark.parametrize("skew", [0.0, -4.0])
def test_cross_node_tunnel(  # noqa: PLR0917
    run: Run, kind: str, dev: str, vni: int | None, ttls: list[int], skew: float
) -> None:
    doc = run(sc.cross_node(kind, skew={"node2": skew}))
    req = doc["journeys"][0]
    va = "node1/cali1a" if kind == "ipip" else "node1/veth_a"
    vb = "node2/cali2b" if kind == "ipip" else "node2/veth_b"
    assert path_of(req) == [va, f"node1/{dev}", "node1/eth0", "node2/eth0", f"node2/{dev}", vb]
    assert [s["ttl"] for s in req["sightings"]] == ttls
    encap = [c for t in req["transforms"] for c in t["changes"] if c["kind"] in ("encap", "decap")]
    outer = {"encap": kind, "vni": vni, "outer_src": "10.0.0.1", "outer_dst": "10.0.0.2"}
    assert encap == [{"kind": "encap", **outer}, {"kind": "decap", **outer}]
    assert doc["translations"] == []
    assert doc["flows"][0]["symmetric"] is True
    clocks = {c["node"]: c for c in doc["clocks"]}
    assert abs(clocks["node2"]["offset_ns"] - skew * 1e9) <= clocks["node2"]["error_ns"]
    assert all(t["latency_ns"] >= 0 for t in req["transforms"])


def test_openshift_service_dnat_before_tun0(run: Run) -> None:
    doc = run(sc.openshift_service(skew={"node2": 0.8}))
    syn, synack = doc["journeys"]
    assert path_of(syn) == [
        "node1/veth1a2b3c4d", "node1/tun0", "node1/eth0", "node2/eth0", "node2/vethd0d3571b"
    ]  # fmt: skip
    assert syn["transforms"][0]["changes"][0] == {
        "kind": "dnat", "before": "172.30.229.30:9200", "after": "10.131.2.45:9200"
    }  # fmt: skip
    assert synack["transforms"][-1]["changes"][0] == {
        "kind": "un-dnat", "before": "10.131.2.45:9200", "after": "172.30.229.30:9200"
    }  # fmt: skip
    assert doc["flows"][0]["reverse_nat_point"] == "node1/veth1a2b3c4d"


@pytest.mark.parametrize("ipv6", [False, True])
def test_flannel_host_gw_routed_without_encap(run: Run, ipv6: bool) -> None:
    doc = run(sc.flannel_host_gw(count=2, ipv6=ipv6))
    assert len(doc["journeys"]) == 4
    req = doc["journeys"][0]
    assert [s["ttl"] for s in req["sightings"]] == [64, 63, 63, 62]
    assert all(s["encap"] is None for s in req["sightings"])
    kinds = [[c[0] for c in t] for t in changes_of(req)]
    assert kinds == [["mac-rewrite", "ttl"], [], ["mac-rewrite", "ttl"]]
    assert len(doc["flows"]) == 2
    assert req["sightings"][0]["ip_id"] is None if ipv6 else 6100


def test_ovnk8s_layer2_is_switched_layer3_is_routed(run: Run) -> None:
    l2 = run(sc.ovnk8s("layer2"))
    l3 = run(sc.ovnk8s("layer3"))
    assert all(t["changes"] == [] for t in l2["journeys"][0]["transforms"])
    first = l3["journeys"][0]["transforms"][0]["changes"]
    assert [c["kind"] for c in first] == ["mac-rewrite", "ttl"]
    assert first[0]["after"] == "0a:58:0a:21:01:01"
    assert path_of(l3["journeys"][0])[-1] == "node2/pod-b.eth1"
