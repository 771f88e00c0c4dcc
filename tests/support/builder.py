"""Synthetic captures: describe a packet's path once, get per-point pcaps and the table.

A ``Packet`` holds what stays the same along a path (IP ID, payload, TCP seq, ...) plus the
fields a hop may rewrite (addresses, ports, TTL, MACs, echo id, tunnel). ``Capture.send`` takes
the packet and a list of ``Step``: each step names the capture point, the time since the
previous step and the fields that changed there (cumulative). Per-node clock skew is applied at
rendering, the way a wrong node clock would stamp the frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, CookedLinuxV2, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw
from scapy.utils import RawPcapWriter

from netdiag.pcap.addr import ip_pack, mac_pack
from tests.support.tables import make_table

DLT_EN10MB, DLT_LINUX_SLL2 = 1, 276
PKTTYPE = {"in": 0, "other": 3, "out": 4}
PROTO = {"icmp": 1, "tcp": 6, "udp": 17, "icmp6": 58}
TUNNEL_PORT = {"vxlan": 4789, "geneve": 6081}


@dataclass(frozen=True)
class Tunnel:
    """Outer header of an encapsulated sighting."""

    kind: str  # vxlan / geneve / ipip
    outer_src: str
    outer_dst: str
    vni: int | None = None
    outer_ttl: int = 64
    outer_id: int = 1
    port: int | None = None  # UDP port (flannel's VXLAN uses 8472)


@dataclass(frozen=True)
class Packet:
    """One packet: invariant fields plus the rewritable view at the first sighting."""

    proto: str
    src: str
    dst: str
    ip_id: int = 0
    ttl: int = 64
    df: bool = True
    payload: bytes = b""
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int = 0
    icmp_id: int | None = None
    icmp_seq: int | None = None
    tcp_seq: int = 0
    tcp_ack: int = 0
    tcp_flags: str = ""
    eth_src: str = "02:00:00:00:00:01"
    eth_dst: str = "02:00:00:00:00:02"
    tunnel: Tunnel | None = None

    @property
    def version(self) -> int:
        return 6 if ":" in self.src else 4


@dataclass(frozen=True)
class Step:
    """A sighting: point, microseconds after the previous step, direction, changed fields."""

    point: str
    dt_us: float = 50.0
    direction: str = "other"
    changes: Mapping[str, Any] = field(default_factory=dict)


def step(point: str, dt_us: float = 50.0, direction: str = "other", **changes: Any) -> Step:
    return Step(point, dt_us, direction, changes)


@dataclass(frozen=True)
class Sighting:
    point: str
    ts_ns: int
    direction: str
    packet: Packet


@dataclass
class Capture:
    """Capture points (name -> link type 'ether' or 'sll2') and what each saw."""

    points: dict[str, str]
    skew_s: dict[str, float] = field(default_factory=dict)
    snaplen: dict[str, int] = field(default_factory=dict)
    sightings: list[Sighting] = field(default_factory=list)
    arps: list[tuple[str, int, str, int, str, str, str]] = field(default_factory=list)

    def send(
        self, packet: Packet, t0_ns: int, steps: list[Step], *, drop_after: int | None = None
    ) -> None:
        """Record the packet at each step; ``drop_after=k`` keeps only the first k sightings."""
        t = t0_ns
        for i, st in enumerate(steps):
            if drop_after is not None and i >= drop_after:
                break
            t += round(st.dt_us * 1000) if i else 0
            packet = dataclasses.replace(packet, **st.changes)
            self.sightings.append(Sighting(st.point, int(t), st.direction, packet))

    def arp(  # noqa: PLR0917 - reads like the tcpdump line it mirrors
        self,
        point: str,
        ts_ns: int,
        op: str,
        sha: str,
        spa: str,
        tpa: str,
        direction: str = "other",
    ) -> None:
        self.arps.append((point, ts_ns, direction, 1 if op == "request" else 2, sha, spa, tpa))

    def node_of(self, point: str) -> str:
        return point.split("/", 1)[0]

    def stamp(self, point: str, ts_ns: int) -> int:
        return ts_ns + round(self.skew_s.get(self.node_of(point), 0.0) * 1e9)


def l4(p: Packet) -> ScapyPacket:
    if p.proto == "icmp":
        if p.icmp_type not in (0, 8):  # an error: the payload quotes the offending packet
            return ICMP(type=p.icmp_type, code=p.icmp_code) / Raw(p.payload)
        return ICMP(type=p.icmp_type, id=p.icmp_id, seq=p.icmp_seq) / Raw(p.payload)
    if p.proto == "icmp6":
        cls = ICMPv6EchoRequest if p.icmp_type == 128 else ICMPv6EchoReply
        return cls(id=p.icmp_id, seq=p.icmp_seq, data=p.payload)
    if p.proto == "tcp":
        return TCP(
            sport=p.sport,
            dport=p.dport,
            seq=p.tcp_seq,
            ack=p.tcp_ack,
            flags=p.tcp_flags,
            window=502,
        ) / Raw(p.payload)
    return UDP(sport=p.sport, dport=p.dport) / Raw(p.payload)


def l3(p: Packet) -> ScapyPacket:
    if p.version == 6:
        return IPv6(src=p.src, dst=p.dst, hlim=p.ttl) / l4(p)
    return IP(src=p.src, dst=p.dst, ttl=p.ttl, id=p.ip_id, flags="DF" if p.df else 0) / l4(p)


def frame(s: Sighting, link: str, ifindex: int = 7) -> ScapyPacket:
    p = s.packet
    inner = l3(p)
    if p.tunnel is not None:
        t = p.tunnel
        outer = IP(src=t.outer_src, dst=t.outer_dst, ttl=t.outer_ttl, id=t.outer_id)
        if t.kind == "ipip":
            inner = outer / inner
        else:
            port = t.port or TUNNEL_PORT[t.kind]
            hdr = VXLAN(vni=t.vni) if t.kind == "vxlan" else GENEVE(vni=t.vni, proto=0x6558)
            eth = Ether(src="0a:58:00:00:00:01", dst="0a:58:00:00:00:02")
            inner = outer / UDP(sport=49152, dport=port) / hdr / eth / inner
    ethertype = 0x86DD if p.version == 6 and p.tunnel is None else 0x0800
    if link == "sll2":
        return (
            CookedLinuxV2(
                proto=ethertype,
                ifindex=ifindex,
                pkttype=PKTTYPE[s.direction],
                lladdrtype=1,
                lladdrlen=6,
                src=mac_pack(p.eth_src).to_bytes(6, "big") + b"\0\0",
            )
            / inner
        )
    return Ether(src=p.eth_src, dst=p.eth_dst, type=ethertype) / inner


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data[:64], digest_size=8).digest(), "big")


def row(cap: Capture, s: Sighting, index: int) -> dict[str, Any]:
    """The packet-table row a correct reader produces for this sighting."""
    p, link = s.packet, cap.points[s.point]
    raw = bytes(frame(s, link))
    snap = cap.snaplen.get(s.point, 262144)
    header = {"icmp": 8, "icmp6": 8, "tcp": 20, "udp": 8}[p.proto]
    payload = bytes(l3(p))[(40 if p.version == 6 else 20) + header :]
    hidden = max(0, len(raw) - snap)
    visible = payload[: max(0, len(payload) - hidden)]
    src_hi, src_lo = ip_pack(p.src)
    dst_hi, dst_lo = ip_pack(p.dst)
    node, iface = s.point.split("/", 1)
    r: dict[str, Any] = {
        "point": s.point,
        "node": node,
        "iface": iface,
        "frame": index,
        "ts_ns": cap.stamp(s.point, s.ts_ns),
        "caplen": min(len(raw), snap),
        "wirelen": len(raw),
        "direction": s.direction if link == "sll2" else "unknown",
        "eth_src": mac_pack(p.eth_src),
        "eth_dst": None if link == "sll2" else mac_pack(p.eth_dst),
        "ethertype": 0x86DD if p.version == 6 else 0x0800,
        "ip_version": p.version,
        "src_hi": src_hi,
        "src_lo": src_lo,
        "dst_hi": dst_hi,
        "dst_lo": dst_lo,
        "ip_id": p.ip_id if p.version == 4 else None,
        "ttl": p.ttl,
        "proto": PROTO[p.proto],
        "ip_len": len(bytes(l3(p))),
        "frag_offset": 0,
        "mf": False,
        "df": p.df if p.version == 4 else None,
        "payload_len": len(payload),
        "payload_hash": _hash(visible),
        "payload_hashed": min(len(visible), 64),
    }
    if p.proto in ("tcp", "udp"):
        r.update(sport=p.sport, dport=p.dport)
    if p.proto == "tcp":
        flags = TCP(flags=p.tcp_flags).flags.value
        r.update(tcp_seq=p.tcp_seq, tcp_ack=p.tcp_ack, tcp_flags=int(flags))
    if p.proto in ("icmp", "icmp6"):
        r.update(
            icmp_type=p.icmp_type, icmp_code=p.icmp_code, icmp_id=p.icmp_id, icmp_seq=p.icmp_seq
        )
    if p.tunnel is not None:
        t = p.tunnel
        ohi, olo = ip_pack(t.outer_src)
        dhi, dlo = ip_pack(t.outer_dst)
        r.update(
            encap=t.kind,
            vni=t.vni,
            outer_src_hi=ohi,
            outer_src_lo=olo,
            outer_dst_hi=dhi,
            outer_dst_lo=dlo,
            outer_ip_id=t.outer_id,
            outer_ttl=t.outer_ttl,
        )
    return r


def _arp_frame(a: tuple[Any, ...], link: str, ifindex: int = 7) -> ScapyPacket:
    _, _, direction, op, sha, spa, tpa = a
    body = ARP(
        op=op,
        hwsrc=sha,
        psrc=spa,
        pdst=tpa,
        hwdst="00:00:00:00:00:00" if op == 1 else "02:42:57:db:a9:c6",
    )
    if link == "sll2":
        return (
            CookedLinuxV2(
                proto=0x0806,
                ifindex=ifindex,
                pkttype=PKTTYPE[direction],
                lladdrtype=1,
                lladdrlen=6,
                src=mac_pack(sha).to_bytes(6, "big") + b"\0\0",
            )
            / body
        )
    return Ether(src=sha, dst="ff:ff:ff:ff:ff:ff" if op == 1 else "02:42:57:db:a9:c6") / body


def _ordered(cap: Capture) -> dict[str, list[tuple[int, Any]]]:
    """Per point, (stamped ts, item) in capture order: what tcpdump would write."""
    per: dict[str, list[tuple[int, Any]]] = {p: [] for p in cap.points}
    for s in cap.sightings:
        per[s.point].append((cap.stamp(s.point, s.ts_ns), s))
    for a in cap.arps:
        per[a[0]].append((cap.stamp(a[0], a[1]), a))
    for items in per.values():
        items.sort(key=lambda x: x[0])
    return per


def table(cap: Capture) -> pd.DataFrame:
    """The expected packet table of all points, concatenated point by point."""
    rows: list[dict[str, Any]] = []
    for point, items in _ordered(cap).items():
        node, iface = point.split("/", 1)
        for i, (ts, item) in enumerate(items, start=1):
            if isinstance(item, Sighting):
                rows.append(row(cap, item, i))
            else:
                _, _, direction, op, sha, spa, tpa = item
                link = cap.points[point]
                rows.append(
                    {
                        "point": point,
                        "node": node,
                        "iface": iface,
                        "frame": i,
                        "ts_ns": ts,
                        "direction": direction if link == "sll2" else "unknown",
                        "eth_src": mac_pack(sha),
                        "ethertype": 0x0806,
                        "arp_op": op,
                        "arp_sha": mac_pack(sha),
                        "arp_spa": ip_pack(spa)[1] & 0xFFFFFFFF,
                        "arp_tpa": ip_pack(tpa)[1] & 0xFFFFFFFF,
                    }
                )
    return make_table(rows)


def write_pcaps(cap: Capture, directory: Path) -> dict[str, Path]:
    """One pcap per point (nanosecond pcap, EN10MB or LINUX_SLL2); returns point -> path."""
    out: dict[str, Path] = {}
    for point, items in _ordered(cap).items():
        link = cap.points[point]
        path = directory / (point.replace("/", "__") + ".pcap")
        snap = cap.snaplen.get(point, 262144)
        linktype = DLT_LINUX_SLL2 if link == "sll2" else DLT_EN10MB
        writer = RawPcapWriter(str(path), linktype=linktype, nano=True, snaplen=snap, sync=False)
        writer.write_header(None)
        for ts, item in items:
            pkt = frame(item, link) if isinstance(item, Sighting) else _arp_frame(item, link)
            data = bytes(pkt)
            sec, nsec = divmod(ts, 10**9)
            writer.write_packet(
                data[:snap], sec=sec, usec=nsec, caplen=min(len(data), snap), wirelen=len(data)
            )
        writer.close()
        out[point] = path
    return out


def write_any_pcap(cap: Capture, node: str, path: Path, ifindex: Mapping[str, int]) -> Path:
    """What ``tcpdump -i any -w`` on ``node`` writes: one LINUX_SLL2 file for all its devices,
    each frame tagged with its interface index (``ifindex``: iface -> index)."""
    items = []
    for point, entries in _ordered(cap).items():
        if cap.node_of(point) != node:
            continue
        iface = point.split("/", 1)[1]
        items.extend((ts, ifindex[iface], item) for ts, item in entries)
    items.sort(key=lambda x: x[0])
    writer = RawPcapWriter(str(path), linktype=DLT_LINUX_SLL2, nano=True, snaplen=262144)
    writer.write_header(None)
    for ts, index, item in items:
        if isinstance(item, Sighting):
            data = bytes(frame(item, "sll2", index))
        else:
            data = bytes(_arp_frame(item, "sll2", index))
        sec, nsec = divmod(ts, 10**9)
        writer.write_packet(data, sec=sec, usec=nsec, caplen=len(data), wirelen=len(data))
    writer.close()
    return path


def one_packet_pcap(path: Path) -> Path:
    """A pcap holding a single ICMP echo request: one sighting of one packet."""
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", id=1) / ICMP(id=1, seq=1))
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    return path
