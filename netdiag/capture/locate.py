"""Run-time resolution of capture points by role and by pod, over the open sessions.

A plan may name ``{node: "*", devices: [uplink, tunnel]}`` or a pod the inventory does not
place; :func:`netdiag.plan.resolve` leaves those as unresolved points. Here every node that must
answer runs discovery's batches once (``inspect_node``, through the transport already connected
for the capture: no extra SSH connection), and each point becomes a concrete interface with a
note of how it was found, or a ``no-device`` verdict that the manifest shows instead of failing.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from netdiag.discover.live import NodeView, inspect_node
from netdiag.discover.live import resolve as place
from netdiag.discover.model import Discovery, PodNetns
from netdiag.discover.targets import Target
from netdiag.errors import NetdiagError
from netdiag.inventory import Inventory
from netdiag.plan import CapturePoint
from netdiag.transport import Transport

__all__ = ["Located", "Unplaced", "locate"]

INVENTORY_HINT = "named in the inventory's devices"  # discover.roles' ``why`` for inventory hints


@dataclass(frozen=True)
class Unplaced:
    """A point discovery could not place: it gets a ``no-device`` capture record, not a run."""

    node: str  # "" for a pod that was looked for on every node and found on none
    label: str  # "<tunnel>" or "<pod default/x>": what the manifest shows as the interface
    detail: str
    role: str | None
    commands: tuple[str, ...]


@dataclass(frozen=True)
class Located:
    """Every point concrete, how each was found (commands per point), and what found nothing."""

    points: tuple[CapturePoint, ...]
    commands: Mapping[CapturePoint, tuple[str, ...]]
    unplaced: tuple[Unplaced, ...]
    by_input: Mapping[CapturePoint, CapturePoint | Unplaced]  # each asked point's answer


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _pod_ips(pod: str, inventory: Inventory) -> tuple[str, ...]:
    ip = _ip(pod)
    if ip is not None:
        return (ip,)
    known = [p for p in inventory.pods if p.name == pod]
    return known[0].ips if known else ()


async def locate(
    points: Sequence[CapturePoint],
    transports: Mapping[str, Transport],
    inventory: Inventory,
    timeout: float = 30.0,
) -> Located:
    """Resolve the unresolved ``points`` on the nodes of ``transports`` (the connected ones)."""
    asks: dict[str, tuple[list[str], dict[str, Sequence[str]]]] = {}
    for p in points:
        if not p.unresolved:
            continue
        for node in [p.node] if p.node else list(transports):
            ips, pods = asks.setdefault(node, ([], {}))
            if p.pod is not None:
                pips = _pod_ips(p.pod, inventory)
                ips.extend(i for i in pips if i not in ips)
                if _ip(p.pod) is None:
                    pods[p.pod] = pips

    async def one(node: str) -> NodeView | str:
        tr = transports.get(node)
        if tr is None:
            return f"{node}: not connected"
        try:
            ips, pods = asks[node]
            return await inspect_node(tr, ips, pods, timeout=timeout)
        except (NetdiagError, TimeoutError) as exc:
            return f"{node}: discovery failed ({exc})"

    views = dict(zip(asks, await asyncio.gather(*(one(n) for n in asks)), strict=True))
    out: list[CapturePoint] = []
    commands: dict[CapturePoint, tuple[str, ...]] = {}
    unplaced: list[Unplaced] = []
    by_input: dict[CapturePoint, CapturePoint | Unplaced] = {}
    for p in points:
        if not p.unresolved:
            out.append(p)
            by_input[p] = p
            continue
        got = _role(p, views.get(p.node), inventory) if p.role else _pod(p, views, inventory)
        if isinstance(got, Unplaced):
            unplaced.append(got)
            by_input[p] = got
        else:
            out.append(got[0])
            commands[got[0]] = got[1]
            by_input[p] = got[0]
    # One tcpdump per interface: a role and a name (or a pod) may land on the same device.
    unique: dict[tuple[str, str, str | None], CapturePoint] = {}
    for p in out:
        unique.setdefault((p.node, p.iface, p.netns), p)
    return Located(tuple(unique.values()), commands, tuple(unplaced), by_input)


def _role(
    p: CapturePoint, view: NodeView | str | None, inventory: Inventory
) -> tuple[CapturePoint, tuple[str, ...]] | Unplaced:
    """Discovery's device for the role; the inventory's ``devices`` when discovery has none."""
    assert p.role is not None
    devices = inventory.node(p.node).devices
    if isinstance(view, NodeView):
        dev = next((d for d in view.path if d.role == p.role), None)
        if dev is not None:
            via = "inventory" if dev.why == INVENTORY_HINT else "discovery"
            return replace(p, iface=dev.name, via=via), view.commands
        seen = ", ".join(f"{d.role}={d.name}" for d in view.path) or "no path devices"
        why, cmds = f"discovered: {seen}", view.commands
    else:
        why, cmds = str(view or "not asked"), ()
    if p.role in devices:
        return replace(p, iface=devices[p.role], via="inventory"), cmds
    detail = f"no {p.role} device found on node {p.node}; {why}"
    return Unplaced(p.node, f"<{p.role}>", detail, p.role, cmds)


def _pod(
    p: CapturePoint, views: Mapping[str, NodeView | str], inventory: Inventory
) -> tuple[CapturePoint, tuple[str, ...]] | Unplaced:
    """The pod's host-side device on whichever asked node holds it."""
    assert p.pod is not None
    ips = _pod_ips(p.pod, inventory)
    name = None if _ip(p.pod) else p.pod
    nodes = [p.node] if p.node else list(views)
    errors = []
    for node in nodes:
        view = views.get(node)
        if not isinstance(view, NodeView):
            errors.append(str(view or f"{node}: not asked"))
            continue
        target = Target(p.pod, "pod" if name else "ip", (node,), ips, name)
        found = place(target, view)
        if p.inside:
            inner = _inside(found, name, view)
            if inner is not None:
                point = replace(p, node=node, iface=inner[1], netns=inner[0], via="discovery")
                return point, view.commands
            if found is not None:
                errors.append(f"{node}: only its host side {found.host_iface} (no namespace)")
            continue
        iface = found.host_iface if found is not None else _by_netns_name(name, view)
        if iface:
            return replace(p, node=node, iface=iface, via="discovery"), view.commands
    # a pod searched on every node and found on none belongs to no node ("")
    if not any(isinstance(v, NodeView) for v in views.values()):
        why = "; ".join(errors) or "no node is connected"
        detail = (
            f"pod {p.pod} not searched: {why}; fix the nodes' statuses first, or add the pod "
            f"under pods: in {inventory.path}"
        )
        return Unplaced(p.node, f"<pod {p.pod}>", detail, None, ())
    where = p.node or ", ".join(views)
    why = "; ".join(errors) or f"no namespace, route, bridge or OVS port of it on {where}"
    commands = tuple(c for v in views.values() if isinstance(v, NodeView) for c in v.commands)
    detail = f"pod {p.pod} not found: {why}; add it under pods: in {inventory.path}"
    return Unplaced(p.node, f"<pod {p.pod}>", detail, None, commands)


def _inside(found: Discovery | None, pod: str | None, view: NodeView) -> tuple[str, str] | None:
    """(namespace, interface) of the pod itself: named, or ``/proc/PID/ns/net`` (unnamed)."""
    if found is not None and found.netns is not None and found.ip is not None:
        iface = found.netns.holding(found.ip)
        if iface is not None:
            return found.netns.name, iface.name
    space = _netns_by_name(pod, view)
    if space is not None and space.interfaces:
        return space.name, sorted(space.interfaces, key=lambda i: i.name != "eth0")[0].name
    return None


def _netns_by_name(pod: str | None, view: NodeView) -> PodNetns | None:
    """A named namespace called after the pod (``NAME`` or ``NS_NAME``, as test labs and some
    runtimes name them)."""
    if pod is None:
        return None
    ns, _, short = pod.partition("/")
    names = (short, f"{ns}_{short}", f"{ns}-{short}")
    return next((space for space in view.namespaces if space.name in names), None)


def _by_netns_name(pod: str | None, view: NodeView) -> str | None:
    """A pod known only by name: a named namespace called after it (``NAME`` or ``NS_NAME``,
    as test labs and some runtimes name them) and the host peer of its first veth."""
    space = _netns_by_name(pod, view)
    if space is None:
        return None
    ifaces = sorted(space.interfaces, key=lambda i: i.name != "eth0")  # primary first
    return next((i.host_iface for i in ifaces if i.host_iface), None)
