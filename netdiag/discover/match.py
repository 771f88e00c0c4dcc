"""Generic peer matching: which pod namespace holds an IP, and which host veth is its other end.

A veth's two ends name each other: inside the pod ``eth0@if23`` (iflink 23, ``link_netnsid`` =
the host as the pod sees it); on the host ``dd2b931fc304_h@if22`` with ``link_netnsid`` = the
pod's namespace id as the host sees it (``ip netns list-id``). Matching both ifindex and nsid
is what makes this exact: ifindexes alone repeat across namespaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from netdiag.discover.model import Link, PodInterface, PodNetns, Route

__all__ = ["attach_host_peers", "find_pod", "host_iface_from_route", "pod_netns"]


def pod_netns(name: str, nsid: int | None, links: Iterable[Link]) -> PodNetns:
    """A pod namespace from ``ip -n NAME -j addr``; loopback and down tunnels are left out."""
    ifaces = tuple(
        PodInterface(
            name=link.name,
            ifindex=link.ifindex,
            ips=link.ips,
            mac=link.mac,
            host_ifindex=link.peer_ifindex if link.link_netnsid is not None else None,
        )
        for link in links
        if link.name != "lo" and (link.up or link.ips or link.link_netnsid is not None)
    )
    return PodNetns(name=name, nsid=nsid, interfaces=ifaces)


def attach_host_peers(ns: PodNetns, host_links: Sequence[Link]) -> PodNetns:
    """Fill ``host_iface`` of each pod interface from the host's links (exact veth match)."""
    out = []
    for iface in ns.interfaces:
        peer = next(
            (
                h
                for h in host_links
                if h.ifindex == iface.host_ifindex
                and (ns.nsid is None or h.link_netnsid is None or h.link_netnsid == ns.nsid)
                and (h.peer_ifindex is None or h.peer_ifindex == iface.ifindex)
            ),
            None,
        )
        out.append(
            PodInterface(
                iface.name,
                iface.ifindex,
                iface.ips,
                iface.mac,
                iface.host_ifindex,
                peer.name if peer else None,
            )
        )
    return PodNetns(ns.name, ns.nsid, tuple(out))


def find_pod(ip: str, namespaces: Iterable[PodNetns]) -> tuple[PodNetns, PodInterface] | None:
    """The namespace and interface that own ``ip`` (first match; pod IPs are unique on a node)."""
    for ns in namespaces:
        iface = ns.holding(ip)
        if iface is not None:
            return ns, iface
    return None


def host_iface_from_route(route: Route | None, host_links: Sequence[Link]) -> str | None:
    """The route's device when it is one end of a veth to another namespace (calico ``cali*``,
    the ``v-h*`` of seed 004's route -n); a bridge or tunnel is not a pod's host device."""
    if route is None or route.dev is None:
        return None
    link = next((h for h in host_links if h.name == route.dev), None)
    if link is None:
        # text route tables come without links; trust well-known per-pod names
        return route.dev if route.dev.startswith(("cali", "v-h", "veth")) else None
    if link.kind == "veth" or (link.link_netnsid is not None and link.kind in (None, "veth")):
        return link.name
    return None
