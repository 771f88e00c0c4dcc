"""What discovery finds, as frozen values: links, routes, pod namespaces, path devices, results.

Parsers (``iproute``, ``ovs``, ``cni``) produce these from recorded or live command output, so the
same matching logic runs on a fixture in a unit test and on a node through a transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netdiag.discover.ovn.model import Gateway

__all__ = ["Discovery", "Link", "PathDevice", "PodInterface", "PodNetns", "Route"]


@dataclass(frozen=True)
class Link:
    """One network device as ``ip -j -d addr`` (or ``ip a``) shows it in one namespace."""

    ifindex: int
    name: str
    kind: str | None = None  # linkinfo.info_kind: veth, bridge, vxlan, geneve, ipip, openvswitch
    peer_ifindex: int | None = None  # iflink / link_index, the "@ifN" of `ip a`
    link_netnsid: int | None = None  # set when the peer lives in another namespace
    master: str | None = None
    mac: str | None = None
    mtu: int | None = None
    up: bool = True
    addrs: tuple[str, ...] = ()  # "ip/prefixlen"
    tunnel_local: str | None = None  # vxlan/geneve local address (the underlay side)
    tunnel_link: str | None = None  # vxlan "dev": the underlay device

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(a.split("/", 1)[0] for a in self.addrs)


@dataclass(frozen=True)
class Route:
    """One route (``ip -j route``, ``ip route`` or ``route -n``); dst "default" for 0.0.0.0/0."""

    dst: str
    dev: str | None = None
    gateway: str | None = None
    prefsrc: str | None = None
    protocol: str | None = None
    kind: str = "unicast"  # blackhole/unreachable/prohibit routes have no device


@dataclass(frozen=True)
class PodInterface:
    """An interface inside a pod's namespace and its host-side peer (None when not a veth)."""

    name: str
    ifindex: int
    ips: tuple[str, ...] = ()
    mac: str | None = None
    host_ifindex: int | None = None
    host_iface: str | None = None


@dataclass(frozen=True)
class PodNetns:
    """A pod network namespace as the node names it (``ip netns``), with its interfaces."""

    name: str
    nsid: int | None
    interfaces: tuple[PodInterface, ...] = ()

    def holding(self, ip: str) -> PodInterface | None:
        return next((i for i in self.interfaces if ip in i.ips), None)


@dataclass(frozen=True)
class PathDevice:
    """A device on a node that matters for a capture, by role (uplink, join, tunnel, ...)."""

    role: str
    name: str
    why: str


@dataclass(frozen=True)
class Discovery:
    """The answer for one target: where it lives and where to capture on its node."""

    target: str
    node: str | None
    ip: str | None = None
    host_iface: str | None = None
    netns: PodNetns | None = None
    path: tuple[PathDevice, ...] = ()
    strategy: str = "generic"
    commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    gateway: Gateway | None = None  # OVN: the router and chassis that NAT this IP

    def to_json(self) -> dict[str, object]:
        ns = self.netns
        return {
            "target": self.target,
            "node": self.node,
            "ip": self.ip,
            "host_iface": self.host_iface,
            "netns": None
            if ns is None
            else {
                "name": ns.name,
                "nsid": ns.nsid,
                "interfaces": [
                    {
                        "name": i.name,
                        "ifindex": i.ifindex,
                        "ips": list(i.ips),
                        "mac": i.mac,
                        "host_ifindex": i.host_ifindex,
                        "host_iface": i.host_iface,
                    }
                    for i in ns.interfaces
                ],
            },
            "path": [{"role": d.role, "name": d.name, "why": d.why} for d in self.path],
            "strategy": self.strategy,
            "commands": list(self.commands),
            "notes": list(self.notes),
            "gateway": None if self.gateway is None else self.gateway.to_json(),
        }
