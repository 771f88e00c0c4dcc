"""The lab's topology: seed addresses kept, names derived from the lab name, bad input refused."""

from __future__ import annotations

import pytest

from netdiag.errors import InputError
from netdiag.lab.topology import default_spec, validate_name


def test_default_lab_keeps_the_seed_addresses_and_macs() -> None:
    spec = default_spec()
    cp = spec.node("kube-ovn-control-plane")
    assert spec.node("client").uplink_ip == "172.19.0.1"
    assert spec.node("client").uplink_mac == "02:42:57:db:a9:c6"
    assert (cp.uplink, cp.uplink_mac, cp.extra_uplink_ips) == (
        "eth1",
        "00:00:00:21:44:fd",
        ("172.19.0.11", "172.19.0.10"),
    )
    assert cp.bridge_mac == "00:00:00:91:cc:aa"
    pod = next(p for p in spec.pods if p.fip)
    assert (pod.ip, pod.mac, pod.host_iface, pod.fip) == (
        "192.168.0.6",
        "00:00:00:de:cb:07",
        "dd2b931fc304_h",
        "172.19.0.11",
    )
    assert spec.pods_on("kube-ovn-worker"), "S2 needs a pod on the second node"


def test_every_namespace_carries_the_lab_prefix() -> None:
    spec = default_spec("ndx")
    assert all(ns.startswith("ndx-") for ns in spec.all_netns())
    assert len(set(spec.all_netns())) == len(spec.all_netns())
    assert spec.host_iface == "ndx-mgmt"
    assert spec.state_dir == "/run/netdiag-lab/ndx"


def test_mgmt_addresses_follow_the_mgmt_network() -> None:
    spec = default_spec("ndx", "10.250.7.0/24")
    assert spec.host_mgmt_ip == "10.250.7.1"
    assert {n.mgmt_ip for n in spec.nodes} == {"10.250.7.10", "10.250.7.11", "10.250.7.12"}


@pytest.mark.parametrize("name", ["", "Netdiag", "net-diag", "1lab", "averylongname", "a b"])
def test_bad_lab_names_are_refused_with_a_hint(name: str) -> None:
    with pytest.raises(InputError, match="lowercase letters"):
        validate_name(name)


@pytest.mark.parametrize("net", ["10.250.0.0/30", "fd00::/64", "not-a-net"])
def test_bad_mgmt_networks_are_refused(net: str) -> None:
    with pytest.raises(InputError, match="management network"):
        default_spec("ndx", net)


def test_clock_offsets_are_recorded_per_node_and_unknown_nodes_refused() -> None:
    spec = default_spec().with_clock_offsets({"kube-ovn-worker": 3_000_000})
    assert spec.node("kube-ovn-worker").clock_offset_ns == 3_000_000
    assert spec.node("kube-ovn-control-plane").clock_offset_ns == 0
    with pytest.raises(InputError, match="unknown node"):
        spec.with_clock_offsets({"node9": 1})


def test_port_forward_to_a_missing_pod_or_from_the_client_is_refused() -> None:
    from dataclasses import replace

    from netdiag.lab.topology import PortForward

    bad = PortForward("kube-ovn-worker", "172.19.0.10", 80, "192.168.0.99", 80)
    with pytest.raises(InputError, match=r"no pod 192\.168\.0\.99"):
        replace(default_spec(), port_forwards=(bad,)).validate()
    bad = PortForward("client", "172.19.0.10", 80, "192.168.0.3", 80)
    with pytest.raises(InputError, match="client is not a node"):
        replace(default_spec(), port_forwards=(bad,)).validate()


def test_services_reach_pods_on_the_other_node_and_their_backends_listen() -> None:
    spec = default_spec()
    nodeports = [f for f in spec.port_forwards if f.port in (30080, 30081)]
    assert {(f.node, f.vip, f.pod_ip, f.masquerade) for f in nodeports} == {
        ("kube-ovn-control-plane", "172.19.0.6", "192.168.0.7", True),
        ("kube-ovn-control-plane", "172.19.0.6", "192.168.0.7", False),
    }
    assert spec.pods_on("kube-ovn-worker")[0].listen == (80,)
    hairpin = next(f for f in spec.port_forwards if f.reached_from == "pods")
    backend = next(p for p in spec.pods if p.ip == hairpin.pod_ip)
    assert (backend.node, backend.listen) == (hairpin.node, (80,))


def test_state_root_inside_tmp_is_refused() -> None:
    from dataclasses import replace

    with pytest.raises(InputError, match="outside /tmp"):
        replace(default_spec(), state_root="/tmp/lab").validate()
