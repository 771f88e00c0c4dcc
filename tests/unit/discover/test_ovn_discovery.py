"""Gateways attached to discovery results from the nodes' recorded OVN answers (MockTransport)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netdiag.discover.live import NodeView, inspect_node, resolve
from netdiag.discover.model import Discovery
from netdiag.discover.ovn import live as ovn_live
from netdiag.discover.ovn.live import with_gateways
from netdiag.discover.ovn.model import OvnView
from netdiag.discover.ovn.parse import GW_LIST, NAT_FIND, NB_SHOW, OVS_IDS, SB_SHOW, ovn_view
from netdiag.discover.targets import Target
from netdiag.inventory import NodeSpec, parse_inventory
from netdiag.transport import CommandResult
from netdiag.transport.mock import MockCall, MockTransport
from tests.unit.discover.discover_fixtures import OVS_NODE1, by_command, fixture

INVENTORY = parse_inventory(
    textwrap.dedent(
        """\
        version: 1
        nodes:
          - {name: ovs-node1, host: 10.249.0.11}
          - {name: ovs-node2, host: 10.249.0.12}
          - {name: client, host: 10.249.0.10}
        """
    ),
    Path("/inv/ovs.yaml"),
)
RECORDED = by_command(*OVS_NODE1)
OVN = {
    NB_SHOW: "ovn_lab_nbctl_show.txt",
    SB_SHOW: "ovn_lab_sbctl_show.txt",
    GW_LIST: "ovn_lab_gateway_chassis.txt",
}
NODE1 = fixture("ovn_lab_system_id_node1.txt").strip().strip('"')
NODE2 = fixture("ovn_lab_system_id_node2.txt").strip().strip('"')


def node1(with_db: bool) -> MockTransport:
    def run(call: MockCall) -> CommandResult:
        name = RECORDED.get(call.argv) or (OVN.get(call.argv) if with_db else None)
        if name is None:
            err = "ovn-nbctl: unix:/var/run/ovn/ovnnb_db.sock: database connection failed"
            return CommandResult("ovs-node1", call.argv, 1, "", err, 0.0)
        return CommandResult("ovs-node1", call.argv, 0, fixture(name), "", 0.0)

    return MockTransport(run, INVENTORY.node("ovs-node1"))


async def _view(with_db: bool) -> NodeView:
    async with node1(with_db) as t:
        view = await inspect_node(t, ["192.168.0.6", "172.19.0.11"], ovn=True)
        assert any(c.argv == NB_SHOW for c in t.calls)  # asked because the node has br-int
    return view


async def test_fip_and_pod_get_the_gateway_from_the_node_that_reaches_the_database() -> None:
    view = await _view(with_db=True)
    assert view.ovn.topology is not None
    pod = Target("192.168.0.6", "ip", ("ovs-node1",), ("192.168.0.6",))
    fip = Target("172.19.0.11", "ip", ("ovs-node1",), ("172.19.0.11",))
    placed = resolve(pod, view)
    assert placed is not None
    found = [placed, Discovery("172.19.0.11", None, ip="172.19.0.11", notes=("not on ovs-node1",))]
    out = await with_gateways(INVENTORY, {"ovs-node1": view}, [pod, fip], found, "mock")
    for d in out:
        assert d.gateway is not None
        assert d.gateway.port == "ovn-cluster-external"
        # node 1 named its own system-id; node 2 is named by the southbound hostname
        assert [(c.name, c.node, c.active) for c in d.gateway.chassis] == [
            (NODE1, "ovs-node1", True),
            (NODE2, "ovs-node2", False),
        ]
    assert out[0].host_iface == "a1b2c3d4e5f6_h"  # the rest of the answer is untouched
    assert out[1].node is None
    assert out[1].gateway is not None
    assert out[1].gateway.nat is not None
    assert out[1].gateway.nat.logical_ip == "192.168.0.6"
    assert out[0].to_json()["gateway"] == out[0].gateway.to_json()  # type: ignore[union-attr]


async def test_other_nodes_are_asked_when_no_asked_node_reaches_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = await _view(with_db=False)
    assert view.ovn.topology is None
    asked: list[str] = []

    async def ask(
        node: NodeSpec, kind: str, factory: object = None
    ) -> tuple[str, OvnView, dict[str, str]] | None:
        asked.append(node.name)
        if node.name != "ovs-node2":
            return None  # e.g. the client: no OVS at all, or unreachable
        by_argv = {
            argv: CommandResult(node.name, argv, 0, fixture(name), "", 0.0)
            for argv, name in OVN.items()
        }
        return node.name, ovn_view(by_argv), {"system-id": NODE2}

    monkeypatch.setattr(ovn_live, "_ask", ask)
    pod = Target("192.168.0.6", "ip", ("ovs-node1",), ("192.168.0.6",))
    found = resolve(pod, view)
    assert found is not None
    (out,) = await with_gateways(INVENTORY, {"ovs-node1": view}, [pod], [found], "mock")
    assert sorted(asked) == ["client", "ovs-node2"]  # never node 1 again
    assert out.gateway is not None
    assert out.gateway.active_node == "ovs-node1"


async def test_capture_time_discovery_does_not_ask_the_ovn_databases() -> None:
    async with node1(with_db=True) as t:
        view = await inspect_node(t, ["192.168.0.6"])
        asked = [c.argv for c in t.calls]
    assert not any(a[0].startswith("ovn-") for a in asked)
    assert view.ovn.topology is None
    assert view.ovs_ids  # the node's own OVS identity and bridges are still read (uplink)


async def test_nodes_without_ovs_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(node: NodeSpec, kind: str) -> None:
        raise AssertionError("no OVS on the asked nodes: nobody else is asked")

    monkeypatch.setattr(ovn_live, "_ask", never)
    found = [Discovery("10.0.0.5", "n1", ip="10.0.0.5")]
    plain = NodeView.parse(
        INVENTORY.node("client"),
        [
            CommandResult("client", a, 0, out, "", 0.0)
            for a, out in (
                (("ip", "-j", "-d", "addr"), "[]"),
                (("ip", "-j", "route"), "[]"),
                (("ip", "-j", "netns", "list-id"), "[]"),
            )
        ],
        [],
    )
    target = Target("10.0.0.5", "ip", ("client",), ("10.0.0.5",))
    assert await with_gateways(INVENTORY, {"client": plain}, [target], found, "mock") == found
    assert OVS_IDS[0] == "ovs-vsctl"
    assert NAT_FIND[:2] == ("ovn-nbctl", "--timeout=5")
