"""OVN gateway chassis from ovn-nbctl/sbctl output: seed 001's real (pasted) output, and the
ovs-geneve lab's databases recorded over SSH."""

from __future__ import annotations

import pytest

from netdiag.discover.ovn.gateway import gateway_for
from netdiag.discover.ovn.parse import (
    parse_gateway_chassis,
    parse_nat_records,
    parse_nbctl_show,
    parse_sbctl_show,
)
from netdiag.errors import InputError
from tests.unit.discover.discover_fixtures import fixture

SEED_GW = ("2922af73-b67b-49ab-9a70-018c40af25a7", "2e3175b0-2129-4504-a333-0c4ac1f680d7")


def test_seed_show_with_prompts_and_a_pasted_comment() -> None:
    topo = parse_nbctl_show(fixture("seed001_nbctl_show_central.txt"))
    assert [s.name for s in topo.switches] == [
        "external",
        "ovn-default",
        "join",
        "overlay-subnet-73569",
    ]
    routers = {r.name: r for r in topo.routers}
    assert set(routers) == {"ovn-cluster", "vpc-75989"}
    vpc = routers["vpc-75989"]
    gw = vpc.gateway_port
    assert gw is not None
    assert (gw.name, gw.mac, gw.networks) == (
        "vpc-75989-external",
        "00:00:00:21:44:FD",
        ("172.19.0.4/16",),
    )
    assert gw.gateway_chassis == SEED_GW  # printed highest priority first
    assert [(n.type, n.external_ip, n.logical_ip) for n in vpc.nats] == [
        ("dnat_and_snat", "172.19.0.8", "192.168.0.2"),
        ("dnat_and_snat", "172.19.0.11", "192.168.0.4"),  # `type: "dnat_and_snat" # fip`
        ("dnat_and_snat", "172.19.0.12", "192.168.0.5"),
        ("snat", "172.19.0.9", "192.168.0.0/24"),
    ]
    overlay = next(s for s in topo.switches if s.name == "overlay-subnet-73569")
    ports = {p.name: p for p in overlay.ports}
    assert ports["fip-busybox01.default"].ips == ("192.168.0.4",)
    assert ports["overlay-subnet-73569-vpc-75989"].router_port == "vpc-75989-overlay-subnet-73569"
    ext = next(s for s in topo.switches if s.name == "external")
    assert next(p for p in ext.ports if p.name == "ln-external").type == "localnet"


def test_centralized_fip_and_snat_go_through_the_highest_priority_gateway_chassis() -> None:
    topo = parse_nbctl_show(fixture("seed001_nbctl_show_central.txt"))
    nodes = {SEED_GW[0]: "kube-ovn-control-plane", SEED_GW[1]: "kube-ovn-worker"}
    # priorities as `list Gateway_Chassis` gives them (the seed has none): the worker first,
    # the reverse of `show`'s order, which is storage order and says nothing about priority
    prio = {"vpc-75989-external": ((SEED_GW[1], 2), (SEED_GW[0], 1))}
    fip = gateway_for("172.19.0.11", topo, nodes, priorities=prio)
    assert fip is not None
    assert (fip.router, fip.port, fip.active_node) == (
        "vpc-75989",
        "vpc-75989-external",
        "kube-ovn-worker",
    )
    assert [(c.rank, c.node, c.priority, c.active) for c in fip.chassis] == [
        (0, "kube-ovn-worker", 2, True),
        (1, "kube-ovn-control-plane", 1, False),
    ]
    assert fip.nat is not None
    assert fip.nat.logical_ip == "192.168.0.4"
    assert "external IP of a dnat_and_snat" in fip.why
    # the pod behind it, and a pod covered only by the subnet's SNAT: the same gateway
    for ip in ("192.168.0.4", "192.168.0.3"):
        gw = gateway_for(ip, topo, nodes, priorities=prio)
        assert gw is not None
        assert (gw.router, gw.active_node) == ("vpc-75989", "kube-ovn-worker")
    snat = gateway_for("192.168.0.3", topo, nodes)
    assert snat is not None
    assert snat.nat is not None
    assert (snat.nat.type, snat.nat.external_ip) == ("snat", "172.19.0.9")
    # without priorities or a southbound binding: both chassis named, none claimed active
    assert snat.active_node is None
    assert [c.node for c in snat.chassis] == ["kube-ovn-control-plane", "kube-ovn-worker"]
    assert "lrp-get-gateway-chassis vpc-75989-external" in snat.why
    assert gateway_for("10.99.0.1", topo, nodes) is None


def test_find_nat_marks_the_dvr_fips_as_distributed() -> None:
    topo = parse_nbctl_show(fixture("seed001_nbctl_show_dvr.txt"))
    nats = parse_nat_records(fixture("seed001_find_nat_dvr.txt"))
    assert [(n.external_ip, n.logical_port, n.external_mac) for n in nats] == [
        ("172.19.0.13", "nginx-netshoot-1.default", "00:00:00:F2:0D:7B"),
        ("172.19.0.12", "nginx-netshoot-0.default", "00:00:00:C4:5B:CE"),
    ]
    assert all(n.distributed for n in nats)
    dvr = gateway_for("172.19.0.12", topo, {}, nats=nats)
    assert dvr is not None
    assert (dvr.router, dvr.port, dvr.chassis) == ("vpc1", None, ())
    assert "distributed (DVR): answered on the node of nginx-netshoot-0.default" in dvr.why
    # without find NAT's columns the same FIP looks centralized: the gateway is named
    central = gateway_for("172.19.0.12", topo, {})
    assert central is not None
    assert central.port == "vpc1-external"
    assert central.chassis[0].name == "b177a84b-74e5-498a-9501-13e6628b796f"
    assert central.chassis[0].node is None  # no system-id map, no SB: unresolved, not guessed
    assert central.active_node is None


def test_lab_databases_resolve_chassis_to_nodes_by_system_id_and_by_sb_hostname() -> None:
    topo = parse_nbctl_show(fixture("ovn_lab_nbctl_show.txt"))
    chassis = parse_sbctl_show(fixture("ovn_lab_sbctl_show.txt"))
    assert [(c.hostname, c.encaps) for c in chassis] == [
        ("ovs-node1", (("geneve", "172.19.0.6"),)),
        ("ovs-node2", (("geneve", "172.19.0.7"),)),
    ]
    node1 = fixture("ovn_lab_system_id_node1.txt").strip().strip('"')
    node2 = fixture("ovn_lab_system_id_node2.txt").strip().strip('"')
    prio = parse_gateway_chassis(fixture("ovn_lab_gateway_chassis.txt"))
    assert prio == {"ovn-cluster-external": ((node1, 2), (node2, 1))}
    ids = {node1: "ovs-node1", node2: "ovs-node2"}
    by_sysid = gateway_for("172.19.0.11", topo, ids, priorities=prio)
    by_sb = gateway_for("172.19.0.11", topo, {}, chassis=chassis, priorities=prio)
    for gw in (by_sysid, by_sb):
        assert gw is not None
        assert [(c.name, c.node, c.priority, c.active) for c in gw.chassis] == [
            (node1, "ovs-node1", 2, True),
            (node2, "ovs-node2", 1, False),
        ]
        assert gw.to_json()["nat"] == {
            "type": "dnat_and_snat",
            "external_ip": "172.19.0.11",
            "logical_ip": "192.168.0.6",
            "logical_port": None,
            "distributed": False,
        }


def test_a_southbound_binding_of_the_chassisredirect_port_names_the_active_chassis() -> None:
    topo = parse_nbctl_show(fixture("ovn_lab_nbctl_show.txt"))
    sb = fixture("ovn_lab_sbctl_show.txt")
    node2 = fixture("ovn_lab_system_id_node2.txt").strip().strip('"')
    # what ovn-controller adds on the chassis that claimed the gateway (failover to node 2)
    claimed = sb.replace(
        "hostname: ovs-node2\n",
        'hostname: ovs-node2\n    Port_Binding "cr-ovn-cluster-external"\n',
    )
    assert claimed != sb
    prio = parse_gateway_chassis(fixture("ovn_lab_gateway_chassis.txt"))
    gw = gateway_for("172.19.0.11", topo, {}, chassis=parse_sbctl_show(claimed), priorities=prio)
    assert gw is not None
    assert gw.active_node == "ovs-node2"
    assert [c.name for c in gw.chassis if c.active] == [node2]
    assert "bound to cr-ovn-cluster-external" in gw.why


def test_other_output_is_refused_with_what_to_run() -> None:
    with pytest.raises(InputError, match="ovn-nbctl show"):
        parse_nbctl_show("Bridge br-int\n    Port br-int\n")
    assert parse_nbctl_show("") == parse_nbctl_show("\n")
    assert parse_sbctl_show("garbage\n") == ()
    assert parse_nat_records("no records here") == ()
