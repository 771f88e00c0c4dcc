"""Reading what OVN's and OVS's tools print: ``ovn-nbctl show``, ``ovn-nbctl find NAT``,
``ovn-sbctl show``, ``list Gateway_Chassis`` and OVS ``external_ids``; the commands themselves.

Pure text work, tested on recorded output; the commands run through the transports in
:mod:`netdiag.discover.ovn.live`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from netdiag.discover.ovn.model import (
    Chassis,
    LogicalRouter,
    LogicalSwitch,
    Nat,
    NbTopology,
    OvnView,
    RouterPort,
    SwitchPort,
)
from netdiag.discover.ovs import parse_vsctl_find
from netdiag.errors import InputError
from netdiag.transport import CommandResult

__all__ = [
    "GW_LIST",
    "NAT_FIND",
    "NB_SHOW",
    "OVN_DB",
    "OVS_IDS",
    "SB_SHOW",
    "ovn_view",
    "ovs_ids",
    "parse_gateway_chassis",
    "parse_nat_records",
    "parse_nbctl_show",
    "parse_sbctl_show",
]

Argv = tuple[str, ...]
# --timeout: an unreachable database must not hold a node's discovery for long.
NB_SHOW = ("ovn-nbctl", "--timeout=5", "show")
NAT_FIND = ("ovn-nbctl", "--timeout=5", "find", "NAT")
SB_SHOW = ("ovn-sbctl", "--timeout=5", "show")
GW_LIST = ("ovn-nbctl", "--timeout=5", "--format=json", "--columns=name,chassis_name,priority",
           "list", "Gateway_Chassis")  # fmt: skip
OVS_IDS: Argv = ("ovs-vsctl", "--timeout=5", "--format=json", "--columns=external_ids", "list",
                 "Open_vSwitch")  # fmt: skip
OVN_DB: tuple[Argv, ...] = (NB_SHOW, NAT_FIND, GW_LIST, SB_SHOW)


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


def ovs_ids(text: str) -> dict[str, str]:
    """``external_ids`` of the Open_vSwitch row (system-id, ovn-encap-ip, hostname, ...)."""
    if not text.startswith("{"):
        return {}
    try:
        rows = parse_vsctl_find(text)
    except InputError:
        return {}
    ext = rows[0].get("external_ids") if rows else None
    return {str(k): str(v) for k, v in ext.items()} if isinstance(ext, Mapping) else {}


def ovn_view(by_argv: Mapping[Argv, CommandResult]) -> OvnView:
    """What a node's ovn-nbctl/sbctl answered, from its discovery batch's results by argv."""

    def text(argv: Argv) -> str | None:
        res = by_argv.get(argv)
        return res.stdout if res is not None and res.ok and res.stdout.strip() else None

    nb, nat, sb, gws = text(NB_SHOW), text(NAT_FIND), text(SB_SHOW), text(GW_LIST)
    topology, priorities = None, {}
    with contextlib.suppress(InputError):
        topology = parse_nbctl_show(nb) if nb else None
        priorities = parse_gateway_chassis(gws) if gws else {}
    return OvnView(
        topology,
        parse_nat_records(nat) if nat else (),
        parse_sbctl_show(sb) if sb else (),
        priorities,
    )
