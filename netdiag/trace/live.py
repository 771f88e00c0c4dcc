"""Ask the nodes what a trace needs, over the transports: discovery, NAT tables, OVN gateways.

Every node of the inventory is asked at once (bounded), in one SSH session each: its NAT table
(``iptables-save -t nat``, through ``sudo -n`` on sudo nodes) and discovery's batches for the
addresses of FROM and TO; then, in the same sessions, discovery again for the addresses those
NAT tables DNAT TO to (a service's backends) whose devices the inventory lacks, and the OVN
databases for the gateways of all of them. A node that cannot be asked is a fact of the survey
(``error``), never an exception: the planner falls back to the inventory for it, and the
capture reports it as it reports any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable, Sequence

from netdiag.discover.live import NodeView, inspect_node, resolve
from netdiag.discover.model import Discovery
from netdiag.discover.nat import IPTABLES_NAT, matching, parse_iptables_nat
from netdiag.discover.ovn.live import with_gateways
from netdiag.discover.ovn.model import Gateway
from netdiag.discover.targets import Target
from netdiag.errors import NetdiagError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.trace.model import NodeFacts, Proto, Survey
from netdiag.trace.survey import facts_of_view
from netdiag.transport import Transport, open_transport

__all__ = ["survey"]

Factory = Callable[[NodeSpec, str], Transport]


class _Node:
    """One node's session and what it answered so far."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.view: NodeView | None = None
        self.nat: str | None = None
        self.notes: list[str] = []
        self.error: str | None = None


async def _nat_table(tr: Transport, node: _Node, timeout: float) -> None:
    argv = (*(("sudo", "-n") if node.spec.sudo else ()), *IPTABLES_NAT)
    (res,) = await tr.run_batch([argv], timeout=timeout)
    if res.ok:
        node.nat = res.stdout
    else:
        why = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.exit_status}"]
        node.notes.append(
            f"its NAT table was not read (`{' '.join(argv)}`: {why[0]}): services, NodePorts "
            "and FIPs it DNATs are not followed"
        )


def _ip(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(text or ""))
    except ValueError:
        return None


def _backends(
    nodes: Sequence[_Node], dest_ip: str | None, port: int | None, proto: Proto
) -> list[str]:
    """The addresses any node's NAT table sends ``dest_ip`` (and port) to."""
    if dest_ip is None:
        return []
    found: list[str] = []
    for node in nodes:
        if node.nat is None:
            continue
        local = [ip for link in node.view.links for ip in link.ips] if node.view else []
        for rule in matching(parse_iptables_nat(node.nat), dest_ip, port, proto, local):
            if rule.to_ip not in found:
                found.append(rule.to_ip)
    return found


async def survey(
    inventory: Inventory,
    ips: Sequence[str],
    dest: tuple[str | None, int | None, Proto],
    *,
    kind: str = "asyncssh",
    factory: Factory | None = None,
    concurrency: int = 32,
    timeout: float = 30.0,
) -> Survey:
    """Ask every node of ``inventory``; ``ips`` are the addresses of FROM and TO to place,
    ``dest`` is (TO's address, port, protocol) whose DNATs are followed to their backends."""
    factory = factory or open_transport
    nodes = [_Node(spec) for spec in inventory.nodes]
    gate = asyncio.Semaphore(concurrency)  # simultaneous handshakes (CPU-bound on both ends)
    asked = list(dict.fromkeys(ip for ip in ips if _ip(ip)))
    async with contextlib.AsyncExitStack() as stack:

        async def first(node: _Node) -> Transport | None:
            try:
                async with gate:
                    tr = await stack.enter_async_context(factory(node.spec, kind))
                # two channels of one session at once: each batch costs a round of its own
                _, node.view = await asyncio.gather(
                    _nat_table(tr, node, timeout),
                    inspect_node(tr, asked, timeout=timeout, ovn=True),
                )
            except (NetdiagError, TimeoutError) as exc:
                node.error = _error(node.spec.name, exc)
                return None
            return tr

        sessions = await asyncio.gather(*(first(n) for n in nodes))
        # where TO's DNATs lead, unless the inventory already gives those pods' devices
        listed = {ip for pod in inventory.pods if pod.host_iface for ip in pod.ips}
        more = [ip for ip in _backends(nodes, *dest) if ip not in asked and ip not in listed]

        async def second(node: _Node, tr: Transport | None) -> None:
            if tr is None or not more:
                return
            try:
                first = node.view
                node.view = await inspect_node(tr, [*asked, *more], timeout=timeout)
                if first is not None:  # the OVN databases were asked once, in the first round
                    node.view.ovn = first.ovn
            except (NetdiagError, TimeoutError) as exc:
                node.notes.append(f"the addresses {', '.join(more)} were not looked for: {exc}")

        await asyncio.gather(*(second(n, tr) for n, tr in zip(nodes, sessions, strict=True)))
    wanted = [*asked, *more]
    facts = {}
    for node in nodes:
        if node.view is None:
            facts[node.spec.name] = NodeFacts(node.spec.name, error=node.error or "not asked")
        else:
            facts[node.spec.name] = facts_of_view(node.view, wanted, node.nat, node.notes)
    return Survey(facts, await _gateways(inventory, nodes, wanted, kind))


def _error(name: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"


async def _gateways(
    inventory: Inventory, nodes: Sequence[_Node], ips: Sequence[str], kind: str
) -> dict[str, Gateway]:
    """The OVN gateway of each address (a FIP, a pod behind a FIP or SNAT), where OVN runs."""
    views: dict[str, NodeView | str] = {
        n.spec.name: n.view if n.view is not None else (n.error or "not asked") for n in nodes
    }
    targets = [Target(ip, "ip", tuple(views), (ip,)) for ip in ips]
    found = []
    for target in targets:
        hit = None
        for view in views.values():
            if isinstance(view, NodeView):
                hit = hit or resolve(target, view)
        found.append(hit or Discovery(target.text, None, ip=target.ips[0]))
    with contextlib.suppress(NetdiagError, TimeoutError):
        found = await with_gateways(inventory, views, targets, found, kind)
    return {d.target: d.gateway for d in found if d.gateway is not None}
