"""Generic strategy on recorded output: the lab's ``ip -j`` and the seeds' ``ip a`` text."""

from __future__ import annotations

import json

import pytest

from netdiag.discover.iproute import (
    lookup_route,
    parse_ip_addr_text,
    parse_ip_json_links,
    parse_ip_route_text,
    parse_lsns_net,
    parse_netns_ids,
    parse_route_get,
    parse_route_json,
    parse_route_n,
)
from netdiag.discover.match import attach_host_peers, find_pod, host_iface_from_route, pod_netns
from netdiag.errors import InputError
from tests.unit.discover.discover_fixtures import fixture


def test_lab_pod_is_matched_to_its_host_veth_by_ifindex_and_nsid() -> None:
    host = parse_ip_json_links(fixture("lab_cp_addr.txt"))
    ids = parse_netns_ids(fixture("lab_cp_netns_ids.txt"))
    assert ids == {1: "fip-busybox01", 2: "lb-backend"}  # nsid 0 (the switch) has no name here
    by_name = {v: k for k, v in ids.items()}
    spaces = [
        attach_host_peers(pod_netns(n, by_name[n], parse_ip_json_links(fixture(f))), host)
        for n, f in (
            ("lb-backend", "lab_pod_lb_addr.txt"),
            ("fip-busybox01", "lab_pod_fip01_addr.txt"),
        )
    ]
    found = find_pod("192.168.0.6", spaces)
    assert found is not None
    ns, iface = found
    assert (ns.name, ns.nsid, iface.name, iface.ifindex) == ("fip-busybox01", 1, "eth0", 22)
    assert (iface.host_ifindex, iface.host_iface, iface.mac) == (
        23,
        "dd2b931fc304_h",
        "00:00:00:de:cb:07",
    )
    other = find_pod("192.168.0.3", spaces)
    assert other is not None
    assert other[1].host_iface == "3a5e1d7c9f02_h"
    assert find_pod("192.168.0.7", spaces) is None  # lives on the worker


def test_same_ifindex_in_another_namespace_is_not_a_match() -> None:
    host = parse_ip_json_links(fixture("lab_cp_addr.txt"))
    pod = pod_netns("fip-busybox01", 2, parse_ip_json_links(fixture("lab_pod_fip01_addr.txt")))
    # wrong nsid: the host veth 23 points at nsid 1, so nothing may be attached
    assert attach_host_peers(pod, host).interfaces[0].host_iface is None


def test_lab_links_carry_kind_master_and_tunnel_underlay() -> None:
    links = {link.name: link for link in parse_ip_json_links(fixture("lab_cp_addr.txt"))}
    assert links["vxlan0"].kind == "vxlan"
    assert links["vxlan0"].tunnel_link == "eth1"
    assert links["dd2b931fc304_h"].master == "br-pods"
    assert links["ovn0"].ips == ("100.64.0.2",)
    assert links["eth1"].ips[0] == "172.19.0.6"
    assert "172.19.0.11" in links["eth1"].ips


def test_route_get_and_longest_prefix() -> None:
    r = parse_route_get(fixture("lab_cp_route_get.txt"))
    assert r is not None
    assert (r.dst, r.dev) == ("192.168.0.6", "br-pods")
    table = parse_route_json(fixture("lab_cp_route.txt"))
    hit = lookup_route(table, "192.168.0.7")
    assert hit is not None
    assert (hit.dev, hit.gateway) == ("ovn0", "100.64.0.3")
    assert lookup_route(table, "8.8.8.8") is None


def test_openshift_seed_veth_peer_from_ip_a_text() -> None:
    host = parse_ip_addr_text(fixture("seed003_node_ip_a.txt"))
    assert [h.name for h in host] == ["eth0", "br0", "vxlan_sys_4789", "tun0", "vethd0d3571b"]
    veth = host[-1]
    assert (veth.ifindex, veth.peer_ifindex, veth.link_netnsid, veth.master) == (
        53,
        3,
        3,
        "ovs-system",
    )
    pod_links = parse_ip_addr_text(fixture("seed003_pod_ip_link.txt"))  # line mangled by the blog
    pod = attach_host_peers(pod_netns("es", 3, pod_links), host)
    assert [(i.name, i.host_iface) for i in pod.interfaces] == [("eth0", "vethd0d3571b")]


def test_squashed_calico_pod_ip_addr() -> None:
    links = parse_ip_addr_text(fixture("seed004_calico_pod_ip_addr.txt"))
    eth0 = links[-1]
    assert (eth0.name, eth0.peer_ifindex, eth0.link_netnsid, eth0.ips) == (
        "eth0",
        11,
        0,
        ("172.25.0.130",),
    )
    assert links[1].name == "tunl0"
    assert not links[1].up


def test_kube_ovn_pod_seed_ip_a_and_route_n() -> None:
    links = parse_ip_addr_text(fixture("seed001_pod_ip_a.txt"))
    eth0 = links[1]
    assert (eth0.name, eth0.ifindex, eth0.peer_ifindex, eth0.mac) == (
        "eth0",
        22,
        23,
        "00:00:00:de:cb:07",
    )
    routes = parse_route_n(fixture("seed001_pod_route_n.txt"))
    assert routes[0].dst == "default"
    assert routes[0].gateway == "192.168.0.1"
    assert routes[1].dst == "192.168.0.0/24"
    assert routes[1].gateway is None


def test_ip_route_text_keeps_blackhole_and_finds_cali_device() -> None:
    routes = parse_ip_route_text(fixture("seed004_calico_node_ip_route.txt"))
    assert routes[3].kind == "blackhole"
    assert routes[3].dev is None
    hit = lookup_route(routes, "172.25.0.130")
    assert hit is not None
    assert host_iface_from_route(hit, ()) == "calibfd619d4ca3"
    remote = lookup_route(routes, "172.25.0.195")
    assert remote is not None
    assert (remote.dev, remote.gateway) == ("tunl0", "10.211.55.116")
    assert host_iface_from_route(remote, ()) is None


def test_kube_ovn_node_ip_r_with_comments() -> None:
    routes = parse_ip_route_text(fixture("seed000_node3_ip_r.txt"))
    assert [(r.dst, r.dev, r.gateway) for r in routes] == [
        ("10.233.64.0/18", "ovn0", "100.64.0.1"),
        ("100.64.0.0/16", "ovn0", None),
    ]


def test_netns_text_and_bad_json() -> None:
    assert parse_netns_ids("lb-backend (id: 2)\nfip-busybox01 (id: 1)\nplain\n") == {
        2: "lb-backend",
        1: "fip-busybox01",
    }
    with pytest.raises(InputError, match="not JSON"):
        parse_ip_json_links("Usage: ip address")


def test_lsns_maps_each_assigned_nsid_to_a_pid_whatever_util_linux_prints() -> None:
    recorded = parse_lsns_net(fixture("ovs_lab_lsns.txt"))
    assert list(recorded) == [1]  # only the pod's namespace has an id in the node's view
    text = json.dumps(
        {
            "namespaces": [
                {"ns": 1, "pid": 10, "netnsid": 3},  # older util-linux: a number
                {"ns": 2, "pid": 11, "netnsid": "3"},  # same nsid again: the first PID wins
                {"ns": 3, "pid": 12, "netnsid": "unassigned"},
                {"ns": 4, "pid": None, "netnsid": "5"},
                "junk",
            ]
        }
    )
    assert parse_lsns_net(text) == {3: 10}
    with pytest.raises(InputError, match=r"util-linux >= 2\.29"):
        parse_lsns_net("NS TYPE NPROCS PID USER COMMAND")
