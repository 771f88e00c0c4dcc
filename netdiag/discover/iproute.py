"""Parsers for iproute2 output: ``ip -j`` JSON (what netdiag runs) and the text forms people paste.

The text parsers (``ip a``, ``ip route``, ``route -n``) exist because bug reports and the seeds
carry text, not JSON; both forms produce the same :class:`Link` / :class:`Route` values.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping

from netdiag.discover.model import Link, Route
from netdiag.errors import InputError

__all__ = [
    "lookup_route",
    "parse_ip_addr_text",
    "parse_ip_json_links",
    "parse_ip_route_text",
    "parse_lsns_net",
    "parse_netns_ids",
    "parse_route_get",
    "parse_route_json",
    "parse_route_n",
]


def _load(text: str, what: str) -> list[Mapping[str, object]]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what}: not JSON ({exc.msg} at char {exc.pos}); is iproute2 too old "
            "for -j? install iproute2 >= 4.14"
        ) from exc
    if not isinstance(data, list):
        raise InputError(f"{what}: expected a JSON list, got {type(data).__name__}")
    return [d for d in data if isinstance(d, dict)]


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def parse_ip_json_links(text: str) -> tuple[Link, ...]:
    """``ip -j [-d] addr`` or ``ip -j [-d] link``: one Link per device (addresses when present)."""
    links = []
    for d in _load(text, "ip -j addr"):
        info = d.get("linkinfo")
        info = info if isinstance(info, dict) else {}
        data = info.get("info_data")
        data = data if isinstance(data, dict) else {}
        addrs = []
        addr_info = d.get("addr_info")
        for a in addr_info if isinstance(addr_info, list) else []:
            if isinstance(a, dict) and _str(a.get("local")) and a.get("scope") != "link":
                addrs.append(f"{a['local']}/{a.get('prefixlen', 32)}")
        flags = d.get("flags")
        links.append(
            Link(
                ifindex=_int(d.get("ifindex")) or 0,
                name=str(d.get("ifname", "")),
                kind=_str(info.get("info_kind")),
                peer_ifindex=_int(d.get("link_index")),
                link_netnsid=_int(d.get("link_netnsid")),
                master=_str(d.get("master")),
                mac=_str(d.get("address")),
                mtu=_int(d.get("mtu")),
                up=isinstance(flags, list) and "UP" in flags,
                addrs=tuple(addrs),
                tunnel_local=_str(data.get("local")),
                tunnel_link=_str(data.get("link")),
            )
        )
    return tuple(links)


_HEADER = re.compile(r"(?m)^\s*(\d+): ([^\s:@]+)(?:@(\S+?))?: <([^>]*)>")


def parse_ip_addr_text(text: str) -> tuple[Link, ...]:
    """``ip a`` / ``ip link`` text, also when a blog squashed a record's lines into one."""
    heads = list(_HEADER.finditer(text))
    links = []
    for i, m in enumerate(heads):
        block = text[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        peer = m.group(3) or ""
        mac = re.search(r"link/(?:ether|loopback|none|ipip)\s+([0-9a-f:.]+)", block)
        nsid = re.search(r"link-netnsid (\d+)", block)
        master = re.search(r"\bmaster (\S+)", block)
        mtu = re.search(r"\bmtu (\d+)", block)
        addrs = re.findall(r"(?<![A-Za-z])inet (\d+\.\d+\.\d+\.\d+/\d+)", block)
        links.append(
            Link(
                ifindex=int(m.group(1)),
                name=m.group(2),
                peer_ifindex=int(peer[2:])
                if peer.startswith("if") and peer[2:].isdigit()
                else None,
                link_netnsid=int(nsid.group(1)) if nsid else None,
                master=master.group(1) if master else None,
                mac=mac.group(1) if mac else None,
                mtu=int(mtu.group(1)) if mtu else None,
                up="UP" in m.group(4).split(",") or " state UP" in block,
                addrs=tuple(addrs),
            )
        )
    return tuple(links)


def parse_route_json(text: str) -> tuple[Route, ...]:
    """``ip -j route``."""
    return tuple(
        Route(
            dst=str(d.get("dst", "")),
            dev=_str(d.get("dev")),
            gateway=_str(d.get("gateway")),
            prefsrc=_str(d.get("prefsrc")),
            protocol=_str(d.get("protocol")),
            kind=_str(d.get("type")) or "unicast",
        )
        for d in _load(text, "ip -j route")
    )


def parse_route_get(text: str) -> Route | None:
    """``ip -j route get IP``: the route the kernel picks (dev "lo" means a local address)."""
    routes = parse_route_json(text)
    return routes[0] if routes else None


_ROUTE_KINDS = ("blackhole", "unreachable", "prohibit", "local", "broadcast")


def parse_ip_route_text(text: str) -> tuple[Route, ...]:
    """``ip route`` text, one route per line; words we do not know are skipped."""
    routes = []
    for line in text.splitlines():
        words = line.split()
        if not words or not re.match(
            r"^(default|\d|[0-9a-f]*:|blackhole|unreach|prohibit)", words[0]
        ):
            continue
        kind = "unicast"
        if words[0] in _ROUTE_KINDS:
            kind, words = words[0], words[1:]
        if not words:
            continue
        # keyword/value pairs; bare flags (onlink, linkdown) are skipped
        pairs: dict[str, str] = {}
        it = iter(words[1:])
        for w in it:
            if w in ("via", "dev", "proto", "src", "scope", "metric", "table"):
                pairs[w] = next(it, "")
        routes.append(
            Route(
                dst=words[0],
                dev=pairs.get("dev"),
                gateway=pairs.get("via"),
                prefsrc=pairs.get("src"),
                protocol=pairs.get("proto"),
                kind=kind,
            )
        )
    return tuple(routes)


def parse_route_n(text: str) -> tuple[Route, ...]:
    """``route -n`` (net-tools): Destination Gateway Genmask Flags Metric Ref Use Iface."""
    routes = []
    for line in text.splitlines():
        w = line.split()
        if len(w) < 8 or not re.match(r"^\d+\.\d+\.\d+\.\d+$", w[0]):
            continue
        try:
            net = ipaddress.IPv4Network(f"{w[0]}/{w[2]}")
        except ValueError:
            continue
        dst = "default" if net.prefixlen == 0 else str(net) if net.prefixlen < 32 else w[0]
        gw = None if w[1] == "0.0.0.0" else w[1]
        kind = "unreachable" if "!" in w[3] or w[7] == "-" else "unicast"
        routes.append(
            Route(dst=dst, dev=w[7] if kind == "unicast" else None, gateway=gw, kind=kind)
        )
    return tuple(routes)


def lookup_route(routes: Iterable[Route], ip: str) -> Route | None:
    """Longest-prefix match, as the kernel's main table would pick (no policy rules, no metrics)."""
    addr = ipaddress.ip_address(ip)
    best: tuple[int, Route] | None = None
    for r in routes:
        try:
            net = ipaddress.ip_network("0.0.0.0/0" if r.dst == "default" else r.dst, strict=False)
        except ValueError:
            continue
        if (
            net.version == addr.version
            and addr in net
            and (best is None or net.prefixlen > best[0])
        ):
            best = (net.prefixlen, r)
    return best[1] if best else None


def parse_netns_ids(text: str) -> dict[int, str]:
    """``ip -j netns list-id`` (or ``ip -j netns list``, or text ``ip netns``): nsid -> name.

    Only namespaces with both a name and an id matter: the id is how the host's veth names the
    namespace of its peer (``link_netnsid``).
    """
    out: dict[int, str] = {}
    stripped = text.strip()
    if stripped.startswith("["):
        for d in _load(stripped, "ip -j netns"):
            nsid, name = _int(d.get("nsid", d.get("id"))), _str(d.get("name"))
            if nsid is not None and name:
                out[nsid] = name
        return out
    for m in re.finditer(r"(?m)^(\S+) \(id: (\d+)\)", text):
        out[int(m.group(2))] = m.group(1)
    return out


def parse_lsns_net(text: str) -> dict[int, int]:
    """``lsns -J -t net -o NS,PID,NETNSID``: nsid (as the caller's namespace numbers it) -> the
    lowest PID inside. The way into namespaces no ``ip netns`` name leads to (docker-style
    runtimes): the host veth's ``link_netnsid`` picks the row, ``nsenter -t PID -n`` enters it.
    util-linux prints the id as a string or a number; "unassigned" rows are not peers of ours.
    """
    try:
        doc = json.loads(text)
        rows = doc["namespaces"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(
            "lsns output is not `lsns -J -t net -o NS,PID,NETNSID` JSON; util-linux >= 2.29 "
            "is needed for the NETNSID column"
        ) from exc
    out: dict[int, int] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        nsid, pid = row.get("netnsid"), _int(row.get("pid"))
        if isinstance(nsid, str) and nsid.isdigit():
            nsid = int(nsid)
        if _int(nsid) is not None and pid is not None and pid > 0:
            assert isinstance(nsid, int)
            out.setdefault(nsid, pid)
    return out
