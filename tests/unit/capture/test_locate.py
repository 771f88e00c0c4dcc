"""Run-time resolution of role and pod capture points on scripted nodes (MockTransport)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from netdiag.capture.locate import Unplaced, locate
from netdiag.capture.run_steps import point_labels
from netdiag.inventory import parse_inventory
from netdiag.plan import CapturePoint
from netdiag.transport import CommandResult
from netdiag.transport.mock import MockCall, MockTransport
from tests.unit.discover.discover_fixtures import OVS_NODE1, by_command, fixture

CP, WORKER = "kube-ovn-control-plane", "kube-ovn-worker"
INVENTORY = parse_inventory(
    textwrap.dedent(
        f"""\
        version: 1
        nodes:
          - {{name: {CP}, host: 10.250.0.11}}
          - {{name: {WORKER}, host: 10.250.0.12, devices: {{tunnel: genev_sys_6081}}}}
        """
    ),
    Path("/inv/no-pods.yaml"),
)
# The lab's control plane as recorded over SSH: each fixture's "# command:" line is its argv.
RECORDED = by_command(
    "lab_cp_addr.txt",
    "lab_cp_route.txt",
    "lab_cp_netns_ids.txt",
    "lab_pod_fip01_addr.txt",
    "lab_pod_lb_addr.txt",
    "lab_cp_route_get.txt",
)


def control_plane(call: MockCall) -> CommandResult:
    if call.argv in RECORDED:
        return CommandResult(CP, call.argv, 0, fixture(RECORDED[call.argv]), "", 0.01)
    return CommandResult(CP, call.argv, 1, "", "Error: no route", 0.01)


def broken_worker(call: MockCall) -> CommandResult:
    return CommandResult(WORKER, call.argv, 127, "", "sh: ip: not found", 0.01)


async def test_pod_by_name_and_roles_resolve_from_one_discovery_per_node() -> None:
    points = [
        CapturePoint("", "", pod="default/fip-busybox01", via="discovery"),
        CapturePoint(CP, "", role="uplink", via="discovery"),
        CapturePoint(CP, "", role="tun0", via="discovery"),
        CapturePoint(CP, "eth0", via="name"),
        CapturePoint(CP, "eth1", via="name"),  # the uplink again: one capture, not two
    ]
    async with (
        MockTransport(control_plane, INVENTORY.node(CP)) as cp,
        MockTransport(broken_worker, INVENTORY.node(WORKER)) as wk,
    ):
        got = await locate(points, {CP: cp, WORKER: wk}, INVENTORY)
        host_reads = [c for c in cp.calls if c.argv == ("ip", "-j", "-d", "addr")]
    pod, uplink, named = got.points
    assert (pod.node, pod.iface, pod.via) == (CP, "dd2b931fc304_h", "discovery")
    assert (uplink.iface, uplink.role, uplink.via) == ("eth1", "uplink", "discovery")
    assert (named.iface, named.via) == ("eth0", "name")
    assert f"{CP}: ip -j -d addr" in got.commands[pod]
    assert len(host_reads) == 1  # pod and roles share the node's batches
    (tun0,) = got.unplaced
    assert tun0.label == "<tun0>"
    assert tun0.detail.startswith(f"no tun0 device found on node {CP}; discovered: uplink=eth1")


async def test_roles_fall_back_to_the_inventory_and_unknown_pods_say_why() -> None:
    points = [
        CapturePoint(WORKER, "", role="tunnel", via="discovery"),
        CapturePoint(WORKER, "", role="uplink", via="discovery"),
        CapturePoint("", "", pod="default/ghost", via="discovery"),
    ]
    async with (
        MockTransport(control_plane, INVENTORY.node(CP)) as cp,
        MockTransport(broken_worker, INVENTORY.node(WORKER)) as wk,
    ):
        got = await locate(points, {CP: cp, WORKER: wk}, INVENTORY)
    (tunnel,) = got.points
    assert (tunnel.node, tunnel.iface, tunnel.via) == (WORKER, "genev_sys_6081", "inventory")
    uplink, ghost = got.unplaced
    assert uplink.detail.startswith(f"no uplink device found on node {WORKER}; {WORKER}: discovery")
    assert "sh: ip: not found" in uplink.detail
    assert ghost.label == "<pod default/ghost>"
    assert "pod default/ghost not found" in ghost.detail
    assert "add it under pods: in /inv/no-pods.yaml" in ghost.detail


async def test_pod_by_ip_is_searched_on_every_connected_node() -> None:
    points = [CapturePoint("", "", pod="192.168.0.6", via="discovery")]
    async with (
        MockTransport(control_plane, INVENTORY.node(CP)) as cp,
        MockTransport(broken_worker, INVENTORY.node(WORKER)) as wk,
    ):
        got = await locate(points, {CP: cp, WORKER: wk}, INVENTORY)
        asked = [c.argv for c in cp.calls if c.argv[:4] == ("ip", "-j", "route", "get")]
    ((point, commands),) = got.commands.items()
    assert (point.node, point.iface, point.pod) == (CP, "dd2b931fc304_h", "192.168.0.6")
    assert asked == [("ip", "-j", "route", "get", "192.168.0.6")]
    assert f"{CP}: ip -n fip-busybox01 -j -d addr" in commands
    assert got.unplaced == ()


async def test_inside_points_get_the_pods_namespace_and_interface_named_or_by_pid() -> None:
    """``inside`` (a capture in the pod, or a probe's source): the namespace itself, named on
    the control plane, ``/proc/PID/ns/net`` on the OVS node whose pods have no names."""
    ovs = "ovs-node1"
    inventory = parse_inventory(
        textwrap.dedent(
            f"""\
            version: 1
            nodes:
              - {{name: {CP}, host: 10.250.0.11}}
              - {{name: {ovs}, host: 10.249.0.11}}
            pods:
              - {{name: default/pod-a, node: {ovs}, ips: [192.168.0.6]}}
            """
        ),
        Path("/inv/two.yaml"),
    )
    recorded = by_command(*OVS_NODE1)

    def ovs_node(call: MockCall) -> CommandResult:
        name = recorded.get(call.argv)
        if name is None:
            return CommandResult(ovs, call.argv, 1, "", "not recorded", 0.01)
        return CommandResult(ovs, call.argv, 0, fixture(name), "", 0.01)

    pid = next(a[2] for a in recorded if a[0] == "nsenter")
    by_pid = CapturePoint(ovs, "", pod="default/pod-a", via="discovery", inside=True)
    named = CapturePoint("", "", pod="default/fip-busybox01", via="discovery", inside=True)
    ghost = CapturePoint("", "", pod="default/ghost", via="discovery", inside=True)
    async with (
        MockTransport(control_plane, inventory.node(CP)) as cp,
        MockTransport(ovs_node, inventory.node(ovs)) as on,
    ):
        got = await locate([by_pid, named, ghost], {CP: cp, ovs: on}, inventory)
    a = got.by_input[by_pid]
    assert isinstance(a, CapturePoint)
    assert (a.node, a.iface, a.netns, a.inside) == (ovs, "eth0", f"/proc/{pid}/ns/net", True)
    assert point_labels([a]) == {a: "pod-a:eth0"}
    b = got.by_input[named]
    assert isinstance(b, CapturePoint)
    assert (b.node, b.iface, b.netns) == (CP, "eth0", "fip-busybox01")
    g = got.by_input[ghost]
    assert isinstance(g, Unplaced)
    assert "pod default/ghost not found" in g.detail
    assert got.points == (a, b)
