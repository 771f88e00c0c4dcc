"""OVN's logical topology and gateways as frozen values: what the parsers of
:mod:`netdiag.discover.ovn.parse` produce and :func:`netdiag.discover.ovn.gateway.gateway_for`
reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Chassis",
    "Gateway",
    "GatewayChassis",
    "LogicalRouter",
    "LogicalSwitch",
    "Nat",
    "NbTopology",
    "OvnView",
    "RouterPort",
    "SwitchPort",
]


@dataclass(frozen=True)
class Nat:
    type: str  # dnat_and_snat, snat, dnat
    external_ip: str
    logical_ip: str  # an address, or a CIDR for snat
    logical_port: str | None = None
    external_mac: str | None = None
    uuid: str = ""

    @property
    def distributed(self) -> bool:
        """A DVR FIP: answered on the chassis of ``logical_port``, not on the gateway."""
        return self.type == "dnat_and_snat" and bool(self.logical_port and self.external_mac)


@dataclass(frozen=True)
class RouterPort:
    name: str
    mac: str | None = None
    networks: tuple[str, ...] = ()
    gateway_chassis: tuple[str, ...] = ()  # as `show` lists them: not in priority order


@dataclass(frozen=True)
class LogicalRouter:
    name: str
    ports: tuple[RouterPort, ...] = ()
    nats: tuple[Nat, ...] = ()

    @property
    def gateway_port(self) -> RouterPort | None:
        return next((p for p in self.ports if p.gateway_chassis), None)


@dataclass(frozen=True)
class SwitchPort:
    name: str
    type: str = ""
    router_port: str | None = None
    addresses: tuple[str, ...] = ()  # "MAC IP [IP...]" entries, or "unknown"

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(w for a in self.addresses for w in a.split()[1:])


@dataclass(frozen=True)
class LogicalSwitch:
    name: str
    ports: tuple[SwitchPort, ...] = ()


@dataclass(frozen=True)
class NbTopology:
    switches: tuple[LogicalSwitch, ...] = ()
    routers: tuple[LogicalRouter, ...] = ()


@dataclass(frozen=True)
class Chassis:
    """A row of ``ovn-sbctl show``: a node's chassis, its tunnel endpoint, what it binds."""

    name: str
    hostname: str | None = None
    encaps: tuple[tuple[str, str], ...] = ()  # (type, ip)
    bindings: tuple[str, ...] = ()  # Port_Binding logical port names (cr-<lrp> on a gateway)


@dataclass(frozen=True)
class GatewayChassis:
    name: str
    rank: int  # 0 = highest priority (or `show` order when priorities are unknown)
    node: str | None  # resolved through system-id, else SB hostname
    active: bool
    priority: int | None = None


@dataclass(frozen=True)
class Gateway:
    """Which router (and port) handles an IP's NAT, and on which node(s)."""

    ip: str
    router: str
    port: str | None
    chassis: tuple[GatewayChassis, ...] = ()
    nat: Nat | None = None
    why: str = ""

    @property
    def active_node(self) -> str | None:
        return next((c.node for c in self.chassis if c.active), None)

    def to_json(self) -> dict[str, object]:
        nat = self.nat
        return {
            "ip": self.ip,
            "router": self.router,
            "port": self.port,
            "chassis": [
                {
                    "name": c.name,
                    "rank": c.rank,
                    "priority": c.priority,
                    "node": c.node,
                    "active": c.active,
                }
                for c in self.chassis
            ],
            "nat": None
            if nat is None
            else {
                "type": nat.type,
                "external_ip": nat.external_ip,
                "logical_ip": nat.logical_ip,
                "logical_port": nat.logical_port,
                "distributed": nat.distributed,
            },
            "why": self.why,
        }


@dataclass(frozen=True)
class OvnView:
    """What a node's ovn-nbctl/sbctl answered (empty where the databases are out of reach)."""

    topology: NbTopology | None = None
    nats: tuple[Nat, ...] = ()
    chassis: tuple[Chassis, ...] = ()
    priorities: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
