"""OVN's logical routers and where their gateway is: ``ovn-nbctl show``, ``ovn-nbctl find NAT``,
``ovn-sbctl show`` and each node's OVS ``system-id``, to answer "through which node does a FIP or
SNAT of this IP enter and leave the cluster?" (kube-ovn floating IPs are NATed there).

A router with a distributed gateway port (``gateway chassis: [A B]``) handles centralized NAT
on the highest-priority chassis that is alive (``ovn-sbctl show`` lists ``Port_Binding
cr-<port>`` under the one that claimed it); the chassis name is a node's
``external_ids:system-id``. ``show`` does not print priorities, nor list chassis in priority
order (measured: OVN 23.03 lists them as stored), so they come from ``list Gateway_Chassis``;
without them no chassis is called active unless the southbound binding says so.

A ``dnat_and_snat`` with ``logical_port`` and ``external_mac`` is a *distributed* FIP instead:
the pod's own node answers it (seed 001's DVR experiment), so its path does not cross the
gateway. Pure parsing and matching; the commands run through the transports in
:mod:`netdiag.discover.ovn_live`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from netdiag.discover.ovs import parse_vsctl_find
from netdiag.errors import InputError

__all__ = [
    "GW_LIST",
    "NAT_FIND",
    "NB_SHOW",
    "SB_SHOW",
    "Chassis",
    "Gateway",
    "GatewayChassis",
    "LogicalRouter",
    "LogicalSwitch",
    "Nat",
    "NbTopology",
    "RouterPort",
    "SwitchPort",
    "gateway_for",
    "parse_gateway_chassis",
    "parse_nat_records",
    "parse_nbctl_show",
    "parse_sbctl_show",
]

# --timeout: an unreachable database must not hold a node's discovery for long.
NB_SHOW = ("ovn-nbctl", "--timeout=5", "show")
NAT_FIND = ("ovn-nbctl", "--timeout=5", "find", "NAT")
SB_SHOW = ("ovn-sbctl", "--timeout=5", "show")
GW_LIST = ("ovn-nbctl", "--timeout=5", "--format=json", "--columns=name,chassis_name,priority",
           "list", "Gateway_Chassis")  # fmt: skip


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


_HEAD = re.compile(r"^(switch|router) (\S+)(?: \((.*)\))?$")
_ATTR = re.compile(r"^([a-z][a-z -]*): (.*)$")


def _strings(value: str) -> tuple[str, ...]:
    """``["a b", "c"]`` / ``"x"`` / ``[u1 u2]`` / ``x`` -> the items, unquoted; text after
    the value (a ``# comment`` pasted into a blog) is ignored."""
    value = value.strip()
    if value.startswith("["):
        inner = value[1 : value.find("]")] if "]" in value else value[1:]
        quoted = re.findall(r'"([^"]*)"', inner)
        return tuple(quoted) if quoted else tuple(inner.split())
    if value.startswith('"'):
        m = re.match(r'"([^"]*)"', value)
        return (m.group(1),) if m else (value.strip('"'),)
    first = value.split("#", 1)[0].split()
    return (first[0],) if first else ()


@dataclass
class _Block:
    kind: str
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Block] = field(default_factory=list)


def parse_nbctl_show(text: str) -> NbTopology:
    """``ovn-nbctl show`` (also pasted into a blog: prompts and prose lines are skipped)."""
    tops: list[_Block] = []
    child: _Block | None = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:  # a switch/router, or a prompt or prose line that ends the block above
            m = _HEAD.match(line)
            tops.append(_Block(m.group(1), m.group(3) or m.group(2)) if m else _Block("end", ""))
            child = None
            continue
        top = tops[-1] if tops and tops[-1].kind != "end" else None
        if top is None:
            continue
        words = line.split(" ", 1)
        if indent <= 4 and words[0] in ("port", "nat") and len(words) == 2:
            child = _Block(words[0], words[1].strip('"'))
            top.children.append(child)
        elif child is not None and (m := _ATTR.match(line)):
            child.attrs[m.group(1)] = m.group(2)
    switches, routers = [], []
    for top in tops:
        if top.kind == "switch":
            ports = tuple(
                SwitchPort(
                    c.name,
                    c.attrs.get("type", ""),
                    c.attrs.get("router-port"),
                    _strings(c.attrs.get("addresses", "")),
                )
                for c in top.children
                if c.kind == "port"
            )
            switches.append(LogicalSwitch(top.name, ports))
        elif top.kind == "router":
            rports = tuple(
                RouterPort(
                    c.name,
                    (_strings(c.attrs["mac"]) or (None,))[0] if "mac" in c.attrs else None,
                    _strings(c.attrs.get("networks", "")),
                    _strings(c.attrs.get("gateway chassis", "")),
                )
                for c in top.children
                if c.kind == "port"
            )
            nats = tuple(_nat_of(c.attrs, c.name) for c in top.children if c.kind == "nat")
            routers.append(LogicalRouter(top.name, rports, tuple(n for n in nats if n)))
    if not switches and not routers and text.strip():
        raise InputError(
            "not `ovn-nbctl show` output (no `switch`/`router` lines); run ovn-nbctl show"
        )
    return NbTopology(tuple(switches), tuple(routers))


def _nat_of(attrs: Mapping[str, str], uuid: str) -> Nat | None:
    get = {k.replace("_", " "): v for k, v in attrs.items()}
    ext, log, kind = get.get("external ip"), get.get("logical ip"), get.get("type")
    if not (ext and log and kind):
        return None
    port = _strings(get.get("logical port", ""))
    mac = _strings(get.get("external mac", ""))
    return Nat(
        _strings(kind)[0],
        _strings(ext)[0],
        _strings(log)[0],
        port[0] if port and port[0] else None,
        mac[0] if mac and mac[0] else None,
        uuid,
    )


def parse_nat_records(text: str) -> tuple[Nat, ...]:
    """``ovn-nbctl find NAT ...`` / ``list NAT`` in record form (``key : value`` blocks).

    Richer than ``show`` on older OVN: it carries ``logical_port`` and ``external_mac``, which
    tell a distributed FIP from a centralized one. ``[]`` means unset.
    """
    out: list[Nat] = []
    record: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        m = re.match(r"^([a-z_]+)\s*: (.*)$", line.strip())
        if m:
            record[m.group(1)] = "" if m.group(2).strip() == "[]" else m.group(2)
        elif record:
            nat = _nat_of(
                record, _strings(record.get("_uuid", ""))[0] if record.get("_uuid") else ""
            )
            if nat is not None:
                out.append(nat)
            record = {}
    return tuple(out)


def parse_sbctl_show(text: str) -> tuple[Chassis, ...]:
    """``ovn-sbctl show``: each chassis, its hostname, encapsulations and port bindings."""
    out: list[Chassis] = []
    encap: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.match(r'^Chassis "?([^"\s]+)"?$', line):
            out.append(Chassis(m.group(1)))
            encap = None
        elif not out:
            continue
        elif m := re.match(r'^hostname: "?([^"]*)"?$', line):
            out[-1] = replace(out[-1], hostname=m.group(1))
        elif m := re.match(r"^Encap (\S+)$", line):
            encap = m.group(1)
        elif encap and (m := re.match(r'^ip: "?([^"\s]+)"?$', line)):
            out[-1] = replace(out[-1], encaps=(*out[-1].encaps, (encap, m.group(1))))
        elif m := re.match(r'^Port_Binding "?([^"\s]+)"?$', line):
            out[-1] = replace(out[-1], bindings=(*out[-1].bindings, m.group(1)))
    return tuple(out)


def parse_gateway_chassis(text: str) -> dict[str, tuple[tuple[str, int], ...]]:
    """``ovn-nbctl --format=json list Gateway_Chassis``: router port -> ((chassis, priority),
    ...) highest first. A row's ``name`` is ``<port>-<chassis>``, as ``lrp-set-gateway-chassis``
    and kube-ovn write it."""
    out: dict[str, list[tuple[str, int]]] = {}
    for row in parse_vsctl_find(text):
        name, chassis, prio = row.get("name"), row.get("chassis_name"), row.get("priority")
        if not (isinstance(name, str) and isinstance(chassis, str) and isinstance(prio, int)):
            continue
        port = name.removesuffix(f"-{chassis}")
        if port != name:
            out.setdefault(port, []).append((chassis, prio))
    return {p: tuple(sorted(rows, key=lambda r: -r[1])) for p, rows in out.items()}


def _holds(cidr_or_ip: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr_or_ip, strict=False)
    except ValueError:
        return False


def _router_of(topo: NbTopology, ip: str) -> tuple[LogicalRouter, Nat | None, str] | None:
    """The router that NATs ``ip`` (as external or logical address), owns it, or serves its
    switch; with the NAT row and how it was found."""
    for r in topo.routers:
        for nat in r.nats:
            if nat.external_ip == ip:
                return r, nat, f"{ip} is the external IP of a {nat.type} on router {r.name}"
    for r in topo.routers:
        for nat in r.nats:
            if nat.logical_ip == ip or (nat.type == "snat" and _holds(nat.logical_ip, ip)):
                return r, nat, f"{ip} is NATed by a {nat.type} to {nat.external_ip} on {r.name}"
    for r in topo.routers:
        for port in r.ports:
            if any(_holds(net, ip) for net in port.networks):
                return r, None, f"{ip} is in {port.name}'s network on router {r.name}"
    return None


def gateway_for(
    ip: str,
    topo: NbTopology,
    system_ids: Mapping[str, str],
    *,
    chassis: Sequence[Chassis] = (),
    nats: Iterable[Nat] = (),
    priorities: Mapping[str, Sequence[tuple[str, int]]] | None = None,
) -> Gateway | None:
    """Where ``ip``'s traffic leaves/enters through OVN's gateway; None when no router knows it.

    ``system_ids`` maps a chassis name to a node (each node's OVS ``system-id``); SB hostnames
    fill in the rest. ``nats`` (from ``find NAT``) refine ``show``'s rows with the DVR columns;
    ``priorities`` (:func:`parse_gateway_chassis`) order the chassis.
    """
    extra = {(n.external_ip, n.logical_ip, n.type): n for n in nats}
    routers = tuple(
        replace(r, nats=tuple(extra.get((n.external_ip, n.logical_ip, n.type), n) for n in r.nats))
        for r in topo.routers
    )
    found = _router_of(replace(topo, routers=routers), ip)
    if found is None:
        return None
    router, nat, why = found
    if nat is not None and nat.distributed:
        why += f"; distributed (DVR): answered on the node of {nat.logical_port}, not a gateway"
        return Gateway(ip, router.name, None, (), nat, why)
    port = router.gateway_port
    if port is None:
        return Gateway(ip, router.name, None, (), nat, why + "; the router has no gateway port")
    hosts = {c.name: c.hostname for c in chassis}
    bound = next((c.name for c in chassis if f"cr-{port.name}" in c.bindings), None)
    known = dict((priorities or {}).get(port.name, ()))
    order = list(port.gateway_chassis)
    if known:
        order = sorted(order, key=lambda name: -known.get(name, -1))
    active = bound or (order[0] if known else None)
    rows = tuple(
        GatewayChassis(
            name, i, system_ids.get(name) or hosts.get(name), name == active, known.get(name)
        )
        for i, name in enumerate(order)
    )
    if bound:
        how = f"the one bound to cr-{port.name} (southbound)"
    elif known:
        how = "the highest priority (if it is up; the southbound binding was not available)"
    else:
        how = (
            "unknown: no priorities or southbound binding (run `ovn-nbctl "
            f"lrp-get-gateway-chassis {port.name}`)"
        )
    return Gateway(ip, router.name, port.name, rows, nat, f"{why}; active chassis: {how}")
