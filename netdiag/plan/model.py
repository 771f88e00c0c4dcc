"""Plan data model: the parsed plan, its resolved form, and the constants both share.

Kept apart from parsing and resolution so callers that only pass plans around (capture,
locate, remote) import plain dataclasses without YAML or inventory logic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ProbeKind = Literal["ping", "traceroute", "tcp", "udp"]
TOP_KEYS = ("version", "name", "description", "capture", "probes", "linger")
CAPTURE_KEYS = (
    "nodes",
    "interfaces",
    "filter",
    "snaplen",
    "duration",
    "max_packets",
    "max_file_mb",
)
PROBE_KEYS: dict[str, tuple[str, ...]] = {
    "ping": ("name", "from", "target", "count", "interval", "pattern", "timeout"),
    "traceroute": ("name", "from", "target", "max_hops", "timeout"),
    "tcp": ("name", "from", "target", "port", "timeout"),
    "udp": ("name", "from", "target", "port", "timeout"),
}
TARGET_RE = re.compile(r"^[A-Za-z0-9_.:][A-Za-z0-9_.:-]*$")  # never starts with '-': no options
HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2}){1,16}$")  # ping -p takes up to 16 bytes
GLOB_CHARS = set("*?[")
# Discovery's path-device roles (netdiag.discover.roles); any other word is an interface name.
ROLES = ("uplink", "join", "br-int", "tunnel", "tun0", "bridge")
IFACE_RE = re.compile(r"^[A-Za-z0-9._*?\[\]@:-]+$")
DEFAULT_PATTERN = "6e6574646961"  # "netdia": marks our ICMP payloads in every capture
# Tunnels must pass the filter or encapsulated probes vanish on the underlay (a cross-node
# packet crosses it inside the tunnel, so a filter on the inner addresses alone misses it):
# VXLAN 4789, flannel 8472, Geneve 6081, IP-in-IP (proto 4), GRE (proto 47); ARP for the FIP story.
ALWAYS_FILTER = (
    "arp",
    "udp port 4789",
    "udp port 8472",
    "udp port 6081",
    "ip proto 4",
    "ip proto 47",
)


@dataclass(frozen=True)
class IfaceSelector:
    """One ``capture.interfaces`` item; ``at`` is ``file:line: field`` for error messages."""

    kind: Literal["word", "glob", "any", "pod", "role"]
    value: str
    inside: bool = False
    at: str = field(default="", compare=False)
    nodes: tuple[str, ...] = ()  # kind "role": the item's own node selector


@dataclass(frozen=True)
class CaptureSpec:
    nodes: tuple[str, ...] = ("*",)
    interfaces: tuple[IfaceSelector, ...] = ()
    filter: str | None = None
    snaplen: int = 512
    duration: float = 60.0
    max_packets: int = 100_000
    max_file_mb: int = 100


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    name: str
    source: str  # a node name, or "pod:<ns/name>"
    target: str
    count: int = 3
    interval: float = 0.2
    pattern: str = DEFAULT_PATTERN
    port: int | None = None
    max_hops: int = 8
    timeout: float = 3.0
    at: str = field(default="", compare=False)


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    description: str
    capture: CaptureSpec
    probes: tuple[Probe, ...]
    linger: float = 2.0


@dataclass(frozen=True)
class CapturePoint:
    """Where one tcpdump runs. ``glob`` points still need :func:`expand_globs`."""

    node: str
    iface: str
    netns: str | None = None
    pod: str | None = None
    glob: bool = False
    role: str | None = None  # a discovery role still to resolve (iface "" until then)
    via: str = field(default="inventory", compare=False)  # inventory | discovery | name
    inside: bool = False  # a pod point: its own interface in its namespace, not the host side

    @property
    def unresolved(self) -> bool:
        """Resolved at run time by discovery (:mod:`netdiag.capture.locate`); node "" = any."""
        return not self.iface


@dataclass(frozen=True)
class ResolvedProbe:
    name: str
    kind: ProbeKind
    node: str
    netns: str | None
    argv: tuple[str, ...]
    timeout: float  # for the whole command, generous: the probe's own limits come first
    pod: str | None = None  # run inside this pod; node/netns found by discovery when unresolved

    @property
    def unresolved(self) -> bool:
        """A pod probe whose namespace the inventory does not give: placed at run time."""
        return self.pod is not None and self.netns is None


@dataclass(frozen=True)
class ResolvedPlan:
    plan: Plan
    points: tuple[CapturePoint, ...]
    probes: tuple[ResolvedProbe, ...]
    filter: str
