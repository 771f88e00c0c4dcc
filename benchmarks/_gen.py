"""What the benchmark capture contains: a reproducible plan of N packets as numpy columns.

The plan is the ground truth: :mod:`_wire` encodes it into pcap bytes, the unit test parses a
small encoded file with scapy and checks every field against it, and the benchmark checks the
readers' column sums against it. Everything is vectorized so 1,000,000 packets take seconds.

Traffic model (one capture point on a Linux host, EN10MB, microsecond pcap):
- TCP connections (about 40 packets each): SYN, SYN-ACK, ACK, then data (PSH|ACK, 1-1400 B,
  a third full-sized) or pure ACKs, FIN|ACK last; seq/ack follow the bytes really sent;
- UDP request/answer pairs (DNS/NTP/syslog-like ports, 0-1400 B);
- ICMP / ICMPv6 echo request/reply pairs (56 B mostly, like ping);
- 5% VXLAN (UDP 4789) between two nodes carrying inner Ethernet/IPv4/TCP-or-ICMP of pods;
- 15% of plain flows IPv6, 10% of plain flows behind an 802.1Q tag.
Main fields describe the inner packet of a VXLAN frame (as in netdiag's packet table); ``eth_*``
are the MACs of the frame the interface saw (the outer one), ``inner_eth_*`` the inner ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
U16 = NDArray[np.uint16]
U32 = NDArray[np.uint32]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
Bool = NDArray[np.bool_]

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10
V4_MAPPED = np.uint64(0xFFFF_0000_0000)
START_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
KIND_TCP, KIND_UDP, KIND_ICMP, KIND_VXLAN_TCP, KIND_VXLAN_ICMP = range(5)
#: Share of packets per kind; VXLAN kinds add up to 5%.
KIND_SHARE = (0.70, 0.17, 0.08, 0.04, 0.01)
#: Inner MTU of a VXLAN overlay is 1450, so inner payloads stay below it.
VXLAN_MAX_PAYLOAD = 1350
UDP_SERVER_PORTS = np.array([53, 123, 514, 443, 5353, 161], dtype=np.uint16)
TCP_SERVER_PORTS = np.array([443, 80, 22, 5432, 6443, 8080, 2379, 9090], dtype=np.uint16)


@dataclass(frozen=True)
class Plan:
    """One value per packet per field; absent fields are 0 (e.g. ``sport`` of ICMP)."""

    ts_ns: I64
    eth_src: U64
    eth_dst: U64
    vlan: U16  # 0 = untagged
    ip_version: U8
    src_hi: U64  # schema encoding: IPv4 is IPv4-mapped (hi 0, lo 0xffff_xxxx_xxxx)
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    ip_id: U32  # IPv4 only
    ttl: U8
    proto: U8
    df: Bool
    sport: U16
    dport: U16
    tcp_seq: U32
    tcp_ack: U32
    tcp_flags: U16
    tcp_hlen: U8  # 0 unless TCP: 40 with SYN (MSS, SACK, TS, WS options), else 32 (TS option)
    icmp_type: U8
    icmp_id: U16
    icmp_seq: U16
    payload_len: U32
    vxlan: Bool
    vni: U32
    inner_eth_src: U64
    inner_eth_dst: U64
    outer_src: U32
    outer_dst: U32
    outer_ip_id: U16
    outer_ttl: U8
    outer_sport: U16

    def __len__(self) -> int:
        return len(self.ts_ns)

    def l4_header_len(self) -> U32:
        """TCP header length, or 8 for the UDP / ICMP headers."""
        return np.where(self.proto == TCP, self.tcp_hlen, 8).astype(np.uint32)

    def ip_len(self) -> U32:
        """IPv4 total length; for IPv6 40 + payload length (the packet table's convention)."""
        hdr = np.where(self.ip_version == 4, 20, 40).astype(np.uint32)
        return hdr + self.l4_header_len() + self.payload_len

    def frame_len(self) -> U32:
        """Bytes on the wire: Ethernet (+ tag) + [VXLAN outer 50 B + inner Ethernet] + IP."""
        l2 = np.where(self.vlan > 0, 18, 14).astype(np.uint32)
        return l2 + np.where(self.vxlan, 50, 0).astype(np.uint32) + self.ip_len()


def _excl_cumsum(values: I64, group: I64) -> I64:
    """Per group, the sum of ``values`` of earlier packets (packets are in time order)."""
    order = np.argsort(group, kind="stable")
    sorted_vals = values[order]
    total = np.cumsum(sorted_vals) - sorted_vals
    sorted_group = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_group[1:] != sorted_group[:-1]
    base = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    out = np.empty_like(total)
    out[order] = total - total[base]
    return out


def _rank(group: I64) -> I64:
    """0, 1, 2... for the successive packets of each group."""
    return _excl_cumsum(np.ones(len(group), dtype=np.int64), group)


def _macs(rng: np.random.Generator, n: int, oui: int) -> U64:
    return (np.uint64(oui << 24) | rng.integers(0, 1 << 24, n, dtype=np.uint64)).astype(np.uint64)


def _v4(rng: np.random.Generator, n: int, net: int, bits: int) -> U64:
    """Random IPv4 addresses in ``net/(32-bits)``, encoded IPv4-mapped (the lo half)."""
    host = rng.integers(1, (1 << bits) - 1, n, dtype=np.uint64)
    return V4_MAPPED | np.uint64(net) | host


def _flows(rng: np.random.Generator, kind: I64) -> tuple[I64, dict[str, NDArray[Any]]]:
    """Assign every packet a flow of its kind and draw the flows' endpoints."""
    flow = np.empty(len(kind), dtype=np.int64)
    flow_kind_parts = []
    n_flows = 0
    per_flow = {KIND_TCP: 40, KIND_UDP: 2, KIND_ICMP: 20, KIND_VXLAN_TCP: 40, KIND_VXLAN_ICMP: 20}
    for k, size in per_flow.items():
        idx = np.nonzero(kind == k)[0]
        count = max(1, len(idx) // size)
        flow[idx] = n_flows + rng.integers(0, count, len(idx))
        flow_kind_parts.append(np.full(count, k))
        n_flows += count
    fk = np.concatenate(flow_kind_parts)
    vx = fk >= KIND_VXLAN_TCP
    v6 = ~vx & (rng.random(n_flows) < 0.15)
    c_lo = np.where(vx, _v4(rng, n_flows, 0x0AF4_0000, 16), _v4(rng, n_flows, 0x0A00_0000, 16))
    s_lo = np.where(vx, _v4(rng, n_flows, 0x0AF4_0000, 16), _v4(rng, n_flows, 0xCB00_7100, 8))
    c_hi = np.where(v6, np.uint64(0xFD00_0000_0000_0001), np.uint64(0))
    s_hi = np.where(v6, np.uint64(0x2001_0DB8_0000_0042), np.uint64(0))
    c_lo = np.where(v6, rng.integers(1, 1 << 63, n_flows, dtype=np.uint64), c_lo)
    s_lo = np.where(v6, rng.integers(1, 1 << 63, n_flows, dtype=np.uint64), s_lo)
    tcp_like = (fk == KIND_TCP) | (fk == KIND_VXLAN_TCP)
    server_port = np.where(
        tcp_like, rng.choice(TCP_SERVER_PORTS, n_flows), rng.choice(UDP_SERVER_PORTS, n_flows)
    )
    attrs: dict[str, NDArray[Any]] = {
        "kind": fk,
        "v6": v6,
        "vlan": np.where(~vx & (rng.random(n_flows) < 0.10), rng.integers(2, 4095, n_flows), 0),
        "c_hi": c_hi,
        "c_lo": c_lo,
        "s_hi": s_hi,
        "s_lo": s_lo,
        "c_port": rng.integers(32768, 61000, n_flows),  # Linux ephemeral range
        "s_port": server_port,
        "c_mac": _macs(rng, n_flows, 0x02_42AC),
        "s_mac": _macs(rng, n_flows, 0x00_163E),
        "c_ttl": 64 - rng.integers(0, 3, n_flows),
        "s_ttl": rng.choice(np.array([64, 128, 255]), n_flows) - rng.integers(1, 21, n_flows),
        "isn": rng.integers(0, 1 << 32, (n_flows, 2), dtype=np.int64),
        "ipid": rng.integers(0, 1 << 16, (n_flows, 2), dtype=np.int64),
        "icmp_id": rng.integers(1, 1 << 16, n_flows),
        "vni": rng.choice(np.array([1, 100, 4097, 7000, 16_000_000]), n_flows),
        "node_a": _v4(rng, n_flows, 0xC0A8_0000, 8),
        "node_b": _v4(rng, n_flows, 0xC0A8_0000, 8),
        "node_a_mac": _macs(rng, n_flows, 0x52_5400),
        "node_b_mac": _macs(rng, n_flows, 0x52_5400),
        "vx_port": rng.integers(32768, 61000, (n_flows, 2)),
    }
    return flow, attrs


def _payloads(rng: np.random.Generator, kind: I64, flags: I64, proto: I64) -> I64:
    n = len(kind)
    small = np.minimum(1 + rng.lognormal(5.0, 1.2, n).astype(np.int64), 1400)
    data = np.where(rng.random(n) < 0.35, 1400, small)
    udp = np.where(rng.random(n) < 0.7, rng.integers(20, 300, n), rng.integers(0, 1401, n))
    ping = np.where(rng.random(n) < 0.8, 56, rng.integers(0, 1401, n))
    out = np.where(proto == UDP, udp, np.where(proto == TCP, data, ping))
    out = np.where((proto == TCP) & ((flags & PSH) == 0), 0, out)
    vx = kind >= KIND_VXLAN_TCP
    return np.where(vx, np.minimum(out, VXLAN_MAX_PAYLOAD), out)


def make_plan(n: int, seed: int = 1) -> Plan:
    """The same ``(n, seed)`` always gives the same packets (and the same bytes)."""
    if n < 1:
        raise ValueError(f"packet count must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(KIND_SHARE), n, p=KIND_SHARE).astype(np.int64)
    flow, fa = _flows(rng, kind)
    rank = _rank(flow)
    count = np.bincount(flow)[flow]
    tcp = (kind == KIND_TCP) | (kind == KIND_VXLAN_TCP)
    v6 = fa["v6"][flow].astype(bool)
    proto = np.where(tcp, TCP, np.where(kind == KIND_UDP, UDP, np.where(v6, ICMP6, ICMP)))
    # Direction 0 = client -> server. TCP opens with SYN / SYN-ACK / ACK, the rest alternate.
    d = np.where(tcp & (rank >= 3), rng.integers(0, 2, n), rank % 2)
    d = np.where(tcp & (rank == 2), 0, d)
    flags = np.where(rng.random(n) < 0.55, PSH | ACK, ACK)
    flags = np.where((rank == count - 1) & (count > 3), FIN | ACK, flags)
    flags = np.select([rank == 0, rank == 1, rank == 2], [SYN, SYN | ACK, ACK], flags)
    flags = np.where(tcp, flags, 0)
    payload = _payloads(rng, kind, flags, proto)
    # seq = ISN + bytes this side sent before; ack = peer ISN + bytes the peer sent so far.
    consumed = payload + ((flags & (SYN | FIN)) != 0)
    side = [_excl_cumsum(np.where(d == k, consumed, 0), flow) for k in (0, 1)]
    isn = fa["isn"][flow]
    seq = np.where(d == 0, isn[:, 0] + side[0], isn[:, 1] + side[1]) & 0xFFFF_FFFF
    ack = np.where(d == 0, isn[:, 1] + side[1], isn[:, 0] + side[0]) & 0xFFFF_FFFF
    ack = np.where(tcp & (flags != SYN), ack, 0)
    seq = np.where(tcp, seq, 0)
    ipid = (fa["ipid"][flow, d] + _rank(flow * 2 + d)) & 0xFFFF
    c_hi, c_lo, s_hi, s_lo = (fa[k][flow] for k in ("c_hi", "c_lo", "s_hi", "s_lo"))
    c_mac, s_mac = fa["c_mac"][flow], fa["s_mac"][flow]
    fwd = d == 0
    l4 = (proto == TCP) | (proto == UDP)
    c_port, s_port = fa["c_port"][flow], fa["s_port"][flow]
    vx = kind >= KIND_VXLAN_TCP
    node_a_mac, node_b_mac = fa["node_a_mac"][flow], fa["node_b_mac"][flow]
    gaps_us = rng.exponential(5.0, n).astype(np.int64)
    is_icmp = (proto == ICMP) | (proto == ICMP6)
    echo_type = np.where(v6, np.where(fwd, 128, 129), np.where(fwd, 8, 0))
    return Plan(
        ts_ns=(START_NS + np.cumsum(gaps_us) * 1000).astype(np.int64),
        eth_src=np.where(vx, np.where(fwd, node_a_mac, node_b_mac), np.where(fwd, c_mac, s_mac)),
        eth_dst=np.where(vx, np.where(fwd, node_b_mac, node_a_mac), np.where(fwd, s_mac, c_mac)),
        vlan=fa["vlan"][flow].astype(np.uint16),
        ip_version=np.where(v6, 6, 4).astype(np.uint8),
        src_hi=np.where(fwd, c_hi, s_hi).astype(np.uint64),
        src_lo=np.where(fwd, c_lo, s_lo).astype(np.uint64),
        dst_hi=np.where(fwd, s_hi, c_hi).astype(np.uint64),
        dst_lo=np.where(fwd, s_lo, c_lo).astype(np.uint64),
        ip_id=np.where(v6, 0, ipid).astype(np.uint32),
        ttl=np.where(fwd, fa["c_ttl"][flow], fa["s_ttl"][flow]).astype(np.uint8),
        proto=proto.astype(np.uint8),
        df=(proto != UDP) & ~v6,
        sport=np.where(l4, np.where(fwd, c_port, s_port), 0).astype(np.uint16),
        dport=np.where(l4, np.where(fwd, s_port, c_port), 0).astype(np.uint16),
        tcp_seq=seq.astype(np.uint32),
        tcp_ack=ack.astype(np.uint32),
        tcp_flags=flags.astype(np.uint16),
        tcp_hlen=np.where(tcp, np.where((flags & SYN) != 0, 40, 32), 0).astype(np.uint8),
        icmp_type=np.where(is_icmp, echo_type, 0).astype(np.uint8),
        icmp_id=np.where(is_icmp, fa["icmp_id"][flow], 0).astype(np.uint16),
        icmp_seq=np.where(is_icmp, rank // 2 + 1, 0).astype(np.uint16),
        payload_len=payload.astype(np.uint32),
        vxlan=vx,
        vni=np.where(vx, fa["vni"][flow], 0).astype(np.uint32),
        inner_eth_src=np.where(vx, np.where(fwd, c_mac, s_mac), 0).astype(np.uint64),
        inner_eth_dst=np.where(vx, np.where(fwd, s_mac, c_mac), 0).astype(np.uint64),
        outer_src=np.where(vx, np.where(fwd, fa["node_a"][flow], fa["node_b"][flow]), 0)
        .astype(np.uint64)
        .astype(np.uint32),
        outer_dst=np.where(vx, np.where(fwd, fa["node_b"][flow], fa["node_a"][flow]), 0)
        .astype(np.uint64)
        .astype(np.uint32),
        outer_ip_id=np.where(vx, rng.integers(0, 1 << 16, n), 0).astype(np.uint16),
        outer_ttl=np.where(vx, 64, 0).astype(np.uint8),
        outer_sport=np.where(vx, fa["vx_port"][flow, d], 0).astype(np.uint16),
    )


def expected_digest(p: Plan, k: int) -> dict[str, int]:
    """Column sums a correct reader gives over the first ``k`` packets (see _contenders)."""
    cols: dict[str, NDArray[Any]] = {
        "sport": p.sport, "dport": p.dport, "ttl": p.ttl, "ip_id": p.ip_id,
        "ip_len": p.ip_len(), "tcp_seq": p.tcp_seq, "tcp_ack": p.tcp_ack,
        "tcp_flags": p.tcp_flags, "icmp_seq": p.icmp_seq, "payload_len": p.payload_len,
        "vlan": p.vlan, "vni": p.vni, "outer_ip_id": p.outer_ip_id,
    }  # fmt: skip
    out = {name: int(v[:k].astype(np.int64).sum()) for name, v in cols.items()}
    out["vxlan"] = int(p.vxlan[:k].sum())
    out["packets"] = min(k, len(p))
    return out
