"""inspect_node's staged batches against a scripted node (MockTransport): OVS fallback."""

from __future__ import annotations

import json
from collections.abc import Callable

from netdiag.discover.live import OVS_FIND, inspect_node, resolve
from netdiag.discover.targets import Target
from netdiag.inventory import NodeSpec
from netdiag.transport import CommandResult
from netdiag.transport.mock import MockCall, MockTransport
from tests.unit.discover.discover_fixtures import OVS_NODE1, by_command, fixture

NODE = NodeSpec(name="kube-ovn-control-plane", host="node.invalid")
# A kube-ovn node as `ip -j -d addr` shows it, cut to the devices that matter here: the pod's
# veth is an OVS port (master ovs-system) and containerd left its netns without an `ip netns` name.
HOST = [
    {"ifindex": 2, "ifname": "eth0", "flags": ["UP"], "addr_info": [
        {"family": "inet", "local": "172.18.0.3", "prefixlen": 16, "scope": "global"}]},
    {"ifindex": 4, "ifname": "ovs-system", "flags": ["BROADCAST"],
     "linkinfo": {"info_kind": "openvswitch"}},
    {"ifindex": 5, "ifname": "br-int", "flags": ["BROADCAST"],
     "linkinfo": {"info_kind": "openvswitch"}},
    {"ifindex": 6, "ifname": "genev_sys_6081", "flags": ["UP"],
     "linkinfo": {"info_kind": "geneve"}},
    {"ifindex": 7, "ifname": "ovn0", "flags": ["UP"], "addr_info": [
        {"family": "inet", "local": "100.64.0.2", "prefixlen": 16, "scope": "global"}]},
    {"ifindex": 23, "ifname": "dd2b931fc304_h", "flags": ["UP"], "master": "ovs-system",
     "link_index": 22, "link_netnsid": 4, "linkinfo": {"info_kind": "veth"}},
]  # fmt: skip
ROUTES = [
    {"dst": "default", "gateway": "172.18.0.1", "dev": "eth0"},
    {"dst": "192.168.0.0/24", "gateway": "100.64.0.1", "dev": "ovn0"},
]


def handler(call: MockCall) -> CommandResult:
    argv = call.argv
    out = {
        ("ip", "-j", "-d", "addr"): json.dumps(HOST),
        ("ip", "-j", "route"): json.dumps(ROUTES),
        ("ip", "-j", "netns", "list-id"): "[]",
        ("ip", "-j", "route", "get", "192.168.0.6"): json.dumps(
            [ROUTES[1] | {"dst": "192.168.0.6"}]
        ),
        (*OVS_FIND, "external_ids:iface-id=fip-busybox01.default"): fixture(
            "kubeovn_vsctl_find.txt"
        ),
        (
            *OVS_FIND,
            "external_ids:iface-id=default_fip-busybox01",
        ): '{"data":[],"headings":["name"]}',
    }
    if argv in out:
        return CommandResult(NODE.name, argv, 0, out[argv], "", 0.01)
    return CommandResult(NODE.name, argv, 1, "", f"unexpected {argv}", 0.01)


async def test_pod_found_through_ovs_external_ids_when_netns_is_unnamed() -> None:
    target = Target(
        "pod:default/fip-busybox01", "pod", (NODE.name,), ("192.168.0.6",), "default/fip-busybox01"
    )
    async with MockTransport(handler, NODE) as t:
        view = await inspect_node(t, ["192.168.0.6"], {"default/fip-busybox01": ("192.168.0.6",)})
    found = resolve(target, view)
    assert found is not None
    assert (found.host_iface, found.strategy) == ("dd2b931fc304_h", "ovs")
    roles = {(d.role, d.name) for d in found.path}
    assert roles == {
        ("uplink", "eth0"),
        ("br-int", "br-int"),
        ("tunnel", "genev_sys_6081"),
        ("join", "ovn0"),
    }
    assert any("iface-id=fip-busybox01.default" in c for c in found.commands)


async def test_no_ovs_queries_without_br_int() -> None:
    seen: list[tuple[str, ...]] = []

    def no_ovs(call: MockCall) -> CommandResult:
        seen.append(call.argv)
        if call.argv == ("ip", "-j", "-d", "addr"):
            return CommandResult(NODE.name, call.argv, 0, json.dumps(HOST[:1]), "", 0.0)
        return handler(call)

    async with MockTransport(no_ovs, NODE) as t:
        view = await inspect_node(t, ["192.168.0.6"], {"default/fip-busybox01": ("192.168.0.6",)})
    assert ("ip", "-j", "-d", "addr") in seen
    assert view.ovs_port == {}
    assert not any("ovs-vsctl" in " ".join(a) for a in seen)


async def test_namespace_reads_use_sudo_on_sudo_nodes() -> None:
    node = NodeSpec(name="kube-ovn-control-plane", host="node.invalid", sudo=True)
    recorded = {
        ("ip", "-j", "-d", "addr"): "lab_cp_addr.txt",
        ("ip", "-j", "route"): "lab_cp_route.txt",
        ("ip", "-j", "netns", "list-id"): "lab_cp_netns_ids.txt",
        ("ip", "-j", "route", "get", "192.168.0.6"): "lab_cp_route_get.txt",
        ("sudo", "-n", "ip", "-n", "fip-busybox01", "-j", "-d", "addr"): "lab_pod_fip01_addr.txt",
        ("sudo", "-n", "ip", "-n", "lb-backend", "-j", "-d", "addr"): "lab_pod_lb_addr.txt",
    }

    def lab(call: MockCall) -> CommandResult:
        name = recorded.get(call.argv)
        if name is None:  # e.g. `ip -n` without sudo: a non-root user cannot setns
            return CommandResult(node.name, call.argv, 1, "", "Operation not permitted", 0.0)
        return CommandResult(node.name, call.argv, 0, fixture(name), "", 0.0)

    async with MockTransport(lab, node) as t:
        view = await inspect_node(t, ["192.168.0.6"])
    found = resolve(Target("192.168.0.6", "ip", (node.name,), ("192.168.0.6",)), view)
    assert found is not None
    assert (found.host_iface, found.strategy) == ("dd2b931fc304_h", "generic")


# The ovs-geneve lab's node 1 as recorded over SSH: its pod namespace has no `ip netns` name;
# each fixture's "# command:" line is its argv.
OVS_NODE = NodeSpec(name="ovs-node1", host="node.invalid")
OVS_RECORDED = by_command(*OVS_NODE1)


def _ovs_node(
    seen: list[tuple[str, ...]], lsns_ok: bool = True
) -> Callable[[MockCall], CommandResult]:
    def run(call: MockCall) -> CommandResult:
        seen.append(call.argv)
        name = OVS_RECORDED.get(call.argv)
        if name is None or (not lsns_ok and call.argv[0] == "lsns"):
            return CommandResult(OVS_NODE.name, call.argv, 1, "", "not recorded", 0.0)
        return CommandResult(OVS_NODE.name, call.argv, 0, fixture(name), "", 0.0)

    return run


async def test_unnamed_pod_namespace_is_entered_by_the_pid_lsns_gives_for_the_veths_nsid() -> None:
    seen: list[tuple[str, ...]] = []
    async with MockTransport(_ovs_node(seen), OVS_NODE) as t:
        view = await inspect_node(t, ["192.168.0.6"])
    pid = next(a[2] for a in OVS_RECORDED if a[0] == "nsenter")
    assert view.pids == {1: int(pid)}  # nsid 1 is a1b2c3d4e5f6_h's link_netnsid
    found = resolve(Target("192.168.0.6", "ip", (OVS_NODE.name,), ("192.168.0.6",)), view)
    assert found is not None
    assert found.host_iface == "a1b2c3d4e5f6_h"
    assert found.netns is not None
    assert found.netns.name == f"/proc/{pid}/ns/net"
    eth0 = found.netns.holding("192.168.0.6")
    assert eth0 is not None
    assert (eth0.name, eth0.mac) == ("eth0", "00:00:00:de:cb:07")
    assert any(f"entered by PID {pid}" in n for n in found.notes)
    assert ("lsns", "-J", "-t", "net", "-o", "NS,PID,NETNSID") in seen
    # route get -> ovn0 (not a veth): the namespace, not the route, placed it; no OVS port query
    assert not any(a[0] == "ovs-vsctl" and "Interface" in a for a in seen)
    # no default route, the underlay IP on br-phy: the uplink is br-phy's port, found via OVN's
    # tunnel endpoint; the node's chassis name comes along for the gateway lookup
    uplink = next(d for d in found.path if d.role == "uplink")
    assert (uplink.name, uplink.why) == (
        "eth1",
        "port of OVS bridge br-phy, which holds the tunnel endpoint 172.19.0.6",
    )
    assert (
        view.ovs_ids["system-id"] == fixture("ovs_lab_ovs_ids.txt").split('"system-id","')[1][:36]
    )


async def test_without_lsns_the_pod_falls_back_to_ovs_and_nothing_is_entered() -> None:
    seen: list[tuple[str, ...]] = []
    async with MockTransport(_ovs_node(seen, lsns_ok=False), OVS_NODE) as t:
        view = await inspect_node(t, ["192.168.0.6"], {"default/pod-a": ("192.168.0.6",)})
    assert view.pids == {}
    assert not any(a[0] == "nsenter" for a in seen)
    target = Target("pod:default/pod-a", "pod", (OVS_NODE.name,), ("192.168.0.6",), "default/pod-a")
    assert resolve(target, view) is None  # the recorded node has no OVS answer scripted here
    assert any(a[:2] == ("ovs-vsctl", "--format=json") for a in seen)


async def test_no_lsns_when_every_veth_peer_has_a_name() -> None:
    seen: list[tuple[str, ...]] = []
    named = [
        {"ifindex": 23, "ifname": "dd2b931fc304_h", "flags": ["UP"], "link_index": 22,
         "link_netnsid": 4, "linkinfo": {"info_kind": "veth"}},
    ]  # fmt: skip

    def node(call: MockCall) -> CommandResult:
        seen.append(call.argv)
        out = {
            ("ip", "-j", "-d", "addr"): json.dumps(named),
            ("ip", "-j", "netns", "list-id"): '[{"nsid":4,"name":"cni-1"}]',
        }.get(call.argv, "[]")
        return CommandResult(NODE.name, call.argv, 0, out, "", 0.0)

    async with MockTransport(node, NODE) as t:
        await inspect_node(t, ["192.168.0.6"])
    assert not any(a[0] in ("lsns", "nsenter") for a in seen)


async def test_an_on_link_subnet_route_out_of_a_veth_is_not_a_pod_but_a_host_route_is() -> None:
    """A lab client's (or kind node's) eth0 is a veth: routing 172.19.0.11 out of it on the /16
    must not make 172.19.0.11 a pod behind eth0; calico's per-pod /32 route does."""
    links = [
        {"ifindex": 2, "ifname": "eth0", "flags": ["UP"], "link_index": 9, "link_netnsid": 0,
         "linkinfo": {"info_kind": "veth"}, "addr_info": [
             {"family": "inet", "local": "172.19.0.1", "prefixlen": 16}]},
        {"ifindex": 5, "ifname": "cali0a1b2c3d4e5", "flags": ["UP"], "link_index": 4,
         "link_netnsid": 1, "linkinfo": {"info_kind": "veth"}},
    ]  # fmt: skip
    routes = [
        {"dst": "172.19.0.0/16", "dev": "eth0", "scope": "link"},
        {"dst": "10.244.1.5", "dev": "cali0a1b2c3d4e5", "scope": "link"},
    ]

    def node(call: MockCall) -> CommandResult:
        out = {
            ("ip", "-j", "-d", "addr"): json.dumps(links),
            ("ip", "-j", "route"): json.dumps(routes),
            ("ip", "-j", "netns", "list-id"): "[]",
            ("ip", "-j", "route", "get", "172.19.0.11"): '[{"dst":"172.19.0.11","dev":"eth0"}]',
            ("ip", "-j", "route", "get", "10.244.1.5"): (
                '[{"dst":"10.244.1.5","dev":"cali0a1b2c3d4e5"}]'
            ),
        }.get(call.argv)
        if out is None:
            return CommandResult(NODE.name, call.argv, 1, "", "not scripted", 0.0)
        return CommandResult(NODE.name, call.argv, 0, out, "", 0.0)

    async with MockTransport(node, NODE) as t:
        view = await inspect_node(t, ["172.19.0.11", "10.244.1.5"])
    fip = Target("172.19.0.11", "ip", (NODE.name,), ("172.19.0.11",))
    assert resolve(fip, view) is None
    pod = resolve(Target("10.244.1.5", "ip", (NODE.name,), ("10.244.1.5",)), view)
    assert pod is not None
    assert pod.host_iface == "cali0a1b2c3d4e5"
