"""Target parsing on an inventory and resolution on a node view built from recorded output."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdiag.discover.live import HOST_COMMANDS, NodeView, resolve
from netdiag.discover.targets import parse_target
from netdiag.errors import InputError, NetdiagError
from netdiag.inventory import parse_inventory
from netdiag.transport import CommandResult
from tests.unit.discover.discover_fixtures import fixture

INVENTORY = """
version: 1
nodes:
  - {name: kube-ovn-control-plane, host: 10.0.0.11, devices: {uplink: eth1}}
  - {name: kube-ovn-worker, host: 10.0.0.12}
pods:
  - {name: default/fip-busybox01, node: kube-ovn-control-plane, ips: [192.168.0.6]}
  - {name: default/no-ip, node: kube-ovn-worker}
"""
INV = parse_inventory(INVENTORY, Path("inv.yaml"))


def test_targets_pick_the_nodes_to_ask() -> None:
    pod = parse_target("pod:default/fip-busybox01", INV)
    assert (pod.kind, pod.nodes, pod.ips) == ("pod", ("kube-ovn-control-plane",), ("192.168.0.6",))
    assert parse_target("192.168.0.6", INV).nodes == ("kube-ovn-control-plane",)
    assert parse_target("10.16.0.9", INV).nodes == ("kube-ovn-control-plane", "kube-ovn-worker")
    assert parse_target("kube-ovn-worker", INV).kind == "node"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pod:default/ghost", "is not in inv.yaml; add it under pods:"),
        ("pod:default/no-ip", "no ips; add its IP"),
        ("node9", "neither an IP address, pod:NAMESPACE/NAME nor a node"),
    ],
)
def test_bad_targets_say_what_to_do(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_target(text, INV)


def _view() -> NodeView:
    def res(argv: tuple[str, ...], name: str) -> CommandResult:
        return CommandResult("kube-ovn-control-plane", argv, 0, fixture(name), "", 0.1)

    results = [
        res(HOST_COMMANDS[0], "lab_cp_addr.txt"),
        res(HOST_COMMANDS[1], "lab_cp_route.txt"),
        res(HOST_COMMANDS[2], "lab_cp_netns_ids.txt"),
        res(("ip", "-j", "route", "get", "192.168.0.6"), "lab_cp_route_get.txt"),
        res(("ip", "-n", "fip-busybox01", "-j", "-d", "addr"), "lab_pod_fip01_addr.txt"),
        res(("ip", "-n", "lb-backend", "-j", "-d", "addr"), "lab_pod_lb_addr.txt"),
    ]
    return NodeView.parse(INV.node("kube-ovn-control-plane"), results, ["192.168.0.6"])


def test_resolve_pod_on_recorded_node() -> None:
    found = resolve(parse_target("192.168.0.6", INV), _view())
    assert found is not None
    assert (found.node, found.host_iface, found.ip) == (
        "kube-ovn-control-plane",
        "dd2b931fc304_h",
        "192.168.0.6",
    )
    assert found.netns is not None
    assert found.netns.name == "fip-busybox01"
    assert "kube-ovn-control-plane: ip -n lb-backend -j -d addr" in found.commands
    assert resolve(parse_target("192.168.0.7", INV), _view()) is None


def test_failed_host_command_is_a_clear_error() -> None:
    bad = CommandResult("n", HOST_COMMANDS[0], 1, "", 'Option "-j" is unknown', 0.1)
    with pytest.raises(NetdiagError, match=r"ip -j -d addr` failed: Option \"-j\" is unknown"):
        NodeView.parse(INV.node("kube-ovn-worker"), [bad], [])


def test_unnamed_netns_behind_a_bridge_is_found_through_neigh_and_fdb() -> None:
    def res(argv: tuple[str, ...], name: str) -> CommandResult:
        return CommandResult("kube-ovn-control-plane", argv, 0, fixture(name), "", 0.1)

    first = [
        res(HOST_COMMANDS[0], "lab_cp_addr.txt"),
        res(HOST_COMMANDS[1], "lab_cp_route.txt"),
        CommandResult("n", HOST_COMMANDS[2], 0, "[]", "", 0.1),  # containerd-style: no names
        res(("ip", "-j", "route", "get", "192.168.0.6"), "lab_cp_route_get.txt"),
    ]
    node = INV.node("kube-ovn-control-plane")
    view = NodeView.parse(node, first, ["192.168.0.6"])
    (lookup,) = view.bridge_lookups(["192.168.0.6"]).values()
    bridge, neigh, fdb = lookup
    assert (bridge, fdb) == ("br-pods", ("bridge", "-j", "fdb", "show", "br", "br-pods"))
    # the recorded `ip -j neigh` is the whole table, a superset of `show to IP dev br-pods`
    view = NodeView.parse(
        node, [*first, res(neigh, "lab_cp_neigh.txt"), res(fdb, "lab_cp_fdb.txt")], ["192.168.0.6"]
    )
    found = resolve(parse_target("192.168.0.6", INV), view)
    assert found is not None
    assert (found.host_iface, found.strategy, found.netns) == ("dd2b931fc304_h", "bridge-fdb", None)
