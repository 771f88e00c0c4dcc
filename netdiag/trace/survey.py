"""What a node showed (discovery's :class:`~netdiag.discover.live.NodeView`, its NAT table) as
the planner's :class:`~netdiag.trace.model.NodeFacts`. Pure: the commands ran elsewhere."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from netdiag.discover.live import NodeView, resolve
from netdiag.discover.model import Link, PathDevice
from netdiag.discover.nat import parse_iptables_nat
from netdiag.discover.targets import Target
from netdiag.trace.model import NodeFacts, PlacedPod

__all__ = ["facts_from", "facts_of_view", "primary_address"]


def primary_address(
    links: Sequence[Link], path: Sequence[PathDevice], ovs_ids: Mapping[str, str] | None = None
) -> str | None:
    """Where the underlay reaches a node: OVN's tunnel endpoint when it names one of the node's
    addresses, else the uplink's first IPv4 address (its first address at all for IPv6-only)."""
    mine = {ip for link in links for ip in link.ips}
    encap = (ovs_ids or {}).get("ovn-encap-ip")
    if encap and encap in mine:
        return encap
    uplink = next((d.name for d in path if d.role == "uplink"), None)
    ips = next((link.ips for link in links if link.name == uplink), ())
    v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
    return next(iter(v4 or ips), None)


def facts_from(  # noqa: PLR0917 - the parts of a node's view, each its own thing
    name: str,
    links: Sequence[Link],
    path: Sequence[PathDevice],
    nat_text: str | None = None,
    pods: Sequence[PlacedPod] = (),
    ovs_ids: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> NodeFacts:
    """A node's facts from its parsed links, path devices and ``iptables-save -t nat``."""
    return NodeFacts(
        name=name,
        links=tuple((link.name, link.ips) for link in links if link.name != "lo"),
        path=tuple(path),
        address=primary_address(links, path, ovs_ids),
        dnat=parse_iptables_nat(nat_text) if nat_text else (),
        pods=tuple(pods),
        notes=tuple(notes),
    )


def facts_of_view(
    view: NodeView, ips: Sequence[str], nat_text: str | None, notes: Sequence[str] = ()
) -> NodeFacts:
    """A live node's facts; ``ips`` are the addresses to place (pods discovery finds here)."""
    pods = []
    for ip in ips:
        found = resolve(Target(ip, "ip", (view.node.name,), (ip,)), view)
        if found is not None and found.host_iface:
            pods.append(PlacedPod(ip, found.host_iface))
    return facts_from(view.node.name, view.links, view.path, nat_text, pods, view.ovs_ids, notes)
