"""Probe plans: validation errors with file:line: field, and pure resolution against inventories."""

# ruff: noqa: E501  (tables of YAML snippets and the messages they must produce read best unwrapped)

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netdiag.errors import PlanError
from netdiag.inventory import load_inventory, parse_inventory
from netdiag.plan import CapturePoint, Plan, expand_globs, load_plan, parse_plan, resolve

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = parse_inventory(
    textwrap.dedent(
        """\
        version: 1
        nodes:
          - name: client
            host: 10.250.0.10
            labels: {role: external}
            devices: {uplink: eth0}
          - name: kube-ovn-control-plane
            host: 10.250.0.11
            labels: {role: node}
            devices: {uplink: eth1, join: ovn0, tunnel: vxlan0}
          - name: kube-ovn-worker
            host: 10.250.0.12
            labels: {role: node}
            devices: {uplink: eth1, join: ovn0, tunnel: vxlan0}
        pods:
          - name: default/fip-busybox01
            node: kube-ovn-control-plane
            ips: [192.168.0.6]
            netns: fip-busybox01
            host_iface: dd2b931fc304_h
          - name: default/fip-busybox02
            node: kube-ovn-worker
            netns: fip-busybox02
            host_iface: 6f1e0c3a9b57_h
          - {name: default/no-netns, node: kube-ovn-worker}
        """
    ),
    Path("/inv/lab.yaml"),
)


def plan(body: str) -> str:
    return "version: 1\nname: t\n" + textwrap.dedent(body)


def parsed(body: str) -> Plan:
    return parse_plan(plan(body), Path("/p/t.yaml"))


def error_of(body: str, *, resolve_too: bool = False) -> str:
    def attempt() -> None:
        p = parse_plan(plan(body), Path("/p/t.yaml"))
        if resolve_too:
            resolve(p, INVENTORY)

    with pytest.raises(PlanError) as info:
        attempt()
    return str(info.value)


def test_fip_ingress_plan_resolves_to_the_s1_capture_points() -> None:
    p = load_plan(ROOT / "probes" / "fip-ingress.yaml")
    r = resolve(p, INVENTORY)
    assert set(r.points) == {
        CapturePoint("client", "eth0"),
        CapturePoint("kube-ovn-control-plane", "eth1"),
        CapturePoint("kube-ovn-control-plane", "dd2b931fc304_h", pod="default/fip-busybox01"),
        CapturePoint("kube-ovn-worker", "eth1"),
    }
    (probe,) = r.probes
    assert probe.node == "client"
    assert probe.netns is None
    assert probe.argv == (
        "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "-p", "6e6574646961", "172.19.0.11",
    )  # fmt: skip
    assert r.filter.startswith("icmp or arp or udp port 4789")
    assert p.linger == 2
    assert p.capture.snaplen == 512


def test_pod_sources_and_inside_points_use_the_pod_namespace() -> None:
    r = resolve(load_plan(ROOT / "probes" / "pod-egress-snat.yaml"), INVENTORY)
    inside = [pt for pt in r.points if pt.netns]
    assert inside == [
        CapturePoint(
            "kube-ovn-control-plane", "eth0", "fip-busybox01", "default/fip-busybox01", inside=True
        )
    ]
    assert {(p.kind, p.node, p.netns) for p in r.probes} == {
        ("ping", "kube-ovn-control-plane", "fip-busybox01"),
        ("traceroute", "kube-ovn-control-plane", "fip-busybox01"),
    }
    assert "udp portrange 33434-33534" in r.filter


def test_pods_without_a_netns_in_the_inventory_are_left_to_discovery() -> None:
    """inside: and probe sources for pods the inventory cannot enter: placed at run time."""
    body = (
        "capture: {interfaces: [{pod: default/no-netns, inside: true}, "
        "{pod: default/ghost, inside: true}]}\n"
        "probes: [{ping: {from: {pod: default/no-netns}, target: 192.168.0.7}},"
        " {ping: {from: {pod: 10.9.9.9}, target: 192.168.0.7}}]\n"
    )
    r = resolve(parsed(body), INVENTORY)
    known, ghost = r.points
    assert (known.node, known.iface, known.netns, known.inside) == (
        INVENTORY.pod("default/no-netns").node,
        "",
        None,
        True,
    )
    assert known.unresolved
    assert known.via == "discovery"
    assert (ghost.node, ghost.pod, ghost.unresolved) == ("", "default/ghost", True)
    by_pod, by_ip = r.probes
    assert by_pod.unresolved
    assert by_pod.pod == "default/no-netns"
    assert by_pod.node == INVENTORY.pod("default/no-netns").node
    assert (by_ip.node, by_ip.pod, by_ip.netns, by_ip.unresolved) == ("", "10.9.9.9", None, True)
    assert by_ip.argv[-1] == "192.168.0.7"
    inside = resolve(load_plan(ROOT / "probes" / "pod-egress-snat.yaml"), INVENTORY).probes
    assert not any(p.unresolved for p in inside)  # the inventory gives the netns


def test_label_selector_and_roles_skip_nodes_without_the_role() -> None:
    r = resolve(load_plan(ROOT / "probes" / "cross-node-overlay.yaml"), INVENTORY)
    nodes = {pt.node for pt in r.points}
    assert nodes == {"kube-ovn-control-plane", "kube-ovn-worker"}
    assert CapturePoint("kube-ovn-worker", "vxlan0") in r.points
    assert (
        CapturePoint("kube-ovn-worker", "6f1e0c3a9b57_h", pod="default/fip-busybox02") in r.points
    )
    assert r.probes[0].argv[-1] == "192.168.0.7"
    p = parsed("capture: {interfaces: [tunnel, eth7]}\n")
    points = resolve(p, INVENTORY).points
    assert CapturePoint("client", "eth7") in points
    assert not any(pt.node == "client" and pt.iface == "vxlan0" for pt in points)


def test_tcp_probe_passes_target_and_port_as_arguments() -> None:
    p = parsed(
        "capture: {interfaces: [any]}\nprobes:\n  - tcp: {from: client, target: 10.0.0.5, port: 80}\n"
    )
    r = resolve(p, INVENTORY)
    (probe,) = r.probes
    assert probe.argv == (
        "timeout",
        "3",
        "bash",
        "-c",
        'exec 3<>"/dev/tcp/$0/$1"',
        "10.0.0.5",
        "80",
    )
    assert r.points == tuple(CapturePoint(n.name, "any") for n in INVENTORY.nodes)
    assert "tcp" in r.filter.split(" or ")


def test_udp_probe_sends_one_marked_datagram_and_waits_for_an_answer() -> None:
    p = parsed(
        "capture: {interfaces: [any]}\nprobes:\n  - udp: {from: client, target: 10.0.0.5, port: 53, timeout: 2}\n"
    )
    r = resolve(p, INVENTORY)
    (probe,) = r.probes
    assert probe.argv[:2] == ("timeout", "2")
    script = probe.argv[4]
    assert '"/dev/udp/$0/$1"' in script
    assert "read" in script
    assert probe.argv[5:] == ("10.0.0.5", "53", "netdiag"), "target, port, payload as arguments"
    assert {"udp", "icmp"} <= set(r.filter.split(" or ")), "the datagram and its ICMP answers"
    missing = "capture: {interfaces: [eth0]}\nprobes: [{udp: {from: client, target: x}}]\n"
    with pytest.raises(PlanError, match=r"probes\[0\]\.udp\.port: missing \(required\)"):
        parsed(missing)


def test_a_derived_filter_on_any_leaves_out_netdiags_own_ssh() -> None:
    from dataclasses import replace

    from netdiag.plan import point_filter

    body = "capture: {interfaces: [any, eth1]}\nprobes:\n  - tcp: {from: client, target: 10.0.0.5, port: 80}\n"
    r = resolve(parsed(body), INVENTORY)
    cp = INVENTORY.node("kube-ovn-control-plane")
    point_any, point_eth1 = (p for p in r.points if p.node == cp.name)
    assert (
        point_filter(r, point_any, cp) == f"({r.filter}) and not (tcp port 22 and host 10.250.0.11)"
    )
    assert point_filter(r, point_eth1, cp) == r.filter
    named = replace(cp, host="cp.example", port=2222)
    assert point_filter(r, point_any, named).endswith("and not (tcp port 2222)")
    explicit = resolve(parsed(body.replace("eth1]", "eth1], filter: 'tcp port 80'")), INVENTORY)
    assert point_filter(explicit, point_any, cp) == "tcp port 80", (
        "a given filter is used as written"
    )


def test_explicit_filter_wins_and_no_probes_means_no_filter() -> None:
    p = parsed("capture: {interfaces: [uplink], filter: 'host 1.2.3.4'}\n")
    assert resolve(p, INVENTORY).filter == "host 1.2.3.4"
    assert resolve(parsed("capture: {interfaces: [uplink]}\n"), INVENTORY).filter == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "capture: {interfaces: [eth0], snaplen: 10}\n",
            ":3: capture.snaplen: expected an integer 64-262144, got 10",
        ),
        (
            "capture: {interfaces: [eth0], colour: red}\n",
            "capture.colour: unknown key; known keys: nodes, interfaces",
        ),
        ("capture: {interfaces: []}\n", "capture.interfaces: expected at least 1 item"),
        (
            "capture: {interfaces: ['eth0; reboot']}\n",
            "capture.interfaces[0]: expected an interface, got 'eth0; reboot'",
        ),
        (
            "capture: {interfaces: [{pod: a/b, outside: true}]}\n",
            "capture.interfaces[0].outside: unknown key",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{ping: {from: client, target: '-f'}}]\n",
            "probes[0].ping.target: expected an IP address or host name, got '-f'",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{ping: {from: client, target: x, pattern: zz}}]\n",
            "pattern: expected 1-16 hex bytes, got 'zz'",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{tcp: {from: client, target: x}}]\n",
            "probes[0].tcp.port: missing (required)",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{ping: {from: c, target: x}, tcp: {}}]\n",
            "probes[0]: expected exactly one of ping, traceroute, tcp, udp",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{ping: {from: c, target: x, port: 1}}]\n",
            "probes[0].ping.port: unknown key",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes:\n  - ping: {name: a, from: c, target: x}\n  - ping: {name: a, from: c, target: y}\n",
            ":6: probes[1].ping.name: duplicate probe name 'a'",
        ),
        ("capture: {interfaces: [eth0]}\nlinger: -1\n", "linger: expected a number 0-600, got -1"),
    ],
)
def test_plan_field_errors(body: str, expected: str) -> None:
    msg = error_of(body)
    assert msg.startswith("/p/t.yaml:")
    assert expected in msg


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "capture: {nodes: [nod*], interfaces: [eth0]}\n",
            "'nod*' matches no node of /inv/lab.yaml (nodes: client, kube-ovn-control-plane",
        ),
        ("capture: {nodes: [role=db], interfaces: [eth0]}\n", "'role=db' matches no node"),
        (
            "capture: {nodes: [client], interfaces: [tunnel]}\n",
            "device role 'tunnel' is not defined on any selected node (client)",
        ),
        (
            "capture: {interfaces: [eth0]}\nprobes: [{ping: {from: ghost, target: x}}]\n",
            "probes[0].ping.from: unknown node 'ghost'; nodes are: client",
        ),
    ],
)
def test_resolution_errors_name_the_plan_line_and_the_inventory(body: str, expected: str) -> None:
    assert expected in error_of(body, resolve_too=True)


def test_expand_globs_uses_the_links_seen_at_capture_time() -> None:
    p = parsed("capture: {nodes: [role=node], interfaces: ['*_h', eth1]}\n")
    points = resolve(p, INVENTORY).points
    links = {
        ("kube-ovn-control-plane", None): ["lo", "eth1", "dd2b931fc304_h", "aa_h"],
        ("kube-ovn-worker", None): ["lo", "eth1"],
    }
    out, warnings = expand_globs(points, links)
    assert out == [
        CapturePoint("kube-ovn-control-plane", "dd2b931fc304_h"),
        CapturePoint("kube-ovn-control-plane", "aa_h"),
        CapturePoint("kube-ovn-control-plane", "eth1"),
        CapturePoint("kube-ovn-worker", "eth1"),
    ]
    assert warnings == ["kube-ovn-worker: no interface matches '*_h'"]


@pytest.mark.parametrize("cni", ["kube-ovn", "openshift-sdn", "flannel", "calico"])
def test_shipped_examples_resolve_against_their_inventories(cni: str) -> None:
    inv = load_inventory(ROOT / "inventory" / "examples" / f"{cni}.yaml")
    r = resolve(load_plan(ROOT / "probes" / f"example-{cni}.yaml"), inv)
    assert r.points
    assert r.probes
    assert r.filter


def test_load_plan_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read the plan"):
        load_plan(tmp_path / "none.yaml")


def test_role_items_and_unknown_pods_become_points_for_run_time_discovery() -> None:
    p = parsed(
        """\
        capture:
          interfaces:
            - pod: default/fip-busybox01
            - pod: default/unlisted
            - pod: 10.16.0.9
            - pod: default/no-netns
            - {node: "kube-ovn-*", devices: [uplink, ovn0, tunnel]}
        """
    )
    points = resolve(p, INVENTORY).points
    assert points[0] == CapturePoint(
        "kube-ovn-control-plane", "dd2b931fc304_h", pod="default/fip-busybox01"
    )
    assert points[0].via == "inventory"
    assert not points[0].unresolved
    pending = [(x.node, x.pod, x.role, x.via) for x in points if x.unresolved]
    assert pending == [
        ("", "default/unlisted", None, "discovery"),
        ("", "10.16.0.9", None, "discovery"),
        ("kube-ovn-worker", "default/no-netns", None, "discovery"),  # the inventory names its node
        ("kube-ovn-control-plane", None, "uplink", "discovery"),
        ("kube-ovn-worker", None, "uplink", "discovery"),
        ("kube-ovn-control-plane", None, "tunnel", "discovery"),
        ("kube-ovn-worker", None, "tunnel", "discovery"),
    ]
    named = [(x.node, x.iface, x.via) for x in points if x.iface == "ovn0"]
    assert named == [
        ("kube-ovn-control-plane", "ovn0", "name"),
        ("kube-ovn-worker", "ovn0", "name"),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "capture: {interfaces: [{node: '*', devices: [uplink, 'bad name']}]}\n",
            "/p/t.yaml:3: capture.interfaces[0].devices[1]: expected a device role (uplink, join, br-int, tunnel, tun0, bridge) or an interface name",
        ),
        (
            "capture: {interfaces: [{node: '*', devices: []}]}\n",
            "/p/t.yaml:3: capture.interfaces[0].devices",
        ),
        (
            "capture: {interfaces: [{node: '*', devices: [uplink], pod: x/y}]}\n",
            "/p/t.yaml:3: capture.interfaces[0]",
        ),
    ],
)
def test_role_item_errors_name_the_line_and_the_valid_roles(body: str, expected: str) -> None:
    assert expected in error_of(body)


def test_role_item_node_selector_must_match() -> None:
    msg = error_of("capture: {interfaces: [{node: 'db-*', devices: [uplink]}]}\n", resolve_too=True)
    assert "'db-*' matches no node of /inv/lab.yaml" in msg
