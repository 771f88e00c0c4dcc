"""Plan resolution: plan + inventory -> concrete points and command lines (pure).

Interface globs such as ``*_h`` stay patterns until :func:`expand_globs` gets the nodes'
``ip -j link`` lists; nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from netdiag.errors import PlanError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.plan.model import (
    ALWAYS_FILTER,
    CapturePoint,
    IfaceSelector,
    Plan,
    Probe,
    ResolvedPlan,
    ResolvedProbe,
)

UDP_PAYLOAD = "netdiag"  # what a udp probe sends: its datagrams stand out in any capture


def resolve(plan: Plan, inventory: Inventory) -> ResolvedPlan:
    """Concrete capture points and probe argvs; unknown node/pod/role -> PlanError."""
    selected = _select_nodes(plan, inventory)
    all_roles = {role for n in inventory.nodes for role in n.devices}
    points: list[CapturePoint] = []
    for sel in plan.capture.interfaces:
        if sel.kind == "pod":
            points.append(_pod_point(plan, inventory, sel))
            continue
        if sel.nodes:  # a {node:, devices:} item: roles by discovery, names as given
            for node in _select_nodes(plan, inventory, sel.nodes):
                if sel.kind == "role":
                    points.append(CapturePoint(node.name, "", role=sel.value, via="discovery"))
                else:
                    glob = sel.kind == "glob"
                    points.append(CapturePoint(node.name, sel.value, glob=glob, via="name"))
            continue
        found = 0
        for node in selected:
            if sel.kind == "word" and sel.value in node.devices:
                points.append(CapturePoint(node.name, node.devices[sel.value]))
            elif sel.kind == "word" and sel.value in all_roles:
                continue  # a role this node does not have (the client has no tunnel)
            else:
                glob = sel.kind == "glob"
                points.append(CapturePoint(node.name, sel.value, glob=glob, via="name"))
            found += 1
        if not found:
            names = ", ".join(n.name for n in selected)
            raise PlanError(
                f"{sel.at}: device role {sel.value!r} is not defined on any selected node "
                f"({names}); add it under devices: in {inventory.path} or capture by name"
            )
    unique = tuple(dict.fromkeys(points))
    probes = tuple(_resolve_probe(plan, inventory, p) for p in plan.probes)
    return ResolvedPlan(plan, unique, probes, plan.capture.filter or derive_filter(plan.probes))


def _pod_point(plan: Plan, inventory: Inventory, sel: IfaceSelector) -> CapturePoint:
    """The inventory's answer when it has one; else a point for discovery to place at run time
    (on the pod's node when the inventory knows it, else on any node: ``node`` "")."""
    known = [p for p in inventory.pods if sel.value in (p.name, *p.ips)]
    pod = known[0] if known else None
    if sel.inside:
        if pod is not None and pod.netns:
            return CapturePoint(pod.node, pod.iface, pod.netns, pod.name, inside=True)
        # discovery finds the namespace (named, or by PID) and the interface holding the IP
        node, name = (pod.node, pod.name) if pod is not None else ("", sel.value)
        return CapturePoint(node, "", None, name, via="discovery", inside=True)
    if pod is not None and pod.host_iface:
        return CapturePoint(pod.node, pod.host_iface, None, pod.name)
    if pod is not None:
        return CapturePoint(pod.node, "", None, pod.name, via="discovery")
    return CapturePoint("", "", None, sel.value, via="discovery")


def _select_nodes(
    plan: Plan, inventory: Inventory, selectors: Sequence[str] = ()
) -> list[NodeSpec]:
    chosen: dict[str, NodeSpec] = {}
    for sel in selectors or plan.capture.nodes:
        if "=" in sel:
            key, _, value = sel.partition("=")
            hits = [n for n in inventory.nodes if n.labels.get(key) == value]
        else:
            hits = [n for n in inventory.nodes if fnmatchcase(n.name, sel)]
        if not hits:
            known = ", ".join(n.name for n in inventory.nodes)
            raise PlanError(
                f"{plan.path}: capture.nodes: {sel!r} matches no node of {inventory.path} "
                f"(nodes: {known}); use a name, a glob, '*' or a label selector key=value"
            )
        chosen.update((n.name, n) for n in hits)
    return [n for n in inventory.nodes if n.name in chosen]


def _resolve_probe(plan: Plan, inventory: Inventory, probe: Probe) -> ResolvedProbe:
    """The command line for one probe, run on a node or inside a pod's namespace."""
    pod_name = None
    if probe.source.startswith("pod:"):
        pod_name = probe.source[4:]
        pods = [p for p in inventory.pods if pod_name in (p.name, *p.ips)]
        # without a netns in the inventory, discovery places it at run time (any node if "")
        node = pods[0].node if pods else ""
        netns = pods[0].netns if pods and pods[0].netns else None
        pod_name = pods[0].name if pods else pod_name
    else:
        try:
            node, netns = inventory.node(probe.source).name, None
        except KeyError:
            known = ", ".join(n.name for n in inventory.nodes)
            raise PlanError(
                f"{probe.at}.from: unknown node {probe.source!r}; nodes are: {known}"
            ) from None
    if probe.kind == "ping":
        # -W: per-reply wait; -p: our payload pattern, so the analysis can tell our probes apart.
        argv = ["ping", "-n", "-c", str(probe.count), "-i", f"{probe.interval:g}"]
        argv += ["-W", f"{probe.timeout:g}", "-p", probe.pattern, probe.target]
        budget = probe.count * probe.interval + probe.timeout + 5
    elif probe.kind == "traceroute":
        argv = ["traceroute", "-n", "-q", "1", "-w", f"{probe.timeout:g}"]
        argv += ["-m", str(probe.max_hops), probe.target]
        budget = probe.max_hops * probe.timeout + 5
    elif probe.kind == "udp":
        # One datagram of our marker, then wait for any answer on the same socket: a reply
        # exits 0, an ICMP port unreachable makes the read fail, silence ends in `timeout`.
        script = 'exec 3<>"/dev/udp/$0/$1" && printf %s "$2" >&3 && read -r -n 1 <&3'
        argv = ["timeout", f"{probe.timeout:g}", "bash", "-c", script, probe.target]
        argv += [str(probe.port), UDP_PAYLOAD]
        budget = probe.timeout + 5
    else:
        # bash's /dev/tcp: present on every node we know of, where nc's flags differ by vendor.
        # It runs with the node's binaries even inside a pod netns (ip netns exec keeps the fs).
        # Target and port are arguments ($0, $1), never spliced into the script.
        script = 'exec 3<>"/dev/tcp/$0/$1"'
        argv = [
            "timeout",
            f"{probe.timeout:g}",
            "bash",
            "-c",
            script,
            probe.target,
            str(probe.port),
        ]
        budget = probe.timeout + 5
    return ResolvedProbe(probe.name, probe.kind, node, netns, tuple(argv), budget, pod_name)


def derive_filter(probes: Sequence[Probe]) -> str:
    """A BPF filter that keeps our probes through NAT and tunnels and drops most other traffic.

    Ports and addresses are not used: DNAT rewrites them (FIP 172.19.0.11 -> 192.168.0.6,
    8080 -> 80), so a filter on the target would miss the packet after the NAT hop.
    """
    parts: list[str] = []
    for probe in probes:
        v6 = _is_v6(probe.target)
        if probe.kind == "ping":
            parts.append("icmp6" if v6 else "icmp")
        elif probe.kind == "traceroute":
            parts += ["icmp6" if v6 else "icmp", "udp portrange 33434-33534"]
        else:  # tcp, udp; ICMP: the unreachable / reject answers
            parts += [probe.kind, "icmp6" if v6 else "icmp"]
    if not parts:
        return ""  # no probes: capture everything the limits allow
    return " or ".join(dict.fromkeys([*parts, *ALWAYS_FILTER]))


def point_filter(resolved: ResolvedPlan, point: CapturePoint, node: NodeSpec) -> str:
    """The BPF filter of one capture point: the plan's, except that a derived filter on ``any``
    also leaves out netdiag's own SSH sessions to the node.

    A derived filter keeps all TCP when a probe is a TCP connect; on ``any`` that takes the
    management device's SSH too, the capture's own session among it. A filter the plan gives
    is used as written.
    """
    if point.iface != "any" or resolved.plan.capture.filter or not resolved.filter:
        return resolved.filter
    port = node.port or 22
    try:
        ssh = f"tcp port {port} and host {ipaddress.ip_address(node.host)}"
    except ValueError:  # a host name: tcpdump would resolve it on the node; the port must do
        ssh = f"tcp port {port}"
    return f"({resolved.filter}) and not ({ssh})"


def _is_v6(target: str) -> bool:
    try:
        return ipaddress.ip_address(target).version == 6
    except ValueError:
        return False


def expand_globs(
    points: Sequence[CapturePoint], links: Mapping[tuple[str, str | None], Sequence[str]]
) -> tuple[list[CapturePoint], list[str]]:
    """Replace glob points by one point per matching interface; also report what matched none.

    ``links`` maps ``(node, netns)`` to the interface names seen there (``ip -j link``).
    """
    out: list[CapturePoint] = []
    warnings: list[str] = []
    for point in points:
        if not point.glob:
            out.append(point)
            continue
        names = [n for n in links.get((point.node, point.netns), ()) if fnmatchcase(n, point.iface)]
        if not names:
            warnings.append(f"{point.node}: no interface matches {point.iface!r}")
        out += [replace(point, iface=n, glob=False) for n in names]
    return list(dict.fromkeys(out)), warnings
