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

from pathlib import Path

from netdiag.errors import InputError
from netdiag.inventory import Inventory
from netdiag.plan import parse_plan
from netdiag.trace.addresses import gateway, is_ip, place_address
from netdiag.trace.context import Chosen, PlanState
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

__all__ = ["DEFAULT_COUNT", "plan_trace", "port_and_proto"]

NODE_ROLES = ("uplink", "join", "tunnel", "tun0")
CLIENT_ROLES = ("uplink",)
DEFAULT_COUNT: dict[Proto, int] = {"icmp": 3, "tcp": 1, "udp": 1}
MAX_COUNT = 100


def plan_trace(
    inventory: Inventory, survey: Survey, request: TraceRequest, plan_path: Path
) -> TracePlan:
    """The probe plan for ``request``; InputError when FROM or TO cannot be placed."""
    ctx = PlanState(inventory, survey)
    src = parse_endpoint(request.source, inventory, "FROM")
    dst = parse_endpoint(request.dest, inventory, "TO")
    port, proto = port_and_proto(request, src, dst)
    count = request.count or DEFAULT_COUNT[proto]
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"--count {count}: give 1 to {MAX_COUNT}")
    source = _source(src, ctx)
    dest = _dest(dst, port, proto, source, ctx)
    gw = ctx.survey.gateways.get(source.ip or "")
    if dest.external and gw is not None and gw.nat is not None:
        # FROM's own SNAT or FIP by OVN: how its traffic leaves the cluster, right after FROM
        before = list(ctx.nodes)
        ctx.notes.append(f"FROM's address on its way out: OVN: {gateway(gw, ctx)}")
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


def port_and_proto(request: TraceRequest, src: Spec, dst: Spec) -> tuple[int | None, Proto]:
    """TO's port (``IP:PORT`` or ``--port``) and the protocol; InputError when they clash."""
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


def _source(spec: Spec, ctx: PlanState) -> Endpoint:
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


def _source_node(spec: Spec, node: str, ctx: PlanState) -> Endpoint:
    ext = ctx.external(node)
    facts = ctx.survey.nodes.get(node)
    address = facts.address if facts is not None else None
    ctx.add(node, "FROM: the client" if ext else "FROM: the node itself")
    what = f"{node} (a client outside the cluster" if ext else f"node {node} ("
    what += f"{', ' if ext else ''}{address})" if address else ")" if ext else ""
    what = what.removesuffix(" (")
    return Endpoint(spec.text, what, node, None, address, external=ext)


def _dest(spec: Spec, port: int | None, proto: Proto, source: Endpoint, ctx: PlanState) -> Endpoint:
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
        at = facts.address if facts is not None else None
        host = ctx.inventory.node(spec.name).host
        if at is None and facts is not None and facts.error and is_ip(host):
            at = host
            ctx.notes.append(
                f"TO's address {host} is {spec.name}'s host in the inventory (the node was not "
                "asked); give TO as an address if it is reached at another"
            )
        if at is None:
            why = facts.error if facts is not None and facts.error else "no uplink address seen"
            raise InputError(
                f"TO {spec.text!r}: the address of node {spec.name} is not known ({why}); give "
                "the address it should be reached at as TO"
            )
        return place_address(spec, at, port, proto, source, ctx, named=spec.name)
    assert spec.ip is not None
    return place_address(spec, spec.ip, port, proto, source, ctx)


def _stop(name: str, entry: Chosen, ctx: PlanState, across: bool) -> Stop:
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


def _pod_device(name: str, facts: NodeFacts | None, ctx: PlanState) -> str:
    """The host device of an inventory pod: the inventory's, else what discovery found now."""
    pod = ctx.inventory.pod(name)
    found = [facts.pod(ip) for ip in pod.ips] if facts is not None else []
    return pod.host_iface or next((f.host_iface for f in found if f and f.host_iface), "")
