"""OVS, calico, flannel, OpenShift SDN strategies and device roles on recorded output."""

from __future__ import annotations

import pytest

from netdiag.discover.cni import (
    calico_host_iface,
    fdb_port,
    guess_cni,
    is_calico_pod,
    neigh_mac,
    openshift_pod_ports,
)
from netdiag.discover.iproute import (
    parse_ip_addr_text,
    parse_ip_json_links,
    parse_ip_route_text,
    parse_route_json,
    parse_route_n,
)
from netdiag.discover.model import Link, Route
from netdiag.discover.ovs import (
    iface_ids,
    parse_dump_ports_desc,
    parse_vsctl_find,
    parse_vsctl_show,
    pod_ports,
)
from netdiag.discover.roles import path_devices
from netdiag.errors import InputError
from tests.unit.discover.discover_fixtures import fixture


def test_kube_ovn_iface_id_convention() -> None:
    assert iface_ids("default", "fip-busybox01") == (
        "fip-busybox01.default",
        "default_fip-busybox01",
    )
    (port,) = pod_ports(parse_vsctl_find(fixture("kubeovn_vsctl_find.txt")))
    assert (port.iface, port.namespace, port.pod, port.ofport) == (
        "dd2b931fc304_h",
        "default",
        "fip-busybox01",
        7,
    )
    assert port.ips == ("192.168.0.6",)
    assert port.vendor == "kube-ovn"


def test_ovn_kubernetes_primary_and_secondary_ports() -> None:
    ports = pod_ports(parse_vsctl_find(fixture("ovnk8s_vsctl_find.txt")))
    assert [(p.namespace, p.pod, p.ips, p.vendor) for p in ports] == [
        ("default", "nginx1-l3", ("10.124.1.7",), "ovn-kubernetes"),
        ("default", "nginx1-l3", ("10.33.2.3",), "ovn-kubernetes"),
    ]  # ovn-k8s-mp0 has no iface-id: not a pod


def test_vsctl_find_rejects_table_output() -> None:
    with pytest.raises(InputError, match="--format=json"):
        parse_vsctl_find("_uuid : 1234\nname : br-int\n")


def test_ovs_vsctl_show_ovn_kubernetes_node() -> None:
    bridges = {b.name: b for b in parse_vsctl_show(fixture("seed002_ovs_vsctl_show.txt"))}
    assert set(bridges) == {"brens3f2", "br-out", "br-int"}
    br_int = bridges["br-int"]
    assert br_int.datapath_type == "system"
    tunnels = {p.name: dict(p.options)["remote_ip"] for p in br_int.ports if p.type == "geneve"}
    assert tunnels == {"ovn-5bd00c-0": "192.168.122.102", "ovn-6bad89-0": "192.168.122.10"}
    assert ("ovn-k8s-mp0", "internal") in [(p.name, p.type) for p in br_int.ports]


def test_openshift_sdn_br0_and_port_numbers() -> None:
    bridges = parse_vsctl_show(fixture("seed003_ovs_vsctl_show.txt"))
    assert [b.name for b in bridges] == ["br0"]
    assert next((p.name, p.type) for p in bridges[0].ports) == ("vxlan0", "vxlan")
    ports = parse_dump_ports_desc(fixture("seed003_dump_ports_desc.txt"))
    assert ports[2] == ("tun0", "a6:02:fb:84:24:d0")
    assert ports[45] == ("vethd0d3571b", "0e:7d:3a:9f:ff:6e")  # the pod's veth, as in ip a
    host = parse_ip_addr_text(fixture("seed003_node_ip_a.txt"))
    # the blog lost the veth's own "Port" line; a clean br0 listing is matched against ip a
    clean = parse_vsctl_show('Bridge "br0"\n Port vethd0d3571b\n Port tun0\n  type: internal\n')
    assert openshift_pod_ports(clean, host) == ("vethd0d3571b",)


def test_openshift_node_roles_from_seed() -> None:
    host = parse_ip_addr_text(fixture("seed003_node_ip_a.txt"))
    routes = parse_ip_route_text(fixture("seed003_node_ip_route.txt"))
    roles = [(d.role, d.name) for d in path_devices(host, routes)]
    assert roles == [("uplink", "eth0"), ("tunnel", "vxlan_sys_4789"), ("tun0", "tun0")]


def test_calico_pod_and_node() -> None:
    node = parse_ip_route_text(fixture("seed004_calico_node_ip_route.txt"))
    assert calico_host_iface(node, "172.25.0.130") == "calibfd619d4ca3"
    assert calico_host_iface(node, "172.25.0.195") is None  # on node 2, behind tunl0
    assert is_calico_pod(parse_ip_route_text(fixture("seed004_calico_pod_ip_route.txt")))
    assert not is_calico_pod(parse_route_n(fixture("seed001_pod_route_n.txt")))


def test_flannel_ipip_node_roles_from_route_n() -> None:
    routes = parse_route_n(fixture("seed004_flannel_route_n.txt"))
    links = [Link(1, "bond1"), Link(2, "flannel.ipip", kind="ipip"), Link(3, "v-he029917d6")]
    roles = [(d.role, d.name) for d in path_devices(links, routes)]
    assert roles == [("uplink", "bond1"), ("tunnel", "flannel.ipip")]
    assert [r.dev for r in routes if r.dst == "192.168.2.175"] == ["v-he029917d6"]


def test_lab_node_roles_without_default_route() -> None:
    links = parse_ip_json_links(fixture("lab_cp_addr.txt"))
    routes = parse_route_json(fixture("lab_cp_route.txt"))
    found = {(d.role, d.name) for d in path_devices(links, routes)}
    # no default route in the lab: the uplink is the vxlan tunnel's underlay device
    assert found == {
        ("uplink", "eth1"),
        ("join", "ovn0"),
        ("tunnel", "vxlan0"),
        ("bridge", "br-pods"),
    }


def test_inventory_hint_fills_a_missing_role_only() -> None:
    links = [Link(1, "eth1"), Link(2, "ovn0")]
    roles = path_devices(links, [Route("10.0.0.0/8", dev="eth1")], {"uplink": "eth1", "join": "x"})
    assert [(d.role, d.name, d.why) for d in roles] == [
        ("join", "ovn0", "kube-ovn join (node <-> ovn-cluster router)"),
        ("uplink", "eth1", "named in the inventory's devices"),
    ]


def test_bridge_fdb_finds_the_pod_port() -> None:
    mac = neigh_mac(fixture("lab_cp_neigh.txt"), "192.168.0.6")
    assert mac == "00:00:00:de:cb:07"
    assert fdb_port(fixture("lab_cp_fdb.txt"), mac, "br-pods") == "dd2b931fc304_h"
    assert fdb_port(fixture("lab_cp_fdb.txt"), "02:00:00:00:00:99") is None


def test_guess_cni_from_daemonsets() -> None:
    assert guess_cni(["kube-proxy", "kube-flannel-ds"]) == "flannel"
    assert guess_cni(["kube-ovn-cni", "ovs-ovn", "kube-proxy"]) == "kube-ovn"
    assert guess_cni(["calico-node"]) == "calico"
    assert guess_cni(["ovnkube-node", "ovnkube-db"]) == "ovn-kubernetes"
    assert guess_cni(["kube-proxy"]) is None


def test_uplink_under_an_ovs_bridge_holding_the_default_route() -> None:
    """ovn-kubernetes shared gateway: the node IP and default route on br-ex, eth0 its port."""
    from netdiag.discover.model import Link, Route
    from netdiag.discover.ovs import OvsBridge, OvsPort
    from netdiag.discover.roles import ovs_uplink, path_devices

    links = (
        Link(2, "eth0", kind=None, master="ovs-system"),
        Link(3, "br-ex", kind="openvswitch", addrs=("10.0.0.5/24",)),
        Link(4, "br-int", kind="openvswitch"),
    )
    routes = (Route("default", dev="br-ex", gateway="10.0.0.1"),)
    bridges = (
        OvsBridge(
            "br-ex",
            (
                OvsPort("patch-br-ex_n1-to-br-int", "patch"),
                OvsPort("br-ex", "internal"),
                OvsPort("eth0"),
            ),
        ),
        OvsBridge("br-int", (OvsPort("br-int", "internal"),)),
    )
    up = ovs_uplink(links, routes, bridges)
    assert up is not None
    assert (up.name, up.why) == ("eth0", "port of OVS bridge br-ex, which holds the default route")
    path = path_devices(links, routes, None, up)
    assert [d.name for d in path if d.role == "uplink"] == ["eth0"]  # not br-ex
    # an encap IP on a plain NIC, or no OVS bridge behind the route: nothing to add
    assert ovs_uplink(links, (Route("default", dev="eth9"),), bridges) is None
    assert ovs_uplink(links, routes, ()) is None
