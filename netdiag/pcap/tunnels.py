"""Tunnel detection, vectorized: VXLAN, Geneve, GRE (incl. ERSPAN, TEB, GRE-in-UDP), IP-in-IP.

A packet is treated as a tunnel only when its inner packet can be decoded (an inner Ethernet
frame or an IP packet); then the decoder moves the current IP header into ``outer_*`` (the
outermost tunnel only) and decodes the inner packet into the main columns. GRE carrying
anything else (PPTP's PPP, MPLS, ...) stays a plain GRE packet with no ``encap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from netdiag.pcap.gather import Columns, Idx, Packets, be16, be24, be32, one_of
from netdiag.pcap.link import ETH_IPV4, ETH_IPV6
from netdiag.pcap.network import L4Start
from netdiag.pcap.schema import ENCAPS

VXLAN: Final = ENCAPS.index("vxlan")
GENEVE: Final = ENCAPS.index("geneve")
GRE: Final = ENCAPS.index("gre")
IPIP: Final = ENCAPS.index("ipip")
VXLAN_PORTS: Final = (4789, 8472)  # IANA; 8472 = Linux / flannel default
GENEVE_PORT: Final = 6081
GRE_UDP_PORT: Final = 4754  # RFC 8086
ETH: Final = 0  # inner "ethertype" meaning: an Ethernet frame follows
TEB: Final = 0x6558  # transparent Ethernet bridging
ERSPAN_2: Final = 0x88BE
ERSPAN_3: Final = 0x22EB
OVN_CLASS: Final = 0x0102
OVN_TYPE: Final = 0x80
MAX_GENEVE_OPTIONS: Final = 16


@dataclass
class Inner:
    """Tunnelled packets: where the inner packet starts and what it is (ETH or an ethertype)."""

    idx: Idx
    kind: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    etype: npt.NDArray[np.int64]
    vni: npt.NDArray[np.int64]  # -1: none

    @staticmethod
    def join(parts: list[Inner]) -> Inner:
        fields = ("idx", "kind", "offset", "etype", "vni")
        return Inner(*(np.concatenate([getattr(x, f) for x in parts]) for f in fields))


def _inner(
    idx: Idx, kind: int, off: npt.NDArray[np.int64], etype: npt.ArrayLike, vni: npt.ArrayLike
) -> Inner:
    n = len(idx)
    return Inner(
        idx,
        np.full(n, kind, np.int64),
        off.astype(np.int64),
        np.broadcast_to(np.asarray(etype, np.int64), (n,)).copy(),
        np.broadcast_to(np.asarray(vni, np.int64), (n,)).copy(),
    )


def _geneve_ovn(
    p: Packets, c: Columns, idx: Idx, start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> None:
    """Walk Geneve options (class 16 bits, type 8, length 5 bits in 4-byte words) and keep the
    4 data bytes of OVN's option (class 0x0102, type 0x80: the logical in/out ports)."""
    pos = start.copy()
    active = pos + 4 <= end
    for _ in range(MAX_GENEVE_OPTIONS):
        a = np.flatnonzero(active)
        if not len(a):
            break
        w = p.window(idx[a], pos[a], 8)
        olen = (w[:, 3] & 0x1F).astype(np.int64) * 4
        ovn = (be16(w, 0) == OVN_CLASS) & (w[:, 2] == OVN_TYPE) & (olen >= 4)
        ovn &= p.has(idx[a], pos[a] + 8) & (pos[a] + 8 <= end[a])
        c.set("geneve_ovn", idx[a[ovn]], be32(w, 4)[ovn])
        pos[a] += 4 + olen
        active[a] = ~ovn & (pos[a] + 4 <= end[a])


def _gre(p: Packets, idx: Idx, off: npt.NDArray[np.int64]) -> Inner:
    """GRE (RFC 2784/2890) at ``off``; version 0 only (version 1 is PPTP's PPP transport)."""
    w = p.window(idx, off, 16)
    flags = w[:, 0]
    csum = (flags & 0xC0) != 0  # C or R: checksum + offset words present (RFC 1701)
    key = (flags & 0x20) != 0
    seq = (flags & 0x10) != 0
    hdr = 4 + 4 * csum.astype(np.int64) + 4 * key + 4 * seq
    ptype = be16(w, 2).astype(np.int64)
    key_val = np.where(key, np.where(csum, be32(w, 8), be32(w, 4)).astype(np.int64), -1)
    ok = ((w[:, 1] & 7) == 0) & ((flags & 0x40) == 0) & p.has(idx, off + hdr)
    inner_off = off + hdr
    etype = np.full(len(idx), -1, np.int64)
    ip = one_of(ptype, (ETH_IPV4, ETH_IPV6))
    etype[ip] = ptype[ip]
    etype[ptype == TEB] = ETH
    e2 = ptype == ERSPAN_2  # type II has the S bit and an 8-byte header; type I has neither
    etype[e2] = ETH
    inner_off = np.where(e2 & seq, inner_off + 8, inner_off)
    e3 = ptype == ERSPAN_3  # 12-byte header, + 8-byte platform sub-header when O (bit 0)
    if e3.any():
        w3 = p.window(idx, inner_off, 12)
        etype[e3] = ETH
        inner_off = np.where(e3, inner_off + 12 + 8 * (w3[:, 11] & 1), inner_off)
    ok &= etype >= 0
    return _inner(idx[ok], GRE, inner_off[ok], etype[ok], key_val[ok])


def find(p: Packets, c: Columns, s: L4Start, payload: npt.NDArray[np.int64]) -> Inner:
    """Every tunnelled packet of this IP layer and where its inner packet is."""
    parts: list[Inner] = []
    idx = s.idx
    dport, has_port = c.get("dport", idx)
    udp = s.has_l4 & (s.proto == 17) & has_port & (payload >= 0)
    dport = dport.astype(np.int64)
    vx = udp & one_of(dport, VXLAN_PORTS) & p.has(idx, payload + 8)
    if vx.any():
        w = p.window(idx[vx], payload[vx], 8)
        parts.append(_inner(idx[vx], VXLAN, payload[vx] + 8, ETH, be24(w, 4)))
    gn = udp & (dport == GENEVE_PORT) & p.has(idx, payload + 8)
    if gn.any():
        gi, start = idx[gn], payload[gn]
        w = p.window(gi, start, 8)
        optlen = (w[:, 0] & 0x3F).astype(np.int64) * 4
        ptype = be16(w, 2).astype(np.int64)
        etype = np.where(ptype == TEB, ETH, ptype)
        ok = ((w[:, 0] >> 6) == 0) & one_of(etype, (ETH, ETH_IPV4, ETH_IPV6))
        _geneve_ovn(p, c, gi[ok], start[ok] + 8, start[ok] + 8 + optlen[ok])
        parts.append(_inner(gi[ok], GENEVE, (start + 8 + optlen)[ok], etype[ok], be24(w, 4)[ok]))
    gu = udp & (dport == GRE_UDP_PORT)
    if gu.any():
        parts.append(_gre(p, idx[gu], payload[gu]))
    gre = s.has_l4 & (s.proto == 47)
    if gre.any():
        parts.append(_gre(p, idx[gre], s.l4[gre]))
    for proto, etype_ in ((4, ETH_IPV4), (41, ETH_IPV6)):
        ipip = s.has_l4 & (s.proto == proto)
        if ipip.any():
            parts.append(_inner(idx[ipip], IPIP, s.l4[ipip], etype_, -1))
    if not parts:
        empty = np.zeros(0, np.int64)
        return Inner(empty, empty, empty, empty, empty)
    return Inner.join(parts)
