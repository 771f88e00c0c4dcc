"""tshark as an independent oracle for the reader: expected table columns per frame.

tshark prints every occurrence of a field (``-E occurrence=a``) and ``frame.protocols`` lists
the layers in order, so the k-th ``ip`` layer owns the k-th value of every ``ip.*`` field. From
the layer list we pick the layers netdiag's rules describe: the outer Ethernet / SLL header, the
innermost IP header reachable through the tunnels netdiag decodes (VXLAN, Geneve, GRE with
IP/TEB/ERSPAN payload, IP-in-IP; never into the packet quoted by an ICMP error), the transport
header right after it, and the outermost IP header of a tunnel.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

FIELDS = (
    "frame.number", "frame.protocols", "frame.len", "frame.cap_len", "frame.time_epoch",
    "frame.encap_type", "eth.src", "eth.dst", "sll.src.eth", "sll.pkttype", "sll.ifindex",
    "vlan.id", "ieee8021ad.id",
    "ip.src", "ip.dst", "ip.id", "ip.ttl", "ip.proto", "ip.len", "ip.frag_offset",
    "ip.flags.mf", "ip.flags.df",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.plen",
    "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.len",
    "frame.packet_flags_direction",
    "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmp.ident", "icmp.seq",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
    "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac",
    "arp.dst.proto_ipv4", "vxlan.vni", "geneve.vni", "gre.key", "icmp.mtu", "icmpv6.mtu",
    "ipv6.nxt", "sctp.srcport", "sctp.dstport", "dccp.srcport", "dccp.dstport",
)  # fmt: skip
#: ICMP / ICMPv6 error types (their message quotes the offending packet)
ERRORS = {"icmp": ("3", "4", "5", "11", "12"), "icmpv6": ("1", "2", "3", "4")}
TSHARK_ARGS = (
    "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
    "-d", "udp.port==8472,vxlan", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
)  # fmt: skip
PKTTYPE_DIRECTION = {0: "in", 1: "in", 2: "in", 3: "other", 4: "out", 5: "host"}
ECHO = {"icmp": ("0", "8"), "icmpv6": ("128", "129")}


@dataclass(frozen=True)
class Run:
    rows: list[dict[str, list[str]]]
    returncode: int
    stderr: str


def run_tshark(path: str) -> Run:
    cmd = ["tshark", "-r", path, *TSHARK_ARGS]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    rows = []
    for line in proc.stdout.splitlines():
        cells = line.split("\t")
        row = {f: (c.split("|") if c else []) for f, c in zip(FIELDS, cells, strict=True)}
        # tshark counts pcapng custom blocks as frames (they have no encapsulation type);
        # netdiag's frame numbers count packets only.
        if row["frame.encap_type"]:
            row["frame.number"] = [str(len(rows) + 1)]
            rows.append(row)
    return Run(rows, proc.returncode, proc.stderr)


def _ts_ns(text: str) -> int:
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def _main_layers(layers: list[str]) -> tuple[int | None, int | None, int | None]:
    """(outermost IP layer, main IP layer, transport layer) indexes into ``layers``."""
    ip_at = [i for i, name in enumerate(layers) if name in ("ip", "ipv6")]
    if not ip_at:
        return None, None, None
    outer = main = ip_at[0]
    while True:
        nxt = main + 1
        while nxt < len(layers) and layers[nxt].startswith("ipv6."):
            nxt += 1
        rest = layers[nxt : nxt + 4]
        inner: int | None = None
        if rest[:1] in (["ip"], ["ipv6"]):
            inner = nxt
        elif rest[:2] in (["udp", "vxlan"], ["udp", "geneve"]) or rest[:1] == ["gre"]:
            tail = layers[nxt + 1 :]
            cand = [i for i, name in enumerate(tail) if name in ("ip", "ipv6")]
            ok_path = {"udp", "vxlan", "geneve", "gre", "eth", "ethertype", "erspan", "vlan"}
            if cand and all(name in ok_path for name in tail[: cand[0]]):
                inner = nxt + 1 + cand[0]
            elif "arp" in tail and all(name in ok_path for name in tail[: tail.index("arp")]):
                return main, None, None  # tunnelled ARP: outer IP, no inner IP
        if inner is None:
            l4 = (
                nxt
                if nxt < len(layers) and layers[nxt] in ("tcp", "udp", "icmp", "icmpv6")
                else None
            )
            return (outer if main != outer else None), main, l4
        main = inner


def _nth(row: dict[str, list[str]], field: str, k: int) -> str | None:
    values = row.get(field, [])
    return values[k] if k < len(values) and values[k] != "" else None


def expected(row: dict[str, list[str]]) -> dict[str, object]:
    """The netdiag column values tshark implies for one frame (None = absent)."""
    layers = row["frame.protocols"][0].split(":") if row["frame.protocols"] else []
    e: dict[str, object] = {
        "frame": int(row["frame.number"][0]),
        "wirelen": int(row["frame.len"][0]),
        "caplen": int(row["frame.cap_len"][0]),
    }
    if row["frame.time_epoch"]:
        e["ts_ns"] = _ts_ns(row["frame.time_epoch"][0])
    flags = _nth(row, "frame.packet_flags_direction", 0)
    if flags is not None and layers[:1] != ["sll"]:
        e["direction"] = {"0x00000001": "in", "0x00000002": "out"}.get(flags, "unknown")
    if layers[:1] == ["eth"]:
        e["eth_src"] = _nth(row, "eth.src", 0)
        e["eth_dst"] = _nth(row, "eth.dst", 0)
        ids: list[str | None] = []
        seen = {"vlan": 0, "ieee8021ad": 0}
        i = 1
        while layers[i : i + 1] == ["ethertype"] and layers[i + 1 : i + 2] in (
            ["vlan"],
            ["ieee8021ad"],
        ):
            tag = layers[i + 1]
            ids.append(_nth(row, f"{tag}.id", seen[tag]))
            seen[tag] += 1
            i += 2
        e["vlan"] = ids[0] if ids else None
        e["vlan_inner"] = ids[1] if len(ids) >= 2 else None
    if layers[:1] == ["sll"]:
        e["eth_src"] = _nth(row, "sll.src.eth", 0)
        pkttype = _nth(row, "sll.pkttype", 0)
        e["direction"] = PKTTYPE_DIRECTION.get(int(pkttype), "unknown") if pkttype else None
        if row["sll.ifindex"]:
            e["ifindex"] = _nth(row, "sll.ifindex", 0)
    outer, main, l4 = _main_layers(layers)
    if "arp" in layers and main is None:
        e["arp_op"] = _nth(row, "arp.opcode", 0)
        e["arp_sha"] = _nth(row, "arp.src.hw_mac", 0)
        e["arp_spa"] = _nth(row, "arp.src.proto_ipv4", 0)
        e["arp_tha"] = _nth(row, "arp.dst.hw_mac", 0)
        e["arp_tpa"] = _nth(row, "arp.dst.proto_ipv4", 0)
    if main is not None:
        _ip(row, layers, main, e, "")
    if outer is not None:
        _ip(row, layers, outer, e, "outer_")
        e["vni"] = _vni(row, layers, outer)
    if l4 is not None:
        _l4(row, layers, l4, e)
    return e


def _ip(
    row: dict[str, list[str]], layers: list[str], at: int, e: dict[str, object], prefix: str
) -> None:
    name = layers[at]
    k = layers[:at].count(name)
    if name == "ip":
        e[prefix + "src"] = _nth(row, "ip.src", k)
        e[prefix + "dst"] = _nth(row, "ip.dst", k)
        e[prefix + "ttl"] = _nth(row, "ip.ttl", k)
        ip_id = _nth(row, "ip.id", k)
        e[prefix + "ip_id"] = str(int(ip_id, 16)) if ip_id else None
        if prefix:
            return
        e["ip_version"] = "4"
        e["proto"] = _nth(row, "ip.proto", k)
        e["ip_len"] = _nth(row, "ip.len", k)
        off = _nth(row, "ip.frag_offset", k)
        e["frag_offset"] = str(int(off) * 8) if off else None
        e["mf"] = _nth(row, "ip.flags.mf", k)
        e["df"] = _nth(row, "ip.flags.df", k)
        return
    e[prefix + "src"] = _nth(row, "ipv6.src", k)
    e[prefix + "dst"] = _nth(row, "ipv6.dst", k)
    e[prefix + "ttl"] = _nth(row, "ipv6.hlim", k)
    if prefix:
        e["outer_ip_id"] = None
        return
    e["ip_version"] = "6"
    plen = _nth(row, "ipv6.plen", k)
    e["ip_len"] = str(40 + int(plen)) if plen else None
    frag_k = layers[:at].count("ipv6.fraghdr")
    after = layers[at + 1 :]
    ext = []
    for x in after:
        if not x.startswith("ipv6."):
            break
        ext.append(x)
    if "ipv6.fraghdr" in ext:
        off = _nth(row, "ipv6.fraghdr.offset", frag_k)
        e["frag_offset"] = str(int(off) * 8) if off else None
        e["mf"] = _nth(row, "ipv6.fraghdr.more", frag_k)
        ident = _nth(row, "ipv6.fraghdr.ident", frag_k)
        e["ip_id"] = str(int(ident, 16)) if ident else None
    else:
        e["ip_id"] = e["frag_offset"] = e["mf"] = None
    e["df"] = None


def _vni(row: dict[str, list[str]], layers: list[str], outer: int) -> str | None:
    nxt = layers[outer + 1 : outer + 3]
    if nxt == ["udp", "vxlan"]:
        return _nth(row, "vxlan.vni", 0)
    if nxt == ["udp", "geneve"]:
        return _nth(row, "geneve.vni", 0)
    if nxt[:1] == ["gre"]:
        return _nth(row, "gre.key", 0)
    return None


def _l4(row: dict[str, list[str]], layers: list[str], at: int, e: dict[str, object]) -> None:
    name = layers[at]
    k = layers[:at].count(name)
    if name in ("tcp", "udp"):
        e["sport"] = _nth(row, f"{name}.srcport", k)
        e["dport"] = _nth(row, f"{name}.dstport", k)
        if name == "tcp":
            e["tcp_seq"] = _nth(row, "tcp.seq_raw", k)
            e["tcp_ack"] = _nth(row, "tcp.ack_raw", k)
            flags = _nth(row, "tcp.flags", k)
            e["tcp_flags"] = str(int(flags, 16)) if flags else None
            e["payload_len"] = _nth(row, "tcp.len", k)
        return
    ident, seq = (
        ("icmp.ident", "icmp.seq")
        if name == "icmp"
        else ("icmpv6.echo.identifier", "icmpv6.echo.sequence_number")
    )
    itype = _nth(row, f"{name}.type", k)
    e["icmp_type"] = itype
    e["icmp_code"] = _nth(row, f"{name}.code", k)
    echo = itype in ECHO[name]
    e["icmp_id"] = _nth(row, ident, k) if echo else None
    e["icmp_seq"] = _nth(row, seq, k) if echo else None
    e["icmp_mtu"] = _nth(row, f"{name}.mtu", k)
    if itype in ERRORS[name]:
        _quoted(row, layers, at + 1, e)


def _quoted(row: dict[str, list[str]], layers: list[str], at: int, e: dict[str, object]) -> None:
    """The packet an ICMP error quotes: the IP layer right after the ICMP layer (occurrences
    counted by layer, so a tunnelled error or an error quoting a tunnel still lines up)."""
    name = layers[at] if at < len(layers) else ""
    if name not in ("ip", "ipv6"):
        return  # tshark found no quoted IP header (cut short): netdiag must have none either
    k = layers[:at].count(name)
    e["quoted_src"] = _nth(row, f"{name}.src", k)
    e["quoted_dst"] = _nth(row, f"{name}.dst", k)
    nxt = at + 1
    if name == "ip":
        ip_id = _nth(row, "ip.id", k)
        e["quoted_ip_id"] = str(int(ip_id, 16)) if ip_id else None
        e["quoted_proto"] = _nth(row, "ip.proto", k)
    else:
        ext = []
        while nxt < len(layers) and layers[nxt].startswith("ipv6."):
            ext.append(layers[nxt])
            nxt += 1
        if not ext:
            e["quoted_proto"] = _nth(row, "ipv6.nxt", k)
            e["quoted_ip_id"] = None
    l4 = layers[nxt] if nxt < len(layers) else ""
    if l4 in ("tcp", "udp", "sctp", "dccp"):
        k4 = layers[:nxt].count(l4)
        e["quoted_sport"] = _nth(row, f"{l4}.srcport", k4)
        e["quoted_dport"] = _nth(row, f"{l4}.dstport", k4)


def normalise(value: object) -> str | None:
    """Both sides as text: numbers in decimal, booleans 0/1, addresses canonical."""
    if value is None:
        return None
    text = str(value)
    if text in ("True", "False"):
        return "1" if text == "True" else "0"
    if text.startswith("0x"):
        return str(int(text, 16))
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()
