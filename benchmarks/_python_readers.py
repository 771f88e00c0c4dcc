"""The per-packet Python contenders: scapy ``PcapReader`` and dpkt, into a ~40-column DataFrame.

Both extract the same fields as netdiag's packet table (``COLUMNS`` below), with the same
tunnel convention (main columns = inner packet of a VXLAN frame, ``outer_*`` = outer IPv4,
``eth_*`` = outer MACs), each in its library's natural form: addresses and MACs as text (what
scapy gives; dpkt converted with inet_ntop / bytes.hex), numbers as nullable pandas integers.
``payload_hash`` is Python's 64-bit ``hash()`` of the first 64 payload bytes: the cheapest
64-bit hash available to them, so it does not slow them down relative to netdiag.
Code is written the way a competent user of each library would write it, not deliberately slow.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pandas as pd

COLUMNS = (
    "frame", "ts_ns", "caplen", "wirelen", "eth_src", "eth_dst", "vlan", "ethertype",
    "ip_version", "src", "dst", "ip_id", "ttl", "proto", "ip_len", "frag_offset", "mf", "df",
    "sport", "dport", "tcp_seq", "tcp_ack", "tcp_flags", "icmp_type", "icmp_code", "icmp_id",
    "icmp_seq", "payload_len", "payload_hash", "arp_op", "arp_sha", "arp_spa", "arp_tha",
    "arp_tpa", "encap", "vni", "outer_src", "outer_dst", "outer_ip_id", "outer_ttl",
)  # fmt: skip
TEXT = frozenset({"eth_src", "eth_dst", "src", "dst", "arp_sha", "arp_spa", "arp_tha", "arp_tpa",
                  "encap", "outer_src", "outer_dst"})  # fmt: skip
BOOL = frozenset({"mf", "df"})
_IDX = {name: i for i, name in enumerate(COLUMNS)}
VXLAN_PORTS = (4789, 8472)
Row = list[Any]


def to_frame(rows: list[Row]) -> pd.DataFrame:
    """Rows -> DataFrame with nullable integer / boolean columns, like the real table."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    data: dict[str, Any] = {}
    for name, values in zip(COLUMNS, cols, strict=True):
        if name in TEXT:
            data[name] = pd.array(values, dtype=object)
        elif name in BOOL:
            data[name] = pd.array(values, dtype="boolean")
        elif name == "payload_hash":
            data[name] = pd.array([None if v is None else v & (2**64 - 1) for v in values],
                                  dtype="UInt64")  # fmt: skip
        else:
            data[name] = pd.array(values, dtype="Int64")
    return pd.DataFrame(data)


# ---------------------------------------------------------------- scapy
def scapy_rows(path: str, limit: int) -> list[Row]:
    """One row per packet with scapy's PcapReader (streaming: rdpcap would hold every packet)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import ARP, Dot1Q
    from scapy.layers.vxlan import VXLAN
    from scapy.utils import PcapReader

    def l3(row: Row, ip: Any) -> None:
        if isinstance(ip, IP):
            row[8:18] = [4, ip.src, ip.dst, ip.id, ip.ttl, ip.proto, ip.len, ip.frag * 8,
                         bool(ip.flags.MF), bool(ip.flags.DF)]  # fmt: skip
        else:
            row[8:15] = [6, ip.src, ip.dst, None, ip.hlim, ip.nh, ip.plen + 40]
        l4 = ip.payload
        if isinstance(l4, TCP):
            row[18:23] = [l4.sport, l4.dport, l4.seq, l4.ack, int(l4.flags)]
        elif isinstance(l4, UDP):
            row[18:20] = [l4.sport, l4.dport]
        elif isinstance(l4, ICMP) or l4.name.startswith("ICMPv6"):
            row[23:25] = [l4.type, l4.code]
            if l4.type in (0, 8, 128, 129):
                row[25:27] = [l4.id, l4.seq]
        # scapy keeps ICMPv6 echo data in a field, every other payload as the next layer
        data = l4.data if isinstance(l4, ICMPv6EchoRequest | ICMPv6EchoReply) else bytes(l4.payload)
        row[27:29] = [len(data), hash(data[:64])]

    rows: list[Row] = []
    with PcapReader(path) as reader:
        for frame, pkt in enumerate(reader, start=1):
            if frame > limit:
                break
            row: Row = [None] * len(COLUMNS)
            wire = getattr(pkt, "wirelen", None) or len(pkt)
            row[0:6] = [frame, int(pkt.time * 1_000_000) * 1000, len(pkt), wire, pkt.src, pkt.dst]
            net = pkt.payload
            if isinstance(net, Dot1Q):
                row[6], net = net.vlan, net.payload
            row[7] = {IP: 0x0800, IPv6: 0x86DD, ARP: 0x0806}.get(type(net))
            if isinstance(net, ARP):
                row[29:34] = [net.op, net.hwsrc, net.psrc, net.hwdst, net.pdst]
            elif isinstance(net, IP | IPv6):
                udp = net.payload
                if isinstance(udp, UDP) and isinstance(udp.payload, VXLAN):
                    row[34:40] = ["vxlan", udp.payload.vni, net.src, net.dst, net.id, net.ttl]
                    inner = udp.payload.payload.payload  # VXLAN / Ether / IP
                    row[7] = {IP: 0x0800, IPv6: 0x86DD}.get(type(inner))
                    net = inner
                l3(row, net)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- dpkt
def dpkt_rows(path: str, limit: int) -> list[Row]:
    """One row per packet with dpkt's pcap.Reader and its lazy-free eager decoders."""
    import dpkt

    eth_cls = dpkt.ethernet.Ethernet
    ip_cls, ip6_cls = dpkt.ip.IP, dpkt.ip6.IP6
    tcp_cls, udp_cls, arp_cls = dpkt.tcp.TCP, dpkt.udp.UDP, dpkt.arp.ARP
    types = {ip_cls: 0x0800, ip6_cls: 0x86DD, arp_cls: 0x0806}
    ntop: Callable[[int, bytes], str] = socket.inet_ntop
    v4, v6 = socket.AF_INET, socket.AF_INET6

    def l3(row: Row, ip: Any) -> None:
        if isinstance(ip, ip_cls):
            row[8:18] = [4, ntop(v4, ip.src), ntop(v4, ip.dst), ip.id, ip.ttl, ip.p, ip.len,
                         ip.offset, bool(ip.mf), bool(ip.df)]  # fmt: skip
        else:
            row[8:15] = [6, ntop(v6, ip.src), ntop(v6, ip.dst), None, ip.hlim, ip.p, ip.plen + 40]
        l4 = ip.data
        if isinstance(l4, tcp_cls):
            row[18:23] = [l4.sport, l4.dport, l4.seq, l4.ack, l4.flags]
            data = l4.data
        elif isinstance(l4, udp_cls):
            row[18:20] = [l4.sport, l4.dport]
            data = l4.data
        elif isinstance(l4, bytes):
            data = l4
        else:  # ICMP / ICMPv6: .data is the Echo (id, seq, data) or the rest of the message
            row[23:25] = [l4.type, l4.code]
            body = l4.data
            if l4.type in (0, 8, 128, 129):
                row[25:27] = [body.id, body.seq]
                data = body.data
            else:
                data = bytes(body)
        row[27:29] = [len(data), hash(bytes(data[:64]))]

    rows: list[Row] = []
    with open(path, "rb") as f:
        for frame, (ts, buf) in enumerate(dpkt.pcap.Reader(f), start=1):
            if frame > limit:
                break
            row: Row = [None] * len(COLUMNS)
            eth = eth_cls(buf)
            row[0:6] = [frame, round(ts * 1_000_000) * 1000, len(buf), len(buf),
                        eth.src.hex(":"), eth.dst.hex(":")]  # fmt: skip
            tags = getattr(eth, "vlan_tags", None)
            if tags:
                row[6] = tags[0].id
            net = eth.data
            row[7] = types.get(type(net))
            if isinstance(net, arp_cls):
                row[29:34] = [net.op, net.sha.hex(":"), ntop(v4, net.spa), net.tha.hex(":"),
                              ntop(v4, net.tpa)]  # fmt: skip
            elif isinstance(net, ip_cls | ip6_cls):
                udp = net.data
                if isinstance(udp, udp_cls) and udp.dport in VXLAN_PORTS and len(udp.data) > 8:
                    vx = bytes(udp.data)
                    family = v4 if isinstance(net, ip_cls) else v6
                    row[34:40] = ["vxlan", int.from_bytes(vx[4:7], "big"), ntop(family, net.src),
                                  ntop(family, net.dst), getattr(net, "id", None),
                                  getattr(net, "ttl", None)]  # fmt: skip
                    net = eth_cls(vx[8:]).data
                    row[7] = types.get(type(net))
                if isinstance(net, ip_cls | ip6_cls):
                    l3(row, net)
            rows.append(row)
    return rows
