"""The values of a trace: the request, what the nodes showed (a survey), and the plan made.

A survey holds what the planner needs of each node and nothing about how it was asked, so the
planner runs the same on live answers and on recorded command output in the unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from netdiag.discover.model import PathDevice
from netdiag.discover.nat import Dnat
from netdiag.discover.ovn.model import Gateway
from netdiag.plan import Plan

__all__ = [
    "Endpoint",
    "NodeFacts",
    "PlacedPod",
    "Proto",
    "Stop",
    "Survey",
    "TracePlan",
    "TraceRequest",
]

Proto = Literal["icmp", "tcp", "udp"]


@dataclass(frozen=True)
class TraceRequest:
    """``netdiag trace FROM TO`` as asked; None: the planner's default."""

    source: str
    dest: str
    proto: Proto | None = None  # tcp when a port is given, else icmp
    port: int | None = None
    count: int | None = None  # pings, or connects / datagrams
    traceroute: bool = False


@dataclass(frozen=True)
class PlacedPod:
    """A pod address discovery found on a node, and the host-side device it sits behind."""

    ip: str
    host_iface: str | None = None
    name: str | None = None  # namespace/name, when known


@dataclass(frozen=True)
class NodeFacts:
    """What one node showed: its devices and addresses, path devices, DNATs, pods asked for."""

    name: str
    links: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (device, its addresses), node order
    path: tuple[PathDevice, ...] = ()
    address: str | None = None  # where the underlay reaches it (tunnel endpoint, uplink IP)
    dnat: tuple[Dnat, ...] = ()
    pods: tuple[PlacedPod, ...] = ()
    error: str | None = None  # why the node could not be asked (nothing above is known)
    notes: tuple[str, ...] = ()  # what could not be read on it (its NAT table, say)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(ip for _, ips in self.links for ip in ips)

    def device(self, role: str) -> str | None:
        return next((d.name for d in self.path if d.role == role), None)

    def pod(self, ip: str) -> PlacedPod | None:
        return next((p for p in self.pods if p.ip == ip), None)


@dataclass(frozen=True)
class Survey:
    """Every node asked, and the OVN gateway that NATs an address (FIP, SNAT), by address."""

    nodes: Mapping[str, NodeFacts]
    gateways: Mapping[str, Gateway] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """FROM or TO, placed: what it is (in words), its node and pod, the address used."""

    text: str  # as typed
    what: str
    node: str | None = None
    pod: str | None = None  # a plan's {pod: ...} value: the inventory name, else its IP
    ip: str | None = None
    port: int | None = None
    # outside the cluster: an inventory node with role external (a client), or an address no
    # node, pod or NAT accounts for
    external: bool = False


@dataclass(frozen=True)
class Stop:
    """A node the trace captures on, why, and where (roles; the devices they were found as)."""

    node: str
    reasons: tuple[str, ...]
    roles: tuple[str, ...]
    devices: tuple[str, ...]  # per role, as discovery found it ("" when not known)
    pods: tuple[str, ...] = ()  # {pod: ...} items on this node
    ports: tuple[str, ...] = ()  # host devices of pods the inventory does not list
    pod_devices: tuple[str, ...] = ()  # per pod item, its host device as known now ("": not)
    to_devices: tuple[str, ...] = ()  # the host devices of TO's pods here, as known now


@dataclass(frozen=True)
class TracePlan:
    """The plan a trace made: the probe plan itself, its YAML text, and why it looks so."""

    source: Endpoint
    dest: Endpoint
    proto: Proto
    target: str  # the address the probes are sent to
    port: int | None
    stops: tuple[Stop, ...]
    notes: tuple[str, ...]
    text: str
    plan: Plan

    @property
    def dest_points(self) -> frozenset[str]:
        """TO's own capture points (``node/device``): its pod's host device, or those of the
        pods its address is DNATed to, as known when the plan was made."""
        return frozenset(f"{s.node}/{d}" for s in self.stops for d in s.to_devices)
