"""Probe plans (``probes/*.yaml``): where to capture, what to send, and for how long.

A plan names capture points abstractly (node selectors, device roles, pods) so the same plan
works on any inventory; :func:`resolve` turns plan + inventory into concrete
``(node, iface, netns)`` points and probe command lines. Resolution is pure: interface globs
such as ``*_h`` stay patterns until :func:`expand_globs` gets the nodes' ``ip -j link`` lists.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import yaml

from netdiag.errors import PlanError
from netdiag.inventory import NAME_RE, Inventory, NodeSpec, YamlReader

__all__ = [
    "CapturePoint",
    "CaptureSpec",
    "IfaceSelector",
    "Plan",
    "Probe",
    "ResolvedPlan",
    "ResolvedProbe",
    "derive_filter",
    "expand_globs",
    "load_plan",
    "parse_plan",
    "resolve",
]

ProbeKind = Literal["ping", "traceroute", "tcp"]
TOP_KEYS = ("version", "name", "description", "capture", "probes", "linger")
CAPTURE_KEYS = (
    "nodes",
    "interfaces",
    "filter",
    "snaplen",
    "duration",
    "max_packets",
    "max_file_mb",
)
PROBE_KEYS: dict[str, tuple[str, ...]] = {
    "ping": ("name", "from", "target", "count", "interval", "pattern", "timeout"),
    "traceroute": ("name", "from", "target", "max_hops", "timeout"),
    "tcp": ("name", "from", "target", "port", "timeout"),
}
TARGET_RE = re.compile(r"^[A-Za-z0-9_.:][A-Za-z0-9_.:-]*$")  # never starts with '-': no options
HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2}){1,16}$")  # ping -p takes up to 16 bytes
GLOB_CHARS = set("*?[")
# Discovery's path-device roles (netdiag.discover.roles); any other word is an interface name.
ROLES = ("uplink", "join", "br-int", "tunnel", "tun0", "bridge")
IFACE_RE = re.compile(r"^[A-Za-z0-9._*?\[\]@:-]+$")
DEFAULT_PATTERN = "6e6574646961"  # "netdia": marks our ICMP payloads in every capture
# Tunnels must pass the filter or encapsulated probes vanish on the underlay (SCENARIOS.md):
# VXLAN 4789, flannel 8472, Geneve 6081, IP-in-IP (proto 4), GRE (proto 47); ARP for the FIP story.
ALWAYS_FILTER = (
    "arp",
    "udp port 4789",
    "udp port 8472",
    "udp port 6081",
    "ip proto 4",
    "ip proto 47",
)


@dataclass(frozen=True)
class IfaceSelector:
    """One ``capture.interfaces`` item; ``at`` is ``file:line: field`` for error messages."""

    kind: Literal["word", "glob", "any", "pod", "role"]
    value: str
    inside: bool = False
    at: str = field(default="", compare=False)
    nodes: tuple[str, ...] = ()  # kind "role": the item's own node selector


@dataclass(frozen=True)
class CaptureSpec:
    nodes: tuple[str, ...] = ("*",)
    interfaces: tuple[IfaceSelector, ...] = ()
    filter: str | None = None
    snaplen: int = 512
    duration: float = 60.0
    max_packets: int = 100_000
    max_file_mb: int = 100


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    name: str
    source: str  # a node name, or "pod:<ns/name>"
    target: str
    count: int = 3
    interval: float = 0.2
    pattern: str = DEFAULT_PATTERN
    port: int | None = None
    max_hops: int = 8
    timeout: float = 3.0
    at: str = field(default="", compare=False)


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    description: str
    capture: CaptureSpec
    probes: tuple[Probe, ...]
    linger: float = 2.0


@dataclass(frozen=True)
class CapturePoint:
    """Where one tcpdump runs. ``glob`` points still need :func:`expand_globs`."""

    node: str
    iface: str
    netns: str | None = None
    pod: str | None = None
    glob: bool = False
    role: str | None = None  # a discovery role still to resolve (iface "" until then)
    via: str = field(default="inventory", compare=False)  # inventory | discovery | name
    inside: bool = False  # a pod point: its own interface in its namespace, not the host side

    @property
    def unresolved(self) -> bool:
        """Resolved at run time by discovery (:mod:`netdiag.capture.locate`); node "" = any."""
        return not self.iface

    @property
    def name(self) -> str:
        """File-name-safe id, ``<node>__<iface>`` (plus the pod inside its namespace)."""
        where = f"{self.pod.replace('/', '_')}__" if self.pod and self.netns else ""
        return f"{self.node}__{where}{self.iface}".replace("*", "STAR").replace("?", "Q")


@dataclass(frozen=True)
class ResolvedProbe:
    name: str
    kind: ProbeKind
    node: str
    netns: str | None
    argv: tuple[str, ...]
    timeout: float  # for the whole command, generous: the probe's own limits come first
    pod: str | None = None  # run inside this pod; node/netns found by discovery when unresolved

    @property
    def unresolved(self) -> bool:
        """A pod probe whose namespace the inventory does not give: placed at run time."""
        return self.pod is not None and self.netns is None


@dataclass(frozen=True)
class ResolvedPlan:
    plan: Plan
    points: tuple[CapturePoint, ...]
    probes: tuple[ResolvedProbe, ...]
    filter: str


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc.strerror}); check the path") from exc
    return parse_plan(text, path)


def parse_plan(text: str, path: Path) -> Plan:
    """Validate plan YAML ``text``; errors read ``file:line: field: expected ..., got ...``."""
    r = YamlReader(path, PlanError)
    top = r.mapping(r.compose(text), "", TOP_KEYS, required=("version", "name", "capture"))
    r.integer(top["version"], "version", 1, 1)
    name = r.string(top["name"], "name", NAME_RE, "a name of letters, digits, '.', '_' or '-'")
    desc = r.string(top["description"], "description") if "description" in top else ""
    capture = _capture(r, top["capture"])
    probes: list[Probe] = []
    if "probes" in top:
        for i, item in enumerate(r.sequence(top["probes"], "probes")):
            probes.append(_probe(r, item, f"probes[{i}]", {p.name for p in probes}))
    linger = r.number(top["linger"], "linger", 0, 600) if "linger" in top else 2.0
    return Plan(path, name, desc, capture, tuple(probes), linger)


def _at(r: YamlReader, node: yaml.Node, where: str) -> str:
    return f"{r.path}:{node.start_mark.line + 1}: {where}"


def _capture(r: YamlReader, node: yaml.Node) -> CaptureSpec:
    m = r.mapping(node, "capture", CAPTURE_KEYS, required=("interfaces",))
    nodes = tuple(r.str_list(m["nodes"], "capture.nodes")) if "nodes" in m else ("*",)
    ifaces: list[IfaceSelector] = []
    for i, item in enumerate(r.sequence(m["interfaces"], "capture.interfaces", min_len=1)):
        where = f"capture.interfaces[{i}]"
        if isinstance(item, yaml.MappingNode) and _has_key(item, "devices"):
            ifaces += _roles(r, item, where)
            continue
        if isinstance(item, yaml.MappingNode):
            pm = r.mapping(item, where, ("pod", "inside"), required=("pod",))
            pod = r.string(pm["pod"], f"{where}.pod")
            inside = r.boolean(pm["inside"], f"{where}.inside") if "inside" in pm else False
            ifaces.append(IfaceSelector("pod", pod, inside, _at(r, item, where)))
            continue
        word = r.string(item, where, IFACE_RE, "an interface")
        kind: Literal["word", "glob", "any"] = (
            "any" if word == "any" else "glob" if GLOB_CHARS & set(word) else "word"
        )
        ifaces.append(IfaceSelector(kind, word, False, _at(r, item, where)))

    def opt_int(key: str, lo: int, hi: int, default: int) -> int:
        return r.integer(m[key], f"capture.{key}", lo, hi) if key in m else default

    return CaptureSpec(
        nodes=nodes,
        interfaces=tuple(ifaces),
        filter=r.string(m["filter"], "capture.filter") if "filter" in m else None,
        snaplen=opt_int("snaplen", 64, 262144, 512),
        duration=r.number(m["duration"], "capture.duration", 1, 86400) if "duration" in m else 60,
        max_packets=opt_int("max_packets", 1, 1_000_000_000, 100_000),
        max_file_mb=opt_int("max_file_mb", 1, 100_000, 100),
    )


def _has_key(node: yaml.MappingNode, key: str) -> bool:
    return any(isinstance(k, yaml.ScalarNode) and k.value == key for k, _ in node.value)


def _roles(r: YamlReader, item: yaml.Node, where: str) -> list[IfaceSelector]:
    """``{node: SELECTOR, devices: [ROLE or NAME...]}``: roles resolved by discovery at run time."""
    m = r.mapping(item, where, ("node", "devices"), required=("devices",))
    nodes = (r.string(m["node"], f"{where}.node"),) if "node" in m else ("*",)
    out = []
    what = f"a device role ({', '.join(ROLES)}) or an interface name"
    for j, dev in enumerate(r.sequence(m["devices"], f"{where}.devices", min_len=1)):
        name = r.string(dev, f"{where}.devices[{j}]", IFACE_RE, what)
        at = _at(r, dev, f"{where}.devices[{j}]")
        kind: Literal["role", "glob", "word"] = (
            "role" if name in ROLES else "glob" if GLOB_CHARS & set(name) else "word"
        )
        out.append(IfaceSelector(kind, name, False, at, nodes))
    return out


def _probe(r: YamlReader, item: yaml.Node, where: str, names: set[str]) -> Probe:
    outer = r.mapping(item, where, tuple(PROBE_KEYS))
    if len(outer) != 1:
        raise r.error(item, where, f"expected exactly one of {', '.join(PROBE_KEYS)}")
    kind, body = next(iter(outer.items()))
    where = f"{where}.{kind}"
    required = ("from", "target", "port") if kind == "tcp" else ("from", "target")
    m = r.mapping(body, where, PROBE_KEYS[kind], required=required)
    src = m["from"]
    if isinstance(src, yaml.MappingNode):
        source = "pod:" + r.string(r.mapping(src, f"{where}.from", ("pod",), ("pod",))["pod"], "")
    else:
        source = r.string(src, f"{where}.from", NAME_RE, "a node name or {pod: namespace/name}")
    target = r.string(m["target"], f"{where}.target", TARGET_RE, "an IP address or host name")
    name = r.string(m["name"], f"{where}.name", NAME_RE, "a name") if "name" in m else ""
    name = name or f"{kind}-{len(names) + 1}"
    if name in names:
        raise r.error(m.get("name", body), f"{where}.name", f"duplicate probe name {name!r}")
    probe = Probe(kind=kind, name=name, source=source, target=target, at=_at(r, body, where))  # type: ignore[arg-type]
    values: dict[str, object] = {}
    if "count" in m:
        values["count"] = r.integer(m["count"], f"{where}.count", 1, 10000)
    if "interval" in m:
        values["interval"] = r.number(m["interval"], f"{where}.interval", 0.002, 60)
    if "pattern" in m:
        values["pattern"] = r.string(m["pattern"], f"{where}.pattern", HEX_RE, "1-16 hex bytes")
    if "port" in m:
        values["port"] = r.integer(m["port"], f"{where}.port", 1, 65535)
    if "max_hops" in m:
        values["max_hops"] = r.integer(m["max_hops"], f"{where}.max_hops", 1, 64)
    if "timeout" in m:
        values["timeout"] = r.number(m["timeout"], f"{where}.timeout", 0.1, 600)
    return replace(probe, **values)  # type: ignore[arg-type]


# -- resolution: plan + inventory -> concrete points and command lines (pure) --------------


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
        else:
            parts += ["tcp", "icmp6" if v6 else "icmp"]  # ICMP: unreachable / reject answers
    if not parts:
        return ""  # no probes: capture everything the limits allow
    return " or ".join(dict.fromkeys([*parts, *ALWAYS_FILTER]))


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
