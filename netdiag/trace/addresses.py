"""TO given as an address: the pod that holds it, the node that holds it and what that node's
NAT table does with it, a service address other nodes DNAT, an OVN FIP or gateway, or nothing
netdiag knows (outside the cluster). Part of the planner; every choice goes into a
:class:`~netdiag.trace.context.PlanState`.
"""

from __future__ import annotations

import ipaddress

from netdiag.discover.nat import Dnat, matching
from netdiag.discover.ovn.model import Gateway
from netdiag.trace.context import PlanState
from netdiag.trace.endpoints import Spec
from netdiag.trace.model import Endpoint, NodeFacts, Proto

__all__ = ["NOTHING", "gateway", "ip_port", "is_ip", "place_address"]

NOTHING = "no pod, node or NAT of it found"


def place_address(  # noqa: PLR0917 - one caller, each argument a different thing
    spec: Spec,
    ip: str,
    port: int | None,
    proto: Proto,
    source: Endpoint,
    ctx: PlanState,
    named: str | None = None,
) -> Endpoint:
    """TO given as an address (or a node's): a pod, a node holding it, a NAT, or outside."""
    shown = ip_port(ip, port)
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
    ip: str, port: int | None, proto: Proto, source: Endpoint, ctx: PlanState
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
    facts: NodeFacts, ip: str, port: int | None, proto: Proto, source: Endpoint, ctx: PlanState
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
                f"{facts.name} DNATs {ip_port(ip, port)} to {rule.to} only for packets that "
                f"enter by {rule.in_iface}, which FROM's do not (-A {rule.rule})"
            )
            continue
        out.append(rule)
    return out


def _other_ports(ip: str, port: int | None, proto: Proto, ctx: PlanState) -> bool:
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


def _fips(ip: str, shown: str, ctx: PlanState) -> list[str]:
    """A FIP the inventory gives a pod, and the OVN gateway that NATs (or routes) the address."""
    words = []
    for pod in ctx.inventory.pods:
        if pod.fip == ip:
            ctx.add(pod.node, f"its pod {pod.name} has FIP {ip} (inventory)", pod=pod.name, to=True)
            words.append(f"the inventory's FIP of pod {pod.name} on {pod.node}")
    gw = ctx.survey.gateways.get(ip)
    if gw is None:
        return words
    words.append(f"OVN: {gateway(gw, ctx)}")
    logical = gw.nat.logical_ip if gw.nat is not None else ""
    if gw.nat is not None and gw.nat.external_ip == ip and logical and "/" not in logical:
        backend = ctx.add_pod(logical, f"behind {shown} (OVN {gw.nat.type})")
        if backend:
            words.append(f"to {logical} ({backend[0]} on {backend[1]})")
    return words


def gateway(gw: Gateway, ctx: PlanState) -> str:
    """Capture on every gateway chassis of ``gw`` (the active one decides, the others prove
    it); what discovery said of it."""
    for chassis in gw.chassis:
        role = "active" if chassis.active else f"rank {chassis.rank}"
        name = chassis.node or chassis.name
        ctx.add(name, f"OVN gateway chassis ({role}) of router {gw.router} for {gw.ip}")
    where = ", ".join(f"{c.node or c.name}{' (active)' if c.active else ''}" for c in gw.chassis)
    return gw.why.split("; active chassis")[0] + (f"; gateway chassis {where}" if where else "")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_port(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
