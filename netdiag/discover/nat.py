"""What a node's NAT table DNATs, from ``iptables-save -t nat``: where a service, a NodePort, a
load-balancer VIP or an iptables FIP really sends a packet.

kube-proxy (iptables mode) never DNATs in the chain the packet enters: ``PREROUTING`` and
``OUTPUT`` jump to ``KUBE-SERVICES``, which matches the ClusterIP and port and jumps to the
service's ``KUBE-SVC-*`` chain, which picks one of its ``KUBE-SEP-*`` chains at random, where the
``DNAT --to-destination`` finally is; NodePorts go through ``KUBE-NODEPORTS`` under ``-m addrtype
--dst-type LOCAL`` (any address of the node). So each DNAT is followed back to the entry chain,
and the conditions met on the way (destination, protocol, port, input device) are what a packet
must carry to get there. A negated match (``! -s``) never narrows a rule here: netdiag only needs
the targets a packet *may* reach. Pure parsing; the command runs in :mod:`netdiag.trace.live`.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

__all__ = ["IPTABLES_NAT", "Dnat", "matching", "parse_iptables_nat"]

IPTABLES_NAT = ("iptables-save", "-t", "nat")
ENTRY_CHAINS = ("PREROUTING", "OUTPUT")  # packets from outside / from the node itself
MAX_DEPTH = 16  # kube-proxy nests 4 deep (SERVICES > NODEPORTS > EXT > SVC > SEP)


@dataclass(frozen=True)
class Dnat:
    """One way through the NAT table to a DNAT: what a packet must carry, where it then goes."""

    entry: str  # PREROUTING or OUTPUT
    to_ip: str
    to_port: int | None = None
    dst: str | None = None  # an address or a CIDR; None: any destination
    local: bool = False  # -m addrtype --dst-type LOCAL: any address of this node
    proto: str | None = None
    dport: int | None = None
    in_iface: str | None = None
    rule: str = ""  # the rule holding the DNAT, as iptables-save prints it

    @property
    def to(self) -> str:
        """``ip:port`` (``[v6]:port``) or the bare address."""
        if self.to_port is None:
            return self.to_ip
        host = f"[{self.to_ip}]" if ":" in self.to_ip else self.to_ip
        return f"{host}:{self.to_port}"


@dataclass(frozen=True)
class _Rule:
    chain: str
    target: str | None
    cond: Dnat  # the conditions only (to_ip empty) until a DNAT target fills it
    to: str | None
    text: str


def parse_iptables_nat(text: str) -> tuple[Dnat, ...]:
    """Every DNAT reachable from PREROUTING or OUTPUT, with the conditions on the way."""
    rules: dict[str, list[_Rule]] = {}
    for line in text.splitlines():
        if line.startswith("-A "):
            rule = _parse_rule(line)
            rules.setdefault(rule.chain, []).append(rule)
    found: list[Dnat] = []
    for entry in ENTRY_CHAINS:
        _walk(rules, entry, Dnat(entry, ""), found, (entry,))
    return tuple(dict.fromkeys(found))


def _parse_rule(line: str) -> _Rule:
    try:
        words = shlex.split(line)
    except ValueError:  # an unbalanced quote in a comment (a pasted rule): words as they are
        words = line.split()
    chain = words[1] if len(words) > 1 else ""
    cond = Dnat("", "")
    target = to = None
    i, negate = 2, False
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate = True
            i += 1
            continue
        if word in ("-j", "-g", "--jump", "--goto"):
            target = value
        elif word == "--to-destination":
            to = value
        elif not negate and word in ("-d", "--destination"):
            cond = replace(cond, dst=value)
        elif not negate and word in ("-p", "--protocol"):
            cond = replace(cond, proto=value.lower())
        elif not negate and word in ("--dport", "--destination-port") and value.isdigit():
            cond = replace(cond, dport=int(value))
        elif not negate and word in ("-i", "--in-interface"):
            cond = replace(cond, in_iface=value)
        elif not negate and word == "--dst-type" and value == "LOCAL":
            cond = replace(cond, local=True)
        negate = False
        i += 2 if word.startswith("-") and not value.startswith("-") else 1
    return _Rule(chain, target, cond, to, line[3:].strip())


def _narrow(outer: Dnat, inner: Dnat) -> Dnat:
    """The conditions of a rule inside a chain reached under ``outer``'s: the inner rule's where
    it has one (kube-proxy repeats the outer ones), else the outer's."""
    return replace(
        outer,
        dst=inner.dst if inner.dst is not None else outer.dst,
        local=outer.local or inner.local,
        proto=inner.proto if inner.proto is not None else outer.proto,
        dport=inner.dport if inner.dport is not None else outer.dport,
        in_iface=inner.in_iface if inner.in_iface is not None else outer.in_iface,
    )


def _walk(
    rules: dict[str, list[_Rule]],
    chain: str,
    cond: Dnat,
    found: list[Dnat],
    seen: tuple[str, ...],
) -> None:
    for rule in rules.get(chain, ()):
        here = _narrow(cond, rule.cond)
        if rule.target == "DNAT" and rule.to:
            ip, port = _destination(rule.to)
            if ip is not None:
                found.append(replace(here, to_ip=ip, to_port=port, rule=rule.text))
        elif rule.target in rules and rule.target not in seen and len(seen) < MAX_DEPTH:
            _walk(rules, rule.target, here, found, (*seen, rule.target))


def _destination(text: str) -> tuple[str | None, int | None]:
    """``--to-destination``: ``ip``, ``ip:port``, ``[v6]:port``, ranges (the first address)."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    host = host.split("-")[0]
    port = port.split("-")[0] if port else None
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        return None, None
    return ip, int(port) if port and port.isdigit() else None


def _holds(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def matching(
    rules: Iterable[Dnat],
    ip: str,
    port: int | None,
    proto: str,
    local_addresses: Sequence[str] = (),
) -> list[Dnat]:
    """The DNATs a packet to ``ip`` (``port``, ``proto``: icmp, tcp, udp) would meet on a node
    whose own addresses are ``local_addresses``. A rule for one port never takes a packet
    without that port (a ping to a NodePort's address reaches the node itself)."""
    out = []
    for rule in rules:
        if rule.dst is not None and not _holds(rule.dst, ip):
            continue
        if rule.local and ip not in local_addresses:
            continue
        if rule.proto is not None and rule.proto != proto:
            continue
        if rule.dport is not None and rule.dport != port:
            continue
        out.append(rule)
    return out
