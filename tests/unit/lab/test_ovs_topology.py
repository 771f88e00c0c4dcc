"""The ovs-geneve topology as data (a LabSpec with dataplane "ovs"), without root or OVS."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netdiag.cli import lab as lab_cli
from netdiag.errors import LabError
from netdiag.inventory import load_inventory
from netdiag.lab import ovs, render
from netdiag.lab.inventory import inventory_dict, inventory_text
from netdiag.lab.topology import OVS_DEFAULT_NAME, STATE_ROOT, default_spec, ovs_spec

REPO = Path(__file__).resolve().parents[3]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netdiag")
    lab_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_every_namespace_carries_the_lab_prefix_and_differs_from_the_default_lab() -> None:
    spec = ovs_spec()
    assert spec.name == OVS_DEFAULT_NAME
    assert all(ns.startswith("ndovs-") for ns in spec.all_netns())
    assert len(spec.all_netns()) == len(set(spec.all_netns())) == 6  # sw, 3 nodes, 2 pods
    # its own management network, so both labs can run at once
    assert spec.mgmt_net != default_spec().mgmt_net
    assert spec.host_iface != default_spec().host_iface


def test_ovs_nodes_put_the_underlay_ip_and_nat_on_br_phy_not_on_the_bridge_port() -> None:
    spec = ovs_spec()
    node1 = spec.node("ovs-node1")
    lines = render.netns_batches(spec)[spec.node_netns("ovs-node1")]
    # OVS ports: the kernel must neither answer ARP nor take IP on them (OVS reads them with
    # AF_PACKET, the stack would see the FIP packets too and answer them itself)
    assert "link set eth1 arp off up" in lines
    assert "link set a1b2c3d4e5f6_h arp off up" in lines
    assert not any(node1.uplink_ip in line for line in lines)  # added on br-phy by ovs.py
    assert not any("vxlan" in line or "br-pods" in line for line in lines)
    rules = render.iptables_rules(spec, node1)
    assert "-A PREROUTING -i br-phy -d 172.19.0.11/32 -j DNAT --to-destination 192.168.0.6" in rules
    assert "-o br-phy -j MASQUERADE" in rules
    raw = rules[rules.index("*raw") :]
    assert "-A PREROUTING -i eth1 -j DROP" in raw
    assert "-A PREROUTING -i a1b2c3d4e5f6_h -j DROP" in raw
    assert "*raw" not in render.iptables_rules(default_spec(), default_spec().nodes[1])
    assert render.bridge_batches(spec) == {}
    # the client is an ordinary host: its uplink keeps the seed's MAC and address
    client = render.netns_batches(spec)[spec.node_netns("client")]
    assert "addr add 172.19.0.1/16 dev eth0" in client
    links = render.host_links_batch(spec)
    assert any("netns ndovs-client address 02:42:57:db:a9:c6" in line for line in links)
    assert not any("netns ndovs-ovs-node1 address" in line for line in links)


def test_unnamed_pods_are_not_mounted_into_the_nodes_view() -> None:
    spec = ovs_spec()
    script = render.launch_script(spec, spec.node("ovs-node1"))
    assert "/run/netns/ndovs-pod-pod-a" not in script
    assert all(not p.named for p in spec.pods)
    named = render.launch_script(default_spec(), default_spec().node("kube-ovn-control-plane"))
    assert "/run/netns/netdiag-pod-fip-busybox01" in named


def test_inventory_lists_pods_as_kubectl_would_so_discovery_must_place_them(
    tmp_path: Path,
) -> None:
    spec = ovs_spec()
    data = inventory_dict(spec)
    pods = {p["name"]: p for p in data["pods"]}
    assert set(pods["default/pod-a"]) == {"name", "node", "ips", "fip"}
    assert "netns" not in pods["default/pod-b"]
    node = next(n for n in data["nodes"] if n["name"] == "ovs-node1")
    assert node["devices"] == {"uplink": "eth1", "join": "ovn0", "mgmt": "mgmt0"}
    assert node["labels"]["dataplane"] == "ovs-netdev"
    path = tmp_path / "inv.yaml"
    path.write_text(inventory_text(spec), encoding="utf-8")
    inv = load_inventory(path)
    assert inv.pod("default/pod-a").host_iface is None


def test_committed_ovs_inventory_is_what_lab_up_writes() -> None:
    committed = (REPO / "inventory" / "lab-ndovs.yaml").read_text(encoding="utf-8")
    assert committed == inventory_text(ovs_spec()), (
        "inventory/lab-ndovs.yaml is stale: regenerate it with inventory_text(ovs_spec())"
    )


def test_chassis_ids_are_stable_per_node_and_distinct() -> None:
    spec = ovs_spec()
    ids = {ovs.chassis_id(spec, n.name) for n in spec.nodes}
    assert len(ids) == 3
    assert ovs.chassis_id(spec, "ovs-node1") == ovs.chassis_id(ovs_spec(), "ovs-node1")
    assert ovs.chassis_id(ovs_spec("other"), "ovs-node1") != ovs.chassis_id(spec, "ovs-node1")


def test_ovs_files_live_in_the_nodes_private_run_and_socket_paths_fit() -> None:
    spec = ovs_spec("abcdefghij")  # longest name
    for node in spec.nodes:
        d = ovs.ovs_dir(spec, node.name)
        assert d == f"{STATE_ROOT}/abcdefghij/nodes/{node.name}/run/openvswitch"
        assert len(f"{d}/ovs-vswitchd.4194304.ctl") < 108  # sun_path, largest pid
    assert ovs.tunnel_port("ovs-node2") == "ovn-ovs-node2"
    assert len(ovs.tunnel_port("a-very-long-node-name")) == 15


def test_missing_ovs_binaries_are_named_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "ovs-vswitchd" else tool)
    assert "ovs-vswitchd" in ovs.missing_tools()
    with pytest.raises(LabError, match=r"ovs-vswitchd.*openvswitch-switch"):
        ovs.require_ovs()


def test_stray_pids_only_match_ovs_daemons_naming_the_state_dir() -> None:
    assert ovs.stray_ovs_pids("/run/netdiag-lab/no-such-lab-here") == []


def test_ovs_geneve_has_its_own_default_name_and_network() -> None:
    args = _parse(["lab", "up", "--topology", "ovs-geneve"])
    assert args.name is None
    assert args.mgmt_net is None  # run() picks 10.249.0.0/24 for ovs-geneve
    assert _parse(["lab", "up"]).topology == "default"


def test_only_the_ovs_labs_senders_compute_their_own_tcp_checksums() -> None:
    from netdiag.lab.offload import senders

    spec = ovs_spec("ndx")
    assert senders(spec) == {
        "ndx-client": ["eth0"],
        "ndx-pod-pod-a": ["eth0"],
        "ndx-pod-pod-b": ["eth0"],
    }
    assert senders(default_spec()) == {}, "a kernel bridge delivers offloaded checksums fine"


def test_the_ovs_labs_services_enter_by_ovn0_and_their_backends_listen() -> None:
    spec = ovs_spec()
    rules = render.iptables_rules(spec, spec.node("ovs-node1"))
    svc = "-d 10.96.0.10/32 -p tcp --dport 80 -j DNAT --to-destination 192.168.0.6:80"
    assert f"-A PREROUTING -i ovn0 {svc}" in rules
    assert "-i br-phy -d 172.19.0.6/32 -p tcp --dport 30081 -j DNAT" in rules
    assert not any(f.masquerade for f in spec.port_forwards), "one gateway address on every node"
    assert all(p.listen == (80,) for p in spec.pods)
