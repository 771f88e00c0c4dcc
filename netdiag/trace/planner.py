"""Where a packet from FROM to TO can pass, and so where to capture: a pure function of the
inventory, what the nodes showed (:class:`~netdiag.trace.model.Survey`) and the request.

The nodes that matter, and why:

- FROM's node (a pod's node, the node itself, or the external client), and TO's;
- for an address a node holds (a NodePort, a load-balancer VIP, an iptables FIP): that node, and
  the node of every backend its NAT table DNATs the address (and port) to;
- for an address no node holds (a ClusterIP): the DNAT of the sender's node, else of any node,
  and the backends' nodes;
- for a FIP or SNAT that OVN handles: the gateway chassis (all of them, the active one first),
  and the pod behind it;
- each node on its uplink, join and tun0 devices, its tunnel when the path spans two cluster
  nodes or more, and the host-side device of each pod there; a client on its uplink. Only the
  roles discovery found on that node (the inventory's ``devices`` when it could not be asked).
  Not the pods' bridge (``cni0``, ``br-pods``): the veth already shows what a pod sends and
  receives, and a bridge device in promiscuous mode sees the same frame as its ports, at
  nearly the same instant, which only blurs the order of the path; add ``bridge`` to the
  written plan when that is the question.

The plan names roles and pods, not device names, so it resolves again when rerun (a restarted
pod has a new veth); the devices found now are written next to them as comments.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.discover.gateway import Gateway
from netdiag.discover.nat import Dnat, matching
from netdiag.errors import InputError
from netdiag.inventory import Inventory
from netdiag.plan import parse_plan
from netdiag.trace.endpoints import Spec, parse_endpoint
from netdiag.trace.model import (
    Endpoint,
    NodeFacts,
    Proto,
    Stop,
    Survey,
    TracePlan,
    TraceRequest,
)
from netdiag.trace.render import render_plan

__all__ = ["DEFAULT_COUNT", "plan_trace"]

NODE_ROLES = ("uplink", "join", "tunnel", "tun0")
CLIENT_ROLES = ("uplink",)
DEFAULT_COUNT: dict[Proto, int] = {"icmp": 3, "tcp": 1, "udp": 1}
MAX_COUNT = 100
NOTHING = "no pod, node or NAT of it found"


@dataclass
class _Node:
    reasons: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)  # {pod: ...} items
    ports: list[str] = field(default_factory=list)  # host devices of unlisted pods
    to: list[str] = field(default_factory=list)  # those of the pods and ports that are TO's


@dataclass
class _Context:
    inventory: Inventory
    survey: Survey
    nodes: dict[str, _Node] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def external(self, node: str) -> bool:
        try:
            return self.inventory.node(node).labels.get("role") == "external"
        except KeyError:
            return False

    def add(
        self,
        node: str,
        reason: str,
        pod: str | None = None,
        port: str | None = None,
        to: bool = False,
    ) -> None:
        """Capture on ``node`` (an inventory node) because of ``reason``; ``pod`` is a plan
        ``{pod: ...}`` value, ``port`` a pod's host device when the inventory lacks the pod;
        ``to``: that pod is TO's (TO itself, or where TO's address is DNATed to)."""
        if not any(n.name == node for n in self.inventory.nodes):
            self.notes.append(f"{node} ({reason}) is not in {self.inventory.path}: not captured")
            return
        entry = self.nodes.setdefault(node, _Node())
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        if pod is not None and pod not in entry.pods:
            entry.pods.append(pod)
        if port is not None and port not in entry.ports:
            entry.ports.append(port)
        if to:
            entry.to += [p for p in (pod, port) if p is not None and p not in entry.to]

    def place_pod(self, ip: str) -> tuple[str, str | None, str | None, str] | None:
        """(node, {pod:} value or None, host device or None, label) of the pod holding ``ip``:
        the inventory's pod, else one discovery found."""
        for pod in self.inventory.pods:
            if ip in pod.ips:
                return pod.node, pod.name, pod.host_iface, f"pod {pod.name}"
        for facts in self.survey.nodes.values():
            found = facts.pod(ip)
            if found is not None:
                label = f"pod {found.name}" if found.name else f"pod {ip}"
                return facts.name, None, found.host_iface, label

        return None

    def add_pod(self, ip: str, reason: str) -> tuple[str, str] | None:
        """Capture the pod holding ``ip`` and its node: (label, node), None when no pod has it."""
        placed = self.place_pod(ip)
        if placed is None:
            return None
        node, item, device, label = placed
        if item is None and device is None:
            self.notes.append(f"{label} on {node}: its host device is unknown; not captured")
        self.add(node, reason, pod=item, port=device if item is None else None, to=True)
        return label, node


def plan_trace(
    inventory: Inventory, survey: Survey, request: TraceRequest, plan_path: Path
) -> TracePlan:
    """The probe plan for ``request``; InputError when FROM or TO cannot be placed."""
    ctx = _Context(inventory, survey)
    src = parse_endpoint(request.source, inventory, "FROM")
    dst = parse_endpoint(request.dest, inventory, "TO")
    port, proto = _port_and_proto(request, src, dst)
    count = request.count or DEFAULT_COUNT[proto]
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"--count {count}: give 1 to {MAX_COUNT}")
    source = _source(src, ctx)
    dest = _dest(dst, port, proto, source, ctx)
    gw = ctx.survey.gateways.get(source.ip or "")
    if dest.external and gw is not None and gw.nat is not None:
        # FROM's own SNAT or FIP by OVN: how its traffic leaves the cluster, right after FROM
        before = list(ctx.nodes)
        ctx.notes.append(f"FROM's address on its way out: OVN: {_gateway(gw, ctx)}")
        chassis = [c.node or c.name for c in gw.chassis]
        order = [*before[:1], *chassis, *before[1:]]
        ctx.nodes = {n: ctx.nodes[n] for n in dict.fromkeys(order) if n in ctx.nodes}
    if dest.ip == source.ip and dest.ip is not None:
        raise InputError(f"FROM {src.text} and TO {dst.text} are the same address {dest.ip}")
    cluster = [n for n in ctx.nodes if not ctx.external(n)]
    stops = tuple(_stop(name, entry, ctx, len(cluster) > 1) for name, entry in ctx.nodes.items())
    text = render_plan(
        request, source=source, dest=dest, proto=proto, port=port, count=count, stops=stops,
        notes=tuple(ctx.notes), inventory=inventory.path, plan_path=plan_path,
    )  # fmt: skip
    assert dest.ip is not None  # _dest raises otherwise
    return TracePlan(
        source, dest, proto, dest.ip, port, stops, tuple(ctx.notes), text,
        parse_plan(text, plan_path),
    )  # fmt: skip


def _port_and_proto(request: TraceRequest, src: Spec, dst: Spec) -> tuple[int | None, Proto]:
    if src.port is not None:
        raise InputError(
            f"FROM {src.text!r}: a port belongs to TO (IP:PORT, or --port N); the sender's own "
            "port is chosen by its kernel"
        )
    if request.port is not None and dst.port is not None and request.port != dst.port:
        raise InputError(f"TO {dst.text!r} and --port {request.port} disagree; give one port")
    port = dst.port if dst.port is not None else request.port
    proto: Proto = request.proto or ("tcp" if port is not None else "icmp")
    if proto == "icmp" and port is not None:
        raise InputError(
            f"a port ({port}) with --proto icmp: ping has no ports; use --proto tcp or udp, or "
            "leave the port out"
        )
    if proto != "icmp" and port is None:
        raise InputError(f"--proto {proto} needs a port: TO as IP:PORT, or --port N")
    return port, proto


def _source(spec: Spec, ctx: _Context) -> Endpoint:
    """Where the probe runs: a pod, a node, or the client; never an address nobody holds."""
    if spec.kind == "pod":
        assert spec.name is not None
        assert spec.ip is not None
        pod = ctx.inventory.pod(spec.name)
        ctx.add(pod.node, "FROM's node", pod=pod.name)
        return Endpoint(spec.text, f"pod {pod.name} ({spec.ip}) on {pod.node}", pod.node,
                        pod.name, spec.ip)  # fmt: skip
    if spec.kind == "node":
        assert spec.name is not None
        return _source_node(spec, spec.name, ctx)
    assert spec.ip is not None
    placed = ctx.place_pod(spec.ip)
    if placed is not None:
        node, item, device, label = placed
        if item is None and device is None:
            raise InputError(f"FROM {spec.text!r}: {label} on {node} has no host device known")
        ctx.add(node, "FROM's node", pod=item, port=device if item is None else None)
        return Endpoint(spec.text, f"{label} ({spec.ip}) on {node}", node, item or spec.ip,
                        spec.ip)  # fmt: skip
    holders = [f.name for f in ctx.survey.nodes.values() if spec.ip in f.addresses]
    if len(holders) == 1:
        return _source_node(spec, holders[0], ctx)
    asked = ", ".join(ctx.survey.nodes) or "none"
    why = f"held by {', '.join(holders)}" if holders else f"no pod or node of it (asked: {asked})"
    raise InputError(
        f"FROM {spec.text!r}: {spec.ip} is not somewhere a probe can run ({why}); give "
        "pod:NAMESPACE/NAME, a pod's IP or a node of the inventory"
    )


def _source_node(spec: Spec, node: str, ctx: _Context) -> Endpoint:
    ext = ctx.external(node)
    facts = ctx.survey.nodes.get(node)
    address = facts.address if facts is not None else None
    ctx.add(node, "FROM: the client" if ext else "FROM: the node itself")
    what = f"{node} (a client outside the cluster" if ext else f"node {node} ("
    what += f"{', ' if ext else ''}{address})" if address else ")" if ext else ""
    what = what.removesuffix(" (")
    return Endpoint(spec.text, what, node, None, address, external=ext)


def _dest(spec: Spec, port: int | None, proto: Proto, source: Endpoint, ctx: _Context) -> Endpoint:
    if spec.kind == "pod":
        assert spec.name is not None
        assert spec.ip is not None
        pod = ctx.inventory.pod(spec.name)
        ctx.add(pod.node, "TO's node", pod=pod.name, to=True)
        return Endpoint(spec.text, f"pod {pod.name} ({spec.ip}) on {pod.node}", pod.node,
                        pod.name, spec.ip, port)  # fmt: skip
    if spec.kind == "node":
        assert spec.name is not None
        facts = ctx.survey.nodes.get(spec.name)
        address = facts.address if facts is not None else None
        host = ctx.inventory.node(spec.name).host
        if address is None and facts is not None and facts.error and _is_ip(host):
            address = host
            ctx.notes.append(
                f"TO's address {host} is {spec.name}'s host in the inventory (the node was not "
                "asked); give TO as an address if it is reached at another"
            )
        if address is None:
            why = facts.error if facts is not None and facts.error else "no uplink address seen"
            raise InputError(
                f"TO {spec.text!r}: the address of node {spec.name} is not known ({why}); give "
                "the address it should be reached at as TO"
            )
        return _address(spec, address, port, proto, source, ctx, named=spec.name)
    assert spec.ip is not None
    return _address(spec, spec.ip, port, proto, source, ctx)


def _address(  # noqa: PLR0917 - one caller, each argument a different thing
    spec: Spec,
    ip: str,
    port: int | None,
    proto: Proto,
    source: Endpoint,
    ctx: _Context,
    named: str | None = None,
) -> Endpoint:
    """TO given as an address (or a node's): a pod, a node holding it, a NAT, or outside."""
    shown = _ip_port(ip, port)
    pod = ctx.add_pod(ip, "TO's node")
    if pod is not None:
        label, node = pod
        return Endpoint(spec.text, f"{label} ({ip}) on {node}", node, None, ip, port)
    holders = [named] if named else [f.name for f in ctx.survey.nodes.values() if ip in f.addresses]
    if len(holders) > 1 and source.node in holders:
        # an address every node holds (the pods' gateway): the sender's own answers it
        holders = [h for h in holders if h == source.node]
    words: list[str] = []
    rules: list[tuple[str, Dnat]] = []
    for holder in holders:
        facts = ctx.survey.nodes.get(holder)
        mine = _dnats(facts, ip, port, proto, source, ctx) if facts else []
        rules += [(holder, r) for r in mine]
        ctx.add(holder, f"holds {ip}")
        outside = ctx.external(holder)
        words.append(
            f"held by {holder} (outside the cluster)" if outside else f"held by node {holder}"
        )
    if not holders:
        rules = _service_rules(ip, port, proto, source, ctx)
    if not rules and _other_ports(ip, port, proto, ctx):
        words.append("DNATed, but not for what this trace sends (see the notes)")
    for node, rule in rules:
        ctx.add(node, f"DNATs {shown} to {rule.to} ({rule.entry}: -A {rule.rule})")
        backend = ctx.add_pod(rule.to_ip, f"backend {rule.to} of {shown}")
        on = f" ({backend[0]} on {backend[1]})" if backend else ""
        words.append(f"DNATed on {node} to {rule.to}{on}")
        if backend is None:
            ctx.notes.append(
                f"{rule.to} (DNAT of {shown} on {node}) is no pod netdiag found: the node that "
                "holds it is not captured"
            )
    words += _fips(ip, shown, ctx)
    if not words:
        ctx.notes.append(
            f"{shown} is no pod, node address or NAT that netdiag found on the nodes it asked "
            "(outside the cluster?): only FROM's side of the path is captured"
        )
        words.append(NOTHING)
    external = (len(holders) == 1 and ctx.external(holders[0])) or words == [NOTHING]
    held_by = holders[0] if len(holders) == 1 else None
    return Endpoint(spec.text, f"{shown}: {'; '.join(words)}", held_by, None, ip, port, external)


def _service_rules(
    ip: str, port: int | None, proto: Proto, source: Endpoint, ctx: _Context
) -> list[tuple[str, Dnat]]:
    """A service address no node holds is DNATed where the packet enters: on the sender's node
    when it has a rule for it, else on the first node that does (all nodes agree under
    kube-proxy)."""
    names = list(ctx.survey.nodes)
    if source.node in names:
        names.remove(source.node)
        names.insert(0, source.node)
    for name in names:
        found = _dnats(ctx.survey.nodes[name], ip, port, proto, source, ctx)
        if found:
            return [(name, r) for r in found]
    return []


def _dnats(  # noqa: PLR0917 - the rule's match, then where the packet comes from
    facts: NodeFacts, ip: str, port: int | None, proto: Proto, source: Endpoint, ctx: _Context
) -> list[Dnat]:
    """The node's DNATs a packet from FROM to ``ip`` meets: those of the chain it enters by
    (OUTPUT from the node itself, else PREROUTING) whose input device it can arrive on. From
    outside the cluster it arrives by the node's uplink (or the device holding the node's
    address, an OVS bridge's internal port); from the node's own pods never by those; from
    another node, by whichever carries it (any rule). A rule it cannot meet gets a note."""
    itself = source.node == facts.name and source.pod is None
    uplinks = {facts.device("uplink")} | {d for d, ips in facts.links if facts.address in ips}
    local = source.node == facts.name
    out = []
    for rule in matching(facts.dnat, ip, port, proto, facts.addresses):
        if rule.entry != ("OUTPUT" if itself else "PREROUTING"):
            continue
        if rule.in_iface is not None and (
            (source.external and rule.in_iface not in uplinks)
            or (local and rule.in_iface in uplinks)
        ):
            ctx.notes.append(
                f"{facts.name} DNATs {_ip_port(ip, port)} to {rule.to} only for packets that "
                f"enter by {rule.in_iface}, which FROM's do not (-A {rule.rule})"
            )
            continue
        out.append(rule)
    return out


def _other_ports(ip: str, port: int | None, proto: Proto, ctx: _Context) -> bool:
    """A note when ``ip`` is DNATed, but for other ports or protocols than the probe's."""
    found: dict[str, list[str]] = {}
    for facts in ctx.survey.nodes.values():
        for rule in facts.dnat:
            theirs = matching([rule], ip, rule.dport, rule.proto or proto, facts.addresses)
            if theirs and not matching([rule], ip, port, proto, facts.addresses):
                what = rule.proto or "any protocol"
                what += f" port {rule.dport}" if rule.dport else ""
                found.setdefault(what, []).append(facts.name)
    for what, nodes in found.items():
        ctx.notes.append(
            f"{ip} is DNATed for {what} (on {', '.join(dict.fromkeys(nodes))}), not for what "
            f"this trace sends ({proto}{f' port {port}' if port else ''}); give TO as IP:PORT "
            "(and --proto) to follow it"
        )
    return bool(found)


def _fips(ip: str, shown: str, ctx: _Context) -> list[str]:
    """A FIP the inventory gives a pod, and the OVN gateway that NATs (or routes) the address."""
    words = []
    for pod in ctx.inventory.pods:
        if pod.fip == ip:
            ctx.add(pod.node, f"its pod {pod.name} has FIP {ip} (inventory)", pod=pod.name, to=True)
            words.append(f"the inventory's FIP of pod {pod.name} on {pod.node}")
    gw = ctx.survey.gateways.get(ip)
    if gw is None:
        return words
    words.append(f"OVN: {_gateway(gw, ctx)}")
    logical = gw.nat.logical_ip if gw.nat is not None else ""
    if gw.nat is not None and gw.nat.external_ip == ip and logical and "/" not in logical:
        backend = ctx.add_pod(logical, f"behind {shown} (OVN {gw.nat.type})")
        if backend:
            words.append(f"to {logical} ({backend[0]} on {backend[1]})")
    return words


def _gateway(gw: Gateway, ctx: _Context) -> str:
    """Capture on every gateway chassis of ``gw`` (the active one decides, the others prove
    it); what discovery said of it."""
    for chassis in gw.chassis:
        role = "active" if chassis.active else f"rank {chassis.rank}"
        name = chassis.node or chassis.name
        ctx.add(name, f"OVN gateway chassis ({role}) of router {gw.router} for {gw.ip}")
    where = ", ".join(f"{c.node or c.name}{' (active)' if c.active else ''}" for c in gw.chassis)
    return gw.why.split("; active chassis")[0] + (f"; gateway chassis {where}" if where else "")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip_port(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _stop(name: str, entry: _Node, ctx: _Context, across: bool) -> Stop:
    """``across``: the path spans several cluster nodes, so their tunnels carry it."""
    wanted: tuple[str, ...] = CLIENT_ROLES if ctx.external(name) else NODE_ROLES
    if not across:
        wanted = tuple(r for r in wanted if r != "tunnel")
    facts = ctx.survey.nodes.get(name)
    if facts is not None and facts.error is None:
        roles = [r for r in wanted if facts.device(r)]
        devices = [facts.device(r) or "" for r in roles]
        if not roles:
            ctx.notes.append(f"{name}: discovery found none of its {', '.join(wanted)} devices")
    else:
        known = ctx.inventory.node(name).devices
        roles = [r for r in wanted if r in known] or ["uplink"]
        devices = [known.get(r, "") for r in roles]
    pod_devices = tuple(_pod_device(p, facts, ctx) for p in entry.pods)
    known = dict(zip(entry.pods, pod_devices, strict=True)) | {p: p for p in entry.ports}
    to = tuple(known[p] for p in entry.to if known.get(p))
    return Stop(name, tuple(entry.reasons), tuple(roles), tuple(devices), tuple(entry.pods),
                tuple(entry.ports), pod_devices, to)  # fmt: skip


def _pod_device(name: str, facts: NodeFacts | None, ctx: _Context) -> str:
    """The host device of an inventory pod: the inventory's, else what discovery found now."""
    pod = ctx.inventory.pod(name)
    found = [facts.pod(ip) for ip in pod.ips] if facts is not None else []
    return pod.host_iface or next((f.host_iface for f in found if f and f.host_iface), "")
