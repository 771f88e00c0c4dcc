"""Which devices on a node matter for a capture, by role, from its links and routes.

Roles: ``uplink`` (where the underlay leaves the node), ``join`` (kube-ovn ``ovn0``, ovn-k8s
``ovn-k8s-mp0``), ``br-int``/``ovs-bridge``, ``tunnel`` (``genev_sys_6081``, ``vxlan_sys_4789``,
``flannel.1``, ``tunl0``, any vxlan/geneve/ipip/gre device), ``tun0`` (OpenShift SDN's gateway)
and ``bridge`` (a Linux bridge holding pod veths: ``cni0``, the lab's ``br-pods``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from netdiag.discover.iproute import lookup_route
from netdiag.discover.model import Link, PathDevice, Route
from netdiag.discover.ovs import OvsBridge

__all__ = ["TUNNEL_KINDS", "TUNNEL_NAMES", "ovs_uplink", "path_devices"]

TUNNEL_KINDS = ("vxlan", "geneve", "ipip", "gre", "gretap", "ip6tnl", "sit")
# Devices whose kind `ip -d` may not show (OVS-owned vports) or whose name says it all.
TUNNEL_NAMES = (
    "genev_sys_6081",
    "vxlan_sys_4789",
    "flannel.1",
    "flannel.ipip",
    "tunl0",
    "vxlan.calico",
)
JOIN_NAMES = {
    "ovn0": "kube-ovn join (node <-> ovn-cluster router)",
    "ovn-k8s-mp0": "ovn-kubernetes management port",
}
_NOT_UPLINK = ("lo", "docker0", "ovs-system")


def _tunnel(link: Link) -> bool:
    # tunl0 and gre0 exist in every namespace once the module is loaded; only an UP one is used.
    return (link.kind in TUNNEL_KINDS or link.name in TUNNEL_NAMES) and (
        link.up or link.name not in ("tunl0", "gre0", "sit0", "ip6tnl0")
    )


def _uplink(links: Sequence[Link], routes: Sequence[Route]) -> tuple[Link, str] | None:
    by_name = {link.name: link for link in links}
    default = next((r for r in routes if r.dst in ("default", "0.0.0.0/0") and r.dev), None)
    if default and default.dev in by_name:
        return by_name[default.dev], f"default route via {default.gateway or 'link'}"
    for t in links:
        if not _tunnel(t):
            continue
        if t.tunnel_link in by_name:
            return by_name[t.tunnel_link], f"underlay device of tunnel {t.name}"
        if t.tunnel_local:
            r = lookup_route(routes, t.tunnel_local)
            if r and r.dev in by_name and r.dev not in _NOT_UPLINK:
                return by_name[r.dev], f"carries tunnel {t.name}'s local {t.tunnel_local}"
    return None


def ovs_uplink(
    links: Sequence[Link],
    routes: Sequence[Route],
    bridges: Sequence[OvsBridge],
    encap_ip: str | None = None,
) -> PathDevice | None:
    """The physical port under an OVS bridge that holds the node's address.

    On OVN nodes the underlay IP often sits on an OVS bridge's internal port (ovn-kubernetes'
    ``br-ex``, a userspace datapath's ``br-phy``): the route leads to the bridge, yet traffic
    OVS forwards by itself (tunnels, shared-gateway egress) only crosses the bridge's physical
    port. The address is the tunnel endpoint (``external_ids:ovn-encap-ip``) when OVN set one,
    else the default route's device.
    """
    by_bridge = {b.name: b for b in bridges}
    holder = next((link.name for link in links if encap_ip and encap_ip in link.ips), None)
    why = f"holds the tunnel endpoint {encap_ip}"
    if holder is None:
        default = next((r for r in routes if r.dst in ("default", "0.0.0.0/0") and r.dev), None)
        holder, why = (default.dev, "holds the default route") if default else (None, "")
    bridge = by_bridge.get(holder or "")
    if bridge is None:
        return None
    names = {link.name for link in links}
    for port in bridge.ports:
        if port.type == "" and port.name != bridge.name and port.name in names:
            return PathDevice("uplink", port.name, f"port of OVS bridge {bridge.name}, which {why}")
    return None


def path_devices(
    links: Sequence[Link],
    routes: Sequence[Route],
    hints: Mapping[str, str] | None = None,
    ovs_up: PathDevice | None = None,
) -> tuple[PathDevice, ...]:
    """Path devices in capture order (uplink first); ``hints`` are the inventory's ``devices``,
    ``ovs_up`` what :func:`ovs_uplink` found (it beats the route, which stops at the bridge).

    A hint fills a role discovery could not find (e.g. no default route and no tunnel), it never
    overrides what the node itself shows.
    """
    out: list[PathDevice] = []
    names = {link.name for link in links}
    up = _uplink(links, routes)
    if ovs_up is not None:
        out.append(ovs_up)
    elif up:
        out.append(PathDevice("uplink", up[0].name, up[1]))
    for link in links:
        if link.name in JOIN_NAMES:
            out.append(PathDevice("join", link.name, JOIN_NAMES[link.name]))
        elif link.name == "br-int":
            out.append(PathDevice("br-int", link.name, "OVN integration bridge"))
        elif link.name == "tun0":
            out.append(PathDevice("tun0", link.name, "OpenShift SDN gateway port on br0"))
        elif _tunnel(link):
            what = link.kind or "tunnel"
            out.append(PathDevice("tunnel", link.name, f"{what} device"))
        elif link.kind == "bridge" and link.name != "docker0" and _has_ports(link, links):
            out.append(PathDevice("bridge", link.name, "Linux bridge with pod ports"))
    for role, name in (hints or {}).items():
        if name in names and not any(d.role == role for d in out) and role != "mgmt":
            out.append(PathDevice(role, name, "named in the inventory's devices"))
    return tuple(out)


def _has_ports(bridge: Link, links: Iterable[Link]) -> bool:
    return any(link.master == bridge.name for link in links)
